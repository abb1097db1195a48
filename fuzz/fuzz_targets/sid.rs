//! SIDs in string (`S-1-5-21-...`) and binary (objectSid) form: whatever
//! parses prints and encodes back to an equal SID, and the binary form
//! round-trips byte for byte.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_idmap::Sid;

fuzz_target!(|data: &[u8]| {
    if let Ok(sid) = Sid::from_bytes(data) {
        assert_eq!(sid.to_bytes(), data);
        check(&sid);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sid) = text.parse::<Sid>() {
            check(&sid);
        }
    }
});

fn check(sid: &Sid) {
    let text = sid.to_string();
    assert_eq!(text.parse::<Sid>().as_ref(), Ok(sid), "{text}");
    assert_eq!(Sid::from_bytes(&sid.to_bytes()).as_ref(), Ok(sid));
    assert_eq!(sid.binary_len(), sid.to_bytes().len());
    assert_eq!(sid.to_ldap_filter_value().len(), 3 * sid.binary_len());
    if let Some((dom, rid)) = sid.split() {
        assert_eq!(dom.with_rid(rid).as_ref(), Ok(sid));
        assert_eq!(sid.rid_in(&dom), Some(rid));
    }
}
