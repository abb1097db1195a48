//! The RFC 2307 flavour (`kind = "ldap"`): OpenLDAP and other directories
//! with `posixAccount` / `posixGroup` entries. Names match exactly, IDs are
//! the entries' `uidNumber` / `gidNumber`, a user's groups are found by
//! `memberUid` and (rfc2307bis) member DNs, nested groups level by level;
//! several search bases are searched in order. Password checks bind with
//! the ppolicy control, changes use the Password Modify operation
//! ([`password`]).

mod batch;
mod groups;
mod listing;
mod password;

use listing::UserLister;

use super::ad::SidObject;
use super::entry::{
    check_name, entry_into_group, entry_to_group, entry_to_user, member_dns, values,
};
use super::flavour::Verdict;
use super::records::{DirectoryError, GroupRecord, Listing, UserRecord};
use super::search::Query;
use super::{queries, Directory};
use crate::census::Census;
use crate::config::{DomainConfig, Schema};
use crate::filter;
use ldap3::SearchEntry;
use std::sync::Arc;

/// An RFC 2307 (or rfc2307bis) directory. It learns nothing at run time;
/// it keeps the attribute lists its user and group searches read, built
/// once from the domain's configuration instead of for each search.
#[derive(Clone, Debug)]
pub struct Rfc2307 {
    /// [`user_attrs`] of the domain.
    user_attrs: Arc<[String]>,
    /// [`group_attrs`] of the domain.
    group_attrs: Arc<[String]>,
}

/// The attributes the daemon reads for a user of an RFC 2307 domain (an AD
/// domain's are [`super::ad::user_attrs`]).
pub fn user_attrs(cfg: &DomainConfig) -> Vec<String> {
    let a = &cfg.attributes;
    let mut v = vec![
        a.username.clone(),
        a.uid_number.clone(),
        a.gid_number.clone(),
        a.gecos.clone(),
        "cn".to_string(),
        a.home_directory.clone(),
        a.login_shell.clone(),
        a.ssh_public_key.clone(),
    ];
    if let Some(u) = &a.unique_id {
        v.push(u.clone());
    }
    v
}

/// The attributes the daemon reads for a group of an RFC 2307 domain (an AD
/// domain's are [`super::ad::group_attrs`]).
pub fn group_attrs(cfg: &DomainConfig) -> Vec<String> {
    let a = &cfg.attributes;
    let mut v = vec![
        a.group_name.clone(),
        a.gid_number.clone(),
        a.member_uid.clone(),
    ];
    if cfg.schema == Schema::Rfc2307bis {
        v.push(a.member.clone());
        v.push("uniqueMember".to_string());
    }
    v
}

/// Group searches for a user's groups: names and GIDs only (the member
/// lists, often the bulk of a group entry, are not needed).
fn group_ref_queries(cfg: &DomainConfig, extra: &str) -> Vec<Query> {
    let a = &cfg.attributes;
    let attrs = vec![a.group_name.clone(), a.gid_number.clone()];
    queries(cfg.group_bases(), cfg.group_filter(), extra, attrs)
}

impl Rfc2307 {
    /// The flavour of the RFC 2307 domain `cfg`.
    pub(crate) fn new(cfg: &DomainConfig) -> Rfc2307 {
        Rfc2307 {
            user_attrs: user_attrs(cfg).into(),
            group_attrs: group_attrs(cfg).into(),
        }
    }

    /// One user search per user search base of `cfg` (the domain's), in
    /// order.
    pub(super) fn user_queries(&self, cfg: &DomainConfig, extra: &str) -> Vec<Query> {
        queries(
            cfg.user_bases(),
            &cfg.user_filter,
            extra,
            self.user_attrs.clone(),
        )
    }

    /// One group search per group search base of `cfg`, in order.
    pub(super) fn group_queries(&self, cfg: &DomainConfig, extra: &str) -> Vec<Query> {
        queries(
            cfg.group_bases(),
            cfg.group_filter(),
            extra,
            self.group_attrs.clone(),
        )
    }

    /// Names are matched exactly.
    pub(crate) fn case_insensitive_names(&self) -> bool {
        false
    }

    /// IDs are attributes of the entries: two entries can share one.
    pub(crate) fn ids_from_sids(&self, _cfg: &DomainConfig) -> bool {
        false
    }

