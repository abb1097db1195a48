//! Which cached answers about users (groups) tell other than their
//! domain's users (groups) census, kept as they are stored: the check of a
//! big group's members asks this of each member instead of looking its two
//! answers up in the whole cache (about 100 ns a member, half of that
//! check, on the first lookup of a 5,000-member group), and an initgroups
//! of each of its GIDs the census decides (18% of rosterd's time on a CPU
//! for a user in 1,000 groups went to those two answers' lookups).
//!
//! The record is a filter: a name or ID it does not hold has no answer
//! at odds with the census it was made for; one it holds is looked up in
//! the cache, where its answer may since have expired, been replaced or
//! dropped ([`Disputes::may_dispute`]). Before a census is
//! installed, the answers then held are copied out under the cache's lock
//! ([`AtOdds::begin`]) and judged on a thread of their own
//! ([`Disputes::judge_held`]; the copy takes a few milliseconds for
//! 100,000 answers, the judging several times that), while every answer
//! stored meanwhile and after is judged as it is stored
//! ([`crate::cache::Watch`], under the cache's lock); the two are joined
//! ([`AtOdds::finish`]) before the census serves a check. Until then the
//! checks ask the cache.

use super::owner::EntryKind;
use crate::cache::{CacheKey, Key, Slot, Value, Watch};
use crate::census::Census;
use std::collections::HashSet;
use std::sync::Arc;

/// True when `v`, an answer about user (or group) `name`, agrees with
/// census `c` of the users (or groups), which decides `name` as the entry
/// holding `id` ([`Census::sole_served_holder`],
/// [`Census::sole_served_holder_of_id`]): that entry (the only holder of
/// `id`), under exactly that name and ID. (A case variant filed under
/// `name` is another name to the local accounts' check.)
pub(super) fn agrees(c: &Census, v: &Value, name: &str, id: u32) -> bool {
    match v {
        Value::User(u) => u.user.uid == id && u.user.name == name && c.sole_holder_of_id(id, &u.dn),
        Value::Group(g) => {
            g.group.gid == id && g.group.name == name && c.sole_holder_of_id(id, &g.dn)
        }
        _ => false,
    }
}

/// The kind of entry an answer to `key` is about, for the keys judged.
fn kind_of(key: &Key) -> Option<EntryKind> {
    match key {
        Key::UserName(_) | Key::UserId(_) => Some(EntryKind::User),
        Key::GroupName(_) | Key::GroupId(_) => Some(EntryKind::Group),
        _ => None,
    }
}

/// For each domain with a users (groups) census, the names and IDs whose
/// cached answers are at odds with it.
#[derive(Default)]
pub(super) struct AtOdds {
    /// By domain name and census kind (a few domains: a list).
    domains: Vec<(Arc<str>, EntryKind, OfDomain)>,
}

/// One domain's disputes with its censuses of one kind: with the census
/// it serves checks with, and with the one being installed.
#[derive(Default)]
struct OfDomain {
    /// Complete: every answer held is judged.
    ready: Option<Disputes>,
    /// The answers stored since the copy of [`AtOdds::begin`], for a
    /// census not yet installed.
    pending: Option<Disputes>,
}

/// Cached answers of one domain at odds with one of its users (groups)
/// censuses.
pub(super) struct Disputes {
    /// The census they are judged against.
    census: Arc<Census>,
    /// Of users or of groups.
    kind: EntryKind,
    /// The answers held then were judged as of this moment: one fresh
    /// only before it is not (a clock stepped back, a check that read
    /// the time earlier).
    judged_at: u64,
    /// Names whose answer (by name) tells another entry, name or ID than
    /// the census decides, or none.
    names: HashSet<String, foldhash::fast::RandomState>,
    /// UIDs (GIDs) whose answer (by ID) is not an entry the census
    /// decides, by its name, as that ID's holder.
    ids: HashSet<u32, foldhash::fast::RandomState>,
}

/// Copies of answers held (the key asked and the answer), for
/// [`Disputes::judge_held`].
pub(super) type Held = Vec<(Key, Value)>;

impl Disputes {
    /// Nothing at odds with `census`, of the `kind` entries, yet, as of
    /// `judged_at`.
    pub(super) fn new(census: Arc<Census>, kind: EntryKind, judged_at: u64) -> Self {
        Disputes {
            census,
            kind,
            judged_at,
            names: HashSet::default(),
            ids: HashSet::default(),
        }
    }

