//! Time of one cached-credential hash at each argon2id cost of OWASP's
//! Password Storage Cheat Sheet (m=46 MiB t=1, m=19 MiB t=2, m=12 MiB t=3,
//! m=9 MiB t=4, m=7 MiB t=5; p=1), computed the way rosterd does it (one
//! reused block, [`roster_daemon::auth::hasher::Scratch`]):
//! `cargo run -p roster-daemon --release --example argon2_cost [RUNS]`.
//! Prints the median and minimum time per hash and the block each needs.

use roster_daemon::auth::hasher::{HashCost, Scratch};
use roster_proto::Secret;
use std::time::Instant;

fn main() {
    let runs: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(15);
    let password = Secret::from("correct horse battery staple");
    println!("| cost (OWASP) | block | median | min |");
    println!("|---|---|---|---|");
    for (mib, t) in [(46, 1), (19, 2), (12, 3), (9, 4), (7, 5)] {
        let cost = HashCost {
            memory_kib: mib * 1024,
            iterations: t,
        };
        let mut scratch = Scratch::new();
        let hash = scratch.hash(&password, cost).expect("hash");
        let mut times: Vec<f64> = (0..runs)
            .map(|_| {
                let start = Instant::now();
                let _ = scratch.verify(&password, &hash, cost);
                start.elapsed().as_secs_f64() * 1000.0
            })
            .collect();
        times.sort_by(f64::total_cmp);
        println!(
            "| m={mib} MiB, t={t} | {mib} MiB | {:.1} ms | {:.1} ms |",
            times[times.len() / 2],
            times[0]
        );
    }
}
