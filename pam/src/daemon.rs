//! How the module reaches rosterd: one bounded request per call, on
//! `pam.sock` when the process runs as root (effective UID 0, a setuid
//! program included) and on `pam-user.sock` next to it otherwise (a screen
//! locker running as the user: rosterd then checks only the password of
//! the account whose UID is the caller's). Only the effective UID and the
//! module arguments choose the socket, never the environment.

use crate::options::Options;
use roster_proto::{Client, ClientError, Request, Response};
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Something that answers requests like rosterd does.
pub trait Daemon {
    /// Sends one request and returns the reply.
    fn call(&self, req: &Request) -> Result<Response, ClientError>;
}

/// rosterd reached through its PAM socket, one connection per request
/// (fork-safe), bounded in time.
pub struct SocketDaemon {
    socket: PathBuf,
    timeout: Duration,
    /// `pam-user.sock` (mode 0666) rather than the root-only `pam.sock`.
    shared: bool,
}

/// True when this process runs with effective UID 0 (root, or a setuid
/// root program such as `passwd`, `su` or `sudo`).
pub fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// The unprivileged callers' socket: `pam-user.sock` in the directory of
/// the configured `socket` (by default `/run/roster/pam-user.sock`).
pub fn user_socket(socket: &Path) -> PathBuf {
    socket.with_file_name(roster_proto::PAM_USER_SOCKET_NAME)
}

impl SocketDaemon {
    /// The daemon named by the module arguments, on the socket for this
    /// process: `socket` as root, [`user_socket`] otherwise.
    pub fn new(opts: &Options) -> SocketDaemon {
        SocketDaemon::for_caller(opts, privileged())
    }

    /// The daemon named by the module arguments, on `pam.sock` for a
    /// `root` caller and on `pam-user.sock` otherwise.
    pub fn for_caller(opts: &Options, root: bool) -> SocketDaemon {
        SocketDaemon {
            socket: if root {
                opts.socket.clone()
            } else {
                user_socket(&opts.socket)
            },
            timeout: opts.timeout,
            shared: !root,
        }
    }

    /// The socket this daemon is reached on.
    pub fn socket(&self) -> &Path {
        &self.socket
    }
}

impl Daemon for SocketDaemon {
    fn call(&self, req: &Request) -> Result<Response, ClientError> {
        let checked = if self.shared {
            check_shared_socket(&self.socket)
        } else {
            check_socket(&self.socket)
        };
        checked.map_err(|source| ClientError::Unreachable {
            path: self.socket.display().to_string(),
            source,
        })?;
        Client::request_once(&self.socket, req, self.timeout)
    }
}

/// Refuses a socket that someone other than root, rosterd's user (or the
/// calling user, for tests) could have put there: passwords only go to the
/// real rosterd. The socket must be owned by root, the caller or rosterd's
/// system user (see [`roster_proto::trust::trusted_owner`]) and not
/// writable by group or others, and its directory must not be writable by
/// others.
pub fn check_socket(path: &Path) -> io::Result<()> {
    check_owner_and_mode(path, 0o022)
}

/// [`check_socket`] for `pam-user.sock`, which is world-writable by design
/// (any user connects to it): its owner and its directory are checked the
/// same way; its mode is not.
pub fn check_shared_socket(path: &Path) -> io::Result<()> {
    check_owner_and_mode(path, 0)
}

/// The socket at `path` is a socket, owned by a trusted user and without
/// any bit of `forbidden_mode`, in a directory of a trusted user that
/// others cannot write.
fn check_owner_and_mode(path: &Path, forbidden_mode: u32) -> io::Result<()> {
    let trusted = |uid: u32| roster_proto::trust::trusted_owner(path, uid);
    let bad = |what: String| io::Error::new(io::ErrorKind::PermissionDenied, what);
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(bad(format!("{} is not a socket", path.display())));
    }
    if !trusted(meta.uid()) || meta.mode() & forbidden_mode != 0 {
        return Err(bad(format!(
            "{} is owned by uid {} with mode {:o}: not trusted",
            path.display(),
            meta.uid(),
            meta.mode() & 0o7777
        )));
    }
    let dir = path.parent().unwrap_or(Path::new("/"));
    let dmeta = std::fs::metadata(dir)?;
    if !trusted(dmeta.uid()) || dmeta.mode() & 0o002 != 0 {
        return Err(bad(format!(
            "{} is owned by uid {} with mode {:o}: not trusted",
            dir.display(),
            dmeta.uid(),
            dmeta.mode() & 0o7777
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixListener;

    #[test]
    fn only_private_sockets_in_private_directories_are_trusted() {
        let dir = tempfile::tempdir().unwrap();
        let sock = dir.path().join("pam.sock");
        let _l = UnixListener::bind(&sock).unwrap();
        let mode =
            |p: &Path, m: u32| std::fs::set_permissions(p, PermissionsExt::from_mode(m)).unwrap();
        mode(&sock, 0o600);
        mode(dir.path(), 0o755);
        check_socket(&sock).unwrap();
        mode(&sock, 0o666);
        assert!(check_socket(&sock).is_err(), "world-writable socket");
        mode(&sock, 0o600);
        mode(dir.path(), 0o1777);
        assert!(check_socket(&sock).is_err(), "world-writable directory");
        mode(dir.path(), 0o755);
        let file = dir.path().join("plain");
        std::fs::write(&file, "").unwrap();
        assert!(check_socket(&file).is_err(), "not a socket");
        assert!(check_socket(&dir.path().join("missing")).is_err());
        // pam-user.sock is world-writable by design; its directory is not.
        mode(&sock, 0o666);
        check_shared_socket(&sock).unwrap();
        mode(dir.path(), 0o1777);
        assert!(
            check_shared_socket(&sock).is_err(),
            "world-writable directory"
        );
        assert!(check_shared_socket(&file).is_err(), "not a socket");
    }

    #[test]
    fn root_uses_pam_sock_and_anyone_else_pam_user_sock() {
        let opts = Options::parse(["socket=/srv/roster/pam.sock"]);
        let root = SocketDaemon::for_caller(&opts, true);
        assert_eq!(root.socket(), Path::new("/srv/roster/pam.sock"));
        let user = SocketDaemon::for_caller(&opts, false);
        assert_eq!(user.socket(), Path::new("/srv/roster/pam-user.sock"));
        let default = SocketDaemon::for_caller(&Options::default(), false);
        assert_eq!(default.socket(), Path::new("/run/roster/pam-user.sock"));
    }
}
