//! Group membership: the groups of a user (memberUid, member DNs, nested
//! groups walked upwards level by level with cycle detection) and the
//! members of nested groups.

use super::{group_attrs, group_ref_queries, Rfc2307};
use crate::config::{DomainConfig, Schema};
use crate::directory::entry::{
    check_name, member_dns, member_names, octets_to_group_head, user_name_from_dn, EntryRejected,
};
use crate::directory::nesting::expand_offline;
use crate::directory::records::{DirectoryError, GroupRecord, GroupRef, UserRecord};
use crate::directory::search::{self, Query};
use crate::directory::{Directory, EntrySink};
use crate::dn;
use crate::filter;
use ldap3::{EntryOctets, Scope};
use std::collections::{HashMap, HashSet};

/// What one search for a user's groups found, and its nesting levels
/// after it (rfc2307bis): the groups (unless only their GIDs are
/// wanted), their GIDs, the entries read and the nesting frontier.
struct Collected {
    out: Option<Vec<GroupRef>>,
    /// The GID of each valid group read, in order, where the groups are
    /// not kept (`out` is `None`): one GID can come more than once (a
    /// group read twice, two groups with one GID), which
    /// [`Rfc2307::groups_of_name`] makes unique once all are read
    /// ([`Rfc2307::groups_of_user`] keeps the first group of each GID in
    /// `out`). (A set of them cost 150 instructions an entry, which a user
    /// in 1,000 groups pays before its answer.)
    gids: Vec<u32>,
    /// The DNs of the entries read, one after the other, as the server
    /// spelled them (`dn_ends` says where each ends).
    dns: String,
    /// Where the DN of each entry read ends in `dns`, in order: what a
    /// query asked again takes back.
    dn_ends: Vec<usize>,
    /// The DNs of the entries read (`dns`), where an entry can come twice in the answers
    /// read into this (under two search bases; in rfc2307bis nesting, a
    /// group reached along two paths, cycles included): each is read
    /// once. (One server spells an entry's DN the same in
    /// every answer; entries a referral led to are compared in normalized
    /// form, [`Collecting::referred`]. Keeping every entry's DN in a set,
    /// where an answer holds each entry once anyway, cost 0.9k
    /// instructions an entry, and normalizing each 1.8k.)
    seen: Option<HashSet<String, crate::directory::FastHash>>,
    /// The DNs of the groups met at this level (rfc2307bis), whose
    /// parents the next level asks.
    frontier: Vec<String>,
}

impl Collected {
    /// Nothing read yet; the groups kept when `named`.
    fn new(named: bool) -> Self {
        Collected {
            out: named.then(Vec::new),
            gids: Vec::new(),
            dns: String::new(),
            dn_ends: Vec::new(),
            seen: None,
            frontier: Vec::new(),
        }
    }

    /// The DNs of the entries read, in order.
    fn read_dns(&self) -> impl Iterator<Item = &str> {
        let mut start = 0;
        self.dn_ends.iter().map(move |&end| {
            let dn = &self.dns[start..end];
            start = end;
            dn
        })
    }

    /// From now on each entry is read once however often it comes
    /// ([`Collected::seen`]), those read so far included.
    fn read_each_once(&mut self) {
        if self.seen.is_none() {
            let seen = self.read_dns().map(str::to_string).collect();
            self.seen = Some(seen);
        }
    }
}

/// A search for a user's groups read as its entries arrive
/// ([`Rfc2307::collect`] for each, while the next are on their way):
/// only their names and GIDs are kept (and their DNs).
struct Collecting<'a> {
    rfc: &'a Rfc2307,
    dir: &'a Directory,
    found: &'a mut Collected,
    /// How many entries `found.dn_ends`, octets `found.dns`, GIDs
    /// `found.gids`, groups `found.out` and DNs `found.frontier` held when
    /// the query began.
    read_from: usize,
    dns_from: usize,
    gids_from: usize,
    out_from: usize,
    frontier_from: usize,
}

