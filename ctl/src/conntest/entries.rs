//! Which entries a host would refuse, and why, decided by the daemon's own
//! judgement of the domain's flavour ([`Directory::judge_users`] and
//! [`Directory::judge_groups`]): missing uidNumber, root clones, IDs below
//! `min_id`, above `max_id` or outside the idmap range, names passwd cannot
//! hold, AD users without a `uidNumber` under the rfc2307 backend. Also
//! names and UIDs held by several entries (ambiguous lookups).

use ldap3::SearchEntry;
use roster_daemon::directory::{sshkey, Directory, GroupRecord, UserRecord, Verdict};
use roster_daemon::resolver::local::LocalAccounts;
use serde::Serialize;
use std::collections::{BTreeMap, HashSet};

/// A usable user or group: name, IDs and DN.
#[derive(Clone, Debug, Serialize)]
pub struct Usable {
    /// Login or group name.
    pub name: String,
    /// UID (users only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uid: Option<u32>,
    /// Primary GID of a user, or the group's GID.
    pub gid: u32,
    /// DN of the entry.
    pub dn: String,
    /// Number of SSH public keys served for a user (0 for groups).
    #[serde(skip_serializing_if = "is_zero")]
    pub ssh_keys: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

impl Usable {
    /// The usable view of a user the daemon would serve.
    pub fn from_user(u: UserRecord) -> Usable {
        Usable {
            name: u.user.name,
            uid: Some(u.user.uid),
            gid: u.user.gid,
            dn: u.dn,
            ssh_keys: u.ssh_keys.len(),
        }
    }

