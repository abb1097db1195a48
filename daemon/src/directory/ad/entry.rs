//! AD entries to passwd/group records: IDs from the domain's idmap backend
//! (objectSid, primaryGroupID) or from RFC 2307 attributes.

use super::mapping::{object_sid, output_name, primary_group_sid, text};
use crate::config::DomainConfig;
use crate::directory::records::{GroupRecord, UserRecord};
use crate::directory::{check_name, expand_template};
use ldap3::SearchEntry;
use roster_idmap::{Backend, DomainSet, Sid};

/// How an entry's SIDs become IDs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SidIds {
    /// Allocating an autorid block's slot on first sight (the lock file,
    /// maybe the shared store: this may wait). For callers that may wait:
    /// rosterctl judging entries itself.
    Allocating,
    /// Only the SIDs already mapped ([`DomainSet::mapped_id_for_sid`]): an
    /// entry of a block without a slot is refused. rosterd's event loop,
    /// which then allocates on a thread that may wait
    /// (`unallocated_sids`) and converts the entry again.
    Mapped,
}

/// The ID of `sid` as `ids` says.
fn id_of(idmap: &DomainSet, sid: &Sid, ids: SidIds) -> Result<u32, roster_idmap::IdmapError> {
    match ids {
        SidIds::Allocating => idmap.gid_for_sid(sid),
        SidIds::Mapped => idmap.mapped_id_for_sid(sid),
    }
}

/// The SIDs of entry `e` whose autorid block has no slot yet, in the
/// order its conversion maps them: its objectSid, then (users:
/// `domain_sid` given) its primary group's. None for an entry refused
/// before (a name that cannot be served), nor for other backends.
pub(super) fn unallocated_sids(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    domain_sid: Option<&Sid>,
    e: &SearchEntry,
) -> Vec<Sid> {
    let a = &cfg.attributes;
    let name_attr = if domain_sid.is_some() {
        &a.username
    } else {
        &a.group_name
    };
    if cfg.idmap.backend() != Backend::Autorid || served_name(cfg, e, name_attr).is_err() {
        return Vec::new();
    }
    let primary = domain_sid
        .and_then(|d| text(e, "primaryGroupID").and_then(|pg| primary_group_sid(d, pg).ok()));
    object_sid(e)
        .ok()
        .into_iter()
        .chain(primary)
        .filter(|s| idmap.needs_allocation(s))
        .collect()
}

/// Attributes read from AD user entries.
pub fn user_attrs(cfg: &DomainConfig) -> Vec<String> {
    let a = &cfg.attributes;
    let mut v: Vec<String> = [
        a.username.as_str(),
        a.uid_number.as_str(),
        a.gid_number.as_str(),
        a.gecos.as_str(),
        a.home_directory.as_str(),
        a.login_shell.as_str(),
        a.ssh_public_key.as_str(),
        "objectSid",
        "primaryGroupID",
        "displayName",
        "cn",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.dedup();
    v
}

/// Attributes read from AD group entries (members are read separately).
pub fn group_attrs(cfg: &DomainConfig) -> Vec<String> {
    let a = &cfg.attributes;
    vec![
        a.group_name.clone(),
        a.gid_number.clone(),
        "objectSid".into(),
    ]
}

fn posix_id(e: &SearchEntry, attr: &str) -> Result<u32, String> {
    let v = text(e, attr).ok_or_else(|| {
        format!("no {attr}: not served (idmap backend rfc2307 takes IDs from {attr})")
    })?;
    let v = v.trim();
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{attr} {v:?} is not a non-negative decimal number"));
    }
    v.parse()
        .map_err(|_| format!("{attr} {v} does not fit in 32 bits"))
}

fn no_colon(what: &str, v: &str) -> Result<(), String> {
    if v.contains([':', '\n', '\0']) {
        return Err(format!("{what} {v:?} contains ':', a newline or NUL"));
    }
    Ok(())
}

