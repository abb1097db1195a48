//! Soak: rosterd under a long mixed load, watched as an administrator
//! would watch it in `top`. Run with `make soak` (30 minutes) or
//! `SOAK_SECONDS=300 cargo run --release -p roster-bench --bin soak` (as
//! root: it starts its own slapd with the sample directory and a release
//! rosterd with `cache_credentials = true`).
//!
//! The load, all at once for the whole run:
//! - lookups on `nss.sock` (the NSS module's protocol, without the memory
//!   cache file, so every lookup reaches the daemon): warm ones (alice by
//!   name and UID, `staff`, alice's groups) and cold ones (the 5,000 bulk
//!   users by name and UID in turn, the 5,000-member `biggroup`);
//! - enumeration (`getent passwd` page walk) now and then;
//! - logins on `pam.sock` (pam_roster's protocol): right passwords of
//!   alice, bob and carol, wrong ones for dave and manygroups; each right
//!   one stores an argon2id hash, each wrong one deletes one;
//! - a cache flush (and a configuration reload) every 5 minutes, scaled to
//!   the run length (six per run), after which lookups refill cold.
//!
//! Every 30 s (scaled down for short runs) it prints rosterd's RSS,
//! descriptors, threads, and the lookups, logins and failures so far; at
//! the end the RSS slope over the last half of the run (a least-squares fit
//! of one sample a second) and the ranges. `SOAK_SKIP=lookups,logins,
//! enumeration,flush` leaves parts of the load out (to see what costs
//! memory).
//!
//! Then, in the same run and against the same slapd, SSSD and nslcd when
//! they are installed (`make deps-bench`; `SOAK_PEERS=sssd,nslcd` is the
//! default, `SOAK_PEERS=` leaves them out), one after another, each for
//! the same length as rosterd (`SOAK_SECONDS` each, so the whole run takes
//! about three times `SOAK_SECONDS`). Each runs inside its own private
//! mount namespace ([`roster_bench::peer`], as in the `peers` benchmark),
//! under the same mix through its own client side: the same warm and cold
//! lookups through glibc with `files sss` (with `SSS_NSS_USE_MEMCACHE=NO`,
//! so that every lookup reaches sssd as every lookup of the roster part
//! reaches rosterd) and `files ldap`, a `getpwent` walk
//! each report interval (SSSD with `enumerate = true`), logins through
//! `pamtester` with `pam_sss`/`pam_ldap` (SSSD with `cache_credentials =
//! true`), and at each flush point `sss_cache -E` for SSSD (nslcd keeps no
//! cache). The RSS of all the daemon's processes (sssd's monitor,
//! back end and responders summed; nslcd's one) is sampled every second,
//! and the end shows start, peak, end, slope over the last half and
//! failures beside rosterd's.

use roster_bench::lookup::parse_op;
use roster_bench::peer::{
    pamtester, prepare, rss_tree_kb, use_nsswitch, Daemon, Peer, Setup, PAM_SERVICE,
};
use roster_bench::setup::{build_release, load_average};
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{self, ALICE, BOB, CAROL, DAVE, MANYGROUPS, STAFF_GID};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Client, PamCode, Request, Response, Secret};
use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Threads doing lookups.
const LOOKUP_THREADS: usize = 2;
/// Threads doing logins.
const LOGIN_THREADS: usize = 2;
/// Per-request time bound.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Counters shared by the load threads.
#[derive(Default)]
struct Counters {
    lookups: AtomicU64,
    lookup_failures: AtomicU64,
    good_logins: AtomicU64,
    wrong_logins: AtomicU64,
    login_failures: AtomicU64,
    enumerations: AtomicU64,
    flushes: AtomicU64,
    other_failures: AtomicU64,
}

/// One sample of the daemon's resources.
#[derive(Clone, Copy)]
struct Sample {
    secs: f64,
    rss_kib: u64,
    anon_kib: u64,
    fds: u64,
    threads: u64,
}

/// The run's timing, derived from `SOAK_SECONDS`.
#[derive(Clone, Copy)]
struct Timing {
    seconds: u64,
    interval: Duration,
    flush_every: Duration,
}

