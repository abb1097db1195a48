//! Asking a domain: single-flight searches, recording answers in memory and
//! on disk, background refreshes, and the offline fallback.

use super::{Fetched, Provider, ProviderError, Resolver, Settings};
use crate::cache::{CacheKey, GroupEntry, Key, Slot, UserEntry, Value};
use crate::store::StoredValue;
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
        let user_value = |u: Option<UserEntry>| u.map(|u| Value::User(Arc::new(u.compacted())));
        let group_value = |g: Option<GroupEntry>| g.map(|g| Value::Group(Arc::new(g.compacted())));
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
                None => Err(ProviderError::Failed(format!(
                    "groups of {name} asked without the user"
                ))),
            },
        }
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
                let stored = value.to_stored();
                for k in &keys {
                    let slot = Slot {
                        value: value.clone(),
                        fetched_ms: now,
                        expires_ms: now.saturating_add(settings.entry_ttl_ms),
                    };
                    self.inner.cache.insert(k.clone(), slot);
                    if let (Some(store), Some(s)) = (&self.inner.store, &stored) {
                        store.put(k.store_key(), now, s.clone());
                    }
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
                        store.delete(sk);
                    }
                }
            }
            Err(e) => tracing::debug!(domain = %ck.domain, error = %e, "lookup failed"),
        }
    }
}
