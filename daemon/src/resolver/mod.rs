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
//! * What is found is then judged by the ownership rules of `owner`
//!   (names and IDs owned once, local accounts win); the answer is the
//!   entry as served (qualified name when an earlier domain holds the
//!   short name, members renamed the same way). The caches hold each
//!   domain's raw answers per question, so an answer never depends on
//!   which questions came before.
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

mod after;
pub use after::answering;
mod at_odds;
mod census;
mod decided;
pub(crate) mod enumerate;
#[cfg(any(test, feature = "test-support"))]
pub mod fake;
mod fetch;
mod flush;
pub(crate) mod ldap;
pub mod local;
mod netgroup;
mod owner;
pub(crate) mod provider;
mod record_later;
mod status;

use crate::backend_error::BackendError;
pub use enumerate::{EnumerationError, ListedPage};
pub use provider::{
    BoxFuture, CensusListed, DomainError, HeldKeys, Listing, Provider, ProviderResult,
};
pub use status::ResolverStatus;

use crate::cache::flight::Flights;
use crate::cache::{CacheKey, Clock, GroupEntry, Key, MemCache, Slot, UserEntry, Value};
use crate::config::{CacheSettings, NssSettings};
use crate::store::Store;
use local::{LocalAccounts, LocalView};
use roster_proto::Failure;
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
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
    /// Take the domains' censuses for the ownership checks.
    pub census: bool,
    /// Users and groups with an ID below this are hidden.
    pub min_id: u32,
    /// User names never resolved.
    pub ignore_users: NameSet,
    /// Group names never resolved.
    pub ignore_groups: NameSet,
    /// Milliseconds to wait for a domain when an expired (offline-usable)
    /// entry exists; past that the expired entry is answered (0: wait for
    /// the domain's own timeout). Half the NSS module's time budget.
    pub stale_grace_ms: u64,
    /// initgroups of a user in `/etc/passwd` adds directory groups.
    pub initgroups_for_local_users: bool,
}

/// A set of names from the configuration (`ignore_users`,
/// `ignore_groups`), asked of every name a lookup meets (each of a user's
/// thousand groups): hashed with foldhash, not SipHash. It holds only the
/// administrator's few names and lookups only ask it, so no name a caller
/// asks can crowd it with collisions.
pub type NameSet = HashSet<String, foldhash::fast::RandomState>;

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
            census: cache.census,
            min_id: nss.min_id,
            ignore_users: nss.ignore_users.iter().cloned().collect(),
            ignore_groups: nss.ignore_groups.iter().cloned().collect(),
            stale_grace_ms: nss.timeout_ms / 2,
            initgroups_for_local_users: nss.initgroups_for_local_users,
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
    /// Some domain could not answer and nothing usable was cached: which
    /// one, and its error.
    Unavailable(DomainError),
}

impl<T> Answer<T> {
    /// The same answer with the value found turned by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(v, src) => Answer::Found(f(v), src),
            Answer::NotFound => Answer::NotFound,
            Answer::Unavailable(e) => Answer::Unavailable(e),
        }
    }

    /// The value found and where it came from, or the failure of the
    /// answer's kind for a reply (`what` names the object not found).
    pub fn found(self, what: impl FnOnce() -> String) -> Result<(T, Source), Failure> {
        match self {
            Answer::Found(v, src) => Ok((v, src)),
            Answer::NotFound => Err(Failure::not_found(what())),
            Answer::Unavailable(e) => Err(e.into()),
        }
    }
}

/// An answer and the time (ms since the epoch) until which it is fresh;
/// 0 when it is not (offline answers, failures, and a "not found" that
/// is not every domain's own "no such object": a refusal, a name or ID
/// the settings leave out, no domain at all; but a local user's groups,
/// which the settings leave to the local files, are fresh as a "no such
/// object" would be). A "not found" is never fresh for more than
/// `negative_ttl` from now.
pub type Timed<T> = (Answer<T>, u64);

/// Outcome in one domain.
enum InDomain {
    Found(Value, Source, u64),
    /// The domain has no such object; fresh until (0: offline answer).
    Missing(u64),
    Failed(BackendError),
}

type Fetched = Result<Option<Value>, BackendError>;

#[derive(Default)]
struct Stats {
    hits: AtomicU64,
    misses: AtomicU64,
    offline: AtomicU64,
}

