//! One `[[domain]]`, from its raw table to a [`DomainConfig`], in steps:
//! [`fill`] takes every key's value or its default (the kind's defaults,
//! [`super::defaults`], only for keys left unset), then one small check per
//! section ([`CHECKS`]) refuses what no single key shows: keys that go
//! together, bases under `base_dn`, TLS for the service account. Reading
//! the files the domain names is a later step ([`super::files`]).

use super::defaults::KindDefaults;
use super::domain::{AttributeMap, DomainConfig, DomainKind, SearchBases, SearchScope, TlsLibrary};
use super::raw::{Opt, RawAttributes, RawDomain};
use super::settings::{checked, or, seconds, span};
use super::source::Fault;
use crate::dn;
use crate::filter;
use crate::uri::{self, Scheme, UriError};
use std::time::Duration;

/// Resolves one domain table: defaults, then the section checks.
pub(crate) fn domain(r: &RawDomain) -> Result<DomainConfig, Fault> {
    let d = fill(r)?;
    for check in CHECKS {
        check(r, &d)?;
    }
    Ok(d)
}

/// The values of `r` with defaults for the keys it leaves unset. Checks
/// only what one value shows (a number of seconds, a range).
fn fill(r: &RawDomain) -> Result<DomainConfig, Fault> {
    let kind = or(&r.kind, DomainKind::Ldap);
    let k = KindDefaults::of(kind);
    let name = r.name.get_ref().clone();
    let uris = or(&r.uris, Vec::new());
    let base_dn = r.base_dn.get_ref().clone();
    let schema = or(&r.schema, super::domain::Schema::Rfc2307);
    let qualified_names = or(&r.qualified_names, false);
    // Discovered AD servers are `ldap://` URIs.
    let plain_ldap = uris
        .iter()
        .any(|u| uri::parse(u).is_ok_and(|u| u.scheme == Scheme::Ldap))
        || (kind == DomainKind::Ad && uris.is_empty());
    let mut limit_to_groups = or(&r.limit_to_groups, Vec::new());
    if kind == DomainKind::Ad {
        limit_to_groups = super::ad::served_group_names(&limit_to_groups, qualified_names, &name);
    }
    let bases = |b: &Opt<SearchBases>| Some(or(b, SearchBases::One(base_dn.clone())));
    let keytab = r.keytab.as_ref().map_or_else(
        || std::path::PathBuf::from(super::kerberos::DEFAULT_KEYTAB),
        |v| v.get_ref().clone(),
    );
    let krb5 = super::kerberos::resolve(r, kind, &base_dn, &keytab)?;
    let default_attributes = RawAttributes::default();
    let attributes = r
        .attributes
        .as_ref()
        .map_or(&default_attributes, |a| a.get_ref());
    Ok(DomainConfig {
        enabled: or(&r.enabled, true),
        kind,
        failback_after: seconds(
            "failback_after",
            &r.failback_after,
            Duration::from_secs(300),
            false,
        )?,
        // A GSSAPI bind seals plain ldap:// itself.
        start_tls: or(
            &r.start_tls,
            k.start_tls_on_plain_ldap && plain_ldap && !krb5.gssapi(),
        ),
        tls_verify: or(&r.tls_verify, true),
        tls_library: or(&r.tls_library, TlsLibrary::Auto),
        ca_file: r.ca_file.as_ref().map(|v| v.get_ref().clone()),
        ca_system: or(&r.ca_system, false),
        client_cert: r.client_cert.as_ref().map(|v| v.get_ref().clone()),
        client_key: r.client_key.as_ref().map(|v| v.get_ref().clone()),
        bind_dn: r.bind_dn.as_ref().map(|v| v.get_ref().clone()),
        bind_password_file: r.bind_password_file.as_ref().map(|v| v.get_ref().clone()),
        bind_password: None,
        password_admin_dn: r.password_admin_dn.as_ref().map(|v| v.get_ref().clone()),
        password_admin_password_file: r
            .password_admin_password_file
            .as_ref()
            .map(|v| v.get_ref().clone()),
        password_admin_password: None,
        user_search_base: bases(&r.user_search_base),
        group_search_base: bases(&r.group_search_base),
        netgroup_search_base: bases(&r.netgroup_search_base),
        netgroup_filter: or(&r.netgroup_filter, "(objectClass=nisNetgroup)".into()),
        scope: or(&r.scope, SearchScope::Sub),
        user_filter: or(&r.user_filter, k.user_filter.into()),
        group_filter: Some(or(&r.group_filter, k.group_filter(schema).into())),
        limit_to_groups,
        schema,
        nesting_depth: or(&r.nesting_depth, 8),
        connect_timeout: seconds(
            "connect_timeout",
            &r.connect_timeout,
            Duration::from_secs(3),
            true,
        )?,
        op_timeout: seconds("op_timeout", &r.op_timeout, Duration::from_secs(5), true)?,
        offline_retry_initial: seconds(
            "offline_retry_initial",
            &r.offline_retry_initial,
            Duration::from_secs(2),
            true,
        )?,
        offline_retry_max: seconds(
            "offline_retry_max",
            &r.offline_retry_max,
            Duration::from_secs(30),
            false,
        )?,
        min_id: checked(
            "min_id",
            &r.min_id,
            1000,
            |m| *m > 0,
            |_| "must be at least 1: ID 0 is root's and is never served".into(),
        )?,
        max_id: or(&r.max_id, 0),
        page_size: checked(
            "page_size",
            &r.page_size,
            k.page_size,
            |p| (1..=i32::MAX as u32).contains(p),
            |_| "must be between 1 and 2147483647".into(),
        )?,
        allow_insecure_auth: or(&r.allow_insecure_auth, false),
        allow_insecure_bind: or(&r.allow_insecure_bind, false),
        cache_credentials: or(&r.cache_credentials, false),
        offline_failed_login_attempts: or(&r.offline_failed_login_attempts, 3),
        offline_failed_login_delay: or(&r.offline_failed_login_delay, 5),
        allow_groups: or(&r.allow_groups, Vec::new()),
        access_filter: r.access_filter.as_ref().map(|v| v.get_ref().clone()),
        pwd_expiration_warning: checked(
            "pwd_expiration_warning",
            &r.pwd_expiration_warning,
            7,
            |d| *d <= 3650,
            |_| "must be between 0 (never warn) and 3650 days".into(),
        )?,
        ppolicy_default_dn: r.ppolicy_default_dn.as_ref().map(|v| v.get_ref().clone()),
        idmap: super::idmap::resolve(r.idmap.as_ref())?,
        attributes: attribute_map(attributes, &k),
        home_directory_template: r
            .home_directory_template
            .as_ref()
            .map(|v| v.get_ref().clone()),
        default_shell: or(&r.default_shell, "/bin/sh".into()),
        shell_override: r.shell_override.as_ref().map(|v| v.get_ref().clone()),
        qualified_names,
        referrals: Some(or(&r.referrals, k.referrals)),
        referral_hops: checked(
            "referral_hops",
            &r.referral_hops,
            5,
            |h| (1..=32).contains(h),
            |_| "must be between 1 and 32 (referrals = false turns following off)".into(),
        )?,
        referral_hosts: or(&r.referral_hosts, Vec::new()),
        local_primary_gids: or(&r.local_primary_gids, vec![100]),
        // --- join/discovery keys.
        keytab: r.keytab.as_ref().map(|v| v.get_ref().clone()),
        ad_domain: r.ad_domain.as_ref().map(|v| v.get_ref().clone()),
        ad_site: r.ad_site.as_ref().map(|v| v.get_ref().clone()),
        krb5,
        name,
        uris,
        base_dn,
    })
}

