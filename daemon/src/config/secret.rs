//! Reading the bind password file.

use roster_proto::Secret;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use zeroize::Zeroize;

/// Reads a password file: it must be a regular file, neither group- nor
/// world-readable, and hold a non-empty password (one trailing newline is
/// removed). The returned error text never contains the password.
pub(crate) fn read_password_file(path: &Path) -> Result<Secret, String> {
    check_private_file(path, "a password file")?;
    let mut file =
        std::fs::File::open(path).map_err(|e| format!("cannot open {}: {e}", path.display()))?;
    let mut buf = Vec::new();
    if let Err(e) = file.read_to_end(&mut buf) {
        buf.zeroize();
        return Err(format!("cannot read {}: {e}", path.display()));
    }
    if buf.last() == Some(&b'\n') {
        buf.pop();
        if buf.last() == Some(&b'\r') {
            buf.pop();
        }
    }
    if buf.is_empty() {
        return Err(format!(
            "{} is empty: an empty password would be an anonymous bind",
            path.display()
        ));
    }
    if std::str::from_utf8(&buf).is_err() {
        buf.zeroize();
        return Err(format!("{} does not hold UTF-8 text", path.display()));
    }
    Ok(Secret::new(buf))
}

/// Checks that `path` is a regular file owned by root or by the daemon's
/// own user, without any group or other permission bits (`what` names the
/// kind of file in the error).
pub(crate) fn check_private_file(path: &Path, what: &str) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let daemon_uid = unsafe { libc::geteuid() };
    check_private_file_of(path, what, daemon_uid)
}

/// [`check_private_file`] for a daemon running as `daemon_uid`.
fn check_private_file_of(path: &Path, what: &str, daemon_uid: u32) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let mode = meta.mode() & 0o777;
    if mode & 0o077 != 0 {
        return Err(format!(
            "{} has mode {mode:04o}: {what} must not be readable or writable by group or others (chmod 600)",
            path.display()
        ));
    }
    let owner = meta.uid();
    if owner != 0 && owner != daemon_uid {
        return Err(format!(
            "{} is owned by uid {owner}: {what} must be owned by root or by the daemon's user (uid {daemon_uid}), or its owner could change it",
            path.display()
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn write(dir: &Path, name: &str, body: &[u8], mode: u32) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
        p
    }

    #[test]
    fn reads_and_trims_one_newline() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"s3cret\n", 0o600);
        assert_eq!(read_password_file(&p).unwrap().expose(), b"s3cret");
        let p = write(d.path(), "pw2", b"a b \r\n", 0o400);
        assert_eq!(read_password_file(&p).unwrap().expose(), b"a b ");
    }

    #[test]
    fn refuses_group_or_world_access() {
        let d = tempfile::tempdir().unwrap();
        for mode in [0o640, 0o604, 0o620, 0o644] {
            let p = write(d.path(), "pw", b"s3cret", mode);
            let e = read_password_file(&p).unwrap_err();
            assert!(e.contains("mode"), "{e}");
            assert!(!e.contains("s3cret"), "{e}");
        }
    }

    #[test]
    fn refuses_files_owned_by_another_user() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"s3cret", 0o600);
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        // The owner must be neither root nor the daemon's user: as root,
        // give the file away; otherwise the file is ours and the daemon is
        // someone else.
        let daemon_uid = if me == 0 {
            std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
            0
        } else {
            me + 1
        };
        let e = check_private_file_of(&p, "a password file", daemon_uid).unwrap_err();
        assert!(e.contains("owned by uid"), "{e}");
        assert!(e.contains(&p.display().to_string()), "{e}");
        // Owned by the daemon's user, or by root: accepted.
        let owner = std::fs::metadata(&p).unwrap().uid();
        assert!(check_private_file_of(&p, "a password file", owner).is_ok());
        if me == 0 {
            std::os::unix::fs::chown(&p, Some(0), None).unwrap();
            assert!(check_private_file_of(&p, "a password file", 4242).is_ok());
            assert!(read_password_file(&p).is_ok());
        }
    }

    #[test]
    fn refuses_empty_missing_and_directories() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"\n", 0o600);
        assert!(read_password_file(&p).unwrap_err().contains("empty"));
        assert!(read_password_file(&d.path().join("nope"))
            .unwrap_err()
            .contains("cannot read"));
        assert!(read_password_file(d.path())
            .unwrap_err()
            .contains("not a regular file"));
    }
}
