//! Semantic checks run after parsing and filling in the defaults: what
//! serde cannot see. Reading files (TLS material, bind passwords) is
//! [`super::files`]; defaults are [`super::defaults`].

use super::domain::{DomainConfig, DomainKind, SearchBases, SearchScope};
use super::error::{find_key_line, ConfigError};
use super::Config;
use crate::filter;
use std::collections::HashSet;

/// Accepted `[cache] credential_hash_memory_kib` (KiB): one argon2 block per
/// hashing thread is kept this large.
const CREDENTIAL_HASH_MEMORY_KIB: (u32, u32) = (1024, 262_144);
/// Largest accepted `[cache] credential_hash_iterations`.
const CREDENTIAL_HASH_MAX_ITERATIONS: u32 = 64;

/// Builds errors that point at a key of the text being validated.
pub(crate) struct Reporter<'a> {
    pub origin: &'a str,
    pub text: &'a str,
}

impl Reporter<'_> {
    /// An error about `key` of the `index`-th domain (in `table`, e.g.
    /// `domain` or `domain.attributes`).
    pub(crate) fn domain(
        &self,
        index: usize,
        name: &str,
        table: &str,
        key: &str,
        msg: String,
    ) -> ConfigError {
        let line = find_key_line(self.text, Some(index), table, key)
            .or_else(|| find_key_line(self.text, Some(index), "domain", "name"));
        let shown_key = if table == "domain" {
            key.to_string()
        } else {
            format!("{}.{key}", &table["domain.".len()..])
        };
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            line,
            key: format!("domain \"{name}\" key `{shown_key}`"),
            message: msg,
        }
    }

    /// An error about `key` of a top-level `table`.
    pub(crate) fn top(&self, table: &str, key: &str, msg: String) -> ConfigError {
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            line: find_key_line(self.text, None, table, key),
            key: format!("key `{table}.{key}`"),
            message: msg,
        }
    }
}

/// Checks the `[daemon]`, `[nss]` and `[cache]` tables and that domain
/// names are valid and unique. Domains themselves: [`domain`].
pub(crate) fn top(cfg: &Config, r: &Reporter<'_>) -> Result<(), ConfigError> {
    if cfg.daemon.log_level.trim().is_empty()
        || tracing_subscriber::EnvFilter::try_new(&cfg.daemon.log_level).is_err()
    {
        return Err(r.top(
            "daemon",
            "log_level",
            format!(
                "\"{}\" is not a log level (error, warn, info, debug, trace) or filter directive",
                cfg.daemon.log_level
            ),
        ));
    }
    for (key, path) in [
        ("socket_dir", &cfg.daemon.socket_dir),
        ("state_dir", &cfg.daemon.state_dir),
    ] {
        if !path.is_absolute() {
            return Err(r.top(
                "daemon",
                key,
                format!("{} is not an absolute path", path.display()),
            ));
        }
    }
    if cfg.nss.timeout_ms == 0 {
        return Err(r.top("nss", "timeout_ms", "must be greater than 0".into()));
    }
    if cfg.nss.enumerate_timeout_ms == 0 {
        return Err(r.top(
            "nss",
            "enumerate_timeout_ms",
            "must be greater than 0".into(),
        ));
    }
    let (mc_min, mc_max) = super::settings::MEMCACHE_SIZE_RANGE;
    if !(mc_min..=mc_max).contains(&cfg.nss.memcache_size) {
        return Err(r.top(
            "nss",
            "memcache_size",
            format!(
                "{} is out of range: from {mc_min} (1 MiB) to {mc_max} (1 GiB) bytes",
                cfg.nss.memcache_size
            ),
        ));
    }
    if cfg.cache.max_entries == 0 {
        return Err(r.top("cache", "max_entries", "must be greater than 0".into()));
    }
    let memory = cfg.cache.credential_hash_memory_kib;
    if !(CREDENTIAL_HASH_MEMORY_KIB.0..=CREDENTIAL_HASH_MEMORY_KIB.1).contains(&memory) {
        return Err(r.top(
            "cache",
            "credential_hash_memory_kib",
            format!(
                "{memory} is out of range: from {} to {} KiB (OWASP's minimum for argon2id is 7168)",
                CREDENTIAL_HASH_MEMORY_KIB.0, CREDENTIAL_HASH_MEMORY_KIB.1
            ),
        ));
    }
    let iterations = cfg.cache.credential_hash_iterations;
    if !(1..=CREDENTIAL_HASH_MAX_ITERATIONS).contains(&iterations) {
        return Err(r.top(
            "cache",
            "credential_hash_iterations",
            format!("{iterations} is out of range: from 1 to {CREDENTIAL_HASH_MAX_ITERATIONS}"),
        ));
    }
    let mut names = HashSet::new();
    for (i, d) in cfg.domains.iter().enumerate() {
        check_name(i, d, r)?;
        if !names.insert(d.name.to_ascii_lowercase()) {
            return Err(r.domain(
                i,
                &d.name,
                "domain",
                "name",
                "a domain of this name is already defined above: names must be unique".into(),
            ));
        }
    }
    Ok(())
}

