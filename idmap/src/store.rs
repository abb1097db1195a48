//! Durable record of autorid allocations: one small text file per pool in
//! the state directory, replaced atomically (write temp file, fsync,
//! rename, fsync directory) under an exclusive `flock` on a lock file, so
//! that several processes (rosterd, rosterctl) never hand one range to two
//! domains and a kill at any moment leaves either the old or the new file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

use crate::error::IdmapError;
use crate::settings::AutoridParams;
use crate::sid::Sid;

const MAGIC: &str = "roster-autorid v1";

/// One allocation: slot `slot` of the pool holds RIDs
/// `index*rangesize ..` of domain `domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    /// Slot number in the pool.
    pub slot: u32,
    /// Domain SID.
    pub domain: Sid,
    /// Which block of `rangesize` RIDs of the domain.
    pub index: u32,
}

/// The file of one pool.
#[derive(Debug)]
pub struct AutoridStore {
    dir: PathBuf,
    path: PathBuf,
    tmp: PathBuf,
    lock_path: PathBuf,
}

/// Held while allocating: the exclusive lock on the pool's lock file.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> IdmapError + '_ {
    move |source| IdmapError::StoreIo {
        path: path.to_path_buf(),
        source,
    }
}

impl AutoridStore {
    /// The store of the pool starting at `params.low` in `dir`; with
    /// `create`, the directory is created if missing. Nothing is read yet.
    pub fn new(
        dir: &Path,
        params: &AutoridParams,
        create: bool,
    ) -> Result<AutoridStore, IdmapError> {
        if create {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        let base = format!("autorid-{}", params.low);
        Ok(AutoridStore {
            dir: dir.to_path_buf(),
            path: dir.join(format!("{base}.map")),
            tmp: dir.join(format!("{base}.map.tmp")),
            lock_path: dir.join(format!("{base}.lock")),
        })
    }

    /// The file allocations are kept in.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive inter-process lock (blocks while another
    /// process allocates).
    pub fn lock(&self) -> Result<StoreLock, IdmapError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io_err(&self.lock_path))?;
        loop {
            // SAFETY: flock only reads the descriptor number, which stays
            // open for the duration of the call because `file` is alive.
            let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(StoreLock { _file: file });
            }
            let e = io::Error::last_os_error();
            if e.kind() != io::ErrorKind::Interrupted {
                return Err(io_err(&self.lock_path)(e));
            }
        }
    }

    /// Reads every allocation (none if the file does not exist yet),
    /// checking it against the pool parameters.
    pub fn load(&self, params: &AutoridParams) -> Result<Vec<Record>, IdmapError> {
        let text = match fs::read_to_string(&self.path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err(&self.path)(e)),
        };
        let corrupt = |line: usize, reason: String| IdmapError::StoreCorrupt {
            path: self.path.clone(),
            line,
            reason,
        };
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l).unwrap_or("");
        let expected = format!("{MAGIC} low {} rangesize ", params.low);
        let Some(rs) = header.strip_prefix(&expected) else {
            return Err(corrupt(
                1,
                format!("header {header:?} is not \"{expected}<N>\""),
            ));
        };
        if rs != params.rangesize.to_string() {
            return Err(corrupt(
                1,
                format!(
                    "allocations were made with rangesize {rs}, the configuration says {}: \
                     changing it would move every ID",
                    params.rangesize
                ),
            ));
        }
        let slots = params.slots();
        let mut out = Vec::new();
        for (i, line) in lines {
            if line.is_empty() {
                continue;
            }
            let mut f = line.split(' ');
            let (Some(slot), Some(sid), Some(index), None) =
                (f.next(), f.next(), f.next(), f.next())
            else {
                return Err(corrupt(
                    i + 1,
                    format!("{line:?} is not \"SLOT SID INDEX\""),
                ));
            };
            let slot: u32 = slot
                .parse()
                .map_err(|_| corrupt(i + 1, format!("bad slot {slot:?}")))?;
            let domain: Sid = sid
                .parse()
                .map_err(|e| corrupt(i + 1, format!("bad SID: {e}")))?;
            let index: u32 = index
                .parse()
                .map_err(|_| corrupt(i + 1, format!("bad index {index:?}")))?;
            if slot >= slots {
                return Err(corrupt(
                    i + 1,
                    format!(
                        "slot {slot} ({domain}) lies beyond autorid_high {}: lowering \
                         autorid_high would drop an allocated range",
                        params.high
                    ),
                ));
            }
            out.push(Record {
                slot,
                domain,
                index,
            });
        }
        Ok(out)
    }

    /// Replaces the file with `records`, durably: temp file, fsync,
    /// rename, fsync of the directory. Call with the lock held.
    pub fn commit(&self, params: &AutoridParams, records: &[Record]) -> Result<(), IdmapError> {
        let mut text = format!(
            "{MAGIC} low {} rangesize {}\n",
            params.low, params.rangesize
        );
        for r in records {
            text.push_str(&format!("{} {} {}\n", r.slot, r.domain, r.index));
        }
        let mut f = File::create(&self.tmp).map_err(io_err(&self.tmp))?;
        f.write_all(text.as_bytes()).map_err(io_err(&self.tmp))?;
        f.sync_all().map_err(io_err(&self.tmp))?;
        drop(f);
        fs::rename(&self.tmp, &self.path).map_err(io_err(&self.path))?;
        File::open(&self.dir)
            .and_then(|d| d.sync_all())
            .map_err(io_err(&self.dir))?;
        Ok(())
    }
}
