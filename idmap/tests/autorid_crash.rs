//! Crash safety of the autorid store: child processes (this test binary
//! re-executed with ROSTER_AUTORID_CHILD set) allocate ranges in a loop,
//! two at a time against the same state directory, printing each
//! allocation only after it is committed; the parent SIGKILLs them at
//! random moments, several rounds in a row, then reopens the store and
//! checks that every reported allocation is still there with the same
//! slot and that no slot was given to two domains.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use roster_idmap::backend::autorid::AutoridPool;
use roster_idmap::{AutoridParams, Sid, StoreMode};

const CHILD_ENV: &str = "ROSTER_AUTORID_CHILD";

fn params(deterministic: bool) -> AutoridParams {
    AutoridParams {
        low: 1_000_000,
        high: 1_000_000 + 20_000 * 1000 - 1,
        rangesize: 1000,
        deterministic,
        blocks: 1,
    }
}

/// Child: allocate forever (until the pool is full), printing
/// `committed SID INDEX SLOT` after each durable allocation.
fn child(dir: &Path, tag: u32, deterministic: bool) {
    let pool = AutoridPool::open(params(deterministic), StoreMode::Durable(dir))
        .expect("child opens store");
    let out = std::io::stdout();
    for i in 0u32.. {
        let sid = Sid::new(5, &[21, tag, i, 424_242]).unwrap();
        let index = if i % 5 == 4 { 3 } else { 0 };
        match pool.allocate(&sid, index) {
            Ok(slot) => {
                let mut o = out.lock();
                writeln!(o, "committed {sid} {index} {slot}").unwrap();
                o.flush().unwrap();
            }
            // Deterministic: a block met at run time whose hash slot is
            // held is refused, not moved; the next one is tried.
            Err(roster_idmap::IdmapError::BlockRefused { .. }) => {}
            Err(e) => {
                eprintln!("child stops: {e}");
                return;
            }
        }
    }
}

fn seed() -> u64 {
    let n = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64;
    n ^ (u64::from(std::process::id()) << 32)
}

fn main() {
    if let Ok(dir) = std::env::var(CHILD_ENV) {
        let tag: u32 = std::env::var("ROSTER_AUTORID_TAG")
            .unwrap()
            .parse()
            .unwrap();
        let det = std::env::var("ROSTER_AUTORID_DET").unwrap() == "1";
        child(Path::new(&dir), tag, det);
        return;
    }
    // libtest-like arguments (e.g. a name filter) are accepted and ignored,
    // except --list, which must list nothing runnable by name.
    if std::env::args().any(|a| a == "--list") {
        println!("autorid_crash: test");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut rng = seed();
    let mut next = || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let mut committed: HashMap<(String, u32), u32> = HashMap::new();
    let mut killed = 0;
    let rounds = 8;
    for round in 0..rounds {
        let det = round % 2 == 1;
        let mut kids = Vec::new();
        for k in 0..2u32 {
            let kid = Command::new(&exe)
                .env(CHILD_ENV, dir.path())
                .env("ROSTER_AUTORID_TAG", (round * 10 + k).to_string())
                .env("ROSTER_AUTORID_DET", if det { "1" } else { "0" })
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("spawn child");
            kids.push(kid);
        }
        std::thread::sleep(Duration::from_millis(20 + next() % 180));
        for mut kid in kids {
            kid.kill().ok();
            let mut text = String::new();
            kid.stdout
                .take()
                .unwrap()
                .read_to_string(&mut text)
                .unwrap();
            let status = kid.wait().unwrap();
            if status.signal() == Some(9) {
                killed += 1;
            }
            // Only complete lines count: a line cut by the kill was not
            // fully reported.
            let complete = match text.rfind('\n') {
                Some(end) => &text[..=end],
                None => "",
            };
            for line in complete.lines() {
                let f: Vec<&str> = line.split(' ').collect();
                assert_eq!(f.len(), 4, "child line {line:?}");
                let key = (f[1].to_string(), f[2].parse().unwrap());
                let slot: u32 = f[3].parse().unwrap();
                if let Some(old) = committed.insert(key.clone(), slot) {
                    assert_eq!(old, slot, "{key:?} reported in two slots");
                }
            }
        }
    }
    assert!(killed > 0, "no child was killed while running");
    assert!(!committed.is_empty(), "children committed nothing");
    // Reopen (this also refuses a store with a slot recorded twice).
    let pool = AutoridPool::open(params(false), StoreMode::Durable(dir.path()))
        .expect("store reopens after kills");
    let records = pool.records();
    let mut by_slot = HashMap::new();
    for r in &records {
        assert!(
            by_slot.insert(r.slot, (r.domain, r.index)).is_none(),
            "slot {} given twice",
            r.slot
        );
    }
    let on_disk: HashMap<(String, u32), u32> = records
        .iter()
        .map(|r| ((r.domain.to_string(), r.index), r.slot))
        .collect();
    for (key, slot) in &committed {
        assert_eq!(
            on_disk.get(key),
            Some(slot),
            "allocation {key:?} -> slot {slot} was reported committed but is lost"
        );
    }
    println!(
        "autorid_crash: {rounds} rounds, {killed} children killed, {} reported allocations all \
         kept, {} records, no slot given twice",
        committed.len(),
        records.len()
    );
    println!("test result: ok. 1 passed; 0 failed");
}
