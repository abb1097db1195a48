//! Paged searches (RFC 2696) as [`super::search::run`] makes them: each
//! page asked with the cookie the page before ended with, until a page
//! ends without one, and a page that ends in an error ends the search.
//!
//! The fake server ([`answer_pages`]) answers the requests of one
//! connection in turn, each with the next page it is given under the
//! request's message ID, and hands the requests' octets back.

use super::ber_tests::encode;
use super::malformed_tests::{
    cons, entry, enumerated, octet_string, on_connection, one_control, prim, user,
};
use super::search::{Query, SearchFail};
use ldap3::asn1::{StructureTag, TagClass};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::sync::mpsc;

/// The paged results control's OID.
const PAGED: &str = "1.2.840.113556.1.4.319";

/// One page: its entries, the result code it ends with (and its
/// diagnostic message) and the cookie of its paged results control
/// (`None`: no control).
struct Page {
    entries: Vec<StructureTag>,
    rc: u8,
    text: &'static [u8],
    cookie: Option<&'static [u8]>,
}

impl Page {
    /// A page of `entries` ending in success with `cookie`.
    fn ok(entries: Vec<StructureTag>, cookie: Option<&'static [u8]>) -> Option<Page> {
        Some(Page {
            entries,
            rc: 0,
            text: b"",
            cookie,
        })
    }
}

/// The octets of `page` answering the request of message ID `id` (the
/// INTEGER's contents, as the request spelled it).
fn page_octets(id: &[u8], page: Page) -> Vec<u8> {
    let message = |op: StructureTag, controls: Option<StructureTag>| {
        let mut parts = vec![prim(TagClass::Universal, 2, id), op];
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
        vec![
            enumerated(page.rc),
            octet_string(b""),
            octet_string(page.text),
        ],
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
/// whose first part is the ID), as the contents of its INTEGER.
fn message_id(octets: &[u8]) -> Vec<u8> {
    // The sequence's length: short form, or long form with its octets.
    let skip = if octets[1] & 0x80 == 0 {
        2
    } else {
        2 + usize::from(octets[1] & 0x7f)
    };
    assert_eq!(octets[skip], 2, "the message ID is an INTEGER");
    let len = usize::from(octets[skip + 1]);
    assert!(len <= 4, "a message ID of at most four octets");
    octets[skip + 2..skip + 2 + len].to_vec()
}

/// Listens on 127.0.0.1 and answers the requests of the first connection
/// with `pages` in turn (each request read whole in one read: they are
/// small; `None`: the request is read and never answered); each
/// request's octets are sent on the channel returned.
fn answer_pages(pages: Vec<Option<Page>>) -> (u16, mpsc::Receiver<Vec<u8>>) {
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
            if let Some(page) = page {
                let _ = conn.write_all(&page_octets(&id, page));
            }
        }
        while conn.read(&mut buf).unwrap_or(0) > 0 {}
    });
    (port, rx)
}

/// `search::run` with pages of 2, each reply awaited 30 s at most,
/// against a server answering `pages`: the DNs found or the failure, and
/// the requests the server read.
fn paged_search(pages: Vec<Option<Page>>) -> (Result<Vec<String>, SearchFail>, Vec<Vec<u8>>) {
    paged_search_within(pages, std::time::Duration::from_secs(30))
}

/// [`paged_search`], each reply awaited `reply_timeout` at most.
fn paged_search_within(
    pages: Vec<Option<Page>>,
    reply_timeout: std::time::Duration,
) -> (Result<Vec<String>, SearchFail>, Vec<Vec<u8>>) {
    let (port, requests) = answer_pages(pages);
    let found = on_connection(port, |conn, ldap| async move {
        ldap3::drive!(conn);
        let q = Query {
            base: "dc=example,dc=test".into(),
            scope: ldap3::Scope::Subtree,
            filter: "(uid=*)".into(),
            attrs: vec!["uid".to_string()].into(),
        };
        super::search::run::<ldap3::SearchEntry>(ldap, &q, Some(2), Some(reply_timeout)).await
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
        Page::ok(vec![user("a"), user("b")], Some(b"cookie-one")),
        Page::ok(vec![user("c"), user("d")], Some(b"cookie-two")),
        Page::ok(vec![user("e")], Some(b"")),
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
    let (found, requests) =
        paged_search(vec![Page::ok(vec![user("a"), user("b"), user("c")], None)]);
    assert_eq!(found.unwrap(), ["a", "b", "c"].map(dn));
    assert_eq!(requests.len(), 1);
}

#[test]
fn a_page_that_ends_in_an_error_ends_the_search_with_it() {
    // Busy (51) with a cookie: the pages after it are not asked, and the
    // search fails rather than answer without them.
    let (found, requests) = paged_search(vec![
        Some(Page {
            entries: vec![user("a"), user("b")],
            rc: 51,
            text: b"",
            cookie: Some(b"cookie-one"),
        }),
        Page::ok(vec![user("c")], Some(b"")),
    ]);
    match found {
        Err(SearchFail::Connection(msg)) => assert!(msg.contains("rc=51"), "{msg}"),
        other => panic!("the search did not fail as busy: {other:?}"),
    }
    assert_eq!(requests.len(), 1);
}

#[test]
fn every_page_is_awaited_no_longer_than_the_reply_timeout() {
    // The second page never comes: the search times out instead of
    // waiting for it (the test's own bound fails it should the search
    // wait on).
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(paged_search_within(
            vec![
                Page::ok(vec![user("a"), user("b")], Some(b"cookie-one")),
                None,
            ],
            std::time::Duration::from_secs(2),
        ));
    });
    let (found, requests) = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("the search waited past its reply timeout");
    assert!(matches!(found, Err(SearchFail::Timeout)), "{found:?}");
    assert_eq!(requests.len(), 2);
}

