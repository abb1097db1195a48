//! rosterctl's commands, one module per command group; [`run`] parses the
//! command line and dispatches. A crate of its own on top of the public API
//! of `roster-daemon` (configuration, directory, resolver) and
//! `roster-proto` (the sockets' protocol).

mod atomic;
mod cache;
mod cli;
mod configcheck;
mod conntest;
mod context;
mod daemon;
mod docs;
mod domain;
mod idmap;
mod listing;
mod lookup;
mod nsswitch;
mod output;
mod progress;
mod sshkeys;
mod status;

use clap::Parser;
use cli::{Cli, Command, ConfigCmd, IdmapCmd, NsswitchCmd};
use context::Ctx;
use std::process::ExitCode;

/// Parses the command line, runs the command and returns its exit status
/// (0 on success, 1 on failure, 2 on a usage error).
pub fn run() -> ExitCode {
    let cli = Cli::parse();
    let ctx = Ctx::from_cli(&cli);
    let result = match &cli.command {
        Command::Test(a) => conntest::run(&ctx, a),
        Command::Status => status::run(&ctx),
        Command::Lookup(c) => lookup::run(&ctx, c),
        Command::SshKeys(a) => sshkeys::run(&ctx, a),
        Command::Users(a) => listing::run(&ctx, a, listing::Kind::Users),
        Command::Groups(a) => listing::run(&ctx, a, listing::Kind::Groups),
        Command::Cache(c) => cache::run(&ctx, c),
        Command::Domain(c) => domain::run(&ctx, c),
        Command::Idmap(IdmapCmd::Map) => idmap::run(&ctx),
        Command::Idmap(IdmapCmd::Export) => idmap::export(&ctx),
        Command::Idmap(IdmapCmd::Diff { file }) => idmap::diff(&ctx, file),
        Command::Idmap(IdmapCmd::Reset { domain, yes }) => idmap::reset(&ctx, domain, *yes),
        Command::ConfigFile(ConfigCmd::Check) => configcheck::run(&ctx),
        Command::Nsswitch(NsswitchCmd::Enable(a)) => nsswitch::run(&ctx, a, true),
        Command::Nsswitch(NsswitchCmd::Disable(a)) => nsswitch::run(&ctx, a, false),
        Command::Completions(a) => docs::completions(a),
        Command::Manpage(a) => docs::manpage(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if ctx.json {
                // A failure rosterd answered keeps its kind (and fields).
                let doc = match e.downcast_ref::<daemon::DaemonError>() {
                    Some(daemon::DaemonError::Answered(f)) => {
                        roster_proto::admin::document(&Err(f.clone()))
                    }
                    _ => serde_json::json!({"ok": false, "error": format!("{e:#}")}),
                };
                output::print_json(&doc);
            } else {
                eprintln!("rosterctl: {e:#}");
            }
            ExitCode::FAILURE
        }
    }
}
