//! Names and IDs with an LDAP domain (first) and the AD domain (second)
//! served at once, with colliding data (issue 10): one account per name
//! and per ID, local accounts win, and answers that never depend on what
//! was asked before, through the real NSS module.
//!
//! The local accounts are the host's own (Debian: user `backup` uid 34,
//! group `sudo` gid 27, `nobody` 65534): the daemon reads `/etc/passwd`
//! and `/etc/group` itself, and the tests never change them.

mod reload;

use super::{dc, pam_common, rid_backend, tail, DOMAIN_USERS_RID, RID_LOW};
use proptest::prelude::*;
use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::collections::BTreeMap;
use std::sync::{Mutex, OnceLock};

/// LDAP entries that collide with the AD domain and with local accounts.
fn colliding_ldif() -> String {
    let base = roster_e2e::dataset::BASE_DN;
    let user = |name: &str, uid: u32| {
        format!(
            "dn: uid={name},ou=people,{base}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
             uid: {name}\ncn: {name}\nsn: {name}\nuidNumber: {uid}\ngidNumber: 10000\n\
             homeDirectory: /home/{name}\nloginShell: /bin/sh\n\n"
        )
    };
    let group = |name: &str, gid: u32, members: &[&str]| {
        let mut g = format!(
            "dn: cn={name},ou=groups,{base}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
        );
        for m in members {
            g += &format!("memberUid: {m}\n");
        }
        g + "\n"
    };
    [
        user("backup", 20034),                          // a Debian local user's name
        user("lid", 34),                                // backup's local UID
        user("nob", 65534),                             // a reserved ID (nobody)
        user("Frank", 20100),                           // AD has "frank": another name here
        group("sudo", 20027, &["alice"]),               // a local group's name
        group("lgid", 27, &["alice"]),                  // sudo's local GID
        group("inner", 20010, &["alice", "carol"]),     // AD has "inner" too
        group("dirgroup", 20200, &["alice", "backup"]), // a local member
    ]
    .concat()
}

/// `[nss]` and the two domains: `example` (slapd, rfc2307 IDs 20-99999)
/// first, `ad` (the DC, rid backend) second.
fn config(slapd: &Slapd, dir: &std::path::Path) -> String {
    config_after(slapd, dir, "")
}

/// [`config`] with the `[[domain]]` tables `first` listed before both.
fn config_after(slapd: &Slapd, dir: &std::path::Path, first: &str) -> String {
    let o = DomainOptions {
        extra: vec![
            "min_id = 20".into(),
            "[domain.idmap]".into(),
            "backend = \"rfc2307\"".into(),
            "range_low = 20".into(),
            "range_high = 99999".into(),
        ],
        ..DomainOptions::default()
    };
    let ldap = domain_table(slapd, dir, &o);
    let ad = dc().domain_table(dir, "ad", &rid_backend());
    // A generous NSS time budget: a cold lookup of a user in AD's
    // 3,000-member group must not turn into "unavailable" on a loaded
    // test machine (answers are compared, not timed).
    format!("[nss]\nmin_id = 20\ntimeout_ms = 30000\n\n{first}{ldap}\n{ad}")
}

/// A slapd with the small sample data plus [`colliding_ldif`].
fn colliding_slapd() -> Slapd {
    Slapd::start_with_ldif(&format!("{}{}", pam_common::small_ldif(), colliding_ldif()))
}

/// One slapd and one rosterd for the tests that do not stop them.
struct Shared {
    _slapd: Slapd,
    rd: Rosterd,
    _dir: tempfile::TempDir,
    /// Lookups against the daemon in a namespace are serialised (the
    /// property test flushes the cache for its reference answers).
    lock: Mutex<()>,
}

fn shared() -> &'static Shared {
    static S: OnceLock<Shared> = OnceLock::new();
    S.get_or_init(|| {
        let slapd = colliding_slapd();
        let dir = tempfile::tempdir().expect("temp dir");
        let rd = Rosterd::start(&config(&slapd, dir.path()));
        Shared {
            _slapd: slapd,
            rd,
            _dir: dir,
            lock: Mutex::new(()),
        }
    })
}

/// A namespace whose passwd and group databases are roster's only, so that
/// every answer is the daemon's.
fn roster_only(rd: &Rosterd) -> Namespace {
    Namespace::new()
        .socket_dir(&rd.socket_dir())
        .nsswitch("passwd: roster\ngroup: roster\ninitgroups: roster\n")
}

