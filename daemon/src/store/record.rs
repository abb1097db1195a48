//! One record of the persistent cache log and its on-disk framing.
//!
//! Frame: `u8 magic`, `u32 len` (big-endian, payload bytes),
//! `u32 crc32(payload)`, then `len` bytes of payload: binary
//! ([`super::binary`]) after the magic [`RECORD_MAGIC`] (0xA6), JSON after
//! [`JSON_RECORD_MAGIC`] (0xA5; logs written before the binary form, read
//! still, never written). A record is accepted only when the whole frame
//! is present, the checksum matches and the payload reads whole.

use super::binary::{self, UserRef, ValueRef};
use crc32fast::hash as crc32;
use roster_proto::memcache::UserView;
use serde::{Deserialize, Serialize};

/// First byte of a record frame with a binary payload (the form written).
pub const RECORD_MAGIC: u8 = 0xA6;
/// First byte of a record frame with a JSON payload (read only).
pub const JSON_RECORD_MAGIC: u8 = 0xA5;
/// Bytes before the payload: magic, length, checksum.
pub const FRAME_OVERHEAD: usize = 9;
/// Largest payload accepted when reading (guards against a corrupt length).
pub const MAX_PAYLOAD: usize = 16 * 1024 * 1024;

/// A cached user as stored on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredUser {
    /// Login name.
    pub name: String,
    /// Numeric user ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// GECOS field.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Distinguished name of the directory entry.
    pub dn: String,
    /// Stable unique identifier (entryUUID, objectGUID), when known.
    pub unique_id: Option<String>,
    /// SSH public keys (absent in records written before they were kept).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ssh_keys: Vec<String>,
}

/// A cached group as stored on disk.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGroup {
    /// Group name.
    pub name: String,
    /// Numeric group ID.
    pub gid: u32,
    /// Login names of the members.
    pub members: Vec<String>,
    /// Distinguished name of the directory entry.
    pub dn: String,
}

/// A cached netgroup as stored on disk: its triples (nested netgroups'
/// included) as `[host, user, domain]`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredNetgroup {
    /// Netgroup name.
    pub name: String,
    /// The triples, nested netgroups' included.
    pub triples: Vec<[String; 3]>,
    /// Distinguished name of the directory entry.
    pub dn: String,
}

/// The value of one persistent cache entry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StoredValue {
    /// A passwd entry.
    User(StoredUser),
    /// A group entry.
    Group(StoredGroup),
    /// The GIDs of a user's groups (initgroups).
    Gids(Vec<u32>),
    /// A netgroup.
    Netgroup(StoredNetgroup),
    /// The domain has no such object: kept when another domain's answer
    /// rests on it (a name or ID it does not hold), so that offline
    /// answers keep the same owners.
    Missing,
}

/// One operation in the log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "op")]
pub enum Record {
    /// Sets `key` to `value`, fetched from the directory at `at_ms`
    /// (milliseconds since the Unix epoch).
    Put {
        /// Entry key.
        key: String,
        /// When the value was fetched from the directory.
        at_ms: u64,
        /// The value.
        value: StoredValue,
    },
    /// Removes `key`.
    Del {
        /// Entry key.
        key: String,
    },
    /// Removes every entry of namespace `ns` (keys starting `ns` + 0x1f).
    DelNs {
        /// The namespace (a domain name).
        ns: String,
    },
    /// Removes every entry.
    Clear,
}

/// A [`StoredValue`] handed over whole ([`super::Store::put`]) is written
/// as one the cache holds is.
impl super::Storable for StoredValue {
    fn stored(&self) -> Option<ValueRef<'_>> {
        Some(self.borrowed())
    }
}

