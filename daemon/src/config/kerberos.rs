//! The Kerberos keys of a `[[domain]]`: how rosterd binds (`auth`: a
//! simple bind, or SASL GSSAPI as the host principal from the keytab) and
//! whether a login gets the user a ticket-granting ticket (`krb5_auth`,
//! `krb5_ccache_template`, `krb5_keep_ccache`).

use super::domain::DomainKind;
use super::raw::{Opt, RawDomain};
use super::settings::or;
use super::source::Fault;
use serde::Deserialize;
use std::path::Path;

/// The default host keytab (`keytab`).
pub use super::domain::DEFAULT_KEYTAB;
/// The default ticket cache of a user (`krb5_ccache_template`).
pub const DEFAULT_CCACHE_TEMPLATE: &str = "FILE:/tmp/krb5cc_%U";

/// How rosterd authenticates its own connections (`auth`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BindMethod {
    /// A simple bind as `bind_dn` with its password file, or anonymous.
    Simple,
    /// SASL GSSAPI as the host principal, with a ticket from the keytab;
    /// the connection is signed and sealed by Kerberos on `ldap://`
    /// (on `ldaps://` or StartTLS, TLS protects it and the bind carries a
    /// channel binding).
    Gssapi,
}

/// The resolved Kerberos settings of a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Krb5Config {
    /// `auth`: `"gssapi"` by default for `kind = "ad"` when the keytab
    /// exists and no `bind_dn` is set; `"simple"` otherwise.
    pub auth: BindMethod,
    /// `krb5_realm`: the Kerberos realm (default: `ad_domain`, else the
    /// `DC=` components of `base_dn`, upper case).
    pub realm: String,
    /// `krb5_principal`: the principal rosterd authenticates as with the
    /// keytab (default: `SHORTHOSTNAME$@REALM`, the computer account
    /// `adcli join` writes). `None`: the default, found at run time.
    pub principal: Option<String>,
    /// `krb5_auth`: a login's password gets a TGT from the KDC, verified
    /// against the keytab (default: true for a GSSAPI AD domain).
    pub login: bool,
    /// `krb5_ccache_template`: where a login's tickets are stored (`%U`
    /// the UID, `%u` the user name, `%%` a percent sign); `FILE:` caches
    /// only.
    pub ccache_template: String,
    /// `krb5_keep_ccache`: leave the ticket cache at close_session.
    pub keep_ccache: bool,
}

impl Krb5Config {
    /// True when the domain binds with SASL GSSAPI.
    pub fn gssapi(&self) -> bool {
        self.auth == BindMethod::Gssapi
    }
}

/// The realm of a base DN: its `DC=` components, upper case.
pub fn realm_of(base_dn: &str) -> String {
    crate::dn::dns_domain(base_dn).to_ascii_uppercase()
}

/// A fault of `key`, at its value when the file sets it.
fn fault<T>(key: &str, v: &Opt<T>, message: impl Into<String>) -> Fault {
    Fault {
        key: key.to_string(),
        span: super::settings::span(v),
        message: message.into(),
    }
}

