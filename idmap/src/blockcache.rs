//! A lock-free cache of a domain's first RID blocks: entry `k` holds a
//! non-zero value once block `k` (RIDs `k*size ..`) has a settled place
//! (an sss slice's first ID, or an autorid slot + 1). Places never move
//! once given, so a cached value is always right; a miss falls back to the
//! locked, authoritative path.

use std::sync::atomic::{AtomicU32, Ordering};

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
