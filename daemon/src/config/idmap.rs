//! Cross-domain ID mapping validation, delegated to `roster_idmap`.

use super::error::{find_key_line, ConfigError};
use super::validate::Reporter;
use super::{Config, DomainConfig};
use roster_idmap::{
    Backend, DomainSet, IdmapError, IdmapSettings, SharedSpec, StoreKind, StoreMode,
};

/// (name, idmap settings, min_id, max_id) of every configured domain, in
/// order: the input of [`DomainSet::new`].
pub(crate) fn domain_table(cfg: &Config) -> Vec<(String, IdmapSettings, u32, u32)> {
    cfg.domains
        .iter()
        .map(|d| (d.name.clone(), d.idmap.clone(), d.min_id, d.max_id))
        .collect()
}

/// The ID mapping of every configured domain with its stores: autorid
/// pools with `idmap_store = "ldap"` keep their allocations in the
/// directory (through [`crate::directory::idmap_store`]); `mode` says how
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
    let autorid: Vec<_> = cfg
        .domains
        .iter()
        .filter(|d| d.idmap.backend == Backend::Autorid)
        .collect();
    let pool = |d: &DomainConfig| (d.idmap.autorid_low, d.idmap.autorid_high, d.idmap.rangesize);
    // A pool is shared through the directory when one of its domains says so.
    let shared = |d: &DomainConfig| {
        autorid
            .iter()
            .any(|o| pool(o) == pool(d) && o.idmap.idmap_store == Some(StoreKind::Ldap))
    };
    let first_seen_local = autorid
        .iter()
        .filter(|d| !d.idmap.deterministic.unwrap_or(false) && !shared(d))
        .count();
    let mut out = Vec::new();
    for d in &autorid {
        let det = d.idmap.deterministic.unwrap_or(false);
        if !det && !shared(d) && first_seen_local > 1 {
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
        if det && d.idmap.domain_sid.is_none() {
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
/// directory.
pub(crate) fn validate(cfg: &Config, r: &Reporter<'_>) -> Result<(), ConfigError> {
    match DomainSet::new(&domain_table(cfg), None) {
        Ok(_) => Ok(()),
        Err(e) => {
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
            let line = index.and_then(|i| {
                idmap_header_line(r.text, i)
                    .or_else(|| find_key_line(r.text, Some(i), "domain", "name"))
            });
            let key = match (&domain, index) {
                (Some(n), Some(_)) => format!("domain \"{n}\" key `idmap`"),
                _ => "key `idmap`".to_string(),
            };
            Err(ConfigError::Invalid {
                origin: r.origin.to_string(),
                line,
                key,
                message: e.to_string(),
            })
        }
    }
}

/// 1-based line of the `[domain.idmap]` header of the `index`-th domain.
fn idmap_header_line(text: &str, index: usize) -> Option<usize> {
    let mut count = 0usize;
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if t.starts_with("[[")
            && t.trim_start_matches("[[")
                .trim_start()
                .starts_with("domain")
            && t.trim_start_matches("[[")
                .trim_start()
                .trim_end_matches("]]")
                .trim()
                == "domain"
        {
            count += 1;
        } else if count == index + 1
            && t.starts_with('[')
            && !t.starts_with("[[")
            && t.trim_matches(|c| c == '[' || c == ']').trim() == "domain.idmap"
        {
            return Some(i + 1);
        }
    }
    None
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
