//! `pam_sm_open_session`: tells the daemon (which logs it); never blocks a
//! login. Home directories come from `pam_mkhomedir` stacked before it.

use crate::daemon::Daemon;
use crate::env::PamEnv;
use crate::options::Options;
use crate::reply;
use crate::user::directory_user;
use pam::constants::PamResultCode;
use roster_proto::{Request, Response};

/// Reports the opened session to the daemon. A daemon that cannot be reached
/// gives `PAM_IGNORE`: a session is never refused for lack of a log line.
pub fn open_session<E: PamEnv, D: Daemon>(
    env: &mut E,
    daemon: &D,
    opts: &Options,
) -> PamResultCode {
    let user = match directory_user(env, opts) {
        Ok(u) => u,
        Err(_) => return PamResultCode::PAM_IGNORE,
    };
    let req = Request::PamOpenSession {
        user: user.clone(),
        service: env.service(),
        rhost: env.rhost(),
    };
    match daemon.call(&req) {
        result @ Ok(Response::Pam(_)) => {
            reply::finish(env, "open_session", &user, opts.debug, result)
        }
        _ => PamResultCode::PAM_IGNORE,
    }
}
