//! The daemon's side of the memory cache: creates the file, appends records
//! and links them into the slot table. One writer per file; not shared
//! between threads without a lock (the daemon wraps it in a `Mutex`).

use super::{
    record_len, Key, OwnedKey, Record, RecordRef, RecordView, HEADER_LEN, MAGIC, OFF_DATA,
    OFF_DATA_LEN, OFF_DATA_USED, OFF_GENERATION, OFF_HEADER_LEN, OFF_MAGIC, OFF_RETIRED,
    OFF_SETTINGS, OFF_SETTINGS_TEXT, OFF_SLOTS, OFF_SLOT_COUNT, OFF_VERSION, RECORD_ALIGN,
    SETTINGS_MAX_LEN, SETTINGS_NONE, SLOTS_START, SLOT_DELETED, SLOT_EMPTY, VERSION,
};
use crate::atomic_file::{Options, Replacement};
use std::fs::{File, OpenOptions};
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use thiserror::Error;

/// Why a record could not be published.
#[derive(Debug, Error)]
pub enum WriteError {
    /// The record area or the slot table is full: write a new file
    /// ([`MemcacheWriter::rebuild`]).
    #[error("the memory cache is full")]
    Full,
    /// Creating or mapping the file failed.
    #[error("memory cache I/O error: {0}")]
    Io(#[from] io::Error),
}

/// Fraction of slots (empty ones excluded) above which the table counts as
/// full, in tenths: linear probing stays short below 70 %.
const MAX_LOAD_TENTHS: u64 = 7;

/// A writable mapping of one memory-cache file.
pub struct MemcacheWriter {
    path: PathBuf,
    map: *mut u8,
    map_len: usize,
    slot_count: u32,
    data_off: usize,
    data_len: usize,
    used: usize,
    occupied: u32,
    /// "No such entry" records written to this file.
    missing: u32,
    /// Their bytes.
    missing_bytes: usize,
    /// The latest expiry among them (0: none).
    missing_expiry: u64,
    /// When this file was written ([`super::monotonic_ms`]).
    created_ms: u64,
    dev: u64,
    ino: u64,
    file: File,
    /// Bytes of the record area backed by allocated blocks (see `reserve`).
    reserved: usize,
    /// The module's settings this file carries (and a rebuilt file
    /// carries again), if any.
    settings: Option<Vec<u8>>,
}

/// The record area is backed by real blocks in steps of this size.
const RESERVE_STEP: usize = 1 << 20;

// SAFETY: the writer owns its mapping exclusively (no other writer exists);
// moving it to another thread moves that ownership. It is not Sync: callers
// serialise access (&mut self for every write).
unsafe impl Send for MemcacheWriter {}

/// Size of a file with `slot_count` slots (rounded as [`MemcacheWriter::create`]
/// rounds them) and `data_len` bytes of records: what it costs on disk.
pub fn file_len(slot_count: u32, data_len: usize) -> usize {
    let layout = Layout::of(slot_count, data_len);
    layout.data_off + layout.data_len
}

/// Where a file's parts go: the header and settings, the slot array from
/// [`SLOTS_START`], the record area from the next page.
struct Layout {
    /// Slots, a power of two (16 to 2^30).
    slot_count: u32,
    /// Offset of the record area (page-aligned).
    data_off: usize,
    /// Length of the record area (whole pages, at least one).
    data_len: usize,
}

impl Layout {
    /// The layout of `slot_count` slots (rounded up to a power of two)
    /// and `data_len` bytes of records (rounded up to whole pages).
    fn of(slot_count: u32, data_len: usize) -> Layout {
        let slot_count = slot_count.clamp(16, 1 << 30).next_power_of_two();
        Layout {
            slot_count,
            data_off: (SLOTS_START + slot_count as usize * 4).next_multiple_of(4096),
            data_len: data_len.max(4096).next_multiple_of(4096),
        }
    }
}

impl MemcacheWriter {
    /// Creates a new, empty file at `path` (replacing and retiring any
    /// previous one) with room for `slot_count` slots (rounded up to a power
    /// of two) and `data_len` bytes of records, carrying no settings.
    pub fn create(path: &Path, slot_count: u32, data_len: usize) -> io::Result<MemcacheWriter> {
        MemcacheWriter::create_with_settings(path, slot_count, data_len, None)
    }

