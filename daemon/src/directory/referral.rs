//! Referrals (RFC 4511 §4.1.10) and search continuation references
//! (§4.5.3): followed for searches with the domain's service account and
//! TLS settings, at most `referral_hops` deep, each target searched once per
//! search (loop detection). The service credentials only go to hosts the
//! administrator allowed (a host of `uris`, or one matching
//! `referral_hosts`); any other referral is skipped and logged once with
//! its URL. Connections to referral targets are kept for reuse and are
//! bounded like the domain's own.

use super::search::{self, Entry, Found, Query, SearchFail};
use super::{Directory, DirectoryError};
use crate::config::DomainConfig;
use crate::dn;
use crate::filter;
use crate::uri::{self, Scheme};
use ldap3::{Ldap, Scope};
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Referral counters and reusable connections of one domain.
#[derive(Default)]
pub(crate) struct Referrals {
    seen: AtomicU64,
    followed: AtomicU64,
    skipped: AtomicU64,
    /// Skipped URLs already logged (each is logged once).
    logged: Mutex<HashSet<String>>,
    /// Bound connections to referral targets, by `scheme://host:port`.
    conns: tokio::sync::Mutex<HashMap<String, Ldap>>,
}

/// Referral counts since the domain's directory was set up, for
/// `rosterctl test`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ReferralCounts {
    /// Referral URLs received (referral results and continuation references).
    pub seen: u64,
    /// Referrals searched.
    pub followed: u64,
    /// Referrals not followed (host not allowed, too deep, a loop, a bad
    /// URL, or following turned off).
    pub skipped: u64,
    /// The skipped URLs, each with the reason (not those skipped because
    /// following is off).
    pub skipped_urls: Vec<String>,
}

/// Where a referral URL points.
#[derive(Debug)]
pub(crate) struct Target {
    /// `scheme://host:port`: the server to connect to.
    pub server: String,
    /// The host, lowercase, without brackets.
    pub host: String,
    /// The DN part, decoded (none when empty).
    pub base: Option<String>,
    /// The scope part.
    pub scope: Option<Scope>,
    /// The filter part, decoded.
    pub filter: Option<String>,
}

/// Parses an LDAP URL (RFC 4516): `ldap[s]://host[:port]/dn?attrs?scope?filter?ext`.
pub(crate) fn parse(url: &str) -> Result<Target, String> {
    let u = uri::parse(url).map_err(|e| e.to_string())?;
    if u.scheme == Scheme::Ldapi {
        return Err("not an ldap:// or ldaps:// URL".into());
    }
    if u.host.is_empty() {
        return Err("no host".into());
    }
    if let Some(f) = &u.filter {
        if !filter::is_valid(f) {
            return Err(format!("bad filter {f:?}"));
        }
    }
    let server = u.server().ok_or("no server")?;
    Ok(Target {
        server,
        host: u.host.to_ascii_lowercase(),
        base: u.base,
        scope: u.scope,
        filter: u.filter,
    })
}

/// True when referrals may lead to `host`: a host of the domain's `uris`,
/// or one matching `referral_hosts` (a name, or `*.example.com` for any
/// name below example.com).
pub(crate) fn host_allowed(cfg: &DomainConfig, host: &str) -> bool {
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let own = cfg
        .uris
        .iter()
        .filter_map(|u| uri::parse(u).ok())
        .any(|u| u.host.eq_ignore_ascii_case(&host));
    own || cfg.referral_hosts.iter().any(|p| {
        let p = p.to_ascii_lowercase();
        match p.strip_prefix("*.") {
            Some(suffix) => host
                .strip_suffix(suffix)
                .is_some_and(|head| head.len() > 1 && head.ends_with('.')),
            None => p == host,
        }
    })
}

fn scope_name(s: Scope) -> &'static str {
    match s {
        Scope::Base => "base",
        Scope::OneLevel => "one",
        Scope::Subtree => "sub",
    }
}

impl Referrals {
    /// The counters and the skipped URLs.
    pub(crate) fn counts(&self) -> ReferralCounts {
        let mut skipped_urls: Vec<String> = self
            .logged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .cloned()
            .collect();
        skipped_urls.sort();
        ReferralCounts {
            seen: self.seen.load(Ordering::Relaxed),
            followed: self.followed.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            skipped_urls,
        }
    }

