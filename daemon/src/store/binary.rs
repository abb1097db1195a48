//! The binary payload of a log record (frames that begin with
//! [`super::record::RECORD_MAGIC`]).
//!
//! Fields in order, integers big-endian (as the frame's header), a string
//! as `u32` length and UTF-8 octets, a list as `u32` count and its items:
//!
//! - record: `u8` op, then `Put` (1): key, `u64` at_ms, value; `Del` (2):
//!   key; `DelNs` (3): namespace; `Clear` (4): nothing;
//! - value: `u8` kind, then user (1): name, `u32` uid, `u32` gid, gecos,
//!   home, shell, dn, `u8` 0 or 1 and the unique ID, list of SSH keys;
//!   group (2): name, `u32` gid, list of members, dn; GIDs (3): list of
//!   `u32`; netgroup (4): name, list of triples (host, user, domain), dn;
//!   missing (5): nothing.
//!
//! A payload is read whole or refused: a field cut short, a string that
//! is not UTF-8, an unknown op or kind, a count the payload cannot hold
//! or octets after the last field.
//!
//! Written from the values the cache holds, borrowed ([`ValueRef`]): a
//! lookup's answer is stored without first being copied into a
//! [`StoredValue`], as JSON, the form before this one, needed (JSON
//! records of earlier logs are read still: [`super::record::parse`]).

use super::record::{Record, StoredGroup, StoredNetgroup, StoredUser, StoredValue};
use roster_proto::memcache::UserView;
use thiserror::Error;

const PUT: u8 = 1;
const DEL: u8 = 2;
const DEL_NS: u8 = 3;
const CLEAR: u8 = 4;

const USER: u8 = 1;
const GROUP: u8 = 2;
const GIDS: u8 = 3;
const NETGROUP: u8 = 4;
const MISSING: u8 = 5;

