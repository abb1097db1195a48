//! DNS SRV discovery of an Active Directory domain's controllers and KDCs.
//!
//! An AD domain without `uris` finds its DCs in DNS, as Windows clients,
//! SSSD and winbind do: `_ldap._tcp.SITE._sites.dc._msdcs.DOMAIN` first
//! when `ad_site` is set, then `_ldap._tcp.dc._msdcs.DOMAIN` (the DCs of
//! the domain), or `_ldap._tcp.DOMAIN` when that name has no record. KDCs
//! come from `_kerberos._tcp.DOMAIN`. Each answer is put in RFC 2782
//! order ([`rfc2782_order`]: lowest priority first, weighted random choice
//! within a priority) and lives for its TTL; the pool (`super::conn`)
//! resolves again when it expires or when every server failed.
//!
//! The resolver is a trait ([`SrvResolver`]) so that tests give canned
//! answers; rosterd uses [`SystemResolver`] (hickory-resolver, configured
//! from `/etc/resolv.conf`).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// The shortest time a discovered list is kept, whatever the records' TTL
/// (a TTL of 0 would resolve again for every connection).
pub const MIN_TTL: Duration = Duration::from_secs(30);

/// One SRV record: where a service answers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvTarget {
    /// Lower is preferred.
    pub priority: u16,
    /// Relative share among records of the same priority.
    pub weight: u16,
    /// TCP port.
    pub port: u16,
    /// Host name, lower case, without the trailing dot.
    pub host: String,
}

impl SrvTarget {
    /// `ldap://host:port`.
    pub fn ldap_uri(&self) -> String {
        format!("ldap://{}:{}", self.host, self.port)
    }
}

/// The answer to one SRV query, in the server's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrvAnswer {
    /// The records (a single `.` target, "service not offered", is dropped
    /// by `SrvAnswer::usable`).
    pub targets: Vec<SrvTarget>,
    /// How long the answer may be cached (its records' smallest TTL).
    pub ttl: Duration,
}

impl SrvAnswer {
    /// The records that name a host (RFC 2782: a target of `.` means the
    /// service is decidedly not available at this domain).
    fn usable(self) -> Vec<SrvTarget> {
        self.targets
            .into_iter()
            .filter(|t| !t.host.is_empty() && t.host != ".")
            .collect()
    }
}

/// Why a query gave no server.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DiscoveryError {
    /// The name does not exist or has no SRV record.
    #[error("{name}: no SRV record")]
    NotFound {
        /// The name asked.
        name: String,
    },
    /// The query failed (no DNS server answered, timeout, bad answer).
    #[error("{name}: {reason}")]
    Failed {
        /// The name asked.
        name: String,
        /// The resolver's error.
        reason: String,
    },
}

/// A future of one SRV query.
pub type SrvFuture<'a> =
    Pin<Box<dyn Future<Output = Result<SrvAnswer, DiscoveryError>> + Send + 'a>>;

/// Something that answers SRV queries.
pub trait SrvResolver: Send + Sync {
    /// The SRV records of `name` (a fully qualified name, no trailing dot).
    fn srv<'a>(&'a self, name: &'a str) -> SrvFuture<'a>;
}

/// The system's resolver: hickory-resolver with `/etc/resolv.conf`'s
/// name servers and options, read anew for every query (queries are rare:
/// their answers are kept for their TTL).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl SrvResolver for SystemResolver {
    fn srv<'a>(&'a self, name: &'a str) -> SrvFuture<'a> {
        Box::pin(async move {
            let failed = |reason: String| DiscoveryError::Failed {
                name: name.to_string(),
                reason,
            };
            let resolver = hickory_resolver::TokioResolver::builder_tokio()
                .map_err(|e| failed(format!("reading /etc/resolv.conf: {e}")))?
                .build();
            // Fully qualified: no search domain is appended.
            let lookup = match resolver.srv_lookup(format!("{name}.")).await {
                Ok(l) => l,
                Err(e) if e.is_nx_domain() || e.is_no_records_found() => {
                    return Err(DiscoveryError::NotFound {
                        name: name.to_string(),
                    })
                }
                Err(e) => return Err(failed(e.to_string())),
            };
            let ttl = lookup
                .as_lookup()
                .valid_until()
                .saturating_duration_since(std::time::Instant::now());
            let targets = lookup
                .iter()
                .map(|srv| SrvTarget {
                    priority: srv.priority(),
                    weight: srv.weight(),
                    port: srv.port(),
                    host: srv
                        .target()
                        .to_ascii()
                        .trim_end_matches('.')
                        .to_ascii_lowercase(),
                })
                .collect();
            Ok(SrvAnswer { targets, ttl })
        })
    }
}

