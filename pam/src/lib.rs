//! pam_roster.so: PAM auth/account/password/session hooks backed by rosterd.
//!
//! The module is thin: it gets the user and password through libpam and asks
//! `rosterd` over its root-only socket (`/run/roster/pam.sock`), one bounded
//! request per call; every decision is made (and logged) by the daemon.
//! A process that does not run as root (a screen locker) asks over
//! `pam-user.sock` instead, where rosterd checks only the password of the
//! caller's own account (and slows repeated failures); such a process's
//! account, session and password hooks do not ask rosterd at all (account
//! and session: `PAM_IGNORE`; password: `PAM_PERM_DENIED`). Root running
//! `passwd USER` resets the password without the old one
//! ([`password::Changer`]).
//! Users listed in the local passwd file are left to `pam_unix` at once
//! (`PAM_USER_UNKNOWN`), so local logins never wait for the daemon.
//!
//! Module arguments: `use_first_pass`, `try_first_pass`, `use_authtok`,
//! `socket=PATH` (default `/run/roster/pam.sock`; an unprivileged process
//! uses `pam-user.sock` in the same directory), `timeout=SECONDS`
//! (default 10), `debug` (syslog, never a password).
//!
//! Stacking (Debian's `common-*` files, as `pam-auth-update` writes them from
//! `packaging/pam-configs/roster`):
//!
//! ```text
//! auth     [success=2 default=ignore]  pam_unix.so nullok
//! auth     [success=1 default=ignore]  pam_roster.so use_first_pass
//! account  [default=bad success=ok user_unknown=ignore] pam_roster.so
//! password sufficient                  pam_roster.so
//! session  optional                    pam_mkhomedir.so skel=/etc/skel umask=0077
//! session  optional                    pam_roster.so
//! ```
//!
//! `pam_mkhomedir` creates a directory user's home on the first login.
//!
//! A panic never crosses into C: `pam-bindings` wraps every hook in
//! `catch_unwind` and answers `PAM_ABORT`.

pub mod account;
pub mod authenticate;
pub mod ccache;
pub mod daemon;
pub mod env;
pub mod handle;
pub mod local;
pub mod log;
pub mod options;
pub mod password;
pub mod reply;
pub mod session;
pub mod user;

#[cfg(test)]
mod tests;

use daemon::{privileged, SocketDaemon};
use handle::HandleEnv;
use options::Options;
use pam::constants::{PamFlag, PamResultCode, PAM_SILENT};
use pam::module::{PamHandle, PamHooks};
use pam::pam_hooks;
use std::ffi::CStr;

/// The hook implementations exported as `pam_sm_*`.
pub struct PamRoster;

pam_hooks!(PamRoster);

/// Parses the arguments and runs one hook body with the real handle and the
/// real daemon socket.
fn run(
    pamh: &mut PamHandle,
    args: Vec<&CStr>,
    flags: PamFlag,
    hook: impl FnOnce(&mut HandleEnv<'_>, &SocketDaemon, &Options) -> PamResultCode,
) -> PamResultCode {
    let texts: Vec<String> = args
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let opts = Options::parse(texts.iter().map(String::as_str));
    for bad in &opts.unknown {
        log::syslog(
            libc::LOG_WARNING,
            &format!("ignoring unknown argument {bad:?}"),
        );
    }
    let daemon = SocketDaemon::new(&opts);
    let mut env = HandleEnv::new(pamh, flags & PAM_SILENT != 0);
    hook(&mut env, &daemon, &opts)
}

impl PamHooks for PamRoster {
    fn sm_authenticate(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, args, flags, |env, d, o| {
            authenticate::authenticate(env, d, o)
        })
    }

    fn acct_mgmt(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        if !privileged() {
            return PamResultCode::PAM_IGNORE;
        }
        run(pamh, args, flags, |env, d, o| account::account(env, d, o))
    }

    fn sm_chauthtok(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        if !privileged() {
            // Password changes are root's (passwd is setuid root).
            return PamResultCode::PAM_PERM_DENIED;
        }
        run(pamh, args, flags, |env, d, o| {
            password::chauthtok_as(env, d, o, flags, password::Changer::of_process(flags))
        })
    }

    fn sm_open_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        if !privileged() {
            return PamResultCode::PAM_IGNORE;
        }
        run(pamh, args, flags, |env, d, o| {
            session::open_session(env, d, o)
        })
    }

    fn sm_close_session(pamh: &mut PamHandle, args: Vec<&CStr>, flags: PamFlag) -> PamResultCode {
        run(pamh, args, flags, |env, _, o| {
            session::close_session(env, o)
        })
    }

    fn sm_setcred(_: &mut PamHandle, _: Vec<&CStr>, _: PamFlag) -> PamResultCode {
        PamResultCode::PAM_SUCCESS
    }
}
