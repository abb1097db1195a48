//! One `[[domain]]` table: a directory to resolve users and groups from.

use super::idmap::IdmapConfig;
use roster_proto::Secret;
use serde::Deserialize;
use std::path::PathBuf;
use std::time::Duration;

/// What kind of directory a domain is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DomainKind {
    /// A plain LDAP directory with POSIX attributes.
    Ldap,
    /// Active Directory: objectSid-keyed users and groups, AD defaults
    /// (see `config/ad.rs`).
    Ad,
}

/// Search scope below the user and group search bases.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SearchScope {
    /// The whole subtree (default).
    Sub,
    /// Direct children of the base only.
    One,
    /// The base entry itself (a search base entry only, never the domain's
    /// `scope`).
    Base,
}

/// The TLS library a domain's connections use (`tls_library`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TlsLibrary {
    /// rustls, and OpenSSL for a server rustls cannot complete a
    /// handshake with (CBC or RSA-key-exchange ciphers only, a certificate
    /// named by its CN alone), remembered for that server; OpenSSL for the
    /// whole domain when rustls cannot be set up for it (default).
    #[default]
    Auto,
    /// rustls only: TLS 1.2 and 1.3, ECDHE key exchange, AEAD ciphers,
    /// whatever `openssl.cnf` says (as for `auto`'s rustls connections).
    Rustls,
    /// OpenSSL only (the system's, through native-tls), under the system's
    /// OpenSSL configuration (`openssl.cnf`: protocol versions, ciphers,
    /// FIPS).
    Openssl,
}

/// One entry of a `user_search_base` / `group_search_base` list.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SearchBaseEntry {
    /// The base DN.
    pub base: String,
    /// Scope below it (the domain's `scope` when absent).
    #[serde(default)]
    pub scope: Option<SearchScope>,
    /// A filter ANDed with the user or group filter (none when absent).
    #[serde(default)]
    pub filter: Option<String>,
}

/// `user_search_base` / `group_search_base`: one DN, or a list of bases
/// searched in order.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(untagged)]
pub enum SearchBases {
    /// One DN, searched with the domain's `scope`.
    One(String),
    /// Several bases, each with its scope and filter.
    List(Vec<SearchBaseEntry>),
}

/// One search base in force: DN, scope and extra filter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SearchBase {
    /// The base DN.
    pub base: String,
    /// Scope below it.
    pub scope: SearchScope,
    /// A filter ANDed with the user or group filter.
    pub filter: Option<String>,
}

/// How group membership is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Schema {
    /// `memberUid` attributes holding login names (default).
    Rfc2307,
    /// `member` / `uniqueMember` attributes holding DNs; groups can nest.
    Rfc2307bis,
}

/// `[domain.attributes]`: which LDAP attribute holds each field (the
/// defaults are a plain LDAP directory's; AD's: `super::defaults`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AttributeMap {
    /// Login name (`uid`).
    pub username: String,
    /// Group name (`cn`).
    pub group_name: String,
    /// Numeric user ID (`uidNumber`).
    pub uid_number: String,
    /// Numeric (primary) group ID (`gidNumber`).
    pub gid_number: String,
    /// Full name (`gecos`; `cn` is used when it is missing).
    pub gecos: String,
    /// Home directory (`homeDirectory`).
    pub home_directory: String,
    /// Login shell (`loginShell`).
    pub login_shell: String,
    /// RFC 2307 group member login names (`memberUid`).
    pub member_uid: String,
    /// RFC 2307bis group member DNs (`member`; `uniqueMember` is also read).
    pub member: String,
    /// Groups of a user, as DNs, when the server maintains it (`memberOf`).
    pub member_of: String,
    /// A stable unique ID of the entry (e.g. `entryUUID`); none by default.
    pub unique_id: Option<String>,
    /// Netgroup name (`cn`).
    pub netgroup_name: String,
    /// Netgroup `(host,user,domain)` triples (`nisNetgroupTriple`).
    pub netgroup_triple: String,
    /// Names of nested netgroups (`memberNisNetgroup`).
    pub member_netgroup: String,
    /// A user's SSH public keys (`sshPublicKey`, the openssh-lpk schema).
    pub ssh_public_key: String,
}

