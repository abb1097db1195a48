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
//! - **fork**: a forked child never writes to its parent's socket: it
//!   closes its copy and connects anew. A child is told by a page the
//!   kernel empties in every child (`MADV_WIPEONFORK`, `ForkMark`), which
//!   also holds in a new PID namespace, where a child may get its parent's
//!   PID; the PID is compared as well (kernels without that advice).
//! - **Credentials**: the connection is kept with the effective UID and
//!   GID it was made with; a process whose effective IDs changed (a daemon
//!   dropping privileges) connects anew, so that the daemon's
//!   `SO_PEERCRED` view is the current one.
//! - **A descriptor the program took back**: a program may close
//!   descriptors it did not open (daemons do, `closefrom`) and get the same
//!   number for a file of its own. The socket's cookie (`SO_COOKIE`, never
//!   reused while the system runs) is checked before each use: when the
//!   number holds another socket or no socket (`ENOTSOCK`, at once: no
//!   file is asked about, however slow its file system), it is left alone
//!   (neither used nor closed) and a new connection made.
//! - **exec**: the socket is close-on-exec.
//! - **stdio**: the socket never takes descriptor 0, 1 or 2 (a program
//!   that closed its stdin would otherwise find it there; the client moves
//!   it above them).
//! - **The daemon closed it** (idle timeout, restart, its connection limit
//!   reached): the request fails with an I/O error and is asked once more
//!   over a new connection, within the same time bound (a lookup asks the
//!   same again, so asking twice is harmless). Any other failure (a
//!   timeout, a malformed reply) drops the connection: a late reply must
//!   never be read as the answer to the next request. A connection whose
//!   first reply is an error (rosterd refusing it at a limit, then
//!   closing) is not kept.
//!
//! What is left: a child that never looks anything up keeps its inherited
//! copy until it exits (rosterd counts it as the parent's connection
//! until the idle timeout closes it), and a process that changes its root
//! (`chroot`, `setns`) keeps asking the daemon it first reached while the
//! socket's path reads the same. A daemon older than the module (between
//! a package upgrade and rosterd's restart, which the package's
//! `postinst` does) answers over the kept connection too, but does not
//! give a waiting connection's place to a new one. A kernel without
//! `SO_COOKIE` (before 4.12) gets nothing kept: every lookup connects.

use roster_proto::{reply_is_error, Client, ClientError, Request};
use std::os::fd::{AsFd, AsRawFd};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU8, Ordering};
use std::sync::{Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

/// The process a connection belongs to: who made it, as the daemon saw
/// it (`SO_PEERCRED` holds the PID, effective UID and GID at `connect`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pid: u32,
    euid: u32,
    egid: u32,
    /// The process found [`ForkMark`] clear: a forked child (of whichever
    /// process made the mark, and so any connection kept before the fork).
    forked: bool,
}

impl Owner {
    /// The calling process as it is now.
    pub fn current() -> Owner {
        Owner {
            pid: std::process::id(),
            euid: nix::unistd::geteuid().as_raw(),
            egid: nix::unistd::getegid().as_raw(),
            forked: !ForkMark::holds(),
        }
    }

    /// Whether a connection `made_by` may be used by this process.
    fn may_use(&self, made_by: &Owner) -> bool {
        !self.forked
            && (self.pid, self.euid, self.egid) == (made_by.pid, made_by.euid, made_by.egid)
    }
}

/// Which socket a descriptor holds: its cookie (`SO_COOKIE`), unique
/// among the sockets made since the system started.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct SocketId(u64);

impl SocketId {
    /// The socket `fd` holds now; None when it holds no socket (or is
    /// closed). Asks nothing of a file that is not a socket.
    fn of(fd: impl AsFd) -> Option<SocketId> {
        let mut cookie: u64 = 0;
        let mut len = std::mem::size_of::<u64>() as libc::socklen_t;
        // SAFETY: `cookie` and `len` are valid for writes of the sizes
        // given; getsockopt on a descriptor that is not a socket fails
        // (ENOTSOCK) without touching them.
        let rc = unsafe {
            libc::getsockopt(
                fd.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_COOKIE,
                (&mut cookie as *mut u64).cast(),
                &mut len,
            )
        };
        (rc == 0 && len as usize == std::mem::size_of::<u64>()).then_some(SocketId(cookie))
    }
}

/// A page the kernel empties in every forked child (`MADV_WIPEONFORK`):
/// its first byte is set when the process makes a connection it may keep
/// (before its reply tells whether it is kept: a mark with nothing kept
/// tells nothing wrong), so a child, which finds it clear, knows a kept
/// connection is its parent's.
/// Made at the first new connection whose request was sent; not made
/// where the kernel does not know the advice (the PID alone then tells a
/// child).
struct ForkMark;

