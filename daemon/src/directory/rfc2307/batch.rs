//! Many users or groups of an RFC 2307 domain in one search per search base
//! (a large group's members, the groups of an initgroups, checked by the
//! resolver): `(|(uid=a)(uid=b)…)`, `(|(gidNumber=1)…)` and so on, and-ed
//! with the user or group filter. Each asked name or ID gets the answer its
//! own lookup ([`Rfc2307::user_by_name`], [`Rfc2307::user_by_uid`],
//! [`Rfc2307::group_by_name`], [`Rfc2307::group_by_gid`]) gives: the first
//! search base that returns an entry for it decides, several entries for
//! one name or ID refuse it.

use super::Rfc2307;
use crate::config::DomainConfig;
use crate::directory::entry::check_name;
use crate::directory::records::{DirectoryError, GroupRecord, UserRecord};
use crate::directory::search::Query;
use crate::directory::Directory;
use crate::filter;
use crate::in_turn::in_turn;
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

/// How a batch asks for its keys: the attribute, how the server compares
/// its values, and the searches of the entry kind.
struct Asked<'a> {
    /// The attribute the keys are values of.
    attr: &'a str,
    /// A value as the server matches it (`None`: matches no key): names
    /// in lower case (the server matches them case-insensitively), numbers
    /// parsed.
    norm: fn(&str) -> Option<String>,
    /// One search per search base, in order, for a filter: the
    /// flavour's user or group searches.
    queries: fn(&Rfc2307, &DomainConfig, &str) -> Vec<Query>,
    /// The flavour whose searches they are.
    flavour: &'a Rfc2307,
}

/// A name as the server matches it ([`crate::directory::match_form`]).
fn name_norm(v: &str) -> Option<String> {
    Some(crate::directory::match_form(v).into_owned())
}

/// A number as the server matches it.
fn number_norm(v: &str) -> Option<String> {
    v.trim().parse::<u32>().ok().map(|n| n.to_string())
}

/// The entries the directory answers for each of `keys` on its own (the
/// first search base with an entry for it decides), in one search per
/// search base for all of them; keys marked in `skip` get none. `None`
/// when a search failed (perhaps a referral that could not be followed:
/// each key's own lookup then decides whether that matters).
async fn entries_per_key(
    dir: &Directory,
    how: &Asked<'_>,
    keys: &[String],
    skip: &[bool],
) -> Option<Vec<Vec<SearchEntry>>> {
    let mut found: Vec<Option<Vec<SearchEntry>>> = skip.iter().map(|&s| s.then(Vec::new)).collect();
    let wanted: Vec<Option<String>> = keys.iter().map(|k| (how.norm)(k)).collect();
    for base in 0..(how.queries)(how.flavour, &dir.cfg, "").len() {
        let open: Vec<usize> = (0..keys.len()).filter(|&k| found[k].is_none()).collect();
        if open.is_empty() {
            break;
        }
        let any = filter::or(open.iter().map(|&k| filter::eq(how.attr, &keys[k])));
        let q = &(how.queries)(how.flavour, &dir.cfg, &any)[base];
        let entries = dir.search_many(q).await.ok()?;
        // (Entries by index: each is moved to the last key, in the order
        // asked, that it answers, and cloned only for the keys before,
        // where it answers several; a batch of 200 whole groups copied
        // every member name once more.)
        let mut by_value: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, e) in entries.iter().enumerate() {
            let mut vs: Vec<String> = values(e, how.attr).filter_map(|v| (how.norm)(v)).collect();
            vs.sort_unstable();
            vs.dedup();
            for v in vs {
                by_value.entry(v).or_default().push(i);
            }
        }
        let answered: Vec<(usize, &[usize])> = open
            .iter()
            .filter_map(|&k| Some((k, by_value.get(wanted[k].as_ref()?)?.as_slice())))
            .collect();
        let mut uses = vec![0usize; entries.len()];
        for &i in answered.iter().flat_map(|(_, mine)| mine.iter()) {
            uses[i] += 1;
        }
        let mut entries: Vec<Option<SearchEntry>> = entries.into_iter().map(Some).collect();
        for (k, mine) in answered {
            let mut own = Vec::with_capacity(mine.len());
            for &i in mine {
                uses[i] -= 1;
                let e = if uses[i] == 0 {
                    entries[i].take()
                } else {
                    entries[i].clone()
                };
                own.extend(e);
            }
            found[k] = Some(own);
        }
    }
    Some(found.into_iter().map(Option::unwrap_or_default).collect())
}

