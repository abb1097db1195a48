//! Decided answers: what a group lookup or an initgroups answered once the
//! ownership rules of [`super::owner`] were applied, kept so that the same
//! question asked again costs one map probe instead of all the checks
//! again (a user in 1,000 groups: some 3,000 cache probes; a group of
//! 5,000 members: some 10,000). Only decisions that looked at
//! [`MIN_PROBES`] answers or more are kept, and no user: deciding those
//! again takes a few probes, and keeping them would add to every cached
//! user and small group what the answers cache already holds.
//!
//! A decision is reused only while what it rests on is unchanged: until
//! the first of the domains' answers and censuses it rests on is
//! refreshed or expires ([`Ctx::rests_on`]; a member the census decides
//! rests on the census, not on cached answers that agree with it), while the local account files are the versions it
//! was decided under, and until a flush or a reload drops every decision.
//! Answers from offline data and "not found" are not kept.
//!
//! Beside them, reused under the same conditions (whatever they cost),
//! the entries the work after the answers has checked
//! ([`super::record_later`]: census-decided GIDs and members, checked
//! again so that their answers are cached and stored): while what such a
//! check rested on holds, checking it again would ask nothing and record
//! nothing, so later lookups that leave the same entries (the users of
//! the same 1,000 groups, the first lookups of groups of the same 5,000
//! members) leave nothing to record. (An answer the LRU evicts meanwhile
//! is then not cached again until the check no longer holds; the store
//! keeps it.)
//!
//! A decision or a check made in a lookup's context made before a flush
//! or a reload is not kept: the flushes and reloads clear the decisions
//! once they dropped what they drop, and count each clear
//! ([`Decisions::clears`]), which a context notes when it is made (a
//! getgrgid that waits for a batch being recorded makes its context
//! after the wait, so a flush during that wait comes before its
//! decision). This is about what was decided, not how new the
//! directory's answers are: an answer the server made before a change
//! and sent after a flush is cached as any other, for its time to live.

use super::owner::Ctx;
use crate::cache::{Key, MemCache, Value};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The fewest domain answers a decision must rest on to be kept.
pub(super) const MIN_PROBES: usize = 16;

/// One decided answer.
#[derive(Clone)]
struct Decision {
    value: Value,
    /// Fresh until (ms since the epoch), as the lookup answered it.
    until: u64,
    /// Reused until (ms since the epoch).
    reuse_until: u64,
    /// The versions of the local account files it was decided under.
    local: (u64, u64),
}

/// An entry of a domain (by name) that the work after the answers
/// checked.
#[derive(Clone, PartialEq, Eq, Hash)]
pub(super) enum Checked {
    /// A group, by GID.
    Gid(Arc<str>, u32),
    /// A member, by its short name as its groups spell it.
    Member(Arc<str>, String),
}

impl Checked {
    /// The GID, when a group's.
    pub(super) fn gid(self) -> Option<u32> {
        match self {
            Checked::Gid(_, g) => Some(g),
            Checked::Member(..) => None,
        }
    }

    /// The short name, when a member's.
    pub(super) fn member(self) -> Option<String> {
        match self {
            Checked::Member(_, m) => Some(m),
            Checked::Gid(..) => None,
        }
    }
}

/// Until when a check of [`Checked`] holds.
#[derive(Clone)]
struct CheckHeld {
    /// Until (ms since the epoch): the first refresh or expiry of what it
    /// rested on.
    reuse_until: u64,
    /// The versions of the local account files it was made under.
    local: (u64, u64),
}

/// The decided answers, per question, and the entries checked after the
/// answers, each bounded like the answers cache.
pub(super) struct Decisions {
    /// The decided answers.
    map: MemCache<Key, Decision>,
    /// The entries checked after the answers: groups and member names
    /// the directory lists, never a name a client asked, so placed with
    /// foldhash as the other member-name sets (SipHash was about 2% of
    /// the instructions of a 1,000-group user's first initgroups and the
    /// work after it).
    checked: MemCache<Checked, CheckHeld, (), foldhash::fast::RandomState>,
    /// How many times both were cleared ([`Decisions::clears`]).
    clears: AtomicU64,
}