    /// [`MemcacheWriter::create`] of a file carrying `settings`, the text
    /// of `nss.conf` (see the module doc; left out when longer than
    /// [`SETTINGS_MAX_LEN`]).
    pub fn create_with_settings(
        path: &Path,
        slot_count: u32,
        data_len: usize,
        settings: Option<&[u8]>,
    ) -> io::Result<MemcacheWriter> {
        let Layout {
            slot_count,
            data_off,
            data_len,
        } = Layout::of(slot_count, data_len);
        let map_len = data_off + data_len;
        // Readers map the file read-only, whatever their uid: mode 0644.
        let mut tmp = Replacement::create(path, Options::mode(0o644))?;
        let file = tmp.file();
        // A sparse file whose blocks are allocated (fallocate) before they
        // are written: on a full tmpfs the writer gets ENOSPC instead of a
        // SIGBUS when it touches the mapping. Header and slots now, records
        // as they come.
        file.set_len(map_len as u64)?;
        fallocate(file, 0, data_off)?;
        let meta = file.metadata()?;
        let map = map_shared(file, map_len)?;
        let mut w = MemcacheWriter {
            path: path.to_path_buf(),
            map,
            map_len,
            slot_count,
            data_off,
            data_len,
            used: 0,
            occupied: 0,
            missing: 0,
            missing_bytes: 0,
            missing_expiry: 0,
            created_ms: super::monotonic_ms(),
            dev: meta.dev(),
            ino: meta.ino(),
            // The same open file as the temporary file, which becomes the
            // published one at the commit below.
            file: file.try_clone()?,
            reserved: 0,
            settings: settings
                .filter(|text| text.len() <= SETTINGS_MAX_LEN)
                .map(<[u8]>::to_vec),
        };
        w.write_header();
        let old = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_CLOEXEC)
            .open(path)
            .ok();
        // Published whole: the header is in place before the rename.
        tmp.commit()?;
        if let Some(old) = old {
            retire_file(&old);
        }
        Ok(w)
    }

    fn write_header(&mut self) {
        let mut header = [0u8; HEADER_LEN];
        header[OFF_MAGIC..OFF_MAGIC + 8].copy_from_slice(&MAGIC);
        header[OFF_VERSION..OFF_VERSION + 4].copy_from_slice(&VERSION.to_ne_bytes());
        header[OFF_HEADER_LEN..OFF_HEADER_LEN + 4]
            .copy_from_slice(&(HEADER_LEN as u32).to_ne_bytes());
        header[OFF_GENERATION..OFF_GENERATION + 8].copy_from_slice(&nonce().to_ne_bytes());
        header[OFF_SLOT_COUNT..OFF_SLOT_COUNT + 4].copy_from_slice(&self.slot_count.to_ne_bytes());
        header[OFF_SLOTS..OFF_SLOTS + 8].copy_from_slice(&(SLOTS_START as u64).to_ne_bytes());
        header[OFF_DATA..OFF_DATA + 8].copy_from_slice(&(self.data_off as u64).to_ne_bytes());
        header[OFF_DATA_LEN..OFF_DATA_LEN + 8]
            .copy_from_slice(&(self.data_len as u64).to_ne_bytes());
        // SAFETY: the mapping is at least HEADER_LEN bytes long and nobody
        // reads this file before it is renamed into place.
        unsafe { std::ptr::copy_nonoverlapping(header.as_ptr(), self.map, HEADER_LEN) };
        let settings = self.settings.as_deref();
        debug_assert!(settings.is_none_or(|text| text.len() <= SETTINGS_MAX_LEN));
        let len = settings.map_or(SETTINGS_NONE, |text| text.len() as u32);
        let text = settings.unwrap_or_default();
        // SAFETY: OFF_SETTINGS_TEXT + text.len() <= SLOTS_START (at most
        // SETTINGS_MAX_LEN, as `create_with_settings` keeps them), inside
        // the mapping (the slot array follows), not yet published as above.
        unsafe {
            let at = self.map.add(OFF_SETTINGS);
            std::ptr::copy_nonoverlapping(len.to_ne_bytes().as_ptr(), at, 4);
            let text_at = self.map.add(OFF_SETTINGS_TEXT);
            std::ptr::copy_nonoverlapping(text.as_ptr(), text_at, text.len());
        }
    }

