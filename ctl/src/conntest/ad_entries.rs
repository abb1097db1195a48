//! `rosterctl test` for `kind = "ad"` domains: which users and groups the
//! daemon's AD mapping ([`roster_daemon::directory::ad`]) serves or refuses,
//! e.g. users without `uidNumber` under the rfc2307 idmap backend.

use super::entries::{split, Rejected, Usable};
use ldap3::SearchEntry;
use roster_daemon::config::{DomainConfig, DomainSet};
use roster_daemon::directory::ad::{ad_group, ad_user, mapping::object_sid};
use roster_idmap::Sid;

/// The domain SID: the one the idmap set knows, else the domain part of
/// the first user's objectSid (registered, as the daemon registers the
/// base DN's objectSid).
fn domain_sid(d: &DomainConfig, idmap: &DomainSet, entries: &[SearchEntry]) -> Option<Sid> {
    if let Ok(Some(s)) = idmap.domain_sid(&d.name) {
        return Some(s);
    }
    let sid = entries
        .iter()
        .find_map(|e| object_sid(e).ok().and_then(|s| s.domain()))?;
    idmap.set_domain_sid(&d.name, sid).ok()?;
    Some(sid)
}

/// Splits AD user entries into usable and refused ones.
pub fn users(
    d: &DomainConfig,
    idmap: &DomainSet,
    entries: &[SearchEntry],
) -> (Vec<Usable>, Vec<Rejected>) {
    let sid = domain_sid(d, idmap, entries);
    split(entries, |e| match &sid {
        Some(s) => ad_user(d, idmap, s, e).map(Usable::from_user).map_err(Some),
        None => Err(Some(
            "the domain SID is unknown (no user has an objectSid)".to_string(),
        )),
    })
}

/// Splits AD group entries into usable and refused ones.
pub fn groups(
    d: &DomainConfig,
    idmap: &DomainSet,
    entries: &[SearchEntry],
) -> (Vec<Usable>, Vec<Rejected>) {
    split(entries, |e| {
        ad_group(d, idmap, e).map(Usable::from_group).map_err(Some)
    })
}
