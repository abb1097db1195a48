//! autorid: ranges of `rangesize` IDs handed to domains on first sight
//! (Samba idmap_autorid style), or at a slot chosen by hash of the SID
//! (`deterministic`).
//!
//! A domain's RIDs are cut in blocks of `rangesize`; each block (domain
//! SID, index = rid / rangesize) gets its own slot when first needed, so
//! large RIDs work as in Samba. `id = low + slot*rangesize + rid %
//! rangesize`, and back.
//!
//! Deterministic placement is a function of the configuration only: the
//! first `deterministic_blocks` blocks of every domain with a configured
//! `domain_sid` are placed all together when the pool opens, in key order
//! (domain SID, then block): each takes its hash slot, or, when a lower
//! key already holds it, probes on to the next free one. A block met at
//! run time (a domain whose SID is learnt from its DC, or a block beyond
//! `deterministic_blocks`) only ever takes its hash slot: when that slot
//! is held it is refused ([`IdmapError::BlockRefused`]) rather than
//! probed on, because where it would land would depend on what this host
//! met before.
//!
//! With a [`SharedStore`] (`idmap_store = "ldap"`), every allocation is
//! first claimed in the shared store (an add that fails when the slot is
//! taken); the local file is the offline copy. A block met while the
//! shared store is unreachable is not allocated. When the local copy and
//! the shared store disagree about a domain, that domain is not mapped
//! ([`IdmapError::Disputed`]) until an administrator settles it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::error::IdmapError;
use crate::murmur::{murmurhash3_x86_32, SSS_SEED};
use crate::settings::AutoridParams;
use crate::sid::Sid;
use crate::store::{AutoridStore, Record, SharedStore};
use rustc_hash::FxBuildHasher;

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
    by_key: HashMap<(Sid, u32), u32, FxBuildHasher>,
    by_slot: HashMap<u32, (Sid, u32), FxBuildHasher>,
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

    /// The hash slot of block `index` of `domain` (SSSD's key: the SID
    /// string, then `SID-firstRID` for further blocks).
    pub fn home(params: &AutoridParams, domain: &Sid, index: u32) -> u32 {
        let key = if index == 0 {
            domain.to_string()
        } else {
            format!(
                "{domain}-{}",
                u64::from(index) * u64::from(params.rangesize)
            )
        };
        murmurhash3_x86_32(key.as_bytes(), SSS_SEED) % params.slots()
    }

    /// The deterministic placement of the first `params.blocks` blocks of
    /// `domains`, a function of the set only: keys in (SID, block) order,
    /// each at its hash slot or the next free one after it.
    pub fn plan(params: &AutoridParams, domains: &[Sid]) -> Result<Vec<Record>, IdmapError> {
        let mut keys: Vec<(Sid, u32)> = domains
            .iter()
            .flat_map(|d| (0..params.blocks).map(move |i| (*d, i)))
            .collect();
        keys.sort();
        keys.dedup();
        let mut t = AutoridTable::new(*params);
        for (d, i) in keys {
            let slot = t.probe(AutoridTable::home(params, &d, i))?;
            t.by_key.insert((d, i), slot);
            t.by_slot.insert(slot, (d, i));
        }
        Ok(t.records())
    }

    /// The first free slot from `start` on, wrapping.
    fn probe(&self, start: u32) -> Result<u32, IdmapError> {
        let p = &self.params;
        let slots = p.slots();
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

    /// The slot a new allocation of (domain, index) met at run time
    /// would get: first-seen, the lowest free slot; deterministic, its hash
    /// slot only (refused when held).
    pub fn choose(&self, domain: &Sid, index: u32) -> Result<u32, IdmapError> {
        if !self.params.deterministic {
            return self.probe(0);
        }
        let home = AutoridTable::home(&self.params, domain, index);
        match self.by_slot.get(&home) {
            None => Ok(home),
            Some((holder, holder_index)) => Err(IdmapError::BlockRefused {
                domain: domain.to_string(),
                index,
                slot: home,
                holder: holder.to_string(),
                holder_index: *holder_index,
            }),
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

/// How often at most an ID of an unallocated slot makes the pool read
/// the shared store again.
const SHARED_REFRESH: Duration = Duration::from_secs(5);

/// How many times an allocation is tried again when another host claims
/// the chosen slot first.
const CLAIM_ATTEMPTS: usize = 8;

/// Waits a random while of up to 2^`lost` ms (16 at most) after `lost`
/// claims lost in a row: hosts that lost the same slot then read the
/// store again at different times, instead of all choosing the same next
/// slot at once again (three hosts meeting six domains together lost one
/// of them eight claims in a row).
fn back_off(lost: usize) {
    use std::hash::BuildHasher;
    let most_ms = 1u64 << lost.min(4);
    // (RandomState's keys are random for each process and thread.)
    let random = std::hash::RandomState::new().hash_one(std::time::Instant::now());
    std::thread::sleep(Duration::from_millis(random % (most_ms + 1)));
}

/// A pool shared by the autorid domains with the same parameters: the
/// in-memory table plus its stores.
#[derive(Debug)]
pub struct AutoridPool {
    table: RwLock<AutoridTable>,
    store: Option<AutoridStore>,
    writable: bool,
    shared: Option<Arc<dyn SharedStore>>,
    /// Configured names of domain SIDs (written to the local file).
    names: RwLock<BTreeMap<Sid, String>>,
    /// Domains not mapped because the local copy and the shared store
    /// disagree, with the reason.
    disputed: RwLock<BTreeMap<Sid, String>>,
    /// Why the shared store could not be read when the pool opened (the
    /// local copy is used meanwhile).
    offline: Mutex<Option<String>>,
    /// When the shared store was last read for an unknown slot.
    refreshed: Mutex<Refreshed>,
    /// Signalled when a reading of [`AutoridPool::refreshed`] ends.
    refresh_ended: Condvar,
    alloc: Mutex<()>,
}

/// Marks the shared store's reading for an unknown slot as ended when
/// dropped (however it ends), waking those waiting for it.
struct RefreshEnds<'a>(&'a Mutex<Refreshed>, &'a Condvar);

impl Drop for RefreshEnds<'_> {
    fn drop(&mut self) {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).running = false;
        self.1.notify_all();
    }
}

/// What an unknown slot's ID does about the shared store
/// ([`AutoridPool::refresh_due`]).
enum Due {
    /// Reads it again.
    Now,
    /// Waits for the reading under way (another thread's).
    Running,
    /// Nothing: it was read less than [`SHARED_REFRESH`] ago.
    Later,
}

/// When the shared store was last read again for an unknown slot, and
/// whether that reading is still under way.
#[derive(Debug, Default)]
struct Refreshed {
    at: Option<Instant>,
    running: bool,
}

impl Refreshed {
    /// Whether an unknown slot's ID leads to a reading of the shared
    /// store: one is under way, or the last is [`SHARED_REFRESH`] old.
    fn due(&self) -> bool {
        self.running || self.at.is_none_or(|t| t.elapsed() >= SHARED_REFRESH)
    }
}

impl AutoridPool {
    /// Opens the pool, loading existing allocations from the store.
    pub fn open(params: AutoridParams, mode: StoreMode<'_>) -> Result<AutoridPool, IdmapError> {
        AutoridPool::open_with(params, mode, None, &[])
    }

    /// Opens the pool: loads the local allocations, places the configured
    /// domains (`(SID, name)`) deterministically when the pool is
    /// deterministic (a recorded allocation that disagrees with that
    /// placement is refused, naming the domain), and reconciles with the
    /// shared store when there is one (unreachable: the local copy is used).
    pub fn open_with(
        params: AutoridParams,
        mode: StoreMode<'_>,
        shared: Option<Arc<dyn SharedStore>>,
        configured: &[(Sid, String)],
    ) -> Result<AutoridPool, IdmapError> {
        let (store, writable) = match mode {
            StoreMode::Memory => (None, true),
            StoreMode::Durable(dir) => (Some(AutoridStore::new(dir, &params, true)?), true),
            StoreMode::ReadOnly(dir) => (Some(AutoridStore::new(dir, &params, false)?), false),
        };
        let pool = AutoridPool {
            table: RwLock::new(AutoridTable::new(params)),
            store,
            writable,
            shared,
            names: RwLock::new(configured.iter().map(|(s, n)| (*s, n.clone())).collect()),
            disputed: RwLock::new(BTreeMap::new()),
            offline: Mutex::new(None),
            refreshed: Mutex::new(Refreshed::default()),
            refresh_ended: Condvar::new(),
            alloc: Mutex::new(()),
        };
        let _lock = match (&pool.store, writable) {
            (Some(s), true) => Some(s.lock()?),
            _ => None,
        };
        let mut dirty = pool.merge_local()?;
        if params.deterministic {
            let sids: Vec<Sid> = configured.iter().map(|(s, _)| *s).collect();
            for r in AutoridTable::plan(&params, &sids)? {
                dirty |= pool.place_planned(r)?;
            }
        }
        if let Some(sh) = pool.shared.clone() {
            match sh.load() {
                Ok(recs) => {
                    dirty |= pool.merge_shared(&recs);
                    pool.publish_local(sh.as_ref(), &recs);
                }
                Err(e) => {
                    *pool.offline.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(format!("{}: {e}", sh.describe()))
                }
            }
        }
        if dirty {
            pool.commit_local()?;
        }
        Ok(pool)
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

    fn store_name(&self) -> String {
        match (&self.shared, &self.store) {
            (Some(s), _) => s.describe(),
            (None, Some(s)) => s.path().display().to_string(),
            (None, None) => "memory".into(),
        }
    }

    fn name_of(&self, sid: &Sid) -> String {
        self.names
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(sid)
            .cloned()
            .unwrap_or_else(|| sid.to_string())
    }

    /// Remembers the configured name of a domain SID (written with its
    /// allocations, so that `rosterctl idmap reset NAME` finds them).
    /// Returns true when the name is new (see [`AutoridPool::save_names`]).
    pub fn name_domain(&self, sid: &Sid, name: &str) -> bool {
        self.names
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .insert(*sid, name.to_string())
            .as_deref()
            != Some(name)
    }

    /// Writes the local file again so that it holds the names learnt
    /// since it was last written (durable mode only).
    pub fn save_names(&self) -> Result<(), IdmapError> {
        let Some(s) = self.store.as_ref().filter(|_| self.writable) else {
            return Ok(());
        };
        let _guard = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
        let _lock = s.lock()?;
        self.merge_local()?;
        self.commit_local()
    }

    /// The configured names known for domain SIDs (local file and
    /// configuration).
    pub fn names(&self) -> BTreeMap<Sid, String> {
        self.names.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Merges the local file into the table; true when the table has
    /// allocations the file lacks.
    fn merge_local(&self) -> Result<bool, IdmapError> {
        let Some(s) = &self.store else {
            return Ok(false);
        };
        let params = self.params();
        let file = s.load(&params)?;
        {
            let mut names = self.names.write().unwrap_or_else(|e| e.into_inner());
            for (sid, n) in file.names {
                names.entry(sid).or_insert(n);
            }
        }
        let mut t = self.write();
        for r in &file.records {
            t.insert(*r).map_err(|reason| IdmapError::StoreCorrupt {
                path: s.path().to_path_buf(),
                line: 0,
                reason,
            })?;
        }
        Ok(t.by_key.len() > file.records.len())
    }

    /// Puts a planned (deterministic) allocation in the table; a recorded
    /// one that disagrees is refused. True when it was new.
    fn place_planned(&self, r: Record) -> Result<bool, IdmapError> {
        let mut t = self.write();
        let path = self
            .store
            .as_ref()
            .map(|s| s.path().to_path_buf())
            .unwrap_or_default();
        if let Some(s) = t.slot(&r.domain, r.index) {
            if s == r.slot {
                return Ok(false);
            }
            return Err(IdmapError::Recorded {
                domain: self.name_of(&r.domain),
                path,
                reason: format!(
                    "block {} of {} is recorded in slot {s}, but deterministic placement of the \
                     configured domains puts it in slot {}",
                    r.index, r.domain, r.slot
                ),
            });
        }
        if let Some((d, i)) = t.owner(r.slot) {
            return Err(IdmapError::Recorded {
                domain: self.name_of(&r.domain),
                path,
                reason: format!(
                    "deterministic placement of the configured domains puts block {} of {} in \
                     slot {}, which is recorded for block {i} of {} (\"{}\")",
                    r.index,
                    r.domain,
                    r.slot,
                    d,
                    self.name_of(&d)
                ),
            });
        }
        t.insert(r).map_err(|_| unreachable_alloc())?;
        Ok(true)
    }

    fn dispute(&self, sid: &Sid, reason: String) {
        self.disputed
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .entry(*sid)
            .or_insert(reason);
    }

    /// The domains not mapped because the local copy and the shared store
    /// disagree: (domain name or SID, reason).
    pub fn disputes(&self) -> Vec<(String, String)> {
        self.disputed
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(s, r)| (self.name_of(s), r.clone()))
            .collect()
    }

    fn disputed_error(&self, sid: &Sid) -> Option<IdmapError> {
        let d = self.disputed.read().unwrap_or_else(|e| e.into_inner());
        d.get(sid).map(|reason| IdmapError::Disputed {
            domain: format!("\"{}\" ({sid})", self.name_of(sid)),
            store: self.store_name(),
            reason: reason.clone(),
        })
    }

    /// Why the shared store could not be read when the pool opened, if it
    /// could not (the local copy is used; new blocks are not allocated
    /// until it answers).
    pub fn shared_offline(&self) -> Option<String> {
        self.offline
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Merges the shared store's allocations into the table; disagreements
    /// mark both domains disputed. True when the table gained allocations.
    fn merge_shared(&self, recs: &[Record]) -> bool {
        // A key claimed twice (two servers replicating late): its lowest
        // slot wins, everywhere.
        let mut best: BTreeMap<(Sid, u32), u32> = BTreeMap::new();
        for r in recs {
            let e = best.entry((r.domain, r.index)).or_insert(r.slot);
            *e = (*e).min(r.slot);
        }
        let mut changed = false;
        let mut t = self.write();
        for ((domain, index), slot) in best {
            match (t.slot(&domain, index), t.owner(slot)) {
                (Some(s), _) if s == slot => {}
                (Some(s), _) => self.dispute(
                    &domain,
                    format!("block {index} is in slot {s} here and in slot {slot} in the store"),
                ),
                (None, Some((d, i))) => {
                    let msg = format!(
                        "slot {slot} holds block {i} of {d} here and block {index} of {domain} in \
                         the store"
                    );
                    self.dispute(&domain, msg.clone());
                    self.dispute(&d, msg);
                }
                (None, None) => {
                    let _ = t.insert(Record {
                        slot,
                        domain,
                        index,
                    });
                    changed = true;
                }
            }
        }
        changed
    }

    /// Claims in the shared store the local allocations it lacks (made
    /// before the store was configured); a slot taken there by another
    /// block disputes the domain.
    fn publish_local(&self, sh: &dyn SharedStore, recs: &[Record]) {
        if !self.writable {
            return;
        }
        let local = self.records();
        for r in local {
            if recs
                .iter()
                .any(|x| x.domain == r.domain && x.index == r.index)
            {
                continue;
            }
            if self.disputed_error(&r.domain).is_some() {
                continue;
            }
            match sh.claim(&r) {
                Ok(true) => {}
                Ok(false) => self.dispute(
                    &r.domain,
                    format!(
                        "block {} is in slot {} here, and the store gives that slot to another block",
                        r.index, r.slot
                    ),
                ),
                Err(_) => return,
            }
        }
    }

    fn commit_local(&self) -> Result<(), IdmapError> {
        match &self.store {
            Some(s) if self.writable => s.commit(&self.params(), &self.records(), &self.names()),
            _ => Ok(()),
        }
    }

    /// The ID of `rid` of `domain`, allocating (durably) the slot of its
    /// block on first sight.
    #[inline]
    pub fn id_for(&self, domain: &Sid, rid: u32) -> Result<u32, IdmapError> {
        if let Some(mapped) = self.mapped_id(domain, rid) {
            return mapped;
        }
        let rs = self.params().rangesize;
        self.allocate(domain, rid / rs)?;
        self.read()
            .id_for(domain, rid)
            .map_err(|_| unreachable_alloc())
    }

    /// Makes sure block `index` of `domain` has a slot; returns it. The
    /// slot is on disk (and in the shared store) before this returns.
    pub fn allocate(&self, domain: &Sid, index: u32) -> Result<u32, IdmapError> {
        let _guard = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(e) = self.disputed_error(domain) {
            return Err(e);
        }
        if let Some(s) = self.read().slot(domain, index) {
            return Ok(s);
        }
        let store = match &self.store {
            Some(s) if self.writable => Some(s),
            Some(_) => None,
            None => None,
        };
        let _lock = match store {
            Some(s) => Some(s.lock()?),
            None => None,
        };
        // Another process may have allocated since we loaded: merge first.
        let mut dirty = if store.is_some() {
            self.merge_local()?
        } else {
            false
        };
        let result = match self.shared.clone() {
            None => self.allocate_here(domain, index),
            Some(sh) => self.allocate_shared(sh.as_ref(), domain, index, &mut dirty),
        };
        if let Ok(s) = result {
            if self.read().slot(domain, index) != Some(s) {
                return Err(unreachable_alloc());
            }
            dirty = true;
        }
        if dirty && store.is_some() {
            self.commit_local()?;
        }
        result
    }

    fn allocate_here(&self, domain: &Sid, index: u32) -> Result<u32, IdmapError> {
        let mut t = self.write();
        if let Some(s) = t.slot(domain, index) {
            return Ok(s);
        }
        let slot = t.choose(domain, index)?;
        t.insert(Record {
            slot,
            domain: *domain,
            index,
        })
        .map_err(|_| unreachable_alloc())?;
        Ok(slot)
    }

    fn allocate_shared(
        &self,
        sh: &dyn SharedStore,
        domain: &Sid,
        index: u32,
        dirty: &mut bool,
    ) -> Result<u32, IdmapError> {
        let shared_err = |source| IdmapError::Shared {
            store: sh.describe(),
            source,
        };
        for lost in 0..CLAIM_ATTEMPTS {
            if lost > 0 {
                back_off(lost);
            }
            let recs = sh.load().map_err(shared_err)?;
            *dirty |= self.merge_shared(&recs);
            if let Some(e) = self.disputed_error(domain) {
                return Err(e);
            }
            if let Some(s) = self.read().slot(domain, index) {
                return Ok(s);
            }
            let rec = Record {
                slot: self.read().choose(domain, index)?,
                domain: *domain,
                index,
            };
            if !self.writable {
                // Offline answer: what this host would claim.
                self.write().insert(rec).map_err(|_| unreachable_alloc())?;
                return Ok(rec.slot);
            }
            if sh.claim(&rec).map_err(shared_err)? {
                self.write().insert(rec).map_err(|_| unreachable_alloc())?;
                return Ok(rec.slot);
            }
            // Another host took the slot first: read again.
        }
        Err(shared_err(crate::store::SharedStoreError {
            unavailable: true,
            message: format!(
                "block {index} of {domain}: the chosen slot was taken by another host \
                 {CLAIM_ATTEMPTS} times in a row"
            ),
        }))
    }

    /// The ID of `rid` of `domain` when its block has a slot (`None`
    /// otherwise): no lock file, no store, no waiting beyond the table's
    /// read lock.
    #[inline]
    pub fn mapped_id(&self, domain: &Sid, rid: u32) -> Option<Result<u32, IdmapError>> {
        let id = self.read().id_for(domain, rid).ok()?;
        if self.shared.is_none() {
            return Some(Ok(id));
        }
        Some(match self.disputed_error(domain) {
            Some(e) => Err(e),
            None => Ok(id),
        })
    }

    /// True when [`Self::sid_for`] of `id` would read the shared store
    /// again or wait for a reading under way (its slot unknown here);
    /// nothing is noted.
    pub fn sid_for_would_refresh(&self, id: u32) -> bool {
        self.shared.is_some() && matches!(self.read().rid_for(id), Some(Err(_))) && {
            let r = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
            r.due()
        }
    }

    /// [`Self::sid_for`] without reading the shared store again: an
    /// unknown slot is [`IdmapError::SlotUnallocated`].
    pub fn mapped_sid_for(&self, id: u32) -> Option<Result<Sid, IdmapError>> {
        let found = self.read().rid_for(id)?;
        Some(self.sid_of(id, found))
    }

    /// The SID `found` by [`AutoridTable::rid_for`] for `id`, disputes checked.
    fn sid_of(&self, id: u32, found: Result<(Sid, u32), u32>) -> Result<Sid, IdmapError> {
        match found {
            Ok((d, rid)) => match self.disputed_error(&d) {
                Some(e) => Err(e),
                None => d.with_rid(rid).map_err(IdmapError::from),
            },
            Err(slot) => Err(IdmapError::SlotUnallocated { id, slot }),
        }
    }

    /// The slot of block `index` of `domain`, if allocated (no allocation).
    pub fn slot(&self, domain: &Sid, index: u32) -> Option<u32> {
        self.read().slot(domain, index)
    }

    /// The SID of `id`: `None` outside the pool. With a shared store, an
    /// ID of a slot unknown here makes the pool read the store again (at
    /// most every few seconds).
    pub fn sid_for(&self, id: u32) -> Option<Result<Sid, IdmapError>> {
        let first = self.read().rid_for(id)?;
        let found = match first {
            Err(slot) if self.shared.is_some() => {
                match self.refresh_due() {
                    Due::Now => {
                        let _ended = RefreshEnds(&self.refreshed, &self.refresh_ended);
                        self.refresh();
                    }
                    // (What it brings is read below.) Waited for on the
                    // flag itself: the reading thread marks it before it
                    // takes the allocation lock, so that lock may not be
                    // held yet.
                    Due::Running => {
                        let r = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
                        let waited = self.refresh_ended.wait_while(r, |r| r.running);
                        drop(waited.unwrap_or_else(|e| e.into_inner()));
                    }
                    Due::Later => {}
                }
                self.read().rid_for(id).unwrap_or(Err(slot))
            }
            other => other,
        };
        Some(self.sid_of(id, found))
    }

    /// Whether an unknown slot's ID reads the shared store again now
    /// (then noted as under way: the caller ends it), waits for the
    /// reading under way, or neither.
    fn refresh_due(&self) -> Due {
        let mut r = self.refreshed.lock().unwrap_or_else(|e| e.into_inner());
        if r.running {
            return Due::Running;
        }
        if r.due() {
            r.at = Some(Instant::now());
            r.running = true;
            return Due::Now;
        }
        Due::Later
    }

    /// Reads the shared store again, merging what other hosts allocated.
    pub fn refresh(&self) {
        let Some(sh) = self.shared.clone() else {
            return;
        };
        let _guard = self.alloc.lock().unwrap_or_else(|e| e.into_inner());
        if let Ok(recs) = sh.load() {
            if self.merge_shared(&recs) && self.writable && self.store.is_some() {
                if let Some(s) = &self.store {
                    if let Ok(_lock) = s.lock() {
                        let _ = self.merge_local();
                        let _ = self.commit_local();
                    }
                }
            }
        }
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
            blocks: 1,
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

    /// A shared store holding what it is given (for the test below).
    #[derive(Debug, Default)]
    struct Shared(Mutex<Vec<Record>>);

    impl SharedStore for Shared {
        fn describe(&self) -> String {
            "test store".into()
        }
        fn load(&self) -> Result<Vec<Record>, crate::store::SharedStoreError> {
            Ok(self.0.lock().unwrap().clone())
        }
        fn claim(&self, r: &Record) -> Result<bool, crate::store::SharedStoreError> {
            let mut records = self.0.lock().unwrap();
            if records.iter().any(|x| x.slot == r.slot) {
                return Ok(false);
            }
            records.push(*r);
            Ok(true)
        }
    }

    /// An ID of a slot another host took, asked while a reading of the
    /// shared store is marked under way but has not yet taken the
    /// allocation lock, waits for that reading's end instead of
    /// answering "unallocated" at once.
    #[test]
    fn an_unknown_slot_waits_for_a_reading_marked_under_way() {
        let store = Arc::new(Shared::default());
        let open = || {
            AutoridPool::open_with(params(false), StoreMode::Memory, Some(store.clone()), &[])
                .unwrap()
        };
        let (here, there) = (Arc::new(open()), open());
        let obj = sid("S-1-5-21-3-3-3");
        let id = there.id_for(&obj, 77).unwrap();
        // Another thread has marked its reading under way.
        assert!(matches!(here.refresh_due(), Due::Now));
        let asking = {
            let here = here.clone();
            std::thread::spawn(move || here.sid_for(id))
        };
        // (Given time to answer before the reading: it must not. Without
        // the wait it answers at once, "unallocated".)
        let until = Instant::now() + Duration::from_millis(100);
        while !asking.is_finished() && Instant::now() < until {
            std::thread::yield_now();
        }
        // That reading then runs, and ends.
        {
            let _ended = RefreshEnds(&here.refreshed, &here.refresh_ended);
            here.refresh();
        }
        assert_eq!(
            asking.join().unwrap().unwrap().unwrap(),
            obj.with_rid(77).unwrap()
        );
    }

    #[test]
    fn exhaustion_is_an_error() {
        let p = AutoridPool::open(
            AutoridParams {
                low: 10_000,
                high: 10_199,
                rangesize: 100,
                deterministic: false,
                blocks: 1,
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
