//! What lookups leave to be recorded after their answers: the members
//! and GIDs a census decided without a search
//! ([`Resolver::record_members_later`], [`Resolver::record_gids_later`]).
//! Each is kept once per domain (a member by its short name, as the
//! group spells it), however many lookups left it, and one task records
//! them a batch at a time, paced ([`Resolver::paced`]). A burst of first
//! lookups of big groups that share their members thus holds each member
//! once (at most the distinct member names the domain's groups list)
//! instead of one list per lookup, each waiting to run with its
//! group entry kept alive.

use super::decided::Checked;
use super::enumerate::{Pace, PACE_ITEMS};
use super::fetch::BATCH;
use super::owner::{member_base, Ctx, Members};
use super::{Provider, Resolver};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// What one lookup left to record, as the lookup holds it (nothing
/// copied on the answer's path) until its answer is sent.
struct Left {
    /// The domains the lookup began with: what a lookup of another
    /// generation (begun before a reload) left is dropped.
    generation: Arc<Vec<Arc<dyn Provider>>>,
    /// The domain, by name.
    domain: Arc<str>,
    /// The versions of the local account files the lookup judged by.
    local: (u64, u64),
    /// Its entries to record.
    what: LeftKind,
}

/// The entries a lookup left to record.
pub(super) enum LeftKind {
    /// Members `decided` (indices into `members`).
    Members {
        members: Members,
        decided: Vec<usize>,
    },
    /// GIDs of the domain's groups.
    Gids(Vec<u32>),
}

/// What one GID's check ([`Resolver::gid_served_by`]: the domains
/// walked, the owner checks) counts as in [`Pace`]'s items: the runtime's
/// thread is given back every 16 GIDs. A batch of 200 checked in one go
/// held it 1.6–2.5 ms (its answers all cached, no check waits), and a
/// lookup that came meanwhile waited for it.
const GID_CHECK_ITEMS: usize = PACE_ITEMS / 16;

/// Members' short names, as their groups spell them (chosen by the
/// directory, placed with foldhash as the other member-name sets).
type Names = HashSet<String, foldhash::fast::RandomState>;

/// What is left to record, and whether its task runs.
#[derive(Default)]
pub(super) struct ToRecord {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Left by lookups whose answers are not sent yet.
    staged: Vec<Left>,
    /// Member names to record, by domain; a domain with none has no set.
    members: HashMap<Arc<str>, Names>,
    /// GIDs to record, by domain; a domain with none has no set.
    gids: HashMap<Arc<str>, HashSet<u32>>,
    /// The task recording them runs.
    draining: bool,
    /// Batches taken so far (which kind and domain is next).
    taken: usize,
    /// The batch being recorded: its domain and size (for the status).
    in_flight: Option<(Arc<str>, usize)>,
    /// The batches lookups asked for at once, while they are recorded:
    /// a lookup of one of their GIDs waits for its batch (their sizes
    /// counted in the status).
    now_batches: Vec<NowBatch>,
    /// The number the next of [`State::now_batches`] gets.
    next_now_batch: u64,
    /// By domain, what was taken from `staged` and is not yet added to
    /// the sets (for the status; [`Merging`]).
    merging: HashMap<Arc<str>, usize>,
}

impl LeftKind {
    /// How many entries: the members decided, or the GIDs.
    fn len(&self) -> usize {
        match self {
            LeftKind::Members { decided, .. } => decided.len(),
            LeftKind::Gids(gids) => gids.len(),
        }
    }
}

/// What one task adding staged lists to the sets has still to add, by
/// domain: counted in [`State::merging`] until added, and let go of there
/// when the task ends early (a reload, a panic).
struct Merging {
    to_record: Resolver,
    left: HashMap<Arc<str>, usize>,
}

impl Merging {
    /// Counts `n` of `domain`'s as added (under the lock, `state`).
    fn added(&mut self, state: &mut State, domain: &Arc<str>, n: usize) {
        if let Some(left) = self.left.get_mut(domain) {
            *left -= n.min(*left);
        }
        State::uncount(&mut state.merging, domain, n);
    }
}