/// `[domain.attributes]` with the kind's defaults for unset keys.
fn attribute_map(a: &RawAttributes, k: &KindDefaults) -> AttributeMap {
    let d = AttributeMap::default();
    AttributeMap {
        username: or(&a.username, k.username.into()),
        group_name: or(&a.group_name, k.group_name.into()),
        uid_number: or(&a.uid_number, d.uid_number),
        gid_number: or(&a.gid_number, d.gid_number),
        gecos: or(&a.gecos, d.gecos),
        home_directory: or(&a.home_directory, k.home_directory.into()),
        login_shell: or(&a.login_shell, d.login_shell),
        member_uid: or(&a.member_uid, d.member_uid),
        member: or(&a.member, d.member),
        member_of: or(&a.member_of, d.member_of),
        unique_id: a.unique_id.as_ref().map(|v| v.get_ref().clone()),
        netgroup_name: or(&a.netgroup_name, d.netgroup_name),
        netgroup_triple: or(&a.netgroup_triple, d.netgroup_triple),
        member_netgroup: or(&a.member_netgroup, d.member_netgroup),
        ssh_public_key: or(&a.ssh_public_key, d.ssh_public_key),
    }
}

/// One section's check of a filled domain; faults point at `r`'s spans.
type Check = fn(&RawDomain, &DomainConfig) -> Result<(), Fault>;

