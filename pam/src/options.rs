//! Module arguments from the PAM service file (`auth required pam_roster.so ...`).

use std::path::PathBuf;
use std::time::Duration;

/// Default socket of the daemon's PAM service.
pub const DEFAULT_SOCKET: &str = "/run/roster/pam.sock";
/// Default bound on one exchange with the daemon, in seconds.
pub const DEFAULT_TIMEOUT_SECS: u64 = 10;
/// Local account database: users found here are never directory users.
pub const DEFAULT_PASSWD_FILE: &str = "/etc/passwd";

/// Parsed module arguments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// `socket=PATH`: the daemon's PAM socket.
    pub socket: PathBuf,
    /// `timeout=SECONDS`: bound on one exchange with the daemon.
    pub timeout: Duration,
    /// `debug`: log each step to syslog (never a password).
    pub debug: bool,
    /// `use_first_pass`: only use the password an earlier module obtained.
    pub use_first_pass: bool,
    /// `try_first_pass`: use an earlier module's password, prompt if none.
    pub try_first_pass: bool,
    /// `use_authtok`: in the password phase, take the new password from an
    /// earlier module instead of prompting.
    pub use_authtok: bool,
    /// Local passwd file whose users this module leaves alone.
    pub passwd_file: PathBuf,
    /// Arguments that were not understood (logged, otherwise ignored).
    pub unknown: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            socket: PathBuf::from(DEFAULT_SOCKET),
            timeout: Duration::from_secs(DEFAULT_TIMEOUT_SECS),
            debug: false,
            use_first_pass: false,
            try_first_pass: false,
            use_authtok: false,
            passwd_file: PathBuf::from(DEFAULT_PASSWD_FILE),
            unknown: Vec::new(),
        }
    }
}

impl Options {
    /// Parses module arguments; bad or unknown ones are kept in `unknown`
    /// and the defaults stay in force, so a typo never locks everybody out.
    pub fn parse<'a, I: IntoIterator<Item = &'a str>>(args: I) -> Options {
        let mut o = Options::default();
        for arg in args {
            match arg {
                "debug" => o.debug = true,
                "use_first_pass" => o.use_first_pass = true,
                "try_first_pass" => o.try_first_pass = true,
                "use_authtok" => o.use_authtok = true,
                _ => {
                    if let Some(v) = arg.strip_prefix("socket=").filter(|v| !v.is_empty()) {
                        o.socket = PathBuf::from(v);
                    } else if let Some(t) = arg
                        .strip_prefix("timeout=")
                        .and_then(|v| v.parse::<u64>().ok())
                        .filter(|t| (1..=600).contains(t))
                    {
                        o.timeout = Duration::from_secs(t);
                    } else {
                        o.unknown.push(arg.to_string());
                    }
                }
            }
        }
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_without_arguments() {
        let o = Options::parse([]);
        assert_eq!(o, Options::default());
        assert_eq!(o.socket, PathBuf::from("/run/roster/pam.sock"));
        assert_eq!(o.timeout, Duration::from_secs(10));
    }

    #[test]
    fn every_argument_is_understood() {
        let o = Options::parse([
            "debug",
            "use_first_pass",
            "try_first_pass",
            "use_authtok",
            "socket=/tmp/x.sock",
            "timeout=3",
        ]);
        assert!(o.debug && o.use_first_pass && o.try_first_pass && o.use_authtok);
        assert_eq!(o.socket, PathBuf::from("/tmp/x.sock"));
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert!(o.unknown.is_empty());
    }

    #[test]
    fn bad_values_keep_defaults_and_are_reported() {
        let o = Options::parse(["timeout=0", "timeout=abc", "socket=", "nullok"]);
        assert_eq!(o.timeout, Duration::from_secs(10));
        assert_eq!(o.socket, PathBuf::from(DEFAULT_SOCKET));
        assert_eq!(
            o.unknown,
            vec!["timeout=0", "timeout=abc", "socket=", "nullok"]
        );
    }
}
