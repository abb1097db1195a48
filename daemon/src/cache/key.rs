//! Cache keys: which question was asked of which domain.

use std::fmt;
use std::sync::Arc;

/// The question, without its domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// User by login name.
    UserName(String),
    /// User by UID.
    UserId(u32),
    /// Group by name.
    GroupName(String),
    /// Group by GID.
    GroupId(u32),
    /// The groups of the user with this login name (initgroups).
    GroupsOf(String),
    /// Netgroup by name.
    NetgroupName(String),
}

/// A question asked of one domain.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// Domain name.
    pub domain: Arc<str>,
    /// The question.
    pub key: Key,
}

/// Separator in store keys (cannot appear in a domain name from the
/// config); the domain is the store key's namespace.
pub const STORE_KEY_SEP: char = crate::store::NS_SEP;

impl CacheKey {
    /// A key for `domain`.
    pub fn new(domain: Arc<str>, key: Key) -> Self {
        CacheKey { domain, key }
    }

    /// The key under which the persistent store keeps this entry.
    pub fn store_key(&self) -> String {
        format!("{}{STORE_KEY_SEP}{}", self.domain, self.key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::UserName(n) => write!(f, "user-name{STORE_KEY_SEP}{n}"),
            Key::UserId(n) => write!(f, "user-id{STORE_KEY_SEP}{n}"),
            Key::GroupName(n) => write!(f, "group-name{STORE_KEY_SEP}{n}"),
            Key::GroupId(n) => write!(f, "group-id{STORE_KEY_SEP}{n}"),
            Key::GroupsOf(n) => write!(f, "groups-of{STORE_KEY_SEP}{n}"),
            Key::NetgroupName(n) => write!(f, "netgroup-name{STORE_KEY_SEP}{n}"),
        }
    }
}
