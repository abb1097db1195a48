//! syslog output of the module (`LOG_AUTHPRIV`). Messages never contain a
//! password: only user, service and outcome.

use std::ffi::CString;

/// Writes one line to syslog at `priority` (a `libc::LOG_*` level).
pub fn syslog(priority: libc::c_int, message: &str) {
    let clean: String = message.chars().filter(|&c| c != '\0').collect();
    let Ok(msg) = CString::new(format!("pam_roster: {clean}")) else {
        return;
    };
    // SAFETY: both pointers are valid NUL-terminated strings for the call;
    // the format string is a constant "%s" so `msg` is never interpreted.
    unsafe { libc::syslog(libc::LOG_AUTHPRIV | priority, c"%s".as_ptr(), msg.as_ptr()) };
}

/// Debug logging, only with the `debug` argument.
pub fn debug(enabled: bool, message: &str) {
    if enabled {
        syslog(libc::LOG_DEBUG, message);
    }
}
