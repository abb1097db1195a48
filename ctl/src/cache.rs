//! `rosterctl cache flush|stats|forget-credentials|unlock`: admin commands
//! on pam.sock.

use super::cli::{CacheCmd, FlushArgs, ForgetArgs};
use super::context::Ctx;
use super::daemon;
use super::output::{print_json, render_text, without_ok};
use roster_proto::admin::{document, AdminRequest, FlushTarget, ForgetTarget};
use std::process::ExitCode;

/// Runs `rosterctl cache ...`.
pub fn run(ctx: &Ctx, cmd: &CacheCmd) -> anyhow::Result<ExitCode> {
    let (request, headline) = match cmd {
        CacheCmd::Flush(args) => flush_request(args),
        CacheCmd::Stats => (AdminRequest::CacheStats, String::new()),
        CacheCmd::ForgetCredentials(args) => forget_request(args),
        CacheCmd::Unlock { user } => unlock_request(user),
    };
    let reply = document(&Ok(daemon::admin(ctx, &request)?));
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
fn flush_request(args: &FlushArgs) -> (AdminRequest, String) {
    let (target, headline) = if let Some(u) = &args.user {
        (FlushTarget::User(u.clone()), format!("flushed user {u}"))
    } else if let Some(g) = &args.group {
        (FlushTarget::Group(g.clone()), format!("flushed group {g}"))
    } else if let Some(n) = &args.netgroup {
        (
            FlushTarget::Netgroup(n.clone()),
            format!("flushed netgroup {n}"),
        )
    } else {
        (FlushTarget::All, "flushed the whole cache".into())
    };
    (AdminRequest::CacheFlush(target), headline)
}

/// The admin command for `forget-credentials` and the line that reports it.
fn forget_request(args: &ForgetArgs) -> (AdminRequest, String) {
    let (target, headline) = match &args.user {
        Some(u) => (
            ForgetTarget::User(u.clone()),
            format!("deleted the cached passwords of {u}"),
        ),
        None => (ForgetTarget::All, "deleted every cached password".into()),
    };
    (AdminRequest::ForgetCredentials(target), headline)
}

/// The admin command for `unlock` and the line that reports it.
fn unlock_request(user: &str) -> (AdminRequest, String) {
    (
        AdminRequest::CacheUnlock {
            user: user.to_string(),
        },
        format!("cleared the offline lockout of {user}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The request as it goes over the wire (JSON inside the frame).
    fn wire(r: (AdminRequest, String)) -> serde_json::Value {
        serde_json::to_value(r.0).unwrap()
    }

    #[test]
    fn flush_requests_match_the_admin_protocol() {
        let a = |user: Option<&str>, group: Option<&str>, all| FlushArgs {
            user: user.map(String::from),
            group: group.map(String::from),
            netgroup: None,
            all,
        };
        assert_eq!(
            wire(flush_request(&a(Some("bob"), None, false))),
            json!({"cmd": "cache_flush", "user": "bob"})
        );
        assert_eq!(
            wire(flush_request(&a(None, Some("staff"), false))),
            json!({"cmd": "cache_flush", "group": "staff"})
        );
        assert_eq!(
            wire(flush_request(&a(None, None, true))),
            json!({"cmd": "cache_flush", "all": true})
        );
        let ng = FlushArgs {
            netgroup: Some("admins".into()),
            ..a(None, None, false)
        };
        assert_eq!(
            wire(flush_request(&ng)),
            json!({"cmd": "cache_flush", "netgroup": "admins"})
        );
    }

    #[test]
    fn unlock_requests_match_the_admin_protocol() {
        assert_eq!(
            wire(unlock_request("bob@corp")),
            json!({"cmd": "cache_unlock", "user": "bob@corp"})
        );
    }

    #[test]
    fn forget_requests_match_the_admin_protocol() {
        let f = |user: Option<&str>, all| ForgetArgs {
            user: user.map(String::from),
            all,
        };
        assert_eq!(
            wire(forget_request(&f(Some("bob@corp"), false))),
            json!({"cmd": "forget_credentials", "user": "bob@corp"})
        );
        assert_eq!(
            wire(forget_request(&f(None, true))),
            json!({"cmd": "forget_credentials", "all": true})
        );
    }
}
