//! Message types: requests, replies and the entries they carry.

use crate::admin::{AdminAnswer, AdminRequest};
use std::fmt;
use zeroize::Zeroize;

/// A passwd entry as served to NSS (the NSS module serves `*` as the password field).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct User {
    /// Login name.
    pub name: String,
    /// Numeric user ID.
    pub uid: u32,
    /// Primary group ID.
    pub gid: u32,
    /// GECOS field (full name).
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
}

/// A group entry as served to NSS.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Group {
    /// Group name.
    pub name: String,
    /// Numeric group ID.
    pub gid: u32,
    /// Login names of the members.
    pub members: Vec<String>,
}

/// One `(host,user,domain)` triple of a netgroup (RFC 2307
/// `nisNetgroupTriple`). An empty field matches anything (glibc's NULL);
/// `-` is kept as is and matches nothing.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Default, Hash, PartialOrd, Ord)]
pub struct Triple {
    /// Host name, or empty for any host.
    pub host: String,
    /// User name, or empty for any user.
    pub user: String,
    /// NIS domain, or empty for any domain.
    pub domain: String,
}

/// A netgroup as served to NSS: its triples, those of nested netgroups
/// included (the daemon resolves `memberNisNetgroup`).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Netgroup {
    /// Netgroup name.
    pub name: String,
    /// Every triple, nested netgroups' included, each once.
    pub triples: Vec<Triple>,
}

/// Bytes that must not leak: zeroized on drop, never printed by `Debug`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    /// Wraps bytes (the caller's copy should be zeroized by the caller).
    pub fn new(bytes: Vec<u8>) -> Self {
        Secret(bytes)
    }
    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
    /// True when the secret is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for Secret {
    fn from(s: &str) -> Self {
        Secret(s.as_bytes().to_vec())
    }
}

impl Drop for Secret {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// A request from a client to the daemon.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Request {
    /// passwd entry by login name (plain or `user@domain`).
    UserByName(String),
    /// passwd entry by UID.
    UserByUid(u32),
    /// group entry by name (plain or `group@domain`).
    GroupByName(String),
    /// group entry by GID.
    GroupByGid(u32),
    /// All GIDs the user is a member of (initgroups), primary group included.
    GroupsOfUser(String),
    /// A page of the user enumeration.
    ListUsers {
        /// Index of the first entry.
        offset: u32,
        /// Maximum number of entries in the reply.
        limit: u32,
    },
    /// A page of the group enumeration.
    ListGroups {
        /// Index of the first entry.
        offset: u32,
        /// Maximum number of entries in the reply.
        limit: u32,
    },
    /// Daemon status: the whole report on `pam.sock`, the public one on
    /// `nss.sock` (answered with [`Response::Admin`]).
    Status,
    /// A netgroup by name (plain or `name@domain`), nested netgroups
    /// resolved into triples.
    NetgroupByName(String),
    /// The SSH public keys of a user (plain or `name@domain`), for sshd's
    /// `AuthorizedKeysCommand`: served on `nss.sock`, never published to
    /// the memory cache.
    SshKeys(String),
    /// PAM `pam_sm_authenticate`: verify a password.
    PamAuthenticate {
        /// Login name.
        user: String,
        /// PAM service name (sshd, login, ...).
        service: String,
        /// Remote host, empty when local.
        rhost: String,
        /// The password.
        password: Secret,
    },
    /// PAM `pam_sm_acct_mgmt`: may this user log in now?
    PamAccount {
        /// Login name.
        user: String,
        /// PAM service name.
        service: String,
        /// Remote host, empty when local.
        rhost: String,
    },
    /// PAM `pam_sm_chauthtok`: change the password.
    PamChangePassword {
        /// Login name.
        user: String,
        /// PAM service name.
        service: String,
        /// Current password.
        old_password: Secret,
        /// New password.
        new_password: Secret,
    },
    /// PAM `pam_sm_chauthtok` run by root (`passwd USER`): sets a new
    /// password without the old one, bound as the domain's
    /// `password_admin_dn`. Refused (`AuthtokErr`, the message naming the
    /// missing keys) when the domain has no password admin.
    PamResetPassword {
        /// Login name.
        user: String,
        /// PAM service name.
        service: String,
        /// New password.
        new_password: Secret,
    },
    /// PAM `pam_sm_open_session`: recorded by the daemon.
    PamOpenSession {
        /// Login name.
        user: String,
        /// PAM service name.
        service: String,
        /// Remote host, empty when local.
        rhost: String,
    },
    /// An admin command (rosterctl); `pam.sock` only.
    Admin(AdminRequest),
}

