//! The memory cache (`nss.mc`) end to end: rosterd publishes what it
//! answered, the module then answers without a round trip (shown by
//! freezing the daemon with SIGSTOP: cached names still resolve, others do
//! not), and every way of invalidating it works: a flush, a clean stop, a
//! restart after a crash, and the TTL.

use crate::nss_common;

use nss_common::{stdout, Env};
use roster_e2e::freeze::Frozen;
use roster_e2e::memcache_file::{case_variants, records_in};
use roster_e2e::namespace::Namespace;
use roster_proto::memcache::MEMCACHE_FILE_NAME;

/// Freezes rosterd for the duration of `f` (SIGSTOP, then SIGCONT).
fn frozen<T>(env: &Env, f: impl FnOnce() -> T) -> T {
    let pid = env.rd.pid().expect("rosterd runs");
    let _frozen = Frozen::new(pid);
    f()
}

/// Waits (bounded) until rosterd has published `key`: it publishes an
/// answer just after sending it, so a record may land a moment after the
/// lookup's program exited.
fn wait_until_published(env: &Env, key: roster_proto::memcache::Key) {
    use roster_proto::memcache::{monotonic_ms, Mapping};
    let path = env.rd.socket_dir().join(MEMCACHE_FILE_NAME);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let m = Mapping::open(&path).expect("nss.mc");
        if m.get(&key, monotonic_ms()).is_some() {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{key:?} never published"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
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
    {
        use roster_proto::memcache::Key;
        for key in [
            Key::UserName("alice"),
            Key::Uid(10002),
            Key::GroupsOf("alice"),
            Key::GroupName("mg0002"),
        ] {
            wait_until_published(&env, key);
        }
    }

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

/// Names and IDs nobody has are answered "not found" from the file: with
/// `roster [NOTFOUND=return] files`, the namespace's local files (which
/// hold those names and IDs) are read only when roster is unavailable. With
/// rosterd frozen, the keys asked before still say "not found"; one never
/// asked reaches the local files after the module's timeout.
#[test]
fn names_nobody_has_are_answered_from_the_file() {
    use roster_proto::memcache::Key;
    let env = Env::start(FAST_TIMEOUT);
    let host = |f: &str| std::fs::read_to_string(format!("/etc/{f}")).expect("host file");
    let ns = env
        .ns()
        .nsswitch(
            "passwd: roster [NOTFOUND=return] files\n\
             group: roster [NOTFOUND=return] files\n\
             shadow: files\n",
        )
        .etc_file(
            "passwd",
            &(host("passwd")
                + "ghost:x:3900001:3900002::/:/bin/false\n\
                   ghost2:x:3900011:3900002::/:/bin/false\n"),
        )
        .etc_file(
            "group",
            &(host("group") + "ghosts:x:3900002:\nghosts2:x:3900012:\n"),
        );
    let asked = [
        "passwd ghost",
        "passwd 3900001",
        "group ghosts",
        "group 3900002",
    ];
    for a in asked {
        assert_eq!(getent(&ns, a), 2, "getent {a}: roster says not found");
    }
    // A local user's groups (Debian's `daemon`), for which rosterd says
    // "not found" (`initgroups_for_local_users` off), likewise.
    ns.run_ok("getent initgroups daemon");
    for key in [
        Key::UserName("ghost"),
        Key::Uid(3900001),
        Key::GroupName("ghosts"),
        Key::Gid(3900002),
        Key::GroupsOf("daemon"),
    ] {
        wait_until_published(&env, key);
    }
    let (again, never) = frozen(&env, || {
        let again: Vec<i32> = asked.iter().map(|a| getent(&ns, a)).collect();
        let never: Vec<i32> = ["passwd ghost2", "group 3900012"]
            .iter()
            .map(|a| getent(&ns, a))
            .collect();
        (again, never)
    });
    assert_eq!(again, [2; 4], "{asked:?} answered from nss.mc");
    assert_eq!(
        never,
        [0, 0],
        "keys never asked: roster unavailable, files found"
    );
}

/// A user created in the directory after a lookup said "no such user":
/// the memory cache's record answers until it expires or a flush, the
/// flush an admin runs after creating an account (`rosterctl cache
/// flush`), which shows the user at once.
#[test]
fn a_flush_shows_a_user_created_after_no_such_user() {
    use roster_e2e::dataset::{BASE_DN, USERS_GID};
    use roster_proto::memcache::Key;
    let env = Env::start("");
    let ns = env.ns();
    assert_eq!(getent(&ns, "passwd mcnewbie"), 2);
    wait_until_published(&env, Key::UserName("mcnewbie"));
    env.slapd.ldapadd(&format!(
        "dn: uid=mcnewbie,ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\n\
         objectClass: posixAccount\nuid: mcnewbie\ncn: mcnewbie\nsn: mcnewbie\n\
         uidNumber: 3900101\ngidNumber: {USERS_GID}\nhomeDirectory: /home/mcnewbie\n"
    ));
    // Within `negative_ttl` (60 s): still "no such user".
    assert_eq!(getent(&ns, "passwd mcnewbie"), 2);
    env.rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
    assert_eq!(getent(&ns, "passwd mcnewbie"), 0);
    assert_eq!(getent(&ns, "passwd 3900101"), 0);
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
    let env = Env::start("[nss]\ntimeout_ms = 200\n\n[cache]\nentry_ttl = 5\n");
    let ns = env.ns();
    ns.run_ok("getent passwd alice");
    wait_until_published(&env, roster_proto::memcache::Key::UserName("alice"));
    // The daemon stays frozen: the module answers from the file until the
    // entry's TTL has passed, then it must stop serving it (and, with no
    // daemon to ask, fail). Polled, with a bound far above the TTL.
    let (fresh, later) = frozen(&env, || {
        let fresh = getent(&ns, "passwd alice");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
        let mut later = Vec::new();
        loop {
            let rc = getent(&ns, "passwd alice");
            later.push(rc);
            if rc != 0 || std::time::Instant::now() > deadline {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        (fresh, later)
    });
    assert_eq!(fresh, 0);
    assert_eq!(
        later.last(),
        Some(&2),
        "an expired entry is never served from the file: {later:?}"
    );
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
    for key in [
        Key::UserName(ALICE.name),
        Key::Uid(ALICE.uid),
        Key::GroupName("mg0005"),
        Key::Gid(30006),
        Key::GroupsOf(MANYGROUPS.name),
    ] {
        wait_until_published(&env, key);
    }
    let m = Mapping::open(&env.rd.socket_dir().join(MEMCACHE_FILE_NAME)).expect("nss.mc");
    let now = monotonic_ms();
    match m.get(&Key::GroupsOf(MANYGROUPS.name), now) {
        Some(Record::Initgroups { gids, .. }) => {
            assert!(gids.len() >= MANY_GROUPS_COUNT as usize, "{}", gids.len())
        }
        other => panic!("initgroups of {} not published: {other:?}", MANYGROUPS.name),
    }
}

#[test]
fn case_variants_and_garbage_names_do_not_grow_the_file() {
    use roster_e2e::dataset::{bulk_user, many_group, NAMED_USERS};
    use roster_proto::memcache::Record;
    use std::collections::BTreeSet;
    const LOOKUPS: usize = 100_000;
    const BOUND: u64 = 2 << 20;
    const BULK_ASKED: u32 = 1000;
    let env = Env::start(&format!("[nss]\nmemcache_size = {BOUND}\n"));
    let ns = env.ns();
    let mc = env.rd.socket_dir().join(MEMCACHE_FILE_NAME);

    // Spellings the directory matches (case-insensitive attributes) but
    // that are not the served names, then names nobody has.
    let mut lookups = Vec::new();
    let mut existing: BTreeSet<String> = BTreeSet::new();
    let users: Vec<String> = NAMED_USERS
        .iter()
        .map(|u| u.name.to_string())
        .chain((1..=BULK_ASKED).map(bulk_user))
        .collect();
    for u in &users {
        existing.insert(u.clone());
        for v in case_variants(u) {
            lookups.push(format!("pwnam {v}"));
            lookups.push(format!("initgroups {v}"));
        }
    }
    for i in 0..1000 {
        let g = many_group(i);
        existing.insert(g.clone());
        lookups.extend(case_variants(&g).into_iter().map(|v| format!("grnam {v}")));
    }
    let variants = lookups.len();
    // The served names themselves, asked last: their records must be there.
    let canonical = [
        format!("pwnam {}", NAMED_USERS[0].name),
        format!("initgroups {}", NAMED_USERS[0].name),
        format!("grnam {}", many_group(1)),
    ];
    let ops = ["pwnam", "grnam", "initgroups"];
    let mut i = 0usize;
    while lookups.len() < LOOKUPS - canonical.len() {
        let garbage = match i % 4 {
            0 => format!("nosuch{i}"),
            1 => format!("Zz{i:x}Qq"),
            2 => format!("x.{i}-y_"),
            _ => format!("{i}garbage"),
        };
        lookups.push(format!("{} {garbage}", ops[i % 3]));
        i += 1;
    }
    lookups.extend(canonical);
    let distinct: BTreeSet<&String> = lookups.iter().collect();
    assert_eq!(
        distinct.len(),
        LOOKUPS,
        "{variants} case variants, the rest garbage"
    );

    let input = ns.scratch().join("lookups");
    std::fs::write(&input, lookups.join("\n") + "\n").expect("write lookups");
    let bin = env!("CARGO_BIN_EXE_nss_probe");
    // One unprivileged process asks everything (as nobody).
    let out = ns.run_ok(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {bin} < {}",
        input.display()
    ));
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), LOOKUPS);
    let found = answers
        .iter()
        .filter(|a| **a != "-" && !a.is_empty())
        .count();
    eprintln!(
        "{found} lookups found; first variant answers: {:?}",
        &answers[..4]
    );
    assert!(
        !answers.iter().any(|a| a.starts_with("error")),
        "every lookup answered: {:?}",
        answers.iter().find(|a| a.starts_with("error"))
    );

    let meta = std::fs::metadata(&mc).expect("nss.mc");
    {
        use std::os::unix::fs::MetadataExt;
        assert!(meta.len() <= BOUND, "nss.mc is {} bytes", meta.len());
        assert!(meta.blocks() * 512 <= BOUND, "{} blocks", meta.blocks());
    }
    // Only the served names have entries: not one per spelling asked;
    // each entry at most twice (republished once half its TTL has
    // passed). Spellings nobody has get "no such entry" records, at most
    // one for 16 slots of the file (2 MiB: 32,768 slots), the first asked;
    // none is carried over when the file is rebuilt.
    let records = records_in(&mc);
    let mut names = BTreeSet::new();
    let mut missing = Vec::new();
    for r in &records {
        let name = match r {
            Record::User(u) => &u.name,
            Record::Group(g) => &g.name,
            Record::Initgroups { user, .. } => user,
            Record::Missing(key) => {
                missing.push(key.clone());
                continue;
            }
        };
        assert!(
            existing.contains(name),
            "record for {name:?} (asked spelling?)"
        );
        names.insert(name.clone());
    }
    for name in [NAMED_USERS[0].name.to_string(), many_group(1)] {
        assert!(names.contains(&name), "{name} published");
    }
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Initgroups { user, .. } if user == NAMED_USERS[0].name)),
        "initgroups under the served name published"
    );
    let entries = records.len() - missing.len();
    assert!(
        entries <= 2 * existing.len(),
        "{entries} records for {} existing names",
        existing.len()
    );
    assert!(
        (1..=32_768 / 16).contains(&missing.len()),
        "{} \"no such entry\" records",
        missing.len()
    );
    // (Of the garbage, the case variants this RFC 2307 domain answers
    // "no such object" to, and a user named 65534 `setpriv` asks for;
    // never a served name.)
    for key in &missing {
        use roster_proto::memcache::OwnedKey;
        let name = match key {
            OwnedKey::UserName(n) | OwnedKey::GroupName(n) | OwnedKey::GroupsOf(n) => n,
            other => panic!("a \"no such entry\" record for {other:?}, never asked"),
        };
        assert!(
            !existing.contains(name),
            "a \"no such entry\" record for {name:?}"
        );
    }
    // Replaced files are unlinked; nothing else is left in the directory.
    let files: Vec<String> = std::fs::read_dir(env.rd.socket_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".mc") || n.contains("tmp"))
        .collect();
    assert_eq!(files, [MEMCACHE_FILE_NAME], "{files:?}");
    eprintln!(
        "{LOOKUPS} lookups ({variants} case variants): nss.mc {} bytes, {} records for {} names, {} of names nobody has",
        meta.len(),
        records.len(),
        names.len(),
        missing.len()
    );
}
