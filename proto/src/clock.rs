//! Time: the one place roster reads a clock. Wall-clock time as Unix
//! seconds or milliseconds ([`unix_secs`], [`unix_ms`],
//! [`secs_since_epoch`]); `CLOCK_MONOTONIC` in milliseconds
//! ([`monotonic_ms`], shared by every process on the host: the memory
//! cache's expiries and the NSS module's back-off); the process's CPU time
//! ([`process_on_cpu_ns`], for the benchmarks); and the [`Clock`]
//! trait through which the caches and the PAM service read the time, so
//! that tests move it ([`ManualClock`]).
//!
//! It lives in `roster-proto`, the lowest crate every roster process
//! (rosterd, rosterctl, the NSS and PAM modules) shares.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// `t` in whole seconds since the Unix epoch (0 for a time before it).
pub fn secs_since_epoch(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Now, in whole seconds since the Unix epoch.
pub fn unix_secs() -> u64 {
    secs_since_epoch(SystemTime::now())
}

/// Now, in milliseconds since the Unix epoch.
pub fn unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `CLOCK_MONOTONIC` in milliseconds: never goes back, unaffected by
/// settimeofday, and the same for every process on the host (a parent and
/// its forked child, rosterd and the NSS module reading its memory cache).
/// 0 if the clock cannot be read.
pub fn monotonic_ms() -> u64 {
    read_clock(libc::CLOCK_MONOTONIC).map_or(0, |(secs, nanos)| {
        secs.saturating_mul(1000).saturating_add(nanos / 1_000_000)
    })
}

/// This process's time on a CPU so far (`CLOCK_PROCESS_CPUTIME_ID`), in
/// nanoseconds, to the nanosecond (the benchmarks' measure of a lookup's
/// cost to its caller); 0 if the clock cannot be read.
pub fn process_on_cpu_ns() -> u64 {
    read_clock(libc::CLOCK_PROCESS_CPUTIME_ID).map_or(0, |(secs, nanos)| {
        secs.saturating_mul(1_000_000_000).saturating_add(nanos)
    })
}

/// Clock `id` now: whole seconds and nanoseconds.
fn read_clock(id: libc::clockid_t) -> Option<(u64, u64)> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes one timespec into the valid local `ts`.
    // (libc, not nix: this runs inside the NSS and PAM modules.)
    let rc = unsafe { libc::clock_gettime(id, &mut ts) };
    (rc == 0).then_some((ts.tv_sec as u64, ts.tv_nsec as u64))
}

/// A source of the current wall-clock time.
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;

    /// Now, in whole seconds since the Unix epoch.
    fn now_secs(&self) -> u64 {
        self.now_ms() / 1000
    }
}

/// The system clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> u64 {
        unix_ms()
    }
}

/// A clock that only moves when told to (for tests).
#[derive(Debug, Default)]
pub struct ManualClock(AtomicU64);

impl ManualClock {
    /// A clock showing `ms`.
    pub fn new(ms: u64) -> Self {
        ManualClock(AtomicU64::new(ms))
    }
    /// Moves the clock forward by `ms`.
    pub fn advance(&self, ms: u64) {
        self.0.fetch_add(ms, Ordering::SeqCst);
    }
    /// Sets the clock to `ms`, backwards too (a wall clock stepped back).
    pub fn set(&self, ms: u64) {
        self.0.store(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn the_process_cpu_clock_counts_work_to_the_nanosecond() {
        let before = process_on_cpu_ns();
        assert_ne!(before, 0);
        let mut x = 0u64;
        for i in 0..200_000u64 {
            x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(i));
        }
        let after = process_on_cpu_ns();
        assert!(after > before, "{after} after {before} ({x})");
        assert!(monotonic_ms() > 0);
    }

    #[test]
    fn unix_times_agree_and_clamp_before_the_epoch() {
        assert_eq!(
            secs_since_epoch(UNIX_EPOCH + Duration::from_millis(5_999)),
            5
        );
        assert_eq!(secs_since_epoch(UNIX_EPOCH - Duration::from_secs(1)), 0);
        let (s, ms) = (unix_secs(), unix_ms());
        assert!(ms / 1000 >= s && ms / 1000 - s <= 1, "{s} {ms}");
        assert!(SystemClock.now_ms() >= ms);
    }

    #[test]
    fn the_monotonic_clock_never_goes_back() {
        let a = monotonic_ms();
        let b = monotonic_ms();
        assert!(a > 0 && b >= a, "{a} {b}");
    }

    #[test]
    fn a_manual_clock_moves_only_when_told() {
        let c = ManualClock::new(5_000);
        assert_eq!((c.now_ms(), c.now_secs()), (5_000, 5));
        c.advance(1_500);
        assert_eq!((c.now_ms(), c.now_secs()), (6_500, 6));
    }
}
