//! Many users of an RFC 2307 domain in one search per search base (a large
//! group's members, checked by the resolver): `(|(uid=a)(uid=b)…)` or
//! `(|(uidNumber=1)…)` and-ed with the user filter. Each asked name or UID
//! gets the answer its own lookup ([`Rfc2307::user_by_name`],
//! [`Rfc2307::user_by_uid`]) gives: the first search base that returns an
//! entry for it decides, several entries for one name or UID refuse it.

use super::{user_queries, Rfc2307};
use crate::directory::entry::check_name;
use crate::directory::records::{DirectoryError, UserRecord};
use crate::directory::Directory;
use crate::filter;
use ldap3::SearchEntry;
use std::collections::HashMap;

/// The values of attribute `attr` of `e` (attribute names compare
/// case-insensitively, as LDAP's do).
fn values<'e>(e: &'e SearchEntry, attr: &'e str) -> impl Iterator<Item = &'e String> {
    e.attrs
        .iter()
        .filter(move |(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v.iter())
}

impl Rfc2307 {
    /// The users called `names` (each exactly as
    /// [`Rfc2307::user_by_name`] answers it), in the order asked.
    pub(crate) async fn users_by_names(
        &self,
        dir: &Directory,
        names: &[String],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let attr = &dir.cfg.attributes.username;
        // The entries the directory returned for each name (the server
        // matches the user name attribute case-insensitively).
        let mut found: Vec<Option<Vec<SearchEntry>>> = names
            .iter()
            .map(|n| check_name(n).is_err().then(Vec::new))
            .collect();
        for base in 0..user_queries(&dir.cfg, "").len() {
            let open: Vec<usize> = (0..names.len()).filter(|&k| found[k].is_none()).collect();
            if open.is_empty() {
                break;
            }
            let any = filter::or(open.iter().map(|&k| filter::eq(attr, &names[k])));
            let q = &user_queries(&dir.cfg, &any)[base];
            let entries = match dir.search_many(q).await {
                Ok(entries) => entries,
                // (Perhaps a referral that could not be followed: each
                // key's own lookup decides whether that matters.)
                Err(_) => return self.each_of_names(dir, names).await,
            };
            let mut by_value: HashMap<String, Vec<&SearchEntry>> = HashMap::new();
            for e in &entries {
                let mut vs: Vec<String> = values(e, attr).map(|v| v.to_lowercase()).collect();
                vs.sort_unstable();
                vs.dedup();
                for v in vs {
                    by_value.entry(v).or_default().push(e);
                }
            }
            for &k in &open {
                if let Some(mine) = by_value.get(&names[k].to_lowercase()) {
                    found[k] = Some(mine.iter().map(|e| (*e).clone()).collect());
                }
            }
        }
        let mut out = Vec::with_capacity(names.len());
        for (name, entries) in names.iter().zip(found) {
            let entries = entries.unwrap_or_default();
            out.push(self.user_named(dir, name, &entries).await?);
        }
        Ok(out)
    }

    /// The users with UIDs `uids` (each exactly as
    /// [`Rfc2307::user_by_uid`] answers it), in the order asked.
    pub(crate) async fn users_by_uids(
        &self,
        dir: &Directory,
        uids: &[u32],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let attr = &dir.cfg.attributes.uid_number;
        let mut found: Vec<Option<Vec<SearchEntry>>> = uids
            .iter()
            .map(|&u| {
                dir.idmap
                    .check_posix_id(&dir.cfg.name, u)
                    .is_err()
                    .then(Vec::new)
            })
            .collect();
        for base in 0..user_queries(&dir.cfg, "").len() {
            let open: Vec<usize> = (0..uids.len()).filter(|&k| found[k].is_none()).collect();
            if open.is_empty() {
                break;
            }
            let any = filter::or(open.iter().map(|&k| filter::eq(attr, &uids[k].to_string())));
            let q = &user_queries(&dir.cfg, &any)[base];
            let entries = match dir.search_many(q).await {
                Ok(entries) => entries,
                // (Perhaps a referral that could not be followed: each
                // key's own lookup decides whether that matters.)
                Err(_) => return self.each_of_uids(dir, uids).await,
            };
            let mut by_value: HashMap<u32, Vec<&SearchEntry>> = HashMap::new();
            for e in &entries {
                let mut vs: Vec<u32> = values(e, attr)
                    .filter_map(|v| v.trim().parse().ok())
                    .collect();
                vs.sort_unstable();
                vs.dedup();
                for v in vs {
                    by_value.entry(v).or_default().push(e);
                }
            }
            for &k in &open {
                if let Some(mine) = by_value.get(&uids[k]) {
                    found[k] = Some(mine.iter().map(|e| (*e).clone()).collect());
                }
            }
        }
        let mut out = Vec::with_capacity(uids.len());
        for (&uid, entries) in uids.iter().zip(found) {
            let entries = entries.unwrap_or_default();
            out.push(self.user_numbered(dir, uid, &entries).await?);
        }
        Ok(out)
    }

    /// Every name of `names` asked on its own.
    async fn each_of_names(
        &self,
        dir: &Directory,
        names: &[String],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let mut out = Vec::with_capacity(names.len());
        for n in names {
            out.push(self.user_by_name(dir, n).await?);
        }
        Ok(out)
    }

    /// Every UID of `uids` asked on its own.
    async fn each_of_uids(
        &self,
        dir: &Directory,
        uids: &[u32],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let mut out = Vec::with_capacity(uids.len());
        for &u in uids {
            out.push(self.user_by_uid(dir, u).await?);
        }
        Ok(out)
    }
}