impl EntrySink<EntryOctets> for Collecting<'_> {
    fn begin(&mut self) {
        self.read_from = self.found.dn_ends.len();
        self.dns_from = self.found.dns.len();
        self.gids_from = self.found.gids.len();
        self.out_from = self.found.out.as_ref().map_or(0, Vec::len);
        self.frontier_from = self.found.frontier.len();
    }
    fn put(&mut self, e: EntryOctets) {
        self.rfc.collect(self.dir, &e, self.found);
    }
    fn restart(&mut self) {
        let found = &mut *self.found;
        if let Some(seen) = found.seen.as_mut() {
            let mut start = self.dns_from;
            for &end in &found.dn_ends[self.read_from..] {
                seen.remove(&found.dns[start..end]);
                start = end;
            }
        }
        found.dn_ends.truncate(self.read_from);
        found.dns.truncate(self.dns_from);
        found.gids.truncate(self.gids_from);
        if let Some(out) = found.out.as_mut() {
            out.truncate(self.out_from);
        }
        found.frontier.truncate(self.frontier_from);
    }
    fn referred(&mut self, more: Vec<EntryOctets>) {
        for e in search::unread(self.found.read_dns(), more) {
            self.put(e);
        }
    }
}

/// Member DNs per search filter in the nested-group walk (each DN gives two
/// terms: `member` and `uniqueMember`).
const DNS_PER_SEARCH: usize = 500;

/// What the group entries of an rfc2307bis listing hold for nesting, by
/// normalized DN (valid groups and the others alike): kept as the entries
/// arrive instead of the entries themselves.
#[derive(Default)]
pub(super) struct Links {
    /// The member DNs of each entry ([`member_dns`]).
    dns_of: HashMap<String, Vec<String>>,
    /// The login names each entry lists directly ([`member_names`]).
    names_of: HashMap<String, Vec<String>>,
}

impl Links {
    /// Notes what the group entry `e` holds.
    pub(super) fn add(&mut self, cfg: &DomainConfig, e: &ldap3::SearchEntry) {
        let key = dn::normalize(&e.dn);
        self.names_of.insert(key.clone(), member_names(cfg, e));
        self.dns_of.insert(key, member_dns(cfg, e));
    }
}

/// Appends to `members` the names of `more` it does not list yet, each
/// once. Through a set: a group of many thousand members made the scan of
/// its member list for each name quadratic.
pub(super) fn add_members<'a>(
    members: &mut Vec<String>,
    more: impl IntoIterator<Item = &'a String>,
) {
    let mut have: HashSet<&str, foldhash::fast::RandomState> =
        members.iter().map(String::as_str).collect();
    let added: Vec<String> = more
        .into_iter()
        .filter(|m| have.insert(m.as_str()))
        .cloned()
        .collect();
    members.extend(added);
}

