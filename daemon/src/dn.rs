//! Distinguished names (RFC 4514): the one place that splits, unescapes,
//! compares and inspects them — the configuration's base checks, member
//! DNs of groups, nested-group walks, referral loops and the AD realm.
//!
//! ldap3 only escapes DN values (`ldap3::dn_escape`, used here to write
//! the canonical form); it has no DN parser.

/// The RDNs of `dn` as written: split at unescaped commas, escapes and
/// spaces kept. An empty DN has one empty RDN.
pub fn rdns(dn: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in dn.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            ',' => {
                out.push(&dn[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&dn[start..]);
    out
}

/// The first RDN of a DN as written (up to the first unescaped comma);
/// `None` for an empty DN.
pub fn first_rdn(dn: &str) -> Option<&str> {
    (!dn.is_empty()).then(|| rdns(dn)[0])
}

/// True when an RDN is multi-valued (`uid=a+cn=b`: an unescaped `+`).
pub fn is_multi_valued(rdn: &str) -> bool {
    let mut escaped = false;
    for c in rdn.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '+' => return true,
            _ => {}
        }
    }
    false
}

/// Undoes RFC 4514 escapes (`\,` and `\2c`) in an attribute value; `None`
/// when an escape is cut short or the result is not UTF-8.
pub fn unescape_value(v: &str) -> Option<String> {
    let bytes = v.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' {
            let next = *bytes.get(i + 1)?;
            if next.is_ascii_hexdigit() {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            } else {
                out.push(next);
                i += 2;
            }
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// A rough DN check: `attr=value` components separated by commas.
pub fn is_dn(dn: &str) -> bool {
    !dn.trim().is_empty()
        && rdns(dn).iter().all(|rdn| {
            let rdn = rdn.trim();
            rdn.contains('=') && !rdn.starts_with('=')
        })
}

/// One RDN in canonical form: the attribute lower case, the value
/// unescaped, trimmed, lower case and escaped again the one way
/// `ldap3::dn_escape` does. A value whose escapes are broken is kept as
/// written (lower case).
fn canonical_rdn(rdn: &str) -> String {
    match rdn.split_once('=') {
        Some((a, v)) => {
            let v = v.trim();
            let value = match unescape_value(v) {
                Some(u) => ldap3::dn_escape(u.to_lowercase()).into_owned(),
                None => v.to_lowercase(),
            };
            format!("{}={value}", a.trim().to_lowercase())
        }
        None => rdn.trim().to_lowercase(),
    }
}

/// The RDNs of `dn` in canonical form (see [`normalize`]).
fn canonical_rdns(dn: &str) -> Vec<String> {
    rdns(dn).into_iter().map(canonical_rdn).collect()
}

/// A DN in a canonical form for comparisons and as a map key: case,
/// spaces around `=` and `,`, and the form of escapes (`\,` or `\2c`) do
/// not matter.
pub fn normalize(dn: &str) -> String {
    if is_plain(dn) {
        // (Nothing to unescape, trim or escape: what the parse would give.)
        return dn.to_ascii_lowercase();
    }
    canonical_rdns(dn).join(",")
}

/// True for a DN of `attr=value` RDNs of letters, digits, `.`, `-` and
/// `_` only (most DNs): its canonical form is its lower case.
fn is_plain(dn: &str) -> bool {
    dn.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'=' | b',' | b'.' | b'-' | b'_'))
        && dn
            .split(',')
            .all(|rdn| rdn.bytes().filter(|&b| b == b'=').count() == 1)
}

/// True when `dn` equals `base` or lies below it (compared in canonical
/// form).
pub fn is_under(dn: &str, base: &str) -> bool {
    let d = canonical_rdns(dn);
    let b = canonical_rdns(base);
    d.len() >= b.len() && d[d.len() - b.len()..] == b[..]
}

/// The attribute and (unescaped) value of a DN's first RDN, when it is a
/// single `attr=value` with a plain attribute name: what a search can match.
pub fn rdn_assertion(dn: &str) -> Option<(String, String)> {
    let first = first_rdn(dn)?;
    if is_multi_valued(first) {
        return None;
    }
    let (attr, value) = first.split_once('=')?;
    let attr = attr.trim();
    let plain = attr.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && attr.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !plain {
        return None;
    }
    Some((attr.to_string(), unescape_value(value.trim())?))
}

