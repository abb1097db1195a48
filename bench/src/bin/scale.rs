//! roster, SSSD and nslcd against one large directory (issue 11, "Scale"):
//! 100,000 users, 10,000 groups, one of them with 50,000 members, in a
//! private slapd of its own (the LDIF is generated here and loaded with
//! `slapadd` before slapd starts, as the e2e fixtures do; the loaded
//! database is cached in `target/e2e-fixtures`). Run with
//! `cargo run --release -p roster-bench --bin scale` (as root, with the
//! packages of the Makefile's `BENCH_PACKAGES`); `ROSTER_BENCH_PEERS=roster,nslcd`
//! measures only some, `ROSTER_BENCH_MODES=coldlist,enum` only some of
//! the runs below (`group`, `coldlist`, `enum`), `ROSTER_BENCH_STDERR=1` shows what each driver and
//! daemon wrote to stderr even when it succeeded, `ROSTER_BENCH_PERF=FILE`
//! profiles rosterd's first big-group lookup and `ROSTER_BENCH_PERF_ENUM=FILE`
//! its census and start-up listing (`FILE.at_start`) and its first
//! enumerations, `ROSTER_BENCH_PERF_COLD=FILE` its cold rows (`perf
//! record`, `FILE.<slot>` for each group run).
//!
//! Each peer runs in its own private mount namespace with its own
//! configuration and state, exactly as in `peers` ([`roster_bench::peer`]);
//! the same transport (StartTLS), service account and schema (RFC 2307).
//! Measured, each in a fresh namespace with a freshly started daemon and an
//! empty cache:
//!
//! - **group runs** ([`GROUP_RUNS`] per peer, peers in turn): first lookups
//!   of [`COLD_USERS`] users by name and as many others by UID, and of
//!   [`COLD_GROUPS`] small groups by name (about ten members each), one
//!   process each, users and groups no daemon of the run asked before
//!   (each row's median and 99th percentile, the median of the runs');
//!   then, once rosterd has recorded what those left (its status's
//!   `left_to_record` is 0), the first `getent group biggroup` (50,000
//!   members) and [`WARM`] more, each the whole `getent` process. rosterd
//!   and SSSD have `enumerate = false` here (their default; with `true`
//!   their background enumeration would fetch the group first). rosterd
//!   waits for its census first, as in `peers`.
//! - **cold-listing runs** ([`COLD_LIST_RUNS`] per peer, peers in turn;
//!   not SSSD, whose listing is empty until its first enumeration ends),
//!   `enumerate = true` for rosterd: a
//!   `getent passwd` as soon as the daemon answers its first lookup, and
//!   the time from the daemon's start to that listing's end (a first
//!   listing from a cold start; it must list every directory user).
//! - **one enumeration run** per peer, `enumerate = true` for rosterd
//!   (`[cache]`) and SSSD (whose first, background enumeration is waited
//!   for, at most 240 s or `ROSTER_BENCH_SSSD_WAIT` seconds, else the run
//!   ends there; nslcd always enumerates): for rosterd and nslcd a `getent
//!   passwd` once rosterd's users census is taken (rosterd's waits for
//!   the user listing it takes at start from that census's pass: the
//!   cost of a first listing once the pass is read), then
//!   `getpwnam` of every one of the 100,000
//!   users in one process (rosterd and SSSD; nslcd caches nothing), the
//!   daemon's RSS and memory-cache files after it; then `getent passwd` and
//!   `getent group` (first and warm), and the RSS after those.
//!
//! It exits non-zero, after its table, when one of rosterd's drivers
//! failed (the run is no result then; the peers' failures are printed).

use roster_bench::lookup::parse_op;
use roster_bench::peer::{
    prepare, process_tree, rss_tree_kb, run_driver, use_nsswitch, Daemon, Peer, Setup,
};
use roster_bench::profile::Recording;
use roster_bench::setup::{build_release, load_average};
use roster_bench::stats::median;
use roster_e2e::dataset::{ALICE, BASE_DN, SERVICE_DN, SERVICE_PASSWORD};
use roster_e2e::slapd::Slapd;
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Users in the directory (alice and the bulk users).
const USERS: u32 = 100_000;
/// Groups in the directory (the big one and the small ones).
const GROUPS: u32 = 10_000;
/// Members of the big group.
const BIG_MEMBERS: u32 = 50_000;
/// The big group's name and GID.
const BIG: (&str, u32) = ("biggroup", 299_999);
/// First UID of the bulk users (`su00001`…) and first GID of the small
/// groups (`sg0001`…).
const UID_BASE: u32 = 200_000;
const GID_BASE: u32 = 300_000;
/// Fresh daemons per peer for the first `getent group biggroup`.
const GROUP_RUNS: usize = 3;
/// Fresh daemons per peer (but SSSD) for the first listing from a cold
/// start, peers in turn.
const COLD_LIST_RUNS: usize = 3;
/// Warm `getent` runs after each first one.
const WARM: usize = 5;
/// Distinct users per cold row (by name, by UID) in each group run.
const COLD_USERS: u32 = 200;
/// Distinct small groups for the cold group row in each group run.
const COLD_GROUPS: u32 = 150;
/// The `getpwnam` sweep stops after this long (a peer that asks the
/// directory for each user would take many minutes).
const SWEEP_LIMIT: Duration = Duration::from_secs(90);

