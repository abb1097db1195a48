//! A server's message that the vendored ldap3 cannot read ends the
//! connection with a decoding error that says what is wrong with it, never
//! with a panic of the connection's task (`vendor/ldap3/src/shape.rs`):
//! results, entries, references and controls whose parts are missing or of
//! the wrong kind, an operation that is no response, a response of another
//! kind answering a search. Before, each of these was an `expect` or a
//! `panic!` in the task that read the message. A search entry that
//! cannot be read fails its search with what is wrong with it. (And, on
//! the same fake server, a well-formed answer mixing entries, references
//! and an intermediate response is read whole.)
//!
//! The fake server ([`answer_search_with`]) answers the first request it
//! reads (the search) with the octets it is given and keeps the
//! connection open.

use super::ber_tests::encode;
use ldap3::asn1::{StructureTag, TagClass, PL};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A primitive value.
pub(super) fn prim(class: TagClass, id: u64, octets: &[u8]) -> StructureTag {
    StructureTag {
        class,
        id,
        payload: PL::P(octets.to_vec()),
    }
}

/// A constructed value.
pub(super) fn cons(class: TagClass, id: u64, children: Vec<StructureTag>) -> StructureTag {
    StructureTag {
        class,
        id,
        payload: PL::C(children),
    }
}

pub(super) fn octet_string(s: &[u8]) -> StructureTag {
    prim(TagClass::Universal, 4, s)
}

pub(super) fn enumerated(n: u8) -> StructureTag {
    prim(TagClass::Universal, 10, &[n])
}

/// An LDAPMessage: message ID 1 (the client's first request), `op`, and
/// the controls when given.
fn message(op: StructureTag, controls: Option<StructureTag>) -> Vec<u8> {
    let mut parts = vec![prim(TagClass::Universal, 2, &[1]), op];
    parts.extend(controls);
    encode(&cons(TagClass::Universal, 16, parts))
}

/// A successful search result done with `extra` after its three parts.
fn done(extra: Vec<StructureTag>) -> StructureTag {
    let mut parts = vec![enumerated(0), octet_string(b""), octet_string(b"")];
    parts.extend(extra);
    cons(TagClass::Application, 5, parts)
}

/// A controls element holding one control of `oid` with `value`.
pub(super) fn one_control(oid: &str, value: &[u8]) -> StructureTag {
    cons(
        TagClass::Context,
        0,
        vec![cons(
            TagClass::Universal,
            16,
            vec![octet_string(oid.as_bytes()), octet_string(value)],
        )],
    )
}

/// Listens on 127.0.0.1, reads the first request of the first
/// connection, answers it with `reply` and holds the connection until the
/// client closes it. Returns the port.
fn answer_search_with(reply: Vec<u8>) -> u16 {
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

/// Runs `body` on a new runtime with a connection to 127.0.0.1:`port`
/// (its task not started: `body` drives it).
pub(super) fn on_connection<F, Fut, T>(port: u16, body: F) -> T
where
    F: FnOnce(ldap3::LdapConnAsync, ldap3::Ldap) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let (conn, ldap) = ldap3::LdapConnAsync::new(&format!("ldap://127.0.0.1:{port}"))
            .await
            .expect("connect");
        body(conn, ldap).await
    })
}

/// Searches a server that answers with `reply`: the search's error and
/// the connection's end, both as text (the driver must end with an error,
/// not a panic).
fn search_against(reply: Vec<u8>) -> (String, String) {
    let port = answer_search_with(reply);
    on_connection(port, |conn, mut ldap| async move {
        let driver = tokio::spawn(conn.drive());
        ldap.timeout = Some(std::time::Duration::from_secs(30));
        let searched = ldap
            .search(
                "dc=example,dc=test",
                ldap3::Scope::Subtree,
                "(uid=alice)",
                vec!["uid"],
            )
            .await;
        let search_error = match searched {
            Ok(r) => match r.success() {
                Ok(found) => panic!("the search succeeded: {found:?}"),
                Err(e) => e.to_string(),
            },
            Err(e) => e.to_string(),
        };
        drop(ldap);
        (search_error, ended(driver).await)
    })
}

/// How the connection's task `driver` ended: its error (it must end, and
/// with an error, not a panic), as text; a decoding error is also told by
/// its type ([`ldap3::MalformedMessage`], what rosterd logs as a warning).
async fn ended(driver: tokio::task::JoinHandle<ldap3::result::Result<()>>) -> String {
    match tokio::time::timeout(std::time::Duration::from_secs(30), driver).await {
        Err(_) => panic!("the connection did not end"),
        Ok(Ok(Ok(_))) => panic!("the connection ended without an error"),
        Ok(Ok(Err(e))) => {
            let text = e.to_string();
            assert_eq!(
                ldap3::MalformedMessage::is_cause_of(&e),
                text.contains("decoding error"),
                "{text}"
            );
            text
        }
        Ok(Err(joined)) => panic!("the connection's task failed: {joined}"),
    }
}

