//! NSS lookups through libnss_roster.so.2 against glibc's `files` module,
//! all in one run: warm getpwnam/getpwuid/getgrnam/getgrouplist per call
//! and calls/s, cold first lookups, 16 processes in parallel, and the cost
//! of the module's building blocks (config cache, socket round trip, memory
//! cache read). Run with `cargo run --release -p roster-bench --bin nss`
//! (as root: it starts slapd and rosterd, and runs each measurement in a
//! private mount namespace whose nsswitch.conf it controls).
//!
//! `ROSTER_BENCH_PERF=FILE` records rosterd's cold lookups and first
//! initgroups with `perf record -g` into FILE.
//!
//! Every measured process is this binary started again with `--inner`
//! inside the namespace, so glibc loads the module exactly as any program
//! would.

use nss_roster::config::{ConfigCache, NssConfig};
use roster_bench::lookup::{self, last_entry_fields, Lookup};
use roster_bench::profile::Recording;
use roster_bench::setup::{build_release, load_average};
use roster_bench::stats::{batch_ns, mean, median, BATCH};
use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::dataset::{self, ALICE, MANYGROUPS};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::memcache::{
    monotonic_ms, Key, Mapping, MemcacheReader, MemcacheWriter, Record, MEMCACHE_FILE_NAME,
};
use roster_proto::{Client, Request, Response};
use std::ffi::CString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Batches per warm measurement.
const BATCHES: usize = 200;
/// Calls per process in the parallel measurement.
const PARALLEL_CALLS: usize = 20_000;
/// Processes in the parallel measurement.
const PROCS: usize = 16;
/// Processes per warm measurement (the best one is reported).
const ROUNDS: usize = 3;
/// Distinct users for the cold measurement.
const COLD_USERS: u32 = 200;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(inner::run(&args[2..]));
    }
    outer();
}

