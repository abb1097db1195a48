//! rosterd's memory stays bounded under concurrent logins with
//! `cache_credentials = true`: online logins store argon2id hashes, and
//! those run on one bounded worker reusing one memory block, so 200
//! logins, 8 at a time, grow the daemon's RSS by less than two argon2
//! blocks (before, each concurrent hash had a block of its own on another
//! thread, and the threads' malloc arenas kept them). A memory bound, not
//! a timing assertion.

use crate::pam_common;

use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::NAMED_USERS;
use roster_e2e::rosterd::Rosterd;
use roster_proto::{PamCode, Request, Response, Secret};

/// `[cache] credential_hash_memory_kib` of the test: one block is this
/// many KiB.
const HASH_MEMORY_KIB: u64 = 8192;
const LOGINS: usize = 200;
const PARALLEL: usize = 8;

/// A field of `/proc/PID/status`, in kB.
fn proc_status_kib(pid: i32, field: &str) -> u64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    text.lines()
        .find_map(|l| {
            let rest = l.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
        .unwrap_or_else(|| panic!("no {field} in /proc/{pid}/status"))
}

fn login(rd: &Rosterd, user: &str, password: &str) -> PamCode {
    let req = Request::PamAuthenticate {
        user: user.into(),
        service: "roster-memory-test".into(),
        rhost: String::new(),
        password: Secret::from(password),
    };
    match rd.pam(&req) {
        Response::Pam(reply) => reply.code,
        other => panic!("{user}: unexpected answer {other:?}"),
    }
}

/// `count` logins spread over `PARALLEL` threads, each picking users in
/// turn; `good` chooses the right or a wrong password.
fn logins(rd: &Rosterd, count: usize, good: bool) {
    std::thread::scope(|s| {
        for t in 0..PARALLEL {
            s.spawn(move || {
                for i in (t..count).step_by(PARALLEL) {
                    let u = &NAMED_USERS[i % NAMED_USERS.len()];
                    let (pw, want) = if good {
                        (u.password, PamCode::Success)
                    } else {
                        ("not-the-password", PamCode::AuthErr)
                    };
                    assert_eq!(login(rd, u.name, pw), want, "{} login {i}", u.name);
                }
            });
        }
    });
}

#[test]
fn two_hundred_logins_eight_at_a_time_grow_rss_by_less_than_two_argon2_blocks() {
    let slapd = pam_common::slapd();
    let scratch = tempfile::tempdir().unwrap();
    let opts = DomainOptions {
        transport: Transport::StartTls,
        extra: vec!["cache_credentials = true".into()],
        ..Default::default()
    };
    let config = format!(
        "[cache]\ncredential_hash_memory_kib = {HASH_MEMORY_KIB}\ncredential_hash_iterations = 2\n\n{}",
        domain_table(&slapd, scratch.path(), &opts)
    );
    let rd = Rosterd::start(&config);
    let pid = rd.pid().expect("rosterd pid");

    // Connections, TLS sessions and the users' cache entries exist before
    // the baseline: wrong passwords reach the directory without any argon2
    // work (and delete no hash: none is cached yet).
    logins(&rd, 2 * PARALLEL, false);
    let before = proc_status_kib(pid, "VmRSS");

    logins(&rd, LOGINS, true);
    // Each verifier is computed after its login was answered (a user's
    // later logins with the same password find it current and compute
    // none); a refused login deletes the user's hash, or keeps one still
    // queued from being stored.
    logins(&rd, NAMED_USERS.len(), false);
    let after = proc_status_kib(pid, "VmRSS");
    let peak = proc_status_kib(pid, "VmHWM");

    let block_kib = HASH_MEMORY_KIB; // argon2 blocks are 1 KiB each
    let grown = after.saturating_sub(before);
    eprintln!(
        "rosterd RSS: {before} kB before, {after} kB after {LOGINS} logins ({PARALLEL} at a time), \
         peak {peak} kB; one argon2 block = {block_kib} KiB"
    );
    assert!(
        grown < 2 * block_kib,
        "RSS grew by {grown} kB (from {before} to {after}), more than 2 argon2 blocks of {block_kib} KiB\n{}",
        rd.log().lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    let log = rd.log();
    assert!(!log.contains("cannot cache credentials"), "{log}");
    assert!(log.contains("cached password deleted"), "{log}");
}
