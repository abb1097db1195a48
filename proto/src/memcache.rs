//! The NSS memory cache: a read-only table rosterd publishes in
//! `<socket_dir>/nss.mc` and every process running the NSS module maps, so a
//! warm lookup costs a hash, a few memory reads and a copy — no socket round
//! trip (the idea of SSSD's `/var/lib/sss/mc/*`).
//!
//! ## File layout (native byte order: the file never leaves the host)
//!
//! | offset | size | field                                                  |
//! |--------|------|--------------------------------------------------------|
//! | 0      | 8    | magic `ROSTRMC\0`                                       |
//! | 8      | 4    | version ([`VERSION`])                                   |
//! | 12     | 4    | header length (64)                                      |
//! | 16     | 8    | generation: a fresh random nonce per file               |
//! | 24     | 4    | retired: 0 live, 1 replaced or withdrawn (atomic)       |
//! | 28     | 4    | slot count (a power of two)                             |
//! | 32     | 8    | offset of the slot array                                |
//! | 40     | 8    | offset of the record area                               |
//! | 48     | 8    | length of the record area                               |
//! | 56     | 8    | bytes of the record area in use (atomic, writer only)   |
//! | 64     | 4    | length of the module's settings, or `u32::MAX`: none    |
//! | 68     | n    | the settings: the text of `nss.conf`                    |
//!
//! **Settings**: the NSS module's settings as rosterd publishes them in
//! `nss.conf` (the same text, at most [`SETTINGS_MAX_LEN`] bytes; longer
//! ones are left out, length `u32::MAX`), immutable for the file's life: a
//! new process's first lookup takes them from the file it maps anyway
//! instead of opening `nss.conf` too, and a file written after a reload
//! carries the new ones. A module reads `nss.conf` when the file carries
//! none. The slot array starts after them ([`SLOTS_START`] in the files
//! rosterd writes; the reader takes the header's offset).
//!
//! **Slots** (`u32` each, atomic): 0 = empty, `u32::MAX` = deleted, any
//! other value `v` = the record at record-area offset `(v - 1) * 8`. A key
//! ([`Key`]: user by name or UID, group by name or GID, groups of a user) is
//! hashed (FNV-1a 64) to its first slot; lookups probe linearly until an
//! empty slot. A user or group record is reachable from two slots (name and
//! ID).
//!
//! **Records** are append-only and immutable once published: the writer
//! copies a record into unused space, then stores its slot value with
//! release ordering; a reader loads the slot with acquire ordering, so it
//! can only ever see a complete record (old or new), never a torn one. A
//! record is `u32 length, u8 kind, 3 pad bytes, u64 expiry (CLOCK_MONOTONIC
//! milliseconds), u32 id, u32 gid`, then the kind's strings (`u32 length +
//! bytes`) and lists; every field is bounds-checked by the reader. A group
//! (`id` its GID, `gid` its member count) holds its name, then one `u32`
//! per member (where that member's name ends in the block that follows,
//! past its NUL), then the block: every member's name NUL-terminated, one
//! after another — what glibc's buffer gets, copied in one piece. A user's
//! groups (`gid` the count) hold the user's name, then the GIDs. A
//! "no such entry" answer (`id` the key's tag, 1–5 as [`Key::tag`] gives,
//! `gid` the UID or GID asked, else 0) holds the name asked (empty for an
//! ID): the module answers "not found" from it until it expires, as
//! rosterd would from its own negative cache.
//!
//! **Expiry**: a reader ignores a record whose expiry has passed (and asks
//! the daemon instead), so no entry outlives the TTL it was published with.
//!
//! **Invalidation**: deleting a key stores `u32::MAX` in its slot. A flush,
//! a full record area, a restart or (rosterd's rule) "no such entry"
//! records all expired after their share was used (and the file ten
//! minutes old) writes a whole new file and renames it over the old one, then
//! sets the old file's `retired` flag; readers check the flag on every
//! lookup and re-map the new file. Stopping the daemon retires the file
//! and removes it; a daemon that cannot write a file of its own
//! withdraws one left by another that did not stop cleanly ([`withdraw`]).