/// One lookup kind and its key, as passed to the inner process.
#[derive(Clone, Copy)]
enum Op {
    PwNam(&'static str),
    PwUid(u32),
    GrNam(&'static str),
    GroupList(&'static str, u32),
}

impl Op {
    fn args(&self) -> String {
        match self {
            Op::PwNam(n) => format!("pwnam {n}"),
            Op::PwUid(u) => format!("pwuid {u}"),
            Op::GrNam(n) => format!("grnam {n}"),
            Op::GroupList(n, g) => format!("grouplist {n}:{g}"),
        }
    }
}

/// Where lookups go in one scenario.
struct Scenario {
    label: &'static str,
    nsswitch: &'static str,
    /// Directory bind-mounted on /run/roster (None: no roster).
    socket_dir: Option<PathBuf>,
    ops: [Op; 4],
}

const FILES_ONLY: &str = "passwd: files\ngroup: files\nshadow: files\n";
const FILES_ROSTER: &str = "passwd: files roster\ngroup: files roster\nshadow: files\n";
const ROSTER_ONLY: &str = "passwd: roster\ngroup: roster\nshadow: files\n";

fn directory_ops() -> [Op; 4] {
    // mg0001 has one member (manygroups); alice is in a few groups.
    let group: &'static str = Box::leak(dataset::many_group(1).into_boxed_str());
    [
        Op::PwNam(ALICE.name),
        Op::PwUid(ALICE.uid),
        Op::GrNam(group),
        Op::GroupList(ALICE.name, ALICE.gid),
    ]
}

/// What `ROSTER_BENCH_MODULE_CALLGRIND` runs, a new process each: the
/// first lookup of a user by name and by UID, of a group by name and by
/// GID and of a user's groups, each of entries nobody asked yet (the
/// daemon answers) and then again (the memory cache does).
fn first_lookups_of_new_processes() -> Vec<String> {
    let ops = [
        format!("pwnam {}", dataset::bulk_user(401)),
        format!("pwuid {}", dataset::BULK_UID_BASE + 402),
        format!("grnam {}", dataset::many_group(403)),
        format!("grgid {}", dataset::MANY_GROUPS_GID_BASE + 404),
        format!("grouplist {}:{}", MANYGROUPS.name, MANYGROUPS.gid),
    ];
    ops.iter()
        .flat_map(|op| [format!("once {op}"), format!("once {op}")])
        .collect()
}

fn outer() {
    build_release_parts();
    let slapd = Slapd::start();
    let scratch = tempfile::Builder::new()
        .prefix("roster-bench-nss-")
        .tempdir()
        .expect("temp dir");
    let config = format!(
        "{}\n[cache]\nentry_ttl = 3600\n",
        domain_table(&slapd, scratch.path(), &DomainOptions::default())
    );
    let rd = Rosterd::start(&config);
    let exe = std::env::current_exe().expect("own path");
    let module = roster_e2e::paths::module("libnss_roster.so");
    let installed = roster_e2e::namespace::install_nss_module();
    // `runner`: what the inner process is started under (valgrind), or
    // nothing.
    let run_under = |runner: &str, nsswitch: &str, dir: Option<&Path>, args: &str| -> String {
        let mut ns = Namespace::new().nsswitch(nsswitch);
        if let Some(d) = dir {
            ns = ns.socket_dir(d);
        }
        // The module file in /lib is shared with every other namespace on
        // the host (tests install their debug build there): bind this
        // build's module over it, privately.
        ns.run_ok(&format!(
            "mount --bind {} {} && {runner} {} --inner {args}",
            module.display(),
            installed.display(),
            exe.display()
        ))
    };
    let run = |nsswitch: &str, dir: Option<&Path>, args: &str| -> String {
        run_under("", nsswitch, dir, args)
    };

    // Socket only: nss.sock and nss.conf, no memory cache file.
    let socket_only = scratch.path().join("socket-only");
    std::fs::create_dir_all(&socket_only).expect("mkdir");
    link_daemon(&rd.socket_dir(), &socket_only);

    println!(
        "roster NSS benchmark (release build, one run; lower per-call is better; load average {})\n",
        load_average()
    );

    // Cold first: nothing has asked the daemon about these yet; rosterd's
    // census of names and IDs (begun by a first lookup) is taken, as in a
    // daemon that has been running.
    rd.nss(&Request::UserByName(ALICE.name.into()));
    rd.wait_for_domain("rosterd's census", Duration::from_secs(60), |d| {
        d["census"]["users"].is_u64() && d["census"]["groups"].is_u64()
    });
    // ROSTER_BENCH_MODULE_CALLGRIND=DIR (bench/hot-code.sh module): the
    // module's first lookups in new processes under callgrind, and nothing
    // else.
    if let Some(dir) = std::env::var_os("ROSTER_BENCH_MODULE_CALLGRIND") {
        let runner = format!(
            "valgrind --tool=callgrind --demangle=no --callgrind-out-file={}/module.%p",
            Path::new(&dir).display()
        );
        for args in first_lookups_of_new_processes() {
            run_under(&runner, FILES_ROSTER, Some(&rd.socket_dir()), &args);
        }
        return;
    }
    // ROSTER_BENCH_PERF=FILE: rosterd's cold lookups under `perf record`.
    let perf = std::env::var("ROSTER_BENCH_PERF").ok().map(|file| {
        let pid = rd.pid().expect("rosterd runs");
        Recording::start(pid as u32, &file, &["-g", "-F", "20000"]).expect("perf record")
    });
    let cold = run(
        FILES_ROSTER,
        Some(&socket_only),
        &format!("cold pwnam u 5 {} {COLD_USERS}", 1),
    );
    let cold_initgroups = run(
        FILES_ROSTER,
        Some(&socket_only),
        &format!(
            "once {}",
            Op::GroupList(MANYGROUPS.name, MANYGROUPS.gid).args()
        ),
    );
    drop(perf); // stops the recording
    let warm_initgroups = run(
        FILES_ROSTER,
        Some(&socket_only),
        &format!(
            "warm {}",
            Op::GroupList(MANYGROUPS.name, MANYGROUPS.gid).args()
        ),
    );

    // The memory cache: rosterd's own file when it publishes one, else a
    // file this benchmark fills with rosterd's answers (same format, same
    // reader code in the module).
    let mc_dir = scratch.path().join("memcache");
    std::fs::create_dir_all(&mc_dir).expect("mkdir");
    link_daemon(&rd.socket_dir(), &mc_dir);
    let (mc_dir, mc_source) = prepare_memcache(&rd, &mc_dir);

    let first_ops = [
        Op::PwNam("daemon"),
        Op::PwUid(1),
        Op::GrNam("daemon"),
        Op::GroupList("daemon", 1),
    ];
    // glibc's `files` reads the file line by line: a name near the end (or
    // a miss, which every directory lookup pays first with `files roster`)
    // costs a whole scan.
    let last_ops = last_local_entries();
    let scenarios = [
        Scenario {
            label: "files, 2nd line of /etc/*",
            nsswitch: FILES_ONLY,
            socket_dir: None,
            ops: first_ops,
        },
        Scenario {
            label: "files, last line (the floor)",
            nsswitch: FILES_ONLY,
            socket_dir: None,
            ops: last_ops,
        },
        Scenario {
            label: "files roster, socket only",
            nsswitch: FILES_ROSTER,
            socket_dir: Some(socket_only.clone()),
            ops: directory_ops(),
        },
        Scenario {
            label: "files roster, memory cache",
            nsswitch: FILES_ROSTER,
            socket_dir: Some(mc_dir.clone()),
            ops: directory_ops(),
        },
        Scenario {
            label: "roster alone, socket only",
            nsswitch: ROSTER_ONLY,
            socket_dir: Some(socket_only.clone()),
            ops: directory_ops(),
        },
        Scenario {
            label: "roster alone, memory cache",
            nsswitch: ROSTER_ONLY,
            socket_dir: Some(mc_dir.clone()),
            ops: directory_ops(),
        },
    ];

    println!("Warm lookups, one process: median per call (µs) / calls per second");
    println!(
        "{:<34} {:>18} {:>18} {:>18} {:>18}",
        "scenario", "getpwnam", "getpwuid", "getgrnam", "getgrouplist"
    );
    let mut medians: Vec<[f64; 4]> = Vec::new();
    for s in &scenarios {
        let mut row = [0.0; 4];
        let mut cells = Vec::new();
        for (i, op) in s.ops.iter().enumerate() {
            // Best of ROUNDS processes: the machine is shared, the best
            // run is the one least disturbed.
            let (median_ns, per_sec) = (0..ROUNDS)
                .map(|_| {
                    parse_warm(&run(
                        s.nsswitch,
                        s.socket_dir.as_deref(),
                        &format!("warm {}", op.args()),
                    ))
                })
                .fold((f64::INFINITY, 0.0f64), |(m, p), (m2, p2)| {
                    (m.min(m2), p.max(p2))
                });
            row[i] = median_ns;
            cells.push(format!("{:>7.2} / {:>8.0}", median_ns / 1000.0, per_sec));
        }
        println!(
            "{:<34} {:>18} {:>18} {:>18} {:>18}",
            s.label, cells[0], cells[1], cells[2], cells[3]
        );
        medians.push(row);
    }
    let floor = medians[1];
    for (idx, label) in [
        (2, "files roster, socket"),
        (3, "files roster, memory cache"),
    ] {
        let r: Vec<String> = (0..4)
            .map(|i| format!("{:>18.2}", medians[idx][i] / floor[i]))
            .collect();
        println!("{:<34} {}", format!("ratio {label} / floor"), r.join(" "));
    }
    println!("(memory cache: {mc_source})\n");

    println!("Cold first lookups (the daemon asks slapd), files roster, socket:");
    println!("  getpwnam of {COLD_USERS} distinct users never asked before: {cold}");
    let many = Op::GroupList(MANYGROUPS.name, MANYGROUPS.gid).args();
    let warm_initgroups_mc = run(FILES_ROSTER, Some(&mc_dir), &format!("warm {many}"));
    println!(
        "  getgrouplist of a user in 1,000 groups: first {} µs; warm median {:.1} µs (socket), \
         {:.1} µs (memory cache)",
        cold_initgroups.trim(),
        parse_warm(&warm_initgroups).0 / 1000.0,
        parse_warm(&warm_initgroups_mc).0 / 1000.0
    );
    let big = Op::GrNam("biggroup").args();
    let big_socket = run(FILES_ROSTER, Some(&socket_only), &format!("warm {big}"));
    let big_mc = run(FILES_ROSTER, Some(&mc_dir), &format!("warm {big}"));
    println!(
        "  getgrnam of a group with 5,000 members: warm median {:.1} µs (socket), {:.1} µs \
         (memory cache)",
        parse_warm(&big_socket).0 / 1000.0,
        parse_warm(&big_mc).0 / 1000.0
    );
    // rosterd's own negative answer each time over the socket; from the
    // memory cache once rosterd has published it (the warm-up's first
    // call).
    let none = "warm pwnam-none nosuchuser";
    let none_socket = run(FILES_ROSTER, Some(&socket_only), none);
    let none_mc = run(FILES_ROSTER, Some(&mc_dir), none);
    println!(
        "  getpwnam of a name nobody has, asked again: median {:.1} µs (socket), {:.1} µs \
         (memory cache)",
        parse_warm(&none_socket).0 / 1000.0,
        parse_warm(&none_mc).0 / 1000.0
    );
    println!();

    println!("{PROCS} processes in parallel, warm getpwnam, {PARALLEL_CALLS} calls each:");
    for (label, nsswitch, dir, op) in [
        ("files, local entry", FILES_ONLY, None, Op::PwNam("daemon")),
        (
            "files roster, socket only",
            FILES_ROSTER,
            Some(socket_only.as_path()),
            Op::PwNam(ALICE.name),
        ),
        (
            "files roster, memory cache",
            FILES_ROSTER,
            Some(mc_dir.as_path()),
            Op::PwNam(ALICE.name),
        ),
        (
            "roster alone, memory cache",
            ROSTER_ONLY,
            Some(mc_dir.as_path()),
            Op::PwNam(ALICE.name),
        ),
    ] {
        let out = run(
            nsswitch,
            dir,
            &format!("parallel {PROCS} {PARALLEL_CALLS} {}", op.args()),
        );
        println!(
            "  {label:<32} {:>10.0} calls/s",
            out.trim().parse::<f64>().unwrap_or(0.0)
        );
    }
    println!();

    for (label, dir) in [
        ("memory cache", mc_dir.as_path()),
        ("socket only", socket_only.as_path()),
    ] {
        let out = run(
            ROSTER_ONLY,
            Some(dir),
            &format!("warm hook-pwnam {}", ALICE.name),
        );
        println!(
            "_nss_roster_getpwnam_r called directly ({label}): {:>8.3} µs",
            parse_warm(&out).0 / 1000.0
        );
    }
    building_blocks(&rd, &mc_dir);
    drop(rd);
    drop(slapd);
}

/// getpwnam/getpwuid/getgrnam/getgrouplist keys of the last lines of
/// /etc/passwd and /etc/group.
fn last_local_entries() -> [Op; 4] {
    let last = |path: &str| -> (String, u32, u32) {
        let f = last_entry_fields(path);
        let num = |i: usize| f.get(i).and_then(|v| v.parse().ok()).unwrap_or(0);
        (f[0].clone(), num(2), num(3))
    };
    let (user, uid, gid) = last("/etc/passwd");
    let (group, _, _) = last("/etc/group");
    let leak = |s: String| -> &'static str { Box::leak(s.into_boxed_str()) };
    let user = leak(user);
    [
        Op::PwNam(user),
        Op::PwUid(uid),
        Op::GrNam(leak(group)),
        Op::GroupList(user, gid),
    ]
}

/// Builds the release rosterd and module this benchmark loads.
fn build_release_parts() {
    build_release("building rosterd and the modules failed");
}

/// Makes `dir` a socket directory that reaches the daemon in `daemon_dir`
/// (a symlink to its nss.sock) with a copy of its nss.conf.
fn link_daemon(daemon_dir: &Path, dir: &Path) {
    let sock = dir.join(roster_proto::NSS_SOCKET_NAME);
    let _ = std::fs::remove_file(&sock);
    std::os::unix::fs::symlink(daemon_dir.join(roster_proto::NSS_SOCKET_NAME), &sock)
        .expect("symlink nss.sock");
    let conf = daemon_dir.join("nss.conf");
    if conf.exists() {
        std::fs::copy(&conf, dir.join("nss.conf")).expect("copy nss.conf");
    }
}

/// The socket directory for the memory-cache scenarios: rosterd's own when
/// it publishes `nss.mc`, else `dir` with a file filled here with rosterd's
/// answers (same format, same reader code in the module). Returns the
/// directory and where the file came from.
fn prepare_memcache(rd: &Rosterd, dir: &Path) -> (PathBuf, &'static str) {
    let ops = directory_ops();
    let Op::GrNam(group) = ops[2] else {
        unreachable!("directory_ops()[2] is a group name")
    };
    // Ask once through the socket so that a publishing daemon has it all.
    let requests = [
        Request::UserByName(ALICE.name.into()),
        Request::UserByUid(ALICE.uid),
        Request::GroupByName(group.into()),
        Request::GroupsOfUser(ALICE.name.into()),
    ];
    let answers: Vec<Response> = requests.iter().map(|r| rd.nss(r)).collect();
    if rd.socket_dir().join(MEMCACHE_FILE_NAME).exists() {
        return (rd.socket_dir(), "published by rosterd");
    }
    // Carrying the module's settings, as rosterd's files do.
    let settings = std::fs::read(rd.socket_dir().join("nss.conf")).expect("rosterd's nss.conf");
    let path = dir.join(MEMCACHE_FILE_NAME);
    let mut w = MemcacheWriter::create_with_settings(&path, 1024, 1 << 20, Some(&settings))
        .expect("create memory cache");
    let expires = monotonic_ms() + 3_600_000;
    for (req, answer) in requests.iter().zip(answers) {
        let record = match (req, answer) {
            (_, Response::User(u)) => Record::User(u),
            (_, Response::Group(g)) => Record::Group(g),
            (Request::GroupsOfUser(n), Response::Gids(gids)) => Record::Initgroups {
                user: n.clone(),
                gids,
            },
            (req, other) => panic!("rosterd answered {req:?} with {other:?}"),
        };
        w.put(&record, expires).expect("fill memory cache");
    }
    // Dropping the writer unmaps it; the file stays for the readers.
    drop(w);
    (
        dir.to_path_buf(),
        "rosterd does not publish nss.mc yet: filled by this benchmark with rosterd's answers",
    )
}

fn parse_warm(out: &str) -> (f64, f64) {
    let mut it = out
        .split_whitespace()
        .map(|v| v.parse::<f64>().unwrap_or(f64::NAN));
    let median = it.next().unwrap_or(f64::NAN);
    let per_sec = it.next().unwrap_or(f64::NAN);
    (median, per_sec)
}

/// The module's parts measured in this process: what the hot path costs.
fn building_blocks(rd: &Rosterd, mc_dir: &Path) {
    println!("Building blocks (this process, median per call):");
    let conf = rd.socket_dir().join("nss.conf");
    let cache = ConfigCache::new();
    let cached = time_per_call(|| {
        black_box(cache.get(&conf));
    });
    let fresh = time_per_call(|| {
        black_box(NssConfig::load(&conf));
    });
    let (reader, carried_cache) = (MemcacheReader::new(), ConfigCache::new());
    let mc = mc_dir.join(MEMCACHE_FILE_NAME);
    let carried = time_per_call(|| {
        black_box(carried_cache.get_carried(&conf, &reader, &mc));
    });
    println!(
        "  settings from the memory cache (as lookups take them): {:>7.3} µs",
        carried / 1000.0
    );
    println!(
        "  nss.conf from the in-memory cache (stat at most 1/s): {:>8.3} µs",
        cached / 1000.0
    );
    println!(
        "  nss.conf read and parsed on every call:               {:>8.3} µs",
        fresh / 1000.0
    );
    let sock = rd.nss_socket();
    let rt = socket_round_trip(&sock);
    println!(
        "  socket round trip to rosterd (connect + UserByUid):   {:>8.3} µs",
        rt / 1000.0
    );
    let floor = minimal_server_round_trip(rd);
    println!(
        "  same to a minimal blocking server (the floor):        {:>8.3} µs",
        floor / 1000.0
    );
    let event_loop = minimal_event_loop_round_trip(rd);
    println!(
        "  same to a minimal tokio current-thread server:        {:>8.3} µs",
        event_loop / 1000.0
    );
    if let Ok(m) = Mapping::open(&mc_dir.join(MEMCACHE_FILE_NAME)) {
        let read = time_per_call(|| {
            black_box(m.get(&Key::Uid(ALICE.uid), monotonic_ms()));
        });
        println!(
            "  memory cache read (hash, probe, copy, decode):        {:>8.3} µs",
            read / 1000.0
        );
    }
}

/// Round trip through a one-thread blocking server that answers every
/// request with rosterd's reply for alice: what a socket lookup costs
/// before any daemon-side work.
fn minimal_server_round_trip(rd: &Rosterd) -> f64 {
    use roster_proto::{encode_response, parse_header};
    use std::io::{Read, Write};
    let reply = encode_response(&rd.nss(&Request::UserByUid(ALICE.uid)));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("floor.sock");
    let listener = std::os::unix::net::UnixListener::bind(&path).expect("bind");
    let server = std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut s) = conn else { break };
            let mut prefix = [0u8; 4];
            if s.read_exact(&mut prefix).is_err() {
                break; // the final wake-up connection
            }
            let Ok(h) = parse_header(prefix) else { break };
            let mut body = vec![0u8; h.len];
            if s.read_exact(&mut body).is_err() || s.write_all(&reply).is_err() {
                break;
            }
        }
    });
    let t = socket_round_trip(&path);
    drop(std::os::unix::net::UnixStream::connect(&path));
    let _ = server.join();
    t
}

