//! Talking to a running rosterd: `Status` on nss.sock, admin commands on the
//! root-only pam.sock.

use super::context::Ctx;
use roster_proto::{Client, ClientError, Request, Response};
use serde_json::Value;
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
    /// The daemon answered "not found".
    #[error("not found")]
    NotFound,
    /// The daemon answered with an error, or the exchange failed.
    #[error("{0}")]
    Failed(String),
}

/// Sends `Status` and returns the daemon's JSON document: the whole one
/// on pam.sock when run as root, else the public summary of nss.sock (up,
/// and each domain online or offline).
pub fn status(ctx: &Ctx) -> Result<Value, DaemonError> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } == 0 {
        call(&ctx.pam_socket(), &Request::Status)
    } else {
        call(&ctx.nss_socket(), &Request::Status)
    }
}

/// Sends an admin command (a JSON object) on pam.sock.
pub fn admin(ctx: &Ctx, command: &Value) -> Result<Value, DaemonError> {
    call(&ctx.pam_socket(), &Request::Admin(command.to_string()))
}

fn call(path: &Path, req: &Request) -> Result<Value, DaemonError> {
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
            DaemonError::Failed(format!(
                "rosterd closed the connection on {shown} (not root?): {e}"
            ))
        }
        other => DaemonError::Failed(other.to_string()),
    })?;
    match resp {
        Response::Json(text) => {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| DaemonError::Failed(format!("rosterd sent malformed JSON: {e}")))?;
            // Admin replies say `"ok": false` with an `error` when they fail.
            if v.get("ok") == Some(&Value::Bool(false)) {
                let msg = v
                    .get("error")
                    .and_then(Value::as_str)
                    .unwrap_or("the command failed");
                return Err(DaemonError::Failed(msg.to_string()));
            }
            Ok(v)
        }
        Response::NotFound => Err(DaemonError::NotFound),
        Response::Unavailable(r) => Err(DaemonError::Failed(format!("unavailable: {r}"))),
        Response::Error(m) => Err(DaemonError::Failed(m)),
        other => Err(DaemonError::Failed(format!(
            "unexpected reply from rosterd: {other:?}"
        ))),
    }
}