mod reader;
mod view;
mod writer;

pub use reader::{Mapping, MemcacheReader};
pub use view::{GroupView, MemberBytes, RecordView, UserView};
pub use writer::{file_len, withdraw, MemcacheWriter, WriteError};

use crate::types::{Group, User};

/// File name of the memory cache inside the socket directory.
pub const MEMCACHE_FILE_NAME: &str = "nss.mc";
/// File magic.
pub const MAGIC: [u8; 8] = *b"ROSTRMC\0";
/// Layout version; a reader ignores files of another version (2: group
/// members as a block of NUL-terminated names after their end offsets; 3:
/// "no such entry" records, [`Kind::Missing`]; 4: the module's settings
/// after the header).
pub const VERSION: u32 = 4;
/// Length of the fixed header.
pub const HEADER_LEN: usize = 64;
/// Where the settings' length is, right after the header (the text
/// follows it).
pub(crate) const OFF_SETTINGS: usize = HEADER_LEN;
/// Where the settings' text starts, after their length.
pub(crate) const OFF_SETTINGS_TEXT: usize = OFF_SETTINGS + 4;
/// The settings' length when the file carries none.
pub const SETTINGS_NONE: u32 = u32::MAX;
/// Where the writer puts the slot array: the header, the settings' length
/// and the settings fill the file's first page at most.
pub const SLOTS_START: usize = 4096;
/// The longest settings a file carries (those longer are read from
/// `nss.conf`).
pub const SETTINGS_MAX_LEN: usize = SLOTS_START - OFF_SETTINGS_TEXT;
/// Slot value of an empty slot.
pub const SLOT_EMPTY: u32 = 0;
/// Slot value of a deleted key (probing continues past it).
pub const SLOT_DELETED: u32 = u32::MAX;
/// Records start on multiples of this.
pub const RECORD_ALIGN: usize = 8;
/// Fixed part of a record.
pub const RECORD_HEADER_LEN: usize = 24;

pub(crate) const OFF_MAGIC: usize = 0;
pub(crate) const OFF_VERSION: usize = 8;
pub(crate) const OFF_HEADER_LEN: usize = 12;
pub(crate) const OFF_GENERATION: usize = 16;
pub(crate) const OFF_RETIRED: usize = 24;
pub(crate) const OFF_SLOT_COUNT: usize = 28;
pub(crate) const OFF_SLOTS: usize = 32;
pub(crate) const OFF_DATA: usize = 40;
pub(crate) const OFF_DATA_LEN: usize = 48;
pub(crate) const OFF_DATA_USED: usize = 56;

/// Kind byte of a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Kind {
    /// A passwd entry.
    User = 1,
    /// A group entry.
    Group = 2,
    /// The GIDs of a user's groups.
    Initgroups = 3,
    /// "No such entry" for one key.
    Missing = 4,
}

