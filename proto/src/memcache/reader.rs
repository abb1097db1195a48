//! The clients' side of the memory cache: a read-only shared mapping and a
//! process-wide holder that notices a retired or replaced file.
//!
//! Safe inside foreign processes: no threads, no descriptor kept (the file
//! is closed right after `mmap`), a read-only mapping that a forked child may
//! keep using, and locks that are only ever *tried* — a lock inherited
//! locked across `fork` makes the child fall back to the socket, never hang.

use super::{
    monotonic_ms, record_len, Key, Record, RecordView, HEADER_LEN, MAGIC, OFF_DATA, OFF_DATA_LEN,
    OFF_GENERATION, OFF_HEADER_LEN, OFF_RETIRED, OFF_SETTINGS, OFF_SETTINGS_TEXT, OFF_SLOTS,
    OFF_SLOT_COUNT, OFF_VERSION, RECORD_ALIGN, RECORD_HEADER_LEN, SETTINGS_MAX_LEN, SETTINGS_NONE,
    SLOT_DELETED, SLOT_EMPTY, VERSION,
};
use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::RwLock;

/// How often the holder checks that the path still names its file.
const RECHECK_MS: u64 = 1000;

/// A validated read-only mapping of one memory-cache file.
pub struct Mapping {
    base: *const u8,
    len: usize,
    slot_count: u32,
    slots_off: usize,
    data_off: usize,
    data_len: usize,
    /// The settings' length (their text is at `OFF_SETTINGS_TEXT`), if
    /// the file carries any.
    settings_len: Option<usize>,
    /// The file's generation (a nonce per file).
    generation: u64,
    dev: u64,
    ino: u64,
    /// The slot value of the last group whose members were checked here
    /// ([`super::GroupView::members_valid`]): its bytes cannot change, so they
    /// are not checked again (glibc asks again with a bigger buffer for a
    /// big group). 0 ([`SLOT_EMPTY`]) for none.
    validated: AtomicU32,
    /// Groups whose members were checked so far (tests).
    #[cfg(test)]
    full_checks: AtomicU32,
}

// SAFETY: the mapping is read-only for this process and only read through
// atomics (slots, flags) or immutable published records: sharing it between
// threads is sound; it is unmapped only on drop, when no borrow remains.
unsafe impl Send for Mapping {}
// SAFETY: as above.
unsafe impl Sync for Mapping {}

fn invalid(msg: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, msg.to_owned())
}

impl Mapping {
    /// Opens and maps `path`, refusing files that are writable by
    /// group/others, have a bad header, or are owned by anyone but root,
    /// the caller, or the daemon (see [`crate::trust::trusted_owner`]),
    /// and anything but a regular file, without waiting for it (a FIFO
    /// there is opened non-blocking, then refused).
    pub fn open(path: &Path) -> io::Result<Mapping> {
        let file = File::options()
            .read(true)
            .custom_flags(libc::O_CLOEXEC | libc::O_NOFOLLOW | libc::O_NONBLOCK)
            .open(path)?;
        let meta = file.metadata()?;
        if !meta.is_file()
            || !crate::trust::trusted_owner(path, meta.uid())
            || meta.mode() & 0o022 != 0
        {
            return Err(invalid("memory cache file has unsafe ownership or mode"));
        }
        let len = usize::try_from(meta.len()).map_err(|_| invalid("file too large"))?;
        if len < HEADER_LEN {
            return Err(invalid("memory cache file too short"));
        }
        let base = map_readonly(&file, len)?;
        let mut m = Mapping {
            base,
            len,
            slot_count: 0,
            slots_off: 0,
            data_off: 0,
            data_len: 0,
            settings_len: None,
            generation: 0,
            dev: meta.dev(),
            ino: meta.ino(),
            validated: AtomicU32::new(SLOT_EMPTY),
            #[cfg(test)]
            full_checks: AtomicU32::new(0),
        };
        m.validate()?;
        Ok(m)
    }

