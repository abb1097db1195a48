//! `[domain.idmap]`: one enum variant per backend, each with only its own
//! keys, resolved from the raw table (a key of another backend is refused
//! with its line); and the cross-domain ID mapping checks, delegated to
//! `roster_idmap`.

use super::error::ConfigError;
use super::raw::{Opt, RawIdmap};
use super::settings::span;
use super::source::{Fault, Place, Source};
use super::{Config, DomainConfig};
use roster_idmap::{
    Backend, DomainSet, IdmapError, IdmapSettings, SharedSpec, Sid, StoreKind, StoreMode,
};
use std::ops::Range;
use toml::Spanned;

/// One domain's ID mapping: the backend and its keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum IdmapConfig {
    /// IDs come from `uidNumber` / `gidNumber`, optionally bounded.
    Rfc2307 {
        /// `range_low`: lowest ID served.
        range_low: Option<u32>,
        /// `range_high`: highest ID served.
        range_high: Option<u32>,
    },
    /// Samba idmap_rid: `id = range_low + rid - base_rid`.
    Rid {
        /// `domain_sid`, when known from configuration.
        domain_sid: Option<Sid>,
        /// `range_low`: first ID.
        range_low: u32,
        /// `range_high`: last ID.
        range_high: u32,
        /// `base_rid`: the RID mapped to `range_low` (0).
        base_rid: u32,
    },
    /// SSSD's algorithmic mapping (unset keys: libsss_idmap's defaults).
    Sss {
        /// `domain_sid`, when known from configuration.
        domain_sid: Option<Sid>,
        /// `range_min`.
        range_min: Option<u32>,
        /// `range_max`.
        range_max: Option<u32>,
        /// `range_size`.
        range_size: Option<u32>,
        /// `autorid_compat`.
        autorid_compat: Option<bool>,
        /// `helper_table_size`.
        helper_table_size: Option<u32>,
    },
    /// Samba idmap_autorid style: a range per domain from a pool.
    Autorid {
        /// `domain_sid`, when known from configuration.
        domain_sid: Option<Sid>,
        /// `autorid_low`: first ID of the pool.
        low: u32,
        /// `autorid_high`: last ID of the pool.
        high: u32,
        /// `rangesize`: IDs per range (unset: 100000).
        rangesize: Option<u32>,
        /// How a domain's range is chosen.
        order: AutoridOrder,
        /// `idmap_store` (unset: local).
        store: Option<AutoridStore>,
    },
}

/// How autorid chooses a domain's range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoridOrder {
    /// The first free range, in the order domains are met (default).
    FirstSeen,
    /// `deterministic = true`: by hash of the SID; `deterministic_blocks`
    /// blocks of each configured domain are placed at load (1).
    Deterministic {
        /// `deterministic_blocks`, when set.
        blocks: Option<u32>,
    },
}

/// Where autorid allocations are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AutoridStore {
    /// `idmap_store = "local"`: the state directory.
    Local,
    /// `idmap_store = "ldap"`: entries under `idmap_store_dn`.
    Ldap {
        /// `idmap_store_dn`.
        dn: String,
    },
}

impl Default for IdmapConfig {
    fn default() -> Self {
        IdmapConfig::Rfc2307 {
            range_low: None,
            range_high: None,
        }
    }
}

impl IdmapConfig {
    /// The backend.
    pub fn backend(&self) -> Backend {
        match self {
            IdmapConfig::Rfc2307 { .. } => Backend::Rfc2307,
            IdmapConfig::Rid { .. } => Backend::Rid,
            IdmapConfig::Sss { .. } => Backend::Sss,
            IdmapConfig::Autorid { .. } => Backend::Autorid,
        }
    }

    /// The configured domain SID (never for rfc2307).
    pub fn domain_sid(&self) -> Option<Sid> {
        match self {
            IdmapConfig::Rfc2307 { .. } => None,
            IdmapConfig::Rid { domain_sid, .. }
            | IdmapConfig::Sss { domain_sid, .. }
            | IdmapConfig::Autorid { domain_sid, .. } => *domain_sid,
        }
    }