/// What a lookup asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key<'a> {
    /// passwd entry by name.
    UserName(&'a str),
    /// passwd entry by UID.
    Uid(u32),
    /// group entry by name.
    GroupName(&'a str),
    /// group entry by GID.
    Gid(u32),
    /// The groups of a user, by user name.
    GroupsOf(&'a str),
}

impl Key<'_> {
    /// The first slot to probe in a table of `slot_count` (a power of two).
    pub fn slot(&self, slot_count: u32) -> u32 {
        (self.hash() & u64::from(slot_count - 1)) as u32
    }

    /// The key's kind as a byte: 1 user name, 2 UID, 3 group name, 4 GID,
    /// 5 the groups of a user.
    pub fn tag(&self) -> u8 {
        match self {
            Key::UserName(_) => 1,
            Key::Uid(_) => 2,
            Key::GroupName(_) => 3,
            Key::Gid(_) => 4,
            Key::GroupsOf(_) => 5,
        }
    }

    /// The key's name, or its ID (`None` for the other).
    fn parts(&self) -> (Option<&str>, Option<u32>) {
        match *self {
            Key::UserName(n) | Key::GroupName(n) | Key::GroupsOf(n) => (Some(n), None),
            Key::Uid(id) | Key::Gid(id) => (None, Some(id)),
        }
    }

    /// The key of `tag` ([`Key::tag`]) with `name` or `id`: a name key
    /// takes the name and an ID of 0, an ID key the ID and an empty name.
    fn from_parts(tag: u8, name: &str, id: u32) -> Option<Key<'_>> {
        let (named, ided) = (id == 0, name.is_empty());
        Some(match tag {
            1 if named => Key::UserName(name),
            2 if ided => Key::Uid(id),
            3 if named => Key::GroupName(name),
            4 if ided => Key::Gid(id),
            5 if named => Key::GroupsOf(name),
            _ => return None,
        })
    }

    /// FNV-1a 64 of the tag byte ([`Key::tag`]) and the key's bytes.
    pub fn hash(&self) -> u64 {
        match self.parts() {
            (Some(name), _) => fnv(self.tag(), name.as_bytes()),
            (None, id) => fnv(self.tag(), &id.unwrap_or_default().to_le_bytes()),
        }
    }

    /// True when `record` is the answer to this key.
    pub fn matches(&self, record: &Record) -> bool {
        match (self, record) {
            (Key::UserName(n), Record::User(u)) => u.name == *n,
            (Key::Uid(id), Record::User(u)) => u.uid == *id,
            (Key::GroupName(n), Record::Group(g)) => g.name == *n,
            (Key::Gid(id), Record::Group(g)) => g.gid == *id,
            (Key::GroupsOf(n), Record::Initgroups { user, .. }) => user == n,
            (k, Record::Missing(m)) => *k == m.as_key(),
            _ => false,
        }
    }

    /// True when the borrowed `record` is the answer to this key.
    pub fn matches_view(&self, record: &RecordView<'_>) -> bool {
        match (self, record) {
            (Key::UserName(n), RecordView::User(u)) => u.name == *n,
            (Key::Uid(id), RecordView::User(u)) => u.uid == *id,
            (Key::GroupName(n), RecordView::Group(g)) => g.name == *n,
            (Key::Gid(id), RecordView::Group(g)) => g.gid == *id,
            (Key::GroupsOf(n), RecordView::Initgroups { user, .. }) => user == n,
            (k, RecordView::Missing(m)) => k == m,
            _ => false,
        }
    }
}

/// A [`Key`] with its name owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OwnedKey {
    /// passwd entry by name.
    UserName(String),
    /// passwd entry by UID.
    Uid(u32),
    /// group entry by name.
    GroupName(String),
    /// group entry by GID.
    Gid(u32),
    /// The groups of a user, by user name.
    GroupsOf(String),
}

impl OwnedKey {
    /// This key, borrowed.
    pub fn as_key(&self) -> Key<'_> {
        match self {
            OwnedKey::UserName(n) => Key::UserName(n),
            OwnedKey::Uid(id) => Key::Uid(*id),
            OwnedKey::GroupName(n) => Key::GroupName(n),
            OwnedKey::Gid(id) => Key::Gid(*id),
            OwnedKey::GroupsOf(n) => Key::GroupsOf(n),
        }
    }
}

impl From<&Key<'_>> for OwnedKey {
    fn from(k: &Key<'_>) -> Self {
        match *k {
            Key::UserName(n) => OwnedKey::UserName(n.to_string()),
            Key::Uid(id) => OwnedKey::Uid(id),
            Key::GroupName(n) => OwnedKey::GroupName(n.to_string()),
            Key::Gid(id) => OwnedKey::Gid(id),
            Key::GroupsOf(n) => OwnedKey::GroupsOf(n.to_string()),
        }
    }
}

