//! Turning directory entries into passwd/group entries, and refusing the ones
//! a POSIX system cannot use. Pure functions: no server needed to test them.

use super::records::{GroupRecord, UserRecord};
use crate::config::{DomainConfig, DomainSet, Schema};
use crate::dn;
use ldap3::{EntryOctets, SearchEntry, TextError};
use std::fmt;

/// Why an entry is not served.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EntryRejected {
    /// DN of the entry.
    pub dn: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for EntryRejected {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.dn, self.reason)
    }
}

impl std::error::Error for EntryRejected {}

/// The values of `attr` (case-insensitive), `Ok(None)` when absent, an error
/// when a value is not UTF-8 or the entry lists it under two spellings.
pub(crate) fn values<'a>(e: &'a SearchEntry, attr: &str) -> Result<Option<&'a [String]>, String> {
    if e.bin_attrs.keys().any(|k| k.eq_ignore_ascii_case(attr)) {
        return Err(text_error(attr, TextError::NotUtf8));
    }
    let mut listed = e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr));
    let first = listed.next();
    // (Which of two spellings the map gives first is chance: neither.)
    if listed.next().is_some() {
        return Err(text_error(attr, TextError::SpelledTwice));
    }
    Ok(first.map(|(_, v)| v.as_slice()).filter(|v| !v.is_empty()))
}

/// Why attribute `attr` of an entry gives no value, as a refusal says it.
pub(crate) fn text_error(attr: &str, e: TextError) -> String {
    match e {
        TextError::NotUtf8 => format!("attribute {attr} has a value that is not UTF-8"),
        TextError::SpelledTwice => format!("attribute {attr} is listed under two spellings"),
    }
}

/// The first value of `attr`, or an error naming it when it is missing.
fn required<'a>(e: &'a SearchEntry, attr: &str) -> Result<&'a str, String> {
    values(e, attr)?
        .map(|v| v[0].as_str())
        .ok_or_else(|| format!("missing required attribute {attr}"))
}

/// The first value of `attr`, if present.
fn optional<'a>(e: &'a SearchEntry, attr: &str) -> Result<Option<&'a str>, String> {
    Ok(values(e, attr)?.map(|v| v[0].as_str()))
}

/// Checks that `name` is usable as a user or group name by POSIX tools:
/// non-empty, not `.` or `..`, no `:` `,` `/`, whitespace or control
/// characters, no leading `-`, at most 256 bytes.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the name is empty".into());
    }
    if name.len() > 256 {
        return Err(format!(
            "the name is {} bytes long (at most 256)",
            name.len()
        ));
    }
    if name == "." || name == ".." {
        return Err(format!("the name {name:?} is a path component"));
    }
    if name.starts_with('-') {
        return Err(format!("the name {name:?} starts with '-'"));
    }
    // Nearly every name is printable ASCII without those three: one pass
    // over its bytes says so (a group's thousands of members are checked).
    let plain = name
        .bytes()
        .all(|b| b.is_ascii_graphic() && !matches!(b, b':' | b',' | b'/'));
    if plain {
        return Ok(());
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ':' | ',' | '/') || c.is_whitespace() || c.is_control())
    {
        return Err(format!("the name {name:?} contains {c:?}"));
    }
    Ok(())
}

/// Parses a numeric ID attribute: decimal digits only, fitting in 32 bits.
fn parse_id(attr: &str, v: &str) -> Result<u32, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("{attr} {v:?} is not a non-negative decimal number"));
    }
    v.parse::<u32>()
        .map_err(|_| format!("{attr} {v} does not fit in 32 bits"))
}

/// A field of a passwd line must not hold `:` or a newline.
fn check_field(what: &str, v: &str) -> Result<(), String> {
    if v.contains([':', '\n', '\0']) {
        return Err(format!("{what} {v:?} contains ':', a newline or NUL"));
    }
    Ok(())
}