impl Drop for Merging {
    fn drop(&mut self) {
        let mut state = self.to_record.inner.to_record.lock();
        for (domain, n) in self.left.drain() {
            State::uncount(&mut state.merging, &domain, n);
        }
    }
}

/// A batch a lookup asked for at once ([`Resolver::record_gid_now`]),
/// while it is recorded.
struct NowBatch {
    /// Its number, to find it again once recorded.
    id: u64,
    /// Its domain, and its GIDs but the one whose lookup asked for it
    /// (a second lookup of that GID is asked alone too, not held by the
    /// batch; the batch always holds it: [`take_near`]).
    domain: Arc<str>,
    gids: HashSet<u32>,
    /// Ends (its sender dropped) once the batch is recorded or dropped.
    done: tokio::sync::watch::Receiver<()>,
}

/// One batch taken to be recorded.
enum Batch {
    Members(Arc<str>, Vec<String>),
    Gids(Arc<str>, Vec<u32>),
}

impl State {
    /// Takes up to [`BATCH`] member names of one domain or GIDs of one
    /// domain, the kinds and domains taken in turn; `None` when nothing
    /// is left.
    fn take_batch(&mut self) -> Option<Batch> {
        self.taken = self.taken.wrapping_add(1);
        let gids_first = self.taken & 1 == 0;
        let n = self.taken >> 1;
        if gids_first || self.members.is_empty() {
            if let Some(domain) = nth_key(&self.gids, n) {
                let gids = take_some(&mut self.gids, &domain);
                self.in_flight = Some((domain.clone(), gids.len()));
                return Some(Batch::Gids(domain, gids));
            }
        }
        let domain = nth_key(&self.members, n)?;
        let names = take_some(&mut self.members, &domain);
        self.in_flight = Some((domain.clone(), names.len()));
        Some(Batch::Members(domain, names))
    }

    /// True when no member name or GID is left to take.
    fn nothing_left(&self) -> bool {
        self.members.is_empty() && self.gids.is_empty()
    }

    /// Takes `n` off `domain`'s count in `counts`, dropping it at 0.
    fn uncount(counts: &mut HashMap<Arc<str>, usize>, domain: &Arc<str>, n: usize) {
        if let Some(c) = counts.get_mut(domain) {
            *c -= n.min(*c);
            if *c == 0 {
                counts.remove(domain);
            }
        }
    }

    /// Drops what is left of `domain`'s `kind`; how many that was.
    fn drop_left(&mut self, domain: &str, kind: Kind) -> usize {
        match kind {
            Kind::Members => self.members.remove(domain).map_or(0, |s| s.len()),
            Kind::Gids => self.gids.remove(domain).map_or(0, |s| s.len()),
        }
    }
}

/// The `n`th key of `sets` (counting round), if any.
fn nth_key<V>(sets: &HashMap<Arc<str>, V>, n: usize) -> Option<Arc<str>> {
    if sets.is_empty() {
        return None;
    }
    sets.keys().nth(n % sets.len()).cloned()
}

/// Takes up to [`BATCH`] of `domain`'s set in `sets`, removing the set
/// once empty (its memory let go).
fn take_some<T, S>(sets: &mut HashMap<Arc<str>, HashSet<T, S>>, domain: &str) -> Vec<T>
where
    T: Eq + std::hash::Hash + Clone,
    S: std::hash::BuildHasher,
{
    let Some(set) = sets.get_mut(domain) else {
        return Vec::new();
    };
    if set.len() <= BATCH {
        return sets
            .remove(domain)
            .map(|all| all.into_iter().collect())
            .unwrap_or_default();
    }
    let some: Vec<T> = set.iter().take(BATCH).cloned().collect();
    for t in &some {
        set.remove(t);
    }
    some
}

