//! Paged searches (RFC 2696) as [`super::search::run`] makes them: each
//! page asked with the cookie the page before ended with, until a page
//! ends without one, and a page that ends in an error ends the search.
//!
//! The fake server ([`answer_pages`]) answers the requests of one
//! connection in turn, each with the next page it is given under the
//! request's message ID, and hands the requests' octets back.

use super::ber_tests::encode;
use super::malformed_tests::{
    cons, enumerated, octet_string, on_connection, one_control, prim, user,
};
use super::search::{Query, SearchFail};
use ldap3::asn1::{StructureTag, TagClass};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// The paged results control's OID.
const PAGED: &str = "1.2.840.113556.1.4.319";

/// One page: its entries, the result code it ends with and the cookie of
/// its paged results control (`None`: no control).
struct Page {
    entries: Vec<StructureTag>,
    rc: u8,
    cookie: Option<&'static [u8]>,
}

/// The octets of `page` answering the request of message ID `id`.
fn page_octets(id: u8, page: Page) -> Vec<u8> {
    let message = |op: StructureTag, controls: Option<StructureTag>| {
        let mut parts = vec![prim(TagClass::Universal, 2, &[id]), op];
        parts.extend(controls);
        encode(&cons(TagClass::Universal, 16, parts))
    };
    let mut out: Vec<u8> = page
        .entries
        .into_iter()
        .flat_map(|e| message(e, None))
        .collect();
    let done = cons(
        TagClass::Application,
        5,
        vec![enumerated(page.rc), octet_string(b""), octet_string(b"")],
    );
    let controls = page.cookie.map(|cookie| {
        let value = cons(
            TagClass::Universal,
            16,
            vec![prim(TagClass::Universal, 2, &[0]), octet_string(cookie)],
        );
        one_control(PAGED, &encode(&value))
    });
    out.extend(message(done, controls));
    out
}

/// The message ID of the request `octets` (an LDAPMessage: a sequence
/// whose first part is the ID, one octet here).
fn message_id(octets: &[u8]) -> u8 {
    // The sequence's length: short form, or long form with its octets.
    let skip = if octets[1] & 0x80 == 0 {
        2
    } else {
        2 + usize::from(octets[1] & 0x7f)
    };
    assert_eq!(&octets[skip..skip + 2], &[2, 1], "a one-octet message ID");
    octets[skip + 2]
}

/// Listens on 127.0.0.1 and answers the requests of the first connection
/// with `pages` in turn (each request read whole in one read: they are
/// small); each request's octets are sent on the channel returned.
fn answer_pages(pages: Vec<Page>) -> (u16, mpsc::Receiver<Vec<u8>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        for page in pages {
            let n = conn.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return;
            }
            let request = buf[..n].to_vec();
            let id = message_id(&request);
            let _ = tx.send(request);
            let _ = conn.write_all(&page_octets(id, page));
        }
        while conn.read(&mut buf).unwrap_or(0) > 0 {}
    });
    (port, rx)
}

/// `search::run` with pages of 2 against a server answering `pages`: the
/// DNs found or the failure, and the requests the server read.
fn paged_search(pages: Vec<Page>) -> (Result<Vec<String>, SearchFail>, Vec<Vec<u8>>) {
    let (port, requests) = answer_pages(pages);
    let found = on_connection(port, |conn, ldap| async move {
        ldap3::drive!(conn);
        let q = Query {
            base: "dc=example,dc=test".into(),
            scope: ldap3::Scope::Subtree,
            filter: "(uid=*)".into(),
            attrs: vec!["uid".to_string()].into(),
        };
        super::search::run(ldap, &q, Some(2), Some(std::time::Duration::from_secs(30))).await
    });
    let found = found.map(|f| f.entries.into_iter().map(|e| e.dn).collect());
    (found, requests.try_iter().collect())
}

/// True when `octets` hold `part`.
fn holds(octets: &[u8], part: &[u8]) -> bool {
    octets.windows(part.len()).any(|w| w == part)
}

fn dn(n: &str) -> String {
    format!("uid={n},dc=example,dc=test")
}

#[test]
fn each_page_is_asked_with_the_cookie_the_page_before_ended_with() {
    let (found, requests) = paged_search(vec![
        Page {
            entries: vec![user("a"), user("b")],
            rc: 0,
            cookie: Some(b"cookie-one"),
        },
        Page {
            entries: vec![user("c"), user("d")],
            rc: 0,
            cookie: Some(b"cookie-two"),
        },
        Page {
            entries: vec![user("e")],
            rc: 0,
            cookie: Some(b""),
        },
    ]);
    assert_eq!(found.unwrap(), ["a", "b", "c", "d", "e"].map(dn));
    assert_eq!(requests.len(), 3);
    for r in &requests {
        assert!(
            holds(r, PAGED.as_bytes()),
            "every page asks with the control"
        );
    }
    assert!(!holds(&requests[0], b"cookie-"));
    assert!(holds(&requests[1], b"cookie-one") && !holds(&requests[1], b"cookie-two"));
    assert!(holds(&requests[2], b"cookie-two") && !holds(&requests[2], b"cookie-one"));
}

#[test]
fn a_server_without_paging_answers_in_one_page() {
    let (found, requests) = paged_search(vec![Page {
        entries: vec![user("a"), user("b"), user("c")],
        rc: 0,
        cookie: None,
    }]);
    assert_eq!(found.unwrap(), ["a", "b", "c"].map(dn));
    assert_eq!(requests.len(), 1);
}

#[test]
fn a_page_that_ends_in_an_error_ends_the_search_with_it() {
    // Busy (51) with a cookie: the pages after it are not asked, and the
    // search fails rather than answer without them.
    let (found, requests) = paged_search(vec![
        Page {
            entries: vec![user("a"), user("b")],
            rc: 51,
            cookie: Some(b"cookie-one"),
        },
        Page {
            entries: vec![user("c")],
            rc: 0,
            cookie: Some(b""),
        },
    ]);
    match found {
        Err(SearchFail::Connection(msg)) => assert!(msg.contains("rc=51"), "{msg}"),
        other => panic!("the search did not fail as busy: {other:?}"),
    }
    assert_eq!(requests.len(), 1);
}
