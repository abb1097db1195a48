//! Talking to a running rosterd: `Status` on nss.sock, admin commands on the
//! root-only pam.sock; typed messages of [`roster_proto::admin`].

use super::context::Ctx;
use roster_proto::admin::{AdminReply, AdminRequest, StatusReport};
use roster_proto::{Client, ClientError, Failure, Request, Response};
use std::io::ErrorKind;
use std::path::Path;
use std::time::Duration;

/// How long one exchange with the daemon may take (a lookup may reach the
/// directory, which has its own bounded timeouts).
const TIMEOUT: Duration = Duration::from_secs(30);

/// Why the daemon gave no usable answer.
#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    /// Nothing listens on the socket.
    #[error("rosterd is not running (no answer at {0})")]
    NotRunning(String),
    /// The socket exists but this user may not use it.
    #[error("permission denied on {0}: this command needs root")]
    PermissionDenied(String),
    /// The daemon answered with a failure (its kind says which).
    #[error(transparent)]
    Answered(Failure),
    /// The daemon closed the connection without an answer (pam.sock
    /// refuses a peer that is not root that way). The client's error is
    /// kept whole, not chained as a source: its text is already part of
    /// this one's, which `{:#}` would print twice.
    #[error("rosterd closed the connection on {socket} (not root?): {error}")]
    Closed {
        /// The socket.
        socket: String,
        /// The client's error.
        error: ClientError,
    },
    /// The exchange failed (sending, receiving, decoding).
    #[error("{0}")]
    Exchange(ClientError),
    /// The daemon's reply was not an answer to the request, or it could
    /// not read the request (its text names the fault).
    #[error("{0}")]
    Failed(String),
}

/// Sends `Status` and returns the daemon's report: the whole one on
/// pam.sock when run as root, else the public summary of nss.sock (up, and
/// each domain online or offline).
pub fn status(ctx: &Ctx) -> Result<StatusReport, DaemonError> {
    let path = if nix::unistd::geteuid().is_root() {
        ctx.pam_socket()
    } else {
        ctx.nss_socket()
    };
    match call(&path, &Request::Status)? {
        AdminReply::Status(report) => Ok(report),
        other => Err(unexpected(&other)),
    }
}

/// Sends an admin command on pam.sock and returns its reply.
pub fn admin(ctx: &Ctx, command: &AdminRequest) -> Result<AdminReply, DaemonError> {
    call(&ctx.pam_socket(), &Request::Admin(command.clone()))
}

/// The error for a reply of the wrong kind.
pub fn unexpected(reply: &AdminReply) -> DaemonError {
    DaemonError::Failed(format!("unexpected reply from rosterd: {reply:?}"))
}

fn call(path: &Path, req: &Request) -> Result<AdminReply, DaemonError> {
    let shown = path.display().to_string();
    let resp = Client::request_once(path, req, TIMEOUT).map_err(|e| match e {
        ClientError::Unreachable { source, .. } => match source.kind() {
            ErrorKind::PermissionDenied => DaemonError::PermissionDenied(shown.clone()),
            _ => DaemonError::NotRunning(shown.clone()),
        },
        // A daemon that closes the connection at once refused the request
        // (pam.sock checks the peer's credentials after accepting).
        ClientError::Io(ref io)
            if matches!(
                io.kind(),
                ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset | ErrorKind::BrokenPipe
            ) =>
        {
            DaemonError::Closed {
                socket: shown.clone(),
                error: e,
            }
        }
        other => DaemonError::Exchange(other),
    })?;
    match resp {
        Response::Admin(answer) => answer.map_err(DaemonError::Answered),
        // The daemon could not read the request (the text names the fault).
        Response::Error(m) => Err(DaemonError::Failed(m)),
        other => Err(DaemonError::Failed(format!(
            "unexpected reply from rosterd: {other:?}"
        ))),
    }
}
