//! The domains' censuses ([`crate::census`]) as the ownership checks use
//! them.
//!
//! A census is taken in the background when a check first wants one
//! (`[cache] census = true`; the domain's other census with it: after the
//! next answer the server sends when a lookup it serves asked, see
//! [`super::answering`]), used while younger than `entry_ttl` (counted
//! from when its listing began), and taken again from the last quarter of
//! its life; one that failed is tried again after a quarter of `entry_ttl`
//! (at most 30 s). A flush or reload drops every census and forgets any
//! listing under way. The checks rest on a census as on a cached answer:
//! until it expires.

use super::at_odds::Disputes;
use super::owner::EntryKind;
use super::{refresh_after_ms, Listing, Provider, ProviderResult, Resolver};
use crate::backend_error::BackendError;
use crate::cache::UserEntry;
use crate::census::Census;
use roster_proto::admin::CensusStatus;
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Cached answers judged against a new users census on the runtime's
/// thread (about 1 ms); more are judged on a blocking thread.
pub(super) const JUDGED_IN_PLACE: usize = 4096;

/// Longest wait before a failed census is tried again.
const RETRY_MAX_MS: u64 = 30_000;

/// One domain's census of one kind, and its listing state.
#[derive(Default)]
struct Taken {
    census: Option<Arc<Census>>,
    /// When the listing of `census` began.
    taken_ms: u64,
    /// When a listing last began.
    tried_ms: Option<u64>,
    /// A listing is under way.
    taking: bool,
    /// The domain takes no census (its flavour has none).
    none: bool,
    /// Why the last listing failed, if it did.
    last_error: Option<String>,
    /// Questions this census answered ([`Resolver::note_census_answered`]).
    answered: u64,
    /// The user listing the census's pass read, kept for the next user
    /// enumeration ([`Resolver::census_listing`]), and when its listing
    /// began.
    listing: Option<(Listing<UserEntry>, u64)>,
    /// The listing under way keeps the user listing it reads (until it
    /// ends, or until the enumeration waiting for it gives up).
    keeping: bool,
}

/// Every domain's censuses: of groups (`[0]`) and users (`[1]`), by
/// domain name.
pub(super) struct Censuses {
    /// (Placed with foldhash: domain names, which only the configuration
    /// chooses; every lookup probes it.)
    taken: Mutex<[HashMap<String, Taken, foldhash::fast::RandomState>; 2]>,
    /// Bumped by every flush: a listing begun before is not kept.
    generation: AtomicU64,
    /// A users census keeps the user listing it reads
    /// ([`Resolver::census_listing`]): true from the moment a user
    /// listing is about to be taken at once
    /// ([`Resolver::want_census_listings`]: at start and after a reload),
    /// false from the moment it is built (it takes what the censuses
    /// kept, or lists) and after a flush. Read and written under
    /// `taken`'s lock.
    want_listing: AtomicBool,
    /// A start-up user listing is being taken
    /// ([`Resolver::enumerate_in_background`]): group censuses wait for
    /// it to be held ([`Resolver::drop_census_listings`]), so that the
    /// users' pass, which the first `getent passwd` waits for, has the
    /// directory and the CPUs to itself. Read and written under `taken`'s
    /// lock.
    users_first: AtomicBool,
    /// Woken whenever a census listing ends (taken or failed), and when
    /// `users_first` is cleared.
    settled: tokio::sync::Notify,
}

/// How a census listing ended, recorded when dropped
/// ([`Resolver::record_census`]): `outcome` once the listing returned, or
/// an error saying it did not (it panicked, or its task was cancelled),
/// so that no census stays "under way" for good.
struct Ending<'a> {
    r: &'a Resolver,
    domain: &'a str,
    users: bool,
    began: u64,
    generation: u64,
    outcome: Option<ProviderResult<Option<Arc<Census>>>>,
    /// The user listing read with the census, if it was.
    listing: Option<Listing<UserEntry>>,
}

impl Drop for Ending<'_> {
    fn drop(&mut self) {
        let outcome = self.outcome.take().unwrap_or_else(|| {
            Err(BackendError::unavailable(
                "the listing ended without a result",
            ))
        });
        self.r.record_census(
            self.domain,
            self.users,
            self.began,
            self.generation,
            outcome,
            self.listing.take(),
        );
    }
}

impl Default for Censuses {
    fn default() -> Self {
        Censuses {
            taken: Mutex::default(),
            generation: AtomicU64::new(0),
            want_listing: AtomicBool::new(false),
            users_first: AtomicBool::new(false),
            settled: tokio::sync::Notify::new(),
        }
    }
}

