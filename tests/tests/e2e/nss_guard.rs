//! The NSS module in hostile hands: the loop guard set by a user in the
//! environment of a setuid program changes nothing there, and a hung
//! daemon costs a process one timeout, not one per lookup.

use crate::nss_common;

use nss_common::{stdout, Env};
use roster_e2e::dataset::{ALICE, STAFF_GID};
use roster_e2e::freeze::Frozen;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;

/// `groups USER`: prints `secure=N` (AT_SECURE) and the user's group IDs,
/// one per line, or `no user`. `lookups NAME...`: getpwnam for each name in
/// this one process, printing `NAME found|notfound|error`.
const GUARD_PROBE_C: &str = r#"
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "groups") == 0) {
        printf("secure=%lu\n", getauxval(AT_SECURE));
        struct passwd *pw = getpwnam(argv[2]);
        if (!pw) { printf("no user\n"); return 0; }
        gid_t groups[256];
        int n = 256;
        if (getgrouplist(argv[2], pw->pw_gid, groups, &n) < 0) { printf("too many\n"); return 1; }
        for (int i = 0; i < n; i++) printf("%u\n", (unsigned)groups[i]);
        return 0;
    }
    if (argc >= 3 && strcmp(argv[1], "lookups") == 0) {
        for (int i = 2; i < argc; i++) {
            errno = 0;
            struct passwd *pw = getpwnam(argv[i]);
            printf("%s %s\n", argv[i], pw ? "found" : errno ? "error" : "notfound");
        }
        return 0;
    }
    fprintf(stderr, "usage: guard-probe groups USER | lookups NAME...\n");
    return 2;
}
"#;

/// An unprivileged UID with no account.
const USER_UID: u32 = 64013;

fn build(dir: &Path) -> std::path::PathBuf {
    roster_e2e::cc::compile(dir, "guard-probe", GUARD_PROBE_C, &[])
}

fn gids(text: &str) -> Vec<u32> {
    text.lines().filter_map(|l| l.parse().ok()).collect()
}

#[test]
fn the_loop_guard_set_by_a_user_is_ignored_by_a_setuid_program() {
    let env = Env::start("");
    let ns = env.ns();
    std::fs::set_permissions(env.rd.socket_dir(), std::fs::Permissions::from_mode(0o755)).unwrap();
    // The programs live in a directory every user can reach: one setuid
    // root, one plain copy.
    let progs = ns.scratch().join("progs");
    std::fs::create_dir(&progs).unwrap();
    std::fs::set_permissions(ns.scratch(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&progs, std::fs::Permissions::from_mode(0o755)).unwrap();
    let plain = build(&progs);
    let setuid = progs.join("guard-probe-setuid");
    std::fs::copy(&plain, &setuid).unwrap();
    std::os::unix::fs::chown(&setuid, Some(0), Some(0)).unwrap();
    std::fs::set_permissions(&setuid, std::fs::Permissions::from_mode(0o4755)).unwrap();
    let as_user = |prog: &Path, guard: bool| {
        let set = if guard {
            "_ROSTER_NSS_LOOP_GUARD=1"
        } else {
            ""
        };
        stdout(&ns.run(&format!(
            "setpriv --reuid={USER_UID} --regid={USER_UID} --clear-groups env {set} {} groups {}",
            prog.display(),
            ALICE.name
        )))
    };

    // The setuid program, the guard set by the user: alice's directory
    // groups are all there.
    let text = as_user(&setuid, true);
    assert!(text.starts_with("secure=1"), "{text}");
    let groups = gids(&text);
    assert!(
        groups.contains(&STAFF_GID) && groups.contains(&ALICE.gid),
        "{text}"
    );
    assert_eq!(
        groups,
        gids(&as_user(&setuid, false)),
        "same as without the guard"
    );

    // The same variable in an ordinary process still keeps the module out
    // (what rosterd relies on): the directory user is unknown there.
    let text = as_user(&plain, true);
    assert!(
        text.starts_with("secure=0") && text.contains("no user"),
        "{text}"
    );
    let text = as_user(&plain, false);
    assert!(gids(&text).contains(&STAFF_GID), "{text}");
}

/// Pending connections in the listen queue of `socket` (`ss`'s Recv-Q of
/// a listening socket): while rosterd is stopped, each one is a call that
/// reached the socket.
fn pending_connections(socket: &Path) -> usize {
    let out = Command::new("ss")
        .args(["-xlH", "src"])
        .arg(socket)
        .output()
        .expect("run ss");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains(&*socket.to_string_lossy()))
        .unwrap_or_else(|| panic!("{} not listed by ss: {text}", socket.display()));
    line.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no Recv-Q in {line:?}"))
}

#[test]
fn a_hung_daemon_costs_one_timeout_then_unavailable_at_once() {
    let env = Env::start("[nss]\ntimeout_ms = 300\n");
    let ns = env.ns();
    let probe = build(ns.scratch());
    let socket = env.rd.nss_socket();
    let pid = env.rd.pid().expect("rosterd runs");
    let frozen = Frozen::new(pid);
    let before = pending_connections(&socket);
    // Five names never asked before (so not in the memory cache), in one
    // process: the first call times out, the others are skipped.
    let names = ["hung1", "hung2", "hung3", "hung4", "hung5"];
    let one = stdout(&ns.run(&format!("{} lookups {}", probe.display(), names.join(" "))));
    let after_one = pending_connections(&socket);
    // The same five in five processes: each pays (back-off is per process).
    for n in names {
        ns.run(&format!("{} lookups {n}", probe.display()));
    }
    let after_five = pending_connections(&socket);
    drop(frozen);

    for n in names {
        assert!(
            one.contains(&format!("{n} error")) || one.contains(&format!("{n} notfound")),
            "{one}"
        );
    }
    assert_eq!(after_one - before, 1, "one process, five lookups: {one}");
    assert_eq!(after_five - after_one, 5, "five processes");
    // Resumed, the daemon answers again.
    assert!(ns.run_ok("getent passwd dave").starts_with("dave:"));
}
