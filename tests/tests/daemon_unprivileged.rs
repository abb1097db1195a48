//! rosterd as its own system user, `_roster`: started as root with
//! `--user _roster`, it hands its directories to the user and drops root
//! before it reads anything. Shown end to end: the process holds no root
//! ID, everything it writes is the user's, lookups (socket and memory
//! cache), PAM logins, offline logins, reload (configuration and password
//! file re-read as `_roster`) and `rosterctl status` work, a secret file
//! `_roster` cannot read is refused with a clear error, and `pam.sock`
//! still serves root only — a local user is refused by the socket's mode,
//! `_roster` itself by the `SO_PEERCRED` check.
//!
//! Every e2e test's rosterd runs as `_roster` (see `roster_e2e::rosterd`);
//! this one names `--user` itself and looks at the details. The account is
//! the machine's own if it has one; otherwise the test thread sees it in a
//! mount namespace of its own, through bind-mounted copies of `/etc/passwd`
//! and `/etc/group` (`roster_e2e::daemon_user`): the host's `/etc` is never
//! touched.

mod pam_common;
mod rosterctl_common;

use rosterctl_common::text;

use pam_common::{assert_ok, authenticate, namespace, slapd};
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{ALICE, BOB};
use roster_e2e::freeze::Frozen;
use roster_e2e::rosterd::{rosterd_bin, Launch, Rosterd};
use roster_proto::{Request, Response};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The daemon's user, as the package creates it.
const USER: &str = roster_e2e::daemon_user::NAME;
/// An ordinary local user with no account.
const NOBODY: u32 = 65534;

/// The `_roster` account rosterd runs as (the machine's, or the test
/// thread's own: `roster_e2e::daemon_user`).
struct DaemonUser {
    uid: u32,
    gid: u32,
}

impl DaemonUser {
    fn new() -> DaemonUser {
        let u = roster_e2e::daemon_user::daemon_user();
        DaemonUser {
            uid: u.uid,
            gid: u.gid,
        }
    }

    /// Runs `program args` (as root).
    fn run(&self, program: &Path, args: &[&str]) -> Output {
        Command::new(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("run {}: {e}", program.display()))
    }
}

/// `Uid:`, `Gid:` (real, effective, saved, fs) and `Groups:` of `pid`.
fn ids_of(pid: i32) -> (Vec<u32>, Vec<u32>, Vec<u32>) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = |key: &str| -> Vec<u32> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .unwrap_or_else(|| panic!("{key} in /proc/{pid}/status"))
            .split_whitespace()
            .map(|v| v.parse().unwrap())
            .collect()
    };
    (line("Uid:"), line("Gid:"), line("Groups:"))
}

/// The bind password file and CA where `_roster` can reach them (the
/// slapd fixture keeps its own in a private directory).
struct Secrets {
    dir: tempfile::TempDir,
}

impl Secrets {
    fn password_file(&self) -> PathBuf {
        self.dir.path().join("bind_password")
    }
    fn set_password_file(&self, uid: u32, gid: u32, mode: u32) {
        let p = self.password_file();
        std::os::unix::fs::chown(&p, Some(uid), Some(gid)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    }
}

/// A `[[domain]]` for `slapd` over StartTLS with cached credentials, its
/// files in a directory `_roster` can reach; plus a short NSS timeout.
fn config(slapd: &roster_e2e::slapd::Slapd) -> (String, Secrets) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711)).unwrap();
    let ca = dir.path().join("ca.pem");
    std::fs::copy(slapd.ca_file(), &ca).unwrap();
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).unwrap();
    let o = DomainOptions {
        transport: Transport::StartTls,
        extra: vec![
            "cache_credentials = true".into(),
            "connect_timeout = 1".into(),
        ],
        ..DomainOptions::default()
    };
    let text = domain_table(slapd, dir.path(), &o).replace(
        &slapd.ca_file().display().to_string(),
        &ca.display().to_string(),
    );
    (
        format!("{text}\n[nss]\ntimeout_ms = 200\n"),
        Secrets { dir },
    )
}

/// Exit code of `getent passwd NAME` in `ns`, under an outer bound.
fn getent(ns: &roster_e2e::namespace::Namespace, name: &str) -> i32 {
    let out = ns.run(&format!("timeout 20 getent passwd {name}; echo rc=$?"));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.strip_prefix("rc="))
        .next_back()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

