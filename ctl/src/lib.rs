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
mod join;
mod keytab;
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
        Command::Join(a) => join::join(&ctx, a),
        Command::Leave(a) => join::leave(&ctx, a),
        Command::Completions(a) => docs::completions(a),
        Command::Manpage(a) => docs::manpage(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if ctx.json {
                output::print_json(&failure_document(&e));
            } else {
                eprintln!("{}", failure_text(&e));
            }
            ExitCode::FAILURE
        }
    }
}

/// What `--json` prints for a failed command: a failure rosterd answered
/// keeps its kind (and fields), anything else is `{"ok": false, "error"}`.
fn failure_document(e: &anyhow::Error) -> serde_json::Value {
    match e.downcast_ref::<daemon::DaemonError>() {
        Some(daemon::DaemonError::Answered(f)) => roster_proto::admin::document(&Err(f.clone())),
        _ => serde_json::json!({"ok": false, "error": format!("{e:#}")}),
    }
}

/// The line printed on stderr for a failed command (a failure rosterd
/// answered starts with its kind: `unavailable: ...`, `refused: ...`).
fn failure_text(e: &anyhow::Error) -> String {
    format!("rosterctl: {e:#}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_daemon::backend_error::BackendError;
    use roster_daemon::directory::DirectoryError;
    use roster_daemon::resolver::DomainError;
    use roster_proto::Failure;

    #[test]
    fn a_failure_rosterd_answered_is_shown_with_its_kind() {
        // A directory timeout, as rosterd's resolver reports it.
        let timeout = DirectoryError::unavailable(
            "domain \"ex\" (ldap://dc1): search: no answer within op_timeout 5s",
        );
        let failure = Failure::from(DomainError::new("ex", BackendError::from(timeout)));
        let e = anyhow::Error::new(daemon::DaemonError::Answered(failure));
        assert_eq!(
            failure_text(&e),
            "rosterctl: unavailable: domain ex: directory unavailable: domain \"ex\" (ldap://dc1): search: no answer within op_timeout 5s"
        );
        let doc = failure_document(&e);
        assert_eq!(doc["ok"], false);
        assert_eq!(doc["kind"], "unavailable");
        assert!(
            doc["reason"].as_str().unwrap().contains("op_timeout"),
            "{doc}"
        );

        let refused = Failure::refused("no reload channel");
        let e = anyhow::Error::new(daemon::DaemonError::Answered(refused));
        assert_eq!(failure_text(&e), "rosterctl: refused: no reload channel");
        let doc = failure_document(&e);
        assert_eq!(
            (&doc["kind"], &doc["reason"]),
            (&"refused".into(), &"no reload channel".into())
        );
    }

    #[test]
    fn other_failures_have_no_kind() {
        let e = anyhow::Error::new(daemon::DaemonError::NotRunning(
            "/run/roster/nss.sock".into(),
        ));
        let doc = failure_document(&e);
        assert_eq!(doc["ok"], false);
        assert!(doc.get("kind").is_none(), "{doc}");
        assert_eq!(
            failure_text(&e),
            "rosterctl: rosterd is not running (no answer at /run/roster/nss.sock)"
        );
    }
}
