//! Back-off after a hung daemon: once one call timed out, the process
//! answers "unavailable" at once for a short window instead of paying the
//! whole timeout on every lookup (a login looks up dozens of names).
//!
//! The state is one atomic per process: no lock, nothing to go wrong
//! across `fork` (a child inherits the window, which is right: the daemon
//! is the same hung one), and nothing shared with other processes.

use roster_proto::clock::monotonic_ms;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How long a process stops asking after a call to the daemon timed out.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(5);

/// Until when (monotonic clock, ms) calls to the daemon are skipped.
pub struct Backoff {
    /// 0 = no window.
    until_ms: AtomicU64,
    window: Duration,
}

impl Backoff {
    /// No window open; a timeout opens one of `window`.
    pub const fn new(window: Duration) -> Backoff {
        Backoff {
            until_ms: AtomicU64::new(0),
            window,
        }
    }

    /// True while a window is open: the caller answers "unavailable"
    /// without asking the daemon.
    pub fn active(&self) -> bool {
        let until = self.until_ms.load(Ordering::Relaxed);
        until != 0 && monotonic_ms() < until
    }

    /// A call timed out: skip calls for the window from now.
    pub fn timed_out(&self) {
        let until = monotonic_ms().saturating_add(self.window.as_millis() as u64);
        self.until_ms.store(until.max(1), Ordering::Relaxed);
    }

    /// The daemon answered: close any window.
    pub fn answered(&self) {
        if self.until_ms.load(Ordering::Relaxed) != 0 {
            self.until_ms.store(0, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_timeout_opens_a_window_an_answer_closes_it() {
        let b = Backoff::new(Duration::from_secs(60));
        assert!(!b.active());
        b.timed_out();
        assert!(b.active());
        b.answered();
        assert!(!b.active());
    }

    #[test]
    fn an_empty_window_never_blocks() {
        let b = Backoff::new(Duration::ZERO);
        b.timed_out();
        assert!(!b.active());
    }
}
