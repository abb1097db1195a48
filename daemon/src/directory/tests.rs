//! Directory behaviour that needs no server: a dead server answers
//! Unavailable, is remembered, and the status says so.

use super::test_support::{alice, directory_of};
use super::*;
use crate::config::{Config, IdmapSettings};

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
    // dropped: nothing listens there any more
}

/// A directory for `uris` whose background probe waits 30 s: it does not
/// run during these tests.
fn directory(uris: &[String]) -> Directory {
    directory_with(uris, "offline_retry_initial = 30\n")
}

/// A directory for `uris` with `extra` lines in its table.
fn directory_with(uris: &[String], extra: &str) -> Directory {
    let list: Vec<String> = uris.iter().map(|u| format!("\"{u}\"")).collect();
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [{}]\nbase_dn = \"dc=example,dc=test\"\nconnect_timeout = 2\n{extra}",
        list.join(", ")
    );
    let c = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
    directory_of(c)
}

#[tokio::test]
async fn dead_servers_are_unavailable_and_remembered() {
    let uris = vec![
        format!("ldap://127.0.0.1:{}", closed_port()),
        format!("ldap://127.0.0.1:{}", closed_port()),
    ];
    let d = directory(&uris);
    assert!(d.status().online);
    match d.user_by_name("alice").await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains(&uris[0]) && m.contains(&uris[1]), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let s = d.status();
    assert!(!s.online);
    assert!(s.offline_since.is_some());
    assert!(s
        .servers
        .iter()
        .all(|s| s.failures == 1 && s.down_for_secs > 0));
    // Both are remembered as down: the next lookup does not try them again.
    match d.group_by_gid(10000).await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("down, retried in"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(d.status().servers.iter().all(|s| s.failures == 1));
    // After retry_now they are tried again (and fail again).
    d.retry_now();
    assert!(matches!(
        d.all_users().await,
        Err(DirectoryError::Unavailable { .. })
    ));
    assert!(d.status().servers.iter().all(|s| s.failures == 2));
}

#[tokio::test]
async fn invalid_names_and_ids_are_not_looked_up() {
    let d = directory(&[format!("ldap://127.0.0.1:{}", closed_port())]);
    // Answered without any server: no such user can be served.
    assert_eq!(d.user_by_name("bad:name").await.unwrap(), None);
    assert_eq!(d.user_by_uid(0).await.unwrap(), None);
    assert_eq!(d.group_by_gid(500).await.unwrap(), None);
    assert_eq!(d.group_by_name("-x").await.unwrap(), None);
    assert_eq!(d.status().servers[0].failures, 0);
}

/// Polls (bounded) until `done` holds for the directory's status.
async fn wait_for(d: &Directory, what: &str, done: impl Fn(&DirectoryStatus) -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while !done(&d.status()) {
        assert!(
            std::time::Instant::now() < deadline,
            "never {what}: {:?}",
            d.status()
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn offline_domain_answers_at_once_and_the_probe_brings_it_back() {
    let port = closed_port();
    let uri = format!("ldap://127.0.0.1:{port}");
    // Anonymous: a TCP connection is all a probe needs to succeed.
    let d = directory_with(
        std::slice::from_ref(&uri),
        "offline_retry_initial = 0.05\noffline_retry_max = 0.1\n",
    );
    assert!(matches!(
        d.user_by_name("alice").await,
        Err(DirectoryError::Unavailable { .. })
    ));
    let st = d.status();
    assert!(!st.online && st.offline_since.is_some(), "{st:?}");
    assert_eq!(st.connects, 1);
    // Offline: every lookup and user bind is refused without connecting.
    for _ in 0..5 {
        match d.user_by_uid(10001).await {
            Err(DirectoryError::Unavailable { context: m, .. }) => {
                assert!(m.contains("offline") && m.contains(&uri), "{m}")
            }
            other => panic!("expected Unavailable, got {other:?}"),
        }
        assert!(matches!(
            d.user_session().await,
            Err(DirectoryError::Unavailable { .. })
        ));
        assert!(matches!(
            d.connection().await,
            Err(DirectoryError::Unavailable { .. })
        ));
    }
    assert_eq!(d.status().connects, 1);
    // The probe retries in the background... (a probe is counted when it
    // starts, its failure when it ends: wait for both.)
    wait_for(&d, "probed twice", |s| {
        s.probes >= 2 && s.servers[0].failures >= 3
    })
    .await;
    let st = d.status();
    assert!(!st.online, "{st:?}");
    assert!(st.next_probe_in_ms.is_some(), "{st:?}");
    assert!(st.servers[0].failures >= 3, "{st:?}");
    assert_eq!(st.connects, 1);
    // ... and brings the domain back once the server accepts connections,
    // without any lookup asking.
    let listener = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    wait_for(&d, "back online", |s| s.online).await;
    let st = d.status();
    assert_eq!(st.offline_since, None);
    assert_eq!(st.next_probe_in_ms, None);
    assert_eq!(st.server.as_deref(), Some(uri.as_str()));
    assert_eq!(st.servers[0].failures, 0);
    // The probe's connection is the domain's now: no new one is made.
    assert!(d.connection().await.is_ok());
    assert_eq!(d.status().connects, 1);
    drop(listener);
}

/// A GSSAPI domain's host TGT renewal runs from the directory's start,
/// records a failure with its retry (the status shows both), and ends
/// when the directory is dropped (a reload that changed the domain).
#[tokio::test]
async fn the_host_tgt_renewal_starts_with_the_directory_and_ends_with_it() {
    let text = "[[domain]]\nname = \"ex\"\nuris = [\"ldap://dc1.example.test\"]\n\
                base_dn = \"dc=example,dc=test\"\nauth = \"gssapi\"\n\
                keytab = \"/nonexistent/krb5.keytab\"\n";
    let mut c = Config::from_str(text, "t.toml").unwrap().domains.remove(0);
    // A principal the library refuses before asking any KDC.
    c.krb5.principal = Some("HOST\0$".into());
    let idmap = DomainSet::new(
        &[(c.name.clone(), IdmapSettings::default(), c.min_id, c.max_id)],
        None,
    )
    .unwrap();
    let d = Directory::new(c, Arc::new(idmap)).unwrap();
    wait_for(&d, "a failed renewal", |s| {
        s.kerberos
            .as_ref()
            .is_some_and(|k| k.last_renewal_error.is_some())
    })
    .await;
    let k = d.status().kerberos.unwrap();
    assert_eq!(k.principal, "HOST\0$@EXAMPLE.TEST");
    assert!(
        k.last_renewal_error.as_deref().unwrap().contains("NUL"),
        "{k:?}"
    );
    assert_eq!((k.renewals, k.tgt_end, k.last_renewal), (0, None, None));
    // Retried after 5 s.
    let (at, next) = (k.last_renewal_error_at.unwrap(), k.next_renewal.unwrap());
    assert_eq!(next - at, 5, "{k:?}");
    // No lookup connected for it.
    assert_eq!(d.status().connects, 0);

    // Dropped with the directory: the task lets go of the credentials.
    let creds = Arc::downgrade(d.pool.host_creds().unwrap());
    drop(d);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while creds.upgrade().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the renewal task outlived its directory"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Names compare as the server's caseIgnoreMatch compares them: case,
/// whitespace at the ends and inner runs of whitespace do not count.
#[test]
fn names_take_the_form_the_server_matches() {
    use super::match_form;
    assert!(matches!(
        match_form("bob"),
        std::borrow::Cow::Borrowed("bob")
    ));
    for same in ["bob ", " Bob", "BOB", "bob\t"] {
        assert_eq!(match_form(same), "bob", "{same:?}");
    }
    assert_eq!(match_form("  John   Doe "), "john doe");
    assert_eq!(match_form("ΟΔΥΣΣΕΥΣ"), match_form("οδυσσευς"));
    assert_ne!(match_form("bo b"), match_form("bob"));
}

/// The most a lookup's future may take: its search and the reading of
/// the answer (2.5-3.4 KB in the debug and the release build alike).
/// Each lookup's future is made on the stack and moved into the
/// provider's box, at every lookup.
const SEARCH_FUTURE_MAX: usize = 4096;

/// A lookup's future holds its search, not the rare paths beside it:
/// connecting (DNS, TCP, StartTLS, the bind), following referrals,
/// `limit_to_groups`' searches and rfc2307bis nesting are boxed where they
/// are awaited. Held inline they made each of these futures about 6 KB,
/// most of it never used. (The bound catches connecting or referrals held
/// inline again: user_by_name's future then 4.7 or 5.4 KB; the other two
/// now cost a few hundred bytes each, within it.)
#[test]
fn a_lookups_future_holds_its_search_not_the_rare_paths() {
    let d = Arc::new(directory(&["ldap://127.0.0.1:1".to_string()]));
    let user = alice();
    let names = ["alice".to_string()];
    let sizes = [
        (
            "user_by_name",
            std::mem::size_of_val(&d.user_by_name("alice")),
        ),
        ("user_by_uid", std::mem::size_of_val(&d.user_by_uid(1000))),
        (
            "group_by_name",
            std::mem::size_of_val(&d.group_by_name("staff")),
        ),
        ("group_by_gid", std::mem::size_of_val(&d.group_by_gid(1000))),
        (
            "groups_of_user",
            std::mem::size_of_val(&d.groups_of_user(&user)),
        ),
        (
            "users_by_names",
            std::mem::size_of_val(&d.users_by_names(&names)),
        ),
        (
            "users_by_uids",
            std::mem::size_of_val(&d.users_by_uids(&[1000])),
        ),
        (
            "groups_by_names",
            std::mem::size_of_val(&d.groups_by_names(&names)),
        ),
        (
            "groups_by_gids",
            std::mem::size_of_val(&d.groups_by_gids(&[1000])),
        ),
    ];
    for (what, size) in sizes {
        assert!(
            size <= SEARCH_FUTURE_MAX,
            "{what}'s future is {size} bytes (at most {SEARCH_FUTURE_MAX}): box the rare path it now holds"
        );
    }
}
