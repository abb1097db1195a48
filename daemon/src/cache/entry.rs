//! Directory objects as the cache holds them, and their on-disk form.

use crate::store::{Storable, StoredValue, UserRef, ValueRef};
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

/// The on-disk form, written by the store's writer thread from the value
/// itself; `None` for negative entries (not persisted).
impl Storable for Value {
    fn stored(&self) -> Option<ValueRef<'_>> {
        Some(match self {
            Value::User(u) => ValueRef::User(UserRef {
                user: u.user.view(),
                dn: &u.dn,
                unique_id: u.unique_id.as_deref(),
                ssh_keys: &u.ssh_keys,
            }),
            Value::Group(g) => ValueRef::Group {
                name: &g.group.name,
                gid: g.group.gid,
                members: &g.group.members,
                dn: &g.dn,
            },
            Value::Gids(g) => ValueRef::Gids(g),
            Value::Netgroup(n) => ValueRef::Netgroup {
                name: &n.netgroup.name,
                triples: n
                    .netgroup
                    .triples
                    .iter()
                    .map(|t| [t.host.as_str(), t.user.as_str(), t.domain.as_str()])
                    .collect(),
                dn: &n.dn,
            },
            Value::Missing => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::record::{encode_put, parse, Frame, Record};

    /// Each kind of cached value, written from where the cache holds it and
    /// read back from its record, is the value again.
    #[test]
    fn a_value_written_from_the_cache_reads_back_as_itself() {
        let domain: Arc<str> = Arc::from("example");
        let values = [
            Value::User(Arc::new(UserEntry {
                user: User {
                    name: "alice".into(),
                    uid: 10001,
                    gid: 10000,
                    gecos: "Alice".into(),
                    home: "/home/alice".into(),
                    shell: "/bin/bash".into(),
                },
                dn: "uid=alice,dc=example,dc=test".into(),
                domain: domain.clone(),
                unique_id: Some("u-1".into()),
                ssh_keys: vec!["ssh-ed25519 AAAA a".into()],
            })),
            Value::Group(Arc::new(GroupEntry {
                group: Group {
                    name: "eng".into(),
                    gid: 4000,
                    members: vec!["alice".into(), "bob".into()],
                },
                dn: "cn=eng,dc=example,dc=test".into(),
                domain: domain.clone(),
            })),
            Value::Gids(Arc::from(vec![4000, 4001])),
            Value::Netgroup(Arc::new(NetgroupEntry {
                netgroup: Netgroup {
                    name: "hosts".into(),
                    triples: vec![Triple {
                        host: "web1".into(),
                        user: String::new(),
                        domain: "example".into(),
                    }],
                },
                dn: "cn=hosts,dc=example,dc=test".into(),
                domain: domain.clone(),
            })),
        ];
        for value in values {
            let frame = encode_put("k", 5, &value.stored().unwrap()).unwrap();
            let Frame::Valid(
                Record::Put {
                    key,
                    at_ms,
                    value: stored,
                },
                _,
            ) = parse(&frame)
            else {
                panic!("{value:?} did not read back");
            };
            assert_eq!((key.as_str(), at_ms), ("k", 5));
            assert_eq!(Value::from_stored(stored, domain.clone()), value);
        }
        assert!(
            Value::Missing.stored().is_none(),
            "negative entries are not kept"
        );
    }
}