    fn read_bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut out = [0u8; N];
        // SAFETY: callers pass header offsets with off + N <= HEADER_LEN <= len.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(off), out.as_mut_ptr(), N) };
        out
    }

    fn validate(&mut self) -> io::Result<()> {
        if self.read_bytes::<8>(0) != MAGIC {
            return Err(invalid("bad memory cache magic"));
        }
        if u32::from_ne_bytes(self.read_bytes(OFF_VERSION)) != VERSION
            || u32::from_ne_bytes(self.read_bytes(OFF_HEADER_LEN)) as usize != HEADER_LEN
        {
            return Err(invalid("unsupported memory cache version"));
        }
        let slot_count = u32::from_ne_bytes(self.read_bytes(OFF_SLOT_COUNT));
        let slots_off = u64::from_ne_bytes(self.read_bytes(OFF_SLOTS)) as usize;
        let data_off = u64::from_ne_bytes(self.read_bytes(OFF_DATA)) as usize;
        let data_len = u64::from_ne_bytes(self.read_bytes(OFF_DATA_LEN)) as usize;
        let slots_end = (slot_count as usize)
            .checked_mul(4)
            .and_then(|n| n.checked_add(slots_off));
        let data_end = data_off.checked_add(data_len);
        // (The settings' length is read only once the slot offset, which
        // lies past it, is known to be inside the file.)
        let ok = slot_count.is_power_of_two()
            && slots_off >= OFF_SETTINGS_TEXT
            && slots_off & 3 == 0
            && data_off & (RECORD_ALIGN - 1) == 0
            && slots_end.is_some_and(|e| e <= data_off)
            && data_end.is_some_and(|e| e <= self.len);
        if !ok {
            return Err(invalid("inconsistent memory cache header"));
        }
        // SAFETY: OFF_SETTINGS_TEXT <= slots_off <= data_off <= len.
        let settings_len = u32::from_ne_bytes(unsafe {
            std::ptr::read_unaligned(self.base.add(OFF_SETTINGS) as *const [u8; 4])
        });
        // (At most SETTINGS_MAX_LEN, so the sum below cannot overflow.)
        let len = settings_len as usize;
        self.settings_len = if settings_len == SETTINGS_NONE {
            None
        } else if len <= SETTINGS_MAX_LEN && OFF_SETTINGS_TEXT + len <= slots_off {
            Some(len)
        } else {
            return Err(invalid("memory cache settings too long or into its slots"));
        };
        self.generation = u64::from_ne_bytes(self.read_bytes(OFF_GENERATION));
        self.slot_count = slot_count;
        self.slots_off = slots_off;
        self.data_off = data_off;
        self.data_len = data_len;
        Ok(())
    }

    /// True once the daemon replaced or withdrew this file.
    pub fn retired(&self) -> bool {
        // SAFETY: OFF_RETIRED is a 4-aligned offset inside the header.
        let flag = unsafe { &*(self.base.add(OFF_RETIRED) as *const AtomicU32) };
        flag.load(Ordering::Acquire) != 0
    }

    /// The NSS module's settings this file carries (the text of
    /// `nss.conf`), if any.
    pub fn settings(&self) -> Option<&[u8]> {
        let len = self.settings_len?;
        // SAFETY: OFF_SETTINGS_TEXT + len <= slots_off, inside the mapping
        // (validated); written before the file was published and never
        // changed.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(OFF_SETTINGS_TEXT), len) })
    }

    /// The file's generation: another file (a flush, a rebuild, a restart)
    /// has another one.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// True when `meta` describes the file this mapping was made from.
    fn is_file(&self, meta: &std::fs::Metadata) -> bool {
        meta.dev() == self.dev && meta.ino() == self.ino
    }

    fn slot(&self, idx: u32) -> u32 {
        // SAFETY: idx < slot_count, and the slot array lies inside the
        // mapping at a 4-aligned offset (validated).
        let slot =
            unsafe { &*(self.base.add(self.slots_off + idx as usize * 4) as *const AtomicU32) };
        slot.load(Ordering::Acquire)
    }

    /// The bytes of the record a slot value points to, if they lie in the
    /// record area. `value` is a slot's value as [`Mapping::slot`] loads it
    /// (acquire: the record it points to was complete before it was
    /// stored), neither [`SLOT_EMPTY`] nor [`SLOT_DELETED`].
    fn record_bytes(&self, value: u32) -> Option<&[u8]> {
        let off = (value as usize - 1).checked_mul(RECORD_ALIGN)?;
        if off.checked_add(RECORD_HEADER_LEN)? > self.data_len {
            return None;
        }
        // SAFETY: off + RECORD_HEADER_LEN <= data_len: inside the record
        // area. A record is complete before its slot value is stored
        // (release/acquire) and is never modified afterwards (the writer
        // only appends; rebuilds write a new file), so these bytes do not
        // change while borrowed (at most as long as `self`).
        let head = unsafe { std::slice::from_raw_parts(self.base.add(self.data_off + off), 4) };
        let len = record_len(head)?;
        if off.checked_add(len)? > self.data_len {
            return None;
        }
        // SAFETY: off + len <= data_len, and immutable as above.
        Some(unsafe { std::slice::from_raw_parts(self.base.add(self.data_off + off), len) })
    }

    /// `head`, the record at slot value `value` read without its members
    /// ([`RecordView::parse_members_unchecked`]), once its members are checked
    /// too: a group's unless it was the last group checked here (users and
    /// initgroups have none, and leave that memory to the groups).
    fn checked<'m>(&self, value: u32, head: RecordView<'m>) -> Option<RecordView<'m>> {
        let RecordView::Group(group) = &head else {
            return Some(head);
        };
        if self.validated.load(Ordering::Relaxed) == value {
            return Some(head);
        }
        #[cfg(test)]
        self.full_checks.fetch_add(1, Ordering::Relaxed);
        if !group.members_valid() {
            return None;
        }
        self.validated.store(value, Ordering::Relaxed);
        Some(head)
    }

    /// Groups whose members were checked so far (tests).
    #[cfg(test)]
    pub(crate) fn full_checks(&self) -> u32 {
        self.full_checks.load(Ordering::Relaxed)
    }

    /// Hands the record published under `key` to `f` in place (no copy),
    /// unless it expired before `now_ms`.
    pub fn get_with<R>(
        &self,
        key: &Key<'_>,
        now_ms: u64,
        f: impl FnOnce(&RecordView<'_>) -> R,
    ) -> Option<R> {
        let mask = self.slot_count - 1;
        let mut idx = key.slot(self.slot_count);
        for _ in 0..self.slot_count {
            match self.slot(idx) {
                SLOT_EMPTY => return None,
                SLOT_DELETED => {}
                v => {
                    // A record is matched on what the key compares (its
                    // header and name, read with every bound and field
                    // checked), and only the one that matches has its
                    // members checked: not the others met on the way
                    // (they were validated whole, each taking the memory
                    // of the last one checked, so that a large group's
                    // members could be checked again on each of glibc's
                    // retries with a bigger buffer).
                    let head = self
                        .record_bytes(v)
                        .and_then(RecordView::parse_members_unchecked);
                    if let Some((record, expires)) = head {
                        if key.matches_view(&record) {
                            if let Some(record) = self.checked(v, record) {
                                return (now_ms < expires).then(|| f(&record));
                            }
                        }
                    }
                }
            }
            idx = (idx + 1) & mask;
        }
        None
    }

    /// An owned copy of the record published under `key`, unless it expired
    /// before `now_ms`.
    pub fn get(&self, key: &Key<'_>, now_ms: u64) -> Option<Record> {
        self.get_with(key, now_ms, |v| v.to_owned())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: base/len are the mapping made in `open`, unmapped once.
        unsafe { libc::munmap(self.base as *mut libc::c_void, self.len) };
    }
}

