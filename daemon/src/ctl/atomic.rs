//! Replacing a file atomically: a temporary file in the same directory,
//! written, synced and given the original's mode (and owner, when we may),
//! then renamed over the original.

use anyhow::Context as _;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Writes `contents` to `path` atomically, keeping the mode and owner of the
/// file it replaces.
pub fn replace(path: &Path, contents: &[u8]) -> anyhow::Result<()> {
    // A symlinked file (e.g. /etc/nsswitch.conf -> elsewhere) is replaced at
    // its target, keeping the link.
    let real =
        std::fs::canonicalize(path).with_context(|| format!("cannot read {}", path.display()))?;
    let path = real.as_path();
    let meta =
        std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut tmp = tempfile::Builder::new()
        .prefix(&format!(".{name}."))
        .suffix(".tmp")
        .tempfile_in(dir)
        .with_context(|| format!("cannot create a temporary file in {}", dir.display()))?;
    tmp.write_all(contents)
        .and_then(|_| tmp.as_file().sync_all())
        .with_context(|| format!("cannot write {}", tmp.path().display()))?;
    std::fs::set_permissions(
        tmp.path(),
        std::fs::Permissions::from_mode(meta.mode() & 0o7777),
    )
    .with_context(|| format!("cannot set the mode of {}", tmp.path().display()))?;
    // Keep the owner when we are allowed to (root); otherwise the file
    // becomes ours, which is what an unprivileged edit means anyway.
    let _ = std::os::unix::fs::chown(tmp.path(), Some(meta.uid()), Some(meta.gid()));
    tmp.persist(path)
        .with_context(|| format!("cannot replace {}", path.display()))?;
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

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
