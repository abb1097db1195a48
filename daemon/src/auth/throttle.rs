//! Failed authentications of unprivileged callers (`pam-user.sock`),
//! rate-limited per peer UID, as `unix_chkpwd` slows `pam_unix` for
//! programs that do not run as root: after each failure the UID must wait
//! a delay that doubles with every further failure ([`ThrottleSettings`]),
//! and an attempt inside that window is refused without the password
//! being checked; one check per UID runs at a time. A success forgets the
//! UID's failures; so does a long enough quiet time. The map is bounded:
//! when it is full, the UIDs whose window has passed go first, then the
//! one whose last failure is oldest.

use crate::clock::Clock;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How failures of one UID are slowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ThrottleSettings {
    /// Delay after the first failure, in milliseconds; doubled after each
    /// further one.
    pub base_delay_ms: u64,
    /// Longest delay, in milliseconds.
    pub max_delay_ms: u64,
    /// A UID whose last failure is this old (ms) starts from zero again.
    pub forget_after_ms: u64,
    /// UIDs remembered at most.
    pub max_entries: usize,
}

impl Default for ThrottleSettings {
    /// 2 s after the first failure (`pam_unix`'s usual delay), then 4, 8,
    /// ... up to 60 s; failures forgotten after 15 quiet minutes; at most
    /// 4096 UIDs remembered.
    fn default() -> Self {
        ThrottleSettings {
            base_delay_ms: 2_000,
            max_delay_ms: 60_000,
            forget_after_ms: 15 * 60_000,
            max_entries: 4096,
        }
    }
}

impl ThrottleSettings {
    /// The delay after `failures` consecutive failures (at least one).
    pub fn delay_ms(&self, failures: u32) -> u64 {
        let doublings = failures.saturating_sub(1).min(32);
        self.base_delay_ms
            .saturating_mul(1u64 << doublings)
            .min(self.max_delay_ms)
    }
}

/// The state kept for one UID.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    /// Consecutive failures.
    failures: u32,
    /// No check before this time (ms since the epoch).
    until_ms: u64,
    /// When the last failure was recorded.
    last_ms: u64,
    /// A check of this UID is running.
    busy: bool,
}

/// Why an attempt was refused without a check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The UID is inside the delay that follows its last failure.
    Delayed {
        /// Consecutive failures so far.
        failures: u32,
        /// Milliseconds until the next attempt is checked.
        retry_after_ms: u64,
    },
    /// Another check of the same UID is running.
    Busy,
    /// Every slot of the map is held by a running check.
    Full,
}

impl Refusal {
    /// Why, for the log.
    pub fn reason(&self) -> String {
        match self {
            Refusal::Delayed {
                failures,
                retry_after_ms,
            } => format!(
                "{failures} failed attempt(s): next attempt checked in {} s",
                retry_after_ms.div_ceil(1000)
            ),
            Refusal::Busy => "another authentication of the same uid is running".into(),
            Refusal::Full => "too many unprivileged authentications at once".into(),
        }
    }
}

/// Per-UID failure throttle. Share it in an `Arc`; it outlives
/// configuration reloads.
pub struct Throttle {
    settings: ThrottleSettings,
    clock: Arc<dyn Clock>,
    entries: Mutex<HashMap<u32, Entry>>,
}

impl std::fmt::Debug for Throttle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("settings", &self.settings)
            .field("uids", &self.len())
            .finish()
    }
}

/// The right to check one attempt of a UID; say how it went with
/// [`Ticket::succeeded`] or [`Ticket::failed`]. Dropped without either
/// (the check could not be made: no directory, a refused name), the UID's
/// state is left as it was.
pub struct Ticket {
    throttle: Arc<Throttle>,
    uid: u32,
    done: bool,
}