/// Round trip through a minimal server built as rosterd's is (a tokio
/// current-thread runtime, a task per connection, each reading requests
/// until the peer closes) answering every request with rosterd's reply
/// for alice: what the event-loop design costs before any daemon-side
/// work, against [`minimal_server_round_trip`]'s blocking thread.
fn minimal_event_loop_round_trip(rd: &Rosterd) -> f64 {
    use roster_proto::{encode_response, parse_header};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let reply = encode_response(&rd.nss(&Request::UserByUid(ALICE.uid)));
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("loop.sock");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let listener = {
        let _guard = runtime.enter();
        tokio::net::UnixListener::bind(&path).expect("bind")
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = std::thread::spawn(move || {
        runtime.block_on(async move {
            let accept = async {
                while let Ok((mut s, _)) = listener.accept().await {
                    let reply = reply.clone();
                    tokio::spawn(async move {
                        loop {
                            let mut prefix = [0u8; 4];
                            if s.read_exact(&mut prefix).await.is_err() {
                                return;
                            }
                            let Ok(h) = parse_header(prefix) else { return };
                            let mut body = vec![0u8; h.len];
                            if s.read_exact(&mut body).await.is_err()
                                || s.write_all(&reply).await.is_err()
                            {
                                return;
                            }
                        }
                    });
                }
            };
            tokio::select! {
                _ = accept => {}
                _ = stopped => {}
            }
        })
    });
    let t = socket_round_trip(&path);
    let _ = stop.send(());
    let _ = server.join();
    t
}

/// Median time of a UserByUid question to the server at `socket`
/// (connect, ask, read the answer).
fn socket_round_trip(socket: &Path) -> f64 {
    time_per_call(|| {
        let r = Client::request_once(
            socket,
            &Request::UserByUid(ALICE.uid),
            Duration::from_secs(3),
        );
        black_box(r.ok());
    })
}

/// Median over batches of the time per call of `f`.
fn time_per_call(mut f: impl FnMut()) -> f64 {
    for _ in 0..BATCH {
        f();
    }
    let mut batches: Vec<f64> = (0..50).map(|_| batch_ns(&mut f)).collect();
    median(&mut batches)
}

/// The measuring side, run inside the namespace.
mod inner {
    use super::*;

    /// One lookup as a closure returning "found": the libc lookups, and
    /// `hook-pwnam`, the module's own entry point called directly (its
    /// cost without glibc's NSS dispatch).
    fn parse_op(kind: &str, key: &str) -> Option<Lookup> {
        if kind != "hook-pwnam" {
            return lookup::parse_op(kind, key);
        }
        let name = CString::new(key).ok()?;
        let mut buf = vec![0u8; 4096];
        Some(Box::new(move || {
            // SAFETY: zeroed passwd is valid; buf outlives the call.
            let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
            let mut errno = 0;
            // SAFETY: valid name, struct, buffer and errno pointers.
            let rc = unsafe {
                nss_roster::hooks::_nss_roster_getpwnam_r(
                    name.as_ptr(),
                    &mut pw,
                    buf.as_mut_ptr().cast(),
                    buf.len(),
                    &mut errno,
                )
            };
            rc == 1
        }))
    }

    /// Entry point of `--inner ARGS`; returns the exit code.
    pub fn run(args: &[String]) -> i32 {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            ["warm", kind, key] => {
                let Some(mut f) = parse_op(kind, key) else {
                    return 2;
                };
                for _ in 0..BATCH {
                    if !f() {
                        eprintln!("{kind} {key}: lookup failed");
                        return 1;
                    }
                }
                let total = Instant::now();
                let mut batches: Vec<f64> = (0..BATCHES).map(|_| batch_ns(&mut f)).collect();
                let per_sec = (BATCH * BATCHES) as f64 / total.elapsed().as_secs_f64();
                println!("{} {}", median(&mut batches), per_sec);
                0
            }
            ["once", kind, key] => roster_bench::inner::once(parse_op, kind, key),
            ["cold", kind, prefix, width, first, count] => {
                match roster_bench::inner::cold(parse_op, kind, prefix, width, first, count) {
                    Ok(times) if times.is_empty() => 2,
                    Ok(times) => {
                        let mean = mean(&times);
                        println!(
                            "median {:.0} µs, mean {:.0} µs, max {:.0} µs",
                            times[times.len() / 2],
                            mean,
                            times[times.len() - 1]
                        );
                        0
                    }
                    Err(code) => code,
                }
            }
            ["parallel", procs, calls, kind, key] => {
                roster_bench::inner::parallel(parse_op, procs, calls, kind, key)
            }
            _ => 2,
        }
    }
}
