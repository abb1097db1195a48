//! Replacing a file atomically and durably — the one implementation every
//! roster crate uses (rosterd's state and published files, the idmap state
//! files, the memory cache, rosterctl's edits of administrators' files).
//!
//! The steps: a temporary file is created in the target's directory (so the
//! rename cannot cross file systems), given its mode (and owner), written,
//! `fsync`ed, renamed over the target, and the directory is `fsync`ed so
//! that the rename itself survives a crash. A reader therefore sees either
//! the whole old file or the whole new one, and once [`replace`] or
//! [`Replacement::commit`] returns, the new one stays after a power loss.
//!
//! It lives in `roster-proto` because that is the lowest crate every
//! process shares without pulling in tokio (the daemon, rosterctl and the
//! idmap library all depend on it; the memory-cache writer is in it).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// How the new file's mode and owner are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    mode: u32,
    keep_existing: bool,
}

impl Options {
    /// The new file gets exactly `mode` (the umask does not apply) and the
    /// caller's owner. The temporary file is created owner-only and given
    /// `mode` afterwards, so a secret file is never readable by others, not
    /// even for a moment.
    pub const fn mode(mode: u32) -> Options {
        Options {
            mode: mode & 0o7777,
            keep_existing: false,
        }
    }

    /// The new file keeps the mode of the file it replaces and, when the
    /// caller may (root), its owner and group; `mode` applies when there is
    /// no file yet. For administrators' files edited in place.
    pub const fn keep_existing(self) -> Options {
        Options {
            keep_existing: true,
            ..self
        }
    }
}

/// A step of the replacement that failed, with the file it failed on.
#[derive(Debug, thiserror::Error)]
#[error("cannot {op} {}: {source}", path.display())]
pub struct ReplaceError {
    /// What was being done ("create", "write", "rename to", "sync the directory", ...).
    pub op: &'static str,
    /// The file or directory the step failed on.
    pub path: PathBuf,
    /// The I/O error.
    #[source]
    pub source: io::Error,
}

impl From<ReplaceError> for io::Error {
    fn from(e: ReplaceError) -> io::Error {
        io::Error::new(e.source.kind(), e.to_string())
    }
}