/// The bulk user `i` (1-based): `su00001`.
fn bulk_user(i: u32) -> String {
    format!("su{i:05}")
}

/// The small group `j` (1-based): `sg0001`.
fn small_group(j: u32) -> String {
    format!("sg{j:04}")
}

/// The small group of bulk user `i` (each has about ten members).
fn group_of(i: u32) -> u32 {
    (i - 1) % (GROUPS - 1) + 1
}

/// The directory: base, OUs, the service account, alice (the readiness
/// probe), `USERS - 1` bulk users, `GROUPS - 1` small groups and the big
/// one.
fn scale_ldif() -> String {
    let mut out = String::with_capacity(40 << 20);
    let _ = write!(
        out,
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
    );
    for ou in ["people", "groups", "services"] {
        let _ = write!(
            out,
            "dn: ou={ou},{BASE_DN}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
        );
    }
    let _ = write!(
        out,
        "dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: roster\nuserPassword: {SERVICE_PASSWORD}\n\n"
    );
    let user = |out: &mut String, name: &str, uid: u32, gid: u32, extra: &str| {
        let _ = write!(
            out,
            "dn: uid={name},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\n\
             objectClass: posixAccount\nuid: {name}\ncn: {name}\nsn: {name}\n\
             uidNumber: {uid}\ngidNumber: {gid}\nhomeDirectory: /home/{name}\n\
             loginShell: /bin/bash\n{extra}\n"
        );
    };
    user(
        &mut out,
        ALICE.name,
        ALICE.uid,
        ALICE.gid,
        &format!("userPassword: {}\n", ALICE.password),
    );
    for i in 1..USERS {
        user(
            &mut out,
            &bulk_user(i),
            UID_BASE + i,
            GID_BASE + group_of(i),
            "",
        );
    }
    let group_head = |out: &mut String, name: &str, gid: u32| {
        let _ = write!(
            out,
            "dn: cn={name},ou=groups,{BASE_DN}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
        );
    };
    let mut members: Vec<Vec<u32>> = vec![Vec::new(); GROUPS as usize];
    for i in 1..USERS {
        members[group_of(i) as usize].push(i);
    }
    for (j, list) in members.iter().enumerate().skip(1) {
        group_head(&mut out, &small_group(j as u32), GID_BASE + j as u32);
        for &i in list {
            let _ = writeln!(out, "memberUid: {}", bulk_user(i));
        }
        out.push('\n');
    }
    group_head(&mut out, BIG.0, BIG.1);
    for i in 1..=BIG_MEMBERS {
        let _ = writeln!(out, "memberUid: {}", bulk_user(i));
    }
    out.push('\n');
    out
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(inner::run(&args[2..]));
    }
    outer();
}

/// One namespace's measurements: `group` or `enum`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Group,
    /// A `getent passwd` as soon as the daemon answers (a first listing
    /// from a cold start, what a user asking then waits for).
    ColdList,
    Enum,
}

impl Mode {
    /// Every run, in the order a benchmark takes them.
    const ALL: [Mode; 3] = [Mode::Group, Mode::ColdList, Mode::Enum];

    /// The run called `name` ([`Mode::name`]).
    fn parse(name: &str) -> Option<Mode> {
        Mode::ALL.into_iter().find(|m| m.name() == name)
    }

    fn name(self) -> &'static str {
        match self {
            Mode::Group => "group",
            Mode::ColdList => "coldlist",
            Mode::Enum => "enum",
        }
    }
}

