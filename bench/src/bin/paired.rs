//! roster's and nslcd's first lookups in pairs: both daemons running in
//! one private mount namespace against the same slapd (StartTLS, the
//! sample directory), one process calling the two NSS modules' functions
//! straight (`_nss_roster_*` and `_nss_ldap_*`, `dlopen`ed) one after the
//! other, each on a user or group its daemon was never asked (getpwnam,
//! getpwuid, getgrnam; and initgroups of a user in one group, looked up
//! by name first, unmeasured, as `id` and a login ask, then of users not
//! looked up, as `getent initgroups` asks; and, with a tenth as many
//! pairs, the first lookups of 5,000-member groups and the initgroups of
//! users in 1,000 groups, their entries added to the sample directory for
//! it; and, with a quarter as many pairs, getpwnam as the first
//! lookup of a new process, one started for each lookup, which glibc's
//! NSS serves through `files roster` or `files ldap`, loading the module
//! for it, as `getent passwd NAME` or `id NAME` does: the process's own
//! time for it, its time on a CPU and its faults, as the side-by-side
//! benchmark's `oncecost`; every row starts and ends once rosterd has
//! recorded what its lookups left). The two timed
//! lookups of a pair come one right after the other (in the initgroups
//! row, the second module's lookup by name between them), so a shared
//! machine's drift, which moves the side-by-side benchmark's sequential
//! rows by 20–40% from run to run, falls on both; the figure is the
//! median of the pairs' ratios, with how many pairs roster was faster
//! in, each peer's 99th percentile and each daemon's time on a CPU a
//! lookup (all its threads, over the row). Which module goes first
//! alternates from pair to pair. (The modules are called without glibc's
//! dispatch and `files`, but in the `process` row: the times are not
//! those of the side-by-side tables. In the `process` row "back to back"
//! still leaves the few milliseconds a process takes to start between
//! two lookups.)
//! Run as root: `cargo run --release -p roster-bench --bin paired`
//! (packages `nslcd` and `libnss-ldapd`, as `make bench` installs them).
//! It exits non-zero, after its tables, when one of roster's lookups
//! failed or rosterd's work after a row was not done in time (the run is
//! no result then; nslcd's failures are marked in their rows only).
//! Each row runs twice: the lookups back to back (as the side-by-side
//! benchmark's rows; rosterd's work after its answers, which waits for
//! a pause, then mostly runs after the row), then each after [`GAP`] of
//! idleness (as sporadic lookups come). `PAIRED_COUNT=N`: pairs a row
//! back to back (default 300, at least 2; half as many with the gap).
//! `ROSTER_BENCH_MODULE=PATH` calls (and loads, in the `process` row)
//! another build's `libnss_roster.so` instead of this one's.
//! `PAIRED_ROWS=KEY,...`: only those rows (`name`, `uid`, `group`,
//! `initgroups`, `initgroups_alone`, `biggroup`, `manygroups`, `process`).
//! `PAIRED_SCHED=FILE`: the run is recorded with `perf record` (package
//! `linux-perf`; the scheduler's wake-ups and switches on all CPUs, into
//! FILE), and each row with one search a lookup is cut into the parts
//! [`roster_bench::sched`] names: a table per pass of their medians for
//! each daemon, and where the threads ran. `ROSTER_BENCH_CALLGRIND=DIR`:
//! rosterd runs under callgrind, its counts zeroed once its census is
//! taken and dumped after the rows (the times then mean nothing;
//! `bench/hot-code.sh` reads the dump). `PAIRED_PAGES=N`: after the
//! timed passes, N more lookups of each daemon in each one-search row,
//! untimed, each after [`GAP`] of idleness, counting the memory its
//! daemon touched for it ([`roster_bench::pages`]: code and data, from
//! the lookup to [`AFTER_ANSWER`] after it), and the same by mapping (the
//! heap, the stack, each binary's code and data).

use roster_bench::nss_fn::{
    dlopen_module, getgrnam, getpwnam, getpwuid, initgroups_answer, initgroups_dyn, sym, GetGrNam,
    GetPwNam, GetPwUid, GidArray, InitgroupsDyn,
};
use roster_bench::pages;
use roster_bench::peer::{
    prepare, run_driver, sched_ns, wait_for_census, wait_for_recording, Daemon, Peer, Setup,
};
use roster_bench::profile::{callgrind_dir, Instructions, Recording};
use roster_bench::sched::{self, Window};
use roster_bench::setup::{build_release, load_average};
use roster_bench::stats::{median, percentile};
use roster_e2e::dataset::{
    self, bulk_user, many_group, ALICE, BIGGROUP_GID, BULK_UID_BASE, BULK_USERS, MANY_GROUPS_COUNT,
    USERS_GID,
};
use roster_e2e::slapd::Slapd;
use std::collections::BTreeMap;
use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// The idle time before each lookup of the second pass: longer than
/// what either daemon does after an answer (rosterd records a group's
/// members once its replies pause 10 ms, and its store writes what came
/// within 20 ms, then syncs), so that each lookup starts from an idle
/// machine and none pays for the one before.
const GAP: Duration = Duration::from_millis(60);

/// How long after a lookup its daemon's touched memory is counted
/// (`PAIRED_PAGES`): rosterd's work right after an answer (publishing
/// it to the memory cache) included, its store's write 20 ms later not.
const AFTER_ANSWER: Duration = Duration::from_millis(2);

