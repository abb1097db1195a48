//! Work a lookup leaves for after its answer: asking the entries a
//! census decided, so that what the answer rests on is cached and stored
//! as the searches would have left it (each entry once, however many
//! lookups left it: [`super::record_later`]), and the census a lookup
//! begins when it is answered by the server ([`answering`]). The server
//! starts it once it has sent a reply ([`Resolver::answers_sent`]), so
//! that it never competes with the answer it follows. The searches that
//! work makes are paced ([`Resolver::paced`]): one batch at a time in the
//! whole resolver, each begun once the replies pause ([`QUIET`]) and
//! followed by a rest, so that recording a big group's members leaves the
//! machine's CPUs (rosterd's and the directory's) to the programs the
//! answers were for, and a burst of lookups is answered before the work
//! its first answers left.

use super::provider::BoxFuture;
use super::Resolver;
use crate::store::Storable;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;
use tokio::sync::Notify;
use tokio::time::Instant;

/// A paced batch is followed by a rest this many times as long as the
/// batch took (at most [`MAX_REST`]) before the next begins: work after the
/// answers keeps rosterd and the directory busy about a quarter of the
/// time (more with batches slower than 0.7 s, whose rest is capped).
/// Recording a 50,000-member group's members (250 searches
/// of 200 names) took under 2 s unpaced on the development machine,
/// about 6 s paced.
const REST_PER_BATCH_TIME: u32 = 3;

/// The longest rest after a paced batch: a batch that waited for a
/// server's timeout is not followed by three times as long.
const MAX_REST: Duration = Duration::from_secs(2);

/// A paced batch begins once no reply was sent for this long: the lookups
/// of a burst (a listing's `ls -l`, a benchmark's loop) come one after the
/// other well within it, and a batch's entries, read on the runtime
/// thread, would hold up the lookup that came meanwhile (milliseconds for
/// a batch of a few hundred: the 99th percentile of a burst of first
/// group lookups was 2.5–4 ms, 0.6 with the recording switched off and
/// 0.5 with this pause).
pub(super) const QUIET: Duration = Duration::from_millis(10);

/// ...but it waits for that pause at most this long: under a load that
/// never pauses the work still gets done, a batch at a time.
pub(super) const MAX_QUIET_WAIT: Duration = Duration::from_secs(1);

tokio::task_local! {
    /// True while a lookup is prepared whose answer the server sends,
    /// then calling [`Resolver::answers_sent`] (also in the tasks of its
    /// own the lookup waits for: [`part_of_answer`]).
    static ANSWERING: bool;
}

/// Runs `lookup`, a lookup whose answer the caller sends and then calls
/// [`Resolver::answers_sent`]: background work it begins that would compete
/// with its answer (a census: a connection of its own, with its TLS
/// handshake, and a listing of the whole domain) waits for that call, or
/// for the same call after another connection's answer, whichever comes
/// first (the work waiting is the resolver's, not the connection's).
/// (Not an `async fn`: its state would hold `lookup` twice, before and
/// after moving it into the scope.)
pub fn answering<F: Future>(lookup: F) -> impl Future<Output = F::Output> {
    ANSWERING.scope(true, lookup)
}

/// `part`, to be spawned as a task of its own that the lookup being
/// prepared waits for (a batch of keys asked at once), as part of that
/// lookup: what it leaves waits for the answer as the lookup's own does
/// (a task-local does not reach a spawned task by itself). Not for a task
/// that may outlive the answer: what it left would wait for the next.
pub(super) fn part_of_answer<F: Future>(part: F) -> impl Future<Output = F::Output> {
    ANSWERING.scope(answer_pending(), part)
}

/// Whether a lookup whose answer the server sends is being prepared (in
/// [`answering`]).
fn answer_pending() -> bool {
    ANSWERING.try_with(|&pending| pending).unwrap_or(false)
}

/// The work waiting for the next reply to be sent.
#[derive(Default)]
pub(super) struct AfterAnswers {
    queue: Mutex<Vec<BoxFuture<'static, ()>>>,
    /// Work started and not yet finished.
    running: AtomicUsize,
    /// Woken when `running` falls to 0.
    idle: Notify,
    /// When the server last sent a reply ([`Resolver::answers_sent`]).
    last_reply: Mutex<Option<Instant>>,
    /// When [`Resolver::quiet`] last returned.
    last_pause: Mutex<Option<Instant>>,
}

/// Counts one piece of work as running from its start until it is
/// dropped.
struct Running(Resolver);

impl Running {
    fn new(r: &Resolver) -> Self {
        r.inner.after.running.fetch_add(1, Ordering::SeqCst);
        Running(r.clone())
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let after = &self.0.inner.after;
        if after.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            after.idle.notify_waiters();
        }
    }
}

impl Resolver {
    /// Leaves `work` for after the answer being prepared.
    pub(super) fn after_answer(&self, work: BoxFuture<'static, ()>) {
        let q = &self.inner.after;
        q.queue.lock().unwrap_or_else(|e| e.into_inner()).push(work);
    }

    /// Starts `work` after the answer being prepared when the server sends
    /// one ([`answering`]); at once otherwise (a listing at start, a
    /// resolver without a server).
    pub(super) fn after_answer_or_now(&self, work: BoxFuture<'static, ()>) {
        if answer_pending() {
            self.after_answer(work);
        } else {
            tokio::spawn(work);
        }
    }