fn outer() {
    build_release("building rosterd and the modules failed");
    let exe = std::env::current_exe().expect("own path");
    let started = Instant::now();
    let t = Instant::now();
    let ldif = scale_ldif();
    let ldif_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let slapd = Slapd::start_with_ldif(&ldif);
    drop(ldif);
    eprintln!(
        "LDIF generated in {ldif_s:.1} s; slapd loaded (slapadd, or its cached database) and started in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let (scratch, ca, roster_domain) = roster_bench::peer::scratch(&slapd, "roster-bench-scale-");
    let installed = roster_e2e::namespace::install_nss_module();
    let module = roster_e2e::paths::module("libnss_roster.so");
    let load = load_average();
    println!(
        "roster, SSSD and nslcd against one directory of {USERS} users and {GROUPS} groups, one \
         with {BIG_MEMBERS} members (release build of roster, one run, StartTLS; load average \
         {load} at the start)\n"
    );

    let only = std::env::var("ROSTER_BENCH_PEERS").ok();
    let peers: Vec<Peer> = [Peer::Roster, Peer::Sssd, Peer::Nslcd]
        .into_iter()
        .filter(|p| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|n| n == p.name()))
        })
        .filter(|p| {
            let ok = p.installed();
            if !ok {
                eprintln!("{}: not installed, left out", p.name());
            }
            ok
        })
        .collect();
    let modes = std::env::var("ROSTER_BENCH_MODES").ok();
    for m in modes.iter().flat_map(|o| o.split(',')) {
        if Mode::parse(m).is_none() {
            let names = Mode::ALL.map(Mode::name).join(", ");
            eprintln!("ROSTER_BENCH_MODES: no run called {m:?} ({names})");
        }
    }
    let wanted = |m: Mode| {
        modes
            .as_deref()
            .is_none_or(|o| o.split(',').any(|n| n == m.name()))
    };
    let mut plan: Vec<(Mode, usize, Peer)> = Vec::new();
    if wanted(Mode::Group) {
        for run in 0..GROUP_RUNS {
            plan.extend(peers.iter().map(|&p| (Mode::Group, run, p)));
        }
    }
    if wanted(Mode::ColdList) {
        // (SSSD lists nothing until its first enumeration ends, which the
        // enumeration run waits for: a cold `getent passwd` would time
        // only an empty answer.)
        for run in 0..COLD_LIST_RUNS {
            plan.extend(
                peers
                    .iter()
                    .filter(|&&p| p != Peer::Sssd)
                    .map(|&p| (Mode::ColdList, run, p)),
            );
        }
    }
    if wanted(Mode::Enum) {
        plan.extend(peers.iter().map(|&p| (Mode::Enum, 0, p)));
    }

    let mut runs: BTreeMap<String, Vec<f64>> = BTreeMap::new();
    // rosterd's drivers that failed (their lookups', or rosterd's): the
    // run is then no result.
    let mut roster_failed = 0;
    for (slot, (mode, run, peer)) in plan.into_iter().enumerate() {
        let setup = Setup::new(
            &slapd,
            ca.clone(),
            roster_domain.clone(),
            mode == Mode::Enum,
        );
        let dir = scratch
            .path()
            .join(format!("{}-{}-{run}", peer.name(), mode.name()));
        let mut script = prepare(peer, &dir, &setup);
        match peer {
            Peer::Roster => {
                // enumerate = true in the listing runs only, as for
                // SSSD: with it rosterd lists every user and group in the
                // background at start.
                if mode != Mode::Group {
                    let toml = dir.join("roster.toml");
                    let text = std::fs::read_to_string(&toml).expect("read roster.toml");
                    let patched = text.replacen("[cache]\n", "[cache]\nenumerate = true\n", 1);
                    assert_ne!(text, patched, "roster.toml has no [cache] table");
                    std::fs::write(&toml, patched).expect("write roster.toml");
                }
                let _ = writeln!(
                    script,
                    "mount --bind {} {}",
                    module.display(),
                    installed.display()
                );
            }
            Peer::Sssd if mode == Mode::Enum => {
                // The first enumeration reads 100,000 users: more than the
                // default 60 s search timeout allows on this machine; no
                // second one during the measurements.
                // Its responder keeps a listing for `enum_cache_timeout`
                // (120 s): 5 s, so that waiting for the first enumeration
                // sees it when it is there.
                let conf = dir.join("etc-sssd").join("sssd.conf");
                let text = std::fs::read_to_string(&conf).expect("read sssd.conf");
                // Pages of 500 entries, as nslcd's `pagesize 500`: slapd's
                // soft size limit is 500 (SSSD asks for 1,000 by default).
                // Its watchdog restarts a responder or back end that misses
                // three 10 s heartbeats, which the first enumeration's
                // cache writes do: 120 s.
                let mut text = text.replacen(
                    "[nss]\n",
                    "[nss]\nenum_cache_timeout = 5\ntimeout = 120\n",
                    1,
                );
                text.push_str(
                    "ldap_enumeration_search_timeout = 1200\nldap_enumeration_refresh_timeout = 7200\n\
                     timeout = 120\nldap_page_size = 500\n",
                );
                std::fs::write(&conf, text).expect("write sssd.conf");
            }
            _ => {}
        }
        if let Some(pid) = slapd.pid() {
            let _ = writeln!(script, "export ROSTER_BENCH_SLAPD_PID={pid}");
        }
        let _ = write!(
            script,
            "exec {} --inner driver {} {} {} {slot}",
            exe.display(),
            mode.name(),
            peer.name(),
            dir.display()
        );
        let succeeded = run_driver(
            &script,
            peer.name(),
            &format!("{} ({} run {})", peer.name(), mode.name(), run + 1),
            &mut runs,
        );
        roster_failed += usize::from(peer == Peer::Roster && !succeeded);
    }
    report(&runs);
    println!(
        "\n(load average {load} at the start, {} at the end; whole benchmark: {:.0} s)",
        load_average(),
        started.elapsed().as_secs_f64()
    );
    drop(slapd);
    // (Exits non-zero after the table: the scripts that train on the
    // run stop on it; the peers' failures are only printed.)
    if roster_failed > 0 {
        eprintln!("scale: {roster_failed} of rosterd's drivers failed: the run is no result");
        std::process::exit(1);
    }
}