/// Runs the lookups (`pwnam NAME`, `pwuid UID`, ...; see the nss_probe
/// binary) in one process inside `ns`; one answer per lookup.
fn probe(ns: &Namespace, lookups: &[String]) -> Vec<String> {
    let input = ns.scratch().join("lookups");
    std::fs::write(&input, lookups.join("\n") + "\n").expect("write lookups");
    let bin = env!("CARGO_BIN_EXE_nss_probe");
    let out = ns.run_ok(&format!("{bin} < {}", input.display()));
    let answers: Vec<String> = out.lines().map(str::to_owned).collect();
    assert_eq!(answers.len(), lookups.len(), "{out}");
    answers
}

fn rid(sam: &str) -> u32 {
    RID_LOW + dc().rid_of(sam)
}

/// Every key the data can be asked with: names, case variants, qualified
/// names, UIDs and GIDs (served, refused and unknown), initgroups.
fn keys() -> Vec<String> {
    let mut k = Vec::new();
    let names = [
        "alice",
        "ALICE",
        "Alice",
        "alice@ad",
        "ALICE@AD",
        "alice@example",
        "bob",
        "bob@ad",
        "carol",
        "dave",
        "dave@ad",
        "erin",
        "frank",
        "Frank",
        "FRANK",
        "frank@ad",
        "Frank@example",
        "backup",
        "BACKUP",
        "backup@example",
        "lid",
        "nob",
        "dup",
        "bulk0001",
        "BULK0002",
        "bulk0003@ad",
        "nosuchuser",
    ];
    for n in names {
        k.push(format!("pwnam {n}"));
        k.push(format!("initgroups {n}"));
    }
    let mut uids: Vec<u32> = vec![
        10001, 10002, 10003, 10004, 20034, 34, 65534, 20100, 10201, 10202, 424242,
    ];
    for sam in [
        "alice", "bob", "dave", "erin", "frank", "bulk0001", "bulk0002",
    ] {
        uids.push(rid(sam));
    }
    for u in uids {
        k.push(format!("pwuid {u}"));
    }
    let groups = [
        "members",
        "engineers",
        "sudo",
        "SUDO",
        "lgid",
        "inner",
        "INNER",
        "inner@ad",
        "inner@example",
        "outer",
        "Outer",
        "dirgroup",
        "domain_users",
        "Domain_Users",
        "unixgroup",
        "nosuchgroup",
    ];
    for g in groups {
        k.push(format!("grnam {g}"));
    }
    let mut gids: Vec<u32> = vec![10000, 10010, 20027, 27, 20010, 20200, 65534, 424242];
    gids.push(RID_LOW + DOMAIN_USERS_RID);
    for sam in ["inner", "outer", "unixgroup"] {
        gids.push(rid(sam));
    }
    for g in gids {
        k.push(format!("grgid {g}"));
    }
    k
}

fn answer_of<'a>(keys: &[String], answers: &'a [String], key: &str) -> &'a str {
    let i = keys
        .iter()
        .position(|k| k == key)
        .unwrap_or_else(|| panic!("{key}"));
    &answers[i]
}

