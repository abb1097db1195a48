//! Failover, dead-server memory, failback, a stopped or hung directory.
//! Assertions are on outcomes and error kinds, never on elapsed time.

use crate::directory_common;
use directory_common as common;

use common::{directory, tiny_ldif};
use roster_daemon::directory::DirectoryError;
use roster_e2e::config::DomainOptions;
use roster_e2e::ports::closed_port;
use roster_e2e::slapd::Slapd;

fn with_uris(uris: Vec<String>, extra: &[&str]) -> DomainOptions {
    DomainOptions {
        uris: Some(uris),
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..DomainOptions::default()
    }
}

#[tokio::test]
async fn closed_first_uri_fails_over_and_is_remembered() {
    let s = Slapd::start_with_ldif(&tiny_ldif());
    let dead = format!("ldap://127.0.0.1:{}", closed_port());
    let t = tempfile::tempdir().unwrap();
    let d = directory(
        &s,
        t.path(),
        &with_uris(vec![dead.clone(), s.ldap_uri()], &[]),
    );
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    let st = d.status();
    assert!(st.online);
    assert_eq!(st.server, Some(s.ldap_uri()));
    assert_eq!(st.servers[0].uri, dead);
    assert_eq!(st.servers[0].failures, 1);
    assert!(st.servers[0].down_for_secs > 0, "{st:?}");
    assert_eq!(st.servers[1].failures, 0);
    // The connection is reused and the dead server is not tried again.
    for _ in 0..3 {
        assert!(d.user_by_uid(10001).await.unwrap().is_some());
    }
    assert_eq!(d.status().servers[0].failures, 1);
    // retry_now forgets the backoff; the dead server fails once more
    // only when a new connection is needed.
    d.retry_now();
    assert!(d.user_by_uid(10001).await.unwrap().is_some());
    assert_eq!(d.status().servers[0].failures, 1, "live connection reused");
}