/// Prints the table: each key's median over its values (runs, warm
/// repetitions), roster next to SSSD and nslcd.
fn report(r: &BTreeMap<String, Vec<f64>>) {
    let med = |k: &str| -> Option<f64> {
        let mut v = r.get(k)?.clone();
        (!v.is_empty()).then(|| median(&mut v))
    };
    println!("| | roster | SSSD | nslcd |\n|---|---|---|---|");
    let line = |label: &str, key: &str, scale: f64, unit: &str| {
        roster_bench::peer::table_row(label, key, (scale, unit), "-", med)
    };
    line(
        &format!(
            "first `getent group {}` ({BIG_MEMBERS} members), median of {GROUP_RUNS} fresh daemons",
            BIG.0
        ),
        "group.first_ms",
        1.0,
        "ms",
    );
    line(
        &format!("same, warm (median of {} runs)", GROUP_RUNS * WARM),
        "group.warm_ms",
        1.0,
        "ms",
    );
    line("members `getent` printed", "group.members", 1.0, "");
    for (title, key) in [
        (
            format!("getpwnam, first lookup of {COLD_USERS} users"),
            "cold",
        ),
        (
            format!("getpwuid, first lookup of {COLD_USERS} other users"),
            "cold_uid",
        ),
        (
            format!("getgrnam, first lookup of {COLD_GROUPS} small groups (about ten members)"),
            "cold_group",
        ),
    ] {
        line(
            &format!("{title}, median (median of the {GROUP_RUNS} runs')"),
            &format!("{key}.median_us"),
            1.0,
            "µs",
        );
        line(
            "same, 99th percentile (median of the runs')",
            &format!("{key}.p99_us"),
            1.0,
            "µs",
        );
        line(
            "same, the daemon's time on a CPU per lookup, mean (all its threads)",
            &format!("{key}.daemon_cpu_us"),
            1.0,
            "µs",
        );
        line(
            "same, slapd's time on a CPU per lookup, mean",
            &format!("{key}.slapd_cpu_us"),
            1.0,
            "µs",
        );
    }
    let failed: Vec<String> = ["roster", "sssd", "nslcd"]
        .iter()
        .map(|p| {
            let n: f64 = r
                .get(&format!("{p}.group.failed"))
                .map_or(0.0, |v| v.iter().sum());
            format!("{n:.0}")
        })
        .collect();
    println!(
        "| `getent group {}` runs that failed (left out above) | {} |",
        BIG.0,
        failed.join(" | ")
    );
    line(
        "daemon start to first `getent passwd alice` (group runs)",
        "startup_ms",
        1.0,
        "ms",
    );
    line(
        "then until rosterd's census is taken",
        "census_ms",
        1000.0,
        "s",
    );
    line(
        "SSSD (`enumerate = true`): start to its first enumeration listed",
        "enum.ready_ms",
        1000.0,
        "s",
    );
    line(
        "SSSD: its first enumeration not listed after (then left out)",
        "enum.unfinished_s",
        1.0,
        "s",
    );
    line("daemon RSS then", "rss_kb.unfinished", 1024.0, "MB");
    line(
        &format!(
            "`getpwnam` of each of the {USERS} users, one process (stopped after {} s)",
            SWEEP_LIMIT.as_secs()
        ),
        "sweep_ms",
        1000.0,
        "s",
    );
    line("users those lookups reached", "sweep.users", 1.0, "");
    line(
        "daemon RSS (all its processes) after those lookups",
        "rss_kb.sweep",
        1024.0,
        "MB",
    );
    line(
        "of which anonymous (heap)",
        "rss_anon_kb.sweep",
        1024.0,
        "MB",
    );
    line(
        "and mapped files and shared memory",
        "rss_file_kb.sweep",
        1024.0,
        "MB",
    );
    line(
        "memory-cache file(s) after those lookups",
        "mc.bytes.sweep",
        1048576.0,
        "MiB",
    );
    line("of which allocated", "mc.allocated.sweep", 1048576.0, "MiB");
    line(
        "`getent passwd` (enumerate = true) right after start (rosterd: once its users census is taken; a first listing)",
        "passwd.at_start_ms",
        1.0,
        "ms",
    );
    line(
        &format!(
            "`getent passwd` (enumerate = true) as soon as the daemon answers, median of {COLD_LIST_RUNS} fresh daemons"
        ),
        "coldlist.getent_ms",
        1.0,
        "ms",
    );
    line(
        "daemon start to the end of that `getent passwd` (a first listing from a cold start)",
        "coldlist.from_start_ms",
        1.0,
        "ms",
    );
    line("directory users it listed", "coldlist.count", 1.0, "");
    line(
        "`getent passwd` (enumerate = true), first after those lookups",
        "passwd.first_ms",
        1.0,
        "ms",
    );
    line(
        &format!("same, warm (median of {WARM})"),
        "passwd.warm_ms",
        1.0,
        "ms",
    );
    line("directory users it listed", "passwd.count", 1.0, "");
    line("`getent group`, first", "groups.first_ms", 1.0, "ms");
    line(
        &format!("same, warm (median of {WARM})"),
        "groups.warm_ms",
        1.0,
        "ms",
    );
    line("directory groups it listed", "groups.count", 1.0, "");
    line(
        "daemon RSS after the enumerations too",
        "rss_kb.enum",
        1024.0,
        "MB",
    );
    line(
        "of which anonymous (heap)",
        "rss_anon_kb.enum",
        1024.0,
        "MB",
    );
    line(
        "and mapped files and shared memory",
        "rss_file_kb.enum",
        1024.0,
        "MB",
    );
    line(
        "memory-cache file(s) at the end",
        "mc.bytes.enum",
        1048576.0,
        "MiB",
    );
    line("of which allocated", "mc.allocated.enum", 1048576.0, "MiB");
    line(
        "roster's bound (`[nss] memcache_size`)",
        "mc.limit",
        1048576.0,
        "MiB",
    );
}

