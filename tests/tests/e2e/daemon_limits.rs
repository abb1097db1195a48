//! rosterd under hostile local clients: one unprivileged user opening
//! 10,000 connections to nss.sock (each sending half a frame and stalling)
//! neither starves another user's lookup nor runs the daemon out of
//! descriptors: connections over the limits are refused at once, not held.

use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::dataset::ALICE;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Stdio};

/// The attacker and an ordinary user: unprivileged UIDs with no account.
const FLOODER_UID: u32 = 64011;
const OTHER_UID: u32 = 64012;
/// Connections the flooder opens.
const FLOOD: usize = 10_000;

fn peer() -> &'static str {
    env!("CARGO_BIN_EXE_roster-peer")
}

fn open_descriptors(pid: i32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
}

/// Lets unprivileged users reach the daemon's socket directory (the test's
/// temporary directories are private by default).
fn open_to_everyone(rd: &Rosterd) {
    for dir in [rd.dir(), rd.socket_dir().as_path()] {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
}

fn lookup_as(uid: u32, socket: &Path, name: &str) -> String {
    let out = Command::new(peer())
        .args(["lookup", &uid.to_string()])
        .arg(socket)
        .arg(name)
        .output()
        .expect("run roster-peer lookup");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn ten_thousand_connections_from_one_user_cost_others_nothing() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    let rd = Rosterd::start(&domain_table(&slapd, dir.path(), &DomainOptions::default()));
    open_to_everyone(&rd);
    let pid = rd.pid().expect("rosterd runs");
    let socket = rd.nss_socket();
    // The ordinary user is served before the flood.
    let before = lookup_as(OTHER_UID, &socket, ALICE.name);
    assert!(before.starts_with("User("), "{before}");
    let baseline = open_descriptors(pid);

    let mut flooder = Command::new(peer())
        .args(["flood", &FLOODER_UID.to_string()])
        .arg(&socket)
        .arg(FLOOD.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start roster-peer flood");
    let mut line = String::new();
    BufReader::new(flooder.stdout.take().unwrap())
        .read_line(&mut line)
        .expect("flooder reports");
    assert_eq!(line.trim(), format!("open {FLOOD}"), "the flood happened");
    // The flooder really holds its 10,000 connections open now.
    assert!(open_descriptors(flooder.id() as i32) >= FLOOD);

    // Another user's lookup is answered (a name not asked before, so the
    // answer comes from the directory through the daemon).
    let during = lookup_as(OTHER_UID, &socket, "bob");
    // rosterd holds at most the flooder's per-UID share of connections.
    let held = open_descriptors(pid);
    drop(flooder.stdin.take());
    let _ = flooder.wait();

    assert!(during.starts_with("User("), "{during}\n{}", rd.log());
    let per_uid = rosterd::server::Limits::default().max_connections_per_uid;
    assert!(
        held <= baseline + per_uid + 4,
        "rosterd holds {held} descriptors during the flood (before: {baseline}, per-UID limit {per_uid})"
    );
    // The refusals were logged, not one line per connection.
    let log = rd.log();
    let lines = log
        .lines()
        .filter(|l| l.contains("connections refused"))
        .count();
    assert!((1..100).contains(&lines), "{lines} refusal lines:\n{log}");
    assert!(
        log.contains(&format!("peer_uid=Some({FLOODER_UID})")),
        "{log}"
    );
}
