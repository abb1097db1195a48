//! Encoding and decoding of frames (see the crate docs for the layout).

use crate::admin::{self, ADMIN_VERSION};
use crate::memcache::GroupView;
use crate::types::{
    Group, KrbTicket, Netgroup, PamCode, PamReply, Request, Response, Secret, Triple, User,
};
use crate::{MAX_FRAME_LEN, MAX_LIST_LEN, MAX_STRING_LEN, PROTOCOL_VERSION};
use thiserror::Error;

/// Why a frame could not be decoded. Each variant names the part at fault.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum DecodeError {
    /// The length prefix is below 4 or above [`MAX_FRAME_LEN`].
    #[error("frame length {0} is outside 4..={max}", max = MAX_FRAME_LEN)]
    BadLength(usize),
    /// The frame carries another protocol version.
    #[error("frame has protocol version {0}, expected {PROTOCOL_VERSION}")]
    BadVersion(u16),
    /// The request code is not one of the documented codes.
    #[error("unknown request code {0}")]
    UnknownRequest(u16),
    /// The reply status is not one of the documented statuses.
    #[error("unknown reply status {0}")]
    UnknownStatus(u16),
    /// The reply kind is not one of the documented kinds.
    #[error("unknown reply kind {0}")]
    UnknownKind(u8),
    /// A PAM code outside the documented range.
    #[error("unknown PAM code {0}")]
    UnknownPamCode(u8),
    /// The body ended in the middle of a field.
    #[error("frame body truncated while reading field `{0}`")]
    Truncated(&'static str),
    /// A string or list longer than its limit.
    #[error("field `{0}` is too long ({1} items or bytes)")]
    TooLong(&'static str, usize),
    /// A string field that is not UTF-8.
    #[error("field `{0}` is not valid UTF-8")]
    NotUtf8(&'static str),
    /// Bytes remained after the last field.
    #[error("{0} unexpected trailing bytes after the last field")]
    Trailing(usize),
    /// Bytes arrived past the end of a reply frame (one reply answers one
    /// request: nothing may follow it).
    #[error("{0} bytes arrived past the end of the reply frame")]
    PastFrame(usize),
    /// An admin message of another admin protocol version.
    #[error(
        "admin message has version {0}, this side speaks version {ADMIN_VERSION} \
         (rosterctl and rosterd are from different releases)"
    )]
    AdminVersion(u16),
    /// The JSON body of an admin message is not a message of this version.
    #[error("{what} is malformed: {message}")]
    AdminBody {
        /// `admin request` or `admin answer`.
        what: &'static str,
        /// What the JSON parser says (with line and column).
        message: String,
    },
    /// A request code of an older release that is no longer served.
    #[error(
        "request code {0} (untyped JSON admin command of an older rosterctl) is no longer \
         served: use the rosterctl of rosterd's release"
    )]
    RetiredRequest(u16),
}

/// The fixed part of a frame after the length prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    /// Number of bytes after the length prefix (version + code + body).
    pub len: usize,
}

/// Validates the 4-byte length prefix of a frame.
pub fn parse_header(prefix: [u8; 4]) -> Result<FrameHeader, DecodeError> {
    let len = u32::from_be_bytes(prefix) as usize;
    if !(4..=MAX_FRAME_LEN).contains(&len) {
        return Err(DecodeError::BadLength(len));
    }
    Ok(FrameHeader { len })
}

struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn new(code: u16) -> Self {
        Self::with_capacity(code, 64)
    }
    /// A writer whose buffer holds `octets` (the whole frame) before it
    /// grows.
    fn with_capacity(code: u16, octets: usize) -> Self {
        let mut buf = Vec::with_capacity(octets);
        buf.extend_from_slice(&[0, 0, 0, 0]);
        buf.extend_from_slice(&PROTOCOL_VERSION.to_be_bytes());
        buf.extend_from_slice(&code.to_be_bytes());
        Writer { buf }
    }
    fn u8(&mut self, v: u8) {
        self.buf.push(v);
    }
    fn u16(&mut self, v: u16) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn u32(&mut self, v: u32) {
        self.buf.extend_from_slice(&v.to_be_bytes());
    }
    fn bytes(&mut self, v: &[u8]) {
        self.u32(v.len() as u32);
        self.buf.extend_from_slice(v);
    }
    fn str(&mut self, v: &str) {
        self.bytes(v.as_bytes());
    }
    fn user(&mut self, u: &User) {
        self.str(&u.name);
        self.u32(u.uid);
        self.u32(u.gid);
        self.str(&u.gecos);
        self.str(&u.home);
        self.str(&u.shell);
    }
    fn group(&mut self, g: &Group) {
        self.str(&g.name);
        self.u32(g.gid);
        self.u32(g.members.len() as u32);
        for m in &g.members {
            self.str(m);
        }
    }
    fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_be_bytes());
        self.buf
    }
}

struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], DecodeError> {
        if self.buf.len() < n {
            return Err(DecodeError::Truncated(field));
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }
    fn u8(&mut self, field: &'static str) -> Result<u8, DecodeError> {
        Ok(self.take(1, field)?[0])
    }
    fn u16(&mut self, field: &'static str) -> Result<u16, DecodeError> {
        let b = self.take(2, field)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u32(&mut self, field: &'static str) -> Result<u32, DecodeError> {
        let b = self.take(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn bytes(&mut self, field: &'static str) -> Result<&'a [u8], DecodeError> {
        let n = self.u32(field)? as usize;
        if n > MAX_STRING_LEN {
            return Err(DecodeError::TooLong(field, n));
        }
        self.take(n, field)
    }
    fn str_ref(&mut self, field: &'static str) -> Result<&'a str, DecodeError> {
        std::str::from_utf8(self.bytes(field)?).map_err(|_| DecodeError::NotUtf8(field))
    }
    fn str(&mut self, field: &'static str) -> Result<String, DecodeError> {
        let b = self.bytes(field)?;
        std::str::from_utf8(b)
            .map(str::to_owned)
            .map_err(|_| DecodeError::NotUtf8(field))
    }
    fn secret(&mut self, field: &'static str) -> Result<Secret, DecodeError> {
        Ok(Secret::new(self.bytes(field)?.to_vec()))
    }
    /// A PAM reply with notices (reply kinds 11 and 12): `u8 code,
    /// str message, list<str> notices`.
    fn pam_reply_with_notices(&mut self) -> Result<PamReply, DecodeError> {
        let code = self.u8("pam.code")?;
        let code = PamCode::from_u8(code).ok_or(DecodeError::UnknownPamCode(code))?;
        let message = self.str("pam.message")?;
        let n = self.count("pam.notices", 4)?;
        let mut notices = Vec::with_capacity(n);
        for _ in 0..n {
            notices.push(self.str("pam.notices")?);
        }
        Ok(PamReply {
            code,
            message,
            notices,
        })
    }

    fn count(&mut self, field: &'static str, min_item: usize) -> Result<usize, DecodeError> {
        let n = self.u32(field)? as usize;
        // Each item needs at least `min_item` bytes: refuse counts the body
        // cannot hold before allocating for them.
        if n > MAX_LIST_LEN || n.saturating_mul(min_item) > self.buf.len() {
            return Err(DecodeError::TooLong(field, n));
        }
        Ok(n)
    }
    fn user(&mut self) -> Result<User, DecodeError> {
        Ok(User {
            name: self.str("user.name")?,
            uid: self.u32("user.uid")?,
            gid: self.u32("user.gid")?,
            gecos: self.str("user.gecos")?,
            home: self.str("user.home")?,
            shell: self.str("user.shell")?,
        })
    }
    fn group(&mut self) -> Result<Group, DecodeError> {
        let name = self.str("group.name")?;
        let gid = self.u32("group.gid")?;
        let n = self.count("group.members", 4)?;
        let mut members = Vec::with_capacity(n);
        for _ in 0..n {
            members.push(self.str("group.members")?);
        }
        Ok(Group { name, gid, members })
    }
    fn netgroup(&mut self) -> Result<Netgroup, DecodeError> {
        let name = self.str("netgroup.name")?;
        let n = self.count("netgroup.triples", 12)?;
        let mut triples = Vec::with_capacity(n);
        for _ in 0..n {
            triples.push(Triple {
                host: self.str("triple.host")?,
                user: self.str("triple.user")?,
                domain: self.str("triple.domain")?,
            });
        }
        Ok(Netgroup { name, triples })
    }
    fn end(&self) -> Result<(), DecodeError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(DecodeError::Trailing(self.buf.len()))
        }
    }
}

/// Encodes a request as a complete frame (length prefix included).
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut w = Writer::new(req.code());
    match req {
        Request::UserByName(n)
        | Request::GroupByName(n)
        | Request::GroupsOfUser(n)
        | Request::NetgroupByName(n)
        | Request::SshKeys(n) => w.str(n),
        Request::UserByUid(id) | Request::GroupByGid(id) => w.u32(*id),
        Request::ListUsers { offset, limit } | Request::ListGroups { offset, limit } => {
            w.u32(*offset);
            w.u32(*limit);
        }
        Request::Status => {}
        Request::PamAuthenticate {
            user,
            service,
            rhost,
            password,
        } => {
            w.str(user);
            w.str(service);
            w.str(rhost);
            w.bytes(password.expose());
        }
        Request::PamAccount {
            user,
            service,
            rhost,
        }
        | Request::PamOpenSession {
            user,
            service,
            rhost,
        } => {
            w.str(user);
            w.str(service);
            w.str(rhost);
        }
        Request::PamChangePassword {
            user,
            service,
            old_password,
            new_password,
        } => {
            w.str(user);
            w.str(service);
            w.bytes(old_password.expose());
            w.bytes(new_password.expose());
        }
        Request::PamResetPassword {
            user,
            service,
            new_password,
        } => {
            w.str(user);
            w.str(service);
            w.bytes(new_password.expose());
        }
        Request::Admin(cmd) => {
            w.u16(ADMIN_VERSION);
            w.str(&admin::request_json(cmd));
        }
    }
    w.finish()
}

fn read_version_and_code(r: &mut Reader<'_>) -> Result<u16, DecodeError> {
    let version = r.u16("version")?;
    if version != PROTOCOL_VERSION {
        return Err(DecodeError::BadVersion(version));
    }
    r.u16("code")
}

/// Whether a reply's payload is an error reply (`Response::Error`: a
/// refusal, a bad frame), read from its code alone (nothing decoded).
pub fn reply_is_error(payload: &[u8]) -> bool {
    let mut r = Reader { buf: payload };
    matches!(read_version_and_code(&mut r), Ok(ERROR_CODE))
}

/// The code of `Response::Error`.
const ERROR_CODE: u16 = 3;

/// Decodes a request from a frame's payload (the bytes after the length
/// prefix).
pub fn decode_request(payload: &[u8]) -> Result<Request, DecodeError> {
    let mut r = Reader { buf: payload };
    let code = read_version_and_code(&mut r)?;
    let req = match code {
        1 => Request::UserByName(r.str("name")?),
        2 => Request::UserByUid(r.u32("uid")?),
        3 => Request::GroupByName(r.str("name")?),
        4 => Request::GroupByGid(r.u32("gid")?),
        5 => Request::GroupsOfUser(r.str("name")?),
        6 => Request::ListUsers {
            offset: r.u32("offset")?,
            limit: r.u32("limit")?,
        },
        7 => Request::ListGroups {
            offset: r.u32("offset")?,
            limit: r.u32("limit")?,
        },
        8 => Request::Status,
        9 => Request::NetgroupByName(r.str("name")?),
        10 => Request::SshKeys(r.str("name")?),
        20 => Request::PamAuthenticate {
            user: r.str("user")?,
            service: r.str("service")?,
            rhost: r.str("rhost")?,
            password: r.secret("password")?,
        },
        21 => Request::PamAccount {
            user: r.str("user")?,
            service: r.str("service")?,
            rhost: r.str("rhost")?,
        },
        22 => Request::PamChangePassword {
            user: r.str("user")?,
            service: r.str("service")?,
            old_password: r.secret("old_password")?,
            new_password: r.secret("new_password")?,
        },
        23 => Request::PamOpenSession {
            user: r.str("user")?,
            service: r.str("service")?,
            rhost: r.str("rhost")?,
        },
        24 => Request::PamResetPassword {
            user: r.str("user")?,
            service: r.str("service")?,
            new_password: r.secret("new_password")?,
        },
        30 => return Err(DecodeError::RetiredRequest(30)),
        31 => {
            let version = r.u16("admin.version")?;
            Request::Admin(admin::parse_request(version, &r.str("admin.json")?)?)
        }
        other => return Err(DecodeError::UnknownRequest(other)),
    };
    r.end()?;
    Ok(req)
}

/// The frame of `Response::User(user.clone())`, encoded from the
/// borrowed user (a cached entry is not copied to be answered).
pub fn encode_user_response(user: &User) -> Vec<u8> {
    let mut w = Writer::new(0);
    w.u8(1);
    w.user(user);
    w.finish()
}

/// The frame of `Response::Group(group.clone())`, encoded from the
/// borrowed group (a group of thousands of members is not copied first).
pub fn encode_group_response(group: &Group) -> Vec<u8> {
    let mut w = Writer::new(0);
    w.u8(2);
    w.group(group);
    w.finish()
}

/// The octets `user` takes in a page of users ([`encode_users_page`]).
pub fn user_encoded_len(user: &User) -> usize {
    // Four length-prefixed strings, the UID and the GID.
    24 + user.name.len() + user.gecos.len() + user.home.len() + user.shell.len()
}

/// The octets `group` takes in a page of groups ([`encode_groups_page`]).
pub fn group_encoded_len(group: &Group) -> usize {
    // The name, the GID, the member count, each member length-prefixed.
    12 + group.name.len() + group.members.iter().map(|m| 4 + m.len()).sum::<usize>()
}

/// The octets of a page's frame beside its entries, past the length
/// prefix: version, status, reply kind, count, `more`.
const PAGE_FRAME_OVERHEAD: usize = 2 + 2 + 1 + 4 + 1;

/// True when an entry of `encoded_len` octets whose longest string is
/// `longest` octets can be sent: alone on a page its frame stays within
/// [`MAX_FRAME_LEN`], and no string is longer than the reader takes
/// ([`MAX_STRING_LEN`]).
fn sendable(encoded_len: usize, longest: usize) -> bool {
    longest <= MAX_STRING_LEN && PAGE_FRAME_OVERHEAD + encoded_len <= MAX_FRAME_LEN
}

/// True when `user` can be sent in a reply the reader decodes.
pub fn user_sendable(user: &User) -> bool {
    let longest = [&user.name, &user.gecos, &user.home, &user.shell]
        .iter()
        .map(|s| s.len())
        .max()
        .unwrap_or(0);
    sendable(user_encoded_len(user), longest)
}

/// True when `group` can be sent in a reply the reader decodes (its
/// member count is bounded by the frame: each member takes at least five
/// octets).
pub fn group_sendable(group: &Group) -> bool {
    let longest = group
        .members
        .iter()
        .map(String::len)
        .chain([group.name.len()])
        .max()
        .unwrap_or(0);
    sendable(group_encoded_len(group), longest)
}

/// The frame of `Response::Users` of `entries`, encoded from the borrowed
/// page (the daemon's pages are ranges of its listing, not copies).
pub fn encode_users_page(entries: &[User], more: bool) -> Vec<u8> {
    encode_page(4, entries, more, Writer::user, user_encoded_len)
}

/// The frame of `Response::Groups` of `entries`, encoded from the
/// borrowed page.
pub fn encode_groups_page(entries: &[Group], more: bool) -> Vec<u8> {
    encode_page(5, entries, more, Writer::group, group_encoded_len)
}

/// Appends to `out` the octets `user` takes in a page of users, as
/// [`encode_users_page`] writes them: a listing kept in this form is sent
/// by [`encode_users_page_octets`] without encoding it again.
pub fn put_user_octets(out: &mut Vec<u8>, user: &User) {
    put_octets(out, user, Writer::user)
}

/// Appends to `out` the octets `group` takes in a page of groups, as
/// [`encode_groups_page`] writes them.
pub fn put_group_octets(out: &mut Vec<u8>, group: &Group) {
    put_octets(out, group, Writer::group)
}

/// Appends `entry`, written by `put`, to `out`.
fn put_octets<T>(out: &mut Vec<u8>, entry: &T, put: fn(&mut Writer, &T)) {
    let mut w = Writer {
        buf: std::mem::take(out),
    };
    put(&mut w, entry);
    *out = w.buf;
}

/// The frame of `Response::Users` of `count` users already encoded one
/// after another in `octets` ([`put_user_octets`]); `count` must be the
/// number of users `octets` holds (the reader reads that many).
pub fn encode_users_page_octets(count: u32, octets: &[u8], more: bool) -> Vec<u8> {
    page_of_octets(4, count, octets, more)
}

/// The frame of `Response::Groups` of `count` groups already encoded one
/// after another in `octets` ([`put_group_octets`]); `count` must be the
/// number of groups `octets` holds.
pub fn encode_groups_page_octets(count: u32, octets: &[u8], more: bool) -> Vec<u8> {
    page_of_octets(5, count, octets, more)
}

/// A page's frame of reply `kind` around `count` entries' `octets`.
fn page_of_octets(kind: u8, count: u32, octets: &[u8], more: bool) -> Vec<u8> {
    let mut w = Writer::with_capacity(0, 4 + PAGE_FRAME_OVERHEAD + octets.len());
    w.u8(kind);
    w.u32(count);
    w.buf.extend_from_slice(octets);
    w.u8(more as u8);
    w.finish()
}

/// A page's frame: reply `kind`, the count, each entry (`put`), `more`;
/// its buffer sized once from the entries' lengths (`len`): a page of
/// thousands of entries otherwise grows it a dozen times.
fn encode_page<T>(
    kind: u8,
    entries: &[T],
    more: bool,
    put: fn(&mut Writer, &T),
    len: fn(&T) -> usize,
) -> Vec<u8> {
    let octets = 4 + PAGE_FRAME_OVERHEAD + entries.iter().map(len).sum::<usize>();
    let mut w = Writer::with_capacity(0, octets);
    w.u8(kind);
    w.u32(entries.len() as u32);
    for e in entries {
        put(&mut w, e);
    }
    w.u8(more as u8);
    w.finish()
}

/// Encodes a reply as a complete frame (length prefix included).
pub fn encode_response(resp: &Response) -> Vec<u8> {
    let status = match resp {
        Response::NotFound => 1,
        Response::Unavailable(_) => 2,
        Response::Error(_) => ERROR_CODE,
        _ => 0,
    };
    let mut w = Writer::new(status);
    match resp {
        Response::User(u) => return encode_user_response(u),
        Response::Group(g) => return encode_group_response(g),
        Response::Gids(gids) => {
            w.u8(3);
            w.u32(gids.len() as u32);
            for g in gids {
                w.u32(*g);
            }
        }
        Response::Users { entries, more } => return encode_users_page(entries, *more),
        Response::Groups { entries, more } => return encode_groups_page(entries, *more),
        Response::Admin(answer) => {
            w.u8(8);
            w.u16(ADMIN_VERSION);
            w.str(&admin::answer_json(answer));
        }
        Response::Pam(p) if p.notices.is_empty() => {
            w.u8(7);
            w.u8(p.code as u8);
            w.str(&p.message);
        }
        Response::Pam(p) => {
            w.u8(11);
            w.u8(p.code as u8);
            w.str(&p.message);
            w.u32(p.notices.len() as u32);
            for n in &p.notices {
                w.str(n);
            }
        }
        Response::PamTicket(p, t) => {
            w.u8(12);
            w.u8(p.code as u8);
            w.str(&p.message);
            w.u32(p.notices.len() as u32);
            for n in &p.notices {
                w.str(n);
            }
            w.str(&t.ccache);
            w.u32(t.uid);
            w.u32(t.gid);
            w.u8(t.keep as u8);
            w.bytes(t.data.expose());
        }
        Response::Netgroup(n) => {
            w.u8(9);
            w.str(&n.name);
            w.u32(n.triples.len() as u32);
            for t in &n.triples {
                w.str(&t.host);
                w.str(&t.user);
                w.str(&t.domain);
            }
        }
        Response::SshKeys(keys) => {
            w.u8(10);
            w.u32(keys.len() as u32);
            for k in keys {
                w.str(k);
            }
        }
        Response::NotFound => {}
        Response::Unavailable(m) | Response::Error(m) => w.str(m),
    }
    w.finish()
}

/// Where a group lies in a reply's payload, found by
/// [`decode_group_reply`], which checked it: read in place again by
/// [`GroupInReply::view`] as often as wanted (glibc's buffer retries)
/// without checking each name again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroupInReply {
    name: (usize, usize),
    gid: u32,
    members: (usize, usize),
    count: u32,
    len: usize,
    nul: bool,
}

impl GroupInReply {
    /// The group in `payload`, the one [`decode_group_reply`] was given
    /// (another one gives a wrong view, never a panic).
    pub fn view<'a>(&self, payload: &'a [u8]) -> GroupView<'a> {
        let part = |(from, to): (usize, usize)| payload.get(from..to).unwrap_or_default();
        let name = std::str::from_utf8(part(self.name)).unwrap_or_default();
        GroupView::framed(
            name,
            self.gid,
            part(self.members),
            self.count,
            self.len,
            self.nul,
        )
    }
}