/// Converts a user entry into a [`UserRecord`] of domain `cfg.name`, applying
/// the configured attribute names, overrides and defaults, and refusing an
/// entry without uid/uidNumber/gidNumber, with a bad name, or with an ID that
/// idmap refuses (0, below `min_id`, above `max_id`).
pub fn entry_to_user(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &SearchEntry,
) -> Result<UserRecord, EntryRejected> {
    user_fields(cfg, idmap, e).map_err(|reason| EntryRejected {
        dn: e.dn.clone(),
        reason,
    })
}

fn user_fields(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &SearchEntry,
) -> Result<UserRecord, String> {
    let a = &cfg.attributes;
    let name = required(e, &a.username)?;
    check_name(name).map_err(|m| format!("{}: {m}", a.username))?;
    let uid = parse_id(&a.uid_number, required(e, &a.uid_number)?)?;
    let gid = parse_id(&a.gid_number, required(e, &a.gid_number)?)?;
    idmap
        .check_posix_id(&cfg.name, uid)
        .map_err(|err| format!("{} {uid} refused: {err}", a.uid_number))?;
    // A local primary group (`local_primary_gids`, e.g. Debian's `users`)
    // is not the domain's: /etc/group serves it.
    if !cfg.local_primary_gids.contains(&gid) {
        idmap
            .check_posix_id(&cfg.name, gid)
            .map_err(|err| format!("{} {gid} refused: {err}", a.gid_number))?;
    }
    let gecos = match optional(e, &a.gecos)? {
        Some(g) => g,
        None => optional(e, "cn")?.unwrap_or(""),
    };
    // A passwd field cannot hold ':' or a newline: they are replaced.
    let gecos: String = gecos
        .chars()
        .map(|c| if c == ':' || c.is_control() { ' ' } else { c })
        .collect();
    let home = match &cfg.home_directory_template {
        Some(t) => expand_template(t, name, uid, &cfg.name),
        None => match optional(e, &a.home_directory)? {
            Some(h) if !h.is_empty() => h.to_string(),
            _ => format!("/home/{name}"),
        },
    };
    check_field(&a.home_directory, &home)?;
    let shell = match &cfg.shell_override {
        Some(s) => s.clone(),
        None => match optional(e, &a.login_shell)? {
            Some(s) if !s.is_empty() => s.to_string(),
            _ => cfg.default_shell.clone(),
        },
    };
    check_field(&a.login_shell, &shell)?;
    let unique_id = match &a.unique_id {
        Some(attr) => optional(e, attr)?.map(str::to_string),
        None => None,
    };
    Ok(UserRecord {
        user: roster_proto::User {
            name: name.to_string(),
            uid,
            gid,
            gecos,
            home,
            shell,
        },
        dn: e.dn.clone(),
        domain: cfg.name.clone(),
        unique_id,
        ssh_keys: super::sshkey::keys_of(&cfg.name, e, &a.ssh_public_key),
    })
}

/// Expands `{username}`, `{uid}` and `{domain}` in a home directory template.
pub fn expand_template(t: &str, username: &str, uid: u32, domain: &str) -> String {
    t.replace("{username}", username)
        .replace("{uid}", &uid.to_string())
        .replace("{domain}", domain)
}

/// Converts a group entry into a [`GroupRecord`]: name (`cn`) and gidNumber
/// are required; members are the `memberUid` values plus, for rfc2307bis,
/// the user names found in the first RDN of `member`/`uniqueMember` DNs
/// (nested groups are resolved by the caller from [`member_dns`]). Member
/// names that are not valid are left out.
pub fn entry_to_group(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &SearchEntry,
) -> Result<GroupRecord, EntryRejected> {
    group_fields(cfg, idmap, e).map_err(|reason| EntryRejected {
        dn: e.dn.clone(),
        reason,
    })
}

fn group_fields(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &SearchEntry,
) -> Result<GroupRecord, String> {
    let (name, gid) = group_head(cfg, idmap, e)?;
    let members = member_names(cfg, e);
    Ok(GroupRecord {
        group: roster_proto::Group {
            name: name.to_string(),
            gid,
            members,
        },
        dn: e.dn.clone(),
        domain: cfg.name.clone(),
    })
}

