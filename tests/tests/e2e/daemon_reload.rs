//! SIGHUP and the admin `reload` command: new settings are applied and
//! published, a bad file is refused (the old configuration keeps serving),
//! and the cache of a domain whose settings did not change is kept.

use roster_e2e::dataset::{self, ALICE, BOB};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::memcache::{Mapping, MEMCACHE_FILE_NAME};
use roster_proto::{Request, Response};
use std::time::Duration;

fn config(slapd: &Slapd, min_id: u32, op_timeout: u32) -> String {
    let pw = slapd.write_bind_password_file(slapd.dir());
    format!(
        r#"
[nss]
min_id = {min_id}

[[domain]]
name = "example"
uris = ["{uri}"]
base_dn = "{base}"
bind_dn = "{svc}"
bind_password_file = "{pw}"
allow_insecure_bind = true
op_timeout = {op_timeout}
"#,
        uri = slapd.ldap_uri(),
        base = dataset::BASE_DN,
        svc = slapd.service_dn(),
        pw = pw.display(),
    )
}

fn entries(rd: &Rosterd) -> u64 {
    let j: serde_json::Value = serde_json::from_str(&rd.admin(r#"{"cmd":"cache_stats"}"#)).unwrap();
    j["stats"]["entries"].as_u64().unwrap()
}

#[test]
fn sighup_applies_good_configs_and_refuses_bad_ones() {
    let slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd, 1000, 5));
    assert!(matches!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::User(_)
    ));
    assert!(entries(&rd) > 0);

    // Only [nss] changes: the domain keeps its cache; min_id now hides alice.
    rd.write_config(&config(&slapd, 10002, 5));
    assert!(rd.reload());
    assert!(entries(&rd) > 0, "the unchanged domain kept its cache");
    assert_eq!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::NotFound
    );
    assert!(matches!(
        rd.nss(&Request::UserByName(BOB.name.into())),
        Response::User(_)
    ));
    let conf = std::fs::read_to_string(rd.socket_dir().join("nss.conf")).unwrap();
    assert!(conf.lines().any(|l| l == "min_id=10002"), "{conf}");
    // The memory cache written at the reload carries the same text: the
    // module takes its settings from there.
    let mc = Mapping::open(&rd.socket_dir().join(MEMCACHE_FILE_NAME)).unwrap();
    assert_eq!(mc.settings(), Some(conf.as_bytes()));

    // A broken file is refused and the running configuration stays.
    rd.write_config("[[domain]]\nname = \"example\"\nthis is not toml\n");
    assert!(!rd.reload());
    assert!(rd.log().contains("reload refused"));
    assert_eq!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::NotFound
    );
    assert!(matches!(
        rd.nss(&Request::UserByName(BOB.name.into())),
        Response::User(_)
    ));

    // The domain's own settings change: its cache is dropped.
    rd.write_config(&config(&slapd, 1000, 4));
    let j: serde_json::Value = serde_json::from_str(&rd.admin(r#"{"cmd":"reload"}"#)).unwrap();
    assert_eq!(j["ok"], true, "{j}");
    assert_eq!(entries(&rd), 0);
    assert!(matches!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::User(_)
    ));
    assert!(rd.is_running());
}

/// A domain a reload replaces is connected once the reload is applied,
/// before a lookup asks; one it keeps keeps its connection.
#[test]
fn a_reload_connects_the_domains_it_replaces_and_keeps_the_others_connections() {
    let slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd, 1000, 5));
    let connected = |rd: &Rosterd, what: &str| {
        rd.wait_for_domain(what, Duration::from_secs(30), |d| d["server"].is_string())
    };
    let st = connected(&rd, "the connection made at start");
    assert_eq!(st["connects"], 1, "{st}");

    // Only [nss] changes: the domain is kept, with its connection.
    rd.write_config(&config(&slapd, 10002, 5));
    assert!(rd.reload());
    let st = rd.domain_status();
    assert_eq!(st["connects"], 1, "the kept domain connected again: {st}");
    assert_eq!(st["searches"], 0, "{st}");

    // The domain's own settings change: the new one connects at once.
    rd.write_config(&config(&slapd, 1000, 4));
    assert!(rd.reload());
    let st = connected(&rd, "the replaced domain's connection");
    assert_eq!(st["connects"], 1, "{st}");
    assert_eq!(st["searches"], 0, "no lookup asked: {st}");
}

#[test]
fn reload_applies_the_log_level() {
    let slapd = Slapd::start();
    let mut rd = Rosterd::start(&config(&slapd, 1000, 5));
    let flushes = |rd: &Rosterd| rd.log().matches("cache flushed by admin command").count();
    rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
    assert_eq!(flushes(&rd), 1);
    let quiet = format!(
        "{}\n[daemon]\nsocket_dir = \"@SOCKET_DIR@\"\nstate_dir = \"@STATE_DIR@\"\nlog_level = \"warn\"\n",
        config(&slapd, 1000, 5)
    );
    rd.write_config(&quiet);
    assert!(rd.reload());
    rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
    assert_eq!(flushes(&rd), 1, "info lines are no longer logged");
    // A bad level is refused with the rest of the file.
    rd.write_config(&quiet.replace("\"warn\"", "\"loud=[\""));
    let j: serde_json::Value = serde_json::from_str(&rd.admin(r#"{"cmd":"reload"}"#)).unwrap();
    assert_eq!(j["ok"], false, "{j}");
    assert!(j["error"].as_str().unwrap().contains("log_level"), "{j}");
}

/// A reload opens the ID mapping again, taking each autorid pool's lock
/// file: while another process holds it, the reload waits (on a blocking
/// thread) and lookups go on being answered.
#[test]
fn a_reload_waiting_for_an_autorid_lock_file_holds_up_no_lookup() {
    let slapd = Slapd::start();
    // (A second domain, never asked, whose ID mapping is an autorid pool.)
    let text = format!(
        "{}[domain.idmap]\nrange_low = 1000\nrange_high = 999999\n\n\
         [[domain]]\nname = \"ad0\"\nkind = \"ad\"\nuris = [\"ldap://127.0.0.1:9\"]\n\
         base_dn = \"DC=ad0,DC=example,DC=test\"\n[domain.idmap]\nbackend = \"autorid\"\n\
         autorid_low = 1000000\nautorid_high = 1999999\n",
        config(&slapd, 1000, 5)
    );
    let rd = Rosterd::start(&text);
    assert!(matches!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::User(_)
    ));
    let pool =
        roster_idmap::store::StateFile::new(&rd.state_dir(), "autorid-1000000", false).unwrap();
    let held = pool.lock().unwrap();
    let logged = |what: &str| rd.log().matches(what).count();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let wait_for = |what: &str| {
        while logged(what) == 0 {
            assert!(std::time::Instant::now() < deadline, "{}", rd.log());
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    rd.signal(libc::SIGHUP);
    wait_for("SIGHUP: reloading");
    // A lookup the cache cannot answer is served while the reload waits.
    assert!(matches!(
        rd.nss(&Request::UserByName(BOB.name.into())),
        Response::User(_)
    ));
    assert_eq!(
        logged("configuration reloaded"),
        0,
        "the reload did not wait for the lock file"
    );
    drop(held);
    wait_for("configuration reloaded");
    assert!(matches!(
        rd.nss(&Request::UserByName(ALICE.name.into())),
        Response::User(_)
    ));
}