    /// The settings this file carries, if any (for the tests: readers
    /// take them from the mapping, [`super::Mapping::settings`]).
    #[cfg(test)]
    pub(crate) fn settings(&self) -> Option<&[u8]> {
        self.settings.as_deref()
    }

    /// The path the file was published at.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Number of slots.
    pub fn slot_count(&self) -> u32 {
        self.slot_count
    }

    /// Capacity of the record area in bytes.
    pub fn data_len(&self) -> usize {
        self.data_len
    }

    /// How many "no such entry" records ([`RecordRef::Missing`]) were
    /// written to this file (live, replaced or expired).
    pub fn missing_records(&self) -> u32 {
        self.missing
    }

    /// Bytes of the "no such entry" records written to this file.
    pub fn missing_bytes(&self) -> usize {
        self.missing_bytes
    }

    /// When this file was written (as [`super::monotonic_ms`]).
    pub fn created_ms(&self) -> u64 {
        self.created_ms
    }

    /// The latest expiry (as [`super::monotonic_ms`]) of the "no such
    /// entry" records written to this file; 0 when there are none. From
    /// then on none is live.
    pub fn missing_expiry(&self) -> u64 {
        self.missing_expiry
    }

    /// Bytes of the record area in use.
    pub fn data_used(&self) -> usize {
        self.used
    }

    /// Size of the file (header, slots and record area).
    pub fn file_len(&self) -> usize {
        self.map_len
    }

    /// The record published under `key` and its expiry, if any (expired
    /// or not).
    pub fn get(&self, key: &Key<'_>) -> Option<(Record, u64)> {
        let idx = self.find(key).ok()?;
        self.record_at(self.slot(idx).load(Ordering::Relaxed))
    }

    /// The record published under `key`, read in place (no copy), and its
    /// expiry.
    pub fn get_view(&self, key: &Key<'_>) -> Option<(RecordView<'_>, u64)> {
        let idx = self.find(key).ok()?;
        self.view_at(self.slot(idx).load(Ordering::Relaxed))
    }

    fn slot(&self, idx: u32) -> &AtomicU32 {
        debug_assert!(idx < self.slot_count);
        // SAFETY: the slot array starts at SLOTS_START (4-aligned, page-aligned
        // base) and holds slot_count u32s inside the mapping.
        unsafe { &*(self.map.add(SLOTS_START + idx as usize * 4) as *const AtomicU32) }
    }

