//! Asking a domain: single-flight searches, recording answers in memory and
//! on disk, background refreshes, and the offline fallback.

use super::{Fetched, InDomain, Provider, Resolver, Settings, Source};
use crate::backend_error::BackendError;
use crate::cache::{CacheKey, GroupEntry, Key, Slot, UserEntry, Value};
use crate::in_turn::in_turn;
use crate::store::StoredValue;
use std::sync::atomic::Ordering;
use std::sync::Arc;

impl Resolver {
    /// An expired answer young enough for offline mode, from memory or
    /// from the persistent store.
    pub(super) fn offline_value(
        &self,
        ck: &CacheKey,
        stale: Option<Slot>,
        now: u64,
        settings: &Settings,
    ) -> Option<Value> {
        let young = |fetched: u64| now.saturating_sub(fetched) <= settings.offline_max_age_ms;
        if let Some(slot) = stale {
            if slot.value != Value::Missing && young(slot.fetched_ms) {
                return Some(slot.value);
            }
        }
        let (at, stored) = self.inner.store.as_ref()?.get(&ck.store_key())?;
        if !young(at) {
            return None;
        }
        let value = Value::from_stored(stored, ck.domain.clone());
        if value == Value::Missing {
            return Some(value);
        }
        // Keep it in memory, already expired, so the next question is cheap.
        self.inner.cache.insert(
            ck.clone(),
            Slot {
                value: value.clone(),
                fetched_ms: at,
                expires_ms: 0,
            },
        );
        Some(value)
    }

    /// Refreshes `ck` from `domain` in a task of its own, unless a lookup
    /// of it is already out. (Not inlined: the task it spawns is made on
    /// the stack first, and inlined into a lookup's poll that made the
    /// poll's frame, and every call below it, kilobytes deeper.)
    #[inline(never)]
    pub(super) fn refresh_in_background(
        &self,
        domain: Arc<dyn Provider>,
        ck: CacheKey,
        user: Option<Arc<UserEntry>>,
    ) {
        if self.inner.flights.waiters(&ck) > 0 {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let _ = this.fetch_once(domain, ck, user).await;
        });
    }

    /// Asks the domain (one search per key at a time) and records the answer.
    pub(super) async fn fetch_once(
        &self,
        domain: Arc<dyn Provider>,
        ck: CacheKey,
        user: Option<Arc<UserEntry>>,
    ) -> Fetched {
        let this = self.clone();
        let key = ck.clone();
        self.inner
            .flights
            .run(ck, move || async move {
                let result = this.fetch(&*domain, &key, user.as_deref()).await;
                this.record(&key, &result);
                result
            })
            .await
    }

    pub(super) async fn fetch(
        &self,
        d: &dyn Provider,
        ck: &CacheKey,
        user: Option<&UserEntry>,
    ) -> Fetched {
        match &ck.key {
            Key::UserName(n) => d.user_by_name(n).await.map(user_value),
            Key::UserId(id) => d.user_by_uid(*id).await.map(user_value),
            Key::GroupName(n) => d.group_by_name(n).await.map(group_value),
            Key::GroupId(id) => d.group_by_gid(*id).await.map(group_value),
            Key::NetgroupName(n) => d
                .netgroup_by_name(n)
                .await
                .map(|n| n.map(|n| Value::Netgroup(Arc::new(n)))),
            Key::GroupsOf(name) => match user {
                Some(u) => d
                    .groups_of_user(u)
                    .await
                    .map(|g| Some(Value::Gids(g.into()))),
                None => Err(BackendError::invalid(format!(
                    "groups of {name} asked without the user"
                ))),
            },
        }
    }

    /// True when the memory cache holds a fresh answer for `ck`.
    pub(super) fn is_fresh(&self, ck: &CacheKey) -> bool {
        self.is_fresh_at(ck, self.inner.clock.now_ms())
    }

    /// [`Resolver::is_fresh`] at `now` (many keys checked at once).
    pub(super) fn is_fresh_at(&self, ck: &CacheKey, now: u64) -> bool {
        self.inner
            .cache
            .peek(ck)
            .is_some_and(|s| s.expires_ms > now)
    }

    /// Records `value` as the domain's answer for `ck`, in memory and on
    /// disk, fresh until `until` at most: an entry a census shows as the
    /// only holder of the name or ID `ck` asks (the answer the search
    /// would have given; see [`Resolver::record`] for why other keys are
    /// otherwise never filled).
    pub(super) fn record_vouched(&self, ck: &CacheKey, value: Value, until: u64) {
        let now = self.inner.clock.now_ms();
        let ttl = self.settings().entry_ttl_ms;
        self.persist(ck.store_key(), now, Box::new(value.clone()));
        let slot = Slot {
            value,
            fetched_ms: now,
            expires_ms: now.saturating_add(ttl).min(until),
        };
        self.inner.cache.insert(ck.clone(), slot);
    }

    /// Stores a directory answer in memory and on disk under its key (and,
    /// for a case variant of a name, under the name the directory gave it:
    /// the domain answers that name with the same entry). Never under the
    /// other key of the object (name <-> ID): the directory may answer that
    /// question otherwise (two entries claiming one ID), and the resolver
    /// checks that both questions lead to the same entry.
    pub(super) fn record(&self, ck: &CacheKey, result: &Fetched) {
        let settings = self.settings();
        let now = self.inner.clock.now_ms();
        match result {
            Ok(Some(value)) => {
                let mut keys = vec![ck.clone()];
                match (&ck.key, value) {
                    (Key::UserName(asked), Value::User(u)) if *asked != u.user.name => {
                        keys.push(CacheKey::new(
                            ck.domain.clone(),
                            Key::UserName(u.user.name.clone()),
                        ));
                    }
                    (Key::GroupName(asked), Value::Group(g)) if *asked != g.group.name => {
                        keys.push(CacheKey::new(
                            ck.domain.clone(),
                            Key::GroupName(g.group.name.clone()),
                        ));
                    }
                    _ => {}
                }
                for k in &keys {
                    let slot = Slot {
                        value: value.clone(),
                        fetched_ms: now,
                        expires_ms: now.saturating_add(settings.entry_ttl_ms),
                    };
                    self.inner.cache.insert(k.clone(), slot);
                    // The stored form is encoded by the store's writer
                    // thread, after the answer.
                    self.persist(k.store_key(), now, Box::new(value.clone()));
                }
            }
            Ok(None) => {
                // The object is gone: forget it under its other keys too,
                // so that no ID or group list of it is served any more.
                let old = self.inner.cache.peek(ck).map(|s| s.value);
                let mut gone = Vec::new();
                match old {
                    Some(Value::User(u)) => {
                        gone.push(CacheKey::new(ck.domain.clone(), Key::UserId(u.user.uid)));
                        gone.push(CacheKey::new(
                            ck.domain.clone(),
                            Key::UserName(u.user.name.clone()),
                        ));
                        gone.push(CacheKey::new(
                            ck.domain.clone(),
                            Key::GroupsOf(u.user.name.clone()),
                        ));
                    }
                    Some(Value::Group(g)) => {
                        gone.push(CacheKey::new(ck.domain.clone(), Key::GroupId(g.group.gid)));
                        gone.push(CacheKey::new(
                            ck.domain.clone(),
                            Key::GroupName(g.group.name.clone()),
                        ));
                    }
                    _ => {}
                }
                gone.retain(|k| k != ck);
                self.flush_keys(&gone);
                let slot = Slot {
                    value: Value::Missing,
                    fetched_ms: now,
                    expires_ms: now.saturating_add(settings.negative_ttl_ms),
                };
                self.inner.cache.insert(ck.clone(), slot);
                if let Some(store) = &self.inner.store {
                    // A kept negative answer stays (see `remember_negatives`).
                    let sk = ck.store_key();
                    if !matches!(store.get(&sk), Some((_, StoredValue::Missing))) {
                        self.unpersist(sk);
                    }
                }
            }
            Err(e) => tracing::debug!(domain = %ck.domain, error = %e, "lookup failed"),
        }
    }
}

