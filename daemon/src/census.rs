//! Who holds each name and ID among a domain's user (or group) entries at
//! one moment: a census taken from one listing of the entries, names and
//! IDs only.
//!
//! The ownership rules ([`crate::resolver`]) serve an entry found by name
//! only once the directory answers the same entry for its ID, and an entry
//! found by ID only once it answers the same entry for its name: a second
//! search per cold lookup. A census that shows the entry as the only holder
//! of that ID (or name) gives the same answer without the search, as the
//! cache gives a search's answer without asking again: both are the
//! directory as it was at most `entry_ttl` ago.
//!
//! The census errs one way only: it may fail to vouch for an entry the
//! search would have confirmed (the lookup then searches), never the other
//! way round. So it counts every entry carrying a name or ID, valid or not,
//! under every search base; names are compared folded (a directory's
//! matching may ignore case and spaces); and an ID value that is not a
//! plain decimal number, which the directory's integer matching might read
//! as some ID, makes the census vouch for no ID at all.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};

/// A map keyed by the census's own keyed hashes (of names and DNs): they
/// are used as they are, not hashed again.
type Hashed<V> = HashMap<u64, V, BuildHasherDefault<KeyedHash>>;

/// The [`Hasher`] of [`Hashed`]: the key is already a hash under a key
/// chosen at random when the daemon starts, so no one can aim entries at
/// one bucket.
#[derive(Default)]
struct KeyedHash(u64);

impl Hasher for KeyedHash {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        // (Only `u64` keys are hashed; this folds anything else.)
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Who holds one name or ID: the hash of the one entry's DN
/// ([`Census::dn_hash`], never [`SEVERAL`]), or [`SEVERAL`] (8 bytes, not
/// an enum's 16: there are as many as entries).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Holders(u64);

/// Two entries or more hold it.
const SEVERAL: u64 = u64::MAX;

impl Holders {
    /// Held by the entry at (the DN hash) `dn` alone.
    fn one(dn: u64) -> Holders {
        Holders(dn)
    }

    /// Counts the entry at `dn` too.
    fn add(&mut self, dn: u64) {
        if self.0 != dn {
            self.0 = SEVERAL;
        }
    }

    /// The one holder's DN hash, if one entry holds it.
    fn sole(self) -> Option<u64> {
        (self.0 != SEVERAL).then_some(self.0)
    }

    /// True when the entry at `dn` holds it alone.
    fn is(self, dn: u64) -> bool {
        self.sole() == Some(dn)
    }
}

/// The holders of every name and ID among one kind of entry of a domain.
///
/// DNs and names are kept as keyed 64-bit hashes (a few megabytes for
/// 100,000 entries): two names that collide only make the census vouch
/// for neither; two DNs of one ID would have to collide under a key chosen
/// at random when the daemon starts (odds of 2^-64 per pair).
#[derive(Debug)]
pub struct Census {
    /// Keyed SipHash (std's): the name and DN hashes stand for the names
    /// and DNs and so decide ownership; a collision must not be within an
    /// attacker's reach, so not a fast hash without that claim.
    hasher: RandomState,
    /// (foldhash places the IDs in the table only: nothing rests on it.)
    ids: HashMap<u32, Holders, foldhash::fast::RandomState>,
    names: Hashed<Holders>,
    /// The lookups by name the census decides alone, by name hash
    /// ([`Census::name_hash`]): a served entry ([`CensusBuilder::served`])
    /// holding its name and its ID alone. One probe answers
    /// [`Census::sole_served_holder`] (a group's members are thousands of
    /// them: three probes of three tables each was most of its time).
    decided: Hashed<Decided>,
    /// [`Census::sole_served_holder_of_id`]'s answers, by ID: the names
    /// of the entries noted with [`CensusBuilder::served_named`] that a
    /// lookup of their ID is decided as (one probe: a user in 1,000 groups
    /// asks it of each).
    served_by_id: HashMap<u32, Box<str>, foldhash::fast::RandomState>,
    ids_readable: bool,
    names_comparable: bool,
    entries: usize,
}

/// A lookup of a name the census decides: the served entry's ID and the
/// hash of the exact name it is served under ([`Census::exact_hash`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decided {
    id: u32,
    exact_name: u32,
}