impl Rfc2307 {
    /// Every group of `user`: its primary group (even when the directory has
    /// no group entry for it: then the name is empty), the groups listing it
    /// by `memberUid` or by DN, and for rfc2307bis the groups containing
    /// those, up to `nesting_depth` levels. One search, plus one per nesting
    /// level (per 500 groups) for rfc2307bis; cycles are followed once.
    /// (A `uniqueMember` value carrying a UID suffix, `DN#'0101'B`, does not
    /// match a DN assertion on the server, so such a membership is only seen
    /// when the group itself is read.)
    pub(crate) async fn groups_of_user(
        &self,
        dir: &Directory,
        user: &UserRecord,
    ) -> Result<Vec<GroupRef>, DirectoryError> {
        let a = &dir.cfg.attributes;
        let bis = dir.cfg.schema == Schema::Rfc2307bis;
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
        let mut found = self.found_by(dir, &filter::or(&terms), true).await?;
        let mut depth = 0;
        while bis && !found.frontier.is_empty() && depth < dir.cfg.nesting_depth {
            // (What this level finds makes the next level's frontier.)
            let frontier = std::mem::take(&mut found.frontier);
            for chunk in frontier.chunks(DNS_PER_SEARCH) {
                let mut terms = Vec::with_capacity(chunk.len() * 2);
                for dn in chunk {
                    terms.push(filter::eq(&a.member, dn));
                    if !a.member.eq_ignore_ascii_case("uniqueMember") {
                        terms.push(filter::eq("uniqueMember", dn));
                    }
                }
                self.read_into(dir, &filter::or(&terms), &mut found).await?;
            }
            depth += 1;
        }
        let mut out = found.out.unwrap_or_default();
        // Each GID once, with the first group read of it.
        let mut kept = HashSet::<u32, crate::directory::FastHash>::default();
        out.retain(|g| kept.insert(g.gid));
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

    /// True when a user's groups are those listing its login name
    /// (`memberUid`) and its primary group: RFC 2307. rfc2307bis also
    /// follows the user's DN and nesting, which need its entry.
    pub(crate) fn groups_by_name_alone(&self, cfg: &DomainConfig) -> bool {
        cfg.schema != Schema::Rfc2307bis
    }

    /// The GIDs of the groups listing login name `name` by `memberUid`,
    /// as [`Rfc2307::groups_of_user`] finds them for the user of that name
    /// but for its primary group (which the resolver puts first), each
    /// once, in increasing order: one search, asked before the user's
    /// entry is read. Only where [`Rfc2307::groups_by_name_alone`]; a name
    /// no user can have finds none without a search. (The groups' names
    /// are not kept: a user in 1,000 groups made 1,000 strings only to
    /// drop them.)
    pub(crate) async fn groups_of_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Vec<u32>, DirectoryError> {
        if !self.groups_by_name_alone(&dir.cfg) {
            return Err(DirectoryError::invalid(format!(
                "domain \"{}\": the groups of {name:?} are found from the user's entry (rfc2307bis)",
                dir.cfg.name
            )));
        }
        if check_name(name).is_err() {
            return Ok(Vec::new());
        }
        let f = filter::eq(&dir.cfg.attributes.member_uid, name);
        let mut gids = self.found_by(dir, &f, false).await?.gids;
        gids.sort_unstable();
        gids.dedup();
        Ok(gids)
    }

    /// The groups one search with `extra` finds, read by
    /// [`Rfc2307::collect`] (their names too when `named`).
    async fn found_by(
        &self,
        dir: &Directory,
        extra: &str,
        named: bool,
    ) -> Result<Collected, DirectoryError> {
        let mut found = Collected::new(named);
        self.read_into(dir, extra, &mut found).await?;
        Ok(found)
    }

    /// Reads into `found` the groups one search with `extra` finds (each
    /// entry as it arrives, [`Collecting`]; the entries are not kept).
    async fn read_into(
        &self,
        dir: &Directory,
        extra: &str,
        found: &mut Collected,
    ) -> Result<(), DirectoryError> {
        let queries = group_ref_queries(&dir.cfg, extra);
        if queries.len() > 1 || dir.cfg.schema == Schema::Rfc2307bis {
            found.read_each_once();
        }
        let mut sink = Collecting {
            rfc: self,
            dir,
            found,
            read_from: 0,
            dns_from: 0,
            gids_from: 0,
            out_from: 0,
            frontier_from: 0,
        };
        dir.search_all_into(&queries, &mut sink).await
    }

    /// True for an rfc2307bis group refused only for its missing gidNumber:
    /// such a group is not served but links nested groups (not logged).
    pub(super) fn is_link_only(&self, cfg: &DomainConfig, r: &EntryRejected) -> bool {
        cfg.schema == Schema::Rfc2307bis
            && r.reason == format!("missing required attribute {}", cfg.attributes.gid_number)
    }

    /// The login name of a user entry read as a member (it has the
    /// username and uidNumber attributes), if valid.
    fn member_user_name(&self, cfg: &DomainConfig, e: &ldap3::SearchEntry) -> Option<String> {
        let a = &cfg.attributes;
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
    /// from what the group entries listed held ([`Links`]); member DNs
    /// that are neither groups nor named by a login name are read in one
    /// batch.
    pub(super) async fn expand_all(
        &self,
        dir: &Directory,
        links: Links,
        groups: Vec<GroupRecord>,
    ) -> Result<Vec<GroupRecord>, DirectoryError> {
        let Links {
            dns_of,
            names_of: mut direct,
        } = links;
        let mut seen = HashSet::new();
        let unresolved: Vec<String> = dns_of
            .values()
            .flatten()
            .filter(|d| {
                let n = dn::normalize(d);
                !dns_of.contains_key(&n)
                    && user_name_from_dn(&dir.cfg, d).is_none()
                    && seen.insert(n)
            })
            .cloned()
            .collect();
        if !unresolved.is_empty() {
            let a = &dir.cfg.attributes;
            let attrs = vec![a.username.clone(), a.uid_number.clone()];
            let mut user_at: HashMap<String, String> = HashMap::new();
            for e in self.read_dns(dir, &unresolved, &attrs).await? {
                if let Some(n) = self.member_user_name(&dir.cfg, &e) {
                    user_at.insert(dn::normalize(&e.dn), n);
                }
            }
            for (group, names) in direct.iter_mut() {
                for d in dns_of.get(group).into_iter().flatten() {
                    if let Some(n) = user_at.get(&dn::normalize(d)) {
                        names.push(n.clone());
                    }
                }
            }
        }
        Ok(groups
            .into_iter()
            .map(|mut g| {
                let own = direct.get(&dn::normalize(&g.dn));
                let nested = expand_offline(&g.dn, &dns_of, &direct, dir.cfg.nesting_depth);
                add_members(
                    &mut g.group.members,
                    own.into_iter().flatten().chain(&nested),
                );
                g
            })
            .collect())
    }

    /// Reads group entry `e` into `found` (unless [`Collected::seen`]
    /// holds its DN): adds a valid group to `found.out` when there is
    /// one, else its GID to `found.gids`; for
    /// rfc2307bis, its DN to `frontier` (for the next nesting level). A
    /// refused entry is logged.
    fn collect(&self, dir: &Directory, e: &EntryOctets, found: &mut Collected) {
        let dn = e.dn();
        if let Some(seen) = found.seen.as_mut() {
            if !seen.insert(dn.to_string()) {
                return;
            }
        }
        // (Only nesting, rfc2307bis, follows the groups found.)
        if dir.cfg.schema == Schema::Rfc2307bis {
            found.frontier.push(dn.to_string());
        }
        match octets_to_group_head(&dir.cfg, &dir.idmap, e) {
            Ok((name, gid)) => match found.out.as_mut() {
                Some(out) => out.push(GroupRef {
                    name: name.to_string(),
                    gid,
                }),
                None => found.gids.push(gid),
            },
            Err(r) if self.is_link_only(&dir.cfg, &r) => {
                tracing::debug!(dn = %r.dn, "group without a GID: followed for nesting only");
            }
            Err(r) => dir.reject(&r),
        }
        found.dns.push_str(dn);
        found.dn_ends.push(found.dns.len());
    }

    /// Login names of the members of nested groups below `group_dn`, whose
    /// direct member DNs are `dns` (user DNs named by their login name are
    /// already members: only the other DNs are read, one level at a time).
    pub(super) async fn nested_members(
        &self,
        dir: &Directory,
        group_dn: &str,
        dns: Vec<String>,
    ) -> Result<Vec<String>, DirectoryError> {
        let a = &dir.cfg.attributes;
        let mut visited = HashSet::from([dn::normalize(group_dn)]);
        let mut names = Vec::new();
        let mut frontier: Vec<String> = dns
            .into_iter()
            .filter(|d| user_name_from_dn(&dir.cfg, d).is_none())
            .collect();
        let mut attrs = group_attrs(&dir.cfg);
        attrs.push(a.username.clone());
        attrs.push(a.uid_number.clone());
        let mut depth = 0;
        // Depth 0 reads the direct non-user members; each further round
        // is one nesting level.
        while !frontier.is_empty() && depth <= dir.cfg.nesting_depth {
            let mut next = Vec::new();
            let pending: Vec<String> = frontier
                .into_iter()
                .filter(|dn| visited.insert(dn::normalize(dn)))
                .collect();
            let entries = self.read_dns(dir, &pending, &attrs).await?;
            for e in &entries {
                if let Some(n) = self.member_user_name(&dir.cfg, e) {
                    // A user whose DN is not named by its login name.
                    names.push(n);
                    continue;
                }
                if depth == dir.cfg.nesting_depth {
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
                for d in member_dns(&dir.cfg, e) {
                    match user_name_from_dn(&dir.cfg, &d) {
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
        dir: &Directory,
        dns: &[String],
        attrs: &[String],
    ) -> Result<Vec<ldap3::SearchEntry>, DirectoryError> {
        let wanted: HashSet<String> = dns.iter().map(|d| dn::normalize(d)).collect();
        let mut by_attr: Vec<(String, Vec<String>)> = Vec::new();
        let mut alone = Vec::new();
        for dn in dns {
            match dn::rdn_assertion(dn) {
                Some((attr, value)) if dn::is_under(dn, &dir.cfg.base_dn) => {
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
                    base: dir.cfg.base_dn.clone(),
                    scope: Scope::Subtree,
                    filter: filter::or(chunk.iter().map(|v| filter::eq(attr, v))),
                    attrs: attrs.into(),
                };
                let found = dir.search::<ldap3::SearchEntry>(&q, true).await?;
                out.extend(
                    found
                        .into_iter()
                        .filter(|e| wanted.contains(&dn::normalize(&e.dn))),
                );
            }
        }
        for dn in alone {
            let q = Query {
                base: dn.clone(),
                scope: Scope::Base,
                filter: "(objectClass=*)".into(),
                attrs: attrs.into(),
            };
            match dir.search(&q, true).await {
                Ok(e) => out.extend(e),
                Err(e @ (DirectoryError::NotFound { .. } | DirectoryError::Refused { .. })) => {
                    tracing::debug!(%dn, error = %e, "member DN not readable: skipped");
                }
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }
}
