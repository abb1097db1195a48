//! Enumeration of an RFC 2307 domain: every user or group, each entry
//! converted as it arrives (the listing's entries are never held
//! together: only the records made of them, and for rfc2307bis what the
//! group entries hold for nesting).

use super::groups::Links;
use super::Rfc2307;
use crate::config::{DomainConfig, Schema};
use crate::directory::entry::{
    entry_into_group, entry_to_group_head, entry_to_user, EntryRejected,
};
use crate::directory::records::{DirectoryError, GroupRecord, UserRecord};
use crate::directory::search::Query;
use crate::directory::{once_per_dn, Claims, Directory, IdClaim, NameClaim};
use crate::dn;
use ldap3::SearchEntry;
use std::collections::HashSet;

/// The values of `e`'s attribute `attr` (compared as [`Rfc2307::user_named`]
/// compares attribute names).
fn values_of<'e>(e: &'e SearchEntry, attr: &'e str) -> impl Iterator<Item = &'e String> {
    e.attrs
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v)
}

/// Adds to `claims` the values of `e`'s name attribute `attr` but
/// `listed`, the name `e` is listed under when it is valid, each value
/// once; `base`: the search base `e` was listed under.
fn claim_names(
    e: &SearchEntry,
    attr: &str,
    listed: Option<&str>,
    base: u16,
    claims: &mut Vec<NameClaim>,
) {
    let from = claims.len();
    for v in values_of(e, attr) {
        if Some(v.as_str()) != listed && !claims[from..].iter().any(|c| c.name == *v) {
            claims.push(NameClaim {
                dn: e.dn.clone(),
                name: v.clone(),
                base,
            });
        }
    }
}

/// Adds to `claims` the values of `e`'s ID attribute `attr` a lookup's
/// filter matches (numbers, as the server compares them) but `listed`,
/// the ID `e` is listed under when it is valid.
fn claim_ids(
    e: &SearchEntry,
    attr: &str,
    listed: Option<u32>,
    base: u16,
    claims: &mut Vec<IdClaim>,
) {
    for v in values_of(e, attr) {
        if let Ok(id) = v.trim().parse::<u32>() {
            if Some(id) != listed {
                claims.push(IdClaim { id, base });
            }
        }
    }
}

/// A listing's valid entries, with the search base of each (with several
/// bases; empty with one) and what lookups of the keys other entries
/// carry meet ([`Claims`]).
pub(super) struct Listed<T> {
    /// The valid entries, in the order listed.
    pub(super) items: Vec<T>,
    /// The search base each item was listed under; empty with one base.
    pub(super) bases: Vec<u16>,
    /// The keys other entries carry.
    pub(super) claims: Claims,
}

/// A user listing as its entries arrive: what [`Rfc2307::list_users`]
/// keeps of each (the users census's pass keeps the same when it stands
/// for the first listing).
pub(super) struct UserLister {
    /// Entries come from several search bases.
    several: bool,
    listed: Listed<UserRecord>,
}

impl UserLister {
    /// An empty listing, of `several` search bases or one.
    pub(super) fn new(several: bool) -> Self {
        UserLister {
            several,
            listed: Listed {
                items: Vec::new(),
                bases: Vec::new(),
                claims: Claims::default(),
            },
        }
    }

    /// Keeps what the listing needs of `e`, listed under base `base`:
    /// `user`, the user it is (or why it is refused: logged), and the
    /// names (and with several bases the UIDs) it carries besides.
    pub(super) fn add(
        &mut self,
        dir: &Directory,
        e: &SearchEntry,
        base: u16,
        user: Result<UserRecord, EntryRejected>,
    ) {
        let cfg = &dir.cfg;
        let Listed {
            items,
            bases,
            claims,
        } = &mut self.listed;
        let listed = user.as_ref().ok().map(|u| &u.user);
        let name = listed.map(|u| u.name.as_str());
        claim_names(e, &cfg.attributes.username, name, base, &mut claims.names);
        if self.several {
            let uid = listed.map(|u| u.uid);
            claim_ids(e, &cfg.attributes.uid_number, uid, base, &mut claims.ids);
        }
        match user {
            Ok(u) => {
                items.push(u);
                if self.several {
                    bases.push(base);
                }
            }
            Err(r) => dir.reject(&r),
        }
    }

