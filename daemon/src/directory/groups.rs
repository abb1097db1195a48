//! Group membership: the groups of a user (memberUid, member DNs, nested
//! groups walked upwards level by level with cycle detection) and the
//! members of nested groups.

use super::entry::{
    check_name, entry_to_group, member_dns, rdn_assertion, unescape_dn_value, user_name_from_dn,
};
use super::records::{DirectoryError, GroupRef, UserRecord};
use super::search::Query;
use super::Directory;
use crate::config::{dn_is_under, split_dn, Schema};
use crate::filter;
use ldap3::Scope;
use std::collections::{HashMap, HashSet};

/// Member DNs per search filter in the nested-group walk (each DN gives two
/// terms: `member` and `uniqueMember`).
const DNS_PER_SEARCH: usize = 500;

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

impl Directory {
    /// Every group of `user`: its primary group (even when the directory has
    /// no group entry for it: then the name is empty), the groups listing it
    /// by `memberUid` or by DN, and for rfc2307bis the groups containing
    /// those, up to `nesting_depth` levels. One search, plus one per nesting
    /// level (per 500 groups) for rfc2307bis; cycles are followed once.
    /// (A `uniqueMember` value carrying a UID suffix, `DN#'0101'B`, does not
    /// match a DN assertion on the server, so such a membership is only seen
    /// when the group itself is read.)
    pub async fn groups_of_user(&self, user: &UserRecord) -> Result<Vec<GroupRef>, DirectoryError> {
        if self.is_ad() {
            return self.ad_groups_of_user(user).await;
        }
        let a = &self.cfg.attributes;
        let bis = self.cfg.schema == Schema::Rfc2307bis;
        let primary = user.user.gid;
        let mut terms = vec![
            filter::eq(&a.member_uid, &user.user.name),
            filter::eq(&a.gid_number, &primary.to_string()),
        ];
        if bis {
            terms.push(filter::eq(&a.member, &user.dn));
            if !a.member.eq_ignore_ascii_case("uniqueMember") {
                terms.push(filter::eq("uniqueMember", &user.dn));
            }
        }
        let entries = self
            .search_all(&self.group_ref_queries(&filter::or(&terms)), true)
            .await?;
        let mut out: Vec<GroupRef> = Vec::new();
        let mut gids = HashSet::new();
        let mut visited = HashSet::new();
        let mut frontier = Vec::new();
        self.collect(&entries, &mut out, &mut gids, &mut visited, &mut frontier);
        let mut depth = 0;
        while bis && !frontier.is_empty() && depth < self.cfg.nesting_depth {
            let mut next = Vec::new();
            for chunk in frontier.chunks(DNS_PER_SEARCH) {
                let mut terms = Vec::with_capacity(chunk.len() * 2);
                for dn in chunk {
                    terms.push(filter::eq(&a.member, dn));
                    if !a.member.eq_ignore_ascii_case("uniqueMember") {
                        terms.push(filter::eq("uniqueMember", dn));
                    }
                }
                let entries = self
                    .search_all(&self.group_ref_queries(&filter::or(&terms)), true)
                    .await?;
                self.collect(&entries, &mut out, &mut gids, &mut visited, &mut next);
            }
            frontier = next;
            depth += 1;
        }
        // The primary group first.
        match out.iter().position(|g| g.gid == primary) {
            Some(i) => {
                let g = out.remove(i);
                out.insert(0, g);
            }
            None => out.insert(
                0,
                GroupRef {
                    name: String::new(),
                    gid: primary,
                },
            ),
        }
        Ok(out)
    }

    /// True for an rfc2307bis group refused only for its missing gidNumber:
    /// such a group is not served but links nested groups (not logged).
    pub(super) fn is_link_only(&self, r: &super::EntryRejected) -> bool {
        self.cfg.schema == Schema::Rfc2307bis
            && r.reason
                == format!(
                    "missing required attribute {}",
                    self.cfg.attributes.gid_number
                )
    }

