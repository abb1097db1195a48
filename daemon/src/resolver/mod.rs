//! The resolver: answers lookups from the cache, the directory domains and,
//! when no directory answers, from offline data.
//!
//! ## Resolution order
//!
//! * `name@domain` (when `domain` is an enabled domain) asks that domain
//!   only; other names and IDs go through the enabled domains in
//!   configuration order and the first domain that has the object wins.
//! * A domain that fails (unavailable, no usable cached entry) stops the
//!   walk with `Unavailable`: answering from a later domain could map the
//!   name to another object than the one the failed domain would have
//!   given. `NotFound` only when every domain said "no such entry".
//!
//! ## Per domain
//!
//! A fresh cached answer is served as is (when it is in the last quarter
//! of its life, a refresh starts in the background). Otherwise the domain
//! is asked, with concurrent identical questions sharing one search
//! (single-flight). If it is unavailable, an expired entry (in memory or
//! in the persistent store) younger than `offline_max_age` is served; if it
//! is merely slow, that entry is served after `stale_grace_ms` (half the
//! NSS time budget) while the search goes on in the background, so a slow
//! directory never makes a known user's login wait.

pub mod enumerate;
#[cfg(test)]
pub mod fake;
mod fetch;
mod flush;
pub mod ldap;
pub mod provider;
mod status;

pub use provider::{BoxFuture, Provider, ProviderError, ProviderResult};

use crate::cache::flight::Flights;
use crate::cache::{CacheKey, Clock, GroupEntry, Key, MemCache, UserEntry, Value};
use crate::config::{CacheSettings, NssSettings};
use crate::store::Store;
use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

/// Resolver settings, from the `[cache]` and `[nss]` tables.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Milliseconds a positive answer stays fresh.
    pub entry_ttl_ms: u64,
    /// Milliseconds a negative answer stays fresh.
    pub negative_ttl_ms: u64,
    /// Milliseconds an answer may be served offline (`u64::MAX`: forever).
    pub offline_max_age_ms: u64,
    /// Maximum number of answers in memory.
    pub max_entries: usize,
    /// Serve enumeration.
    pub enumerate: bool,
    /// Users and groups with an ID below this are hidden.
    pub min_id: u32,
    /// User names never resolved.
    pub ignore_users: HashSet<String>,
    /// Group names never resolved.
    pub ignore_groups: HashSet<String>,
    /// Milliseconds to wait for a domain when an expired (offline-usable)
    /// entry exists; past that the expired entry is answered (0: wait for
    /// the domain's own timeout). Half the NSS module's time budget.
    pub stale_grace_ms: u64,
}

impl Settings {
    /// Settings from the configuration tables.
    pub fn from_config(cache: &CacheSettings, nss: &NssSettings) -> Self {
        Settings {
            entry_ttl_ms: cache.entry_ttl.saturating_mul(1000),
            negative_ttl_ms: cache.negative_ttl.saturating_mul(1000),
            offline_max_age_ms: match cache.offline_max_age {
                0 => u64::MAX,
                s => s.saturating_mul(1000),
            },
            max_entries: cache.max_entries,
            enumerate: cache.enumerate,
            min_id: nss.min_id,
            ignore_users: nss.ignore_users.iter().cloned().collect(),
            ignore_groups: nss.ignore_groups.iter().cloned().collect(),
            stale_grace_ms: nss.timeout_ms / 2,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Settings::from_config(&CacheSettings::default(), &NssSettings::default())
    }
}

/// Where an answer came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// A fresh cached answer.
    Cache,
    /// The directory, just now.
    Directory,
    /// An expired cached or persistent answer, served because no directory
    /// answered.
    Offline,
}

impl Source {
    /// Lower-case name (`cache`, `directory`, `offline`).
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Cache => "cache",
            Source::Directory => "directory",
            Source::Offline => "offline",
        }
    }
}

/// The outcome of a lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    /// Found, and where the answer came from.
    Found(T, Source),
    /// Every domain said there is no such object.
    NotFound,
    /// Some domain could not answer and nothing usable was cached.
    Unavailable(String),
}

