//! How the module reaches rosterd: one bounded request per call.

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
}

impl SocketDaemon {
    /// The daemon named by the module arguments.
    pub fn new(opts: &Options) -> SocketDaemon {
        SocketDaemon {
            socket: opts.socket.clone(),
            timeout: opts.timeout,
        }
    }
}

impl Daemon for SocketDaemon {
    fn call(&self, req: &Request) -> Result<Response, ClientError> {
        check_socket(&self.socket).map_err(|source| ClientError::Unreachable {
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
    let trusted = |uid: u32| roster_proto::trust::trusted_owner(path, uid);
    let bad = |what: String| io::Error::new(io::ErrorKind::PermissionDenied, what);
    let meta = std::fs::symlink_metadata(path)?;
    if !meta.file_type().is_socket() {
        return Err(bad(format!("{} is not a socket", path.display())));
    }
    if !trusted(meta.uid()) || meta.mode() & 0o022 != 0 {
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
    }
}
