//! One timeout per outage (issue 11 item 3). When slapd stops answering —
//! killed (connections refused) or frozen with SIGSTOP (connections
//! accepted by the kernel and never answered) — the domain goes offline at
//! the first failure. From then on lookups and logins are answered from the
//! cache and the cached credentials without rosterd opening a connection
//! or sending a search (the status counters `connects` and `searches` stay
//! put) while the background probe (`probes`) retries the server; the
//! domain comes back online by itself once slapd answers again, and
//! `rosterctl status` shows the outage. No assertion on elapsed time: the
//! counters show that nothing waited on the directory.

use crate::pam_common;
use crate::rosterctl_common;

use pam_common::{assert_ok, authenticate, namespace, pamtester};
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{ALICE, BOB, CAROL};
use roster_e2e::freeze::{running_threads, Frozen};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Request, Response};
use serde_json::Value;
use std::time::Duration;

/// `entry_ttl = 0`: every lookup is a cache miss that would ask the
/// directory, so each one while offline shows whether it waits on it.
/// Short probe backoff so that recovery is quick.
fn config(slapd: &Slapd) -> String {
    let o = DomainOptions {
        transport: Transport::StartTls,
        extra: [
            "cache_credentials = true",
            "connect_timeout = 1",
            "op_timeout = 1",
            "offline_retry_initial = 0.2",
            "offline_retry_max = 0.5",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect(),
        ..DomainOptions::default()
    };
    format!(
        "[cache]\nentry_ttl = 0\nnegative_ttl = 0\noffline_max_age = 86400\n\n{}",
        domain_table(slapd, slapd.dir(), &o)
    )
}

/// How long a test waits for the domain's state to change.
const DOMAIN_WAIT: Duration = Duration::from_secs(60);

fn counter(st: &Value, key: &str) -> u64 {
    st[key].as_u64().unwrap_or_else(|| panic!("{key} in {st}"))
}

fn uid_of(r: Response) -> u32 {
    match r {
        Response::User(u) => u.uid,
        other => panic!("expected a user, got {other:?}"),
    }
}

/// The PID slapd wrote to its pid file.
fn slapd_pid(slapd: &Slapd) -> i32 {
    let text = std::fs::read_to_string(slapd.dir().join("slapd.pid")).expect("slapd.pid");
    text.trim().parse().expect("a PID in slapd.pid")
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) with the PID of the slapd this test started and a
    // valid signal number.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}

#[derive(Clone, Copy, PartialEq)]
enum Outage {
    /// SIGKILL: connections refused at once.
    Killed,
    /// SIGSTOP (every thread checked stopped, see [`Frozen`]): connections
    /// accepted by the kernel, never answered.
    Hung,
}

fn one_timeout_per_outage(outage: Outage) {
    let mut slapd = pam_common::slapd();
    let rd = Rosterd::start(&config(&slapd));
    let ns = namespace(&rd, "");

    // Online: alice logs in (her credential is cached) and is looked up.
    assert_ok(&pamtester(
        &ns,
        ALICE.name,
        "authenticate acct_mgmt",
        &[ALICE.password],
    ));
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    assert_eq!(uid_of(rd.nss(&Request::UserByUid(BOB.uid))), BOB.uid);
    let alice_groups = rd.nss(&Request::GroupsOfUser(ALICE.name.into()));
    assert!(
        matches!(alice_groups, Response::Gids(_)),
        "{alice_groups:?}"
    );
    assert_eq!(rd.domain_status()["online"], true);

    let frozen = match outage {
        Outage::Killed => {
            signal(slapd_pid(&slapd), libc::SIGKILL);
            None
        }
        Outage::Hung => Some(Frozen::new(slapd_pid(&slapd))),
    };

    // The first lookup meets the failure (refused, or op_timeout) and is
    // answered from the expired entry; the domain goes offline.
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
        ALICE.uid
    );
    // A slapd that runs again would answer, and nothing would fail.
    if let Some(f) = &frozen {
        let running = running_threads(f.pid());
        assert!(running.is_empty(), "slapd runs again: threads {running:?}");
    }
    let st = rd.wait_for_domain("went offline", DOMAIN_WAIT, |d| d["online"] == false);
    assert!(st["offline_since"].is_u64(), "{st}");
    let searches = counter(&st, "searches");
    let connects = counter(&st, "connects");

    // Offline: lookups and logins are answered without a connection
    // attempt or a search — none of them waits on the directory.
    for _ in 0..3 {
        assert_eq!(
            uid_of(rd.nss(&Request::UserByName(ALICE.name.into()))),
            ALICE.uid
        );
        assert_eq!(uid_of(rd.nss(&Request::UserByUid(BOB.uid))), BOB.uid);
        assert_eq!(
            rd.nss(&Request::GroupsOfUser(ALICE.name.into())),
            alice_groups
        );
        match rd.nss(&Request::UserByName(CAROL.name.into())) {
            Response::Unavailable(reason) => {
                assert!(reason.contains("example"), "{reason}")
            }
            other => panic!("uncached user while offline: {other:?}"),
        }
        let p = pamtester(&ns, ALICE.name, "authenticate acct_mgmt", &[ALICE.password]);
        assert_ok(&p);
        assert!(p.text.contains("cached credentials"), "{}", p.text);
    }
    let j: Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"lookup","kind":"user","key":"alice"}"#)).unwrap();
    assert_eq!(j["source"], "offline", "{j}");
    let st = rd.domain_status();
    assert_eq!(st["online"], false, "{st}");
    assert_eq!(
        counter(&st, "searches"),
        searches,
        "a search while offline: {st}"
    );
    assert_eq!(
        counter(&st, "connects"),
        connects,
        "a connection while offline: {st}"
    );

    // Meanwhile the background probe retries, again and again.
    let probes = counter(&st, "probes");
    let st = rd.wait_for_domain("probed twice more", DOMAIN_WAIT, |d| {
        d["probes"].as_u64().unwrap_or(0) >= probes + 2
    });
    assert_eq!(st["online"], false, "{st}");
    assert!(st["next_probe_in_ms"].is_u64(), "{st}");
    assert_eq!(counter(&st, "connects"), connects, "{st}");

    // rosterctl status shows the outage.
    let out = rosterctl_common::run(Some(&rd.config_path()), &["status"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("domain example: OFFLINE") && text.contains("offline since"),
        "{text}"
    );

    // slapd answers again: the probe brings the domain back by itself.
    match outage {
        Outage::Killed => {
            slapd.stop();
            slapd.start_again();
        }
        Outage::Hung => drop(frozen),
    }
    let st = rd.wait_for_domain("came back online", DOMAIN_WAIT, |d| d["online"] == true);
    assert!(st["offline_since"].is_null(), "{st}");
    assert!(st["next_probe_in_ms"].is_null(), "{st}");
    // New names resolve again, and logins are checked by the directory.
    assert_eq!(
        uid_of(rd.nss(&Request::UserByName(CAROL.name.into()))),
        CAROL.uid
    );
    assert!(counter(&rd.domain_status(), "searches") > searches);
    let before = rd
        .log()
        .matches("password accepted by the directory")
        .count();
    assert_ok(&authenticate(&ns, ALICE.name, ALICE.password));
    let after = rd
        .log()
        .matches("password accepted by the directory")
        .count();
    assert!(after > before, "{}", rd.log());
}

#[test]
fn killed_directory_one_failure_then_cache_until_the_probe_brings_it_back() {
    one_timeout_per_outage(Outage::Killed);
}

#[test]
fn hung_directory_one_timeout_then_cache_until_the_probe_brings_it_back() {
    one_timeout_per_outage(Outage::Hung);
}
