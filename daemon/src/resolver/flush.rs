//! Forgetting cached answers: one user, one group, a domain, everything
//! (and with any of them the censuses, which may list what changed; an
//! object found gone is forgotten alone).

use super::Resolver;
use crate::cache::{CacheKey, Key, Value};
use std::sync::Arc;

impl Resolver {
    pub(super) fn flush_keys(&self, keys: &[CacheKey]) {
        if keys.is_empty() {
            return;
        }
        for k in keys {
            self.inner.cache.remove(k);
            self.unpersist(k.store_key());
        }
        // Decisions may rest on any of them (cleared once they are gone:
        // `Decisions::clears`).
        self.inner.decided.clear();
    }

    /// What is known of `key` in domain `dom`: the memory cache's value,
    /// else the persistent store's.
    fn known(&self, key: &CacheKey, dom: &Arc<str>) -> Option<Value> {
        self.inner.cache.peek(key).map(|s| s.value).or_else(|| {
            let store = self.inner.store.as_ref()?;
            let (_, v) = store.get(&key.store_key())?;
            Some(Value::from_stored(v, dom.clone()))
        })
    }

    /// Forgets a user (by name and by UID) and its group list, everywhere.
    /// Returns the number of memory entries dropped.
    pub fn flush_user(&self, name: &str) -> usize {
        let cx = self.ctx();
        let (base, only) = Self::split_qualified(&cx, name);
        let before = self.inner.cache.len();
        let domains = only.map_or_else(
            || cx.domains.clone(),
            |i| Arc::new(vec![cx.domains[i].clone()]),
        );
        for d in domains.iter() {
            let dom: Arc<str> = Arc::from(d.name());
            let by_name = CacheKey::new(dom.clone(), Key::UserName(base.clone()));
            let mut keys = vec![
                by_name.clone(),
                CacheKey::new(dom.clone(), Key::GroupsOf(base.clone())),
            ];
            let known = self.known(&by_name, &dom);
            if let Some(Value::User(u)) = known {
                keys.push(CacheKey::new(dom.clone(), Key::UserId(u.user.uid)));
                keys.push(CacheKey::new(
                    dom.clone(),
                    Key::UserName(u.user.name.clone()),
                ));
                keys.push(CacheKey::new(
                    dom.clone(),
                    Key::GroupsOf(u.user.name.clone()),
                ));
            }
            self.flush_keys(&keys);
        }
        self.forget_censuses();
        self.inner.enumeration.invalidate();
        self.inner.decided.clear();
        before.saturating_sub(self.inner.cache.len())
    }

    /// Forgets a group (by name and by GID) and every cached group list
    /// (memberships may have changed). Returns the memory entries dropped.
    pub fn flush_group(&self, name: &str) -> usize {
        let cx = self.ctx();
        let (base, only) = Self::split_qualified(&cx, name);
        let before = self.inner.cache.len();
        let domains = only.map_or_else(
            || cx.domains.clone(),
            |i| Arc::new(vec![cx.domains[i].clone()]),
        );
        for d in domains.iter() {
            let dom: Arc<str> = Arc::from(d.name());
            let by_name = CacheKey::new(dom.clone(), Key::GroupName(base.clone()));
            let mut keys = vec![by_name.clone()];
            let known = self.known(&by_name, &dom);
            if let Some(Value::Group(g)) = known {
                keys.push(CacheKey::new(dom.clone(), Key::GroupId(g.group.gid)));
                keys.push(CacheKey::new(
                    dom.clone(),
                    Key::GroupName(g.group.name.clone()),
                ));
            }
            self.flush_keys(&keys);
        }
        self.inner
            .cache
            .remove_where(|k, _| matches!(k.key, Key::GroupsOf(_)));
        self.forget_censuses();
        self.inner.enumeration.invalidate();
        self.inner.decided.clear();
        before.saturating_sub(self.inner.cache.len())
    }

    /// Forgets everything cached for `domain`, and what its lookups left
    /// to record after their answers (the censuses that decided it are
    /// forgotten too: the next lookups decide again, as after a reload).
    pub fn flush_domain(&self, domain: &str) {
        self.forget_censuses();
        self.inner.cache.remove_domain(domain);
        if let Some(store) = &self.inner.store {
            store.delete_namespace(domain);
        }
        self.forget_left_of(domain);
        self.inner.decided.clear();
    }

    /// Forgets everything, in memory and on disk, and what lookups left to
    /// record after their answers.
    pub fn flush_all(&self) -> usize {
        let n = self.inner.cache.len();
        self.inner.cache.clear();
        self.forget_censuses();
        if let Some(store) = &self.inner.store {
            store.clear();
        }
        self.forget_all_left();
        self.inner.enumeration.invalidate();
        self.inner.decided.clear();
        n
    }
}