/// Servers found in DNS, in the order to try them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Discovered {
    /// The servers, preferred first.
    pub servers: Vec<SrvTarget>,
    /// The names that answered, in order.
    pub names: Vec<String>,
    /// How long the list may be kept (the smallest TTL, at least
    /// [`MIN_TTL`]).
    pub ttl: Duration,
}

/// RFC 2782 order: priorities ascending; within one priority a weighted
/// random choice, repeated: records of weight 0 first, then the running
/// sums of the weights, a number in `0..=sum` from `pick(sum)`, and the
/// first record whose running sum reaches it is next.
pub fn rfc2782_order(
    mut targets: Vec<SrvTarget>,
    mut pick: impl FnMut(u32) -> u32,
) -> Vec<SrvTarget> {
    targets.sort_by_key(|t| t.priority);
    let mut out = Vec::with_capacity(targets.len());
    let mut rest = targets.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut group = vec![first];
        while let Some(t) = rest.next_if(|t| t.priority == group[0].priority) {
            group.push(t);
        }
        // Weight 0 at the beginning (stable otherwise).
        group.sort_by_key(|t| t.weight != 0);
        while !group.is_empty() {
            let sum: u32 = group.iter().map(|t| u32::from(t.weight)).sum();
            let r = pick(sum).min(sum);
            let mut running = 0u32;
            let mut chosen = group.len() - 1;
            for (i, t) in group.iter().enumerate() {
                running += u32::from(t.weight);
                if running >= r {
                    chosen = i;
                    break;
                }
            }
            out.push(group.remove(chosen));
        }
    }
    out
}

/// A uniformly random number in `0..=max`.
pub fn random_pick(max: u32) -> u32 {
    use rand::Rng;
    rand::thread_rng().gen_range(0..=max)
}

/// The SRV names of a domain's DCs, in the order they are asked.
pub fn dc_names(domain: &str, site: Option<&str>) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(s) = site {
        names.push(format!("_ldap._tcp.{s}._sites.dc._msdcs.{domain}"));
    }
    names.push(format!("_ldap._tcp.dc._msdcs.{domain}"));
    names.push(format!("_ldap._tcp.{domain}"));
    names
}

/// The domain controllers of `domain` (its DNS name): the site's first
/// (when `site` is given), then the domain's other DCs; the domain's from
/// `_ldap._tcp.dc._msdcs.DOMAIN`, or `_ldap._tcp.DOMAIN` when that has no
/// record. Each list in RFC 2782 order (`pick` as in [`rfc2782_order`]).
pub async fn domain_controllers(
    resolver: &dyn SrvResolver,
    domain: &str,
    site: Option<&str>,
    mut pick: impl FnMut(u32) -> u32,
) -> Result<Discovered, DiscoveryError> {
    let names = dc_names(domain, site);
    let mut found = Discovered {
        servers: Vec::new(),
        names: Vec::new(),
        ttl: Duration::MAX,
    };
    let mut add = |found: &mut Discovered, name: &str, answer: SrvAnswer| {
        found.ttl = found.ttl.min(answer.ttl);
        let targets = rfc2782_order(answer.usable(), &mut pick);
        if targets.is_empty() {
            return;
        }
        found.names.push(name.to_string());
        for t in targets {
            if !found
                .servers
                .iter()
                .any(|s| s.host == t.host && s.port == t.port)
            {
                found.servers.push(t);
            }
        }
    };
    let mut errors = Vec::new();
    let domain_names = if site.is_some() {
        // A missing or failing site name is not fatal: the domain's DCs
        // still serve.
        match resolver.srv(&names[0]).await {
            Ok(a) => add(&mut found, &names[0], a),
            Err(e) => {
                tracing::debug!(name = %names[0], error = %e, "no DC of the site in DNS");
                errors.push(e);
            }
        }
        &names[1..]
    } else {
        &names[..]
    };
    match resolver.srv(&domain_names[0]).await {
        Ok(a) => add(&mut found, &domain_names[0], a),
        Err(e @ DiscoveryError::NotFound { .. }) => {
            errors.push(e);
            match resolver.srv(&domain_names[1]).await {
                Ok(a) => add(&mut found, &domain_names[1], a),
                Err(e) => errors.push(e),
            }
        }
        Err(e) => errors.push(e),
    }
    finish(found, errors, &domain_names[0])
}

