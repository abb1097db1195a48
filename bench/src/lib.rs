//! What the benchmark binaries in `src/bin` share: the libc lookups as
//! closures ([`lookup`]), medians and timed batches ([`stats`]), the
//! measurements the inner processes run ([`inner`]) and the set-up both
//! outer processes do ([`setup`]).

/// The libc lookups a benchmark measures, each as a closure.
pub mod lookup {
    use std::ffi::CString;

    /// One lookup, called again and again; returns "found".
    pub type Lookup = Box<dyn FnMut() -> bool>;

    /// Turns `kind` (`pwnam`, `pwuid`, `grnam`, `grouplist`) and its `key`
    /// (`name:gid` for `grouplist`) into a closure calling
    /// getpwnam_r/getpwuid_r/getgrnam_r/getgrouplist; None for an unknown
    /// kind or a key that does not parse.
    pub fn parse_op(kind: &str, key: &str) -> Option<Lookup> {
        Some(match kind {
            "pwnam" => {
                let name = CString::new(key).ok()?;
                let mut buf = vec![0u8; 4096];
                Box::new(move || {
                    // SAFETY: zeroed passwd is valid; buf outlives the call.
                    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid name, struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getpwnam_r(
                            name.as_ptr(),
                            &mut pw,
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            &mut res,
                        )
                    };
                    rc == 0 && !res.is_null()
                })
            }
            "pwuid" => {
                let uid: u32 = key.parse().ok()?;
                let mut buf = vec![0u8; 4096];
                Box::new(move || {
                    // SAFETY: zeroed passwd is valid; buf outlives the call.
                    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res)
                    };
                    rc == 0 && !res.is_null()
                })
            }
            "grnam" => {
                let name = CString::new(key).ok()?;
                let mut buf = vec![0u8; 1 << 20];
                Box::new(move || {
                    // SAFETY: zeroed group is valid; buf outlives the call.
                    let mut gr: libc::group = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid name, struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getgrnam_r(
                            name.as_ptr(),
                            &mut gr,
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            &mut res,
                        )
                    };
                    rc == 0 && !res.is_null()
                })
            }
            "grouplist" => {
                let (name, gid) = key.split_once(':')?;
                let name = CString::new(name).ok()?;
                let gid: u32 = gid.parse().ok()?;
                let mut groups = vec![0 as libc::gid_t; 4096];
                Box::new(move || {
                    let mut n = groups.len() as libc::c_int;
                    // SAFETY: valid name; groups has room for n entries.
                    let rc = unsafe {
                        libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n)
                    };
                    rc >= 1
                })
            }
            _ => return None,
        })
    }

    /// The fields of the last entry (not blank, not a comment) of a colon
    /// separated database such as /etc/passwd or /etc/group.
    pub fn last_entry_fields(path: &str) -> Vec<String> {
        let text = std::fs::read_to_string(path).expect("read local database");
        let line = text
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .expect("a local entry");
        line.split(':').map(str::to_string).collect()
    }
}

/// Medians and timed batches.
pub mod stats {
    use std::hint::black_box;
    use std::time::Instant;

    /// Calls per timed batch (per-call time = batch time / BATCH).
    pub const BATCH: usize = 100;

    /// Sorts `values` and returns the middle one (the upper middle for an
    /// even count). Panics when `values` is empty.
    pub fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    /// The arithmetic mean of `values` (NaN when empty).
    pub fn mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }

    /// Runs `f` [`BATCH`] times and returns the time per call in ns.
    pub fn batch_ns<R>(f: &mut impl FnMut() -> R) -> f64 {
        let start = Instant::now();
        for _ in 0..BATCH {
            black_box(f());
        }
        start.elapsed().as_nanos() as f64 / BATCH as f64
    }
}

/// Measurements an inner process (`--inner …`) runs and prints.
pub mod inner {
    use crate::lookup::Lookup;
    use std::time::Instant;

    /// How an inner process turns a kind and key into a lookup.
    pub type ParseOp = fn(&str, &str) -> Option<Lookup>;

    /// `once KIND KEY`: one lookup, prints its time in µs; the exit code.
    pub fn once(parse_op: ParseOp, kind: &str, key: &str) -> i32 {
        let Some(mut f) = parse_op(kind, key) else {
            return 2;
        };
        let start = Instant::now();
        let ok = f();
        println!("{:.0}", start.elapsed().as_nanos() as f64 / 1000.0);
        i32::from(!ok)
    }

    /// `cold PREFIX FIRST COUNT`: getpwnam of the users `PREFIX00001`…
    /// once each; their times in µs, sorted, or the exit code on failure.
    pub fn cold(
        parse_op: ParseOp,
        prefix: &str,
        first: &str,
        count: &str,
    ) -> Result<Vec<f64>, i32> {
        let (Ok(first), Ok(count)) = (first.parse::<u32>(), count.parse::<u32>()) else {
            return Err(2);
        };
        let mut times: Vec<f64> = Vec::new();
        for i in first..first + count {
            let name = format!("{prefix}{i:05}");
            let Some(mut f) = parse_op("pwnam", &name) else {
                return Err(2);
            };
            let start = Instant::now();
            if !f() {
                eprintln!("{name}: lookup failed");
                return Err(1);
            }
            times.push(start.elapsed().as_nanos() as f64 / 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times)
    }

    /// `parallel PROCS CALLS KIND KEY`: PROCS forked processes doing CALLS
    /// lookups each; prints the calls per second of all; the exit code.
    pub fn parallel(parse_op: ParseOp, procs: &str, calls: &str, kind: &str, key: &str) -> i32 {
        let (Ok(procs), Ok(calls)) = (procs.parse::<usize>(), calls.parse::<usize>()) else {
            return 2;
        };
        let start = Instant::now();
        let mut pids = Vec::new();
        for _ in 0..procs {
            // SAFETY: fork in a single-threaded process; the child
            // only runs lookups and exits with _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = match parse_op(kind, key) {
                    Some(mut f) => i32::from((0..calls).any(|_| !f())),
                    None => 2,
                };
                // SAFETY: leaving the child without running the
                // parent's exit handlers.
                unsafe { libc::_exit(code) };
            }
            pids.push(pid);
        }
        let mut failed = false;
        for pid in pids {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            failed |= !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{}", (procs * calls) as f64 / secs);
        i32::from(failed)
    }
}

/// What the outer processes do before measuring.
pub mod setup {
    /// Builds the release `packages` the benchmark loads; panics with
    /// `failure` when cargo fails.
    pub fn build_release(packages: &[&str], failure: &str) {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "--release"];
        for p in packages {
            args.extend(["-p", p]);
        }
        let status = std::process::Command::new(cargo)
            .args(args)
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("run cargo build");
        assert!(status.success(), "{failure}");
    }

    /// The first three fields of /proc/loadavg, space separated.
    pub fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    }
}