/// The measuring side, run inside the namespace.
mod inner {
    use super::*;

    /// `getent ARGS` as a whole process: milliseconds and the lines it
    /// printed; Err when it failed.
    fn getent(args: &[&str]) -> Result<(f64, String), String> {
        let t = Instant::now();
        let out = Command::new("getent")
            .args(args)
            .stdin(Stdio::null())
            .stderr(Stdio::null())
            .output()
            .map_err(|e| format!("getent: {e}"))?;
        let ms = t.elapsed().as_secs_f64() * 1000.0;
        if !out.status.success() {
            return Err(format!("getent {}: {}", args.join(" "), out.status));
        }
        Ok((ms, String::from_utf8_lossy(&out.stdout).into_owned()))
    }

    /// Members in a `getent group` line.
    fn members(line: &str) -> usize {
        match line.trim_end().rsplit_once(':') {
            Some((_, "")) | None => 0,
            Some((_, m)) => m.split(',').count(),
        }
    }

    /// The memory-cache file(s) now: (size, allocated bytes, bound).
    /// rosterd: `rosterctl cache stats`'s figures (admin `cache_stats`
    /// on pam.sock); SSSD: its fixed-size files in /var/lib/sss/mc.
    fn memory_cache(peer: Peer) -> Option<(u64, u64, Option<u64>)> {
        match peer {
            Peer::Roster => {
                let reply = roster_proto::Client::request_once(
                    Path::new("/run/roster/pam.sock"),
                    &roster_proto::Request::Admin(roster_proto::AdminRequest::CacheStats),
                    Duration::from_secs(5),
                );
                match reply {
                    Ok(roster_proto::Response::Admin(Ok(
                        roster_proto::AdminReply::CacheStats(s),
                    ))) => s
                        .memory_cache
                        .map(|m| (m.file_bytes, m.allocated_bytes, Some(m.size_limit))),
                    other => {
                        eprintln!("roster: cache_stats: {other:?}");
                        None
                    }
                }
            }
            Peer::Sssd => {
                let (mut len, mut alloc) = (0, 0);
                for e in std::fs::read_dir("/var/lib/sss/mc").ok()?.flatten() {
                    if let Ok(m) = e.metadata() {
                        len += m.len();
                        alloc += m.blocks() * 512;
                    }
                }
                Some((len, alloc, None))
            }
            Peer::Nslcd => None,
        }
    }

    /// Anonymous and file-backed (with shared memory) resident memory of
    /// `pid` and its descendants, in kB: what the daemon allocated and
    /// what it maps (memory-cache files, libraries).
    fn rss_split_kb(pid: u32) -> (u64, u64) {
        let (mut anon, mut file) = (0, 0);
        for p in roster_bench::peer::process_tree(pid) {
            let status = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap_or_default();
            let field = |name: &str| {
                status
                    .lines()
                    .find(|l| l.starts_with(name))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
                    .unwrap_or(0)
            };
            anon += field("RssAnon:");
            file += field("RssFile:") + field("RssShmem:");
        }
        (anon, file)
    }

    /// Prints the daemon's RSS (all, anonymous, mapped) under `suffix`.
    fn print_rss(daemon: &Daemon, suffix: &str) {
        if let Some(pid) = daemon.pid() {
            println!("rss_kb.{suffix}={}", rss_tree_kb(pid).0);
            let (anon, file) = rss_split_kb(pid);
            println!("rss_anon_kb.{suffix}={anon}");
            println!("rss_file_kb.{suffix}={file}");
        }
    }

    /// Prints the memory-cache figures under `suffix`.
    fn print_memory_cache(peer: Peer, suffix: &str) {
        if let Some((len, alloc, limit)) = memory_cache(peer) {
            println!("mc.bytes.{suffix}={len}");
            println!("mc.allocated.{suffix}={alloc}");
            if let Some(l) = limit {
                println!("mc.limit={l}");
            }
        }
    }

    /// Whether a listing's line names a bulk entry: `prefix` and digits.
    fn is_bulk(line: &str, prefix: &str) -> bool {
        line.split_once(':')
            .and_then(|(name, _)| name.strip_prefix(prefix))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    }

