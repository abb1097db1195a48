//! Directory objects as the cache holds them, and their on-disk form.

use crate::store::{StoredGroup, StoredNetgroup, StoredUser, StoredValue};
use roster_proto::{Group, Netgroup, Triple, User};
use std::sync::Arc;

/// A user found in a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserEntry {
    /// The passwd entry.
    pub user: User,
    /// Distinguished name of the directory entry.
    pub dn: String,
    /// Name of the domain that has it.
    pub domain: Arc<str>,
    /// Stable unique identifier (entryUUID, objectGUID), when known.
    pub unique_id: Option<String>,
    /// SSH public keys, one `type base64 [comment]` line each (served on
    /// request only: never published to the memory cache).
    pub ssh_keys: Vec<String>,
}

/// A group found in a domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupEntry {
    /// The group entry.
    pub group: Group,
    /// Distinguished name of the directory entry.
    pub dn: String,
    /// Name of the domain that has it.
    pub domain: Arc<str>,
}

/// A netgroup found in a domain, nested netgroups already resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetgroupEntry {
    /// The netgroup (name as the domain holds it, every triple).
    pub netgroup: Netgroup,
    /// Distinguished name of the directory entry.
    pub dn: String,
    /// Name of the domain that has it.
    pub domain: Arc<str>,
}

impl UserEntry {
    /// The same entry with no spare string capacity (it is kept long).
    pub fn compacted(mut self) -> Self {
        for s in [
            &mut self.user.name,
            &mut self.user.gecos,
            &mut self.user.home,
            &mut self.user.shell,
            &mut self.dn,
        ] {
            s.shrink_to_fit();
        }
        if let Some(id) = self.unique_id.as_mut() {
            id.shrink_to_fit();
        }
        for k in &mut self.ssh_keys {
            k.shrink_to_fit();
        }
        self.ssh_keys.shrink_to_fit();
        self
    }
}

impl GroupEntry {
    /// The same entry with no spare capacity (it is kept long).
    pub fn compacted(mut self) -> Self {
        self.group.name.shrink_to_fit();
        self.dn.shrink_to_fit();
        for m in &mut self.group.members {
            m.shrink_to_fit();
        }
        self.group.members.shrink_to_fit();
        self
    }
}

/// A cached answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A user.
    User(Arc<UserEntry>),
    /// A group.
    Group(Arc<GroupEntry>),
    /// The GIDs of a user's groups.
    Gids(Arc<[u32]>),
    /// A netgroup.
    Netgroup(Arc<NetgroupEntry>),
    /// The domain said there is no such object (negative entry).
    Missing,
}

impl Value {
    /// The on-disk form; `None` for negative entries (not persisted).
    pub fn to_stored(&self) -> Option<StoredValue> {
        Some(match self {
            Value::User(u) => StoredValue::User(StoredUser {
                name: u.user.name.clone(),
                uid: u.user.uid,
                gid: u.user.gid,
                gecos: u.user.gecos.clone(),
                home: u.user.home.clone(),
                shell: u.user.shell.clone(),
                dn: u.dn.clone(),
                unique_id: u.unique_id.clone(),
                ssh_keys: u.ssh_keys.clone(),
            }),
            Value::Group(g) => StoredValue::Group(StoredGroup {
                name: g.group.name.clone(),
                gid: g.group.gid,
                members: g.group.members.clone(),
                dn: g.dn.clone(),
            }),
            Value::Gids(g) => StoredValue::Gids(g.to_vec()),
            Value::Netgroup(n) => StoredValue::Netgroup(StoredNetgroup {
                name: n.netgroup.name.clone(),
                triples: n
                    .netgroup
                    .triples
                    .iter()
                    .map(|t| [t.host.clone(), t.user.clone(), t.domain.clone()])
                    .collect(),
                dn: n.dn.clone(),
            }),
            Value::Missing => return None,
        })
    }

    /// Rebuilds a value read from disk for `domain`.
    pub fn from_stored(stored: StoredValue, domain: Arc<str>) -> Value {
        match stored {
            StoredValue::User(u) => Value::User(Arc::new(UserEntry {
                user: User {
                    name: u.name,
                    uid: u.uid,
                    gid: u.gid,
                    gecos: u.gecos,
                    home: u.home,
                    shell: u.shell,
                },
                dn: u.dn,
                domain,
                unique_id: u.unique_id,
                ssh_keys: u.ssh_keys,
            })),
            StoredValue::Group(g) => Value::Group(Arc::new(GroupEntry {
                group: Group {
                    name: g.name,
                    gid: g.gid,
                    members: g.members,
                },
                dn: g.dn,
                domain,
            })),
            StoredValue::Gids(g) => Value::Gids(g.into()),
            StoredValue::Netgroup(n) => Value::Netgroup(Arc::new(NetgroupEntry {
                netgroup: Netgroup {
                    name: n.name,
                    triples: n
                        .triples
                        .into_iter()
                        .map(|[host, user, domain]| Triple { host, user, domain })
                        .collect(),
                },
                dn: n.dn,
                domain,
            })),
            StoredValue::Missing => Value::Missing,
        }
    }
}
