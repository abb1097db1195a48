//! What lookups leave to be recorded after their answers: the members
//! and GIDs a census decided without a search
//! ([`Resolver::record_members_later`], [`Resolver::record_gids_later`]).
//! Each is kept once per domain, however many lookups left it, and one
//! task records them a batch at a time, paced ([`Resolver::paced`]). A
//! burst of first lookups of big groups that share their members thus
//! holds each member once (at most every user the domain's census holds)
//! instead of one list per lookup, each waiting for its turn with its
//! group entry kept alive.

use super::enumerate::{Pace, PACE_ITEMS};
use super::fetch::BATCH;
use super::owner::Members;
use super::Resolver;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// What one lookup left to record, as the lookup holds it (nothing
/// copied on the answer's path) until its answer is sent.
pub(super) enum Left {
    /// Members `decided` (indices into `members`) of `domain`.
    Members {
        domain: Arc<str>,
        members: Members,
        decided: Vec<usize>,
    },
    /// GIDs of `domain`'s groups.
    Gids { domain: Arc<str>, gids: Vec<u32> },
}

/// Member names as their groups list them (chosen by the directory,
/// placed with foldhash as the other member-name sets).
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
}

/// One batch taken to be recorded.
enum Batch {
    Members(Arc<str>, Vec<String>),
    Gids(Arc<str>, Vec<u32>),
}

impl State {
    /// Takes up to [`BATCH`] member names of one domain, else up to as
    /// many GIDs; `None` when nothing is left.
    fn take_batch(&mut self) -> Option<Batch> {
        if let Some(domain) = self.members.keys().next().cloned() {
            let set = self.members.get_mut(&domain)?;
            let names = set.extract_if(|_| true).take(BATCH).collect();
            if set.is_empty() {
                self.members.remove(&domain);
            }
            return Some(Batch::Members(domain, names));
        }
        let domain = self.gids.keys().next().cloned()?;
        let set = self.gids.get_mut(&domain)?;
        let gids = set.extract_if(|_| true).take(BATCH).collect();
        if set.is_empty() {
            self.gids.remove(&domain);
        }
        Some(Batch::Gids(domain, gids))
    }
}

impl ToRecord {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Resolver {
    /// Leaves `left` to be recorded once the answer being prepared is
    /// sent ([`Resolver::answers_sent`]).
    pub(super) fn leave_to_record(&self, left: Left) {
        self.inner.to_record.lock().staged.push(left);
    }

    /// Adds what the lookups left before their answers were sent to what
    /// is left to record, a chunk at a time, and starts the task that
    /// records it unless it runs.
    pub(super) fn record_what_was_left(&self) {
        let staged = std::mem::take(&mut self.inner.to_record.lock().staged);
        if staged.is_empty() {
            return;
        }
        let this = self.clone();
        self.spawn_after_answer(async move {
            let mut pace = Pace::default();
            for left in staged {
                match left {
                    Left::Members {
                        domain,
                        members,
                        decided,
                    } => {
                        let names = members.names();
                        for chunk in decided.chunks(PACE_ITEMS) {
                            {
                                let mut state = this.inner.to_record.lock();
                                let set = state.members.entry(domain.clone()).or_default();
                                set.extend(chunk.iter().map(|&k| names[k].clone()));
                            }
                            pace.step(chunk.len()).await;
                        }
                    }
                    Left::Gids { domain, gids } => {
                        let mut state = this.inner.to_record.lock();
                        state.gids.entry(domain).or_default().extend(gids);
                    }
                }
            }
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
        loop {
            let batch = {
                let mut state = self.inner.to_record.lock();
                match state.take_batch() {
                    Some(b) => b,
                    None => {
                        state.draining = false;
                        return;
                    }
                }
            };
            self.record_batch(batch).await;
        }
    }

    /// Asks the entries of `batch` as the lookup's check would have, so
    /// that their answers are cached and stored as its searches would
    /// have left them. A domain no longer configured is skipped; a
    /// failure drops what is left of that domain's kind (logged).
    async fn record_batch(&self, batch: Batch) {
        let mut cx = self.paced_ctx();
        let domain = match &batch {
            Batch::Members(d, _) | Batch::Gids(d, _) => d.clone(),
        };
        let Some(i) = cx.domains.iter().position(|d| d.name() == &*domain) else {
            return;
        };
        match batch {
            Batch::Members(_, names) => {
                let mut out = vec![true; names.len()];
                let asked = (0..names.len()).collect();
                match self
                    .check_members(&mut cx, i, &names, asked, &mut out)
                    .await
                {
                    Ok(()) => self.remember_negatives(&mut cx),
                    Err(e) => {
                        let left = self.inner.to_record.lock().members.remove(&domain);
                        let left = names.len() + left.map_or(0, |s| s.len());
                        tracing::debug!(error = %e, left, "members not recorded");
                    }
                }
            }
            Batch::Gids(_, gids) => {
                self.prefetch_groups(&cx, i, &gids).await;
                for &g in &gids {
                    if let Err(e) = self.gid_served_by(&mut cx, g, &domain).await {
                        let left = self.inner.to_record.lock().gids.remove(&domain);
                        let left = gids.len() + left.map_or(0, |s| s.len());
                        tracing::debug!(error = %e, left, "groups not recorded");
                        return;
                    }
                }
                self.remember_negatives(&mut cx);
            }
        }
    }

    /// How many member names and GIDs are left to record, those of
    /// answers not yet sent included.
    #[cfg(test)]
    pub(crate) fn left_to_record(&self) -> usize {
        let state = self.inner.to_record.lock();
        let staged: usize = state
            .staged
            .iter()
            .map(|l| match l {
                Left::Members { decided, .. } => decided.len(),
                Left::Gids { gids, .. } => gids.len(),
            })
            .sum();
        staged
            + state.members.values().map(HashSet::len).sum::<usize>()
            + state.gids.values().map(HashSet::len).sum::<usize>()
    }
}
