//! Helpers the directory's tests share.

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