/// The KDCs of `domain` (its DNS name): `_kerberos._tcp.DOMAIN`, in RFC
/// 2782 order.
pub async fn kdcs(
    resolver: &dyn SrvResolver,
    domain: &str,
    mut pick: impl FnMut(u32) -> u32,
) -> Result<Discovered, DiscoveryError> {
    let name = format!("_kerberos._tcp.{domain}");
    let answer = resolver.srv(&name).await?;
    let ttl = answer.ttl;
    let servers = rfc2782_order(answer.usable(), &mut pick);
    let found = Discovered {
        names: if servers.is_empty() {
            Vec::new()
        } else {
            vec![name.clone()]
        },
        servers,
        ttl,
    };
    finish(found, Vec::new(), &name)
}

/// `found`, with its TTL at least [`MIN_TTL`]; or, when it holds no
/// server, the most telling error (a failure before "no record").
fn finish(
    mut found: Discovered,
    errors: Vec<DiscoveryError>,
    main_name: &str,
) -> Result<Discovered, DiscoveryError> {
    if found.servers.is_empty() {
        let failure = errors
            .iter()
            .find(|e| matches!(e, DiscoveryError::Failed { .. }))
            .cloned();
        return Err(failure.unwrap_or_else(|| DiscoveryError::NotFound {
            name: main_name.to_string(),
        }));
    }
    found.ttl = found.ttl.max(MIN_TTL);
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;
    use std::sync::Mutex;

    /// Canned answers by name; records every name asked.
    #[derive(Default)]
    struct FakeResolver {
        answers: HashMap<String, Result<SrvAnswer, DiscoveryError>>,
        asked: Mutex<Vec<String>>,
    }

    impl FakeResolver {
        fn with(mut self, name: &str, targets: &[(u16, u16, &str)], ttl: u64) -> Self {
            let targets = targets
                .iter()
                .map(|(priority, weight, host)| SrvTarget {
                    priority: *priority,
                    weight: *weight,
                    port: 389,
                    host: host.to_string(),
                })
                .collect();
            self.answers.insert(
                name.into(),
                Ok(SrvAnswer {
                    targets,
                    ttl: Duration::from_secs(ttl),
                }),
            );
            self
        }
        fn failing(mut self, name: &str) -> Self {
            self.answers.insert(
                name.into(),
                Err(DiscoveryError::Failed {
                    name: name.into(),
                    reason: "timed out".into(),
                }),
            );
            self
        }
    }

    impl SrvResolver for FakeResolver {
        fn srv<'a>(&'a self, name: &'a str) -> SrvFuture<'a> {
            self.asked.lock().unwrap().push(name.to_string());
            let a = self
                .answers
                .get(name)
                .cloned()
                .unwrap_or(Err(DiscoveryError::NotFound { name: name.into() }));
            Box::pin(async move { a })
        }
    }

    fn t(priority: u16, weight: u16, host: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 389,
            host: host.into(),
        }
    }

    fn hosts(v: &[SrvTarget]) -> Vec<&str> {
        v.iter().map(|t| t.host.as_str()).collect()
    }

    fn block_on<F: Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn lower_priority_always_comes_first() {
        let v = vec![t(20, 100, "c"), t(0, 1, "a"), t(10, 0, "b"), t(20, 0, "d")];
        for pick in [0u32, 1, 50, 100, u32::MAX] {
            let o = rfc2782_order(v.clone(), |_| pick);
            assert_eq!(o[0].host, "a");
            assert_eq!(o[1].host, "b");
            let last: Vec<&str> = hosts(&o[2..]);
            assert!(last == ["c", "d"] || last == ["d", "c"], "{last:?}");
        }
    }

    #[test]
    fn weights_choose_by_running_sum() {
        // Running sums 0 (w0), 10 (a), 100 (b): a pick of 0 takes the
        // weight-0 record, 1..=10 takes a, 11..=100 takes b.
        let v = vec![t(0, 10, "a"), t(0, 90, "b"), t(0, 0, "z")];
        assert_eq!(hosts(&rfc2782_order(v.clone(), |_| 0)), ["z", "a", "b"]);
        let mut picks = vec![50u32, 5].into_iter();
        // First pick 50 of 100: b; then 5 of 10 (a then z): a; then z.
        assert_eq!(
            hosts(&rfc2782_order(v.clone(), |_| picks.next().unwrap_or(0))),
            ["b", "a", "z"]
        );
        let mut picks = vec![10u32].into_iter();
        assert_eq!(
            hosts(&rfc2782_order(v, |_| picks.next().unwrap_or(0))),
            ["a", "z", "b"]
        );
    }

    #[test]
    fn random_weights_follow_the_shares() {
        let v = vec![t(0, 90, "heavy"), t(0, 10, "light")];
        let heavy_first = (0..2000)
            .filter(|_| rfc2782_order(v.clone(), random_pick)[0].host == "heavy")
            .count();
        // 90% expected; far from either bound for any fair generator.
        assert!((1600..=1960).contains(&heavy_first), "{heavy_first}");
    }

    #[test]
    fn domain_dcs_then_fallback_name() {
        let r = FakeResolver::default().with(
            "_ldap._tcp.dc._msdcs.ad.example.test",
            &[
                (10, 0, "dc2.ad.example.test"),
                (0, 0, "dc1.ad.example.test"),
            ],
            600,
        );
        let d = block_on(domain_controllers(&r, "ad.example.test", None, |_| 0)).unwrap();
        assert_eq!(
            hosts(&d.servers),
            ["dc1.ad.example.test", "dc2.ad.example.test"]
        );
        assert_eq!(d.servers[0].ldap_uri(), "ldap://dc1.ad.example.test:389");
        assert_eq!(d.ttl, Duration::from_secs(600));
        assert_eq!(r.asked.lock().unwrap().len(), 1, "no fallback needed");

        let r = FakeResolver::default().with("_ldap._tcp.ad.example.test", &[(0, 0, "x")], 5);
        let d = block_on(domain_controllers(&r, "ad.example.test", None, |_| 0)).unwrap();
        assert_eq!(hosts(&d.servers), ["x"]);
        assert_eq!(d.names, ["_ldap._tcp.ad.example.test"]);
        assert_eq!(d.ttl, MIN_TTL, "a tiny TTL is raised to the minimum");
        assert_eq!(
            *r.asked.lock().unwrap(),
            [
                "_ldap._tcp.dc._msdcs.ad.example.test",
                "_ldap._tcp.ad.example.test"
            ]
        );
    }

    #[test]
    fn site_dcs_come_first_and_are_not_repeated() {
        let r = FakeResolver::default()
            .with(
                "_ldap._tcp.dc._msdcs.ad.example.test",
                &[(0, 0, "far"), (0, 0, "near")],
                900,
            )
            .with(
                "_ldap._tcp.Branch._sites.dc._msdcs.ad.example.test",
                &[(0, 0, "near")],
                300,
            );
        let d = block_on(domain_controllers(
            &r,
            "ad.example.test",
            Some("Branch"),
            |_| 0,
        ))
        .unwrap();
        assert_eq!(hosts(&d.servers), ["near", "far"]);
        assert_eq!(d.ttl, Duration::from_secs(300), "the smallest TTL");
        // A site without records: the domain's DCs.
        let d = block_on(domain_controllers(
            &r,
            "ad.example.test",
            Some("Nowhere"),
            |_| 0,
        ))
        .unwrap();
        assert_eq!(hosts(&d.servers), ["far", "near"]);
    }

    #[test]
    fn failures_and_unavailable_service() {
        let r = FakeResolver::default().failing("_ldap._tcp.dc._msdcs.ad.example.test");
        let e = block_on(domain_controllers(&r, "ad.example.test", None, |_| 0)).unwrap_err();
        assert!(
            matches!(&e, DiscoveryError::Failed { reason, .. } if reason == "timed out"),
            "{e}"
        );
        // Not found anywhere.
        let r = FakeResolver::default();
        let e = block_on(domain_controllers(&r, "ad.example.test", None, |_| 0)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "_ldap._tcp.dc._msdcs.ad.example.test: no SRV record"
        );
        // "." : the service is decidedly not offered.
        let r = FakeResolver::default().with("_kerberos._tcp.ad.example.test", &[(0, 0, ".")], 60);
        assert!(block_on(kdcs(&r, "ad.example.test", |_| 0)).is_err());
        let r = FakeResolver::default().with(
            "_kerberos._tcp.ad.example.test",
            &[(1, 0, "kdc2"), (0, 0, "kdc1")],
            60,
        );
        let k = block_on(kdcs(&r, "ad.example.test", |_| 0)).unwrap();
        assert_eq!(hosts(&k.servers), ["kdc1", "kdc2"]);
    }
}
