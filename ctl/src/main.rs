//! `rosterctl`: the administration tool of roster (connection test, daemon
//! status, lookups, cache control, domain and nsswitch.conf editing, shell
//! completions and man pages). The commands live in the `roster_ctl`
//! library of this crate (`ctl/src/`).

fn main() -> std::process::ExitCode {
    roster_ctl::run()
}
