//! The socket service: `nss.sock` (mode 0666, lookups and status),
//! `pam.sock` (mode 0600, peers checked with `SO_PEERCRED`: PAM and admin
//! requests) and `pam-user.sock` (mode 0666: an unprivileged caller
//! authenticates the account of its own peer UID, see [`pam::handle_caller`]),
//! all speaking the framing of [`roster_proto`].
//!
//! Each accepted connection runs in its own task ([`conn`]), so one slow
//! or stalled client never holds up another. Connections are limited, and
//! a connection over a limit takes the place of one waiting for its next
//! request or else is refused at once (told why if its socket takes the
//! reply without waiting, then closed), never held: per peer UID
//! on `nss.sock` and `pam-user.sock`, and in total over the sockets, with a few extra slots
//! kept for root (logins) when the total is reached. The limits are fitted
//! to the process's descriptor limit at start ([`Limits::fit_descriptor_limit`]).
//! A peer `pam.sock` does not serve (another UID) has its request read
//! (bounded in size and time) and answered with a refusal naming the
//! reason, then is closed.
//! An idle connection is closed after a timeout; a frame once begun must
//! arrive whole within a shorter one. A connection waiting for its next
//! request (the NSS module keeps its connection between lookups) gives its
//! place to a new connection that finds a limit reached ([`waiting`]).
//!
//! `Status` on `nss.sock` (world-accessible) says only whether the daemon
//! is up and each domain online or offline; the whole document (servers,
//! errors, counters) is served on the root-only `pam.sock`.

pub mod admin;
mod admin_sid;
pub mod conn;
pub mod dispatch;
mod inbox;
pub mod link;
pub mod notify;
pub mod nss_conf;
pub mod pam;
pub mod peers;
pub mod procstat;
pub mod status_report;
mod timer_anchor;
pub mod waiting;

use crate::memcache_publish::MemcachePublisher;
use link::Link;
use roster_daemon::resolver::Resolver;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use timer_anchor::TimerAnchor;
use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use waiting::Waiting;

/// A request to reload the configuration; the answer says how it went.
pub type ReloadRequest = oneshot::Sender<Result<(), String>>;

/// What request handlers share.
pub struct Context {
    /// The cache and domains.
    pub resolver: Resolver,
    /// PAM state (see [`pam`]).
    pub pam: pam::PamState,
    /// Where the admin `reload` command sends its request (the daemon's
    /// main loop), if anywhere.
    pub reload: Option<mpsc::Sender<ReloadRequest>>,
    /// The NSS memory cache (`nss.mc`) that lookups on `nss.sock` are
    /// published to, if any.
    pub memcache: Option<MemcachePublisher>,
}

impl Context {
    /// Makes `generation` the one the resolver and PAM serve, with the
    /// resolver `settings`: both switch in one synchronous step (no await
    /// in between, so on the daemon's single-threaded runtime no request
    /// sees one side switched and not the other). Cached answers of the
    /// domains the generation did not carry over unchanged are dropped.
    pub fn install(
        &self,
        generation: &roster_daemon::registry::Generation,
        settings: roster_daemon::resolver::Settings,
    ) {
        self.resolver
            .reconfigure(generation.providers(), settings, generation.kept());
        self.pam.install(generation, &self.resolver);
    }
}

/// Limits of the socket service.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections open at once over all sockets; a further one takes
    /// the place of one waiting for its next request, or is refused at
    /// once (except root's, see `root_reserve`).
    pub max_connections: usize,
    /// Extra connections root (`unlimited_uid`) may open when
    /// `max_connections` is reached, so that logins still get through.
    pub root_reserve: usize,
    /// A connection with no request for this long is closed.
    pub idle_timeout: Duration,
    /// A frame whose first byte arrived must be complete within this
    /// (a client that sends half a frame and stalls is dropped).
    pub frame_timeout: Duration,
    /// The only peer UID accepted on `pam.sock` (0 = root).
    pub pam_peer_uid: u32,
    /// Connections one peer UID may have open at once on `nss.sock`.
    pub max_connections_per_uid: usize,
    /// A UID exempt from `max_connections_per_uid` (root: logins).
    pub unlimited_uid: Option<u32>,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 1024,
            root_reserve: 64,
            idle_timeout: Duration::from_secs(10),
            frame_timeout: Duration::from_secs(2),
            pam_peer_uid: 0,
            max_connections_per_uid: 32,
            unlimited_uid: Some(0),
        }
    }
}