    /// The login name of a user entry read as a member (it has the
    /// username and uidNumber attributes), if valid.
    fn member_user_name(&self, e: &ldap3::SearchEntry) -> Option<String> {
        let a = &self.cfg.attributes;
        if !e
            .attrs
            .keys()
            .any(|k| k.eq_ignore_ascii_case(&a.uid_number))
        {
            return None;
        }
        e.attrs
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(&a.username))
            .and_then(|(_, v)| v.first())
            .filter(|n| check_name(n).is_ok())
            .cloned()
    }

    /// Adds the members of nested groups to every group of an enumeration,
    /// from the group entries already read; member DNs that are neither
    /// groups nor named by a login name are read in one batch.
    pub(super) async fn expand_all(
        &self,
        entries: &[ldap3::SearchEntry],
        groups: Vec<super::GroupRecord>,
    ) -> Result<Vec<super::GroupRecord>, DirectoryError> {
        let dns_of: HashMap<String, Vec<String>> = entries
            .iter()
            .map(|e| (norm_dn(&e.dn), member_dns(&self.cfg, e)))
            .collect();
        let mut seen = HashSet::new();
        let unresolved: Vec<String> = dns_of
            .values()
            .flatten()
            .filter(|d| {
                let n = norm_dn(d);
                !dns_of.contains_key(&n)
                    && user_name_from_dn(&self.cfg, d).is_none()
                    && seen.insert(n)
            })
            .cloned()
            .collect();
        let mut user_at: HashMap<String, String> = HashMap::new();
        if !unresolved.is_empty() {
            let a = &self.cfg.attributes;
            let attrs = vec![a.username.clone(), a.uid_number.clone()];
            for e in self.read_dns(&unresolved, &attrs).await? {
                if let Some(n) = self.member_user_name(&e) {
                    user_at.insert(norm_dn(&e.dn), n);
                }
            }
        }
        let direct: HashMap<String, Vec<String>> = entries
            .iter()
            .map(|e| {
                let mut names = super::member_names(&self.cfg, e);
                for d in member_dns(&self.cfg, e) {
                    if let Some(n) = user_at.get(&norm_dn(&d)) {
                        names.push(n.clone());
                    }
                }
                (norm_dn(&e.dn), names)
            })
            .collect();
        Ok(groups
            .into_iter()
            .map(|mut g| {
                let own = direct.get(&norm_dn(&g.dn)).cloned().unwrap_or_default();
                let nested = expand_offline(&g.dn, &dns_of, &direct, self.cfg.nesting_depth);
                for m in own.into_iter().chain(nested) {
                    if !g.group.members.contains(&m) {
                        g.group.members.push(m);
                    }
                }
                g
            })
            .collect())
    }

    /// Adds the not yet visited group entries to `out` (valid ones) and to
    /// `frontier` (all of them, for the next nesting level).
    fn collect(
        &self,
        entries: &[ldap3::SearchEntry],
        out: &mut Vec<GroupRef>,
        gids: &mut HashSet<u32>,
        visited: &mut HashSet<String>,
        frontier: &mut Vec<String>,
    ) {
        for e in entries {
            if !visited.insert(norm_dn(&e.dn)) {
                continue;
            }
            frontier.push(e.dn.clone());
            match entry_to_group(&self.cfg, &self.idmap, e) {
                Ok(g) => {
                    if gids.insert(g.group.gid) {
                        out.push(GroupRef {
                            name: g.group.name,
                            gid: g.group.gid,
                        });
                    }
                }
                Err(r) if self.is_link_only(&r) => {
                    tracing::debug!(dn = %r.dn, "group without a GID: followed for nesting only");
                }
                Err(r) => self.reject(&r),
            }
        }
    }

    /// Login names of the members of nested groups below `group_dn`, whose
    /// direct member DNs are `dns` (user DNs named by their login name are
    /// already members: only the other DNs are read, one level at a time).
    pub(crate) async fn nested_members(
        &self,
        group_dn: &str,
        dns: Vec<String>,
    ) -> Result<Vec<String>, DirectoryError> {
        let a = &self.cfg.attributes;
        let mut visited = HashSet::from([norm_dn(group_dn)]);
        let mut names = Vec::new();
        let mut frontier: Vec<String> = dns
            .into_iter()
            .filter(|d| user_name_from_dn(&self.cfg, d).is_none())
            .collect();
        let mut attrs = self.group_attrs();
        attrs.push(a.username.clone());
        attrs.push(a.uid_number.clone());
        let mut depth = 0;
        // Depth 0 reads the direct non-user members; each further round
        // is one nesting level.
        while !frontier.is_empty() && depth <= self.cfg.nesting_depth {
            let mut next = Vec::new();
            let pending: Vec<String> = frontier
                .into_iter()
                .filter(|dn| visited.insert(norm_dn(dn)))
                .collect();
            let entries = self.read_dns(&pending, &attrs).await?;
            for e in &entries {
                if let Some(n) = self.member_user_name(e) {
                    // A user whose DN is not named by its login name.
                    names.push(n);
                    continue;
                }
                if depth == self.cfg.nesting_depth {
                    continue;
                }
                for m in e
                    .attrs
                    .iter()
                    .filter(|(k, _)| k.eq_ignore_ascii_case(&a.member_uid))
                    .flat_map(|(_, v)| v)
                {
                    if check_name(m).is_ok() {
                        names.push(m.clone());
                    }
                }
                for d in member_dns(&self.cfg, e) {
                    match user_name_from_dn(&self.cfg, &d) {
                        Some(n) => names.push(n),
                        None => next.push(d),
                    }
                }
            }
            frontier = next;
            depth += 1;
        }
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        Ok(names)
    }

    /// Reads the entries named by `dns` in a few searches: the DNs are
    /// grouped by the attribute of their first RDN and searched as
    /// `(|(attr=value)...)` under `base_dn`, keeping only the entries whose DN
    /// is one of `dns`. A DN outside `base_dn` or with a multi-valued RDN is
    /// read alone. DNs that do not exist are left out.
    async fn read_dns(
        &self,
        dns: &[String],
        attrs: &[String],
    ) -> Result<Vec<ldap3::SearchEntry>, DirectoryError> {
        let wanted: HashSet<String> = dns.iter().map(|d| norm_dn(d)).collect();
        let mut by_attr: Vec<(String, Vec<String>)> = Vec::new();
        let mut alone = Vec::new();
        for dn in dns {
            match rdn_assertion(dn) {
                Some((attr, value)) if dn_is_under(dn, &self.cfg.base_dn) => {
                    match by_attr
                        .iter_mut()
                        .find(|(a, _)| a.eq_ignore_ascii_case(&attr))
                    {
                        Some((_, v)) => v.push(value),
                        None => by_attr.push((attr, vec![value])),
                    }
                }
                _ => alone.push(dn.clone()),
            }
        }
        let mut out = Vec::new();
        for (attr, values) in &by_attr {
            for chunk in values.chunks(DNS_PER_SEARCH) {
                let q = Query {
                    base: self.cfg.base_dn.clone(),
                    scope: Scope::Subtree,
                    filter: filter::or(chunk.iter().map(|v| filter::eq(attr, v))),
                    attrs: attrs.to_vec(),
                };
                let found = self.search(&q, true).await?;
                out.extend(
                    found
                        .into_iter()
                        .filter(|e| wanted.contains(&norm_dn(&e.dn))),
                );
            }
        }
        for dn in alone {
            let q = Query {
                base: dn.clone(),
                scope: Scope::Base,
                filter: "(objectClass=*)".into(),
                attrs: attrs.to_vec(),
            };
            match self.search(&q, true).await {
                Ok(e) => out.extend(e),
                Err(DirectoryError::Protocol(m)) => {
                    tracing::debug!(%dn, error = %m, "member DN not readable: skipped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
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
