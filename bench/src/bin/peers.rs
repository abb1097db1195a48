//! roster side by side with SSSD (`sssd-ldap`, `libnss-sss`, `pam_sss`) and
//! nslcd (`nslcd`, `libnss-ldapd`, `pam_ldap`), in one run, against the same
//! private slapd (StartTLS, the sample directory and 900 groups added for
//! the cold group rows) and the same data: warm
//! getpwnam/getpwuid/getgrnam/getgrouplist, the user in 1,000 groups (first
//! and warm, and `id`'s lookups of its groups by GID right after the
//! first) and the 5,000-member group (first and warm), cold first lookups (users by
//! name and by UID, groups by name, and a user by name as the first lookup
//! of a new process), 16
//! processes in parallel, daemon memory and start-up, and one
//! `pamtester SERVICE alice authenticate`. Run with
//! `cargo run --release -p roster-bench --bin peers` (as root, with the
//! packages of the Makefile's `BENCH_PACKAGES`); `ROSTER_BENCH_PEERS=sssd,nslcd`
//! measures only some, `ROSTER_BENCH_STDERR=1` shows what each driver and
//! daemon wrote to stderr even when it succeeded.
//!
//! Each daemon (rosterd, sssd, nslcd) gets its own private mount namespace
//! (`unshare --mount --propagation private`): its configuration
//! (`/etc/sssd`, `/etc/nslcd.conf`, roster.toml), its state (`/var/lib/sss`,
//! `/var/log/sssd`, rosterd's state_dir), `/run` (a tmpfs: pid files and
//! sockets), `/etc/nsswitch.conf` and `/etc/pam.d` are this run's scratch
//! files. The daemon is started inside that namespace by this binary
//! (`--inner driver`), which waits until `getent passwd alice` answers,
//! runs every measurement as a fresh process of this binary (so glibc loads
//! the NSS module as any program would), and stops the daemon by PID.
//! Nothing on the host's `/etc` is touched. All three use the same transport
//! (StartTLS, certificate verified against the fixture's CA), the same
//! service account and the same schema (RFC 2307: posixGroup/memberUid).
//!
//! `ROSTER_BENCH_PERF_BIG=FILE` records each daemon's first lookup of
//! the 5,000-member group with `perf record -g` into `FILE.<peer>`;
//! `ROSTER_BENCH_PERF_INIT=FILE` its first initgroups of the user in 1,000
//! groups; `ROSTER_BENCH_PERF_COLD=FILE` its first getpwnam of 200 users
//! and `ROSTER_BENCH_PERF_COLD_UID=FILE` its first getpwuid of 200 others,
//! `ROSTER_BENCH_PERF_COLD_GROUP=FILE` its first getgrnam of 150 groups
//! (whose CPU rows then include perf's own cost in the daemon).
//!
//! `ROSTER_BENCH_CALLGRIND=DIR` runs rosterd under valgrind's callgrind
//! (its counts written into `DIR`, which rosterd's user may write) and
//! adds rosterd's instructions per cold lookup (and for the first
//! initgroups and the first lookup of the big group): counts that repeat from
//! run to run, for comparing two builds on a noisy machine. The times of
//! such a run are valgrind's, not rosterd's. The run first removes the
//! `callgrind.out.*` files already in `DIR`.
//!
//! `ROSTER_BENCH_MODULE=PATH` loads another build's `libnss_roster.so`
//! instead of this one's (of the same memory-cache layout: one of another
//! layout asks the socket).

use roster_bench::lookup::{last_entry_fields, parse_op};
use roster_bench::peer::{
    pamtester, prepare, process_tree, rss_tree_kb, run_driver, use_nsswitch, Daemon, Peer, Setup,
    PAM_FLOOR_SERVICE, PAM_SERVICE,
};
use roster_bench::profile::{callgrind_dir, Instructions, Recording};
use roster_bench::setup::{build_release, load_average};
use roster_bench::stats::{batch_ns_of, median, BATCH};
use roster_e2e::dataset::{self, ALICE, BIGGROUP, BULK_UID_BASE, MANYGROUPS};
use roster_e2e::slapd::Slapd;
use std::collections::BTreeMap;
use std::ffi::CString;
use std::fmt::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

