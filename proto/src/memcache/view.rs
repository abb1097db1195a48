//! Borrowed views of entries: a record read in place from the mapping (no
//! allocation), a group reply read in place from its frame
//! ([`crate::decode_group_reply`]), or an owned [`User`]/[`Group`] seen the
//! same way, so the NSS module fills glibc's buffer from any of them with
//! one code path.

use super::{record_len, Key, Kind, OwnedKey, Record, RECORD_ALIGN, RECORD_HEADER_LEN};
use crate::types::{Group, User};

/// A passwd entry, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserView<'a> {
    /// Login name.
    pub name: &'a str,
    /// UID.
    pub uid: u32,
    /// Primary GID.
    pub gid: u32,
    /// GECOS field.
    pub gecos: &'a str,
    /// Home directory.
    pub home: &'a str,
    /// Login shell.
    pub shell: &'a str,
}

/// A group entry, borrowed.
#[derive(Clone, Copy, Debug)]
pub struct GroupView<'a> {
    /// Group name.
    pub name: &'a str,
    /// GID.
    pub gid: u32,
    members: Members<'a>,
}

#[derive(Clone, Copy, Debug)]
enum Members<'a> {
    /// A parsed record's members, validated: `count` native-endian `u32`
    /// end offsets into `block`, each name in `block` ending with its only
    /// NUL, every name UTF-8.
    Encoded {
        ends: &'a [u8],
        block: &'a [u8],
        count: u32,
    },
    Owned(&'a [String]),
    /// A reply frame's members, validated ([`GroupView::framed`]): `count`
    /// names, each a big-endian `u32` length and that many bytes of UTF-8;
    /// `len` bytes of names in all, `nul` when one holds a NUL byte.
    Framed {
        bytes: &'a [u8],
        count: u32,
        len: usize,
        nul: bool,
    },
}

/// One native-endian `u32` of a 4-byte chunk, as a `usize`.
fn ne_usize(c: &[u8]) -> usize {
    u32::from_ne_bytes([c[0], c[1], c[2], c[3]]) as usize
}

/// A whole record, borrowed.
#[derive(Clone, Copy, Debug)]
pub enum RecordView<'a> {
    /// A passwd entry.
    User(UserView<'a>),
    /// A group entry.
    Group(GroupView<'a>),
    /// The GIDs of a user's groups (native-endian `u32`s).
    Initgroups {
        /// The user's name.
        user: &'a str,
        /// The encoded GIDs.
        gids: &'a [u8],
    },
    /// "No such entry" for this key.
    Missing(Key<'a>),
}

impl<'a> UserView<'a> {
    /// An owned copy.
    pub fn to_owned(&self) -> User {
        User {
            name: self.name.to_owned(),
            uid: self.uid,
            gid: self.gid,
            gecos: self.gecos.to_owned(),
            home: self.home.to_owned(),
            shell: self.shell.to_owned(),
        }
    }
}

impl User {
    /// This entry as a view.
    pub fn view(&self) -> UserView<'_> {
        UserView {
            name: &self.name,
            uid: self.uid,
            gid: self.gid,
            gecos: &self.gecos,
            home: &self.home,
            shell: &self.shell,
        }
    }
}

impl Group {
    /// This entry as a view.
    pub fn view(&self) -> GroupView<'_> {
        GroupView {
            name: &self.name,
            gid: self.gid,
            members: Members::Owned(&self.members),
        }
    }
}

impl<'a> GroupView<'a> {
    /// A group read in place from a reply frame: `members` holds `count`
    /// names, each a big-endian `u32` length and its bytes, which the
    /// caller has checked ([`crate::decode_group_reply`]): `len` bytes of
    /// UTF-8 names in all, `nul` when one holds a NUL byte.
    pub(crate) fn framed(
        name: &'a str,
        gid: u32,
        members: &'a [u8],
        count: u32,
        len: usize,
        nul: bool,
    ) -> Self {
        GroupView {
            name,
            gid,
            members: Members::Framed {
                bytes: members,
                count,
                len,
                nul,
            },
        }
    }

    /// True when this entry holds what `g` holds (name, GID, members in
    /// order), compared in place.
    pub fn same_as(&self, g: &Group) -> bool {
        self.name == g.name
            && self.gid == g.gid
            && self.member_count() == g.members.len()
            && self.members().eq(g.members.iter().map(String::as_str))
    }

    /// Number of members.
    pub fn member_count(&self) -> usize {
        match self.members {
            Members::Encoded { count, .. } | Members::Framed { count, .. } => count as usize,
            Members::Owned(m) => m.len(),
        }
    }

    /// The members' names, in order.
    pub fn members(&self) -> impl Iterator<Item = &'a str> + 'a {
        // Validated as UTF-8 when parsed: the conversion cannot fail.
        self.member_bytes()
            .map_while(|b| std::str::from_utf8(b).ok())
    }

