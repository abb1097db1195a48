//! # roster wire protocol
//!
//! The NSS module, the PAM module and `rosterctl` talk to `rosterd` over a
//! Unix stream socket: `nss.sock` (mode 0666, lookups and status),
//! `pam.sock` (root only, checked with `SO_PEERCRED`: authentication,
//! account checks, password changes and resets, admin commands) and
//! `pam-user.sock` (mode 0666: a program running as a user authenticates
//! that user only, e.g. a screen locker).
//!
//! One connection carries any number of request/reply pairs, strictly in
//! turn; the NSS module keeps one a process between lookups (checked to
//! be the process's own before each use: `nss/src/kept.rs`), the PAM
//! module and `rosterctl` open one a call.
//!
//! ## Framing
//!
//! Every message, in both directions, is one **frame**:
//!
//! | bytes | field                                                      |
//! |-------|------------------------------------------------------------|
//! | 4     | `len`: big-endian u32, number of bytes that follow         |
//! | 2     | `version`: big-endian u16, [`PROTOCOL_VERSION`]            |
//! | 2     | `code`: request code, or reply status                      |
//! | len-4 | body                                                       |
//!
//! `len` must be at least 4 and at most [`MAX_FRAME_LEN`]; a peer that sends
//! anything else gets an [`Response::Error`] reply (when the header could be
//! read) and the connection is closed.
//!
//! Body fields are: `u8`, `u32` (big-endian), `str` (u32 byte length, then
//! UTF-8 bytes, at most [`MAX_STRING_LEN`]), `bytes` (u32 length, then raw
//! bytes), and `list<T>` (u32 count, then the items; at most
//! [`MAX_LIST_LEN`]). Trailing bytes after the last field are an error.
//!
//! ## Requests (`code`, body)
//!
//! | code | request            | body                                   | Ok reply kind |
//! |------|--------------------|----------------------------------------|---------------|
//! | 1    | user by name       | `str name`                             | `User`        |
//! | 2    | user by uid        | `u32 uid`                              | `User`        |
//! | 3    | group by name      | `str name`                             | `Group`       |
//! | 4    | group by gid       | `u32 gid`                              | `Group`       |
//! | 5    | groups of a user   | `str name`                             | `Gids`        |
//! | 6    | list users         | `u32 offset, u32 limit`                | `Users`       |
//! | 7    | list groups        | `u32 offset, u32 limit`                | `Groups`      |
//! | 8    | status             | (empty)                                | `Admin`       |
//! | 9    | netgroup by name   | `str name`                             | `Netgroup`    |
//! | 10   | SSH keys of a user | `str name`                             | `SshKeys`     |
//! | 20   | PAM authenticate   | `str user, str service, str rhost, bytes password` | `Pam` |
//! | 21   | PAM account        | `str user, str service, str rhost`     | `Pam`         |
//! | 22   | PAM change password| `str user, str service, bytes old, bytes new` | `Pam`  |
//! | 23   | PAM open session   | `str user, str service, str rhost`     | `Pam`         |
//! | 24   | PAM reset password | `str user, str service, bytes new`     | `Pam`         |
//! | 31   | admin command      | `u16 admin_version, str json` ([`admin`]) | `Admin`    |
//!
//! Codes 20 and up are served on `pam.sock` only, except that code 20 is
//! also served on `pam-user.sock` (mode 0666) for unprivileged callers:
//! there a caller whose peer UID (`SO_PEERCRED`) is U may authenticate the
//! account whose UID is U and no other (any other name gets `Pam`
//! `UserUnknown`, the same answer as a name no domain knows), and failed
//! attempts are throttled per UID (`Pam` `AuthErr` with a "try again
//! later" message, the password not checked); every other code there is
//! answered with an error naming the socket that serves it. Code 30 (the
//! untyped JSON admin command of older releases) is refused with an error
//! naming it.
//!
//! Code 24 (root's `passwd USER`) sets a new password without the old one,
//! bound as the domain's `password_admin_dn`. Its failures are `Pam`
//! replies: `UserUnknown` (not a directory user, or shadowed by a local
//! account), `AuthtokErr` with a message for root (the domain has no
//! `password_admin_dn` / `password_admin_password_file`, the directory
//! refused the new password or the admin's bind, an unencrypted
//! connection, no server answers), `SystemErr` (the daemon failed).
//!
//! ## Replies (`code` is the status)
//!
//! | status | meaning                                                        | body |
//! |--------|----------------------------------------------------------------|------|
//! | 0      | Ok                                                             | `u8 kind`, then the kind's fields |
//! | 1      | NotFound: the directory says there is no such object           | (empty) |
//! | 2      | Unavailable: no directory answered and nothing usable is cached| `str reason` |
//! | 3      | Error: the request itself was bad, or the daemon failed        | `str message` |
//!
//! Ok kinds: 1 `User` (`str name, u32 uid, u32 gid, str gecos, str home,
//! str shell`), 2 `Group` (`str name, u32 gid, list<str> members`), 3 `Gids`
//! (`list<u32>`), 4 `Users` (`list<User>, u8 more`), 5 `Groups`
//! (`list<Group>, u8 more`), 7 `Pam` (`u8 code, str message`), 11 `Pam`
//! with notices (`u8 code, str message, list<str> notices`: password expiry
//! warnings and grace logins left, each shown as a `PAM_TEXT_INFO` message
//! before `message`; the daemon sends kind 7 when there are none, so a reply
//! without notices is the same bytes as before kind 11 existed), 8 `Admin`
//! (`u16 admin_version, str json`: an [`AdminAnswer`], see [`admin`]; kind 6,
//! untyped JSON, belonged to older releases), 9 `Netgroup` (`str name,
//! list<Triple>`; a `Triple` is `str host, str user, str domain`, an empty
//! field matching anything), 10 `SshKeys` (`list<str>`: one
//! `type base64 [comment]` line per key; empty when the user has none),
//! 12 `PamTicket` (`u8 code, str message, list<str> notices, str ccache, u32 uid, u32 gid,
//! u8 keep, bytes data`: a successful authentication with the user's
//! Kerberos tickets as a credential cache file, [`KrbTicket`]; answers
//! request 20 of a domain with `krb5_auth`).
//!
//! The daemon's handlers carry a [`Failure`] (not found, unavailable,
//! refused with a reason, invalid) up to the encoder: admin and status
//! answers carry it whole; a lookup's is mapped onto the statuses above.
//!
//! The NSS module maps NotFound to `NSS_STATUS_NOTFOUND` and everything else
//! that is not Ok (including a daemon that cannot be reached) to
//! `NSS_STATUS_UNAVAIL`, so that the next source in nsswitch.conf is tried.

