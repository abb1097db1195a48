//! LDAP (RFC 2307 / 2307bis) entries with arbitrary attributes and values
//! converted into passwd and group records: an entry is served only when
//! every field is usable, and then never with a bad name, a separator in a
//! field or an ID outside the domain's range.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::directory::{
    entry_to_group, entry_to_user, member_dns, member_names, user_name_from_dn,
};
use roster_fuzz::{assert_field, assert_group, assert_user, ldap_domains, FuzzEntry};

fuzz_target!(|input: (u8, FuzzEntry)| {
    let (which, entry) = input;
    let domains = ldap_domains();
    let d = &domains[which as usize % domains.len()];
    let e = entry.to_search_entry();
    match entry_to_user(&d.cfg, &d.idmap, &e) {
        Ok(u) => assert_user(d, &u),
        Err(r) => assert_eq!(r.dn, e.dn),
    }
    match entry_to_group(&d.cfg, &d.idmap, &e) {
        Ok(g) => assert_group(d, &g),
        Err(r) => assert_eq!(r.dn, e.dn),
    }
    for m in member_names(&d.cfg, &e) {
        roster_daemon::directory::check_name(&m).expect("member name served");
    }
    for dn in member_dns(&d.cfg, &e) {
        assert!(!dn.is_empty());
        if let Some(n) = user_name_from_dn(&d.cfg, &dn) {
            assert_field("member name", &n);
        }
        let _ = roster_daemon::dn::rdn_assertion(&dn);
    }
});
