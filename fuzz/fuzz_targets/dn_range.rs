//! DN and attribute-description parsing: ranged attributes
//! (`member;range=L-H`), RDN assertions and escapes, DN containment, the
//! realm of a base DN, and AD input names.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::directory::ad::mapping::{
    account_name_candidates, output_name, parse_range, short_input_name,
};
use roster_daemon::directory::user_name_from_dn;
use roster_daemon::dn;
use roster_fuzz::ldap_domains;

fuzz_target!(|input: (&str, &str)| {
    let (a, b) = input;
    if let Some(r) = parse_range(a, "member") {
        if let Some(h) = r.high {
            let _ = h.checked_add(1);
        }
    }
    if let Some((attr, value)) = dn::rdn_assertion(a) {
        assert!(!attr.is_empty());
        let _ = value;
    }
    let _ = dn::unescape_value(a);
    assert!(dn::is_under(a, a), "{a:?} is not under itself");
    let _ = dn::is_under(a, b);
    let _ = dn::dns_domain(a);
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