/// Takes [`BATCH`] GIDs at most, `gid` among them, from `domain`'s set in
/// `sets`: `gid` and the lowest of those above it, then, when fewer are
/// above it, the highest of those below it; removes the set once empty.
/// (Linear in the set, under the lock: no sort.)
fn take_near<S: std::hash::BuildHasher>(
    sets: &mut HashMap<Arc<str>, HashSet<u32, S>>,
    domain: &str,
    gid: u32,
) -> Vec<u32> {
    let Some(set) = sets.get_mut(domain) else {
        return Vec::new();
    };
    let (mut near, mut below): (Vec<u32>, Vec<u32>) = set.iter().partition(|&&g| g >= gid);
    if near.len() > BATCH {
        near.select_nth_unstable(BATCH - 1);
        near.truncate(BATCH);
    }
    let wanted = BATCH - near.len();
    if wanted == 0 {
        below.clear();
    } else if below.len() > wanted {
        let from = below.len() - wanted;
        below.select_nth_unstable(from);
        below.drain(..from);
    }
    near.extend(below);
    for g in &near {
        set.remove(g);
    }
    if set.is_empty() {
        sets.remove(domain);
    }
    near
}

/// Member names or GIDs.
#[derive(Clone, Copy)]
enum Kind {
    Members,
    Gids,
}

/// A batch of [`State::now_batches`] being recorded: once recorded (or
/// its task dropped), taken off the list (and so off the status's
/// count), and its lookups waiting woken (its sender dropped, after).
struct NowRecorded {
    to_record: Resolver,
    id: u64,
    _sent: tokio::sync::watch::Sender<()>,
}

impl Drop for NowRecorded {
    fn drop(&mut self) {
        let mut state = self.to_record.inner.to_record.lock();
        state.now_batches.retain(|b| b.id != self.id);
    }
}

impl ToRecord {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolver {
    /// Leaves `what`, entries of lookup `cx`'s domain `i`, to be recorded
    /// once the answer being prepared is sent ([`Resolver::answers_sent`]).
    pub(super) fn leave_to_record(&self, cx: &Ctx, i: usize, what: LeftKind) {
        let left = Left {
            generation: cx.domains.clone(),
            domain: Arc::from(cx.domains[i].name()),
            local: cx.local.get().version,
            what,
        };
        self.inner.to_record.lock().staged.push(left);
    }

    /// Adds what the lookups left before their answers were sent to what
    /// is left to record, a chunk at a time, and starts the task that
    /// records it unless it runs. Entries an earlier batch checked, while
    /// what that check rested on holds ([`super::decided`]), are not
    /// added: checked again they would ask and record nothing.
    pub(super) fn record_what_was_left(&self) {
        // (Called after every reply: nearly always with nothing staged.)
        let (staged, mut merging) = {
            let mut state = self.inner.to_record.lock();
            if state.staged.is_empty() {
                return;
            }
            let staged = std::mem::take(&mut state.staged);
            let mut left: HashMap<Arc<str>, usize> = HashMap::new();
            for l in &staged {
                *left.entry(l.domain.clone()).or_default() += l.what.len();
                *state.merging.entry(l.domain.clone()).or_default() += l.what.len();
            }
            let merging = Merging {
                to_record: self.clone(),
                left,
            };
            (staged, merging)
        };
        let this = self.clone();
        self.spawn_after_answer(async move {
            let mut pace = Pace::default();
            for left in staged {
                let Left {
                    generation,
                    domain,
                    local,
                    what,
                } = left;
                let decisions = &this.inner.decided;
                // (Checked under the lock: a reload swaps the domains,
                // then drops what was added of those it flushed.)
                let current = |this: &Resolver| Arc::ptr_eq(&generation, &this.domains());
                match what {
                    LeftKind::Members { members, decided } => {
                        let names = members.names();
                        for chunk in decided.chunks(PACE_ITEMS) {
                            let n = chunk.len();
                            let chunk: Vec<Checked> = chunk
                                .iter()
                                .map(|&k| {
                                    let m = member_base(&names[k], &domain).to_string();
                                    Checked::Member(domain.clone(), m)
                                })
                                .collect();
                            let now = this.inner.clock.now_ms();
                            let chunk = decisions.not_checked(chunk, now, local);
                            {
                                let mut state = this.inner.to_record.lock();
                                if !current(&this) {
                                    break;
                                }
                                if !chunk.is_empty() {
                                    let set = state.members.entry(domain.clone()).or_default();
                                    set.extend(chunk.into_iter().filter_map(Checked::member));
                                }
                                merging.added(&mut state, &domain, n);
                            }
                            pace.step(n).await;
                        }
                    }
                    LeftKind::Gids(gids) => {
                        let n = gids.len();
                        let gids: Vec<Checked> = gids
                            .into_iter()
                            .map(|g| Checked::Gid(domain.clone(), g))
                            .collect();
                        let now = this.inner.clock.now_ms();
                        let gids = decisions.not_checked(gids, now, local);
                        let mut state = this.inner.to_record.lock();
                        if current(&this) {
                            if !gids.is_empty() {
                                let set = state.gids.entry(domain.clone()).or_default();
                                set.extend(gids.into_iter().filter_map(Checked::gid));
                            }
                            merging.added(&mut state, &domain, n);
                        }
                    }
                }
            }
            drop(merging);
            let start = {
                let mut state = this.inner.to_record.lock();
                !std::mem::replace(&mut state.draining, true)
            };
            if start {
                let drain = this.clone();
                this.spawn_after_answer(async move { drain.record_left_batches().await });
            }
        });
    }