impl Rfc2307 {
    /// The users called `names` (each exactly as
    /// [`Rfc2307::user_by_name`] answers it), in the order asked.
    pub(crate) async fn users_by_names(
        &self,
        dir: &Directory,
        names: &[String],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let how = Asked {
            attr: &dir.cfg.attributes.username,
            norm: name_norm,
            queries: Rfc2307::user_queries,
            flavour: self,
        };
        let skip: Vec<bool> = names.iter().map(|n| check_name(n).is_err()).collect();
        let Some(found) = entries_per_key(dir, &how, names, &skip).await else {
            return in_turn(names, |n| self.user_by_name(dir, n)).await;
        };
        in_turn(names.iter().zip(found), |(name, entries)| async move {
            self.user_named(dir, name, &entries).await
        })
        .await
    }

    /// The users with UIDs `uids` (each exactly as
    /// [`Rfc2307::user_by_uid`] answers it), in the order asked.
    pub(crate) async fn users_by_uids(
        &self,
        dir: &Directory,
        uids: &[u32],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        let how = Asked {
            attr: &dir.cfg.attributes.uid_number,
            norm: number_norm,
            queries: Rfc2307::user_queries,
            flavour: self,
        };
        let keys: Vec<String> = uids.iter().map(u32::to_string).collect();
        let skip = self.bad_ids(dir, uids);
        let Some(found) = entries_per_key(dir, &how, &keys, &skip).await else {
            return in_turn(uids, |&u| self.user_by_uid(dir, u)).await;
        };
        in_turn(uids.iter().zip(found), |(&uid, entries)| async move {
            self.user_numbered(dir, uid, &entries).await
        })
        .await
    }

    /// The groups called `names` (each exactly as
    /// [`Rfc2307::group_by_name`] answers it, members of nested groups
    /// included), in the order asked.
    pub(crate) async fn groups_by_names(
        &self,
        dir: &Directory,
        names: &[String],
    ) -> Result<Vec<Option<GroupRecord>>, DirectoryError> {
        let how = Asked {
            attr: &dir.cfg.attributes.group_name,
            norm: name_norm,
            queries: Rfc2307::group_queries,
            flavour: self,
        };
        let skip: Vec<bool> = names.iter().map(|n| check_name(n).is_err()).collect();
        let Some(found) = entries_per_key(dir, &how, names, &skip).await else {
            return in_turn(names, |n| self.group_by_name(dir, n)).await;
        };
        in_turn(names.iter().zip(found), |(name, entries)| {
            self.group_named(dir, name, entries)
        })
        .await
    }

    /// The groups with GIDs `gids` (each exactly as
    /// [`Rfc2307::group_by_gid`] answers it, members of nested groups
    /// included), in the order asked.
    pub(crate) async fn groups_by_gids(
        &self,
        dir: &Directory,
        gids: &[u32],
    ) -> Result<Vec<Option<GroupRecord>>, DirectoryError> {
        let how = Asked {
            attr: &dir.cfg.attributes.gid_number,
            norm: number_norm,
            queries: Rfc2307::group_queries,
            flavour: self,
        };
        let keys: Vec<String> = gids.iter().map(u32::to_string).collect();
        let skip = self.bad_ids(dir, gids);
        let Some(found) = entries_per_key(dir, &how, &keys, &skip).await else {
            return in_turn(gids, |&g| self.group_by_gid(dir, g)).await;
        };
        in_turn(gids.iter().zip(found), |(&gid, entries)| {
            self.group_numbered(dir, gid, entries)
        })
        .await
    }

    /// For each of `ids`: true when this domain serves no object with it
    /// (outside its ID range), so that it is not searched.
    fn bad_ids(&self, dir: &Directory, ids: &[u32]) -> Vec<bool> {
        ids.iter()
            .map(|&id| dir.idmap.check_posix_id(&dir.cfg.name, id).is_err())
            .collect()
    }
}