/// Aborts its task when dropped (a no-op once the task has ended).
struct AbortOnDrop(tokio::task::AbortHandle);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Keys asked of a domain in one batch call (one search per search base):
/// a few hundred keep the filter and the answer small.
pub(super) const BATCH: usize = 200;

/// Batches of keys asked of one domain at a time.
const PARALLEL_BATCHES: usize = 4;

impl Resolver {
    /// Domain `d`'s answers to `keys` (none of them fresh in the cache;
    /// `stale` holds their expired slots), asked in one batch call where
    /// the domain has one ([`Provider::users_by_names`],
    /// [`Provider::users_by_uids`], [`Provider::groups_by_names`],
    /// [`Provider::groups_by_gids`]), and recorded as single lookups record
    /// them: each answer is what [`Resolver::in_domain`] gives for its key,
    /// offline fallback and stale grace included.
    pub(super) async fn in_domain_batch(
        &self,
        d: &Arc<dyn Provider>,
        keys: Vec<Key>,
        stale: Vec<Option<Slot>>,
    ) -> Vec<InDomain> {
        let settings = self.settings();
        let now = self.inner.clock.now_ms();
        let domain: Arc<str> = Arc::from(d.name());
        let cks: Vec<CacheKey> = keys
            .into_iter()
            .map(|k| CacheKey::new(domain.clone(), k))
            .collect();
        let fallbacks: Vec<Option<Value>> = cks
            .iter()
            .zip(stale)
            .map(|(ck, s)| self.offline_value(ck, s, now, &settings))
            .collect();
        let this = self.clone();
        let (dd, asked) = (d.clone(), cks.clone());
        // Past the grace the answer may come from the expired entries and
        // the search go on without it: then it is no part of the answer.
        let may_outlive = settings.stale_grace_ms > 0 && fallbacks.iter().all(Option::is_some);
        let batch = async move {
            let result = this.fetch_batch(&*dd, &asked).await;
            if let Ok(values) = &result {
                for (ck, v) in asked.iter().zip(values) {
                    this.record(ck, &Ok(v.clone()));
                }
            }
            result
        };
        let (mut task, _part) = if may_outlive {
            (tokio::spawn(batch), None)
        } else {
            // Part of the answer: ends with the lookup, should the lookup
            // be dropped first (a batch of `ask_batches`' aborted set).
            let task = tokio::spawn(super::after::part_of_answer(batch));
            let part = AbortOnDrop(task.abort_handle());
            (task, Some(part))
        };
        let joined = |j: Result<_, tokio::task::JoinError>| {
            j.unwrap_or_else(|e| {
                Err(BackendError::unavailable(format!(
                    "lookup task failed: {e}"
                )))
            })
        };
        let fetched = if may_outlive {
            // As for one key: past the grace, answer from the expired
            // entries and let the search finish in the background.
            let grace = std::time::Duration::from_millis(settings.stale_grace_ms);
            tokio::select! {
                j = &mut task => joined(j),
                _ = tokio::time::sleep(grace) => {
                    tracing::debug!(domain = %domain, "domain slow; answering from the expired entries");
                    return fallbacks.into_iter().flatten().map(|v| self.offline_answer(v)).collect();
                }
            }
        } else {
            joined(task.await)
        };
        match fetched {
            Ok(values) => values
                .into_iter()
                .map(|v| match v {
                    Some(v) => InDomain::Found(
                        v,
                        Source::Directory,
                        now.saturating_add(settings.entry_ttl_ms),
                    ),
                    None => InDomain::Missing(now.saturating_add(settings.negative_ttl_ms)),
                })
                .collect(),
            Err(err) => fallbacks
                .into_iter()
                .map(|f| match f {
                    Some(v) => self.offline_answer(v),
                    None => InDomain::Failed(err.clone()),
                })
                .collect(),
        }
    }

