//! Editing an administrator's file in place: [`roster_proto::atomic_file`]
//! through a symbolic link, keeping the mode and owner of the file it
//! replaces.

use anyhow::Context as _;
use roster_proto::atomic_file::{self, Options};
use std::path::Path;

/// Writes `contents` to `path` atomically and durably, keeping the mode and
/// owner of the file it replaces.
pub fn replace(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    // A symlinked file (e.g. /etc/nsswitch.conf -> elsewhere) is replaced at
    // its target, keeping the link.
    let real =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    atomic_file::replace(&real, contents, Options::mode(0o644).keep_existing())?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn keeps_the_mode() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f.conf");
        std::fs::write(&p, "old").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        replace(&p, b"new").unwrap();
        assert_eq!(std::fs::read_to_string(&p).unwrap(), "new");
        assert_eq!(std::fs::metadata(&p).unwrap().mode() & 0o777, 0o640);
        let left: Vec<_> = std::fs::read_dir(d.path()).unwrap().collect();
        assert_eq!(left.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_symlink_stays_a_symlink() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("real.conf");
        let link = d.path().join("link.conf");
        std::fs::write(&target, "old").unwrap();
        std::os::unix::fs::symlink(&target, &link).unwrap();
        replace(&link, b"new").unwrap();
        assert!(std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "new");
    }
}