    /// The members' names as bytes, in order: what C gets, without
    /// converting each to `&str` again (they were validated when parsed).
    pub fn member_bytes(&self) -> MemberBytes<'a> {
        match self.members {
            Members::Encoded { ends, block, .. } => MemberBytes(MemberIter::Encoded {
                ends: ends.chunks_exact(4),
                block,
                start: 0,
            }),
            Members::Owned(m) => MemberBytes(MemberIter::Owned(m.iter())),
            Members::Framed { bytes, .. } => MemberBytes(MemberIter::Framed(bytes)),
        }
    }

    /// A parsed record's members as C wants them: the block of
    /// NUL-terminated names, one after another, and where each ends in it
    /// (past its NUL: where the next one starts; the last is the block's
    /// length). None for an owned entry.
    pub fn member_block(&self) -> Option<(&'a [u8], impl Iterator<Item = usize> + 'a)> {
        match self.members {
            Members::Encoded { ends, block, .. } => {
                Some((block, ends.chunks_exact(4).map(ne_usize)))
            }
            Members::Owned(_) | Members::Framed { .. } => None,
        }
    }

    /// Total length in bytes of the members' names (no terminators).
    pub fn members_len(&self) -> usize {
        match self.members {
            // Each name in the block is followed by its NUL.
            Members::Encoded { block, count, .. } => block.len() - count as usize,
            Members::Owned(m) => m.iter().map(String::len).sum(),
            Members::Framed { len, .. } => len,
        }
    }

    /// Whether the members' encoding holds together (ends increasing, each
    /// name NUL-terminated and UTF-8): what [`RecordView::parse`] checks
    /// that [`RecordView::parse_members_unchecked`] does not.
    pub(crate) fn members_valid(&self) -> bool {
        match self.members {
            Members::Encoded { ends, block, .. } => members_valid(ends, block),
            Members::Owned(_) | Members::Framed { .. } => true,
        }
    }

    /// True when some member's name holds a NUL byte (C cannot carry it;
    /// a parsed record never does: it would be refused).
    pub fn has_nul_member(&self) -> bool {
        match self.members {
            Members::Encoded { .. } => false,
            Members::Owned(m) => m.iter().any(|n| n.as_bytes().contains(&0)),
            Members::Framed { nul, .. } => nul,
        }
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Group {
        Group {
            name: self.name.to_owned(),
            gid: self.gid,
            members: self.members().map(str::to_owned).collect(),
        }
    }
}

/// The members' names as bytes ([`GroupView::member_bytes`]).
#[derive(Clone, Debug)]
pub struct MemberBytes<'a>(MemberIter<'a>);

#[derive(Clone, Debug)]
enum MemberIter<'a> {
    /// Names of a parsed record: the end offsets left, the block, where
    /// the next name starts.
    Encoded {
        ends: std::slice::ChunksExact<'a, u8>,
        block: &'a [u8],
        start: usize,
    },
    Owned(std::slice::Iter<'a, String>),
    /// Names of a reply frame still to read (length-prefixed, checked).
    Framed(&'a [u8]),
}

impl<'a> Iterator for MemberBytes<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            MemberIter::Encoded { ends, block, start } => {
                let end = ne_usize(ends.next()?);
                // Without its NUL.
                let name = block.get(*start..end.checked_sub(1)?)?;
                *start = end;
                Some(name)
            }
            MemberIter::Owned(it) => it.next().map(String::as_bytes),
            MemberIter::Framed(rest) => {
                let (len, tail) = rest.split_first_chunk::<4>()?;
                let len = u32::from_be_bytes(*len) as usize;
                let name = tail.get(..len)?;
                *rest = &tail[len..];
                Some(name)
            }
        }
    }
}

impl<'a> RecordView<'a> {
    /// Parses a whole record (as produced by [`Record::encode`]) in place,
    /// validating every field; returns it and its expiry.
    pub fn parse(bytes: &'a [u8]) -> Option<(RecordView<'a>, u64)> {
        Self::parse_members_unchecked(bytes).filter(|(view, _)| view.members_valid())
    }

    /// Whether a group's members hold together ([`GroupView::members_valid`]);
    /// other records have none.
    pub(crate) fn members_valid(&self) -> bool {
        match self {
            RecordView::Group(group) => group.members_valid(),
            _ => true,
        }
    }

