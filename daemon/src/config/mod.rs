//! rosterd configuration: one TOML file (`/etc/roster/roster.toml`).
//!
//! [`Config::load`] reads it, deserializes it into raw tables whose values
//! carry their spans (`raw`), and resolves those into the settings below,
//! section by section; every error names the file, the line and the key at
//! fault (`roster.toml:12: domain "corp" key `page_size`: must be between
//! 1 and 2147483647`). Bind passwords are read from their files, after the
//! domains are resolved, into zeroizing [`roster_proto::Secret`]s.
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
//! census = true           # list names and IDs once per entry_ttl
//! credential_hash_memory_kib = 7168  # argon2id of cached passwords
//! credential_hash_iterations = 5
//!
//! [daemon]
//! socket_dir = "/run/roster"
//! state_dir = "/var/lib/roster"
//! log_level = "info"
//! busy_poll_us = 50       # poll after each entry of a large answer; 0 = never
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
//! tls_library = "auto"                       # rustls, OpenSSL where it cannot; or "rustls", "openssl"
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
pub mod kerberos;
mod raw;
mod resolve;
mod secret;
mod settings;
mod source;

/// DN comparison, public for the fuzz targets (fuzz/).
pub use domain::{
    default_group_filter, dns_domain_of, AttributeMap, DomainConfig, DomainKind, Schema,
    SearchBase, SearchBaseEntry, SearchBases, SearchScope, TlsLibrary, DEFAULT_KEYTAB,
};
pub use error::ConfigError;
pub use idmap::{
    agreement_warnings, build as build_idmap_with, AutoridOrder, AutoridStore, IdmapConfig,
};
pub use kerberos::{expand_ccache, BindMethod, Krb5Config};
pub use roster_idmap::{DomainSet, IdmapSettings};
pub use secret::SecretReader;
pub use settings::{CacheSettings, DaemonSettings, NssSettings, MEMCACHE_SIZE_RANGE};

use source::{Place, Source};
use std::collections::HashSet;
use std::path::Path;

/// The whole configuration file, resolved: defaults filled in, values
/// checked, bind passwords read.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// `[cache]`.
    pub cache: CacheSettings,
    /// `[daemon]`.
    pub daemon: DaemonSettings,
    /// `[nss]`.
    pub nss: NssSettings,
    /// The `[[domain]]` tables, in the order they are tried.
    pub domains: Vec<DomainConfig>,
    /// What loading accepted but an administrator should look at
    /// (`file:line: key: message`), e.g. an ID range holding a reserved
    /// ID. rosterd logs them; the configuration checks print them.
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

    /// Parses and resolves configuration `text`; `origin` names it in
    /// errors (usually the file path).
    ///
    /// The steps: deserialize into the raw tables (unknown keys, missing
    /// keys and wrong types are refused there); resolve `[cache]`,
    /// `[daemon]`, `[nss]` and each domain (defaults for unset keys, the
    /// kind's only for keys the text leaves unset; then the checks of each
    /// section); check names are unique; read each domain's files; then
    /// check the domains' ID spaces together.
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
        let src = Source::new(origin, text);
        let raw: raw::RawConfig = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        let top = |table, fault| src.error(Place::Top(table), fault);
        let mut cfg = Config {
            cache: settings::cache(raw.cache.as_ref().map(|t| t.get_ref()))
                .map_err(|f| top("cache", f))?,
            daemon: settings::daemon(raw.daemon.as_ref().map(|t| t.get_ref()))
                .map_err(|f| top("daemon", f))?,
            nss: settings::nss(raw.nss.as_ref().map(|t| t.get_ref())).map_err(|f| top("nss", f))?,
            domains: Vec::with_capacity(raw.domain.len()),
            warnings: Vec::new(),
        };
        for (index, d) in raw.domain.iter().enumerate() {
            let d = d.get_ref();
            let resolved = resolve::domain(d).map_err(|f| {
                let name = d.name.get_ref();
                src.error(Place::Domain { index, name }, f)
            })?;
            cfg.domains.push(resolved);
        }
        unique_names(&cfg, &raw, &src)?;
        for (index, d) in cfg.domains.iter_mut().enumerate() {
            files::read(index, d, &src, reader)?;
        }
        cfg.warnings = idspace::check(&cfg, &src)?;
        idmap::validate(&cfg, &src)?;
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

impl DaemonSettings {
    /// The `[daemon]` table of configuration `text` alone (defaults when
    /// absent), the rest of the file unread: rosterd creates its
    /// directories from it before the whole file, secrets included, is
    /// loaded.
    pub fn of_text(text: &str) -> Result<DaemonSettings, ConfigError> {
        #[derive(serde::Deserialize)]
        struct OnlyDaemon {
            daemon: raw::Opt<raw::RawDaemon>,
        }
        let src = Source::new("configuration", text);
        let raw: OnlyDaemon = toml::from_str(text).map_err(|e| src.toml_error(&e))?;
        settings::daemon(raw.daemon.as_ref().map(|t| t.get_ref()))
            .map_err(|f| src.error(Place::Top("daemon"), f))
    }
}

/// Refuses a domain whose name (case-insensitive) an earlier one has.
fn unique_names(cfg: &Config, raw: &raw::RawConfig, src: &Source<'_>) -> Result<(), ConfigError> {
    let mut names = HashSet::new();
    for (index, d) in cfg.domains.iter().enumerate() {
        if !names.insert(d.name.to_ascii_lowercase()) {
            let at = raw.domain[index].get_ref().name.span();
            return Err(src.error(
                Place::Domain {
                    index,
                    name: &d.name,
                },
                source::Fault::at(
                    "name",
                    at,
                    "a domain of this name is already defined above: names must be unique",
                ),
            ));
        }
    }
    Ok(())
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
