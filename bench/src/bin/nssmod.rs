//! The NSS module alone, no daemon: a memory cache written by this binary
//! (the user in 1,000 groups, the 5,000-member group, one small group and
//! alice, as the sample directory has them) and the module's
//! `_nss_roster_*` functions called in a loop, straight (`dlopen` of the
//! given `libnss_roster.so`, so two builds can be compared in one run) and
//! through glibc with `group: roster` only. Medians per call in ns. Run
//! as root: `cargo run --release -p roster-bench --bin nssmod [MODULE.so…]`
//! (default: the module beside this binary). Each measurement runs in a
//! private mount namespace (a tmpfs on `/run`, the module bind-mounted over
//! `/lib/<multiarch>/libnss_roster.so.2`, its own `nsswitch.conf`);
//! nothing on the host is touched.
//!
//! `NSSMOD_OPS=initgroups,grnam-big` measures only those;
//! `perf record -- nssmod --spin MODULE OP SECONDS` runs one operation
//! for a while, for a profile (the same namespace set-up).

use roster_bench::nss_fn::{
    dlopen_module, getgrnam, getpwnam, initgroups_dyn, sym, GetGrNam, GetPwNam, GidArray,
    InitgroupsDyn,
};
use roster_bench::stats::{batch_ns, median};
use roster_e2e::dataset::{
    many_group, BIGGROUP, BIGGROUP_GID, BULK_USERS, MANYGROUPS, MANY_GROUPS_COUNT,
    MANY_GROUPS_GID_BASE,
};
use roster_proto::memcache::{monotonic_ms, MemcacheWriter, Record};
use roster_proto::{Group, User};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Batches (of `BATCH` calls) per measurement.
const BATCHES: usize = 300;
/// Batches of the 5,000-member group (160 µs a call).
const BIG_BATCHES: usize = 60;
/// Processes per measurement per module (best one kept).
const ROUNDS: usize = 3;

/// What is measured: `(name, description)`.
const OPS: [(&str, &str); 6] = [
    (
        "initgroups",
        "_nss_roster_initgroups_dyn, user in 1,000 groups",
    ),
    ("grnam-big", "_nss_roster_getgrnam_r, 5,000 members"),
    ("grnam", "_nss_roster_getgrnam_r, 1 member"),
    ("pwnam", "_nss_roster_getpwnam_r"),
    ("glibc-grouplist", "getgrouplist, `group: roster`, 1,000"),
    ("glibc-grnam-big", "getgrnam_r, `group: roster`, 5,000"),
];

fn main() {
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("--inner") => std::process::exit(inner(&args[2..])),
        Some("--spin") => std::process::exit(spin(&args[2..])),
        _ => outer(&args[1..]),
    }
}

/// The module beside this binary.
fn own_module() -> PathBuf {
    let exe = std::env::current_exe().expect("own path");
    exe.with_file_name("libnss_roster.so")
}

fn installed_module() -> PathBuf {
    roster_e2e::namespace::install_nss_module()
}

/// Runs this binary with `args` in a fresh private mount namespace set up
/// for `module`; its stdout.
fn in_namespace(module: &Path, args: &[&str]) -> Result<String, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let installed = installed_module();
    let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
    let nsswitch = scratch.path().join("nsswitch.conf");
    std::fs::write(&nsswitch, "passwd: roster\ngroup: roster\nshadow: files\n")
        .map_err(|e| e.to_string())?;
    let script = format!(
        "set -e\nmount -t tmpfs -o mode=0755 roster-nssmod /run\nmkdir -m 0755 /run/roster\n\
         mount --bind {} {}\nmount --bind {} /etc/nsswitch.conf\nexec \"$@\"",
        module.display(),
        installed.display(),
        nsswitch.display()
    );
    let out = Command::new("unshare")
        .args([
            "--mount",
            "--propagation",
            "private",
            "bash",
            "-c",
            &script,
            "nssmod",
        ])
        .arg(exe)
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn outer(modules: &[String]) {
    let modules: Vec<PathBuf> = if modules.is_empty() {
        vec![own_module()]
    } else {
        modules.iter().map(PathBuf::from).collect()
    };
    println!(
        "The NSS module alone against a memory cache (no daemon), median ns per call, \
         best of {ROUNDS} processes, rounds alternating between modules; load average {}",
        roster_bench::setup::load_average()
    );
    // best[module][op]
    let mut best = vec![[f64::INFINITY; OPS.len()]; modules.len()];
    for _ in 0..ROUNDS {
        for (m, module) in modules.iter().enumerate() {
            match in_namespace(module, &["--inner", &module.to_string_lossy()]) {
                Ok(out) => {
                    for line in out.lines() {
                        let Some((op, v)) = line.split_once('=') else {
                            continue;
                        };
                        if let (Some(i), Ok(v)) =
                            (OPS.iter().position(|(o, _)| *o == op), v.parse::<f64>())
                        {
                            best[m][i] = best[m][i].min(v);
                        }
                    }
                }
                Err(e) => eprintln!("{}: {e}", module.display()),
            }
        }
    }
    print!("\n| |");
    for module in &modules {
        print!(" {} |", module.display());
    }
    print!("\n|---|");
    for _ in &modules {
        print!("---|");
    }
    println!();
    for (i, (_, what)) in OPS.iter().enumerate() {
        print!("| {what} |");
        for b in &best {
            if b[i].is_finite() {
                print!(" {:.0} |", b[i]);
            } else {
                print!(" - |");
            }
        }
        println!();
    }
    println!("(load average {})", roster_bench::setup::load_average());
}

