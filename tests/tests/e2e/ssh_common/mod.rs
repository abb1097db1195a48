//! A real OpenSSH sshd on a free loopback port inside a private mount
//! namespace (its own host key, `-f /dev/null`: only the options a test
//! gives), with the PAM stack `pam-auth-update --enable roster` makes of
//! `packaging/pam-configs/roster` (see
//! [`crate::pam_common::pam_auth_update_script`]). Shared by `ssh_login`
//! (directory passwords and keys) and `ad::ad_ssh` (GSSAPI single sign-on).

use crate::pam_common;

use roster_e2e::namespace::Namespace;
use roster_e2e::ports::free_port;
use std::net::TcpStream;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// The sshd PAM service: Debian's includes, nothing that needs a real login
/// session (loginuid, selinux).
pub const SSHD_PAM: &str = "@include common-auth\naccount required pam_nologin.so\n\
@include common-account\n@include common-session\n@include common-password\n";

/// Stops the namespaced sshd by PID when the test ends.
pub struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The script that prepares the PAM stack with pam-auth-update, runs
/// `prologue` (e.g. `export` lines sshd's own environment needs) and
/// runs sshd in the foreground with the extra `options`; its log is
/// `scratch/sshd.log`.
fn sshd_script(scratch: &Path, port: u16, prologue: &str, options: &str) -> String {
    let s = scratch.display();
    format!(
        r#"{setup}
ssh-keygen -q -t ed25519 -N '' -f {s}/hostkey
mkdir -p /run/sshd
{prologue}
exec /usr/sbin/sshd -D -e -f /dev/null -p {port} -o ListenAddress=127.0.0.1 -h {s}/hostkey \
  -o UsePAM=yes {options} \
  -o PidFile={s}/sshd.pid 2> {s}/sshd.log
"#,
        setup = pam_common::pam_auth_update_script(scratch),
    )
}

/// Starts sshd in `ns` on a free port with the extra `options` and waits
/// until it listens.
pub fn start_sshd(ns: &Namespace, options: &str) -> (Sshd, u16) {
    start_sshd_with(ns, "", options)
}

/// [`start_sshd`] with a shell `prologue` run just before sshd (in the
/// namespace, same shell: its exports are sshd's environment).
pub fn start_sshd_with(ns: &Namespace, prologue: &str, options: &str) -> (Sshd, u16) {
    let port = free_port();
    let scratch = ns.scratch().to_path_buf();
    let sshd = Sshd(ns.spawn(&sshd_script(&scratch, port, prologue, options)));
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "sshd did not start:\n{}\n{}",
            read(&scratch.join("sshd.log")),
            read(&scratch.join("pam-stack.txt"))
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    (sshd, port)
}

/// A file's text, empty when it cannot be read (for diagnostics).
pub fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}
