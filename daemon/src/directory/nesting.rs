//! What both flavours share to walk nested groups: DNs compared in a
//! canonical form, and the members of nested groups computed from entries
//! already read (enumeration).

use crate::dn;
use std::collections::{HashMap, HashSet};

/// Members of nested groups of `group_dn` computed from entries already read
/// (enumeration): `dns_of` maps a group DN (normalized) to its member DNs,
/// `direct` to its direct member names.
pub(crate) fn expand_offline(
    group_dn: &str,
    dns_of: &HashMap<String, Vec<String>>,
    direct: &HashMap<String, Vec<String>>,
    depth_limit: u32,
) -> Vec<String> {
    let mut visited = HashSet::from([dn::normalize(group_dn)]);
    let mut frontier: Vec<String> = dns_of
        .get(&dn::normalize(group_dn))
        .cloned()
        .unwrap_or_default();
    let mut names = Vec::new();
    let mut depth = 0;
    while !frontier.is_empty() && depth < depth_limit {
        let mut next = Vec::new();
        for dn in frontier {
            let n = dn::normalize(&dn);
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
    fn offline_expansion_follows_nesting_and_stops_at_cycles() {
        let mut dns_of = HashMap::new();
        let mut direct = HashMap::new();
        dns_of.insert(dn::normalize("cn=a,dc=t"), vec!["cn=b,dc=t".to_string()]);
        dns_of.insert(
            dn::normalize("cn=b,dc=t"),
            vec!["CN=a, dc=t".to_string(), "cn=c,dc=t".to_string()],
        );
        dns_of.insert(dn::normalize("cn=c,dc=t"), vec![]);
        direct.insert(dn::normalize("cn=a,dc=t"), vec!["alice".to_string()]);
        direct.insert(dn::normalize("cn=b,dc=t"), vec!["bob".to_string()]);
        direct.insert(dn::normalize("cn=c,dc=t"), vec!["carol".to_string()]);
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
