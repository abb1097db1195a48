//! Splitting an LDAP URI into scheme, host and port.

/// The parts of an `ldap://` or `ldaps://` URI that the test needs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LdapUri {
    /// True for `ldaps://`.
    pub ldaps: bool,
    /// Host name or address (IPv6 without brackets).
    pub host: String,
    /// Port (389 / 636 by default).
    pub port: u16,
}

/// Parses `ldap[s]://host[:port][/...]`.
pub fn parse(uri: &str) -> Result<LdapUri, String> {
    let lower = uri.to_ascii_lowercase();
    let (ldaps, rest) = if lower.starts_with("ldaps://") {
        (true, &uri[8..])
    } else if lower.starts_with("ldap://") {
        (false, &uri[7..])
    } else {
        return Err(format!("{uri} is not an ldap:// or ldaps:// URI"));
    };
    let authority = rest.split('/').next().unwrap_or("");
    let default_port = if ldaps { 636 } else { 389 };
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or_else(|| format!("{uri}: unclosed '[' in the host"))?;
        (h.to_string(), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    let port = match port {
        Some(p) if !p.is_empty() => p
            .parse()
            .map_err(|_| format!("{uri}: \"{p}\" is not a port number"))?,
        _ => default_port,
    };
    if host.is_empty() {
        return Err(format!("{uri} names no host"));
    }
    Ok(LdapUri { ldaps, host, port })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_usual_forms() {
        assert_eq!(
            parse("ldap://dc1.corp:3389/").unwrap(),
            LdapUri {
                ldaps: false,
                host: "dc1.corp".into(),
                port: 3389
            }
        );
        assert_eq!(parse("LDAPS://x").unwrap().port, 636);
        assert_eq!(parse("ldap://[::1]:10389").unwrap().host, "::1");
        assert!(parse("http://x").is_err());
        assert!(parse("ldap://x:notaport").is_err());
        assert!(parse("ldap://").is_err());
    }
}