impl Censuses {
    /// Drops every census and what they kept; listings under way are
    /// not kept. An enumeration waiting for a census's listing is woken
    /// (and lists on its own).
    pub(super) fn clear(&self) {
        {
            let mut taken = self.taken.lock().unwrap_or_else(|e| e.into_inner());
            self.generation.fetch_add(1, Ordering::SeqCst);
            *taken = Default::default();
            self.want_listing.store(false, Ordering::SeqCst);
            self.users_first.store(false, Ordering::SeqCst);
        }
        self.settled.notify_waiters();
    }
}

impl Resolver {
    /// Drops every census (and what was judged against them); listings
    /// under way are not kept.
    pub(super) fn forget_censuses(&self) {
        self.inner.censuses.clear();
        self.inner.cache.rewatch(|at_odds, _| at_odds.clear());
    }

    /// Domain `d`'s census of users (`users`) or groups and the moment it
    /// expires, when one is usable now; starts a listing when none is or
    /// it is due for renewal (after the next answer sent, inside
    /// [`super::answering`]). Nothing for a domain a reload replaced since
    /// the lookup asking began: its census would be recorded, and used,
    /// under the name of the domain that replaced it.
    pub(super) fn census_of(
        &self,
        d: &Arc<dyn Provider>,
        users: bool,
    ) -> Option<(Arc<Census>, u64)> {
        let settings = self.settings();
        if !settings.census {
            return None;
        }
        let ttl = settings.entry_ttl_ms;
        let now = self.inner.clock.now_ms();
        let censuses = &self.inner.censuses;
        let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
        // (Under the censuses' lock: a reload swaps the domains, then
        // takes it to end their generation.)
        if !self.domains().iter().any(|c| Arc::ptr_eq(c, d)) {
            return None;
        }
        let mut start = Vec::new();
        let mut usable = None;
        // This kind's census, and the other kind's first one with it (a
        // domain asked about users is soon asked about groups).
        for kind in [users, !users] {
            let of_kind = &mut taken[usize::from(kind)];
            if !of_kind.contains_key(d.name()) {
                of_kind.insert(d.name().to_string(), Taken::default());
            }
            let t = of_kind.get_mut(d.name())?;
            if t.none {
                continue;
            }
            let until = t.taken_ms.saturating_add(ttl);
            let fresh = t.census.clone().filter(|_| now < until);
            let renew = fresh.is_none() || now >= t.taken_ms.saturating_add(refresh_after_ms(ttl));
            let retry = (ttl / 4).min(RETRY_MAX_MS);
            let may_try = t.tried_ms.is_none_or(|at| now >= at.saturating_add(retry));
            let due = if kind == users {
                renew && may_try
            } else {
                t.tried_ms.is_none()
            };
            if due && !t.taking {
                t.taking = true;
                t.tried_ms = Some(now);
                start.push(kind);
            }
            if kind == users {
                usable = fresh.map(|c| (c, until));
            }
        }
        let generation = censuses.generation.load(Ordering::SeqCst);
        // (After the answer of the lookup asking, when the server sends
        // one: the census's own connection and listing would delay it.)
        for kind in start {
            let this = self.clone();
            let d = d.clone();
            self.after_answer_or_now(Box::pin(async move {
                this.take_census(d, kind, now, generation).await
            }));
        }
        usable
    }

    /// Lists domain `d`'s users or groups into a census begun at `began`;
    /// the census has the cached answers of its kind judged against it
    /// ([`Resolver::judge_cached_answers`]) before it is installed. While
    /// a user listing is wanted from the censuses (from
    /// [`Resolver::want_census_listings`], at start and after a reload,
    /// until a user enumeration begins to be built), a users census keeps
    /// the user listing its pass reads, when the domain reads both in one
    /// ([`Provider::census_reads_users`]): that enumeration takes no pass
    /// of its own ([`Resolver::census_listing`]).
    async fn take_census(&self, d: Arc<dyn Provider>, users: bool, began: u64, generation: u64) {
        let mut ending = Ending {
            r: self,
            domain: d.name(),
            users,
            began,
            generation,
            outcome: None,
            listing: None,
        };
        // A census begun after a flush or reload that came while it waited
        // for an answer to be sent would list for nothing: its result is
        // not kept (`record_census`).
        if self.inner.censuses.generation.load(Ordering::SeqCst) != generation {
            return;
        }
        if !users && !self.after_start_up_users(generation).await {
            return;
        }
        let keep = users
            && self.settings().enumerate
            && d.census_reads_users()
            && self.begin_keeping(d.name(), generation);
        let listed = if keep {
            d.users_census_with_listing().await.map(|taken| {
                taken.map(|t| {
                    ending.listing = t.users;
                    Arc::new(t.census)
                })
            })
        } else {
            d.census(users).await.map(|c| c.map(Arc::new))
        };
        if let Ok(Some(c)) = &listed {
            if c.decides_names() {
                let kind = if users {
                    EntryKind::User
                } else {
                    EntryKind::Group
                };
                self.judge_cached_answers(d.name(), kind, c, generation)
                    .await;
            }
        }
        ending.outcome = Some(listed);
    }