#[tokio::test]
async fn stopped_directory_is_unavailable_at_once_and_comes_back() {
    let mut s = Slapd::start_with_ldif(&tiny_ldif());
    let t = tempfile::tempdir().unwrap();
    let d = directory(&s, t.path(), &DomainOptions::default());
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    s.stop();
    match d.user_by_name("alice").await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains(&s.ldap_uri()), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let st = d.status();
    assert!(!st.online);
    assert!(st.offline_since.is_some());
    assert!(st.last_error.is_some());
    assert_eq!(st.servers[0].failures, 1);
    // Remembered as down: answered without trying the server again.
    match d.group_by_gid(10000).await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("down, retried in"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(matches!(
        d.connection().await,
        Err(DirectoryError::Unavailable { .. })
    ));
    assert_eq!(d.status().servers[0].failures, 1);
    s.start_again();
    d.retry_now();
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    let st = d.status();
    assert!(st.online);
    assert_eq!(st.offline_since, None);
    assert_eq!(st.servers[0].failures, 0);
}

#[tokio::test]
async fn restarted_server_is_reconnected_transparently() {
    let mut s = Slapd::start_with_ldif(&tiny_ldif());
    let t = tempfile::tempdir().unwrap();
    let d = directory(&s, t.path(), &DomainOptions::default());
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    // Restart while a connection is cached: the next lookup notices the
    // broken connection and makes a new one, without an error.
    s.stop();
    s.start_again();
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    assert!(d.status().online);
}

#[tokio::test]
async fn fails_back_to_the_first_uri() {
    let mut first = Slapd::start_with_ldif(&tiny_ldif());
    let second = Slapd::start_with_ldif(&tiny_ldif());
    let t = tempfile::tempdir().unwrap();
    let d = directory(
        &first,
        t.path(),
        &with_uris(
            vec![first.ldap_uri(), second.ldap_uri()],
            &["failback_after = 0"],
        ),
    );
    first.stop();
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    assert_eq!(d.status().server, Some(second.ldap_uri()));
    first.start_again();
    d.retry_now();
    // failback_after = 0: the next operation goes back to the first URI.
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    assert_eq!(d.status().server, Some(first.ldap_uri()));
}

#[tokio::test]
async fn hung_server_times_out_and_is_marked_down() {
    // Accepts TCP connections and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let uri = format!("ldap://{}", listener.local_addr().unwrap());
    let s = Slapd::start_with_ldif(&tiny_ldif());
    let t = tempfile::tempdir().unwrap();
    let o = DomainOptions {
        uris: Some(vec![uri.clone()]),
        bind: false,
        extra: vec!["op_timeout = 0.3".into(), "connect_timeout = 0.3".into()],
        ..DomainOptions::default()
    };
    let d = directory(&s, t.path(), &o);
    match d.user_by_name("alice").await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("op_timeout"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let st = d.status();
    assert_eq!(st.servers[0].failures, 1);
    assert!(st.servers[0].down_for_secs > 0);
    // With a bind, the bind itself is bounded.
    let t2 = tempfile::tempdir().unwrap();
    let o = DomainOptions { bind: true, ..o };
    let d = directory(&s, t2.path(), &o);
    match d.user_by_name("alice").await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("timeout"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    drop(listener);
}

#[tokio::test]
async fn user_bind_sessions_fail_over_are_bounded_and_mark_dead_servers_down() {
    use roster_e2e::dataset::{SERVICE_DN, SERVICE_PASSWORD};
    let s = Slapd::start_with_ldif(&tiny_ldif());
    let dead = format!("ldap://127.0.0.1:{}", closed_port());
    let t = tempfile::tempdir().unwrap();
    // No lookup first: the user bind's own connection meets the dead
    // server, marks it down and goes on to the next.
    let d = directory(
        &s,
        t.path(),
        &with_uris(
            vec![dead.clone(), s.ldap_uri()],
            &["allow_insecure_auth = true"],
        ),
    );
    let session = d
        .user_session()
        .await
        .unwrap()
        .expect("insecure binds allowed");
    assert_eq!(session.uri(), s.ldap_uri());
    let st = d.status();
    assert_eq!(st.servers[0].failures, 1, "{st:?}");
    assert!(st.servers[0].down_for_secs > 0, "{st:?}");
    let bind = |pw: &'static str| {
        let d = &d;
        let session = &session;
        async move {
            d.on_session(session, "user bind", move |mut l| async move {
                l.simple_bind(SERVICE_DN, pw).await
            })
            .await
            .unwrap()
        }
    };
    assert_eq!(bind(SERVICE_PASSWORD).await.unwrap().rc, 0);
    let refused = match bind("wrong").await {
        Ok(r) | Err(r) => r,
    };
    assert_eq!(refused.rc, 49);
    d.close_session(session).await;
    // The dead server stays skipped: the next session needs no new try.
    let again = d.user_session().await.unwrap().unwrap();
    assert_eq!(d.status().servers[0].failures, 1);
    d.close_session(again).await;

    // Without allow_insecure_auth a plain connection is refused before
    // any bind.
    let t2 = tempfile::tempdir().unwrap();
    let d = directory(&s, t2.path(), &with_uris(vec![s.ldap_uri()], &[]));
    assert!(d.user_session().await.unwrap().is_none());

    // A server that accepts the connection and never answers the bind:
    // bounded by op_timeout, Unavailable, and marked down.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let hung = format!("ldap://{}", listener.local_addr().unwrap());
    let t3 = tempfile::tempdir().unwrap();
    let d = directory(
        &s,
        t3.path(),
        &with_uris(
            vec![hung],
            &[
                "allow_insecure_auth = true",
                "op_timeout = 0.3",
                "connect_timeout = 0.3",
            ],
        ),
    );
    let session = d.user_session().await.unwrap().unwrap();
    match d
        .on_session(&session, "user bind", |mut l| async move {
            l.simple_bind(SERVICE_DN, SERVICE_PASSWORD).await
        })
        .await
    {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("user bind") && m.contains("op_timeout"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert_eq!(d.status().servers[0].failures, 1);
    drop(listener);
}
