//! Which owner the modules may take for rosterd's when they meet its files
//! (`pam.sock`, `nss.mc`): rosterd runs as its own system user
//! (`_roster`), and a module cannot look that user up by name (it must
//! not resolve names inside the process it serves).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether a file at `path` owned by `uid` may be trusted as rosterd's:
/// root's, the caller's, or — rosterd's system user — the owner of the
/// directory holding `path` when that directory is not writable by group
/// or others and its own parent is root's and not writable by others, so
/// that only root can have created the directory and handed it out
/// (`/run/roster` in `/run`, made by systemd or by rosterd started as
/// root). A directory in a world-writable place such as `/tmp` is not
/// enough.
pub fn trusted_owner(path: &Path, uid: u32) -> bool {
    // (root's file asks nothing more: no `geteuid`.)
    // SAFETY: geteuid has no preconditions and cannot fail.
    if uid == 0 || uid == unsafe { libc::geteuid() } {
        return true;
    }
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return false;
    };
    let Some(parent) = dir.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return false;
    };
    let (Ok(d), Ok(p)) = (std::fs::metadata(dir), std::fs::metadata(parent)) else {
        return false;
    };
    d.is_dir() && d.uid() == uid && d.mode() & 0o022 == 0 && p.uid() == 0 && p.mode() & 0o002 == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_owner_of_a_root_made_private_directory_is_trusted() {
        // SAFETY: geteuid has no preconditions.
        if unsafe { libc::geteuid() } != 0 {
            return; // chown needs root (CI runs as root)
        }
        let daemon = 64903;
        let top = tempfile::tempdir().unwrap();
        let mode = |p: &Path, m: u32| {
            std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
        };
        mode(top.path(), 0o755);
        let run = top.path().join("run");
        std::fs::create_dir(&run).unwrap();
        let file = run.join("nss.mc");
        assert!(trusted_owner(&file, 0), "root");
        // Someone else's directory is not the daemon's.
        assert!(!trusted_owner(&file, daemon), "root's directory");
        std::os::unix::fs::chown(&run, Some(daemon), Some(daemon)).unwrap();
        mode(&run, 0o755);
        assert!(trusted_owner(&file, daemon), "the daemon's directory");
        assert!(!trusted_owner(&file, daemon + 1), "another user");
        mode(&run, 0o775);
        assert!(!trusted_owner(&file, daemon), "group-writable directory");
        mode(&run, 0o755);
        // In a world-writable parent, anyone could have made the directory.
        mode(top.path(), 0o1777);
        assert!(!trusted_owner(&file, daemon), "world-writable parent");
    }
}
