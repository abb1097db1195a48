//! Persistent copy of the cache in `state_dir/cache.log`, used to answer
//! while the directory is unreachable (offline mode), also after a restart.
//!
//! ## Format and why
//!
//! An **append-only log of checksummed records** (see [`record`]) after an
//! 8-byte file header `ROSTERC2` (an earlier release's `ROSTERC1` log, of
//! JSON records, is rewritten in the binary form at open), rather than an
//! embedded database: every
//! write is one `pwrite` at the end of the file followed by `fdatasync`, so
//! a crash at any point leaves at worst a partial last record. On open the
//! log is replayed; a record whose checksum fails is skipped, a frame cut
//! short (or a header that is not a frame header) ends the replay, and in
//! both cases the good records are kept and the file is rewritten without
//! the damage. Only an index lives in memory: a 64-bit hash of each key
//! with the record's offset, length and namespace (about 40 bytes per
//! entry); values are read back with `pread` when needed (rarely: only in
//! offline mode) and the key stored in the record is compared, so a hash
//! collision reads as a miss, never as another entry. A key's namespace
//! (the domain, see [`record::namespace_of`]) lets a whole domain be
//! dropped with one record.
//!
//! Writes are queued to one writer thread, so cache misses are written
//! through off the request path (a lookup's puts can be deferred until
//! its answer is sent, [`Store::put_value_deferred`], so that even the
//! writer's wake-up is not on it); what is queued within 20 ms is written
//! with one `pwrite` and one `fdatasync` (a crash loses at most those last
//! milliseconds of a cache, never its consistency). When the file grows past twice its live
//! size it is compacted: live records (younger than the offline age limit)
//! are copied to a temporary file next to `cache.log`, which is fsynced and
//! renamed over it (then the directory is fsynced:
//! [`roster_proto::atomic_file`]): the old or the new file is there at
//! every instant.

pub mod binary;
mod index;
pub mod record;
mod writer;

pub use binary::{UserRef, ValueRef};
pub use record::{
    namespace_of, Record, StoredGroup, StoredNetgroup, StoredUser, StoredValue, NS_SEP,
};

use index::{apply, hash_key, Loc, Namespaces};
use record::Frame;
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use thiserror::Error;

/// File header: format name and version.
/// The header of a log (its records binary; JSON ones are read too).
const FILE_MAGIC: &[u8; 8] = b"ROSTERC2";
/// The header of a log of earlier releases (JSON records): read, then
/// rewritten at once with [`FILE_MAGIC`] and its records in the binary
/// form, so that an earlier release never meets a binary record in a
/// log it takes for its own (it sets a log with another header aside).
const JSON_FILE_MAGIC: &[u8; 8] = b"ROSTERC1";
/// Name of the log inside the state directory.
pub(crate) const STORE_FILE_NAME: &str = "cache.log";
/// Do not compact logs smaller than this.
const COMPACT_MIN_BYTES: u64 = 1024 * 1024;
/// Largest number of queued operations written in one batch.
const MAX_BATCH: usize = 4096;
/// How long the writer gathers queued records before one write and fsync.
const COALESCE: std::time::Duration = std::time::Duration::from_millis(20);
/// Writes queued at most; beyond this, new entries are not persisted (and
/// counted) rather than held in memory: the next refresh writes them.
const QUEUE_CAPACITY: usize = 8192;
/// Puts and removals deferred for [`Store::release_deferred`] at most;
/// one more releases them at once (a lookup leaves one to a few, a first
/// initgroups one a group).
const MAX_DEFERRED: usize = 1024;

/// Why the persistent cache could not be opened.
#[derive(Debug, Error)]
pub enum StoreError {
    /// An I/O error on the named file.
    #[error("persistent cache {path}: {source}")]
    Io {
        /// The file at fault.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
}

/// What replaying the log found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Recovery {
    /// Valid records replayed.
    pub records: usize,
    /// Complete records skipped because their checksum or content was bad.
    pub corrupt_records: usize,
    /// Bytes dropped at the end (a record cut short by a crash).
    pub truncated_bytes: u64,
    /// True when the file did not start with the expected header and was
    /// set aside as `cache.log.bad`.
    pub bad_header: bool,
}