fn fnv(tag: u8, bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in std::iter::once(&tag).chain(bytes) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The content of a record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    /// A passwd entry.
    User(User),
    /// A group entry.
    Group(Group),
    /// The GIDs of a user's groups.
    Initgroups {
        /// The user's name.
        user: String,
        /// The GIDs.
        gids: Vec<u32>,
    },
    /// "No such entry" for this key.
    Missing(OwnedKey),
}

impl RecordView<'_> {
    /// The keys under which this record is published.
    pub fn keys(&self) -> Vec<Key<'_>> {
        match self {
            RecordView::User(u) => vec![Key::UserName(u.name), Key::Uid(u.uid)],
            RecordView::Group(g) => vec![Key::GroupName(g.name), Key::Gid(g.gid)],
            RecordView::Initgroups { user, .. } => vec![Key::GroupsOf(user)],
            RecordView::Missing(key) => vec![*key],
        }
    }

    /// True when this record holds what `record` holds (compared in
    /// place: a published group of thousands of members is not copied).
    pub fn same_as<'r>(&self, record: impl Into<RecordRef<'r>>) -> bool {
        match (self, record.into()) {
            (RecordView::User(v), RecordRef::User(u)) => *v == u.view(),
            (RecordView::Group(v), RecordRef::Group(g)) => v.same_as(g),
            (RecordView::Initgroups { user, gids }, RecordRef::Initgroups { user: u, gids: g }) => {
                *user == u
                    && gids.len() == g.len() * 4
                    && gids
                        .chunks_exact(4)
                        .zip(g)
                        .all(|(c, id)| c == id.to_ne_bytes())
            }
            (RecordView::Missing(k), RecordRef::Missing(m)) => *k == m,
            _ => false,
        }
    }
}

