//! `pam_sm_chauthtok`: change a directory password. libpam calls the hook
//! twice: with `PAM_PRELIM_CHECK` (ask for and verify the current password)
//! then with `PAM_UPDATE_AUTHTOK` (ask for the new one and let the daemon
//! change it with the LDAP Password Modify operation, bound as the user).

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

/// Runs the phase of the password change selected by `flags`.
pub fn chauthtok<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
    flags: PamFlag,
) -> PamResultCode {
    let user = match directory_user(env, opts) {
        Ok(u) => u,
        Err(code) => return code,
    };
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
