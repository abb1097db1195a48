//! Busy polling while a large answer streams in.
//!
//! A server sends a search's entries one after the other, each a few
//! microseconds after the one before (slapd: one TLS record an entry,
//! often one TCP segment each). rosterd reads each as it comes, faster
//! than the server sends the next, so between two entries its thread
//! has nothing to do and sleeps in `epoll_wait`; the next entry's
//! segment then wakes it, and that wake-up is paid on the server's side
//! too (on one machine, the loopback delivery of each segment wakes the
//! reader from the server's `write`). Over a 1,000-entry answer that can
//! be a thousand sleeps and wake-ups.
//!
//! [`keep_polling`], a task of rosterd's runtime, keeps the runtime's
//! thread from sleeping for a window ([`WINDOW`] by default) after each
//! entry of a search that has already brought [`MIN_ENTRIES`] (yielding,
//! so that the runtime polls its sockets without waiting, and runs every
//! other task first); once entries stop coming it sleeps until the next
//! one. A lookup of one entry never spins: only answers long enough to
//! pay for it do (a listing too, whose thread is mostly reading anyway).
//! Only the thread that runs the poller notes entries: the idmap store's
//! searches, on a thread of their own, do not wake it.
//!
//! The window is `[daemon] busy_poll_us` ([`set_window`], at start and at
//! every reload); 0 turns the polling off (a host where rosterd shares
//! few CPUs with busy processes may prefer the CPU to the time).

use std::cell::Cell;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};
use tokio::sync::Notify;

/// How long the thread keeps polling after an entry, from a search's
/// [`MIN_ENTRIES`]th entry on, unless configured otherwise
/// (`[daemon] busy_poll_us`).
pub const WINDOW: Duration = Duration::from_micros(50);

/// The longest window `[daemon] busy_poll_us` accepts (1 ms): slapd sends
/// a large answer's entries a few microseconds apart, so a longer window
/// would only poll after the answer has ended.
pub const MAX_WINDOW: Duration = Duration::from_millis(1);

/// The entries a search brings before its later ones keep the thread
/// polling.
pub const MIN_ENTRIES: usize = 16;

/// What the entries of the searches tell [`keep_polling`].
struct Streaming {
    /// How long the thread keeps polling after an entry, in nanoseconds
    /// ([`WINDOW`] unless configured; 0: never).
    window_ns: AtomicU64,
    /// When the last entry that keeps the thread polling came, in
    /// nanoseconds since [`origin`] (0: none yet).
    last_entry: AtomicU64,
    /// Wakes the poller when such an entry comes while it sleeps.
    entry_came: Notify,
}

/// rosterd's: the searches of the poller's thread note their entries
/// here.
static STREAMING: Streaming = Streaming::new(WINDOW);

thread_local! {
    /// True on the thread whose runtime runs [`keep_polling`].
    static POLLED: Cell<bool> = const { Cell::new(false) };
}

impl Streaming {
    /// No entry yet; the thread kept polling for `window` after each.
    const fn new(window: Duration) -> Self {
        Streaming {
            window_ns: AtomicU64::new(window.as_nanos() as u64),
            last_entry: AtomicU64::new(0),
            entry_came: Notify::const_new(),
        }
    }

    /// [`note_entry`] here.
    fn note_entry(&self, nth: usize) {
        if nth >= MIN_ENTRIES && self.window_ns.load(Ordering::Relaxed) != 0 {
            self.last_entry.store(now_ns(), Ordering::Relaxed);
            self.entry_came.notify_one();
        }
    }

    /// [`set_window`] here.
    fn set_window(&self, window: Duration) {
        let ns = u64::try_from(window.min(MAX_WINDOW).as_nanos()).unwrap_or(u64::MAX);
        self.window_ns.store(ns, Ordering::Relaxed);
    }

    /// [`keep_polling`] here: the window is read again at every turn.
    async fn keep_polling(&self) {
        loop {
            let window = Duration::from_nanos(self.window_ns.load(Ordering::Relaxed));
            if polling(self.last_entry.load(Ordering::Relaxed), now_ns(), window) {
                tokio::task::yield_now().await;
            } else {
                self.entry_came.notified().await;
            }
        }
    }
}

/// The clock's origin: the first time it is read.
fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Nanoseconds since [`origin`] (at least 1).
fn now_ns() -> u64 {
    u64::try_from(origin().elapsed().as_nanos())
        .unwrap_or(u64::MAX)
        .max(1)
}

/// Notes that a search received its `nth` entry (counted from 1, over
/// all its pages): from the [`MIN_ENTRIES`]th on, the thread keeps
/// polling for the configured window ([`set_window`]).
pub(crate) fn note_entry(nth: usize) {
    if nth >= MIN_ENTRIES && POLLED.with(Cell::get) {
        STREAMING.note_entry(nth);
    }
}

/// Sets rosterd's polling window (`[daemon] busy_poll_us`, at most
/// [`MAX_WINDOW`]; zero: the thread never polls). Takes effect from the
/// next entry.
pub fn set_window(window: Duration) {
    STREAMING.set_window(window);
}

/// True while an entry noted at `last` (ns, 0 for none) keeps the thread
/// polling at `now` (ns) for `window`.
fn polling(last: u64, now: u64, window: Duration) -> bool {
    last != 0 && u128::from(now.saturating_sub(last)) < window.as_nanos()
}