    /// Notes the answer `value` to `key` (of this census's kind) when it
    /// is at odds with the census. A name the census does not decide, or
    /// an ID it has no one holder of, is not noted: no member (or GID) is
    /// decided under it.
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
                if !self.census.has_sole_holder_of_id(*uid) {
                    return;
                }
                // The census decides at most one name as an entry (see
                // `CensusBuilder::finish`): an answer that is that entry,
                // decided under its own name, agrees for the member of
                // that name, the only one decided with this UID (up to
                // the collisions of 32-bit hashes of spellings of one
                // folded name the census already accepts,
                // `Census::sole_served_holder`).
                let agreed = match value {
                    Value::User(u) => {
                        self.census.sole_served_holder(&u.user.name) == Some(*uid)
                            && agrees(&self.census, value, &u.user.name, *uid)
                    }
                    _ => false,
                };
                if !agreed {
                    self.ids.insert(*uid);
                }
            }
            // An initgroups' GID the census decides is checked against the
            // answers to that GID and to the one name the census serves it
            // under ([`Census::sole_served_holder_of_id`]), which is served
            // with that GID alone ([`Census::served_id_of_name`]).
            Key::GroupName(name) => {
                if let Some(gid) = self.census.served_id_of_name(name) {
                    if !agrees(&self.census, value, name, gid) && !self.names.contains(name) {
                        self.names.insert(name.clone());
                    }
                }
            }
            Key::GroupId(gid) => {
                if let Some(name) = self.census.sole_served_holder_of_id(*gid) {
                    if !agrees(&self.census, value, name, *gid) {
                        self.ids.insert(*gid);
                    }
                }
            }
            _ => {}
        }
    }

    /// Judges the copied answers `held` (those fresh when copied).
    pub(super) fn judge_held(&mut self, held: &Held) {
        for (key, value) in held {
            self.judge(key, value);
        }
    }

    /// Adds the disputes of `other` (of the same census).
    fn absorb(&mut self, other: Disputes) {
        self.names.extend(other.names);
        self.ids.extend(other.ids);
        self.judged_at = self.judged_at.min(other.judged_at);
    }

    /// False when no cached answer to user (group) `name` or to `id` that
    /// is fresh at `now` can be at odds with `census` (which decides
    /// `name` as holding `id`): these are the disputes of that very
    /// census, judged as of `now` or earlier, and neither was noted. True
    /// otherwise: the cache is to be asked.
    #[inline]
    pub(super) fn may_dispute(&self, census: &Census, name: &str, id: u32, now: u64) -> bool {
        !std::ptr::eq(Arc::as_ptr(&self.census), census)
            || now < self.judged_at
            || (!self.names.is_empty() && self.names.contains(name))
            || (!self.ids.is_empty() && self.ids.contains(&id))
    }
}

impl AtOdds {
    /// The complete disputes of `domain` with its `kind` census, when it
    /// has some.
    #[cfg(test)]
    pub(super) fn of(&self, domain: &str, kind: EntryKind) -> Option<&Disputes> {
        self.position(domain, kind).and_then(|k| self.at(k))
    }

    /// Where `domain`'s disputes with its `kind` census are kept
    /// ([`AtOdds::at`]; the place holds while the cache stays locked): a
    /// check of many members or GIDs asks it once for all of them.
    pub(super) fn position(&self, domain: &str, kind: EntryKind) -> Option<usize> {
        self.domains
            .iter()
            .position(|(d, k, _)| *k == kind && &**d == domain)
    }

    /// The complete disputes kept at `k` ([`AtOdds::position`]).
    pub(super) fn at(&self, k: usize) -> Option<&Disputes> {
        self.domains.get(k).and_then(|(.., of)| of.ready.as_ref())
    }

    fn find_mut(&mut self, domain: &str, kind: EntryKind) -> &mut OfDomain {
        let k = match self.position(domain, kind) {
            Some(k) => k,
            None => {
                let of = OfDomain::default();
                self.domains.push((Arc::from(domain), kind, of));
                self.domains.len() - 1
            }
        };
        &mut self.domains[k].2
    }