struct Inner {
    domains: RwLock<Arc<Vec<Arc<dyn Provider>>>>,
    settings: RwLock<Arc<Settings>>,
    /// The domains' answers; what of them is at odds with the users
    /// censuses is kept as they are stored.
    cache: MemCache<CacheKey, Slot, at_odds::AtOdds>,
    decided: decided::Decisions,
    censuses: census::Censuses,
    store: Option<Arc<Store>>,
    flights: Flights<CacheKey, Fetched>,
    clock: Arc<dyn Clock>,
    stats: Stats,
    started: Instant,
    enumeration: enumerate::Enumeration,
    local: Arc<LocalAccounts>,
    /// Refused entries: (domain, DN in lower case) -> reason.
    refused: Mutex<BTreeMap<(String, String), String>>,
    /// Work left for after the answers ([`after`]).
    after: after::AfterAnswers,
    /// Entries the lookups left to record after their answers
    /// ([`record_later`]).
    to_record: record_later::ToRecord,
}

/// What [`Resolver::reuse_decided`] found.
enum Reuse {
    /// The decided answer and until when it is fresh.
    Decided(Value, u64),
    /// None to reuse; the local accounts when they were read to check one
    /// (the lookup then judges by them: [`Resolver::ctx_judging_by`]).
    Decide(Option<LocalView>),
}

/// The cache layer over the domains. Cheap to clone (shared state).
#[derive(Clone)]
pub struct Resolver {
    inner: Arc<Inner>,
}

/// How long after it was fetched a positive answer living `ttl_ms` is
/// refreshed in the background when asked (the last quarter of its life).
fn refresh_after_ms(ttl_ms: u64) -> u64 {
    ttl_ms / 4 * 3
}

/// Users and groups answered from the enumeration snapshot per page, at
/// most (the module asks 2,000 users or 256 groups a page: fewer round
/// trips for a listing of 100,000 users, 62 instead of 72 ms warm).
pub(crate) const MAX_PAGE: usize = 2000;

impl Resolver {
    /// A resolver over `domains` (enabled ones, in order), persisting
    /// answers to `store` when given.
    pub fn new(
        domains: Vec<Arc<dyn Provider>>,
        settings: Settings,
        store: Option<Arc<Store>>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self::with_local_accounts(domains, settings, store, clock, LocalAccounts::system())
    }

