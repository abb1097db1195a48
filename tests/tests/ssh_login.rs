//! A real OpenSSH sshd (`UsePAM yes`) on a loopback port, inside a private
//! mount namespace whose PAM stack is what `pam-auth-update --enable roster`
//! makes of `packaging/pam-configs/roster`, with the NSS module resolving
//! directory users: `ssh alice@127.0.0.1 id` with her directory password
//! prints her directory UID and every directory group, pam_mkhomedir made
//! her home directory, and a wrong password is refused.

mod pam_common;

use pam_common::rosterd;
use roster_e2e::config::Transport;
use roster_e2e::dataset::{ALICE, STAFF_GID};
use roster_e2e::namespace::Namespace;
use roster_e2e::ports::free_port;
use roster_proto::{Request, Response};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output};
use std::time::{Duration, Instant};

/// The sshd PAM service: Debian's includes, nothing that needs a real login
/// session (loginuid, selinux).
const SSHD_PAM: &str = "@include common-auth\naccount required pam_nologin.so\n\
@include common-account\n@include common-session\n@include common-password\n";

/// Stops the namespaced sshd by PID when the test ends.
struct Sshd(Child);

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ssh(port: u16, password: &str, command: &str) -> Output {
    Command::new("timeout")
        .args(["60", "sshpass", "-p", password, "ssh", "-F", "/dev/null"])
        .args(["-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "PubkeyAuthentication=no",
            "-o",
            "ConnectTimeout=10",
            "-o",
            "NumberOfPasswordPrompts=1",
        ])
        .arg(format!("{}@127.0.0.1", ALICE.name))
        .arg(command)
        .output()
        .expect("run sshpass ssh")
}

/// The script that prepares the PAM stack with pam-auth-update (see
/// [`pam_common::pam_auth_update_script`]), and runs sshd in the
/// foreground.
fn sshd_script(scratch: &Path, port: u16) -> String {
    let s = scratch.display();
    format!(
        r#"{setup}
ssh-keygen -q -t ed25519 -N '' -f {s}/hostkey
mkdir -p /run/sshd
exec /usr/sbin/sshd -D -e -f /dev/null -p {port} -o ListenAddress=127.0.0.1 -h {s}/hostkey \
  -o UsePAM=yes -o KbdInteractiveAuthentication=yes -o PasswordAuthentication=yes \
  -o PidFile={s}/sshd.pid 2> {s}/sshd.log
"#,
        setup = pam_common::pam_auth_update_script(scratch),
    )
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

#[test]
fn ssh_login_with_the_directory_password() {
    let slapd = pam_common::slapd();
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service("sshd", SSHD_PAM);
    let port = free_port();
    let scratch = ns.scratch().to_path_buf();
    let sshd = Sshd(ns.spawn(&sshd_script(&scratch, port)));

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
    let stack = read(&scratch.join("pam-stack.txt"));
    assert!(stack.contains("libpam_roster.so use_first_pass"), "{stack}");
    assert!(stack.contains("pam_mkhomedir.so"), "{stack}");

    let out = ssh(port, ALICE.password, "id; pwd");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let diag = || {
        format!(
            "stdout: {stdout}\nstderr: {}\nsshd: {}\nrosterd: {}",
            String::from_utf8_lossy(&out.stderr),
            read(&scratch.join("sshd.log")),
            rd.log()
        )
    };
    assert!(out.status.success(), "{}", diag());
    assert!(
        stdout.contains(&format!("uid={}({})", ALICE.uid, ALICE.name)),
        "{}",
        diag()
    );
    let gids = match rd.nss(&Request::GroupsOfUser(ALICE.name.into())) {
        Response::Gids(g) => g,
        other => panic!("groups of alice: {other:?}"),
    };
    assert!(gids.contains(&STAFF_GID), "{gids:?}");
    for gid in &gids {
        assert!(
            stdout.contains(&format!("{gid}(")),
            "gid {gid} missing: {}",
            diag()
        );
    }
    // pam_mkhomedir (from the pam-auth-update profile) created her home.
    assert!(stdout.contains("/home/alice"), "{}", diag());
    assert!(scratch.join("home/alice").is_dir(), "{}", diag());

    let bad = ssh(port, "not-alice-pw", "id");
    assert!(!bad.status.success(), "wrong password accepted");
    assert!(!String::from_utf8_lossy(&bad.stdout).contains("uid="));
    drop(sshd);
    let log = rd.log();
    assert!(
        log.contains("service=\"sshd\"") && log.contains("rhost=\"127.0.0.1\""),
        "{log}"
    );
}