/// An answer and the time (ms since the epoch) until which it is fresh;
/// 0 when it is not (negative answers, offline answers, failures).
pub type Timed<T> = (Answer<T>, u64);

/// Outcome in one domain.
enum InDomain {
    Found(Value, Source, u64),
    Missing,
    Failed(String),
}

type Fetched = Result<Option<Value>, ProviderError>;

#[derive(Default)]
struct Stats {
    hits: AtomicU64,
    misses: AtomicU64,
    offline: AtomicU64,
}

struct Inner {
    domains: RwLock<Arc<Vec<Arc<dyn Provider>>>>,
    settings: RwLock<Arc<Settings>>,
    cache: MemCache,
    store: Option<Arc<Store>>,
    flights: Flights<CacheKey, Fetched>,
    clock: Arc<dyn Clock>,
    stats: Stats,
    started: Instant,
    enumeration: enumerate::Enumeration,
}

/// The cache layer over the domains. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

/// Users and groups answered from the enumeration snapshot per page, at most.
pub const MAX_PAGE: usize = 500;

impl Resolver {
    /// A resolver over `domains` (enabled ones, in order), persisting
    /// answers to `store` when given.
    pub fn new(
        domains: Vec<Arc<dyn Provider>>,
        settings: Settings,
        store: Option<Arc<Store>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Resolver {
            inner: Arc::new(Inner {
                domains: RwLock::new(Arc::new(domains)),
                cache: MemCache::new(settings.max_entries),
                settings: RwLock::new(Arc::new(settings)),
                store,
                flights: Flights::default(),
                clock,
                stats: Stats::default(),
                started: Instant::now(),
                enumeration: enumerate::Enumeration::default(),
            }),
        }
    }

