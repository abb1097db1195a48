//! Request -> reply: lookups go to the resolver, PAM requests to
//! [`super::pam`], admin commands to [`super::admin`].

use super::{admin, pam, Context};
use crate::resolver::Answer;
use roster_proto::{Request, Response};

/// Longest name accepted in a lookup (longer ones are a client error).
pub const MAX_NAME_LEN: usize = 256;

fn check_name(what: &str, name: &str) -> Result<(), Response> {
    if name.len() > MAX_NAME_LEN {
        return Err(Response::Error(format!(
            "{what} is {} bytes long, more than {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Response::Error(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

fn reply<T>(timed: (Answer<T>, u64), ok: impl FnOnce(T) -> Response) -> (Response, u64) {
    let (ans, until) = timed;
    let resp = match ans {
        Answer::Found(v, _) => ok(v),
        Answer::NotFound => Response::NotFound,
        Answer::Unavailable(r) => Response::Unavailable(r),
    };
    (resp, until)
}

/// Answers one well-formed request (privilege already checked).
pub async fn dispatch(ctx: &Context, req: Request) -> Response {
    dispatch_timed(ctx, req).await.0
}

/// [`dispatch`], with the time (ms since the epoch, resolver clock) until
/// which a lookup answer is fresh (0 for anything not to be republished).
pub async fn dispatch_timed(ctx: &Context, req: Request) -> (Response, u64) {
    let r = &ctx.resolver;
    match req {
        Request::UserByName(name) => match check_name("user name", &name) {
            Ok(()) => reply(r.user_by_name_timed(&name).await, |u| {
                Response::User(u.user.clone())
            }),
            Err(e) => (e, 0),
        },
        Request::UserByUid(uid) => reply(r.user_by_uid_timed(uid).await, |u| {
            Response::User(u.user.clone())
        }),
        Request::GroupByName(name) => match check_name("group name", &name) {
            Ok(()) => reply(r.group_by_name_timed(&name).await, |g| {
                Response::Group(g.group.clone())
            }),
            Err(e) => (e, 0),
        },
        Request::GroupByGid(gid) => reply(r.group_by_gid_timed(gid).await, |g| {
            Response::Group(g.group.clone())
        }),
        Request::GroupsOfUser(name) => match check_name("user name", &name) {
            Ok(()) => {
                let (resp, until) = reply(r.groups_of_user_timed(&name).await, Response::Gids);
                // Only an answer asked under the user's served name is
                // republished to the memory cache: a case variant or alias
                // is answered but adds no record.
                let served = until != 0
                    && matches!(r.user_by_name(&name).await, Answer::Found(u, _) if u.user.name == name);
                (resp, if served { until } else { 0 })
            }
            Err(e) => (e, 0),
        },
        Request::NetgroupByName(name) => match check_name("netgroup name", &name) {
            Ok(()) => reply(r.netgroup_by_name_timed(&name).await, |n| {
                Response::Netgroup(n.netgroup.clone())
            }),
            Err(e) => (e, 0),
        },
        Request::ListUsers { offset, limit } => match r.list_users(offset, limit).await {
            Ok((entries, more)) => (Response::Users { entries, more }, 0),
            Err(e) => (Response::Unavailable(e), 0),
        },
        Request::ListGroups { offset, limit } => match r.list_groups(offset, limit).await {
            Ok((entries, more)) => (Response::Groups { entries, more }, 0),
            Err(e) => (Response::Unavailable(e), 0),
        },
        Request::Status => {
            let mut st = r.status();
            st["pid"] = std::process::id().into();
            st["process"] = super::procstat::snapshot();
            // Entries never served (ID collisions, local accounts, reserved
            // IDs): for the administrator only (this is pam.sock's document;
            // nss.sock answers a redacted one).
            st["refused_entries"] = refused_entries(r);
            st["memory_cache"] = ctx.memcache.as_ref().map_or(serde_json::Value::Null, |m| {
                m.path().display().to_string().into()
            });
            (Response::Json(st.to_string()), 0)
        }
        Request::Admin(json) => (
            Response::Json(admin::handle(ctx, &json).await.to_string()),
            0,
        ),
        req @ (Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. }) => (pam::handle(ctx, req).await, 0),
    }
}

/// The resolver's refused entries as `[{domain, dn, reason}]`, sorted.
fn refused_entries(r: &crate::resolver::Resolver) -> serde_json::Value {
    let mut list = r.refused_entries();
    list.sort();
    list.into_iter()
        .map(|(domain, dn, reason)| serde_json::json!({"domain": domain, "dn": dn, "reason": reason}))
        .collect()
}