impl Default for AttributeMap {
    fn default() -> Self {
        AttributeMap {
            username: "uid".into(),
            group_name: "cn".into(),
            uid_number: "uidNumber".into(),
            gid_number: "gidNumber".into(),
            gecos: "gecos".into(),
            home_directory: "homeDirectory".into(),
            login_shell: "loginShell".into(),
            member_uid: "memberUid".into(),
            member: "member".into(),
            member_of: "memberOf".into(),
            unique_id: None,
            netgroup_name: "cn".into(),
            netgroup_triple: "nisNetgroupTriple".into(),
            member_netgroup: "memberNisNetgroup".into(),
            ssh_public_key: "sshPublicKey".into(),
        }
    }
}

impl AttributeMap {
    /// Every configured attribute name with its key, for the checks.
    pub(crate) fn named(&self) -> Vec<(&'static str, &str)> {
        let mut v = vec![
            ("username", self.username.as_str()),
            ("group_name", self.group_name.as_str()),
            ("uid_number", self.uid_number.as_str()),
            ("gid_number", self.gid_number.as_str()),
            ("gecos", self.gecos.as_str()),
            ("home_directory", self.home_directory.as_str()),
            ("login_shell", self.login_shell.as_str()),
            ("member_uid", self.member_uid.as_str()),
            ("member", self.member.as_str()),
            ("member_of", self.member_of.as_str()),
            ("netgroup_name", self.netgroup_name.as_str()),
            ("netgroup_triple", self.netgroup_triple.as_str()),
            ("member_netgroup", self.member_netgroup.as_str()),
            ("ssh_public_key", self.ssh_public_key.as_str()),
        ];
        if let Some(u) = &self.unique_id {
            v.push(("unique_id", u.as_str()));
        }
        v
    }
}