fn check_name(i: usize, d: &DomainConfig, r: &Reporter<'_>) -> Result<(), ConfigError> {
    if d.name.is_empty()
        || d.name.contains('@')
        || d.name
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
    {
        return Err(r.domain(
            i,
            &d.name,
            "domain",
            "name",
            "must be non-empty, without '@', ':' or whitespace".into(),
        ));
    }
    Ok(())
}

/// A fault of one domain: the table (`domain`, `domain.attributes`), the
/// key and what is wrong; [`domain`] adds the file, line and domain name.
type Fault = (&'static str, &'static str, String);

/// One group of checks of a domain.
type Check = fn(&DomainConfig) -> Result<(), Fault>;

/// A fault of a key of the `[[domain]]` table itself.
fn fault(key: &'static str, message: impl Into<String>) -> Fault {
    ("domain", key, message.into())
}

/// Checks the `i`-th domain, its defaults filled in
/// ([`super::defaults::fill`]); reads no file.
pub(crate) fn domain(i: usize, d: &DomainConfig, r: &Reporter<'_>) -> Result<(), ConfigError> {
    let checks: [Check; 5] = [connection, service_bind, searches, ids, presentation];
    checks
        .iter()
        .try_for_each(|check| check(d))
        .map_err(|(table, key, message)| r.domain(i, &d.name, table, key, message))
}

/// URIs, TLS keys that go together, timeouts.
fn connection(d: &DomainConfig) -> Result<(), Fault> {
    if d.enabled && d.uris.is_empty() {
        return Err(fault("uris", "an enabled domain needs at least one URI"));
    }
    for uri in &d.uris {
        let lower = uri.to_ascii_lowercase();
        let rest = lower
            .strip_prefix("ldap://")
            .or_else(|| lower.strip_prefix("ldaps://"))
            .ok_or_else(|| {
                fault(
                    "uris",
                    format!("\"{uri}\": the scheme must be ldap:// or ldaps://"),
                )
            })?;
        if rest.split('/').next().unwrap_or("").is_empty() {
            return Err(fault("uris", format!("\"{uri}\": no host")));
        }
        if d.start_tls && lower.starts_with("ldaps://") {
            return Err(fault(
                "start_tls",
                format!("\"{uri}\" is already ldaps://: StartTLS applies to ldap:// URIs only"),
            ));
        }
    }
    match (&d.client_cert, &d.client_key) {
        (Some(_), None) => return Err(fault("client_cert", "client_cert needs client_key")),
        (None, Some(_)) => return Err(fault("client_key", "client_key needs client_cert")),
        _ => {}
    }
    if d.connect_timeout.is_zero() {
        return Err(fault("connect_timeout", "must be greater than 0"));
    }
    if d.op_timeout.is_zero() {
        return Err(fault("op_timeout", "must be greater than 0"));
    }
    if d.offline_retry_initial.is_zero() {
        return Err(fault("offline_retry_initial", "must be greater than 0"));
    }
    if d.offline_retry_max < d.offline_retry_initial {
        return Err(fault(
            "offline_retry_max",
            "must be at least offline_retry_initial",
        ));
    }
    Ok(())
}

/// The service account: both keys or neither, and its password never over
/// a plain `ldap://` URI without StartTLS unless `allow_insecure_bind`.
fn service_bind(d: &DomainConfig) -> Result<(), Fault> {
    match (&d.bind_dn, &d.bind_password_file) {
        (Some(dn), Some(_)) if dn.trim().is_empty() => return Err(fault("bind_dn", "is empty")),
        (Some(_), None) => {
            return Err(fault(
                "bind_dn",
                "bind_dn needs bind_password_file (remove both for an anonymous bind)",
            ))
        }
        (None, Some(_)) => {
            return Err(fault(
                "bind_password_file",
                "bind_password_file without bind_dn",
            ))
        }
        _ => {}
    }
    if d.bind_dn.is_some() && !d.allow_insecure_bind {
        if let Some(uri) = d.uris.iter().find(|u| !d.uses_tls(u)) {
            return Err(fault(
                "bind_dn",
                format!(
                    "the service account's password would cross \"{uri}\" in clear text: set start_tls = true, use ldaps://, or set allow_insecure_bind = true"
                ),
            ));
        }
    }
    Ok(())
}

