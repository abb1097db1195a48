//! The writer thread: appends queued records in batches (one fsync per
//! batch; a batch gathers what is queued within [`COALESCE`] of its first
//! record) and compacts the log when it has grown past twice its live size.
//!
//! The index lock is held only to read the file's end, to index what was
//! written and to swap in a compacted file: never across a write, an fsync
//! or a compaction, so readers (request handlers) never wait for the disk.

use super::index::{apply, apply_put, Loc};
use super::record::{self, Frame, Record, JSON_RECORD_MAGIC, MAX_PAYLOAD, NS_SEP};
use super::{Inner, Op, WriteCounts, COALESCE, COMPACT_MIN_BYTES, FILE_MAGIC, MAX_BATCH};
use roster_proto::atomic_file::{Options, Replacement};
use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex, MutexGuard};

fn lock(inner: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    inner.lock().unwrap_or_else(|e| e.into_inner())
}

/// Appends what `rx` brings; `new_log`: the log holds no record and gets
/// its header first. Should that fail, nothing is ever written to it (it
/// holds nothing a restart could serve, so nothing is lost that was kept):
/// puts are counted in `dropped` (lookups keep their answers in the
/// resolver's memory), barriers are answered at once. Every put taken from
/// `rx` lowers `puts_in_flight` once it is indexed or dropped.
pub(super) fn writer_loop(
    inner: Arc<Mutex<Inner>>,
    rx: mpsc::Receiver<Op>,
    new_log: bool,
    counts: Arc<WriteCounts>,
) {
    let dropped = &counts.dropped;
    if new_log {
        if let Err(e) = compact_live(&inner) {
            let path = lock(&inner).path.clone();
            tracing::error!(file = %path.display(), error = %e, "cannot begin the persistent cache; answers are kept in memory only");
            for op in rx {
                match op {
                    Op::Barrier(b) => {
                        let _ = b.send(());
                    }
                    Op::Held { .. } => {
                        dropped.fetch_add(1, Ordering::Relaxed);
                        counts.put_landed(1);
                    }
                    Op::Remove(_) => {}
                }
            }
            return;
        }
    }
    while let Ok(first) = rx.recv() {
        // What is queued within COALESCE of a put shares its write and
        // fsync: a burst of cold lookups costs a few fsyncs, not one each
        // (the disk work would compete with the lookups for the CPU). The
        // thread sleeps meanwhile, so queueing wakes nobody; a barrier
        // (flush, close) waits at most that long.
        if !matches!(first, Op::Barrier(_)) {
            std::thread::sleep(COALESCE);
        }
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut barriers = Vec::new();
        let puts = batch
            .iter()
            .filter(|op| matches!(op, Op::Held { .. }))
            .count();
        if let Err(e) = write_batch(&inner, batch, &mut barriers, &counts) {
            // (Before the puts are counted as landed: a removal then
            // asked is written, whatever the index says.)
            counts.write_failed.store(true, Ordering::Release);
            let path = lock(&inner).path.clone();
            tracing::warn!(file = %path.display(), error = %e, "cannot write persistent cache");
        }
        // (Indexed, or never to be: the index says what the log holds.)
        counts.put_landed(puts as u64);
        for b in barriers {
            let _ = b.send(());
        }
    }
}

/// What a written record does to the index.
enum Effect {
    /// A removal, queued whole: applied as [`apply`] applies it.
    Record(Record),
    /// A put of a value held elsewhere, under this key.
    Put(String),
}

/// Appends one batch, then indexes it (and compacts when due). A record
/// too large to be read back is not written: counted in `dropped`, and
/// logged with its key; a put is replaced by its key's removal.
fn write_batch(
    inner: &Mutex<Inner>,
    batch: Vec<Op>,
    barriers: &mut Vec<mpsc::Sender<()>>,
    counts: &WriteCounts,
) -> std::io::Result<()> {
    let dropped = &counts.dropped;
    let (file, end) = {
        let g = lock(inner);
        (g.file.clone(), g.end)
    };
    let mut buf = Vec::new();
    let mut effects = Vec::new();
    for op in batch {
        let (frame, effect) = match op {
            Op::Barrier(tx) => {
                barriers.push(tx);
                continue;
            }
            Op::Remove(rec) => (record::encode(&rec), Effect::Record(*rec)),
            Op::Held { key, at_ms, value } => match value.stored() {
                Some(v) => (record::encode_put(&key, at_ms, &v), Effect::Put(key)),
                None => continue,
            },
        };
        let (frame, effect) = match frame {
            Some(frame) => (frame, effect),
            None => {
                let key = match &effect {
                    Effect::Record(Record::Put { key, .. } | Record::Del { key }) => key.as_str(),
                    Effect::Record(Record::DelNs { ns }) => ns.as_str(),
                    Effect::Record(Record::Clear) => "",
                    Effect::Put(key) => key.as_str(),
                };
                dropped.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(key = %key.replace(NS_SEP, "/"), max_octets = MAX_PAYLOAD, "persistent cache: record too large, not written");
                // A put not written must not leave the key's earlier value to
                // be served offline or after a restart: the key is removed
                // instead. (A removal too large to write — its key alone over
                // MAX_PAYLOAD — is already applied in memory and comes back
                // after a restart; no key is that long.)
                let is_put = matches!(effect, Effect::Put(_));
                let del = Record::Del {
                    key: key.to_string(),
                };
                match record::encode(&del) {
                    Some(frame) if is_put => (frame, Effect::Record(del)),
                    _ => {
                        // (The index and the log now differ.)
                        counts.write_failed.store(true, Ordering::Release);
                        continue;
                    }
                }
            }
        };
        let loc = Loc {
            offset: end + buf.len() as u64,
            len: frame.len() as u32,
            ns: 0,
        };
        buf.extend_from_slice(&frame);
        effects.push((effect, loc));
    }
    if buf.is_empty() {
        return Ok(());
    }
    file.write_all_at(&buf, end)?;
    file.sync_data()?;
    let compact = {
        let mut g = lock(inner);
        let Inner {
            index, namespaces, ..
        } = &mut *g;
        for (effect, loc) in &effects {
            match effect {
                Effect::Record(rec) => {
                    apply(index, namespaces, rec, *loc);
                }
                Effect::Put(key) => apply_put(index, namespaces, key, *loc),
            }
        }
        g.end = end + buf.len() as u64;
        g.end > COMPACT_MIN_BYTES && g.end > 2 * g.live_bytes()
    };
    if compact {
        compact_live(inner)?;
    }
    Ok(())
}