/// Keeps the runtime's thread polling while large answers stream in
/// (see the module): spawned once on rosterd's runtime; never ends.
pub async fn keep_polling() {
    POLLED.with(|p| p.set(true));
    STREAMING.keep_polling().await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::future::Future;

    #[test]
    fn the_thread_polls_for_the_window_after_an_entry_and_not_before_one() {
        let window = WINDOW.as_nanos() as u64;
        assert!(!polling(0, 5, WINDOW), "no entry yet");
        assert!(polling(1_000, 1_000, WINDOW));
        assert!(polling(1_000, 1_000 + window - 1, WINDOW));
        assert!(!polling(1_000, 1_000 + window, WINDOW));
        // (A clock read before the entry was noted: still polling.)
        assert!(polling(1_000, 900, WINDOW));
    }

    #[test]
    fn only_a_long_answer_keeps_the_thread_polling() {
        let s = Streaming::new(WINDOW);
        s.note_entry(1);
        s.note_entry(MIN_ENTRIES - 1);
        assert_eq!(s.last_entry.load(Ordering::Relaxed), 0, "a short answer");
        let before = now_ns();
        s.note_entry(MIN_ENTRIES);
        let noted = s.last_entry.load(Ordering::Relaxed);
        assert!(noted >= before && polling(noted, noted, WINDOW));
    }

    #[test]
    fn a_window_of_zero_keeps_no_thread_polling() {
        let s = Streaming::new(Duration::ZERO);
        s.note_entry(MIN_ENTRIES);
        assert_eq!(s.last_entry.load(Ordering::Relaxed), 0);
        s.set_window(WINDOW);
        s.note_entry(MIN_ENTRIES);
        assert_ne!(s.last_entry.load(Ordering::Relaxed), 0, "set again");
        s.set_window(MAX_WINDOW * 10);
        assert_eq!(
            s.window_ns.load(Ordering::Relaxed),
            MAX_WINDOW.as_nanos() as u64,
            "at most MAX_WINDOW"
        );
    }

    #[test]
    fn a_thread_without_the_poller_notes_no_entry() {
        // (This test's thread runs no poller: rosterd's idmap store's
        // searches are such.)
        let before = STREAMING.last_entry.load(Ordering::Relaxed);
        note_entry(MIN_ENTRIES + 1);
        assert_eq!(STREAMING.last_entry.load(Ordering::Relaxed), before);
    }

    /// How many more times a poller counted in `polls` (spawned on this
    /// runtime) is polled while this task waits `ms` milliseconds.
    async fn polls_over(polls: &AtomicU64, ms: u64) -> u64 {
        let from = polls.load(Ordering::Relaxed);
        tokio::time::sleep(Duration::from_millis(ms)).await;
        polls.load(Ordering::Relaxed) - from
    }

    /// `s`'s poller spawned on this runtime, and polled once: its task
    /// and the count of its polls.
    async fn spawn_counted(
        s: &'static Streaming,
    ) -> (tokio::task::JoinHandle<()>, std::sync::Arc<AtomicU64>) {
        let polls = std::sync::Arc::new(AtomicU64::new(0));
        let counted = polls.clone();
        let poller = tokio::spawn(async move {
            let mut inner = std::pin::pin!(s.keep_polling());
            std::future::poll_fn(|cx| {
                counted.fetch_add(1, Ordering::Relaxed);
                inner.as_mut().poll(cx)
            })
            .await
        });
        tokio::task::yield_now().await;
        (poller, polls)
    }

    #[tokio::test]
    async fn the_poller_polls_after_an_entry_and_then_sleeps() {
        // A window of 40 ms (rosterd's is 50 µs), so that a loaded
        // machine's pauses do not decide the test.
        static S: Streaming = Streaming::new(Duration::from_millis(40));
        let (poller, polls) = spawn_counted(&S).await;
        let quiet = polls_over(&polls, 10).await;
        assert!(quiet <= 1, "{quiet} polls before any entry");
        S.note_entry(MIN_ENTRIES);
        let busy = polls_over(&polls, 10).await;
        assert!(busy >= 3, "{busy} polls in the window after an entry");
        // Past the window: asleep again.
        tokio::time::sleep(Duration::from_millis(60)).await;
        let after = polls_over(&polls, 20).await;
        assert!(after <= 1, "{after} polls after the window");
        poller.abort();
    }

    #[tokio::test]
    async fn the_poller_follows_the_window_set_while_it_runs() {
        // (Windows of 40 ms or none, as in the test above.)
        static S: Streaming = Streaming::new(Duration::ZERO);
        let (poller, polls) = spawn_counted(&S).await;
        S.note_entry(MIN_ENTRIES);
        let off = polls_over(&polls, 10).await;
        assert!(off <= 1, "{off} polls after an entry with no window");
        // Set as a reload sets it: the next entry keeps it polling.
        S.set_window(Duration::from_millis(40));
        S.note_entry(MIN_ENTRIES);
        let on = polls_over(&polls, 10).await;
        assert!(on >= 3, "{on} polls in the window after an entry");
        // Turned off inside that window: asleep at once.
        S.set_window(Duration::ZERO);
        tokio::task::yield_now().await;
        let off_again = polls_over(&polls, 10).await;
        assert!(off_again <= 1, "{off_again} polls once turned off");
        poller.abort();
    }
}
