//! Keeps an early timer armed while requests come, so that a lookup's own
//! timer (its search's `op_timeout`) does not wake the runtime's driver.
//!
//! tokio's timer wakes its driver (a `write` to the reactor's eventfd, and
//! one more `epoll_wait` that finds it) whenever a timer is armed that
//! expires before the earliest one the driver last went to sleep with, or
//! when it went to sleep with none: on an otherwise idle daemon, every
//! first lookup's search timer did, one system call and one wake-up more
//! a lookup. While requests come, a timer of [`PERIOD`] is kept armed
//! here: the driver sleeps with it as its earliest, and a lookup's timer,
//! which expires later (`op_timeout` is longer), is armed without waking
//! it. A period without requests disarms it, so an idle daemon is not
//! woken. Only the driver's wake-ups change: every timer still fires when
//! due.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;
use tokio::sync::{watch, Notify};

/// How long the anchor timer runs; a period without a request ends it.
/// Shorter than any `op_timeout` in use (a lookup's timer must expire
/// after it to gain anything; one that expires sooner works as before).
pub const PERIOD: Duration = Duration::from_millis(100);

/// The anchor's state, shared by the accept loops and its task
/// ([`TimerAnchor::run`]).
#[derive(Default)]
pub struct TimerAnchor {
    /// A request came during the current period.
    requested: AtomicBool,
    /// The anchor timer is armed (or about to be).
    armed: AtomicBool,
    /// Wakes the idle task at the first request.
    wake: Notify,
}

impl TimerAnchor {
    /// Notes a request (an accepted connection): arms the anchor when it
    /// is not armed.
    pub fn note_request(&self) {
        self.requested.store(true, Ordering::Relaxed);
        if !self.armed.swap(true, Ordering::AcqRel) {
            self.wake.notify_one();
        }
    }

    /// The anchor's task: idle until a request, then a timer of
    /// [`PERIOD`] after another while requests come; ends when `stop`
    /// changes.
    pub async fn run(&self, mut stop: watch::Receiver<bool>) {
        loop {
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
            loop {
                self.requested.store(false, Ordering::Relaxed);
                tokio::select! {
                    _ = tokio::time::sleep(PERIOD) => {}
                    _ = stop.changed() => return,
                }
                if !self.requested.load(Ordering::Relaxed) {
                    break;
                }
            }
            // (A request noted after the check above and before this
            // store found the anchor armed and did not wake the task: it
            // only pays the wake-up this saves, as if it came after.)
            self.armed.store(false, Ordering::Release);
        }
    }

    /// Whether the anchor timer is armed (tests).
    #[cfg(test)]
    pub fn is_armed(&self) -> bool {
        self.armed.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    /// A request arms the anchor; it is disarmed after a period without
    /// one (the anchor's timer, due first, fires before the test's); the
    /// next request arms it again; `stop` ends the task. (Real time: about
    /// a second.)
    #[tokio::test(flavor = "current_thread")]
    async fn armed_while_requests_come_and_disarmed_after_a_quiet_period() {
        let anchor = Arc::new(TimerAnchor::default());
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn({
            let anchor = anchor.clone();
            async move { anchor.run(stop_rx).await }
        });
        tokio::task::yield_now().await;
        assert!(!anchor.is_armed());
        anchor.note_request();
        assert!(anchor.is_armed());
        tokio::time::sleep(PERIOD / 2).await;
        anchor.note_request();
        tokio::time::sleep(PERIOD * 3).await;
        assert!(!anchor.is_armed(), "still armed after quiet periods");
        anchor.note_request();
        assert!(anchor.is_armed());
        tokio::time::sleep(PERIOD * 3).await;
        assert!(!anchor.is_armed());
        stop.send(true).unwrap();
        tokio::time::timeout(Duration::from_secs(1), task)
            .await
            .expect("the task ends when told to stop")
            .unwrap();
    }
}