impl Timing {
    fn new(seconds: u64) -> Timing {
        Timing {
            seconds,
            interval: Duration::from_secs((seconds / 10).clamp(5, 30)),
            flush_every: Duration::from_secs((seconds / 6).clamp(5, 300)),
        }
    }
}

/// What the end table shows of one system.
struct Outcome {
    start_kib: u64,
    peak_kib: u64,
    end_kib: u64,
    slope_mb_per_hour: f64,
    samples: usize,
    processes: u64,
    lookups: u64,
    logins: u64,
    failures: u64,
}

impl Outcome {
    /// `processes`: how many processes the daemon had at the end.
    fn of(samples: &[Sample], c: &Counters, processes: u64) -> Option<Outcome> {
        let half = &samples[samples.len() / 2..];
        Some(Outcome {
            start_kib: samples.first()?.rss_kib,
            peak_kib: samples.iter().map(|s| s.rss_kib).max()?,
            end_kib: samples.last()?.rss_kib,
            slope_mb_per_hour: slope_kib_per_s(half, |s| s.rss_kib) * 3600.0 / 1024.0,
            samples: half.len(),
            processes,
            lookups: c.lookups.load(Ordering::Relaxed),
            logins: c.good_logins.load(Ordering::Relaxed) + c.wrong_logins.load(Ordering::Relaxed),
            failures: c.lookup_failures.load(Ordering::Relaxed)
                + c.login_failures.load(Ordering::Relaxed)
                + c.other_failures.load(Ordering::Relaxed),
        })
    }

    /// The `result …` line a peer's driver prints.
    fn line(&self) -> String {
        format!(
            "result {} {} {} {} {} {} {} {} {}",
            self.start_kib,
            self.peak_kib,
            self.end_kib,
            self.slope_mb_per_hour,
            self.samples,
            self.processes,
            self.lookups,
            self.logins,
            self.failures
        )
    }

