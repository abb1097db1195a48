//! The daemon's last group answer that did not fit the caller's buffer,
//! kept for the caller's retry with a larger one.
//!
//! glibc answers TRYAGAIN/ERANGE by doubling its buffer and asking again,
//! from 1 KiB: a group of 5,000 members takes it eight tries. Without this,
//! each try would ask the daemon for the whole group again. The kept answer
//! serves only the same question asked again within [`KEEP_MS`], is taken
//! out when used (and kept again while it still does not fit), and the
//! lock is only ever tried: a caller that finds it held (another thread,
//! or a child forked while it was held) asks the daemon as before. The
//! answer is kept as the daemon sent it (the reply's payload) with where
//! its group lies, found when it was first read: each try reads it in
//! place again, no member copied or checked a second time.

use roster_proto::{GroupInReply, Request};
use std::sync::{Mutex, TryLockError};

/// How long a kept answer waits for its retry (glibc retries at once).
pub const KEEP_MS: u64 = 1_000;

/// An answer kept for a retry.
struct Kept {
    request: Request,
    reply: (Vec<u8>, GroupInReply),
    at_ms: u64,
}

/// At most one kept answer.
pub struct RetryStash {
    kept: Mutex<Option<Kept>>,
}

impl Default for RetryStash {
    fn default() -> Self {
        Self::new()
    }
}

impl RetryStash {
    /// An empty stash.
    pub const fn new() -> Self {
        RetryStash {
            kept: Mutex::new(None),
        }
    }

    /// The answer kept for `request`, taken out, when it was kept less than
    /// [`KEEP_MS`] before `now_ms` (a monotonic clock).
    pub fn take(&self, request: &Request, now_ms: u64) -> Option<(Vec<u8>, GroupInReply)> {
        let mut kept = self.try_lock()?;
        let fresh = kept
            .as_ref()
            .is_some_and(|k| k.request == *request && now_ms.saturating_sub(k.at_ms) < KEEP_MS);
        if fresh {
            kept.take().map(|k| k.reply)
        } else {
            None
        }
    }

    /// Keeps `reply` (its payload and where its group lies), the daemon's
    /// reply to `request` at `now_ms`, for the retry (replacing any other).
    pub fn keep(&self, request: Request, reply: (Vec<u8>, GroupInReply), now_ms: u64) {
        if let Some(mut kept) = self.try_lock() {
            *kept = Some(Kept {
                request,
                reply,
                at_ms: now_ms,
            });
        }
    }

    fn try_lock(&self) -> Option<std::sync::MutexGuard<'_, Option<Kept>>> {
        match self.kept.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(gid: u32) -> (Vec<u8>, GroupInReply) {
        let g = roster_proto::Group {
            name: "big".into(),
            gid,
            members: vec!["a".into(), "b".into()],
        };
        let payload = roster_proto::encode_group_response(&g)[4..].to_vec();
        let found = roster_proto::decode_group_reply(&payload).unwrap().unwrap();
        (payload, found)
    }

    #[test]
    fn a_kept_answer_serves_only_the_same_question_soon_after_and_once() {
        let s = RetryStash::new();
        let ask = Request::GroupByName("big".into());
        s.keep(ask.clone(), group(7), 100);
        assert_eq!(s.take(&Request::GroupByName("other".into()), 150), None);
        assert_eq!(s.take(&Request::GroupByGid(7), 150), None);
        assert_eq!(s.take(&ask, 150), Some(group(7)));
        assert_eq!(s.take(&ask, 160), None, "taken out when used");
        s.keep(ask.clone(), group(7), 200);
        assert_eq!(s.take(&ask, 200 + KEEP_MS), None, "too old");
    }

    #[test]
    fn a_held_lock_is_never_waited_for() {
        let s = RetryStash::new();
        let ask = Request::GroupByName("big".into());
        s.keep(ask.clone(), group(7), 100);
        let held = s.kept.lock().unwrap();
        assert_eq!(s.take(&ask, 150), None);
        s.keep(ask.clone(), group(8), 150);
        drop(held);
        assert_eq!(s.take(&ask, 160), Some(group(7)));
    }
}
