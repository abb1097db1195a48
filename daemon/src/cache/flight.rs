//! Single-flight: concurrent requests for the same key share one fetch.

use std::collections::HashMap;
use std::future::Future;
use std::hash::Hash;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;

/// Deduplicates concurrent fetches by key: while a fetch for a key runs,
/// later callers for that key wait for its result instead of starting
/// their own. If the running caller is cancelled, a waiter takes over.
pub struct Flights<K, V> {
    map: Mutex<HashMap<K, Arc<OnceCell<V>>>>,
}

impl<K: Hash + Eq + Clone, V: Clone> Default for Flights<K, V> {
    fn default() -> Self {
        Flights {
            map: Mutex::new(HashMap::new()),
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Flights<K, V> {
    /// Runs `fetch` for `key` unless a fetch for `key` is already running,
    /// in which case its result is returned.
    pub async fn run<F, Fut>(&self, key: K, fetch: F) -> V
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = V>,
    {
        let cell = {
            let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
            map.entry(key.clone()).or_default().clone()
        };
        let value = cell.get_or_init(fetch).await.clone();
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.get(&key).is_some_and(|c| Arc::ptr_eq(c, &cell)) {
            map.remove(&key);
        }
        value
    }

    /// Number of callers waiting on the fetch for `key` (0 when none runs).
    pub fn waiters(&self, key: &K) -> usize {
        let map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        map.get(key).map_or(0, |c| Arc::strong_count(c) - 1)
    }

    /// Number of fetches running now.
    pub fn in_flight(&self) -> usize {
        self.map.lock().unwrap_or_else(|e| e.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_callers_share_one_fetch() {
        let flights = Arc::new(Flights::<String, u32>::default());
        let calls = Arc::new(AtomicUsize::new(0));
        let gate = Arc::new(tokio::sync::Notify::new());
        let mut tasks = Vec::new();
        for _ in 0..20 {
            let (f, c, g) = (flights.clone(), calls.clone(), gate.clone());
            tasks.push(tokio::spawn(async move {
                f.run("k".to_string(), || async move {
                    c.fetch_add(1, Ordering::SeqCst);
                    g.notified().await;
                    7
                })
                .await
            }));
        }
        // Let the fetch finish only once all 20 callers wait on it.
        while flights.waiters(&"k".to_string()) < 20 {
            tokio::task::yield_now().await;
        }
        gate.notify_one();
        for t in tasks {
            assert_eq!(t.await.unwrap(), 7);
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert_eq!(flights.in_flight(), 0);
    }
}