    fn skip(&self, domain: &str, url: &str, why: &str) {
        self.skipped.fetch_add(1, Ordering::Relaxed);
        let first = self
            .logged
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(format!("{url} ({why})"));
        if first {
            tracing::warn!(%domain, %url, reason = %why, "referral not followed");
        }
    }
}

impl Directory {
    /// Referral counts of this domain (see [`ReferralCounts`]).
    pub fn referral_counts(&self) -> ReferralCounts {
        self.referrals.counts()
    }

    /// Follows the referral URLs `refs` that `origin` gave for `q`: the
    /// entries found behind them, and the first error of a target that could
    /// not be searched (the entries of the others are still returned).
    pub(crate) async fn chase<E: Entry>(
        &self,
        q: &Query,
        refs: Vec<String>,
        page: Option<u32>,
        origin: &str,
    ) -> (Vec<E>, Option<DirectoryError>) {
        let name = &self.cfg.name;
        let stats = &self.referrals;
        if !self.cfg.follows_referrals() {
            // Counted, not logged: the administrator turned following off
            // (an AD DC gives references to its DNS partitions every time).
            let n = refs.len() as u64;
            stats.seen.fetch_add(n, Ordering::Relaxed);
            stats.skipped.fetch_add(n, Ordering::Relaxed);
            tracing::debug!(domain = %name, refs = ?refs, "referrals not followed (referrals = false)");
            return (Vec::new(), None);
        }
        let mut visited: HashSet<(String, String, &'static str)> = HashSet::new();
        if let Some(server) = uri::parse(origin).ok().and_then(|u| u.server()) {
            let hostport = server.split_once("://").map_or("", |(_, r)| r);
            visited.insert((
                hostport.to_string(),
                dn::normalize(&q.base),
                scope_name(q.scope),
            ));
        }
        let mut pending: VecDeque<(String, u32, Query)> =
            refs.into_iter().map(|r| (r, 1, q.clone())).collect();
        let mut out = Vec::new();
        let mut failure = None;
        while let Some((url, hop, parent)) = pending.pop_front() {
            stats.seen.fetch_add(1, Ordering::Relaxed);
            if hop > self.cfg.referral_hops {
                let why = format!("more than referral_hops = {}", self.cfg.referral_hops);
                stats.skip(name, &url, &why);
                continue;
            }
            let t = match parse(&url) {
                Ok(t) => t,
                Err(m) => {
                    stats.skip(name, &url, &format!("bad URL: {m}"));
                    continue;
                }
            };
            if !host_allowed(&self.cfg, &t.host) {
                stats.skip(name, &url, "host is not in uris or referral_hosts");
                continue;
            }
            let sub = Query {
                base: t.base.clone().unwrap_or_else(|| parent.base.clone()),
                scope: t.scope.unwrap_or(parent.scope),
                filter: match &t.filter {
                    Some(f) => filter::and(&parent.filter, f),
                    None => parent.filter.clone(),
                },
                attrs: parent.attrs.clone(),
            };
            let hostport = t.server.split_once("://").map_or("", |(_, r)| r);
            let key = (
                hostport.to_string(),
                dn::normalize(&sub.base),
                scope_name(sub.scope),
            );
            if !visited.insert(key) {
                stats.skip(name, &url, "a loop: already searched in this search");
                continue;
            }
            stats.followed.fetch_add(1, Ordering::Relaxed);
            match self.search_at(&t.server, &sub, page).await {
                Ok(found) => {
                    out.extend(found.entries);
                    pending.extend(found.refs.into_iter().map(|r| (r, hop + 1, sub.clone())));
                }
                Err(e) => {
                    tracing::warn!(domain = %name, %url, error = %e, "referral target cannot be searched");
                    failure.get_or_insert(e);
                }
            }
        }
        (out, failure)
    }

    /// One search on referral target `server` (a kept connection, or a new
    /// one bound as the service account; a broken kept one is replaced
    /// once), bounded by `op_timeout`.
    async fn search_at<E: Entry>(
        &self,
        server: &str,
        q: &Query,
        page: Option<u32>,
    ) -> Result<Found<E>, DirectoryError> {
        let op = self.cfg.op_timeout;
        let unavailable = |m: String| {
            DirectoryError::unavailable(format!(
                "domain \"{}\": referral target {server}: {m}",
                self.cfg.name
            ))
        };
        for _ in 0..2 {
            let kept = self.referrals.conns.lock().await.get(server).cloned();
            let fresh = kept.is_none();
            let ldap = match kept {
                Some(l) => l,
                None => {
                    let l = self.pool.connect_and_bind(server).await?;
                    self.referrals
                        .conns
                        .lock()
                        .await
                        .insert(server.to_string(), l.clone());
                    l
                }
            };
            let res = tokio::time::timeout(op, search::run(ldap, q, page, None))
                .await
                .unwrap_or(Err(SearchFail::Timeout));
            let msg = match res {
                Ok(found) => return Ok(found),
                Err(SearchFail::SizeLimit) if page.is_none() => {
                    return Box::pin(self.search_at(server, q, Some(self.cfg.page_size))).await
                }
                Err(SearchFail::SizeLimit) => "size limit exceeded".to_string(),
                Err(SearchFail::Server(e)) => return Err(e),
                Err(SearchFail::Timeout) => format!("no answer within op_timeout {op:?}"),
                // (Another paged search on this shared connection: a new
                // connection is made below.)
                Err(SearchFail::Connection(m) | SearchFail::PagedCookie(m)) => m,
            };
            self.referrals.conns.lock().await.remove(server);
            if fresh {
                return Err(unavailable(msg));
            }
        }
        Err(unavailable("connection lost twice".into()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_parsed() {
        let t = parse("ldap://127.0.0.1:3890/ou=remote,dc=example,dc=test??sub").unwrap();
        assert_eq!(t.server, "ldap://127.0.0.1:3890");
        assert_eq!(t.host, "127.0.0.1");
        assert_eq!(t.base.as_deref(), Some("ou=remote,dc=example,dc=test"));
        assert_eq!(t.scope.map(scope_name), Some("sub"));
        assert_eq!(t.filter, None);
        let t = parse("LDAPS://DC1.Example.com/ou=a%20b,dc=x?cn?one?(uid=a%2Ab)").unwrap();
        assert_eq!(t.server, "ldaps://dc1.example.com:636");
        assert_eq!(t.base.as_deref(), Some("ou=a b,dc=x"));
        assert_eq!(t.scope.map(scope_name), Some("one"));
        assert_eq!(t.filter.as_deref(), Some("(uid=a*b)"));
        let t = parse("ldap://[::1]:1389").unwrap();
        assert_eq!((t.server.as_str(), t.base), ("ldap://[::1]:1389", None));
        assert!(parse("http://x/").is_err());
        assert!(parse("ldap:///dc=x").is_err());
        assert!(parse("ldap://h/dc=x??weird").is_err());
        assert!(parse("ldap://h/dc=x???(bad").is_err());
    }

    fn cfg(uris: &[&str], hosts: &[&str]) -> DomainConfig {
        let text = format!(
            "[[domain]]\nname = \"t\"\nuris = {uris:?}\nbase_dn = \"dc=x\"\nreferral_hosts = {hosts:?}\n"
        );
        crate::config::Config::from_str(&text, "t.toml")
            .unwrap()
            .domains
            .remove(0)
    }

    #[test]
    fn only_allowed_hosts_are_followed() {
        let c = cfg(
            &["ldap://ldap1.example.com:389", "ldaps://10.0.0.1"],
            &["*.corp.example.com", "backup.example.org"],
        );
        assert!(host_allowed(&c, "ldap1.example.com"));
        assert!(host_allowed(&c, "LDAP1.example.com."));
        assert!(host_allowed(&c, "10.0.0.1"));
        assert!(host_allowed(&c, "dc.corp.example.com"));
        assert!(host_allowed(&c, "a.b.corp.example.com"));
        assert!(host_allowed(&c, "backup.example.org"));
        assert!(!host_allowed(&c, "corp.example.com"));
        assert!(!host_allowed(&c, "evilcorp.example.com"));
        assert!(!host_allowed(&c, "ldap2.example.com"));
        assert!(!host_allowed(&c, "x.backup.example.org"));
        assert!(!host_allowed(&c, "localhost"));
    }
}