/// `PAIRED_PAGES`: the untimed lookups of each daemon a one-search row
/// whose touched memory is counted (0 when unset).
fn pages_lookups() -> u32 {
    std::env::var("PAIRED_PAGES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The pause after a row once rosterd has recorded what it left: its
/// store's writes of those records (within 20 ms) and their sync.
const SETTLE: Duration = Duration::from_millis(200);

/// Waits (60 s at most) until rosterd has recorded what its lookups
/// left, then [`SETTLE`]: false when it had not by then.
fn settle() -> bool {
    let recorded = wait_for_recording(Duration::from_secs(60)).is_some();
    std::thread::sleep(SETTLE);
    recorded
}

/// nslcd's module, as Debian's libnss-ldapd installs it.
fn nslcd_module() -> String {
    format!("/lib/{}/libnss_ldap.so.2", roster_e2e::paths::multiarch())
}

/// A row of large answers ([`LARGE_ROWS`]) has the other rows' pairs
/// divided by this: each of its lookups moves thousands of names.
const LARGE_SHARE: u32 = 10;
/// The groups of the `biggroup` row, `pbg000`.. (added to the sample
/// directory), from this GID: each has the same [`BIG_MEMBERS`] members.
const BIG_GROUP_GID_BASE: u32 = 40_000;
/// Members of each group of the `biggroup` row: as many as the sample
/// directory's `biggroup` has, users `pbu0001`.. added for them (the
/// bulk users are the other rows', each in one group).
const BIG_MEMBERS: u32 = BULK_USERS;
/// The first of those members' UIDs minus one.
const BIG_MEMBER_UID_BASE: u32 = 43_000;
/// The users of the `manygroups` row, `pmu000`.. (added), from this UID;
/// their primary group is `members`.
const MANY_USER_UID_BASE: u32 = 41_000;
/// The [`MANY_GROUPS_COUNT`] groups `pmg0000`.. (added) every user of
/// the `manygroups` row is a member of, from this GID.
const MANY_GROUP_GID_BASE: u32 = 42_000;
/// The users of the `process` row, `ppu000`.. (added), from this UID;
/// their primary group is `members`.
const PROCESS_UID_BASE: u32 = 49_000;

/// The row whose lookups are each the first of a new process: glibc
/// loads the module for it, which makes its connection to its daemon.
const PROCESS_ROW: &str = "process";
/// The `process` row has the other rows' pairs divided by this (a
/// process is started for each lookup, a few milliseconds each).
const PROCESS_SHARE: u32 = 4;

/// The rows of large answers: a 5,000-member group's first lookup and
/// the first initgroups of a user in 1,000 groups (as the side-by-side
/// benchmark's, which asks one of each).
const LARGE_ROWS: [&str; 2] = ["biggroup", "manygroups"];

/// The rows: (key, what is looked up).
const ROWS: [(&str, &str); 8] = [
    ("name", "getpwnam of users nobody asked"),
    ("uid", "getpwuid of other users nobody asked"),
    ("group", "getgrnam of groups nobody asked (one member each)"),
    (
        "initgroups",
        "initgroups of other users, each just looked up by name",
    ),
    (
        "initgroups_alone",
        "initgroups of other users nobody asked (not looked up first)",
    ),
    ("biggroup", "getgrnam of 5,000-member groups nobody asked"),
    (
        "manygroups",
        "initgroups of users in 1,000 groups nobody asked",
    ),
    (
        PROCESS_ROW,
        "getpwnam of users nobody asked, each the first lookup of a new process (`files SOURCE`)",
    ),
];

/// The rows `PAIRED_ROWS` names (keys, comma-separated; all when unset):
/// `key` is one of them.
fn asked(key: &str) -> bool {
    std::env::var("PAIRED_ROWS").map_or(true, |rows| rows.split(',').any(|r| r.trim() == key))
}

/// Pairs of a row in a pass whose other rows have `pairs` (at least 1).
fn row_pairs(key: &str, pairs: u32) -> u32 {
    if LARGE_ROWS.contains(&key) {
        (pairs / LARGE_SHARE).max(1)
    } else if key == PROCESS_ROW {
        (pairs / PROCESS_SHARE).max(1)
    } else {
        pairs
    }
}

/// The keys a row asks with `count` pairs back to back: its pairs of both
/// passes, two keys each (for the large rows and the `process` row, whose
/// entries are added for them).
fn pass_keys(key: &str, count: u32) -> u32 {
    2 * (row_pairs(key, count) + row_pairs(key, count / 2))
}

/// The keys each other row asks with `count` pairs back to back (its
/// pairs of both passes, two keys each, and the [`pages_lookups`] of
/// each daemon), when the sample directory holds that many for each of
/// them (`count` at least 2): at most a quarter of the bulk users (four
/// rows ask users) and the 1,000 groups `mg0000`.. (so at most 98 keys a
/// large row: their names have three digits).
fn row_keys(count: u32) -> Option<u32> {
    let keys = count
        .checked_add(count / 2)?
        .checked_add(pages_lookups())?
        .checked_mul(2)?;
    (count >= 2 && keys <= BULK_USERS / 4 && keys <= dataset::MANY_GROUPS_COUNT).then_some(keys)
}

/// Group `k` of the `biggroup` row.
fn big_group(k: u32) -> String {
    format!("pbg{k:03}")
}

/// User `k` of the `process` row.
fn process_user(k: u32) -> String {
    format!("ppu{k:03}")
}

/// User `k` of the `manygroups` row.
fn many_user(k: u32) -> String {
    format!("pmu{k:03}")
}

/// A user of the large rows and of the `process` row as LDIF: `name`,
/// UID `uid`, primary group `members`.
fn user_ldif(out: &mut String, name: &str, uid: u32) {
    let dn = format!("uid={name},ou=bulk,ou=people,{}", dataset::BASE_DN);
    dataset::user(
        out,
        &dn,
        name,
        Some(uid),
        USERS_GID,
        name,
        None,
        Some("/bin/bash"),
        None,
    );
}

/// What the large rows and the `process` row ask, as LDIF to add to the
/// sample directory's: `keys` groups of the same [`BIG_MEMBERS`] users,
/// `keys` users each a member of the same [`MANY_GROUPS_COUNT`] groups,
/// and `process_keys` users for new processes.
fn large_rows_ldif(keys: u32, process_keys: u32) -> String {
    let mut out = String::with_capacity(20 * (keys as usize) * (BIG_MEMBERS as usize + 1000));
    let big_members: Vec<String> = (1..=BIG_MEMBERS).map(|i| format!("pbu{i:04}")).collect();
    for (uid, name) in (BIG_MEMBER_UID_BASE + 1..).zip(&big_members) {
        user_ldif(&mut out, name, uid);
    }
    for k in 0..keys {
        dataset::posix_group(
            &mut out,
            &big_group(k),
            BIG_GROUP_GID_BASE + k,
            &big_members,
        );
    }
    let many_users: Vec<String> = (0..keys).map(many_user).collect();
    for (uid, name) in (MANY_USER_UID_BASE..).zip(&many_users) {
        user_ldif(&mut out, name, uid);
    }
    for g in 0..MANY_GROUPS_COUNT {
        let name = format!("pmg{g:04}");
        dataset::posix_group(&mut out, &name, MANY_GROUP_GID_BASE + g, &many_users);
    }
    for k in 0..process_keys {
        user_ldif(&mut out, &process_user(k), PROCESS_UID_BASE + k);
    }
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(inner(&args[2..]));
    }
    if args.get(1).map(String::as_str) == Some("--process") {
        std::process::exit(first_lookup_of_process(&args[2..]));
    }
    outer();
}

/// Starts slapd, writes both daemons' files and runs the measurement in a
/// private mount namespace; prints the table.
fn outer() {
    build_release("building rosterd and the modules failed");
    assert!(
        Path::new(&nslcd_module()).exists() && Path::new("/usr/sbin/nslcd").exists(),
        "nslcd and libnss-ldapd are not installed"
    );
    let exe = std::env::current_exe().expect("own path");
    let count = std::env::var("PAIRED_COUNT")
        .ok()
        .and_then(|v| v.parse::<u32>().ok())
        .unwrap_or(300)
        .max(2);
    assert!(
        row_keys(count).is_some(),
        "PAIRED_COUNT {count} (with PAIRED_PAGES {}): more than the sample directory holds",
        pages_lookups()
    );
    let added = large_rows_ldif(
        pass_keys(LARGE_ROWS[0], count),
        pass_keys(PROCESS_ROW, count),
    );
    let slapd = Slapd::start_with_ldif(&(dataset::sample_ldif() + &added));
    let (scratch, ca, roster_domain) = roster_bench::peer::scratch(&slapd, "roster-bench-paired-");
    let setup = Setup::new(&slapd, ca, roster_domain, false);
    let roster_dir = scratch.path().join("roster");
    let nslcd_dir = scratch.path().join("nslcd");
    let mut script = prepare(Peer::Roster, &roster_dir, &setup);
    // (The second part mounts its own tmpfs on /run: rosterd's socket
    // directory is made again after it.)
    script += &prepare(Peer::Nslcd, &nslcd_dir, &setup);
    script += "mkdir -p -m 0755 /run/roster || exit 1\n";
    // The `process` row's processes load this build's module as glibc
    // does, by name: it goes over the shared /lib copy, privately.
    // ROSTER_BENCH_MODULE=PATH: another build's (before/after).
    let module = std::env::var_os("ROSTER_BENCH_MODULE")
        .map(|m| {
            std::fs::canonicalize(&m)
                .unwrap_or_else(|e| panic!("ROSTER_BENCH_MODULE {}: {e}", Path::new(&m).display()))
        })
        .unwrap_or_else(|| roster_e2e::paths::module("libnss_roster.so"));
    let installed = roster_e2e::namespace::install_nss_module();
    let _ = writeln!(
        script,
        "mount --bind '{}' '{}' || exit 1",
        module.display(),
        installed.display()
    );
    let perf_data = std::env::var("PAIRED_SCHED").ok();
    let windows_file = scratch.path().join("sched-windows.tsv");
    if perf_data.is_some() {
        let _ = writeln!(script, "export {WINDOWS_ENV}='{}'", windows_file.display());
    }
    let _ = write!(
        script,
        "exec {} --inner {} {} {} {count}",
        exe.display(),
        roster_dir.display(),
        nslcd_dir.display(),
        module.display()
    );
    println!(
        "roster and nslcd, first lookups in pairs (release build of roster, StartTLS, the sample \
         directory; load average {} at the start)\n",
        load_average()
    );
    let started = Instant::now();
    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    let recording = perf_data.as_deref().map(|out| {
        Recording::with_args(&[
            "-q",
            "-a",
            "-k",
            "CLOCK_MONOTONIC",
            "-e",
            "sched:sched_waking",
            "-e",
            "sched:sched_switch",
            "-o",
            out,
        ])
        .expect("PAIRED_SCHED: perf record does not start (package linux-perf)")
    });
    run_driver(&script, "paired", "roster and nslcd", &mut runs);
    drop(recording);
    let get = |k: &str| {
        runs.get(&format!("paired.{k}"))
            .and_then(|v| v.first())
            .copied()
    };
    println!(
        "| | roster | nslcd | roster ÷ nslcd, median of the pairs' | pairs roster was faster in | 99th percentile, roster / nslcd | the daemon's CPU a lookup, roster / nslcd |"
    );
    println!("|---|---|---|---|---|---|---|");
    for (pass, pairs) in [("b2b", count), ("gap", count / 2)] {
        for (key, label) in ROWS.into_iter().filter(|(key, _)| asked(key)) {
            let pairs = row_pairs(key, pairs);
            let how = if pass == "b2b" {
                format!("{pairs} pairs back to back")
            } else {
                format!(
                    "{pairs} pairs, each lookup after {} ms idle",
                    GAP.as_millis()
                )
            };
            let k = |stat: &str| get(&format!("{pass}.{key}.{stat}"));
            let us = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.0} µs"));
            let failures = k("failures").map_or(String::new(), |n| {
                format!(" (**{n} failed: not to be quoted**)")
            });
            println!(
                "| {label}, {how}, median{failures} | {} | {} | {} | {} | {} / {} | {} / {} |",
                us(k("roster_median_us")),
                us(k("nslcd_median_us")),
                k("ratio").map_or("-".to_string(), |v| format!("{v:.2}×")),
                k("roster_faster").map_or("-".to_string(), |v| format!("{:.0}%", v * 100.0)),
                us(k("roster_p99_us")),
                us(k("nslcd_p99_us")),
                us(k("rosterd_cpu_us")),
                us(k("nslcd_cpu_us")),
            );
        }
    }
    for (pass, how) in [("b2b", "back to back"), ("gap", "after idleness")] {
        let k = |stat: &str| get(&format!("{pass}.{PROCESS_ROW}.{stat}"));
        if let (Some(rc), Some(nc), Some(rf), Some(nf)) = (
            k("roster_process_cpu_us"),
            k("nslcd_process_cpu_us"),
            k("roster_process_faults"),
            k("nslcd_process_faults"),
        ) {
            println!(
                "\nThe new processes ({how}): each one's own time on a CPU for its first lookup \
                 (the module's loading included), median: roster {rc:.0} µs, nslcd {nc:.0} µs; \
                 its minor faults {rf:.0} and {nf:.0}."
            );
        }
    }
    let pages_wanted = pages_lookups();
    if pages_wanted > 0 {
        println!(
            "\nMemory each daemon touched for a lookup after {} ms idle (from the lookup to {} ms \
             after its answer; kB, medians of {pages_wanted} untimed lookups a daemon):\n",
            GAP.as_millis(),
            AFTER_ANSWER.as_millis()
        );
        println!("| | rosterd: code | rosterd: data | nslcd: code | nslcd: data |");
        println!("|---|---|---|---|---|");
        for (key, label) in ROWS
            .into_iter()
            .filter(|(key, _)| ONE_SEARCH_ROWS.contains(key) && asked(key))
        {
            let kb = |stat: &str| {
                get(&format!("pages.{key}.{stat}")).map_or("-".to_string(), |v| format!("{v:.0}"))
            };
            println!(
                "| {label} | {} | {} | {} | {} |",
                kb("rosterd_code_kb"),
                kb("rosterd_data_kb"),
                kb("nslcd_code_kb"),
                kb("nslcd_data_kb"),
            );
        }
        println!(
            "\nThe same by mapping (each mapping's median, kB, largest first; they need not \
             add up to the median of the whole):\n"
        );
        for (key, label) in ROWS
            .into_iter()
            .filter(|(key, _)| ONE_SEARCH_ROWS.contains(key) && asked(key))
        {
            for who in DAEMONS {
                let prefix = format!("paired.pages.{key}.{who}.map.");
                let mut by: Vec<(f64, &str)> = runs
                    .iter()
                    .filter_map(|(k, v)| Some((*v.first()?, k.strip_prefix(&prefix)?)))
                    .filter(|(kb, _)| *kb > 0.0)
                    .collect();
                by.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
                let listed: Vec<String> = by
                    .iter()
                    .map(|(kb, class)| format!("{class} {kb:.0}"))
                    .collect();
                println!("- {label}, {who}: {}", listed.join(", "));
            }
        }
    }
    if let Some(n) = get("rows.rosterd_instructions") {
        println!("\nrosterd's instructions over the rows (callgrind): {n:.0}");
    }
    if let Some(perf_data) = &perf_data {
        match slapd.pid() {
            Some(slapd_pid) => print_parts(perf_data, &windows_file, slapd_pid, count),
            None => eprintln!("PAIRED_SCHED: slapd's PID is not known (its pid file)"),
        }
    }
    println!(
        "\n(load average {} at the end; whole benchmark: {:.0} s)",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    drop(slapd);
    // rosterd's failures make the run no result (nslcd's are counted in
    // its rows only): the scripts that train on it stop on the exit code.
    if let Some(n) = get("roster_failures") {
        eprintln!(
            "paired: {n:.0} of roster's lookups (or rosterd's work after them) failed: \
             the run is no result"
        );
        std::process::exit(1);
    }
}

/// Where the inner process writes its lookups' windows for
/// `PAIRED_SCHED`: one line a timed lookup, `PASS.ROW DAEMON TID PID
/// START END` (tab-separated: the daemon's name, the client's thread, the
/// daemon's PID, the times in ns of `CLOCK_MONOTONIC`).
const WINDOWS_ENV: &str = "PAIRED_SCHED_WINDOWS";

/// The daemons, as the windows and the tables name them: rosterd first.
const DAEMONS: [&str; 2] = ["rosterd", "nslcd"];

/// The rows a lookup of which makes one search with either daemon (nslcd
/// makes two for an initgroups).
const ONE_SEARCH_ROWS: [&str; 3] = ["name", "uid", "group"];

/// The tables' columns after the first, in their order: each one-search
/// row's lookups of each daemon, as (row, daemon).
fn columns() -> impl Iterator<Item = (&'static str, &'static str)> {
    ONE_SEARCH_ROWS
        .into_iter()
        .flat_map(|row| DAEMONS.map(|daemon| (row, daemon)))
}

/// The labels of a pass's table cells, in the order of [`columns`].
fn cell_labels(pass: &str) -> impl Iterator<Item = String> + '_ {
    columns().map(move |(row, daemon)| format!("{pass}.{row}.{daemon}"))
}