/// Adds entries to a [`Census`].
#[derive(Debug)]
pub struct CensusBuilder {
    census: Census,
    /// Some entry was added twice (see [`CensusBuilder::finish`]).
    listed_again: bool,
    /// The names of the served entries noted with
    /// [`CensusBuilder::served_named`], by DN hash.
    served_names: Hashed<Box<str>>,
}

/// The values one [`CensusBuilder::add`] call has met so far, to tell a
/// value the entry lists twice from one an earlier listing of the entry
/// holds (up to [`Seen::KEPT`] values; past those, a value not among them
/// is taken as met: it never counts as a second listing).
#[derive(Default)]
struct Seen {
    values: [u64; Seen::KEPT],
    len: usize,
}

impl Seen {
    /// Values remembered per call: an entry has one or two names and IDs.
    const KEPT: usize = 8;

    /// True the first time `v` is met in this call (false once more than
    /// [`Seen::KEPT`] values were met: it cannot tell).
    fn first(&mut self, v: u64) -> bool {
        if self.values[..self.len].contains(&v) || self.len == Self::KEPT {
            return false;
        }
        self.values[self.len] = v;
        self.len += 1;
        true
    }
}

impl CensusBuilder {
    /// Notes the entry at `dn` with the values of its name attribute
    /// (`names`) and of its ID attribute (`ids`, as the directory sent
    /// them).
    pub fn add<'a>(
        &mut self,
        dn: &str,
        names: impl IntoIterator<Item = &'a str>,
        ids: impl IntoIterator<Item = &'a str>,
    ) {
        let c = &mut self.census;
        let dn = c.dn_hash(dn);
        c.entries += 1;
        // A name or ID this DN already held before this call: the entry
        // (or one whose DN differs only in case) was listed before.
        let mut seen = Seen::default();
        for n in names {
            let key = c.name_hash(n);
            let first = seen.first(key);
            c.names
                .entry(key)
                .and_modify(|h| {
                    self.listed_again |= first && h.is(dn);
                    h.add(dn)
                })
                .or_insert(Holders::one(dn));
        }
        let mut seen = Seen::default();
        for v in ids {
            let Some(id) = plain_id(v) else {
                c.ids_readable = false;
                continue;
            };
            let first = seen.first(u64::from(id));
            c.ids
                .entry(id)
                .and_modify(|h| {
                    self.listed_again |= first && h.is(dn);
                    h.add(dn)
                })
                .or_insert(Holders::one(dn));
        }
    }

    /// Notes that the entry at `dn` (added with [`CensusBuilder::add`])
    /// is valid for this host and served as `name` with ID `id`: the
    /// answer a lookup of that exact name would give
    /// ([`Census::sole_served_holder`]).
    ///
    /// Only an entry holding that name and ID itself (added before) can
    /// be decided: it is noted while it holds both alone, and
    /// [`CensusBuilder::finish`] keeps it if it still does (a holder only
    /// ever turns into several).
    pub fn served(&mut self, dn: &str, name: &str, id: u32) {
        let c = &mut self.census;
        let dn = c.dn_hash(dn);
        let key = c.name_hash(name);
        let holds_name = c.names.get(&key).is_some_and(|h| h.is(dn));
        if holds_name && c.ids.get(&id).is_some_and(|h| h.is(dn)) {
            let exact_name = c.exact_hash(name, key);
            c.decided.insert(key, Decided { id, exact_name });
        } else if holds_name {
            // The same entry noted before with another ID: not decided.
            c.decided.remove(&key);
        }
    }

    /// [`CensusBuilder::served`], keeping the name too (groups: few, and
    /// their names are wanted, [`Census::sole_served_holder_of_id`]).
    pub fn served_named(&mut self, dn: &str, name: &str, id: u32) {
        self.served(dn, name, id);
        let dn = self.census.dn_hash(dn);
        self.served_names.insert(dn, name.into());
    }

    /// Vouches for no name: the entries come from several search bases,
    /// and a lookup stops at the first base that answers, which a name
    /// the directory's matching finds alike (beyond the census's folding:
    /// Unicode forms, say) could hide the entry in.
    pub fn names_not_comparable(&mut self) {
        self.census.names_comparable = false;
    }

    /// The census of the entries added. When an entry was listed twice
    /// (a server that repeats an entry, or two DNs that differ only in
    /// case), no lookup of a name is decided: which of its listings a
    /// lookup would meet, and the name it would serve, is not known.
    pub fn finish(mut self) -> Census {
        let c = &mut self.census;
        let (names, ids) = (&c.names, &c.ids);
        if self.listed_again {
            c.decided.clear();
        }
        c.decided.retain(|key, d| {
            let holder = names.get(key).and_then(|h| h.sole());
            holder.is_some() && ids.get(&d.id).and_then(|h| h.sole()) == holder
        });
        // An entry decided under two names was listed twice (its names in
        // another order, or renamed with new IDs between the listings):
        // neither is decided. (A list sorted once, not a table by DN kept
        // while building: the census is held for 100,000 users.)
        let holder = |key: &u64| names.get(key).and_then(|h| h.sole());
        let mut dns: Vec<u64> = c.decided.keys().filter_map(holder).collect();
        dns.sort_unstable();
        let twice: Vec<u64> = dns
            .windows(2)
            .filter(|w| w[0] == w[1])
            .map(|w| w[0])
            .collect();
        drop(dns);
        if !twice.is_empty() {
            c.decided
                .retain(|key, _| holder(key).is_some_and(|dn| twice.binary_search(&dn).is_err()));
        }
        // The one holder of an ID served under a name that a lookup is
        // decided as that entry (the only holder of the ID).
        if c.decides_names() {
            for (dn, name) in self.served_names {
                let Some(d) = c.decided.get(&c.name_hash(&name)) else {
                    continue;
                };
                if c.ids.get(&d.id).and_then(|h| h.sole()) == Some(dn) {
                    c.served_by_id.insert(d.id, name);
                }
            }
        }
        c.ids.shrink_to_fit();
        c.names.shrink_to_fit();
        c.decided.shrink_to_fit();
        c.served_by_id.shrink_to_fit();
        self.census
    }
}

