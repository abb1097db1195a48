//! A real OpenSSH sshd (`UsePAM yes`) on a loopback port, inside a private
//! mount namespace whose PAM stack is what `pam-auth-update --enable roster`
//! makes of `packaging/pam-configs/roster`, with the NSS module resolving
//! directory users: `ssh alice@127.0.0.1 id` with her directory password
//! prints her directory UID and every directory group, pam_mkhomedir made
//! her home directory, and a wrong password is refused.
//!
//! SSH keys from the directory: sshd asks `rosterctl ssh-keys %u` as
//! `nobody` (`AuthorizedKeysCommand`), the test slapd carries the
//! openssh-lpk schema; a user logs in with the key in his entry and no
//! password, not after the key was removed and the cache flushed, and
//! again with slapd stopped (the key cached, rosterd restarted).

use crate::pam_common;
use crate::rosterctl_common;
use crate::ssh_common::{read, start_sshd, SSHD_PAM};

use pam_common::{rosterd, TestUser};
use roster_e2e::config::Transport;
use roster_e2e::dataset::{ALICE, STAFF_GID};
use roster_e2e::namespace::Namespace;
use roster_proto::{Request, Response};
use std::path::Path;
use std::process::{Command, Output};

/// `ssh alice@127.0.0.1 COMMAND` with `password` (sshpass).
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

/// sshd's options for password logins.
const PASSWORD_LOGINS: &str = "-o KbdInteractiveAuthentication=yes -o PasswordAuthentication=yes";

#[test]
fn ssh_login_with_the_directory_password() {
    let slapd = pam_common::slapd();
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service("sshd", SSHD_PAM);
    let scratch = ns.scratch().to_path_buf();
    let (sshd, port) = start_sshd(&ns, PASSWORD_LOGINS);
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

/// A directory user whose entry may carry SSH keys (added at run time, so
/// that it can be modified).
const KEYUSER: TestUser = TestUser {
    name: "keyuser",
    uid: 10600,
    extra: "objectClass: ldapPublicKey\n",
};

/// sshd's options for key logins: no password, no authorized_keys file,
/// the keys from `rosterctl ssh-keys` run as nobody.
fn key_logins(rosterctl: &Path) -> String {
    format!(
        "-o PubkeyAuthentication=yes -o PasswordAuthentication=no \\
  -o KbdInteractiveAuthentication=no -o AuthorizedKeysFile=none \\
  -o 'AuthorizedKeysCommand={} --socket-dir /run/roster ssh-keys %u' \\
  -o AuthorizedKeysCommandUser=nobody",
        rosterctl.display()
    )
}

/// A new ed25519 key pair in `dir/name`; returns its public line.
fn keypair(dir: &Path, name: &str) -> String {
    let path = dir.join(name);
    let out = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C"])
        .arg(format!("{name}@roster-test"))
        .arg("-f")
        .arg(&path)
        .output()
        .expect("run ssh-keygen");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    read(&path.with_extension("pub")).trim().to_string()
}

/// `ssh -i KEY keyuser@127.0.0.1 COMMAND`, public key authentication only.
fn ssh_with_key(port: u16, key: &Path, command: &str) -> Output {
    Command::new("timeout")
        .args(["60", "ssh", "-F", "/dev/null", "-i"])
        .arg(key)
        .args(["-p", &port.to_string()])
        .args([
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "PreferredAuthentications=publickey",
            "-o",
            "ConnectTimeout=10",
        ])
        .arg(format!("{}@127.0.0.1", KEYUSER.name))
        .arg(command)
        .output()
        .expect("run ssh")
}

/// Runs `rosterctl ssh-keys USER` inside `ns` as nobody, as sshd does.
fn ssh_keys_as_nobody(ns: &Namespace, rosterctl: &Path, user: &str) -> Output {
    ns.run(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {} --socket-dir /run/roster ssh-keys '{user}'",
        rosterctl.display()
    ))
}

