//! [`PamEnv`] over a real libpam handle: the FFI edge of the module.

use crate::ccache::{Kept, Written};
use crate::env::PamEnv;
use pam::constants::{PamResultCode, PAM_ERROR_MSG, PAM_PROMPT_ECHO_OFF, PAM_TEXT_INFO};
use pam::conv::Conv;
use pam::items::{AuthTok, OldAuthTok, RHost, Service};
use pam::module::PamHandle;
use roster_proto::Secret;
use std::ffi::CStr;
use zeroize::Zeroizing;

/// `PAM_AUTHTOK` item type.
const PAM_AUTHTOK: libc::c_int = 6;
/// `PAM_OLDAUTHTOK` item type.
const PAM_OLDAUTHTOK: libc::c_int = 7;

#[link(name = "pam")]
extern "C" {
    fn pam_set_item(
        pamh: *mut PamHandle,
        item_type: libc::c_int,
        item: *const libc::c_void,
    ) -> libc::c_int;
    fn pam_putenv(pamh: *mut PamHandle, name_value: *const libc::c_char) -> libc::c_int;
}

/// The `pam_set_data` key of the tickets kept by authenticate (always a
/// [`Kept`]).
const TICKET_KEY: &str = "roster_krb5_ticket";
/// The `pam_set_data` key of the cache written at open_session (always a
/// [`Written`]).
const WRITTEN_KEY: &str = "roster_krb5_ccache";

/// The PAM handle of the running hook.
pub struct HandleEnv<'a> {
    pamh: &'a mut PamHandle,
    silent: bool,
}

impl<'a> HandleEnv<'a> {
    /// Wraps the hook's handle; `silent` (`PAM_SILENT`) suppresses messages.
    pub fn new(pamh: &'a mut PamHandle, silent: bool) -> Self {
        HandleEnv { pamh, silent }
    }

    fn string_item<'s, T>(&'s self) -> String
    where
        T: pam::items::Item<'s> + std::ops::Deref<Target = &'s CStr>,
    {
        match self.pamh.get_item::<T>() {
            Ok(Some(v)) => v.to_string_lossy().into_owned(),
            _ => String::new(),
        }
    }

    fn set_secret(&mut self, item: libc::c_int, token: &Secret) -> Result<(), PamResultCode> {
        if token.expose().contains(&0) {
            return Err(PamResultCode::PAM_AUTHTOK_ERR);
        }
        let mut buf = Zeroizing::new(Vec::with_capacity(token.expose().len() + 1));
        buf.extend_from_slice(token.expose());
        buf.push(0);
        // SAFETY: `self.pamh` is the live handle of this hook call and `buf`
        // is a NUL-terminated string that outlives the call; libpam copies it.
        let rc = unsafe { pam_set_item(self.pamh, item, buf.as_ptr().cast()) };
        if rc == PamResultCode::PAM_SUCCESS as libc::c_int {
            Ok(())
        } else {
            Err(PamResultCode::PAM_SYSTEM_ERR)
        }
    }

    fn say(&self, style: libc::c_int, message: &str) {
        if self.silent {
            return;
        }
        if let Ok(Some(conv)) = self.pamh.get_item::<Conv>() {
            let _ = conv.send(style, message);
        }
    }
}

impl PamEnv for HandleEnv<'_> {
    fn user(&mut self) -> Result<String, PamResultCode> {
        self.pamh.get_user(None)
    }

    fn service(&self) -> String {
        self.string_item::<Service>()
    }

    fn rhost(&self) -> String {
        self.string_item::<RHost>()
    }

    fn authtok(&self) -> Option<Secret> {
        match self.pamh.get_item::<AuthTok>() {
            Ok(Some(t)) => Some(Secret::new(t.as_bytes().to_vec())),
            _ => None,
        }
    }

    fn set_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode> {
        self.set_secret(PAM_AUTHTOK, token)
    }

    fn old_authtok(&self) -> Option<Secret> {
        match self.pamh.get_item::<OldAuthTok>() {
            Ok(Some(t)) => Some(Secret::new(t.as_bytes().to_vec())),
            _ => None,
        }
    }

    fn set_old_authtok(&mut self, token: &Secret) -> Result<(), PamResultCode> {
        self.set_secret(PAM_OLDAUTHTOK, token)
    }

    fn prompt_secret(&self, prompt: &str) -> Result<Option<Secret>, PamResultCode> {
        let conv = self
            .pamh
            .get_item::<Conv>()?
            .ok_or(PamResultCode::PAM_CONV_ERR)?;
        Ok(conv
            .send(PAM_PROMPT_ECHO_OFF, prompt)?
            .map(|answer| Secret::new(answer.as_bytes().to_vec())))
    }

    fn info(&self, message: &str) {
        self.say(PAM_TEXT_INFO, message);
    }

    fn error(&self, message: &str) {
        self.say(PAM_ERROR_MSG, message);
    }

    fn keep_ticket(&mut self, kept: Kept) {
        // Dropped (its bytes wiped) by libpam's cleanup at pam_end.
        let _ = self.pamh.set_data(TICKET_KEY, Box::new(kept));
    }

    fn kept_ticket(&self) -> Option<Kept> {
        // SAFETY: only this module sets TICKET_KEY, always to a Kept.
        unsafe { self.pamh.get_data::<Kept>(TICKET_KEY) }
            .ok()
            .cloned()
    }

    fn keep_written(&mut self, written: Written) {
        let _ = self.pamh.set_data(WRITTEN_KEY, Box::new(written));
    }

    fn written(&self) -> Option<Written> {
        // SAFETY: only this module sets WRITTEN_KEY, always to a Written.
        unsafe { self.pamh.get_data::<Written>(WRITTEN_KEY) }
            .ok()
            .cloned()
    }

    fn putenv(&mut self, entry: &str) -> Result<(), PamResultCode> {
        let c = std::ffi::CString::new(entry).map_err(|_| PamResultCode::PAM_BUF_ERR)?;
        // SAFETY: `self.pamh` is the live handle of this hook call and `c`
        // is a NUL-terminated string that outlives the call; libpam copies it.
        let rc = unsafe { pam_putenv(self.pamh, c.as_ptr()) };
        if rc == PamResultCode::PAM_SUCCESS as libc::c_int {
            Ok(())
        } else {
            Err(PamResultCode::PAM_SYSTEM_ERR)
        }
    }
}
