//! `rosterctl cache flush|stats|forget-credentials`: admin commands on
//! pam.sock.

use super::cli::{CacheCmd, FlushArgs, ForgetArgs};
use super::context::Ctx;
use super::daemon;
use super::output::{print_json, render_text, without_ok};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Runs `rosterctl cache ...`.
pub fn run(ctx: &Ctx, cmd: &CacheCmd) -> anyhow::Result<ExitCode> {
    let (request, headline) = match cmd {
        CacheCmd::Flush(args) => flush_request(args),
        CacheCmd::Stats => (json!({"cmd": "cache_stats"}), String::new()),
        CacheCmd::ForgetCredentials(args) => forget_request(args),
    };
    let reply = daemon::admin(ctx, &request)?;
    if ctx.json {
        print_json(&reply);
    } else {
        if !headline.is_empty() {
            println!("{headline}");
        }
        print!("{}", render_text(&without_ok(&reply)));
    }
    Ok(ExitCode::SUCCESS)
}

/// The admin command for a flush and the line that reports it.
fn flush_request(args: &FlushArgs) -> (Value, String) {
    if let Some(u) = &args.user {
        (
            json!({"cmd": "cache_flush", "user": u}),
            format!("flushed user {u}"),
        )
    } else if let Some(g) = &args.group {
        (
            json!({"cmd": "cache_flush", "group": g}),
            format!("flushed group {g}"),
        )
    } else if let Some(n) = &args.netgroup {
        (
            json!({"cmd": "cache_flush", "netgroup": n}),
            format!("flushed netgroup {n}"),
        )
    } else {
        (
            json!({"cmd": "cache_flush", "all": true}),
            "flushed the whole cache".into(),
        )
    }
}

/// The admin command for `forget-credentials` and the line that reports it.
fn forget_request(args: &ForgetArgs) -> (Value, String) {
    match &args.user {
        Some(u) => (
            json!({"cmd": "forget_credentials", "user": u}),
            format!("deleted the cached passwords of {u}"),
        ),
        None => (
            json!({"cmd": "forget_credentials", "all": true}),
            "deleted every cached password".into(),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flush_requests_match_the_admin_protocol() {
        let a = |user: Option<&str>, group: Option<&str>, all| FlushArgs {
            user: user.map(String::from),
            group: group.map(String::from),
            netgroup: None,
            all,
        };
        assert_eq!(
            flush_request(&a(Some("bob"), None, false)).0,
            json!({"cmd": "cache_flush", "user": "bob"})
        );
        assert_eq!(
            flush_request(&a(None, Some("staff"), false)).0,
            json!({"cmd": "cache_flush", "group": "staff"})
        );
        assert_eq!(
            flush_request(&a(None, None, true)).0,
            json!({"cmd": "cache_flush", "all": true})
        );
        let ng = FlushArgs {
            netgroup: Some("admins".into()),
            ..a(None, None, false)
        };
        assert_eq!(
            flush_request(&ng).0,
            json!({"cmd": "cache_flush", "netgroup": "admins"})
        );
    }

    #[test]
    fn forget_requests_match_the_admin_protocol() {
        let f = |user: Option<&str>, all| ForgetArgs {
            user: user.map(String::from),
            all,
        };
        assert_eq!(
            forget_request(&f(Some("bob@corp"), false)).0,
            json!({"cmd": "forget_credentials", "user": "bob@corp"})
        );
        assert_eq!(
            forget_request(&f(None, true)).0,
            json!({"cmd": "forget_credentials", "all": true})
        );
    }
}