/// The served name of an entry (`sAMAccountName` by default), checked.
pub fn served_name(cfg: &DomainConfig, e: &SearchEntry, attr: &str) -> Result<String, String> {
    let sam = text(e, attr).ok_or_else(|| format!("missing required attribute {attr}"))?;
    // Lower-casing or replacing whitespace shrinks a character at most
    // threefold (U+212A KELVIN SIGN -> `k`, U+3000 -> `_`), so a value of
    // more than 3 * 256 bytes cannot give a usable name: refused before a
    // hostile, megabyte-long value is converted.
    if sam.len() > 3 * 256 {
        return Err(format!(
            "{attr}: the value is {} bytes long (a name is at most 256)",
            sam.len()
        ));
    }
    let name = output_name(sam, cfg.qualified_names, &cfg.name);
    check_name(&name).map_err(|m| format!("{attr}: {m}"))?;
    Ok(name)
}

/// Converts an AD user entry: `uid` from objectSid through the idmap
/// backend (or `uidNumber` for rfc2307), `gid` from primaryGroupID (or
/// `gidNumber`). `domain_sid` is the domain's SID (needed by rid, sss and
/// autorid); `ids` says whether an autorid block may be allocated.
pub fn ad_user(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    domain_sid: &Sid,
    e: &SearchEntry,
    ids: SidIds,
) -> Result<UserRecord, String> {
    let a = &cfg.attributes;
    let name = served_name(cfg, e, &a.username)?;
    let sid = object_sid(e)?;
    let (uid, gid) = if cfg.idmap.backend() == Backend::Rfc2307 {
        (posix_id(e, &a.uid_number)?, posix_id(e, &a.gid_number)?)
    } else {
        let uid = id_of(idmap, &sid, ids).map_err(|err| format!("objectSid {sid}: {err}"))?;
        let pg = text(e, "primaryGroupID").ok_or("missing required attribute primaryGroupID")?;
        let pg = primary_group_sid(domain_sid, pg)?;
        let gid = id_of(idmap, &pg, ids).map_err(|err| format!("primary group {pg}: {err}"))?;
        (uid, gid)
    };
    for (what, id) in [("UID", uid), ("GID", gid)] {
        idmap
            .check_posix_id(&cfg.name, id)
            .map_err(|err| format!("{what} {id} refused: {err}"))?;
    }
    let gecos = text(e, &a.gecos)
        .or_else(|| text(e, "displayName"))
        .or_else(|| text(e, "cn"))
        .unwrap_or("");
    let gecos: String = gecos
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect();
    let short = name.split('@').next().unwrap_or(&name).to_string();
    let home = match (&cfg.home_directory_template, text(e, &a.home_directory)) {
        (Some(t), _) => expand_template(t, &short, uid, &cfg.name),
        (None, Some(h)) if !h.is_empty() => h.to_string(),
        (None, _) => expand_template("/home/{domain}/{username}", &short, uid, &cfg.name),
    };
    no_colon(&a.home_directory, &home)?;
    let shell = match (&cfg.shell_override, text(e, &a.login_shell)) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) if !s.is_empty() => s.to_string(),
        _ => cfg.default_shell.clone(),
    };
    no_colon(&a.login_shell, &shell)?;
    Ok(UserRecord {
        user: roster_proto::User {
            name,
            uid,
            gid,
            gecos,
            home,
            shell,
        },
        dn: e.dn.clone(),
        domain: cfg.name.clone(),
        unique_id: Some(sid.to_string()),
        ssh_keys: crate::directory::sshkey::keys_of(&cfg.name, e, &a.ssh_public_key),
    })
}

/// Converts an AD group entry (without members): `gid` from objectSid
/// through the idmap backend, or `gidNumber` for rfc2307; `ids` as for
/// [`ad_user`].
pub fn ad_group(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &SearchEntry,
    ids: SidIds,
) -> Result<GroupRecord, String> {
    let a = &cfg.attributes;
    let name = served_name(cfg, e, &a.group_name)?;
    let gid = if cfg.idmap.backend() == Backend::Rfc2307 {
        posix_id(e, &a.gid_number)?
    } else {
        let sid = object_sid(e)?;
        id_of(idmap, &sid, ids).map_err(|err| format!("objectSid {sid}: {err}"))?
    };
    idmap
        .check_posix_id(&cfg.name, gid)
        .map_err(|err| format!("GID {gid} refused: {err}"))?;
    Ok(GroupRecord {
        group: roster_proto::Group {
            name,
            gid,
            members: Vec::new(),
        },
        dn: e.dn.clone(),
        domain: cfg.name.clone(),
    })
}

#[cfg(test)]
mod tests;
