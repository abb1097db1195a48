//! The socket service: `nss.sock` (mode 0666, lookups and status) and
//! `pam.sock` (mode 0600, peers checked with `SO_PEERCRED`: PAM and admin
//! requests), both speaking the framing of [`roster_proto`].
//!
//! Each accepted connection runs in its own task ([`conn`]); the number of
//! connections served at once is capped (further ones wait in the listen
//! backlog), and an idle connection is closed after a timeout.

pub mod admin;
mod admin_sid;
pub mod conn;
pub mod dispatch;
pub mod notify;
pub mod nss_conf;
pub mod pam;
pub mod peers;
pub mod procstat;

use crate::memcache_publish::MemcachePublisher;
use crate::resolver::Resolver;
use std::io;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot, watch, Semaphore};
use tokio::task::JoinHandle;

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
        generation: &crate::registry::Generation,
        settings: crate::resolver::Settings,
    ) {
        self.resolver
            .reconfigure(generation.providers(), settings, generation.kept());
        self.pam.install(generation, &self.resolver);
    }
}

/// Limits of the socket service.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Connections served at once (per socket).
    pub max_connections: usize,
    /// A connection with no complete request for this long is closed.
    pub idle_timeout: Duration,
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
            max_connections: 256,
            idle_timeout: Duration::from_secs(10),
            pam_peer_uid: 0,
            max_connections_per_uid: 32,
            unlimited_uid: Some(0),
        }
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

/// The two listening sockets and their accept loops.
pub struct Server {
    paths: Vec<PathBuf>,
    stop: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

/// Creates a listening socket at `path` with `mode`, replacing a stale one.
fn bind(path: &Path, mode: u32) -> Result<UnixListener, ServerError> {
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
    Ok(listener)
}

impl Server {
    /// Binds `socket_dir/nss.sock` and `socket_dir/pam.sock` and starts
    /// serving them. Must be called inside a tokio runtime.
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
        let (stop, stop_rx) = watch::channel(false);
        let limits = Arc::new(limits);
        let tasks = vec![
            tokio::spawn(accept_loop(
                nss,
                ctx.clone(),
                false,
                limits.clone(),
                stop_rx.clone(),
            )),
            tokio::spawn(accept_loop(pam, ctx, true, limits, stop_rx)),
        ];
        Ok(Server {
            paths: vec![nss_path, pam_path],
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

async fn accept_loop(
    listener: UnixListener,
    ctx: Arc<Context>,
    privileged: bool,
    limits: Arc<Limits>,
    mut stop: watch::Receiver<bool>,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let peers = Arc::new(peers::PeerCounts::default());
    loop {
        let permit = tokio::select! {
            p = slots.clone().acquire_owned() => p.expect("semaphore never closed"),
            _ = stop.changed() => return,
        };
        let stream = tokio::select! {
            r = listener.accept() => r,
            _ = stop.changed() => return,
        };
        let stream = match stream {
            Ok((s, _)) => s,
            Err(e) => {
                // EMFILE and friends: back off a little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        if privileged && !peer_allowed(&stream, limits.pam_peer_uid) {
            let msg = format!("pam.sock accepts uid {} only", limits.pam_peer_uid);
            tokio::spawn(conn::refuse(stream, msg));
            continue;
        }
        let counted = match stream.peer_cred().map(|c| c.uid()) {
            Ok(uid) if Some(uid) == limits.unlimited_uid => None,
            Ok(uid) => match peers.try_acquire(uid, limits.max_connections_per_uid) {
                Some(guard) => Some(guard),
                None => {
                    tracing::warn!(peer_uid = uid, "too many connections from one uid; refused");
                    let msg = format!("too many open connections from uid {uid}");
                    tokio::spawn(conn::refuse(stream, msg));
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the credentials of a peer; refused");
                continue;
            }
        };
        let ctx = ctx.clone();
        let limits = limits.clone();
        tokio::spawn(async move {
            conn::serve(stream, &ctx, privileged, limits.idle_timeout).await;
            drop(counted);
            drop(permit);
        });
    }
}

fn peer_allowed(stream: &UnixStream, uid: u32) -> bool {
    match stream.peer_cred() {
        Ok(cred) if cred.uid() == uid => true,
        Ok(cred) => {
            tracing::warn!(peer_uid = cred.uid(), peer_pid = ?cred.pid(), "refused a connection to pam.sock");
            false
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the credentials of a pam.sock peer");
            false
        }
    }
}

#[cfg(test)]
mod tests;
