//! Durable records in the state directory: the autorid allocations of
//! each pool and the sss slices of each domain. Each is one small text
//! file replaced atomically (write temp file, fsync, rename, fsync
//! directory) under an exclusive `flock` on a lock file ([`StateFile`]),
//! so that several processes (rosterd, rosterctl) never hand one range to
//! two domains and a kill at any moment leaves either the old or the new
//! file. [`SharedStore`] is the interface of a store shared between hosts
//! (the daemon implements it on the directory).

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg};
use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};

use roster_proto::atomic_file::{self, Options};

use crate::error::IdmapError;
use crate::settings::{AutoridParams, SssParams};
use crate::sid::Sid;

const MAGIC: &str = "roster-autorid v1";
const SSS_MAGIC: &str = "roster-sss v1";

/// One allocation: slot `slot` of the pool holds RIDs
/// `index*rangesize ..` of domain `domain`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Record {
    /// Slot number in the pool.
    pub slot: u32,
    /// Domain SID.
    pub domain: Sid,
    /// Which block of `rangesize` RIDs of the domain.
    pub index: u32,
}

/// Why a [`SharedStore`] operation failed.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SharedStoreError {
    /// The store could not be reached (try again later) rather than
    /// answering with an error.
    pub unavailable: bool,
    /// What happened.
    pub message: String,
}

/// A store of autorid allocations shared by every host (the daemon
/// implements it with entries in the directory). Its operations may block
/// for a bounded time; they are called only on the first sight of a
/// domain block, at start and when an ID of an unknown slot is asked.
pub trait SharedStore: Send + Sync + std::fmt::Debug {
    /// Where the allocations are kept, for messages.
    fn describe(&self) -> String;
    /// Every allocation of the pool in the store.
    fn load(&self) -> Result<Vec<Record>, SharedStoreError>;
    /// Adds `record` unless its slot is taken (compare-and-swap): `true`
    /// when added, `false` when another allocation holds the slot (read
    /// the store again to see which).
    fn claim(&self, record: &Record) -> Result<bool, SharedStoreError>;
}

/// A small text file in the state directory, replaced atomically and
/// guarded by an exclusive `flock` on `<name>.lock`.
#[derive(Debug, Clone)]
pub struct StateFile {
    path: PathBuf,
    lock_path: PathBuf,
}

/// Held while changing a [`StateFile`]: the exclusive lock on its lock
/// file.
#[derive(Debug)]
pub struct StoreLock {
    _lock: Flock<File>,
}

