//! Which cached answers about users tell other than their domain's users
//! census, kept as they are stored: the check of a big group's members
//! asks this of each member instead of looking its two answers up in the
//! whole cache (about 100 ns a member, half of that check, on the first
//! lookup of a 5,000-member group).
//!
//! The record is a filter: a name or UID it does not hold has no answer
//! at odds with the census it was made for; one it holds is looked up in
//! the cache, where its answer may since have expired, been replaced or
//! dropped ([`Disputes::may_dispute`]). It is made anew from the answers
//! held when a users census is installed ([`AtOdds::judge_held`]), and
//! every answer stored after is judged as it is stored
//! ([`crate::cache::Watch`], under the cache's lock).

use crate::cache::{CacheKey, Key, Slot, Value, Watch};
use crate::census::Census;
use std::collections::HashSet;
use std::sync::Arc;

/// True when `v`, an answer about user `name`, agrees with census `c`,
/// which decides `name` as the entry holding `uid`
/// ([`Census::sole_served_holder`]): that entry (the only holder of
/// `uid`), under exactly that name and UID. (A case variant filed under
/// `name` is another name to the local accounts' check.)
pub(super) fn agrees(c: &Census, v: &Value, name: &str, uid: u32) -> bool {
    match v {
        Value::User(u) => {
            u.user.uid == uid && u.user.name == name && c.sole_holder_of_id(uid, &u.dn)
        }
        _ => false,
    }
}

/// For each domain with a users census, the names and UIDs whose cached
/// answers were at odds with it when stored or when it was installed.
#[derive(Default)]
pub(super) struct AtOdds {
    /// By domain name (a few domains: a list).
    domains: Vec<(Arc<str>, Disputes)>,
}

/// One domain's answers at odds with one of its users censuses.
pub(super) struct Disputes {
    /// The census they were judged against.
    census: Arc<Census>,
    /// Names whose answer (by name) tells another entry, name or UID than
    /// the census decides, or none.
    names: HashSet<String, foldhash::fast::RandomState>,
    /// UIDs whose answer (by UID) is not an entry the census decides, by
    /// its name, as that UID's holder.
    uids: HashSet<u32, foldhash::fast::RandomState>,
}

impl Disputes {
    fn new(census: Arc<Census>) -> Self {
        Disputes {
            census,
            names: HashSet::default(),
            uids: HashSet::default(),
        }
    }

    /// Notes the answer `value` to `key` when it is at odds with the
    /// census. A name the census does not decide is not noted: no member
    /// of that name is decided by it.
    fn judge(&mut self, key: &Key, value: &Value) {
        match key {
            Key::UserName(name) => {
                if let Some(uid) = self.census.sole_served_holder(name) {
                    if !agrees(&self.census, value, name, uid) && !self.names.contains(name) {
                        self.names.insert(name.clone());
                    }
                }
            }
            Key::UserId(uid) => {
                // The census decides at most one name as an entry (see
                // `CensusBuilder::finish`): an answer that is that entry,
                // decided under its own name, agrees for the member of
                // that name, the only one decided with this UID.
                let agreed = match value {
                    Value::User(u) => {
                        self.census.sole_served_holder(&u.user.name) == Some(*uid)
                            && agrees(&self.census, value, &u.user.name, *uid)
                    }
                    _ => false,
                };
                if !agreed {
                    self.uids.insert(*uid);
                }
            }
            _ => {}
        }
    }

    /// False when no cached answer to user `name` or to `uid` can be at
    /// odds with `census` (which decides `name` as holding `uid`): these
    /// are the disputes of that very census and neither was noted. True
    /// otherwise: the cache is to be asked.
    pub(super) fn may_dispute(&self, census: &Census, name: &str, uid: u32) -> bool {
        !std::ptr::eq(Arc::as_ptr(&self.census), census)
            || (!self.names.is_empty() && self.names.contains(name))
            || (!self.uids.is_empty() && self.uids.contains(&uid))
    }
}

impl AtOdds {
    /// The disputes of `domain`, when it had a users census installed.
    pub(super) fn of(&self, domain: &str) -> Option<&Disputes> {
        self.domains
            .iter()
            .find(|(d, _)| &**d == domain)
            .map(|(_, disputes)| disputes)
    }

    /// Judges the answers `held` that are still fresh at `now` against
    /// `domain`'s new users census `census`, whose disputes they become;
    /// every answer stored after is judged as it is stored.
    pub(super) fn judge_held<'a>(
        &mut self,
        domain: &str,
        census: Arc<Census>,
        held: impl Iterator<Item = (&'a CacheKey, &'a Slot)>,
        now: u64,
    ) {
        let mut disputes = Disputes::new(census);
        for (k, slot) in held {
            if slot.expires_ms > now && &*k.domain == domain {
                disputes.judge(&k.key, &slot.value);
            }
        }
        match self.domains.iter_mut().find(|(d, _)| &**d == domain) {
            Some((_, old)) => *old = disputes,
            None => self.domains.push((Arc::from(domain), disputes)),
        }
    }

    /// Forgets every domain's disputes (the censuses were dropped).
    pub(super) fn clear(&mut self) {
        self.domains.clear();
    }
}