fn peer_lookup(uid: u32, socket: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_roster-peer"))
        .args(["lookup", &uid.to_string()])
        .arg(socket)
        .arg(ALICE.name)
        .output()
        .expect("run roster-peer")
}

#[test]
fn check_config_as_the_daemons_user_refuses_a_secret_it_cannot_read() {
    let slapd = slapd();
    let user = DaemonUser::new();
    let (conf, secrets) = config(&slapd);
    let cfg = secrets.dir.path().join("roster.toml");
    std::fs::write(&cfg, &conf).unwrap();
    let check = || {
        user.run(
            &rosterd_bin(),
            &[
                "--check-config",
                "--config",
                &cfg.display().to_string(),
                "--user",
                USER,
            ],
        )
    };
    // `rosterctl config check` run as root (while _roster exists) checks
    // the secrets as _roster reads them: it agrees with rosterd's check.
    let ctl = rosterctl_common::rosterctl_bin();
    let ctl_check = || {
        user.run(
            &ctl,
            &["--config", &cfg.display().to_string(), "config", "check"],
        )
    };
    // root:root 0600, as root-run rosterd wanted it: _roster cannot read
    // it, and would fail at the first reload if not at start.
    secrets.set_password_file(0, 0, 0o600);
    for out in [check(), ctl_check()] {
        assert!(!out.status.success(), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains("bind_password_file"), "{t}");
        assert!(t.contains("not readable by the daemon's user"), "{t}");
        assert!(t.contains(&format!("uid {}", user.uid)), "{t}");
    }
    // Group-readable through another group: refused by name of the gid.
    secrets.set_password_file(0, NOBODY, 0o640);
    for out in [check(), ctl_check()] {
        assert!(!out.status.success(), "{}", text(&out));
        let t = text(&out);
        assert!(t.contains(&format!("0640 and group gid {NOBODY}")), "{t}");
    }
    // root:_roster 0640 and _roster 0600: valid.
    secrets.set_password_file(0, user.gid, 0o640);
    for out in [check(), ctl_check()] {
        assert!(out.status.success(), "{}", text(&out));
    }
    secrets.set_password_file(user.uid, 0, 0o600);
    for out in [check(), ctl_check()] {
        assert!(out.status.success(), "{}", text(&out));
    }
    // An unknown user is named.
    let out = user.run(
        &rosterd_bin(),
        &[
            "--check-config",
            "--config",
            &cfg.display().to_string(),
            "--user",
            "no-such-roster-user",
        ],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).contains("no-such-roster-user: no such user"),
        "{}",
        text(&out)
    );
}

