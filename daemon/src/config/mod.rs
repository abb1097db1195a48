//! rosterd configuration: one TOML file (`/etc/roster/roster.toml`).
//!
//! [`Config::load`] reads, parses and validates it; every error names the
//! file, the line and the key at fault. Bind passwords are read from their
//! files during validation into zeroizing [`roster_proto::Secret`]s.

mod domain;
mod error;
mod idmap;
mod secret;
mod settings;
mod validate;

pub use domain::{
    default_group_filter, AttributeMap, DomainConfig, DomainKind, Schema, SearchScope,
};
pub use error::ConfigError;
pub use roster_idmap::{DomainSet, IdmapSettings};
pub use settings::{CacheSettings, DaemonSettings, NssSettings};
pub(crate) use validate::{dn_is_under, split_dn};

use serde::Deserialize;
use std::path::Path;

/// The whole configuration file.
#[derive(Clone, Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// `[cache]`.
    #[serde(default)]
    pub cache: CacheSettings,
    /// `[daemon]`.
    #[serde(default)]
    pub daemon: DaemonSettings,
    /// `[nss]`.
    #[serde(default)]
    pub nss: NssSettings,
    /// The `[[domain]]` tables, in the order they are tried.
    #[serde(default, rename = "domain")]
    pub domains: Vec<DomainConfig>,
}

impl Config {
    /// Reads, parses and validates the configuration file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str(&text, &path.display().to_string())
    }

    /// Parses and validates configuration `text`; `origin` names it in
    /// errors (usually the file path).
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        let mut cfg: Config =
            toml::from_str(text).map_err(|e| error::from_toml(origin, text, &e))?;
        let reporter = validate::Reporter { origin, text };
        validate::validate(&mut cfg, &reporter)?;
        idmap::validate(&cfg, &reporter)?;
        Ok(cfg)
    }

    /// The enabled domains, in order.
    pub fn enabled_domains(&self) -> impl Iterator<Item = &DomainConfig> {
        self.domains.iter().filter(|d| d.enabled)
    }

    /// The ID mapping of all configured domains, validated together. With
    /// `state_dir`, autorid allocations are kept there (the daemon); without,
    /// in memory (checks and tests).
    pub fn build_idmap(
        &self,
        state_dir: Option<&Path>,
    ) -> Result<DomainSet, roster_idmap::IdmapError> {
        DomainSet::new(&idmap::domain_table(self), state_dir)
    }

    /// The domain called `name` (case-insensitive).
    pub fn domain(&self, name: &str) -> Option<&DomainConfig> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

/// `rosterd --check-config` / `rosterctl config check`: loads and validates
/// the file, returning the configuration or the first error.
pub fn check(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    Config::load(path)
}

#[cfg(test)]
mod tests;