struct Inner {
    path: PathBuf,
    file: Arc<File>,
    index: HashMap<u64, Loc>,
    namespaces: Namespaces,
    end: u64,
    max_age_ms: u64,
}

enum Op {
    /// A removal already applied to the index: always written. (Records
    /// are boxed: the queue's slots are allocated, and touched, when it is
    /// made, and a record is several times the size of the other
    /// operations.)
    Remove(Box<Record>),
    /// A put, written from where its value is held ([`Store::put_value`];
    /// [`Store::put`] hands over a [`StoredValue`]) and applied to the
    /// index when written.
    Held {
        key: String,
        at_ms: u64,
        value: Box<dyn Storable>,
    },
    Barrier(mpsc::Sender<()>),
}

/// A value [`Store::put_value`] writes: the writer thread encodes it from
/// where it is held (a cached answer, shared with the cache), without a
/// copy into a [`StoredValue`].
pub trait Storable: Send {
    /// The value as written; `None`: nothing is stored.
    fn stored(&self) -> Option<ValueRef<'_>>;
}

/// The persistent cache: an index in memory over a crash-safe log on disk.
pub struct Store {
    inner: Arc<Mutex<Inner>>,
    queue: Mutex<Queue>,
    /// What the store's callers and its writer thread count together.
    counts: Arc<WriteCounts>,
    writer: Mutex<Option<JoinHandle<()>>>,
    recovery: Recovery,
}

/// What the store's callers and its writer thread count together.
#[derive(Default)]
struct WriteCounts {
    /// Writes not persisted: the queue was full, the log could not be
    /// begun ([`writer::writer_loop`]), or the record was too large.
    dropped: AtomicU64,
    /// Puts queued or deferred that the writer thread has not yet indexed
    /// (or dropped): while there is none, the index alone says what the log
    /// holds. Raised with the queue's lock held; lowered by the writer once
    /// it has indexed a batch, or by the queue for a put it could not send.
    puts_in_flight: AtomicU64,
    /// A write of the log failed, or a removal was too large to write: the
    /// log may hold what the index does not (a removal that never reached
    /// the disk, a put written but not synced), so every removal is
    /// written again, until a restart reads the log anew.
    write_failed: AtomicBool,
}

impl WriteCounts {
    /// `puts` fewer on their way (written and indexed, or dropped).
    fn put_landed(&self, puts: u64) {
        self.puts_in_flight.fetch_sub(puts, Ordering::Release);
    }
}

/// The writer's queue, as the writers of the store see it.
struct Queue {
    /// The writer thread's queue; `None` once the store is closed.
    tx: Option<mpsc::SyncSender<Op>>,
    /// Puts and removals queued without waking the writer
    /// ([`Store::put_value_deferred`], [`Store::delete_deferred`]), in
    /// their order: they go to `tx` before anything queued after them.
    deferred: Vec<Op>,
}

impl Queue {
    /// Sends the deferred operations to the writer: a put as
    /// [`Queue::try_put`] does, a removal waiting for room (with the
    /// queue's lock held: a put queued meanwhile waits behind it, as the
    /// log's order wants; the writer never takes that lock).
    fn release(&mut self, counts: &WriteCounts) {
        let Queue { tx, deferred } = self;
        if deferred.is_empty() {
            return;
        }
        let Some(tx) = tx else {
            let puts = deferred
                .drain(..)
                .filter(|op| matches!(op, Op::Held { .. }))
                .count();
            counts.put_landed(puts as u64);
            return;
        };
        // (Drained, not taken: the next lookup's writes reuse the room.)
        for op in deferred.drain(..) {
            match op {
                put @ Op::Held { .. } => Self::try_put(tx, put, counts),
                op => {
                    let _ = tx.send(op);
                }
            }
        }
    }

    /// Queues `op` after the deferred operations, never waiting for room: a
    /// put the writer's queue has no room for is dropped and counted in
    /// `dropped` (the next refresh writes its entry).
    fn queue_put(&mut self, op: Op, counts: &WriteCounts) {
        self.release(counts);
        if let Some(tx) = &self.tx {
            counts.puts_in_flight.fetch_add(1, Ordering::Relaxed);
            Self::try_put(tx, op, counts);
        }
    }