    /// Directory users (`alice`, `su…`) in a `getent passwd` listing.
    fn directory_users(listing: &str) -> usize {
        listing
            .lines()
            .filter(|l| is_bulk(l, "su") || l.starts_with("alice:"))
            .count()
    }

    /// Directory groups (`sg…`, the big one) in a `getent group` listing.
    fn directory_groups(listing: &str) -> usize {
        listing
            .lines()
            .filter(|l| is_bulk(l, "sg") || l.starts_with(&format!("{}:", BIG.0)))
            .count()
    }

    /// Waits until SSSD's background enumeration lists every user and
    /// group (polled every 10 s, each poll at most 30 s; its responder keeps a listing for
    /// `enum_cache_timeout`, set to 5 s in this run); the milliseconds
    /// since `start`.
    fn wait_for_enumeration(start: Instant, limit: Duration) -> Option<f64> {
        loop {
            // (A listing asked while the back end is busy waits minutes:
            // each poll is cut at 30 s by coreutils' timeout.)
            let listed = |db: &str| {
                let out = Command::new("timeout")
                    .args(["30", "getent", db])
                    .stdin(Stdio::null())
                    .stderr(Stdio::null())
                    .output()
                    .ok()?;
                Some(String::from_utf8_lossy(&out.stdout).into_owned())
            };
            let users = listed("passwd").map_or(0, |o| directory_users(&o));
            let groups = listed("group").map_or(0, |o| directory_groups(&o));
            eprintln!(
                "sssd: {users} users, {groups} groups listed after {:.0} s",
                start.elapsed().as_secs_f64()
            );
            if users >= USERS as usize && groups >= GROUPS as usize {
                return Some(start.elapsed().as_secs_f64() * 1000.0);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_secs(10));
        }
    }