    /// [`RecordView::parse`] without checking a group's member names (a
    /// group's thousands of names): the bounds and every other field are
    /// checked. A group's members must not be read from the view it
    /// returns (their readers trust them: `members_len`, the ends
    /// `member_block` hands out) unless [`RecordView::members_valid`]
    /// holds, or held for the same bytes, which never change (the
    /// reader's memory of the last group checked); matching a record
    /// against a key reads no member.
    pub(crate) fn parse_members_unchecked(bytes: &'a [u8]) -> Option<(RecordView<'a>, u64)> {
        if bytes.len() < RECORD_HEADER_LEN || record_len(bytes)? != bytes.len() {
            return None;
        }
        let expires = u64::from_ne_bytes(bytes[8..16].try_into().ok()?);
        let id = u32::from_ne_bytes(bytes[16..20].try_into().ok()?);
        let gid = u32::from_ne_bytes(bytes[20..24].try_into().ok()?);
        let mut r = Cursor(&bytes[RECORD_HEADER_LEN..]);
        let view = match bytes[4] {
            k if k == Kind::User as u8 => RecordView::User(UserView {
                name: r.str()?,
                uid: id,
                gid,
                gecos: r.str()?,
                home: r.str()?,
                shell: r.str()?,
            }),
            k if k == Kind::Group as u8 => {
                let name = r.str()?;
                let count = gid as usize;
                let ends_len = count.checked_mul(4)?;
                if ends_len > r.0.len() {
                    return None;
                }
                let (ends, rest) = r.0.split_at(ends_len);
                // The last end is the block's length.
                let block_len = match ends_len.checked_sub(4) {
                    Some(last) => ne_usize(&ends[last..]),
                    None => 0,
                };
                if block_len > rest.len() {
                    return None;
                }
                let (block, rest) = rest.split_at(block_len);
                r.0 = rest;
                RecordView::Group(GroupView {
                    name,
                    gid: id,
                    members: Members::Encoded {
                        ends,
                        block,
                        count: gid,
                    },
                })
            }
            k if k == Kind::Initgroups as u8 => {
                let user = r.str()?;
                let len = (gid as usize).checked_mul(4)?;
                if len > r.0.len() {
                    return None;
                }
                let (gids, rest) = r.0.split_at(len);
                r.0 = rest;
                RecordView::Initgroups { user, gids }
            }
            // `id` the key's tag, `gid` its ID (names: 0), then its name.
            k if k == Kind::Missing as u8 => {
                let tag = u8::try_from(id).ok()?;
                RecordView::Missing(Key::from_parts(tag, r.str()?, gid)?)
            }
            _ => return None,
        };
        // Only alignment padding may follow.
        if r.0.len() >= RECORD_ALIGN || r.0.iter().any(|&b| b != 0) {
            return None;
        }
        Some((view, expires))
    }

    /// An owned copy.
    pub fn to_owned(&self) -> Record {
        match self {
            RecordView::User(u) => Record::User(u.to_owned()),
            RecordView::Group(g) => Record::Group(g.to_owned()),
            RecordView::Initgroups { user, gids } => Record::Initgroups {
                user: (*user).to_owned(),
                gids: gids
                    .chunks_exact(4)
                    .map(|c| u32::from_ne_bytes([c[0], c[1], c[2], c[3]]))
                    .collect(),
            },
            RecordView::Missing(key) => Record::Missing(OwnedKey::from(key)),
        }
    }
}

/// True when the end offsets `ends` (native-endian `u32`s) cut `block`
/// into names that each end with the only NUL they hold, and every name is
/// UTF-8. Sweeps without early exits, which the compiler turns into vector
/// code: the ends increase (every name has its NUL), a NUL at each end, as
/// many NULs in the block as names, and the block all ASCII (else each name
/// is checked on its own).
fn members_valid(ends: &[u8], block: &[u8]) -> bool {
    let count = ends.len() / 4;
    let first = ends.get(..4).map_or(1, ne_usize);
    let next = ends.get(4..).unwrap_or_default();
    let increasing = first >= 1
        && ends
            .chunks_exact(4)
            .zip(next.chunks_exact(4))
            .fold(true, |ok, (a, b)| ok & (ne_usize(a) < ne_usize(b)));
    if !increasing || count > 0 && ne_usize(&ends[ends.len() - 4..]) != block.len() {
        return false;
    }
    let nul_at_ends = ends.chunks_exact(4).fold(true, |ok, c| {
        ok & (block.get(ne_usize(c).wrapping_sub(1)) == Some(&0))
    });
    if !nul_at_ends || zero_bytes(block) != count {
        return false;
    }
    block.is_ascii()
        || MemberBytes(MemberIter::Encoded {
            ends: ends.chunks_exact(4),
            block,
            start: 0,
        })
        .all(|name| std::str::from_utf8(name).is_ok())
}

/// How many bytes of `bytes` are 0 (byte-wide counters, which the
/// compiler turns into vector compares and adds).
fn zero_bytes(bytes: &[u8]) -> usize {
    bytes
        .chunks(255)
        .map(|c| usize::from(c.iter().fold(0u8, |n, &b| n + u8::from(b == 0))))
        .sum()
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn str(&mut self) -> Option<&'a str> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        let n = u32::from_ne_bytes(*head) as usize;
        if n > rest.len() {
            return None;
        }
        let (s, rest) = rest.split_at(n);
        self.0 = rest;
        std::str::from_utf8(s).ok()
    }
}