fn map_readonly(file: &File, len: usize) -> io::Result<*const u8> {
    // SAFETY: read-only shared mapping of `len` bytes of an open file; the
    // result is checked for MAP_FAILED.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_SHARED,
            file.as_raw_fd(),
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(io::Error::last_os_error());
    }
    Ok(p as *const u8)
}

struct State {
    map: Option<Mapping>,
    /// CLOCK_MONOTONIC ms after which the path is checked again.
    next_check: u64,
}

/// A process-wide holder of the current mapping (usable in a `static`).
/// The path is stat'ed at most once per second; a retired file is dropped
/// at the next lookup.
pub struct MemcacheReader {
    state: RwLock<State>,
}

impl Default for MemcacheReader {
    fn default() -> Self {
        MemcacheReader::new()
    }
}

impl MemcacheReader {
    /// An empty holder; the file is mapped at the first lookup.
    pub const fn new() -> MemcacheReader {
        MemcacheReader {
            state: RwLock::new(State {
                map: None,
                next_check: 0,
            }),
        }
    }

    /// The record for `key` in the file at `path`, or `None` (no file, not
    /// cached, expired, or the holder is busy): the caller asks the daemon.
    pub fn get(&self, path: &Path, key: &Key<'_>) -> Option<Record> {
        self.get_with(path, key, |v| v.to_owned())
    }

