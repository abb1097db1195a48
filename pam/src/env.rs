//! What the module needs from libpam, as a trait, so the decision flow can be
//! tested without a PAM handle.

use crate::ccache::{Kept, Written};
use pam::constants::PamResultCode;
use roster_proto::Secret;

/// The PAM items and conversation the module uses.
pub trait PamEnv {
    /// The user name (`pam_get_user`, which may prompt).
    fn user(&mut self) -> Result<String, PamResultCode>;
    /// The PAM service name (`PAM_SERVICE`), empty when unset.
    fn service(&self) -> String;
    /// The remote host (`PAM_RHOST`), empty when unset.
    fn rhost(&self) -> String;
    /// The current `PAM_AUTHTOK`, if an earlier module set one.
    fn authtok(&self) -> Option<Secret>;
    /// Sets `PAM_AUTHTOK` for the modules stacked after this one.
    fn set_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode>;
    /// The current `PAM_OLDAUTHTOK`, if set.
    fn old_authtok(&self) -> Option<Secret>;
    /// Sets `PAM_OLDAUTHTOK`.
    fn set_old_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode>;
    /// Asks the user for a secret without echo; `None` when no answer came.
    fn prompt_secret(&self, prompt: &str) -> Result<Option<Secret>, PamResultCode>;
    /// Shows an informational message.
    fn info(&self, message: &str);
    /// Shows an error message.
    fn error(&self, message: &str);
    /// Keeps the tickets of an authentication with the PAM handle until
    /// open_session (`pam_set_data`).
    fn keep_ticket(&mut self, _kept: Kept) {}
    /// The tickets authenticate kept, if it ran in this process.
    fn kept_ticket(&self) -> Option<Kept> {
        None
    }
    /// Remembers the cache written at open_session, for close_session.
    fn keep_written(&mut self, _written: Written) {}
    /// The cache open_session wrote, if it ran in this process.
    fn written(&self) -> Option<Written> {
        None
    }
    /// Sets `NAME=value` in the PAM environment (`pam_putenv`).
    fn putenv(&mut self, _entry: &str) -> Result<(), PamResultCode> {
        Ok(())
    }
}
