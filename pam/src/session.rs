//! `pam_sm_open_session`: tells the daemon (which logs it) and stores the
//! Kerberos tickets of the authentication, if any ([`crate::ccache`]);
//! never blocks a login. Home directories come from `pam_mkhomedir`
//! stacked before it. `pam_sm_close_session` removes the ticket cache.

use crate::ccache::{self, Written};
use crate::daemon::Daemon;
use crate::env::PamEnv;
use crate::log;
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
    store_tickets(env, &user, opts);
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

/// Writes the tickets authenticate kept for `user` to their cache file and
/// exports `KRB5CCNAME`; a failure is logged, the session opens anyway.
fn store_tickets<E: PamEnv>(env: &mut E, user: &str, opts: &Options) {
    let Some(kept) = env.kept_ticket() else {
        return;
    };
    if kept.user != user {
        log::syslog(
            libc::LOG_WARNING,
            &format!(
                "open_session user={user}: tickets were issued for {}, not stored",
                kept.user
            ),
        );
        return;
    }
    let t = &kept.ticket;
    if let Err(e) = ccache::write(t) {
        log::syslog(
            libc::LOG_ERR,
            &format!(
                "open_session user={user}: cannot write the ticket cache {}: {e}",
                t.ccache
            ),
        );
        return;
    }
    env.keep_written(Written {
        user: user.to_string(),
        path: t.ccache.clone(),
        keep: t.keep,
    });
    if env
        .putenv(&format!("KRB5CCNAME=FILE:{}", t.ccache))
        .is_err()
    {
        log::syslog(
            libc::LOG_ERR,
            &format!("open_session user={user}: cannot set KRB5CCNAME"),
        );
    }
    log::debug(
        opts.debug,
        &format!("open_session user={user}: tickets stored in {}", t.ccache),
    );
}

/// Removes the ticket cache open_session wrote in this process, unless
/// `krb5_keep_ccache` is set. Never fails a session's end.
pub fn close_session<E: PamEnv>(env: &mut E, opts: &Options) -> PamResultCode {
    let Some(w) = env.written() else {
        return PamResultCode::PAM_IGNORE;
    };
    if w.keep {
        return PamResultCode::PAM_SUCCESS;
    }
    match ccache::remove(&w.path) {
        Ok(()) => log::debug(
            opts.debug,
            &format!(
                "close_session user={}: ticket cache {} removed",
                w.user, w.path
            ),
        ),
        Err(e) => log::syslog(
            libc::LOG_ERR,
            &format!(
                "close_session user={}: cannot remove {}: {e}",
                w.user, w.path
            ),
        ),
    }
    PamResultCode::PAM_SUCCESS
}