    /// The settings `roster_idmap` takes (its checks of ranges and pools
    /// run on them).
    pub fn settings(&self) -> IdmapSettings {
        let base = IdmapSettings {
            backend: self.backend(),
            domain_sid: self.domain_sid(),
            ..IdmapSettings::default()
        };
        match self.clone() {
            IdmapConfig::Rfc2307 {
                range_low,
                range_high,
            } => IdmapSettings {
                range_low,
                range_high,
                ..base
            },
            IdmapConfig::Rid {
                range_low,
                range_high,
                base_rid,
                ..
            } => IdmapSettings {
                range_low: Some(range_low),
                range_high: Some(range_high),
                base_rid: Some(base_rid),
                ..base
            },
            IdmapConfig::Sss {
                range_min,
                range_max,
                range_size,
                autorid_compat,
                helper_table_size,
                ..
            } => IdmapSettings {
                range_min,
                range_max,
                range_size,
                autorid_compat,
                helper_table_size,
                ..base
            },
            IdmapConfig::Autorid {
                low,
                high,
                rangesize,
                order,
                store,
                ..
            } => {
                let (deterministic, deterministic_blocks) = match order {
                    AutoridOrder::FirstSeen => (None, None),
                    AutoridOrder::Deterministic { blocks } => (Some(true), blocks),
                };
                let (idmap_store, idmap_store_dn) = match store {
                    None => (None, None),
                    Some(AutoridStore::Local) => (Some(StoreKind::Local), None),
                    Some(AutoridStore::Ldap { dn }) => (Some(StoreKind::Ldap), Some(dn)),
                };
                IdmapSettings {
                    autorid_low: Some(low),
                    autorid_high: Some(high),
                    rangesize,
                    deterministic,
                    deterministic_blocks,
                    idmap_store,
                    idmap_store_dn,
                    ..base
                }
            }
        }
    }
}

/// The backends each `[domain.idmap]` key belongs to.
const KEY_BACKENDS: &[(&str, &[Backend])] = &[
    (
        "domain_sid",
        &[Backend::Rid, Backend::Sss, Backend::Autorid],
    ),
    ("range_low", &[Backend::Rfc2307, Backend::Rid]),
    ("range_high", &[Backend::Rfc2307, Backend::Rid]),
    ("base_rid", &[Backend::Rid]),
    ("range_min", &[Backend::Sss]),
    ("range_max", &[Backend::Sss]),
    ("range_size", &[Backend::Sss]),
    ("autorid_compat", &[Backend::Sss]),
    ("helper_table_size", &[Backend::Sss]),
    ("rangesize", &[Backend::Autorid]),
    ("autorid_low", &[Backend::Autorid]),
    ("autorid_high", &[Backend::Autorid]),
    ("deterministic", &[Backend::Autorid]),
    ("deterministic_blocks", &[Backend::Autorid]),
    ("idmap_store", &[Backend::Autorid]),
    ("idmap_store_dn", &[Backend::Autorid]),
];

/// The keys `raw` sets, with their spans.
fn set_keys(raw: &RawIdmap) -> Vec<(&'static str, Range<usize>)> {
    let r = raw;
    [
        ("domain_sid", span(&r.domain_sid)),
        ("range_low", span(&r.range_low)),
        ("range_high", span(&r.range_high)),
        ("base_rid", span(&r.base_rid)),
        ("range_min", span(&r.range_min)),
        ("range_max", span(&r.range_max)),
        ("range_size", span(&r.range_size)),
        ("autorid_compat", span(&r.autorid_compat)),
        ("helper_table_size", span(&r.helper_table_size)),
        ("rangesize", span(&r.rangesize)),
        ("autorid_low", span(&r.autorid_low)),
        ("autorid_high", span(&r.autorid_high)),
        ("deterministic", span(&r.deterministic)),
        ("deterministic_blocks", span(&r.deterministic_blocks)),
        ("idmap_store", span(&r.idmap_store)),
        ("idmap_store_dn", span(&r.idmap_store_dn)),
    ]
    .into_iter()
    .filter_map(|(k, s)| s.map(|s| (k, s)))
    .collect()
}

