//! Fixture files built once and shared, read-only, by every test process:
//! the loaded slapd databases of [`crate::slapd`] and the certificates of
//! [`crate::tls`].
//!
//! Each artifact is a directory `target/e2e-fixtures/NAME`, where NAME
//! says what it holds and carries a hash of everything it was built from,
//! so a changed input gets a new directory and an old one is never reused
//! by mistake. The first process that needs an artifact builds it under an
//! exclusive lock (`NAME.lock`, `flock`, released by the kernel even when
//! the builder dies) into a scratch sibling and renames it into place;
//! the others wait on the lock and then find it. Users copy what they
//! would modify; nothing in a published artifact is ever written again.

use crate::paths;
use std::fs::File;
use std::hash::{Hash, Hasher};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// Where the artifacts live: `target/e2e-fixtures`.
pub fn cache_root() -> PathBuf {
    paths::target_dir().join("e2e-fixtures")
}

/// A short, stable hex digest of `parts` (for artifact names; the same
/// build of the tests always computes the same value).
pub fn digest<T: Hash + ?Sized>(parts: &T) -> String {
    // DefaultHasher::new() has fixed keys: equal inputs, equal digests,
    // in every process of one build.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    parts.hash(&mut h);
    format!("{:016x}", h.finish())
}

/// An exclusive `flock` on a file, held until dropped.
struct Lock {
    _file: File,
}

impl Lock {
    fn acquire(path: &Path) -> Lock {
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: flock(2) on a descriptor owned by `file`, which outlives the call.
        let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(
            rc,
            0,
            "flock {}: {}",
            path.display(),
            std::io::Error::last_os_error()
        );
        Lock { _file: file }
    }
}

/// The directory of artifact `name`, built first by `build` (which fills
/// the empty directory it is given) when no process has built it yet.
pub fn shared_dir(name: &str, build: impl FnOnce(&Path)) -> PathBuf {
    let root = cache_root();
    let dir = root.join(name);
    if dir.is_dir() {
        return dir;
    }
    std::fs::create_dir_all(&root).unwrap_or_else(|e| panic!("create {}: {e}", root.display()));
    let _lock = Lock::acquire(&root.join(format!("{name}.lock")));
    if dir.is_dir() {
        return dir;
    }
    let scratch = root.join(format!("{name}.building-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::create_dir_all(&scratch)
        .unwrap_or_else(|e| panic!("create {}: {e}", scratch.display()));
    build(&scratch);
    std::fs::rename(&scratch, &dir)
        .unwrap_or_else(|e| panic!("rename {} to {}: {e}", scratch.display(), dir.display()));
    dir
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    #[test]
    fn an_artifact_is_built_once_and_then_found() {
        let name = format!("unit-test-{}-{}", std::process::id(), digest("once"));
        let builds = AtomicU32::new(0);
        let build = |d: &Path| {
            builds.fetch_add(1, Ordering::SeqCst);
            std::fs::write(d.join("f"), "x").unwrap();
        };
        let first = shared_dir(&name, build);
        let second = shared_dir(&name, |_| panic!("built twice"));
        assert_eq!(first, second);
        assert_eq!(builds.load(Ordering::SeqCst), 1);
        assert_eq!(std::fs::read_to_string(first.join("f")).unwrap(), "x");
        std::fs::remove_dir_all(&first).unwrap();
        let _ = std::fs::remove_file(cache_root().join(format!("{name}.lock")));
    }

    #[test]
    fn digests_differ_with_the_input() {
        assert_eq!(digest("a"), digest("a"));
        assert_ne!(digest("a"), digest("b"));
        assert_eq!(digest("a").len(), 16);
    }
}
