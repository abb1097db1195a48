//! Each ID is owned by one domain: the load-time checks of the domains' ID
//! spaces, with file:line:key errors.
//!
//! - With more than one enabled domain, every enabled `rfc2307` domain
//!   needs `range_low` and `range_high`: without them nothing keeps its
//!   directory's uidNumbers out of another domain's IDs.
//! - A range (rfc2307, rid, an sss slice pool, an autorid pool) may not
//!   reach below the domain's `min_id` or `[nss] min_id` (IDs there belong
//!   to local accounts, and the NSS module never asks about them), nor
//!   overlap another domain's range. sss domains with identical parameters
//!   share one slice pool, autorid domains with the same pool share it:
//!   those are one range, not an overlap.
//! - A range holding a reserved ID (65534 `nobody`/`nogroup`, 65535, and
//!   4294967295, which is `(uid_t)-1`) is accepted with a warning: winbind
//!   and SSSD accept such ranges too (Samba's own examples use
//!   `10000-999999`), and the reserved IDs themselves are never served —
//!   an object mapped to one is refused and logged when it is looked up.

use super::error::ConfigError;
use super::idmap::IdmapConfig;
use super::source::{Place, Source};
use super::Config;
use roster_idmap::{Backend, ResolvedBackend};

/// The reserved IDs a range can hold (0 cannot: `min_id` is at least 1);
/// the resolver refuses every reserved ID at run time.
const RESERVED_IDS: [u32; 3] = [65_534, 65_535, u32::MAX];

/// One domain's claimed span, for the overlap check.
struct Claim<'a> {
    index: usize,
    name: &'a str,
    backend: ResolvedBackend,
    low: u32,
    high: u32,
}

/// The idmap keys that hold the low and high end of a backend's range.
fn range_keys(backend: Backend) -> (&'static str, &'static str) {
    match backend {
        Backend::Rfc2307 | Backend::Rid => ("range_low", "range_high"),
        Backend::Sss => ("range_min", "range_max"),
        Backend::Autorid => ("autorid_low", "autorid_high"),
    }
}

/// True when two domains' backends are one shared pool (identical sss
/// parameters, or the same autorid pool).
fn shared(a: &ResolvedBackend, b: &ResolvedBackend) -> bool {
    match (a, b) {
        (ResolvedBackend::Sss(p), ResolvedBackend::Sss(q)) => p == q,
        (ResolvedBackend::Autorid(p), ResolvedBackend::Autorid(q)) => {
            (p.low, p.high, p.rangesize) == (q.low, q.high, q.rangesize)
        }
        _ => false,
    }
}

/// Checks the ID spaces of all domains together. Returns the warnings
/// (file:line: key: message) about ranges holding reserved IDs.
pub(crate) fn check(cfg: &Config, src: &Source<'_>) -> Result<Vec<String>, ConfigError> {
    let several = cfg.enabled_domains().count() > 1;
    let nss_min = cfg.nss.min_id;
    let mut claims: Vec<Claim<'_>> = Vec::new();
    let mut warnings = Vec::new();
    for (i, d) in cfg.domains.iter().enumerate() {
        let place = Place::Domain {
            index: i,
            name: &d.name,
        };
        let err = |key: &str, msg: String| src.key_error(place, &format!("idmap.{key}"), msg);
        // The range without the min_id/max_id bounds (checked here, with
        // the key); other settings errors are reported by the idmap check
        // that follows, with the idmap crate's message.
        let Ok(backend) = d.idmap.settings().validate(&d.name, 1, 0) else {
            continue;
        };
        let (low_key, high_key) = range_keys(d.idmap.backend());
        let Some((low, high)) = backend.span() else {
            if several && d.enabled {
                let missing = if matches!(
                    d.idmap,
                    IdmapConfig::Rfc2307 {
                        range_low: None,
                        ..
                    }
                ) {
                    low_key
                } else {
                    high_key
                };
                return Err(err(
                    missing,
                    "with more than one domain, an rfc2307 domain needs range_low and \
                     range_high: without them its uidNumbers and gidNumbers could be \
                     another domain's IDs"
                        .to_string(),
                ));
            }
            continue;
        };
        let floor = d.min_id.max(nss_min);
        if low < floor {
            let which = if low < d.min_id {
                format!("min_id {}", d.min_id)
            } else {
                format!("[nss] min_id {nss_min}")
            };
            return Err(err(
                low_key,
                format!(
                    "the range {low}-{high} reaches below {which}: IDs there belong to local \
                     accounts and are never served"
                ),
            ));
        }
        if let Some(c) = claims
            .iter()
            .find(|c| low <= c.high && c.low <= high && !shared(&c.backend, &backend))
        {
            let (first_low, _) = range_keys(cfg.domains[c.index].idmap.backend());
            return Err(err(
                low_key,
                format!(
                    "the range {low}-{high} overlaps the range {}-{} of domain \"{}\" \
                     (its idmap.{first_low}): IDs {}-{} would belong to two domains",
                    c.low,
                    c.high,
                    c.name,
                    low.max(c.low),
                    high.min(c.high)
                ),
            ));
        }
        let reserved: Vec<String> = RESERVED_IDS
            .iter()
            .filter(|id| (low..=high).contains(*id))
            .map(u32::to_string)
            .collect();
        if !reserved.is_empty() {
            warnings.push(
                err(
                    low_key,
                    format!(
                        "the range {low}-{high} holds the reserved ID(s) {}: they are never \
                         served, an object mapped to one is refused",
                        reserved.join(", ")
                    ),
                )
                .to_string(),
            );
        }
        claims.push(Claim {
            index: i,
            name: &d.name,
            backend,
            low,
            high,
        });
    }
    Ok(warnings)
}