impl Decisions {
    /// At most `max_entries` decisions.
    pub(super) fn new(max_entries: usize) -> Self {
        Decisions {
            map: MemCache::new(max_entries),
            checked: MemCache::new(max_entries),
            clears: AtomicU64::new(0),
        }
    }

    /// How many times the decisions were cleared so far: read when a
    /// lookup's context is made, before its domains ([`Ctx::clears`]).
    pub(super) fn clears(&self) -> u64 {
        self.clears.load(Ordering::SeqCst)
    }

    /// The decided answer to `question`, until when it is fresh, and the
    /// local account versions it was decided under, when it may still be
    /// reused at `now` (under those versions only).
    pub(super) fn get(&self, question: &Key, now: u64) -> Option<(Value, u64, (u64, u64))> {
        let d = self.map.get(question)?;
        (now < d.reuse_until).then_some((d.value, d.until, d.local))
    }

    /// Keeps `value`, the answer of the lookup `cx` to `question`, when it
    /// may be reused after `now` and cost [`MIN_PROBES`] or more, and the
    /// decisions were not cleared since `cx` was made (a flush or a
    /// reload the lookup may have read across: [`Ctx::clears`]).
    pub(super) fn keep(&self, question: Key, value: Value, cx: &Ctx, now: u64, local: (u64, u64)) {
        if cx.probes < MIN_PROBES || cx.offline || cx.until == 0 || cx.reuse_until <= now {
            self.map.remove(&question);
            return;
        }
        let d = Decision {
            value,
            until: cx.until,
            reuse_until: cx.reuse_until.min(cx.until),
            local,
        };
        // (Compared under the lock: a clear counts, then takes the lock to
        // drop what was kept, so either this sees its count or the clear
        // drops what this keeps.)
        let mut map = self.map.locked();
        if self.clears() == cx.clears {
            map.insert(question, d);
        }
    }

    /// Keeps `entries`, checked after the answers by the work of context
    /// `cx` under local account versions `local`, as checked until what
    /// the checks rested on is refreshed or expires: not when any of it
    /// came from offline data, nor when the decisions were cleared since
    /// `cx` was made (as [`Decisions::keep`]).
    pub(super) fn keep_checked(
        &self,
        entries: impl IntoIterator<Item = Checked>,
        cx: &Ctx,
        now: u64,
        local: (u64, u64),
    ) {
        let reuse_until = cx.reuse_until.min(cx.until);
        if cx.offline || cx.until == 0 || reuse_until <= now {
            return;
        }
        let held = CheckHeld { reuse_until, local };
        // (Under the lock, as in `keep`.)
        let mut checked = self.checked.locked();
        if self.clears() != cx.clears {
            return;
        }
        for e in entries {
            checked.insert(e, held.clone());
        }
    }

    /// Those of `entries` that no check still holds for at `now` under
    /// local account versions `local` (the cache locked once).
    pub(super) fn not_checked(
        &self,
        entries: Vec<Checked>,
        now: u64,
        local: (u64, u64),
    ) -> Vec<Checked> {
        let checked = self.checked.locked();
        if checked.is_empty() {
            return entries;
        }
        entries
            .into_iter()
            .filter(|e| {
                !checked
                    .peek(e)
                    .is_some_and(|h| now < h.reuse_until && h.local == local)
            })
            .collect()
    }

    /// Drops every decision and check (a flush, a reload, a changed
    /// answer).
    pub(super) fn clear(&self) {
        self.clears.fetch_add(1, Ordering::SeqCst);
        self.map.clear();
        self.checked.clear();
    }

    /// Changes the bound.
    pub(super) fn resize(&self, max_entries: usize) {
        self.map.resize(max_entries);
        self.checked.resize(max_entries);
    }
}