    fn parse(line: &str) -> Option<Outcome> {
        let v: Vec<&str> = line.strip_prefix("result ")?.split(' ').collect();
        let n = |i: usize| v.get(i).and_then(|x| x.parse::<u64>().ok());
        Some(Outcome {
            start_kib: n(0)?,
            peak_kib: n(1)?,
            end_kib: n(2)?,
            slope_mb_per_hour: v.get(3)?.parse().ok()?,
            samples: n(4)? as usize,
            processes: n(5)?,
            lookups: n(6)?,
            logins: n(7)?,
            failures: n(8)?,
        })
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(peer_soak::run(&args[2..]));
    }
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|s| s.parse().expect("SOAK_SECONDS: a number of seconds"))
        .unwrap_or(1800);
    assert!(seconds >= 10, "SOAK_SECONDS: at least 10");
    let timing = Timing::new(seconds);
    let interval = timing.interval;
    let skip = std::env::var("SOAK_SKIP").unwrap_or_default();
    let skipped = |part: &str| skip.split(',').any(|s| s.trim() == part);
    let flush_every = timing.flush_every;

    build_release("building the release rosterd failed");
    let slapd = Slapd::start();
    let scratch = tempfile::Builder::new()
        .prefix("roster-soak-")
        .tempdir()
        .expect("temp dir");
    let opts = DomainOptions {
        transport: Transport::StartTls,
        extra: vec!["cache_credentials = true".into()],
        ..Default::default()
    };
    let config = format!(
        "[cache]\nenumerate = true\n\n[daemon]\nsocket_dir = \"@SOCKET_DIR@\"\n\
         state_dir = \"@STATE_DIR@\"\nlog_level = \"info\"\n\n{}",
        domain_table(&slapd, scratch.path(), &opts)
    );
    let mut rd = Rosterd::start(&config);
    let pid = rd.pid().expect("rosterd pid");
    let nss = rd.nss_socket();
    let pam = rd.pam_socket();

    println!(
        "soak: {seconds} s against a private slapd (5,000 bulk users), rosterd pid {pid} \
         (release), cache_credentials = true; report every {} s, cache flush and reload every {} s; \
         load average at start {}",
        interval.as_secs(),
        flush_every.as_secs(),
        load_average()
    );
    println!(
        "{:>6} {:>9} {:>8} {:>5} {:>7} {:>11} {:>9} {:>9} {:>8}",
        "t(s)", "RSS(MB)", "heap(MB)", "fds", "threads", "lookups", "good", "wrong", "failures"
    );

    let stop = Arc::new(AtomicBool::new(false));
    let counts = Arc::new(Counters::default());
    let mut workers = Vec::new();
    let lookup_threads = if skipped("lookups") {
        0
    } else {
        LOOKUP_THREADS
    };
    let login_threads = if skipped("logins") { 0 } else { LOGIN_THREADS };
    if !skip.is_empty() {
        println!("left out: {skip}");
    }
    for t in 0..lookup_threads {
        let (stop, counts, nss) = (stop.clone(), counts.clone(), nss.clone());
        workers.push(std::thread::spawn(move || lookups(t, &nss, &stop, &counts)));
    }
    for t in 0..login_threads {
        let (stop, counts, pam) = (stop.clone(), counts.clone(), pam.clone());
        workers.push(std::thread::spawn(move || logins(t, &pam, &stop, &counts)));
    }

    let start = Instant::now();
    let end = start + Duration::from_secs(seconds);
    let mut samples: Vec<Sample> = Vec::new();
    // Index of the first sample of each flush cycle after the first.
    let mut cycle_starts: Vec<usize> = Vec::new();
    let mut next_report = start + interval;
    let mut next_flush = start + flush_every;
    let mut next_enum = start + interval / 2;
    while Instant::now() < end {
        std::thread::sleep(Duration::from_secs(1));
        let now = Instant::now();
        let Some(sample) = sample(pid, start) else {
            stop.store(true, Ordering::SeqCst);
            panic!("rosterd is gone:\n{}", tail(&rd.log(), 30));
        };
        samples.push(sample);
        // No flush in the last report interval: the end figures are those of
        // a filled cache, not of one just emptied.
        if now >= next_flush && now + interval < end && !skipped("flush") {
            next_flush += flush_every;
            cycle_starts.push(samples.len());
            let reply = rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
            if !reply.contains("\"ok\":true") {
                counts.other_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("flush failed: {reply}");
            }
            if !rd.reload() {
                counts.other_failures.fetch_add(1, Ordering::Relaxed);
                eprintln!("reload refused");
            }
            counts.flushes.fetch_add(1, Ordering::Relaxed);
        }
        if now >= next_enum && !skipped("enumeration") {
            next_enum += interval;
            if enumerate(&nss) {
                counts.enumerations.fetch_add(1, Ordering::Relaxed);
            } else {
                counts.other_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
        if now >= next_report {
            next_report += interval;
            report(&sample, &counts);
        }
    }
    stop.store(true, Ordering::SeqCst);
    for w in workers {
        let _ = w.join();
    }
    if let Some(last) = sample(pid, start) {
        report(&last, &counts);
        samples.push(last);
    }
    summary(seconds, &samples, &counts);
    cycle_peaks(&samples, &cycle_starts);
    rd.stop();
    let mut outcomes = vec![("rosterd".to_string(), Outcome::of(&samples, &counts, 1))];
    outcomes.extend(peers(&slapd, timing, &skip));
    peer_table(seconds, &outcomes);
}

fn status_field(text: &str, field: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

fn sample(pid: i32, start: Instant) -> Option<Sample> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).ok()?.count() as u64;
    Some(Sample {
        secs: start.elapsed().as_secs_f64(),
        rss_kib: status_field(&status, "VmRSS")?,
        anon_kib: status_field(&status, "RssAnon")?,
        threads: status_field(&status, "Threads")?,
        fds,
    })
}

fn mb(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn report(s: &Sample, c: &Counters) {
    let failures = c.lookup_failures.load(Ordering::Relaxed)
        + c.login_failures.load(Ordering::Relaxed)
        + c.other_failures.load(Ordering::Relaxed);
    println!(
        "{:>6.0} {:>9.1} {:>8.1} {:>5} {:>7} {:>11} {:>9} {:>9} {:>8}",
        s.secs,
        mb(s.rss_kib),
        mb(s.anon_kib),
        s.fds,
        s.threads,
        c.lookups.load(Ordering::Relaxed),
        c.good_logins.load(Ordering::Relaxed),
        c.wrong_logins.load(Ordering::Relaxed),
        failures
    );
}

/// Least-squares slope of `field` (KiB) over time (s).
fn slope_kib_per_s(samples: &[Sample], field: fn(&Sample) -> u64) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let mx = samples.iter().map(|s| s.secs).sum::<f64>() / n;
    let my = samples.iter().map(|s| field(s) as f64).sum::<f64>() / n;
    let (mut sxy, mut sxx) = (0.0, 0.0);
    for s in samples {
        sxy += (s.secs - mx) * (field(s) as f64 - my);
        sxx += (s.secs - mx) * (s.secs - mx);
    }
    if sxx == 0.0 {
        0.0
    } else {
        sxy / sxx
    }
}