/// The name and GID of group entry `e`, checked as [`entry_to_group`]
/// checks them, without reading its members (a user's groups).
pub(crate) fn entry_to_group_head<'a>(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &'a SearchEntry,
) -> Result<(&'a str, u32), EntryRejected> {
    group_head(cfg, idmap, e).map_err(|reason| EntryRejected {
        dn: e.dn.clone(),
        reason,
    })
}

/// [`entry_to_group_head`] of an entry kept as its octets (a user's
/// groups, read without building a [`SearchEntry`]): the same checks,
/// the same reasons.
pub(crate) fn octets_to_group_head<'a>(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &'a EntryOctets,
) -> Result<(&'a str, u32), EntryRejected> {
    let a = &cfg.attributes;
    let [name, gid] = e.first_texts([&a.group_name, &a.gid_number]);
    let name = name.map_err(|err| text_error(&a.group_name, err));
    let gid = gid.map_err(|err| text_error(&a.gid_number, err));
    head_from(cfg, idmap, name, gid).map_err(|reason| EntryRejected {
        dn: e.dn().to_string(),
        reason,
    })
}

/// The name and GID of a group entry, checked.
fn group_head<'a>(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    e: &'a SearchEntry,
) -> Result<(&'a str, u32), String> {
    let first = |attr: &str| Ok(values(e, attr)?.map(|v| v[0].as_str()));
    let a = &cfg.attributes;
    head_from(cfg, idmap, first(&a.group_name), first(&a.gid_number))
}

/// The name and GID of a group entry whose name and GID attributes'
/// first values are `name` and `gid` ([`values`]' errors and absences),
/// checked (the name's faults said before the GID's).
fn head_from<'a>(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    name: Result<Option<&'a str>, String>,
    gid: Result<Option<&'a str>, String>,
) -> Result<(&'a str, u32), String> {
    let a = &cfg.attributes;
    let required = |first: Result<Option<&'a str>, String>, attr: &str| {
        first?.ok_or_else(|| format!("missing required attribute {attr}"))
    };
    let name = required(name, &a.group_name)?;
    check_name(name).map_err(|m| format!("{}: {m}", a.group_name))?;
    let gid = parse_id(&a.gid_number, required(gid, &a.gid_number)?)?;
    idmap
        .check_posix_id(&cfg.name, gid)
        .map_err(|err| format!("{} {gid} refused: {err}", a.gid_number))?;
    Ok((name, gid))
}

/// [`entry_to_group`] of an entry no longer needed: the member names are
/// moved out of it, not copied (an enumeration; a group can have many
/// thousand members).
pub(crate) fn entry_into_group(
    cfg: &DomainConfig,
    idmap: &DomainSet,
    mut e: SearchEntry,
) -> Result<GroupRecord, EntryRejected> {
    let (name, gid) = match group_head(cfg, idmap, &e) {
        Ok((name, gid)) => (name.to_string(), gid),
        Err(reason) => return Err(EntryRejected { dn: e.dn, reason }),
    };
    let members = member_names_into(cfg, &mut e);
    Ok(GroupRecord {
        group: roster_proto::Group { name, gid, members },
        dn: e.dn,
        domain: cfg.name.clone(),
    })
}