    /// The listing; `repeats` when entries behind referrals may repeat
    /// one listed already ([`Directory::list_each`]): each DN is then
    /// kept once.
    pub(super) fn finish(self, repeats: bool) -> Listed<UserRecord> {
        let mut listed = self.listed;
        if repeats {
            once_per_dn(&mut listed.items, |u| &u.dn);
            let mut seen = HashSet::new();
            listed
                .claims
                .names
                .retain(|c| seen.insert((dn::normalize(&c.dn), c.name.clone())));
        }
        listed
    }
}

impl Rfc2307 {
    /// The searches of a user listing (and of the users census): one per
    /// user search base, reading what a lookup reads but SSH keys (an
    /// enumeration serves none, and a key never decides whether an entry
    /// is served).
    pub(super) fn listing_user_queries(&self, cfg: &DomainConfig) -> Vec<Query> {
        let ssh = &cfg.attributes.ssh_public_key;
        let mut qs = self.user_queries(cfg, "");
        for q in &mut qs {
            if q.attrs.iter().filter(|a| *a == ssh).count() == 1 {
                q.attrs = q.attrs.iter().filter(|a| *a != ssh).cloned().collect();
            }
        }
        qs
    }

    /// Every valid user entry of the search bases (rejected ones logged),
    /// each entry once, without SSH keys; names and UIDs not checked for
    /// repeats yet. With the names entries carry besides the users' own
    /// ([`NameClaim`]: every name of an invalid entry, a valid entry's
    /// further values), which a lookup of such a name counts, and with
    /// several bases the base of each user and the UIDs entries carry
    /// besides the users' own.
    pub(super) async fn list_users(
        &self,
        dir: &Directory,
    ) -> Result<Listed<UserRecord>, DirectoryError> {
        let (cfg, idmap) = (&dir.cfg, &*dir.idmap);
        let qs = self.listing_user_queries(cfg);
        let mut lister = UserLister::new(qs.len() > 1);
        let repeats = dir
            .list_each(&qs, &mut |e, base| {
                let user = entry_to_user(cfg, idmap, &e);
                lister.add(dir, &e, base, user);
            })
            .await?;
        Ok(lister.finish(repeats))
    }

    /// Every valid group entry of the search bases (rejected ones logged,
    /// rfc2307bis groups without a GID that only link nested groups left
    /// out silently), each entry once, with what every entry holds for
    /// nesting (rfc2307bis; empty otherwise); names and GIDs not checked
    /// for repeats yet, nested members not added. With several bases, the
    /// base of each group and the names and GIDs entries carry besides
    /// the groups' own.
    pub(super) async fn list_groups(
        &self,
        dir: &Directory,
    ) -> Result<(Listed<GroupRecord>, Links), DirectoryError> {
        let (cfg, idmap) = (&dir.cfg, &*dir.idmap);
        let bis = cfg.schema == Schema::Rfc2307bis;
        let qs = self.group_queries(cfg, "");
        let several = qs.len() > 1;
        let mut groups = Vec::new();
        let mut bases = Vec::new();
        let mut claims = Claims::default();
        let mut links = Links::default();
        let repeats = dir
            .list_each(&qs, &mut |e, base| {
                if bis {
                    links.add(cfg, &e);
                }
                if several {
                    let head = entry_to_group_head(cfg, idmap, &e).ok();
                    let (name, gid) = (head.map(|h| h.0), head.map(|h| h.1));
                    let a = &cfg.attributes;
                    claim_names(&e, &a.group_name, name, base, &mut claims.other_names);
                    claim_ids(&e, &a.gid_number, gid, base, &mut claims.ids);
                }
                match entry_into_group(cfg, idmap, e) {
                    Ok(g) => {
                        groups.push(g);
                        if several {
                            bases.push(base);
                        }
                    }
                    Err(r) if self.is_link_only(cfg, &r) => {}
                    Err(r) => dir.reject(&r),
                }
            })
            .await?;
        if repeats {
            once_per_dn(&mut groups, |g| &g.dn);
        }
        let listed = Listed {
            items: groups,
            bases,
            claims,
        };
        Ok((listed, links))
    }
}
