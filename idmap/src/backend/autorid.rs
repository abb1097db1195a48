//! autorid: ranges of `rangesize` IDs handed to domains on first sight
//! (Samba idmap_autorid style), or at a slot chosen by hash of the SID
//! (`deterministic`, probing on collision as SSSD does).
//!
//! A domain's RIDs are cut in blocks of `rangesize`; each block (domain
//! SID, index = rid / rangesize) gets its own slot when first needed, so
//! large RIDs work as in Samba. `id = low + slot*rangesize + rid %
//! rangesize`, and back.

use std::collections::HashMap;
use std::path::Path;
use std::sync::{Mutex, RwLock};

use crate::error::IdmapError;
use crate::fxhash::FxBuild;
use crate::murmur::{murmurhash3_x86_32, SSS_SEED};
use crate::settings::AutoridParams;
use crate::sid::Sid;
use crate::store::{AutoridStore, Record};

/// Where allocations are kept.
#[derive(Debug, Clone, Copy)]
pub enum StoreMode<'a> {
    /// In memory only: lost at exit (tests, or no state directory).
    Memory,
    /// In this directory, durably.
    Durable(&'a Path),
    /// Read existing allocations from this directory but never write: new
    /// allocations live in memory only (for an offline "what would
    /// happen" answer).
    ReadOnly(&'a Path),
}

/// The allocation table of one pool, in memory.
#[derive(Debug, Clone)]
pub struct AutoridTable {
    params: AutoridParams,
    by_key: HashMap<(Sid, u32), u32, FxBuild>,
    by_slot: HashMap<u32, (Sid, u32), FxBuild>,
}

impl AutoridTable {
    /// An empty table.
    pub fn new(params: AutoridParams) -> AutoridTable {
        AutoridTable {
            params,
            by_key: HashMap::default(),
            by_slot: HashMap::default(),
        }
    }

    /// The pool parameters.
    pub fn params(&self) -> &AutoridParams {
        &self.params
    }

    /// The slot of block `index` of `domain`, if allocated.
    #[inline]
    pub fn slot(&self, domain: &Sid, index: u32) -> Option<u32> {
        self.by_key.get(&(*domain, index)).copied()
    }

    /// Who holds `slot`.
    pub fn owner(&self, slot: u32) -> Option<(Sid, u32)> {
        self.by_slot.get(&slot).copied()
    }

    /// The slot a new allocation of (domain, index) would get.
    pub fn choose(&self, domain: &Sid, index: u32) -> Result<u32, IdmapError> {
        let p = &self.params;
        let slots = p.slots();
        let start = if p.deterministic {
            let key = if index == 0 {
                domain.to_string()
            } else {
                format!("{domain}-{}", u64::from(index) * u64::from(p.rangesize))
            };
            murmurhash3_x86_32(key.as_bytes(), SSS_SEED) % slots
        } else {
            0
        };
        let mut s = start;
        loop {
            if !self.by_slot.contains_key(&s) {
                return Ok(s);
            }
            s = if s + 1 >= slots { 0 } else { s + 1 };
            if s == start {
                return Err(IdmapError::PoolExhausted {
                    low: p.low,
                    high: p.high,
                    slots,
                    rangesize: p.rangesize,
                });
            }
        }
    }

    /// Records an allocation; an existing identical one is fine, a
    /// conflicting one is an error message.
    pub fn insert(&mut self, r: Record) -> Result<(), String> {
        match (
            self.by_key.get(&(r.domain, r.index)),
            self.by_slot.get(&r.slot),
        ) {
            (Some(s), Some(k)) if *s == r.slot && *k == (r.domain, r.index) => Ok(()),
            (None, None) => {
                self.by_key.insert((r.domain, r.index), r.slot);
                self.by_slot.insert(r.slot, (r.domain, r.index));
                Ok(())
            }
            (Some(s), _) if *s != r.slot => Err(format!(
                "block {} of {} is recorded in both slot {s} and slot {}",
                r.index, r.domain, r.slot
            )),
            _ => {
                let (d, i) = self.by_slot[&r.slot];
                Err(format!(
                    "slot {} is recorded for both block {i} of {d} and block {} of {}",
                    r.slot, r.index, r.domain
                ))
            }
        }
    }

    /// Every allocation, by slot.
    pub fn records(&self) -> Vec<Record> {
        let mut v: Vec<Record> = self
            .by_slot
            .iter()
            .map(|(slot, (domain, index))| Record {
                slot: *slot,
                domain: *domain,
                index: *index,
            })
            .collect();
        v.sort_by_key(|r| r.slot);
        v
    }

    /// The ID of `rid` of `domain`, or `Err(index)` when its block has no
    /// slot yet.
    #[inline]
    pub fn id_for(&self, domain: &Sid, rid: u32) -> Result<u32, u32> {
        let rs = self.params.rangesize;
        let index = rid / rs;
        match self.slot(domain, index) {
            Some(slot) => Ok(self.params.low + slot * rs + rid % rs),
            None => Err(index),
        }
    }

    /// The (domain, RID) of `id`: `None` if outside the pool, `Some(Err(slot))`
    /// if its slot is not allocated.
    pub fn rid_for(&self, id: u32) -> Option<Result<(Sid, u32), u32>> {
        let p = &self.params;
        let (low, high) = p.span();
        if id < low || id > high {
            return None;
        }
        let off = id - p.low;
        let slot = off / p.rangesize;
        Some(match self.by_slot.get(&slot) {
            Some((d, index)) => {
                let rid = u64::from(*index) * u64::from(p.rangesize) + u64::from(off % p.rangesize);
                u32::try_from(rid).map(|r| (*d, r)).map_err(|_| slot)
            }
            None => Err(slot),
        })
    }
}

/// A pool shared by the autorid domains with the same parameters: the
/// in-memory table plus its store.
#[derive(Debug)]
pub struct AutoridPool {
    table: RwLock<AutoridTable>,
    store: Option<AutoridStore>,
    writable: bool,
    alloc: Mutex<()>,
}

impl AutoridPool {
    /// Opens the pool, loading existing allocations from the store.
    pub fn open(params: AutoridParams, mode: StoreMode<'_>) -> Result<AutoridPool, IdmapError> {
        let (store, writable) = match mode {
            StoreMode::Memory => (None, true),
            StoreMode::Durable(dir) => (Some(AutoridStore::new(dir, &params, true)?), true),
            StoreMode::ReadOnly(dir) => (Some(AutoridStore::new(dir, &params, false)?), false),
        };
        let mut table = AutoridTable::new(params);
        if let Some(s) = &store {
            for r in s.load(&params)? {
                table.insert(r).map_err(|reason| IdmapError::StoreCorrupt {
                    path: s.path().to_path_buf(),
                    line: 0,
                    reason,
                })?;
            }
        }
        Ok(AutoridPool {
            table: RwLock::new(table),
            store,
            writable,
            alloc: Mutex::new(()),
        })
    }

    /// The pool parameters.
    pub fn params(&self) -> AutoridParams {
        *self.read().params()
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, AutoridTable> {
        self.table.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, AutoridTable> {
        self.table.write().unwrap_or_else(|e| e.into_inner())
    }

    /// The ID of `rid` of `domain`, allocating (durably) the slot of its
    /// block on first sight.
    #[inline]
    pub fn id_for(&self, domain: &Sid, rid: u32) -> Result<u32, IdmapError> {
        if let Ok(id) = self.read().id_for(domain, rid) {
            return Ok(id);
        }
        let rs = self.params().rangesize;
        self.allocate(domain, rid / rs)?;
        self.read()
            .id_for(domain, rid)
            .map_err(|_| unreachable_alloc())
    }

    /// Makes sure block `index` of `domain` has a slot; returns it. The
    /// slot is on disk before this returns (durable mode).
    pub fn allocate(&self, domain: &Sid, index: u32) -> Result<u32, IdmapError> {
        let _guard = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(s) = self.read().slot(domain, index) {
            return Ok(s);
        }
        let store = match &self.store {
            Some(s) if self.writable => s,
            _ => {
                let slot = self.read().choose(domain, index)?;
                let rec = Record {
                    slot,
                    domain: *domain,
                    index,
                };
                self.write().insert(rec).map_err(|_| unreachable_alloc())?;
                return Ok(slot);
            }
        };
        let params = self.params();
        let _lock = store.lock()?;
        // Another process may have allocated since we loaded: merge first.
        let on_disk = store.load(&params)?;
        {
            let mut t = self.write();
            for r in on_disk {
                t.insert(r).map_err(|reason| IdmapError::StoreCorrupt {
                    path: store.path().to_path_buf(),
                    line: 0,
                    reason,
                })?;
            }
        }
        if let Some(s) = self.read().slot(domain, index) {
            return Ok(s);
        }
        let (rec, mut records) = {
            let t = self.read();
            let slot = t.choose(domain, index)?;
            (
                Record {
                    slot,
                    domain: *domain,
                    index,
                },
                t.records(),
            )
        };
        records.push(rec);
        records.sort_by_key(|r| r.slot);
        store.commit(&params, &records)?;
        self.write().insert(rec).map_err(|_| unreachable_alloc())?;
        Ok(rec.slot)
    }

    /// The slot of block `index` of `domain`, if allocated (no allocation).
    pub fn slot(&self, domain: &Sid, index: u32) -> Option<u32> {
        self.read().slot(domain, index)
    }

    /// The SID of `id`: `None` outside the pool.
    pub fn sid_for(&self, id: u32) -> Option<Result<Sid, IdmapError>> {
        self.read().rid_for(id).map(|r| match r {
            Ok((d, rid)) => d.with_rid(rid).map_err(IdmapError::from),
            Err(slot) => Err(IdmapError::SlotUnallocated { id, slot }),
        })
    }

    /// A copy of every allocation.
    pub fn records(&self) -> Vec<Record> {
        self.read().records()
    }
}

fn unreachable_alloc() -> IdmapError {
    IdmapError::StoreCorrupt {
        path: Default::default(),
        line: 0,
        reason: "allocation vanished from the in-memory table".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(det: bool) -> AutoridParams {
        AutoridParams {
            low: 1_000_000,
            high: 1_999_999,
            rangesize: 100_000,
            deterministic: det,
        }
    }

    fn sid(s: &str) -> Sid {
        s.parse().unwrap()
    }

    #[test]
    fn first_seen_order_and_large_rids() {
        let p = AutoridPool::open(params(false), StoreMode::Memory).unwrap();
        let a = sid("S-1-5-21-1-1-1");
        let b = sid("S-1-5-21-2-2-2");
        assert_eq!(p.id_for(&a, 500).unwrap(), 1_000_500);
        assert_eq!(p.id_for(&b, 500).unwrap(), 1_100_500);
        assert_eq!(p.id_for(&a, 250_001).unwrap(), 1_250_001);
        assert_eq!(
            p.sid_for(1_250_001).unwrap().unwrap(),
            a.with_rid(250_001).unwrap()
        );
        assert_eq!(
            p.sid_for(1_100_500).unwrap().unwrap(),
            b.with_rid(500).unwrap()
        );
        assert!(matches!(
            p.sid_for(1_900_000),
            Some(Err(IdmapError::SlotUnallocated { slot: 9, .. }))
        ));
        assert!(p.sid_for(999_999).is_none());
        assert!(p.sid_for(2_000_000).is_none());
    }

    #[test]
    fn exhaustion_is_an_error() {
        let p = AutoridPool::open(
            AutoridParams {
                low: 10_000,
                high: 10_199,
                rangesize: 100,
                deterministic: true,
            },
            StoreMode::Memory,
        )
        .unwrap();
        p.id_for(&sid("S-1-5-21-1-1-1"), 1).unwrap();
        p.id_for(&sid("S-1-5-21-1-1-2"), 1).unwrap();
        let e = p.id_for(&sid("S-1-5-21-1-1-3"), 1).unwrap_err();
        assert!(
            matches!(e, IdmapError::PoolExhausted { slots: 2, .. }),
            "{e}"
        );
    }

    #[test]
    fn durable_store_survives_reopen_and_refuses_rangesize_change() {
        let dir = tempfile::tempdir().unwrap();
        let a = sid("S-1-5-21-7-7-7");
        {
            let p = AutoridPool::open(params(false), StoreMode::Durable(dir.path())).unwrap();
            p.id_for(&sid("S-1-5-21-1-1-1"), 1).unwrap();
            assert_eq!(p.id_for(&a, 5).unwrap(), 1_100_005);
        }
        let p = AutoridPool::open(params(false), StoreMode::Durable(dir.path())).unwrap();
        assert_eq!(
            p.sid_for(1_100_005).unwrap().unwrap(),
            a.with_rid(5).unwrap()
        );
        let mut other = params(false);
        other.rangesize = 50_000;
        let e = AutoridPool::open(other, StoreMode::Durable(dir.path())).unwrap_err();
        assert!(e.to_string().contains("rangesize 100000"), "{e}");
        // Read-only: answers, allocates in memory, writes nothing.
        let ro = AutoridPool::open(params(false), StoreMode::ReadOnly(dir.path())).unwrap();
        assert_eq!(ro.id_for(&sid("S-1-5-21-9-9-9"), 0).unwrap(), 1_200_000);
        let again = AutoridPool::open(params(false), StoreMode::Durable(dir.path())).unwrap();
        assert_eq!(again.records().len(), 2);
        // Read-only never creates the state directory.
        let missing = dir.path().join("not-there");
        let ro = AutoridPool::open(params(false), StoreMode::ReadOnly(&missing)).unwrap();
        assert_eq!(ro.id_for(&a, 5).unwrap(), 1_000_005);
        assert!(!missing.exists());
    }

    #[test]
    fn corrupt_store_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("autorid-1000000.map");
        std::fs::write(
            &path,
            "roster-autorid v1 low 1000000 rangesize 100000\n0 S-1-5-21-1-1-1 0\n0 S-1-5-21-2-2-2 0\n",
        )
        .unwrap();
        let e = AutoridPool::open(params(false), StoreMode::Durable(dir.path())).unwrap_err();
        assert!(e.to_string().contains("slot 0 is recorded for both"), "{e}");
        std::fs::write(
            &path,
            "roster-autorid v1 low 1000000 rangesize 100000\n10 S-1-5-21-1-1-1 0\n",
        )
        .unwrap();
        let e = AutoridPool::open(params(false), StoreMode::Durable(dir.path())).unwrap_err();
        assert!(e.to_string().contains("beyond autorid_high"), "{e}");
    }
}