/// Bases, filters, group lists, page size.
fn searches(d: &DomainConfig) -> Result<(), Fault> {
    if !is_dn(&d.base_dn) {
        return Err(fault("base_dn", format!("\"{}\" is not a DN", d.base_dn)));
    }
    if d.scope == SearchScope::Base {
        return Err(fault(
            "scope",
            "\"base\" is for one entry of a search base list; use \"sub\" or \"one\"",
        ));
    }
    for (key, bases) in [
        ("user_search_base", &d.user_search_base),
        ("group_search_base", &d.group_search_base),
        ("netgroup_search_base", &d.netgroup_search_base),
    ] {
        if matches!(bases, Some(SearchBases::List(l)) if l.is_empty()) {
            return Err(fault(key, "an empty list: give at least one base"));
        }
        if d.kind == DomainKind::Ad && matches!(bases, Some(SearchBases::List(l)) if l.len() > 1) {
            return Err(fault(
                key,
                "kind = \"ad\" takes one search base (several are for kind = \"ldap\")",
            ));
        }
        let list = match bases {
            Some(_) if key == "user_search_base" => d.user_bases(),
            Some(_) if key == "netgroup_search_base" => d.netgroup_bases(),
            Some(_) => d.group_bases(),
            None => continue,
        };
        for (i, sb) in list.iter().enumerate() {
            let b = &sb.base;
            let at = if list.len() > 1 {
                format!("entry {}: ", i + 1)
            } else {
                String::new()
            };
            if !is_dn(b) {
                return Err(fault(key, format!("{at}\"{b}\" is not a DN")));
            }
            if !dn_is_under(b, &d.base_dn) {
                return Err(fault(
                    key,
                    format!("{at}\"{b}\" is not under base_dn \"{}\"", d.base_dn),
                ));
            }
            if let Some(f) = sb.filter.as_ref().filter(|f| !filter::is_valid(f)) {
                return Err(fault(
                    key,
                    format!("{at}filter \"{f}\" is not a valid LDAP filter"),
                ));
            }
        }
    }
    for (key, f) in [
        ("user_filter", Some(&d.user_filter)),
        ("group_filter", d.group_filter.as_ref()),
        ("netgroup_filter", Some(&d.netgroup_filter)),
        ("access_filter", d.access_filter.as_ref()),
    ] {
        if let Some(f) = f.filter(|f| !filter::is_valid(f)) {
            return Err(fault(key, format!("\"{f}\" is not a valid LDAP filter")));
        }
    }
    for (key, groups) in [
        ("allow_groups", &d.allow_groups),
        ("limit_to_groups", &d.limit_to_groups),
    ] {
        if groups.iter().any(|g| g.is_empty()) {
            return Err(fault(key, "contains an empty name"));
        }
    }
    if d.page_size == 0 || d.page_size > i32::MAX as u32 {
        return Err(fault("page_size", "must be between 1 and 2147483647"));
    }
    referrals(d)
}

/// `referral_hops` and the `referral_hosts` patterns.
fn referrals(d: &DomainConfig) -> Result<(), Fault> {
    if d.referral_hops == 0 || d.referral_hops > 32 {
        return Err(fault(
            "referral_hops",
            "must be between 1 and 32 (referrals = false turns following off)",
        ));
    }
    for h in &d.referral_hosts {
        let name = h.strip_prefix("*.").unwrap_or(h);
        let ok = !name.is_empty()
            && !name.starts_with('.')
            && !name.ends_with('.')
            && !name.contains("..")
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ':'));
        if !ok {
            return Err(fault(
                "referral_hosts",
                format!("\"{h}\" is not a host name or a \"*.example.com\" pattern"),
            ));
        }
    }
    Ok(())
}

/// `min_id` and `max_id` (the ranges themselves: [`super::idspace`]).
fn ids(d: &DomainConfig) -> Result<(), Fault> {
    if d.min_id == 0 {
        return Err(fault(
            "min_id",
            "must be at least 1: ID 0 is root's and is never served",
        ));
    }
    if d.max_id != 0 && d.max_id < d.min_id {
        return Err(fault(
            "max_id",
            format!("{} is below min_id {}", d.max_id, d.min_id),
        ));
    }
    if d.local_primary_gids.contains(&0) {
        return Err(fault(
            "local_primary_gids",
            "contains 0: root's group is never a directory user's primary group",
        ));
    }
    Ok(())
}