    /// Sends a put counted in `puts_in_flight` (no longer counted when it
    /// cannot be sent).
    fn try_put(tx: &mpsc::SyncSender<Op>, put: Op, counts: &WriteCounts) {
        match tx.try_send(put) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(_)) => {
                counts.dropped.fetch_add(1, Ordering::Relaxed);
                counts.put_landed(1);
            }
            Err(mpsc::TrySendError::Disconnected(_)) => counts.put_landed(1),
        }
    }

    /// Defers `op` (see `deferred`); past [`MAX_DEFERRED`] all are
    /// released.
    fn defer(&mut self, op: Op, counts: &WriteCounts) {
        if self.tx.is_none() {
            return;
        }
        if matches!(op, Op::Held { .. }) {
            counts.puts_in_flight.fetch_add(1, Ordering::Relaxed);
        }
        self.deferred.push(op);
        if self.deferred.len() > MAX_DEFERRED {
            self.release(counts);
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn open_rw(path: &Path, truncate: bool) -> Result<File, StoreError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(truncate)
        .mode(0o600)
        .open(path)
        .map_err(io_err(path))
}

impl Store {
    /// Opens (or creates) `dir/cache.log`, replaying it. Entries older than
    /// `max_age_ms` are dropped at the next compaction.
    pub fn open(dir: &Path, max_age_ms: u64) -> Result<Store, StoreError> {
        let path = dir.join(STORE_FILE_NAME);
        let mut recovery = Recovery::default();
        let mut file = open_rw(&path, false)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io_err(&path))?;
        let json_log = bytes.starts_with(JSON_FILE_MAGIC);
        if !bytes.is_empty() && !bytes.starts_with(FILE_MAGIC) && !json_log {
            let bad = path.with_extension("log.bad");
            std::fs::rename(&path, &bad).map_err(io_err(&path))?;
            recovery.bad_header = true;
            bytes.clear();
            file = open_rw(&path, true)?;
        }
        let mut index = HashMap::new();
        let mut namespaces = Namespaces::default();
        let mut offset = FILE_MAGIC.len().min(bytes.len());
        while offset < bytes.len() {
            match record::parse(&bytes[offset..]) {
                Frame::Valid(rec, len) => {
                    recovery.records += 1;
                    let loc = Loc {
                        offset: offset as u64,
                        len: len as u32,
                        ns: 0,
                    };
                    apply(&mut index, &mut namespaces, &rec, loc);
                    offset += len;
                }
                Frame::Corrupt(len) => {
                    recovery.corrupt_records += 1;
                    offset += len;
                }
                Frame::Broken => {
                    recovery.truncated_bytes = (bytes.len() - offset) as u64;
                    break;
                }
            }
        }
        let mut inner = Inner {
            path: path.clone(),
            file: Arc::new(file),
            index,
            namespaces,
            end: offset.max(FILE_MAGIC.len()) as u64,
            max_age_ms,
        };
        drop(bytes);
        let damaged = recovery.corrupt_records > 0 || recovery.truncated_bytes > 0;
        // A damaged, replaced or earlier release's log is rewritten now
        // (its index points into it). One without records (new, or never
        // written) gets its header from the writer thread before its first
        // append: those fsyncs stay off the path to the daemon's first
        // answer.
        let rewrite_now = damaged || recovery.bad_header || json_log;
        if rewrite_now {
            inner.compact().map_err(io_err(&path))?;
        }
        let new_log = !rewrite_now && inner.end == FILE_MAGIC.len() as u64;
        if json_log {
            tracing::info!(file = %path.display(), records = inner.index.len(), "persistent cache of an earlier release rewritten in the binary form");
        }
        if damaged {
            tracing::warn!(
                file = %path.display(),
                corrupt_records = recovery.corrupt_records,
                truncated_bytes = recovery.truncated_bytes,
                "persistent cache was damaged (crash?); kept the valid records"
            );
        }
        let inner = Arc::new(Mutex::new(inner));
        let (tx, rx) = mpsc::sync_channel(QUEUE_CAPACITY);
        let writer_inner = inner.clone();
        let counts = Arc::new(WriteCounts::default());
        let writer_counts = counts.clone();
        let writer = std::thread::Builder::new()
            .name("roster-store".into())
            .spawn(move || writer::writer_loop(writer_inner, rx, new_log, writer_counts))
            .map_err(io_err(&path))?;
        Ok(Store {
            inner,
            queue: Mutex::new(Queue {
                tx: Some(tx),
                deferred: Vec::new(),
            }),
            counts,
            writer: Mutex::new(Some(writer)),
            recovery,
        })
    }

    /// What the replay at open time found.
    pub fn recovery(&self) -> &Recovery {
        &self.recovery
    }

    /// The stored value of `key` and when it was fetched (ms since epoch).
    pub fn get(&self, key: &str) -> Option<(u64, StoredValue)> {
        // The lock covers the index look-up only; the read is done on the
        // file the entry lies in (a compaction may replace it meanwhile).
        let (loc, file) = {
            let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            (*inner.index.get(&hash_key(key))?, inner.file.clone())
        };
        let mut buf = vec![0u8; loc.len as usize];
        if let Err(e) = file.read_exact_at(&mut buf, loc.offset) {
            tracing::warn!(error = %e, "cannot read the persistent cache");
            return None;
        }
        match record::parse(&buf) {
            Frame::Valid(
                Record::Put {
                    key: k,
                    at_ms,
                    value,
                },
                _,
            ) if k == key => Some((at_ms, value)),
            Frame::Valid(Record::Put { .. }, _) => None, // hash collision
            _ => {
                tracing::warn!(offset = loc.offset, "persistent cache record unreadable");
                None
            }
        }
    }

    /// Number of entries.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .index
            .len()
    }

    /// True when the store holds no entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of entries in namespace `ns`.
    pub fn namespace_len(&self, ns: &str) -> usize {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        match inner.namespaces.find(ns) {
            Some(id) => inner.index.values().filter(|l| l.ns == id).count(),
            None => 0,
        }
    }

    /// Removes every entry of namespace `ns` (at once for reads; written
    /// to disk behind).
    pub fn delete_namespace(&self, ns: &str) {
        self.remove_now(Record::DelNs { ns: ns.to_string() });
    }

    /// Applies a removal to the index at once (later reads no longer see
    /// the entries) and queues it for writing; the writer applies it again
    /// in order, after any put queued before it.
    fn remove_now(&self, rec: Record) {
        self.remove_from_index(&rec);
        self.send(Op::Remove(Box::new(rec)));
    }

    /// Applies a removal to the index (the writer applies it again when it
    /// writes it).
    fn remove_from_index(&self, rec: &Record) {
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let Inner {
            index, namespaces, ..
        } = &mut *inner;
        let unused = Loc {
            offset: 0,
            len: 0,
            ns: 0,
        };
        apply(index, namespaces, rec, unused);
    }

    /// Queues `key = value` (fetched at `at_ms`) for writing; when the
    /// queue is full the entry is not persisted (see
    /// [`Store::dropped_writes`]).
    pub fn put(&self, key: String, at_ms: u64, value: StoredValue) {
        self.put_value(key, at_ms, Box::new(value));
    }

    /// [`Store::put`] of `value` as [`Storable::stored`] gives it, encoded
    /// on the writer thread: a lookup hands over what it fetched (shared,
    /// not copied) and answers at once; the encoding (thousands of member
    /// names for a large group) is done off the runtime thread, behind.
    pub fn put_value(&self, key: String, at_ms: u64, value: Box<dyn Storable>) {
        self.lock_queue()
            .queue_put(Op::Held { key, at_ms, value }, &self.counts);
    }

    /// [`Store::put_value`], deferred (the writer thread is not woken)
    /// until [`Store::release_deferred`], or until anything else is
    /// queued, flushed or closed after it: a lookup's puts are released
    /// once its answer is sent, so that waking the writer (a thread asleep
    /// when lookups are sporadic) is not on the answer's path. Order is
    /// kept: a deferred put is written before whatever is queued after it.
    pub fn put_value_deferred(&self, key: String, at_ms: u64, value: Box<dyn Storable>) {
        self.lock_queue()
            .defer(Op::Held { key, at_ms, value }, &self.counts);
    }

    /// [`Store::delete`], its record deferred as
    /// [`Store::put_value_deferred`]'s puts are. Reads no longer see `key`
    /// at once; but until the record is released, a put of `key` queued
    /// *before* it (by another task) that the writer writes meanwhile
    /// makes the key readable again (removed again once the record is
    /// written), as it did before for the moment a removal waits in the
    /// writer's queue.
    ///
    /// Nothing is written when nothing is stored under `key` nor on its
    /// way to the log (`Store::holds_nothing_under`): a lookup of a
    /// name the directory does not have costs the disk nothing.
    pub fn delete_deferred(&self, key: String) {
        let mut queue = self.lock_queue();
        if self.holds_nothing_under(&key) {
            return;
        }
        let rec = Record::Del { key };
        self.remove_from_index(&rec);
        queue.defer(Op::Remove(Box::new(rec)), &self.counts);
    }

    /// Whether the log neither holds `key` nor is about to: no entry in the
    /// index, no put queued, deferred or being written, and no write of
    /// the log failed ([`WriteCounts::write_failed`]). Asked with the
    /// queue's lock held (no put is queued meanwhile); the count is read
    /// first, then the flag and the index, which the writer sets before
    /// lowering it.
    fn holds_nothing_under(&self, key: &str) -> bool {
        self.counts.puts_in_flight.load(Ordering::Acquire) == 0
            && !self.counts.write_failed.load(Ordering::Acquire)
            && !self
                .inner
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .index
                .contains_key(&hash_key(key))
    }

    /// Queues what [`Store::put_value_deferred`] and
    /// [`Store::delete_deferred`] deferred, for writing.
    pub fn release_deferred(&self) {
        self.lock_queue().release(&self.counts);
    }

    /// Operations deferred until [`Store::release_deferred`] (tests).
    #[cfg(test)]
    pub(crate) fn deferred_ops(&self) -> usize {
        self.lock_queue().deferred.len()
    }

    fn lock_queue(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Removes `key` (at once for reads; written to disk behind; nothing
    /// is written when nothing is stored under it nor on its way, as for
    /// [`Store::delete_deferred`]).
    pub fn delete(&self, key: String) {
        if self.holds_nothing_under_now(&key) {
            return;
        }
        self.remove_now(Record::Del { key });
    }

    /// [`Store::holds_nothing_under`], the queue's lock taken for it.
    fn holds_nothing_under_now(&self, key: &str) -> bool {
        let _queue = self.lock_queue();
        self.holds_nothing_under(key)
    }

    /// Removes every entry (at once for reads; written to disk behind).
    pub fn clear(&self) {
        self.remove_now(Record::Clear);
    }

    /// Waits until every queued write is on disk.
    pub fn flush(&self) {
        let (tx, rx) = mpsc::channel();
        self.send(Op::Barrier(tx));
        let _ = rx.recv();
    }

    /// Writes what is queued and stops the writer thread.
    pub fn close(&self) {
        self.flush();
        drop(self.lock_queue().tx.take());
        if let Some(h) = self.writer.lock().unwrap_or_else(|e| e.into_inner()).take() {
            let _ = h.join();
        }
    }

    /// Entries not persisted: the write queue was full, the log could not
    /// be begun, or the record was too large to be read back.
    pub fn dropped_writes(&self) -> u64 {
        self.counts.dropped.load(Ordering::Relaxed)
    }

    /// Queues `op` after the deferred puts and removals, waiting for room
    /// (deletions and barriers must not be lost; they are rare).
    fn send(&self, op: Op) {
        let sender = {
            let mut q = self.lock_queue();
            q.release(&self.counts);
            q.tx.clone()
        };
        if let Some(tx) = sender {
            let _ = tx.send(op);
        }
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests;
