//! Wall-clock time: the one place that reads it as Unix seconds or
//! milliseconds ([`unix_secs`], [`unix_ms`], [`secs_since_epoch`]), and the
//! [`Clock`] trait the caches use so that tests control time.

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

/// A source of the current time (milliseconds since the Unix epoch).
pub trait Clock: Send + Sync {
    /// Now, in milliseconds since the Unix epoch.
    fn now_ms(&self) -> u64;
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
}