/// A record's content, borrowed: what the daemon publishes, compares and
/// encodes straight from its answers, without copying them into a
/// [`Record`] first.
#[derive(Clone, Copy, Debug)]
pub enum RecordRef<'a> {
    /// A passwd entry.
    User(&'a User),
    /// A group entry.
    Group(&'a Group),
    /// The GIDs of a user's groups.
    Initgroups {
        /// The user's name.
        user: &'a str,
        /// The GIDs.
        gids: &'a [u32],
    },
    /// "No such entry" for this key.
    Missing(Key<'a>),
}

impl<'a> From<&'a Record> for RecordRef<'a> {
    fn from(r: &'a Record) -> Self {
        match r {
            Record::User(u) => RecordRef::User(u),
            Record::Group(g) => RecordRef::Group(g),
            Record::Initgroups { user, gids } => RecordRef::Initgroups { user, gids },
            Record::Missing(key) => RecordRef::Missing(key.as_key()),
        }
    }
}

impl<'a> RecordRef<'a> {
    /// The keys under which this record is published.
    pub fn keys(&self) -> Vec<Key<'a>> {
        match *self {
            RecordRef::User(u) => vec![Key::UserName(&u.name), Key::Uid(u.uid)],
            RecordRef::Group(g) => vec![Key::GroupName(&g.name), Key::Gid(g.gid)],
            RecordRef::Initgroups { user, .. } => vec![Key::GroupsOf(user)],
            RecordRef::Missing(key) => vec![key],
        }
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Record {
        match *self {
            RecordRef::User(u) => Record::User(u.clone()),
            RecordRef::Group(g) => Record::Group(g.clone()),
            RecordRef::Initgroups { user, gids } => Record::Initgroups {
                user: user.to_string(),
                gids: gids.to_vec(),
            },
            RecordRef::Missing(key) => Record::Missing(OwnedKey::from(&key)),
        }
    }

    /// The length of [`RecordRef::encode`]'s bytes, computed without
    /// encoding.
    pub fn encoded_len(&self) -> usize {
        let str_len = |s: &str| 4 + s.len();
        let body = match *self {
            RecordRef::User(u) => [&u.name, &u.gecos, &u.home, &u.shell]
                .iter()
                .map(|s| str_len(s))
                .sum(),
            RecordRef::Group(g) => {
                str_len(&g.name) + g.members.iter().map(|m| 4 + m.len() + 1).sum::<usize>()
            }
            RecordRef::Initgroups { user, gids } => str_len(user) + 4 * gids.len(),
            RecordRef::Missing(key) => str_len(key.parts().0.unwrap_or_default()),
        };
        (RECORD_HEADER_LEN + body).next_multiple_of(RECORD_ALIGN)
    }

    /// Encodes the record with its expiry; the length is a multiple of
    /// [`RECORD_ALIGN`].
    pub fn encode(&self, expires_ms: u64) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.encoded_len());
        out.resize(RECORD_HEADER_LEN, 0);
        let (kind, id, gid) = match *self {
            RecordRef::User(u) => {
                for s in [&u.name, &u.gecos, &u.home, &u.shell] {
                    put_str(&mut out, s);
                }
                (Kind::User, u.uid, u.gid)
            }
            RecordRef::Group(g) => {
                put_str(&mut out, &g.name);
                // A name holding a NUL makes the record one readers refuse
                // (they ask the daemon, whose answer C cannot carry either).
                let mut end = 0u32;
                for m in &g.members {
                    end = end.wrapping_add(m.len() as u32 + 1);
                    out.extend_from_slice(&end.to_ne_bytes());
                }
                for m in &g.members {
                    out.extend_from_slice(m.as_bytes());
                    out.push(0);
                }
                (Kind::Group, g.gid, g.members.len() as u32)
            }
            RecordRef::Initgroups { user, gids } => {
                put_str(&mut out, user);
                for g in gids {
                    out.extend_from_slice(&g.to_ne_bytes());
                }
                (Kind::Initgroups, 0, gids.len() as u32)
            }
            RecordRef::Missing(key) => {
                let (name, id) = key.parts();
                put_str(&mut out, name.unwrap_or_default());
                (Kind::Missing, u32::from(key.tag()), id.unwrap_or_default())
            }
        };
        out.resize(out.len().next_multiple_of(RECORD_ALIGN), 0);
        let len = out.len() as u32;
        out[0..4].copy_from_slice(&len.to_ne_bytes());
        out[4] = kind as u8;
        out[8..16].copy_from_slice(&expires_ms.to_ne_bytes());
        out[16..20].copy_from_slice(&id.to_ne_bytes());
        out[20..24].copy_from_slice(&gid.to_ne_bytes());
        out
    }
}

impl Record {
    /// The keys under which this record is published.
    pub fn keys(&self) -> Vec<Key<'_>> {
        RecordRef::from(self).keys()
    }

    /// Encodes the record with its expiry ([`RecordRef::encode`]).
    pub fn encode(&self, expires_ms: u64) -> Vec<u8> {
        RecordRef::from(self).encode(expires_ms)
    }

    /// Decodes a whole record (as produced by [`Record::encode`]); returns
    /// the record and its expiry, or `None` for anything malformed.
    pub fn decode(bytes: &[u8]) -> Option<(Record, u64)> {
        RecordView::parse(bytes).map(|(v, expires)| (v.to_owned(), expires))
    }
}

/// The length field of an encoded record, if it is plausible.
pub(crate) fn record_len(bytes: &[u8]) -> Option<usize> {
    let len = u32::from_ne_bytes(bytes.get(0..4)?.try_into().ok()?) as usize;
    (len >= RECORD_HEADER_LEN && len & (RECORD_ALIGN - 1) == 0).then_some(len)
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_ne_bytes());
    out.extend_from_slice(s.as_bytes());
}

