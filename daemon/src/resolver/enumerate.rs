//! Enumeration (`getent passwd` / `getent group` without a key), served
//! from a snapshot of every domain's users and groups.
//!
//! Off unless `[cache] enumerate = true` (then every page is empty, as
//! SSSD's `enumerate = false`). The first page waits for the snapshot;
//! later pages are served from it while a snapshot older than
//! `entry_ttl` (or invalidated by a flush) is rebuilt in the background.

use super::{Resolver, MAX_PAGE};
use roster_proto::{Group, User};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Every user and group of the enabled domains at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Users, first domain first, names unique.
    pub users: Vec<User>,
    /// Groups, first domain first, names unique.
    pub groups: Vec<Group>,
    /// When it was taken (ms since the epoch).
    pub taken_ms: u64,
}

/// The snapshot and its refresh state.
#[derive(Default)]
pub struct Enumeration {
    current: tokio::sync::Mutex<Option<Arc<Snapshot>>>,
    refreshing: AtomicBool,
    stale: AtomicBool,
}

impl Enumeration {
    /// Marks the snapshot as outdated (rebuilt at the next request).
    pub fn invalidate(&self) {
        self.stale.store(true, Ordering::SeqCst);
    }
}

fn page<T: Clone>(all: &[T], offset: u32, limit: u32) -> (Vec<T>, bool) {
    let start = (offset as usize).min(all.len());
    let n = (limit as usize).min(MAX_PAGE);
    let end = start.saturating_add(n).min(all.len());
    (all[start..end].to_vec(), end < all.len())
}

impl Resolver {
    /// A page of the user enumeration: entries and whether more follow.
    pub async fn list_users(&self, offset: u32, limit: u32) -> Result<(Vec<User>, bool), String> {
        if !self.settings().enumerate {
            return Ok((Vec::new(), false));
        }
        let snap = self.snapshot().await?;
        Ok(page(&snap.users, offset, limit))
    }

    /// A page of the group enumeration: entries and whether more follow.
    pub async fn list_groups(&self, offset: u32, limit: u32) -> Result<(Vec<Group>, bool), String> {
        if !self.settings().enumerate {
            return Ok((Vec::new(), false));
        }
        let snap = self.snapshot().await?;
        Ok(page(&snap.groups, offset, limit))
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, String> {
        let e = &self.inner.enumeration;
        let mut current = e.current.lock().await;
        let now = self.inner.clock.now_ms();
        let ttl = self.settings().entry_ttl_ms;
        if let Some(snap) = current.as_ref() {
            let old = now.saturating_sub(snap.taken_ms) >= ttl || e.stale.load(Ordering::SeqCst);
            if old && !e.refreshing.swap(true, Ordering::SeqCst) {
                let this = self.clone();
                tokio::spawn(async move {
                    let built = this.build_snapshot().await;
                    let en = &this.inner.enumeration;
                    if let Ok(s) = built {
                        *en.current.lock().await = Some(Arc::new(s));
                    }
                    en.refreshing.store(false, Ordering::SeqCst);
                });
            }
            return Ok(snap.clone());
        }
        let snap = Arc::new(self.build_snapshot().await?);
        *current = Some(snap.clone());
        Ok(snap)
    }

    async fn build_snapshot(&self) -> Result<Snapshot, String> {
        self.inner.enumeration.stale.store(false, Ordering::SeqCst);
        let settings = self.settings();
        let domains = self.domains();
        let mut snap = Snapshot {
            taken_ms: self.inner.clock.now_ms(),
            ..Default::default()
        };
        let mut errors = Vec::new();
        let (mut names, mut ids) = (HashSet::new(), HashSet::new());
        for d in domains.iter() {
            match d.all_users().await {
                Ok(list) => {
                    for u in list {
                        let u = u.user;
                        if u.uid >= settings.min_id
                            && !settings.ignore_users.contains(&u.name)
                            && ids.insert(u.uid)
                            && names.insert(u.name.clone())
                        {
                            snap.users.push(u);
                        }
                    }
                }
                Err(err) => errors.push(format!("domain {}: {err}", d.name())),
            }
        }
        let (mut names, mut ids) = (HashSet::new(), HashSet::new());
        for d in domains.iter() {
            match d.all_groups().await {
                Ok(list) => {
                    for g in list {
                        let g = g.group;
                        if g.gid >= settings.min_id
                            && !settings.ignore_groups.contains(&g.name)
                            && ids.insert(g.gid)
                            && names.insert(g.name.clone())
                        {
                            snap.groups.push(g);
                        }
                    }
                }
                Err(err) => errors.push(format!("domain {}: {err}", d.name())),
            }
        }
        if !errors.is_empty() {
            tracing::warn!(errors = %errors.join("; "), "enumeration incomplete");
            if snap.users.is_empty() && snap.groups.is_empty() {
                return Err(errors.join("; "));
            }
        }
        Ok(snap)
    }
}
