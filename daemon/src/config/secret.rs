//! Reading the bind password file, and the rule every secret file
//! (password file, TLS client key) must meet: trusted by owner and mode,
//! and readable by the user rosterd runs as.

use roster_proto::Secret;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use zeroize::Zeroize;

/// Reads a password file: it must pass [`check_private_file`] for
/// `reader` and hold a non-empty password (one trailing newline is
/// removed). The returned error text never contains the password.
pub(crate) fn read_password_file(path: &Path, reader: SecretReader) -> Result<Secret, String> {
    check_private_file(path, "a password file", reader)?;
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

/// Who reads the secret files: the daemon's effective user and group,
/// and the group of rosterd's system user (`_roster`), through which
/// secrets may be group-readable even while the reader is root (a root
/// `rosterctl config check`, a rosterd not yet unprivileged).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SecretReader {
    uid: u32,
    gid: u32,
    daemon_group: DaemonGroup,
}

/// The group of rosterd's system user, as a [`SecretReader`] has it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DaemonGroup {
    /// Known (`None`: there is no such group).
    Known(Option<u32>),
    /// Looked up by name when a group-readable file asks for it: the
    /// lookup goes through NSS (loading its modules: about 0.3 ms of
    /// rosterd's start when it was made up front).
    ByName,
}

impl SecretReader {
    /// This process's effective user and group: rosterd's (after it
    /// dropped to its user, the files are read as that user).
    pub fn current() -> SecretReader {
        SecretReader {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            daemon_group: DaemonGroup::ByName,
        }
    }

    /// The user the daemon reads the files as, seen from a configuration
    /// check: run as root while rosterd's system user (`_roster`) exists,
    /// that user (the daemon runs as it: `rosterd --user _roster`, the
    /// package's unit), so that `rosterctl config check` agrees with
    /// `rosterd --check-config --user _roster`; otherwise this process.
    pub fn daemon() -> SecretReader {
        let me = SecretReader::current();
        if me.uid != 0 {
            return me;
        }
        match nix::unistd::User::from_name(roster_proto::DAEMON_USER) {
            Ok(Some(u)) if !u.uid.is_root() => SecretReader {
                uid: u.uid.as_raw(),
                gid: u.gid.as_raw(),
                daemon_group: DaemonGroup::Known(Some(u.gid.as_raw())),
            },
            _ => me,
        }
    }

    /// Its user ID.
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// The GID of rosterd's system user's group, if there is one.
    fn daemon_gid(&self) -> Option<u32> {
        match self.daemon_group {
            DaemonGroup::Known(gid) => gid,
            DaemonGroup::ByName => nix::unistd::Group::from_name(roster_proto::DAEMON_USER)
                .ok()
                .flatten()
                .map(|g| g.gid.as_raw()),
        }
    }

    /// Whether it may read a file with `meta` (by owner, group and mode;
    /// root reads everything).
    pub(crate) fn may_read(&self, meta: &std::fs::Metadata) -> bool {
        let mode = meta.mode();
        self.uid == 0
            || (meta.uid() == self.uid && mode & 0o400 != 0)
            || (meta.gid() == self.gid && mode & 0o040 != 0)
            || mode & 0o004 != 0
    }
}