    /// Starts judging `domain`'s cached answers against its next users
    /// (`kind`: or groups) census `census` as of `now`: from now on each
    /// answer of that kind stored is judged against it too, and the
    /// copies of the domain's answers of that kind in `held` (all the
    /// cache holds) that are fresh at `now` are returned, for
    /// [`Disputes::judge_held`] and then [`AtOdds::finish`].
    pub(super) fn begin<'a>(
        &mut self,
        domain: &str,
        kind: EntryKind,
        census: Arc<Census>,
        now: u64,
        held: impl Iterator<Item = (&'a CacheKey, &'a Slot)>,
    ) -> Held {
        self.find_mut(domain, kind).pending = Some(Disputes::new(census, kind, now));
        held.filter(|(k, slot)| {
            slot.expires_ms > now && kind_of(&k.key) == Some(kind) && &*k.domain == domain
        })
        .map(|(k, slot)| (k.key.clone(), slot.value.clone()))
        .collect()
    }

    /// Joins the disputes `judged` among the answers copied by
    /// [`AtOdds::begin`] with those of the answers stored since: together
    /// they are complete, and serve the checks with that census. Nothing
    /// is done when another census's judging began since.
    pub(super) fn finish(&mut self, domain: &str, mut judged: Disputes) {
        let census = judged.census.clone();
        if let Some((of, pending)) = self.take_pending(domain, judged.kind, &census) {
            // (The answers stored meanwhile are the few.)
            judged.absorb(pending);
            of.ready = Some(judged);
        }
    }

    /// Drops the judging against `kind` census `census` begun by
    /// [`AtOdds::begin`] (it failed): answers stored are no longer judged
    /// against it.
    pub(super) fn abandon(&mut self, domain: &str, kind: EntryKind, census: &Arc<Census>) {
        self.take_pending(domain, kind, census);
    }

    /// `domain`'s judging in progress against its `kind` census, taken out
    /// when it is against `census` (left alone when another census's
    /// judging began since).
    fn take_pending(
        &mut self,
        domain: &str,
        kind: EntryKind,
        census: &Arc<Census>,
    ) -> Option<(&mut OfDomain, Disputes)> {
        let k = self.position(domain, kind)?;
        let of = &mut self.domains[k].2;
        let pending = of.pending.take_if(|p| Arc::ptr_eq(&p.census, census))?;
        Some((of, pending))
    }

    /// Forgets every domain's disputes (the censuses were dropped).
    pub(super) fn clear(&mut self) {
        self.domains.clear();
    }
}

