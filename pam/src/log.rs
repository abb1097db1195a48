//! syslog output of the module (`LOG_AUTHPRIV`). Messages never contain a
//! password: only user, service and outcome. Control characters (which a
//! user name typed at a login prompt may hold) are written escaped, so that
//! no message can forge a line of the log.

use std::ffi::CString;

/// `text` with every control character (NUL, newline, escape, ...)
/// written as a Rust escape (`\n`, `\u{1b}`).
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_debug());
        } else {
            out.push(c);
        }
    }
    out
}

/// Writes one line to syslog at `priority` (a `libc::LOG_*` level),
/// control characters escaped.
pub fn syslog(priority: libc::c_int, message: &str) {
    let clean = escape_controls(message);
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

#[cfg(test)]
mod tests {
    use super::escape_controls;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(
            escape_controls("eve\nJan  1 sshd: Accepted\0\u{1b}[2J"),
            "eve\\nJan  1 sshd: Accepted\\0\\u{1b}[2J"
        );
        assert_eq!(escape_controls("bj\u{f6}rn"), "bj\u{f6}rn");
    }
}