    /// Every search base's user (`users`) or group search, unfiltered.
    pub(crate) fn scan_queries(&self, dir: &Directory, users: bool) -> Vec<Query> {
        if users {
            self.user_queries(&dir.cfg, "")
        } else {
            self.group_queries(&dir.cfg, "")
        }
    }

    /// Validates user entries; rejected ones are logged and left out.
    fn users_from(&self, dir: &Directory, entries: &[SearchEntry]) -> Vec<UserRecord> {
        entries
            .iter()
            .filter_map(|e| match entry_to_user(&dir.cfg, &dir.idmap, e) {
                Ok(u) => Some(u),
                Err(r) => {
                    dir.reject(&r);
                    None
                }
            })
            .collect()
    }

    /// The user called `name` (exact, case-sensitive match), if it exists
    /// for this host.
    pub(crate) async fn user_by_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Option<UserRecord>, DirectoryError> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        let attr = &dir.cfg.attributes.username;
        let entries = dir
            .search_first(&self.user_queries(&dir.cfg, &filter::eq(attr, name)))
            .await?;
        self.user_named(dir, name, &entries).await
    }

    /// The user called `name` among `entries`, the directory's answer to
    /// a search for that name.
    async fn user_named(
        &self,
        dir: &Directory,
        name: &str,
        entries: &[SearchEntry],
    ) -> Result<Option<UserRecord>, DirectoryError> {
        let attr = &dir.cfg.attributes.username;
        // Every entry carrying the name counts, valid or not: two entries
        // with one name are refused even when one of them is broken.
        let same: Vec<&SearchEntry> = entries
            .iter()
            .filter(|e| {
                e.attrs
                    .iter()
                    .any(|(k, v)| k.eq_ignore_ascii_case(attr) && v.iter().any(|x| x == name))
            })
            .collect();
        if same.len() > 1 {
            let dns: Vec<&str> = same.iter().map(|e| e.dn.as_str()).collect();
            tracing::warn!(domain = %dir.cfg.name, dns = %dns.join(" | "), "user name {name:?} matches several entries: refused");
            return Ok(None);
        }
        let users: Vec<UserRecord> = self
            .users_from(dir, entries)
            .into_iter()
            .filter(|u| u.user.name == name)
            .collect();
        let Some(u) = dir.single_user(format_args!("user name {name:?}"), users) else {
            return Ok(None);
        };
        dir.allowed(u).await
    }

    /// The user with UID `uid`, if it exists for this host.
    pub(crate) async fn user_by_uid(
        &self,
        dir: &Directory,
        uid: u32,
    ) -> Result<Option<UserRecord>, DirectoryError> {
        if dir.idmap.check_posix_id(&dir.cfg.name, uid).is_err() {
            return Ok(None);
        }
        let f = filter::eq(&dir.cfg.attributes.uid_number, &uid.to_string());
        let entries = dir.search_first(&self.user_queries(&dir.cfg, &f)).await?;
        self.user_numbered(dir, uid, &entries).await
    }

    /// The user with UID `uid` among `entries`, the directory's answer to
    /// a search for that UID.
    async fn user_numbered(
        &self,
        dir: &Directory,
        uid: u32,
        entries: &[SearchEntry],
    ) -> Result<Option<UserRecord>, DirectoryError> {
        dir.user_with_uid(uid, self.users_from(dir, entries)).await
    }

    /// The group called `name`, members of nested groups included.
    pub(crate) async fn group_by_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        let f = filter::eq(&dir.cfg.attributes.group_name, name);
        let entries = dir.search_first(&self.group_queries(&dir.cfg, &f)).await?;
        self.group_named(dir, name, entries).await
    }

    /// The group called `name` among `entries`, the directory's answer to
    /// a search for that name.
    async fn group_named(
        &self,
        dir: &Directory,
        name: &str,
        entries: Vec<SearchEntry>,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        self.single_group(
            dir,
            || format!("group name {name:?}"),
            entries,
            |g| g.group.name == name,
        )
        .await
    }

    /// The group with GID `gid`, members of nested groups included.
    pub(crate) async fn group_by_gid(
        &self,
        dir: &Directory,
        gid: u32,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        if dir.idmap.check_posix_id(&dir.cfg.name, gid).is_err() {
            return Ok(None);
        }
        let f = filter::eq(&dir.cfg.attributes.gid_number, &gid.to_string());
        let entries = dir.search_first(&self.group_queries(&dir.cfg, &f)).await?;
        self.group_numbered(dir, gid, entries).await
    }

    /// The group with GID `gid` among `entries`, the directory's answer to
    /// a search for that GID.
    async fn group_numbered(
        &self,
        dir: &Directory,
        gid: u32,
        entries: Vec<SearchEntry>,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        self.single_group(
            dir,
            || format!("gid {gid}"),
            entries,
            |g| g.group.gid == gid,
        )
        .await
    }

    /// The group among `entries` that `keep` accepts, when exactly one
    /// is; several are refused, logged as matches of what the search was
    /// for (`what`, formatted only then).
    async fn single_group(
        &self,
        dir: &Directory,
        what: impl FnOnce() -> String,
        entries: Vec<SearchEntry>,
        keep: impl Fn(&GroupRecord) -> bool,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        // (group, its member DNs for rfc2307bis); the member names are
        // moved out of the entries, not copied (thousands, for a big group).
        let mut found: Vec<(GroupRecord, Vec<String>)> = Vec::new();
        for e in entries {
            let dns = member_dns(&dir.cfg, &e);
            match entry_into_group(&dir.cfg, &dir.idmap, e) {
                Ok(g) if keep(&g) => found.push((g, dns)),
                Ok(_) => {}
                Err(r) => dir.reject(&r),
            }
        }
        if found.len() > 1 {
            let dns: Vec<&str> = found.iter().map(|(g, _)| g.dn.as_str()).collect();
            let what = what();
            tracing::warn!(domain = %dir.cfg.name, dns = %dns.join(" | "), "{what} matches several entries: refused");
            return Ok(None);
        }
        let Some((mut g, dns)) = found.pop() else {
            return Ok(None);
        };
        if dir.cfg.schema == Schema::Rfc2307bis {
            // (Boxed: rfc2307bis only, whose searches' state every
            // group lookup's future would otherwise hold.)
            let extra = crate::boxed_apart(|| self.nested_members(dir, &g.dn, dns)).await?;
            if !extra.is_empty() {
                groups::add_members(&mut g.group.members, &extra);
            }
        }
        Ok(Some(g))
    }

    /// Every user of the domain (paged), validated, without names or UIDs
    /// that occur twice, restricted by `limit_to_groups`; SSH keys are
    /// not read. With the keys the users left out still hold.
    pub(crate) async fn all_users(
        &self,
        dir: &Directory,
    ) -> Result<Listing<UserRecord>, DirectoryError> {
        let l = self.list_users(dir).await?;
        // (The duplicate checks of a whole listing after the runtime's
        // other tasks.)
        tokio::task::yield_now().await;
        dir.unique_allowed_users(l.items, &l.bases, &l.claims).await
    }

    /// Every group of the domain (paged), validated, without names or GIDs
    /// that occur twice; members of nested groups included. With the keys
    /// the groups left out still hold.
    pub(crate) async fn all_groups(
        &self,
        dir: &Directory,
    ) -> Result<Listing<GroupRecord>, DirectoryError> {
        let (l, links) = self.list_groups(dir).await?;
        let Listing { entries, also_held } = dir.unique_groups(l.items, &l.bases, &l.claims);
        if dir.cfg.schema != Schema::Rfc2307bis {
            return Ok(Listing { entries, also_held });
        }
        let entries = self.expand_all(dir, links, entries).await?;
        Ok(Listing { entries, also_held })
    }

    /// The census of the domain's users (`users`) or groups: the name and
    /// ID values of every entry under every search base, listed paged and
    /// counted as they arrive ([`Census`]). With `list_users`, a users
    /// census read with one search also yields the user listing that
    /// search read ([`Rfc2307::all_users`]'s, with its keys), when the
    /// listing's checks need no search of their own (no
    /// `limit_to_groups`): one pass over the directory for both.
    pub(crate) async fn census(
        &self,
        dir: &Directory,
        users: bool,
        list_users: bool,
    ) -> Result<(Census, Option<Listing<UserRecord>>), DirectoryError> {
        let cfg = &dir.cfg;
        let a = &cfg.attributes;
        let (name, id) = if users {
            (&a.username, &a.uid_number)
        } else {
            (&a.group_name, &a.gid_number)
        };
        // Users are listed with what decides their validity too (all a
        // lookup reads but SSH keys, which never refuse an entry: the
        // listing's searches), so that the census can tell the account a
        // lookup of a name gets ([`Census::sole_served_holder`]); not
        // under `limit_to_groups`, whose verdict takes group searches.
        let judge = users && cfg.limit_to_groups.is_empty();
        let qs = if judge {
            self.listing_user_queries(cfg)
        } else if users {
            let attrs = vec![name.clone(), id.clone()];
            queries(cfg.user_bases(), &cfg.user_filter, "", attrs)
        } else {
            let attrs = vec![name.clone(), id.clone()];
            queries(cfg.group_bases(), cfg.group_filter(), "", attrs)
        };
        let mut census = Census::builder();
        if qs.len() > 1 {
            census.names_not_comparable();
        }
        let mut lister =
            (list_users && users && self.census_reads_users(cfg)).then(|| UserLister::new(false));
        for q in &qs {
            dir.search_each(q, &mut |e| {
                let names = values(&e, name).ok().flatten().unwrap_or_default();
                // An ID that is not text cannot be read: no ID is vouched for.
                let unreadable = [String::from("(not UTF-8)")];
                let ids = match values(&e, id) {
                    Ok(v) => v.unwrap_or_default(),
                    Err(_) => &unreadable,
                };
                census.add(
                    &e.dn,
                    names.iter().map(String::as_str),
                    ids.iter().map(String::as_str),
                );
                // (A refused entry is logged when a lookup or a listing
                // meets it. A group's validity does not depend on its
                // members.)
                if judge {
                    let user = entry_to_user(cfg, &dir.idmap, &e);
                    if let Ok(u) = &user {
                        census.served(&e.dn, &u.user.name, u.user.uid);
                    }
                    if let Some(l) = lister.as_mut() {
                        l.add(dir, &e, 0, user);
                    }
                } else if !users {
                    if let Ok(g) = entry_to_group(cfg, &dir.idmap, &e) {
                        census.served_named(&e.dn, &g.group.name, g.group.gid);
                    }
                }
            })
            .await?;
        }
        // (A search that met a referral failed above: no entry repeats.
        // The census's tables and the listing's checks are each tens of
        // milliseconds for 100,000 users: the runtime's other tasks are
        // served between them.)
        let census = census.finish();
        let listing = match lister {
            Some(l) => {
                tokio::task::yield_now().await;
                let l = l.finish(false);
                Some(
                    dir.unique_allowed_users(l.items, &l.bases, &l.claims)
                        .await?,
                )
            }
            None => None,
        };
        Ok((census, listing))
    }

    /// True when a users census of `cfg`'s domain reads the user listing
    /// whole ([`Rfc2307::census`]): one user search base (a listing of
    /// several drops the DNs two of them return, which the census counts
    /// under each) and no `limit_to_groups` (whose verdict takes group
    /// searches).
    pub(crate) fn census_reads_users(&self, cfg: &DomainConfig) -> bool {
        cfg.limit_to_groups.is_empty() && cfg.user_bases().len() == 1
    }

    /// An RFC 2307 directory has no SIDs.
    pub(crate) async fn lookup_sid(
        &self,
        _dir: &Directory,
        _sid: &roster_idmap::Sid,
    ) -> Result<Option<SidObject>, DirectoryError> {
        Ok(None)
    }

    /// Users as `rosterctl test` shows them: the daemon's validation.
    pub(crate) fn judge_users(
        &self,
        dir: &Directory,
        entries: &[SearchEntry],
    ) -> Vec<Verdict<UserRecord>> {
        entries
            .iter()
            .map(|e| match entry_to_user(&dir.cfg, &dir.idmap, e) {
                Ok(u) => Verdict::Served(u),
                Err(r) => Verdict::Refused(r.reason),
            })
            .collect()
    }

    /// Groups as `rosterctl test` shows them; an rfc2307bis group without a
    /// GID only links nested groups (the daemon reads its members and
    /// serves nothing for it): ignored, not refused.
    pub(crate) fn judge_groups(
        &self,
        dir: &Directory,
        entries: &[SearchEntry],
    ) -> Vec<Verdict<GroupRecord>> {
        let cfg = &dir.cfg;
        let bis = cfg.schema == Schema::Rfc2307bis;
        let has_gid = |e: &SearchEntry| {
            e.attrs
                .iter()
                .any(|(k, v)| k.eq_ignore_ascii_case(&cfg.attributes.gid_number) && !v.is_empty())
        };
        entries
            .iter()
            .map(|e| match entry_to_group(cfg, &dir.idmap, e) {
                Ok(g) => Verdict::Served(g),
                Err(_) if bis && !has_gid(e) => Verdict::Ignored,
                Err(r) => Verdict::Refused(r.reason),
            })
            .collect()
    }
}