impl Watch<CacheKey, Slot> for AtOdds {
    fn stored(&mut self, key: &CacheKey, slot: &Slot) {
        let Some(kind) = kind_of(&key.key) else {
            return;
        };
        let domain = &key.domain;
        if let Some((.., of)) = self
            .domains
            .iter_mut()
            .find(|(d, k, _)| *k == kind && d == domain)
        {
            for disputes in [&mut of.ready, &mut of.pending].into_iter().flatten() {
                disputes.judge(&key.key, &slot.value);
            }
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

    /// Judges `held` against users census `c` of domain `ldap` at `now`,
    /// as the resolver does: copied, judged apart, joined.
    fn judged(w: &mut AtOdds, c: &Arc<Census>, held: &[(CacheKey, Slot)], now: u64) {
        judged_as(w, EntryKind::User, c, held, now);
    }

    /// [`judged`] against a census of `kind`.
    fn judged_as(
        w: &mut AtOdds,
        kind: EntryKind,
        c: &Arc<Census>,
        held: &[(CacheKey, Slot)],
        now: u64,
    ) {
        let copied = w.begin(
            "ldap",
            kind,
            c.clone(),
            now,
            held.iter().map(|(k, s)| (k, s)),
        );
        let mut d = Disputes::new(c.clone(), kind, now);
        d.judge_held(&copied);
        w.finish("ldap", d);
    }

    /// Groups `ops` (GID 200) and `dev` (201), both decided by name and
    /// by GID; GID 202 held by two.
    fn groups_census() -> Arc<Census> {
        let mut b = Census::builder();
        b.add("cn=ops,dc=x", ["ops"], ["200"]);
        b.add("cn=dev,dc=x", ["dev"], ["201"]);
        b.add("cn=one,dc=x", ["one"], ["202"]);
        b.add("cn=two,dc=x", ["two"], ["202"]);
        for (dn, name, id) in [
            ("cn=ops,dc=x", "ops", 200),
            ("cn=dev,dc=x", "dev", 201),
            ("cn=one,dc=x", "one", 202),
        ] {
            b.served_named(dn, name, id);
        }
        Arc::new(b.finish())
    }

    fn group(name: &str, gid: u32, dn: &str) -> Value {
        Value::Group(Arc::new(crate::cache::GroupEntry {
            group: roster_proto::Group {
                name: name.into(),
                gid,
                ..Default::default()
            },
            dn: dn.into(),
            domain: Arc::from("ldap"),
        }))
    }

    #[test]
    fn group_answers_are_judged_against_what_the_groups_census_decides() {
        let c = groups_census();
        assert_eq!(c.sole_served_holder_of_id(200), Some("ops"));
        assert_eq!(c.served_id_of_name("ops"), Some(200));
        assert_eq!(c.served_id_of_name("Ops"), None);
        assert_eq!(c.served_id_of_name("one"), None);
        let name = |n: &str| Key::GroupName(n.into());
        let cases = [
            // (key, answer, at odds)
            (name("ops"), group("ops", 200, "cn=ops,dc=x"), false),
            (name("ops"), group("ops", 200, "CN=OPS,DC=X"), false),
            (name("ops"), group("Ops", 200, "cn=ops,dc=x"), true),
            (name("ops"), group("ops", 205, "cn=ops,dc=x"), true),
            (name("ops"), group("ops", 200, "cn=other,dc=x"), true),
            (name("ops"), Value::Missing, true),
            // Names no GID is decided under: no GID's check asks them
            // (it asks the name the census serves, exactly).
            (name("one"), Value::Missing, false),
            (name("Ops"), Value::Missing, false),
            (Key::GroupId(201), group("dev", 201, "cn=dev,dc=x"), false),
            (Key::GroupId(201), group("dev", 201, "cn=other,dc=x"), true),
            (Key::GroupId(201), group("Dev", 201, "cn=dev,dc=x"), true),
            (Key::GroupId(201), group("ops", 201, "cn=dev,dc=x"), true),
            (Key::GroupId(201), Value::Missing, true),
            // A GID two groups hold: none is decided with it.
            (Key::GroupId(202), Value::Missing, false),
        ];
        for (k, v, odds) in cases {
            // Judged as stored, and as held when the census comes; never
            // against the users census (here one that would note them).
            let users = groups_census();
            let stored = {
                let mut w = AtOdds::default();
                judged(&mut w, &users, &[], 0);
                judged_as(&mut w, EntryKind::Group, &c, &[], 0);
                w.stored(&key("ldap", k.clone()), &slot(v.clone(), 1));
                w
            };
            let held = {
                let mut w = AtOdds::default();
                let answer = [(key("ldap", k.clone()), slot(v.clone(), 1))];
                judged(&mut w, &users, &answer, 0);
                judged_as(&mut w, EntryKind::Group, &c, &answer, 0);
                w
            };
            // The question a GID's check asks of them.
            let (n, id) = match &k {
                Key::GroupName(n) => (n.as_str(), c.served_id_of_name(n).unwrap_or(200)),
                Key::GroupId(id) => (c.sole_served_holder_of_id(*id).unwrap_or("dev"), *id),
                _ => unreachable!(),
            };
            for w in [stored, held] {
                let d = w.of("ldap", EntryKind::Group).unwrap();
                assert_eq!(d.may_dispute(&c, n, id, 0), odds, "{k:?} answered {v:?}");
                let u = w.of("ldap", EntryKind::User).unwrap();
                assert!(!u.may_dispute(&users, n, id, 0), "{k:?} noted for users");
            }
        }
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
            (Key::UserId(101), Value::Missing, true),
            // One holder, but no name decided with it.
            (Key::UserId(102), user("twice", 102, "uid=twice,dc=x"), true),
            // A UID no one (or several) holds: no member is decided with it.
            (Key::UserId(104), Value::Missing, false),
        ];
        for (k, v, odds) in cases {
            // Judged as stored, and as held when the census comes.
            let stored = {
                let mut w = AtOdds::default();
                judged(&mut w, &c, &[], 0);
                w.stored(&key("ldap", k.clone()), &slot(v.clone(), 1));
                w
            };
            let held = {
                let mut w = AtOdds::default();
                judged(
                    &mut w,
                    &c,
                    &[(key("ldap", k.clone()), slot(v.clone(), 1))],
                    0,
                );
                w
            };
            let (n, id) = match &k {
                Key::UserName(n) => (n.as_str(), c.sole_served_holder(n).unwrap_or(100)),
                Key::UserId(id) => ("b", *id),
                _ => unreachable!(),
            };
            for w in [stored, held] {
                let d = w.of("ldap", EntryKind::User).unwrap();
                assert_eq!(d.may_dispute(&c, n, id, 0), odds, "{k:?} answered {v:?}");
            }
        }
    }

    #[test]
    fn only_that_census_s_own_answers_in_that_domain_are_noted() {
        let c = census();
        let mut w = AtOdds::default();
        judged(&mut w, &c, &[], 5);
        let d = w.of("ldap", EntryKind::User).unwrap();
        assert!(!d.may_dispute(&c, "a", 100, 5));
        // Another census (a newer one not yet judged against): ask.
        assert!(d.may_dispute(&census(), "a", 100, 5));
        // Asked as of a moment before the judging: ask.
        assert!(d.may_dispute(&c, "a", 100, 4));
        // Another domain, another kind of answer: not noted.
        w.stored(
            &key("other", Key::UserName("a".into())),
            &slot(Value::Missing, 9),
        );
        w.stored(
            &key("ldap", Key::GroupName("a".into())),
            &slot(Value::Missing, 9),
        );
        assert!(!w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c, "a", 100, 5));
        assert!(w.of("other", EntryKind::User).is_none());
        // Answers held when the census comes: those still fresh are
        // judged, in that domain only.
        let held = [
            (
                key("ldap", Key::UserName("a".into())),
                slot(Value::Missing, 10),
            ),
            (key("ldap", Key::UserId(101)), slot(Value::Missing, 5)),
            (key("other", Key::UserId(100)), slot(Value::Missing, 10)),
        ];
        judged(&mut w, &c, &held, 5);
        let d = w.of("ldap", EntryKind::User).unwrap();
        assert!(d.may_dispute(&c, "a", 105, 5));
        assert!(!d.may_dispute(&c, "b", 101, 5));
        assert!(!d.may_dispute(&c, "c", 100, 5));
        w.clear();
        assert!(w.of("ldap", EntryKind::User).is_none());
    }