/// The DNS domain of a base DN: its `DC=` components, unescaped, lower
/// case, joined by dots (empty when it has none).
pub fn dns_domain(base_dn: &str) -> String {
    rdns(base_dn)
        .into_iter()
        .filter_map(|rdn| rdn.split_once('='))
        .filter(|(a, _)| a.trim().eq_ignore_ascii_case("dc"))
        .map(|(_, v)| {
            let v = v.trim();
            unescape_value(v)
                .unwrap_or_else(|| v.to_string())
                .to_ascii_lowercase()
        })
        .collect::<Vec<_>>()
        .join(".")
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    proptest! {
        /// The plain DNs' shortcut gives what the parse gives.
        #[test]
        fn a_plain_dn_normalizes_as_parsed(
            dn in "([a-zA-Z]{1,3}=[a-zA-Z0-9._-]{0,6},){0,3}[a-zA-Z]{1,3}=[a-zA-Z0-9._-]{0,6}",
            any in "[a-zA-Z0-9=,._ -]{0,40}",
        ) {
            prop_assert!(is_plain(&dn));
            prop_assert_eq!(normalize(&dn), canonical_rdns(&dn).join(","));
            prop_assert_eq!(normalize(&any), canonical_rdns(&any).join(","));
        }
    }

    use super::*;

    #[test]
    fn splitting_honours_escapes() {
        assert_eq!(rdns("cn=a\\,b,dc=x"), ["cn=a\\,b", "dc=x"]);
        assert_eq!(rdns(""), [""]);
        assert_eq!(first_rdn("uid=a , dc=x"), Some("uid=a "));
        assert_eq!(first_rdn(""), None);
        assert!(is_multi_valued("cn=a+sn=b"));
        assert!(!is_multi_valued("cn=a\\+b"));
        assert_eq!(
            unescape_value("a\\,b\\2a\\c3\\a9").as_deref(),
            Some("a,b*é")
        );
        assert_eq!(unescape_value("cut\\"), None);
        assert_eq!(unescape_value("bad\\ff"), None);
    }

    #[test]
    fn containment_and_checks() {
        assert!(is_under(
            "ou=People, DC=example,dc=test",
            "dc=example,dc=test"
        ));
        assert!(is_under("dc=example,dc=test", "dc=example, dc=test"));
        assert!(!is_under("dc=other,dc=test", "dc=example,dc=test"));
        assert!(!is_under("dc=test", "dc=example,dc=test"));
        assert!(!is_under("ou=a\\,dc=example,dc=test", "dc=example,dc=test"));
        assert!(is_under("cn=x,ou=a\\2cb,dc=t", "OU=A\\,B,dc=t"));
        assert!(is_dn("dc=example,dc=test"));
        assert!(!is_dn("example.test"));
        assert!(!is_dn(""));
        assert!(!is_dn("dc=x,=y"));
    }

    #[test]
    fn normal_form_ignores_case_spaces_and_escape_form() {
        assert_eq!(normalize("CN=A\\2cB , DC=x"), normalize("cn=a\\,b,dc=X"));
        assert_ne!(normalize("cn=a,dc=x"), normalize("cn=a,dc=y"));
        // An escaped comma stays distinct from an RDN boundary.
        assert_ne!(normalize("cn=a\\,dc=x"), normalize("cn=a,dc=x"));
    }

    #[test]
    fn rdn_assertions() {
        assert_eq!(
            rdn_assertion("cn=Zed Person,ou=people,dc=x"),
            Some(("cn".into(), "Zed Person".into()))
        );
        assert_eq!(
            rdn_assertion("CN=a\\,b\\2a , dc=x"),
            Some(("CN".into(), "a,b*".into()))
        );
        assert_eq!(rdn_assertion("cn=a+sn=b,dc=x"), None);
        assert_eq!(rdn_assertion("1.2.3=a,dc=x"), None);
        assert_eq!(rdn_assertion("(cn)=a,dc=x"), None);
        assert_eq!(rdn_assertion("nonsense"), None);
    }

    #[test]
    fn dns_domain_of_a_base() {
        assert_eq!(dns_domain("DC=ad, dc=Example,DC=test"), "ad.example.test");
        assert_eq!(dns_domain("OU=x,DC=ad,DC=test"), "ad.test");
        assert_eq!(dns_domain("o=corp"), "");
    }
}
