//! LDAP URIs and URLs (RFC 4516): the one parser the configuration, the
//! connection code, referral following and `rosterctl test` share.
//!
//! The generic syntax (scheme, authority, IPv6 brackets, port, path and
//! query) is the `url` crate's, which ldap3 itself uses to open
//! connections; this module adds what is LDAP's: the schemes and their
//! default ports, the `ldapi://` socket path percent-encoded in the host
//! (`ldapi://%2Frun%2Fslapd%2Fldapi`), and the `dn?attrs?scope?filter`
//! parts of a URL, percent-decoded.

use ldap3::Scope;
use percent_encoding::percent_decode_str;

/// The scheme of an LDAP URI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// `ldap://`: TCP, port 389 by default (StartTLS possible).
    Ldap,
    /// `ldaps://`: TLS from the first byte, port 636 by default.
    Ldaps,
    /// `ldapi://`: a Unix socket whose path is the percent-encoded host.
    Ldapi,
}

impl Scheme {
    /// The scheme as written in a URI, lower case.
    pub fn as_str(self) -> &'static str {
        match self {
            Scheme::Ldap => "ldap",
            Scheme::Ldaps => "ldaps",
            Scheme::Ldapi => "ldapi",
        }
    }

    /// The port used when the URI names none (0 for `ldapi://`).
    pub fn default_port(self) -> u16 {
        match self {
            Scheme::Ldap => 389,
            Scheme::Ldaps => 636,
            Scheme::Ldapi => 0,
        }
    }
}

/// Why a text is not a usable LDAP URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UriError {
    /// The generic URI syntax is broken (the `url` crate's reason).
    #[error("\"{uri}\" is not a URI: {reason}")]
    Syntax {
        /// The URI as given.
        uri: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The scheme is not `ldap`, `ldaps` or `ldapi`.
    #[error("\"{uri}\": the scheme must be ldap://, ldaps:// or ldapi://")]
    Scheme {
        /// The URI as given.
        uri: String,
    },
    /// A part of the URL (DN, scope, filter, socket path) is invalid.
    #[error("\"{uri}\": {part} {reason}")]
    Part {
        /// The URI as given.
        uri: String,
        /// The part at fault ("the DN", "the scope", ...).
        part: &'static str,
        /// What is wrong with it.
        reason: String,
    },
}

/// An LDAP URI: where the server is, and the optional search parts of an
/// LDAP URL (`ldap://host:port/dn?attrs?scope?filter`).
#[derive(Debug, Clone, PartialEq)]
pub struct LdapUri {
    /// The scheme.
    pub scheme: Scheme,
    /// The host as written (IPv6 without brackets); empty when the URI
    /// names none (`ldap:///` means the library's default, localhost). For
    /// `ldapi://`, the decoded socket path (empty: the default socket).
    pub host: String,
    /// The port, the scheme's default when none is given (0 for `ldapi://`).
    pub port: u16,
    /// The DN part, percent-decoded; `None` when empty.
    pub base: Option<String>,
    /// The scope part; `None` when empty.
    pub scope: Option<Scope>,
    /// The filter part, percent-decoded; `None` when empty.
    pub filter: Option<String>,
}

/// Parses an LDAP URI or URL. The scheme is case-insensitive; so is the
/// scope. A user part or a fragment is refused (neither means anything to
/// LDAP, and a fragment usually is an unencoded `#` in a DN or filter).
pub fn parse(text: &str) -> Result<LdapUri, UriError> {
    let syntax = |reason: String| UriError::Syntax {
        uri: text.to_string(),
        reason,
    };
    let part = |part: &'static str, reason: &str| UriError::Part {
        uri: text.to_string(),
        part,
        reason: reason.to_string(),
    };
    let url = url::Url::parse(text).map_err(|e| syntax(e.to_string()))?;
    let scheme = match url.scheme() {
        "ldap" => Scheme::Ldap,
        "ldaps" => Scheme::Ldaps,
        "ldapi" => Scheme::Ldapi,
        _ => {
            return Err(UriError::Scheme {
                uri: text.to_string(),
            })
        }
    };
    if !url.has_authority() {
        return Err(syntax("no // after the scheme".into()));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(part("the authority", "has a user part"));
    }
    if url.fragment().is_some() {
        return Err(part("the URL", "has a fragment: encode '#' as %23"));
    }
    let decode = |which: &'static str, s: &str| -> Result<Option<String>, UriError> {
        let v = percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| part(which, "is not UTF-8 once percent-decoded"))?;
        Ok((!v.is_empty()).then(|| v.into_owned()))
    };
    let host = match (scheme, url.host()) {
        (_, None) => String::new(),
        (Scheme::Ldapi, Some(url::Host::Domain(h))) => {
            decode("the socket path", h)?.unwrap_or_default()
        }
        (Scheme::Ldapi, Some(_)) => return Err(part("the socket path", "is an address")),
        (_, Some(url::Host::Ipv6(a))) => a.to_string(),
        (_, Some(url::Host::Ipv4(a))) => a.to_string(),
        (_, Some(url::Host::Domain(h))) => h.to_string(),
    };
    if scheme == Scheme::Ldapi && url.port().is_some() {
        return Err(part("the socket path", "has a port"));
    }
    let port = url.port().unwrap_or(scheme.default_port());
    let base = decode("the DN", url.path().strip_prefix('/').unwrap_or(url.path()))?;
    let mut query = url.query().unwrap_or("").split('?');
    let _attrs = query.next();
    let scope = match query.next().unwrap_or("").to_ascii_lowercase().as_str() {
        "" => None,
        "base" => Some(Scope::Base),
        "one" => Some(Scope::OneLevel),
        "sub" => Some(Scope::Subtree),
        other => {
            return Err(part(
                "the scope",
                &format!("{other:?} is not base, one or sub"),
            ))
        }
    };
    let filter = decode("the filter", query.next().unwrap_or(""))?;
    Ok(LdapUri {
        scheme,
        host,
        port,
        base,
        scope,
        filter,
    })
}

