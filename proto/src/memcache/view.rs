//! Borrowed views of entries: a record read in place from the mapping (no
//! allocation), or an owned [`User`]/[`Group`] seen the same way, so the NSS
//! module fills glibc's buffer from either with one code path.

use super::{record_len, Kind, Record, RECORD_ALIGN, RECORD_HEADER_LEN};
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
    /// `count` length-prefixed strings, already validated (bounds, UTF-8).
    Encoded {
        bytes: &'a [u8],
        count: u32,
        /// Some member holds a NUL byte (found once, when parsed).
        nul: bool,
    },
    Owned(&'a [String]),
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
    /// Number of members.
    pub fn member_count(&self) -> usize {
        match self.members {
            Members::Encoded { count, .. } => count as usize,
            Members::Owned(m) => m.len(),
        }
    }

    /// The members' names, in order.
    pub fn members(&self) -> impl Iterator<Item = &'a str> + 'a {
        let (encoded, owned): (Option<StrList<'a>>, Option<std::slice::Iter<'a, String>>) =
            match self.members {
                Members::Encoded { bytes, count, .. } => {
                    (Some(StrList { bytes, left: count }), None)
                }
                Members::Owned(m) => (None, Some(m.iter())),
            };
        encoded
            .into_iter()
            .flatten()
            .chain(owned.into_iter().flatten().map(String::as_str))
    }

    /// The members' names as bytes, in order: what C gets, without
    /// converting each to `&str` again (they were validated when parsed).
    pub fn member_bytes(&self) -> MemberBytes<'a> {
        match self.members {
            Members::Encoded { bytes, count, .. } => {
                MemberBytes(MemberIter::Encoded { bytes, left: count })
            }
            Members::Owned(m) => MemberBytes(MemberIter::Owned(m.iter())),
        }
    }

    /// Total length in bytes of the members' names (no terminators).
    pub fn members_len(&self) -> usize {
        match self.members {
            // Each name is preceded by its 4-byte length.
            Members::Encoded { bytes, count, .. } => bytes.len() - count as usize * 4,
            Members::Owned(m) => m.iter().map(String::len).sum(),
        }
    }

    /// True when some member's name holds a NUL byte (C cannot carry it).
    /// Known in O(1) for a parsed record.
    pub fn has_nul_member(&self) -> bool {
        match self.members {
            Members::Encoded { nul, .. } => nul,
            Members::Owned(m) => m.iter().any(|n| n.as_bytes().contains(&0)),
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
    /// `left` length-prefixed names of a parsed record (bounds validated).
    Encoded {
        bytes: &'a [u8],
        left: u32,
    },
    Owned(std::slice::Iter<'a, String>),
}

impl<'a> Iterator for MemberBytes<'a> {
    type Item = &'a [u8];
    fn next(&mut self) -> Option<&'a [u8]> {
        match &mut self.0 {
            MemberIter::Encoded { bytes, left } => {
                if *left == 0 {
                    return None;
                }
                *left -= 1;
                let (head, rest) = bytes.split_first_chunk::<4>()?;
                let (s, rest) = rest.split_at_checked(u32::from_ne_bytes(*head) as usize)?;
                *bytes = rest;
                Some(s)
            }
            MemberIter::Owned(it) => it.next().map(String::as_bytes),
        }
    }
}

/// Iterator over validated length-prefixed strings.
struct StrList<'a> {
    bytes: &'a [u8],
    left: u32,
}

impl<'a> Iterator for StrList<'a> {
    type Item = &'a str;
    fn next(&mut self) -> Option<&'a str> {
        if self.left == 0 {
            return None;
        }
        self.left -= 1;
        let mut c = Cursor(self.bytes);
        let s = c.str();
        self.bytes = c.0;
        s
    }
}

impl<'a> RecordView<'a> {
    /// Parses a whole record (as produced by [`Record::encode`]) in place,
    /// validating every field; returns it and its expiry.
    pub fn parse(bytes: &'a [u8]) -> Option<(RecordView<'a>, u64)> {
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
                let start = r.0;
                // Bounds first (lengths only), counting the NUL bytes the
                // length prefixes hold...
                let mut prefix_nuls = 0;
                for _ in 0..gid {
                    prefix_nuls += r.skip()?;
                }
                let bytes = &start[..start.len() - r.0.len()];
                // ...then the names, in one sweep each over the block: all
                // ASCII means every name is UTF-8 (else each is checked),
                // and a NUL beyond the prefixes' is in a name.
                if !bytes.is_ascii() {
                    let mut c = Cursor(bytes);
                    for _ in 0..gid {
                        c.str()?;
                    }
                }
                let nul = zero_bytes(bytes) != prefix_nuls;
                RecordView::Group(GroupView {
                    name,
                    gid: id,
                    members: Members::Encoded {
                        bytes,
                        count: gid,
                        nul,
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
        }
    }
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
    /// Steps over one length-prefixed string without looking at it;
    /// returns how many of the prefix's 4 bytes are 0.
    fn skip(&mut self) -> Option<usize> {
        let (head, rest) = self.0.split_first_chunk::<4>()?;
        self.0 = rest.get(u32::from_ne_bytes(*head) as usize..)?;
        Some(head.iter().filter(|&&b| b == 0).count())
    }

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
