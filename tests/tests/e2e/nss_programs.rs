//! The NSS module inside programs that stress it: 16 threads looking up at
//! once, forked children (which must not reuse the parent's connection),
//! and callers whose buffer is too small (ERANGE, then a retry).

use crate::nss_common;

use nss_common::{build_probe, Env, PATIENT_NSS};
use roster_e2e::dataset::{self, ALICE, BIGGROUP_GID, BULK_USERS, MANY_GROUPS_GID_BASE};

#[test]
fn threads_forks_and_small_buffers_get_correct_answers() {
    let env = Env::start(PATIENT_NSS);
    let probe = build_probe(env.dir.path()).display().to_string();
    let ns = env.ns();
    let group = dataset::many_group(3);
    let gid = MANY_GROUPS_GID_BASE + 3;

    let out = ns.run_ok(&format!(
        "{probe} threads {} {} {group} {gid} 16 50",
        ALICE.name, ALICE.uid
    ));
    assert!(out.starts_with("ok 16 threads"), "{out}");

    let out = ns.run_ok(&format!("{probe} fork {} {}", ALICE.name, ALICE.uid));
    assert_eq!(out.trim(), "ok");

    // passwd: every buffer size from 1 byte up, ERANGE until it fits, never
    // a half-filled entry; group: 5,000 members need a large buffer.
    let out = ns.run_ok(&format!("{probe} erange {} biggroup", ALICE.name));
    assert!(out.trim_end().ends_with("ok"), "{out}");
    assert!(
        out.contains(&format!("with {BULK_USERS} members")),
        "biggroup ({BIGGROUP_GID}) must come back whole: {out}"
    );
}