/// A group reply found in a frame's payload (the bytes after the length
/// prefix), checked as [`decode_response`] checks it but with no member
/// copied (a group of thousands: the NSS module packs them straight into
/// glibc's buffer, [`GroupInReply::view`]). `None` when the payload is
/// another reply (for [`decode_response`]).
pub fn decode_group_reply(payload: &[u8]) -> Result<Option<GroupInReply>, DecodeError> {
    let mut r = Reader { buf: payload };
    if read_version_and_code(&mut r)? != 0 || r.u8("kind")? != 2 {
        return Ok(None);
    }
    let at = |r: &Reader<'_>| payload.len() - r.buf.len();
    let name_len = r.str_ref("group.name")?.len();
    let name = (at(&r) - name_len, at(&r));
    let gid = r.u32("group.gid")?;
    let count = r.count("group.members", 4)?;
    let start = at(&r);
    let (mut len, mut nul) = (0, false);
    for _ in 0..count {
        let m = r.str_ref("group.members")?;
        len += m.len();
        nul |= m.as_bytes().contains(&0);
    }
    let members = (start, at(&r));
    r.end()?;
    Ok(Some(GroupInReply {
        name,
        gid,
        members,
        count: count as u32,
        len,
        nul,
    }))
}

/// Decodes a reply from a frame's payload (the bytes after the length
/// prefix).
pub fn decode_response(payload: &[u8]) -> Result<Response, DecodeError> {
    let mut r = Reader { buf: payload };
    let status = read_version_and_code(&mut r)?;
    let resp = match status {
        0 => match r.u8("kind")? {
            1 => Response::User(r.user()?),
            2 => Response::Group(r.group()?),
            3 => {
                let n = r.count("gids", 4)?;
                let mut gids = Vec::with_capacity(n);
                for _ in 0..n {
                    gids.push(r.u32("gids")?);
                }
                Response::Gids(gids)
            }
            4 => {
                let n = r.count("users", 24)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(r.user()?);
                }
                Response::Users {
                    entries,
                    more: r.u8("more")? != 0,
                }
            }
            5 => {
                let n = r.count("groups", 12)?;
                let mut entries = Vec::with_capacity(n);
                for _ in 0..n {
                    entries.push(r.group()?);
                }
                Response::Groups {
                    entries,
                    more: r.u8("more")? != 0,
                }
            }
            8 => {
                let version = r.u16("admin.version")?;
                Response::Admin(admin::parse_answer(version, &r.str("admin.json")?)?)
            }
            7 => {
                let code = r.u8("pam.code")?;
                let code = PamCode::from_u8(code).ok_or(DecodeError::UnknownPamCode(code))?;
                Response::Pam(PamReply::new(code, r.str("pam.message")?))
            }
            11 => Response::Pam(r.pam_reply_with_notices()?),
            12 => {
                let reply = r.pam_reply_with_notices()?;
                let ticket = KrbTicket {
                    ccache: r.str("ticket.ccache")?,
                    uid: r.u32("ticket.uid")?,
                    gid: r.u32("ticket.gid")?,
                    keep: r.u8("ticket.keep")? != 0,
                    data: r.secret("ticket.data")?,
                };
                Response::PamTicket(reply, ticket)
            }
            9 => Response::Netgroup(r.netgroup()?),
            10 => {
                let n = r.count("ssh_keys", 4)?;
                let mut keys = Vec::with_capacity(n);
                for _ in 0..n {
                    keys.push(r.str("ssh_keys")?);
                }
                Response::SshKeys(keys)
            }
            k => return Err(DecodeError::UnknownKind(k)),
        },
        1 => Response::NotFound,
        2 => Response::Unavailable(r.str("reason")?),
        ERROR_CODE => Response::Error(r.str("message")?),
        s => return Err(DecodeError::UnknownStatus(s)),
    };
    r.end()?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_page_frame_is_its_entries_and_the_overhead() {
        let u = User {
            name: "u".into(),
            uid: 1,
            gid: 1,
            gecos: String::new(),
            home: "/".into(),
            shell: "/bin/sh".into(),
        };
        let frame = super::encode_users_page(std::slice::from_ref(&u), true);
        assert_eq!(
            frame.len() - 4,
            super::PAGE_FRAME_OVERHEAD + super::user_encoded_len(&u)
        );
        // The buffer was sized once, exactly: it never grew.
        let users = vec![u; 1000];
        let frame = super::encode_users_page(&users, false);
        assert_eq!(frame.capacity(), frame.len());
        let g = Group {
            name: "g".into(),
            gid: 7,
            members: (0..1000).map(|i| format!("m{i}")).collect(),
        };
        let frame = super::encode_groups_page(&[g.clone(), g], false);
        assert_eq!(frame.capacity(), frame.len());
    }

    #[test]
    fn a_page_of_entries_kept_as_octets_is_the_page_of_the_entries() {
        let users: Vec<User> = (0..3)
            .map(|i| User {
                name: format!("user{i}"),
                uid: 1000 + i,
                gid: 100,
                gecos: "Ünïcode name".repeat(i as usize),
                home: format!("/home/user{i}"),
                shell: "/bin/sh".into(),
            })
            .collect();
        let mut octets = Vec::new();
        for u in &users {
            let before = octets.len();
            super::put_user_octets(&mut octets, u);
            assert_eq!(octets.len() - before, super::user_encoded_len(u));
        }
        for more in [false, true] {
            let frame = super::encode_users_page_octets(3, &octets, more);
            assert_eq!(frame, super::encode_users_page(&users, more));
            assert_eq!(frame.capacity(), frame.len());
        }
        let groups = [
            Group {
                name: "none".into(),
                gid: 7,
                members: vec![],
            },
            Group {
                name: "staff".into(),
                gid: 8,
                members: vec!["alice".into(), "bob@example.org".into()],
            },
        ];
        let mut octets = Vec::new();
        for g in &groups {
            let before = octets.len();
            super::put_group_octets(&mut octets, g);
            assert_eq!(octets.len() - before, super::group_encoded_len(g));
        }
        let frame = super::encode_groups_page_octets(2, &octets, true);
        assert_eq!(frame, super::encode_groups_page(&groups, true));
        match super::decode_response(&frame[4..]) {
            Ok(Response::Groups { entries, more }) => {
                assert_eq!((entries.as_slice(), more), (&groups[..], true))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_is_sendable_is_what_the_reader_decodes() {
        let page = |g: &Group| {
            let frame = super::encode_groups_page(std::slice::from_ref(g), false);
            frame.len() - 4 <= MAX_FRAME_LEN && super::decode_response(&frame[4..]).is_ok()
        };
        let group = |name: usize, members: Vec<String>| Group {
            name: "g".repeat(name),
            gid: 7,
            members,
        };
        // A string at the reader's limit, and one octet more.
        for g in [
            group(MAX_STRING_LEN, vec![]),
            group(MAX_STRING_LEN + 1, vec![]),
        ] {
            assert_eq!(super::group_sendable(&g), page(&g), "{}", g.name.len());
        }
        // Members filling a frame exactly, and one octet more.
        let room = MAX_FRAME_LEN
            - super::PAGE_FRAME_OVERHEAD
            - super::group_encoded_len(&group(1, vec![]));
        let member = 1000;
        let n = room / (4 + member);
        let rest = room - n * (4 + member) - 4;
        let mut members = vec!["m".repeat(member); n];
        members.push("r".repeat(rest));
        let full = group(1, members);
        assert!(super::group_sendable(&full) && page(&full));
        let mut over = full.clone();
        over.members[0].push('x');
        assert!(!super::group_sendable(&over) && !page(&over));
    }

    use super::*;
    use proptest::prelude::*;

    fn payload(frame: &[u8]) -> &[u8] {
        let h = parse_header(frame[..4].try_into().unwrap()).unwrap();
        assert_eq!(h.len, frame.len() - 4);
        &frame[4..]
    }

    fn sample_requests() -> Vec<Request> {
        vec![
            Request::UserByName("alice".into()),
            Request::UserByUid(10001),
            Request::GroupByName("staff@example".into()),
            Request::GroupByGid(5000),
            Request::GroupsOfUser("bob".into()),
            Request::ListUsers {
                offset: 3,
                limit: 100,
            },
            Request::ListGroups {
                offset: 0,
                limit: 1,
            },
            Request::Status,
            Request::NetgroupByName("hosts@example".into()),
            Request::SshKeys("alice@example".into()),
            Request::PamAuthenticate {
                user: "alice".into(),
                service: "sshd".into(),
                rhost: "127.0.0.1".into(),
                password: Secret::from("s3cret"),
            },
            Request::PamAccount {
                user: "alice".into(),
                service: "login".into(),
                rhost: String::new(),
            },
            Request::PamChangePassword {
                user: "alice".into(),
                service: "passwd".into(),
                old_password: Secret::from("a"),
                new_password: Secret::from("b"),
            },
            Request::PamOpenSession {
                user: "alice".into(),
                service: "sshd".into(),
                rhost: "h".into(),
            },
            Request::PamResetPassword {
                user: "alice".into(),
                service: "passwd".into(),
                new_password: Secret::from("n3w"),
            },
            Request::Admin(crate::AdminRequest::CacheFlush(crate::FlushTarget::All)),
        ]
    }

    #[test]
    fn every_request_round_trips() {
        for req in sample_requests() {
            let frame = encode_request(&req);
            assert_eq!(decode_request(payload(&frame)).unwrap(), req);
        }
    }

    #[test]
    fn every_response_round_trips() {
        let user = User {
            name: "alice".into(),
            uid: 10001,
            gid: 10001,
            gecos: "Alice A".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        };
        let group = Group {
            name: "staff".into(),
            gid: 5000,
            members: vec!["alice".into(), "bob".into()],
        };
        let resps = vec![
            Response::User(user.clone()),
            Response::Group(group.clone()),
            Response::Gids(vec![1, 2, 3]),
            Response::Users {
                entries: vec![user.clone(), user],
                more: true,
            },
            Response::Groups {
                entries: vec![group],
                more: false,
            },
            Response::Netgroup(Netgroup {
                name: "admins".into(),
                triples: vec![
                    Triple {
                        host: "h1".into(),
                        user: String::new(),
                        domain: "-".into(),
                    },
                    Triple::default(),
                ],
            }),
            Response::SshKeys(vec![
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9d alice@laptop".into(),
                "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ".into(),
            ]),
            Response::SshKeys(Vec::new()),
            Response::Admin(Ok(crate::AdminReply::Flushed(3))),
            Response::Admin(Err(crate::Failure::refused("no reload channel"))),
            Response::Pam(PamReply::new(PamCode::NewAuthtokReqd, "Password expired")),
            Response::Pam(PamReply {
                code: PamCode::Success,
                message: String::new(),
                notices: vec![
                    "Your password will expire in 3 days.".into(),
                    "Your password has expired; grace logins remaining: 2.".into(),
                ],
            }),
            Response::PamTicket(
                PamReply {
                    code: PamCode::Success,
                    message: String::new(),
                    notices: vec!["Your password will expire in 3 days.".into()],
                },
                crate::KrbTicket {
                    ccache: "/tmp/krb5cc_10001".into(),
                    uid: 10001,
                    gid: 10000,
                    keep: false,
                    data: Secret::new(vec![5, 4, 0, 12, 1, 2, 3]),
                },
            ),
            Response::NotFound,
            Response::Unavailable("no server".into()),
            Response::Error("bad".into()),
        ];
        for resp in resps {
            let frame = encode_response(&resp);
            assert_eq!(decode_response(payload(&frame)).unwrap(), resp);
        }
    }

    #[test]
    fn a_pam_reply_without_notices_keeps_kind_7_and_with_notices_is_kind_11() {
        let plain = encode_response(&Response::Pam(PamReply::new(PamCode::Success, "hi")));
        // len, version, status 0, kind 7, code 0, str "hi": as before kind 11.
        assert_eq!(&plain[4..], &[0, 1, 0, 0, 7, 0, 0, 0, 0, 2, b'h', b'i']);
        let noticed = encode_response(&Response::Pam(PamReply {
            code: PamCode::Success,
            message: String::new(),
            notices: vec!["n".into()],
        }));
        assert_eq!(
            &noticed[4..],
            &[0, 1, 0, 0, 11, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1, b'n']
        );
        // A notice count beyond the body is refused before allocating.
        assert_eq!(
            decode_response(&[0, 1, 0, 0, 11, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff]),
            Err(DecodeError::TooLong("pam.notices", 0xffff_ffff))
        );
    }

    #[test]
    fn header_limits_are_enforced() {
        assert_eq!(parse_header([0, 0, 0, 3]), Err(DecodeError::BadLength(3)));
        assert!(parse_header((MAX_FRAME_LEN as u32 + 1).to_be_bytes()).is_err());
        assert!(parse_header((MAX_FRAME_LEN as u32).to_be_bytes()).is_ok());
    }

    #[test]
    fn bad_frames_name_the_fault() {
        assert_eq!(
            decode_request(&[0, 9, 0, 1]),
            Err(DecodeError::BadVersion(9))
        );
        assert_eq!(
            decode_request(&[0, 1, 0, 99]),
            Err(DecodeError::UnknownRequest(99))
        );
        assert_eq!(
            decode_request(&[0, 1, 0, 1, 0, 0, 0, 5, b'a']),
            Err(DecodeError::Truncated("name"))
        );
        assert_eq!(
            decode_request(&[0, 1, 0, 2, 0, 0, 0, 5, 1]),
            Err(DecodeError::Trailing(1))
        );
        assert_eq!(
            decode_request(&[0, 1, 0, 1, 0, 0, 0, 1, 0xff]),
            Err(DecodeError::NotUtf8("name"))
        );
        // A huge member count with a short body is refused before allocating.
        let mut p = vec![0, 1, 0, 0, 2];
        p.extend_from_slice(&[0, 0, 0, 1, b'g', 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(
            decode_response(&p),
            Err(DecodeError::TooLong("group.members", 0xffff_ffff))
        );
    }

    #[test]
    fn secret_debug_hides_the_password() {
        let r = Request::PamAuthenticate {
            user: "u".into(),
            service: "s".into(),
            rhost: String::new(),
            password: Secret::from("hunter2"),
        };
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
            let _ = decode_request(&bytes);
            let _ = decode_response(&bytes);
            let _ = decode_group_reply(&bytes);
        }

        /// The in-place reader of a group reply accepts exactly what
        /// `decode_response` decodes as a group, and sees the same group.
        #[test]
        fn a_group_read_in_place_is_the_decoded_group(
            bytes in proptest::collection::vec(any::<u8>(), 0..64),
            name in ".{0,8}",
            gid in any::<u32>(),
            members in proptest::collection::vec("[a-z\\x00é]{0,6}", 0..20),
            cut in any::<usize>(),
        ) {
            let g = Group { name, gid, members };
            let frame = encode_group_response(&g);
            // Whole, cut short, and arbitrary bytes after a group header.
            let cut = &frame[4..4 + cut % (frame.len() - 3)];
            let mut noise = frame[4..13.min(frame.len())].to_vec();
            noise.extend(&bytes);
            for payload in [&frame[4..], cut, &noise[..], &bytes[..]] {
                let found = decode_group_reply(payload).map(|g| g.map(|g| g.view(payload)));
                match (decode_response(payload), found) {
                    (Ok(Response::Group(d)), Ok(Some(v))) => {
                        prop_assert!(v.same_as(&d));
                        prop_assert_eq!(v.to_owned(), d.clone());
                        prop_assert_eq!(v.members_len(), d.view().members_len());
                        prop_assert_eq!(v.has_nul_member(), d.view().has_nul_member());
                    }
                    (Ok(d), Ok(None)) if !matches!(d, Response::Group(_)) => {}
                    (Err(_), Err(_)) => {}
                    (Err(_), Ok(None)) => {
                        // Not a group: its error is decode_response's.
                        let mut r = Reader { buf: payload };
                        let group = read_version_and_code(&mut r).ok() == Some(0)
                            && r.u8("kind").ok() == Some(2);
                        prop_assert!(!group);
                    }
                    (d, v) => prop_assert!(false, "{:?} against {:?}", d, v.map(|v| v.map(|v| v.to_owned()))),
                }
            }
            let v = decode_group_reply(&frame[4..]).unwrap().unwrap().view(&frame[4..]);
            prop_assert_eq!(v.member_count(), g.members.len());
        }

        #[test]
        fn names_round_trip(name in ".{0,64}", uid in any::<u32>()) {
            let req = Request::UserByName(name.clone());
            let frame = encode_request(&req);
            prop_assert_eq!(decode_request(&frame[4..]).unwrap(), req);
            let resp = Response::User(User { name, uid, ..Default::default() });
            let frame = encode_response(&resp);
            prop_assert_eq!(decode_response(&frame[4..]).unwrap(), resp);
        }
    }
}