    /// Everything measured in one namespace; prints `key=value` lines.
    /// `slot` numbers the namespace among the run's: which users and
    /// groups its cold rows ask, new to every daemon of the run.
    fn driver(mode: Mode, peer: Peer, dir: &Path, slot: u32) -> i32 {
        let main_source = match peer {
            Peer::Roster => "files roster",
            Peer::Sssd => "files sss",
            Peer::Nslcd => "files ldap",
        };
        use_nsswitch(dir, main_source);
        let start = Instant::now();
        let daemon = Daemon::start(peer, dir);
        if !daemon.wait_ready(Duration::from_secs(120)) {
            eprintln!("{}: getent passwd alice never answered", peer.name());
            return 1;
        }
        if mode == Mode::ColdList {
            return cold_listing(start);
        }
        let mut failures = 0;
        if mode == Mode::Group {
            println!("startup_ms={:.1}", start.elapsed().as_secs_f64() * 1000.0);
        }
        // ROSTER_BENCH_PERF_ENUM=FILE: rosterd's census and start-up
        // listing, through the first `getent passwd`, under `perf record`
        // (FILE.at_start), besides the enumerations below (not in the
        // cold-listing runs, whose row it would lengthen by perf's start).
        let perf_enum = std::env::var("ROSTER_BENCH_PERF_ENUM").ok();
        let mut perf_start = match (mode, peer, &perf_enum, daemon.pid()) {
            (Mode::Enum, Peer::Roster, Some(file), Some(pid)) => Recording::start(
                pid,
                &format!("{file}.at_start"),
                &["--call-graph", "dwarf", "-F", "1000"],
            ),
            _ => None,
        };
        if peer == Peer::Roster {
            // (With `enumerate = true` the group census waits for the
            // start-up user listing, which the enumeration run's first
            // `getent passwd` is to find under way: its users census.)
            let waited = if mode == Mode::Enum {
                roster_bench::peer::wait_for_users_census(Duration::from_secs(300))
            } else {
                roster_bench::peer::wait_for_census(Duration::from_secs(300))
            };
            match waited {
                Some(ms) => println!("census_ms={ms:.1}"),
                None => eprintln!("roster: no census within 300 s"),
            }
        }
        match mode {
            Mode::Group => {
                // The cold rows before the big group: its first lookup
                // has rosterd record its 50,000 members after the answer.
                // ROSTER_BENCH_PERF_COLD=FILE: rosterd over them under
                // `perf record -g` (FILE.<slot>).
                let perf = match (peer, std::env::var("ROSTER_BENCH_PERF_COLD"), daemon.pid()) {
                    (Peer::Roster, Ok(file), Some(pid)) => {
                        Recording::start(pid, &format!("{file}.{slot}"), &["-g"])
                    }
                    _ => None,
                };
                failures += cold_rows(slot, &daemon);
                drop(perf);
                if peer == Peer::Roster {
                    // What the cold group row left rosterd to record (its
                    // members) is done before the big group's row.
                    match roster_bench::peer::wait_for_recording(Duration::from_secs(30)) {
                        Some(ms) => println!("cold.recorded_ms={ms:.0}"),
                        None => eprintln!("roster: still recording after 30 s"),
                    }
                }
                // ROSTER_BENCH_PERF=FILE: rosterd's first lookup of the big
                // group under `perf record -g`.
                let mut perf = match (peer, std::env::var("ROSTER_BENCH_PERF"), daemon.pid()) {
                    (Peer::Roster, Ok(file), Some(pid)) => Recording::start(pid, &file, &["-g"]),
                    _ => None,
                };
                for i in 0..=WARM {
                    if i == 1 {
                        drop(perf.take()); // stops the recording
                    }
                    match getent(&["group", BIG.0]) {
                        Ok((ms, out)) => {
                            let key = if i == 0 { "first" } else { "warm" };
                            println!("group.{key}_ms={ms}");
                            if i == 0 {
                                println!("group.members={}", members(&out));
                            }
                        }
                        Err(e) => {
                            eprintln!("{}: {e}", peer.name());
                            println!("group.failed=1");
                            failures += 1;
                        }
                    }
                }
            }
            // (Measured and returned above.)
            Mode::ColdList => {}
            Mode::Enum => {
                if peer == Peer::Sssd {
                    let limit = std::env::var("ROSTER_BENCH_SSSD_WAIT")
                        .ok()
                        .and_then(|v| v.parse().ok())
                        .unwrap_or(240);
                    match wait_for_enumeration(start, Duration::from_secs(limit)) {
                        Some(ms) => println!("enum.ready_ms={ms:.0}"),
                        None => {
                            // Its lookups now wait for the busy back end
                            // (minutes each): nothing more to measure.
                            eprintln!("sssd: enumeration not listed within {limit} s");
                            println!("enum.unfinished_s={limit}");
                            print_rss(&daemon, "unfinished");
                            // Its busy back end ignores the monitor's
                            // SIGTERM and would outlive it: stop SSSD's
                            // processes (this run's) by PID.
                            if let Some(pid) = daemon.pid() {
                                for p in roster_bench::peer::process_tree(pid).into_iter().skip(1) {
                                    // SAFETY: signalling a process this run started.
                                    unsafe { libc::kill(p as libc::pid_t, libc::SIGKILL) };
                                }
                            }
                            return 1;
                        }
                    }
                }
                if peer != Peer::Sssd {
                    // rosterd takes its first listing in the background
                    // once its users census is taken (as SSSD's
                    // enumeration at start-up): a `getent passwd` now
                    // waits for that listing, which is what a first
                    // listing costs once the pass is read. For nslcd it
                    // is its listing, as every time.
                    let got = getent(&["passwd"]);
                    drop(perf_start.take()); // stops the recording
                    match got {
                        Ok((ms, _)) => println!("passwd.at_start_ms={ms}"),
                        Err(e) => {
                            eprintln!("{}: {e}", peer.name());
                            failures += 1;
                        }
                    }
                }
                if peer != Peer::Nslcd {
                    let count = (USERS - 1).to_string();
                    match roster_bench::inner::again(&format!(
                        "sweep 1 {count} {}",
                        SWEEP_LIMIT.as_secs()
                    )) {
                        Ok(v) => {
                            let (ms, n) = v.split_once(' ').unwrap_or((&v, "0"));
                            println!("sweep_ms={ms}");
                            println!("sweep.users={n}");
                        }
                        Err(e) => {
                            eprintln!("{}: sweep: {e}", peer.name());
                            failures += 1;
                        }
                    }
                    print_rss(&daemon, "sweep");
                    print_memory_cache(peer, "sweep");
                }
                // ROSTER_BENCH_PERF_ENUM=FILE: rosterd's first `getent
                // passwd` and `getent group` under `perf record` with DWARF
                // call graphs (FILE.passwd, FILE.group; a release build
                // has no frame pointers).
                for (db, key) in [("passwd", "passwd"), ("group", "groups")] {
                    for i in 0..=WARM {
                        let perf = match (peer, &perf_enum, daemon.pid(), i) {
                            (Peer::Roster, Some(file), Some(pid), 0) => Recording::start(
                                pid,
                                &format!("{file}.{db}"),
                                &["--call-graph", "dwarf"],
                            ),
                            _ => None,
                        };
                        let got = getent(&[db]);
                        drop(perf); // stops the recording
                        match got {
                            Ok((ms, out)) => {
                                let k = if i == 0 { "first" } else { "warm" };
                                println!("{key}.{k}_ms={ms}");
                                if i == 0 {
                                    let n = if db == "passwd" {
                                        directory_users(&out)
                                    } else {
                                        directory_groups(&out)
                                    };
                                    println!("{key}.count={n}");
                                }
                            }
                            Err(e) => {
                                eprintln!("{}: {e}", peer.name());
                                failures += 1;
                            }
                        }
                    }
                }
                print_rss(&daemon, "enum");
                print_memory_cache(peer, "enum");
            }
        }
        i32::from(failures > 0)
    }

