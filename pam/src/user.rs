//! The first step of every hook: who is this, and is it ours at all?

use crate::env::PamEnv;
use crate::local::is_local_user;
use crate::log;
use crate::options::Options;
use pam::constants::PamResultCode;

/// The user name when it may be a directory user; otherwise the code to
/// return at once (`PAM_USER_UNKNOWN` for local users and bad names, so the
/// next module in the stack decides). A name with a control character
/// (newline, escape, ...) is refused here and never sent to rosterd.
pub fn directory_user<E: PamEnv>(env: &mut E, opts: &Options) -> Result<String, PamResultCode> {
    let user = env.user()?;
    if user.is_empty() || user.len() > 256 || user.contains(':') {
        return Err(PamResultCode::PAM_USER_UNKNOWN);
    }
    if user.chars().any(char::is_control) {
        // Escaped by `log::syslog`.
        log::syslog(
            libc::LOG_WARNING,
            &format!("user={user}: a user name with a control character is refused"),
        );
        return Err(PamResultCode::PAM_USER_UNKNOWN);
    }
    if is_local_user(&opts.passwd_file, &user) {
        log::debug(opts.debug, &format!("user={user} is a local user: ignored"));
        return Err(PamResultCode::PAM_USER_UNKNOWN);
    }
    Ok(user)
}