    /// Returns once no start-up user listing is being taken (at once when
    /// none is: see `users_first`), and when there was one, once the
    /// replies pause after it is held ([`Resolver::pause_after`]: the
    /// pages of a first `getent passwd` waiting for it are sent first);
    /// false when a flush or
    /// reload ended generation `generation` meanwhile (the census waiting
    /// is not kept).
    async fn after_start_up_users(&self, generation: u64) -> bool {
        let censuses = &self.inner.censuses;
        let mut waited = false;
        loop {
            // (Registered before the check: a clearing between the check
            // and the wait still wakes it.)
            let woken = censuses.settled.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            if censuses.generation.load(Ordering::SeqCst) != generation {
                return false;
            }
            if !censuses.users_first.load(Ordering::SeqCst) {
                break;
            }
            waited = true;
            woken.await;
        }
        if waited {
            self.pause_after(tokio::time::Instant::now()).await;
        }
        censuses.generation.load(Ordering::SeqCst) == generation
    }

    /// Judges the answers cached for domain `domain` against its users
    /// (`kind`: or groups) census `census` (see [`super::at_odds`]):
    /// copied under the cache's lock, judged outside it (on a blocking
    /// thread when there are more than [`JUDGED_IN_PLACE`]). Should that
    /// thread fail, the checks with that census ask the cache. Nothing is
    /// done for a listing a flush made stale (generation `generation` is
    /// past): its census is not installed, and its judging must not
    /// displace the current one's.
    async fn judge_cached_answers(
        &self,
        domain: &str,
        kind: EntryKind,
        census: &Arc<Census>,
        generation: u64,
    ) {
        let current = || self.inner.censuses.generation.load(Ordering::SeqCst) == generation;
        let now = self.inner.clock.now_ms();
        let held = self.inner.cache.rewatch(|at_odds, held| {
            current().then(|| at_odds.begin(domain, kind, census.clone(), now, held))
        });
        let Some(held) = held else {
            return;
        };
        let mut judged = Disputes::new(census.clone(), kind, now);
        if held.len() <= JUDGED_IN_PLACE {
            judged.judge_held(&held);
        } else {
            let judging = tokio::task::spawn_blocking(move || {
                judged.judge_held(&held);
                judged
            });
            judged = match judging.await {
                Ok(judged) => judged,
                Err(e) => {
                    tracing::warn!(%domain, error = %e, "cached answers not judged against the census");
                    self.inner
                        .cache
                        .rewatch(|at_odds, _| at_odds.abandon(domain, kind, census));
                    return;
                }
            };
        }
        self.inner.cache.rewatch(|at_odds, _| {
            if current() {
                at_odds.finish(domain, judged);
            }
        });
    }

    /// Records how domain `domain`'s census listing of users or groups
    /// begun at `began` ended (unless a flush came since), then wakes the
    /// waiters of [`Resolver::censuses_settled`].
    fn record_census(
        &self,
        domain: &str,
        users: bool,
        began: u64,
        generation: u64,
        listed: ProviderResult<Option<Arc<Census>>>,
        listing: Option<Listing<UserEntry>>,
    ) {
        let what = if users { "users" } else { "groups" };
        let censuses = &self.inner.censuses;
        {
            let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
            if censuses.generation.load(Ordering::SeqCst) == generation {
                let t = taken[usize::from(users)]
                    .entry(domain.to_string())
                    .or_default();
                t.taking = false;
                // (Not kept when the enumeration that waited for it gave
                // up, or none is wanted any more.)
                if t.keeping {
                    t.listing = listing.map(|l| (l, began));
                }
                t.keeping = false;
                match listed {
                    Ok(Some(c)) => {
                        t.last_error = None;
                        tracing::debug!(%domain, entries = c.entries(), ids_readable = c.ids_readable(), "census of {what} taken");
                        t.census = Some(c);
                        t.taken_ms = began;
                    }
                    Ok(None) => t.none = true,
                    Err(e) => {
                        tracing::info!(%domain, error = %e, "census of {what} not taken: lookups search twice until it is");
                        t.last_error = Some(format!("{what}: {e}"));
                    }
                }
            }
        }
        censuses.settled.notify_waiters();
    }

