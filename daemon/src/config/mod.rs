//! rosterd configuration: one TOML file (`/etc/roster/roster.toml`).
//!
//! [`Config::load`] reads, parses and validates it; every error names the
//! file, the line and the key at fault. Bind passwords are read from their
//! files during validation into zeroizing [`roster_proto::Secret`]s.
//!
//! An example with most keys (defaults shown where a key is optional):
//!
//! ```
//! let text = r#"
//! [cache]
//! entry_ttl = 300          # seconds an answer is fresh
//! negative_ttl = 60        # seconds a "no such object" is remembered
//! offline_max_age = 604800 # 0 = serve offline data forever
//! max_entries = 100000
//! enumerate = false
//! credential_hash_memory_kib = 7168  # argon2id of cached passwords
//! credential_hash_iterations = 5
//!
//! [daemon]
//! socket_dir = "/run/roster"
//! state_dir = "/var/lib/roster"
//! log_level = "info"
//!
//! [nss]
//! timeout_ms = 3000
//! enumerate_timeout_ms = 30000
//! ignore_users = ["root"]
//! ignore_groups = ["root"]
//! min_id = 1000
//! memcache_size = 33554432
//!
//! [[domain]]
//! name = "example"
//! uris = ["ldap://ldap1.example.test", "ldap://ldap2.example.test"]
//! failback_after = 300
//! start_tls = true
//! tls_verify = true
//! ## ca_file = "/etc/roster/ca.pem"          # the only CA trusted...
//! ## ca_system = false                        # ...unless this is true
//! ## client_cert = "/etc/roster/client.pem"   # with client_key (mode 0600)
//! ## bind_dn = "cn=roster,ou=services,dc=example,dc=test"
//! ## bind_password_file = "/etc/roster/bind_password"   # mode 0600, owned by root
//! ## allow_insecure_bind = false   # true: password bind over plain ldap:// allowed
//! base_dn = "dc=example,dc=test"
//! user_search_base = "ou=people,dc=example,dc=test"
//! scope = "sub"
//! schema = "rfc2307bis"
//! nesting_depth = 8
//! limit_to_groups = []
//! connect_timeout = 1.5
//! op_timeout = 5
//! min_id = 1000
//! max_id = 0
//! page_size = 500
//! home_directory_template = "/home/{username}"
//! default_shell = "/bin/bash"
//!
//! [domain.attributes]
//! gecos = "displayName"
//! unique_id = "entryUUID"
//!
//! [domain.idmap]
//! backend = "rfc2307"
//! "#;
//! let cfg = roster_daemon::config::Config::from_str(text, "roster.toml").unwrap();
//! let d = &cfg.domains[0];
//! assert_eq!(d.group_base(), "dc=example,dc=test");
//! assert_eq!(d.connect_timeout, std::time::Duration::from_millis(1500));
//! ```

mod ad;
mod defaults;
mod domain;
mod error;
mod files;
mod idmap;
mod idspace;
mod secret;
mod settings;
mod validate;

pub use domain::{
    default_group_filter, AttributeMap, DomainConfig, DomainKind, Schema, SearchBase,
    SearchBaseEntry, SearchBases, SearchScope,
};
pub use error::ConfigError;
pub use idmap::{agreement_warnings, build as build_idmap_with};
pub use roster_idmap::{DomainSet, IdmapSettings};
pub use secret::SecretReader;
pub use settings::{CacheSettings, DaemonSettings, NssSettings, MEMCACHE_SIZE_RANGE};
/// DN comparison, public for the fuzz targets (fuzz/).
pub use validate::dn_is_under;
pub(crate) use validate::split_dn;

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
    /// What loading accepted but an administrator should look at
    /// (`file:line: key: message`), e.g. an ID range holding a reserved
    /// ID. rosterd logs them; the configuration checks print them.
    #[serde(skip)]
    pub warnings: Vec<String>,
}

impl Config {
    /// Reads, parses and validates the configuration file at `path`.
    pub fn load(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
        Config::load_as(path, SecretReader::current())
    }

    /// [`Config::load`] with the secret files checked as `reader` would
    /// read them.
    pub fn load_as(path: impl AsRef<Path>, reader: SecretReader) -> Result<Config, ConfigError> {
        let path = path.as_ref();
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Config::from_str_as(&text, &path.display().to_string(), reader)
    }

    /// Parses and validates configuration `text`; `origin` names it in
    /// errors (usually the file path).
    ///
    /// The steps: parse; check the top-level tables and domain names; per
    /// domain fill in the defaults that depend on other keys (AD defaults
    /// only for keys the text leaves unset), check, and read its files;
    /// then check the domains' ID spaces together.
    #[allow(clippy::should_implement_trait)]
    pub fn from_str(text: &str, origin: &str) -> Result<Config, ConfigError> {
        Config::from_str_as(text, origin, SecretReader::current())
    }

    /// [`Config::from_str`] with the secret files checked as `reader`
    /// would read them.
    pub fn from_str_as(
        text: &str,
        origin: &str,
        reader: SecretReader,
    ) -> Result<Config, ConfigError> {
        let mut cfg: Config =
            toml::from_str(text).map_err(|e| error::from_toml(origin, text, &e))?;
        let reporter = validate::Reporter { origin, text };
        validate::top(&cfg, &reporter)?;
        let explicit = defaults::ExplicitKeys::of_domains(text);
        for (i, d) in cfg.domains.iter_mut().enumerate() {
            defaults::fill(d, explicit.get(i).unwrap_or(&Default::default()));
            validate::domain(i, d, &reporter)?;
            files::read(i, d, &reporter, reader)?;
        }
        cfg.warnings = idspace::check(&cfg, &reporter)?;
        idmap::validate(&cfg, &reporter)?;
        Ok(cfg)
    }

    /// The enabled domains, in order.
    pub fn enabled_domains(&self) -> impl Iterator<Item = &DomainConfig> {
        self.domains.iter().filter(|d| d.enabled)
    }

    /// The ID mapping of all configured domains, validated together. With
    /// `state_dir`, autorid allocations and sss slices are kept there (the
    /// daemon; autorid pools with `idmap_store = "ldap"` in the directory
    /// too); without, in memory (checks and tests).
    pub fn build_idmap(
        &self,
        state_dir: Option<&Path>,
    ) -> Result<DomainSet, roster_idmap::IdmapError> {
        idmap::build(
            self,
            state_dir.map_or(
                roster_idmap::StoreMode::Memory,
                roster_idmap::StoreMode::Durable,
            ),
        )
    }

    /// The domain called `name` (case-insensitive).
    pub fn domain(&self, name: &str) -> Option<&DomainConfig> {
        self.domains
            .iter()
            .find(|d| d.name.eq_ignore_ascii_case(name))
    }
}

/// `rosterd --check-config`: loads and validates the file as this process
/// (rosterd has dropped to its user by then), returning the configuration
/// or the first error.
pub fn check(path: impl AsRef<Path>) -> Result<Config, ConfigError> {
    Config::load(path)
}

/// `rosterctl config check`: [`check`] with the secret files checked as
/// the daemon reads them ([`SecretReader::daemon`]: `_roster` when run as
/// root and that user exists), so that it agrees with
/// `rosterd --check-config --user _roster`.
pub fn check_for_daemon(path: impl AsRef<Path>) -> Result<(Config, SecretReader), ConfigError> {
    let reader = SecretReader::daemon();
    Config::load_as(path, reader).map(|c| (c, reader))
}

#[cfg(test)]
mod tests;