    /// An answer from offline data (counted).
    fn offline_answer(&self, v: Value) -> InDomain {
        self.inner.stats.offline.fetch_add(1, Ordering::Relaxed);
        if v == Value::Missing {
            InDomain::Missing(0)
        } else {
            InDomain::Found(v, Source::Offline, 0)
        }
    }

    /// Asks `d` for every key of `cks`: user names, UIDs, group names and
    /// GIDs in one batch call when all keys are of one kind, other keys
    /// one at a time. One answer per key, in order.
    async fn fetch_batch(
        &self,
        d: &dyn Provider,
        cks: &[CacheKey],
    ) -> Result<Vec<Option<Value>>, BackendError> {
        // The keys, when every one is of the kind `pick` takes.
        fn all<T>(cks: &[CacheKey], pick: impl Fn(&Key) -> Option<T>) -> Option<Vec<T>> {
            cks.iter().map(|ck| pick(&ck.key)).collect()
        }
        let found: Vec<Option<Value>> = if let Some(names) = all(cks, |k| match k {
            Key::UserName(n) => Some(n.clone()),
            _ => None,
        }) {
            let found = d.users_by_names(&names).await?;
            Self::same_count(found.len(), cks.len())?;
            found.into_iter().map(user_value).collect()
        } else if let Some(uids) = all(cks, |k| match k {
            Key::UserId(u) => Some(*u),
            _ => None,
        }) {
            let found = d.users_by_uids(&uids).await?;
            Self::same_count(found.len(), cks.len())?;
            found.into_iter().map(user_value).collect()
        } else if let Some(names) = all(cks, |k| match k {
            Key::GroupName(n) => Some(n.clone()),
            _ => None,
        }) {
            let found = d.groups_by_names(&names).await?;
            Self::same_count(found.len(), cks.len())?;
            found.into_iter().map(group_value).collect()
        } else if let Some(gids) = all(cks, |k| match k {
            Key::GroupId(g) => Some(*g),
            _ => None,
        }) {
            let found = d.groups_by_gids(&gids).await?;
            Self::same_count(found.len(), cks.len())?;
            found.into_iter().map(group_value).collect()
        } else {
            in_turn(cks, |ck| self.fetch(d, ck, None)).await?
        };
        Ok(found)
    }

    /// A batch call's answers must be one per question.
    fn same_count(answers: usize, questions: usize) -> Result<(), BackendError> {
        if answers == questions {
            Ok(())
        } else {
            Err(BackendError::refused(format!(
                "{answers} answers to {questions} questions"
            )))
        }
    }

