//! DN checks of the configuration: is it a DN, is one DN under another.

/// A rough DN check: `attr=value` components separated by commas.
pub(crate) fn is_dn(dn: &str) -> bool {
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
}