fn summary(seconds: u64, samples: &[Sample], c: &Counters) {
    let Some(last) = samples.last() else {
        return;
    };
    let half = &samples[samples.len() / 2..];
    let slope = slope_kib_per_s(half, |s| s.rss_kib);
    let heap_slope = slope_kib_per_s(half, |s| s.anon_kib);
    let range = |f: fn(&Sample) -> u64, part: &[Sample]| {
        let min = part.iter().map(f).min().unwrap_or(0);
        let max = part.iter().map(f).max().unwrap_or(0);
        (min, max)
    };
    let (rss_min, rss_max) = range(|s| s.rss_kib, samples);
    let (half_min, half_max) = range(|s| s.rss_kib, half);
    let (heap_min, heap_max) = range(|s| s.anon_kib, samples);
    let (heap_half_min, heap_half_max) = range(|s| s.anon_kib, half);
    let (fd_min, fd_max) = range(|s| s.fds, samples);
    let (th_min, th_max) = range(|s| s.threads, samples);
    let lookups = c.lookups.load(Ordering::Relaxed);
    let good = c.good_logins.load(Ordering::Relaxed);
    let wrong = c.wrong_logins.load(Ordering::Relaxed);
    println!();
    println!("summary ({seconds} s run):");
    println!(
        "  rosterd RSS: {:.1} MB at the end; {:.1}-{:.1} MB over the run, {:.1}-{:.1} MB over the last half",
        mb(last.rss_kib),
        mb(rss_min),
        mb(rss_max),
        mb(half_min),
        mb(half_max)
    );
    println!(
        "  of which heap (RssAnon): {:.1} MB at the end; {:.1}-{:.1} MB over the run, {:.1}-{:.1} MB over the last half \
         (the rest is mapped files, mostly the nss.mc table rosterd writes)",
        mb(last.anon_kib),
        mb(heap_min),
        mb(heap_max),
        mb(heap_half_min),
        mb(heap_half_max)
    );
    println!(
        "  slope over the last half ({} samples): RSS {:+.2} MB/hour, heap {:+.2} MB/hour",
        half.len(),
        slope * 3600.0 / 1024.0,
        heap_slope * 3600.0 / 1024.0
    );
    println!("  descriptors: {fd_min}-{fd_max}; threads: {th_min}-{th_max}");
    println!(
        "  load: {lookups} lookups ({:.0}/s), {good} right-password and {wrong} wrong-password logins \
         ({:.1}/s), {} enumerations, {} flushes + reloads",
        lookups as f64 / seconds as f64,
        (good + wrong) as f64 / seconds as f64,
        c.enumerations.load(Ordering::Relaxed),
        c.flushes.load(Ordering::Relaxed)
    );
    println!(
        "  failures: {} lookups, {} logins, {} other (flush, reload, enumeration)",
        c.lookup_failures.load(Ordering::Relaxed),
        c.login_failures.load(Ordering::Relaxed),
        c.other_failures.load(Ordering::Relaxed)
    );
}

/// The highest RSS and heap of each flush cycle: a leak shows as rising
/// peaks, a high-water mark as flat ones.
fn cycle_peaks(samples: &[Sample], starts: &[usize]) {
    let mut bounds = vec![0];
    bounds.extend_from_slice(starts);
    bounds.push(samples.len());
    let peaks: Vec<String> = bounds
        .windows(2)
        .filter(|w| w[0] < w[1])
        .map(|w| {
            let part = &samples[w[0]..w[1]];
            let rss = part.iter().map(|s| s.rss_kib).max().unwrap_or(0);
            let heap = part.iter().map(|s| s.anon_kib).max().unwrap_or(0);
            format!("{:.1}/{:.1}", mb(rss), mb(heap))
        })
        .collect();
    println!(
        "  peak RSS/heap (MB) of each flush cycle, in order: {}",
        peaks.join(", ")
    );
}