#[test]
fn colliding_names_and_ids_each_mean_one_account() {
    let s = shared();
    let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
    let rd = &s.rd;
    let ns = roster_only(rd);
    // The issue's sequence: a case variant first must not change what the
    // short name means, for this process or the next (memory cache).
    let first = probe(&ns, &["pwnam ALICE".into(), "pwnam alice".into()]);
    assert_eq!(first, ["-", "alice:10001:10000"], "{}", tail(&rd.log()));
    assert_eq!(probe(&ns, &["pwnam alice".into()]), ["alice:10001:10000"]);

    let keys = keys();
    let answers = probe(&ns, &keys);
    let a = |k: &str| answer_of(&keys, &answers, k).to_string();
    let users_gid = RID_LOW + DOMAIN_USERS_RID;
    // alice: LDAP's by the short name; AD's only as alice@ad, also by UID.
    let ad_alice = format!("alice@ad:{}:{users_gid}", rid("alice"));
    assert_eq!(a("pwnam alice@ad"), ad_alice);
    assert_eq!(a("pwnam ALICE@AD"), ad_alice);
    assert_eq!(a(&format!("pwuid {}", rid("alice"))), ad_alice);
    assert_eq!(a("pwnam Alice"), "-");
    // frank: "Frank" is LDAP's, "frank" (any other spelling) AD's.
    assert_eq!(a("pwnam Frank"), "Frank:20100:10000");
    let ad_frank = format!("frank:{}:{users_gid}", rid("frank"));
    assert_eq!(a("pwnam frank"), ad_frank);
    assert_eq!(a("pwnam FRANK"), ad_frank);
    assert_eq!(a(&format!("pwuid {}", rid("frank"))), ad_frank);
    // A name, a UID and a group only a local account may have.
    for k in [
        "pwnam backup",
        "pwnam backup@example",
        "pwuid 20034",
        "pwnam lid",
        "pwuid 34",
    ] {
        assert_eq!(a(k), "-", "{k}");
    }
    for k in [
        "pwnam nob",
        "pwuid 65534",
        "grnam sudo",
        "grgid 20027",
        "grnam lgid",
        "grgid 27",
    ] {
        assert_eq!(a(k), "-", "{k}");
    }
    // Two entries named "dup" in LDAP: neither is served, by name or UID.
    for k in ["pwnam dup", "pwuid 10201", "pwuid 10202"] {
        assert_eq!(a(k), "-", "{k}");
    }
    // Groups: LDAP's inner owns the name; AD's is inner@ad, with its
    // members named as they are served.
    assert_eq!(a("grnam inner"), "inner:20010:alice,carol");
    let ad_inner = a(&format!("grgid {}", rid("inner")));
    assert_eq!(
        ad_inner,
        format!("inner@ad:{}:alice@ad,bob@ad", rid("inner"))
    );
    assert_eq!(a("grnam inner@ad"), ad_inner);
    assert_eq!(a("grnam INNER"), "-");
    // A local user never becomes a directory group's member.
    assert_eq!(a("grnam dirgroup"), "dirgroup:20200:alice");

    // The round trip, for everything served.
    let mut back = Vec::new();
    for (k, ans) in keys.iter().zip(&answers) {
        let f: Vec<&str> = ans.split(':').collect();
        if ans == "-" || f.len() < 3 || k.starts_with("initgroups") {
            continue;
        }
        if k.starts_with("pw") {
            back.push((
                format!("pwnam {}", f[0]),
                format!("pwuid {}", f[1]),
                ans.clone(),
            ));
        } else {
            back.push((
                format!("grnam {}", f[0]),
                format!("grgid {}", f[1]),
                ans.clone(),
            ));
        }
    }
    assert!(back.len() > 25, "{answers:?}");
    let lookups: Vec<String> = back
        .iter()
        .flat_map(|(n, i, _)| [n.clone(), i.clone()])
        .collect();
    let again = probe(&ns, &lookups);
    for (i, (n, id, want)) in back.iter().enumerate() {
        assert_eq!(&again[2 * i], want, "{n}");
        assert_eq!(&again[2 * i + 1], want, "{id}");
    }

    // Each refused entry is logged once, with its DN.
    let log = rd.log();
    for dn in [
        "uid=backup,ou=people,",
        "uid=lid,ou=people,",
        "uid=nob,ou=people,",
        "cn=sudo,ou=groups,",
    ] {
        let n = log
            .lines()
            .filter(|l| l.contains("directory entry not served") && l.contains(dn))
            .count();
        assert_eq!(n, 1, "{dn}:\n{}", tail(&log));
    }
}

#[test]
fn a_local_user_gets_no_directory_groups() {
    let s = shared();
    let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
    let ns = Namespace::new().socket_dir(&s.rd.socket_dir());
    // `backup` is local (and in LDAP's dirgroup and a directory user's
    // name): `id` shows the local groups only.
    let local = ns.run_ok("id -G backup");
    let with_roster: Vec<u32> = local
        .split_whitespace()
        .map(|g| g.parse().expect("a GID"))
        .collect();
    assert!(with_roster.iter().all(|g| *g < 1000), "{local}");
    let files_only = Namespace::new()
        .nsswitch("passwd: files\ngroup: files\n")
        .run_ok("id -G backup");
    assert_eq!(local, files_only);
    // A directory user does get its groups.
    let alice = ns.run_ok("id -G alice");
    assert!(alice.split_whitespace().any(|g| g == "20200"), "{alice}");
    assert!(
        !alice.split_whitespace().any(|g| g == "20027" || g == "27"),
        "{alice}"
    );
}

/// Answers of `keys`, each asked first in a daemon with empty caches.
fn fresh_answers(rd: &Rosterd, ns: &Namespace, keys: &[String]) -> BTreeMap<String, String> {
    let mut m = BTreeMap::new();
    for k in keys {
        rd.admin(r#"{"cmd": "cache_flush", "all": true}"#);
        m.insert(k.clone(), probe(ns, std::slice::from_ref(k)).remove(0));
    }
    m
}

fn reference() -> &'static BTreeMap<String, String> {
    static R: OnceLock<BTreeMap<String, String>> = OnceLock::new();
    R.get_or_init(|| {
        let s = shared();
        let ns = roster_only(&s.rd);
        fresh_answers(&s.rd, &ns, &keys())
    })
}