impl Request {
    /// The frame code of this request.
    pub fn code(&self) -> u16 {
        match self {
            Request::UserByName(_) => 1,
            Request::UserByUid(_) => 2,
            Request::GroupByName(_) => 3,
            Request::GroupByGid(_) => 4,
            Request::GroupsOfUser(_) => 5,
            Request::ListUsers { .. } => 6,
            Request::ListGroups { .. } => 7,
            Request::Status => 8,
            Request::NetgroupByName(_) => 9,
            Request::SshKeys(_) => 10,
            Request::PamAuthenticate { .. } => 20,
            Request::PamAccount { .. } => 21,
            Request::PamChangePassword { .. } => 22,
            Request::PamOpenSession { .. } => 23,
            Request::PamResetPassword { .. } => 24,
            Request::Admin(_) => 31,
        }
    }

    /// True for requests that are only served on the root-only `pam.sock`.
    pub fn is_privileged(&self) -> bool {
        self.code() >= 20
    }
}

/// Outcome of a PAM request, mapped one-to-one onto PAM return codes by the
/// PAM module.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum PamCode {
    /// PAM_SUCCESS.
    Success = 0,
    /// PAM_USER_UNKNOWN: not a directory user; the next module may know it.
    UserUnknown = 1,
    /// PAM_AUTH_ERR: wrong password (or empty password refused).
    AuthErr = 2,
    /// PAM_AUTHINFO_UNAVAIL: no directory and no cached credential.
    AuthInfoUnavail = 3,
    /// PAM_ACCT_EXPIRED: the account has expired.
    AcctExpired = 4,
    /// PAM_PERM_DENIED: access refused (group, filter, locked account).
    PermDenied = 5,
    /// PAM_NEW_AUTHTOK_REQD: the password has expired and must be changed.
    NewAuthtokReqd = 6,
    /// PAM_MAXTRIES: too many failed offline attempts.
    MaxTries = 7,
    /// PAM_AUTHTOK_ERR: the password change was refused.
    AuthtokErr = 8,
    /// PAM_SYSTEM_ERR: the daemon failed.
    SystemErr = 9,
    /// PAM_IGNORE: this module has nothing to say.
    Ignore = 10,
}

impl PamCode {
    /// Decodes a wire value.
    pub fn from_u8(v: u8) -> Option<PamCode> {
        use PamCode::*;
        Some(match v {
            0 => Success,
            1 => UserUnknown,
            2 => AuthErr,
            3 => AuthInfoUnavail,
            4 => AcctExpired,
            5 => PermDenied,
            6 => NewAuthtokReqd,
            7 => MaxTries,
            8 => AuthtokErr,
            9 => SystemErr,
            10 => Ignore,
            _ => return None,
        })
    }
}

/// Reply to a PAM request: a code, a message for the user (may be empty)
/// and notices (password expiry warnings, grace logins left), each shown
/// as a `PAM_TEXT_INFO` message before the message.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PamReply {
    /// The decision.
    pub code: PamCode,
    /// Text shown to the user through the PAM conversation, if not empty.
    pub message: String,
    /// Informational notices, shown in order before `message` (empty: the
    /// reply is encoded as kind 7, otherwise as kind 11).
    pub notices: Vec<String>,
}

impl PamReply {
    /// A reply with `code` and `message` and no notices.
    pub fn new(code: PamCode, message: impl Into<String>) -> PamReply {
        PamReply {
            code,
            message: message.into(),
            notices: Vec::new(),
        }
    }
}

/// The Kerberos tickets of a login (a domain with `krb5_auth`): a TGT
/// the KDC issued for the password, already verified with the host keytab,
/// as the bytes of a `FILE:` credential cache. The PAM module writes them
/// to `ccache` at open_session, owned by `uid`:`gid` (mode 0600), exports
/// `KRB5CCNAME`, and removes the file at close_session unless `keep`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KrbTicket {
    /// Absolute path of the user's credential cache file.
    pub ccache: String,
    /// Owner of the file.
    pub uid: u32,
    /// Group of the file.
    pub gid: u32,
    /// Leave the file at close_session (`krb5_keep_ccache`).
    pub keep: bool,
    /// The credential cache file's contents (holds a session key).
    pub data: Secret,
}

/// A reply from the daemon.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Response {
    /// One passwd entry.
    User(User),
    /// One group entry.
    Group(Group),
    /// GIDs of a user's groups.
    Gids(Vec<u32>),
    /// A page of users; `more` is true when later pages exist.
    Users {
        /// The entries of this page.
        entries: Vec<User>,
        /// True when another page follows.
        more: bool,
    },
    /// A page of groups; `more` is true when later pages exist.
    Groups {
        /// The entries of this page.
        entries: Vec<Group>,
        /// True when another page follows.
        more: bool,
    },
    /// One netgroup with its triples.
    Netgroup(Netgroup),
    /// A user's SSH public keys, one `type base64 [comment]` line each
    /// (empty: the user has none).
    SshKeys(Vec<String>),
    /// The answer to an admin or status request.
    Admin(AdminAnswer),
    /// A PAM decision.
    Pam(PamReply),
    /// A successful PAM authentication with the user's Kerberos tickets.
    PamTicket(PamReply, KrbTicket),
    /// The object does not exist.
    NotFound,
    /// No directory answered and nothing usable is cached.
    Unavailable(String),
    /// The request was malformed or the daemon failed.
    Error(String),
}