/// Binds against a server that answers the bind with `reply`: the bind's
/// result code, or its error as text.
fn bind_against(reply: Vec<u8>) -> Result<u32, String> {
    let port = answer_search_with(reply);
    on_connection(port, |conn, mut ldap| async move {
        let driver = tokio::spawn(conn.drive());
        ldap.timeout = Some(std::time::Duration::from_secs(30));
        let bound = ldap
            .simple_bind("cn=reader,dc=example,dc=test", "secret")
            .await;
        match bound {
            Ok(r) => Ok(r.rc),
            Err(e) => {
                drop(ldap);
                let end = ended(driver).await;
                Err(format!("{e} / {end}"))
            }
        }
    })
}

/// A successful bind response of message 1.
fn bind_done() -> StructureTag {
    cons(
        TagClass::Application,
        1,
        vec![enumerated(0), octet_string(b""), octet_string(b"")],
    )
}

/// The connection ends with a decoding error of message 1 that contains
/// `wrong`.
fn assert_refused(reply: Vec<u8>, wrong: &str) {
    let (search, ended) = search_against(reply);
    assert!(
        ended.contains("decoding error: LDAP message 1 from the server") && ended.contains(wrong),
        "connection ended with {ended:?}, expected {wrong:?}"
    );
    assert!(!search.is_empty());
}

#[test]
fn a_result_code_of_the_wrong_type_is_a_decoding_error() {
    let op = cons(
        TagClass::Application,
        5,
        vec![octet_string(b"0"), octet_string(b""), octet_string(b"")],
    );
    assert_refused(
        message(op, None),
        "search result done: result code has the wrong type",
    );
}

#[test]
fn a_result_without_its_diagnostic_message_is_a_decoding_error() {
    let op = cons(
        TagClass::Application,
        5,
        vec![enumerated(0), octet_string(b"")],
    );
    assert_refused(
        message(op, None),
        "search result done: diagnostic message is missing",
    );
}

#[test]
fn a_referral_uri_that_is_not_utf8_is_a_decoding_error() {
    let refs = cons(TagClass::Context, 3, vec![octet_string(b"ldap://\xff")]);
    assert_refused(
        message(done(vec![refs]), None),
        "search result done: a referral URI is not UTF-8",
    );
}

/// A search result entry of message 1.
pub(super) fn entry(dn: &[u8], attrs: Vec<StructureTag>) -> StructureTag {
    cons(
        TagClass::Application,
        4,
        vec![octet_string(dn), cons(TagClass::Universal, 16, attrs)],
    )
}

/// One attribute of an entry.
pub(super) fn attribute(name: &str, values: &[&[u8]]) -> StructureTag {
    cons(
        TagClass::Universal,
        16,
        vec![
            octet_string(name.as_bytes()),
            cons(
                TagClass::Universal,
                17,
                values.iter().map(|v| octet_string(v)).collect(),
            ),
        ],
    )
}

/// What `search::run` finds on a server answering `entries` then a
/// successful result: the DNs, in order, or the search's error as text.
fn dns_found(entries: Vec<StructureTag>) -> Result<Vec<String>, String> {
    let mut reply: Vec<u8> = entries.into_iter().flat_map(|e| message(e, None)).collect();
    reply.extend(message(done(vec![]), None));
    match run_search(reply) {
        Ok(found) => Ok(found.entries.into_iter().map(|e| e.dn).collect()),
        Err(super::search::SearchFail::Server(e)) => Err(e.to_string()),
        Err(other) => panic!("the search failed otherwise: {other:?}"),
    }
}

/// `search::run` (unpaged, `(uid=*)` under the base) against a server
/// answering with `reply`.
fn run_search(reply: Vec<u8>) -> Result<super::search::Found, super::search::SearchFail> {
    let port = answer_search_with(reply);
    on_connection(port, |conn, ldap| async move {
        ldap3::drive!(conn);
        let q = super::search::Query {
            base: "dc=example,dc=test".into(),
            scope: ldap3::Scope::Subtree,
            filter: "(uid=*)".into(),
            attrs: vec!["uid".to_string()].into(),
        };
        super::search::run(ldap, &q, None, Some(std::time::Duration::from_secs(30))).await
    })
}