/// Sequences per NSS process (the property test runs ten processes).
const SEQUENCES_PER_PROCESS: usize = 100;

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 10,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// 1,000 random sequences of lookups (names, case variants, qualified
    /// names, UIDs, GIDs, initgroups) through the real NSS module, 100 per
    /// process, against a daemon that keeps whatever earlier sequences
    /// asked: every answer is the one the same key got first in a fresh
    /// daemon.
    #[test]
    fn any_sequence_of_lookups_gets_the_fresh_answers(
        seqs in proptest::collection::vec(
            proptest::collection::vec(any::<prop::sample::Index>(), 1..12),
            SEQUENCES_PER_PROCESS,
        )
    ) {
        let keys = keys();
        let want = reference();
        let s = shared();
        let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
        let lookups: Vec<String> = seqs
            .iter()
            .flatten()
            .map(|i| keys[i.index(keys.len())].clone())
            .collect();
        let got = probe(&roster_only(&s.rd), &lookups);
        for (n, (k, g)) in lookups.iter().zip(&got).enumerate() {
            prop_assert_eq!(g, &want[k], "{} (lookup {} of {:?})", k, n, lookups);
        }
    }
}

#[test]
fn a_restart_with_the_first_domain_down_keeps_every_owner() {
    let mut slapd = colliding_slapd();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rd = Rosterd::start(&config(&slapd, dir.path()));
    let keys = keys();
    let dump = |rd: &Rosterd| {
        let ns = roster_only(rd);
        probe(&ns, &keys)
    };
    let before = dump(&rd);
    assert_eq!(dump(&rd), before, "a second pass (cached) answers the same");
    slapd.stop();
    rd.restart();
    let after = dump(&rd);
    let mut diff = Vec::new();
    for ((k, b), a) in keys.iter().zip(&before).zip(&after) {
        // Names nobody holds cannot be told from "LDAP holds it" while
        // LDAP is down: those only may turn from "-" into an error.
        let unknown =
            (b == "-" || b.is_empty()) && (a.starts_with("error") || a == "-" || a.is_empty());
        if b != a && !unknown {
            diff.push(format!("{k}: {b} -> {a}"));
        }
    }
    assert!(
        diff.is_empty(),
        "DIFF {}\n{}",
        diff.join("\n"),
        tail(&rd.log())
    );
    let served = before.iter().filter(|a| *a != "-" && !a.is_empty()).count();
    assert!(served > 30, "{before:?}");
}