    /// Of `keys` (each with its index into `answers`) of domain `d` (named
    /// `domain`), the keys not fresh in the cache at `now`, each with its
    /// expired slot; the fresh ones' answers are written into `answers`.
    fn not_fresh<'k>(
        &self,
        d: &Arc<dyn Provider>,
        domain: &Arc<str>,
        keys: impl Iterator<Item = (usize, &'k Key)>,
        now: u64,
        answers: &mut [Option<InDomain>],
    ) -> Vec<(usize, Key, Option<Slot>)> {
        let settings = self.settings();
        let mut open = Vec::new();
        for (idx, k) in keys {
            let ck = CacheKey::new(domain.clone(), k.clone());
            match self.cached(d, &ck, now, &settings, None) {
                Ok(a) => answers[idx] = Some(a),
                Err(stale) => open.push((idx, ck.key, stale)),
            }
        }
        open
    }

    /// Domain `d`'s answers to `keys`, in their order: each what
    /// [`Resolver::in_domain`] gives for its key, but the keys not fresh in
    /// the cache are asked [`BATCH`] at a time in one provider call
    /// ([`Resolver::in_domain_batch`]), [`PARALLEL_BATCHES`] batches at once;
    /// `paced` (work after the answers, [`super::owner::Ctx::paced`]): one
    /// at a time, each made once the replies pause ([`Resolver::quiet`])
    /// and followed by its rest ([`Resolver::paced`]), each key looked up
    /// in the cache once, when the batch it would go into is made (what
    /// lookups cached during the rests and the bursts is not asked again,
    /// and each batch is filled with keys still open).
    pub(super) async fn answers_many(
        &self,
        d: &Arc<dyn Provider>,
        keys: &[Key],
        paced: bool,
    ) -> Vec<InDomain> {
        let domain: Arc<str> = Arc::from(d.name());
        let mut answers: Vec<Option<InDomain>> = keys.iter().map(|_| None).collect();
        if paced {
            let mut keys = keys.iter().enumerate().peekable();
            while keys.peek().is_some() {
                // (Made after the previous batch's rest, once the replies
                // paused: what lookups cached meanwhile is answered from
                // the cache.)
                self.quiet().await;
                let now = self.inner.clock.now_ms();
                let mut batch = Vec::with_capacity(BATCH);
                while batch.len() < BATCH && keys.peek().is_some() {
                    let next = keys.by_ref().take(BATCH - batch.len());
                    batch.extend(self.not_fresh(d, &domain, next, now, &mut answers));
                }
                if !batch.is_empty() {
                    self.paced(self.ask_batches(d, &[&batch[..]], &mut answers))
                        .await;
                }
            }
        } else {
            let now = self.inner.clock.now_ms();
            let open = self.not_fresh(d, &domain, keys.iter().enumerate(), now, &mut answers);
            for group in open.chunks(BATCH * PARALLEL_BATCHES) {
                let batches: Vec<&[(usize, Key, Option<Slot>)]> = group.chunks(BATCH).collect();
                self.ask_batches(d, &batches, &mut answers).await;
            }
        }
        answers
            .into_iter()
            .map(|a| {
                a.unwrap_or_else(|| {
                    InDomain::Failed(BackendError::unavailable("lookup task failed"))
                })
            })
            .collect()
    }

    /// Asks domain `d` the batches of `group` at once (each key with its
    /// index into `answers` and its expired slot), writing their answers
    /// into `answers`.
    async fn ask_batches(
        &self,
        d: &Arc<dyn Provider>,
        group: &[&[(usize, Key, Option<Slot>)]],
        answers: &mut [Option<InDomain>],
    ) {
        let mut set = tokio::task::JoinSet::new();
        for batch in group {
            let (this, d) = (self.clone(), d.clone());
            let idxs: Vec<usize> = batch.iter().map(|(idx, ..)| *idx).collect();
            let ks = batch.iter().map(|(_, k, _)| k.clone()).collect();
            let stale = batch.iter().map(|(.., s)| s.clone()).collect();
            // (Each is joined below, or aborted with the set, and its
            // batch with it: `in_domain_batch`.)
            set.spawn(super::after::part_of_answer(async move {
                (idxs, this.in_domain_batch(&d, ks, stale).await)
            }));
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((idxs, got)) = joined {
                for (idx, a) in idxs.into_iter().zip(got) {
                    answers[idx] = Some(a);
                }
            }
        }
    }
}

/// A provider's user answer as a cached value (compacted).
fn user_value(u: Option<UserEntry>) -> Option<Value> {
    u.map(|u| Value::User(Arc::new(u.compacted())))
}

/// A provider's group answer as a cached value (compacted).
fn group_value(g: Option<GroupEntry>) -> Option<Value> {
    g.map(|g| Value::Group(Arc::new(g.compacted())))
}