/// One `[[domain]]`: a directory, how to reach it and how to read it.
///
/// `PartialEq` compares everything, the bind password included, so that a
/// reload can tell which domains changed.
#[derive(Clone, Debug, PartialEq)]
pub struct DomainConfig {
    /// Domain name, unique, without `@` (users can be asked as `name@domain`).
    pub name: String,
    /// `false` keeps the configuration but serves nothing (true).
    pub enabled: bool,
    /// Directory kind (`"ldap"`).
    pub kind: DomainKind,
    /// Server URIs (`ldap://` or `ldaps://`), tried in order.
    pub uris: Vec<String>,
    /// Seconds after which a failed-over domain goes back to the first URI (300).
    pub failback_after: Duration,
    /// Use StartTLS on `ldap://` URIs (false).
    pub start_tls: bool,
    /// Verify the server certificate (true). `false` logs a warning at start.
    pub tls_verify: bool,
    /// The TLS library of the domain's connections (`auto`).
    pub tls_library: TlsLibrary,
    /// PEM file of the CA certificate(s) trusted for this domain: the only
    /// ones trusted, unless `ca_system` is set.
    pub ca_file: Option<PathBuf>,
    /// With `ca_file` set, also trust the system's CA store (false).
    pub ca_system: bool,
    /// PEM client certificate (TLS client authentication); needs `client_key`.
    pub client_cert: Option<PathBuf>,
    /// PEM (PKCS#8) private key of `client_cert`.
    pub client_key: Option<PathBuf>,
    /// Service account (a DN or a UPN); anonymous when absent.
    pub bind_dn: Option<String>,
    /// File holding the service account's password (mode 0600 or stricter).
    pub bind_password_file: Option<PathBuf>,
    /// The password read from `bind_password_file` while loading.
    pub bind_password: Option<Secret>,
    /// An account allowed to set users' passwords (root's `passwd USER`);
    /// none: root cannot reset passwords.
    pub password_admin_dn: Option<String>,
    /// File holding `password_admin_dn`'s password (checked like
    /// `bind_password_file`).
    pub password_admin_password_file: Option<PathBuf>,
    /// The password read from `password_admin_password_file` while loading.
    pub password_admin_password: Option<Secret>,
    /// Base DN of the directory.
    pub base_dn: String,
    /// Where users are searched: one DN or a list of `{ base, scope,
    /// filter }` tables searched in order (`base_dn` when absent; always set when loaded).
    pub user_search_base: Option<SearchBases>,
    /// Where groups are searched, like `user_search_base`.
    pub group_search_base: Option<SearchBases>,
    /// Where netgroups are searched, like `user_search_base` (`base_dn`
    /// when absent).
    pub netgroup_search_base: Option<SearchBases>,
    /// Filter selecting netgroup entries (`(objectClass=nisNetgroup)`).
    pub netgroup_filter: String,
    /// Search scope (`"sub"`).
    pub scope: SearchScope,
    /// Filter selecting user entries (`(objectClass=posixAccount)`).
    pub user_filter: String,
    /// Filter selecting group entries (the kind's or schema's default when unset; always set when loaded).
    pub group_filter: Option<String>,
    /// Only members of these groups exist for this host (empty: everyone).
    pub limit_to_groups: Vec<String>,
    /// Membership schema (`"rfc2307"`).
    pub schema: Schema,
    /// How deep nested groups are followed (8).
    pub nesting_depth: u32,
    /// Bound on establishing a connection, TLS included, in seconds (3).
    pub connect_timeout: Duration,
    /// Bound on each operation, in seconds (5).
    pub op_timeout: Duration,
    /// Seconds from a server's failure to its first retry (2): while the
    /// domain is offline the background probe's first attempt, and the
    /// backoff of a dead server while another one serves. Doubled after
    /// each further failure, up to `offline_retry_max`.
    pub offline_retry_initial: Duration,
    /// Longest wait between two retries of a dead server, in seconds (30).
    pub offline_retry_max: Duration,
    /// Lowest UID/GID served (1000).
    pub min_id: u32,
    /// Highest UID/GID served (0 = no limit).
    pub max_id: u32,
    /// Page size of paged searches (500).
    pub page_size: u32,
    /// Allow password checks over unencrypted connections (false).
    pub allow_insecure_auth: bool,
    /// Allow the service account's password bind over a plain `ldap://`
    /// URI without StartTLS (false: refused when the configuration loads).
    pub allow_insecure_bind: bool,
    /// Keep a salted slow hash (argon2id) of each password that logged in
    /// online, to allow logins while no server answers (false).
    pub cache_credentials: bool,
    /// Failed offline logins before a lockout (3; 0 = no lockout).
    pub offline_failed_login_attempts: u32,
    /// Minutes an offline lockout lasts (5).
    pub offline_failed_login_delay: u64,
    /// Only members of these groups may log in (empty: everyone).
    pub allow_groups: Vec<String>,
    /// An LDAP filter the user's entry must match to log in.
    pub access_filter: Option<String>,
    /// Days before a password expires from which each login warns about
    /// it (7; 0 = never warn).
    pub pwd_expiration_warning: u32,
    /// DN of the ppolicy default policy (the overlay's `olcPPolicyDefault`),
    /// read for `pwdLockoutDuration` of users without `pwdPolicySubentry`.
    pub ppolicy_default_dn: Option<String>,
    /// ID mapping of this domain: the backend and its keys.
    pub idmap: IdmapConfig,
    /// Attribute names.
    pub attributes: AttributeMap,
    /// Home directory template (`{username}`, `{uid}`, `{domain}`); overrides
    /// the directory's value when set.
    pub home_directory_template: Option<String>,
    /// Shell used when the entry has none (`/bin/sh`).
    pub default_shell: String,
    /// Shell forced for every user of this domain.
    pub shell_override: Option<String>,
    /// kind = "ad": serve names as `name@domain` instead of `name` (false).
    pub qualified_names: bool,
    /// Follow referrals and search continuation references (true for
    /// kind = "ldap", false for kind = "ad"; always set when loaded).
    pub referrals: Option<bool>,
    /// How many referrals deep a search is followed (5).
    pub referral_hops: u32,
    /// Hosts referrals may lead to besides those of `uris`: host names or
    /// `*.example.com` patterns.
    pub referral_hosts: Vec<String>,
    /// Primary GIDs of local groups (from /etc/group) that users may have
    /// although they are below `min_id` (`[100]`, Debian's `users`).
    pub local_primary_gids: Vec<u32>,
    // --- Joining AD and finding its DCs (join/discovery keys).
    /// The host keytab `rosterctl join` writes and `rosterctl test` checks
    /// (`keytab`; `None`: [`DEFAULT_KEYTAB`]).
    pub keytab: Option<PathBuf>,
    /// DNS name of an AD domain (`ad_domain`; `None`: the `DC=` components
    /// of `base_dn`, see [`DomainConfig::dns_domain`]).
    pub ad_domain: Option<String>,
    /// AD site whose DCs are tried first when the DCs come from DNS
    /// (`ad_site`).
    pub ad_site: Option<String>,
    /// Kerberos: how rosterd binds, and Kerberos logins.
    pub krb5: super::kerberos::Krb5Config,
}

/// The host keytab when a domain sets no `keytab`.
pub const DEFAULT_KEYTAB: &str = "/etc/krb5.keytab";