/// `PAIRED_SCHED`'s tables: each one-search row's lookups in
/// `windows_file` cut at their wake-ups in the recording `perf_data`
/// (slapd's PID `slapd_pid`), by pass and daemon.
fn print_parts(perf_data: &str, windows_file: &Path, slapd_pid: u32, count: u32) {
    let text = match std::fs::read_to_string(windows_file) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("PAIRED_SCHED: {}: {e}", windows_file.display());
            return;
        }
    };
    let out = std::process::Command::new("perf")
        .args([
            "script",
            "-i",
            perf_data,
            "-F",
            "comm,pid,tid,cpu,time,event,trace",
            "--ns",
        ])
        .output()
        .expect("run perf script");
    if !out.status.success() {
        eprintln!(
            "PAIRED_SCHED: perf script -i {perf_data}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
        return;
    }
    let events = sched::parse_events(&String::from_utf8_lossy(&out.stdout));
    let windows: Vec<(String, Window)> = text
        .lines()
        .filter_map(|l| {
            let [label, daemon, client, pid, start, end] = l.split('\t').collect::<Vec<_>>()[..]
            else {
                return None;
            };
            let window = Window {
                client_tid: client.parse().ok()?,
                daemon_pid: pid.parse().ok()?,
                start_ns: start.parse().ok()?,
                end_ns: end.parse().ok()?,
            };
            Some((format!("{label}.{daemon}"), window))
        })
        .filter(|(label, _)| {
            label
                .split('.')
                .nth(1)
                .is_some_and(|row| ONE_SEARCH_ROWS.contains(&row))
        })
        .collect();
    let (found, missed) = sched::parts_by_label(&events, &windows, slapd_pid);
    println!(
        "\nThe scheduler's view ({} events; {} lookups of the one-search rows): medians in µs \
         of each part",
        events.len(),
        windows.len()
    );
    for (pass, how, lookups) in [
        ("b2b", "back to back".to_string(), count),
        (
            "gap",
            format!("each after {} ms idle", GAP.as_millis()),
            count / 2,
        ),
    ] {
        let cells = |f: &dyn Fn(&sched::Summary) -> String| {
            let mut line = String::new();
            for label in cell_labels(pass) {
                let s = found.get(&label).and_then(|p| sched::summarise(p));
                let _ = write!(line, " {} |", s.as_ref().map_or("-".into(), f));
            }
            line
        };
        let mut header = format!("| {how}, {lookups} lookups a row and daemon |");
        let mut rule = String::from("|---|");
        for (row, daemon) in columns() {
            let _ = write!(header, " {daemon}: {row} |");
            rule += "---|";
        }
        println!("\n{header}\n{rule}");
        for (k, name) in sched::PART_NAMES.iter().enumerate() {
            println!(
                "| {name} |{}",
                cells(&|s| format!("{:.0}", s.medians_us[k]))
            );
        }
        let share = |v: f64| format!("{:.0}%", 100.0 * v);
        println!(
            "| lookups in which slapd woke the daemon more than once |{}",
            cells(&|s| share(s.several_directory_wakes))
        );
        println!(
            "| lookups in which slapd's first hand-over between its threads ran the woken one on another CPU |{}",
            cells(&|s| share(s.handoff_elsewhere))
        );
        println!(
            "| lookups in which the daemon's thread slapd woke last ran on another CPU than the one the client woke |{}",
            cells(&|s| share(s.daemon_moved))
        );
        let mut cut = String::new();
        for label in cell_labels(pass) {
            let n = found.get(&label).map_or(0, Vec::len);
            let m = missed.get(&label).copied().unwrap_or(0);
            let _ = write!(cut, " {n} ({m}) |");
        }
        println!(
            "| lookups cut (not cut: a wake-up missing, or a thread woken while still on its CPU) |{cut}"
        );
    }
}

