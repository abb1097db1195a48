//! Work a lookup leaves for after its answer: asking the entries a
//! census decided, so that what the answer rests on is cached and stored
//! as the searches would have left it ([`Resolver::record_members_later`],
//! [`Resolver::record_gids_later`]), and the census a lookup begins when it
//! is answered by the server ([`answering`]). The server starts it once it
//! has sent a reply ([`Resolver::answers_sent`]), so that it never competes
//! with the answer it follows.

use super::provider::BoxFuture;
use super::Resolver;
use std::future::Future;
use std::sync::Mutex;

tokio::task_local! {
    /// Present while a lookup is prepared whose answer the server sends,
    /// then calling [`Resolver::answers_sent`].
    static ANSWERING: ();
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
    ANSWERING.scope((), lookup)
}

/// The work waiting for the next reply to be sent.
#[derive(Default)]
pub(super) struct AfterAnswers {
    queue: Mutex<Vec<BoxFuture<'static, ()>>>,
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
        if ANSWERING.try_with(|_| ()).is_ok() {
            self.after_answer(work);
        } else {
            tokio::spawn(work);
        }
    }

    /// Starts the work lookups left for after their answers (see
    /// [`crate::resolver`]'s `after` module); the server calls it each
    /// time it has sent a reply.
    pub fn answers_sent(&self) {
        let work = std::mem::take(
            &mut *self
                .inner
                .after
                .queue
                .lock()
                .unwrap_or_else(|e| e.into_inner()),
        );
        for w in work {
            tokio::spawn(w);
        }
    }
}
