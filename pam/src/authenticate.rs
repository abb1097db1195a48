//! `pam_sm_authenticate`: obtain the password (honouring `use_first_pass`
//! and `try_first_pass`) and let the daemon verify it.

use crate::ccache::Kept;
use crate::daemon::Daemon;
use crate::env::PamEnv;
use crate::options::Options;
use crate::user::directory_user;
use crate::{log, reply};
use pam::constants::PamResultCode;
use roster_proto::{PamCode, Request, Response, Secret};

/// Authenticates the PAM user against the daemon.
pub fn authenticate<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
) -> PamResultCode {
    let user = match directory_user(env, opts) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let password = match obtain_password(env, opts) {
        Ok(p) => p,
        Err(code) => return code,
    };
    if password.is_empty() {
        // RFC 4513 §5.1.2: an empty password is an unauthenticated bind that
        // many servers accept. Never send one.
        log::syslog(
            libc::LOG_NOTICE,
            &format!("authenticate user={user}: empty password refused"),
        );
        return PamResultCode::PAM_AUTH_ERR;
    }
    let req = Request::PamAuthenticate {
        user: user.clone(),
        service: env.service(),
        rhost: env.rhost(),
        password,
    };
    let result = daemon.call(&req);
    drop(req);
    let result = match result {
        // The tickets of a Kerberos login wait for open_session.
        Ok(Response::PamTicket(reply, ticket)) => {
            if reply.code == PamCode::Success {
                env.keep_ticket(Kept {
                    user: user.clone(),
                    ticket,
                });
            }
            Ok(Response::Pam(reply))
        }
        other => other,
    };
    reply::finish(env, "authenticate", &user, opts.debug, result)
}

/// The password: the one an earlier module stored (`use_first_pass`,
/// `try_first_pass`) or one asked through the conversation, which is then
/// stored as `PAM_AUTHTOK` for the modules after this one.
fn obtain_password<E: PamEnv>(env: &mut E, opts: &Options) -> Result<Secret, PamResultCode> {
    if opts.use_first_pass || opts.try_first_pass {
        if let Some(token) = env.authtok() {
            return Ok(token);
        }
        if opts.use_first_pass {
            log::debug(
                opts.debug,
                "use_first_pass: no password from an earlier module",
            );
            return Err(PamResultCode::PAM_AUTH_ERR);
        }
    }
    let token = env
        .prompt_secret("Password: ")?
        .ok_or(PamResultCode::PAM_CONV_ERR)?;
    env.set_authtok(&token)?;
    Ok(token)
}