impl Watch<CacheKey, Slot> for AtOdds {
    fn stored(&mut self, key: &CacheKey, slot: &Slot) {
        if !matches!(key.key, Key::UserName(_) | Key::UserId(_)) {
            return;
        }
        if let Some((_, disputes)) = self.domains.iter_mut().find(|(d, _)| *d == key.domain) {
            disputes.judge(&key.key, &slot.value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cache::UserEntry;

    /// Users `a` (UID 100) and `b` (101), both decided; `twice` held by
    /// two entries.
    fn census() -> Arc<Census> {
        let mut b = Census::builder();
        b.add("uid=a,dc=x", ["a"], ["100"]);
        b.add("uid=b,dc=x", ["b"], ["101"]);
        b.add("uid=twice,dc=x", ["twice"], ["102"]);
        b.add("cn=twice,dc=x", ["twice"], ["103"]);
        for (dn, name, id) in [
            ("uid=a,dc=x", "a", 100),
            ("uid=b,dc=x", "b", 101),
            ("uid=twice,dc=x", "twice", 102),
        ] {
            b.served(dn, name, id);
        }
        Arc::new(b.finish())
    }

    fn user(name: &str, uid: u32, dn: &str) -> Value {
        Value::User(Arc::new(UserEntry {
            user: roster_proto::User {
                name: name.into(),
                uid,
                gid: 5000,
                ..Default::default()
            },
            dn: dn.into(),
            domain: Arc::from("ldap"),
            unique_id: None,
            ssh_keys: Vec::new(),
        }))
    }

    fn slot(value: Value, expires_ms: u64) -> Slot {
        Slot {
            value,
            fetched_ms: 0,
            expires_ms,
        }
    }

    fn key(domain: &str, key: Key) -> CacheKey {
        CacheKey::new(Arc::from(domain), key)
    }

    /// `AtOdds` for domain `ldap` judged against `c`, nothing held.
    fn at_odds(c: &Arc<Census>) -> AtOdds {
        let mut w = AtOdds::default();
        w.judge_held("ldap", c.clone(), std::iter::empty(), 0);
        w
    }

    #[test]
    fn answers_are_judged_against_what_the_census_decides() {
        let c = census();
        let name = |n: &str| Key::UserName(n.into());
        let cases = [
            // (key, answer, at odds)
            (name("a"), user("a", 100, "uid=a,dc=x"), false),
            (name("a"), user("a", 100, "UID=A,DC=X"), false),
            (name("a"), user("A", 100, "uid=a,dc=x"), true),
            (name("a"), user("a", 105, "uid=a,dc=x"), true),
            (name("a"), user("a", 100, "uid=other,dc=x"), true),
            (name("a"), Value::Missing, true),
            // A name the census does not decide: no member of it is.
            (name("twice"), Value::Missing, false),
            (name("nobody"), user("nobody", 100, "uid=a,dc=x"), false),
            (Key::UserId(101), user("b", 101, "uid=b,dc=x"), false),
            (Key::UserId(101), user("b", 101, "uid=other,dc=x"), true),
            (Key::UserId(101), user("B", 101, "uid=b,dc=x"), true),
            (Key::UserId(101), user("a", 101, "uid=b,dc=x"), true),
            (Key::UserId(102), user("twice", 102, "uid=twice,dc=x"), true),
            (Key::UserId(104), Value::Missing, true),
        ];
        for (k, v, odds) in cases {
            let mut w = at_odds(&c);
            w.stored(&key("ldap", k.clone()), &slot(v.clone(), 1));
            let d = w.of("ldap").unwrap();
            let (n, id) = match &k {
                Key::UserName(n) => (n.as_str(), c.sole_served_holder(n).unwrap_or(100)),
                Key::UserId(id) => ("b", *id),
                _ => unreachable!(),
            };
            assert_eq!(d.may_dispute(&c, n, id), odds, "{k:?} answered {v:?}");
        }
    }

    #[test]
    fn only_that_census_s_own_answers_in_that_domain_are_noted() {
        let c = census();
        let mut w = at_odds(&c);
        let d = w.of("ldap").unwrap();
        assert!(!d.may_dispute(&c, "a", 100));
        // Another census (a newer one not yet judged against): ask.
        assert!(d.may_dispute(&census(), "a", 100));
        // Another domain, another kind of answer: not noted.
        w.stored(
            &key("other", Key::UserName("a".into())),
            &slot(Value::Missing, 1),
        );
        w.stored(
            &key("ldap", Key::GroupName("a".into())),
            &slot(Value::Missing, 1),
        );
        assert!(!w.of("ldap").unwrap().may_dispute(&c, "a", 100));
        assert!(w.of("other").is_none());
        // Answers held when the census is installed: those still fresh
        // are judged, in that domain only.
        let held = [
            (
                key("ldap", Key::UserName("a".into())),
                slot(Value::Missing, 10),
            ),
            (key("ldap", Key::UserId(101)), slot(Value::Missing, 5)),
            (key("other", Key::UserId(100)), slot(Value::Missing, 10)),
        ];
        w.judge_held("ldap", c.clone(), held.iter().map(|(k, s)| (k, s)), 5);
        let d = w.of("ldap").unwrap();
        assert!(d.may_dispute(&c, "a", 105));
        assert!(!d.may_dispute(&c, "b", 101));
        assert!(!d.may_dispute(&c, "c", 100));
        w.clear();
        assert!(w.of("ldap").is_none());
    }
}
