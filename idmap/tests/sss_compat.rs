//! Compares roster's sss backend with the real libsss_idmap: a C harness
//! (tests/sss_harness.c, built here with the system C compiler and linked
//! with -lsss_idmap) answers the same scripted operations — domain adds
//! with hash collisions, lookups at and around slice boundaries, RIDs that
//! need secondary slices, reverse lookups — and every answer must agree.
//! Never skipped: a missing compiler or library fails the test.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use roster_idmap::backend::sss::SssContext;
use roster_idmap::{Sid, SssParams};

/// splitmix64: a small deterministic generator, so failures reproduce.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn u32(&mut self) -> u32 {
        self.next() as u32
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn harness() -> PathBuf {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/sss_harness.c");
    let out = std::env::temp_dir().join(format!("roster_sss_harness_{}", std::process::id()));
    let cc = std::env::var("CC").unwrap_or_else(|_| "gcc".into());
    let st = Command::new(&cc)
        .args(["-O1", "-Wall", "-o"])
        .arg(&out)
        .arg(&src)
        .arg("-lsss_idmap")
        .status()
        .unwrap_or_else(|e| panic!("cannot run C compiler {cc:?}: {e} (install gcc)"));
    assert!(
        st.success(),
        "building {} against libsss_idmap failed (install libsss-idmap-dev)",
        src.display()
    );
    out
}