    fn header_u32(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` is a 4-aligned header offset inside the mapping.
        unsafe { &*(self.map.add(off) as *const AtomicU32) }
    }

    fn header_u64(&self, off: usize) -> &AtomicU64 {
        // SAFETY: `off` is an 8-aligned header offset inside the mapping.
        unsafe { &*(self.map.add(off) as *const AtomicU64) }
    }

    /// Decodes the record a slot value points to.
    fn record_at(&self, value: u32) -> Option<(Record, u64)> {
        self.view_at(value)
            .map(|(v, expires)| (v.to_owned(), expires))
    }

    /// The record a slot value points to, read in place: key checks and
    /// comparisons copy nothing (a group of thousands of members would
    /// otherwise be decoded at every probe).
    fn view_at(&self, value: u32) -> Option<(RecordView<'_>, u64)> {
        self.bytes_at(value).and_then(RecordView::parse)
    }

    /// The bytes of the record a slot value points to.
    fn bytes_at(&self, value: u32) -> Option<&[u8]> {
        let off = (value as usize - 1) * RECORD_ALIGN;
        if off >= self.used {
            return None;
        }
        // SAFETY: off < used <= data_len, all inside the mapping; records
        // below `used` were written by this writer and are never modified.
        let area = unsafe {
            std::slice::from_raw_parts(self.map.add(self.data_off + off), self.used - off)
        };
        let len = record_len(area)?;
        area.get(..len)
    }

    /// The keys of the record a slot value points to, copied out of the
    /// mapping (so that slots can be changed while they are used).
    fn keys_at(&self, value: u32) -> Option<Vec<OwnedKey>> {
        self.view_at(value)
            .map(|(v, _)| v.keys().iter().map(OwnedKey::from).collect())
    }

    /// Finds the slot holding `key`: `Ok(index)` when present, otherwise
    /// `Err(index of the slot to insert into)` (the first deleted slot on
    /// the probe path, or the empty slot that ends it), `Err(None)` when
    /// the table has no usable slot.
    fn find(&self, key: &Key<'_>) -> Result<u32, Option<u32>> {
        let mask = self.slot_count - 1;
        let mut idx = key.slot(self.slot_count);
        let mut first_deleted = None;
        for _ in 0..self.slot_count {
            match self.slot(idx).load(Ordering::Relaxed) {
                SLOT_EMPTY => return Err(Some(first_deleted.unwrap_or(idx))),
                SLOT_DELETED => {
                    first_deleted.get_or_insert(idx);
                }
                v => {
                    // (Matched as the reader matches: a group's members
                    // are checked for the record found only, not for each
                    // record probed past.)
                    let head = self
                        .bytes_at(v)
                        .and_then(RecordView::parse_members_unchecked);
                    if head.is_some_and(|(r, _)| key.matches_view(&r) && r.members_valid()) {
                        return Ok(idx);
                    }
                }
            }
            idx = (idx + 1) & mask;
        }
        Err(first_deleted)
    }

    /// Publishes `record`, valid until `expires_ms` (CLOCK_MONOTONIC
    /// milliseconds, see [`super::monotonic_ms`]), under all its keys. Keys
    /// of a previous version that the new one no longer has (a renamed user,
    /// a changed UID) are deleted.
    pub fn put<'r>(
        &mut self,
        record: impl Into<RecordRef<'r>>,
        expires_ms: u64,
    ) -> Result<(), WriteError> {
        let record = record.into();
        let bytes = record.encode(expires_ms);
        let keys = record.keys();
        let max_occupied = u64::from(self.slot_count) * MAX_LOAD_TENTHS / 10;
        if self.used + bytes.len() > self.data_len
            || u64::from(self.occupied) + keys.len() as u64 > max_occupied
            || (self.used + bytes.len()) / RECORD_ALIGN >= (u32::MAX - 1) as usize
        {
            return Err(WriteError::Full);
        }
        self.reserve(self.used + bytes.len())?;
        let off = self.used;
        // SAFETY: off + len <= data_len: the bytes go to unused space inside
        // the mapping that no reader can reach before the slot store below.
        unsafe {
            std::ptr::copy_nonoverlapping(
                bytes.as_ptr(),
                self.map.add(self.data_off + off),
                bytes.len(),
            );
        }
        self.used += bytes.len();
        if matches!(record, RecordRef::Missing(_)) {
            self.missing += 1;
            self.missing_bytes += bytes.len();
            self.missing_expiry = self.missing_expiry.max(expires_ms);
        }
        self.header_u64(OFF_DATA_USED)
            .store(self.used as u64, Ordering::Release);
        let value = (off / RECORD_ALIGN + 1) as u32;
        for key in &keys {
            match self.find(key) {
                Ok(idx) => {
                    let old = self.slot(idx).load(Ordering::Relaxed);
                    self.slot(idx).store(value, Ordering::Release);
                    for stale in self.keys_at(old).unwrap_or_default() {
                        let stale = stale.as_key();
                        if !keys.contains(&stale) {
                            self.unlink(&stale, old);
                        }
                    }
                }
                Err(Some(idx)) => {
                    if self.slot(idx).load(Ordering::Relaxed) == SLOT_EMPTY {
                        self.occupied += 1;
                    }
                    self.slot(idx).store(value, Ordering::Release);
                }
                Err(None) => return Err(WriteError::Full),
            }
        }
        Ok(())
    }

    /// Makes sure the first `end` bytes of the record area have blocks.
    fn reserve(&mut self, end: usize) -> io::Result<()> {
        if end <= self.reserved {
            return Ok(());
        }
        let upto = end
            .next_multiple_of(RESERVE_STEP)
            .max(self.reserved + RESERVE_STEP)
            .min(self.data_len);
        fallocate(
            &self.file,
            self.data_off + self.reserved,
            upto - self.reserved,
        )?;
        self.reserved = upto;
        Ok(())
    }

    /// Deletes the record published under `key` (under all its keys).
    /// Returns true when something was deleted.
    pub fn remove(&mut self, key: &Key<'_>) -> bool {
        let Ok(idx) = self.find(key) else {
            return false;
        };
        let value = self.slot(idx).load(Ordering::Relaxed);
        match self.keys_at(value) {
            Some(keys) => {
                for k in keys {
                    self.unlink(&k.as_key(), value);
                }
            }
            None => self.slot(idx).store(SLOT_DELETED, Ordering::Release),
        }
        true
    }

    /// Deletes `key`'s slot if it still points to the record `value`.
    fn unlink(&mut self, key: &Key<'_>, value: u32) {
        if let Ok(idx) = self.find(key) {
            if self.slot(idx).load(Ordering::Relaxed) == value {
                self.slot(idx).store(SLOT_DELETED, Ordering::Release);
            }
        }
    }

    /// Every record still reachable and not expired at `now_ms`, with its
    /// expiry (what a rebuild carries over).
    pub fn live_records(&self, now_ms: u64) -> Vec<(Record, u64)> {
        let mut values: Vec<u32> = (0..self.slot_count)
            .map(|i| self.slot(i).load(Ordering::Relaxed))
            .filter(|&v| v != SLOT_EMPTY && v != SLOT_DELETED)
            .collect();
        values.sort_unstable();
        values.dedup();
        values
            .into_iter()
            .filter_map(|v| self.record_at(v))
            .filter(|(_, expires)| *expires > now_ms)
            .collect()
    }

    /// Writes a new file at the same path with the live records (dropping
    /// expired and deleted ones), `slot_count` slots and `data_len` bytes,
    /// and retires this one. Records that do not fit are dropped (readers
    /// then ask the daemon).
    pub fn rebuild(&mut self, now_ms: u64, slot_count: u32, data_len: usize) -> io::Result<()> {
        let live = self.live_records(now_ms);
        self.rebuild_with(&live, slot_count, data_len)
    }

    /// Writes a new file at the same path holding `records` (in order, as
    /// many as fit), `slot_count` slots and `data_len` bytes, and retires
    /// this one. The published file is never truncated or written over:
    /// a reader still mapping it keeps reading the old, complete records.
    pub fn rebuild_with(
        &mut self,
        records: &[(Record, u64)],
        slot_count: u32,
        data_len: usize,
    ) -> io::Result<()> {
        let mut next = MemcacheWriter::create_with_settings(
            &self.path,
            slot_count,
            data_len,
            self.settings.as_deref(),
        )?;
        for (record, expires) in records {
            if next.put(record, *expires).is_err() {
                break;
            }
        }
        // `create` retired the old file through its path; mark this mapping
        // too in case the path had been replaced by someone else meanwhile.
        self.header_u32(OFF_RETIRED).store(1, Ordering::Release);
        std::mem::swap(self, &mut next);
        Ok(())
    }

    /// Withdraws the file: readers stop using it at their next lookup, and
    /// the path is removed if it still names this file.
    pub fn retire(&mut self) {
        self.header_u32(OFF_RETIRED).store(1, Ordering::Release);
        if let Ok(meta) = std::fs::metadata(&self.path) {
            if meta.dev() == self.dev && meta.ino() == self.ino {
                let _ = std::fs::remove_file(&self.path);
            }
        }
    }
}

impl Drop for MemcacheWriter {
    fn drop(&mut self) {
        // SAFETY: map/map_len are the mapping created in `create`, unmapped
        // exactly once here.
        unsafe { libc::munmap(self.map.cast(), self.map_len) };
    }
}

/// Withdraws a file left at `path` by a daemon that did not retire it
/// (killed, or crashed): readers stop using it, its records and the
/// settings it carries, at their next lookup, and the path is removed.
/// For a daemon that publishes no file of its own (its creation failed).
/// Nothing there is fine.
pub fn withdraw(path: &Path) -> io::Result<()> {
    let file = match OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
    {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(e),
    };
    let meta = file.metadata()?;
    if meta.is_file() {
        retire_file(&file);
    }
    // Removed only while the path still names the file retired.
    let named = std::fs::symlink_metadata(path);
    if !named.is_ok_and(|now| (now.dev(), now.ino()) == (meta.dev(), meta.ino())) {
        return Ok(());
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
        _ => Ok(()),
    }
}

/// Allocates blocks for `len` bytes at `off` without changing the size.
fn fallocate(file: &File, off: usize, len: usize) -> io::Result<()> {
    if len == 0 {
        return Ok(());
    }
    // SAFETY: fallocate(2) on an open descriptor with in-range arguments.
    let rc = unsafe {
        libc::fallocate(
            file.as_raw_fd(),
            libc::FALLOC_FL_KEEP_SIZE,
            off as libc::off_t,
            len as libc::off_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn map_shared(file: &File, len: usize) -> io::Result<*mut u8> {
    // SAFETY: mmap of an open file descriptor for `len` bytes (the file is at
    // least that long); the result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p.cast())
}

/// Sets the `retired` flag of a previously published file (if it is one),
/// opened read-write.
fn retire_file(file: &File) {
    let Ok(meta) = file.metadata() else { return };
    if (meta.len() as usize) < HEADER_LEN {
        return;
    }
    let Ok(map) = map_shared(file, HEADER_LEN) else {
        return;
    };
    // SAFETY: the mapping is HEADER_LEN bytes; the magic is compared before
    // the aligned retired word is written; then it is unmapped.
    unsafe {
        if std::slice::from_raw_parts(map, 8) == MAGIC {
            (*(map.add(OFF_RETIRED) as *const AtomicU32)).store(1, Ordering::Release);
        }
        libc::munmap(map.cast(), HEADER_LEN);
    }
}

fn nonce() -> u64 {
    // (Without randomness, files written in one millisecond by one
    // process still differ: the module keys its settings by it.)
    static WRITTEN: AtomicU64 = AtomicU64::new(0);
    let mut v = 0u64;
    // SAFETY: getrandom writes at most 8 bytes into the local `v`.
    let n = unsafe { libc::getrandom((&mut v as *mut u64).cast(), 8, libc::GRND_NONBLOCK) };
    if n != 8 {
        let count = WRITTEN.fetch_add(1, Ordering::Relaxed);
        v = super::monotonic_ms() ^ (u64::from(std::process::id()) << 32) ^ (count << 48);
    }
    v
}
