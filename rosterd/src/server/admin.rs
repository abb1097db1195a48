//! Admin commands (`rosterctl`) on `pam.sock` only: a typed
//! [`AdminRequest`] in, an [`AdminAnswer`] out (see
//! [`roster_proto::admin`] for the messages and their JSON).
//!
//! | command | answer |
//! |---------|--------|
//! | `cache_flush` (user, group, netgroup or all) | `Flushed`: memory entries dropped (a netgroup's flush drops every netgroup in memory: any may include it) |
//! | `forget_credentials` (user or all) | `Forgotten`: cached passwords deleted |
//! | `cache_unlock` (user) | `Unlocked`: cached credentials whose offline lockout or failure count was cleared |
//! | `cache_stats` | `CacheStats`: the resolver's counters and the memory cache's size, bound and fill |
//! | `lookup` user or group (name or ID) | `Lookup`: source (`cache`, `directory`, `offline`), domain, DN, entry |
//! | `lookup` netgroup (name) | the same; the entry holds the triples, nested netgroups resolved |
//! | `lookup` SID | the same, from the AD domains (uncached) |
//! | `reload` | `Reloaded`, or refused with the reason the new configuration was not taken |
//! | `status` | `Status`: the whole report |
//!
//! A failure has a kind: not found (a lookup of nothing), unavailable (no
//! directory answered, the credential store failed, the daemon is stopping),
//! refused (a reload that was not taken) or invalid (an empty user name).

use super::dispatch::check_name;
use super::{status_report, Context};
use roster_daemon::resolver::{Answer, Source as ResolverSource};
use roster_proto::admin::{
    AdminAnswer, AdminReply, AdminRequest, Entry, FlushTarget, ForgetTarget, GroupInfo,
    LookupFound, LookupKind, NetgroupInfo, Source, StatusReport, UserInfo,
};
use roster_proto::Failure;
use tokio::sync::oneshot;

/// Runs one admin command.
pub async fn handle(ctx: &Context, cmd: AdminRequest) -> AdminAnswer {
    let r = &ctx.resolver;
    match cmd {
        AdminRequest::CacheFlush(target) => {
            let flushed = match &target {
                FlushTarget::User(u) => r.flush_user(u),
                FlushTarget::Group(g) => r.flush_group(g),
                FlushTarget::Netgroup(n) => r.flush_netgroup(n),
                FlushTarget::All => r.flush_all(),
            };
            if let Some(mc) = &ctx.memcache {
                mc.flush();
            }
            super::procstat::trim_heap();
            tracing::info!(flushed, "cache flushed by admin command");
            Ok(AdminReply::Flushed(flushed as u64))
        }
        AdminRequest::CacheStats => {
            let mut stats = r.cache_stats();
            stats.memory_cache = ctx.memcache.as_ref().and_then(|mc| mc.stats());
            Ok(AdminReply::CacheStats(stats))
        }
        AdminRequest::ForgetCredentials(target) => {
            let name = match target {
                ForgetTarget::User(u) if u.trim().is_empty() => {
                    return Err(Failure::invalid(
                        "forget_credentials: the user name is empty",
                    ))
                }
                ForgetTarget::User(u) => Some(u),
                ForgetTarget::All => None,
            };
            let forgotten = ctx
                .pam
                .forget_credentials(name.as_deref())
                .await
                .map_err(|e| Failure::unavailable(format!("the credential store: {e}")))?;
            tracing::info!(
                forgotten,
                user = name.as_deref().unwrap_or("(all)"),
                "cached passwords deleted by admin command"
            );
            Ok(AdminReply::Forgotten(forgotten as u64))
        }
        AdminRequest::CacheUnlock { user } => {
            if user.trim().is_empty() {
                return Err(Failure::invalid("cache_unlock: the user name is empty"));
            }
            check_name("user name", &user)?;
            let unlocked = ctx
                .pam
                .unlock(&user)
                .await
                .map_err(|e| Failure::unavailable(format!("the credential store: {e}")))?;
            tracing::info!(
                unlocked,
                user = %user,
                "offline lockout cleared by admin command"
            );
            Ok(AdminReply::Unlocked(unlocked as u64))
        }
        AdminRequest::Status => Ok(AdminReply::Status(StatusReport::Full(Box::new(
            status_report::full(ctx),
        )))),
        AdminRequest::Lookup { kind, key } => lookup(ctx, kind, &key).await.map(AdminReply::Lookup),
        AdminRequest::Reload => reload(ctx).await,
    }
}

