//! The writer thread: appends queued records in batches (one fsync per
//! batch) and compacts the log when it has grown past twice its live size.

use super::index::{apply, Loc};
use super::record::{self, Frame, Record, FRAME_OVERHEAD};
use super::{now_ms, Inner, Op, COMPACT_MIN_BYTES, FILE_MAGIC, MAX_BATCH};
use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::sync::{mpsc, Arc, Mutex};

pub(super) fn writer_loop(inner: Arc<Mutex<Inner>>, rx: mpsc::Receiver<Op>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(op) => batch.push(op),
                Err(_) => break,
            }
        }
        let mut barriers = Vec::new();
        let mut guard = inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = guard.append(batch, &mut barriers) {
            tracing::warn!(file = %guard.path.display(), error = %e, "cannot write persistent cache");
        }
        drop(guard);
        for b in barriers {
            let _ = b.send(());
        }
    }
}

impl Inner {
    pub(super) fn append(
        &mut self,
        batch: Vec<Op>,
        barriers: &mut Vec<mpsc::Sender<()>>,
    ) -> std::io::Result<()> {
        let mut buf = Vec::new();
        for op in batch {
            match op {
                Op::Barrier(tx) => barriers.push(tx),
                Op::Remove(rec) => {
                    let frame = record::encode(&rec);
                    let unused = Loc {
                        offset: 0,
                        len: 0,
                        ns: 0,
                    };
                    apply(&mut self.index, &mut self.namespaces, &rec, unused);
                    buf.extend_from_slice(&frame);
                }
                Op::Write(rec) => {
                    let frame = record::encode(&rec);
                    let loc = Loc {
                        offset: self.end + buf.len() as u64,
                        len: frame.len() as u32,
                        ns: 0,
                    };
                    let changed = apply(&mut self.index, &mut self.namespaces, &rec, loc);
                    if !changed {
                        continue; // nothing to delete: write nothing
                    }
                    buf.extend_from_slice(&frame);
                }
            }
        }
        if buf.is_empty() {
            return Ok(());
        }
        self.file.write_all_at(&buf, self.end)?;
        self.end += buf.len() as u64;
        self.file.sync_data()?;
        if self.end > COMPACT_MIN_BYTES && self.end > 2 * self.live_bytes() {
            self.compact()?;
        }
        Ok(())
    }

    /// Bytes of the records the index points to, header included.
    pub(super) fn live_bytes(&self) -> u64 {
        self.index.values().map(|l| l.len as u64).sum::<u64>() + FILE_MAGIC.len() as u64
    }

    /// Rewrites the log with only the live, young enough records.
    pub(super) fn compact(&mut self) -> std::io::Result<()> {
        let tmp = self.path.with_extension("log.tmp");
        let mut out = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&tmp)?;
        let mut data = Vec::with_capacity(self.live_bytes() as usize);
        data.extend_from_slice(FILE_MAGIC);
        let oldest = now_ms().saturating_sub(self.max_age_ms);
        let mut new_index = HashMap::with_capacity(self.index.len());
        for (key, loc) in &self.index {
            let mut buf = vec![0u8; loc.len as usize];
            if self.file.read_exact_at(&mut buf, loc.offset).is_err() {
                continue;
            }
            match record::parse(&buf) {
                Frame::Valid(Record::Put { at_ms, .. }, _) if at_ms >= oldest => {}
                _ => continue,
            }
            debug_assert!(buf.len() >= FRAME_OVERHEAD);
            new_index.insert(
                *key,
                Loc {
                    offset: data.len() as u64,
                    ..*loc
                },
            );
            data.extend_from_slice(&buf);
        }
        out.write_all(&data)?;
        out.sync_all()?;
        drop(out);
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            File::open(dir)?.sync_all()?;
        }
        self.file = OpenOptions::new().read(true).write(true).open(&self.path)?;
        self.index = new_index;
        self.end = data.len() as u64;
        Ok(())
    }
}