#[test]
fn rosterd_as_roster_serves_lookups_logins_offline_reload_and_status() {
    let mut slapd = slapd();
    let user = DaemonUser::new();
    let (conf, secrets) = config(&slapd);
    secrets.set_password_file(0, user.gid, 0o640);
    let mut rd = Rosterd::start_with(
        &conf,
        Launch {
            args: vec!["--user".into(), USER.into()],
            ..Launch::default()
        },
    );
    let pid = rd.pid().expect("rosterd runs");
    assert!(rd.log().contains("running unprivileged"), "{}", rd.log());

    // No root ID left: real, effective, saved and fs UID and GID are
    // _roster's, its group the only one.
    let (uids, gids, groups) = ids_of(pid);
    assert_eq!(uids, vec![user.uid; 4]);
    assert_eq!(gids, vec![user.gid; 4]);
    assert_eq!(groups, vec![user.gid]);

    // Lookups on nss.sock.
    match rd.nss(&Request::UserByName(ALICE.name.into())) {
        Response::User(u) => assert_eq!((u.name.as_str(), u.uid), (ALICE.name, ALICE.uid)),
        other => panic!("alice: {other:?}"),
    }

    // A PAM login (pam.sock, root's pamtester), then NSS lookups through
    // the module; the memory cache, written by _roster, is trusted by the
    // module: with the daemon frozen, alice still resolves from it.
    let ns = namespace(&rd, "");
    let p = authenticate(&ns, ALICE.name, ALICE.password);
    assert!(p.ok, "{}\nrosterd's log:\n{}", p.text, rd.log());
    ns.run_ok(&format!(
        "getent passwd {} && id {}",
        ALICE.name, ALICE.name
    ));
    let frozen = Frozen::new(pid);
    let (alice, bob) = (getent(&ns, ALICE.name), getent(&ns, BOB.name));
    drop(frozen);
    assert_eq!(
        alice, 0,
        "alice from the memory cache (nss.mc owned by {USER})"
    );
    assert_eq!(
        bob, 2,
        "bob was never asked: the frozen daemon cannot answer"
    );

    // Everything the daemon wrote is _roster's.
    let state = rd.state_dir();
    let run = rd.socket_dir();
    for p in [
        state.clone(),
        state.join("cache.log"),
        state.join("credentials.json"),
        run.clone(),
        run.join("nss.sock"),
        run.join("pam.sock"),
        run.join("pam-user.sock"),
        run.join("nss.conf"),
        run.join("nss.mc"),
    ] {
        let m = std::fs::symlink_metadata(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!((m.uid(), m.gid()), (user.uid, user.gid), "{}", p.display());
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().mode() & 0o777;
    assert_eq!(mode(&state), 0o700);
    assert_eq!(mode(&state.join("credentials.json")), 0o600);
    assert_eq!(mode(&run.join("pam.sock")), 0o600);
    assert_eq!(mode(&run.join("pam-user.sock")), 0o666);

    // pam.sock serves root only: an ordinary user is stopped by the
    // socket's mode, _roster itself (whom the mode lets in) by the
    // SO_PEERCRED check; root gets its answer.
    let refused = peer_lookup(NOBODY, &rd.pam_socket());
    assert!(!refused.status.success(), "{}", text(&refused));
    assert!(
        text(&refused).contains("ermission denied"),
        "{}",
        text(&refused)
    );
    let refused = peer_lookup(user.uid, &rd.pam_socket());
    let said = text(&refused);
    // rosterd reads the request before it answers the refusal and closes:
    // the client's write never meets a closed socket (no broken pipe).
    assert!(
        said.contains("refused: pam.sock accepts uid 0 only"),
        "{said}"
    );
    assert!(!said.contains("User("), "{said}");
    assert!(
        rd.log().contains("pam.sock accepts uid 0 only"),
        "{}",
        rd.log()
    );
    assert!(peer_lookup(NOBODY, &rd.nss_socket()).status.success());

    // rosterctl status (root: the whole document, from pam.sock).
    let ctl = rosterctl_common::rosterctl_bin();
    let cfg = rd.config_path().display().to_string();
    let out = user.run(&ctl, &["--config", &cfg, "--json", "status"]);
    assert!(out.status.success(), "{}", text(&out));
    let st: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(st["running"], serde_json::Value::Bool(true), "{st}");
    assert_eq!(st["domains"][0]["name"], "example", "{st}");

    // SIGHUP re-reads the configuration and the password file as _roster.
    rd.write_config(&conf.replace("timeout_ms = 200", "timeout_ms = 250"));
    assert!(rd.reload(), "{}", rd.log());
    // A password file _roster cannot read: the reload is refused, naming
    // the file, and the running configuration stays.
    secrets.set_password_file(0, 0, 0o600);
    assert!(!rd.reload(), "{}", rd.log());
    assert!(
        rd.log().contains("not readable by the daemon's user"),
        "{}",
        rd.log()
    );
    assert!(rd.is_running());
    secrets.set_password_file(0, user.gid, 0o640);
    assert!(rd.reload(), "{}", rd.log());

    // Offline: the directory is gone; alice's cached credential (kept by
    // _roster in credentials.json) logs her in.
    slapd.stop();
    let p = authenticate(&ns, ALICE.name, ALICE.password);
    assert_ok(&p);
    assert!(p.text.contains("cached credentials"), "{}", p.text);

    // A restart (as root again, dropping again) keeps the user's state.
    rd.restart();
    assert_eq!(ids_of(rd.pid().unwrap()).0, vec![user.uid; 4]);
    match rd.nss(&Request::UserByName(ALICE.name.into())) {
        Response::User(u) => assert_eq!(u.uid, ALICE.uid),
        other => panic!("alice offline after the restart: {other:?}"),
    }
}
