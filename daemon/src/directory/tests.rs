//! Directory behaviour that needs no server: a dead server answers
//! Unavailable, is remembered, and the status says so.

use super::*;
use crate::config::{Config, IdmapSettings};

fn closed_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
    // dropped: nothing listens there any more
}

fn directory(uris: &[String]) -> Directory {
    let list: Vec<String> = uris.iter().map(|u| format!("\"{u}\"")).collect();
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [{}]\nbase_dn = \"dc=example,dc=test\"\nconnect_timeout = 2\n",
        list.join(", ")
    );
    let c = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
    let idmap = DomainSet::new(
        &[(c.name.clone(), IdmapSettings::default(), c.min_id, c.max_id)],
        None,
    )
    .unwrap();
    Directory::new(c, Arc::new(idmap)).unwrap()
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