    /// The cold-listing run: a `getent passwd` as soon as the daemon
    /// answers its first lookup (`start` its spawn), as a user listing
    /// then would; prints its time, the time from `start` to its end and
    /// the directory users listed. Fails unless it listed all of them.
    fn cold_listing(start: Instant) -> i32 {
        match getent(&["passwd"]) {
            Ok((ms, out)) => {
                let from_start = start.elapsed().as_secs_f64() * 1000.0;
                let listed = directory_users(&out);
                // (A short listing's times would pull the medians down.)
                if listed < USERS as usize {
                    eprintln!("cold listing: {listed} of {USERS} directory users");
                    return 1;
                }
                println!("coldlist.getent_ms={ms}");
                println!("coldlist.from_start_ms={from_start:.1}");
                println!("coldlist.count={listed}");
                0
            }
            Err(e) => {
                eprintln!("cold listing: {e}");
                1
            }
        }
    }

    /// `sweep FIRST COUNT SECONDS`: getpwnam of the bulk users FIRST…
    /// once each, in one process, for at most SECONDS; prints the
    /// milliseconds and the users looked up.
    fn sweep(first: &str, count: &str, secs: &str) -> i32 {
        let (Ok(first), Ok(count), Ok(secs)) = (
            first.parse::<u32>(),
            count.parse::<u32>(),
            secs.parse::<u64>(),
        ) else {
            return 2;
        };
        let start = Instant::now();
        let mut done = 0;
        for i in first..first + count {
            let Some(mut f) = parse_op("pwnam", &bulk_user(i)) else {
                return 2;
            };
            if !f() {
                eprintln!("{}: lookup failed", bulk_user(i));
                return 1;
            }
            done += 1;
            if start.elapsed() > Duration::from_secs(secs) {
                break;
            }
        }
        println!("{:.1} {done}", start.elapsed().as_secs_f64() * 1000.0);
        0
    }

    /// The cold rows of the group run `slot`: users by name (from
    /// `su50001`, past the big group's members) and by UID, then small
    /// groups by name, each a fresh process; prints each row's figures
    /// ([`roster_bench::peer::cold_row`]); the failures.
    fn cold_rows(slot: u32, daemon: &Daemon) -> usize {
        let users = 50_001 + slot * 2 * COLD_USERS;
        let uids = UID_BASE + users + COLD_USERS;
        let groups = 1 + slot * COLD_GROUPS;
        let rows = [
            ("cold", format!("cold pwnam su 5 {users} {COLD_USERS}")),
            ("cold_uid", format!("coldid {uids} {COLD_USERS}")),
            (
                "cold_group",
                format!("cold grnam sg 4 {groups} {COLD_GROUPS}"),
            ),
        ];
        let slapd = roster_bench::peer::slapd_from_env();
        let daemon_tree = daemon.pid().map(process_tree).unwrap_or_default();
        let mut failures = 0;
        for ((key, args), count) in rows.into_iter().zip([COLD_USERS, COLD_USERS, COLD_GROUPS]) {
            if let Err(e) = roster_bench::peer::cold_row(key, &args, count, &daemon_tree, &slapd) {
                eprintln!("{key}: {e}");
                failures += 1;
            }
        }
        failures
    }

    /// Entry point of `--inner ARGS`; returns the exit code.
    pub fn run(args: &[String]) -> i32 {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["driver", mode, peer, dir, slot] => {
                let Some(mode) = Mode::parse(mode) else {
                    return 2;
                };
                match (Peer::parse(peer), slot.parse()) {
                    (Some(p), Ok(slot)) => driver(mode, p, Path::new(dir), slot),
                    _ => 2,
                }
            }
            ["cold", kind, prefix, width, first, count] => {
                roster_bench::inner::cold_printed(parse_op, [kind, prefix, width, first, count])
            }
            ["coldid", first, count] => {
                roster_bench::inner::cold_ids_printed(parse_op, first, count)
            }
            ["sweep", first, count, secs] => sweep(first, count, secs),
            _ => 2,
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn members_are_counted_from_a_group_line() {
            assert_eq!(members("g:*:10:a,b,c\n"), 3);
            assert_eq!(members("g:*:10:\n"), 0);
        }

        #[test]
        fn listings_count_directory_entries_only() {
            let pw = "root:x:0:0::/root:/bin/sh\nsudoer:x:5:5::/:/bin/sh\nalice:*:10001:10000::/home/alice:/bin/bash\nsu00001:*:200001:300001::/home/su00001:/bin/bash\n";
            assert_eq!(directory_users(pw), 2);
            let gr = "sudo:x:27:\nsg0001:*:300001:su00001\nbiggroup:*:299999:su00001\n";
            assert_eq!(directory_groups(gr), 2);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_has_the_promised_shape() {
        let ldif = scale_ldif();
        let entries = ldif.split("\n\n").filter(|e| !e.trim().is_empty());
        let (mut users, mut groups, mut big) = (0, 0, 0);
        for e in entries {
            if e.contains("objectClass: posixAccount") {
                users += 1;
            } else if e.contains("objectClass: posixGroup") {
                groups += 1;
                if e.starts_with(&format!("dn: cn={},", BIG.0)) {
                    big = e.matches("memberUid: ").count();
                }
            }
        }
        assert_eq!(users, USERS);
        assert_eq!(groups, GROUPS);
        assert_eq!(big, BIG_MEMBERS as usize);
        assert_eq!(bulk_user(USERS - 1), "su99999");
    }
}