/// Attribute names, home directory template, shells.
fn presentation(d: &DomainConfig) -> Result<(), Fault> {
    for (key, attr) in d.attributes.named() {
        if !is_attribute_name(attr) {
            return Err((
                "domain.attributes",
                key,
                format!("\"{attr}\" is not an LDAP attribute name"),
            ));
        }
    }
    if let Some(t) = &d.home_directory_template {
        check_template(t).map_err(|m| fault("home_directory_template", m))?;
    }
    for (key, shell) in [
        ("default_shell", Some(&d.default_shell)),
        ("shell_override", d.shell_override.as_ref()),
    ] {
        if let Some(s) = shell {
            if !s.starts_with('/') || s.contains([':', '\n']) {
                return Err(fault(
                    key,
                    format!("\"{s}\" is not an absolute path usable as a shell"),
                ));
            }
        }
    }
    Ok(())
}

/// Checks that `{...}` placeholders are known and braces balanced.
fn check_template(t: &str) -> Result<(), String> {
    let mut rest = t;
    while let Some(start) = rest.find('{') {
        let after = &rest[start + 1..];
        let end = after
            .find('}')
            .ok_or_else(|| format!("\"{t}\": unclosed '{{'"))?;
        let name = &after[..end];
        if !matches!(name, "username" | "uid" | "domain") {
            return Err(format!(
                "\"{t}\": unknown placeholder {{{name}}} (known: {{username}}, {{uid}}, {{domain}})"
            ));
        }
        rest = &after[end + 1..];
    }
    if rest.contains('}') {
        return Err(format!("\"{t}\": unmatched '}}'"));
    }
    if !t.starts_with('/') && !t.starts_with('{') {
        return Err(format!(
            "\"{t}\": a home directory must be an absolute path"
        ));
    }
    Ok(())
}

/// An attribute description: a name or OID, with options (`;lang-en`).
fn is_attribute_name(a: &str) -> bool {
    let mut chars = a.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && a.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | ';'))
}

/// A rough DN check: `attr=value` components separated by commas.
fn is_dn(dn: &str) -> bool {
    !dn.trim().is_empty()
        && split_dn(dn)
            .iter()
            .all(|rdn| rdn.contains('=') && !rdn.starts_with('='))
}

/// Splits a DN into normalized (lowercase, trimmed around `=` and `,`) RDNs,
/// honouring backslash escapes.
pub(crate) fn split_dn(dn: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut escaped = false;
    for c in dn.chars() {
        if escaped {
            cur.push(c);
            escaped = false;
        } else if c == '\\' {
            cur.push(c);
            escaped = true;
        } else if c == ',' {
            out.push(normalize_rdn(&cur));
            cur.clear();
        } else {
            cur.push(c);
        }
    }
    out.push(normalize_rdn(&cur));
    out
}

fn normalize_rdn(rdn: &str) -> String {
    match rdn.split_once('=') {
        Some((a, v)) => format!("{}={}", a.trim().to_lowercase(), v.trim().to_lowercase()),
        None => rdn.trim().to_lowercase(),
    }
}

/// True when `dn` equals `base` or lies below it (case-insensitive).
pub fn dn_is_under(dn: &str, base: &str) -> bool {
    let d = split_dn(dn);
    let b = split_dn(base);
    d.len() >= b.len() && d[d.len() - b.len()..] == b[..]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns() {
        assert!(dn_is_under(
            "ou=People, DC=example,dc=test",
            "dc=example,dc=test"
        ));
        assert!(dn_is_under("dc=example,dc=test", "dc=example, dc=test"));
        assert!(!dn_is_under("dc=other,dc=test", "dc=example,dc=test"));
        assert!(!dn_is_under("dc=test", "dc=example,dc=test"));
        assert!(!dn_is_under(
            "ou=a\\,dc=example,dc=test",
            "dc=example,dc=test"
        ));
        assert!(is_dn("dc=example,dc=test"));
        assert!(!is_dn("example.test"));
        assert!(!is_dn(""));
    }

    #[test]
    fn templates() {
        assert!(check_template("/home/{username}").is_ok());
        assert!(check_template("/home/{domain}/{uid}").is_ok());
        assert!(check_template("/home/{user}")
            .unwrap_err()
            .contains("unknown placeholder"));
        assert!(check_template("/home/{username")
            .unwrap_err()
            .contains("unclosed"));
        assert!(check_template("home/{username}").is_err());
    }

    #[test]
    fn attribute_names() {
        assert!(is_attribute_name("uidNumber"));
        assert!(is_attribute_name("cn;lang-en"));
        assert!(is_attribute_name("1.2.3.4"));
        assert!(!is_attribute_name(""));
        assert!(!is_attribute_name("uid)(x"));
        assert!(!is_attribute_name("-x"));
    }
}