/// The section checks, in order.
const CHECKS: [Check; 9] = [
    name,
    connection,
    service_bind,
    password_admin,
    search_bases,
    filters_and_groups,
    ids,
    presentation,
    join_and_discovery,
];

/// A fault of `key`, at its value when the file sets it.
fn fault<T>(key: &str, v: &Opt<T>, message: impl Into<String>) -> Fault {
    Fault {
        key: key.to_string(),
        span: span(v),
        message: message.into(),
    }
}

/// The domain name: non-empty, no `@`, `:` or whitespace (uniqueness is
/// checked across domains, [`super::Config::from_str`]).
fn name(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    let n = &d.name;
    if n.is_empty()
        || n.contains('@')
        || n.chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == ':')
    {
        return Err(Fault::at(
            "name",
            r.name.span(),
            "must be non-empty, without '@', ':' or whitespace",
        ));
    }
    Ok(())
}

/// URIs, TLS keys that go together, retry timing.
fn connection(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    if d.enabled && d.uris.is_empty() && d.kind != DomainKind::Ad {
        return Err(fault("uris", &r.uris,
            "an enabled domain needs at least one URI (only kind = \"ad\" finds its servers in DNS)",
        ));
    }
    for text in &d.uris {
        let scheme = || {
            fault(
                "uris",
                &r.uris,
                format!("\"{text}\": the scheme must be ldap:// or ldaps://"),
            )
        };
        let u = match uri::parse(text) {
            Ok(u) if u.scheme == Scheme::Ldapi => return Err(scheme()),
            Ok(u) => u,
            Err(UriError::Scheme { .. }) => return Err(scheme()),
            Err(e) => return Err(fault("uris", &r.uris, e.to_string())),
        };
        if u.host.is_empty() {
            return Err(fault("uris", &r.uris, format!("\"{text}\": no host")));
        }
        if d.start_tls && u.is_ldaps() {
            return Err(fault(
                "start_tls",
                &r.start_tls,
                format!("\"{text}\" is already ldaps://: StartTLS applies to ldap:// URIs only"),
            ));
        }
    }
    match (&r.client_cert, &r.client_key) {
        (Some(_), None) => {
            return Err(fault(
                "client_cert",
                &r.client_cert,
                "client_cert needs client_key",
            ))
        }
        (None, Some(_)) => {
            return Err(fault(
                "client_key",
                &r.client_key,
                "client_key needs client_cert",
            ))
        }
        _ => {}
    }
    if d.offline_retry_max < d.offline_retry_initial {
        return Err(fault(
            "offline_retry_max",
            &r.offline_retry_max,
            "must be at least offline_retry_initial",
        ));
    }
    Ok(())
}

/// The service account: both keys or neither, and its password never over
/// a plain `ldap://` URI without StartTLS unless `allow_insecure_bind`.
fn service_bind(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    match (&d.bind_dn, &d.bind_password_file) {
        (Some(dn), Some(_)) if dn.trim().is_empty() => {
            return Err(fault("bind_dn", &r.bind_dn, "is empty"))
        }
        (Some(_), None) => {
            return Err(fault(
                "bind_dn",
                &r.bind_dn,
                "bind_dn needs bind_password_file (remove both for an anonymous bind)",
            ))
        }
        (None, Some(_)) => {
            return Err(fault(
                "bind_password_file",
                &r.bind_password_file,
                "bind_password_file without bind_dn",
            ))
        }
        _ => {}
    }
    if d.bind_dn.is_some() && !d.allow_insecure_bind {
        if d.discovers_servers() && !d.start_tls {
            return Err(fault(
                "bind_dn",
                &r.bind_dn,
                "the service account's password would cross the discovered ldap:// servers in clear text: leave start_tls on, or set allow_insecure_bind = true",
            ));
        }
        if let Some(uri) = d.uris.iter().find(|u| !d.uses_tls(u)) {
            return Err(fault(
                "bind_dn",
                &r.bind_dn,
                format!(
                    "the service account's password would cross \"{uri}\" in clear text: set start_tls = true, use ldaps://, or set allow_insecure_bind = true"
                ),
            ));
        }
    }
    Ok(())
}