    /// [`Resolver::new`] with other local account files than
    /// `/etc/passwd` and `/etc/group` (tests).
    pub fn with_local_accounts(
        domains: Vec<Arc<dyn Provider>>,
        settings: Settings,
        store: Option<Arc<Store>>,
        clock: Arc<dyn Clock>,
        local: LocalAccounts,
    ) -> Self {
        Resolver {
            inner: Arc::new(Inner {
                domains: RwLock::new(Arc::new(domains)),
                cache: MemCache::new(settings.max_entries),
                decided: decided::Decisions::new(settings.max_entries),
                censuses: census::Censuses::default(),
                settings: RwLock::new(Arc::new(settings)),
                store,
                flights: Flights::default(),
                clock,
                stats: Stats::default(),
                started: Instant::now(),
                enumeration: enumerate::Enumeration::default(),
                after: after::AfterAnswers::default(),
                to_record: record_later::ToRecord::default(),
                local: Arc::new(local),
                refused: Mutex::default(),
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
        self.inner.decided.clear();
        self.inner.decided.resize(settings.max_entries);
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
        // After the swap: from then on no census of the old domains starts
        // ([`Resolver::census_of`] asks the current ones), and those under
        // way end under the generation this ends.
        self.forget_censuses();
        self.inner.enumeration.invalidate();
        // (After the swap too: what lookups of the old domains leave from
        // now on is dropped as it is added.)
        for d in old.iter().filter(|d| !keep_cache_of.contains(d.name())) {
            self.forget_left_of(d.name());
        }
        // (Again once all is swapped and dropped: what lookups of the old
        // domains decided meanwhile is not kept, `Decisions::clears`.)
        self.inner.decided.clear();
    }

    /// Splits `name@domain` when `domain` is an enabled domain: the base
    /// name and the domain's index.
    fn split_qualified(cx: &owner::Ctx, name: &str) -> (String, Option<usize>) {
        if let Some((base, dom)) = name.rsplit_once('@') {
            if !base.is_empty() {
                if let Some(i) = cx
                    .domains
                    .iter()
                    .position(|d| d.name().eq_ignore_ascii_case(dom))
                {
                    return (base.to_string(), Some(i));
                }
            }
        }
        (name.to_string(), None)
    }

    /// [`Resolver::walk_domains`] for the key a lookup asked: when no
    /// domain holds it, notes that the lookup's "not found" rests on the
    /// domains' "no such object" alone ([`owner::Ctx::absent`]).
    async fn walk_for_answer(
        &self,
        cx: &mut owner::Ctx,
        only: Option<usize>,
        key: Key,
    ) -> owner::Served<(usize, Value, Source)> {
        let walked = self.walk_domains(cx, only, key).await;
        if matches!(walked, Ok(None)) {
            cx.absent = true;
        }
        walked
    }

    /// The latest a "not found" decided now may be fresh until:
    /// `negative_ttl` from now.
    fn negative_until(&self, cx: &owner::Ctx) -> u64 {
        self.now_ms().saturating_add(cx.settings.negative_ttl_ms)
    }

    /// The answer of a decided lookup, with its freshness.
    fn timed<T>(&self, cx: &mut owner::Ctx, r: owner::Served<(T, Source)>) -> Timed<T> {
        match r {
            Ok(Some((v, src))) => {
                let src = Self::source_of(cx, src);
                let until = if src == Source::Offline { 0 } else { cx.until };
                (Answer::Found(v, src), until)
            }
            // Fresh while every domain's "no such object" is (one from
            // offline data is fresh until 0), never more than
            // `negative_ttl` from now (should the wall clock have stepped
            // back since they came); decided by a refusal, not fresh at
            // all.
            Ok(None) if cx.absent && cx.until != u64::MAX => {
                (Answer::NotFound, cx.until.min(self.negative_until(cx)))
            }
            Ok(None) => (Answer::NotFound, 0),
            Err(reason) => (Answer::Unavailable(reason), 0),
        }
    }

    /// A user by login name (plain or `name@domain`).
    pub async fn user_by_name(&self, name: &str) -> Answer<Arc<UserEntry>> {
        self.user_by_name_timed(name).await.0
    }

    /// [`Resolver::user_by_name`], with the time (ms since the epoch) until
    /// which the answer is fresh (0 when it is not: see [`Timed`]).
    pub async fn user_by_name_timed(&self, name: &str) -> Timed<Arc<UserEntry>> {
        let mut cx = self.ctx();
        let r = self.resolve_user_by_name(&mut cx, name).await;
        let r = r.map(|o| o.map(|(_, served, src)| (served, src)));
        self.timed(&mut cx, r)
    }

    /// The user `name` resolves to: (raw entry, served entry, source).
    async fn resolve_user_by_name(
        &self,
        cx: &mut owner::Ctx,
        name: &str,
    ) -> owner::Served<(Arc<UserEntry>, Arc<UserEntry>, Source)> {
        if name.is_empty() || cx.settings.ignore_users.contains(name) {
            return Ok(None);
        }
        let (base, only) = Self::split_qualified(cx, name);
        let via = owner::Via::Name {
            qualified: only.is_some(),
        };
        let Some((i, v, src)) = self.walk_for_answer(cx, only, Key::UserName(base)).await? else {
            return Ok(None);
        };
        let Value::User(raw) = v else { return Ok(None) };
        let served = self.serve_user(cx, i, raw.clone(), via).await;
        self.remember_negatives(cx);
        Ok(served?.map(|s| (raw, s, src)))
    }

    /// A user by UID.
    pub async fn user_by_uid(&self, uid: u32) -> Answer<Arc<UserEntry>> {
        self.user_by_uid_timed(uid).await.0
    }

    /// [`Resolver::user_by_uid`] with its freshness (see [`Timed`]).
    pub async fn user_by_uid_timed(&self, uid: u32) -> Timed<Arc<UserEntry>> {
        let mut cx = self.ctx();
        if uid < cx.settings.min_id {
            return (Answer::NotFound, 0);
        }
        let r = match self.walk_for_answer(&mut cx, None, Key::UserId(uid)).await {
            Ok(Some((i, Value::User(raw), src))) => {
                let served = self.serve_user(&mut cx, i, raw, owner::Via::Id).await;
                self.remember_negatives(&mut cx);
                served.map(|o| o.map(|u| (u, src)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        self.timed(&mut cx, r)
    }

    /// A group by name (plain or `name@domain`).
    pub async fn group_by_name(&self, name: &str) -> Answer<Arc<GroupEntry>> {
        self.group_by_name_timed(name).await.0
    }

    /// [`Resolver::group_by_name`] with its freshness (see [`Timed`]).
    pub async fn group_by_name_timed(&self, name: &str) -> Timed<Arc<GroupEntry>> {
        let question = Key::GroupName(name.to_string());
        let read = match self.reuse_decided(&question) {
            Reuse::Decided(Value::Group(g), until) => {
                return (Answer::Found(g, Source::Cache), until)
            }
            Reuse::Decided(..) => None,
            Reuse::Decide(read) => read,
        };
        let mut cx = self.ctx_judging_by(read);
        if name.is_empty() || cx.settings.ignore_groups.contains(name) {
            return (Answer::NotFound, 0);
        }
        let (base, only) = Self::split_qualified(&cx, name);
        let via = owner::Via::Name {
            qualified: only.is_some(),
        };
        let r = match self
            .walk_for_answer(&mut cx, only, Key::GroupName(base))
            .await
        {
            Ok(Some((i, Value::Group(raw), src))) => {
                let served = self.serve_group(&mut cx, i, raw, via, true).await;
                self.remember_negatives(&mut cx);
                served.map(|o| o.map(|g| (g, src)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        let answer = self.timed(&mut cx, r);
        if let Answer::Found(g, _) = &answer.0 {
            self.keep_decided(question, Value::Group(g.clone()), &cx);
        }
        answer
    }

    /// A group by GID.
    pub async fn group_by_gid(&self, gid: u32) -> Answer<Arc<GroupEntry>> {
        self.group_by_gid_timed(gid).await.0
    }

    /// [`Resolver::group_by_gid`] with its freshness (see [`Timed`]).
    pub async fn group_by_gid_timed(&self, gid: u32) -> Timed<Arc<GroupEntry>> {
        let question = Key::GroupId(gid);
        let read = match self.reuse_decided(&question) {
            Reuse::Decided(Value::Group(g), until) => {
                return (Answer::Found(g, Source::Cache), until)
            }
            Reuse::Decided(..) => None,
            Reuse::Decide(read) => read,
        };
        if gid < self.settings().min_id {
            return (Answer::NotFound, 0);
        }
        // A GID an initgroups left to record starts its batch (recorded
        // with the GIDs after it) and is asked alone meanwhile; a GID of
        // such a batch being recorded waits for it.
        self.record_gid_now(gid).await;
        let mut cx = self.ctx_judging_by(read);
        let r = match self.walk_for_answer(&mut cx, None, Key::GroupId(gid)).await {
            Ok(Some((i, Value::Group(raw), src))) => {
                let served = self
                    .serve_group(&mut cx, i, raw, owner::Via::Id, true)
                    .await;
                self.remember_negatives(&mut cx);
                served.map(|o| o.map(|g| (g, src)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        let answer = self.timed(&mut cx, r);
        if let Answer::Found(g, _) = &answer.0 {
            self.keep_decided(question, Value::Group(g.clone()), &cx);
        }
        answer
    }

    /// The GIDs of a user's groups (initgroups), primary group first.
    /// Only groups served under the rules of `owner` (same domain as the
    /// user, not local, not reserved, ID not owned elsewhere) are listed.
    /// A user of `/etc/passwd` gets no directory groups unless
    /// `initgroups_for_local_users` is set.
    pub async fn groups_of_user(&self, name: &str) -> Answer<Vec<u32>> {
        self.groups_of_user_timed(name).await.0
    }

    /// [`Resolver::groups_of_user`] with its freshness (see [`Timed`]).
    pub async fn groups_of_user_timed(&self, name: &str) -> Timed<Vec<u32>> {
        let question = Key::GroupsOf(name.to_string());
        let read = match self.reuse_decided(&question) {
            Reuse::Decided(Value::Gids(gids), until) => {
                return (Answer::Found(gids.to_vec(), Source::Cache), until)
            }
            Reuse::Decided(..) => None,
            Reuse::Decide(read) => read,
        };
        // (Read first: a local user's groups are found without a search.)
        let mut cx = self.ctx_judging_by(read);
        let r = if let Some((uid, gid)) = cx.local.get().users.get(name) {
            if !cx.settings.initgroups_for_local_users {
                // Decided by the settings and the local accounts: fresh as
                // long as a "no such object" would be (a name the settings
                // leave out is never asked by the module: none).
                if cx.settings.ignore_users.contains(name) {
                    return (Answer::NotFound, 0);
                }
                return (Answer::NotFound, self.negative_until(&cx));
            }
            self.local_user_groups(&mut cx, name, uid, gid).await
        } else {
            self.directory_user_groups(&mut cx, name).await
        };
        if matches!(r, Ok(Some(_))) {
            // The GIDs' owners rest on other domains' "no such group".
            self.remember_negatives(&mut cx);
        }
        let answer = self.timed(&mut cx, r);
        if let Answer::Found(gids, _) = &answer.0 {
            let value = Value::Gids(Arc::from(gids.as_slice()));
            self.keep_decided(question, value, &cx);
        }
        answer
    }

    /// The decided answer to `question` when it may be reused now (see
    /// [`decided`]). The local accounts are read only to check a decision
    /// kept under some version of them; with none kept, the lookup reads
    /// them when first needed.
    fn reuse_decided(&self, question: &Key) -> Reuse {
        let now = self.inner.clock.now_ms();
        let Some((value, until, local)) = self.inner.decided.get(question, now) else {
            return Reuse::Decide(None);
        };
        let view = self.inner.local.view();
        if view.version != local {
            return Reuse::Decide(Some(view));
        }
        self.inner.stats.hits.fetch_add(1, Ordering::Relaxed);
        Reuse::Decided(value, until)
    }

    /// Keeps the answer `value` of lookup `cx` to `question` for reuse,
    /// under the versions of the local accounts `cx` judged by.
    fn keep_decided(&self, question: Key, value: Value, cx: &owner::Ctx) {
        let now = self.inner.clock.now_ms();
        let local = cx.local.get().version;
        self.inner.decided.keep(question, value, cx, now, local);
    }

    async fn directory_user_groups(
        &self,
        cx: &mut owner::Ctx,
        name: &str,
    ) -> owner::Served<(Vec<u32>, Source)> {
        // Where the groups can be found by the name alone, their search
        // goes out with the user's: one round trip to the server before
        // the answer instead of two (nslcd, too, reads the user and then
        // its groups). It runs in a task of its own as a single flight of
        // its key (concurrent lookups of the user share it); its answer
        // is recorded only once it turns out to be the user's, and when
        // it is not taken the task ends on its own, unrecorded (dropped
        // mid-way, the server's answers would still come for it).
        let early_at = self.groups_to_ask_early(cx, name).map(|d| {
            let ck = CacheKey::new(Arc::from(d.name()), Key::GroupsOf(name.to_string()));
            (d, ck)
        });
        let early = early_at
            .as_ref()
            .map(|(d, ck)| tokio::spawn(self.early_groups(d, ck)));
        if early.is_some() {
            // The groups' search is written first: a server reads a
            // connection's requests in turn, and the groups' search is
            // the longer (slapd began it after the user's result when it
            // came second).
            tokio::task::yield_now().await;
        }
        let Some((raw, _served, user_src)) = self.resolve_user_by_name(cx, name).await? else {
            return Ok(None);
        };
        let Some(i) = cx.domains.iter().position(|d| d.name() == &*raw.domain) else {
            return Err(DomainError::new(
                &*raw.domain,
                BackendError::unavailable("no longer configured (a configuration reload)"),
            ));
        };
        let domain = cx.domains[i].clone();
        let key = Key::GroupsOf(raw.user.name.clone());
        let primary = raw.user.gid;
        // The groups asked early are the user's when it is that domain's
        // user of exactly the name asked, read from the directory now:
        // then recorded as any answer fetched is. Otherwise, or when they
        // could not be had, they are asked for the user found (with the
        // cache's and offline mode's answers).
        let mut taken = None;
        if let (Some((d, ck)), Some(search)) = (&early_at, early) {
            if Arc::ptr_eq(d, &domain) && raw.user.name == name && user_src == Source::Directory {
                let now = self.inner.clock.now_ms();
                let fetched = search.await.unwrap_or_else(|e| {
                    Err(BackendError::unavailable(format!(
                        "lookup task failed: {e}"
                    )))
                });
                match fetched {
                    Ok(Some(v @ Value::Gids(_))) => {
                        self.record(ck, &Ok(Some(v.clone())));
                        let until = now.saturating_add(self.settings().entry_ttl_ms);
                        taken = Some(InDomain::Found(v, Source::Directory, until));
                    }
                    // No server answered it (a time-out, a broken
                    // connection): asked again it would be waited for
                    // again, and nothing was known to answer from.
                    Err(e) if e.is_unavailable() => taken = Some(InDomain::Failed(e)),
                    _ => {}
                }
            }
        }
        let answer = match taken {
            Some(found) => found,
            None => self.in_domain(&domain, key, Some(raw.clone())).await,
        };
        let (gids, src) = match answer {
            InDomain::Found(Value::Gids(gids), src, until) => {
                cx.rests_on(until, true);
                (gids, src)
            }
            InDomain::Found(..) | InDomain::Missing(_) => {
                cx.rests_on(0, false);
                (Arc::from(Vec::new()), user_src)
            }
            InDomain::Failed(e) => return Err(DomainError::new(domain.name(), e)),
        };
        // The primary group first, then the others in increasing order,
        // each once (the NSS module then appends them without sorting).
        let mut others: Vec<u32> = gids.iter().copied().filter(|&g| g != primary).collect();
        others.sort_unstable();
        others.dedup();
        // The GIDs domain `i`'s census decides need no search before the
        // answer (they are asked after it, to be kept for offline use).
        let verdicts = self.census_decided_gids(cx, i, &others).await?;
        let mut asked: Vec<u32> = others
            .iter()
            .zip(&verdicts)
            .filter(|(_, &v)| v == owner::GidVerdict::Open)
            .map(|(&g, _)| g)
            .collect();
        asked.push(primary);
        self.prefetch_groups(cx, i, &asked).await;
        let mut out = Vec::with_capacity(others.len() + 1);
        out.push(primary);
        let mut decided = Vec::new();
        for (g, verdict) in others.into_iter().zip(verdicts) {
            let served = match verdict {
                owner::GidVerdict::Served => {
                    decided.push(g);
                    true
                }
                owner::GidVerdict::Held => false,
                owner::GidVerdict::Open => self.gid_served_by(cx, g, &raw.domain).await?,
            };
            if served {
                out.push(g);
            }
        }
        if !decided.is_empty() {
            self.record_gids_later(cx, i, decided);
        }
        let src = if user_src == Source::Offline {
            user_src
        } else {
            src
        };
        Ok(Some((out, src)))
    }

    /// The domain to ask for the groups of user `name` while the user is
    /// looked up ([`Provider::groups_of_name`]): the only domain, when it
    /// finds a user's groups by the name alone and nothing is known of
    /// the user or its groups, in memory (fresh or expired) or in the
    /// store. A known user needs no search to overlap with, or is
    /// answered from its expired entries when the domain is slow (offline
    /// mode's grace, which the early search has not); after a cached "no
    /// such user" the groups' search would be wasted. Not for a name
    /// qualified with a domain or one `ignore_users` leaves out.
    fn groups_to_ask_early(&self, cx: &owner::Ctx, name: &str) -> Option<Arc<dyn Provider>> {
        let [d] = cx.domains.as_slice() else {
            return None;
        };
        if !d.groups_by_name_alone()
            || name.is_empty()
            || cx.settings.ignore_users.contains(name)
            || Self::split_qualified(cx, name).1.is_some()
        {
            return None;
        }
        let domain: Arc<str> = Arc::from(d.name());
        let known = |key| {
            let ck = CacheKey::new(domain.clone(), key);
            self.inner.cache.peek(&ck).is_some()
                || self
                    .inner
                    .store
                    .as_ref()
                    .is_some_and(|s| s.get(&ck.store_key()).is_some())
        };
        if known(Key::UserName(name.to_string())) || known(Key::GroupsOf(name.to_string())) {
            return None;
        }
        Some(d.clone())
    }

    /// The search for the groups of user `name` by that name alone
    /// ([`Provider::groups_of_name`], [`Resolver::groups_to_ask_early`]),
    /// as a single flight of `ck` (its `GroupsOf` key) and unrecorded: a
    /// future of its own, for a task of its own.
    fn early_groups(&self, d: &Arc<dyn Provider>, ck: &CacheKey) -> BoxFuture<'static, Fetched> {
        let (this, d, ck) = (self.clone(), d.clone(), ck.clone());
        Box::pin(async move {
            let Key::GroupsOf(name) = &ck.key else {
                return Err(BackendError::invalid(
                    "the groups of a user asked by another key",
                ));
            };
            let fetch = || async {
                let gids = d.groups_of_name(name).await?;
                Ok(Some(Value::Gids(gids.into())))
            };
            this.inner.flights.run(ck.clone(), fetch).await
        })
    }

    /// initgroups of a local user (`initgroups_for_local_users`): the
    /// served directory groups of every domain that list `name` as a member.
    async fn local_user_groups(
        &self,
        cx: &mut owner::Ctx,
        name: &str,
        uid: u32,
        gid: u32,
    ) -> owner::Served<(Vec<u32>, Source)> {
        let mut out = vec![gid];
        for (i, d) in cx.domains.clone().iter().enumerate() {
            let probe = Arc::new(UserEntry {
                user: roster_proto::User {
                    name: name.to_string(),
                    uid,
                    gid,
                    gecos: String::new(),
                    home: String::new(),
                    shell: String::new(),
                },
                dn: String::new(),
                domain: Arc::from(d.name()),
                unique_id: None,
                ssh_keys: Vec::new(),
            });
            let key = Key::GroupsOf(name.to_string());
            let gids = match self.in_domain(d, key, Some(probe)).await {
                InDomain::Found(Value::Gids(gids), src, until) => {
                    cx.rests_on(until, true);
                    cx.offline |= src == Source::Offline;
                    gids
                }
                InDomain::Found(..) | InDomain::Missing(_) => continue,
                InDomain::Failed(e) => return Err(DomainError::new(d.name(), e)),
            };
            self.prefetch_groups(cx, i, &gids).await;
            for &g in gids.iter() {
                if !out.contains(&g) && self.gid_served_by(cx, g, d.name()).await? {
                    out.push(g);
                }
            }
        }
        // As for a directory user: the primary group, then increasing.
        out[1..].sort_unstable();
        Ok(Some((out, Source::Directory)))
    }

    /// Asks domains `0..=i` for the groups `gids` by GID, then by the
    /// names domain `i` answers, in batch calls ([`Resolver::answers_many`]:
    /// one search per search base for a few hundred keys), so that the
    /// ownership checks of [`Resolver::gid_served_by`], which follow one
    /// group after another, find their answers cached: a user in 1,000
    /// groups costs a few searches per domain instead of some thousands.
    /// Answers are recorded as single lookups record them; a failure is
    /// left for the checks to meet and report.
    async fn prefetch_groups(&self, cx: &owner::Ctx, i: usize, gids: &[u32]) {
        let mut seen = HashSet::new();
        let wanted: Vec<Key> = gids
            .iter()
            .filter(|&&g| g >= cx.settings.min_id && seen.insert(g))
            .map(|&g| Key::GroupId(g))
            .collect();
        if wanted.len() < 2 {
            return;
        }
        // Names domain `i` has to be asked (those its census does not
        // vouch for) and the names earlier domains have to be asked.
        let mut own = Vec::new();
        let mut names = Vec::new();
        let mut named = HashSet::new();
        let census = self.census_for(cx, i, owner::EntryKind::Group);
        for (j, d) in cx.domains.iter().enumerate().take(i + 1) {
            let answers = self.answers_many(d, &wanted, cx.paced).await;
            if j != i {
                continue;
            }
            for answer in answers {
                if let InDomain::Found(Value::Group(g), ..) = answer {
                    if named.insert(g.group.name.clone()) {
                        let key = Key::GroupName(g.group.name.clone());
                        let vouched = census
                            .as_ref()
                            .is_some_and(|(c, _)| c.sole_holder_of_name(&g.group.name, &g.dn));
                        if !vouched {
                            own.push(key.clone());
                        }
                        names.push(key);
                    }
                }
            }
        }
        for d in cx.domains.iter().take(i) {
            self.answers_many(d, &names, cx.paced).await;
        }
        self.answers_many(&cx.domains[i], &own, cx.paced).await;
    }

    /// True when `getgrgid(gid)` answers a group of `domain`.
    async fn gid_served_by(
        &self,
        cx: &mut owner::Ctx,
        gid: u32,
        domain: &str,
    ) -> Result<bool, DomainError> {
        if gid < cx.settings.min_id {
            return Ok(false);
        }
        let Some((i, v, _)) = self.walk_domains(cx, None, Key::GroupId(gid)).await? else {
            return Ok(false);
        };
        let Value::Group(raw) = v else {
            return Ok(false);
        };
        if &*raw.domain != domain {
            return Ok(false);
        }
        // Whether it is served does not depend on its members.
        let served = self.serve_group(cx, i, raw, owner::Via::Id, false).await?;
        Ok(served.is_some())
    }

    /// Now, by the resolver's clock (ms since the epoch).
    pub fn now_ms(&self) -> u64 {
        self.inner.clock.now_ms()
    }

    /// The fresh cached answer for `ck` (a refresh started in the
    /// background when it nears its expiry), or, on a miss, the expired
    /// slot if there is one.
    fn cached(
        &self,
        domain: &Arc<dyn Provider>,
        ck: &CacheKey,
        now: u64,
        settings: &Settings,
        user: Option<Arc<UserEntry>>,
    ) -> Result<InDomain, Option<Slot>> {
        let inner = &self.inner;
        match inner.cache.get(ck) {
            Some(slot) if slot.is_fresh(now) => {
                inner.stats.hits.fetch_add(1, Ordering::Relaxed);
                if slot.value == Value::Missing {
                    return Ok(InDomain::Missing(slot.expires_ms));
                }
                let refresh_at = slot.fetched_ms + refresh_after_ms(settings.entry_ttl_ms);
                if now >= refresh_at {
                    self.refresh_in_background(domain.clone(), ck.clone(), user);
                }
                Ok(InDomain::Found(slot.value, Source::Cache, slot.expires_ms))
            }
            other => {
                inner.stats.misses.fetch_add(1, Ordering::Relaxed);
                Err(other)
            }
        }
    }

    /// [`Resolver::fetch_once`] of `ck` in a task of its own. (Not
    /// inlined: the task is made on the stack first, and in a lookup's
    /// poll that made the poll's frame kilobytes deeper.)
    #[inline(never)]
    fn spawn_fetch(
        &self,
        domain: Arc<dyn Provider>,
        ck: CacheKey,
        user: Option<Arc<UserEntry>>,
    ) -> tokio::task::JoinHandle<Fetched> {
        let this = self.clone();
        tokio::spawn(async move { this.fetch_once(domain, ck, user).await })
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
        let stale = match self.cached(domain, &ck, now, &settings, user.clone()) {
            Ok(answer) => return answer,
            Err(stale) => stale,
        };
        // What offline mode would answer, should the domain fail or be slow.
        let fallback = self.offline_value(&ck, stale, now, &settings);
        let fetched = match &fallback {
            Some(v) if settings.stale_grace_ms > 0 => {
                // Wait for the domain only briefly: past the grace, answer
                // from the expired entry and let the search finish (and
                // refresh the cache) in the background.
                let mut task = self.spawn_fetch(domain.clone(), ck.clone(), user);
                let grace = std::time::Duration::from_millis(settings.stale_grace_ms);
                tokio::select! {
                    joined = &mut task => joined.unwrap_or_else(|e| {
                        Err(BackendError::unavailable(format!("lookup task failed: {e}")))
                    }),
                    _ = tokio::time::sleep(grace) => {
                        tracing::debug!(domain = %ck.domain, "domain slow; answering from the expired entry");
                        inner.stats.offline.fetch_add(1, Ordering::Relaxed);
                        if *v == Value::Missing {
                            return InDomain::Missing(0);
                        }
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
            Ok(None) => InDomain::Missing(now.saturating_add(settings.negative_ttl_ms)),
            Err(err) => match fallback {
                Some(Value::Missing) => {
                    inner.stats.offline.fetch_add(1, Ordering::Relaxed);
                    InDomain::Missing(0)
                }
                Some(v) => {
                    inner.stats.offline.fetch_add(1, Ordering::Relaxed);
                    InDomain::Found(v, Source::Offline, 0)
                }
                None => InDomain::Failed(err),
            },
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod owner_tests;
