//! A lock-free cache of a domain's first RID blocks: entry `k` holds a
//! non-zero value once block `k` (RIDs `k*size ..`) has a settled place
//! (an sss slice's first ID, or an autorid slot + 1). Places never move
//! once given, so a cached value is always right; a miss falls back to the
//! locked, authoritative path.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

/// Blocks cached per domain.
pub const CACHED_BLOCKS: usize = 64;

/// See the module documentation.
#[derive(Debug)]
pub struct BlockCache([AtomicU32; CACHED_BLOCKS]);

impl Default for BlockCache {
    fn default() -> Self {
        BlockCache(std::array::from_fn(|_| AtomicU32::new(0)))
    }
}

impl BlockCache {
    /// The cached value of block `k`, if any.
    #[inline]
    pub fn get(&self, k: u32) -> Option<u32> {
        let v = self.0.get(k as usize)?.load(Ordering::Acquire);
        (v != 0).then_some(v)
    }

    /// Records block `k`'s value (ignored beyond the cached blocks or for 0).
    #[inline]
    pub fn set(&self, k: u32, v: u32) {
        if let Some(a) = self.0.get(k as usize) {
            a.store(v, Ordering::Release);
        }
    }
}

/// Most slots a [`SlotCache`] covers.
pub const CACHED_SLOTS: usize = 1 << 16;

/// A lock-free cache for ID → SID: entry `s` (an sss slice or autorid
/// slot of the pool) holds the domain index and the first RID of the
/// range settled there. Settled ranges never move, so a hit is always
/// right; a miss falls back to the locked path.
#[derive(Debug)]
pub struct SlotCache(Box<[AtomicU64]>);

impl SlotCache {
    /// A cache for the first `slots` slots (at most [`CACHED_SLOTS`]).
    pub fn new(slots: u32) -> SlotCache {
        let n = (slots as usize).min(CACHED_SLOTS);
        SlotCache((0..n).map(|_| AtomicU64::new(0)).collect())
    }

    /// (domain index, first RID) of slot `s`, if cached.
    #[inline]
    pub fn get(&self, s: u32) -> Option<(usize, u32)> {
        let v = self.0.get(s as usize)?.load(Ordering::Acquire);
        (v != 0).then(|| ((v >> 32) as usize - 1, v as u32))
    }

    /// Records slot `s` (ignored beyond the cached slots).
    #[inline]
    pub fn set(&self, s: u32, domain: usize, first_rid: u32) {
        if let (Some(a), Ok(d)) = (self.0.get(s as usize), u32::try_from(domain + 1)) {
            a.store(
                (u64::from(d) << 32) | u64::from(first_rid),
                Ordering::Release,
            );
        }
    }
}
