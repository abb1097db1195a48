//! How the module reaches rosterd: one bounded request per call.

use crate::options::Options;
use roster_proto::{Client, ClientError, Request, Response};
use std::path::PathBuf;
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
        Client::request_once(&self.socket, req, self.timeout)
    }
}
