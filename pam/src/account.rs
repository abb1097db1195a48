//! `pam_sm_acct_mgmt`: may this directory user log in now? The daemon checks
//! `allow_groups`, `access_filter`, expiry, lock and password age.

use crate::daemon::Daemon;
use crate::env::PamEnv;
use crate::options::Options;
use crate::reply;
use crate::user::directory_user;
use pam::constants::PamResultCode;
use roster_proto::Request;

/// Asks the daemon whether the PAM user may log in.
pub fn account<E: PamEnv, D: Daemon>(env: &mut E, daemon: &D, opts: &Options) -> PamResultCode {
    let user = match directory_user(env, opts) {
        Ok(u) => u,
        Err(code) => return code,
    };
    let req = Request::PamAccount {
        user: user.clone(),
        service: env.service(),
        rhost: env.rhost(),
    };
    let result = daemon.call(&req);
    reply::finish(env, "account", &user, opts.debug, result)
}