/// Asks the daemon's main loop to reload and waits for the outcome.
async fn reload(ctx: &Context) -> AdminAnswer {
    let Some(tx) = &ctx.reload else {
        return Err(Failure::refused("this daemon cannot reload"));
    };
    let (done, wait) = oneshot::channel();
    if tx.send(done).await.is_err() {
        return Err(Failure::unavailable("the daemon is shutting down"));
    }
    match wait.await {
        Ok(Ok(())) => Ok(AdminReply::Reloaded),
        Ok(Err(e)) => Err(Failure::refused(e)),
        Err(_) => Err(Failure::unavailable("the reload did not complete")),
    }
}

/// The protocol's name of where an answer came from.
pub(super) fn source(s: ResolverSource) -> Source {
    match s {
        ResolverSource::Cache => Source::Cache,
        ResolverSource::Directory => Source::Directory,
        ResolverSource::Offline => Source::Offline,
    }
}

async fn lookup(ctx: &Context, kind: LookupKind, key: &str) -> Result<LookupFound, Failure> {
    let r = &ctx.resolver;
    // Netgroups have no numeric ID: a key of digits is a name.
    let id = match kind {
        LookupKind::Netgroup => None,
        _ => key.parse::<u32>().ok(),
    };
    let what = || format!("{} {key}", kind.as_str());
    if kind != LookupKind::Sid && id.is_none() {
        check_name(&format!("{} name", kind.as_str()), key)?;
    }
    match kind {
        LookupKind::User => {
            let ans = match id {
                Some(uid) => r.user_by_uid(uid).await,
                None => r.user_by_name(key).await,
            };
            found(ans, what, |u| LookupFound {
                source: Source::Cache,
                domain: u.domain.to_string(),
                dn: u.dn.clone(),
                entry: Entry::User(UserInfo {
                    name: u.user.name.clone(),
                    uid: u.user.uid,
                    gid: u.user.gid,
                    gecos: u.user.gecos.clone(),
                    home: u.user.home.clone(),
                    shell: u.user.shell.clone(),
                    unique_id: u.unique_id.clone(),
                }),
            })
        }
        LookupKind::Group => {
            let ans = match id {
                Some(gid) => r.group_by_gid(gid).await,
                None => r.group_by_name(key).await,
            };
            found(ans, what, |g| LookupFound {
                source: Source::Cache,
                domain: g.domain.to_string(),
                dn: g.dn.clone(),
                entry: Entry::Group(GroupInfo {
                    name: g.group.name.clone(),
                    gid: g.group.gid,
                    members: g.group.members.clone(),
                }),
            })
        }
        LookupKind::Netgroup => found(r.netgroup_by_name(key).await, what, |n| LookupFound {
            source: Source::Cache,
            domain: n.domain.to_string(),
            dn: n.dn.clone(),
            entry: Entry::Netgroup(NetgroupInfo {
                name: n.netgroup.name.clone(),
                triples: n
                    .netgroup
                    .triples
                    .iter()
                    .map(|t| [t.host.clone(), t.user.clone(), t.domain.clone()])
                    .collect(),
            }),
        }),
        LookupKind::Sid => super::admin_sid::lookup(ctx, key).await,
    }
}

/// A resolver answer as a lookup result: the entry with its source, or a
/// failure of the answer's kind.
fn found<T>(
    ans: Answer<T>,
    what: impl FnOnce() -> String,
    describe: impl FnOnce(&T) -> LookupFound,
) -> Result<LookupFound, Failure> {
    let (v, src) = ans.found(what)?;
    Ok(LookupFound {
        source: source(src),
        ..describe(&v)
    })
}
