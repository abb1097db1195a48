//! The configuration file as written: every key optional (or required by
//! serde) and carrying its span in the text, so that each later error
//! names the line of the value at fault. Unknown keys are refused here.
//! [`super::resolve`] turns these into the settings rosterd uses.

use super::domain::{DomainKind, Schema, SearchBases, SearchScope, TlsLibrary};
use roster_idmap::{Backend, Sid, StoreKind};
use serde::Deserialize;
use std::path::PathBuf;
use toml::Spanned;

/// A key the file may leave out, with its span when present.
pub(crate) type Opt<T> = Option<Spanned<T>>;

/// The whole file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawConfig {
    pub cache: Opt<RawCache>,
    pub daemon: Opt<RawDaemon>,
    pub nss: Opt<RawNss>,
    #[serde(default)]
    pub domain: Vec<Spanned<RawDomain>>,
}

/// `[cache]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCache {
    pub entry_ttl: Opt<u64>,
    pub negative_ttl: Opt<u64>,
    pub offline_max_age: Opt<u64>,
    pub max_entries: Opt<usize>,
    pub enumerate: Opt<bool>,
    pub census: Opt<bool>,
    pub credential_hash_memory_kib: Opt<u32>,
    pub credential_hash_iterations: Opt<u32>,
}

/// `[daemon]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDaemon {
    pub socket_dir: Opt<PathBuf>,
    pub state_dir: Opt<PathBuf>,
    pub log_level: Opt<String>,
    pub busy_poll_us: Opt<u64>,
}

/// `[nss]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawNss {
    pub timeout_ms: Opt<u64>,
    pub enumerate_timeout_ms: Opt<u64>,
    pub ignore_users: Opt<Vec<String>>,
    pub ignore_groups: Opt<Vec<String>>,
    pub min_id: Opt<u32>,
    pub initgroups_for_local_users: Opt<bool>,
    pub memcache_size: Opt<u64>,
}

/// One `[[domain]]` table. `name` and `base_dn` are required; `uris` too,
/// except for `kind = "ad"` (DNS SRV discovery).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawDomain {
    pub name: Spanned<String>,
    pub enabled: Opt<bool>,
    pub kind: Opt<DomainKind>,
    /// Optional for `kind = "ad"`: without it the DCs come from DNS SRV.
    pub uris: Opt<Vec<String>>,
    pub failback_after: Opt<f64>,
    pub start_tls: Opt<bool>,
    pub tls_verify: Opt<bool>,
    pub tls_library: Opt<TlsLibrary>,
    pub ca_file: Opt<PathBuf>,
    pub ca_system: Opt<bool>,
    pub client_cert: Opt<PathBuf>,
    pub client_key: Opt<PathBuf>,
    pub bind_dn: Opt<String>,
    pub bind_password_file: Opt<PathBuf>,
    pub password_admin_dn: Opt<String>,
    pub password_admin_password_file: Opt<PathBuf>,
    pub base_dn: Spanned<String>,
    pub user_search_base: Opt<SearchBases>,
    pub group_search_base: Opt<SearchBases>,
    pub netgroup_search_base: Opt<SearchBases>,
    pub netgroup_filter: Opt<String>,
    pub scope: Opt<SearchScope>,
    pub user_filter: Opt<String>,
    pub group_filter: Opt<String>,
    pub limit_to_groups: Opt<Vec<String>>,
    pub schema: Opt<Schema>,
    pub nesting_depth: Opt<u32>,
    pub connect_timeout: Opt<f64>,
    pub op_timeout: Opt<f64>,
    pub offline_retry_initial: Opt<f64>,
    pub offline_retry_max: Opt<f64>,
    pub min_id: Opt<u32>,
    pub max_id: Opt<u32>,
    pub page_size: Opt<u32>,
    pub allow_insecure_auth: Opt<bool>,
    pub allow_insecure_bind: Opt<bool>,
    pub cache_credentials: Opt<bool>,
    pub offline_failed_login_attempts: Opt<u32>,
    pub offline_failed_login_delay: Opt<u64>,
    pub allow_groups: Opt<Vec<String>>,
    pub access_filter: Opt<String>,
    pub pwd_expiration_warning: Opt<u32>,
    pub ppolicy_default_dn: Opt<String>,
    pub idmap: Opt<RawIdmap>,
    pub attributes: Opt<RawAttributes>,
    pub home_directory_template: Opt<String>,
    pub default_shell: Opt<String>,
    pub shell_override: Opt<String>,
    pub qualified_names: Opt<bool>,
    pub referrals: Opt<bool>,
    pub referral_hops: Opt<u32>,
    pub referral_hosts: Opt<Vec<String>>,
    pub local_primary_gids: Opt<Vec<u32>>,
    // --- Joining AD and finding its DCs (rosterctl join/leave, DNS SRV
    // discovery): keytab, ad_domain, ad_site.
    pub keytab: Opt<PathBuf>,
    pub ad_domain: Opt<String>,
    pub ad_site: Opt<String>,
    // --- end of join/discovery keys.
    // Kerberos: GSSAPI binds and Kerberos logins (config/kerberos.rs).
    pub auth: Opt<super::kerberos::BindMethod>,
    pub krb5_realm: Opt<String>,
    pub krb5_principal: Opt<String>,
    pub krb5_auth: Opt<bool>,
    pub krb5_ccache_template: Opt<String>,
    pub krb5_keep_ccache: Opt<bool>,
}

/// `[domain.attributes]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawAttributes {
    pub username: Opt<String>,
    pub group_name: Opt<String>,
    pub uid_number: Opt<String>,
    pub gid_number: Opt<String>,
    pub gecos: Opt<String>,
    pub home_directory: Opt<String>,
    pub login_shell: Opt<String>,
    pub member_uid: Opt<String>,
    pub member: Opt<String>,
    pub member_of: Opt<String>,
    pub unique_id: Opt<String>,
    pub netgroup_name: Opt<String>,
    pub netgroup_triple: Opt<String>,
    pub member_netgroup: Opt<String>,
    pub ssh_public_key: Opt<String>,
}

/// `[domain.idmap]`: the keys of every backend; [`super::idmap::resolve`]
/// keeps those of the chosen backend and refuses the others.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawIdmap {
    pub backend: Opt<Backend>,
    pub domain_sid: Opt<Sid>,
    pub range_low: Opt<u32>,
    pub range_high: Opt<u32>,
    pub base_rid: Opt<u32>,
    pub range_min: Opt<u32>,
    pub range_max: Opt<u32>,
    pub range_size: Opt<u32>,
    pub autorid_compat: Opt<bool>,
    pub helper_table_size: Opt<u32>,
    pub rangesize: Opt<u32>,
    pub autorid_low: Opt<u32>,
    pub autorid_high: Opt<u32>,
    pub deterministic: Opt<bool>,
    pub deterministic_blocks: Opt<u32>,
    pub idmap_store: Opt<StoreKind>,
    pub idmap_store_dn: Opt<String>,
}
