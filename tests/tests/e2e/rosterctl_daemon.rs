//! rosterctl against a real rosterd and slapd: `status`, `lookup` (with the
//! answer's source and DN), `cache stats|flush`, `domain disable|enable`
//! with the daemon reloading, `idmap map`, and `status` once it stopped.

use crate::rosterctl_common;

use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{ALICE, STAFF_GID};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use rosterctl_common::{json, rosterctl_bin, text};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Output, Stdio};

fn rosterctl(config: &Path, args: &[&str], stdin: &str) -> Output {
    rosterctl_common::run_with_input(Some(config), args, stdin)
}

fn ok_json(config: &Path, args: &[&str]) -> Value {
    let mut full = vec!["--json"];
    full.extend_from_slice(args);
    let out = rosterctl(config, &full, "");
    assert_eq!(out.status.code(), Some(0), "{args:?}: {}", text(&out));
    json(&out)
}

#[test]
fn rosterctl_drives_a_running_daemon() {
    let slapd = Slapd::start();
    let scratch = tempfile::tempdir().unwrap();
    let opts = DomainOptions {
        transport: Transport::StartTls,
        ..Default::default()
    };
    let mut rd = Rosterd::start(&domain_table(&slapd, scratch.path(), &opts));
    let cfg = rd.config_path();

    // status
    let st = ok_json(&cfg, &["status"]);
    assert_eq!(st["running"], Value::Bool(true));
    assert_eq!(st["domains"][0]["name"], "example", "{st}");
    assert!(st["cache"]["entries"].is_u64(), "{st}");
    // The daemon's own memory, threads and descriptors, from /proc.
    assert!(st["process"]["rss_kib"].as_u64().unwrap() > 1000, "{st}");
    assert!(st["process"]["threads"].as_u64().unwrap() >= 2, "{st}");
    assert!(st["process"]["fds"].as_u64().unwrap() >= 3, "{st}");
    let out = rosterctl(&cfg, &["status"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.starts_with("rosterd ") && t.contains(" is running"),
        "{t}"
    );
    assert!(t.contains("domain example: "), "{t}");
    assert!(t.contains("hit rate"), "{t}");
    assert!(t.contains("\nmemory: RSS ") && t.contains(" MiB"), "{t}");

    // lookup: first from the directory, then from the cache, with the DN.
    let first = ok_json(&cfg, &["lookup", "user", "alice"]);
    assert_eq!(first["found"], Value::Bool(true), "{first}");
    assert_eq!(first["dn"], ALICE.dn, "{first}");
    assert_eq!(first["source"], "directory", "{first}");
    assert_eq!(first["entry"]["uid"], ALICE.uid, "{first}");
    let again = ok_json(&cfg, &["lookup", "user", &ALICE.uid.to_string()]);
    assert_eq!(again["entry"]["name"], "alice", "{again}");
    let cached = ok_json(&cfg, &["lookup", "user", "alice"]);
    assert_eq!(cached["source"], "cache", "{cached}");
    let out = rosterctl(&cfg, &["lookup", "user", "alice"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("source: cache") && t.contains(&format!("dn: {}", ALICE.dn)),
        "{t}"
    );
    let staff = ok_json(&cfg, &["lookup", "group", "engineers"]);
    assert_eq!(staff["entry"]["gid"], STAFF_GID, "{staff}");
    let out = rosterctl(&cfg, &["lookup", "user", "nosuchuser"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));
    // SIDs are looked up in AD domains (tests/tests/e2e/ad.rs): none here.
    let out = rosterctl(&cfg, &["lookup", "sid", "S-1-5-21-1-2-3-1104"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("not found"), "{}", text(&out));

    // cache stats and flush: a flushed user comes from the directory again.
    // (An answer on nss.sock is published to the memory cache.)
    assert!(matches!(
        rd.nss(&roster_proto::Request::UserByName("alice".into())),
        roster_proto::Response::User(_)
    ));
    let stats = ok_json(&cfg, &["cache", "stats"]);
    assert!(stats["stats"]["entries"].as_u64().unwrap() >= 1, "{stats}");
    assert!(stats["stats"]["hits"].as_u64().unwrap() >= 1, "{stats}");
    // The memory cache: its file, size within the configured bound, fill.
    let mc = &stats["stats"]["memory_cache"];
    assert_eq!(
        mc["path"],
        rd.socket_dir().join("nss.mc").display().to_string(),
        "{stats}"
    );
    let file_bytes = mc["file_bytes"].as_u64().unwrap();
    assert_eq!(
        file_bytes,
        std::fs::metadata(rd.socket_dir().join("nss.mc"))
            .unwrap()
            .len(),
        "{stats}"
    );
    assert!(file_bytes <= mc["size_limit"].as_u64().unwrap(), "{stats}");
    assert!(mc["records_bytes"].as_u64().unwrap() > 0, "{stats}");
    assert!(
        mc["records_bytes"].as_u64() <= mc["records_capacity"].as_u64(),
        "{stats}"
    );
    let out = rosterctl(&cfg, &["cache", "stats"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.contains("  memory cache: ") && t.contains("([nss] memcache_size)"),
        "{t}"
    );
    let out = rosterctl(&cfg, &["cache", "flush", "--user", "alice"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("flushed user alice"), "{}", text(&out));
    let after = ok_json(&cfg, &["lookup", "user", "alice"]);
    assert_eq!(after["source"], "directory", "{after}");
    ok_json(&cfg, &["cache", "flush", "--group", "engineers"]);
    let all = ok_json(&cfg, &["cache", "flush", "--all"]);
    assert!(all["flushed"].is_u64(), "{all}");
    let flushed = ok_json(&cfg, &["cache", "stats"]);
    assert_eq!(flushed["stats"]["entries"], 0);
    assert_eq!(flushed["stats"]["memory_cache"]["records_bytes"], 0);

    // domain disable: the daemon reloads and stops serving it; enable again.
    let out = rosterctl(&cfg, &["domain", "disable", "example"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("rosterd reloaded"), "{}", text(&out));
    let out = rosterctl(&cfg, &["lookup", "user", "alice"], "");
    assert_ne!(
        out.status.code(),
        Some(0),
        "a disabled domain serves nothing: {}",
        text(&out)
    );
    let out = rosterctl(&cfg, &["domain", "enable", "example"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let back = ok_json(&cfg, &["lookup", "user", "alice"]);
    assert_eq!(back["found"], Value::Bool(true), "{back}");

    // idmap map: an rfc2307 domain maps no SIDs; junk is named as such.
    let out = rosterctl(&cfg, &["idmap", "map"], "S-1-5-21-1-2-3-500\nnot-a-sid\n\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = t.lines().collect();
    assert_eq!(lines.len(), 2, "{t}");
    assert!(lines[0].starts_with("S-1-5-21-1-2-3-500\t-\t"), "{t}");
    assert!(lines[1].starts_with("not-a-sid\t-\t"), "{t}");
    let out = rosterctl(&cfg, &["--json", "idmap", "map"], "nonsense\n");
    let v = json(&out);
    assert_eq!(v["invalid"], 1, "{v}");
    assert_eq!(v["results"][0]["input"], "nonsense", "{v}");

    // Admin commands need root: as nobody, pam.sock is out of reach.
    let out = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(rosterctl_bin())
        .arg("--socket-dir")
        .arg(rd.socket_dir())
        .args(["cache", "stats"])
        .stdin(Stdio::null())
        .output()
        .expect("run setpriv");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("needs root"), "{}", text(&out));

    // Once stopped: "not running", exit 1.
    rd.stop();
    let out = rosterctl(&cfg, &["status"], "");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("rosterd is not running"));
    let out = rosterctl(&cfg, &["domain", "disable", "example"], "");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("not running"), "{}", text(&out));
}
