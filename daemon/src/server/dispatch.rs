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

fn reply<T>(ans: Answer<T>, ok: impl FnOnce(T) -> Response) -> Response {
    match ans {
        Answer::Found(v, _) => ok(v),
        Answer::NotFound => Response::NotFound,
        Answer::Unavailable(r) => Response::Unavailable(r),
    }
}

/// Answers one well-formed request (privilege already checked).
pub async fn dispatch(ctx: &Context, req: Request) -> Response {
    let r = &ctx.resolver;
    match req {
        Request::UserByName(name) => match check_name("user name", &name) {
            Ok(()) => reply(r.user_by_name(&name).await, |u| {
                Response::User(u.user.clone())
            }),
            Err(e) => e,
        },
        Request::UserByUid(uid) => {
            reply(r.user_by_uid(uid).await, |u| Response::User(u.user.clone()))
        }
        Request::GroupByName(name) => match check_name("group name", &name) {
            Ok(()) => reply(r.group_by_name(&name).await, |g| {
                Response::Group(g.group.clone())
            }),
            Err(e) => e,
        },
        Request::GroupByGid(gid) => reply(r.group_by_gid(gid).await, |g| {
            Response::Group(g.group.clone())
        }),
        Request::GroupsOfUser(name) => match check_name("user name", &name) {
            Ok(()) => reply(r.groups_of_user(&name).await, Response::Gids),
            Err(e) => e,
        },
        Request::ListUsers { offset, limit } => match r.list_users(offset, limit).await {
            Ok((entries, more)) => Response::Users { entries, more },
            Err(e) => Response::Unavailable(e),
        },
        Request::ListGroups { offset, limit } => match r.list_groups(offset, limit).await {
            Ok((entries, more)) => Response::Groups { entries, more },
            Err(e) => Response::Unavailable(e),
        },
        Request::Status => {
            let mut st = r.status();
            st["pid"] = std::process::id().into();
            Response::Json(st.to_string())
        }
        Request::Admin(json) => Response::Json(admin::handle(ctx, &json).await.to_string()),
        req @ (Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. }) => pam::handle(ctx, req).await,
    }
}
