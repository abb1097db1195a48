//! Cross-domain ID mapping validation, delegated to `roster_idmap`.

use super::error::{find_key_line, ConfigError};
use super::validate::Reporter;
use super::Config;
use roster_idmap::{DomainSet, IdmapError, IdmapSettings};

/// (name, idmap settings, min_id, max_id) of every configured domain, in
/// order: the input of [`DomainSet::new`].
pub(crate) fn domain_table(cfg: &Config) -> Vec<(String, IdmapSettings, u32, u32)> {
    cfg.domains
        .iter()
        .map(|d| (d.name.clone(), d.idmap.clone(), d.min_id, d.max_id))
        .collect()
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
