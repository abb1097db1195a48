//! What a directory lookup returns, and how it fails.

use serde::Serialize;

/// A user read from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The passwd entry served to NSS.
    pub user: roster_proto::User,
    /// DN of the directory entry.
    pub dn: String,
    /// Name of the domain it came from.
    pub domain: String,
    /// Value of the configured `unique_id` attribute, if any.
    pub unique_id: Option<String>,
}

/// A group read from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group entry served to NSS (members are login names, nested
    /// groups' members included).
    pub group: roster_proto::Group,
    /// DN of the directory entry.
    pub dn: String,
    /// Name of the domain it came from.
    pub domain: String,
}

/// One group of a user: name and GID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupRef {
    /// Group name (empty when the primary group is not in the directory).
    pub name: String,
    /// Group ID.
    pub gid: u32,
}

/// Why a directory could not answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DirectoryError {
    /// No server reachable, or a timeout: the cache falls back to offline data.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// The domain's configuration cannot work (TLS files, bind credentials).
    #[error("directory configuration: {0}")]
    Config(String),
    /// The server answered with an error.
    #[error("directory error: {0}")]
    Protocol(String),
}

/// State of one server URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// The URI.
    pub uri: String,
    /// Seconds until the server is tried again (0 when not marked down).
    pub down_for_secs: u64,
    /// Consecutive failures.
    pub failures: u32,
    /// Last error of this server.
    pub last_error: Option<String>,
}

/// What a directory's connection looks like now (for `rosterctl status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryStatus {
    /// Domain name.
    pub domain: String,
    /// True when the last attempt to use the directory succeeded.
    pub online: bool,
    /// URI of the server in use.
    pub server: Option<String>,
    /// Last error (no secrets in it).
    pub last_error: Option<String>,
    /// When the last error happened (Unix seconds).
    pub last_error_at: Option<u64>,
    /// Since when no server answers (Unix seconds).
    pub offline_since: Option<u64>,
    /// Each configured server.
    pub servers: Vec<ServerStatus>,
    /// LDAP searches sent since start (a page of a paged search counts once
    /// per search).
    pub searches: u64,
    /// Connections opened for lookups and logins since start (the
    /// background probe's are not counted).
    pub connects: u64,
    /// Attempts of the background probe to reach a server since start
    /// (it runs only while the domain is offline).
    pub probes: u64,
    /// Milliseconds until the next probe while the domain is offline.
    pub next_probe_in_ms: Option<u64>,
}
