//! What a directory outage costs a login (issue 11 item 3, "one timeout
//! per outage"): `pamtester roster-bench alice authenticate` with
//! `cache_credentials = true` against a private slapd (StartTLS, default
//! timeouts and backoff), online, with slapd killed (connections refused)
//! and with slapd hung by SIGSTOP (connections accepted by the kernel,
//! never answered): the first and second login after the failure, then
//! the median of further runs, each next to the floor (`pam_permit`, i.e.
//! pamtester itself). Run with `cargo run --release -p roster-bench --bin
//! offline` (as root, with pamtester); `make bench` runs it.
//!
//! pamtester runs inside a private mount namespace whose `/etc/pam.d` holds
//! the two services and whose `/run/roster` is this rosterd's socket
//! directory; the host's `/etc` is not touched. Each timed run is a fresh
//! process started by this binary (`--inner pam SERVICE N`) inside it.

use roster_bench::peer::{pamtester, PAM_FLOOR_SERVICE, PAM_SERVICE};
use roster_bench::setup::{build_release, load_average};
use roster_bench::stats::median;
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::ALICE;
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Request, Response};
use std::time::{Duration, Instant};

/// Timed runs per median.
const RUNS: usize = 20;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("--inner") {
        std::process::exit(inner(&args[2..]));
    }
    outer();
}

/// `pam SERVICE N`: N timed `pamtester SERVICE alice authenticate`, one
/// line `ok|refused MICROSECONDS` each.
fn inner(args: &[String]) -> i32 {
    let (Some(service), Some(n)) = (args.get(1), args.get(2).and_then(|n| n.parse().ok())) else {
        eprintln!("usage: offline --inner pam SERVICE N");
        return 2;
    };
    for _ in 0..n {
        match pamtester(service, ALICE.name, ALICE.password) {
            Ok((ok, us, printed)) => {
                println!("{} {us:.0}", if ok { "ok" } else { "refused" });
                if !ok {
                    eprintln!("{printed}");
                }
            }
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        }
    }
    0
}

struct Bench {
    ns: Namespace,
    exe: std::path::PathBuf,
}

impl Bench {
    /// `n` timed logins through `service`, in ms; panics on a refusal.
    fn logins(&self, service: &str, n: usize) -> Vec<f64> {
        let out = self.ns.run(&format!(
            "exec {} --inner pam {service} {n}",
            self.exe.display()
        ));
        let text = String::from_utf8_lossy(&out.stdout);
        let times: Vec<f64> = text
            .lines()
            .map(|l| {
                let (verdict, us) = l.split_once(' ').expect("verdict and time");
                assert_eq!(
                    verdict,
                    "ok",
                    "login through {service} refused: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                us.parse::<f64>().expect("microseconds") / 1000.0
            })
            .collect();
        assert_eq!(
            times.len(),
            n,
            "{service}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        times
    }
}

fn domain_online(rd: &Rosterd) -> bool {
    let Response::Admin(Ok(roster_proto::AdminReply::Status(report))) = rd.nss(&Request::Status)
    else {
        return false;
    };
    report.document().to_string().contains("\"online\":true")
}

fn slapd_pid(slapd: &Slapd) -> i32 {
    std::fs::read_to_string(slapd.dir().join("slapd.pid"))
        .expect("slapd.pid")
        .trim()
        .parse()
        .expect("a PID")
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) with the PID of the slapd this benchmark started.
    unsafe {
        libc::kill(pid, sig);
    }
}

fn outer() {
    build_release("building rosterd and the modules failed");
    let exe = std::env::current_exe().expect("own path");
    let mut slapd = Slapd::start();
    let o = DomainOptions {
        transport: Transport::StartTls,
        extra: vec!["cache_credentials = true".into()],
        ..DomainOptions::default()
    };
    let rd = Rosterd::start(&domain_table(&slapd, slapd.dir(), &o));
    let module = roster_e2e::paths::module("libpam_roster.so");
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(
            PAM_SERVICE,
            &format!("auth required {}\n", module.display()),
        )
        .pam_service(PAM_FLOOR_SERVICE, "auth required pam_permit.so\n");
    let b = Bench { ns, exe };

    println!(
        "A login during a directory outage: `pamtester {PAM_SERVICE} alice authenticate`, \
         cache_credentials = true, StartTLS, connect_timeout 3 s, op_timeout 5 s \
         (release build; load average {})\n",
        load_average()
    );
    // Online: the first login caches the credential.
    b.logins(PAM_SERVICE, 1);
    let floor = median(&mut b.logins(PAM_FLOOR_SERVICE, RUNS));
    let online = median(&mut b.logins(PAM_SERVICE, RUNS));
    let mut rows = vec![
        ("pam_permit.so (the floor)".to_string(), floor),
        ("online (directory bind)".to_string(), online),
    ];

    for (label, stop, resume) in [
        ("slapd killed (refused)", libc::SIGKILL, None),
        ("slapd hung (SIGSTOP)", libc::SIGSTOP, Some(libc::SIGCONT)),
    ] {
        let pid = slapd_pid(&slapd);
        signal(pid, stop);
        let first = b.logins(PAM_SERVICE, 1)[0];
        let second = b.logins(PAM_SERVICE, 1)[0];
        let rest = median(&mut b.logins(PAM_SERVICE, RUNS));
        rows.push((format!("{label}: 1st login"), first));
        rows.push((format!("{label}: 2nd login"), second));
        rows.push((format!("{label}: median of {RUNS} more"), rest));
        match resume {
            Some(sig) => signal(pid, sig),
            None => {
                slapd.stop();
                slapd.start_again();
            }
        }
        // The background probe brings the domain back (at most
        // offline_retry_max, 30 s, apart).
        let deadline = Instant::now() + Duration::from_secs(120);
        while !domain_online(&rd) {
            assert!(Instant::now() < deadline, "the domain never came back");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    println!("| | ms | above the floor |");
    println!("|---|---|---|");
    for (label, ms) in rows {
        println!("| {label} | {ms:.1} | {:+.1} |", ms - floor);
    }
}