/// At most this many batches per warm measurement...
const MAX_BATCHES: usize = 200;
/// ...and at most this long (slow peers get fewer batches).
const WARM_BUDGET: Duration = Duration::from_millis(600);
/// Calls per timed batch of the 5,000-member group (nslcd asks slapd for
/// all its members on every call).
const BIG_BATCH: usize = 10;
/// A name no peer's directory has (the row of names nobody has).
const MISSING_NAME: &str = "nosuchuser";
/// Calls per timed batch of that row (nslcd searches on every call).
const MISSING_BATCH: usize = 10;
/// Processes per warm measurement (the best one is reported).
const ROUNDS: usize = 3;
/// Processes in the parallel measurement.
const PROCS: usize = 16;
/// Distinct users per peer and pass for the cold measurement.
const COLD_USERS: u32 = 200;
/// Processes (each looking up one user nobody asked, first thing, as
/// `getent passwd NAME` does) per peer and pass.
const COLD_PROCESSES: u32 = 50;
/// The first user (`u03501`) of the processes' rows: after those of the
/// cold rows by name (`u00001`..) and by UID (`u02001`..), within the
/// sample directory's 5,000.
const COLD_PROCESS_FIRST_USER: u32 = 3501;
/// Distinct groups per peer and pass for the cold group measurement, of
/// the [`COLD_GROUPS_ADDED`] added to the sample directory for it.
const COLD_GROUPS: u32 = 150;
/// Groups `cg0000`.. added to the sample directory for the cold group
/// rows: room for three peers in two passes.
const COLD_GROUPS_ADDED: u32 = 900;
/// Their first GID (the sample directory's are below 32,000).
const COLD_GROUP_GID_BASE: u32 = 60_000;
/// Their one member: a user no other row asks (the groups of the user in
/// 1,000 groups, whose initgroups comes after, are not asked before it,
/// and rosterd records the member once, after the row).
const COLD_GROUP_MEMBER: &str = dataset::CAROL.name;
/// Every peer is measured in this many passes (fresh daemon and state each
/// time, peers in turn); each number is the best of the passes.
const PASSES: usize = 2;
/// pamtester runs per PAM measurement.
const PAM_RUNS: usize = 30;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(inner::run(&args[2..]));
    }
    outer();
}

fn outer() {
    build_release_parts();
    if let Some(dir) = callgrind_dir() {
        // An earlier run's dumps could be taken for this run's.
        roster_bench::profile::remove_callgrind_dumps(&dir);
    }
    let exe = std::env::current_exe().expect("own path");
    let started = Instant::now();
    let slapd = Slapd::start_with_ldif(&(dataset::sample_ldif() + &cold_groups_ldif()));
    let (scratch, ca, roster_domain) = roster_bench::peer::scratch(&slapd, "roster-bench-peers-");
    let installed = roster_e2e::namespace::install_nss_module();
    // ROSTER_BENCH_MODULE=PATH: another build's module (before/after).
    let module = std::env::var_os("ROSTER_BENCH_MODULE")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| roster_e2e::paths::module("libnss_roster.so"));
    let setup = Setup::new(&slapd, ca, roster_domain, false);

    println!(
        "roster, SSSD and nslcd side by side (release build of roster, one run, the same slapd \
         with StartTLS and the sample directory, 900 groups added; load average {})\n",
        load_average()
    );

    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // ROSTER_BENCH_PEERS=roster,sssd measures only those.
    let only = std::env::var("ROSTER_BENCH_PEERS").ok();
    let peers = [Peer::Roster, Peer::Sssd, Peer::Nslcd];
    for (pass, (k, &peer)) in
        (0..PASSES).flat_map(|pass| peers.iter().enumerate().map(move |p| (pass, p)))
    {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == peer.name()))
        {
            continue;
        }
        // Distinct users and groups per peer and pass (`slot`): nobody
        // profits from slapd having just served the same entries.
        let slot = pass * peers.len() + k;
        let dir = scratch.path().join(format!("{}-{pass}", peer.name()));
        let mut script = prepare(peer, &dir, &setup);
        if peer == Peer::Roster {
            // This build's module over the shared /lib copy, privately.
            let _ = writeln!(
                script,
                "mount --bind {} {}",
                module.display(),
                installed.display()
            );
        }
        if let Some(pid) = slapd.pid() {
            let _ = writeln!(script, "export ROSTER_BENCH_SLAPD_PID={pid}");
        }
        let _ = write!(
            script,
            "exec {} --inner driver {} {} {slot}",
            exe.display(),
            peer.name(),
            dir.display()
        );
        run_driver(
            &script,
            peer.name(),
            &format!("{} (pass {})", peer.name(), pass + 1),
            &mut runs,
        );
    }
    // Best of the passes: the least disturbed run (the machine is shared).
    let results: BTreeMap<String, String> = runs
        .into_iter()
        .map(|(key, vals)| {
            let higher_is_better =
                key.contains("per_sec") || key.contains(".parallel.") || key.ends_with("rss_kb");
            let best = vals.iter().copied().fold(
                if higher_is_better {
                    f64::NEG_INFINITY
                } else {
                    f64::INFINITY
                },
                if higher_is_better { f64::max } else { f64::min },
            );
            (key, best.to_string())
        })
        .collect();
    report(&results);
    println!(
        "\n(whole benchmark: {:.0} s)",
        started.elapsed().as_secs_f64()
    );
    drop(slapd);
}