    /// The current settings.
    pub fn settings(&self) -> Arc<Settings> {
        self.inner
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// The current domains, in order.
    pub fn domains(&self) -> Arc<Vec<Arc<dyn Provider>>> {
        self.inner
            .domains
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Replaces the domains and settings (configuration reload). Cached
    /// answers of domains not named in `keep_cache_of` are dropped, in
    /// memory and on disk.
    pub fn reconfigure(
        &self,
        domains: Vec<Arc<dyn Provider>>,
        settings: Settings,
        keep_cache_of: &HashSet<String>,
    ) {
        let old = self.domains();
        for d in old.iter() {
            if !keep_cache_of.contains(d.name()) {
                self.flush_domain(d.name());
            }
        }
        for d in &domains {
            if !keep_cache_of.contains(d.name()) {
                self.flush_domain(d.name());
            }
        }
        self.inner.cache.resize(settings.max_entries);
        *self
            .inner
            .settings
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
        *self
            .inner
            .domains
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Arc::new(domains);
        self.inner.enumeration.invalidate();
    }

    fn find_domain(&self, name: &str) -> Option<Arc<dyn Provider>> {
        self.domains()
            .iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
            .cloned()
    }

    /// Splits `name@domain` when `domain` is an enabled domain.
    fn split_qualified(&self, name: &str) -> (String, Option<Arc<dyn Provider>>) {
        if let Some((base, dom)) = name.rsplit_once('@') {
            if !base.is_empty() {
                if let Some(d) = self.find_domain(dom) {
                    return (base.to_string(), Some(d));
                }
            }
        }
        (name.to_string(), None)
    }

    /// A user by login name (plain or `name@domain`).
    pub async fn user_by_name(&self, name: &str) -> Answer<Arc<UserEntry>> {
        self.user_by_name_timed(name).await.0
    }

    /// [`Resolver::user_by_name`], with the time (ms since the epoch) until
    /// which the answer is fresh (0 when it is not: negative or offline).
    pub async fn user_by_name_timed(&self, name: &str) -> Timed<Arc<UserEntry>> {
        let settings = self.settings();
        if name.is_empty() || settings.ignore_users.contains(name) {
            return (Answer::NotFound, 0);
        }
        let (base, domain) = self.split_qualified(name);
        let (ans, until) = self.walk(domain, Key::UserName(base)).await;
        (self.user_answer(ans, &settings), until)
    }

    /// A user by UID.
    pub async fn user_by_uid(&self, uid: u32) -> Answer<Arc<UserEntry>> {
        self.user_by_uid_timed(uid).await.0
    }

    /// [`Resolver::user_by_uid`] with its freshness (see [`Timed`]).
    pub async fn user_by_uid_timed(&self, uid: u32) -> Timed<Arc<UserEntry>> {
        let settings = self.settings();
        if uid < settings.min_id {
            return (Answer::NotFound, 0);
        }
        let (ans, until) = self.walk(None, Key::UserId(uid)).await;
        (self.user_answer(ans, &settings), until)
    }

    /// A group by name (plain or `name@domain`).
    pub async fn group_by_name(&self, name: &str) -> Answer<Arc<GroupEntry>> {
        self.group_by_name_timed(name).await.0
    }

    /// [`Resolver::group_by_name`] with its freshness (see [`Timed`]).
    pub async fn group_by_name_timed(&self, name: &str) -> Timed<Arc<GroupEntry>> {
        let settings = self.settings();
        if name.is_empty() || settings.ignore_groups.contains(name) {
            return (Answer::NotFound, 0);
        }
        let (base, domain) = self.split_qualified(name);
        let (ans, until) = self.walk(domain, Key::GroupName(base)).await;
        (self.group_answer(ans, &settings), until)
    }

    /// A group by GID.
    pub async fn group_by_gid(&self, gid: u32) -> Answer<Arc<GroupEntry>> {
        self.group_by_gid_timed(gid).await.0
    }

    /// [`Resolver::group_by_gid`] with its freshness (see [`Timed`]).
    pub async fn group_by_gid_timed(&self, gid: u32) -> Timed<Arc<GroupEntry>> {
        let settings = self.settings();
        if gid < settings.min_id {
            return (Answer::NotFound, 0);
        }
        let (ans, until) = self.walk(None, Key::GroupId(gid)).await;
        (self.group_answer(ans, &settings), until)
    }

    /// The GIDs of a user's groups (initgroups), primary group first;
    /// secondary groups below `min_id` are left out.
    pub async fn groups_of_user(&self, name: &str) -> Answer<Vec<u32>> {
        self.groups_of_user_timed(name).await.0
    }

    /// [`Resolver::groups_of_user`] with its freshness (see [`Timed`]).
    pub async fn groups_of_user_timed(&self, name: &str) -> Timed<Vec<u32>> {
        let (user, user_src, user_until) = match self.user_by_name_timed(name).await {
            (Answer::Found(u, s), until) => (u, s, until),
            (Answer::NotFound, _) => return (Answer::NotFound, 0),
            (Answer::Unavailable(r), _) => return (Answer::Unavailable(r), 0),
        };
        let Some(domain) = self.find_domain(&user.domain) else {
            let reason = format!("domain {} is no longer configured", user.domain);
            return (Answer::Unavailable(reason), 0);
        };
        let key = Key::GroupsOf(user.user.name.clone());
        let primary = user.user.gid;
        match self.in_domain(&domain, key, Some(user)).await {
            InDomain::Found(Value::Gids(gids), src, until) => {
                let mut out = Vec::with_capacity(gids.len() + 1);
                out.push(primary);
                // A directory group with a low GID (a second "wheel") must
                // never become a local group membership.
                let min_id = self.settings().min_id;
                out.extend(
                    gids.iter()
                        .copied()
                        .filter(|g| *g != primary && *g >= min_id),
                );
                let src = if user_src == Source::Offline {
                    user_src
                } else {
                    src
                };
                (Answer::Found(out, src), until.min(user_until))
            }
            InDomain::Found(..) | InDomain::Missing => (Answer::Found(vec![primary], user_src), 0),
            InDomain::Failed(reason) => {
                let reason = format!("domain {}: {reason}", domain.name());
                (Answer::Unavailable(reason), 0)
            }
        }
    }

    fn user_answer(&self, ans: Answer<Value>, s: &Settings) -> Answer<Arc<UserEntry>> {
        match ans {
            Answer::Found(Value::User(u), src) => {
                if u.user.uid < s.min_id || s.ignore_users.contains(&u.user.name) {
                    Answer::NotFound
                } else {
                    Answer::Found(u, src)
                }
            }
            Answer::Found(..) | Answer::NotFound => Answer::NotFound,
            Answer::Unavailable(r) => Answer::Unavailable(r),
        }
    }

    fn group_answer(&self, ans: Answer<Value>, s: &Settings) -> Answer<Arc<GroupEntry>> {
        match ans {
            Answer::Found(Value::Group(g), src) => {
                if g.group.gid < s.min_id || s.ignore_groups.contains(&g.group.name) {
                    Answer::NotFound
                } else {
                    Answer::Found(g, src)
                }
            }
            Answer::Found(..) | Answer::NotFound => Answer::NotFound,
            Answer::Unavailable(r) => Answer::Unavailable(r),
        }
    }

    /// Asks `only` (or every domain in order) until one has the object.
    async fn walk(&self, only: Option<Arc<dyn Provider>>, key: Key) -> Timed<Value> {
        let domains = match only {
            Some(d) => Arc::new(vec![d]),
            None => self.domains(),
        };
        for d in domains.iter() {
            match self.in_domain(d, key.clone(), None).await {
                InDomain::Found(v, src, until) => return (Answer::Found(v, src), until),
                InDomain::Missing => continue,
                InDomain::Failed(reason) => {
                    let reason = format!("domain {}: {reason}", d.name());
                    return (Answer::Unavailable(reason), 0);
                }
            }
        }
        (Answer::NotFound, 0)
    }

    /// Now, by the resolver's clock (ms since the epoch).
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    async fn in_domain(
        &self,
        domain: &Arc<dyn Provider>,
        key: Key,
        user: Option<Arc<UserEntry>>,
    ) -> InDomain {
        let inner = &self.inner;
        let settings = self.settings();
        let ck = CacheKey::new(Arc::from(domain.name()), key);
        let now = inner.clock.now_ms();
        let stale = match inner.cache.get(&ck) {
            Some(slot) if slot.is_fresh(now) => {
                inner.stats.hits.fetch_add(1, Ordering::Relaxed);
                if slot.value == Value::Missing {
                    return InDomain::Missing;
                }
                let refresh_at = slot.fetched_ms + settings.entry_ttl_ms / 4 * 3;
                if now >= refresh_at {
                    self.refresh_in_background(domain.clone(), ck, user);
                }
                return InDomain::Found(slot.value, Source::Cache, slot.expires_ms);
            }
            other => other,
        };
        inner.stats.misses.fetch_add(1, Ordering::Relaxed);
        // What offline mode would answer, should the domain fail or be slow.
        let fallback = self.offline_value(&ck, stale, now, &settings);
        let fetched = match &fallback {
            Some(v) if settings.stale_grace_ms > 0 => {
                // Wait for the domain only briefly: past the grace, answer
                // from the expired entry and let the search finish (and
                // refresh the cache) in the background.
                let this = self.clone();
                let (d, k) = (domain.clone(), ck.clone());
                let mut task = tokio::spawn(async move { this.fetch_once(d, k, user).await });
                let grace = std::time::Duration::from_millis(settings.stale_grace_ms);
                tokio::select! {
                    joined = &mut task => joined.unwrap_or_else(|e| {
                        Err(ProviderError::Failed(format!("lookup task failed: {e}")))
                    }),
                    _ = tokio::time::sleep(grace) => {
                        tracing::debug!(domain = %ck.domain, "domain slow; answering from the expired entry");
                        inner.stats.offline.fetch_add(1, Ordering::Relaxed);
                        return InDomain::Found(v.clone(), Source::Offline, 0);
                    }
                }
            }
            _ => self.fetch_once(domain.clone(), ck.clone(), user).await,
        };
        match fetched {
            Ok(Some(v)) => {
                let until = now.saturating_add(settings.entry_ttl_ms);
                InDomain::Found(v, Source::Directory, until)
            }
            Ok(None) => InDomain::Missing,
            Err(err) => match fallback {
                Some(v) => {
                    inner.stats.offline.fetch_add(1, Ordering::Relaxed);
                    InDomain::Found(v, Source::Offline, 0)
                }
                None => InDomain::Failed(err.to_string()),
            },
        }
    }
}

#[cfg(test)]
mod tests;
