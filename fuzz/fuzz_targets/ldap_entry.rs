//! LDAP (RFC 2307 / 2307bis) entries with arbitrary attributes and values
//! converted into passwd and group records: an entry is served only when
//! every field is usable, and then never with a bad name, a separator in a
//! field or an ID outside the domain's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::directory::{
    check_name, entry_to_group, entry_to_user, member_dns, member_names,
};
use roster_daemon::dn::rdn_assertion;
use roster_fuzz::{assert_group, assert_user, ldap_domains, FuzzEntry};

fuzz_target!(|input: (u8, FuzzEntry)| {
    let (which, entry) = input;
    let domains = ldap_domains();
    let d = &domains[which as usize % domains.len()];
    let e = entry.into_search_entry();
    match entry_to_user(&d.cfg, &d.idmap, &e) {
        Ok(u) => assert_user(d, &u),
        Err(r) => assert_eq!(r.dn, e.dn),
    }
    // A served group's members are `member_names` of the entry (each one
    // taken from a member DN by `user_name_from_dn`), checked by
    // `assert_group`; the member list of a refused group is checked here.
    // Member values may be thousands of 16 KB DNs: the member list is
    // worked out once per input, not again for every check.
    match entry_to_group(&d.cfg, &d.idmap, &e) {
        Ok(g) => assert_group(d, &g),
        Err(r) => {
            assert_eq!(r.dn, e.dn);
            for m in member_names(&d.cfg, &e) {
                check_name(&m).expect("member name served");
            }
        }
    }
    for dn in member_dns(&d.cfg, &e) {
        assert!(!dn.is_empty());
        let _ = rdn_assertion(&dn);
    }
});
