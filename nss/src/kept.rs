//! The one connection to rosterd a process keeps between lookups.
//!
//! A process that looks up several names (`id`, `ls -l`, sshd, a login)
//! asks them over one connection instead of a new one each (as SSSD's
//! client does): no `connect`, `accept` and `close` a lookup, and one
//! wake-up less in the daemon. The module still lives inside other
//! people's processes, so the connection is used only while it is
//! certainly this process's own:
//!
//! - **Threads**: the lock is only ever tried. A thread that finds it held
//!   (another thread's lookup, a signal handler's, or a child forked while
//!   another thread held it, whose copy stays held for good) asks over a
//!   connection of its own, as before.
//! - **fork**: the connection is kept with the PID, effective UID and GID
//!   it was made by. A child (another PID) never writes to its parent's
//!   socket: it closes its copy and connects anew. A process whose
//!   effective IDs changed (a daemon dropping privileges) connects anew
//!   too, so that the daemon's `SO_PEERCRED` view is the current one.
//! - **A descriptor the program took back**: a program may close
//!   descriptors it did not open (daemons do, `closefrom`) and get the same
//!   number for a file of its own. The descriptor's device and inode are
//!   checked before each use: when they are another file's, the number is
//!   left alone (neither used nor closed) and a new connection made.
//! - **exec**: the socket is close-on-exec.
//! - **stdio**: the socket never takes descriptor 0, 1 or 2 (a program
//!   that closed its stdin would otherwise find it there; the client moves
//!   it above them).
//!
//! What is left: a child that never looks anything up keeps its inherited
//! copy until it exits (rosterd counts it as the parent's connection
//! until the idle timeout closes it), and a process that changes its root
//! (`chroot`, `setns`) keeps asking the daemon it first reached while the
//! socket's path reads the same. A daemon older than the module (between
//! a package upgrade and rosterd's restart, which the package's
//! `postinst` does) answers over the kept connection too, but does not
//! give a waiting connection's place to a new one.
//! - **The daemon closed it** (idle timeout, restart, its connection limit
//!   reached): the request fails with an I/O error and is asked once more
//!   over a new connection, within the same time bound (a lookup asks the
//!   same again, so asking twice is harmless). Any other failure (a
//!   timeout, a malformed reply) drops the connection: a late reply must
//!   never be read as the answer to the next request.

use roster_proto::{Client, ClientError, Request};
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// The process a connection belongs to: who made it, as the daemon saw
/// it (`SO_PEERCRED` holds the PID, effective UID and GID at `connect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    euid: u32,
    egid: u32,
}

impl Owner {
    /// The calling process as it is now.
    pub fn current() -> Owner {
        Owner {
            pid: std::process::id(),
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
        }
    }
}

/// Which file a descriptor refers to (device and inode).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileId {
    dev: u64,
    ino: u64,
}

impl FileId {
    /// The file `fd` refers to now, if it is open.
    fn of(fd: impl AsFd) -> Option<FileId> {
        let st = nix::sys::stat::fstat(fd).ok()?;
        Some(FileId {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// A kept connection and what it was made for.
struct Kept {
    client: Client,
    owner: Owner,
    socket: PathBuf,
    file: FileId,
}

impl Kept {
    /// Ends the connection: closes the descriptor if it is still this
    /// connection's socket, else leaves the number to whoever has it now.
    fn end(self) {
        if FileId::of(&self.client) == Some(self.file) {
            drop(self.client);
        } else {
            self.client.abandon();
        }
    }
}

/// At most one kept connection per process (see the module's doc).
pub struct KeptConnection {
    slot: Mutex<Option<Kept>>,
}

impl Default for KeptConnection {
    fn default() -> Self {
        Self::new()
    }
}

impl KeptConnection {
    /// No connection yet.
    pub const fn new() -> Self {
        KeptConnection {
            slot: Mutex::new(None),
        }
    }

    /// Sends `req` to the daemon listening on `socket` and reads its
    /// reply's payload, all within `timeout`: over the kept connection
    /// when it is this process's own and to `socket`, else over a new one,
    /// kept for the next request once it has answered.
    pub fn exchange(
        &self,
        socket: &Path,
        req: &Request,
        timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        self.exchange_as(Owner::current(), socket, req, timeout)
    }

    /// [`Self::exchange`] for the process `owner` (tests play a forked
    /// child or a process whose IDs changed).
    fn exchange_as(
        &self,
        owner: Owner,
        socket: &Path,
        req: &Request,
        timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        let Some(mut slot) = self.try_lock() else {
            return Client::request_once_payload(socket, req, timeout);
        };
        let deadline = Instant::now() + timeout;
        if let Some(mut kept) = slot.take() {
            let ours = kept.owner == owner
                && kept.socket == socket
                && FileId::of(&kept.client) == Some(kept.file);
            if !ours {
                kept.end();
            } else {
                match kept.client.call_payload(req, timeout) {
                    Ok(payload) => {
                        *slot = Some(kept);
                        return Ok(payload);
                    }
                    // Closed by the daemon: asked once more below.
                    Err(ClientError::Io(_)) => drop(kept),
                    Err(e) => return Err(e),
                }
            }
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ClientError::Timeout(timeout));
        }
        let mut client = Client::connect(socket, left)?;
        let payload = client.call_payload(req, left)?;
        if let Some(file) = FileId::of(&client) {
            *slot = Some(Kept {
                client,
                owner,
                socket: socket.to_path_buf(),
                file,
            });
        }
        Ok(payload)
    }

    /// The slot, unless another caller holds it (never waited for). A
    /// poisoned lock (a panic mid-request) loses its connection.
    fn try_lock(&self) -> Option<MutexGuard<'_, Option<Kept>>> {
        match self.slot.try_lock() {
            Ok(g) => Some(g),
            Err(TryLockError::Poisoned(p)) => {
                let mut g = p.into_inner();
                if let Some(kept) = g.take() {
                    kept.end();
                }
                self.slot.clear_poison();
                Some(g)
            }
            Err(TryLockError::WouldBlock) => None,
        }
    }
}

#[cfg(test)]
#[path = "kept_tests.rs"]
mod tests;
