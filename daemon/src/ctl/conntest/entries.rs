//! Which entries a host would refuse, and why: the "users missing
//! uidNumber" trap, root clones, IDs below `min_id` or above `max_id`, and
//! names that break passwd/group files.

use roster_daemon::config::DomainConfig;
use serde::Serialize;

/// A usable user or group: name and IDs (gid is the primary group of a
/// user, and the group's own ID for a group).
#[derive(Clone, Debug, Serialize)]
pub struct Usable {
    /// Login or group name.
    pub name: String,
    /// UID (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// GID.
    pub gid: u32,
    /// DN of the entry.
    pub dn: String,
}

/// An entry the host will not see, with the reason.
#[derive(Clone, Debug, Serialize)]
pub struct Rejected {
    /// DN of the entry.
    pub dn: String,
    /// Why it is refused.
    pub reason: String,
}

/// Why `name` cannot be a user or group name in passwd/group files.
pub fn bad_name(name: &str) -> Option<String> {
    if name.is_empty() {
        return Some("the name is empty".into());
    }
    if name.starts_with('-') {
        return Some(format!(
            "name \"{name}\" starts with '-' (it would read as an option)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| matches!(c, ':' | ',' | '/') || c.is_whitespace() || c.is_control())
    {
        return Some(format!(
            "name \"{name}\" contains {c:?}, which passwd/group files cannot hold"
        ));
    }
    if name.chars().all(|c| c.is_ascii_digit()) {
        return Some(format!(
            "name \"{name}\" is all digits (it would read as an ID)"
        ));
    }
    None
}

/// Why the ID in `attr` (value `raw`) is not served by this domain.
fn bad_id(d: &DomainConfig, attr: &str, raw: Option<&str>) -> Result<u32, String> {
    let raw = raw.ok_or_else(|| format!("no {attr} attribute"))?;
    let id: u32 = raw
        .trim()
        .parse()
        .map_err(|_| format!("{attr} \"{raw}\" is not a number"))?;
    if id == 0 {
        return Err(format!("{attr} 0 would make it a second root"));
    }
    if id < d.min_id {
        return Err(format!("{attr} {id} is below min_id {}", d.min_id));
    }
    if d.max_id != 0 && id > d.max_id {
        return Err(format!("{attr} {id} is above max_id {}", d.max_id));
    }
    Ok(id)
}

/// Checks a user entry: name, uidNumber, gidNumber (the primary group may be
/// a local group below `min_id`, but not 0 and not missing).
pub fn check_user(
    d: &DomainConfig,
    dn: &str,
    name: Option<&str>,
    uid: Option<&str>,
    gid: Option<&str>,
) -> Result<Usable, Rejected> {
    let reject = |reason: String| Rejected {
        dn: dn.to_string(),
        reason,
    };
    let attrs = &d.attributes;
    let name =
        name.ok_or_else(|| reject(format!("no {} attribute (login name)", attrs.username)))?;
    if let Some(why) = bad_name(name) {
        return Err(reject(why));
    }
    let uid = bad_id(d, &attrs.uid_number, uid).map_err(reject)?;
    let gid_raw =
        gid.ok_or_else(|| reject(format!("no {} attribute (primary group)", attrs.gid_number)))?;
    let gid: u32 = gid_raw.trim().parse().map_err(|_| {
        reject(format!(
            "{} \"{gid_raw}\" is not a number",
            attrs.gid_number
        ))
    })?;
    if gid == 0 {
        return Err(reject(format!(
            "{} 0 would put it in root's group",
            attrs.gid_number
        )));
    }
    Ok(Usable {
        name: name.to_string(),
        uid: Some(uid),
        gid,
        dn: dn.to_string(),
    })
}

/// Checks a group entry: name and gidNumber.
pub fn check_group(
    d: &DomainConfig,
    dn: &str,
    name: Option<&str>,
    gid: Option<&str>,
) -> Result<Usable, Rejected> {
    let reject = |reason: String| Rejected {
        dn: dn.to_string(),
        reason,
    };
    let name = name.ok_or_else(|| {
        reject(format!(
            "no {} attribute (group name)",
            d.attributes.group_name
        ))
    })?;
    if let Some(why) = bad_name(name) {
        return Err(reject(why));
    }
    let gid = bad_id(d, &d.attributes.gid_number, gid).map_err(reject)?;
    Ok(Usable {
        name: name.to_string(),
        uid: None,
        gid,
        dn: dn.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_daemon::config::Config;

    fn domain() -> DomainConfig {
        let cfg = Config::from_str(
            "[[domain]]\nname = \"t\"\nuris = [\"ldap://127.0.0.1\"]\nbase_dn = \"dc=t\"\nmax_id = 60000\n",
            "t.toml",
        )
        .unwrap();
        cfg.domains[0].clone()
    }

    #[test]
    fn the_classic_traps_are_named() {
        let d = domain();
        let r = |name, uid| {
            check_user(&d, "uid=x", Some(name), uid, Some("100"))
                .map(|u| u.uid)
                .map_err(|e| e.reason)
        };
        assert_eq!(r("alice", Some("10001")), Ok(Some(10001)));
        assert!(r("nouid", None).unwrap_err().contains("no uidNumber"));
        assert!(r("rootclone", Some("0"))
            .unwrap_err()
            .contains("second root"));
        assert!(r("lowuid", Some("500"))
            .unwrap_err()
            .contains("below min_id 1000"));
        assert!(r("high", Some("70000"))
            .unwrap_err()
            .contains("above max_id"));
        assert!(r("bad:name", Some("10009")).unwrap_err().contains("':'"));
        assert!(r("-dash", Some("10009")).unwrap_err().contains("'-'"));
        assert!(r("x", Some("ten")).unwrap_err().contains("not a number"));
        assert!(check_user(&d, "uid=x", Some("a"), Some("2000"), None).is_err());
        assert!(check_group(&d, "cn=g", Some("g"), Some("999")).is_err());
        assert_eq!(
            check_group(&d, "cn=g", Some("g"), Some("10000"))
                .unwrap()
                .gid,
            10000
        );
    }
}