/// [`member_names`], the `memberUid` values moved out of `e`.
fn member_names_into(cfg: &DomainConfig, e: &mut SearchEntry) -> Vec<String> {
    let attr = &cfg.attributes.member_uid;
    let from_dns: Vec<String> = member_dns(cfg, e)
        .iter()
        .filter_map(|dn| user_name_from_dn(cfg, dn))
        .collect();
    // As `values`: no value is read when one of them is not UTF-8, nor
    // when the attribute is listed under two spellings.
    let mut uids = match values(e, attr) {
        Ok(Some(_)) => {
            let key = e
                .attrs
                .keys()
                .find(|k| k.eq_ignore_ascii_case(attr))
                .cloned();
            key.and_then(|k| e.attrs.remove(&k)).unwrap_or_default()
        }
        Ok(None) | Err(_) => Vec::new(),
    };
    uids.retain(|m| check_name(m).is_ok());
    let keep: Vec<bool> = {
        let mut seen = std::collections::HashSet::with_capacity_and_hasher(
            uids.len() + from_dns.len(),
            foldhash::fast::RandomState::default(),
        );
        uids.iter()
            .chain(&from_dns)
            .map(|m| seen.insert(m.as_str()))
            .collect()
    };
    // (In place: a big group's list is not copied into a new one grown a
    // copy at a time.)
    let mut keep = keep.into_iter();
    uids.retain(|_| keep.next().unwrap_or(false));
    uids.extend(
        from_dns
            .into_iter()
            .filter(|_| keep.next().unwrap_or(false)),
    );
    uids
}

/// The login names a group entry lists directly: valid `memberUid` values,
/// and for rfc2307bis the names in user DNs of `member`/`uniqueMember`
/// (see [`user_name_from_dn`]); without duplicates.
pub fn member_names(cfg: &DomainConfig, e: &SearchEntry) -> Vec<String> {
    let uids = values(e, &cfg.attributes.member_uid)
        .ok()
        .flatten()
        .unwrap_or(&[]);
    let from_dns: Vec<String> = member_dns(cfg, e)
        .iter()
        .filter_map(|dn| user_name_from_dn(cfg, dn))
        .collect();
    // Duplicates are found through borrowed names: each member is copied
    // once (a group can have many thousand).
    let mut seen = std::collections::HashSet::with_capacity_and_hasher(
        uids.len() + from_dns.len(),
        foldhash::fast::RandomState::default(),
    );
    uids.iter()
        .filter(|m| check_name(m).is_ok())
        .chain(&from_dns)
        .filter(|m| seen.insert(m.as_str()))
        .cloned()
        .collect()
}

/// The member DNs of a group entry (`member` and `uniqueMember`) for
/// rfc2307bis; empty for rfc2307. A `uniqueMember` UID suffix (`#'0101'B`)
/// is removed.
pub fn member_dns(cfg: &DomainConfig, e: &SearchEntry) -> Vec<String> {
    if cfg.schema != Schema::Rfc2307bis {
        return Vec::new();
    }
    let mut out = Vec::new();
    // Duplicates (ASCII case-insensitive) are found through a set: a group
    // of many thousand members made the pairwise scan quadratic.
    let mut seen = std::collections::HashSet::new();
    for attr in [cfg.attributes.member.as_str(), "uniqueMember"] {
        if let Ok(Some(vals)) = values(e, attr) {
            for v in vals {
                let dn = match v.rfind("#'") {
                    Some(i) if v.ends_with("'B") => &v[..i],
                    _ => v.as_str(),
                };
                if !dn.is_empty() && seen.insert(dn.to_ascii_lowercase()) {
                    out.push(dn.to_string());
                }
            }
        }
        if cfg.attributes.member.eq_ignore_ascii_case("uniqueMember") {
            break;
        }
    }
    out
}

/// The user name in a member DN whose first RDN is `<username attr>=NAME`
/// and which lies under the user search base; `None` otherwise (the DN may
/// be a nested group).
pub fn user_name_from_dn(cfg: &DomainConfig, dn: &str) -> Option<String> {
    let first = dn::first_rdn(dn)?;
    let (attr, value) = first.split_once('=')?;
    if !attr.trim().eq_ignore_ascii_case(&cfg.attributes.username) || dn::is_multi_valued(first) {
        return None;
    }
    if !cfg.user_bases().iter().any(|b| dn::is_under(dn, &b.base)) {
        return None;
    }
    let name = dn::unescape_value(value.trim())?;
    check_name(&name).ok()?;
    Some(name)
}

#[cfg(test)]
mod tests;