#[test]
fn ssh_login_with_a_key_from_the_directory() {
    let mut slapd = pam_common::slapd();
    pam_common::add_users(&slapd, &[&KEYUSER]);
    let keys = tempfile::Builder::new()
        .prefix("roster-sshkeys-")
        .tempdir()
        .expect("temp dir");
    let good = keypair(keys.path(), "good");
    keypair(keys.path(), "other");
    let set_keys = |op: &str, values: &[&str]| {
        let lines: String = values
            .iter()
            .map(|v| format!("sshPublicKey: {v}\n"))
            .collect();
        slapd.ldapmodify(&format!(
            "dn: {}\nchangetype: modify\n{op}: sshPublicKey\n{lines}",
            KEYUSER.dn()
        ));
    };
    // The good key, and a malformed value that is skipped (and logged).
    set_keys("add", &[&good, "ssh-rsa not-a-key"]);

    let mut rd = rosterd(&slapd, Transport::StartTls, &[]);
    let rosterctl = rosterctl_common::rosterctl_bin();
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service("sshd", SSHD_PAM);
    let scratch = ns.scratch().to_path_buf();
    let (sshd, port) = start_sshd(&ns, &key_logins(&rosterctl));
    let diag = |out: &Output, rd: &roster_e2e::rosterd::Rosterd| {
        format!(
            "stdout: {}\nstderr: {}\nsshd: {}\nrosterd: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            read(&scratch.join("sshd.log")),
            rd.log()
        )
    };

    // What sshd gets: the one good key, as nobody, over nss.sock.
    let out = ssh_keys_as_nobody(&ns, &rosterctl, KEYUSER.name);
    assert!(out.status.success(), "{}", diag(&out, &rd));
    assert_eq!(String::from_utf8_lossy(&out.stdout), format!("{good}\n"));
    let log = rd.log();
    assert!(
        log.contains("SSH public key not served") && log.contains(&KEYUSER.dn()),
        "{log}"
    );
    // A local user: no keys, no failure. An unknown one: exit 1.
    let out = ssh_keys_as_nobody(&ns, &rosterctl, "root");
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        diag(&out, &rd)
    );
    let out = ssh_keys_as_nobody(&ns, &rosterctl, "ghost");
    assert_eq!(out.status.code(), Some(1), "{}", diag(&out, &rd));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ghost"));

    // The key logs in, without a password; another key does not.
    let good_key = keys.path().join("good");
    let other_key = keys.path().join("other");
    let out = ssh_with_key(port, &good_key, "id");
    assert!(out.status.success(), "{}", diag(&out, &rd));
    let expected = format!("uid={}({})", KEYUSER.uid, KEYUSER.name);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected),
        "{}",
        diag(&out, &rd)
    );
    let out = ssh_with_key(port, &other_key, "id");
    assert!(
        !out.status.success(),
        "another key accepted: {}",
        diag(&out, &rd)
    );

    // The key is removed in the directory and the cache flushed: refused.
    set_keys("delete", &[]);
    let flush = |rd: &roster_e2e::rosterd::Rosterd| {
        let sockets = rd.socket_dir();
        let out = rosterctl_common::run(
            None,
            &[
                "--socket-dir",
                sockets.to_str().unwrap(),
                "cache",
                "flush",
                "--user",
                KEYUSER.name,
            ],
        );
        assert!(out.status.success(), "{}", rosterctl_common::text(&out));
    };
    flush(&rd);
    let out = ssh_with_key(port, &good_key, "id");
    assert!(
        !out.status.success(),
        "removed key accepted: {}",
        diag(&out, &rd)
    );
    let out = ssh_keys_as_nobody(&ns, &rosterctl, KEYUSER.name);
    assert!(
        out.status.success() && out.stdout.is_empty(),
        "{}",
        diag(&out, &rd)
    );

    // Back in the directory, logged in once (cached and persisted); then
    // slapd stops and rosterd restarts (nothing in memory): the key is
    // served from the persistent cache and still logs in.
    set_keys("add", &[&good]);
    flush(&rd);
    let out = ssh_with_key(port, &good_key, "id");
    assert!(out.status.success(), "{}", diag(&out, &rd));
    slapd.stop();
    rd.restart();
    let out = ssh_with_key(port, &good_key, "id");
    assert!(out.status.success(), "offline: {}", diag(&out, &rd));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(&expected),
        "{}",
        diag(&out, &rd)
    );
    let out = ssh_with_key(port, &other_key, "id");
    assert!(
        !out.status.success(),
        "another key accepted offline: {}",
        diag(&out, &rd)
    );
    drop(sshd);
}