fn fail<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> ReplaceError + 'a {
    move |source| ReplaceError {
        op,
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` with `contents`, atomically and durably (see the module
/// documentation). A symbolic link at `path` is replaced by a file; resolve
/// it first (`std::fs::canonicalize`) to write through it.
pub fn replace(path: &Path, contents: &[u8], options: Options) -> Result<(), ReplaceError> {
    let mut r = Replacement::create(path, options)?;
    r.file()
        .write_all(contents)
        .map_err(fail("write", &r.tmp))?;
    r.commit().map(drop)
}

/// Removes `path` durably (the directory is `fsync`ed); `Ok(false)` when
/// there was nothing to remove.
pub fn remove(path: &Path) -> Result<bool, ReplaceError> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(fail("remove", path)(e)),
    }
    let dir = parent(path);
    sync_dir(&dir)?;
    Ok(true)
}

/// The point a [`Replacement`] has reached; seen by the tests' observer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Step {
    FileSynced,
    Renamed,
    DirSynced,
}

/// A new version of a file being written: a temporary file next to the
/// target, renamed over it by [`commit`](Replacement::commit). Dropped
/// without a commit, the temporary file is removed and the target is left
/// as it was.
#[derive(Debug)]
pub struct Replacement {
    target: PathBuf,
    tmp: PathBuf,
    dir: PathBuf,
    file: Option<File>,
}

/// Makes temporary names unique between threads of one process (the
/// process ID separates processes).
static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

fn parent(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

fn sync_dir(dir: &Path) -> Result<(), ReplaceError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(fail("sync the directory", dir))
}

impl Replacement {
    /// Creates the temporary file `.<name>.<pid>.<n>.tmp` in `path`'s
    /// directory, readable and writable, with the mode and owner `options`
    /// chooses.
    pub fn create(path: &Path, options: Options) -> Result<Replacement, ReplaceError> {
        let dir = parent(path);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let existing = if options.keep_existing {
            match std::fs::metadata(path) {
                Ok(m) => Some(m),
                Err(e) if e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(fail("read", path)(e)),
            }
        } else {
            None
        };
        let mode = existing
            .as_ref()
            .map_or(options.mode, |m| m.mode() & 0o7777);
        let mut attempt = 0;
        let (tmp, file) = loop {
            let seq = TMP_SEQ.fetch_add(1, Ordering::Relaxed);
            let tmp = dir.join(format!(".{name}.{}.{seq}.tmp", std::process::id()));
            match OpenOptions::new()
                .read(true)
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&tmp)
            {
                Ok(f) => break (tmp, f),
                // Left by a killed process that had our PID: take the next name.
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && attempt < 16 => {
                    attempt += 1;
                }
                Err(e) => return Err(fail("create", &tmp)(e)),
            }
        };
        let r = Replacement {
            target: path.to_path_buf(),
            tmp,
            dir,
            file: Some(file),
        };
        let f = r.file.as_ref().expect("file present until commit");
        if let Some(m) = &existing {
            // Only root may give a file away; otherwise it becomes ours,
            // which is what an unprivileged edit means anyway. The owner
            // first: a chown clears set-ID bits that the chmod then restores.
            let _ = std::os::unix::fs::fchown(f, Some(m.uid()), Some(m.gid()));
        }
        f.set_permissions(std::fs::Permissions::from_mode(mode))
            .map_err(fail("set the mode of", &r.tmp))?;
        Ok(r)
    }

    /// The temporary file, to write the new contents into.
    pub fn file(&mut self) -> &mut File {
        self.file.as_mut().expect("file present until commit")
    }

    /// The temporary file's path.
    pub fn temp_path(&self) -> &Path {
        &self.tmp
    }

    /// `fsync`s the file, renames it over the target and `fsync`s the
    /// directory. Returns the file, open read-write (now at the target).
    pub fn commit(self) -> Result<File, ReplaceError> {
        self.commit_observed(&mut |_, _| {})
    }

    fn commit_observed(
        mut self,
        observe: &mut dyn FnMut(Step, &Path),
    ) -> Result<File, ReplaceError> {
        let file = self.file.take().expect("file present until commit");
        file.sync_all().map_err(fail("sync", &self.tmp))?;
        observe(Step::FileSynced, &self.tmp);
        if let Err(e) = std::fs::rename(&self.tmp, &self.target) {
            let _ = std::fs::remove_file(&self.tmp);
            return Err(fail("rename to", &self.target)(e));
        }
        observe(Step::Renamed, &self.target);
        sync_dir(&self.dir)?;
        observe(Step::DirSynced, &self.dir);
        Ok(file)
    }
}

impl Drop for Replacement {
    fn drop(&mut self) {
        if self.file.is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn replaces_with_the_exact_mode_and_leaves_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.json");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        replace(&p, b"new", Options::mode(0o600)).unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o600);
        // World-readable modes are set exactly, whatever the umask.
        replace(&p, b"newer", Options::mode(0o644)).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o644);
        assert_eq!(entries(d.path()), ["f.json"]);
    }

    #[test]
    fn keep_existing_keeps_the_mode_or_takes_the_default() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.conf");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&p, b"new", Options::mode(0o600).keep_existing()).unwrap();
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o7777, 0o640);
        let q = d.path().join("g.conf");
        replace(&q, b"new", Options::mode(0o604).keep_existing()).unwrap();
        assert_eq!(std::fs::metadata(&q).unwrap().mode() & 0o7777, 0o604);
    }

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary_file() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "old").unwrap();
        let mut r = Replacement::create(&p, Options::mode(0o600)).unwrap();
        r.file().write_all(b"half").unwrap();
        drop(r);
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "old");
        assert_eq!(entries(d.path()), ["f"]);
        let e = replace(&d.path().join("missing/f"), b"x", Options::mode(0o600)).unwrap_err();
        assert!(e.to_string().contains("missing"), "{e}");
    }

    #[test]
    fn remove_is_durable_and_tolerates_absence() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        std::fs::write(&p, "x").unwrap();
        assert!(remove(&p).unwrap());
        assert!(!remove(&p).unwrap());
        assert!(entries(d.path()).is_empty());
    }

    /// The directory is synced after the rename and before commit returns:
    /// without that step a crash after the rename may lose it (the
    /// durability bug this module fixes). At the moment between rename and
    /// directory sync the target already holds the whole new file.
    #[test]
    fn the_directory_is_synced_after_the_rename() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.map");
        std::fs::write(&p, "old").unwrap();
        let mut r = Replacement::create(&p, Options::mode(0o644)).unwrap();
        r.file().write_all(b"new contents").unwrap();
        let mut steps = Vec::new();
        r.commit_observed(&mut |step, path| {
            if step == Step::Renamed {
                assert_eq!(std::fs::read_to_string(&p).unwrap(), "new contents");
            }
            steps.push((step, path.to_path_buf()));
        })
        .unwrap();
        let tmp_synced = &steps[0];
        assert_eq!(tmp_synced.0, Step::FileSynced);
        assert_eq!(
            steps[1..],
            [
                (Step::Renamed, p.clone()),
                (Step::DirSynced, d.path().to_path_buf())
            ]
        );
    }

    const CHILD_ENV: &str = "ROSTER_ATOMIC_FILE_CRASH_CHILD";

    /// A process killed between the rename and the directory sync leaves
    /// the target readable and whole (the new version), and no temporary
    /// file behind. The child is this test binary, re-run on this test
    /// only, which SIGKILLs itself at that point.
    #[test]
    fn a_crash_between_rename_and_directory_sync_leaves_a_readable_file() {
        if let Some(target) = std::env::var_os(CHILD_ENV) {
            let p = PathBuf::from(target);
            let mut r = Replacement::create(&p, Options::mode(0o644)).unwrap();
            r.file().write_all(&b"new ".repeat(4096)).unwrap();
            let _ = r.commit_observed(&mut |step, _| {
                if step == Step::Renamed {
                    let _ = nix::sys::signal::raise(nix::sys::signal::Signal::SIGKILL);
                }
            });
            unreachable!("the child must have been killed at the rename");
        }
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("state.map");
        std::fs::write(&p, "old").unwrap();
        let status = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "atomic_file::tests::a_crash_between_rename_and_directory_sync_leaves_a_readable_file",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, &p)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap();
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(
            status.signal(),
            Some(nix::sys::signal::Signal::SIGKILL as i32),
            "{status:?}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), b"new ".repeat(4096));
        assert_eq!(entries(d.path()), ["state.map"]);
    }
}