/// Bytes of a folded name hashed at once ([`Census::name_hash`]).
const FOLD_BUFFER: usize = 256;

/// True for the ASCII characters `str::split_whitespace` splits at
/// (`char::is_whitespace`: tab to carriage return, and space).
fn is_space(b: u8) -> bool {
    matches!(b, b'\t'..=b'\r' | b' ')
}

/// `v` as an ID when it is a plain decimal number that fits.
fn plain_id(v: &str) -> Option<u32> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

impl Census {
    /// An empty census to fill.
    pub fn builder() -> CensusBuilder {
        CensusBuilder {
            census: Census {
                hasher: RandomState::new(),
                ids: HashMap::default(),
                names: Hashed::default(),
                decided: Hashed::default(),
                served_by_id: HashMap::default(),
                ids_readable: true,
                names_comparable: true,
                entries: 0,
            },
            listed_again: false,
            served_names: Hashed::default(),
        }
    }

    /// The entries counted.
    pub fn entries(&self) -> usize {
        self.entries
    }

    /// False when some ID value could not be read (then no ID is vouched
    /// for).
    pub fn ids_readable(&self) -> bool {
        self.ids_readable
    }

    /// True when [`Census::sole_served_holder`] can decide names: every
    /// ID was read and names are comparable.
    pub fn decides_names(&self) -> bool {
        self.ids_readable && self.names_comparable
    }

    /// False only when no entry holds `name` in any spelling the
    /// directory's matching could confuse with it (a lookup of it finds
    /// nothing); true when one may.
    pub fn may_hold_name(&self, name: &str) -> bool {
        !self.names_comparable || self.names.contains_key(&self.name_hash(name))
    }

    /// True when one entry alone holds `id` (a name decided by
    /// [`Census::sole_served_holder`] is held by such an entry).
    pub fn has_sole_holder_of_id(&self, id: u32) -> bool {
        self.ids_readable && self.ids.get(&id).is_some_and(|h| h.sole().is_some())
    }

    /// True when the entry at `dn` is the only one holding `id`.
    pub fn sole_holder_of_id(&self, id: u32, dn: &str) -> bool {
        self.ids_readable && self.ids.get(&id).is_some_and(|h| h.is(self.dn_hash(dn)))
    }

    /// True when the entry at `dn` is the only one holding `name` (in any
    /// spelling the directory's matching could confuse with it).
    pub fn sole_holder_of_name(&self, name: &str, dn: &str) -> bool {
        self.names_comparable
            && self
                .names
                .get(&self.name_hash(name))
                .is_some_and(|h| h.is(self.dn_hash(dn)))
    }