/// A readable entry of user `n` (`uid=n` under the base).
pub(super) fn user(n: &str) -> StructureTag {
    entry(
        format!("uid={n},dc=example,dc=test").as_bytes(),
        vec![attribute("uid", &[n.as_bytes()])],
    )
}

#[test]
fn an_entry_that_cannot_be_read_fails_the_search_naming_it() {
    assert_eq!(
        dns_found(vec![user("first"), user("last")]),
        Ok(vec![
            "uid=first,dc=example,dc=test".to_string(),
            "uid=last,dc=example,dc=test".to_string()
        ])
    );
    // Each unreadable entry between two good ones: it could hold the name
    // asked for, so the search fails (once it has ended) instead of
    // answering with the others.
    let cases = [
        (
            entry(&[b'u', b'i', b'd', b'=', 0xff], vec![]),
            "its object name is not UTF-8",
        ),
        (
            cons(
                TagClass::Application,
                4,
                vec![octet_string(b"uid=b,dc=example,dc=test"), octet_string(b"")],
            ),
            "uid=b,dc=example,dc=test: its attributes are missing or not a sequence",
        ),
        (
            entry(
                b"uid=c,dc=example,dc=test",
                vec![cons(TagClass::Universal, 16, vec![octet_string(b"uid")])],
            ),
            "uid=c,dc=example,dc=test: attribute uid has no set of values",
        ),
        (
            entry(
                b"uid=d,dc=example,dc=test",
                vec![cons(
                    TagClass::Universal,
                    16,
                    vec![
                        octet_string(b"uid"),
                        cons(
                            TagClass::Universal,
                            17,
                            vec![cons(TagClass::Universal, 16, vec![])],
                        ),
                    ],
                )],
            ),
            "uid=d,dc=example,dc=test: a value of attribute uid is constructed",
        ),
    ];
    for (bad, wrong) in cases {
        let err = dns_found(vec![user("first"), bad, user("last")]).unwrap_err();
        assert!(
            err.contains("search under dc=example,dc=test with (uid=*): an entry cannot be read: ")
                && err.contains(wrong),
            "{err}"
        );
    }
}

#[test]
fn an_entry_reader_says_what_is_wrong_and_names_the_dn() {
    use ldap3::{ResultEntry, SearchEntry};
    let read = |op: StructureTag| SearchEntry::read(ResultEntry::new(op)).map(|e| e.dn);
    let no_values = entry(
        b"uid=c,dc=example,dc=test",
        vec![cons(TagClass::Universal, 16, vec![octet_string(b"uid")])],
    );
    assert_eq!(
        read(no_values),
        Err("uid=c,dc=example,dc=test: attribute uid has no set of values".into())
    );
    let bad_dn = entry(&[b'u', b'i', b'd', b'=', 0xff], vec![]);
    assert_eq!(
        read(bad_dn),
        Err("its object name is not UTF-8 (uid=\u{fffd})".into())
    );
    // Binary values stay apart from text ones, as before.
    let mixed = entry(
        b"uid=e,dc=example,dc=test",
        vec![attribute("objectSid", &[b"\x01\xff", b"text"])],
    );
    let e = SearchEntry::read(ResultEntry::new(mixed)).unwrap();
    assert_eq!(e.bin_attrs["objectSid"].len(), 2);
    assert!(e.attrs.is_empty());
}

#[test]
fn a_message_without_an_operation_is_a_decoding_error() {
    let only_id = encode(&cons(
        TagClass::Universal,
        16,
        vec![prim(TagClass::Universal, 2, &[1])],
    ));
    let (_, ended) = search_against(only_id);
    assert!(
        ended.contains(
            "decoding error: an LDAP message from the server: it has no protocol operation"
        ),
        "{ended}"
    );
}

#[test]
fn an_operation_that_is_no_response_is_a_decoding_error() {
    let op = cons(TagClass::Application, 3, vec![octet_string(b"")]);
    assert_refused(message(op, None), "protocol operation 3 is not a response");
}

#[test]
fn another_response_answering_a_search_is_a_decoding_error() {
    let bind = cons(
        TagClass::Application,
        1,
        vec![enumerated(0), octet_string(b""), octet_string(b"")],
    );
    assert_refused(message(bind, None), "a bind response answers a search");
}

#[test]
fn an_entry_answering_a_bind_ends_the_connection_with_a_decoding_error() {
    let answer = entry(b"c=x", vec![]);
    let err = bind_against(message(answer, None)).unwrap_err();
    assert!(
        err.contains(
            "LDAP message 1 from the server: a search result entry answers an operation that is not a search"
        ),
        "{err}"
    );
    let reference = cons(TagClass::Application, 19, vec![]);
    let err = bind_against(message(reference, None)).unwrap_err();
    assert!(err.contains("a search result reference answers"), "{err}");
}

