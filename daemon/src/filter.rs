//! LDAP search filter construction with RFC 4515 value escaping.
//!
//! Every value that comes from outside (a name asked by NSS, a DN read from a
//! `member` attribute, a number) goes through [`escape`] before it is put into
//! a filter, so that `*`, `(`, `)`, `\` and NUL can never change the meaning of
//! the filter.

/// Escapes a value for use inside an LDAP filter assertion (RFC 4515 §3).
///
/// `*`, `(`, `)`, `\` and NUL are replaced by `\2a`, `\28`, `\29`, `\5c` and
/// `\00`; every other byte is kept (UTF-8 is valid in filter values).
/// This is `ldap3::ldap_escape`, the escaper of the LDAP library the
/// daemon already uses.
pub fn escape(value: &str) -> String {
    ldap3::ldap_escape(value).into_owned()
}

/// `(attr=value)` with `value` escaped. `attr` comes from the configuration
/// and is checked there to be a valid attribute description.
pub fn eq(attr: &str, value: &str) -> String {
    let value = ldap3::ldap_escape(value);
    let mut f = String::with_capacity(attr.len() + value.len() + 3);
    f.push('(');
    f.push_str(attr);
    f.push('=');
    f.push_str(&value);
    f.push(')');
    f
}

/// `(&(base)(extra))`: the configured base filter and-ed with `extra`.
///
/// `base` is a configured filter (already parenthesised); `extra` is a filter
/// built with [`eq`] or [`or`].
pub fn and(base: &str, extra: &str) -> String {
    format!("(&{base}{extra})")
}

/// `(|(f1)(f2)...)` of the given filters; a single filter is returned as is.
/// An empty list gives a filter that matches nothing.
pub fn or<I, S>(filters: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let parts: Vec<S> = filters.into_iter().collect();
    match parts.len() {
        // `(|)` is the RFC 4526 absolute false, but not every server accepts
        // it; this filter matches nothing on any server.
        0 => "(!(objectClass=*))".to_string(),
        1 => parts[0].as_ref().to_string(),
        _ => {
            let mut out = String::from("(|");
            for p in &parts {
                out.push_str(p.as_ref());
            }
            out.push(')');
            out
        }
    }
}

/// True when `filter` parses as an LDAP filter (checked when the
/// configuration is loaded, so a typo is reported there and not at the first
/// lookup).
pub fn is_valid(filter: &str) -> bool {
    filter.starts_with('(') && ldap3::parse_filter(filter).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_special_character() {
        assert_eq!(escape("a*b"), "a\\2ab");
        assert_eq!(escape("(x)"), "\\28x\\29");
        assert_eq!(escape("back\\slash"), "back\\5cslash");
        assert_eq!(escape("nul\0"), "nul\\00");
        assert_eq!(
            escape("*)(uid=*))(|(uid=*"),
            "\\2a\\29\\28uid=\\2a\\29\\29\\28|\\28uid=\\2a"
        );
    }

    #[test]
    fn keeps_ordinary_text_and_utf8() {
        assert_eq!(escape("alice"), "alice");
        assert_eq!(escape("José Ñandú"), "José Ñandú");
        assert_eq!(escape("cn=a,ou=b"), "cn=a,ou=b");
        assert_eq!(escape(""), "");
    }

    #[test]
    fn escaped_injection_stays_one_assertion() {
        let f = eq("uid", "*)(objectClass=*");
        assert_eq!(f, "(uid=\\2a\\29\\28objectClass=\\2a)");
        assert!(is_valid(&f));
        // The parsed filter is a single equality match, not a presence test
        // or a conjunction: its value is the literal input.
        let unescaped = ldap3::ldap_unescape(&f[5..f.len() - 1]).expect("valid escapes");
        assert_eq!(unescaped, "*)(objectClass=*");
    }

    #[test]
    fn combinators() {
        assert_eq!(
            and("(objectClass=posixAccount)", &eq("uid", "bob")),
            "(&(objectClass=posixAccount)(uid=bob))"
        );
        assert_eq!(or(["(a=1)"]), "(a=1)");
        assert_eq!(or(["(a=1)", "(b=2)"]), "(|(a=1)(b=2))");
        assert!(is_valid(&or(Vec::<String>::new())));
    }

    #[test]
    fn validity() {
        assert!(is_valid("(objectClass=posixAccount)"));
        assert!(is_valid(
            "(|(objectClass=posixGroup)(objectClass=groupOfNames))"
        ));
        assert!(!is_valid("objectClass=posixAccount"));
        assert!(!is_valid("(objectClass=posixAccount"));
        assert!(!is_valid(""));
    }
}
