//! DN and attribute-description parsing: ranged attributes
//! (`member;range=L-H`), RDN assertions and escapes, DN containment, the
//! realm of a base DN, and AD input names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::config::dn_is_under;
use roster_daemon::directory::ad::mapping::{
    account_name_candidates, output_name, parse_range, realm_of_base_dn, short_input_name,
};
use roster_daemon::directory::{rdn_assertion, unescape_dn_value, user_name_from_dn};
use roster_fuzz::ldap_domains;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    if let Some(r) = parse_range(a, "member") {
        if let Some(h) = r.high {
            let _ = h.checked_add(1);
        }
    }
    if let Some((attr, value)) = rdn_assertion(a) {
        assert!(!attr.is_empty());
        let _ = value;
    }
    let _ = unescape_dn_value(a);
    assert!(dn_is_under(a, a), "{a:?} is not under itself");
    let _ = dn_is_under(a, b);
    let _ = realm_of_base_dn(a);
    for d in ldap_domains() {
        if let Some(n) = user_name_from_dn(&d.cfg, a) {
            roster_daemon::directory::check_name(&n).expect("name from a DN served");
        }
    }
    let _ = short_input_name(a, "ad.test", "ad", Some(b));
    let out = output_name(a, true, "ad");
    assert!(out.ends_with("@ad"));
    let c = account_name_candidates(a);
    assert_eq!(c[0], a);
});