    /// Returns once the censuses of users (`users_only`), or of users and
    /// of groups, of the enabled domains that take them have each been
    /// taken or have failed once (each started here when it has not been,
    /// both kinds; a renewal under way does not count); at once when
    /// `[cache] census` or `enumerate` is off. The domains and settings
    /// are read again at each wake-up, and the censuses started again
    /// after a flush or reload: what the wait ends on is always the
    /// current configuration's.
    pub(super) async fn censuses_settled(&self, users_only: bool) {
        let censuses = &self.inner.censuses;
        let mut started: Option<u64> = None;
        loop {
            let settings = self.settings();
            if !settings.census || !settings.enumerate {
                return;
            }
            // (Registered before the check: a census ending between the
            // check and the wait still wakes it.)
            let woken = censuses.settled.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let domains = self.domains();
            let generation = censuses.generation.load(Ordering::SeqCst);
            if started != Some(generation) {
                for d in domains.iter() {
                    let _ = self.census_of(d, true);
                }
                started = Some(generation);
            }
            let settled = {
                let taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
                let kinds = if users_only { &taken[1..] } else { &taken[..] };
                domains.iter().all(|d| {
                    kinds.iter().all(|of_kind| {
                        of_kind.get(d.name()).is_some_and(|t| {
                            t.none || t.census.is_some() || t.last_error.is_some() || !t.taking
                        })
                    })
                })
            };
            if settled {
                return;
            }
            woken.await;
        }
    }

    /// True when domain `domain`'s users census under way (of generation
    /// `generation`) is to keep the user listing it reads: a user
    /// enumeration is wanted from the censuses (`want_listing`); it is
    /// then marked as keeping it.
    fn begin_keeping(&self, domain: &str, generation: u64) -> bool {
        let censuses = &self.inner.censuses;
        let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
        if censuses.generation.load(Ordering::SeqCst) != generation
            || !censuses.want_listing.load(Ordering::SeqCst)
        {
            return false;
        }
        let t = taken[1].entry(domain.to_string()).or_default();
        t.keeping = true;
        true
    }

    /// A user listing is about to be taken at once (the start-up
    /// listing, at start and after a reload): the users censuses that
    /// start until it is built keep the listing they read, for it, and
    /// the group censuses wait until it is held (`users_first`).
    /// Returns the censuses' generation.
    pub(super) fn want_census_listings(&self) -> u64 {
        let censuses = &self.inner.censuses;
        let _taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
        censuses.want_listing.store(true, Ordering::SeqCst);
        censuses.users_first.store(true, Ordering::SeqCst);
        censuses.generation.load(Ordering::SeqCst)
    }

    /// Called as a user enumeration begins to be built: censuses that
    /// start from now on keep no listing (those under way keep theirs for
    /// it, [`Resolver::census_listing`]). Returns the censuses'
    /// generation, which the build passes on.
    pub(super) fn user_listing_begins(&self) -> u64 {
        let censuses = &self.inner.censuses;
        let _taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
        censuses.want_listing.store(false, Ordering::SeqCst);
        censuses.generation.load(Ordering::SeqCst)
    }