/// Which socket a connection came in on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SocketKind {
    /// `nss.sock`: lookups and the public status, for everyone.
    Nss,
    /// `pam.sock`: PAM and admin requests, root only.
    Pam,
    /// `pam-user.sock`: authentication of the caller's own account.
    PamUser,
}

impl SocketKind {
    /// The socket's file name.
    pub fn name(self) -> &'static str {
        match self {
            SocketKind::Nss => roster_proto::NSS_SOCKET_NAME,
            SocketKind::Pam => roster_proto::PAM_SOCKET_NAME,
            SocketKind::PamUser => roster_proto::PAM_USER_SOCKET_NAME,
        }
    }
}

/// Descriptors kept for everything but client connections (directory
/// connections, the store, the memory cache, logs).
pub const RESERVED_DESCRIPTORS: usize = 256;

impl Limits {
    /// Raises the soft `RLIMIT_NOFILE` to the hard limit, and lowers the
    /// connection limits if they would not fit in it next to
    /// [`RESERVED_DESCRIPTORS`] (logged), so that clients can never make
    /// the daemon run out of descriptors.
    pub fn fit_descriptor_limit(mut self) -> Limits {
        use nix::sys::resource::{getrlimit, setrlimit, Resource};
        let Ok((mut cur, max)) = getrlimit(Resource::RLIMIT_NOFILE) else {
            return self;
        };
        if cur < max && setrlimit(Resource::RLIMIT_NOFILE, max, max).is_ok() {
            cur = max;
        }
        let soft = usize::try_from(cur).unwrap_or(usize::MAX);
        self.fit(soft);
        self
    }

    /// Lowers the limits so that connections fit in `descriptors` next to
    /// [`RESERVED_DESCRIPTORS`] (at least 16 and 4 remain).
    fn fit(&mut self, descriptors: usize) {
        let room = descriptors.saturating_sub(RESERVED_DESCRIPTORS);
        let wanted = self.max_connections + self.root_reserve;
        if wanted <= room {
            return;
        }
        let reserve = (room / 16).clamp(4, self.root_reserve.max(4));
        let max = room.saturating_sub(reserve).max(16);
        tracing::warn!(
            descriptors,
            max_connections = max,
            root_reserve = reserve,
            "the descriptor limit (LimitNOFILE) is low: connection limits lowered to fit"
        );
        self.max_connections = max.min(self.max_connections);
        self.root_reserve = reserve.min(self.root_reserve);
        self.max_connections_per_uid = self.max_connections_per_uid.min(self.max_connections);
    }
}