    /// The ID of the account a lookup of the exact `name` is answered
    /// with, when the census decides it alone: one entry holds `name` (in
    /// any spelling the directory could confuse with it), it is valid for
    /// this host and served under exactly `name` (noted with
    /// [`CensusBuilder::served`]), and it is the only holder of its ID.
    /// The lookup by name and the check of its ID would then both answer
    /// that entry.
    pub fn sole_served_holder(&self, name: &str) -> Option<u32> {
        if !self.decides_names() {
            return None;
        }
        self.decided_id(self.served_key(name))
    }

    /// [`Census::sole_served_holder`] of each of `names`, in order: the
    /// names hashed first, then the table probed for all of them (the
    /// probes, independent of one another, then overlap their misses: a
    /// group's thousands of members meet a table not in the CPU's caches).
    pub fn sole_served_holders<'a>(
        &self,
        names: impl Iterator<Item = &'a str>,
    ) -> Vec<Option<u32>> {
        if !self.decides_names() {
            return names.map(|_| None).collect();
        }
        let keys: Vec<(u64, u32)> = names.map(|name| self.served_key(name)).collect();
        keys.into_iter().map(|k| self.decided_id(k)).collect()
    }

    /// What the table of decided lookups is probed with for `name`: its
    /// folded name's hash ([`Census::name_hash`]) and its exact name's
    /// ([`Census::exact_hash`]).
    fn served_key(&self, name: &str) -> (u64, u32) {
        let (key, folded) = self.name_hash_folded(name);
        let exact = if folded {
            (key >> 32) as u32
        } else {
            self.exact_hash(name, key)
        };
        (key, exact)
    }

    /// The ID of the lookup decided under `(key, exact)`
    /// ([`Census::served_key`]), if one is.
    fn decided_id(&self, (key, exact): (u64, u32)) -> Option<u32> {
        let d = self.decided.get(&key)?;
        (d.exact_name == exact).then_some(d.id)
    }

    /// The name of the entry a lookup of `id` is answered with, when the
    /// census decides it alone: one entry holds `id`, it is valid for this
    /// host and served with that ID under a name (noted with
    /// [`CensusBuilder::served_named`]) no other entry holds. The lookup by
    /// ID and the check of its name would then both answer that entry.
    pub fn sole_served_holder_of_id(&self, id: u32) -> Option<&str> {
        // (Made by `CensusBuilder::finish`.)
        self.served_by_id.get(&id).map(|name| &**name)
    }

    /// The ID whose [`Census::sole_served_holder_of_id`] is exactly
    /// `name`, if one is: at most one, the ID a lookup of `name` is
    /// decided with.
    pub fn served_id_of_name(&self, name: &str) -> Option<u32> {
        // (Each ID of `served_by_id` is the one its name is decided with.)
        let d = self.decided.get(&self.name_hash(name))?;
        (self.sole_served_holder_of_id(d.id) == Some(name)).then_some(d.id)
    }

    /// DNs are compared as the ownership checks compare them: ignoring
    /// ASCII case. (Never [`SEVERAL`]: that one hash is moved next to it.)
    fn dn_hash(&self, dn: &str) -> u64 {
        // The hash of the DN in lower case, made a buffer at a time
        // without building that string (one per entry listed and per
        // check): the same bytes written as a `str` is (its bytes, then
        // 0xff).
        let mut h = self.hasher.build_hasher();
        let mut buf = [0u8; FOLD_BUFFER];
        for chunk in dn.as_bytes().chunks(FOLD_BUFFER) {
            let lower = &mut buf[..chunk.len()];
            for (l, b) in lower.iter_mut().zip(chunk) {
                *l = b.to_ascii_lowercase();
            }
            h.write(lower);
        }
        h.write_u8(0xff);
        h.finish().min(SEVERAL - 1)
    }

    /// The exact name an entry is served under, as kept in [`Decided`]: 32
    /// bits of its hash. (A collision could only make a member spelled
    /// otherwise than the entry's name look served; a lookup of that
    /// spelling finds no entry, and such a member is kept as it is too.)
    /// A name already folded (plain lower-case ASCII, nearly every one) is
    /// its folded form, whose hash `name_hash` is: its other 32 bits serve,
    /// instead of hashing the name once more. A name spelled otherwise
    /// gets 32 bits of its own hash, as unrelated to those as before.
    fn exact_hash(&self, name: &str, name_hash: u64) -> u32 {
        let folded = name.len() <= FOLD_BUFFER
            && name
                .bytes()
                .all(|b| b.is_ascii() && !b.is_ascii_uppercase() && !is_space(b));
        if folded {
            (name_hash >> 32) as u32
        } else {
            self.hasher.hash_one(name) as u32
        }
    }

    /// Names are folded: lower case (a final sigma as any sigma), spaces
    /// at the ends dropped and runs of inner spaces made one. Hashed as
    /// folded (its UTF-8, a prefix-free code: one byte string per folded
    /// name), without building the folded name.
    fn name_hash(&self, name: &str) -> u64 {
        self.name_hash_folded(name).0
    }

    /// [`Census::name_hash`], and whether `name` is its folded form
    /// already (what [`Census::exact_hash`] asks, seen in the same pass).
    fn name_hash_folded(&self, name: &str) -> (u64, bool) {
        let mut h = self.hasher.build_hasher();
        let mut buf = [0u8; FOLD_BUFFER];
        let bytes = name.as_bytes();
        // Nearly every name is ASCII without white space: folded, it is
        // its bytes in lower case (what the general way below gives it,
        // at a fraction of the cost).
        if bytes.len() <= buf.len() && bytes.iter().all(|&b| b.is_ascii() && !is_space(b)) {
            let folded = &mut buf[..bytes.len()];
            for (f, b) in folded.iter_mut().zip(bytes) {
                *f = b.to_ascii_lowercase();
            }
            h.write(folded);
            return (h.finish(), *folded == *bytes);
        }
        // The folded characters go to the hasher a buffer at a time (the
        // hash of the concatenation, in far fewer calls).
        let mut len = 0;
        let mut put = |h: &mut std::hash::DefaultHasher, c: char| {
            if len + 4 > buf.len() {
                h.write(&buf[..len]);
                len = 0;
            }
            len += c.encode_utf8(&mut buf[len..]).len();
        };
        for (k, word) in name.split_whitespace().enumerate() {
            if k > 0 {
                put(&mut h, ' ');
            }
            for c in word.chars().flat_map(char::to_lowercase) {
                put(&mut h, if c == 'ς' { 'σ' } else { c });
            }
        }
        h.write(&buf[..len]);
        (h.finish(), false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn census(entries: &[(&str, &[&str], &[&str])]) -> Census {
        let mut b = Census::builder();
        for (dn, names, ids) in entries {
            b.add(dn, names.iter().copied(), ids.iter().copied());
        }
        b.finish()
    }

    #[test]
    fn an_entry_alone_with_its_name_and_id_is_vouched_for() {
        let c = census(&[
            ("uid=alice,ou=people,dc=ex", &["alice"], &["1000"]),
            ("uid=bob,ou=people,dc=ex", &["bob"], &["1001"]),
        ]);
        assert_eq!(c.entries(), 2);
        assert!(c.sole_holder_of_id(1000, "UID=Alice,ou=people,dc=ex"));
        assert!(c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_id(1000, "uid=bob,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_name("alice", "uid=bob,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_id(1002, "uid=alice,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_name("carol", "uid=alice,ou=people,dc=ex"));
    }

    #[test]
    fn a_shared_id_or_name_is_vouched_for_nobody() {
        let c = census(&[
            ("uid=alice,ou=people,dc=ex", &["alice"], &["1000"]),
            ("uid=eve,ou=people,dc=ex", &["eve", "alice"], &["1000"]),
        ]);
        assert!(!c.sole_holder_of_id(1000, "uid=alice,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_id(1000, "uid=eve,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
        assert!(c.sole_holder_of_name("eve", "uid=eve,ou=people,dc=ex"));
    }

    #[test]
    fn names_the_directory_may_match_alike_count_as_one() {
        let c = census(&[
            ("uid=alice,ou=people,dc=ex", &["alice"], &["1000"]),
            ("uid=alice2,ou=people,dc=ex", &["  ALICE "], &["1001"]),
            ("uid=ab,ou=people,dc=ex", &["a b"], &["1002"]),
            ("uid=ab2,ou=people,dc=ex", &["A   b"], &["1003"]),
        ]);
        assert!(!c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
        assert!(!c.sole_holder_of_name("a b", "uid=ab,ou=people,dc=ex"));
    }

    #[test]
    fn plain_ascii_names_fold_as_the_general_way_folds_them() {
        // The first of each pair is folded the quick way (ASCII, no white
        // space), the second the general way (white space, or not ASCII:
        // the Kelvin sign folds to an ASCII k).
        for (quick, general) in [
            ("alice", " ALICE"),
            ("a", "A\u{0B}"),
            ("x", "\tX\r\n"),
            ("kelvin", "\u{212A}ELVIN"),
        ] {
            let c = census(&[
                ("uid=q,ou=people,dc=ex", &[quick], &["1000"]),
                ("uid=g,ou=people,dc=ex", &[general], &["1001"]),
            ]);
            assert!(
                !c.sole_holder_of_name(quick, "uid=q,ou=people,dc=ex"),
                "{quick:?} {general:?}"
            );
            assert!(c.may_hold_name(&quick.to_uppercase()));
        }
        // A long name: the buffer is written in parts, the same hash.
        let long = "x".repeat(3 * FOLD_BUFFER + 1);
        let c = census(&[("uid=l,ou=people,dc=ex", &[long.as_str()], &["1"])]);
        assert!(c.may_hold_name(&format!(" {}", long.to_uppercase())));
        assert!(!c.may_hold_name(&long[1..]));
    }

    #[test]
    fn one_entry_listed_twice_or_with_a_value_twice_is_still_alone() {
        let c = census(&[
            ("uid=alice,ou=people,dc=ex", &["alice", "alice"], &["1000"]),
            ("UID=alice,ou=people,dc=ex", &["alice"], &["1000", "1000"]),
        ]);
        assert!(c.sole_holder_of_id(1000, "uid=alice,ou=people,dc=ex"));
        assert!(c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
    }

    #[test]
    fn names_of_several_search_bases_are_vouched_for_by_none() {
        let mut b = Census::builder();
        b.add("uid=alice,ou=people,dc=ex", ["alice"], ["1000"]);
        b.names_not_comparable();
        let c = b.finish();
        assert!(!c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
        assert!(c.sole_holder_of_id(1000, "uid=alice,ou=people,dc=ex"));
    }

    #[test]
    fn an_id_value_that_is_not_a_plain_number_stops_every_id_vouching() {
        for odd in ["+1001", " 1001", "1e3", "", "4294967296", "-1"] {
            let c = census(&[
                ("uid=alice,ou=people,dc=ex", &["alice"], &["1000"]),
                ("uid=odd,ou=people,dc=ex", &["odd"], &[odd]),
            ]);
            assert!(!c.ids_readable(), "{odd:?}");
            assert!(!c.sole_holder_of_id(1000, "uid=alice,ou=people,dc=ex"));
            assert!(c.sole_holder_of_name("alice", "uid=alice,ou=people,dc=ex"));
        }
        // Leading zeros are a number the integer matching reads alike.
        let c = census(&[
            ("uid=alice,ou=people,dc=ex", &["alice"], &["1000"]),
            ("uid=z,ou=people,dc=ex", &["z"], &["01000"]),
        ]);
        assert!(!c.sole_holder_of_id(1000, "uid=alice,ou=people,dc=ex"));
    }

    #[test]
    fn a_served_entry_alone_with_its_name_and_id_decides_a_lookup_of_its_name() {
        let mut b = Census::builder();
        b.add("uid=alice,ou=people,dc=ex", ["alice"], ["1000"]);
        b.served("uid=alice,ou=people,dc=ex", "alice", 1000);
        // Valid, but shares its UID with a broken entry.
        b.add("uid=bob,ou=people,dc=ex", ["bob"], ["1001"]);
        b.served("uid=bob,ou=people,dc=ex", "bob", 1001);
        b.add("uid=broken,ou=people,dc=ex", ["broken"], ["1001"]);
        // Served under its first name only.
        b.add("uid=carol,ou=people,dc=ex", ["carol", "caro"], ["1002"]);
        b.served("uid=carol,ou=people,dc=ex", "carol", 1002);
        // Not valid for this host.
        b.add("uid=dave,ou=people,dc=ex", ["dave"], ["1003"]);
        // Shares a name (in another spelling) with another entry.
        b.add("uid=erin,ou=people,dc=ex", ["erin"], ["1004"]);
        b.served("uid=erin,ou=people,dc=ex", "erin", 1004);
        b.add("uid=erin2,ou=people,dc=ex", ["Erin"], ["1005"]);
        // Served under a name and ID it does not hold, which another
        // entry holds alone (a lookup of the name finds that entry).
        b.add("uid=frank,ou=people,dc=ex", ["frank"], ["1006"]);
        b.add("uid=odd,ou=people,dc=ex", ["fred"], ["1007"]);
        b.served("uid=frank,ou=people,dc=ex", "fred", 1007);
        // Noted a second time with an ID it does not hold.
        b.add("uid=gus,ou=people,dc=ex", ["gus"], ["1008"]);
        b.served("uid=gus,ou=people,dc=ex", "gus", 1008);
        b.served("uid=gus,ou=people,dc=ex", "gus", 1010);
        // Served under a name in capitals: only that spelling is decided
        // (its exact hash is its own, not the folded name's).
        b.add("uid=hank,ou=people,dc=ex", ["Hank"], ["1011"]);
        b.served("uid=hank,ou=people,dc=ex", "Hank", 1011);
        let c = b.finish();
        let expected = [
            ("Hank", Some(1011)),
            ("hank", None),
            ("HANK", None),
            ("alice", Some(1000)),
            ("Alice", None),
            ("bob", None),
            ("carol", Some(1002)),
            ("caro", None),
            ("dave", None),
            ("erin", None),
            ("nobody", None),
            ("fred", None),
            ("frank", None),
            ("gus", None),
        ];
        for (name, uid) in expected {
            assert_eq!(c.sole_served_holder(name), uid, "{name}");
        }
        // Asked of many names at once: the same answers, in order.
        let names = expected.iter().map(|(name, _)| *name);
        let uids: Vec<Option<u32>> = expected.iter().map(|(_, uid)| *uid).collect();
        assert_eq!(c.sole_served_holders(names), uids);
        // A census that decides no name decides none of them either.
        let mut b = Census::builder();
        b.add("uid=alice,ou=people,dc=ex", ["alice"], ["1000"]);
        b.served("uid=alice,ou=people,dc=ex", "alice", 1000);
        b.names_not_comparable();
        let c = b.finish();
        assert_eq!(
            c.sole_served_holders(["alice", "bob"].into_iter()),
            [None, None]
        );
    }

    #[test]
    fn a_dn_hash_is_the_hash_of_the_dn_in_lower_case() {
        let c = Census::builder().finish();
        let long = format!("uid=X,{}", "OU=Ünits,".repeat(2 * FOLD_BUFFER / 9));
        for dn in [
            "",
            "uid=Alice,OU=People,DC=Ex",
            "cn=Ärger,dc=ex",
            long.as_str(),
        ] {
            let built = c.hasher.hash_one(dn.to_ascii_lowercase()).min(SEVERAL - 1);
            assert_eq!(c.dn_hash(dn), built, "{dn}");
        }
        assert_eq!(c.dn_hash("UID=A,DC=EX"), c.dn_hash("uid=a,dc=ex"));
    }

    #[test]
    fn an_entry_listed_twice_decides_no_lookup_of_a_name() {
        // Listed twice with its names in another order, served under the
        // first each time.
        let mut b = Census::builder();
        b.add("uid=c,dc=ex", ["carol", "caro"], ["1002"]);
        b.served("uid=c,dc=ex", "carol", 1002);
        b.add("uid=c,dc=ex", ["caro", "carol"], ["1002"]);
        b.served("uid=c,dc=ex", "caro", 1002);
        b.add("uid=d,dc=ex", ["dave"], ["1003"]);
        b.served("uid=d,dc=ex", "dave", 1003);
        let c = b.finish();
        assert_eq!(c.sole_served_holder("carol"), None);
        assert_eq!(c.sole_served_holder("caro"), None);
        assert_eq!(c.sole_served_holder("dave"), None);
        // Renamed between its two listings (its UID the same), the second
        // DN differing in case only.
        let mut b = Census::builder();
        b.add("uid=c,dc=ex", ["alice"], ["1000"]);
        b.served("uid=c,dc=ex", "alice", 1000);
        b.add("uid=x,dc=ex", ["al"], ["1001"]);
        b.add("UID=C,dc=ex", ["al"], ["1000"]);
        b.served("UID=C,dc=ex", "al", 1000);
        let c = b.finish();
        assert_eq!(c.sole_served_holder("alice"), None);
        assert_eq!(c.sole_served_holder("al"), None);
        // Renamed with a new UID between its two listings: no value of the
        // second was held before, yet it is served under two names.
        let mut b = Census::builder();
        b.add("uid=c,dc=ex", ["alice"], ["1000"]);
        b.served("uid=c,dc=ex", "alice", 1000);
        b.add("uid=c,dc=ex", ["alicia"], ["1001"]);
        b.served("uid=c,dc=ex", "alicia", 1001);
        b.add("uid=d,dc=ex", ["dave"], ["1003"]);
        b.served("uid=d,dc=ex", "dave", 1003);
        let c = b.finish();
        assert_eq!(c.sole_served_holder("alice"), None);
        assert_eq!(c.sole_served_holder("alicia"), None);
        assert_eq!(c.sole_served_holder("dave"), Some(1003));
        // A value an entry lists twice is not a second listing, past the
        // values the check remembers too.
        let mut b = Census::builder();
        b.add("uid=e,dc=ex", ["erin", "erin"], ["1004", "1004"]);
        b.served("uid=e,dc=ex", "erin", 1004);
        let many: Vec<String> = (0..10).map(|k| format!("alias{k}")).collect();
        let mut names: Vec<&str> = many.iter().map(String::as_str).collect();
        names.extend(["ALIAS9", "zed"]);
        b.add("uid=z,dc=ex", names, ["1005"]);
        b.served("uid=z,dc=ex", "zed", 1005);
        let c = b.finish();
        assert_eq!(c.sole_served_holder("erin"), Some(1004));
        assert_eq!(c.sole_served_holder("zed"), Some(1005));
    }

    #[test]
    fn no_lookup_is_decided_when_names_or_ids_cannot_be_compared() {
        let mut b = Census::builder();
        b.add("uid=alice,ou=people,dc=ex", ["alice"], ["1000"]);
        b.served("uid=alice,ou=people,dc=ex", "alice", 1000);
        b.names_not_comparable();
        assert_eq!(b.finish().sole_served_holder("alice"), None);
        let mut b = Census::builder();
        b.add("uid=alice,ou=people,dc=ex", ["alice"], ["1000"]);
        b.served("uid=alice,ou=people,dc=ex", "alice", 1000);
        b.add("uid=odd,ou=people,dc=ex", ["odd"], ["+7"]);
        assert_eq!(b.finish().sole_served_holder("alice"), None);
    }

    #[test]
    fn a_served_group_alone_with_its_id_and_name_decides_a_lookup_of_its_id() {
        let mut b = Census::builder();
        b.add("cn=staff,ou=groups,dc=ex", ["staff"], ["2000"]);
        b.served_named("cn=staff,ou=groups,dc=ex", "staff", 2000);
        // Served with its first GID only.
        b.add("cn=two,ou=groups,dc=ex", ["two"], ["2001", "2002"]);
        b.served_named("cn=two,ou=groups,dc=ex", "two", 2001);
        // Its name is another entry's too (in another spelling).
        b.add("cn=ops,ou=groups,dc=ex", ["ops"], ["2003"]);
        b.served_named("cn=ops,ou=groups,dc=ex", "ops", 2003);
        b.add("cn=ops2,ou=groups,dc=ex", ["OPS "], ["2004"]);
        // Its GID is a broken entry's too.
        b.add("cn=dev,ou=groups,dc=ex", ["dev"], ["2005"]);
        b.served_named("cn=dev,ou=groups,dc=ex", "dev", 2005);
        b.add("cn=broken,ou=groups,dc=ex", ["broken"], ["2005"]);
        // Not valid for this host.
        b.add("cn=bad,ou=groups,dc=ex", ["bad"], ["2006"]);
        let c = b.finish();
        assert_eq!(c.sole_served_holder_of_id(2000), Some("staff"));
        assert_eq!(c.sole_served_holder_of_id(2001), Some("two"));
        assert_eq!(c.sole_served_holder_of_id(2002), None);
        assert_eq!(c.sole_served_holder_of_id(2003), None);
        assert_eq!(c.sole_served_holder_of_id(2005), None);
        assert_eq!(c.sole_served_holder_of_id(2006), None);
        assert_eq!(c.sole_served_holder_of_id(2007), None);
    }

    #[test]
    fn a_final_sigma_folds_as_any_sigma() {
        let c = census(&[
            ("uid=a,ou=people,dc=ex", &["ΑΣ"], &["1000"]),
            ("uid=b,ou=people,dc=ex", &["ας"], &["1001"]),
        ]);
        assert!(!c.sole_holder_of_name("ασ", "uid=a,ou=people,dc=ex"));
    }
}