    /// Like [`MemcacheReader::get`], handing the record to `f` in place.
    pub fn get_with<R>(
        &self,
        path: &Path,
        key: &Key<'_>,
        f: impl FnOnce(&RecordView<'_>) -> R,
    ) -> Option<R> {
        self.with_mapping(path, |m, now| m.get_with(key, now, f))
    }

    /// Hands the settings the file at `path` carries ([`Mapping::settings`])
    /// and its generation to `f`; `None` when there is no usable file, it
    /// carries none, or the holder is busy (the caller reads `nss.conf`).
    pub fn settings_with<R>(&self, path: &Path, f: impl FnOnce(u64, &[u8]) -> R) -> Option<R> {
        self.with_mapping(path, |m, _| {
            m.settings().map(|text| f(m.generation(), text))
        })
    }

    /// Runs `f` on the current mapping of `path` (mapped or mapped again
    /// first when due) and the clock it was checked with; `None` without
    /// one.
    fn with_mapping<R>(
        &self,
        path: &Path,
        f: impl FnOnce(&Mapping, u64) -> Option<R>,
    ) -> Option<R> {
        let now = monotonic_ms();
        if let Ok(state) = self.state.try_read() {
            match &state.map {
                Some(m) if !m.retired() && now < state.next_check => return f(m, now),
                None if now < state.next_check => return None,
                _ => {}
            }
        }
        if let Ok(mut state) = self.state.try_write() {
            refresh(&mut state, path, now);
            return state.map.as_ref().and_then(|m| f(m, now));
        }
        // Another thread is refreshing: use what is there if still live.
        let state = self.state.try_read().ok()?;
        let m = state.map.as_ref().filter(|m| !m.retired())?;
        f(m, now)
    }
}

fn refresh(state: &mut State, path: &Path, now: u64) {
    if now < state.next_check && state.map.as_ref().is_some_and(|m| !m.retired()) {
        return;
    }
    state.next_check = now + RECHECK_MS;
    // A live mapping is kept while the path names its file; with none,
    // the file is opened straight away (no `stat` first: opening a file
    // that is not there fails as fast).
    let keep = match &state.map {
        Some(m) if !m.retired() => std::fs::metadata(path).is_ok_and(|meta| m.is_file(&meta)),
        _ => false,
    };
    if !keep {
        state.map = Mapping::open(path).ok().filter(|m| !m.retired());
    }
}
