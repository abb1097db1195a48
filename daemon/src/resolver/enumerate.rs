//! Enumeration (`getent passwd` / `getent group` without a key), served
//! from a snapshot of every domain's users and groups.
//!
//! Off unless `[cache] enumerate = true` (then every page is empty, as
//! SSSD's `enumerate = false`). The first page waits for the snapshot;
//! later pages are served from it while a snapshot older than
//! `entry_ttl` (or invalidated by a flush) is rebuilt in the background.

use super::owner::is_qualified;
use super::{DomainError, Resolver, MAX_PAGE};
use roster_proto::{Group, User};
use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Every user and group of the enabled domains at one moment.
#[derive(Debug, Default)]
pub struct Snapshot {
    /// Users, first domain first, served as lookups serve them (names
    /// qualified when an earlier domain holds them; local, reserved and
    /// already claimed IDs left out).
    pub users: Vec<User>,
    /// Groups, first domain first, served as lookups serve them.
    pub groups: Vec<Group>,
    /// When it was taken (ms since the epoch).
    pub taken_ms: u64,
    /// The domains whose users could not be listed.
    pub users_failed: Vec<DomainError>,
    /// The domains whose groups could not be listed.
    pub groups_failed: Vec<DomainError>,
}

/// Why no enumeration could be served: every domain asked failed (each
/// one's error, in domain order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumerationError {
    /// The domains that failed, and why.
    pub failed: Vec<DomainError>,
}

impl std::fmt::Display for EnumerationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.failed.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EnumerationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failed.first().map(|e| e as _)
    }
}

/// An enumeration no domain could serve is unavailable.
impl From<EnumerationError> for roster_proto::Failure {
    fn from(e: EnumerationError) -> roster_proto::Failure {
        roster_proto::Failure::unavailable(e)
    }
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

/// The names one domain holds (in lower case too when it compares names
/// case-insensitively).
struct Held {
    any_case: bool,
    names: HashSet<String>,
}

impl Held {
    fn new(any_case: bool) -> Self {
        Held {
            any_case,
            names: HashSet::new(),
        }
    }

    fn insert(&mut self, name: &str) {
        if self.any_case {
            self.names.insert(name.to_lowercase());
        } else {
            self.names.insert(name.to_string());
        }
    }

    fn holds(&self, name: &str) -> bool {
        if self.any_case {
            self.names.contains(&name.to_lowercase())
        } else {
            self.names.contains(name)
        }
    }
}

/// `name`, or `name@domain` when an earlier domain holds it.
fn served_name(name: &str, domain: &str, earlier: &[Held]) -> String {
    if !is_qualified(name, domain) && earlier.iter().any(|h| h.holds(name)) {
        format!("{name}@{domain}")
    } else {
        name.to_string()
    }
}

/// An enumeration with nothing listed because domains failed is
/// unavailable, not empty.
fn unavailable_when_none<T>(listed: &[T], failed: &[DomainError]) -> Result<(), EnumerationError> {
    if listed.is_empty() && !failed.is_empty() {
        return Err(EnumerationError {
            failed: failed.to_vec(),
        });
    }
    Ok(())
}

fn page<T: Clone>(all: &[T], offset: u32, limit: u32) -> (Vec<T>, bool) {
    let start = (offset as usize).min(all.len());
    let n = (limit as usize).min(MAX_PAGE);
    let end = start.saturating_add(n).min(all.len());
    (all[start..end].to_vec(), end < all.len())
}

impl Resolver {
    /// A page of the user enumeration: entries and whether more follow.
    pub async fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<User>, bool), EnumerationError> {
        if !self.settings().enumerate {
            return Ok((Vec::new(), false));
        }
        let snap = self.snapshot().await?;
        unavailable_when_none(&snap.users, &snap.users_failed)?;
        Ok(page(&snap.users, offset, limit))
    }

    /// A page of the group enumeration: entries and whether more follow.
    pub async fn list_groups(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<Group>, bool), EnumerationError> {
        if !self.settings().enumerate {
            return Ok((Vec::new(), false));
        }
        let snap = self.snapshot().await?;
        unavailable_when_none(&snap.groups, &snap.groups_failed)?;
        Ok(page(&snap.groups, offset, limit))
    }

