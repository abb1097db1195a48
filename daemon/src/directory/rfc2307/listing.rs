//! Enumeration of an RFC 2307 domain: every user or group, each entry
//! converted as it arrives (the listing's entries are never held
//! together: only the records made of them, and for rfc2307bis what the
//! group entries hold for nesting).

use super::groups::Links;
use super::{group_queries, user_queries, Rfc2307};
use crate::config::Schema;
use crate::directory::entry::{entry_into_group, entry_to_user};
use crate::directory::records::{DirectoryError, GroupRecord, UserRecord};
use crate::directory::{once_per_dn, Directory, NameClaim};
use crate::dn;
use ldap3::SearchEntry;
use std::collections::HashSet;

/// Adds to `claims` the values of `e`'s name attribute `attr` (compared as
/// [`Rfc2307::user_named`] compares them) but `listed`, the name `e` is
/// listed under when it is valid, each value once.
fn claim_names(e: &SearchEntry, attr: &str, listed: Option<&str>, claims: &mut Vec<NameClaim>) {
    let from = claims.len();
    let values = e
        .attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        .flat_map(|(_, v)| v);
    for v in values {
        if Some(v.as_str()) != listed && !claims[from..].iter().any(|c| c.name == *v) {
            claims.push(NameClaim {
                dn: e.dn.clone(),
                name: v.clone(),
            });
        }
    }
}

impl Rfc2307 {
    /// Every valid user entry of the search bases (rejected ones logged),
    /// each entry once, without SSH keys; names and UIDs not checked for
    /// repeats yet. With the names entries carry besides the users' own
    /// ([`NameClaim`]: every name of an invalid entry, a valid entry's
    /// further values), which a lookup of such a name counts.
    pub(super) async fn list_users(
        &self,
        dir: &Directory,
    ) -> Result<(Vec<UserRecord>, Vec<NameClaim>), DirectoryError> {
        let (cfg, idmap) = (&dir.cfg, &*dir.idmap);
        // SSH keys are not read: an enumeration serves none, and a key
        // never decides whether an entry is served.
        let ssh = &cfg.attributes.ssh_public_key;
        let mut qs = user_queries(cfg, "");
        for q in &mut qs {
            if q.attrs.iter().filter(|a| *a == ssh).count() == 1 {
                q.attrs.retain(|a| a != ssh);
            }
        }
        let mut users = Vec::new();
        let mut claims = Vec::new();
        let repeats = dir
            .list_each(&qs, &mut |e| {
                let user = entry_to_user(cfg, idmap, &e);
                let listed = user.as_ref().ok().map(|u| u.user.name.as_str());
                claim_names(&e, &cfg.attributes.username, listed, &mut claims);
                match user {
                    Ok(u) => users.push(u),
                    Err(r) => dir.reject(&r),
                }
            })
            .await?;
        if repeats {
            once_per_dn(&mut users, |u| &u.dn);
            let mut seen = HashSet::new();
            claims.retain(|c| seen.insert((dn::normalize(&c.dn), c.name.clone())));
        }
        Ok((users, claims))
    }

    /// Every valid group entry of the search bases (rejected ones logged,
    /// rfc2307bis groups without a GID that only link nested groups left
    /// out silently), each entry once, with what every entry holds for
    /// nesting (rfc2307bis; empty otherwise); names and GIDs not checked
    /// for repeats yet, nested members not added.
    pub(super) async fn list_groups(
        &self,
        dir: &Directory,
    ) -> Result<(Vec<GroupRecord>, Links), DirectoryError> {
        let (cfg, idmap) = (&dir.cfg, &*dir.idmap);
        let bis = cfg.schema == Schema::Rfc2307bis;
        let mut groups = Vec::new();
        let mut links = Links::default();
        let repeats = dir
            .list_each(&group_queries(cfg, ""), &mut |e| {
                if bis {
                    links.add(cfg, &e);
                }
                match entry_into_group(cfg, idmap, e) {
                    Ok(g) => groups.push(g),
                    Err(r) if self.is_link_only(cfg, &r) => {}
                    Err(r) => dir.reject(&r),
                }
            })
            .await?;
        if repeats {
            once_per_dn(&mut groups, |g| &g.dn);
        }
        Ok((groups, links))
    }
}
