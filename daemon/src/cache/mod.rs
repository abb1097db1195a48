//! The in-memory cache: a bounded LRU of answers per (domain, question),
//! positive ones living `entry_ttl` and negative ones `negative_ttl`.
//!
//! Expired entries are not dropped at once: they stay (until evicted by
//! the LRU) so that they can still be served in offline mode, for up to
//! `offline_max_age` after they were fetched. Users are shared (`Arc`)
//! between their by-name and by-UID entries so each is held once.
//!
//! Memory, measured with glibc malloc by `cargo run -p roster-daemon
//! --release --example cache_memory`: 100,000 users cached by name and by
//! UID take about 67 MB (some 700 bytes per user: the entry and its five
//! strings, two LRU nodes and the hash table); the persistent store's index
//! adds about 13 MB for their 200,000 entries.

pub(crate) mod entry;
pub(crate) mod flight;
pub(crate) mod key;

pub use crate::clock::{Clock, ManualClock, SystemClock};
pub use entry::{GroupEntry, NetgroupEntry, UserEntry, Value};
pub use key::{CacheKey, Key};

use lru::LruCache;
use std::hash::{BuildHasher, Hash, RandomState};
use std::sync::{Mutex, MutexGuard};

/// A [`MemCache`] locked for several lookups ([`MemCache::locked`]);
/// `W` and `S` are the cache's watcher and hasher.
pub struct Locked<'a, K, V, W = (), S = RandomState>(MutexGuard<'a, Bounded<K, V, W, S>>);

impl<K: Hash + Eq, V, W, S: BuildHasher> Locked<'_, K, V, W, S> {
    /// The answer for `key` without touching the LRU order.
    pub fn peek(&self, key: &K) -> Option<&V> {
        self.0.lru.peek(key)
    }

    /// The cache's watcher, as the answers held now left it.
    pub fn watch(&self) -> &W {
        &self.0.watch
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.0.lru.is_empty()
    }
}

impl<K: Hash + Eq, V, W: Watch<K, V>, S: BuildHasher> Locked<'_, K, V, W, S> {
    /// Stores an answer, evicting the least recently used one when full
    /// ([`MemCache::insert`], under the lock already held).
    pub fn insert(&mut self, key: K, value: V) {
        let b = &mut *self.0;
        b.watch.stored(&key, &value);
        b.lru.put(key, value);
        b.evict();
    }
}

/// Sees every answer a [`MemCache`] stores, under the cache's lock: what
/// it keeps of them is read together with the answers themselves
/// ([`Locked::watch`]). Removals and evictions are not shown.
pub trait Watch<K, V> {
    /// `value` is being stored under `key`.
    fn stored(&mut self, key: &K, value: &V);
}

/// No watcher.
impl<K, V> Watch<K, V> for () {
    fn stored(&mut self, _: &K, _: &V) {}
}

/// One cached answer and its timing (milliseconds since the epoch).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// The answer.
    pub value: Value,
    /// When it was fetched from the directory.
    pub fetched_ms: u64,
    /// When it stops being fresh.
    pub expires_ms: u64,
}

impl Slot {
    /// True while the entry may be served without asking the directory.
    pub fn is_fresh(&self, now_ms: u64) -> bool {
        now_ms < self.expires_ms
    }
}

/// A bounded LRU map from questions to answers: by default a domain's raw
/// answers ([`CacheKey`] to [`Slot`]); the resolver also keeps its decided
/// answers in one. `S` places the keys (keyed SipHash unless the keys
/// come from the directory alone).
pub struct MemCache<K = CacheKey, V = Slot, W = (), S = RandomState> {
    lru: Mutex<Bounded<K, V, W, S>>,
}

/// The LRU and its bound. The map grows with use (no table is reserved
/// for `max_entries` up front) and the least recently used answers are
/// evicted beyond the bound.
struct Bounded<K, V, W, S> {
    /// Placed by `S`: by default std's keyed SipHash, not the `lru`
    /// crate's default (hashbrown's foldhash): any local user chooses the
    /// names asked, and foldhash claims no resistance to one who can time
    /// lookups. A cache whose keys only the directory chooses may take
    /// foldhash ([`MemCache`]'s `S`).
    lru: LruCache<K, V, S>,
    max: usize,
    watch: W,
}