/// Refuses the first key of `raw` that is not `backend`'s, naming the
/// backends it belongs to.
fn refuse_other_backends(raw: &RawIdmap, backend: Backend) -> Result<(), Fault> {
    for (key, at) in set_keys(raw) {
        let owners = KEY_BACKENDS
            .iter()
            .find(|(k, _)| *k == key)
            .map_or(&[][..], |(_, b)| *b);
        if !owners.contains(&backend) {
            let names: Vec<String> = owners.iter().map(|b| format!("\"{}\"", b.name())).collect();
            return Err(Fault::at(
                &format!("idmap.{key}"),
                at,
                format!(
                    "does not apply to backend \"{}\": it is a key of backend {}",
                    backend.name(),
                    names.join(" or ")
                ),
            ));
        }
    }
    Ok(())
}

fn get<T: Copy>(v: &Opt<T>) -> Option<T> {
    v.as_ref().map(|s| *s.get_ref())
}

/// A key `backend` needs, reported at the `[domain.idmap]` header (`at`).
fn required<T: Copy>(
    v: &Opt<T>,
    key: &str,
    backend: Backend,
    pair: &str,
    at: &Range<usize>,
) -> Result<T, Fault> {
    get(v).ok_or_else(|| {
        Fault::at(
            &format!("idmap.{key}"),
            at.clone(),
            format!(
                "is missing: backend \"{}\" needs both {pair}",
                backend.name()
            ),
        )
    })
}

/// Resolves a domain's `[domain.idmap]` (absent: rfc2307 without bounds).
pub(crate) fn resolve(raw: Option<&Spanned<RawIdmap>>) -> Result<IdmapConfig, Fault> {
    let Some(table) = raw else {
        return Ok(IdmapConfig::default());
    };
    let at = table.span();
    let r = table.get_ref();
    let backend = get(&r.backend).unwrap_or_default();
    refuse_other_backends(r, backend)?;
    let sid = get(&r.domain_sid);
    Ok(match backend {
        Backend::Rfc2307 => IdmapConfig::Rfc2307 {
            range_low: get(&r.range_low),
            range_high: get(&r.range_high),
        },
        Backend::Rid => {
            let pair = "range_low and range_high";
            IdmapConfig::Rid {
                domain_sid: sid,
                range_low: required(&r.range_low, "range_low", backend, pair, &at)?,
                range_high: required(&r.range_high, "range_high", backend, pair, &at)?,
                base_rid: get(&r.base_rid).unwrap_or(0),
            }
        }
        Backend::Sss => IdmapConfig::Sss {
            domain_sid: sid,
            range_min: get(&r.range_min),
            range_max: get(&r.range_max),
            range_size: get(&r.range_size),
            autorid_compat: get(&r.autorid_compat),
            helper_table_size: get(&r.helper_table_size),
        },
        Backend::Autorid => {
            let pair = "autorid_low and autorid_high";
            IdmapConfig::Autorid {
                domain_sid: sid,
                low: required(&r.autorid_low, "autorid_low", backend, pair, &at)?,
                high: required(&r.autorid_high, "autorid_high", backend, pair, &at)?,
                rangesize: get(&r.rangesize),
                order: autorid_order(r)?,
                store: autorid_store(r)?,
            }
        }
    })
}

