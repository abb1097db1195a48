//! Root's password reset (`passwd USER` run by root, request code 24): the
//! new password is set without the old one by the domain's password admin
//! (`password_admin_dn`, see [`crate::directory::Directory::reset_password`]).
//! A domain without one refuses with a message naming the missing keys,
//! shown to root. The offline credential of the old password is dropped
//! (the new one is kept instead when the domain caches credentials).

use super::backend::ChangeResult;
use super::service::{Decision, PamAuth};
use crate::backend_error::BackendError;
use roster_proto::{PamCode, PamReply, Secret};

impl PamAuth {
    /// `pam_sm_chauthtok` run by root: sets `user`'s password to `new`.
    pub async fn reset_password(&self, user: &str, service: &str, new: &Secret) -> PamReply {
        let d = self.decide_reset(user, new).await;
        Self::finish("reset password", user, service, "", d)
    }

    pub(super) async fn decide_reset(&self, name: &str, new: &Secret) -> Decision {
        let user = match self.password_target(name, new).await {
            Ok(u) => u,
            Err(d) => return d,
        };
        let unchanged = |message: String, reason: String| Decision {
            code: PamCode::AuthtokErr,
            message,
            reason,
            notices: Vec::new(),
            ticket: None,
        };
        match self.backend.reset_password(&user, new).await {
            Ok(ChangeResult::Changed) => {
                self.forget(&user).await;
                if self.domain(&user.domain).cache_credentials {
                    self.remember(&user, new);
                }
                Decision::new(
                    PamCode::Success,
                    "",
                    format!(
                        "password reset by root (domain {}, {}, as the domain's password admin)",
                        user.domain, user.dn
                    ),
                )
            }
            Ok(ChangeResult::Insecure) => unchanged(
                "The password cannot be reset over an unencrypted connection".into(),
                "unencrypted connection (AD: no TLS; LDAP: allow_insecure_auth is off)".into(),
            ),
            Ok(ChangeResult::WrongOldPassword) => unchanged(
                "The directory refused the password reset".into(),
                "the directory answered as if an old password were wrong".into(),
            ),
            Ok(ChangeResult::Refused(msg)) => unchanged(
                format!("Password reset refused: {msg}"),
                format!("refused by the server: {msg}"),
            ),
            Err(BackendError::Invalid { reason, .. }) => unchanged(reason.clone(), reason),
            Err(BackendError::Unavailable { context, .. }) => unchanged(
                "The directory is unreachable: password not changed".into(),
                context,
            ),
            Err(e) => Decision::new(PamCode::SystemErr, "", format!("password reset: {e}")),
        }
    }
}