impl StoredValue {
    /// The value borrowed, as [`binary::write_put`] takes it.
    pub fn borrowed(&self) -> ValueRef<'_> {
        match self {
            StoredValue::User(u) => ValueRef::User(UserRef {
                user: UserView {
                    name: &u.name,
                    uid: u.uid,
                    gid: u.gid,
                    gecos: &u.gecos,
                    home: &u.home,
                    shell: &u.shell,
                },
                dn: &u.dn,
                unique_id: u.unique_id.as_deref(),
                ssh_keys: &u.ssh_keys,
            }),
            StoredValue::Group(g) => ValueRef::Group {
                name: &g.name,
                gid: g.gid,
                members: &g.members,
                dn: &g.dn,
            },
            StoredValue::Gids(g) => ValueRef::Gids(g),
            StoredValue::Netgroup(n) => ValueRef::Netgroup {
                name: &n.name,
                triples: n
                    .triples
                    .iter()
                    .map(|[h, u, d]| [h.as_str(), u.as_str(), d.as_str()])
                    .collect(),
                dn: &n.dn,
            },
            StoredValue::Missing => ValueRef::Missing,
        }
    }
}

/// Separator between a key's namespace and the rest.
pub const NS_SEP: char = '\u{1f}';

/// The namespace of `key`: what comes before the first [`NS_SEP`] (empty
/// when there is none).
pub fn namespace_of(key: &str) -> &str {
    key.split_once(NS_SEP).map_or("", |(ns, _)| ns)
}

/// Encodes a record as a complete frame; `None` when its payload would be
/// over [`MAX_PAYLOAD`] (a reader would refuse it).
pub fn encode(record: &Record) -> Option<Vec<u8>> {
    framed(|out| binary::write_record(out, record))
}

/// Encodes `Put { key, at_ms, value }` as a complete frame, from a value
/// borrowed where it is held; `None` when its payload would be over
/// [`MAX_PAYLOAD`].
pub fn encode_put(key: &str, at_ms: u64, value: &ValueRef<'_>) -> Option<Vec<u8>> {
    framed(|out| binary::write_put(out, key, at_ms, value))
}

/// The frame of the payload `write` appends, if it is not over
/// [`MAX_PAYLOAD`] (which also keeps every length in a `u32`).
fn framed(write: impl FnOnce(&mut Vec<u8>)) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(128);
    out.extend_from_slice(&[RECORD_MAGIC, 0, 0, 0, 0, 0, 0, 0, 0]);
    write(&mut out);
    let payload = &out[FRAME_OVERHEAD..];
    if payload.len() > MAX_PAYLOAD {
        return None;
    }
    let len = (payload.len() as u32).to_be_bytes();
    let crc = crc32(payload).to_be_bytes();
    out[1..5].copy_from_slice(&len);
    out[5..9].copy_from_slice(&crc);
    Some(out)
}

/// What was found at some offset of the log.
// A value of the moment (one per record read, its record moved out at
// once), never stored in bulk: boxing the record would cost an allocation
// per record at every replay for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, PartialEq, Eq)]
pub enum Frame {
    /// A valid record occupying `len` bytes (frame included).
    Valid(Record, usize),
    /// A complete frame whose checksum or content is wrong; `len` bytes may
    /// be skipped to reach the next frame.
    Corrupt(usize),
    /// The bytes end before the frame does, or the header is not a frame
    /// header: nothing after this offset can be trusted.
    Broken,
}

/// Parses the frame at the start of `buf`.
pub fn parse(buf: &[u8]) -> Frame {
    if buf.len() < FRAME_OVERHEAD || !matches!(buf[0], RECORD_MAGIC | JSON_RECORD_MAGIC) {
        return Frame::Broken;
    }
    let len = u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize;
    let crc = u32::from_be_bytes([buf[5], buf[6], buf[7], buf[8]]);
    if len > MAX_PAYLOAD || buf.len() < FRAME_OVERHEAD + len {
        return Frame::Broken;
    }
    let payload = &buf[FRAME_OVERHEAD..FRAME_OVERHEAD + len];
    if crc32(payload) != crc {
        return Frame::Corrupt(FRAME_OVERHEAD + len);
    }
    let read = if buf[0] == RECORD_MAGIC {
        // (The caller reports the frame as corrupt, with its offset; what
        // is wrong inside it is only worth a debug line.)
        binary::read_record(payload)
            .map_err(|e| tracing::debug!(error = %e, "persistent cache: a record cannot be read"))
            .ok()
    } else {
        serde_json::from_slice(payload).ok()
    };
    match read {
        Some(r) => Frame::Valid(r, FRAME_OVERHEAD + len),
        None => Frame::Corrupt(FRAME_OVERHEAD + len),
    }
}