/// `--inner ROSTER_DIR NSLCD_DIR MODULE COUNT`, inside the namespace:
/// starts both daemons, waits until both answer and rosterd's census is
/// taken, runs the rows and prints `key=value` lines; the exit code.
fn inner(args: &[String]) -> i32 {
    let [roster_dir, nslcd_dir, module, count] = args else {
        return 2;
    };
    let Ok(count) = count.parse::<u32>() else {
        return 2;
    };
    // Back to back, and each lookup after an idle gap.
    let gapped = count / 2;
    let Some(keys) = row_keys(count) else {
        eprintln!(
            "PAIRED_COUNT {count} (with PAIRED_PAGES {}): fewer than 2, or more than the \
             sample directory holds",
            pages_lookups()
        );
        return 2;
    };
    let roster_daemon = Daemon::start(Peer::Roster, Path::new(roster_dir));
    let nslcd_daemon = Daemon::start(Peer::Nslcd, Path::new(nslcd_dir));
    let roster = Module::open(module, "roster");
    let nslcd = Module::open(&nslcd_module(), "ldap");
    for (m, daemon) in [(&roster, "rosterd"), (&nslcd, "nslcd")] {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !m.pwnam(ALICE.name, ALICE.uid) {
            if Instant::now() > deadline {
                eprintln!("{daemon}: alice never answered");
                return 1;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    // The steady state, as the side-by-side benchmark measures it:
    // rosterd's census of names and IDs (begun by the first lookup) taken.
    if wait_for_census(Duration::from_secs(60)).is_none() {
        eprintln!("rosterd: no census within 60 s");
        return 1;
    }
    // Bulk users (u00001..) by name, the next ones by UID; the groups of
    // the user in 1,000 groups (mg0000..); the groups of the bulk users
    // after those, each looked up by name first (unmeasured), as `id` and
    // a login do; then those of the next ones alone, as `getent
    // initgroups` and the side-by-side benchmark's row ask them. Key k of
    // a row is asked once, by one module.
    let nothing: &KeyLookup = &|_: &Module, _| true;
    // The buffer of the 5,000-member groups' lookups: room for all their
    // members (glibc would grow its own until it has), made and its
    // pages touched once, outside the timed calls.
    let big_buffer = std::cell::RefCell::new(vec![1u8; 256 << 10]);
    let initgroups_user = |k: u32| bulk_user(1 + 2 * keys + k);
    // What the `process` row's last process reported of its lookup.
    let reported: std::cell::Cell<Option<ProcessCost>> = std::cell::Cell::new(None);
    let rows: [(&str, &KeyLookup, &KeyLookup); 8] = [
        ("name", nothing, &|m: &Module, k| {
            m.pwnam(&bulk_user(1 + k), BULK_UID_BASE + 1 + k)
        }),
        ("uid", nothing, &|m: &Module, k| {
            m.pwuid(BULK_UID_BASE + 1 + keys + k, &bulk_user(1 + keys + k))
        }),
        ("group", nothing, &|m: &Module, k| {
            m.grnam(&many_group(k), &mut [0u8; 16384])
        }),
        (
            "initgroups",
            &|m: &Module, k| m.pwnam(&initgroups_user(k), BULK_UID_BASE + 1 + 2 * keys + k),
            &|m: &Module, k| m.initgroups(&initgroups_user(k)),
        ),
        ("initgroups_alone", nothing, &|m: &Module, k| {
            m.initgroups(&bulk_user(1 + 3 * keys + k))
        }),
        ("biggroup", nothing, &|m: &Module, k| {
            m.grnam(&big_group(k), &mut big_buffer.borrow_mut())
        }),
        ("manygroups", nothing, &|m: &Module, k| {
            m.initgroups_many(&many_user(k))
        }),
        (PROCESS_ROW, nothing, &|m: &Module, k| {
            let cost = ProcessCost::of_new_process(m.source, &process_user(k));
            reported.set(cost);
            cost.is_some()
        }),
    ];
    let windows_path = std::env::var_os(WINDOWS_ENV);
    let mut windows = String::new();
    let daemon_pids = [&roster_daemon, &nslcd_daemon].map(|d| d.pid().expect("a daemon's PID"));
    // (The lookups run on the main thread, whose thread ID is the
    // process's.)
    let client = std::process::id();
    let mut failed = false;
    // rosterd's failures (its lookups', its work after them not done in
    // time), which make the run no result: `roster_failures`.
    let mut roster_failures = 0u32;
    // Each row starts with rosterd's work after its answers done (the
    // lookups by name before the census included).
    if !settle() {
        eprintln!("rosterd did not record what the first lookups left within 60 s");
        roster_failures += 1;
        failed = true;
    }
    // Under callgrind (`ROSTER_BENCH_CALLGRIND`), rosterd's counts over
    // the rows alone: its start and census left out (what
    // `bench/hot-code.sh` lists).
    let counting = callgrind_dir().and_then(|dir| {
        let counting = Instructions::start(daemon_pids[0], &dir);
        if counting.is_none() {
            eprintln!("ROSTER_BENCH_CALLGRIND: callgrind_control -z of rosterd failed");
        }
        counting
    });
    for (pass, gap, pass_pairs) in [("b2b", Duration::ZERO, count), ("gap", GAP, gapped)] {
        for (key, before, lookup) in rows.into_iter().filter(|(key, ..)| asked(key)) {
            // (The gap pass's keys after those of the row's pairs back
            // to back.)
            let pairs = row_pairs(key, pass_pairs);
            let first_key = if gap.is_zero() {
                0
            } else {
                2 * row_pairs(key, count)
            };
            let mut times = [Vec::new(), Vec::new()];
            // The `process` row's processes' own costs (each peer's).
            let mut costs: [Vec<ProcessCost>; 2] = [Vec::new(), Vec::new()];
            let mut ratios = Vec::new();
            let mut roster_faster = 0u32;
            let cpu_before = daemon_pids.map(|pid| sched_ns(&[pid]).on_cpu);
            // Lookups of the row that did not answer as expected (the
            // table then says so).
            let mut row_failures = 0u32;
            for pair in 0..pairs {
                // Roster asks key first_key + 2·pair, nslcd the next;
                // which asks first alternates.
                let swap = pair % 2 == 1;
                let mut took = [0.0f64; 2];
                // A new process that failed measured nothing: its pair is
                // left out (the row counts the failure).
                let mut unmeasured = false;
                for turn in 0..2 {
                    let who = turn ^ usize::from(swap);
                    let m = if who == 0 { &roster } else { &nslcd };
                    let k = first_key + 2 * pair + u32::from(who == 1);
                    if !before(m, k) {
                        eprintln!("{key}: {} lookup before {k} failed", m.source);
                        row_failures += 1;
                        roster_failures += u32::from(who == 0);
                    }
                    if !gap.is_zero() {
                        std::thread::sleep(gap);
                    }
                    let start_ns = monotonic_ns();
                    let t = Instant::now();
                    if !lookup(m, k) {
                        eprintln!("{key}: {} lookup {k} failed", m.source);
                        row_failures += 1;
                        roster_failures += u32::from(who == 0);
                    }
                    took[who] = t.elapsed().as_nanos() as f64 / 1000.0;
                    // A new process's lookup: the time it measured itself
                    // (its start is not the lookup's).
                    if key == PROCESS_ROW {
                        match reported.take() {
                            Some(cost) => {
                                took[who] = cost.lookup_us;
                                costs[who].push(cost);
                            }
                            None => unmeasured = true,
                        }
                    }
                    if windows_path.is_some() {
                        let end_ns = monotonic_ns();
                        let _ = writeln!(
                            windows,
                            "{pass}.{key}\t{}\t{client}\t{}\t{start_ns}\t{end_ns}",
                            DAEMONS[who], daemon_pids[who]
                        );
                    }
                }
                if unmeasured {
                    continue;
                }
                times[0].push(took[0]);
                times[1].push(took[1]);
                ratios.push(took[0] / took[1]);
                roster_faster += u32::from(took[0] < took[1]);
            }
            for (who, costs) in ["roster", "nslcd"].into_iter().zip(&costs) {
                if !costs.is_empty() {
                    let mut cpu: Vec<f64> = costs.iter().map(|c| c.on_cpu_us).collect();
                    let mut faults: Vec<f64> = costs.iter().map(|c| c.minor_faults).collect();
                    println!("{pass}.{key}.{who}_process_cpu_us={}", median(&mut cpu));
                    println!("{pass}.{key}.{who}_process_faults={}", median(&mut faults));
                }
            }
            println!("{pass}.{key}.roster_median_us={}", median(&mut times[0]));
            println!("{pass}.{key}.nslcd_median_us={}", median(&mut times[1]));
            println!(
                "{pass}.{key}.roster_p99_us={}",
                percentile(&mut times[0], 99)
            );
            println!(
                "{pass}.{key}.nslcd_p99_us={}",
                percentile(&mut times[1], 99)
            );
            // rosterd's work after the row's answers (recording what a
            // census decided: for the large rows thousands of members or
            // groups) is the row's, and must not fall on the next row.
            if !settle() {
                eprintln!("{key}: rosterd did not record what the row left within 60 s");
                row_failures += 1;
                roster_failures += 1;
            }
            if row_failures > 0 {
                println!("{pass}.{key}.failures={row_failures}");
                failed = true;
            }
            // Each daemon's time on a CPU a lookup (all its threads; for
            // rosterd its work after the answers included, and the
            // status asked while waiting for it; in the `initgroups` row
            // the lookups by name before the timed ones too). None where
            // the kernel keeps no scheduler statistics.
            for ((who, before), pid) in DAEMONS.into_iter().zip(cpu_before).zip(daemon_pids) {
                let after = sched_ns(&[pid]).on_cpu;
                if before > 0 && after >= before {
                    println!(
                        "{pass}.{key}.{who}_cpu_us={}",
                        (after - before) as f64 / 1000.0 / f64::from(pairs)
                    );
                }
            }
            println!("{pass}.{key}.ratio={}", median(&mut ratios));
            println!(
                "{pass}.{key}.roster_faster={}",
                f64::from(roster_faster) / f64::from(pairs)
            );
        }
    }
    if let Some(n) = counting.and_then(Instructions::finish) {
        println!("rows.rosterd_instructions={n}");
    }
    let pages_wanted = pages_lookups();
    for (key, _, lookup) in rows
        .into_iter()
        .filter(|(key, ..)| pages_wanted > 0 && ONE_SEARCH_ROWS.contains(key) && asked(key))
    {
        // (The keys after those of both timed passes.)
        let first_key = 2 * (count + gapped);
        let mut touched = [Vec::new(), Vec::new()];
        for i in 0..pages_wanted {
            for (who, m) in [&roster, &nslcd].into_iter().enumerate() {
                let k = first_key + 2 * i + who as u32;
                std::thread::sleep(GAP);
                let counted = pages::clear(daemon_pids[who]).and_then(|()| {
                    if !lookup(m, k) {
                        eprintln!("pages.{key}: {} lookup {k} failed", m.source);
                        roster_failures += u32::from(who == 0);
                        failed = true;
                    }
                    std::thread::sleep(AFTER_ANSWER);
                    pages::touched(daemon_pids[who])
                });
                match counted {
                    Ok(t) => touched[who].push(t),
                    Err(e) => {
                        eprintln!("pages.{key}: {}'s pages: {e}", DAEMONS[who]);
                        failed = true;
                    }
                }
            }
        }
        for (who, seen) in DAEMONS.into_iter().zip(touched) {
            let mut code: Vec<f64> = seen.iter().map(|t| t.code_kb as f64).collect();
            let mut data: Vec<f64> = seen.iter().map(|t| t.data_kb as f64).collect();
            if !code.is_empty() {
                println!("pages.{key}.{who}_code_kb={}", median(&mut code));
                println!("pages.{key}.{who}_data_kb={}", median(&mut data));
            }
            // Each mapping's median (a lookup that did not touch it
            // counts as 0).
            let classes: std::collections::BTreeSet<&String> =
                seen.iter().flat_map(|t| t.by_mapping.keys()).collect();
            for class in classes {
                let mut kb: Vec<f64> = seen
                    .iter()
                    .map(|t| t.by_mapping.get(class).copied().unwrap_or(0) as f64)
                    .collect();
                println!("pages.{key}.{who}.map.{class}={}", median(&mut kb));
            }
        }
    }
    drop(roster_daemon);
    drop(nslcd_daemon);
    if roster_failures > 0 {
        println!("roster_failures={roster_failures}");
    }
    if let Some(path) = windows_path {
        if let Err(e) = std::fs::write(&path, windows) {
            eprintln!("{}: {e}", Path::new(&path).display());
            failed = true;
        }
    }
    i32::from(failed)
}

/// `CLOCK_MONOTONIC` now, in ns: the clock `perf record -k
/// CLOCK_MONOTONIC` stamps its events with.
fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes the timespec it is given, ours.
    let rc = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    assert_eq!(rc, 0, "clock_gettime(CLOCK_MONOTONIC)");
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// What a new process reported of its first lookup (`--process`).
#[derive(Clone, Copy)]
struct ProcessCost {
    /// The lookup's time, µs.
    lookup_us: f64,
    /// The process's own time on a CPU meanwhile (the module's loading
    /// included), µs.
    on_cpu_us: f64,
    /// Its minor page faults meanwhile.
    minor_faults: f64,
}

impl ProcessCost {
    /// Runs a new process of this binary that looks `name` up through
    /// the NSS source `source` (`--process`); what it reported, or None
    /// (said on stderr) when it failed.
    fn of_new_process(source: &str, name: &str) -> Option<ProcessCost> {
        let exe = std::env::current_exe().expect("own path");
        let out = std::process::Command::new(exe)
            .args(["--process", source, name])
            .output()
            .map_err(|e| eprintln!("{PROCESS_ROW}: start a process: {e}"))
            .ok()?;
        let text = String::from_utf8_lossy(&out.stdout);
        let fields: Vec<f64> = text
            .split_whitespace()
            .filter_map(|f| f.parse().ok())
            .collect();
        match (out.status.success(), fields.as_slice()) {
            (true, &[lookup_us, on_cpu_us, minor_faults]) => Some(ProcessCost {
                lookup_us,
                on_cpu_us,
                minor_faults,
            }),
            _ => {
                eprintln!(
                    "{PROCESS_ROW}: {source} {name}: {} {text:?} {}",
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                );
                None
            }
        }
    }
}

/// `--process SOURCE NAME`, a new process: `passwd` looked up through
/// `files SOURCE` (glibc's `__nss_configure_lookup`, which reads
/// nsswitch.conf first: its parsing falls before the timed lookup, for
/// both sources alike), then getpwnam of NAME, the process's first lookup
/// (glibc loads the module for it): prints its time, the process's own
/// time on a CPU and its minor faults meanwhile (as the side-by-side
/// benchmark's `oncecost`); the exit code.
fn first_lookup_of_process(args: &[String]) -> i32 {
    let [source, name] = args else {
        return 2;
    };
    extern "C" {
        fn __nss_configure_lookup(
            dbname: *const std::ffi::c_char,
            service_line: *const std::ffi::c_char,
        ) -> std::ffi::c_int;
    }
    let Ok(line) = CString::new(format!("files {source}")) else {
        return 2;
    };
    // SAFETY: two C strings, alive for the call; glibc keeps its own
    // parse of the line.
    if unsafe { __nss_configure_lookup(c"passwd".as_ptr(), line.as_ptr()) } != 0 {
        eprintln!("__nss_configure_lookup(passwd, {line:?}) failed");
        return 2;
    }
    roster_bench::inner::once_with_cost(roster_bench::lookup::parse_op, "pwnam", name)
}

/// A row's lookup of its key number `k` through a module: found.
type KeyLookup<'a> = dyn Fn(&Module, u32) -> bool + 'a;

/// One NSS module's lookups, called straight.
struct Module {
    /// Its source name (`roster`, `ldap`).
    source: &'static str,
    pwnam: GetPwNam,
    pwuid: GetPwUid,
    grnam: GetGrNam,
    initgroups: InitgroupsDyn,
}

impl Module {
    /// `path` `dlopen`ed, its `_nss_SOURCE_*` functions found.
    fn open(path: &str, source: &'static str) -> Module {
        // SAFETY: an NSS module, as glibc would load it.
        let lib = unsafe { dlopen_module(path) };
        let name = |f: &str| CString::new(format!("_nss_{source}_{f}")).expect("symbol name");
        // SAFETY: the symbols' types, as glibc calls them.
        unsafe {
            Module {
                source,
                pwnam: sym(lib, &name("getpwnam_r")),
                pwuid: sym(lib, &name("getpwuid_r")),
                grnam: sym(lib, &name("getgrnam_r")),
                initgroups: sym(lib, &name("initgroups_dyn")),
            }
        }
    }

    /// True when `pw`, an entry found, is the user `name` of UID `uid`.
    fn is_user(pw: &libc::passwd, name: &CStr, uid: libc::uid_t) -> bool {
        !pw.pw_name.is_null()
            && pw.pw_uid == uid
            // SAFETY: pw_name points at a C string in the lookup's buffer,
            // still alive.
            && unsafe { CStr::from_ptr(pw.pw_name) } == name
    }

    /// getpwnam of `name` (UID `uid`): found, as that user.
    fn pwnam(&self, name: &str, uid: libc::uid_t) -> bool {
        let name = CString::new(name).expect("name");
        let mut buf = [0u8; 4096];
        getpwnam(self.pwnam, &name, &mut buf).is_some_and(|pw| Self::is_user(&pw, &name, uid))
    }

    /// getpwuid of `uid` (user `name`): found, as that user.
    fn pwuid(&self, uid: libc::uid_t, name: &str) -> bool {
        let name = CString::new(name).expect("name");
        let mut buf = [0u8; 4096];
        getpwuid(self.pwuid, uid, &mut buf).is_some_and(|pw| Self::is_user(&pw, &name, uid))
    }

    /// initgroups of bulk user `name`, as glibc calls the module: found
    /// its one group, `biggroup`. (The group passed to be left out, where
    /// glibc passes the user's primary group, is `members`' GID: the
    /// primary group is `biggroup` too, and the module then has a group
    /// to add.)
    fn initgroups(&self, name: &str) -> bool {
        let name = CString::new(name).expect("name");
        let mut groups = GidArray::new(16);
        initgroups_dyn(self.initgroups, &name, USERS_GID, &mut groups)
            .is_some_and(|g| g == [USERS_GID, BIGGROUP_GID])
    }

    /// initgroups of user `name` of the `manygroups` row: found its
    /// primary group and the [`MANY_GROUPS_COUNT`] others, each once.
    /// Otherwise says what came back (nslcd's module fails so in about
    /// one run in ten: README, "Large answers in pairs").
    fn initgroups_many(&self, name: &str) -> bool {
        let name = CString::new(name).expect("name");
        let mut groups = GidArray::new(16);
        let answer = initgroups_answer(self.initgroups, &name, USERS_GID, &mut groups);
        let right = answer.found().is_some_and(|g| {
            let Some((&primary, others)) = g.split_first() else {
                return false;
            };
            let mut others = others.to_vec();
            others.sort_unstable();
            primary == USERS_GID
                && others
                    .into_iter()
                    .eq(MANY_GROUP_GID_BASE..MANY_GROUP_GID_BASE + MANY_GROUPS_COUNT)
        });
        if !right {
            eprintln!(
                "{}: initgroups of {name:?}: {}",
                self.source,
                answer.describe()
            );
        }
        right
    }

    /// getgrnam of `name` into `buf`: found (the name as the module
    /// wrote it: a sign it filled the struct).
    fn grnam(&self, name: &str, buf: &mut [u8]) -> bool {
        let name = CString::new(name).expect("name");
        getgrnam(self.grnam, &name, buf).is_some_and(|gr| {
            !gr.gr_name.is_null()
                // SAFETY: gr_name points at a C string in `buf`, alive.
                && unsafe { CStr::from_ptr(gr.gr_name) } == name.as_c_str()
        })
    }
}
