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
//! Beside them, under the same rules, the entries the work after the
//! answers has checked ([`super::record_later`]: census-decided GIDs and
//! members, checked again so that their answers are cached and stored):
//! while what such a check rested on holds, checking it again would ask
//! nothing and record nothing, so later lookups that leave the same
//! entries (the users of the same 1,000 groups, the first lookups of
//! groups of the same 5,000 members) leave nothing to record.

use super::owner::Ctx;
use crate::cache::{Key, MemCache, Value};
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
    map: MemCache<Key, Decision>,
    checked: MemCache<Checked, CheckHeld>,
}

impl Decisions {
    /// At most `max_entries` decisions.
    pub(super) fn new(max_entries: usize) -> Self {
        Decisions {
            map: MemCache::new(max_entries),
            checked: MemCache::new(max_entries),
        }
    }

    /// The decided answer to `question` and until when it is fresh, when
    /// it may still be reused at `now` under local account versions
    /// `local`.
    pub(super) fn get(&self, question: &Key, now: u64, local: (u64, u64)) -> Option<(Value, u64)> {
        let d = self.map.get(question)?;
        (now < d.reuse_until && d.local == local).then_some((d.value, d.until))
    }

    /// Keeps `value`, the answer of the lookup `cx` to `question`, when it
    /// may be reused after `now` and cost [`MIN_PROBES`] or more.
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
        self.map.insert(question, d);
    }

    /// Keeps `entries`, checked after the answers by the work of context
    /// `cx` under local account versions `local`, as checked until what
    /// the checks rested on is refreshed or expires (not when any of it
    /// came from offline data).
    pub(super) fn keep_checked(
        &self,
        entries: impl IntoIterator<Item = Checked>,
        cx: &Ctx,
        now: u64,
        local: (u64, u64),
    ) {
        if cx.offline || cx.until == 0 || cx.reuse_until.min(cx.until) <= now {
            return;
        }
        let held = CheckHeld {
            reuse_until: cx.reuse_until.min(cx.until),
            local,
        };
        for e in entries {
            self.checked.insert(e, held.clone());
        }
    }

    /// Keeps those of `entries` that no check still holds for at `now`
    /// under local account versions `local` (the cache locked once).
    pub(super) fn not_checked<T>(
        &self,
        entries: Vec<T>,
        as_checked: impl Fn(&T) -> Checked,
        now: u64,
        local: (u64, u64),
    ) -> Vec<T> {
        let checked = self.checked.locked();
        entries
            .into_iter()
            .filter(|e| {
                !checked
                    .peek(&as_checked(e))
                    .is_some_and(|h| now < h.reuse_until && h.local == local)
            })
            .collect()
    }

    /// Drops every decision and check (a flush, a reload, a changed
    /// answer).
    pub(super) fn clear(&self) {
        self.map.clear();
        self.checked.clear();
    }

    /// Changes the bound.
    pub(super) fn resize(&self, max_entries: usize) {
        self.map.resize(max_entries);
        self.checked.resize(max_entries);
    }
}
