//! The status reports, typed ([`roster_proto::admin`]): the whole one
//! (`Status` on `pam.sock`, the admin `status` command) and the public one
//! (`Status` on `nss.sock`: up, and each domain online or offline).
//!
//! The resolver describes its domains and cache as JSON
//! ([`roster_daemon::resolver::Resolver::status`]); this module reads that into the
//! protocol's types, so a field the resolver adds reaches `rosterctl` once
//! it is added to [`FullStatus`] (or [`DomainStatus`]) in `proto`.

use super::Context;
use roster_daemon::resolver::Resolver;
use roster_proto::admin::{
    CacheStats, DomainStatus, FullStatus, HitRate, PublicDomain, PublicStatus, RefusedEntry,
};
use roster_proto::Failure;

/// The whole status report: the resolver's domains and cache, rosterd's
/// process, the refused entries and the memory cache's path.
pub fn full(ctx: &Context) -> Result<FullStatus, Failure> {
    let r = &ctx.resolver;
    let mut report: FullStatus = serde_json::from_value(r.status())
        .map_err(|e| Failure::unavailable(format!("the resolver's status document: {e}")))?;
    report.cache = cache_stats(r)?;
    report.pid = std::process::id();
    report.process = super::procstat::snapshot();
    // Entries never served (ID collisions, local accounts, reserved IDs):
    // for the administrator only (this is pam.sock's report).
    report.refused_entries = refused_entries(r);
    report.memory_cache = ctx
        .memcache
        .as_ref()
        .map(|m| m.path().display().to_string());
    Ok(report)
}

/// The cache counters, with the hit rate computed from them.
pub fn cache_stats(r: &Resolver) -> Result<CacheStats, Failure> {
    let mut stats: CacheStats = serde_json::from_value(r.cache_stats())
        .map_err(|e| Failure::unavailable(format!("the cache counters: {e}")))?;
    stats.hit_rate = HitRate::of(stats.hits, stats.misses);
    Ok(stats)
}

/// The public report of the world-accessible `nss.sock`: whether the
/// daemon is up and each domain online or offline, nothing more (server
/// URIs and recent errors, which may name bind DNs or filters, are only
/// in the whole report on `pam.sock`).
pub fn public(r: &Resolver) -> PublicStatus {
    let domains: Vec<DomainStatus> = r.status()["domains"]
        .as_array()
        .map(|ds| {
            ds.iter()
                .filter_map(|d| serde_json::from_value(d.clone()).ok())
                .collect()
        })
        .unwrap_or_default();
    PublicStatus {
        state: "up".into(),
        domains: domains
            .into_iter()
            .map(|d| PublicDomain {
                name: d.name,
                online: d.online,
                state: if d.online { "online" } else { "offline" }.into(),
            })
            .collect(),
        details: "on pam.sock (root only)".into(),
    }
}

/// The resolver's refused entries, sorted.
fn refused_entries(r: &Resolver) -> Vec<RefusedEntry> {
    let mut list: Vec<RefusedEntry> = r
        .refused_entries()
        .into_iter()
        .map(|(domain, dn, reason)| RefusedEntry { domain, dn, reason })
        .collect();
    list.sort();
    list
}
