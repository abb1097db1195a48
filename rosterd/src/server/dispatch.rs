//! Request -> reply: lookups (SSH keys included) go to the resolver, PAM
//! requests to [`super::pam`], admin commands to [`super::admin`], `Status`
//! to [`super::status_report`].
//!
//! A failed request is a [`Failure`] (with its kind) until the reply is
//! built: admin and status requests answer it whole, lookups with the
//! lookup protocol's NotFound, Unavailable or Error
//! ([`Failure::into_lookup_response`]).

use super::{admin, pam, status_report, Context};
use roster_daemon::boxed_apart;
use roster_daemon::cache::{GroupEntry, UserEntry};
use roster_daemon::resolver::{Answer, ListedPage};
use roster_proto::admin::{AdminReply, StatusReport};
use roster_proto::{
    decode_response, encode_group_response, encode_groups_page_octets, encode_response,
    encode_user_response, encode_users_page_octets, Failure, Group, Request, Response, User,
};
use std::sync::Arc;

/// Longest name accepted in a lookup (longer ones are a client error).
pub const MAX_NAME_LEN: usize = 256;

/// Refuses a name that is too long or holds a control character.
pub fn check_name(what: &str, name: &str) -> Result<(), Failure> {
    if name.len() > MAX_NAME_LEN {
        return Err(Failure::invalid(format!(
            "{what} is {} bytes long, more than {MAX_NAME_LEN}",
            name.len()
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(Failure::invalid(format!(
            "{what} contains a control character"
        )));
    }
    Ok(())
}

/// The reply to `request` when it failed with `failure`: an admin answer
/// for admin and status requests, a lookup status for the others.
pub fn failed(request: &Request, failure: Failure) -> Response {
    match request {
        Request::Admin(_) | Request::Status => Response::Admin(Err(failure)),
        _ => failure.into_lookup_response(),
    }
}

fn reply<T, R: Into<Reply>>(timed: (Answer<T>, u64), ok: impl FnOnce(T) -> R) -> (Reply, u64) {
    let (ans, until) = timed;
    let resp = match ans.found(String::new) {
        Ok((v, _)) => ok(v).into(),
        Err(failure) => failure.into_lookup_response().into(),
    };
    (resp, until)
}

/// A lookup refused before it reached the resolver.
fn refused(failure: Failure) -> (Reply, u64) {
    (failure.into_lookup_response().into(), 0)
}

/// What a request is answered with: a protocol response, or a served user
/// or group still shared with the resolver's caches, encoded from there
/// (neither is copied for each answer; a group may have thousands of
/// members).
#[derive(Debug)]
pub enum Reply {
    /// Any answer.
    Response(Response),
    /// `Response::User` of this entry's user.
    User(Arc<UserEntry>),
    /// `Response::Group` of this entry's group.
    Group(Arc<GroupEntry>),
    /// `Response::Users` of this page of the user listing.
    Users(ListedPage<User>),
    /// `Response::Groups` of this page of the group listing.
    Groups(ListedPage<Group>),
}

impl Reply {
    /// The reply's frame (length prefix included).
    pub fn encode(&self) -> Vec<u8> {
        match self {
            Reply::Response(r) => encode_response(r),
            Reply::User(u) => encode_user_response(&u.user),
            Reply::Group(g) => encode_group_response(&g.group),
            Reply::Users(p) => encode_users_page_octets(p.count(), p.octets(), p.more()),
            Reply::Groups(p) => encode_groups_page_octets(p.count(), p.octets(), p.more()),
        }
    }

    /// The reply as a protocol response (a group copied; a page read
    /// back from its frame, as the module reads it).
    pub fn into_response(self) -> Response {
        match self {
            Reply::Response(r) => r,
            Reply::User(u) => Response::User(u.user.clone()),
            Reply::Group(g) => Response::Group(g.group.clone()),
            page @ (Reply::Users(_) | Reply::Groups(_)) => {
                let frame = page.encode();
                decode_response(&frame[4..]).unwrap_or_else(|e| {
                    Response::Error(format!("a page of the listing does not read back: {e}"))
                })
            }
        }
    }
}

impl From<Response> for Reply {
    fn from(r: Response) -> Self {
        Reply::Response(r)
    }
}

/// The SSH public keys of user `name` as NSS serves the user: none for a
/// name `/etc/passwd` holds, without asking the directory (sshd asks for
/// every user, and a local account shadows a directory one); the keys of
/// the served entry; not found for a name no one serves (refused by the ID
/// rules included). Never republished to the memory cache.
async fn ssh_keys(ctx: &Context, name: &str) -> Response {
    let r = &ctx.resolver;
    if r.is_local_user(name) {
        return Response::SshKeys(Vec::new());
    }
    match r.user_by_name(name).await.found(String::new) {
        Ok((u, _)) => Response::SshKeys(u.ssh_keys.clone()),
        Err(failure) => failure.into_lookup_response(),
    }
}

/// Answers one well-formed request (privilege already checked).
pub async fn dispatch(ctx: &Context, req: Request) -> Response {
    dispatch_timed(ctx, req).await.0.into_response()
}

/// A listing's page answered as `wrap` makes it. The last page hands the
/// heap's free pages back: the listing of the whole directory behind a
/// snapshot leaves hundreds of megabytes free in the heap for 100,000
/// users.
fn listing_reply<T, E: Into<Failure>>(
    page: Result<ListedPage<T>, E>,
    wrap: fn(ListedPage<T>) -> Reply,
) -> (Reply, u64) {
    match page {
        Ok(page) => {
            if !page.more() {
                super::procstat::trim_heap();
            }
            (wrap(page), 0)
        }
        Err(e) => refused(e.into()),
    }
}

/// The full status report, made in a function of its own and boxed (not
/// on every lookup's stack, as `boxed_apart`'s futures).
#[inline(never)]
fn full_status_boxed(ctx: &Context) -> Box<roster_proto::admin::FullStatus> {
    Box::new(status_report::full(ctx))
}

/// [`dispatch`], with the time (ms since the epoch, resolver clock) until
/// which a lookup answer is fresh (0 for anything not to be republished).
pub async fn dispatch_timed(ctx: &Context, req: Request) -> (Reply, u64) {
    let r = &ctx.resolver;
    match req {
        Request::UserByName(name) => match check_name("user name", &name) {
            Ok(()) => reply(r.user_by_name_timed(&name).await, Reply::User),
            Err(e) => refused(e),
        },
        Request::UserByUid(uid) => reply(r.user_by_uid_timed(uid).await, Reply::User),
        Request::GroupByName(name) => match check_name("group name", &name) {
            Ok(()) => reply(r.group_by_name_timed(&name).await, Reply::Group),
            Err(e) => refused(e),
        },
        Request::GroupByGid(gid) => reply(r.group_by_gid_timed(gid).await, Reply::Group),
        Request::GroupsOfUser(name) => match check_name("user name", &name) {
            Ok(()) => {
                let (resp, until) = reply(r.groups_of_user_timed(&name).await, Response::Gids);
                // Only groups asked under the user's served name are
                // republished to the memory cache: a case variant or alias
                // is answered but adds no record. A "not found" is filed
                // under the name asked.
                let gids = matches!(resp, Reply::Response(Response::Gids(_)));
                let served = until != 0
                    && (!gids
                        || matches!(r.user_by_name(&name).await, Answer::Found(u, _) if u.user.name == name));
                (resp, if served { until } else { 0 })
            }
            Err(e) => refused(e),
        },
        Request::NetgroupByName(name) => match check_name("netgroup name", &name) {
            Ok(()) => reply(r.netgroup_by_name_timed(&name).await, |n| {
                Response::Netgroup(n.netgroup.clone())
            }),
            Err(e) => refused(e),
        },
        Request::SshKeys(name) => match check_name("user name", &name) {
            Ok(()) => (ssh_keys(ctx, &name).await.into(), 0),
            Err(e) => refused(e),
        },
        Request::ListUsers { offset, limit } => listing_reply(
            boxed_apart(|| r.users_page(offset, limit)).await,
            Reply::Users,
        ),
        Request::ListGroups { offset, limit } => listing_reply(
            boxed_apart(|| r.groups_page(offset, limit)).await,
            Reply::Groups,
        ),
        // The whole report (pam.sock's; nss.sock answers the public one
        // before it gets here).
        Request::Status => (
            Response::Admin(Ok(AdminReply::Status(StatusReport::Full(
                full_status_boxed(ctx),
            ))))
            .into(),
            0,
        ),
        // Admin and PAM requests are rare next to lookups and their futures
        // are the largest (admin's about 5 KB): boxed, they are allocated
        // only when asked, and every connection's task stays the size of
        // a lookup (it is copied into its task at each `accept`); boxed in
        // functions of their own, their state is not reserved on this
        // poll's stack either.
        Request::Admin(cmd) => (
            Response::Admin(boxed_apart(|| admin::handle(ctx, cmd)).await).into(),
            0,
        ),
        req @ (Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. }
        | Request::PamResetPassword { .. }) => {
            (boxed_apart(|| pam::handle(ctx, req)).await.into(), 0)
        }
    }
}