    /// The user listing domain `domain`'s users census read with it, and
    /// when that listing began, for the user enumeration being built
    /// (of the censuses' generation `generation`; taken: used once).
    /// Waited for while a census that keeps it is under way (until
    /// `deadline`: then that census keeps nothing, and `None`: the
    /// caller lists). A listing kept longer than a census is trusted
    /// unrenewed is not used.
    pub(super) async fn census_listing(
        &self,
        domain: &str,
        deadline: tokio::time::Instant,
        generation: u64,
    ) -> Option<(Listing<UserEntry>, u64)> {
        // (Also when this future is dropped while it waits: the census
        // then keeps nothing that nobody would take.)
        struct GiveUp<'a> {
            r: &'a Resolver,
            domain: &'a str,
            generation: u64,
        }
        impl Drop for GiveUp<'_> {
            fn drop(&mut self) {
                let censuses = &self.r.inner.censuses;
                let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
                if censuses.generation.load(Ordering::SeqCst) == self.generation {
                    if let Some(t) = taken[1].get_mut(self.domain) {
                        t.keeping = false;
                        t.listing = None;
                    }
                }
            }
        }
        let give_up = GiveUp {
            r: self,
            domain,
            generation,
        };
        let found = tokio::time::timeout_at(deadline, self.wait_census_listing(domain))
            .await
            .ok()
            .flatten();
        if found.is_some() {
            std::mem::forget(give_up);
        }
        found
    }

    /// [`Resolver::census_listing`]'s wait.
    async fn wait_census_listing(&self, domain: &str) -> Option<(Listing<UserEntry>, u64)> {
        let censuses = &self.inner.censuses;
        let waited = async {
            loop {
                // (Registered before the check: a census ending between
                // the check and the wait still wakes it.)
                let woken = censuses.settled.notified();
                tokio::pin!(woken);
                woken.as_mut().enable();
                {
                    let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
                    let t = taken[1].get_mut(domain)?;
                    if t.keeping {
                        // (A census under way reads a newer one.)
                        t.listing = None;
                    } else {
                        return t
                            .listing
                            .take()
                            .filter(|(_, began)| self.listing_trusted(*began));
                    }
                }
                woken.await;
            }
        };
        waited.await
    }

    /// True when a listing begun at `began` may stand for one taken now:
    /// it is younger than a census is trusted unrenewed.
    pub(super) fn listing_trusted(&self, began: u64) -> bool {
        let now = self.inner.clock.now_ms();
        now.saturating_sub(began) < refresh_after_ms(self.settings().entry_ttl_ms)
    }

    /// The censuses' generation now: bumped by every flush and reload
    /// ([`Resolver::forget_censuses`]).
    pub(super) fn census_generation(&self) -> u64 {
        self.inner.censuses.generation.load(Ordering::SeqCst)
    }

    /// Drops the user listings the censuses kept and stops those under
    /// way from keeping theirs, once a user enumeration built under the
    /// censuses' generation `generation` is held (nothing of a later
    /// generation: a reload since wants its own listing); the group
    /// censuses waiting for it go on (`users_first`).
    pub(super) fn drop_census_listings(&self, generation: u64) {
        let censuses = &self.inner.censuses;
        {
            let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
            if censuses.generation.load(Ordering::SeqCst) != generation {
                return;
            }
            censuses.want_listing.store(false, Ordering::SeqCst);
            censuses.users_first.store(false, Ordering::SeqCst);
            for t in taken[1].values_mut() {
                t.listing = None;
                t.keeping = false;
            }
        }
        censuses.settled.notify_waiters();
    }

    /// Counts `n` questions domain `d`'s census of users (`users`) or
    /// groups answered without a search.
    pub(super) fn note_census_answered(&self, d: &str, users: bool, n: u64) {
        let censuses = &self.inner.censuses;
        let mut taken = censuses.taken.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(t) = taken[usize::from(users)].get_mut(d) {
            t.answered += n;
        }
    }

    /// Domain `domain`'s censuses for the status report; `None` before
    /// any was tried or when the domain takes none.
    pub(super) fn census_status(&self, domain: &str) -> Option<CensusStatus> {
        // (Before `taken` is locked: the two locks are never held together.)
        let left_to_record = self.left_to_record_of(domain);
        let taken = self
            .inner
            .censuses
            .taken
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        let (groups, users) = (taken[0].get(domain), taken[1].get(domain));
        if [groups, users].iter().all(|t| t.is_none_or(|t| t.none)) {
            return None;
        }
        let count = |t: Option<&Taken>| {
            t.and_then(|t| t.census.as_ref())
                .map(|c| c.entries() as u64)
        };
        let at = |t: Option<&Taken>| t.filter(|t| t.census.is_some()).map(|t| t.taken_ms / 1000);
        let status = CensusStatus {
            users: count(users),
            users_taken_at: at(users),
            groups: count(groups),
            groups_taken_at: at(groups),
            last_error: [users, groups]
                .into_iter()
                .flatten()
                .find_map(|t| t.last_error.clone()),
            checks_answered: [users, groups]
                .into_iter()
                .flatten()
                .map(|t| t.answered)
                .sum(),
            left_to_record,
        };
        Some(status)
    }
}