    #[test]
    fn answers_stored_while_the_held_ones_are_judged_are_kept_and_a_newer_census_wins() {
        let (c1, c2) = (census(), census());
        let mut w = AtOdds::default();
        judged(&mut w, &c1, &[], 0);
        // The judging against c2 begins: c1's disputes still serve, and
        // what is stored meanwhile is judged against both.
        let copied = w.begin("ldap", EntryKind::User, c2.clone(), 0, std::iter::empty());
        w.stored(
            &key("ldap", Key::UserName("a".into())),
            &slot(Value::Missing, 9),
        );
        assert!(w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c1, "a", 100, 0));
        assert!(!w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c1, "b", 101, 0));
        let mut d = Disputes::new(c2.clone(), EntryKind::User, 0);
        d.judge_held(&copied);
        w.finish("ldap", d);
        let d = w.of("ldap", EntryKind::User).unwrap();
        assert!(d.may_dispute(&c2, "a", 100, 0));
        assert!(!d.may_dispute(&c2, "b", 101, 0));
        // A judging overtaken by a newer census's is not joined, and
        // leaves the newer one to finish.
        let c3 = census();
        w.begin("ldap", EntryKind::User, c3.clone(), 0, std::iter::empty());
        w.finish("ldap", Disputes::new(c2.clone(), EntryKind::User, 0));
        assert!(w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c3, "b", 101, 0));
        w.finish("ldap", Disputes::new(c3.clone(), EntryKind::User, 0));
        assert!(!w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c3, "b", 101, 0));
        // A judging that failed is dropped: its census is never joined.
        let c4 = census();
        w.begin("ldap", EntryKind::User, c4.clone(), 0, std::iter::empty());
        w.abandon("ldap", EntryKind::User, &c4);
        w.finish("ldap", Disputes::new(c4.clone(), EntryKind::User, 0));
        assert!(w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c4, "b", 101, 0));
        assert!(!w
            .of("ldap", EntryKind::User)
            .unwrap()
            .may_dispute(&c3, "b", 101, 0));
    }
}