pub mod admin;
pub mod atomic_file;
mod client;
pub mod clock;
mod codec;
mod failure;
pub mod memcache;
mod paths;
#[cfg(any(test, feature = "test-support"))]
pub mod test_support;
pub mod trust;
mod types;

pub use admin::{
    AdminAnswer, AdminReply, AdminRequest, FlushTarget, ForgetTarget, LookupKind, StatusReport,
    ADMIN_VERSION,
};
pub use client::{Client, ClientError};
pub use codec::{
    decode_group_reply, decode_request, decode_response, encode_group_response, encode_groups_page,
    encode_groups_page_octets, encode_request, encode_response, encode_user_response,
    encode_users_page, encode_users_page_octets, group_encoded_len, group_sendable, parse_header,
    put_group_octets, put_user_octets, reply_is_error, user_encoded_len, user_sendable,
    DecodeError, FrameHeader, GroupInReply,
};
pub use failure::Failure;
pub use paths::{
    DAEMON_USER, DEFAULT_CONFIG_PATH, DEFAULT_SOCKET_DIR, DEFAULT_STATE_DIR, LOOP_GUARD_ENV,
    NSS_CONF_MAX_LEN, NSS_SOCKET_NAME, PAM_SOCKET_NAME, PAM_USER_SOCKET_NAME,
};
pub use types::{
    Group, KrbTicket, Netgroup, PamCode, PamReply, Request, Response, Secret, Triple, User,
};

/// Version carried in every frame; a daemon refuses frames of another version.
pub const PROTOCOL_VERSION: u16 = 1;
/// Largest allowed value of a frame's length prefix (4 MiB).
pub const MAX_FRAME_LEN: usize = 4 * 1024 * 1024;
/// Largest string field (names, gecos, messages, JSON) in bytes.
pub const MAX_STRING_LEN: usize = 1024 * 1024;
/// Largest number of items in one list field.
pub const MAX_LIST_LEN: usize = 1 << 20;
