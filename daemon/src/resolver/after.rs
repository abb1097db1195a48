//! Work a lookup leaves for after its answer: asking the entries a
//! census decided, so that what the answer rests on is cached and stored
//! as the searches would have left it ([`Resolver::record_members_later`],
//! [`Resolver::record_gids_later`]). The server starts it once it has sent
//! a reply ([`Resolver::answers_sent`]), so that it never competes with the
//! answer it follows.

use super::provider::BoxFuture;
use super::Resolver;
use std::sync::Mutex;

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
