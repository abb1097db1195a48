//! Admin commands (`rosterctl`), JSON in and out, on `pam.sock` only.
//!
//! | command | reply (besides `"ok": true`) |
//! |---------|------------------------------|
//! | `{"cmd":"cache_flush","user":"NAME"}` | `flushed`: memory entries dropped |
//! | `{"cmd":"cache_flush","group":"NAME"}` | `flushed` |
//! | `{"cmd":"cache_flush","netgroup":"NAME"}` | `flushed` (that netgroup, and every netgroup in memory: any may include it) |
//! | `{"cmd":"cache_flush","all":true}` | `flushed` |
//! | `{"cmd":"forget_credentials","user":"NAME[@DOMAIN]"}` | `forgotten`: cached passwords deleted |
//! | `{"cmd":"forget_credentials","all":true}` | `forgotten` |
//! | `{"cmd":"cache_stats"}` | `stats`: entries, max_entries, persistent_entries, hits, misses, hit_rate, offline_answers |
//! | `{"cmd":"lookup","kind":"user"\|"group","key":"NAME\|ID"}` | `found`; when found: `source` (`cache`, `directory`, `offline`), `domain`, `dn`, `entry` |
//! | `{"cmd":"lookup","kind":"netgroup","key":"NAME"}` | the same; `entry` holds `name` and `triples` (`[host, user, domain]`) |
//! | `{"cmd":"lookup","kind":"sid","key":"S-1-5-21-…"}` | the same, from the AD domains (uncached); `entry.type` is `user` or `group` |
//! | `{"cmd":"reload"}` | nothing more (`ok: false` and `error` if the new configuration was refused) |
//! | `{"cmd":"status"}` | `status`: the `Status` document |
//!
//! Any failure is `{"ok": false, "error": "..."}`.

use super::Context;
use crate::resolver::Answer;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::oneshot;

#[derive(Deserialize)]
#[serde(rename_all = "lowercase")]
enum Kind {
    User,
    Group,
    Netgroup,
    Sid,
}

#[derive(Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
enum Command {
    CacheFlush {
        user: Option<String>,
        group: Option<String>,
        netgroup: Option<String>,
        #[serde(default)]
        all: bool,
    },
    CacheStats,
    ForgetCredentials {
        user: Option<String>,
        #[serde(default)]
        all: bool,
    },
    Lookup {
        kind: Kind,
        key: String,
    },
    Reload,
    Status,
}

fn fail(msg: impl std::fmt::Display) -> Value {
    json!({ "ok": false, "error": msg.to_string() })
}

/// Runs one admin command and returns its JSON reply.
pub async fn handle(ctx: &Context, text: &str) -> Value {
    let cmd: Command = match serde_json::from_str(text) {
        Ok(c) => c,
        Err(e) => return fail(format!("bad admin command: {e}")),
    };
    let r = &ctx.resolver;
    match cmd {
        Command::CacheFlush {
            user,
            group,
            netgroup,
            all,
        } => {
            let flushed = match (user, group, netgroup, all) {
                (Some(u), None, None, false) => r.flush_user(&u),
                (None, Some(g), None, false) => r.flush_group(&g),
                (None, None, Some(n), false) => r.flush_netgroup(&n),
                (None, None, None, true) => r.flush_all(),
                _ => {
                    return fail(
                        "cache_flush takes exactly one of \"user\", \"group\", \"netgroup\", \"all\": true",
                    )
                }
            };
            if let Some(mc) = &ctx.memcache {
                mc.flush();
            }
            super::procstat::trim_heap();
            tracing::info!(flushed, "cache flushed by admin command");
            json!({ "ok": true, "flushed": flushed })
        }
        Command::CacheStats => json!({ "ok": true, "stats": r.cache_stats() }),
        Command::ForgetCredentials { user, all } => {
            let name = match (user, all) {
                (Some(u), false) if !u.trim().is_empty() => Some(u),
                (None, true) => None,
                _ => {
                    return fail(
                        "forget_credentials takes exactly one of \"user\" (a non-empty name) or \"all\": true",
                    )
                }
            };
            match ctx.pam.forget_credentials(name.as_deref()).await {
                Ok(forgotten) => {
                    tracing::info!(
                        forgotten,
                        user = name.as_deref().unwrap_or("(all)"),
                        "cached passwords deleted by admin command"
                    );
                    json!({ "ok": true, "forgotten": forgotten })
                }
                Err(e) => fail(e),
            }
        }
        Command::Status => {
            let mut st = r.status();
            st["process"] = super::procstat::snapshot();
            json!({ "ok": true, "status": st })
        }
        Command::Lookup { kind, key } => lookup(ctx, kind, &key).await,
        Command::Reload => {
            let Some(tx) = &ctx.reload else {
                return fail("this daemon cannot reload");
            };
            let (done, wait) = oneshot::channel();
            if tx.send(done).await.is_err() {
                return fail("the daemon is shutting down");
            }
            match wait.await {
                Ok(Ok(())) => json!({ "ok": true }),
                Ok(Err(e)) => fail(e),
                Err(_) => fail("reload did not complete"),
            }
        }
    }
}

async fn lookup(ctx: &Context, kind: Kind, key: &str) -> Value {
    let r = &ctx.resolver;
    let id = key.parse::<u32>().ok();
    let found = match kind {
        Kind::User => {
            let ans = match id {
                Some(uid) => r.user_by_uid(uid).await,
                None => r.user_by_name(key).await,
            };
            match ans {
                Answer::Found(u, src) => Ok((
                    src,
                    u.domain.to_string(),
                    u.dn.clone(),
                    json!({
                        "name": u.user.name, "uid": u.user.uid, "gid": u.user.gid,
                        "gecos": u.user.gecos, "home": u.user.home, "shell": u.user.shell,
                        "unique_id": u.unique_id,
                    }),
                )),
                Answer::NotFound => Err(None),
                Answer::Unavailable(e) => Err(Some(e)),
            }
        }
        Kind::Sid => super::admin_sid::lookup(ctx, key).await,
        Kind::Netgroup => match r.netgroup_by_name(key).await {
            Answer::Found(n, src) => Ok((
                src,
                n.domain.to_string(),
                n.dn.clone(),
                json!({
                    "name": n.netgroup.name,
                    "triples": n.netgroup.triples.iter()
                        .map(|t| [&t.host, &t.user, &t.domain])
                        .collect::<Vec<_>>(),
                }),
            )),
            Answer::NotFound => Err(None),
            Answer::Unavailable(e) => Err(Some(e)),
        },
        Kind::Group => {
            let ans = match id {
                Some(gid) => r.group_by_gid(gid).await,
                None => r.group_by_name(key).await,
            };
            match ans {
                Answer::Found(g, src) => Ok((
                    src,
                    g.domain.to_string(),
                    g.dn.clone(),
                    json!({ "name": g.group.name, "gid": g.group.gid, "members": g.group.members }),
                )),
                Answer::NotFound => Err(None),
                Answer::Unavailable(e) => Err(Some(e)),
            }
        }
    };
    match found {
        Ok((src, domain, dn, entry)) => json!({
            "ok": true, "found": true, "source": src.as_str(),
            "domain": domain, "dn": dn, "entry": entry,
        }),
        Err(None) => json!({ "ok": true, "found": false }),
        Err(Some(e)) => {
            json!({ "ok": false, "found": false, "error": format!("unavailable: {e}") })
        }
    }
}
