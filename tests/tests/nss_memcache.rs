//! The memory cache (`nss.mc`) end to end: rosterd publishes what it
//! answered, the module then answers without a round trip (shown by
//! freezing the daemon with SIGSTOP: cached names still resolve, others do
//! not), and every way of invalidating it works: a flush, a clean stop, a
//! restart after a crash, and the TTL.

mod nss_common;

use nss_common::{stdout, Env};
use roster_e2e::namespace::Namespace;
use roster_proto::memcache::MEMCACHE_FILE_NAME;

/// Freezes rosterd for the duration of `f` (SIGSTOP, then SIGCONT).
fn frozen<T>(env: &Env, f: impl FnOnce() -> T) -> T {
    let pid = env.rd.pid().expect("rosterd runs");
    // SAFETY: kill(2) on the PID of the daemon this test started.
    unsafe { libc::kill(pid, libc::SIGSTOP) };
    let out = f();
    // SAFETY: as above.
    unsafe { libc::kill(pid, libc::SIGCONT) };
    out
}

/// Exit code of `getent ARGS` under a generous outer bound.
fn getent(ns: &Namespace, args: &str) -> i32 {
    let out = ns.run(&format!("timeout 20 getent {args}; echo rc=$?"));
    stdout(&out)
        .lines()
        .filter_map(|l| l.strip_prefix("rc="))
        .next_back()
        .and_then(|v| v.parse().ok())
        .unwrap_or(-1)
}

// A short module timeout: lookups that must go to the frozen daemon give
// up quickly.
const FAST_TIMEOUT: &str = "[nss]\ntimeout_ms = 200\n";

#[test]
fn cached_answers_need_no_daemon_and_a_flush_withdraws_them() {
    let env = Env::start(FAST_TIMEOUT);
    let ns = env.ns();
    let mc = env.rd.socket_dir().join(MEMCACHE_FILE_NAME);
    assert!(mc.exists(), "rosterd publishes {}", mc.display());
    ns.run_ok("getent passwd alice && getent passwd 10002 && id alice && getent group mg0002");

    let (alice, bob, id, group, carol) = frozen(&env, || {
        (
            getent(&ns, "passwd alice"),
            getent(&ns, "passwd 10002"),
            ns.run("timeout 20 id alice"),
            getent(&ns, "group mg0002"),
            getent(&ns, "passwd carol"),
        )
    });
    assert_eq!(alice, 0, "alice by name from the memory cache");
    assert_eq!(bob, 0, "bob by UID from the memory cache");
    assert!(
        stdout(&id).contains("10010(engineers)"),
        "initgroups from the cache: {}",
        stdout(&id)
    );
    assert_eq!(group, 0, "group from the memory cache");
    assert_eq!(
        carol, 2,
        "never asked before: the frozen daemon cannot answer"
    );

    let reply = env.rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
    assert!(reply.contains("\"ok\":true"), "{reply}");
    let alice = frozen(&env, || getent(&ns, "passwd alice"));
    assert_eq!(alice, 2, "a flush empties the memory cache too");
}

#[test]
fn stop_crash_and_restart_invalidate_the_file() {
    let mut env = Env::start(FAST_TIMEOUT);
    let ns = env.ns();
    let mc = env.rd.socket_dir().join(MEMCACHE_FILE_NAME);
    ns.run_ok("getent passwd alice");
    env.rd.stop();
    assert!(!mc.exists(), "a clean stop removes the file");
    assert_eq!(getent(&ns, "passwd alice"), 2);

    env.rd.restart();
    ns.run_ok("getent passwd alice");
    env.rd.kill9();
    assert!(mc.exists(), "a crash leaves the file behind");
    // A restarted daemon starts with an empty, new file: nothing from the
    // previous one is served.
    env.rd.restart();
    let alice = frozen(&env, || getent(&ns, "passwd alice"));
    assert_eq!(alice, 2);
}

#[test]
fn entries_expire_with_the_cache_ttl() {
    let env = Env::start("[nss]\ntimeout_ms = 200\n\n[cache]\nentry_ttl = 3\n");
    let ns = env.ns();
    ns.run_ok("getent passwd alice");
    let (fresh, expired) = frozen(&env, || {
        let fresh = getent(&ns, "passwd alice");
        std::thread::sleep(std::time::Duration::from_millis(3500));
        (fresh, getent(&ns, "passwd alice"))
    });
    assert_eq!(fresh, 0);
    assert_eq!(expired, 2, "an expired entry is never served from the file");
}

#[test]
fn every_lookup_kind_is_published() {
    use roster_e2e::dataset::{ALICE, MANYGROUPS, MANY_GROUPS_COUNT};
    use roster_proto::memcache::{monotonic_ms, Key, Mapping, Record};
    let env = Env::start("");
    let ns = env.ns();
    ns.run_ok(&format!(
        "getent passwd {} && getent passwd {} && getent group mg0005 && getent group 30006 && \
         getent initgroups {}",
        ALICE.name, ALICE.uid, MANYGROUPS.name
    ));
    let m = Mapping::open(&env.rd.socket_dir().join(MEMCACHE_FILE_NAME)).expect("nss.mc");
    let now = monotonic_ms();
    for key in [
        Key::UserName(ALICE.name),
        Key::Uid(ALICE.uid),
        Key::GroupName("mg0005"),
        Key::Gid(30006),
    ] {
        assert!(m.get(&key, now).is_some(), "{key:?} not published");
    }
    match m.get(&Key::GroupsOf(MANYGROUPS.name), now) {
        Some(Record::Initgroups { gids, .. }) => {
            assert!(gids.len() >= MANY_GROUPS_COUNT as usize, "{}", gids.len())
        }
        other => panic!("initgroups of {} not published: {other:?}", MANYGROUPS.name),
    }
}