impl LdapUri {
    /// `scheme://host:port` (IPv6 in brackets, the host lower case): the
    /// server, without the search parts. `None` for `ldapi://`.
    pub fn server(&self) -> Option<String> {
        if self.scheme == Scheme::Ldapi {
            return None;
        }
        let host = self.host.to_ascii_lowercase();
        let scheme = self.scheme.as_str();
        Some(if host.contains(':') {
            format!("{scheme}://[{host}]:{}", self.port)
        } else {
            format!("{scheme}://{host}:{}", self.port)
        })
    }

    /// Host and port to open a TCP connection to (`localhost` for an empty
    /// host, as ldap3 does); `None` for `ldapi://`.
    pub fn tcp_addr(&self) -> Option<(String, u16)> {
        match self.scheme {
            Scheme::Ldapi => None,
            _ if self.host.is_empty() => Some(("localhost".to_string(), self.port)),
            _ => Some((self.host.clone(), self.port)),
        }
    }

    /// True for `ldaps://`: TLS from the first byte.
    pub fn is_ldaps(&self) -> bool {
        self.scheme == Scheme::Ldaps
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_hosts_and_ports() {
        let u = parse("ldap://127.0.0.1:3890").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Ldap, "127.0.0.1", 3890)
        );
        let u = parse("LDAPS://dc1.example.test/").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port, u.base),
            (Scheme::Ldaps, "dc1.example.test", 636, None)
        );
        let u = parse("ldap://[::1]:1389/dc=x").unwrap();
        assert_eq!((u.host.as_str(), u.port), ("::1", 1389));
        assert_eq!(u.server().as_deref(), Some("ldap://[::1]:1389"));
        assert_eq!(parse("ldap://[::1]").unwrap().port, 389);
        assert_eq!(
            parse("ldap://").unwrap().tcp_addr(),
            Some(("localhost".into(), 389))
        );
        assert!(matches!(
            parse("ldap://host:notaport"),
            Err(UriError::Syntax { .. })
        ));
        assert!(matches!(parse("http://x"), Err(UriError::Scheme { .. })));
        assert!(parse("ldap:x").is_err());
        assert!(parse("ldap://user@x").is_err());
        assert!(parse("ldap://x/dc=a#b").is_err());
    }

    #[test]
    fn ldapi_socket_paths_are_percent_decoded() {
        let u = parse("ldapi://%2Frun%2Fslapd%2Fldapi").unwrap();
        assert_eq!(
            (u.scheme, u.host.as_str(), u.port),
            (Scheme::Ldapi, "/run/slapd/ldapi", 0)
        );
        assert_eq!(u.tcp_addr(), None);
        assert_eq!(u.server(), None);
        let u = parse("ldapi:///").unwrap();
        assert_eq!(u.host, "");
        assert!(parse("ldapi://%2Fs:389").is_err());
    }

    #[test]
    fn url_parts_are_decoded() {
        let t = parse("ldap://127.0.0.1:3890/ou=remote,dc=example,dc=test??sub").unwrap();
        assert_eq!(t.server().as_deref(), Some("ldap://127.0.0.1:3890"));
        assert_eq!(t.base.as_deref(), Some("ou=remote,dc=example,dc=test"));
        assert_eq!(t.scope, Some(Scope::Subtree));
        assert_eq!(t.filter, None);
        let t = parse("LDAPS://DC1.Example.com/ou=a%20b,dc=x?cn?ONE?(uid=a%2Ab)").unwrap();
        assert_eq!(t.server().as_deref(), Some("ldaps://dc1.example.com:636"));
        assert_eq!(t.base.as_deref(), Some("ou=a b,dc=x"));
        assert_eq!(t.scope, Some(Scope::OneLevel));
        assert_eq!(t.filter.as_deref(), Some("(uid=a*b)"));
        let e = parse("ldap://h/dc=x??weird").unwrap_err();
        assert!(e.to_string().contains("the scope"), "{e}");
        assert!(parse("ldap://h/dc=%FF").is_err());
    }
}
