//! `rosterctl lookup user|group|sid`: what rosterd answers, where the answer
//! came from (cache, directory, offline store) and the entry's DN.

use super::cli::LookupCmd;
use super::context::Ctx;
use super::daemon::{self, DaemonError};
use super::output::{print_json, render_text, without_ok};
use serde_json::json;
use std::process::ExitCode;

/// Runs `rosterctl lookup ...`.
pub fn run(ctx: &Ctx, cmd: &LookupCmd) -> anyhow::Result<ExitCode> {
    let (kind, key) = match cmd {
        LookupCmd::User { key } => ("user", key),
        LookupCmd::Group { key } => ("group", key),
        LookupCmd::Netgroup { name } => ("netgroup", name),
        LookupCmd::Sid { sid } => ("sid", sid),
    };
    let request = json!({"cmd": "lookup", "kind": kind, "key": key});
    match daemon::admin(ctx, &request) {
        Ok(reply) => {
            let found = reply.get("found").and_then(|f| f.as_bool()).unwrap_or(true);
            if ctx.json {
                print_json(&reply);
            } else if found {
                println!("{kind} {key}:");
                print!("{}", render_text(&without_ok(&reply)));
            } else {
                println!("{kind} {key}: not found");
            }
            Ok(if found {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Err(DaemonError::NotFound) => {
            if ctx.json {
                print_json(&json!({"kind": kind, "key": key, "found": false}));
            } else {
                println!("{kind} {key}: not found");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(DaemonError::Failed(msg)) if kind == "sid" => {
            let text = "SID lookup failed (SIDs are looked up in kind = \"ad\" domains)";
            if ctx.json {
                print_json(
                    &json!({"kind": kind, "key": key, "supported": false, "error": text, "daemon": msg}),
                );
            } else {
                println!("{text} (rosterd: {msg})");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}
