//! Defaults that depend on other keys, filled in after parsing and before
//! validation: the AD defaults of `kind = "ad"` domains (only for keys the
//! file leaves unset), the search bases and the schema's group filter.

use super::domain::{DomainConfig, DomainKind};

/// The keys one `[[domain]]` table sets explicitly (its own and those of
/// its `[domain.attributes]` sub-table), read from the file's text: a
/// default never replaces a value the administrator wrote, even one equal
/// to the LDAP default.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ExplicitKeys {
    domain: Vec<String>,
    attributes: Vec<String>,
}

impl ExplicitKeys {
    /// The explicit keys of every `[[domain]]` of `text` (valid TOML), in
    /// order.
    pub(crate) fn of_domains(text: &str) -> Vec<ExplicitKeys> {
        let Ok(table) = text.parse::<toml::Table>() else {
            return Vec::new();
        };
        let Some(domains) = table.get("domain").and_then(|d| d.as_array()) else {
            return Vec::new();
        };
        domains
            .iter()
            .map(|d| {
                let keys = |t: Option<&toml::Table>| -> Vec<String> {
                    t.map(|t| t.keys().cloned().collect()).unwrap_or_default()
                };
                let own = d.as_table();
                ExplicitKeys {
                    domain: keys(own),
                    attributes: keys(
                        own.and_then(|t| t.get("attributes"))
                            .and_then(|a| a.as_table()),
                    ),
                }
            })
            .collect()
    }

    /// True when the domain table sets `key`.
    pub(crate) fn has(&self, key: &str) -> bool {
        self.domain.iter().any(|k| k == key)
    }

    /// True when `[domain.attributes]` sets `key`.
    pub(crate) fn has_attribute(&self, key: &str) -> bool {
        self.attributes.iter().any(|k| k == key)
    }
}

/// Fills in the defaults of `d` that depend on its other keys.
pub(crate) fn fill(d: &mut DomainConfig, explicit: &ExplicitKeys) {
    if d.kind == DomainKind::Ad {
        super::ad::apply_defaults(d, explicit);
    }
    for base in [
        &mut d.user_search_base,
        &mut d.group_search_base,
        &mut d.netgroup_search_base,
    ] {
        if base.is_none() {
            *base = Some(super::domain::SearchBases::One(d.base_dn.clone()));
        }
    }
    if d.referrals.is_none() {
        d.referrals = Some(d.kind != DomainKind::Ad);
    }
    if d.group_filter.is_none() {
        d.group_filter = Some(super::domain::default_group_filter(d.schema).to_string());
    }
}
