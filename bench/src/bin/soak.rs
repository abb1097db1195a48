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
//! memory). SSSD and nslcd are reported as
//! not measured (see the README).

use roster_bench::setup::{build_release, load_average};
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{self, ALICE, BOB, CAROL, DAVE, MANYGROUPS, STAFF_GID};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Client, PamCode, Request, Response, Secret};
use std::path::PathBuf;
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

fn main() {
    let seconds: u64 = std::env::var("SOAK_SECONDS")
        .ok()
        .map(|s| s.parse().expect("SOAK_SECONDS: a number of seconds"))
        .unwrap_or(1800);
    assert!(seconds >= 10, "SOAK_SECONDS: at least 10");
    let interval = Duration::from_secs((seconds / 10).clamp(5, 30));
    let skip = std::env::var("SOAK_SKIP").unwrap_or_default();
    let skipped = |part: &str| skip.split(',').any(|s| s.trim() == part);
    let flush_every = Duration::from_secs((seconds / 6).clamp(5, 300));

    build_release(&["roster-daemon"], "building the release rosterd failed");
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
    peers();
    rd.stop();
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

/// SSSD's and nslcd's RSS under the same load are not measured by this
/// version of the soak; say whether they are installed.
fn peers() {
    for (name, bin) in [("sssd", "/usr/sbin/sssd"), ("nslcd", "/usr/sbin/nslcd")] {
        let state = if std::path::Path::new(bin).exists() {
            "installed, not measured by this soak yet (see `make bench` for its memory after lookups)"
        } else {
            "not installed (`make deps-bench`)"
        };
        println!("  {name}: {state}");
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
