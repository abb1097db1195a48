//! What both flavours share to walk nested groups: DNs compared in a
//! canonical form, and the members of nested groups computed from entries
//! already read (enumeration).

use super::entry::unescape_dn_value;
use crate::config::split_dn;
use std::collections::{HashMap, HashSet};

/// A DN in a canonical form for comparisons (case, spaces and the form of
/// escapes ignored).
pub(crate) fn norm_dn(dn: &str) -> String {
    split_dn(dn)
        .into_iter()
        .map(|rdn| match rdn.split_once('=') {
            Some((a, v)) => match unescape_dn_value(v) {
                Some(v) => format!("{a}={}", v.to_lowercase()),
                None => rdn,
            },
            None => rdn,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Members of nested groups of `group_dn` computed from entries already read
/// (enumeration): `dns_of` maps a group DN (normalized) to its member DNs,
/// `direct` to its direct member names.
pub(crate) fn expand_offline(
    group_dn: &str,
    dns_of: &HashMap<String, Vec<String>>,
    direct: &HashMap<String, Vec<String>>,
    depth_limit: u32,
) -> Vec<String> {
    let mut visited = HashSet::from([norm_dn(group_dn)]);
    let mut frontier: Vec<String> = dns_of.get(&norm_dn(group_dn)).cloned().unwrap_or_default();
    let mut names = Vec::new();
    let mut depth = 0;
    while !frontier.is_empty() && depth < depth_limit {
        let mut next = Vec::new();
        for dn in frontier {
            let n = norm_dn(&dn);
            if !dns_of.contains_key(&n) || !visited.insert(n.clone()) {
                continue;
            }
            names.extend(direct.get(&n).cloned().unwrap_or_default());
            next.extend(dns_of.get(&n).cloned().unwrap_or_default());
        }
        frontier = next;
        depth += 1;
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dn_normal_form_ignores_case_spaces_and_escape_form() {
        assert_eq!(norm_dn("CN=A\\2cB , DC=x"), norm_dn("cn=a\\,b,dc=X"));
        assert_ne!(norm_dn("cn=a,dc=x"), norm_dn("cn=a,dc=y"));
    }

    #[test]
    fn offline_expansion_follows_nesting_and_stops_at_cycles() {
        let mut dns_of = HashMap::new();
        let mut direct = HashMap::new();
        dns_of.insert(norm_dn("cn=a,dc=t"), vec!["cn=b,dc=t".to_string()]);
        dns_of.insert(
            norm_dn("cn=b,dc=t"),
            vec!["CN=a, dc=t".to_string(), "cn=c,dc=t".to_string()],
        );
        dns_of.insert(norm_dn("cn=c,dc=t"), vec![]);
        direct.insert(norm_dn("cn=a,dc=t"), vec!["alice".to_string()]);
        direct.insert(norm_dn("cn=b,dc=t"), vec!["bob".to_string()]);
        direct.insert(norm_dn("cn=c,dc=t"), vec!["carol".to_string()]);
        let mut got = expand_offline("cn=a,dc=t", &dns_of, &direct, 8);
        got.sort();
        assert_eq!(got, vec!["bob", "carol"]);
        assert_eq!(
            expand_offline("cn=a,dc=t", &dns_of, &direct, 1),
            vec!["bob"]
        );
        assert!(expand_offline("cn=a,dc=t", &dns_of, &direct, 0).is_empty());
    }
}