    /// Starts the work lookups left for after their answers (see
    /// [`crate::resolver`]'s `after` module); the server calls it each
    /// time it has sent a reply.
    pub fn answers_sent(&self) {
        *self
            .inner
            .after
            .last_reply
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
        let work = std::mem::take(
            &mut *self
                .inner
                .after
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        if let Some(store) = &self.inner.store {
            store.release_deferred();
        }
        for w in work {
            self.spawn_after_answer(w);
        }
        self.record_what_was_left();
    }

    /// Queues `value` for the persistent cache under `key` (fetched at
    /// `at_ms`): deferred until the answer being prepared is sent
    /// ([`answering`], [`part_of_answer`]; released by
    /// [`Resolver::answers_sent`]), so that waking the store's writer
    /// thread is not on the answer's path; at once when no answer is being
    /// prepared, which includes a search left to finish after an answer
    /// from an expired entry (it may outlive the answer): it wakes the
    /// writer as before, and releases what was deferred with its own (the
    /// log's order is kept).
    pub(super) fn persist(&self, key: String, at_ms: u64, value: Box<dyn Storable>) {
        let Some(store) = &self.inner.store else {
            return;
        };
        if answer_pending() {
            store.put_value_deferred(key, at_ms, value);
        } else {
            store.put_value(key, at_ms, value);
        }
    }

    /// Removes `key` from the persistent cache (at once for reads), its
    /// record deferred as [`Resolver::persist`]'s puts are.
    pub(super) fn unpersist(&self, key: String) {
        let Some(store) = &self.inner.store else {
            return;
        };
        if answer_pending() {
            store.delete_deferred(key);
        } else {
            store.delete(key);
        }
    }

    /// Spawns `work`, counted as work after the answers until it ends
    /// (what the tests' `after_answers_done` waits for).
    pub(super) fn spawn_after_answer(&self, work: impl Future<Output = ()> + Send + 'static) {
        let running = Running::new(self);
        tokio::spawn(async move {
            work.await;
            drop(running);
        });
    }

    /// Returns once no work the lookups left for after their answers is
    /// running (none started by [`Resolver::answers_sent`] or
    /// [`Resolver::spawn_after_answer`] unfinished: a group batch a
    /// lookup asked for at once too).
    #[cfg(test)]
    pub(crate) async fn after_answers_done(&self) {
        let after = &self.inner.after;
        loop {
            let idle = after.idle.notified();
            if after.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            idle.await;
        }
    }

    /// Returns once no reply was sent for [`QUIET`], or after
    /// [`MAX_QUIET_WAIT`]: a paced batch is made after it
    /// ([`Resolver::answers_many`]), so that what the lookups of a burst
    /// cached is not asked again. At once when no reply was sent since it
    /// last returned: the recording takes a batch once the replies pause
    /// and then makes its searches, and under replies that never pause
    /// the two would otherwise wait [`MAX_QUIET_WAIT`] each.
    pub(super) async fn quiet(&self) {
        let after = &self.inner.after;
        let paused = |at: Instant| {
            *after.last_pause.lock().unwrap_or_else(|e| e.into_inner()) = Some(at);
        };
        let last_pause = *after.last_pause.lock().unwrap_or_else(|e| e.into_inner());
        let last_reply = *after.last_reply.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(p) = last_pause {
            if last_reply.is_none_or(|r| r <= p) {
                return;
            }
        }
        let at = self
            .replies_pause(None, Instant::now() + MAX_QUIET_WAIT)
            .await;
        paused(at);
    }

    /// Returns once no reply was sent for [`QUIET`] since `from` (or since
    /// the last reply after it), or after [`MAX_QUIET_WAIT`]: work that
    /// would compete with replies under way waits for them to pause.
    /// Unlike [`Resolver::quiet`], a pause before `from` does not count.
    pub(super) async fn pause_after(&self, from: Instant) {
        self.replies_pause(Some(from), from + MAX_QUIET_WAIT).await;
    }

    /// Waits until no reply was sent for [`QUIET`], counted from the last
    /// reply or from `from` when that is later, or until `deadline`;
    /// returns when the pause was found (or the deadline).
    async fn replies_pause(&self, from: Option<Instant>, deadline: Instant) -> Instant {
        loop {
            let last = *self
                .inner
                .after
                .last_reply
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let since = last.max(from);
            let now = Instant::now();
            let Some(until) = since.map(|t| t + QUIET).filter(|&u| u > now) else {
                return now;
            };
            if until >= deadline {
                tokio::time::sleep_until(deadline).await;
                return deadline;
            }
            tokio::time::sleep_until(until).await;
        }
    }

    /// Runs `batch`, searches made after the answers, followed by a rest
    /// [`REST_PER_BATCH_TIME`] times as long as it took (the caller makes
    /// the batch once the replies have paused, [`Resolver::quiet`]). One
    /// paced batch runs at a time in the resolver: the only paced work is
    /// the one task recording what the lookups left
    /// ([`super::record_later`]).
    /// (A batch answered from expired entries after the stale grace
    /// leaves its search running: the next may begin before it ends.)
    pub(super) async fn paced<T>(&self, batch: impl Future<Output = T>) -> T {
        let began = Instant::now();
        let out = batch.await;
        tokio::time::sleep((began.elapsed() * REST_PER_BATCH_TIME).min(MAX_REST)).await;
        out
    }
}