    /// The usable view of a group the daemon would serve.
    pub fn from_group(g: GroupRecord) -> Usable {
        Usable {
            name: g.group.name,
            uid: None,
            gid: g.group.gid,
            dn: g.dn,
            ssh_keys: 0,
        }
    }
}

/// Splits `entries` by their `verdicts` (one per entry, in order) into
/// usable and refused ones; ignored entries are in neither list.
fn split<T>(
    entries: &[SearchEntry],
    verdicts: Vec<Verdict<T>>,
    usable: impl Fn(T) -> Usable,
) -> (Vec<Usable>, Vec<Rejected>) {
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (e, v) in entries.iter().zip(verdicts) {
        match v {
            Verdict::Served(x) => good.push(usable(x)),
            Verdict::Refused(reason) => bad.push(Rejected {
                dn: e.dn.clone(),
                reason,
            }),
            Verdict::Ignored => {}
        }
    }
    (good, bad)
}

/// An entry the host will not see, with the reason.
#[derive(Clone, Debug, Serialize)]
pub struct Rejected {
    /// DN of the entry.
    pub dn: String,
    /// Why it is refused.
    pub reason: String,
}

/// Splits user entries into usable and refused ones.
pub fn users(dir: &Directory, entries: &[SearchEntry]) -> (Vec<Usable>, Vec<Rejected>) {
    split(entries, dir.judge_users(entries), Usable::from_user)
}

/// Splits group entries into usable and refused ones. In rfc2307bis,
/// groups without a GID only carry members of nested groups: not refused.
pub fn groups(dir: &Directory, entries: &[SearchEntry]) -> (Vec<Usable>, Vec<Rejected>) {
    split(entries, dir.judge_groups(entries), Usable::from_group)
}

/// Moves entries that local accounts shadow (name or ID in `/etc/passwd`
/// or `/etc/group`, or a reserved ID) to the refused list, with the
/// daemon's own reason ([`LocalAccounts`]): the daemon never serves them.
pub fn drop_local(
    items: Vec<Usable>,
    refused: &mut Vec<Rejected>,
    local: &LocalAccounts,
    any_case: bool,
) -> Vec<Usable> {
    let mut keep = Vec::with_capacity(items.len());
    for u in items {
        let why = match u.uid {
            Some(uid) => local.user_refusal(&u.name, uid, any_case),
            None => local.group_refusal(&u.name, u.gid, any_case),
        };
        match why {
            Some(reason) => refused.push(Rejected { dn: u.dn, reason }),
            None => keep.push(u),
        }
    }
    keep
}

/// Moves entries whose name or ID another entry also holds to the refused
/// list: the daemon serves neither of them (a lookup would be ambiguous).
pub fn drop_duplicates(
    items: Vec<Usable>,
    refused: &mut Vec<Rejected>,
    id_attr: &str,
) -> Vec<Usable> {
    let id = |u: &Usable| u.uid.unwrap_or(u.gid);
    let mut by_name: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut by_id: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for u in &items {
        by_name
            .entry(u.name.clone())
            .or_default()
            .push(u.dn.clone());
        by_id.entry(id(u)).or_default().push(u.dn.clone());
    }
    let mut keep = Vec::with_capacity(items.len());
    for u in items {
        let same_name = &by_name[&u.name];
        let same_id = &by_id[&id(&u)];
        let others = |dns: &[String]| {
            dns.iter()
                .filter(|d| **d != u.dn)
                .cloned()
                .collect::<Vec<_>>()
                .join("; ")
        };
        if same_name.len() > 1 {
            refused.push(Rejected {
                reason: format!(
                    "name \"{}\" is also used by {}: ambiguous, refused",
                    u.name,
                    others(same_name)
                ),
                dn: u.dn,
            });
        } else if same_id.len() > 1 {
            refused.push(Rejected {
                reason: format!(
                    "{id_attr} {} is also used by {}: ambiguous, refused",
                    id(&u),
                    others(same_id)
                ),
                dn: u.dn,
            });
        } else {
            keep.push(u);
        }
    }
    keep
}

/// What `rosterctl test` says of SSH keys: how many usable users have
/// keys (and how many keys), and each value of attribute `attr` of a usable
/// user's entry that is not served, as `DN: reason` (the daemon's own check,
/// [`sshkey::parse_key`]).
pub fn ssh_keys(attr: &str, entries: &[SearchEntry], good: &[Usable]) -> (String, Vec<String>) {
    let with_keys = good.iter().filter(|u| u.ssh_keys > 0).count();
    let keys: usize = good.iter().map(|u| u.ssh_keys).sum();
    let served: HashSet<&str> = good.iter().map(|u| u.dn.as_str()).collect();
    let mut bad = Vec::new();
    for e in entries.iter().filter(|e| served.contains(e.dn.as_str())) {
        for (_, values) in e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr)) {
            for v in values {
                if let Err(why) = sshkey::parse_key(v) {
                    bad.push(format!("{}: {why}", e.dn));
                }
            }
        }
        for (_, values) in e
            .bin_attrs
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
        {
            for _ in values {
                bad.push(format!("{}: {}", e.dn, sshkey::KeyError::NotUtf8));
            }
        }
    }
    let mut message = format!(
        "{with_keys} of {} usable users have keys ({keys} keys)",
        good.len()
    );
    if !bad.is_empty() {
        message += &format!(", {} malformed values not served", bad.len());
    }
    (message, bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usable(name: &str, uid: u32, dn: &str) -> Usable {
        Usable {
            name: name.into(),
            uid: Some(uid),
            gid: 100,
            dn: dn.into(),
            ssh_keys: 0,
        }
    }

    #[test]
    fn local_names_and_ids_are_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let (p, g) = (dir.path().join("passwd"), dir.path().join("group"));
        std::fs::write(
            &p,
            "backup:x:34:34::/:/bin/sh
",
        )
        .unwrap();
        std::fs::write(
            &g,
            "sudo:x:27:
",
        )
        .unwrap();
        let local = LocalAccounts::from_paths(&p, &g);
        let mut refused = Vec::new();
        let users = vec![
            usable("backup", 20034, "uid=backup"),
            usable("x", 34, "uid=x"),
            usable("y", 65534, "uid=y"),
            usable("z", 20001, "uid=z"),
        ];
        let keep = drop_local(users, &mut refused, &local, false);
        assert_eq!(keep.len(), 1);
        assert_eq!(keep[0].dn, "uid=z");
        assert!(refused[0].reason.contains("local user"), "{:?}", refused[0]);
        assert!(refused[1].reason.contains("uid 34"), "{:?}", refused[1]);
        assert!(refused[2].reason.contains("reserved"), "{:?}", refused[2]);
        let group = Usable {
            name: "SUDO".into(),
            uid: None,
            gid: 20027,
            dn: "cn=sudo".into(),
            ssh_keys: 0,
        };
        assert!(drop_local(vec![group], &mut refused, &local, true).is_empty());
    }

    #[test]
    fn duplicates_are_refused_with_the_other_dn() {
        let v = vec![
            usable("dup", 1, "a"),
            usable("dup", 2, "b"),
            usable("x", 2, "c"),
            usable("y", 3, "d"),
        ];
        let mut refused = Vec::new();
        let keep = drop_duplicates(v, &mut refused, "uidNumber");
        assert_eq!(keep.len(), 1);
        assert_eq!(keep[0].name, "y");
        let reasons: Vec<String> = refused
            .iter()
            .map(|r| format!("{}: {}", r.dn, r.reason))
            .collect();
        assert_eq!(reasons.len(), 3, "{reasons:?}");
        assert!(
            reasons[0].starts_with("a: name \"dup\" is also used by b"),
            "{reasons:?}"
        );
        assert!(
            reasons[2].starts_with("c: uidNumber 2 is also used by b"),
            "{reasons:?}"
        );
    }

    #[test]
    fn ssh_keys_are_counted_and_malformed_values_named() {
        let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILRIa+vFP2j+a/LVLtIGdmVPcDOsV7lmR3FT7aR3D4TB test@roster";
        let e = |dn: &str, values: &[&str]| SearchEntry {
            dn: dn.into(),
            attrs: ldap3::AttrMap::from_iter([(
                "sshPublicKey".to_string(),
                values.iter().map(|v| v.to_string()).collect(),
            )]),
            bin_attrs: Default::default(),
        };
        let entries = [
            e("uid=a", &[key, "ssh-rsa nope"]),
            e("uid=b", &[]),
            e("uid=refused", &["garbage"]),
        ];
        let mut a = usable("a", 1, "uid=a");
        a.ssh_keys = 1;
        let good = [a, usable("b", 2, "uid=b")];
        let (message, bad) = ssh_keys("sshPublicKey", &entries, &good);
        assert_eq!(
            message,
            "1 of 2 usable users have keys (1 keys), 1 malformed values not served"
        );
        assert_eq!(bad.len(), 1, "{bad:?}");
        assert!(bad[0].starts_with("uid=a: "), "{bad:?}");
    }
}