/// The groups of the cold group rows, as LDIF to add to the sample
/// directory's.
fn cold_groups_ldif() -> String {
    let mut out = String::new();
    for k in 0..COLD_GROUPS_ADDED {
        let _ = write!(
            out,
            "dn: cn=cg{k:04},ou=groups,{}\nobjectClass: posixGroup\ncn: cg{k:04}\n\
             gidNumber: {}\nmemberUid: {COLD_GROUP_MEMBER}\n\n",
            dataset::BASE_DN,
            COLD_GROUP_GID_BASE + k
        );
    }
    out
}

/// Prints the tables from the drivers' `key=value` lines.
fn report(r: &BTreeMap<String, String>) {
    let num = |k: &str| -> Option<f64> { r.get(k).and_then(|v| v.parse().ok()) };
    let rows: [(&str, &str, &str); 6] = [
        ("files (floor: last line of /etc/*)", "roster", "files"),
        ("roster: files roster", "roster", "files roster"),
        ("roster: roster alone", "roster", "roster"),
        ("SSSD: files sss", "sssd", "files sss"),
        ("SSSD: sss alone", "sssd", "sss"),
        ("nslcd: files ldap", "nslcd", "files ldap"),
    ];
    let ops = ["getpwnam", "getpwuid", "getgrnam", "getgrouplist"];
    let cell = |peer: &str, src: &str, op: &str| -> Option<(f64, f64)> {
        Some((
            num(&format!("{peer}.warm.{src}.{op}.median_ns"))?,
            num(&format!("{peer}.warm.{src}.{op}.per_sec"))?,
        ))
    };
    println!("Warm lookups, one process: median per call in µs (calls per second), best of {ROUNDS} processes in each of {PASSES} passes");
    println!(
        "| | {} |\n|---|---|---|---|---|",
        ops.map(|o| format!("`{o}`")).join(" | ")
    );
    for (label, peer, src) in rows {
        let cells: Vec<String> = ops
            .iter()
            .map(|op| match cell(peer, src, op) {
                Some((m, p)) => format!("{:.2} ({:.0}/s)", m / 1000.0, p),
                None => "failed".into(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }
    println!();
    println!("Ratios of medians (lower is better for the first system named):");
    let ratio_row = |label: &str, a: (&str, &str), b: (&str, &str)| {
        let cells: Vec<String> = ops
            .iter()
            .map(|op| match (cell(a.0, a.1, op), cell(b.0, b.1, op)) {
                (Some((x, _)), Some((y, _))) => format!("{:.2}×", x / y),
                _ => "-".into(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    };
    println!(
        "| | {} |\n|---|---|---|---|---|",
        ops.map(|o| format!("`{o}`")).join(" | ")
    );
    ratio_row(
        "files roster / files",
        ("roster", "files roster"),
        ("roster", "files"),
    );
    ratio_row(
        "files sss / files",
        ("sssd", "files sss"),
        ("roster", "files"),
    );
    ratio_row(
        "files ldap / files",
        ("nslcd", "files ldap"),
        ("roster", "files"),
    );
    ratio_row(
        "files roster / files sss",
        ("roster", "files roster"),
        ("sssd", "files sss"),
    );
    ratio_row("roster / sss", ("roster", "roster"), ("sssd", "sss"));
    ratio_row(
        "files roster / files ldap",
        ("roster", "files roster"),
        ("nslcd", "files ldap"),
    );
    println!();

    println!(
        "Cold and large lookups (`files X`, each peer's daemon freshly started; best of {PASSES} \
         passes):"
    );
    println!("| | roster | SSSD | nslcd |\n|---|---|---|---|");
    let line = |label: &str, key: &str, scale: f64, unit: &str| {
        roster_bench::peer::table_row(label, key, (scale, unit), "failed", num)
    };
    // Rows of `ROSTER_BENCH_CALLGRIND` runs only (rosterd's alone).
    let counted = callgrind_dir().is_some();
    let instructions_row = |label: &str, key: &str, scale: (f64, &str)| {
        if counted {
            roster_bench::peer::table_row(label, key, scale, "", num);
        }
    };
    // The rows of one cold lookup (`key`): its times, where a lookup's
    // time went, and rosterd's instructions.
    let cold_rows =
        |title: &str, key: &str| {
            line(title, &format!("{key}.median_us"), 1.0, "µs");
            for (label, stat) in [
            ("same, mean", "mean_us"),
            ("same, 99th percentile", "p99_us"),
            (
                "same, the daemon's time on a CPU per lookup, mean (all its threads)",
                "daemon_cpu_us",
            ),
            ("same, slapd's time on a CPU per lookup, mean", "slapd_cpu_us"),
            (
                "same, the daemon's time runnable but waiting for a CPU per lookup, mean",
                "daemon_wait_us",
            ),
            (
                "same, slapd's time waiting for a CPU per lookup, mean",
                "slapd_wait_us",
            ),
            (
                "same, the calling process's time on a CPU per lookup (NSS module included), mean",
                "caller_cpu_us",
            ),
        ] {
            line(label, &format!("{key}.{stat}"), 1.0, "µs");
        }
            instructions_row(
                "same, rosterd's instructions per lookup (user space, callgrind)",
                &format!("{key}.daemon_instructions"),
                (1000.0, "k"),
            );
        };
    cold_rows(
        &format!("getpwnam, first lookup of {COLD_USERS} users, median"),
        "cold",
    );
    cold_rows(
        &format!("getpwuid, first lookup of {COLD_USERS} other users, median"),
        "cold_uid",
    );
    cold_rows(
        &format!("getgrnam, first lookup of {COLD_GROUPS} groups (one member each), median"),
        "cold_group",
    );
    line(
        &format!(
            "getpwnam, first lookup of a new process ({COLD_PROCESSES} processes, a user each), median"
        ),
        "cold_process.median_us",
        1.0,
        "µs",
    );
    line("same, 99th percentile", "cold_process.p99_us", 1.0, "µs");
    line(
        "same, the new process's time on a CPU for it (module loading included), median",
        "cold_process.caller_cpu_us",
        1.0,
        "µs",
    );
    line(
        "same, the new process's minor page faults for it, median",
        "cold_process.minor_faults",
        1.0,
        "",
    );
    line(
        "getgrouplist of a user in 1,000 groups, first",
        "initgroups.first_us",
        1000.0,
        "ms",
    );
    instructions_row(
        "same, rosterd's instructions (user space, callgrind)",
        "initgroups.daemon_instructions",
        (1_000_000.0, "M"),
    );
    line("same, warm (median)", "initgroups.warm_ns", 1000.0, "µs");
    line(
        "then getgrouplist and getgrgid of each of its groups (`id`'s group lookups), right after",
        "idgroups.first_us",
        1000.0,
        "ms",
    );
    line(
        "getgrnam of the 5,000-member group, first",
        "biggroup.first_us",
        1000.0,
        "ms",
    );
    instructions_row(
        "same, rosterd's instructions (user space, callgrind)",
        "biggroup.daemon_instructions",
        (1_000_000.0, "M"),
    );
    line("same, warm (median)", "biggroup.warm_ns", 1000.0, "µs");
    line(
        "getpwnam of a name nobody has, asked again (median)",
        "missing.warm_ns",
        1000.0,
        "µs",
    );
    line(
        "daemon memory (RSS of all its processes) after these lookups",
        "rss_kb",
        1024.0,
        "MB",
    );
    line(
        "daemon start to first `getent passwd alice`",
        "startup_ms",
        1.0,
        "ms",
    );
    line(
        "then until rosterd's census is taken (before the cold rows)",
        "census_ms",
        1.0,
        "ms",
    );
    line(
        "getgrouplist: groups found for alice (same data everywhere)",
        "groups.alice",
        1.0,
        "",
    );
    line(
        "getgrouplist: groups found for the user in 1,000 groups",
        "groups.manygroups",
        1.0,
        "",
    );
    println!();

    println!("{PROCS} processes in parallel, warm getpwnam (calls per second, all processes):");
    println!("| | calls/s |\n|---|---|");
    for (label, peer, src) in rows {
        if let Some(v) = num(&format!("{peer}.parallel.{src}")) {
            println!("| {label} | {v:.0} |");
        }
    }
    println!();

    println!(
        "PAM: `pamtester {PAM_SERVICE} alice authenticate` (whole process: fork, exec, PAM, the \
         module, the daemon, the LDAP bind), median of {PAM_RUNS} runs after one unmeasured run, best of {PASSES} passes:"
    );
    println!("| | median | min | above the floor | ratio to roster |\n|---|---|---|---|---|");
    let floor_pam = num("roster.pam_floor.median_us");
    let roster_pam = num("roster.pam.median_us");
    for (label, key) in [
        (
            "pam_permit.so (the floor: pamtester itself)",
            "roster.pam_floor",
        ),
        ("roster (`pam_roster.so`)", "roster.pam"),
        ("SSSD (`pam_sss.so`)", "sssd.pam"),
        ("nslcd (`pam_ldap.so`)", "nslcd.pam"),
    ] {
        match (
            num(&format!("{key}.median_us")),
            num(&format!("{key}.min_us")),
        ) {
            (Some(m), Some(min)) => println!(
                "| {label} | {:.2} ms | {:.2} ms | {} | {} |",
                m / 1000.0,
                min / 1000.0,
                floor_pam.map_or("-".into(), |f| format!("{:.2} ms", (m - f) / 1000.0)),
                roster_pam.map_or("-".into(), |r| format!("{:.2}×", m / r))
            ),
            _ => println!("| {label} | failed | | | |"),
        }
    }
}

/// Builds the release rosterd and modules this benchmark loads.
fn build_release_parts() {
    build_release("building rosterd and the modules failed");
}

/// getpwnam/getpwuid/getgrnam/getgrouplist keys of the last lines of
/// /etc/passwd and /etc/group (glibc's `files` scans the whole file).
fn last_local_entries() -> [String; 4] {
    let pw = last_entry_fields("/etc/passwd");
    let gr = last_entry_fields("/etc/group");
    [
        format!("pwnam {}", pw[0]),
        format!("pwuid {}", pw[2]),
        format!("grnam {}", gr[0]),
        format!("grouplist {}:{}", pw[0], pw[3]),
    ]
}

fn directory_ops() -> [String; 4] {
    [
        format!("pwnam {}", ALICE.name),
        format!("pwuid {}", ALICE.uid),
        format!("grnam {}", dataset::many_group(1)),
        format!("grouplist {}:{}", ALICE.name, ALICE.gid),
    ]
}

/// The measuring side, run inside the namespace.
mod inner {
    use super::*;
    use roster_bench::inner::again;

    /// Median ns per call and calls per second of one lookup, repeated in
    /// batches of `batch` calls.
    fn warm(kind: &str, key: &str, batch: usize) -> Result<(f64, f64), String> {
        let mut f = parse_op(kind, key).ok_or("bad op")?;
        for _ in 0..10 {
            if !f() {
                return Err(format!("{kind} {key}: lookup failed"));
            }
        }
        let total = Instant::now();
        let mut batches = Vec::new();
        while batches.len() < MAX_BATCHES && (batches.len() < 5 || total.elapsed() < WARM_BUDGET) {
            batches.push(batch_ns_of(&mut f, batch));
        }
        let per_sec = (batch * batches.len()) as f64 / total.elapsed().as_secs_f64();
        Ok((median(&mut batches), per_sec))
    }

    /// `pamtester SERVICE alice authenticate`, `n` timed runs after one
    /// unmeasured run: (median µs, min µs, first µs).
    fn pam(service: &str, n: usize) -> Result<(f64, f64, f64), String> {
        let once = || -> Result<f64, String> {
            match pamtester(service, ALICE.name, ALICE.password)? {
                (true, us, _) => Ok(us),
                (false, _, printed) => Err(format!("pamtester {service}: {printed}")),
            }
        };
        let first = once()?;
        let mut times = (0..n).map(|_| once()).collect::<Result<Vec<f64>, _>>()?;
        let median = median(&mut times);
        Ok((median, times[0], first))
    }

    /// `perf record -g` of `peer`'s daemon into `FILE.<peer>` when the
    /// environment variable `var` names FILE (stopped when dropped).
    fn record_daemon(var: &str, daemon: &Daemon, peer: Peer) -> Option<Recording> {
        let file = std::env::var(var).ok()?;
        Recording::start(daemon.pid()?, &format!("{file}.{}", peer.name()), &["-g"])
    }

    /// Everything measured for one peer, inside its namespace; prints
    /// `key=value` lines.
    /// `slot` numbers the peer's pass among all (0..): which users and
    /// groups its cold rows ask, new to every daemon of the run.
    fn driver(peer: Peer, dir: &Path, slot: u32) -> i32 {
        let sources = peer.sources();
        let main_source = match peer {
            Peer::Roster => "files roster",
            _ => sources[0].1,
        };
        use_nsswitch(dir, main_source);
        let start = Instant::now();
        let daemon = Daemon::start(peer, dir);
        if !daemon.wait_ready(Duration::from_secs(60)) {
            eprintln!("{}: getent passwd alice never answered", peer.name());
            return 1;
        }
        println!("startup_ms={:.1}", start.elapsed().as_secs_f64() * 1000.0);
        if peer == Peer::Roster {
            // The cold rows measure the steady state: rosterd's census of
            // names and IDs (begun by the first lookup) taken.
            match roster_bench::peer::wait_for_census(Duration::from_secs(60)) {
                Some(ms) => println!("census_ms={ms:.1}"),
                None => eprintln!("roster: no census within 60 s"),
            }
        }
        let mut failures = 0;
        let report = |key: &str, r: Result<String, String>| -> usize {
            match r {
                Ok(v) => {
                    println!("{key}={v}");
                    0
                }
                Err(e) => {
                    eprintln!("{}: {key}: {e}", peer.name());
                    1
                }
            }
        };

        // The daemon's and slapd's time on a CPU over the cold lookups:
        // each lookup's work lies on its answer's path, so on a machine of
        // few cores it adds to the latency.
        let slapd = roster_bench::peer::slapd_from_env();
        let daemon_tree = daemon.pid().map(process_tree).unwrap_or_default();
        // ROSTER_BENCH_CALLGRIND=DIR: rosterd's instructions over a step
        // too, from `count_instructions()` before it to
        // `instructions_per(key, .., per)` after (divided by `per`).
        let counted = callgrind_dir().filter(|_| peer == Peer::Roster);
        let count_instructions = || {
            counted
                .as_deref()
                .and_then(|dir| Instructions::start(daemon.pid()?, dir))
        };
        let instructions_per = |key: &str, counting: Option<Instructions>, per: u64| {
            if let Some(n) = counting.and_then(Instructions::finish) {
                report(
                    &format!("{key}.daemon_instructions"),
                    Ok((n / per).to_string()),
                );
            }
        };
        // One cold row: `args` run by a fresh process, its median, mean and
        // 99th percentile reported under `key`, and the CPU time per
        // lookup. (The daemon's processes as they were before: a helper
        // started meanwhile would be missed, one gone would count less.)
        let cold_row = |key: &str, args: &str, count: u32, perf: Option<Recording>| -> usize {
            let counting = count_instructions();
            let measured = roster_bench::peer::cold_row(key, args, count, &daemon_tree, &slapd);
            drop(perf);
            instructions_per(key, counting, u64::from(count));
            match measured {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("{}: {key}.median_us: {e}", peer.name());
                    1
                }
            }
        };
        // Cold: users nobody asked about yet (alice was the start-up probe).
        // ROSTER_BENCH_PERF_COLD=FILE: these lookups under `perf record -g`.
        let cold_first = 1 + slot * COLD_USERS;
        let perf = record_daemon("ROSTER_BENCH_PERF_COLD", &daemon, peer);
        failures += cold_row(
            "cold",
            &format!("cold pwnam u 5 {cold_first} {COLD_USERS}"),
            COLD_USERS,
            perf,
        );
        // Cold by UID: other users (u02001 on), again new to every peer.
        let first_uid = BULK_UID_BASE + 2000 + cold_first;
        // ROSTER_BENCH_PERF_COLD_UID=FILE: these lookups under `perf record -g`.
        let perf = record_daemon("ROSTER_BENCH_PERF_COLD_UID", &daemon, peer);
        failures += cold_row(
            "cold_uid",
            &format!("coldid {first_uid} {COLD_USERS}"),
            COLD_USERS,
            perf,
        );
        // Cold groups by name: groups no daemon of the run asked yet.
        // ROSTER_BENCH_PERF_COLD_GROUP=FILE: these lookups under `perf
        // record -g`.
        let first_group = slot * COLD_GROUPS;
        let perf = record_daemon("ROSTER_BENCH_PERF_COLD_GROUP", &daemon, peer);
        failures += cold_row(
            "cold_group",
            &format!("cold grnam cg 4 {first_group} {COLD_GROUPS}"),
            COLD_GROUPS,
            perf,
        );
        // Cold, one lookup a process: each of COLD_PROCESSES new
        // processes looks up a user nobody asked, first thing (glibc
        // loading the module, its connection to the daemon made for it).
        let first_user = COLD_PROCESS_FIRST_USER + slot * COLD_PROCESSES;
        // Each prints its time, its own time on a CPU and its minor faults.
        let parse = |v: &str| -> Option<[f64; 3]> {
            let mut fields = v.split_whitespace().map(|f| f.parse::<f64>().ok());
            Some([fields.next()??, fields.next()??, fields.next()??])
        };
        let mut columns: [Vec<f64>; 3] = Default::default();
        for k in 0..COLD_PROCESSES {
            match again(&format!("oncecost pwnam u{:05}", first_user + k))
                .and_then(|v| parse(&v).ok_or_else(|| format!("{v}: not TIME CPU FAULTS")))
            {
                Ok(row) => {
                    for (column, value) in columns.iter_mut().zip(row) {
                        column.push(value);
                    }
                }
                Err(e) => eprintln!("{}: cold_process: {e}", peer.name()),
            }
        }
        let [mut times, mut on_cpu, mut faults] = columns;
        if times.len() == COLD_PROCESSES as usize {
            let p99 = roster_bench::stats::percentile(&mut times, 99);
            println!(
                "cold_process.median_us={:.0}",
                roster_bench::stats::median(&mut times)
            );
            println!("cold_process.p99_us={p99:.0}");
            println!(
                "cold_process.caller_cpu_us={:.0}",
                roster_bench::stats::median(&mut on_cpu)
            );
            println!(
                "cold_process.minor_faults={:.1}",
                roster_bench::stats::median(&mut faults)
            );
        } else {
            failures += 1;
        }
        let many = format!("grouplist {}:{}", MANYGROUPS.name, MANYGROUPS.gid);
        // ROSTER_BENCH_PERF_INIT=FILE: that lookup under `perf record -g`.
        let perf = record_daemon("ROSTER_BENCH_PERF_INIT", &daemon, peer);
        let counting = count_instructions();
        failures += report("initgroups.first_us", again(&format!("once {many}")));
        drop(perf);
        instructions_per("initgroups", counting, 1);
        // `id`'s group lookups of that user right after (a login's shell
        // asking its groups' names): getgrouplist again, then each of its
        // groups by GID, the first time. (The warm row below comes after
        // it, its memory cache holding those groups too.)
        failures += report(
            "idgroups.first_us",
            again(&format!(
                "once idgroups {}:{}",
                MANYGROUPS.name, MANYGROUPS.gid
            )),
        );
        failures += report(
            "initgroups.warm_ns",
            again(&format!("warm {many}")).map(|v| v.split(' ').next().unwrap_or("").into()),
        );

        for (_, src) in &sources {
            use_nsswitch(dir, src);
            let ops = if *src == "files" {
                last_local_entries()
            } else {
                directory_ops()
            };
            for op in &ops {
                // Prime the daemon's cache for this key.
                let _ = again(&format!("once {op}"));
            }
            // Rounds outside, ops inside: a disturbance of a few seconds
            // on the shared machine spoils one round of each op, not all.
            let names = ["getpwnam", "getpwuid", "getgrnam", "getgrouplist"];
            let mut best: [Option<(f64, f64)>; 4] = [None; 4];
            for _ in 0..ROUNDS {
                for (i, op) in ops.iter().enumerate() {
                    match again(&format!("warm {op}")) {
                        Ok(v) => {
                            let (m, p) = v.split_once(' ').unwrap_or(("", ""));
                            let (m, p) = (m.parse().unwrap_or(f64::NAN), p.parse().unwrap_or(0.0));
                            best[i] = Some(match best[i] {
                                Some((bm, bp)) => (f64::min(bm, m), f64::max(bp, p)),
                                None => (m, p),
                            });
                        }
                        Err(e) => eprintln!("{}: {src} {op}: {e}", peer.name()),
                    }
                }
            }
            let mut pwnam_rate = 0.0f64;
            for (name, b) in names.iter().zip(best) {
                if let Some((m, p)) = b {
                    println!("warm.{src}.{name}.median_ns={m}");
                    println!("warm.{src}.{name}.per_sec={p}");
                    if *name == "getpwnam" {
                        pwnam_rate = p;
                    }
                } else {
                    failures += 1;
                }
            }
            // Parallel: enough calls per process for about two seconds in
            // all (16 processes share 2 cores), given the one-process rate.
            let calls = ((pwnam_rate / 4.0) as usize).clamp(200, 20_000);
            failures += report(
                &format!("parallel.{src}"),
                again(&format!("parallel {PROCS} {calls} {}", ops[0])),
            );
        }

        if let Some(pid) = daemon.pid() {
            println!("rss_kb={}", rss_tree_kb(pid).0);
        }

        // The 5,000-member group after the memory figure, which stays
        // comparable with runs that did not ask for it.
        use_nsswitch(dir, main_source);
        let big = format!("grnam {BIGGROUP}");
        // ROSTER_BENCH_PERF_BIG=FILE: the daemon's first lookup of the
        // big group under `perf record -g`, into FILE.<peer>.
        let perf = record_daemon("ROSTER_BENCH_PERF_BIG", &daemon, peer);
        let counting = count_instructions();
        failures += report("biggroup.first_us", again(&format!("once {big}")));
        drop(perf); // stops the recording
        instructions_per("biggroup", counting, 1);
        failures += report(
            "biggroup.warm_ns",
            again(&format!("warm {big} {BIG_BATCH}"))
                .map(|v| v.split(' ').next().unwrap_or("").into()),
        );
        // A name nobody has, asked again and again (`ls -l` over files
        // whose owners have no account, an sshd scan of invalid names):
        // nslcd searches each time, SSSD answers from its negative cache
        // over its socket, roster from nss.mc once rosterd published it.
        failures += report(
            "missing.warm_ns",
            again(&format!("warm pwnam-none {MISSING_NAME} {MISSING_BATCH}"))
                .map(|v| v.split(' ').next().unwrap_or("").into()),
        );

        // PAM, with the main nsswitch.conf.
        use_nsswitch(dir, main_source);
        // The same answers from every system: the groups it finds.
        for (key, user, gid) in [
            ("groups.alice", ALICE.name, ALICE.gid),
            ("groups.manygroups", MANYGROUPS.name, MANYGROUPS.gid),
        ] {
            failures += report(key, again(&format!("count {user} {gid}")));
        }
        let services: &[(&str, &str)] = if peer == Peer::Roster {
            &[(PAM_FLOOR_SERVICE, "pam_floor"), (PAM_SERVICE, "pam")]
        } else {
            &[(PAM_SERVICE, "pam")]
        };
        for (service, key) in services {
            match pam(service, PAM_RUNS) {
                Ok((median, min, first)) => {
                    println!("{key}.median_us={median}");
                    println!("{key}.min_us={min}");
                    println!("{key}.first_us={first}");
                }
                Err(e) => {
                    eprintln!("{}: {e}", peer.name());
                    failures += 1;
                }
            }
        }
        i32::from(failures > 0)
    }

    /// Entry point of `--inner ARGS`; returns the exit code.
    pub fn run(args: &[String]) -> i32 {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["driver", peer, dir, slot] => match (Peer::parse(peer), slot.parse()) {
                (Some(p), Ok(slot)) => driver(p, Path::new(dir), slot),
                _ => 2,
            },
            ["warm", kind, key, batch @ ..] => {
                let batch = match batch {
                    [] => Ok(BATCH),
                    [b] => b.parse(),
                    _ => return 2,
                };
                match batch.map(|b| warm(kind, key, b)) {
                    Ok(Ok((m, p))) => {
                        println!("{m} {p}");
                        0
                    }
                    Ok(Err(e)) => {
                        eprintln!("{e}");
                        1
                    }
                    Err(_) => 2,
                }
            }
            ["count", user, gid] => {
                let (Ok(name), Ok(gid)) = (CString::new(*user), gid.parse::<u32>()) else {
                    return 2;
                };
                let mut groups = vec![0 as libc::gid_t; 4096];
                let found = roster_bench::lookup::group_list(&name, gid, &mut groups);
                println!("{}", found.map_or(-1, |n| n as i64));
                i32::from(found.is_none())
            }
            ["once", kind, key] => roster_bench::inner::once(parse_op, kind, key),
            ["oncecost", kind, key] => roster_bench::inner::once_with_cost(parse_op, kind, key),
            ["cold", kind, prefix, width, first, count] => {
                roster_bench::inner::cold_printed(parse_op, [kind, prefix, width, first, count])
            }
            ["coldid", first, count] => {
                roster_bench::inner::cold_ids_printed(parse_op, first, count)
            }
            ["parallel", procs, calls, kind, key] => {
                roster_bench::inner::parallel(parse_op, procs, calls, kind, key)
            }
            _ => 2,
        }
    }
}