#[test]
fn an_intermediate_response_is_not_taken_for_the_result() {
    let intermediate = cons(TagClass::Application, 25, vec![]);
    let mut reply = message(intermediate, None);
    reply.extend(message(bind_done(), None));
    assert_eq!(bind_against(reply), Ok(0));
}

#[test]
fn a_message_id_or_result_code_longer_than_four_octets_is_a_decoding_error() {
    let long_id = encode(&cons(
        TagClass::Universal,
        16,
        vec![prim(TagClass::Universal, 2, &[1, 0, 0, 0, 1]), done(vec![])],
    ));
    let (_, ended) = search_against(long_id);
    assert!(ended.contains("its message ID is out of range"), "{ended}");
    let op = cons(
        TagClass::Application,
        5,
        vec![
            prim(TagClass::Universal, 10, &[1, 0, 0, 0, 0]),
            octet_string(b""),
            octet_string(b""),
        ],
    );
    assert_refused(message(op, None), "result code is out of range");
}

#[test]
fn a_paged_results_value_that_cannot_be_read_is_a_decoding_error() {
    let controls = one_control("1.2.840.113556.1.4.319", b"\x04\x00");
    assert_refused(
        message(done(vec![]), Some(controls)),
        "the paged results control's value cannot be read",
    );
}

#[test]
fn a_control_with_an_empty_criticality_is_a_decoding_error() {
    let controls = cons(
        TagClass::Context,
        0,
        vec![cons(
            TagClass::Universal,
            16,
            vec![octet_string(b"1.2.3"), prim(TagClass::Universal, 1, b"")],
        )],
    );
    assert_refused(
        message(done(vec![]), Some(controls)),
        "a control's criticality is empty",
    );
}

#[test]
fn a_well_formed_answer_with_an_unknown_control_is_read() {
    // The checks refuse only what the readers cannot read: a result with
    // a control the library does not know, a referral and an extra
    // element passes.
    let refs = cons(
        TagClass::Context,
        3,
        vec![octet_string(b"ldap://other.example.test/")],
    );
    let reply = message(
        done(vec![refs, octet_string(b"extra")]),
        Some(one_control("1.2.3.4", b"anything")),
    );
    let port = answer_search_with(reply);
    on_connection(port, |conn, mut ldap| async move {
        ldap3::drive!(conn);
        let res = ldap
            .search(
                "dc=example,dc=test",
                ldap3::Scope::Subtree,
                "(uid=alice)",
                vec!["uid"],
            )
            .await
            .expect("answered");
        assert_eq!(res.1.rc, 0);
        assert_eq!(res.1.refs, vec!["ldap://other.example.test/".to_string()]);
        assert_eq!(res.1.ctrls.len(), 1);
    });
}

/// `search::run` keeps what ldap3's `EntriesOnly` adapter kept, without
/// it: the entries in order, an intermediate response passed over, and
/// the referral URLs of the result first, then the continuation
/// references in the order they came.
#[test]
fn a_search_keeps_entries_and_references_and_passes_intermediate_responses_over() {
    let reference = |url: &str| {
        cons(
            TagClass::Application,
            19,
            vec![octet_string(url.as_bytes())],
        )
    };
    // A referral result (10) naming one more server.
    let referral_done = cons(
        TagClass::Application,
        5,
        vec![
            enumerated(10),
            octet_string(b""),
            octet_string(b""),
            cons(
                TagClass::Context,
                3,
                vec![octet_string(b"ldap://result.example.test/")],
            ),
        ],
    );
    let mut reply = Vec::new();
    for op in [
        user("first"),
        reference("ldap://first.example.test/ou=a,dc=example,dc=test"),
        cons(TagClass::Application, 25, vec![]),
        reference("ldap://second.example.test/ou=b,dc=example,dc=test"),
        user("last"),
        referral_done,
    ] {
        reply.extend(message(op, None));
    }
    let found = run_search(reply).expect("the search");
    let dns: Vec<String> = found.entries.into_iter().map(|e| e.dn).collect();
    let refs = found.refs;
    assert_eq!(
        dns,
        [
            "uid=first,dc=example,dc=test",
            "uid=last,dc=example,dc=test"
        ]
    );
    assert_eq!(
        refs,
        [
            "ldap://result.example.test/",
            "ldap://first.example.test/ou=a,dc=example,dc=test",
            "ldap://second.example.test/ou=b,dc=example,dc=test",
        ]
    );
}
