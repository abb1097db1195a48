//! Issue 18 and issue 10 item 5, end to end: hosts agree on every ID.
//!
//! - deterministic autorid: three hosts (own configuration and state
//!   directory) list the same domains in different orders, two of them
//!   built to collide, and map the same SIDs in different orders with
//!   `rosterctl idmap map`: identical dumps and exports; `rosterctl idmap
//!   diff` finds a disagreement planted in one export.
//! - first-seen autorid with `idmap_store = "ldap"` against the test slapd:
//!   three hosts meet the domains at the same moment, in different orders:
//!   identical dumps, one directory entry per block.
//! - sss and autorid tables recorded by rosterd: a restart with the domains
//!   in another order gives identical dumps; changed ranges make rosterd
//!   refuse to start naming the domain and `rosterctl idmap reset`, which
//!   asks for confirmation and, once done, lets rosterd start.

use crate::rosterctl_common;

use roster_e2e::config::toml_str;
use roster_e2e::dataset::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN};
use roster_e2e::rosterd::{rosterd_bin, Rosterd};
use roster_e2e::slapd::Slapd;
use roster_idmap::murmur::{murmurhash3_x86_32, SSS_SEED};
use rosterctl_common::{run, run_with_input, text};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

/// A domain SID `S-1-5-21-<a>-<b>-<n>` whose string hashes to the same
/// slot (mod `slots`) as `base`, searching `n` upwards.
fn twin_of(base: &str, slots: u32) -> String {
    let home = |s: &str| murmurhash3_x86_32(s.as_bytes(), SSS_SEED) % slots;
    let stem = base.rsplit_once('-').unwrap().0;
    (1..)
        .map(|n| format!("{stem}-{n}"))
        .find(|s| s != base && home(s) == home(base))
        .unwrap()
}

/// A simple deterministic shuffle.
fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    let mut x = seed;
    for i in (1..out.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.swap(i, (x >> 33) as usize % (i + 1));
    }
    out
}

/// One `[[domain]]` with an `[domain.idmap]` table of `idmap` lines.
fn domain(name: &str, uri: &str, extra: &[String], idmap: &[String]) -> String {
    let mut t = format!(
        "[[domain]]\nname = {}\nuris = [{}]\nbase_dn = {}\nconnect_timeout = 3\nop_timeout = 5\n",
        toml_str(name),
        toml_str(uri),
        toml_str(BASE_DN)
    );
    for l in extra {
        t.push_str(l);
        t.push('\n');
    }
    t.push_str("[domain.idmap]\n");
    for l in idmap {
        t.push_str(l);
        t.push('\n');
    }
    t.push('\n');
    t
}

/// Writes `dir/roster.toml` with `[daemon]` dirs inside `dir` and the
/// given domain tables; returns its path.
fn write_host(dir: &Path, domains: &str) -> PathBuf {
    let path = dir.join("roster.toml");
    let text = format!(
        "[daemon]\nsocket_dir = {}\nstate_dir = {}\n\n{domains}",
        toml_str(&dir.join("run").display().to_string()),
        toml_str(&dir.join("state").display().to_string())
    );
    std::fs::write(&path, text).unwrap();
    path
}

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `rosterctl idmap map` of `sids` (in that order), sorted.
fn map_dump(cfg: &Path, sids: &[String]) -> Vec<String> {
    let mut input = sids.join("\n");
    input.push('\n');
    let o = run_with_input(Some(cfg), &["idmap", "map"], &input);
    assert!(o.status.success(), "{}", text(&o));
    let mut v: Vec<String> = stdout(&o).lines().map(str::to_string).collect();
    v.sort();
    v
}

fn export(cfg: &Path) -> String {
    let o = run(Some(cfg), &["idmap", "export"]);
    assert!(o.status.success(), "{}", text(&o));
    stdout(&o)
}

const DET_SLOTS: u32 = 64;