/// SSSD and nslcd (those of `SOAK_PEERS` that are installed), one after
/// another, each in its own namespace for `timing.seconds`; their outcome
/// (None: not installed or the driver failed, said on stderr).
fn peers(slapd: &Slapd, timing: Timing, skip: &str) -> Vec<(String, Option<Outcome>)> {
    let wanted = std::env::var("SOAK_PEERS").unwrap_or_else(|_| "sssd,nslcd".into());
    let mut out = Vec::new();
    // (nslcd drops to its own user: the CA is copied where it can read it.)
    let (scratch, ca, _) = roster_bench::peer::scratch(slapd, "roster-soak-peers-");
    let setup = Setup {
        slapd,
        ca,
        // Only the peers run in a namespace here (rosterd runs as above).
        pam_roster: PathBuf::new(),
        roster_domain: String::new(),
        sssd_enumerate: true,
    };
    let exe = std::env::current_exe().expect("own path");
    for peer in [Peer::Sssd, Peer::Nslcd] {
        if !wanted.split(',').any(|w| w.trim() == peer.name()) {
            continue;
        }
        if !peer.installed() {
            println!("\n{}: not installed (`make deps-bench`)", peer.name());
            out.push((peer.name().to_string(), None));
            continue;
        }
        let dir = scratch.path().join(peer.name());
        let mut script = prepare(peer, &dir, &setup);
        script += &format!(
            "exec {} --inner {} {} {} {}",
            exe.display(),
            peer.name(),
            dir.display(),
            timing.seconds,
            if skip.is_empty() { "-" } else { skip }
        );
        println!(
            "\n{}: the same load for {} s in its own mount namespace (load average {})",
            peer.name(),
            timing.seconds,
            load_average()
        );
        let mut child = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(&script)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .expect("run unshare");
        let mut outcome = None;
        let stdout = child.stdout.take().expect("piped stdout");
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            match Outcome::parse(&line) {
                Some(o) => outcome = Some(o),
                None => println!("{line}"),
            }
        }
        let status = child.wait().expect("wait for the peer's driver");
        if !status.success() {
            eprintln!("{}: driver ended with {status}", peer.name());
        }
        out.push((peer.name().to_string(), outcome));
    }
    out
}

