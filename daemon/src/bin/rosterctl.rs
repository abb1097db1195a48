//! `rosterctl`: the administration tool of roster (connection test, daemon
//! status, lookups, cache control, domain and nsswitch.conf editing, shell
//! completions and man pages). The commands live in `daemon/src/ctl/`.

#[path = "../ctl/mod.rs"]
mod ctl;

fn main() -> std::process::ExitCode {
    ctl::main()
}
