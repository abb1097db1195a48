//! The `Status` document and cache statistics.

use super::Resolver;
use serde_json::{json, Value};
use std::sync::atomic::Ordering;

impl Resolver {
    /// Cache counters: entries, hits, misses, hit rate, offline answers.
    pub fn cache_stats(&self) -> Value {
        let s = &self.inner.stats;
        let hits = s.hits.load(Ordering::Relaxed);
        let misses = s.misses.load(Ordering::Relaxed);
        let total = hits + misses;
        json!({
            "entries": self.inner.cache.len(),
            "max_entries": self.settings().max_entries,
            "persistent_entries": self.inner.store.as_ref().map_or(0, |st| st.len()),
            "persistent_writes_dropped": self.inner.store.as_ref().map_or(0, |st| st.dropped_writes()),
            "hits": hits,
            "misses": misses,
            "hit_rate": if total == 0 { 0.0 } else { hits as f64 / total as f64 },
            "offline_answers": s.offline.load(Ordering::Relaxed),
            "lookups_in_flight": self.inner.flights.in_flight(),
        })
    }

    /// The whole status document: version, uptime, domains, cache.
    pub fn status(&self) -> Value {
        let domains: Vec<Value> = self
            .domains()
            .iter()
            .map(|d| {
                let mut st = d.status();
                if let Some(obj) = st.as_object_mut() {
                    obj.insert("name".into(), json!(d.name()));
                } else {
                    st = json!({ "name": d.name(), "state": st });
                }
                st
            })
            .collect();
        json!({
            "version": env!("CARGO_PKG_VERSION"),
            "uptime_s": self.inner.started.elapsed().as_secs(),
            "enumerate": self.settings().enumerate,
            "domains": domains,
            "cache": self.cache_stats(),
        })
    }
}