/// The clock record expiries use (`CLOCK_MONOTONIC` in milliseconds): the
/// same for every process on the host, never jumps.
pub use crate::clock::monotonic_ms;

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> User {
        User {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: "Alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }
    }

    #[test]
    fn records_round_trip() {
        let records = [
            Record::User(alice()),
            Record::Group(Group {
                name: "staff".into(),
                gid: 10010,
                members: vec!["alice".into(), "bob".into()],
            }),
            Record::Group(Group {
                name: "empty".into(),
                gid: 10011,
                members: vec![],
            }),
            Record::Initgroups {
                user: "alice".into(),
                gids: vec![10000, 10010],
            },
            Record::Missing(OwnedKey::UserName("ghost".into())),
            Record::Missing(OwnedKey::Uid(0)),
            Record::Missing(OwnedKey::Uid(u32::MAX)),
            Record::Missing(OwnedKey::GroupName("ghosts".into())),
            Record::Missing(OwnedKey::Gid(4242)),
            Record::Missing(OwnedKey::GroupsOf("ghost".into())),
        ];
        for r in records {
            let bytes = r.encode(1234);
            assert_eq!(bytes.len() % RECORD_ALIGN, 0);
            assert_eq!(RecordRef::from(&r).encoded_len(), bytes.len(), "{r:?}");
            assert_eq!(Record::decode(&bytes), Some((r, 1234)));
        }
    }

    #[test]
    fn malformed_records_are_refused() {
        let good = Record::User(alice()).encode(1);
        for cut in 0..good.len() {
            assert_eq!(Record::decode(&good[..cut]), None, "cut at {cut}");
        }
        let mut bad_kind = good.clone();
        bad_kind[4] = 9;
        assert_eq!(Record::decode(&bad_kind), None);
        let mut long_str = good.clone();
        long_str[RECORD_HEADER_LEN..RECORD_HEADER_LEN + 4]
            .copy_from_slice(&(u32::MAX).to_ne_bytes());
        assert_eq!(Record::decode(&long_str), None);
        let mut huge_count = Record::Group(Group::default()).encode(1);
        huge_count[20..24].copy_from_slice(&(u32::MAX).to_ne_bytes());
        assert_eq!(Record::decode(&huge_count), None);
        // "No such entry": a tag out of range, a name key with an ID, an ID
        // key with a name.
        let ghost = Record::Missing(OwnedKey::UserName("ghost".into())).encode(1);
        assert!(Record::decode(&ghost).is_some());
        for (at, value) in [(16, 0u32), (16, 6), (16, 256 + 1), (20, 7)] {
            let mut bad = ghost.clone();
            bad[at..at + 4].copy_from_slice(&value.to_ne_bytes());
            assert_eq!(Record::decode(&bad), None, "{at}: {value}");
        }
        let mut named_uid = Record::Missing(OwnedKey::Uid(7)).encode(1);
        named_uid[RECORD_HEADER_LEN..RECORD_HEADER_LEN + 4].copy_from_slice(&1u32.to_ne_bytes());
        named_uid[RECORD_HEADER_LEN + 4] = b'x';
        assert_eq!(Record::decode(&named_uid), None);
        assert!(Record::decode(&Record::Missing(OwnedKey::Uid(7)).encode(1)).is_some());
    }

    #[test]
    fn a_published_record_is_the_same_as_what_it_was_made_from_only() {
        let g = Group {
            name: "staff".into(),
            gid: 10010,
            members: vec!["alice".into(), "bob".into()],
        };
        let gids = Record::Initgroups {
            user: "alice".into(),
            gids: vec![10000, 10010, 70000],
        };
        let mut others = Vec::new();
        let mut reordered = g.clone();
        reordered.members.reverse();
        let mut fewer = g.clone();
        fewer.members.pop();
        let mut renumbered = g.clone();
        renumbered.gid += 1;
        let mut shell = alice();
        shell.shell = "/bin/zsh".into();
        let Record::Initgroups { user, gids: ids } = &gids else {
            unreachable!()
        };
        let mut more = ids.clone();
        more.push(1);
        others.extend([
            (Record::Group(g.clone()), Record::Group(reordered)),
            (Record::Group(g.clone()), Record::Group(fewer)),
            (Record::Group(g.clone()), Record::Group(renumbered)),
            (Record::User(alice()), Record::User(shell)),
            (Record::User(alice()), Record::Group(g.clone())),
            (
                gids.clone(),
                Record::Initgroups {
                    user: user.clone(),
                    gids: more,
                },
            ),
        ]);
        for (published, other) in others {
            let bytes = published.encode(3);
            let (view, _) = RecordView::parse(&bytes).expect("parsed");
            assert!(view.same_as(&published), "{published:?}");
            assert!(!view.same_as(&other), "{published:?} / {other:?}");
        }
    }

    #[test]
    fn views_read_in_place_and_match_owned_entries() {
        let g = Group {
            name: "staff".into(),
            gid: 10010,
            members: vec!["alice".into(), "bob".into(), "".into()],
        };
        let bytes = Record::Group(g.clone()).encode(7);
        let Some((RecordView::Group(v), 7)) = RecordView::parse(&bytes) else {
            panic!("not a group view")
        };
        assert_eq!((v.name, v.gid, v.member_count()), ("staff", 10010, 3));
        assert_eq!(v.members().collect::<Vec<_>>(), ["alice", "bob", ""]);
        assert_eq!(v.to_owned(), g);
        let owned = g.view();
        assert_eq!(owned.members().collect::<Vec<_>>(), ["alice", "bob", ""]);
        assert!(Key::Gid(10010).matches_view(&RecordView::Group(owned)));
        let u = alice();
        let encoded = Record::User(u.clone()).encode(1);
        let Some((RecordView::User(uv), _)) = RecordView::parse(&encoded) else {
            panic!("not a user view")
        };
        assert_eq!(uv, u.view());
        assert!(Key::UserName("alice").matches_view(&RecordView::User(uv)));
        assert!(!Key::GroupName("alice").matches_view(&RecordView::User(uv)));
    }

    #[test]
    fn group_views_know_their_members_bytes_and_nuls() {
        let long = "x".repeat(300); // length prefix with 2 zero bytes
        let long256 = "y".repeat(256); // 3 zero bytes, one of them low
        let cases: [(Vec<String>, bool); 6] = [
            (vec![], false),
            (vec!["alice".into(), "".into(), "bob".into()], false),
            (vec!["zoë".into(), "jürgen".into()], false),
            (vec![long.clone(), long256.clone(), "c".into()], false),
            (vec!["a".into(), "b\0c".into()], true),
            (vec![long, "\0".into(), "é\0".into()], true),
        ];
        for (members, nul) in cases {
            let g = Group {
                name: "g".into(),
                gid: 10020,
                members: members.clone(),
            };
            let bytes = Record::Group(g.clone()).encode(1);
            let parsed = RecordView::parse(&bytes);
            let mut views = vec![g.view()];
            match parsed {
                // A NUL in a name: a record readers refuse.
                None => assert!(nul, "{members:?}"),
                Some((RecordView::Group(v), _)) => {
                    assert!(!nul, "{members:?}");
                    let (block, ends) = v.member_block().unwrap();
                    let c: Vec<u8> = members.iter().flat_map(|m| m.bytes().chain([0])).collect();
                    assert_eq!(block, &c[..]);
                    let mut at = 0;
                    let want: Vec<usize> = members
                        .iter()
                        .map(|m| {
                            at += m.len() + 1;
                            at
                        })
                        .collect();
                    assert_eq!(ends.collect::<Vec<_>>(), want);
                    views.push(v);
                }
                Some(_) => panic!("not a group view"),
            }
            assert!(g.view().member_block().is_none());
            for view in views {
                assert_eq!(view.has_nul_member(), nul, "{members:?}");
                assert_eq!(
                    view.member_bytes().collect::<Vec<_>>(),
                    members.iter().map(String::as_bytes).collect::<Vec<_>>()
                );
                assert_eq!(
                    view.members_len(),
                    members.iter().map(String::len).sum::<usize>()
                );
                assert_eq!(view.to_owned(), g);
            }
        }
        // A name without its NUL, ends out of order, a NUL inside a name,
        // a name that is not UTF-8: malformed.
        let g = Record::Group(Group {
            name: "g".into(),
            gid: 1,
            members: vec!["ab".into(), "cd".into()],
        })
        .encode(1);
        let ends = RECORD_HEADER_LEN + 4 + 1; // after the name "g"
        let block = ends + 8;
        assert_eq!(&g[block..block + 6], b"ab\0cd\0");
        assert!(RecordView::parse(&g).is_some());
        for (at, byte) in [(block + 2, b'x'), (block + 1, 0), (ends, 4)] {
            let mut bad = g.clone();
            bad[at] = byte;
            assert!(RecordView::parse(&bad).is_none(), "byte {at} = {byte}");
        }
        let mut swapped = g.clone();
        swapped[ends..ends + 4].copy_from_slice(&6u32.to_ne_bytes());
        swapped[ends + 4..ends + 8].copy_from_slice(&3u32.to_ne_bytes());
        assert!(RecordView::parse(&swapped).is_none());
        // A member that is not UTF-8 makes the record malformed.
        let mut bad = Record::Group(Group {
            name: "g".into(),
            gid: 1,
            members: vec!["ab".into(), "é".into()],
        })
        .encode(1);
        let lead = bad.iter().rposition(|&b| b == 0xc3).unwrap();
        bad[lead] = 0xff;
        assert!(RecordView::parse(&bad).is_none());
    }

    #[test]
    fn keys_match_their_records_only() {
        let u = Record::User(alice());
        assert!(Key::UserName("alice").matches(&u));
        assert!(Key::Uid(10001).matches(&u));
        assert!(!Key::Uid(10002).matches(&u));
        assert!(!Key::GroupName("alice").matches(&u));
        assert!(!Key::GroupsOf("alice").matches(&u));
        assert_ne!(
            Key::UserName("alice").hash(),
            Key::GroupName("alice").hash()
        );
        assert_ne!(Key::Uid(1).hash(), Key::Gid(1).hash());
        assert!(Key::Uid(77).slot(1024) < 1024);
        // A "no such entry" answers its own key only.
        let ghost = Record::Missing(OwnedKey::UserName("alice".into()));
        assert!(Key::UserName("alice").matches(&ghost));
        for other in [
            Key::UserName("alicia"),
            Key::GroupName("alice"),
            Key::GroupsOf("alice"),
            Key::Uid(10001),
        ] {
            assert!(!other.matches(&ghost), "{other:?}");
        }
        let bytes = Record::Missing(OwnedKey::Gid(5)).encode(1);
        let (view, _) = RecordView::parse(&bytes).unwrap();
        assert!(Key::Gid(5).matches_view(&view));
        assert!(!Key::Uid(5).matches_view(&view) && !Key::Gid(6).matches_view(&view));
        assert_eq!(view.keys(), [Key::Gid(5)]);
        assert!(view.same_as(RecordRef::Missing(Key::Gid(5))));
        assert!(!view.same_as(RecordRef::Missing(Key::Uid(5))));
        // Hashes unchanged by the tags' move to `Key::tag`.
        assert_eq!(Key::Uid(1).hash(), fnv(2, &1u32.to_le_bytes()));
        assert_eq!(Key::GroupsOf("a").hash(), fnv(5, b"a"));
    }
}

#[cfg(test)]
mod file_tests;