/// The side by side table at the end of the run.
fn peer_table(seconds: u64, outcomes: &[(String, Option<Outcome>)]) {
    println!();
    println!(
        "RSS of each daemon (all its processes) under the same load, {seconds} s each, one after \
         another:"
    );
    println!(
        "| | start | peak | end | slope over the last half | lookups | logins | failures |\n\
         |---|---|---|---|---|---|---|---|"
    );
    for (name, o) in outcomes {
        match o {
            Some(o) => println!(
                "| {name} ({} process{}) | {:.1} MB | {:.1} MB | {:.1} MB | {:+.1} MB/hour ({} samples) | {} | {} | {} |",
                o.processes,
                if o.processes == 1 { "" } else { "es" },
                mb(o.start_kib),
                mb(o.peak_kib),
                mb(o.end_kib),
                o.slope_mb_per_hour,
                o.samples,
                o.lookups,
                o.logins,
                o.failures
            ),
            None => println!("| {name} | not measured (see above) | | | | | | |"),
        }
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// A connection that is re-opened after an error.
struct Conn {
    path: PathBuf,
    client: Option<Client>,
}

impl Conn {
    fn new(path: &std::path::Path) -> Conn {
        Conn {
            path: path.to_path_buf(),
            client: None,
        }
    }

    fn call(&mut self, req: &Request) -> Result<Response, String> {
        if self.client.is_none() {
            self.client =
                Some(Client::connect(&self.path, CALL_TIMEOUT).map_err(|e| e.to_string())?);
        }
        let client = self.client.as_mut().expect("connected");
        match client.call(req) {
            Ok(r) => Ok(r),
            Err(e) => {
                self.client = None;
                Err(e.to_string())
            }
        }
    }
}

/// Warm and cold lookups until `stop`.
fn lookups(thread: usize, nss: &std::path::Path, stop: &AtomicBool, c: &Counters) {
    let mut conn = Conn::new(nss);
    let mut bulk = 1 + (thread as u32) * dataset::BULK_USERS / 2;
    let mut i: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let name = dataset::bulk_user(bulk);
        let uid = dataset::BULK_UID_BASE + bulk;
        bulk = bulk % dataset::BULK_USERS + 1;
        let mut reqs = vec![
            (Request::UserByName(ALICE.name.into()), true),
            (Request::UserByUid(ALICE.uid), true),
            (Request::GroupByGid(STAFF_GID), true),
            (Request::GroupsOfUser(ALICE.name.into()), true),
            (Request::UserByName(name), true),
            (Request::UserByUid(uid), true),
            (Request::UserByName("no-such-user-soak".into()), false),
        ];
        if i.is_multiple_of(64) {
            reqs.push((Request::GroupByName("biggroup".into()), true));
        }
        for (req, exists) in reqs {
            let ok = match conn.call(&req) {
                Ok(Response::User(_) | Response::Group(_) | Response::Gids(_)) => exists,
                Ok(Response::NotFound) => !exists,
                Ok(other) => {
                    eprintln!("lookup {req:?}: {other:?}");
                    false
                }
                Err(e) => {
                    eprintln!("lookup {req:?}: {e}");
                    false
                }
            };
            c.lookups.fetch_add(1, Ordering::Relaxed);
            if !ok {
                c.lookup_failures.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Right- and wrong-password logins until `stop`.
fn logins(thread: usize, pam: &std::path::Path, stop: &AtomicBool, c: &Counters) {
    let good = [ALICE, BOB, CAROL];
    let wrong = [DAVE, MANYGROUPS];
    let mut i = thread;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let right = i.is_multiple_of(2);
        let (user, password, want) = if right {
            let u = &good[i / 2 % good.len()];
            (u.name, u.password.to_string(), PamCode::Success)
        } else {
            let u = &wrong[i / 2 % wrong.len()];
            (u.name, format!("{}-wrong", u.password), PamCode::AuthErr)
        };
        let req = Request::PamAuthenticate {
            user: user.into(),
            service: "soak".into(),
            rhost: "192.0.2.1".into(),
            password: Secret::from(password.as_str()),
        };
        let got = Client::request_once(pam, &req, CALL_TIMEOUT);
        let ok = matches!(&got, Ok(Response::Pam(r)) if r.code == want);
        if !ok {
            eprintln!("login {user} (right password: {right}): {got:?}");
            c.login_failures.fetch_add(1, Ordering::Relaxed);
        }
        if right {
            c.good_logins.fetch_add(1, Ordering::Relaxed);
        } else {
            c.wrong_logins.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// One `getent passwd` page walk; true when it completed.
fn enumerate(nss: &std::path::Path) -> bool {
    let mut conn = Conn::new(nss);
    let mut offset = 0;
    loop {
        match conn.call(&Request::ListUsers { offset, limit: 500 }) {
            Ok(Response::Users { entries, more }) => {
                offset += entries.len() as u32;
                if !more {
                    return offset > 0;
                }
            }
            other => {
                eprintln!("enumeration at {offset}: {other:?}");
                return false;
            }
        }
    }
}

/// The peer's side, run inside its namespace: `--inner PEER DIR SECONDS
/// SKIP` starts the daemon, runs the load, prints a row every interval and
/// the `result …` line at the end.
mod peer_soak {
    use super::*;

    /// Prints the first few failures of each kind, counts all.
    fn failed(c: &AtomicU64, what: &str) {
        if c.fetch_add(1, Ordering::Relaxed) < 10 {
            eprintln!("{what}");
        }
    }

    /// Warm and cold lookups through glibc until `stop`.
    fn lookups(thread: usize, stop: &AtomicBool, c: &Counters) {
        let op = |kind: &str, key: &str| parse_op(kind, key).expect("known lookup");
        let mut warm = [
            (op("pwnam", ALICE.name), "getpwnam alice"),
            (op("pwuid", &ALICE.uid.to_string()), "getpwuid alice"),
            (op("grgid", &STAFF_GID.to_string()), "getgrgid staff"),
            (
                op("grouplist", &format!("{}:{}", ALICE.name, ALICE.gid)),
                "getgrouplist alice",
            ),
        ];
        let mut missing = op("pwnam", "no-such-user-soak");
        let mut big = op("grnam", "biggroup");
        let mut bulk = 1 + (thread as u32) * dataset::BULK_USERS / 2;
        let mut i: u64 = 0;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let name = dataset::bulk_user(bulk);
            let uid = dataset::BULK_UID_BASE + bulk;
            bulk = bulk % dataset::BULK_USERS + 1;
            let check = |ok: bool, what: &dyn Fn() -> String| {
                c.lookups.fetch_add(1, Ordering::Relaxed);
                if !ok {
                    failed(&c.lookup_failures, &format!("lookup {} failed", what()));
                }
            };
            for (f, what) in warm.iter_mut() {
                check(f(), &|| what.to_string());
            }
            check(op("pwnam", &name)(), &|| format!("getpwnam {name}"));
            check(op("pwuid", &uid.to_string())(), &|| {
                format!("getpwuid {uid}")
            });
            check(!missing(), &|| "getpwnam no-such-user-soak (found)".into());
            if i.is_multiple_of(64) {
                check(big(), &|| "getgrnam biggroup".into());
            }
        }
    }

    /// Right- and wrong-password logins through pamtester until `stop`.
    fn logins(thread: usize, stop: &AtomicBool, c: &Counters) {
        let good = [ALICE, BOB, CAROL];
        let wrong = [DAVE, MANYGROUPS];
        let mut i = thread;
        while !stop.load(Ordering::Relaxed) {
            i += 1;
            let right = i.is_multiple_of(2);
            let (user, password) = if right {
                let u = &good[i / 2 % good.len()];
                (u.name, u.password.to_string())
            } else {
                let u = &wrong[i / 2 % wrong.len()];
                (u.name, format!("{}-wrong", u.password))
            };
            match pamtester(PAM_SERVICE, user, &password) {
                Ok((ok, _, _)) if ok == right => {}
                Ok((_, _, printed)) => failed(
                    &c.login_failures,
                    &format!("login {user} (right password: {right}): {}", printed.trim()),
                ),
                Err(e) => failed(&c.login_failures, &e),
            }
            if right {
                c.good_logins.fetch_add(1, Ordering::Relaxed);
            } else {
                c.wrong_logins.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// One `getpwent` walk; the number of users it returned.
    fn enumerate() -> usize {
        let mut n = 0;
        // SAFETY: only this thread uses the getpwent iterator; each
        // returned pointer is only tested for NULL.
        unsafe {
            libc::setpwent();
            while !libc::getpwent().is_null() {
                n += 1;
            }
            libc::endpwent();
        }
        n
    }

    /// The cache flush of the roster part: `sss_cache -E` for SSSD;
    /// nslcd has no cache (Ok without doing anything).
    fn flush(peer: Peer) -> Result<(), String> {
        if peer != Peer::Sssd {
            return Ok(());
        }
        let out = Command::new("sss_cache")
            .arg("-E")
            .output()
            .map_err(|e| format!("sss_cache: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "sss_cache -E: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    fn sample(pid: u32, start: Instant) -> Sample {
        let (rss_kib, processes) = rss_tree_kb(pid);
        Sample {
            secs: start.elapsed().as_secs_f64(),
            rss_kib,
            anon_kib: 0,
            fds: 0,
            threads: processes as u64,
        }
    }

    fn row(s: &Sample, c: &Counters) {
        let failures = c.lookup_failures.load(Ordering::Relaxed)
            + c.login_failures.load(Ordering::Relaxed)
            + c.other_failures.load(Ordering::Relaxed);
        println!(
            "{:>6.0} {:>9.1} {:>9} {:>11} {:>9} {:>9} {:>8}",
            s.secs,
            mb(s.rss_kib),
            s.threads,
            c.lookups.load(Ordering::Relaxed),
            c.good_logins.load(Ordering::Relaxed),
            c.wrong_logins.load(Ordering::Relaxed),
            failures
        );
    }

    fn driver(peer: Peer, dir: &Path, seconds: u64, skip: &str) -> i32 {
        let skipped = |part: &str| skip.split(',').any(|s| s.trim() == part);
        let timing = Timing::new(seconds);
        // Every lookup reaches sssd (libnss_sss reads SSSD's memory cache
        // files first unless told not to), as every lookup of the roster
        // part reaches rosterd. Set before any thread exists.
        std::env::set_var("SSS_NSS_USE_MEMCACHE", "NO");
        // `files` first, as on a real host: the daemons look up their own
        // service users (sssd, nslcd) by name and must not ask themselves.
        use_nsswitch(dir, peer.sources()[0].1);
        let daemon = Daemon::start(peer, dir);
        let Some(pid) = daemon.pid() else {
            return 1;
        };
        // SSSD with enumerate = true enumerates the directory at start.
        if !daemon.wait_ready(Duration::from_secs(120)) {
            eprintln!("{}: getent passwd alice never answered", peer.name());
            return 1;
        }
        println!(
            "{:>6} {:>9} {:>9} {:>11} {:>9} {:>9} {:>8}",
            "t(s)", "RSS(MB)", "processes", "lookups", "good", "wrong", "failures"
        );
        let stop = Arc::new(AtomicBool::new(false));
        let counts = Arc::new(Counters::default());
        let mut workers = Vec::new();
        if !skipped("lookups") {
            for t in 0..LOOKUP_THREADS {
                let (stop, counts) = (stop.clone(), counts.clone());
                workers.push(std::thread::spawn(move || lookups(t, &stop, &counts)));
            }
        }
        if !skipped("logins") {
            for t in 0..LOGIN_THREADS {
                let (stop, counts) = (stop.clone(), counts.clone());
                workers.push(std::thread::spawn(move || logins(t, &stop, &counts)));
            }
        }
        let start = Instant::now();
        let end = start + Duration::from_secs(seconds);
        let mut samples = vec![sample(pid, start)];
        let mut next_report = start + timing.interval;
        let mut next_flush = start + timing.flush_every;
        let mut next_enum = start + timing.interval / 2;
        while Instant::now() < end {
            std::thread::sleep(Duration::from_secs(1));
            let now = Instant::now();
            let s = sample(pid, start);
            if s.threads == 0 {
                stop.store(true, Ordering::SeqCst);
                eprintln!("{}: the daemon is gone", peer.name());
                return 1;
            }
            samples.push(s);
            if now >= next_flush && now + timing.interval < end && !skipped("flush") {
                next_flush += timing.flush_every;
                match flush(peer) {
                    Ok(()) => {
                        counts.flushes.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => failed(&counts.other_failures, &e),
                }
            }
            if now >= next_enum && !skipped("enumeration") {
                next_enum += timing.interval;
                if enumerate() > 0 {
                    counts.enumerations.fetch_add(1, Ordering::Relaxed);
                } else {
                    failed(&counts.other_failures, "enumeration returned nobody");
                }
            }
            if now >= next_report {
                next_report += timing.interval;
                row(&s, &counts);
            }
        }
        stop.store(true, Ordering::SeqCst);
        for w in workers {
            let _ = w.join();
        }
        let last = sample(pid, start);
        let last_processes = last.threads;
        row(&last, &counts);
        samples.push(last);
        println!(
            "  {} enumerations, {} cache flushes",
            counts.enumerations.load(Ordering::Relaxed),
            counts.flushes.load(Ordering::Relaxed)
        );
        match Outcome::of(&samples, &counts, last_processes) {
            Some(o) => {
                println!("{}", o.line());
                0
            }
            None => 1,
        }
    }

    /// Entry point of `--inner PEER DIR SECONDS SKIP`; the exit code.
    pub fn run(args: &[String]) -> i32 {
        let a: Vec<&str> = args.iter().map(String::as_str).collect();
        match a.as_slice() {
            [peer, dir, seconds, skip] => match (Peer::parse(peer), seconds.parse()) {
                (Some(p), Ok(secs)) => {
                    let skip = if *skip == "-" { "" } else { skip };
                    driver(p, Path::new(dir), secs, skip)
                }
                _ => 2,
            },
            _ => 2,
        }
    }
}
