//! `pam_sm_chauthtok`: change a directory password. libpam calls the hook
//! twice: with `PAM_PRELIM_CHECK` (ask for and verify the current password)
//! then with `PAM_UPDATE_AUTHTOK` (ask for the new one and let the daemon
//! change it with the LDAP Password Modify operation, bound as the user).
//!
//! Run by root (`passwd USER`: real and effective UID 0, and not the change
//! of an expired password at login, `PAM_CHANGE_EXPIRED_AUTHTOK`), the
//! current password is not asked for, as `pam_unix` does for root: the
//! daemon resets the password as the domain's password admin
//! ([`Changer::Root`], request `PamResetPassword`).

use crate::daemon::Daemon;
use crate::env::PamEnv;
use crate::options::Options;
use crate::user::directory_user;
use crate::{log, reply};
use pam::constants::{PamFlag, PamResultCode};
use roster_proto::{Request, Secret};

/// `PAM_PRELIM_CHECK` (Linux-PAM `_pam_types.h`).
pub const PAM_PRELIM_CHECK: PamFlag = 0x4000;
/// `PAM_UPDATE_AUTHTOK` (Linux-PAM `_pam_types.h`).
pub const PAM_UPDATE_AUTHTOK: PamFlag = 0x2000;
/// `PAM_CHANGE_EXPIRED_AUTHTOK` (Linux-PAM `_pam_types.h`): only an expired
/// password is to be changed (a login asking for a new password).
pub const PAM_CHANGE_EXPIRED_AUTHTOK: PamFlag = 0x0020;

/// Who changes the password.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changer {
    /// The user (or a login changing an expired password): the current
    /// password is asked for and checked.
    User,
    /// Root (`passwd USER`): no current password; the daemon resets it.
    Root,
}

impl Changer {
    /// Root when the process's real and effective UIDs are 0 and `flags`
    /// do not ask for the change of an expired password (as `pam_unix`
    /// decides); the user otherwise. A setuid `passwd` run by a user has
    /// a real UID of its own: the user.
    pub fn of_process(flags: PamFlag) -> Changer {
        // SAFETY: getuid and geteuid have no preconditions and cannot fail.
        let root = unsafe { libc::getuid() == 0 && libc::geteuid() == 0 };
        Changer::of(root, flags)
    }

    /// [`Changer::of_process`] for a caller that is `root` or not.
    pub fn of(root: bool, flags: PamFlag) -> Changer {
        if root && flags & PAM_CHANGE_EXPIRED_AUTHTOK == 0 {
            Changer::Root
        } else {
            Changer::User
        }
    }
}

/// Runs the phase of the password change selected by `flags`, as the user
/// ([`Changer::User`]).
pub fn chauthtok<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    flags: PamFlag,
) -> PamResultCode {
    chauthtok_as(env, daemon, opts, flags, Changer::User)
}

/// Runs the phase of the password change selected by `flags`, for
/// `changer`: root skips the current password and has the daemon reset
/// the password.
pub fn chauthtok_as<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    flags: PamFlag,
    changer: Changer,
) -> PamResultCode {
    let user = match directory_user(env, opts) {
        Ok(u) => u,
        Err(code) => return code,
    };
    if changer == Changer::Root {
        return if flags & PAM_PRELIM_CHECK != 0 {
            // Nothing to check: root needs no current password.
            PamResultCode::PAM_SUCCESS
        } else if flags & PAM_UPDATE_AUTHTOK != 0 {
            reset(env, daemon, opts, &user)
        } else {
            PamResultCode::PAM_SERVICE_ERR
        };
    }
    if flags & PAM_PRELIM_CHECK != 0 {
        prelim(env, daemon, opts, &user)
    } else if flags & PAM_UPDATE_AUTHTOK != 0 {
        update(env, daemon, opts, &user)
    } else {
        PamResultCode::PAM_SERVICE_ERR
    }
}

/// Gets the current password and checks it with the daemon, so a wrong one
/// is refused before the new password is asked for.
fn prelim<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    user: &str,
) -> PamResultCode {
    let old = match current_password(env, opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if old.is_empty() {
        env.error("No password has been supplied.");
        return PamResultCode::PAM_AUTH_ERR;
    }
    let req = Request::PamAuthenticate {
        user: user.to_string(),
        service: env.service(),
        rhost: env.rhost(),
        password: old.clone(),
    };
    let result = daemon.call(&req);
    drop(req);
    let code = reply::finish(env, "chauthtok(prelim)", user, opts.debug, result);
    if code != PamResultCode::PAM_SUCCESS {
        return code;
    }
    match env.set_old_authtok(&old) {
        Ok(()) => PamResultCode::PAM_SUCCESS,
        Err(code) => code,
    }
}

/// Asks for the new password twice (unless `use_authtok`) and has the
/// daemon change it.
fn update<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    user: &str,
) -> PamResultCode {
    let old = match env.old_authtok() {
        Some(p) => p,
        None => match current_password(env, opts) {
            Ok(p) => p,
            Err(code) => return code,
        },
    };
    let new = match new_password(env, opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(code) = env.set_authtok(&new) {
        return code;
    }
    let req = Request::PamChangePassword {
        user: user.to_string(),
        service: env.service(),
        old_password: old,
        new_password: new,
    };
    let result = daemon.call(&req);
    drop(req);
    reply::finish(env, "chauthtok", user, opts.debug, result)
}

/// Root's `passwd USER`: asks for the new password twice (unless
/// `use_authtok`) and has the daemon reset it, without the old one.
fn reset<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    user: &str,
) -> PamResultCode {
    let new = match new_password(env, opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if let Err(code) = env.set_authtok(&new) {
        return code;
    }
    let req = Request::PamResetPassword {
        user: user.to_string(),
        service: env.service(),
        new_password: new,
    };
    let result = daemon.call(&req);
    drop(req);
    reply::finish(env, "chauthtok(root reset)", user, opts.debug, result)
}

fn current_password<E: PamEnv>(env: &mut E, opts: &Options) -> Result<Secret, PamResultCode> {
    if opts.use_first_pass || opts.try_first_pass || opts.use_authtok {
        if let Some(old) = env.old_authtok() {
            return Ok(old);
        }
        if opts.use_first_pass {
            return Err(PamResultCode::PAM_AUTH_ERR);
        }
    }
    env.prompt_secret("Current password: ")?
        .ok_or(PamResultCode::PAM_CONV_ERR)
}

fn new_password<E: PamEnv>(env: &mut E, opts: &Options) -> Result<Secret, PamResultCode> {
    if opts.use_authtok {
        return match env.authtok() {
            Some(p) if !p.is_empty() => Ok(p),
            _ => {
                log::debug(
                    opts.debug,
                    "use_authtok: no new password from an earlier module",
                );
                Err(PamResultCode::PAM_AUTHTOK_ERR)
            }
        };
    }
    let first = env
        .prompt_secret("New password: ")?
        .ok_or(PamResultCode::PAM_CONV_ERR)?;
    if first.is_empty() {
        env.error("No password has been supplied.");
        return Err(PamResultCode::PAM_AUTHTOK_ERR);
    }
    let second = env
        .prompt_secret("Retype new password: ")?
        .ok_or(PamResultCode::PAM_CONV_ERR)?;
    if first != second {
        env.error("Sorry, passwords do not match.");
        return Err(PamResultCode::PAM_AUTHTOK_ERR);
    }
    Ok(first)
}