/// The Kerberos keys of `r` with their defaults, and their checks.
pub(crate) fn resolve(
    r: &RawDomain,
    kind: DomainKind,
    base_dn: &str,
    keytab: &Path,
) -> Result<Krb5Config, Fault> {
    let has_bind_dn = r.bind_dn.is_some();
    let default_auth = if kind == DomainKind::Ad && !has_bind_dn && keytab.exists() {
        BindMethod::Gssapi
    } else {
        BindMethod::Simple
    };
    let auth = or(&r.auth, default_auth);
    if auth == BindMethod::Gssapi && has_bind_dn {
        return Err(fault(
            "auth",
            &r.auth,
            "auth = \"gssapi\" binds as the host principal from the keytab: remove bind_dn and bind_password_file",
        ));
    }
    let principal = r.krb5_principal.as_ref().map(|v| v.get_ref().clone());
    if let Some(p) = &principal {
        if p.trim().is_empty() || p.chars().any(char::is_whitespace) {
            return Err(fault(
                "krb5_principal",
                &r.krb5_principal,
                "must be a principal name such as HOST$@REALM",
            ));
        }
    }
    let login = or(
        &r.krb5_auth,
        auth == BindMethod::Gssapi && kind == DomainKind::Ad,
    );
    // The realm: `krb5_realm`, else the AD domain's DNS name (`ad_domain`),
    // else the `DC=` components of `base_dn`; checked only where Kerberos
    // is used (a simple-bind domain without DC= components needs none).
    let realm = r.krb5_realm.as_ref().map_or_else(
        || {
            r.ad_domain
                .as_ref()
                .map_or_else(|| realm_of(base_dn), |d| d.get_ref().to_ascii_uppercase())
        },
        |v| v.get_ref().clone(),
    );
    let uses_kerberos = auth == BindMethod::Gssapi || login || r.krb5_realm.is_some();
    if uses_kerberos && (realm.is_empty() || realm.chars().any(|c| c.is_whitespace() || c == '@')) {
        return Err(fault(
            "krb5_realm",
            &r.krb5_realm,
            format!("\"{realm}\" is not a realm (base_dn has no DC= components: set krb5_realm)"),
        ));
    }
    let ccache_template = or(&r.krb5_ccache_template, DEFAULT_CCACHE_TEMPLATE.into());
    if let Err(why) = check_template(&ccache_template) {
        return Err(fault("krb5_ccache_template", &r.krb5_ccache_template, why));
    }
    Ok(Krb5Config {
        auth,
        realm,
        principal,
        login,
        ccache_template,
        keep_ccache: or(&r.krb5_keep_ccache, false),
    })
}

/// A ticket cache template must name a `FILE:` cache by an absolute path
/// whose only `%` sequences are `%U`, `%u` and `%%`.
fn check_template(t: &str) -> Result<(), String> {
    let path = t.strip_prefix("FILE:").unwrap_or(t);
    if t.contains(':') && !t.starts_with("FILE:") {
        return Err(format!(
            "\"{t}\": only FILE: ticket caches are supported (e.g. FILE:/tmp/krb5cc_%U)"
        ));
    }
    if !path.starts_with('/') {
        return Err(format!("\"{t}\": the path must be absolute"));
    }
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' && !matches!(chars.next(), Some('U' | 'u' | '%')) {
            return Err(format!(
                "\"{t}\": only %U (UID), %u (user name) and %% may follow a %"
            ));
        }
    }
    Ok(())
}

/// The ticket cache path of a user: `template` (checked at load) with
/// `%U`, `%u` and `%%` replaced, without its `FILE:` prefix.
pub fn expand_ccache(template: &str, uid: u32, user: &str) -> String {
    let path = template.strip_prefix("FILE:").unwrap_or(template);
    let mut out = String::new();
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('U') => out.push_str(&uid.to_string()),
            Some('u') => out.push_str(user),
            Some(other) => out.push(other),
            None => out.push('%'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        assert!(check_template("FILE:/tmp/krb5cc_%U").is_ok());
        assert!(check_template("/run/user/%U/krb5cc").is_ok());
        assert!(check_template("KEYRING:persistent:%U")
            .unwrap_err()
            .contains("only FILE:"));
        assert!(check_template("FILE:tmp/x")
            .unwrap_err()
            .contains("absolute"));
        assert!(check_template("FILE:/tmp/%x").unwrap_err().contains("%U"));
        assert_eq!(
            expand_ccache("FILE:/tmp/krb5cc_%U_%u%%", 1000, "alice"),
            "/tmp/krb5cc_1000_alice%"
        );
    }

    #[test]
    fn realm_from_base_dn() {
        assert_eq!(realm_of("DC=ad,DC=example,DC=test"), "AD.EXAMPLE.TEST");
    }
}