#[test]
fn a_later_page_whose_cookie_the_server_lost_is_told_apart() {
    // Another paged search on the connection made the server drop this
    // one's state: the caller asks again on a connection of its own.
    let (found, _) = paged_search(vec![
        Page::ok(vec![user("a"), user("b")], Some(b"cookie-one")),
        Some(Page {
            entries: Vec::new(),
            rc: 53,
            text: b"paged results cookie is invalid",
            cookie: None,
        }),
    ]);
    assert!(
        matches!(found, Err(SearchFail::PagedCookie(_))),
        "{found:?}"
    );
}

/// `f`'s output when it is ready at its first poll.
async fn at_once<F: std::future::Future>(f: F) -> Option<F::Output> {
    let mut f = std::pin::pin!(f);
    std::future::poll_fn(|cx| match f.as_mut().poll(cx) {
        std::task::Poll::Ready(out) => std::task::Poll::Ready(Some(out)),
        std::task::Poll::Pending => std::task::Poll::Ready(None),
    })
    .await
}

#[test]
fn a_burst_of_answers_is_handed_over_a_turn_at_a_time() {
    // A page of four turns' worth of entries written at once: the
    // connection's task hands over at most `MESSAGES_PER_TURN` before the
    // search (or any other task) runs, instead of reading them all first
    // (a lookup on the runtime's one thread would wait for it).
    let per_turn = ldap3::MESSAGES_PER_TURN;
    let names: Vec<String> = (0..4 * per_turn).map(|n| format!("u{n}")).collect();
    let entries = names.iter().map(|n| user(n)).collect();
    let (port, _) = answer_pages(vec![Page::ok(entries, None)]);
    let (ready_after_first, found) = on_connection(port, |conn, mut ldap| async move {
        ldap3::drive!(conn);
        let mut stream = ldap
            .streaming_search(
                "dc=example,dc=test",
                ldap3::Scope::Subtree,
                "(uid=*)",
                vec!["uid"],
            )
            .await
            .expect("search sent");
        stream.next().await.expect("an entry").expect("an entry");
        // The entries there without waiting (tokio's own budget left out).
        let mut ready = 0;
        while let Some(Ok(Some(_))) = tokio::task::unconstrained(at_once(stream.next())).await {
            ready += 1;
        }
        let mut found = 1 + ready;
        while stream.next().await.expect("an entry").is_some() {
            found += 1;
        }
        (ready, found)
    });
    assert_eq!(found, 4 * per_turn, "every entry read");
    assert!(
        ready_after_first < per_turn,
        "{ready_after_first} entries were read before the search ran"
    );
}

/// `n` pages without an entry, each with a cookie for more.
fn empty_pages(n: u32) -> impl Iterator<Item = Option<Page>> {
    (0..n).map(|_| Page::ok(Vec::new(), Some(b"more")))
}

#[test]
fn a_search_whose_pages_stay_empty_is_stopped() {
    use super::search::MAX_EMPTY_PAGES;
    // A server that answers every page with nothing and a cookie for
    // more: the search would go on for as long as it does.
    let (found, requests) = paged_search(empty_pages(MAX_EMPTY_PAGES + 5).collect());
    match found {
        Err(SearchFail::Server(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("pages in a row without an entry")
                    && msg.contains("dc=example,dc=test")
                    && msg.contains("(uid=*)"),
                "{msg}"
            );
        }
        other => panic!("the search was not stopped: {other:?}"),
    }
    assert_eq!(requests.len(), MAX_EMPTY_PAGES as usize);
}

#[test]
fn empty_pages_between_entries_are_waited_through() {
    use super::search::MAX_EMPTY_PAGES;
    // Fewer than the limit in a row, twice, an entry between: each page
    // with an entry starts the count again.
    let mut pages: Vec<Option<Page>> = empty_pages(MAX_EMPTY_PAGES - 1).collect();
    pages.push(Page::ok(vec![user("a")], Some(b"more")));
    pages.extend(empty_pages(MAX_EMPTY_PAGES - 1));
    pages.push(Page::ok(vec![user("b")], None));
    let (found, requests) = paged_search(pages);
    assert_eq!(found.unwrap(), ["a", "b"].map(dn));
    assert_eq!(requests.len(), 2 * MAX_EMPTY_PAGES as usize);
}

#[test]
fn an_unreadable_entry_is_said_before_the_empty_pages_after_it() {
    use super::search::MAX_EMPTY_PAGES;
    // The entry that cannot be read is the first thing wrong: the failure
    // says it, not the empty pages that stopped the search.
    let mut pages = vec![Page::ok(
        vec![entry(&[b'u', b'i', b'd', b'=', 0xff], vec![])],
        Some(b"more"),
    )];
    pages.extend(empty_pages(MAX_EMPTY_PAGES));
    let (found, requests) = paged_search(pages);
    match found {
        Err(SearchFail::Server(e)) => {
            let msg = e.to_string();
            assert!(
                msg.contains("an entry cannot be read") && !msg.contains("pages in a row"),
                "{msg}"
            );
        }
        other => panic!("the search did not fail: {other:?}"),
    }
    assert_eq!(requests.len(), 1 + MAX_EMPTY_PAGES as usize);
}