    async fn snapshot(&self) -> Result<Arc<Snapshot>, EnumerationError> {
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

    async fn build_snapshot(&self) -> Result<Snapshot, EnumerationError> {
        self.inner.enumeration.stale.store(false, Ordering::SeqCst);
        let settings = self.settings();
        let domains = self.domains();
        let mut snap = Snapshot {
            taken_ms: self.inner.clock.now_ms(),
            ..Default::default()
        };
        let mut errors = Vec::new();
        // The names and IDs each domain holds, valid for this host or not:
        // a later domain's entry is judged against them as lookups judge it
        // (see `owner`).
        let mut user_names: Vec<Held> = Vec::new();
        let mut uids = HashSet::new();
        // One version of the local files for the whole snapshot.
        let view = self.inner.local.view();
        let local = view.users.clone();
        let mut users_of = Vec::new();
        for d in domains.iter() {
            match d.all_users().await {
                Ok(list) => users_of.push(list),
                Err(err) => {
                    let e = DomainError::new(d.name(), err);
                    snap.users_failed.push(e.clone());
                    errors.push(e);
                    users_of.push(Vec::new());
                }
            }
        }
        for (i, d) in domains.iter().enumerate() {
            let mut held = Held::new(d.case_insensitive());
            let mut ids = HashSet::new();
            for u in &users_of[i] {
                held.insert(&u.user.name);
                ids.insert(u.user.uid);
                let name = &u.user.name;
                if u.user.uid < settings.min_id || settings.ignore_users.contains(name) {
                    continue;
                }
                let refusal = view
                    .user_refusal(name, u.user.uid, d.case_insensitive())
                    .or_else(|| {
                        uids.contains(&u.user.uid).then(|| {
                            format!("uid {} is already claimed by an earlier domain", u.user.uid)
                        })
                    });
                if let Some(reason) = refusal {
                    self.refuse(d.name(), &u.dn, reason);
                    continue;
                }
                let mut user = u.user.clone();
                user.name = served_name(name, d.name(), &user_names);
                snap.users.push(user);
            }
            user_names.push(held);
            uids.extend(ids);
        }
        let mut group_names: Vec<Held> = Vec::new();
        let mut gids = HashSet::new();
        for (i, d) in domains.iter().enumerate() {
            let list = match d.all_groups().await {
                Ok(list) => list,
                Err(err) => {
                    let e = DomainError::new(d.name(), err);
                    snap.groups_failed.push(e.clone());
                    errors.push(e);
                    Vec::new()
                }
            };
            let mut held = Held::new(d.case_insensitive());
            let mut ids = HashSet::new();
            for g in &list {
                held.insert(&g.group.name);
                ids.insert(g.group.gid);
                let name = &g.group.name;
                if g.group.gid < settings.min_id || settings.ignore_groups.contains(name) {
                    continue;
                }
                let refusal = view
                    .group_refusal(name, g.group.gid, d.case_insensitive())
                    .or_else(|| {
                        gids.contains(&g.group.gid).then(|| {
                            format!(
                                "gid {} is already claimed by an earlier domain",
                                g.group.gid
                            )
                        })
                    });
                if let Some(reason) = refusal {
                    self.refuse(d.name(), &g.dn, reason);
                    continue;
                }
                let mut group = g.group.clone();
                group.name = served_name(name, d.name(), &group_names);
                group.members = g
                    .group
                    .members
                    .iter()
                    .filter(|m| {
                        is_qualified(m, d.name()) || !local.has_name(m, d.case_insensitive())
                    })
                    .map(|m| served_name(m, d.name(), &user_names[..i]))
                    .collect();
                snap.groups.push(group);
            }
            group_names.push(held);
            gids.extend(ids);
        }
        if !errors.is_empty() {
            let failed = EnumerationError { failed: errors };
            tracing::warn!(errors = %failed, "enumeration incomplete");
            if snap.users.is_empty() && snap.groups.is_empty() {
                return Err(failed);
            }
        }
        Ok(snap)
    }
}
