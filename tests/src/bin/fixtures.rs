//! Builds the end-to-end tests' shared fixtures ahead of the tests, so that
//! `make test` can build them beside the compilation instead of on the
//! tests' critical path: the test certificates, the sample directory's
//! loaded slapd database and, the longest, the provisioned Samba AD DC of
//! the `ad::` tests (see `roster_e2e::fixture_cache`). A fixture already
//! built is found and kept. Without arguments it builds all of them; with
//! arguments only those named (`pki`, `slapd`, `samba`).

use std::time::Instant;

fn main() {
    let all = ["pki", "slapd", "samba"];
    let args: Vec<String> = std::env::args().skip(1).collect();
    for arg in &args {
        if !all.contains(&arg.as_str()) {
            eprintln!("roster-e2e-fixtures: unknown fixture {arg:?} (known: {all:?})");
            std::process::exit(2);
        }
    }
    for name in all {
        if !args.is_empty() && !args.iter().any(|a| a == name) {
            continue;
        }
        let started = Instant::now();
        match name {
            "pki" => {
                roster_e2e::tls::TestPki::shared();
            }
            // Starting one builds its database (and the certificates).
            "slapd" => drop(roster_e2e::slapd::Slapd::start()),
            _ => {
                roster_e2e::samba::provisioned();
            }
        }
        println!("{name}: ready ({:.1} s)", started.elapsed().as_secs_f64());
    }
}