#[test]
fn rosterctl_test_lists_entries_local_accounts_shadow() {
    let s = shared();
    let bin = roster_e2e::rosterd::rosterd_bin().with_file_name("rosterctl");
    let out = std::process::Command::new(&bin)
        .arg("--config")
        .arg(s.rd.config_path())
        .args(["test", "example", "--json"])
        .output()
        .expect("run rosterctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let d = &v["domains"][0];
    let reason_of = |list: &str, dn: &str| {
        d[list]
            .as_array()
            .unwrap_or_else(|| panic!("{list}: {text}"))
            .iter()
            .find(|r| r["dn"].as_str().unwrap_or("").starts_with(dn))
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
            .unwrap_or_else(|| panic!("{dn} not listed: {text}"))
    };
    assert!(reason_of("rejected_users", "uid=backup,").contains("local user"));
    assert!(reason_of("rejected_users", "uid=lid,").contains("uid 34"));
    assert!(reason_of("rejected_users", "uid=nob,").contains("reserved"));
    assert!(reason_of("rejected_groups", "cn=sudo,").contains("local group"));
    assert!(reason_of("rejected_groups", "cn=lgid,").contains("gid 27"));
}

#[test]
fn rosterctl_status_shows_refused_entries_to_root_only() {
    let s = shared();
    let _g = s.lock.lock().unwrap_or_else(|e| e.into_inner());
    // Lookups that meet refused entries: a local user's name, a local UID,
    // a reserved UID, a local group's name.
    let ns = roster_only(&s.rd);
    let refusing = ["pwnam backup", "pwuid 34", "pwuid 65534", "grnam sudo"].map(String::from);
    assert!(probe(&ns, &refusing).iter().all(|a| a == "-"));
    let bin = roster_e2e::rosterd::rosterd_bin().with_file_name("rosterctl");
    let status = |json: bool| {
        let mut cmd = std::process::Command::new(&bin);
        cmd.arg("--config").arg(s.rd.config_path()).arg("status");
        if json {
            cmd.arg("--json");
        }
        let out = cmd.output().expect("run rosterctl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = status(true);
    let v: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let list = v["refused_entries"]
        .as_array()
        .unwrap_or_else(|| panic!("no refused_entries: {text}"));
    let reason_of = |dn: &str| {
        list.iter()
            .find(|e| e["dn"].as_str().unwrap_or("").starts_with(dn))
            .map(|e| {
                assert_eq!(e["domain"], "example", "{e}");
                e["reason"].as_str().unwrap_or("").to_string()
            })
            .unwrap_or_else(|| panic!("{dn} not listed: {text}"))
    };
    assert!(reason_of("uid=backup,").contains("local user"), "{text}");
    assert!(reason_of("uid=lid,").contains("uid 34"), "{text}");
    assert!(reason_of("uid=nob,").contains("reserved"), "{text}");
    assert!(reason_of("cn=sudo,").contains("local group"), "{text}");

    let human = status(false);
    let count = format!("refused entries: {}\n", list.len());
    assert!(human.contains(&count), "{human}");
    // The short list starts with the first entry (sorted by domain, DN).
    let first = format!(
        "  domain {}: {}: {}\n",
        list[0]["domain"].as_str().unwrap_or("?"),
        list[0]["dn"].as_str().unwrap_or("?"),
        list[0]["reason"].as_str().unwrap_or("?")
    );
    assert!(human.contains(&first), "{first}\n{human}");

    // nss.sock (world-accessible) answers the redacted document.
    let public = s.rd.status(&s.rd.nss_socket()).to_string();
    assert!(!public.contains("refused"), "{public}");
    assert!(!public.contains("uid=backup"), "{public}");
}

/// Case variants of AD names (each answered with the one entry, in AD's
/// canonical lower case) asked by an unprivileged user add records only
/// under the served names: none per spelling (issue 15).
#[test]
fn case_variants_publish_only_served_names_in_the_memory_cache() {
    use roster_e2e::memcache_file::{case_variants, records_in};
    use roster_proto::memcache::{Record, MEMCACHE_FILE_NAME};
    let s = shared();
    let _serial = s.lock.lock().unwrap_or_else(|e| e.into_inner());
    let ns = roster_only(&s.rd);
    let mut lookups = Vec::new();
    let mut served = std::collections::BTreeSet::new();
    for name in std::iter::once("erin".to_string()).chain((1..=200).map(|i| format!("bulk{i:04}")))
    {
        for v in case_variants(&name) {
            lookups.push(format!("pwnam {v}"));
            lookups.push(format!("initgroups {v}"));
        }
        served.insert(name);
    }
    lookups.push("pwnam erin".into());
    lookups.push("initgroups erin".into());
    let input = ns.scratch().join("variants");
    std::fs::write(&input, lookups.join("\n") + "\n").expect("write lookups");
    let bin = env!("CARGO_BIN_EXE_nss_probe");
    let out = ns.run_ok(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups {bin} < {}",
        input.display()
    ));
    let answers: Vec<&str> = out.lines().collect();
    assert_eq!(answers.len(), lookups.len());
    for (lookup, answer) in lookups.iter().zip(&answers) {
        if let Some(name) = lookup.strip_prefix("pwnam ") {
            let lower = name.to_ascii_lowercase();
            assert!(
                answer.starts_with(&format!("{lower}:")),
                "{lookup}: {answer} (the served entry)"
            );
        }
    }
    let records = records_in(&s.rd.socket_dir().join(MEMCACHE_FILE_NAME));
    let mut per_name = BTreeMap::<String, usize>::new();
    for r in &records {
        let name = match r {
            Record::User(u) => &u.name,
            Record::Group(g) => &g.name,
            Record::Initgroups { user, .. } => user,
            // (A name nobody has, asked by another test.)
            Record::Missing(_) => continue,
        };
        // Only the names asked here: the shared daemon also serves other
        // tests' entries, such as the LDAP user `Frank` under its own name.
        if !served.contains(&name.to_ascii_lowercase()) {
            continue;
        }
        assert!(
            !name.chars().any(|c| c.is_ascii_uppercase()),
            "a record under an asked spelling: {name}"
        );
        *per_name.entry(name.clone()).or_default() += 1;
    }
    for name in &served {
        let n = per_name.get(name).copied().unwrap_or(0);
        assert!(
            n <= 4,
            "{name}: {n} records for {} spellings asked",
            2 * case_variants(name).len()
        );
    }
    assert!(
        records
            .iter()
            .any(|r| matches!(r, Record::Initgroups { user, .. } if user == "erin")),
        "initgroups asked under the served name is published"
    );
}