/// Why a binary payload was refused; names the field at fault.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum BinaryError {
    /// The payload ends inside this field.
    #[error("record cut short in `{0}`")]
    Truncated(&'static str),
    /// This string field is not UTF-8.
    #[error("record field `{0}` is not UTF-8")]
    NotUtf8(&'static str),
    /// This list's count is more than the payload can hold.
    #[error("record field `{0}` counts {1} items, more than the record holds")]
    Count(&'static str, usize),
    /// An op or value kind this version does not know.
    #[error("record field `{0}` has the unknown code {1}")]
    Unknown(&'static str, u8),
    /// Octets after the last field.
    #[error("{0} octets after the record's last field")]
    Trailing(usize),
}

/// A user to store, borrowed from where it is held.
#[derive(Clone, Copy, Debug)]
pub struct UserRef<'a> {
    /// The passwd entry.
    pub user: UserView<'a>,
    /// Distinguished name of the directory entry.
    pub dn: &'a str,
    /// Stable unique identifier, when known.
    pub unique_id: Option<&'a str>,
    /// SSH public keys.
    pub ssh_keys: &'a [String],
}

/// A value to store, borrowed from where it is held (the cache's
/// [`crate::cache::entry::Value`] or a [`StoredValue`]).
#[derive(Clone, Debug)]
pub enum ValueRef<'a> {
    /// A passwd entry.
    User(UserRef<'a>),
    /// A group entry.
    Group {
        /// Group name.
        name: &'a str,
        /// Numeric group ID.
        gid: u32,
        /// Login names of the members.
        members: &'a [String],
        /// Distinguished name of the directory entry.
        dn: &'a str,
    },
    /// The GIDs of a user's groups.
    Gids(&'a [u32]),
    /// A netgroup.
    Netgroup {
        /// Netgroup name.
        name: &'a str,
        /// The triples as `[host, user, domain]`.
        triples: Vec<[&'a str; 3]>,
        /// Distinguished name of the directory entry.
        dn: &'a str,
    },
    /// The domain has no such object.
    Missing,
}

fn put_u32(out: &mut Vec<u8>, v: u32) {
    out.extend_from_slice(&v.to_be_bytes());
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    put_u32(out, s.len() as u32);
    out.extend_from_slice(s.as_bytes());
}

fn put_strs(out: &mut Vec<u8>, list: &[String]) {
    put_u32(out, list.len() as u32);
    for s in list {
        put_str(out, s);
    }
}

/// Appends the payload of `Put { key, at_ms, value }`.
pub fn write_put(out: &mut Vec<u8>, key: &str, at_ms: u64, value: &ValueRef<'_>) {
    out.push(PUT);
    put_str(out, key);
    out.extend_from_slice(&at_ms.to_be_bytes());
    match value {
        ValueRef::User(u) => {
            out.push(USER);
            let user = &u.user;
            put_str(out, user.name);
            put_u32(out, user.uid);
            put_u32(out, user.gid);
            for s in [user.gecos, user.home, user.shell, u.dn] {
                put_str(out, s);
            }
            match u.unique_id {
                Some(id) => {
                    out.push(1);
                    put_str(out, id);
                }
                None => out.push(0),
            }
            put_strs(out, u.ssh_keys);
        }
        ValueRef::Group {
            name,
            gid,
            members,
            dn,
        } => {
            out.push(GROUP);
            put_str(out, name);
            put_u32(out, *gid);
            put_strs(out, members);
            put_str(out, dn);
        }
        ValueRef::Gids(gids) => {
            out.push(GIDS);
            put_u32(out, gids.len() as u32);
            for g in *gids {
                put_u32(out, *g);
            }
        }
        ValueRef::Netgroup { name, triples, dn } => {
            out.push(NETGROUP);
            put_str(out, name);
            put_u32(out, triples.len() as u32);
            for t in triples {
                for s in t {
                    put_str(out, s);
                }
            }
            put_str(out, dn);
        }
        ValueRef::Missing => out.push(MISSING),
    }
}

/// Appends the payload of `record`.
pub fn write_record(out: &mut Vec<u8>, record: &Record) {
    match record {
        Record::Put { key, at_ms, value } => write_put(out, key, *at_ms, &value.borrowed()),
        Record::Del { key } => {
            out.push(DEL);
            put_str(out, key);
        }
        Record::DelNs { ns } => {
            out.push(DEL_NS);
            put_str(out, ns);
        }
        Record::Clear => out.push(CLEAR),
    }
}

/// Reads a payload's fields in order.
struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], BinaryError> {
        if self.rest.len() < n {
            return Err(BinaryError::Truncated(field));
        }
        let (head, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(head)
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, BinaryError> {
        Ok(self.take(1, field)?[0])
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, BinaryError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn u64(&mut self, field: &'static str) -> Result<u64, BinaryError> {
        let mut b = [0u8; 8];
        b.copy_from_slice(self.take(8, field)?);
        Ok(u64::from_be_bytes(b))
    }

    fn str(&mut self, field: &'static str) -> Result<String, BinaryError> {
        let n = self.u32(field)? as usize;
        let octets = self.take(n, field)?;
        std::str::from_utf8(octets)
            .map(str::to_owned)
            .map_err(|_| BinaryError::NotUtf8(field))
    }

    /// A list's count, refused when the rest cannot hold that many items
    /// of at least `min_item` octets (before anything is allocated).
    fn count(&mut self, field: &'static str, min_item: usize) -> Result<usize, BinaryError> {
        let n = self.u32(field)? as usize;
        if n.saturating_mul(min_item) > self.rest.len() {
            return Err(BinaryError::Count(field, n));
        }
        Ok(n)
    }

    fn strs(&mut self, field: &'static str) -> Result<Vec<String>, BinaryError> {
        let n = self.count(field, 4)?;
        (0..n).map(|_| self.str(field)).collect()
    }

    fn value(&mut self) -> Result<StoredValue, BinaryError> {
        Ok(match self.u8("value kind")? {
            USER => StoredValue::User(StoredUser {
                name: self.str("user name")?,
                uid: self.u32("user uid")?,
                gid: self.u32("user gid")?,
                gecos: self.str("user gecos")?,
                home: self.str("user home")?,
                shell: self.str("user shell")?,
                dn: self.str("user dn")?,
                unique_id: match self.u8("user unique_id")? {
                    0 => None,
                    1 => Some(self.str("user unique_id")?),
                    other => return Err(BinaryError::Unknown("user unique_id", other)),
                },
                ssh_keys: self.strs("user ssh_keys")?,
            }),
            GROUP => StoredValue::Group(StoredGroup {
                name: self.str("group name")?,
                gid: self.u32("group gid")?,
                members: self.strs("group members")?,
                dn: self.str("group dn")?,
            }),
            GIDS => {
                let n = self.count("gids", 4)?;
                StoredValue::Gids((0..n).map(|_| self.u32("gids")).collect::<Result<_, _>>()?)
            }
            NETGROUP => {
                let name = self.str("netgroup name")?;
                let n = self.count("netgroup triples", 12)?;
                let triples = (0..n)
                    .map(|_| {
                        Ok([
                            self.str("netgroup triple host")?,
                            self.str("netgroup triple user")?,
                            self.str("netgroup triple domain")?,
                        ])
                    })
                    .collect::<Result<_, BinaryError>>()?;
                let dn = self.str("netgroup dn")?;
                StoredValue::Netgroup(StoredNetgroup { name, triples, dn })
            }
            MISSING => StoredValue::Missing,
            other => return Err(BinaryError::Unknown("value kind", other)),
        })
    }
}

/// Reads a whole payload written by [`write_record`] / [`write_put`].
pub fn read_record(payload: &[u8]) -> Result<Record, BinaryError> {
    let mut r = Reader { rest: payload };
    let record = match r.u8("op")? {
        PUT => Record::Put {
            key: r.str("key")?,
            at_ms: r.u64("at_ms")?,
            value: r.value()?,
        },
        DEL => Record::Del { key: r.str("key")? },
        DEL_NS => Record::DelNs {
            ns: r.str("namespace")?,
        },
        CLEAR => Record::Clear,
        other => return Err(BinaryError::Unknown("op", other)),
    };
    if !r.rest.is_empty() {
        return Err(BinaryError::Trailing(r.rest.len()));
    }
    Ok(record)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn records() -> Vec<Record> {
        let user = StoredUser {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: "Alice Ämter".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
            dn: "uid=alice,ou=people,dc=example,dc=test".into(),
            unique_id: Some("5e1c0a2e-0000-4000-8000-000000000001".into()),
            ssh_keys: vec!["ssh-ed25519 AAAA a".into(), "ssh-rsa BBBB b".into()],
        };
        let bare = StoredUser {
            gecos: String::new(),
            unique_id: None,
            ssh_keys: Vec::new(),
            ..user.clone()
        };
        let put = |key: &str, value| Record::Put {
            key: key.into(),
            at_ms: u64::MAX - 1,
            value,
        };
        vec![
            put("d\u{1f}u:alice", StoredValue::User(user)),
            put("d\u{1f}u:bare", StoredValue::User(bare)),
            put(
                "d\u{1f}g:eng",
                StoredValue::Group(StoredGroup {
                    name: "eng".into(),
                    gid: 4000,
                    members: vec!["alice".into(), String::new(), "bob".into()],
                    dn: "cn=eng,dc=x".into(),
                }),
            ),
            put("d\u{1f}i:alice", StoredValue::Gids(vec![0, 1, u32::MAX])),
            put("d\u{1f}i:none", StoredValue::Gids(Vec::new())),
            put(
                "d\u{1f}n:hosts",
                StoredValue::Netgroup(StoredNetgroup {
                    name: "hosts".into(),
                    triples: vec![
                        ["web1".into(), String::new(), "example".into()],
                        [String::new(), "alice".into(), String::new()],
                    ],
                    dn: "cn=hosts,dc=x".into(),
                }),
            ),
            put("", StoredValue::Missing),
            Record::Del { key: "k".into() },
            Record::DelNs { ns: "d".into() },
            Record::Clear,
        ]
    }

    fn octets(record: &Record) -> Vec<u8> {
        let mut out = Vec::new();
        write_record(&mut out, record);
        out
    }

    #[test]
    fn every_kind_of_record_reads_back_as_written() {
        for rec in records() {
            assert_eq!(read_record(&octets(&rec)), Ok(rec.clone()), "{rec:?}");
        }
    }

    /// The layout the module's doc gives, spelled out for one record.
    #[test]
    fn a_group_s_octets_are_the_documented_layout() {
        let rec = Record::Put {
            key: "k".into(),
            at_ms: 0x0102,
            value: StoredValue::Group(StoredGroup {
                name: "g".into(),
                gid: 7,
                members: vec!["m".into()],
                dn: "d".into(),
            }),
        };
        let want: &[u8] = &[
            1, 0, 0, 0, 1, b'k', 0, 0, 0, 0, 0, 0, 1, 2, // op, key, at_ms
            2, 0, 0, 0, 1, b'g', 0, 0, 0, 7, // kind, name, gid
            0, 0, 0, 1, 0, 0, 0, 1, b'm', 0, 0, 0, 1, b'd', // members, dn
        ];
        assert_eq!(octets(&rec), want);
    }

    /// The other kinds and ops spelled out (a change to the layout made on
    /// both sides alike would read earlier logs wrongly).
    #[test]
    fn every_kind_s_octets_are_the_documented_layout() {
        let put = |value| Record::Put {
            key: "k".into(),
            at_ms: 3,
            value,
        };
        // op 1, key "k", at_ms 3: the head of every put below.
        let head: &[u8] = &[1, 0, 0, 0, 1, b'k', 0, 0, 0, 0, 0, 0, 0, 3];
        let user = put(StoredValue::User(StoredUser {
            name: "n".into(),
            uid: 0x0102,
            gid: 0x0304,
            gecos: "g".into(),
            home: "h".into(),
            shell: "s".into(),
            dn: "d".into(),
            unique_id: Some("u".into()),
            ssh_keys: vec!["x".into()],
        }));
        let user_body: &[u8] = &[
            1, 0, 0, 0, 1, b'n', 0, 0, 1, 2, 0, 0, 3, 4, // kind, name, uid, gid
            0, 0, 0, 1, b'g', 0, 0, 0, 1, b'h', 0, 0, 0, 1, b's', 0, 0, 0, 1, b'd', 1, 0, 0, 0, 1,
            b'u', // unique ID present
            0, 0, 0, 1, 0, 0, 0, 1, b'x', // one SSH key
        ];
        let gids = put(StoredValue::Gids(vec![5, 0x0100]));
        let gids_body: &[u8] = &[3, 0, 0, 0, 2, 0, 0, 0, 5, 0, 0, 1, 0];
        let netgroup = put(StoredValue::Netgroup(StoredNetgroup {
            name: "n".into(),
            triples: vec![["h".into(), String::new(), "d".into()]],
            dn: "c".into(),
        }));
        let netgroup_body: &[u8] = &[
            4, 0, 0, 0, 1, b'n', 0, 0, 0, 1, // kind, name, one triple
            0, 0, 0, 1, b'h', 0, 0, 0, 0, 0, 0, 0, 1, b'd', // host, user, domain
            0, 0, 0, 1, b'c', // dn
        ];
        for (rec, body) in [
            (user, user_body),
            (gids, gids_body),
            (netgroup, netgroup_body),
            (put(StoredValue::Missing), &[5][..]),
        ] {
            assert_eq!(octets(&rec), [head, body].concat(), "{rec:?}");
        }
        let no_id = put(StoredValue::User(StoredUser {
            name: String::new(),
            uid: 0,
            gid: 0,
            gecos: String::new(),
            home: String::new(),
            shell: String::new(),
            dn: String::new(),
            unique_id: None,
            ssh_keys: Vec::new(),
        }));
        let mut want = head.to_vec();
        want.push(1);
        want.extend_from_slice(&[0; 4 + 4 + 4 + 4 * 4]);
        want.extend_from_slice(&[0, 0, 0, 0, 0]); // no unique ID, no keys
        assert_eq!(octets(&no_id), want);
        assert_eq!(
            octets(&Record::Del { key: "k".into() }),
            [2, 0, 0, 0, 1, b'k']
        );
        assert_eq!(
            octets(&Record::DelNs { ns: "n".into() }),
            [3, 0, 0, 0, 1, b'n']
        );
        assert_eq!(octets(&Record::Clear), [4]);
    }

    /// Every payload cut short is refused (never read as a shorter
    /// record: cut short, or a list whose count the rest cannot hold), and
    /// so is one with octets after its end.
    #[test]
    fn a_payload_cut_short_or_with_octets_past_its_end_is_refused() {
        for rec in records() {
            let full = octets(&rec);
            for cut in 0..full.len() {
                assert!(
                    matches!(
                        read_record(&full[..cut]),
                        Err(BinaryError::Truncated(_) | BinaryError::Count(..))
                    ),
                    "{rec:?} cut at {cut}"
                );
            }
            let mut longer = full.clone();
            longer.push(0);
            assert_eq!(read_record(&longer), Err(BinaryError::Trailing(1)));
        }
    }

    #[test]
    fn unknown_codes_counts_too_large_and_non_utf8_strings_are_refused() {
        assert_eq!(read_record(&[9]), Err(BinaryError::Unknown("op", 9)));
        let mut put = octets(&Record::Put {
            key: "k".into(),
            at_ms: 1,
            value: StoredValue::Missing,
        });
        *put.last_mut().unwrap() = 42;
        assert_eq!(
            read_record(&put),
            Err(BinaryError::Unknown("value kind", 42))
        );
        // A GIDs list claiming a billion entries in a few octets.
        let mut gids = octets(&Record::Put {
            key: "k".into(),
            at_ms: 1,
            value: StoredValue::Gids(vec![5]),
        });
        let at = gids.len() - 8;
        gids[at..at + 4].copy_from_slice(&1_000_000_000u32.to_be_bytes());
        assert_eq!(
            read_record(&gids),
            Err(BinaryError::Count("gids", 1_000_000_000))
        );
        let mut del = octets(&Record::Del { key: "ab".into() });
        let last = del.len() - 1;
        del[last] = 0xff;
        assert_eq!(read_record(&del), Err(BinaryError::NotUtf8("key")));
    }
}
