//! (roster) A search read to its Done frees its message ID, whether it
//! was read through adapters or not, and a stream read to its end stays
//! ended: against a fake server that answers the one search of its
//! connection with an entry and a successful Done.

use crate::adapters::EntriesOnly;
use crate::{LdapConnAsync, Scope};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A search result entry of message 1: DN `cn=x`, no attributes.
const ENTRY: &[u8] = &[
    0x30, 0x0d, 0x02, 0x01, 0x01, 0x64, 0x08, 0x04, 0x04, b'c', b'n', b'=', b'x', 0x30, 0x00,
];

/// A successful search result done of message 1.
const DONE: &[u8] = &[
    0x30, 0x0c, 0x02, 0x01, 0x01, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
];

/// Listens on 127.0.0.1, answers the first request of the first
/// connection with `reply` and holds the connection until the client
/// closes it. Returns the port.
fn answer_first_request_with(reply: Vec<u8>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        let mut buf = [0u8; 4096];
        if conn.read(&mut buf).unwrap_or(0) == 0 {
            return;
        }
        let _ = conn.write_all(&reply);
        while conn.read(&mut buf).unwrap_or(0) > 0 {}
    });
    port
}

/// Runs one search (through `EntriesOnly` when `adapted`) to its end and
/// finishes it: the entries it gave, whether a further `next` gave none
/// (instead of an error or a panic), and the message IDs the connection
/// still holds reserved once its task has run.
fn search_to_the_end(adapted: bool) -> (usize, bool, usize) {
    let port = answer_first_request_with([ENTRY, DONE].concat());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (conn, mut ldap) = LdapConnAsync::new(&format!("ldap://127.0.0.1:{port}"))
            .await
            .unwrap();
        crate::drive!(conn);
        let (base, scope, filter, attrs) = ("", Scope::Base, "(objectClass=*)", vec!["cn"]);
        let mut stream = if adapted {
            ldap.streaming_search_with(EntriesOnly::new(), base, scope, filter, attrs)
                .await
        } else {
            ldap.streaming_search(base, scope, filter, attrs).await
        }
        .unwrap();
        let mut entries = 0;
        while stream.next().await.unwrap().is_some() {
            entries += 1;
        }
        let ended = matches!(stream.next().await, Ok(None));
        assert_eq!(stream.finish().await.rc, 0);
        // Whatever `finish` sent the connection's task is taken first.
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
        let reserved = ldap.msgmap.lock().unwrap().1.len();
        (entries, ended, reserved)
    })
}

#[test]
fn a_plain_search_frees_its_id_at_its_done_and_stays_ended() {
    assert_eq!(search_to_the_end(false), (1, true, 0));
}

#[test]
fn an_adapted_search_frees_its_id_at_its_done() {
    assert_eq!(search_to_the_end(true), (1, true, 0));
}