/// The mark's page, once made (never unmapped: a process keeps it).
static MARK_PAGE: AtomicPtr<AtomicU8> = AtomicPtr::new(std::ptr::null_mut());

/// The kernel refused the mark's page (no `MADV_WIPEONFORK`): not asked
/// again.
static MARK_UNAVAILABLE: AtomicBool = AtomicBool::new(false);

impl ForkMark {
    /// A private anonymous page with `MADV_WIPEONFORK`, or None.
    fn map() -> Option<std::ptr::NonNull<libc::c_void>> {
        use nix::sys::mman::{madvise, mmap_anonymous, munmap, MapFlags, MmapAdvise, ProtFlags};
        let len = std::num::NonZeroUsize::new(PAGE)?;
        // SAFETY: a new private anonymous mapping, placed by the kernel:
        // it overlaps nothing of the program's.
        let page = unsafe {
            mmap_anonymous(
                None,
                len,
                ProtFlags::PROT_READ | ProtFlags::PROT_WRITE,
                MapFlags::MAP_PRIVATE,
            )
        }
        .ok()?;
        // SAFETY: `page` is the mapping of PAGE bytes just made.
        if unsafe { madvise(page, PAGE, MmapAdvise::MADV_WIPEONFORK) }.is_err() {
            // SAFETY: the same mapping, unmapped once, never used.
            let _ = unsafe { munmap(page, PAGE) };
            return None;
        }
        Some(page)
    }

    /// Notes that this process made a connection it may keep; makes the mark
    /// on first use. A page is published only once it holds the flag, so
    /// the process that made it never reads it clear; two threads racing
    /// both map one and the loser unmaps its own (no lock).
    fn set() {
        let page = MARK_PAGE.load(Ordering::Acquire);
        if !page.is_null() {
            // SAFETY: a non-null MARK_PAGE is a page this module mapped and
            // never unmaps, read and written only through this AtomicU8.
            unsafe { &*page }.store(1, Ordering::Relaxed);
            return;
        }
        if MARK_UNAVAILABLE.load(Ordering::Relaxed) {
            return;
        }
        let Some(made) = Self::map() else {
            MARK_UNAVAILABLE.store(true, Ordering::Relaxed);
            return;
        };
        let mark = made.as_ptr().cast::<AtomicU8>();
        // SAFETY: `made` was just mapped (see `map`), zero-filled and ours.
        unsafe { &*mark }.store(1, Ordering::Relaxed);
        if let Err(theirs) = MARK_PAGE.compare_exchange(
            std::ptr::null_mut(),
            mark,
            Ordering::Release,
            Ordering::Acquire,
        ) {
            // SAFETY: `made` lost the race and is ours alone: unmapped once,
            // never used again.
            let _ = unsafe { nix::sys::mman::munmap(made, PAGE) };
            // SAFETY: as for a non-null MARK_PAGE above.
            unsafe { &*theirs }.store(1, Ordering::Relaxed);
        }
    }

    /// False when the mark was made and is clear: this is a forked child
    /// of the process that made it. (Never maps the page: a process that
    /// has made no connection to keep has nothing to tell.)
    fn holds() -> bool {
        let page = MARK_PAGE.load(Ordering::Acquire);
        // SAFETY: as in `set`: a non-null MARK_PAGE is a mapped page that
        // this module never unmaps.
        page.is_null() || unsafe { &*page }.load(Ordering::Relaxed) == 1
    }
}

/// The mark page's size (the smallest page there is).
const PAGE: usize = 4096;

/// A kept connection and what it was made for.
struct Kept {
    client: Client,
    owner: Owner,
    socket: PathBuf,
    id: SocketId,
}

impl Kept {
    /// Ends the connection: closes the descriptor if it is still this
    /// connection's socket, else leaves the number to whoever has it now.
    fn end(self) {
        if SocketId::of(&self.client) == Some(self.id) {
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
            let ours = owner.may_use(&kept.owner)
                && kept.socket == socket
                && SocketId::of(&kept.client) == Some(kept.id);
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
        // The socket's cookie and the fork mark, which keeping the
        // connection needs, are made while the daemon answers (a new
        // process's first lookup waits for its reply either way).
        let mut id = None;
        let payload = client.call_payload_meanwhile(req, left, |sent| {
            id = SocketId::of(sent);
            if id.is_some() {
                ForkMark::set();
            }
        })?;
        match id {
            Some(id) if !reply_is_error(&payload) => {
                *slot = Some(Kept {
                    client,
                    owner,
                    socket: socket.to_path_buf(),
                    id,
                });
            }
            _ => {}
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