    /// Records what is left, a batch at a time, until nothing is.
    async fn record_left_batches(&self) {
        /// Clears `draining` when the task ends before it found nothing
        /// left (a panic in a batch, the runtime shutting down), so that
        /// later work starts a task again.
        struct Draining<'a>(Option<&'a ToRecord>);
        impl Drop for Draining<'_> {
            fn drop(&mut self) {
                if let Some(to_record) = self.0 {
                    let mut state = to_record.lock();
                    state.draining = false;
                    state.in_flight = None;
                }
            }
        }
        let to_record = &self.inner.to_record;
        let mut draining = Draining(Some(to_record));
        loop {
            // (Taken once the replies pause, as its searches are made:
            // until then a lookup of one of its GIDs takes it at once,
            // `record_gid_now`. Not waited for with nothing left.)
            if !to_record.lock().nothing_left() {
                self.quiet().await;
            }
            let batch = {
                let mut state = to_record.lock();
                match state.take_batch() {
                    Some(b) => b,
                    None => {
                        // (Under the lock: work added after this starts
                        // a task of its own.)
                        state.draining = false;
                        draining.0 = None;
                        return;
                    }
                }
            };
            self.record_batch(batch, true).await;
            to_record.lock().in_flight = None;
            // A batch whose entries lookups have cached meanwhile asks
            // nothing and waits for nothing (no search, no rest): without
            // this the task went on to the next at once, and a big
            // group's members, all cached, were checked 30 batches in a
            // row (about 7 ms) while a lookup that came waited.
            tokio::task::yield_now().await;
        }
    }

    /// Asks the entries of `batch` as the lookup's check would have, so
    /// that their answers are cached and stored as its searches would
    /// have left them. What is left of a domain no longer configured, or
    /// whose IDs now come from SIDs (unique within it, never checked), is
    /// dropped. A failure (of the domain or of an earlier one its checks
    /// ask) drops what is left of that domain's kind, logged with the
    /// domain: the next lookup the census decides leaves its own again.
    /// `paced`: work after the answers ([`super::owner::Ctx::paced`]);
    /// otherwise a batch a lookup asked for at once
    /// ([`Resolver::record_gid_now`]), which lookups of its GIDs wait for.
    async fn record_batch(&self, batch: Batch, paced: bool) {
        let mut cx = if paced { self.paced_ctx() } else { self.ctx() };
        let (domain, kind) = match &batch {
            Batch::Members(d, _) => (d.clone(), Kind::Members),
            Batch::Gids(d, _) => (d.clone(), Kind::Gids),
        };
        let found = cx.domains.iter().position(|d| d.name() == &*domain);
        let i = match found {
            Some(i) if !(matches!(kind, Kind::Members) && cx.domains[i].unique_ids()) => i,
            _ => {
                self.inner.to_record.lock().drop_left(&domain, kind);
                return;
            }
        };
        let (checked, failed): (Vec<Checked>, _) = match batch {
            Batch::Members(_, names) => {
                let mut out = vec![true; names.len()];
                let asked = (0..names.len()).collect();
                let failed = self
                    .check_members(&mut cx, i, &names, asked, &mut out)
                    .await
                    .err();
                let checked = names
                    .into_iter()
                    .map(|m| Checked::Member(domain.clone(), m))
                    .collect();
                (checked, failed)
            }
            Batch::Gids(_, gids) => {
                self.prefetch_groups(&cx, i, &gids).await;
                let mut failed = None;
                let mut pace = Pace::default();
                for &g in &gids {
                    pace.step(GID_CHECK_ITEMS).await;
                    if let Err(e) = self.gid_served_by(&mut cx, g, &domain).await {
                        failed = Some(e);
                        break;
                    }
                }
                let checked = gids.iter().map(|&g| Checked::Gid(domain.clone(), g));
                (checked.collect(), failed)
            }
        };
        match failed {
            None => {
                self.remember_negatives(&mut cx);
                let now = self.inner.clock.now_ms();
                let local = cx.local.get().version;
                let decisions = &self.inner.decided;
                decisions.keep_checked(checked, &cx, now, local);
            }
            Some(e) => {
                let left = checked.len() + self.inner.to_record.lock().drop_left(&domain, kind);
                let what = match kind {
                    Kind::Members => "members",
                    Kind::Gids => "groups",
                };
                tracing::debug!(domain = %domain, error = %e, left, "{what} not recorded");
            }
        }
    }

    /// When `gid` is left to record (an initgroups' census decided it and
    /// its batch has not come yet), starts recording its batch: `gid` and
    /// the GIDs left after it (those below it too when fewer are),
    /// [`BATCH`] in all at most, unpaced, in the searches a batch makes
    /// (one a domain, for a domain whose census vouches for the names),
    /// and returns at once: the lookup of `gid` asks for it alone
    /// meanwhile, and is not held by the batch's search and checks. When
    /// `gid` is in such a batch being recorded, waits for that batch: the
    /// group is then cached. `id` walking a user's groups right after the
    /// login's initgroups thus waits for one batch per [`BATCH`] groups
    /// and asks only the first GID of each alone: a user in 1,000 groups
    /// of one such domain costs five batch searches and five single ones
    /// instead of 1,000 single ones. (The batch runs at once, not after
    /// the answer: its search, and what it stores, meet the lone lookup's
    /// on the runtime's thread.)
    pub(super) async fn record_gid_now(&self, gid: u32) {
        /// Where `gid` is: left to record by a domain, or in a batch of
        /// one being recorded.
        enum Found {
            Left(Arc<str>),
            Recording(tokio::sync::watch::Receiver<()>),
        }
        /// What a lookup of `gid` does about it.
        enum Next {
            /// Waits for the batch being recorded that holds it.
            Wait(tokio::sync::watch::Receiver<()>),
            /// Starts its batch (listed as `id`, `sent` dropped once
            /// recorded).
            Start(Arc<str>, Vec<u32>, u64, tokio::sync::watch::Sender<()>),
        }
        let to_record = &self.inner.to_record;
        let next = {
            let mut state = to_record.lock();
            if state.gids.is_empty() && state.now_batches.is_empty() {
                return;
            }
            // (The first domain, in the configuration's order, that left
            // it or records it in such a batch: the one a lookup of it
            // asks first.)
            let first = self.domains().iter().find_map(|d| {
                if let Some((domain, _)) = state
                    .gids
                    .get_key_value(d.name())
                    .filter(|(_, set)| set.contains(&gid))
                {
                    return Some(Found::Left(domain.clone()));
                }
                let batch = state
                    .now_batches
                    .iter()
                    .find(|b| &*b.domain == d.name() && b.gids.contains(&gid));
                batch.map(|b| Found::Recording(b.done.clone()))
            });
            match first {
                None => return,
                Some(Found::Recording(done)) => Next::Wait(done),
                Some(Found::Left(domain)) => {
                    let gids = take_near(&mut state.gids, &domain, gid);
                    let (sent, done) = tokio::sync::watch::channel(());
                    let id = state.next_now_batch;
                    state.next_now_batch += 1;
                    state.now_batches.push(NowBatch {
                        id,
                        domain: domain.clone(),
                        gids: gids.iter().copied().filter(|&g| g != gid).collect(),
                        done,
                    });
                    Next::Start(domain, gids, id, sent)
                }
            }
        };
        match next {
            Next::Wait(mut done) => {
                // (An error: the batch's task ended, its sender dropped.)
                let _ = done.changed().await;
            }
            Next::Start(domain, gids, id, sent) => {
                let recorded = NowRecorded {
                    to_record: self.clone(),
                    id,
                    _sent: sent,
                };
                let this = self.clone();
                self.spawn_after_answer(async move {
                    this.record_batch(Batch::Gids(domain, gids), false).await;
                    drop(recorded);
                });
            }
        }
    }

    /// Drops what is left to record of `domain` (its cache flushed, by a
    /// reload or a flush: the next lookups decide again).
    pub(super) fn forget_left_of(&self, domain: &str) {
        let mut state = self.inner.to_record.lock();
        state.drop_left(domain, Kind::Members);
        state.drop_left(domain, Kind::Gids);
    }

    /// Drops what is left to record of every domain (everything
    /// flushed).
    pub(super) fn forget_all_left(&self) {
        let mut state = self.inner.to_record.lock();
        state.members.clear();
        state.gids.clear();
    }

    /// How many member names and GIDs of `domain` are left to record, those
    /// of answers not yet sent and of the batch being recorded included
    /// (for the status: 0 once the work the lookups left is done).
    pub(super) fn left_to_record_of(&self, domain: &str) -> u64 {
        let state = self.inner.to_record.lock();
        let staged: usize = state
            .staged
            .iter()
            .filter(|l| &*l.domain == domain)
            .map(|l| l.what.len())
            .sum();
        let in_flight = match &state.in_flight {
            Some((d, n)) if &**d == domain => *n,
            _ => 0,
        };
        let asked_now: usize = state
            .now_batches
            .iter()
            .filter(|b| &*b.domain == domain)
            .map(|b| b.gids.len() + 1) // (and the GID that asked for it)
            .sum();
        (staged
            + state.merging.get(domain).copied().unwrap_or(0)
            + asked_now
            + state.members.get(domain).map_or(0, HashSet::len)
            + state.gids.get(domain).map_or(0, HashSet::len)
            + in_flight) as u64
    }

    /// How many member names and GIDs are left to record, those of
    /// answers not yet sent included (the batch being recorded not).
    #[cfg(test)]
    pub(crate) fn left_to_record(&self) -> usize {
        let state = self.inner.to_record.lock();
        let staged: usize = state.staged.iter().map(|l| l.what.len()).sum();
        staged
            + state.members.values().map(HashSet::len).sum::<usize>()
            + state.gids.values().map(HashSet::len).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::{take_near, BATCH};
    use std::collections::{HashMap, HashSet};
    use std::sync::Arc;

    /// `take_near` of `gid` from a domain left `left`: what it took
    /// (sorted) and what it left.
    fn near(left: impl IntoIterator<Item = u32>, gid: u32) -> (Vec<u32>, usize) {
        let mut sets: HashMap<Arc<str>, HashSet<u32>> = HashMap::new();
        sets.insert(Arc::from("d"), left.into_iter().collect());
        let mut took = take_near(&mut sets, "d", gid);
        took.sort_unstable();
        (took, sets.get("d").map_or(0, HashSet::len))
    }

    #[test]
    fn the_batch_near_a_gid_is_it_and_those_above_then_those_just_below() {
        let n = BATCH as u32;
        // Enough above: the lowest of them, none below.
        let (took, left) = near(0..3 * n, n);
        assert_eq!(took, (n..2 * n).collect::<Vec<_>>());
        assert_eq!(left, 2 * BATCH);
        // Fewer above: the highest below fill the batch.
        let (took, left) = near(0..3 * n, 3 * n - 10);
        assert_eq!(took, (2 * n..3 * n).collect::<Vec<_>>());
        assert_eq!(left, 2 * BATCH);
        // Fewer in all: everything, the set dropped.
        let (took, left) = near([5, 1, 9, 7], 7);
        assert_eq!((took, left), (vec![1, 5, 7, 9], 0));
        // A GID not left: none of it, the nearest above and below.
        let (took, _) = near((0..n).map(|g| 2 * g), 3);
        assert_eq!(took.len(), BATCH);
        assert!(!took.contains(&3) && took.contains(&4) && took.contains(&2));
        // Nothing left in the domain.
        assert_eq!(near([], 1), (Vec::new(), 0));
    }
}