fn run_c(bin: &PathBuf, script: &str) -> Vec<String> {
    let mut child = Command::new(bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run harness");
    let mut stdin = child.stdin.take().unwrap();
    let s = script.to_string();
    let writer = std::thread::spawn(move || stdin.write_all(s.as_bytes()));
    let out = child.wait_with_output().expect("harness output");
    writer.join().unwrap().unwrap();
    assert!(out.status.success(), "harness failed: {:?}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect()
}

/// Runs the script through roster's implementation, answering in the
/// harness's format.
fn run_rust(script: &str) -> Vec<String> {
    let mut ctx: Option<SssContext> = None;
    let mut out = Vec::new();
    for line in script.lines() {
        let f: Vec<&str> = line.split(' ').collect();
        match f[0] {
            "init" => {
                let n = |i: usize| f[i].parse::<u32>().unwrap();
                ctx = Some(SssContext::new(SssParams {
                    range_min: n(1),
                    range_max: n(2),
                    range_size: n(3),
                    autorid_compat: n(4) != 0,
                    helper_table_size: n(5),
                }));
                out.push("init 0".to_string());
            }
            "add" => {
                let c = ctx.as_mut().unwrap();
                let sid: Sid = f[2].parse().unwrap();
                out.push(match c.add_domain(f[1], &sid) {
                    Ok((min, max)) => format!("add 0 {min} {max}"),
                    Err(e) => format!("add {} 0 0", e.code()),
                });
            }
            "s2u" => {
                let c = ctx.as_mut().unwrap();
                let sid: Sid = f[1].parse().unwrap();
                out.push(match c.sid_to_id(&sid) {
                    Ok(id) => format!("s2u 0 {id}"),
                    Err(e) => format!("s2u {} 0", e.code()),
                });
            }
            "u2s" => {
                let c = ctx.as_mut().unwrap();
                let id: u32 = f[1].parse().unwrap();
                out.push(match c.id_to_sid(id) {
                    Ok(sid) => format!("u2s 0 {sid}"),
                    Err(e) => format!("u2s {} -", e.code()),
                });
            }
            other => panic!("bad command {other}"),
        }
    }
    out
}

struct Scenario {
    lower: u32,
    upper: u32,
    size: u32,
    autorid: bool,
    extra: u32,
    domains: usize,
    lookups: usize,
}

/// Builds a script: domains added in batches with lookups in between (so
/// secondary slices are created in an interleaved, order-dependent way).
fn script(rng: &mut Rng, sc: &Scenario) -> String {
    let mut s = format!(
        "init {} {} {} {} {}\n",
        sc.lower, sc.upper, sc.size, sc.autorid as u8, sc.extra
    );
    let mut doms: Vec<String> = Vec::new();
    let size = u64::from(sc.size);
    let slices = u64::from((sc.upper - sc.lower) / sc.size);
    let mut added = 0;
    while added < sc.domains || doms.is_empty() {
        let batch = 1 + rng.below(5) as usize;
        for _ in 0..batch {
            let sid = format!("S-1-5-21-{}-{}-{}", rng.u32(), rng.u32(), rng.u32());
            s += &format!("add dom{added} {sid}\n");
            doms.push(sid);
            added += 1;
        }
        // Sometimes a conflicting add: same name with another SID, or the
        // same SID under another name.
        if rng.below(4) == 0 {
            let i = rng.below(doms.len() as u64) as usize;
            s += &format!("add dom{i} S-1-5-21-9-9-{}\n", rng.u32());
            s += &format!("add other{} {}\n", rng.u32(), doms[i]);
        }
        let per_batch = sc.lookups / sc.domains.max(1) * batch;
        for _ in 0..per_batch {
            let d = &doms[rng.below(doms.len() as u64) as usize];
            match rng.below(10) {
                0..=3 => {
                    // RIDs at and around slice boundaries.
                    let k = rng.below(u64::from(sc.extra) + 4);
                    let base = k * size;
                    let delta = [0i64, -1, 1, size as i64 / 2][rng.below(4) as usize];
                    let rid = (base as i64 + delta).clamp(0, u32::MAX as i64);
                    s += &format!("s2u {d}-{rid}\n");
                }
                4 | 5 => {
                    let rid = rng.below((u64::from(sc.extra) + 3) * size);
                    s += &format!("s2u {d}-{rid}\n");
                }
                6 => {
                    let rid = match rng.below(4) {
                        0 => u64::from(u32::MAX),
                        1 => u64::from(u32::MAX) - rng.below(size * 3),
                        2 => 1u64 << 31,
                        _ => u64::from(rng.u32()),
                    };
                    s += &format!("s2u {d}-{rid}\n");
                }
                7 => {
                    // Pool boundaries and random IDs in the pool.
                    let id = match rng.below(6) {
                        0 => u64::from(sc.lower),
                        1 => u64::from(sc.lower) - 1,
                        2 => u64::from(sc.lower) + slices * size - 1,
                        3 => u64::from(sc.lower) + slices * size,
                        4 => 0,
                        _ => u64::from(sc.lower) + rng.below(slices * size + 1),
                    };
                    s += &format!("u2s {id}\n");
                }
                8 => {
                    let slice = rng.below(slices);
                    let id = u64::from(sc.lower)
                        + slice * size
                        + [0, size - 1, size / 3][rng.below(3) as usize];
                    s += &format!("u2s {id}\n");
                }
                _ => {
                    let odd = match rng.below(4) {
                        0 => "S-1-5-32-544".to_string(),
                        1 => format!("{d}-5-7"),
                        2 => format!("S-1-5-21-1-1-{}-500", rng.u32()),
                        _ => format!("{d}-{}", rng.u32() % 1000),
                    };
                    s += &format!("s2u {odd}\n");
                }
            }
        }
    }
    s
}

fn compare(name: &str, sc: &Scenario, seed: u64, bin: &PathBuf) -> usize {
    let mut rng = Rng(seed);
    let sc_script = script(&mut rng, sc);
    let c = run_c(bin, &sc_script);
    let r = run_rust(&sc_script);
    let cmds: Vec<&str> = sc_script.lines().collect();
    assert_eq!(
        c.len(),
        cmds.len(),
        "{name}: harness answered {} of {} commands",
        c.len(),
        cmds.len()
    );
    let mut bad = Vec::new();
    for i in 0..cmds.len() {
        if c[i] != r[i] {
            bad.push(format!(
                "  #{i} {}: libsss_idmap {:?}, roster {:?}",
                cmds[i], c[i], r[i]
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{name} (seed {seed:#x}): {} of {} answers differ:\n{}",
        bad.len(),
        cmds.len(),
        bad.iter().take(20).cloned().collect::<Vec<_>>().join("\n")
    );
    // The scenario must have exercised something beyond errors.
    let ok = c.iter().filter(|l| l.starts_with("s2u 0 ")).count();
    assert!(ok > 0, "{name}: no successful mapping at all");
    let mut codes = std::collections::BTreeMap::new();
    for l in &c {
        let mut f = l.split(' ');
        *codes
            .entry((f.next().unwrap().to_string(), f.next().unwrap().to_string()))
            .or_insert(0) += 1;
    }
    eprintln!("{name} (seed {seed:#x}): {codes:?}");
    cmds.len()
}

#[test]
fn roster_sss_matches_libsss_idmap() {
    let bin = harness();
    let scenarios = [
        (
            "defaults, 1000 domains (hash collisions certain)",
            Scenario {
                lower: 200_000,
                upper: 2_000_200_000,
                size: 200_000,
                autorid: false,
                extra: 10,
                domains: 1000,
                lookups: 10_000,
            },
        ),
        (
            "small pool: collisions, wrap, out of slices",
            Scenario {
                lower: 10_000,
                upper: 10_000 + 40 * 1000,
                size: 1000,
                autorid: false,
                extra: 3,
                domains: 30,
                lookups: 4000,
            },
        ),
        (
            "medium pool: many hash collisions and wrap-around",
            Scenario {
                lower: 1_000_000,
                upper: 1_000_000 + 200 * 2000,
                size: 2000,
                autorid: false,
                extra: 2,
                domains: 60,
                lookups: 3000,
            },
        ),
        (
            "small pool, autorid_compat",
            Scenario {
                lower: 10_000,
                upper: 10_000 + 60 * 1000,
                size: 1000,
                autorid: true,
                extra: 2,
                domains: 20,
                lookups: 3000,
            },
        ),
        (
            "no helper table",
            Scenario {
                lower: 100_000,
                upper: 100_000 + 500 * 5000 + 123,
                size: 5000,
                autorid: false,
                extra: 0,
                domains: 40,
                lookups: 3000,
            },
        ),
        (
            "autorid_compat, defaults",
            Scenario {
                lower: 200_000,
                upper: 2_000_200_000,
                size: 200_000,
                autorid: true,
                extra: 10,
                domains: 50,
                lookups: 3000,
            },
        ),
        (
            "one and two slices",
            Scenario {
                lower: 5000,
                upper: 5000 + 2 * 700 + 1,
                size: 700,
                autorid: false,
                extra: 1,
                domains: 4,
                lookups: 400,
            },
        ),
    ];
    let mut total = 0;
    for (i, (name, sc)) in scenarios.iter().enumerate() {
        for round in 0..3u64 {
            total += compare(name, sc, 0x5eed_0000 + (i as u64) * 16 + round, &bin);
        }
    }
    let _ = std::fs::remove_file(&bin);
    assert!(total > 10_000, "only {total} operations compared");
    eprintln!("compared {total} operations with libsss_idmap");
}