/// Checks that `path` is a secret file the daemon may trust and read, as
/// `reader` (the user it runs as: `_roster` when unprivileged, at start
/// and at every reload alike): a regular file, nothing for others, no
/// group write; owned by root or by the daemon's user; and readable by the
/// daemon — either owned by its user (mode 0600 or 0400), or owned by root
/// with the daemon's group and mode 0640 (or 0440), or anything of root's
/// when the daemon is root. Group read is accepted only through the
/// daemon's own group or `_roster`'s. `what` names the kind of file in the
/// error.
pub(crate) fn check_private_file(
    path: &Path,
    what: &str,
    reader: SecretReader,
) -> Result<(), String> {
    let meta =
        std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    if !meta.is_file() {
        return Err(format!("{} is not a regular file", path.display()));
    }
    let shown = path.display();
    let mode = meta.mode() & 0o777;
    let (owner, group) = (meta.uid(), meta.gid());
    if mode & 0o037 != 0 {
        return Err(format!(
            "{shown} has mode {mode:04o}: {what} must be neither writable by group or others nor readable by others (chmod 600, or 640 with rosterd's group)"
        ));
    }
    if owner != 0 && owner != reader.uid {
        return Err(format!(
            "{shown} is owned by uid {owner}: {what} must be owned by root or by the daemon's user (uid {}), or its owner could change it",
            reader.uid
        ));
    }
    if mode & 0o040 != 0 && group != reader.gid && Some(group) != reader.daemon_gid() {
        return Err(format!(
            "{shown} has mode {mode:04o} and group gid {group}: {what} may be group-readable only through the daemon's group (gid {}) or {}'s (chgrp {} FILE, or chmod 600)",
            reader.gid,
            roster_proto::DAEMON_USER,
            roster_proto::DAEMON_USER,
        ));
    }
    let readable = reader.uid == 0
        || (owner == reader.uid && mode & 0o400 != 0)
        || (group == reader.gid && mode & 0o040 != 0);
    if !readable {
        return Err(format!(
            "{shown} (owner uid {owner}, group gid {group}, mode {mode:04o}) is not readable by the daemon's user (uid {}, gid {}): {what} must be owned by root with the daemon's group and mode 0640, or owned by the daemon's user with mode 0600",
            reader.uid, reader.gid
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use SecretReader as Reader;

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
        assert_eq!(
            read_password_file(&p, SecretReader::current())
                .unwrap()
                .expose(),
            b"s3cret"
        );
        let p = write(d.path(), "pw2", b"a b \r\n", 0o400);
        assert_eq!(
            read_password_file(&p, SecretReader::current())
                .unwrap()
                .expose(),
            b"a b "
        );
    }

    fn me() -> Reader {
        Reader {
            uid: nix::unistd::geteuid().as_raw(),
            gid: nix::unistd::getegid().as_raw(),
            daemon_group: DaemonGroup::Known(None),
        }
    }

    #[test]
    fn refuses_group_write_and_any_access_for_others() {
        let d = tempfile::tempdir().unwrap();
        for mode in [0o604, 0o620, 0o644, 0o660, 0o610, 0o601] {
            let p = write(d.path(), "pw", b"s3cret", mode);
            let e = check_private_file(&p, "a password file", me()).unwrap_err();
            assert!(e.contains("mode"), "{mode:o}: {e}");
            assert!(!e.contains("s3cret"), "{e}");
            let e = read_password_file(&p, SecretReader::current()).unwrap_err();
            assert!(e.contains("mode"), "{mode:o}: {e}");
        }
    }

    #[test]
    fn group_read_only_through_the_daemons_group() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"s3cret", 0o640);
        let group = std::fs::metadata(&p).unwrap().gid();
        // The file's group is the reader's: readable through it.
        assert!(check_private_file(&p, "a password file", me()).is_ok());
        // Another group: refused, naming the gid.
        let other = Reader {
            gid: group + 1,
            ..me()
        };
        let e = check_private_file(&p, "a password file", other).unwrap_err();
        assert!(e.contains(&format!("group gid {group}")), "{e}");
        // ... unless it is _roster's group (root reading for rosterd).
        let via_daemon_group = Reader {
            daemon_group: DaemonGroup::Known(Some(group)),
            ..other
        };
        assert!(check_private_file(&p, "a password file", via_daemon_group).is_ok());
    }

    #[test]
    fn refuses_files_the_daemons_user_cannot_read() {
        if !nix::unistd::geteuid().is_root() {
            return; // needs a root-owned file (CI runs as root)
        }
        let d = tempfile::tempdir().unwrap();
        // root:root 0600 is fine for a root daemon, not for _roster's.
        let p = write(d.path(), "pw", b"s3cret", 0o600);
        assert!(check_private_file(&p, "a password file", me()).is_ok());
        let unprivileged = Reader {
            uid: 64901,
            gid: 64901,
            daemon_group: DaemonGroup::Known(Some(64901)),
        };
        let e = check_private_file(&p, "a password file", unprivileged).unwrap_err();
        assert!(e.contains("not readable by the daemon's user"), "{e}");
        assert!(e.contains("0640"), "{e}");
        // root:_roster 0640 and _roster:any 0600 are.
        std::os::unix::fs::chown(&p, None, Some(64901)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o640)).unwrap();
        assert!(check_private_file(&p, "a password file", unprivileged).is_ok());
        std::os::unix::fs::chown(&p, Some(64901), Some(0)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert!(check_private_file(&p, "a password file", unprivileged).is_ok());
        // Owned by the user without its read bit: not readable.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o200)).unwrap();
        let e = check_private_file(&p, "a password file", unprivileged).unwrap_err();
        assert!(e.contains("not readable"), "{e}");
    }

    #[test]
    fn refuses_files_owned_by_another_user() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"s3cret", 0o600);
        let me = me();
        // The owner must be neither root nor the daemon's user: as root,
        // give the file away; otherwise the file is ours and the daemon is
        // someone else.
        let daemon = if me.uid == 0 {
            std::os::unix::fs::chown(&p, Some(65534), None).unwrap();
            me
        } else {
            Reader {
                uid: me.uid + 1,
                ..me
            }
        };
        let e = check_private_file(&p, "a password file", daemon).unwrap_err();
        assert!(e.contains("owned by uid"), "{e}");
        assert!(e.contains(&p.display().to_string()), "{e}");
        // Owned by the daemon's user, or by root: accepted.
        let owner = std::fs::metadata(&p).unwrap().uid();
        let as_owner = Reader { uid: owner, ..me };
        assert!(check_private_file(&p, "a password file", as_owner).is_ok());
        if me.uid == 0 {
            std::os::unix::fs::chown(&p, Some(0), None).unwrap();
            let root_daemon = Reader { uid: 0, ..me };
            assert!(check_private_file(&p, "a password file", root_daemon).is_ok());
            assert!(read_password_file(&p, SecretReader::current()).is_ok());
        }
    }

    #[test]
    fn refuses_empty_missing_and_directories() {
        let d = tempfile::tempdir().unwrap();
        let p = write(d.path(), "pw", b"\n", 0o600);
        assert!(read_password_file(&p, SecretReader::current())
            .unwrap_err()
            .contains("empty"));
        assert!(
            read_password_file(&d.path().join("nope"), SecretReader::current())
                .unwrap_err()
                .contains("cannot read")
        );
        assert!(read_password_file(d.path(), SecretReader::current())
            .unwrap_err()
            .contains("not a regular file"));
    }
}
