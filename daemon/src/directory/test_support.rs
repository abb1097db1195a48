//! Helpers the directory's tests share.

use super::records::UserRecord;
use super::Directory;
use crate::config::{DomainConfig, IdmapSettings};
use roster_idmap::DomainSet;
use std::sync::Arc;
use std::time::Duration;

/// A directory for domain `c` alone (its ID mapping from its own table).
pub(super) fn directory_of(c: DomainConfig) -> Directory {
    let idmap = DomainSet::new(
        &[(c.name.clone(), IdmapSettings::default(), c.min_id, c.max_id)],
        None,
    )
    .unwrap();
    Directory::new(c, Arc::new(idmap)).unwrap()
}

/// `fut`, or a panic naming `what` when it has not ended after 30 s (far
/// beyond every timeout the tests configure: only a missing bound, a hang,
/// gets there).
pub(super) async fn bounded<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(30), fut)
        .await
        .unwrap_or_else(|_| panic!("{what}: hung (no timeout applied)"))
}

/// A user of the tests' domain "ex", in its primary group 10000.
pub(super) fn alice() -> UserRecord {
    UserRecord {
        user: roster_proto::User {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: String::new(),
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
        },
        dn: "uid=alice,ou=people,dc=example,dc=test".into(),
        domain: "ex".into(),
        unique_id: None,
        ssh_keys: Vec::new(),
    }
}
