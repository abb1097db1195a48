//! Turns the daemon's answer into a PAM return code, and shows its message.

use crate::env::PamEnv;
use crate::log;
use pam::constants::PamResultCode;
use roster_proto::{ClientError, PamCode, Response};

/// The PAM return code of a daemon decision.
pub fn pam_code(code: PamCode) -> PamResultCode {
    match code {
        PamCode::Success => PamResultCode::PAM_SUCCESS,
        PamCode::UserUnknown => PamResultCode::PAM_USER_UNKNOWN,
        PamCode::AuthErr => PamResultCode::PAM_AUTH_ERR,
        PamCode::AuthInfoUnavail => PamResultCode::PAM_AUTHINFO_UNAVAIL,
        PamCode::AcctExpired => PamResultCode::PAM_ACCT_EXPIRED,
        PamCode::PermDenied => PamResultCode::PAM_PERM_DENIED,
        PamCode::NewAuthtokReqd => PamResultCode::PAM_NEW_AUTHTOK_REQD,
        PamCode::MaxTries => PamResultCode::PAM_MAXTRIES,
        PamCode::AuthtokErr => PamResultCode::PAM_AUTHTOK_ERR,
        PamCode::SystemErr => PamResultCode::PAM_SYSTEM_ERR,
        PamCode::Ignore => PamResultCode::PAM_IGNORE,
    }
}

/// Maps the result of one exchange with the daemon: a decision is shown to
/// the user (its notices as `PAM_TEXT_INFO`, then its message, if any) and
/// returned; a daemon that cannot be
/// reached or has no directory gives `PAM_AUTHINFO_UNAVAIL`.
pub fn finish<E: PamEnv>(
    env: &E,
    what: &str,
    user: &str,
    debug: bool,
    result: Result<Response, ClientError>,
) -> PamResultCode {
    match result {
        Ok(Response::Pam(reply)) => {
            let code = pam_code(reply.code);
            for notice in reply.notices.iter().filter(|n| !n.is_empty()) {
                env.info(notice);
            }
            if !reply.message.is_empty() {
                if reply.code == PamCode::Success {
                    env.info(&reply.message);
                } else {
                    env.error(&reply.message);
                }
            }
            log::debug(debug, &format!("{what} user={user}: {:?}", reply.code));
            code
        }
        Ok(Response::NotFound) => PamResultCode::PAM_USER_UNKNOWN,
        Ok(Response::Unavailable(reason)) => {
            log::syslog(
                libc::LOG_WARNING,
                &format!("{what} user={user}: directory unavailable: {reason}"),
            );
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
        Ok(Response::Error(message)) => {
            log::syslog(
                libc::LOG_ERR,
                &format!("{what} user={user}: rosterd error: {message}"),
            );
            PamResultCode::PAM_SYSTEM_ERR
        }
        Ok(_) => {
            log::syslog(
                libc::LOG_ERR,
                &format!("{what} user={user}: unexpected reply kind from rosterd"),
            );
            PamResultCode::PAM_SYSTEM_ERR
        }
        Err(e) => {
            log::syslog(libc::LOG_ERR, &format!("{what} user={user}: {e}"));
            PamResultCode::PAM_AUTHINFO_UNAVAIL
        }
    }
}