/// `deterministic` and `deterministic_blocks` (which needs the first).
fn autorid_order(r: &RawIdmap) -> Result<AutoridOrder, Fault> {
    match (get(&r.deterministic), &r.deterministic_blocks) {
        (Some(true), blocks) => Ok(AutoridOrder::Deterministic {
            blocks: get(blocks),
        }),
        (_, Some(b)) => Err(Fault::at(
            "idmap.deterministic_blocks",
            b.span(),
            "needs deterministic = true",
        )),
        (_, None) => Ok(AutoridOrder::FirstSeen),
    }
}

/// `idmap_store` and `idmap_store_dn` (which goes with `"ldap"` only).
fn autorid_store(r: &RawIdmap) -> Result<Option<AutoridStore>, Fault> {
    let dn = r.idmap_store_dn.as_ref();
    match (get(&r.idmap_store), dn) {
        (None, None) => Ok(None),
        (Some(StoreKind::Local), None) => Ok(Some(AutoridStore::Local)),
        (Some(StoreKind::Ldap), Some(dn)) if dn.get_ref().trim().is_empty() => {
            Err(Fault::at("idmap.idmap_store_dn", dn.span(), "is empty"))
        }
        (Some(StoreKind::Ldap), Some(dn)) => Ok(Some(AutoridStore::Ldap {
            dn: dn.get_ref().clone(),
        })),
        (Some(StoreKind::Ldap), None) => Err(Fault::at(
            "idmap.idmap_store",
            span(&r.idmap_store).unwrap_or_default(),
            "idmap_store = \"ldap\" needs idmap_store_dn",
        )),
        (_, Some(dn)) => Err(Fault::at(
            "idmap.idmap_store_dn",
            dn.span(),
            "idmap_store_dn needs idmap_store = \"ldap\"",
        )),
    }
}

/// (name, idmap settings, min_id, max_id) of every configured domain, in
/// order: the input of [`DomainSet::new`].
pub(crate) fn domain_table(cfg: &Config) -> Vec<(String, IdmapSettings, u32, u32)> {
    cfg.domains
        .iter()
        .map(|d| (d.name.clone(), d.idmap.settings(), d.min_id, d.max_id))
        .collect()
}

/// The ID mapping of every configured domain with its stores: autorid
/// pools with `idmap_store = "ldap"` keep their allocations in the
/// directory (through `crate::directory::idmap_store`); `mode` says how
/// the state directory is used. Domains that the local copy and the
/// directory disagree about are logged (they are not mapped).
pub fn build(cfg: &Config, mode: StoreMode<'_>) -> Result<DomainSet, IdmapError> {
    let make = |spec: &SharedSpec| crate::directory::idmap_store::shared_store(cfg, spec);
    let set = DomainSet::open_with(&domain_table(cfg), mode, Some(&make))?;
    for error in set.shared_offline() {
        tracing::warn!(error = %error, "autorid directory store unreachable: using the local copy; new domains are not mapped until it answers");
    }
    for (domain, reason) in set.disputes() {
        tracing::error!(domain = %domain, reason = %reason, "autorid allocations disagree with the directory store: the domain is not mapped until this is settled");
    }
    Ok(set)
}