impl Throttle {
    /// A throttle with `settings`, reading time from `clock`.
    pub fn new(settings: ThrottleSettings, clock: Arc<dyn Clock>) -> Throttle {
        Throttle {
            settings,
            clock,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The settings.
    pub fn settings(&self) -> ThrottleSettings {
        self.settings
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// UIDs remembered now.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// True when no UID is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Consecutive failures of `uid` (0 when none are remembered).
    pub fn failures(&self, uid: u32) -> u32 {
        self.lock().get(&uid).map_or(0, |e| e.failures)
    }

    /// May an attempt of `uid` be checked now? The ticket marks the check
    /// as running until it is settled or dropped.
    pub fn admit(self: &Arc<Self>, uid: u32) -> Result<Ticket, Refusal> {
        let now = self.clock.now_ms();
        let mut entries = self.lock();
        if let Some(e) = entries.get_mut(&uid) {
            if e.busy {
                return Err(Refusal::Busy);
            }
            if now < e.until_ms {
                return Err(Refusal::Delayed {
                    failures: e.failures,
                    retry_after_ms: e.until_ms - now,
                });
            }
            if now.saturating_sub(e.last_ms) >= self.settings.forget_after_ms {
                e.failures = 0;
            }
            e.busy = true;
        } else {
            if entries.len() >= self.settings.max_entries && !self.evict(&mut entries, now) {
                return Err(Refusal::Full);
            }
            entries.insert(
                uid,
                Entry {
                    busy: true,
                    ..Entry::default()
                },
            );
        }
        Ok(Ticket {
            throttle: self.clone(),
            uid,
            done: false,
        })
    }

    /// Makes room for one entry: drops the idle entries whose window has
    /// passed, or else the idle one whose last failure is oldest. False
    /// when every entry is a running check.
    fn evict(&self, entries: &mut HashMap<u32, Entry>, now: u64) -> bool {
        let before = entries.len();
        entries.retain(|_, e| e.busy || now < e.until_ms);
        if entries.len() < before {
            return true;
        }
        let oldest = entries
            .iter()
            .filter(|(_, e)| !e.busy)
            .min_by_key(|(_, e)| e.last_ms)
            .map(|(uid, _)| *uid);
        match oldest {
            Some(uid) => {
                entries.remove(&uid);
                true
            }
            None => false,
        }
    }
}

impl Ticket {
    /// The attempt was right: the UID's failures are forgotten.
    pub fn succeeded(mut self) {
        self.done = true;
        self.throttle.lock().remove(&self.uid);
    }

    /// The attempt was wrong: counted, and the UID waits the delay it now
    /// has. Returns the failures so far and that delay (ms).
    pub fn failed(mut self) -> (u32, u64) {
        self.done = true;
        let now = self.throttle.clock.now_ms();
        let settings = self.throttle.settings;
        let mut entries = self.throttle.lock();
        let e = entries.entry(self.uid).or_default();
        e.failures = e.failures.saturating_add(1);
        let delay = settings.delay_ms(e.failures);
        e.until_ms = now.saturating_add(delay);
        e.last_ms = now;
        e.busy = false;
        (e.failures, delay)
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let mut entries = self.throttle.lock();
        if let Some(e) = entries.get_mut(&self.uid) {
            if e.failures == 0 {
                entries.remove(&self.uid);
            } else {
                e.busy = false;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn throttle(max_entries: usize) -> (Arc<Throttle>, Arc<ManualClock>) {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let settings = ThrottleSettings {
            max_entries,
            ..ThrottleSettings::default()
        };
        (Arc::new(Throttle::new(settings, clock.clone())), clock)
    }

    #[test]
    fn the_delay_doubles_up_to_the_maximum() {
        let s = ThrottleSettings::default();
        let delays: Vec<u64> = (1..=7).map(|n| s.delay_ms(n)).collect();
        assert_eq!(
            delays,
            [2_000, 4_000, 8_000, 16_000, 32_000, 60_000, 60_000]
        );
        assert_eq!(s.delay_ms(u32::MAX), 60_000);
    }

    #[test]
    fn each_failure_closes_a_growing_window() {
        let (t, clock) = throttle(16);
        t.admit(1000).unwrap().failed();
        assert_eq!(
            t.admit(1000).err(),
            Some(Refusal::Delayed {
                failures: 1,
                retry_after_ms: 2_000
            })
        );
        clock.advance(1_999);
        assert!(t.admit(1000).is_err(), "still inside the window");
        clock.advance(1);
        let (failures, delay) = t.admit(1000).unwrap().failed();
        assert_eq!((failures, delay), (2, 4_000));
        clock.advance(3_000);
        assert_eq!(
            t.admit(1000).err(),
            Some(Refusal::Delayed {
                failures: 2,
                retry_after_ms: 1_000
            })
        );
        // Refused attempts are not counted: the window does not grow.
        assert_eq!(t.failures(1000), 2);
        // Another UID is not slowed.
        t.admit(1001).unwrap().succeeded();
        assert_eq!(t.failures(1001), 0);
    }

    #[test]
    fn a_success_forgets_the_failures() {
        let (t, clock) = throttle(16);
        t.admit(1000).unwrap().failed();
        clock.advance(2_000);
        t.admit(1000).unwrap().succeeded();
        assert_eq!(t.failures(1000), 0);
        assert_eq!(t.len(), 0);
        // The next failure starts from the first delay again.
        assert_eq!(t.admit(1000).unwrap().failed(), (1, 2_000));
    }

    #[test]
    fn one_check_per_uid_at_a_time() {
        let (t, _clock) = throttle(16);
        let running = t.admit(1000).unwrap();
        assert_eq!(t.admit(1000).err(), Some(Refusal::Busy));
        drop(running);
        // Dropped without a verdict: nothing counted, nothing kept.
        assert_eq!(t.len(), 0);
        let running = t.admit(1000).unwrap();
        running.failed();
        assert_eq!(t.failures(1000), 1);
    }

    #[test]
    fn an_unsettled_check_keeps_earlier_failures() {
        let (t, clock) = throttle(16);
        t.admit(1000).unwrap().failed();
        clock.advance(2_000);
        drop(t.admit(1000).unwrap());
        assert_eq!(t.failures(1000), 1);
        assert!(t.admit(1000).is_ok(), "not left busy");
    }

    #[test]
    fn failures_are_forgotten_after_a_quiet_time() {
        let (t, clock) = throttle(16);
        for _ in 0..5 {
            t.admit(1000).unwrap().failed();
            clock.advance(60_000);
        }
        assert_eq!(t.failures(1000), 5);
        clock.advance(15 * 60_000);
        assert_eq!(t.admit(1000).unwrap().failed(), (1, 2_000));
    }

    #[test]
    fn the_map_is_bounded() {
        let (t, clock) = throttle(3);
        for uid in 1..=3 {
            t.admit(uid).unwrap().failed();
            clock.advance(10);
        }
        // Full, every window open: the oldest failure makes room.
        t.admit(4).unwrap().failed();
        assert_eq!(t.len(), 3);
        assert_eq!(t.failures(1), 0, "uid 1 evicted");
        assert_eq!(t.failures(4), 1);
        // Windows passed: those entries go first.
        clock.advance(60_000);
        let _a = t.admit(5).unwrap();
        assert!(t.len() <= 3);
        // Every entry a running check: refused, nothing evicted.
        let _b = t.admit(6).unwrap();
        let _c = t.admit(7).unwrap();
        assert_eq!(t.admit(8).err(), Some(Refusal::Full));
    }
}