#[test]
fn deterministic_autorid_hosts_agree_in_any_order_and_diff_names_a_planted_disagreement() {
    let first = "S-1-5-21-3926226244-17-1".to_string();
    let mut doms = vec![first.clone(), twin_of(&first, DET_SLOTS)];
    for i in 0..6 {
        doms.push(format!(
            "S-1-5-21-{}-{}-{}",
            700 + i,
            31 * i + 5,
            887 * i + 3
        ));
    }
    let table = |order: &[usize]| -> String {
        order
            .iter()
            .map(|&i| {
                domain(
                    &format!("ad{i}"),
                    "ldap://127.0.0.1:1",
                    &[],
                    &[
                        "backend = \"autorid\"".into(),
                        "autorid_low = 2000000".into(),
                        format!("autorid_high = {}", 2_000_000 + DET_SLOTS * 1000 - 1),
                        "rangesize = 1000".into(),
                        "deterministic = true".into(),
                        "deterministic_blocks = 4".into(),
                        format!("domain_sid = \"{}\"", doms[i]),
                    ],
                )
            })
            .collect()
    };
    let objects: Vec<String> = doms
        .iter()
        .flat_map(|d| [5, 999, 1007, 2500, 3999].map(|r| format!("{d}-{r}")))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let orders: [&[usize]; 3] = [
        &[0, 1, 2, 3, 4, 5, 6, 7],
        &[7, 6, 5, 4, 3, 2, 1, 0],
        &[1, 3, 5, 7, 0, 2, 4, 6],
    ];
    let cfgs: Vec<PathBuf> = (0..3)
        .map(|h| write_host(dirs[h].path(), &table(orders[h])))
        .collect();
    let dumps: Vec<Vec<String>> = (0..3)
        .map(|h| map_dump(&cfgs[h], &shuffled(&objects, h as u64 + 1)))
        .collect();
    assert_eq!(dumps[0].len(), objects.len());
    assert_eq!(dumps[0], dumps[1], "host 1 and host 2 disagree");
    assert_eq!(dumps[0], dumps[2], "host 1 and host 3 disagree");
    // The two colliding domains got different ranges.
    let id_of = |sid: &str| {
        dumps[0]
            .iter()
            .find(|l| l.starts_with(&format!("{sid}\t")))
            .unwrap()
            .split('\t')
            .nth(1)
            .unwrap()
            .to_string()
    };
    assert_ne!(
        id_of(&format!("{}-5", doms[0])),
        id_of(&format!("{}-5", doms[1]))
    );

    let exports: Vec<String> = cfgs.iter().map(|c| export(c)).collect();
    assert_eq!(exports[0], exports[1]);
    assert_eq!(exports[0], exports[2]);
    assert_eq!(exports[0].lines().count(), 1 + 8 * 4, "{}", exports[0]);

    // diff: agreement, then a planted disagreement.
    let file = dirs[0].path().join("host1.export");
    std::fs::write(&file, &exports[0]).unwrap();
    let o = run(Some(&cfgs[1]), &["idmap", "diff", file.to_str().unwrap()]);
    assert!(o.status.success(), "{}", text(&o));
    assert!(stdout(&o).contains("no disagreement"), "{}", text(&o));
    let mut lines: Vec<String> = exports[0].lines().map(str::to_string).collect();
    let victim = lines[3].clone();
    let (key, range) = victim.rsplit_once(' ').unwrap();
    let first_id: u32 = range.split('-').next().unwrap().parse().unwrap();
    let moved = 2_000_000 + (DET_SLOTS - 1) * 1000;
    let moved = if moved == first_id { 2_000_000 } else { moved };
    lines[3] = format!("{key} {moved}-{}", moved + 999);
    std::fs::write(&file, lines.join("\n") + "\n").unwrap();
    let o = run(Some(&cfgs[2]), &["idmap", "diff", file.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let (sid, block) = key.split_once(' ').unwrap();
    assert!(
        stdout(&o).contains(&format!(
            "block {block} of {sid}: IDs {first_id}-{} here, {moved}-{} in",
            first_id + 999,
            moved + 999
        )),
        "{}",
        text(&o)
    );
}

#[test]
fn ldap_store_hosts_meeting_domains_at_once_in_different_orders_agree() {
    let slapd = Slapd::start();
    slapd.ldapadd(&format!(
        "dn: ou=idmap,{BASE_DN}\nobjectClass: organizationalUnit\nou: idmap\n"
    ));
    let sids: Vec<String> = (0..6)
        .map(|i| format!("S-1-5-21-{}-{}-{}", 4100 + i, 52 * i + 1, 7 * i + 9))
        .collect();
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let table = |dir: &Path, order: &[usize]| -> String {
        let pw = slapd.write_bind_password_file(dir);
        order
            .iter()
            .map(|&i| {
                let mut idmap = vec![
                    "backend = \"autorid\"".to_string(),
                    "autorid_low = 3000000".into(),
                    "autorid_high = 3099999".into(),
                    "rangesize = 1000".into(),
                ];
                let mut extra = Vec::new();
                if i == 0 {
                    idmap.push("idmap_store = \"ldap\"".into());
                    idmap.push(format!("idmap_store_dn = \"ou=idmap,{BASE_DN}\""));
                    extra.push(format!("bind_dn = {}", toml_str(slapd.service_dn())));
                    // The test slapd listens on loopback without TLS.
                    extra.push("allow_insecure_bind = true".into());
                    extra.push(format!(
                        "bind_password_file = {}",
                        toml_str(&pw.display().to_string())
                    ));
                }
                domain(&format!("ad{i}"), &slapd.ldap_uri(), &extra, &idmap)
            })
            .collect()
    };
    let orders: [&[usize]; 3] = [
        &[0, 1, 2, 3, 4, 5],
        &[5, 4, 3, 2, 1, 0],
        &[3, 0, 5, 1, 4, 2],
    ];
    let cfgs: Vec<PathBuf> = (0..3)
        .map(|h| write_host(dirs[h].path(), &table(dirs[h].path(), orders[h])))
        .collect();
    // Three hosts meet every domain (and a block of large RIDs) at the
    // same moment, each in its own order.
    let barrier = Arc::new(Barrier::new(3));
    std::thread::scope(|sc| {
        for h in 0..3 {
            let b = barrier.clone();
            let cfg = cfgs[h].clone();
            let sids = &sids;
            let order = orders[h];
            sc.spawn(move || {
                let config = roster_daemon::config::Config::load(&cfg).unwrap();
                let set = config.build_idmap(Some(&config.daemon.state_dir)).unwrap();
                b.wait();
                for &i in order {
                    let s = sids[i].parse().unwrap();
                    set.set_domain_sid(&format!("ad{i}"), s).unwrap();
                    let obj = format!("{}-{}", sids[i], 5000 + i).parse().unwrap();
                    set.uid_for_sid(&obj).unwrap();
                }
            });
        }
    });
    let objects: Vec<String> = sids
        .iter()
        .flat_map(|d| [1, 513, 5000, 5001, 5002, 5003, 5004, 5005].map(|r| format!("{d}-{r}")))
        .collect();
    let dumps: Vec<Vec<String>> = (0..3)
        .map(|h| map_dump(&cfgs[h], &shuffled(&objects, h as u64 + 7)))
        .collect();
    assert!(dumps[0].iter().all(|l| !l.contains("\t-\t")), "{dumps:?}");
    assert_eq!(dumps[0], dumps[1]);
    assert_eq!(dumps[0], dumps[2]);
    let exports: Vec<String> = cfgs.iter().map(|c| export(c)).collect();
    assert_eq!(exports[0], exports[1]);
    assert_eq!(exports[0], exports[2]);
    // Exactly one directory entry per allocated block.
    let mut ldap = ldap3::LdapConn::new(&slapd.ldap_uri()).unwrap();
    ldap.simple_bind(ADMIN_DN, ADMIN_PASSWORD)
        .unwrap()
        .success()
        .unwrap();
    let (entries, _) = ldap
        .search(
            &format!("ou=idmap,{BASE_DN}"),
            ldap3::Scope::OneLevel,
            "(objectClass=nisObject)",
            vec!["nisMapEntry"],
        )
        .unwrap()
        .success()
        .unwrap();
    assert_eq!(entries.len(), 6 * 2, "{entries:?}");
    assert_eq!(exports[0].lines().count(), 1 + 6 * 2, "{}", exports[0]);
    // rosterd with the directory store: a configured domain SID is
    // allocated at start through the directory, a reload builds a new
    // store, and the host agrees with the others.
    let extra_sid = "S-1-5-21-4999-1-1";
    let pw = slapd.write_bind_password_file(dirs[0].path());
    let store_lines = |sid: Option<&str>| -> Vec<String> {
        let mut v = vec![
            "backend = \"autorid\"".to_string(),
            "autorid_low = 3000000".into(),
            "autorid_high = 3099999".into(),
            "rangesize = 1000".into(),
        ];
        if let Some(s) = sid {
            v.push(format!("domain_sid = \"{s}\""));
        }
        v
    };
    let mut rd_store = store_lines(None);
    rd_store.push("idmap_store = \"ldap\"".into());
    rd_store.push(format!("idmap_store_dn = \"ou=idmap,{BASE_DN}\""));
    let rd_cfg = domain(
        "ad0",
        &slapd.ldap_uri(),
        &[
            format!("bind_dn = {}", toml_str(slapd.service_dn())),
            format!(
                "bind_password_file = {}",
                toml_str(&pw.display().to_string())
            ),
            "allow_insecure_bind = true".into(),
        ],
        &rd_store,
    ) + &domain(
        "extra",
        &slapd.ldap_uri(),
        &[],
        &store_lines(Some(extra_sid)),
    );
    let mut rd = Rosterd::start(&rd_cfg);
    assert!(rd.reload(), "{}", rd.log());
    assert!(!rd.log().contains("panicked"), "{}", rd.log());
    let o = run_with_input(
        Some(&rd.config_path()),
        &["idmap", "map"],
        &format!("{extra_sid}-7\n"),
    );
    assert!(o.status.success(), "{}", text(&o));
    let extra_id = stdout(&o);
    rd.stop();
    let o = run_with_input(Some(&cfgs[2]), &["idmap", "export"], "");
    assert!(o.status.success(), "{}", text(&o));
    let first: u32 = extra_id.trim().split('\t').nth(1).unwrap().parse().unwrap();
    let slot_line = format!("{extra_sid} 0 {}-{}", first - 7, first - 7 + 999);
    assert!(stdout(&o).contains(&slot_line), "{}\n{slot_line}", text(&o));

    // rosterctl test warns about first-seen local stores on several domains.
    let local = tempfile::tempdir().unwrap();
    let lines = store_lines(None);
    let local_cfg = write_host(
        local.path(),
        &(domain("l1", &slapd.ldap_uri(), &[], &lines)
            + &domain("l2", &slapd.ldap_uri(), &[], &lines)),
    );
    let o = run(Some(&local_cfg), &["test", "l1"]);
    assert!(
        stdout(&o).contains("deterministic = false and a local store on 2 domains"),
        "{}",
        text(&o)
    );

    // A host whose local copy disagrees with the directory stops mapping
    // the domain and says so.
    let state = dirs[1].path().join("state").join("autorid-3000000.map");
    let local = std::fs::read_to_string(&state).unwrap();
    let mut lines: Vec<String> = local.lines().map(str::to_string).collect();
    let (a, b) = (lines[1].clone(), lines[2].clone());
    let swap = |l: &str, slot: &str| {
        let mut f: Vec<&str> = l.splitn(2, ' ').collect();
        f[0] = slot;
        f.join(" ")
    };
    lines[1] = swap(&b, a.split(' ').next().unwrap());
    lines[2] = swap(&a, b.split(' ').next().unwrap());
    std::fs::write(&state, lines.join("\n") + "\n").unwrap();
    let victim = a.split(' ').nth(1).unwrap();
    let o = run_with_input(Some(&cfgs[1]), &["idmap", "map"], &format!("{victim}-1\n"));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("disagree with directory store"),
        "{}",
        text(&o)
    );
}

/// Runs rosterd in the foreground on `cfg` and expects it to refuse to
/// start; returns its stderr.
fn refused_start(cfg: &Path) -> String {
    let mut child = std::process::Command::new(rosterd_bin())
        .args(["--foreground", "--config"])
        .arg(cfg)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let out = child.wait_with_output().unwrap();
            let err = String::from_utf8_lossy(&out.stderr).into_owned();
            assert!(!status.success(), "rosterd started: {err}");
            return err;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("rosterd did not refuse to start");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn recorded_sss_and_autorid_tables_survive_restarts_in_another_order_and_reset_works() {
    let slapd = Slapd::start();
    const SSS_SLICES: u32 = 100;
    let sa = "S-1-5-21-800-900-1000".to_string();
    let sb = twin_of(&sa, SSS_SLICES);
    let (xa, xb) = ("S-1-5-21-61-62-63", "S-1-5-21-71-72-73");
    let table = |order: &[&str], range_size: u32| -> String {
        order
            .iter()
            .map(|n| {
                let idmap: Vec<String> = match *n {
                    "sa" | "sb" => vec![
                        "backend = \"sss\"".into(),
                        "range_min = 200000".into(),
                        format!("range_max = {}", 200_000 + SSS_SLICES * range_size),
                        format!("range_size = {range_size}"),
                        format!("domain_sid = \"{}\"", if *n == "sa" { &sa } else { &sb }),
                    ],
                    _ => vec![
                        "backend = \"autorid\"".into(),
                        "autorid_low = 90000000".into(),
                        "autorid_high = 99999999".into(),
                        format!("domain_sid = \"{}\"", if *n == "xa" { xa } else { xb }),
                    ],
                };
                domain(n, &slapd.ldap_uri(), &[], &idmap)
            })
            .collect()
    };
    // sss: primary and secondary slices; autorid: the blocks rosterd
    // allocated (rosterctl answers from the record and allocates nothing).
    let objects: Vec<String> = [sa.as_str(), sb.as_str()]
        .iter()
        .flat_map(|d| [0, 512, 200_005, 400_009].map(|r| format!("{d}-{r}")))
        .chain(
            [xa, xb]
                .iter()
                .flat_map(|d| [0, 512, 99_999].map(|r| format!("{d}-{r}"))),
        )
        .collect();
    let mut rd = Rosterd::start(&table(&["sa", "sb", "xa", "xb"], 200_000));
    let before = map_dump(&rd.config_path(), &objects);
    let export_before = export(&rd.config_path());
    assert!(rd.state_dir().join("sss.map").is_file());

    // Restart with every domain listed (and so met) in another order.
    rd.stop();
    rd.write_config(&table(&["xb", "sb", "xa", "sa"], 200_000));
    rd.restart();
    assert_eq!(map_dump(&rd.config_path(), &shuffled(&objects, 3)), before);
    assert_eq!(export(&rd.config_path()), export_before);
    // Without the record that order gives other IDs: the test can fail.
    let fresh = tempfile::tempdir().unwrap();
    let fresh_cfg = write_host(fresh.path(), &table(&["xb", "sb", "xa", "sa"], 200_000));
    assert_ne!(map_dump(&fresh_cfg, &objects), before);

    // Changed ranges: rosterd refuses to start, naming the domain and the
    // command that resets it.
    rd.stop();
    rd.write_config(&table(&["sa", "sb", "xa", "xb"], 100_000));
    let err = refused_start(&rd.config_path());
    assert!(
        err.contains("domain \\\"sa\\\"") || err.contains("domain \"sa\""),
        "{err}"
    );
    assert!(err.contains("rosterctl idmap reset sa"), "{err}");

    // reset asks for confirmation; --yes is for scripts.
    let o = run(Some(&rd.config_path()), &["idmap", "reset", "sa"]);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("without confirmation"), "{}", text(&o));
    for d in ["sa", "sb"] {
        let o = run(Some(&rd.config_path()), &["idmap", "reset", d, "--yes"]);
        assert!(o.status.success(), "{}", text(&o));
        assert!(
            stdout(&o).contains(&format!("forgot the sss slices of domain \"{d}\"")),
            "{}",
            text(&o)
        );
    }
    rd.restart();
    let after = map_dump(&rd.config_path(), &objects);
    // The autorid domains kept their IDs; the sss ones were assigned anew.
    let auto = |d: &[String]| -> Vec<String> {
        d.iter()
            .filter(|l| l.starts_with(xa) || l.starts_with(xb))
            .cloned()
            .collect()
    };
    assert_eq!(auto(&after), auto(&before));
    assert_ne!(after, before);
}