/// Warnings about configurations with which hosts may give one SID
/// different IDs: (domain, message), for `rosterctl test`.
pub fn agreement_warnings(cfg: &Config) -> Vec<(String, String)> {
    /// (pool, deterministic, in the directory) of an autorid domain.
    type Autorid<'a> = (&'a DomainConfig, (u32, u32, Option<u32>), bool, bool);
    let autorid: Vec<Autorid<'_>> = cfg
        .domains
        .iter()
        .filter_map(|d| match &d.idmap {
            IdmapConfig::Autorid {
                low,
                high,
                rangesize,
                order,
                store,
                ..
            } => Some((
                d,
                (*low, *high, *rangesize),
                matches!(order, AutoridOrder::Deterministic { .. }),
                matches!(store, Some(AutoridStore::Ldap { .. })),
            )),
            _ => None,
        })
        .collect();
    // A pool is shared through the directory when one of its domains says so.
    let shared = |pool: (u32, u32, Option<u32>)| autorid.iter().any(|o| o.1 == pool && o.3);
    let first_seen_local = autorid
        .iter()
        .filter(|(_, pool, det, _)| !det && !shared(*pool))
        .count();
    let mut out = Vec::new();
    for &(d, pool, det, _) in &autorid {
        if !det && !shared(pool) && first_seen_local > 1 {
            out.push((
                d.name.clone(),
                format!(
                    "autorid with deterministic = false and a local store on {first_seen_local} \
                     domains: each host numbers the domains in the order it meets them, so hosts \
                     may give one SID different IDs; use deterministic = true or \
                     idmap_store = \"ldap\""
                ),
            ));
        }
        if det && d.idmap.domain_sid().is_none() {
            out.push((
                d.name.clone(),
                "autorid deterministic without domain_sid: the domain is placed when its SID is \
                 learnt, only at its hash slot, and refused if another block holds it; set \
                 domain_sid so that it is placed with the other domains at load"
                    .to_string(),
            ));
        }
    }
    out
}

/// Validates the idmap settings of all domains together (ranges must not
/// overlap, backends must be complete) without touching the state
/// directory. An error is reported at the `[domain.idmap]` header of the
/// domain it names.
pub(crate) fn validate(cfg: &Config, src: &Source<'_>) -> Result<(), ConfigError> {
    let Err(e) = DomainSet::new(&domain_table(cfg), None) else {
        return Ok(());
    };
    let domain = match &e {
        IdmapError::Settings { domain, .. } => Some(domain.clone()),
        IdmapError::RangeOverlap { second, .. } => Some(second.clone()),
        IdmapError::DuplicateDomain(d) => Some(d.clone()),
        IdmapError::Sss { domain, .. } => Some(domain.clone()),
        _ => None,
    };
    let index = domain.as_deref().and_then(|n| {
        cfg.domains
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(n))
    });
    Err(match index {
        Some(index) => {
            let place = Place::Domain {
                index,
                name: &cfg.domains[index].name,
            };
            ConfigError::Invalid {
                origin: src.origin.to_string(),
                line: src.subtable_line(place, "idmap"),
                key: format!("domain \"{}\" key `idmap`", cfg.domains[index].name),
                message: e.to_string(),
            }
        }
        None => ConfigError::Invalid {
            origin: src.origin.to_string(),
            line: None,
            key: "key `idmap`".to_string(),
            message: e.to_string(),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(idmap: &[&str]) -> Config {
        let mut t = String::new();
        for (i, extra) in idmap.iter().enumerate() {
            t.push_str(&format!(
                "[[domain]]\nname = \"d{i}\"\nuris = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=d{i}\"\n\
                 [domain.idmap]\nbackend = \"autorid\"\nautorid_low = 1000000\n\
                 autorid_high = 1999999\n{extra}\n"
            ));
        }
        Config::from_str(&t, "roster.toml").unwrap()
    }

    #[test]
    fn first_seen_local_on_several_domains_is_warned_about() {
        let w = agreement_warnings(&cfg(&["", ""]));
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0]
            .1
            .contains("deterministic = false and a local store on 2 domains"));
        assert!(agreement_warnings(&cfg(&[""])).is_empty());
        let shared = "idmap_store = \"ldap\"\nidmap_store_dn = \"ou=idmap,dc=d0\"";
        assert!(agreement_warnings(&cfg(&[shared, ""])).is_empty());
        let det = "deterministic = true\ndomain_sid = \"S-1-5-21-1-2-3\"";
        let det2 = "deterministic = true\ndomain_sid = \"S-1-5-21-1-2-4\"";
        assert!(agreement_warnings(&cfg(&[det, det2])).is_empty());
        let w = agreement_warnings(&cfg(&[det, "deterministic = true"]));
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(
            w[0].0 == "d1" && w[0].1.contains("without domain_sid"),
            "{w:?}"
        );
    }
}