impl<K: Hash + Eq, V, W, S: BuildHasher> Bounded<K, V, W, S> {
    fn evict(&mut self) {
        while self.lru.len() > self.max {
            self.lru.pop_lru();
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone, W: Watch<K, V> + Default, S: BuildHasher + Default>
    MemCache<K, V, W, S>
{
    /// A cache holding at most `max_entries` answers (at least one).
    pub fn new(max_entries: usize) -> Self {
        MemCache {
            lru: Mutex::new(Bounded {
                lru: LruCache::unbounded_with_hasher(S::default()),
                max: max_entries.max(1),
                watch: W::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Bounded<K, V, W, S>> {
        self.lru.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The answer for `key`, fresh or not; marks it recently used.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock().lru.get(key).cloned()
    }

    /// The cache locked for many [`Locked::peek`]s in a row (one lock
    /// instead of one per key). Not to be held across an `.await`.
    pub fn locked(&self) -> Locked<'_, K, V, W, S> {
        Locked(self.lock())
    }

    /// Calls `f` with the watcher and every answer held, under the lock
    /// (no answer is stored meanwhile): to make the watcher anew.
    pub fn rewatch<R>(&self, f: impl FnOnce(&mut W, lru::Iter<'_, K, V>) -> R) -> R {
        let mut b = self.lock();
        let Bounded { lru, watch, .. } = &mut *b;
        f(watch, lru.iter())
    }

    /// The answer for `key` without touching the LRU order.
    pub fn peek(&self, key: &K) -> Option<V> {
        self.lock().lru.peek(key).cloned()
    }

    /// Stores an answer, evicting the least recently used one when full.
    pub fn insert(&self, key: K, value: V) {
        self.locked().insert(key, value);
    }

    /// Removes one answer.
    pub fn remove(&self, key: &K) -> Option<V> {
        self.lock().lru.pop(key)
    }

    /// Removes every answer for which `pred` is true.
    pub fn remove_where(&self, pred: impl Fn(&K, &V) -> bool) -> usize {
        let mut guard = self.lock();
        let lru = &mut guard.lru;
        let keys: Vec<K> = lru
            .iter()
            .filter(|(k, s)| pred(k, s))
            .map(|(k, _)| k.clone())
            .collect();
        for k in &keys {
            lru.pop(k);
        }
        keys.len()
    }

    /// Removes everything.
    pub fn clear(&self) {
        self.lock().lru.clear();
    }

    /// Number of answers held.
    pub fn len(&self) -> usize {
        self.lock().lru.len()
    }

    /// True when nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Changes the maximum number of answers (evicting if needed).
    pub fn resize(&self, max_entries: usize) {
        let mut b = self.lock();
        b.max = max_entries.max(1);
        b.evict();
    }
}

impl<W: Watch<CacheKey, Slot> + Default> MemCache<CacheKey, Slot, W> {
    /// Removes every answer of `domain`.
    pub fn remove_domain(&self, domain: &str) {
        self.remove_where(|k, _| &*k.domain == domain);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn key(d: &str, n: &str) -> CacheKey {
        CacheKey::new(Arc::from(d), Key::UserName(n.into()))
    }

    fn slot(exp: u64) -> Slot {
        Slot {
            value: Value::Missing,
            fetched_ms: 0,
            expires_ms: exp,
        }
    }

    #[test]
    fn lru_evicts_the_least_recently_used() {
        let c: MemCache = MemCache::new(2);
        c.insert(key("d", "a"), slot(1));
        c.insert(key("d", "b"), slot(1));
        assert!(c.get(&key("d", "a")).is_some()); // a is now more recent than b
        c.insert(key("d", "c"), slot(1));
        assert_eq!(c.len(), 2);
        assert!(c.peek(&key("d", "b")).is_none());
        assert!(c.peek(&key("d", "a")).is_some());
        assert!(c.peek(&key("d", "c")).is_some());
    }

    #[test]
    fn freshness_and_domain_removal() {
        let c: MemCache = MemCache::new(10);
        c.insert(key("d1", "a"), slot(100));
        c.insert(key("d2", "a"), slot(100));
        assert!(c.get(&key("d1", "a")).unwrap().is_fresh(99));
        assert!(!c.get(&key("d1", "a")).unwrap().is_fresh(100));
        c.remove_domain("d1");
        assert!(c.peek(&key("d1", "a")).is_none());
        assert!(c.peek(&key("d2", "a")).is_some());
        c.resize(0);
        assert_eq!(c.len(), 1);
    }
}
