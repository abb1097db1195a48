//! `rosterctl lookup user|group|sid`: what rosterd answers, where the answer
//! came from (cache, directory, offline store) and the entry's DN.

use super::cli::LookupCmd;
use super::context::Ctx;
use super::daemon::{self, DaemonError};
use super::output::{print_json, render_text, without_ok};
use roster_proto::admin::{document, AdminReply, AdminRequest, LookupKind};
use roster_proto::Failure;
use serde_json::json;
use std::process::ExitCode;

/// Runs `rosterctl lookup ...`.
pub fn run(ctx: &Ctx, cmd: &LookupCmd) -> anyhow::Result<ExitCode> {
    let (kind, key) = match cmd {
        LookupCmd::User { key } => (LookupKind::User, key),
        LookupCmd::Group { key } => (LookupKind::Group, key),
        LookupCmd::Netgroup { name } => (LookupKind::Netgroup, name),
        LookupCmd::Sid { sid } => (LookupKind::Sid, sid),
    };
    let request = AdminRequest::Lookup {
        kind,
        key: key.clone(),
    };
    let word = kind.as_str();
    match daemon::admin(ctx, &request) {
        Ok(reply @ AdminReply::Lookup(_)) => {
            let doc = document(&Ok(reply));
            if ctx.json {
                print_json(&doc);
            } else {
                println!("{word} {key}:");
                print!("{}", render_text(&without_ok(&doc)));
            }
            Ok(ExitCode::SUCCESS)
        }
        Ok(other) => Err(daemon::unexpected(&other).into()),
        Err(DaemonError::Answered(Failure::NotFound { .. })) => {
            if ctx.json {
                print_json(&json!({"ok": true, "found": false, "kind": word, "key": key}));
            } else {
                println!("{word} {key}: not found");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(DaemonError::Answered(failure)) if kind == LookupKind::Sid => {
            let text = "SID lookup failed (SIDs are looked up in kind = \"ad\" domains)";
            if ctx.json {
                let mut doc = document(&Err(failure.clone()));
                doc["supported"] = false.into();
                doc["key"] = key.as_str().into();
                print_json(&doc);
            } else {
                println!("{text} (rosterd: {failure})");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
