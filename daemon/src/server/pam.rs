//! Handling of the PAM requests (codes 20..=23), received on `pam.sock`
//! only. Owned by the PAM work: everything PAM-specific the daemon does
//! starts here.

use super::Context;
use crate::config::Config;
use roster_proto::{PamCode, PamReply, Request, Response};

/// State kept for PAM between requests (credential cache, failure
/// counters, ...). Built from the configuration at start, updated on reload.
#[derive(Debug, Default)]
pub struct PamState {}

impl PamState {
    /// The state for a freshly loaded configuration.
    pub fn new(_config: &Config) -> PamState {
        PamState {}
    }

    /// Takes a reloaded configuration into account.
    pub fn reconfigure(&self, _config: &Config) {}
}

/// Answers one PAM request.
pub async fn handle(_ctx: &Context, req: Request) -> Response {
    match req {
        Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. } => Response::Pam(PamReply {
            code: PamCode::SystemErr,
            message: "not implemented yet".into(),
        }),
        other => Response::Error(format!(
            "request code {} is not a PAM request",
            other.code()
        )),
    }
}
