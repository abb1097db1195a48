//! The status reports, typed ([`roster_proto::admin`]): the whole one
//! (`Status` on `pam.sock`, the admin `status` command) and the public one
//! (`Status` on `nss.sock`: up, and each domain online or offline).
//!
//! The resolver reports its domains and cache in the protocol's types
//! ([`roster_daemon::resolver::Resolver::status`]); this module adds rosterd's
//! process, the refused entries and the memory cache.

use super::Context;
use roster_daemon::resolver::Resolver;
use roster_proto::admin::{FullStatus, PublicDomain, PublicStatus, RefusedEntry};

/// The whole status report: the resolver's domains and cache, rosterd's
/// process, the refused entries and the memory cache's path.
pub fn full(ctx: &Context) -> FullStatus {
    let r = &ctx.resolver;
    let mut report = FullStatus::from(r.status());
    report.pid = std::process::id();
    report.process = super::procstat::snapshot();
    // Entries never served (ID collisions, local accounts, reserved IDs):
    // for the administrator only (this is pam.sock's report).
    report.refused_entries = refused_entries(r);
    report.cache.memory_cache = ctx.memcache.as_ref().and_then(|m| m.stats());
    report.memory_cache = ctx
        .memcache
        .as_ref()
        .map(|m| m.path().display().to_string());
    report
}

/// The public report of the world-accessible `nss.sock`: whether the
/// daemon is up and each domain online or offline, nothing more (server
/// URIs and recent errors, which may name bind DNs or filters, are only
/// in the whole report on `pam.sock`).
pub fn public(r: &Resolver) -> PublicStatus {
    PublicStatus {
        state: "up".into(),
        domains: r
            .status()
            .domains
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