/// The password admin (root's `passwd USER`): both keys or neither, a DN,
/// and its password never over a plain `ldap://` URI without StartTLS
/// unless `allow_insecure_bind`.
fn password_admin(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    match (&d.password_admin_dn, &d.password_admin_password_file) {
        (Some(dn), Some(_)) if dn.trim().is_empty() => {
            return Err(fault("password_admin_dn", &r.password_admin_dn, "is empty"))
        }
        (Some(_), None) => {
            return Err(fault(
                "password_admin_dn",
                &r.password_admin_dn,
                "password_admin_dn needs password_admin_password_file",
            ))
        }
        (None, Some(_)) => {
            return Err(fault(
                "password_admin_password_file",
                &r.password_admin_password_file,
                "password_admin_password_file without password_admin_dn",
            ))
        }
        _ => {}
    }
    if d.password_admin_dn.is_some() && !d.allow_insecure_bind {
        if let Some(uri) = d.uris.iter().find(|u| !d.uses_tls(u)) {
            return Err(fault(
                "password_admin_dn",
                &r.password_admin_dn,
                format!(
                    "the password admin's password would cross \"{uri}\" in clear text: set start_tls = true, use ldaps://, or set allow_insecure_bind = true"
                ),
            ));
        }
    }
    Ok(())
}

/// `base_dn`, `scope` and the search base lists: DNs under `base_dn`, one
/// base for AD, valid filters.
fn search_bases(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    if !dn::is_dn(&d.base_dn) {
        return Err(Fault::at(
            "base_dn",
            r.base_dn.span(),
            format!("\"{}\" is not a DN", d.base_dn),
        ));
    }
    if d.scope == SearchScope::Base {
        return Err(fault(
            "scope",
            &r.scope,
            "\"base\" is for one entry of a search base list; use \"sub\" or \"one\"",
        ));
    }
    for (key, raw, list) in [
        ("user_search_base", &r.user_search_base, d.user_bases()),
        ("group_search_base", &r.group_search_base, d.group_bases()),
        (
            "netgroup_search_base",
            &r.netgroup_search_base,
            d.netgroup_bases(),
        ),
    ] {
        if list.is_empty() {
            return Err(fault(key, raw, "an empty list: give at least one base"));
        }
        if d.kind == DomainKind::Ad && list.len() > 1 {
            return Err(fault(
                key,
                raw,
                "kind = \"ad\" takes one search base (several are for kind = \"ldap\")",
            ));
        }
        for (i, sb) in list.iter().enumerate() {
            let b = &sb.base;
            let at = if list.len() > 1 {
                format!("entry {}: ", i + 1)
            } else {
                String::new()
            };
            if !dn::is_dn(b) {
                return Err(fault(key, raw, format!("{at}\"{b}\" is not a DN")));
            }
            if !dn::is_under(b, &d.base_dn) {
                return Err(fault(
                    key,
                    raw,
                    format!("{at}\"{b}\" is not under base_dn \"{}\"", d.base_dn),
                ));
            }
            if let Some(f) = sb.filter.as_ref().filter(|f| !filter::is_valid(f)) {
                return Err(fault(
                    key,
                    raw,
                    format!("{at}filter \"{f}\" is not a valid LDAP filter"),
                ));
            }
        }
    }
    Ok(())
}

/// The filters, the default password policy's DN, group lists and
/// referral hosts.
fn filters_and_groups(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    for (key, raw, f) in [
        ("user_filter", &r.user_filter, Some(&d.user_filter)),
        ("group_filter", &r.group_filter, d.group_filter.as_ref()),
        (
            "netgroup_filter",
            &r.netgroup_filter,
            Some(&d.netgroup_filter),
        ),
        ("access_filter", &r.access_filter, d.access_filter.as_ref()),
    ] {
        if let Some(f) = f.filter(|f| !filter::is_valid(f)) {
            return Err(fault(
                key,
                raw,
                format!("\"{f}\" is not a valid LDAP filter"),
            ));
        }
    }
    if let Some(dn) = d
        .ppolicy_default_dn
        .as_ref()
        .filter(|dn| !crate::dn::is_dn(dn))
    {
        return Err(fault(
            "ppolicy_default_dn",
            &r.ppolicy_default_dn,
            format!("\"{dn}\" is not a DN"),
        ));
    }
    for (key, raw, groups) in [
        ("allow_groups", &r.allow_groups, &d.allow_groups),
        ("limit_to_groups", &r.limit_to_groups, &d.limit_to_groups),
    ] {
        if groups.iter().any(|g| g.is_empty()) {
            return Err(fault(key, raw, "contains an empty name"));
        }
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
                &r.referral_hosts,
                format!("\"{h}\" is not a host name or a \"*.example.com\" pattern"),
            ));
        }
    }
    Ok(())
}