fn store_io(e: atomic_file::ReplaceError) -> IdmapError {
    IdmapError::StoreIo {
        path: e.path,
        source: e.source,
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> IdmapError + '_ {
    move |source| IdmapError::StoreIo {
        path: path.to_path_buf(),
        source,
    }
}

impl StateFile {
    /// The file `<base>.map` in `dir` (with `<base>.lock`); with `create`, the directory is created if missing.
    pub fn new(dir: &Path, base: &str, create: bool) -> Result<StateFile, IdmapError> {
        if create {
            fs::create_dir_all(dir).map_err(io_err(dir))?;
        }
        Ok(StateFile {
            path: dir.join(format!("{base}.map")),
            lock_path: dir.join(format!("{base}.lock")),
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the exclusive inter-process lock (blocks while another
    /// process holds it).
    pub fn lock(&self) -> Result<StoreLock, IdmapError> {
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&self.lock_path)
            .map_err(io_err(&self.lock_path))?;
        loop {
            // Unlocked (and closed) when the StoreLock is dropped.
            match Flock::lock(file, FlockArg::LockExclusive) {
                Ok(lock) => return Ok(StoreLock { _lock: lock }),
                Err((f, Errno::EINTR)) => file = f,
                Err((_, e)) => return Err(io_err(&self.lock_path)(io::Error::from(e))),
            }
        }
    }

    /// The file's text, `None` when it does not exist.
    pub fn read(&self) -> Result<Option<String>, IdmapError> {
        match fs::read_to_string(&self.path) {
            Ok(t) => Ok(Some(t)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }

    /// Replaces the file (mode 0644) with `text`, durably: temp file,
    /// fsync, rename, fsync of the directory
    /// ([`roster_proto::atomic_file`]). Call with the lock held.
    pub fn replace(&self, text: &str) -> Result<(), IdmapError> {
        atomic_file::replace(&self.path, text.as_bytes(), Options::mode(0o644)).map_err(store_io)
    }

    /// Removes the file (under the lock), durably.
    pub fn remove(&self) -> Result<(), IdmapError> {
        atomic_file::remove(&self.path).map(drop).map_err(store_io)
    }
}

/// The file of one autorid pool: `autorid-<low>.map`, one
/// `SLOT SID INDEX [DOMAIN-NAME]` line per allocation.
#[derive(Debug)]
pub struct AutoridStore {
    file: StateFile,
}

/// What an autorid store file holds.
#[derive(Debug, Default, Clone)]
pub struct AutoridFile {
    /// The allocations.
    pub records: Vec<Record>,
    /// Configured domain names of the SIDs, where known.
    pub names: BTreeMap<Sid, String>,
}

impl AutoridStore {
    /// The store of the pool starting at `params.low` in `dir`; with
    /// `create`, the directory is created if missing. Nothing is read yet.
    pub fn new(
        dir: &Path,
        params: &AutoridParams,
        create: bool,
    ) -> Result<AutoridStore, IdmapError> {
        Ok(AutoridStore {
            file: StateFile::new(dir, &format!("autorid-{}", params.low), create)?,
        })
    }

    /// The file allocations are kept in.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Takes the exclusive inter-process lock (blocks while another
    /// process allocates).
    pub fn lock(&self) -> Result<StoreLock, IdmapError> {
        self.file.lock()
    }

    /// Reads every allocation (none if the file does not exist yet),
    /// checking it against the pool parameters: a changed `rangesize` or a
    /// slot beyond `autorid_high` is refused naming the domain.
    pub fn load(&self, params: &AutoridParams) -> Result<AutoridFile, IdmapError> {
        let Some(text) = self.file.read()? else {
            return Ok(AutoridFile::default());
        };
        let path = self.file.path();
        let corrupt = |line: usize, reason: String| IdmapError::StoreCorrupt {
            path: path.to_path_buf(),
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
        let mut out = AutoridFile::default();
        for (i, line) in lines {
            if line.is_empty() {
                continue;
            }
            let mut f = line.splitn(4, ' ');
            let (Some(slot), Some(sid), Some(index)) = (f.next(), f.next(), f.next()) else {
                return Err(corrupt(
                    i + 1,
                    format!("{line:?} is not \"SLOT SID INDEX [DOMAIN]\""),
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
            if let Some(name) = f.next().filter(|n| !n.is_empty()) {
                out.names.insert(domain, name.to_string());
            }
            out.records.push(Record {
                slot,
                domain,
                index,
            });
        }
        let name_of = |d: &Sid| out.names.get(d).cloned().unwrap_or_else(|| d.to_string());
        if rs != params.rangesize.to_string() {
            let first = out.records.first().map(|r| name_of(&r.domain));
            return Err(match first {
                Some(domain) => IdmapError::Recorded {
                    domain,
                    path: path.to_path_buf(),
                    reason: format!(
                        "its autorid ranges were allocated with rangesize {rs}, the configuration \
                         says {}: changing it would move every ID",
                        params.rangesize
                    ),
                },
                None => corrupt(
                    1,
                    format!(
                        "allocations were made with rangesize {rs}, the configuration says {}",
                        params.rangesize
                    ),
                ),
            });
        }
        let slots = params.slots();
        if let Some(r) = out.records.iter().find(|r| r.slot >= slots) {
            return Err(IdmapError::Recorded {
                domain: name_of(&r.domain),
                path: path.to_path_buf(),
                reason: format!(
                    "slot {} (block {} of {}) lies beyond autorid_high {}: lowering \
                     autorid_high would drop an allocated range",
                    r.slot, r.index, r.domain, params.high
                ),
            });
        }
        Ok(out)
    }

    /// Replaces the file with `records` (and the domain names known),
    /// durably. Call with the lock held.
    pub fn commit(
        &self,
        params: &AutoridParams,
        records: &[Record],
        names: &BTreeMap<Sid, String>,
    ) -> Result<(), IdmapError> {
        let mut text = format!(
            "{MAGIC} low {} rangesize {}\n",
            params.low, params.rangesize
        );
        for r in records {
            match names.get(&r.domain) {
                Some(n) => text.push_str(&format!("{} {} {} {n}\n", r.slot, r.domain, r.index)),
                None => text.push_str(&format!("{} {} {}\n", r.slot, r.domain, r.index)),
            }
        }
        self.file.replace(&text)
    }
}

/// The sss slices recorded for one domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SssRecord {
    /// The configured domain name.
    pub name: String,
    /// The domain SID.
    pub sid: Sid,
    /// The parameters the slices were computed with.
    pub params: SssParams,
    /// First ID of the primary slice (RIDs from 0).
    pub primary: u32,
    /// First IDs of the precomputed secondary slices (RIDs from
    /// `range_size`, `2*range_size`, ...).
    pub helpers: Vec<u32>,
}

/// `<state_dir>/sss.map`: the sss slices of every domain, one
/// `SID RANGE_MIN RANGE_MAX RANGE_SIZE AUTORID_COMPAT HELPER_TABLE_SIZE
/// PRIMARY HELPERS NAME` line each (HELPERS comma-separated, `-` for none),
/// in the order the domains were first assigned.
#[derive(Debug)]
pub struct SssStore {
    file: StateFile,
}

impl SssStore {
    /// The table in `dir`; with `create`, the directory is created if
    /// missing.
    pub fn new(dir: &Path, create: bool) -> Result<SssStore, IdmapError> {
        Ok(SssStore {
            file: StateFile::new(dir, "sss", create)?,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        self.file.path()
    }

    /// Takes the exclusive inter-process lock.
    pub fn lock(&self) -> Result<StoreLock, IdmapError> {
        self.file.lock()
    }

    /// Every record (none if the file does not exist yet).
    pub fn load(&self) -> Result<Vec<SssRecord>, IdmapError> {
        let Some(text) = self.file.read()? else {
            return Ok(Vec::new());
        };
        let path = self.file.path();
        let corrupt = |line: usize, reason: String| IdmapError::StoreCorrupt {
            path: path.to_path_buf(),
            line,
            reason,
        };
        let mut lines = text.lines().enumerate();
        let header = lines.next().map(|(_, l)| l).unwrap_or("");
        if header != SSS_MAGIC {
            return Err(corrupt(
                1,
                format!("header {header:?} is not {SSS_MAGIC:?}"),
            ));
        }
        let mut out = Vec::new();
        for (i, line) in lines {
            if line.is_empty() {
                continue;
            }
            let f: Vec<&str> = line.splitn(9, ' ').collect();
            let bad = || {
                corrupt(i + 1, format!("{line:?} is not \"SID RANGE_MIN RANGE_MAX RANGE_SIZE AUTORID_COMPAT HELPER_TABLE_SIZE PRIMARY HELPERS NAME\""))
            };
            if f.len() != 9 || f[8].is_empty() {
                return Err(bad());
            }
            let num = |s: &str| s.parse::<u32>().map_err(|_| bad());
            let helpers = if f[7] == "-" {
                Vec::new()
            } else {
                f[7].split(',').map(num).collect::<Result<Vec<u32>, _>>()?
            };
            out.push(SssRecord {
                sid: f[0]
                    .parse()
                    .map_err(|e| corrupt(i + 1, format!("bad SID: {e}")))?,
                params: SssParams {
                    range_min: num(f[1])?,
                    range_max: num(f[2])?,
                    range_size: num(f[3])?,
                    autorid_compat: match f[4] {
                        "true" => true,
                        "false" => false,
                        _ => return Err(bad()),
                    },
                    helper_table_size: num(f[5])?,
                },
                primary: num(f[6])?,
                helpers,
                name: f[8].to_string(),
            });
        }
        Ok(out)
    }

    /// Replaces the file with `records`, durably. Call with the lock held.
    pub fn commit(&self, records: &[SssRecord]) -> Result<(), IdmapError> {
        let mut text = format!("{SSS_MAGIC}\n");
        for r in records {
            let p = &r.params;
            let helpers = if r.helpers.is_empty() {
                "-".to_string()
            } else {
                r.helpers
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            };
            text.push_str(&format!(
                "{} {} {} {} {} {} {} {helpers} {}\n",
                r.sid,
                p.range_min,
                p.range_max,
                p.range_size,
                p.autorid_compat,
                p.helper_table_size,
                r.primary,
                r.name
            ));
        }
        self.file.replace(&text)
    }
}

/// One allocation line of some autorid file, read leniently.
#[derive(Debug, Clone)]
pub struct RecordedAutorid {
    /// The file.
    pub path: PathBuf,
    /// Its pool's `autorid_low`.
    pub low: u32,
    /// The domain SID.
    pub sid: Sid,
    /// The domain's configured name, when recorded.
    pub name: Option<String>,
}

/// Every allocation line of the autorid files in `dir`, read leniently
/// (for checks across pools; each pool's own file is checked strictly
/// when it is opened).
pub fn recorded_autorid_domains(dir: &Path) -> Result<Vec<RecordedAutorid>, IdmapError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut out = Vec::new();
    for e in entries.filter_map(|e| e.ok()) {
        let Ok(name) = e.file_name().into_string() else {
            continue;
        };
        let Some(low) = name
            .strip_prefix("autorid-")
            .and_then(|n| n.strip_suffix(".map"))
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        let path = e.path();
        let text = match fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) => return Err(io_err(&path)(e)),
        };
        for l in text.lines().skip(1) {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            if let Some(sid) = f.get(1).and_then(|s| s.parse::<Sid>().ok()) {
                out.push(RecordedAutorid {
                    path: path.clone(),
                    low,
                    sid,
                    name: f.get(3).map(|n| n.to_string()),
                });
            }
        }
    }
    out.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(out)
}

/// Forgets every recorded mapping of domain `name` (compared
/// case-insensitively) or of SID `sid` in `dir`: its lines in `sss.map`
/// and in every `autorid-*.map` (each file changed under its lock; a file
/// left without allocations is removed). Returns one line per change.
pub fn reset_domain(dir: &Path, name: &str, sid: Option<Sid>) -> Result<Vec<String>, IdmapError> {
    let mut done = Vec::new();
    let sss = SssStore::new(dir, false)?;
    {
        let _lock = sss.lock()?;
        let recs = sss.load()?;
        let (gone, kept): (Vec<SssRecord>, Vec<SssRecord>) = recs
            .into_iter()
            .partition(|r| r.name.eq_ignore_ascii_case(name) || Some(r.sid) == sid);
        for r in &gone {
            done.push(format!(
                "{}: forgot the sss slices of domain \"{}\" ({})",
                sss.path().display(),
                r.name,
                r.sid
            ));
        }
        if !gone.is_empty() {
            if kept.is_empty() {
                sss.file.remove()?;
            } else {
                sss.commit(&kept)?;
            }
        }
    }
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(done),
        Err(e) => return Err(io_err(dir)(e)),
    };
    let mut bases: Vec<String> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter_map(|n| {
            n.strip_suffix(".map")
                .filter(|b| b.starts_with("autorid-"))
                .map(str::to_string)
        })
        .collect();
    bases.sort();
    for base in bases {
        let file = StateFile::new(dir, &base, false)?;
        let _lock = file.lock()?;
        let Some(text) = file.read()? else { continue };
        let mut lines = text.lines();
        let header = lines.next().unwrap_or("");
        let mut kept = Vec::new();
        let mut gone = 0usize;
        for l in lines.filter(|l| !l.is_empty()) {
            let f: Vec<&str> = l.splitn(4, ' ').collect();
            let by_sid = f
                .get(1)
                .and_then(|s| s.parse::<Sid>().ok())
                .is_some_and(|s| Some(s) == sid);
            let by_name = f.get(3).is_some_and(|n| n.eq_ignore_ascii_case(name));
            if by_sid || by_name {
                gone += 1;
            } else {
                kept.push(l);
            }
        }
        if gone == 0 {
            continue;
        }
        done.push(format!(
            "{}: forgot {gone} autorid range(s) of domain \"{name}\"",
            file.path().display()
        ));
        if kept.is_empty() {
            file.remove()?;
        } else {
            let mut t = format!("{header}\n");
            for l in kept {
                t.push_str(l);
                t.push('\n');
            }
            file.replace(&t)?;
        }
    }
    Ok(done)
}
