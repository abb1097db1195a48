//! The resolver's part of the status report and its cache counters, as the
//! protocol's types ([`roster_proto::admin`]): no JSON in between.

use super::Resolver;
use roster_proto::admin::{CacheStats, DomainStatus, FullStatus, HitRate};
use serde::Serialize;
use std::sync::atomic::Ordering;

/// What the resolver reports: its version, uptime, domains and cache.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ResolverStatus {
    /// rosterd's version.
    pub version: String,
    /// Seconds since the resolver started.
    pub uptime_s: u64,
    /// `[cache] enumerate`.
    pub enumerate: bool,
    /// Each enabled domain, in order.
    pub domains: Vec<DomainStatus>,
    /// Cache counters.
    pub cache: CacheStats,
}

/// The resolver's fields of the whole report; the daemon fills in the rest
/// (process, refused entries, memory cache).
impl From<ResolverStatus> for FullStatus {
    fn from(s: ResolverStatus) -> FullStatus {
        FullStatus {
            version: s.version,
            uptime_s: s.uptime_s,
            enumerate: s.enumerate,
            domains: s.domains,
            cache: s.cache,
            ..FullStatus::default()
        }
    }
}

impl Resolver {
    /// Cache counters: entries, hits, misses, hit rate, offline answers.
    pub fn cache_stats(&self) -> CacheStats {
        let s = &self.inner.stats;
        let hits = s.hits.load(Ordering::Relaxed);
        let misses = s.misses.load(Ordering::Relaxed);
        let store = self.inner.store.as_ref();
        CacheStats {
            entries: self.inner.cache.len() as u64,
            max_entries: self.settings().max_entries as u64,
            persistent_entries: store.map_or(0, |st| st.len() as u64),
            persistent_writes_dropped: store.map_or(0, |st| st.dropped_writes()),
            hits,
            misses,
            hit_rate: HitRate::of(hits, misses),
            offline_answers: s.offline.load(Ordering::Relaxed),
            lookups_in_flight: self.inner.flights.in_flight() as u64,
            // rosterd's publisher adds it (the resolver does not own nss.mc).
            memory_cache: None,
        }
    }

    /// The resolver's status: version, uptime, each domain's connection
    /// state (named as configured), cache counters.
    pub fn status(&self) -> ResolverStatus {
        let domains = self
            .domains()
            .iter()
            .map(|d| DomainStatus {
                name: d.name().to_string(),
                census: self.census_status(d.name()),
                ..d.status()
            })
            .collect();
        ResolverStatus {
            version: env!("CARGO_PKG_VERSION").to_string(),
            uptime_s: self.inner.started.elapsed().as_secs(),
            enumerate: self.settings().enumerate,
            domains,
            cache: self.cache_stats(),
        }
    }
}