/// A frame as logs were written before the binary form: `payload` (JSON)
/// after [`JSON_RECORD_MAGIC`].
#[cfg(test)]
pub(super) fn json_frame(payload: &str) -> Vec<u8> {
    let payload = payload.as_bytes();
    let mut out = vec![JSON_RECORD_MAGIC];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(&crc32(payload).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A frame whose checksum holds but whose payload does not read is a
    /// corrupt record, skipped, not the end of the log (which would lose
    /// every record after it): binary and JSON alike.
    #[test]
    fn a_payload_that_does_not_read_is_a_corrupt_frame_not_a_broken_log() {
        let mut frame = encode(&Record::Del { key: "k".into() }).unwrap();
        frame[FRAME_OVERHEAD] = 9; // no such op
        let crc = crc32(&frame[FRAME_OVERHEAD..]).to_be_bytes();
        frame[5..9].copy_from_slice(&crc);
        assert_eq!(parse(&frame), Frame::Corrupt(frame.len()));
        let json = json_frame("{}");
        assert_eq!(parse(&json), Frame::Corrupt(json.len()));
    }

    /// The checksum stays the IEEE CRC-32 (zlib/PNG) the log was written
    /// with, so files written before crc32fast still read.
    #[test]
    fn checksum_is_ieee_crc32() {
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(
            crc32(b"The quick brown fox jumps over the lazy dog"),
            0x414F_A339
        );
    }

    fn sample() -> Record {
        Record::Put {
            key: "k".into(),
            at_ms: 42,
            value: StoredValue::Gids(vec![1, 2]),
        }
    }

    #[test]
    fn round_trip() {
        let f = encode(&sample()).unwrap();
        assert_eq!(f[0], RECORD_MAGIC);
        assert_eq!(parse(&f), Frame::Valid(sample(), f.len()));
    }

    /// A whole frame spelled out: magic, payload length, checksum.
    #[test]
    fn a_frame_is_its_magic_length_checksum_and_payload() {
        let f = encode(&Record::Del { key: "k".into() }).unwrap();
        let payload = [2, 0, 0, 0, 1, b'k'];
        let mut want = vec![RECORD_MAGIC, 0, 0, 0, 6];
        want.extend_from_slice(&crc32(&payload).to_be_bytes());
        want.extend_from_slice(&payload);
        assert_eq!(f, want);
    }

    /// A payload over [`MAX_PAYLOAD`] gets no frame (a reader would take
    /// it for a broken log and read nothing after it).
    #[test]
    fn a_record_too_large_to_read_back_is_not_framed() {
        let members = vec!["m".repeat(1 << 20); 16];
        let group = |members: Vec<String>| Record::Put {
            key: "k".into(),
            at_ms: 1,
            value: StoredValue::Group(StoredGroup {
                name: "big".into(),
                gid: 1,
                members,
                dn: "cn=big".into(),
            }),
        };
        assert_eq!(encode(&group(members.clone())), None);
        let fits = encode(&group(members[..15].to_vec())).unwrap();
        assert!(matches!(parse(&fits), Frame::Valid(..)));
    }

    /// Frames of logs written before the binary form read as they were
    /// written: each payload below is what those releases wrote.
    #[test]
    fn json_frames_of_older_logs_still_read() {
        let cases = [
            (
                r#"{"op":"Put","key":"d\u001fu:alice","at_ms":1,"value":{"User":{"name":"alice","uid":10001,"gid":10000,"gecos":"Alice","home":"/home/alice","shell":"/bin/sh","dn":"uid=alice,dc=example,dc=test","unique_id":"u-1","ssh_keys":["ssh-ed25519 AAAA a"]}}}"#,
                Record::Put {
                    key: "d\u{1f}u:alice".into(),
                    at_ms: 1,
                    value: StoredValue::User(StoredUser {
                        name: "alice".into(),
                        uid: 10001,
                        gid: 10000,
                        gecos: "Alice".into(),
                        home: "/home/alice".into(),
                        shell: "/bin/sh".into(),
                        dn: "uid=alice,dc=example,dc=test".into(),
                        unique_id: Some("u-1".into()),
                        ssh_keys: vec!["ssh-ed25519 AAAA a".into()],
                    }),
                },
            ),
            (
                r#"{"op":"Put","key":"d\u001fg:eng","at_ms":1,"value":{"Group":{"name":"eng","gid":4000,"members":["alice","bob"],"dn":"cn=eng,dc=example,dc=test"}}}"#,
                Record::Put {
                    key: "d\u{1f}g:eng".into(),
                    at_ms: 1,
                    value: StoredValue::Group(StoredGroup {
                        name: "eng".into(),
                        gid: 4000,
                        members: vec!["alice".into(), "bob".into()],
                        dn: "cn=eng,dc=example,dc=test".into(),
                    }),
                },
            ),
            (
                r#"{"op":"Put","key":"d\u001fi:alice","at_ms":1,"value":{"Gids":[4000,4001]}}"#,
                Record::Put {
                    key: "d\u{1f}i:alice".into(),
                    at_ms: 1,
                    value: StoredValue::Gids(vec![4000, 4001]),
                },
            ),
            (
                r#"{"op":"Put","key":"d\u001fn:hosts","at_ms":1,"value":{"Netgroup":{"name":"hosts","triples":[["web1","","example"]],"dn":"cn=hosts,dc=example,dc=test"}}}"#,
                Record::Put {
                    key: "d\u{1f}n:hosts".into(),
                    at_ms: 1,
                    value: StoredValue::Netgroup(StoredNetgroup {
                        name: "hosts".into(),
                        triples: vec![["web1".into(), String::new(), "example".into()]],
                        dn: "cn=hosts,dc=example,dc=test".into(),
                    }),
                },
            ),
            (
                r#"{"op":"Put","key":"e\u001fu:carol","at_ms":1,"value":"Missing"}"#,
                Record::Put {
                    key: "e\u{1f}u:carol".into(),
                    at_ms: 1,
                    value: StoredValue::Missing,
                },
            ),
            (
                r#"{"op":"Del","key":"d\u001fu:bob"}"#,
                Record::Del {
                    key: "d\u{1f}u:bob".into(),
                },
            ),
            (
                r#"{"op":"DelNs","ns":"e"}"#,
                Record::DelNs { ns: "e".into() },
            ),
            (r#"{"op":"Clear"}"#, Record::Clear),
        ];
        for (payload, rec) in cases {
            let f = json_frame(payload);
            assert_eq!(parse(&f), Frame::Valid(rec, f.len()), "{payload}");
        }
    }

    #[test]
    fn ssh_keys_are_kept_and_older_records_still_read() {
        let mut user = StoredUser {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: String::new(),
            home: "/home/alice".into(),
            shell: "/bin/sh".into(),
            dn: "uid=alice,dc=example,dc=test".into(),
            unique_id: None,
            ssh_keys: Vec::new(),
        };
        // Without keys the record is written as before they were kept.
        let json = serde_json::to_string(&user).unwrap();
        assert!(!json.contains("ssh_keys"), "{json}");
        let old: StoredUser = serde_json::from_str(&json).unwrap();
        assert_eq!(old, user);
        user.ssh_keys = vec!["ssh-ed25519 AAAA a".into()];
        let r = Record::Put {
            key: "k".into(),
            at_ms: 1,
            value: StoredValue::User(user),
        };
        let f = encode(&r).unwrap();
        assert_eq!(parse(&f), Frame::Valid(r, f.len()));
    }

    #[test]
    fn truncation_and_corruption_are_detected() {
        let f = encode(&sample()).unwrap();
        assert_eq!(parse(&f[..f.len() - 1]), Frame::Broken);
        assert_eq!(parse(&f[..3]), Frame::Broken);
        let mut bad = f.clone();
        let last = bad.len() - 1;
        bad[last] ^= 0x01;
        assert_eq!(parse(&bad), Frame::Corrupt(f.len()));
        let mut bad_magic = f;
        bad_magic[0] = 0;
        assert_eq!(parse(&bad_magic), Frame::Broken);
    }
}
