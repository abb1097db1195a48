//! Authentication for an unprivileged caller (`pam-user.sock`: a screen
//! locker, `sudo`'s re-check run as the user): a process whose peer UID is
//! U may check the password of the account whose UID is U, and of no
//! other. The name is resolved to its UID through the resolver (the same
//! answer NSS gives) and compared with the peer's; any other name gets
//! `UserUnknown` with the same message as a name no domain knows, so the
//! caller learns nothing about other accounts. Failed attempts are
//! throttled per UID ([`super::throttle`]); a refused name is not counted
//! (no password was checked).

use super::service::{Decision, PamAuth};
use super::throttle::Throttle;
use crate::resolver::Answer;
use roster_proto::{PamCode, PamReply, Secret};
use std::sync::Arc;

/// What an unprivileged caller is told for a name that is not its own
/// account (whether or not the name exists).
pub const NOT_YOURS: &str =
    "Only the password of the account running this program can be checked here";

/// What an unprivileged caller is told while its UID is throttled.
pub const THROTTLED: &str = "Too many failed attempts: try again later";

impl PamAuth {
    /// `pam_sm_authenticate` for a caller whose peer UID is `peer_uid`:
    /// throttled per UID, then `PamAuth::caller_owns`, then
    /// [`PamAuth::authenticate`]. A wrong password is counted against the
    /// UID; a success forgets its failures.
    pub async fn authenticate_caller(
        &self,
        throttle: &Arc<Throttle>,
        peer_uid: u32,
        user: &str,
        service: &str,
        rhost: &str,
        password: &Secret,
    ) -> PamReply {
        let ticket = match throttle.admit(peer_uid) {
            Ok(t) => t,
            Err(refusal) => {
                tracing::warn!(
                    op = "authenticate",
                    peer_uid,
                    user,
                    service,
                    reason = %refusal.reason(),
                    "unprivileged authentication throttled: password not checked"
                );
                return PamReply::new(PamCode::AuthErr, THROTTLED);
            }
        };
        if let Some(d) = self.caller_owns(peer_uid, user).await {
            // Nothing checked: the ticket is dropped, nothing counted.
            return Self::finish("authenticate (unprivileged)", user, service, rhost, d);
        }
        let reply = self.authenticate(user, service, rhost, password).await;
        match reply.code {
            PamCode::Success => ticket.succeeded(),
            PamCode::AuthErr | PamCode::MaxTries => {
                let (failures, delay_ms) = ticket.failed();
                tracing::warn!(
                    peer_uid,
                    user,
                    failures,
                    delay_ms,
                    "unprivileged authentication failed: the uid's next attempt is throttled"
                );
            }
            _ => drop(ticket),
        }
        reply
    }

    /// `None` when the account called `name` has UID `peer_uid`; otherwise
    /// the refusal: `UserUnknown` with [`NOT_YOURS`] for another account
    /// and for a name no domain knows alike (the log says which),
    /// `AuthInfoUnavail` when the name cannot be resolved now.
    pub(super) async fn caller_owns(&self, peer_uid: u32, name: &str) -> Option<Decision> {
        match self.backend.find_user(name).await {
            Answer::Found(u, _) if u.uid == peer_uid => None,
            Answer::Found(u, _) => Some(Decision::new(
                PamCode::UserUnknown,
                NOT_YOURS,
                format!(
                    "refused: caller uid {peer_uid} may authenticate only its own account, and {name} is uid {} (domain {})",
                    u.uid, u.domain
                ),
            )),
            Answer::NotFound => Some(Decision::new(
                PamCode::UserUnknown,
                NOT_YOURS,
                format!("refused: {name} is not a directory user (caller uid {peer_uid})"),
            )),
            Answer::Unavailable(why) => Some(Decision::new(
                PamCode::AuthInfoUnavail,
                "",
                format!("cannot tell whether caller uid {peer_uid} owns {name}: {why}"),
            )),
        }
    }
}