/// `max_id` against `min_id`, and the local primary GIDs (the ranges
/// themselves: [`super::idspace`]).
fn ids(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    if d.max_id != 0 && d.max_id < d.min_id {
        return Err(fault(
            "max_id",
            &r.max_id,
            format!("{} is below min_id {}", d.max_id, d.min_id),
        ));
    }
    if d.local_primary_gids.contains(&0) {
        return Err(fault(
            "local_primary_gids",
            &r.local_primary_gids,
            "contains 0: root's group is never a directory user's primary group",
        ));
    }
    Ok(())
}

/// Attribute names, home directory template, shells.
fn presentation(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    for (key, attr) in d.attributes.named() {
        if !is_attribute_name(attr) {
            return Err(Fault {
                key: format!("attributes.{key}"),
                span: r
                    .attributes
                    .as_ref()
                    .and_then(|a| attribute_span(a.get_ref(), key)),
                message: format!("\"{attr}\" is not an LDAP attribute name"),
            });
        }
    }
    if let Some(t) = &d.home_directory_template {
        check_template(t)
            .map_err(|m| fault("home_directory_template", &r.home_directory_template, m))?;
    }
    for (key, raw, shell) in [
        ("default_shell", &r.default_shell, Some(&d.default_shell)),
        (
            "shell_override",
            &r.shell_override,
            d.shell_override.as_ref(),
        ),
    ] {
        if let Some(s) = shell {
            if !s.starts_with('/') || s.contains([':', '\n']) {
                return Err(fault(
                    key,
                    raw,
                    format!("\"{s}\" is not an absolute path usable as a shell"),
                ));
            }
        }
    }
    Ok(())
}

/// The join and discovery keys: `ad_domain`, `ad_site` (DNS labels),
/// `keytab` (an absolute path); servers from DNS need a DNS domain.
fn join_and_discovery(r: &RawDomain, d: &DomainConfig) -> Result<(), Fault> {
    let is_dns_name = |s: &str, dots: bool| {
        !s.is_empty()
            && s.len() <= 253
            && s.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && !l.starts_with('-')
                    && !l.ends_with('-')
                    && l.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            && (dots || !s.contains('.'))
    };
    if let Some(a) = &d.ad_domain {
        if !is_dns_name(a.trim_end_matches('.'), true) {
            return Err(fault(
                "ad_domain",
                &r.ad_domain,
                format!("\"{a}\" is not a DNS domain name"),
            ));
        }
    }
    if let Some(s) = &d.ad_site {
        if !is_dns_name(s, false) {
            return Err(fault(
                "ad_site",
                &r.ad_site,
                format!("\"{s}\" is not an AD site name (one DNS label)"),
            ));
        }
    }
    for (key, raw) in [("ad_domain", &r.ad_domain), ("ad_site", &r.ad_site)] {
        if raw.is_some() && d.kind != DomainKind::Ad {
            return Err(fault(key, raw, "applies to kind = \"ad\" domains only"));
        }
    }
    if let Some(k) = &d.keytab {
        if !k.is_absolute() {
            return Err(fault(
                "keytab",
                &r.keytab,
                format!("\"{}\" is not an absolute path", k.display()),
            ));
        }
    }
    if d.enabled && d.discovers_servers() && d.dns_domain().is_none() {
        return Err(fault(
            "uris",
            &r.uris,
            format!(
                "no uris and no DNS domain to find the DCs in: base_dn \"{}\" has no DC= components; set ad_domain or uris",
                d.base_dn
            ),
        ));
    }
    Ok(())
}

/// The span of the `[domain.attributes]` key `key`, when set.
fn attribute_span(a: &RawAttributes, key: &str) -> Option<std::ops::Range<usize>> {
    let v = match key {
        "username" => &a.username,
        "group_name" => &a.group_name,
        "uid_number" => &a.uid_number,
        "gid_number" => &a.gid_number,
        "gecos" => &a.gecos,
        "home_directory" => &a.home_directory,
        "login_shell" => &a.login_shell,
        "member_uid" => &a.member_uid,
        "member" => &a.member,
        "member_of" => &a.member_of,
        "unique_id" => &a.unique_id,
        "netgroup_name" => &a.netgroup_name,
        "netgroup_triple" => &a.netgroup_triple,
        "member_netgroup" => &a.member_netgroup,
        _ => return None,
    };
    span(v)
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

#[cfg(test)]
mod tests {
    use super::*;

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
