//! When rosterd is stopped or hangs, the NSS module answers UNAVAIL within
//! its time bound, so `files` keeps working (root can log in) and directory
//! names are simply "not found".

use crate::nss_common;

use nss_common::{stdout, Env};
use roster_e2e::freeze::Frozen;

/// Runs `script` under `timeout 20` and returns its exit code: 124 means the
/// module hung far past its configured bound.
fn bounded(ns: &roster_e2e::namespace::Namespace, script: &str) -> (i32, String) {
    let out = ns.run(&format!("timeout 20 {script}; echo rc=$?"));
    let text = stdout(&out);
    let rc = text
        .lines()
        .filter_map(|l| l.strip_prefix("rc="))
        .next_back()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1);
    (rc, text)
}

#[test]
fn stopped_daemon_leaves_files_working() {
    let mut env = Env::start("");
    let ns = env.ns();
    assert!(ns.run_ok("getent passwd carol").starts_with("carol:"));
    env.rd.stop();
    assert!(ns.run_ok("getent passwd root").starts_with("root:x:0:0:"));
    assert!(ns.run_ok("id root").starts_with("uid=0(root)"));
    for script in [
        "getent passwd carol",
        "getent passwd alice",
        "getent passwd 10001",
        "getent group mg0000",
        "getent group 10010",
    ] {
        let (rc, text) = bounded(&ns, script);
        assert_eq!(rc, 2, "{script}: {text}");
    }
    let (rc, _) = bounded(&ns, "id alice");
    assert_eq!(rc, 1, "id of an unknown user fails");
}

#[test]
fn hung_daemon_is_abandoned_after_the_configured_timeout() {
    let env = Env::start("[nss]\ntimeout_ms = 300\n");
    let ns = env.ns();
    let pid = env.rd.pid().expect("rosterd runs");
    let frozen = Frozen::new(pid);
    let (rc_user, text_user) = bounded(&ns, "getent passwd dave");
    let (rc_root, text_root) = bounded(&ns, "getent passwd root");
    // Resumed so the fixture can stop it cleanly.
    drop(frozen);
    assert_eq!(rc_user, 2, "{text_user}");
    assert_eq!(rc_root, 0, "{text_root}");
    assert!(ns.run_ok("getent passwd dave").starts_with("dave:"));
}
