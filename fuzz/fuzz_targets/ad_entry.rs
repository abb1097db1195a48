//! Active Directory entries with arbitrary attributes, objectSid and
//! tokenGroups values converted into passwd and group records through the
//! rid, rfc2307 and sss mappings, plus account state and ranged member
//! windows: served entries keep the same invariants as LDAP ones.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::directory::ad::mapping::{account_state, range_window, token_group_sids};
use roster_daemon::directory::ad::{ad_group, ad_user};
use roster_fuzz::{ad_domains, assert_group, assert_user, FuzzEntry};

fuzz_target!(|input: (u8, FuzzEntry)| {
    let (which, entry) = input;
    let domains = ad_domains();
    let d = &domains[which as usize % domains.len()];
    let e = entry.into_search_entry();
    if let Ok(u) = ad_user(&d.cfg, &d.idmap, &d.sid, &e) {
        assert_user(d, &u);
        assert!(u.unique_id.is_some(), "AD user without its SID");
    }
    if let Ok(g) = ad_group(&d.cfg, &d.idmap, &e) {
        assert_group(d, &g);
    }
    let _ = account_state(&e);
    let _ = token_group_sids(&e);
    let (_, next) = range_window(&e, "member");
    if let Some(n) = next {
        assert!(n > 0, "a next window that starts at 0 would loop");
    }
});