/// Why the sockets could not be set up.
#[derive(Debug, Error)]
pub enum ServerError {
    /// Another process already serves this socket.
    #[error("{0} is in use by another running rosterd")]
    InUse(PathBuf),
    /// Binding or setting the mode of a socket failed.
    #[error("cannot create socket {path}: {source}")]
    Bind {
        /// The socket path.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

/// The listening sockets and their accept loops.
pub struct Server {
    paths: Vec<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Creates a listening socket at `path` with `mode`, replacing a stale one.
fn bind(path: &Path, mode: u32) -> Result<AsyncFd<UnixListener>, ServerError> {
    let err = |source| ServerError::Bind {
        path: path.to_path_buf(),
        source,
    };
    if path.exists() {
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(ServerError::InUse(path.to_path_buf()));
        }
        std::fs::remove_file(path).map_err(err)?;
    }
    let listener = UnixListener::bind(path).map_err(err)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(err)?;
    listener.set_nonblocking(true).map_err(err)?;
    // SAFETY: tokio asks that `as_raw_fd()` be a valid, open descriptor
    // that stays open, refers to the same file description and is the one
    // `as_raw_fd()` returns for as long as the `AsyncFd` owns it. The
    // listener was just bound (open, valid); moved into the `AsyncFd`, it
    // is closed only when the `AsyncFd` drops it (after deregistering),
    // nothing else holds it to close or replace it, and a `UnixListener`'s
    // `as_raw_fd()` is always the descriptor it was made with. (tokio
    // 1.54's safe constructors are deprecated in favour of this one.)
    unsafe { AsyncFd::register_with_interest(listener, Interest::READABLE) }
        .map_err(|e| err(e.into_parts().1))
}

/// The next connection on `listener`, as a [`Link`]: accepted without
/// being registered with the reactor (see [`link`]). Each accept spends
/// the task's cooperative budget, so a flood of connections still lets the
/// other tasks run.
async fn accept(listener: &AsyncFd<UnixListener>) -> io::Result<Link> {
    let stream = listener
        .async_io(Interest::READABLE, accept_nonblocking)
        .await?;
    Ok(Link::new(stream))
}

/// The next connection on `listener`, non-blocking and close-on-exec from
/// the start (`accept4` with `SOCK_NONBLOCK | SOCK_CLOEXEC`: no `ioctl`
/// more a connection, as std's `accept` then `set_nonblocking` would
/// need). The peer's address is not asked for: nothing here needs it, and
/// a peer chooses it (a client bound to a 108-octet path makes the kernel
/// report a longer address than `sockaddr_un` holds, which mio's accept
/// slices past its end).
fn accept_nonblocking(listener: &UnixListener) -> io::Result<std::os::unix::net::UnixStream> {
    use nix::sys::socket::{accept4, SockFlag};
    use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
    let fd = accept4(
        listener.as_raw_fd(),
        SockFlag::SOCK_NONBLOCK | SockFlag::SOCK_CLOEXEC,
    )?;
    // SAFETY: `accept4` just returned `fd`, a new open descriptor that
    // nothing else owns or will close: the `OwnedFd` takes it over.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    Ok(fd.into())
}

impl Server {
    /// Binds `socket_dir/nss.sock`, `socket_dir/pam.sock` and
    /// `socket_dir/pam-user.sock` and starts serving them. Must be called
    /// inside a tokio runtime.
    pub fn start(
        socket_dir: &Path,
        ctx: Arc<Context>,
        limits: Limits,
    ) -> Result<Server, ServerError> {
        let nss_path = socket_dir.join(roster_proto::NSS_SOCKET_NAME);
        let pam_path = socket_dir.join(roster_proto::PAM_SOCKET_NAME);
        let nss = bind(&nss_path, 0o666)?;
        let pam = bind(&pam_path, 0o600).inspect_err(|_| {
            let _ = std::fs::remove_file(&nss_path);
        })?;
        let user_path = socket_dir.join(roster_proto::PAM_USER_SOCKET_NAME);
        let pam_user = bind(&user_path, 0o666).inspect_err(|_| {
            let _ = std::fs::remove_file(&nss_path);
            let _ = std::fs::remove_file(&pam_path);
        })?;
        let (stop, stop_rx) = watch::channel(false);
        let slots = Slots::new(limits);
        let anchor = Arc::new(TimerAnchor::default());
        let tasks = vec![
            tokio::spawn(accept_loop(
                nss,
                ctx.clone(),
                SocketKind::Nss,
                slots.clone(),
                anchor.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(accept_loop(
                pam,
                ctx.clone(),
                SocketKind::Pam,
                slots.clone(),
                anchor.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(accept_loop(
                pam_user,
                ctx,
                SocketKind::PamUser,
                slots,
                anchor.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(async move { anchor.run(stop_rx).await }),
        ];
        Ok(Server {
            paths: vec![nss_path, pam_path, user_path],
            stop,
            tasks,
        })
    }

    /// Stops accepting connections and removes the sockets.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        for p in &self.paths {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// The connection slots the sockets share.
#[derive(Clone)]
struct Slots {
    /// `max_connections`.
    shared: Arc<Semaphore>,
    /// `root_reserve`, used by root once `shared` is taken.
    root: Arc<Semaphore>,
    /// Open connections per peer UID (on `nss.sock` and `pam-user.sock`).
    peers: Arc<peers::PeerCounts>,
    /// The places of connections waiting for their next request.
    waiting: Arc<Waiting<Admitted>>,
    limits: Arc<Limits>,
}

/// What holds a connection's place; released when the connection ends.
struct Admitted {
    slot: OwnedSemaphorePermit,
    /// The slot is one of root's reserve.
    reserved: bool,
    /// Counted against its peer UID's limit.
    peer: Option<peers::PeerGuard>,
}

impl Slots {
    fn new(limits: Limits) -> Slots {
        Slots {
            shared: Arc::new(Semaphore::new(limits.max_connections.max(1))),
            root: Arc::new(Semaphore::new(limits.root_reserve)),
            peers: Arc::new(peers::PeerCounts::default()),
            waiting: Arc::default(),
            limits: Arc::new(limits),
        }
    }

    /// Admits a connection of `uid` or says why not (no waiting). At a
    /// limit, the place of a connection waiting for its next request is
    /// taken ([`waiting`]): at the UID's limit one of that UID's, at the
    /// total one of anybody's (of root's reserve only for root).
    fn admit(&self, uid: u32, privileged: bool) -> Result<Admitted, String> {
        let root = Some(uid) == self.limits.unlimited_uid;
        let peer = if root || privileged {
            None
        } else {
            let max = self.limits.max_connections_per_uid;
            match self.peers.try_acquire(uid, max) {
                Some(guard) => Some(guard),
                None => {
                    return self
                        .waiting
                        .give_away(|u, place| u == uid && place.peer.is_some() && !place.reserved)
                        .ok_or_else(|| {
                            format!("too many open connections from uid {uid} (limit {max})")
                        })
                }
            }
        };
        let reserve = || root.then(|| self.root.clone().try_acquire_owned().ok());
        let (slot, reserved) = if let Ok(p) = self.shared.clone().try_acquire_owned() {
            (p, false)
        } else if let Some(Some(p)) = reserve() {
            (p, true)
        } else {
            let taken = self
                .waiting
                .give_away(|_, place| root || !place.reserved)
                .ok_or_else(|| {
                    if root {
                        "rosterd is at its connection limit (root's reserve included)".to_string()
                    } else {
                        format!(
                            "rosterd is at its connection limit ({})",
                            self.limits.max_connections
                        )
                    }
                })?;
            (taken.slot, taken.reserved)
        };
        Ok(Admitted {
            slot,
            reserved,
            peer,
        })
    }
}

/// A connection's place under the limits and where it leaves it while it
/// waits for its next request.
pub struct Seat {
    admitted: Admitted,
    slots: Slots,
    anchor: Arc<TimerAnchor>,
}

/// Logs refused connections at most once per interval, with a count, so
/// that a flood of them cannot flood the log.
struct RefusalLog {
    socket: &'static str,
    last: Option<Instant>,
    since: u64,
}

impl RefusalLog {
    const INTERVAL: Duration = Duration::from_secs(10);

    fn note(&mut self, uid: Option<u32>, reason: &str) {
        self.since += 1;
        if self.last.is_some_and(|t| t.elapsed() < Self::INTERVAL) {
            return;
        }
        tracing::warn!(
            socket = self.socket,
            peer_uid = ?uid,
            refused = self.since,
            reason,
            "connections refused (counted since the last such message)"
        );
        self.last = Some(Instant::now());
        self.since = 0;
    }
}

/// Refused peers of `pam.sock` whose requests are read and answered at
/// the same time; more are refused at accept.
const REFUSALS_ANSWERED_AT_ONCE: usize = 8;

async fn accept_loop(
    listener: AsyncFd<UnixListener>,
    ctx: Arc<Context>,
    kind: SocketKind,
    slots: Slots,
    anchor: Arc<TimerAnchor>,
    mut stop: watch::Receiver<bool>,
) {
    let privileged = kind == SocketKind::Pam;
    let limits = slots.limits.clone();
    let refusing = Arc::new(Semaphore::new(REFUSALS_ANSWERED_AT_ONCE));
    let mut refusals = RefusalLog {
        socket: kind.name(),
        last: None,
        since: 0,
    };
    loop {
        let stream = tokio::select! {
            r = accept(&listener) => r,
            _ = stop.changed() => return,
        };
        anchor.note_request();
        let stream = match stream {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let uid = match stream.peer_uid() {
            Ok(uid) => uid,
            Err(e) => {
                refusals.note(None, &format!("cannot read the peer's credentials: {e}"));
                continue;
            }
        };
        if privileged && uid != limits.pam_peer_uid {
            let msg = format!("pam.sock accepts uid {} only", limits.pam_peer_uid);
            refusals.note(Some(uid), &msg);
            // Its request is read and answered (bounded), a few at a time;
            // past that, refused at accept like any connection over a limit.
            match refusing.clone().try_acquire_owned() {
                Ok(permit) => {
                    let limits = limits.clone();
                    tokio::spawn(async move {
                        conn::refuse_request(stream, &msg, &limits).await;
                        drop(permit);
                    });
                }
                Err(_) => conn::refuse(stream, &msg),
            }
            continue;
        }
        let admitted = match slots.admit(uid, privileged) {
            Ok(a) => a,
            Err(msg) => {
                refusals.note(Some(uid), &msg);
                conn::refuse(stream, &msg);
                continue;
            }
        };
        let ctx = ctx.clone();
        let seat = Seat {
            admitted,
            slots: slots.clone(),
            anchor: anchor.clone(),
        };
        // Boxed: the task's cell (aligned to 128 bytes, which glibc
        // serves through its slower `memalign` path) stays small, and the
        // connection's future (about 3 KB) is moved once, into its box,
        // instead of several times on its way into the cell.
        tokio::spawn(Box::pin(async move {
            conn::serve(stream, &ctx, kind, uid, seat).await;
        }));
    }
}

#[cfg(test)]
mod tests;
