//! `rosterctl cache flush|stats|forget-credentials|unlock`: admin commands
//! on pam.sock.

use super::cli::{CacheCmd, FlushArgs, ForgetArgs};
use super::context::Ctx;
use super::daemon;
use super::output::{print_json, render_text, without_ok};
use roster_proto::admin::{document, AdminRequest, FlushTarget, ForgetTarget};
use serde_json::Value;
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
        let doc = without_ok(&reply);
        match cmd {
            CacheCmd::Stats => print!("{}", stats_text(&doc)),
            _ => print!("{}", render_text(&doc)),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The text form of `cache stats`: the counters as `key: value` lines,
/// then the memory cache (`nss.mc`) on lines of its own.
fn stats_text(doc: &Value) -> String {
    let mut doc = doc.clone();
    let mc = doc
        .get_mut("stats")
        .and_then(Value::as_object_mut)
        .and_then(|s| s.remove("memory_cache"));
    let mut out = render_text(&doc);
    match mc.as_ref().and_then(memory_cache_text) {
        Some(text) => {
            for line in text.lines() {
                out.push_str("  ");
                out.push_str(line);
                out.push('\n');
            }
        }
        None => out.push_str("  memory cache: none\n"),
    }
    out
}

/// The memory cache's size, bound and fill in a few lines (`None` when the
/// daemon publishes none):
///
/// ```text
/// memory cache: /run/roster/nss.mc
///   file: 8.0 MiB (2.0 MiB allocated), at most 32.0 MiB ([nss] memcache_size)
///   records: 1.0 MiB of 7.0 MiB (14% full), 65536 slots
///   "no such entry" records written to it: 12 (at most 4096)
/// ```
pub(crate) fn memory_cache_text(mc: &Value) -> Option<String> {
    let n = |k: &str| mc[k].as_u64().unwrap_or(0);
    if !mc.is_object() {
        return None;
    }
    let (used, capacity) = (n("records_bytes"), n("records_capacity"));
    let full = (used.saturating_mul(100))
        .checked_div(capacity)
        .map(|pct| format!(" ({pct}% full)"))
        .unwrap_or_default();
    // (A daemon from before "no such entry" records reports none.)
    let missing = match n("missing_records_limit") {
        0 => String::new(),
        limit => format!(
            "  \"no such entry\" records written to it: {} (at most {limit})\n",
            n("missing_records_written")
        ),
    };
    Some(format!(
        "memory cache: {}\n  file: {} ({} allocated), at most {} ([nss] memcache_size)\n  records: {} of {}{full}, {} slots\n{missing}",
        mc["path"].as_str().unwrap_or("-"),
        bytes(n("file_bytes")),
        bytes(n("allocated_bytes")),
        bytes(n("size_limit")),
        bytes(used),
        bytes(capacity),
        n("slots"),
    ))
}

/// A byte count in KiB or MiB, one decimal.
fn bytes(n: u64) -> String {
    if n < 1 << 20 {
        format!("{:.1} KiB", n as f64 / 1024.0)
    } else {
        format!("{:.1} MiB", n as f64 / f64::from(1u32 << 20))
    }
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
    fn stats_text_shows_the_memory_cache() {
        let doc = json!({"stats": {
            "entries": 3,
            "hits": 2,
            "memory_cache": {
                "path": "/run/roster/nss.mc",
                "file_bytes": 8u64 << 20,
                "allocated_bytes": 2u64 << 20,
                "size_limit": 32u64 << 20,
                "records_bytes": 1u64 << 20,
                "records_capacity": 7u64 << 20,
                "slots": 65536,
                "missing_records_written": 12,
                "missing_records_limit": 4096,
            },
        }});
        let t = stats_text(&doc);
        assert!(t.starts_with("stats:\n  entries: 3\n  hits: 2\n"), "{t}");
        assert!(
            t.ends_with(
                "  memory cache: /run/roster/nss.mc\n    file: 8.0 MiB (2.0 MiB allocated), at most 32.0 MiB ([nss] memcache_size)\n    records: 1.0 MiB of 7.0 MiB (14% full), 65536 slots\n    \"no such entry\" records written to it: 12 (at most 4096)\n"
            ),
            "{t}"
        );
        assert!(!t.contains("records bytes"), "{t}");
        // No memory cache (nss.mc withdrawn, or a daemon without one).
        let none = stats_text(&json!({"stats": {"entries": 0, "memory_cache": null}}));
        assert_eq!(none, "stats:\n  entries: 0\n  memory cache: none\n");
        assert_eq!(bytes(512), "0.5 KiB");
        assert_eq!(bytes(3 << 19), "1.5 MiB");
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
