//! Per-UID connection accounting, so that one local user cannot take every
//! connection slot of `nss.sock` and stall lookups of everyone else.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Open connections per peer UID.
#[derive(Default)]
pub struct PeerCounts {
    counts: Mutex<HashMap<u32, usize>>,
}

/// One counted connection; uncounted when dropped.
pub struct PeerGuard {
    peers: Arc<PeerCounts>,
    uid: u32,
}

impl PeerCounts {
    /// Counts a connection of `uid` unless it already has `max` open.
    pub fn try_acquire(self: &Arc<Self>, uid: u32, max: usize) -> Option<PeerGuard> {
        let mut counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        let n = counts.entry(uid).or_insert(0);
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(PeerGuard {
            peers: self.clone(),
            uid,
        })
    }

    /// Open connections of `uid`.
    pub fn open(&self, uid: u32) -> usize {
        let counts = self.counts.lock().unwrap_or_else(|e| e.into_inner());
        counts.get(&uid).copied().unwrap_or(0)
    }
}

impl Drop for PeerGuard {
    fn drop(&mut self) {
        let mut counts = self.peers.counts.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(n) = counts.get_mut(&self.uid) {
            *n -= 1;
            if *n == 0 {
                counts.remove(&self.uid);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_uid_and_releases_on_drop() {
        let peers = Arc::new(PeerCounts::default());
        let a = peers.try_acquire(1000, 2).unwrap();
        let _b = peers.try_acquire(1000, 2).unwrap();
        assert!(peers.try_acquire(1000, 2).is_none());
        let _other = peers.try_acquire(1001, 2).unwrap();
        drop(a);
        assert_eq!(peers.open(1000), 1);
        assert!(peers.try_acquire(1000, 2).is_some());
    }
}
