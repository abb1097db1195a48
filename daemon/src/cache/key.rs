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
    /// (Put together piece by piece: a lookup makes it up to three times,
    /// and `format!` through [`Key`]'s `Display` cost several times that.)
    pub fn store_key(&self) -> String {
        let (kind, part) = self.key.parts();
        let mut s = String::with_capacity(self.domain.len() + kind.len() + 2 + part.len());
        s.push_str(&self.domain);
        s.push(STORE_KEY_SEP);
        s.push_str(kind);
        s.push(STORE_KEY_SEP);
        s.push_str(&part);
        s
    }
}

impl Key {
    /// The kind of question and its name or number, as the store key and
    /// [`Key`]'s `Display` spell them.
    fn parts(&self) -> (&'static str, std::borrow::Cow<'_, str>) {
        use std::borrow::Cow;
        match self {
            Key::UserName(n) => ("user-name", Cow::Borrowed(n)),
            Key::UserId(n) => ("user-id", Cow::Owned(n.to_string())),
            Key::GroupName(n) => ("group-name", Cow::Borrowed(n)),
            Key::GroupId(n) => ("group-id", Cow::Owned(n.to_string())),
            Key::GroupsOf(n) => ("groups-of", Cow::Borrowed(n)),
            Key::NetgroupName(n) => ("netgroup-name", Cow::Borrowed(n)),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (kind, part) = self.parts();
        write!(f, "{kind}{STORE_KEY_SEP}{part}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The store key is the domain, the kind of question and its name or
    /// number, as `Key`'s `Display` spells the question.
    #[test]
    fn the_store_key_is_the_domain_and_the_question_as_displayed() {
        // The spelling the stored entries already carry (a change would
        // orphan them all).
        let keys = [
            (Key::UserName("alice".into()), "user-name\u{1f}alice"),
            (Key::UserId(10001), "user-id\u{1f}10001"),
            (
                Key::GroupName("Staff Ünïcode".into()),
                "group-name\u{1f}Staff Ünïcode",
            ),
            (Key::GroupId(0), "group-id\u{1f}0"),
            (Key::GroupsOf("bob".into()), "groups-of\u{1f}bob"),
            (
                Key::NetgroupName("hosts".into()),
                "netgroup-name\u{1f}hosts",
            ),
        ];
        assert_eq!(STORE_KEY_SEP, '\u{1f}');
        for (key, question) in keys {
            assert_eq!(key.to_string(), question);
            let ck = CacheKey::new(Arc::from("example.org"), key);
            assert_eq!(ck.store_key(), format!("example.org\u{1f}{question}"));
        }
    }
}