/// Writes `/run/roster/nss.mc` with the sample entries, carrying the
/// module's settings as rosterd's files do (here the defaults: no text);
/// the writer keeps the file live.
fn publish() -> MemcacheWriter {
    let path = Path::new("/run/roster/nss.mc");
    let w = MemcacheWriter::create_with_settings(path, 1024, 4 << 20, Some(&[]));
    let mut w = w.expect("create nss.mc");
    let expires = monotonic_ms() + 3_600_000;
    let mut gids = vec![MANYGROUPS.gid];
    gids.extend(MANY_GROUPS_GID_BASE..MANY_GROUPS_GID_BASE + MANY_GROUPS_COUNT);
    let records = [
        Record::Initgroups {
            user: MANYGROUPS.name.into(),
            gids,
        },
        Record::Group(Group {
            name: BIGGROUP.into(),
            gid: BIGGROUP_GID,
            members: (1..=BULK_USERS).map(|i| format!("u{i:05}")).collect(),
        }),
        Record::Group(Group {
            name: many_group(1),
            gid: MANY_GROUPS_GID_BASE + 1,
            members: vec![MANYGROUPS.name.into()],
        }),
        Record::User(User {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: "Alice Liddell".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }),
    ];
    for r in &records {
        w.put(r, expires).expect("publish");
    }
    w
}

/// The lookup `op` as a closure returning "found"; the direct calls go to
/// `module` (`dlopen`ed by its own path, so that a profile names it).
fn lookup(module: &str, op: &str) -> Box<dyn FnMut() -> bool> {
    // SAFETY: the NSS module under test.
    let lib = unsafe { dlopen_module(module) };
    let many = CString::new(MANYGROUPS.name).expect("name");
    let big = CString::new(BIGGROUP).expect("name");
    let small = CString::new(many_group(1)).expect("name");
    let mut buf = vec![0u8; 1 << 20];
    match op {
        "initgroups" => {
            // SAFETY: the symbol's type, as glibc calls it.
            let f: InitgroupsDyn = unsafe { sym(lib, c"_nss_roster_initgroups_dyn") };
            let mut groups = GidArray::new(4096);
            Box::new(move || {
                initgroups_dyn(f, &many, MANYGROUPS.gid, &mut groups)
                    .is_some_and(|g| g.len() == 1 + MANY_GROUPS_COUNT as usize)
            })
        }
        "grnam-big" | "grnam" => {
            // SAFETY: the symbol's type.
            let f: GetGrNam = unsafe { sym(lib, c"_nss_roster_getgrnam_r") };
            let name = if op == "grnam" { small } else { big };
            Box::new(move || getgrnam(f, &name, &mut buf).is_some())
        }
        "pwnam" => {
            // SAFETY: the symbol's type.
            let f: GetPwNam = unsafe { sym(lib, c"_nss_roster_getpwnam_r") };
            Box::new(move || getpwnam(f, c"alice", &mut buf).is_some())
        }
        "glibc-grouplist" => roster_bench::lookup::parse_op(
            "grouplist",
            &format!("{}:{}", MANYGROUPS.name, MANYGROUPS.gid),
        )
        .expect("op"),
        "glibc-grnam-big" => roster_bench::lookup::parse_op("grnam", BIGGROUP).expect("op"),
        _ => panic!("unknown op {op}"),
    }
}

/// `--inner MODULE`: every op, one `name=median_ns` line each.
fn inner(args: &[String]) -> i32 {
    let [module] = args else {
        return 2;
    };
    let _w = publish();
    let mut failed = 0;
    // NSSMOD_OPS=initgroups,grnam-big measures only those.
    let only = std::env::var("NSSMOD_OPS").ok();
    for (op, _) in OPS {
        if only
            .as_deref()
            .is_some_and(|o| !o.split(',').any(|n| n == op))
        {
            continue;
        }
        let mut f = lookup(module, op);
        if !(0..10).all(|_| f()) {
            eprintln!("{op}: lookup failed");
            failed += 1;
            continue;
        }
        let n = if op.ends_with("-big") {
            BIG_BATCHES
        } else {
            BATCHES
        };
        let mut batches: Vec<f64> = (0..n).map(|_| batch_ns(&mut f)).collect();
        println!("{op}={}", median(&mut batches));
    }
    i32::from(failed > 0)
}

/// `--spin MODULE OP SECONDS` (outer; `… in` inside the namespace): `OP`
/// in a loop for a profile.
fn spin(args: &[String]) -> i32 {
    match args {
        [module, op, secs] => {
            match in_namespace(Path::new(module), &["--spin", module, op, secs, "in"]) {
                Ok(out) => {
                    print!("{out}");
                    0
                }
                Err(e) => {
                    eprintln!("{e}");
                    1
                }
            }
        }
        [module, op, secs, _in] => {
            let _w = publish();
            let mut f = lookup(module, op);
            let until = Instant::now() + Duration::from_secs(secs.parse().unwrap_or(5));
            let mut n = 0u64;
            while Instant::now() < until {
                for _ in 0..1000 {
                    if !f() {
                        eprintln!("{op}: lookup failed");
                        return 1;
                    }
                }
                n += 1000;
            }
            println!("{op}: {n} calls");
            0
        }
        _ => 2,
    }
}