/// Compacts from a snapshot of the index, then swaps the new file in.
fn compact_live(inner: &Mutex<Inner>) -> std::io::Result<()> {
    let (path, file, snapshot, max_age_ms) = {
        let g = lock(inner);
        (
            g.path.clone(),
            g.file.clone(),
            g.index.clone(),
            g.max_age_ms,
        )
    };
    let (new_file, mut new_index, new_end) = rewrite(&path, &file, &snapshot, max_age_ms)?;
    let mut g = lock(inner);
    // Only removals can have happened meanwhile (this thread is the only
    // one that adds): keep them removed.
    new_index.retain(|k, _| g.index.contains_key(k));
    g.file = Arc::new(new_file);
    g.index = new_index;
    g.end = new_end;
    Ok(())
}

/// Writes the live records of `index` that are younger than `max_age_ms`
/// from `file` into a new log that replaces the one at `path`
/// ([`roster_proto::atomic_file`]: temporary file, fsync, rename, directory
/// fsync): binary records as they are, JSON ones (an earlier release's)
/// in the binary form. Returns the new file, its index and its length.
pub(super) fn rewrite(
    path: &Path,
    file: &File,
    index: &HashMap<u64, Loc>,
    max_age_ms: u64,
) -> std::io::Result<(File, HashMap<u64, Loc>, u64)> {
    let mut out = Replacement::create(path, Options::mode(0o600))?;
    let live: u64 = index.values().map(|l| l.len as u64).sum();
    let mut data = Vec::with_capacity(FILE_MAGIC.len() + live as usize);
    data.extend_from_slice(FILE_MAGIC);
    let oldest = crate::clock::unix_ms().saturating_sub(max_age_ms);
    let mut new_index = HashMap::with_capacity(index.len());
    for (key, loc) in index {
        let mut buf = vec![0u8; loc.len as usize];
        if file.read_exact_at(&mut buf, loc.offset).is_err() {
            continue;
        }
        let rec = match record::parse(&buf) {
            Frame::Valid(rec @ Record::Put { at_ms, .. }, _) if at_ms >= oldest => rec,
            _ => continue,
        };
        if buf[0] == JSON_RECORD_MAGIC {
            match record::encode(&rec) {
                Some(binary) => buf = binary,
                None => {
                    // (Short strings take more octets in the binary form
                    // than in JSON: a record just under the limit there
                    // can be over it here.)
                    if let Record::Put { key, .. } = &rec {
                        tracing::warn!(key = %key.replace(NS_SEP, "/"), max_octets = MAX_PAYLOAD, "persistent cache: an earlier release's record is too large in the binary form, not kept");
                    }
                    continue;
                }
            }
        }
        let offset = data.len() as u64;
        let len = buf.len() as u32;
        new_index.insert(
            *key,
            Loc {
                offset,
                len,
                ..*loc
            },
        );
        data.extend_from_slice(&buf);
    }
    out.file().write_all(&data)?;
    let file = out.commit()?;
    Ok((file, new_index, data.len() as u64))
}

impl Inner {
    /// Bytes of the records the index points to, header included.
    pub(super) fn live_bytes(&self) -> u64 {
        self.index.values().map(|l| l.len as u64).sum::<u64>() + FILE_MAGIC.len() as u64
    }

    /// Rewrites the log with only the live, young enough records (at open,
    /// before any reader exists).
    pub(super) fn compact(&mut self) -> std::io::Result<()> {
        let (file, index, end) = rewrite(&self.path, &self.file, &self.index, self.max_age_ms)?;
        self.file = Arc::new(file);
        self.index = index;
        self.end = end;
        Ok(())
    }
}
