//! The domain registry: one [`Generation`] per loaded configuration — the
//! enabled domains' directories (connections and server state), their ID
//! mapping and their PAM settings, built once and shared by the resolver,
//! PAM and the admin commands. A reload builds the next generation and the
//! daemon swaps it in whole (rosterd's `server::Context::install`).
//!
//! A domain whose configuration did not change keeps its connections,
//! server state and cached answers across a reload, but joins the new
//! generation's ID mapping (with the domain SID it already learnt): there
//! is never more than one mapping in use.

use crate::auth::{AuthSettings, Directories};
use crate::config::{Config, DomainConfig, DomainSet};
use crate::directory::{Directory, DirectoryError};
use crate::resolver::ldap::DirectoryProvider;
use crate::resolver::Provider;
use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

/// Why a generation could not be built.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The ID mapping of the domains is refused (ranges, autorid store).
    #[error("ID mapping: {0}")]
    Idmap(#[from] roster_idmap::IdmapError),
    /// A domain's directory cannot be set up (TLS files, URIs).
    #[error("domain {domain}: {source}")]
    Domain {
        /// The domain.
        domain: String,
        /// Why.
        source: DirectoryError,
    },
}

/// One enabled domain of a generation.
struct Registered {
    config: DomainConfig,
    directory: Arc<Directory>,
    provider: Arc<dyn Provider>,
}

/// The domains of one configuration generation.
pub struct Generation {
    id: u64,
    idmap: Arc<DomainSet>,
    domains: Vec<Registered>,
    auth: AuthSettings,
    kept: HashSet<String>,
}

impl std::fmt::Debug for Generation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Generation")
            .field("id", &self.id)
            .field(
                "domains",
                &self
                    .domains
                    .iter()
                    .map(|d| &d.config.name)
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Generation {
    /// Builds the generation of `config`: one ID mapping for all its
    /// domains (autorid allocations kept in `state_dir`, in memory without
    /// it) and a directory per enabled domain. Domains of `previous` whose
    /// configuration is unchanged keep their connections and server state.
    pub fn build(
        config: &Config,
        state_dir: Option<&Path>,
        previous: Option<&Generation>,
    ) -> Result<Generation, RegistryError> {
        let idmap = Arc::new(config.build_idmap(state_dir)?);
        let mut domains = Vec::new();
        let mut kept = HashSet::new();
        for d in config.enabled_domains() {
            let reused = previous
                .and_then(|p| p.domains.iter().find(|r| r.config.name == d.name))
                .filter(|r| r.config == *d);
            let directory = match reused {
                Some(r) => {
                    kept.insert(d.name.clone());
                    r.directory.for_generation(idmap.clone())
                }
                None => Directory::new(d.clone(), idmap.clone()).map_err(|source| {
                    RegistryError::Domain {
                        domain: d.name.clone(),
                        source,
                    }
                })?,
            };
            let directory = Arc::new(directory);
            let provider: Arc<dyn Provider> = Arc::new(DirectoryProvider::new(directory.clone()));
            domains.push(Registered {
                config: d.clone(),
                directory,
                provider,
            });
        }
        Ok(Generation {
            id: previous.map_or(1, |p| p.id + 1),
            idmap,
            domains,
            auth: AuthSettings::from_config(config),
            kept,
        })
    }

    /// The generation's number: 1 at start, one more at each reload.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The ID mapping every directory of this generation uses.
    pub fn idmap(&self) -> &Arc<DomainSet> {
        &self.idmap
    }

    /// The resolver's providers, in configuration order.
    pub fn providers(&self) -> Vec<Arc<dyn Provider>> {
        self.domains.iter().map(|d| d.provider.clone()).collect()
    }

    /// Begins connecting, in the background, to the directory of each
    /// domain that is new in this generation (a domain kept from the
    /// previous one keeps its connection): called once the sockets answer,
    /// at start and after a reload.
    pub fn connect_in_background(&self) {
        for d in &self.domains {
            if !self.kept.contains(&d.config.name) {
                d.directory.connect_in_background();
            }
        }
    }

    /// The directories by domain name (for PAM).
    pub fn directories(&self) -> Directories {
        Arc::new(
            self.domains
                .iter()
                .map(|d| (d.config.name.clone(), d.directory.clone()))
                .collect::<HashMap<_, _>>(),
        )
    }

    /// The PAM settings of the enabled domains.
    pub fn auth(&self) -> &AuthSettings {
        &self.auth
    }

    /// Names of the domains carried over unchanged from the previous
    /// generation (their cached answers stay valid).
    pub fn kept(&self) -> &HashSet<String> {
        &self.kept
    }

    /// Number of enabled domains.
    pub fn len(&self) -> usize {
        self.domains.len()
    }

    /// True when no domain is enabled.
    pub fn is_empty(&self) -> bool {
        self.domains.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(domains: &[(&str, &str)]) -> Config {
        let text: String = domains
            .iter()
            .map(|(name, range)| {
                format!(
                    "[[domain]]\nname = \"{name}\"\nuris = [\"ldap://127.0.0.1:1\"]\n\
                     base_dn = \"dc={name}\"\n[domain.idmap]\n{range}\n"
                )
            })
            .collect();
        Config::from_str(&text, "roster.toml").unwrap()
    }

    #[test]
    fn one_mapping_per_generation_and_unchanged_domains_carried() {
        let one = config(&[("a", "range_low = 10000\nrange_high = 19999")]);
        let g1 = Generation::build(&one, None, None).unwrap();
        assert_eq!((g1.id(), g1.len()), (1, 1));
        assert!(g1.kept().is_empty());
        let two = config(&[
            ("a", "range_low = 10000\nrange_high = 19999"),
            ("b", "range_low = 20000\nrange_high = 29999"),
        ]);
        let g2 = Generation::build(&two, None, Some(&g1)).unwrap();
        assert_eq!((g2.id(), g2.len()), (2, 2));
        assert_eq!(g2.kept(), &HashSet::from(["a".to_string()]));
        // Every directory of a generation uses its one mapping, the
        // carried one included.
        for d in g2.directories().values() {
            assert!(Arc::ptr_eq(d.idmap(), g2.idmap()));
        }
        assert!(!Arc::ptr_eq(g1.idmap(), g2.idmap()));
        let names: Vec<String> = g2
            .providers()
            .iter()
            .map(|p| p.name().to_string())
            .collect();
        assert_eq!(names, ["a", "b"]);
        assert_eq!(g2.auth().domains.len(), 2);
    }
}
