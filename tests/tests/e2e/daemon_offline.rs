//! rosterd with the directory gone: cached entries are still answered,
//! uncached ones are Unavailable (not NotFound), also after a crash and
//! restart of the daemon (persistent cache), and everything comes back
//! when the directory does.

use roster_e2e::dataset::{self, ALICE, BOB, CAROL, STAFF_GID};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Request, Response};
use std::time::{Duration, Instant};

/// entry_ttl = 0: every answer is expired at once, so each lookup while
/// the directory is down exercises the offline path.
fn config(slapd: &Slapd) -> String {
    let pw = slapd.write_bind_password_file(slapd.dir());
    format!(
        r#"
[cache]
entry_ttl = 0
negative_ttl = 0
offline_max_age = 86400

[[domain]]
name = "example"
uris = ["{uri}"]
base_dn = "{base}"
bind_dn = "{svc}"
bind_password_file = "{pw}"
allow_insecure_bind = true
connect_timeout = 1
op_timeout = 2
offline_retry_initial = 0.2
offline_retry_max = 0.5
"#,
        uri = slapd.ldap_uri(),
        base = dataset::BASE_DN,
        svc = slapd.service_dn(),
        pw = pw.display(),
    )
}

fn uid_of(r: Response) -> u32 {
    match r {
        Response::User(u) => u.uid,
        other => panic!("expected a user, got {other:?}"),
    }
}

fn stats(rd: &Rosterd) -> serde_json::Value {
    let j: serde_json::Value = serde_json::from_str(&rd.admin(r#"{"cmd":"cache_stats"}"#)).unwrap();
    j["stats"].clone()
}

/// Waits until the write-behind persistent cache holds at least `n`
/// entries and has stopped growing: no lookup in flight and the same count
/// for [`SETTLED_POLLS`] polls in a row. The lookups of a test also store
/// entries it does not name (the ownership checks' lookups of a user by
/// UID, of each group by GID and by name), so reaching `n` alone does not
/// mean the entries a later offline answer needs are on disk.
fn wait_persisted(rd: &Rosterd, n: u64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    let (mut last, mut same) = (u64::MAX, 0);
    loop {
        let st = stats(rd);
        let count = st["persistent_entries"].as_u64().unwrap();
        let idle = st["lookups_in_flight"].as_u64() == Some(0);
        same = if count == last && idle { same + 1 } else { 0 };
        last = count;
        if count >= n && same >= SETTLED_POLLS {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "persistent cache below {n} or still growing: {st}"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// Polls (25 ms apart) without a change that make the persistent cache
/// settled: well past the store writer's 20 ms gathering window.
const SETTLED_POLLS: u32 = 10;

#[test]
fn cached_entries_survive_directory_outage_and_daemon_crash() {
    let mut slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd));
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    assert_eq!(uid_of(rd.nss(&Request::UserByUid(BOB.uid))), BOB.uid);
    let alice_groups = match rd.nss(&Request::GroupsOfUser(ALICE.name.into())) {
        Response::Gids(g) => g,
        other => panic!("{other:?}"),
    };
    assert!(matches!(
        rd.nss(&Request::GroupByGid(STAFF_GID)),
        Response::Group(_)
    ));
    // alice and bob by name and uid, alice's groups, engineers by name and gid.
    wait_persisted(&rd, 7);

    slapd.stop();
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(BOB.name.into()))),
        BOB.uid
    );
    match rd.nss(&Request::UserByName(CAROL.name.into())) {
        Response::Unavailable(reason) => assert!(reason.contains("example"), "{reason}"),
        other => panic!("uncached user with the directory down: {other:?}"),
    }
    assert!(matches!(
        rd.nss(&Request::UserByUid(CAROL.uid)),
        Response::Unavailable(_)
    ));
    let j: serde_json::Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"lookup","kind":"user","key":"alice"}"#)).unwrap();
    assert_eq!(j["source"], "offline");
    let st = rd.status(&rd.nss_socket());
    assert_eq!(st["domains"][0]["online"], false, "{st}");

    // A crash, and a restart with the directory still down.
    rd.kill9();
    rd.restart();
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    assert_eq!(uid_of(rd.nss(&Request::UserByUid(BOB.uid))), BOB.uid);
    assert_eq!(
        rd.nss(&Request::GroupsOfUser(ALICE.name.into())),
        Response::Gids(alice_groups)
    );
    match rd.nss(&Request::GroupByGid(STAFF_GID)) {
        Response::Group(g) => assert_eq!(g.name, "engineers"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rd.nss(&Request::UserByName(CAROL.name.into())),
        Response::Unavailable(_)
    ));

    // The directory comes back: new names resolve again.
    slapd.start_again();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match rd.nss(&Request::UserByName(CAROL.name.into())) {
            Response::User(u) => {
                assert_eq!(u.uid, CAROL.uid);
                break;
            }
            other => assert!(Instant::now() < deadline, "directory back, still {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_clean_stop_removes_the_sockets_and_keeps_the_cache() {
    let mut slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd));
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    rd.stop();
    assert!(!rd.nss_socket().exists() && !rd.pam_socket().exists());
    slapd.stop();
    rd.restart();
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
}

#[test]
fn kill9_while_writing_leaves_a_readable_consistent_cache() {
    let mut slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd));
    // A stream of cache misses, each written behind to the persistent
    // cache; the daemon is killed while the writes go on.
    let socket = rd.nss_socket();
    let writer = std::thread::spawn(move || {
        let mut answered = 0u32;
        for i in 1..=dataset::BULK_USERS {
            let req = Request::UserByName(dataset::bulk_user(i));
            match roster_proto::Client::request_once(&socket, &req, Duration::from_secs(10)) {
                Ok(Response::User(_)) => answered += 1,
                _ => break, // the daemon is gone
            }
        }
        answered
    });
    while stats(&rd)["persistent_entries"].as_u64().unwrap() < 400 {
        std::thread::sleep(Duration::from_millis(5));
    }
    rd.kill9();
    let answered = writer.join().unwrap();
    assert!(answered >= 200, "only {answered} answers before the kill");

    slapd.stop();
    rd.restart();
    let mut offline = 0;
    for i in 1..=answered {
        let name = dataset::bulk_user(i);
        match rd.nss(&Request::UserByName(name.clone())) {
            Response::User(u) => {
                assert_eq!(u.name, name);
                assert_eq!(u.uid, dataset::BULK_UID_BASE + i, "{name}");
                offline += 1;
            }
            Response::Unavailable(_) => {} // not yet written when killed
            other => panic!("{name}: {other:?}"),
        }
    }
    assert!(offline >= 200, "only {offline} users survived the crash");
    let log = rd.log();
    assert!(!log.contains("running without a persistent cache"), "{log}");
}