impl DomainConfig {
    /// The first base of user searches.
    pub fn user_base(&self) -> &str {
        first_base(&self.user_search_base, &self.base_dn)
    }
    /// The first base of group searches.
    pub fn group_base(&self) -> &str {
        first_base(&self.group_search_base, &self.base_dn)
    }
    /// Every base of user searches, in order.
    pub fn user_bases(&self) -> Vec<SearchBase> {
        self.bases(&self.user_search_base)
    }
    /// Every base of group searches, in order.
    pub fn group_bases(&self) -> Vec<SearchBase> {
        self.bases(&self.group_search_base)
    }
    /// Every base of netgroup searches, in order.
    pub fn netgroup_bases(&self) -> Vec<SearchBase> {
        self.bases(&self.netgroup_search_base)
    }
    fn bases(&self, b: &Option<SearchBases>) -> Vec<SearchBase> {
        match b {
            None => vec![SearchBase {
                base: self.base_dn.clone(),
                scope: self.scope,
                filter: None,
            }],
            Some(SearchBases::One(dn)) => vec![SearchBase {
                base: dn.clone(),
                scope: self.scope,
                filter: None,
            }],
            Some(SearchBases::List(list)) => list
                .iter()
                .map(|e| SearchBase {
                    base: e.base.clone(),
                    scope: e.scope.unwrap_or(self.scope),
                    filter: e.filter.clone(),
                })
                .collect(),
        }
    }
    /// True when searches follow referrals (`referrals`, or the kind's
    /// default: on for LDAP, off for AD).
    pub fn follows_referrals(&self) -> bool {
        self.referrals.unwrap_or(self.kind != DomainKind::Ad)
    }
    /// The group filter in force (configured, or the schema's default).
    pub fn group_filter(&self) -> &str {
        match &self.group_filter {
            Some(f) => f,
            None => default_group_filter(self.schema),
        }
    }
    /// True when connections use TLS (ldaps or StartTLS).
    pub fn uses_tls(&self, uri: &str) -> bool {
        self.start_tls || crate::uri::parse(uri).is_ok_and(|u| u.is_ldaps())
    }

    /// True when the domain's servers come from DNS SRV records: an AD
    /// domain without `uris`.
    pub fn discovers_servers(&self) -> bool {
        self.kind == DomainKind::Ad && self.uris.is_empty()
    }

    /// True when some connection of the domain uses TLS: a configured URI,
    /// or (discovered `ldap://` servers) StartTLS.
    pub fn any_tls(&self) -> bool {
        if self.discovers_servers() {
            return self.start_tls;
        }
        self.uris.iter().any(|u| self.uses_tls(u))
    }

    /// The host keytab: `keytab`, else [`DEFAULT_KEYTAB`].
    pub fn keytab_path(&self) -> PathBuf {
        self.keytab
            .clone()
            .unwrap_or_else(|| PathBuf::from(DEFAULT_KEYTAB))
    }

    /// The DNS name of the domain (lower case): `ad_domain`, else the `DC=`
    /// components of `base_dn` (`DC=ad,DC=example,DC=test` gives
    /// `ad.example.test`); `None` when `base_dn` has none.
    pub fn dns_domain(&self) -> Option<String> {
        if let Some(d) = &self.ad_domain {
            return Some(d.trim_end_matches('.').to_ascii_lowercase());
        }
        dns_domain_of(&self.base_dn)
    }

    /// The Kerberos realm of an AD domain: its DNS name in upper case.
    pub fn realm(&self) -> Option<String> {
        self.dns_domain().map(|d| d.to_ascii_uppercase())
    }
}

/// The DNS domain named by the `DC=` components of `dn`, in order
/// (lower case); `None` when it has none.
pub fn dns_domain_of(dn: &str) -> Option<String> {
    let labels: Vec<String> = dn
        .split(',')
        .filter_map(|rdn| {
            let (attr, value) = rdn.trim().split_once('=')?;
            attr.trim()
                .eq_ignore_ascii_case("dc")
                .then(|| value.trim().to_ascii_lowercase())
        })
        .filter(|v| !v.is_empty())
        .collect();
    (!labels.is_empty()).then(|| labels.join("."))
}

/// The default group filter of a schema.
pub fn default_group_filter(schema: Schema) -> &'static str {
    match schema {
        Schema::Rfc2307 => "(objectClass=posixGroup)",
        Schema::Rfc2307bis => {
            "(|(objectClass=posixGroup)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
        }
    }
}

fn first_base<'a>(b: &'a Option<SearchBases>, base_dn: &'a str) -> &'a str {
    match b {
        Some(SearchBases::One(dn)) => dn,
        Some(SearchBases::List(list)) => list.first().map(|e| e.base.as_str()).unwrap_or(base_dn),
        None => base_dn,
    }
}
