//! The module's core: decides whether to ask the daemon, asks it over the
//! lookup socket with a total time bound, and checks what comes back.
//! No FFI here, so tests drive it against a fake daemon socket.

use crate::answer::Answer;
use crate::backoff::Backoff;
use crate::config::NssConfig;
use crate::initgroups::Gids;
use crate::kept::KeptConnection;
use crate::retry::RetryStash;
use roster_proto::memcache::{GroupView, Key, MemcacheReader, RecordView, UserView};
use roster_proto::{
    decode_group_reply, decode_response, Client, ClientError, Group, Netgroup, Request, Response,
    User,
};
use std::path::Path;
use std::time::Duration;

/// Groups per enumeration page requested from the daemon (a group can
/// carry many thousand members: pages stay well below the frame limit).
pub const PAGE_SIZE: u32 = 256;

/// Users per enumeration page requested from the daemon: the most it
/// sends in one page (each page a request: 100,000 users take 50
/// instead of 391; a page of 2,000 users is a few hundred KiB,
/// far below the frame limit). A daemon that sends fewer is followed from
/// what it sent.
pub const USER_PAGE_SIZE: u32 = 2000;

/// A page of an enumeration: the usable entries, how many entries the daemon
/// sent (to advance the offset), and whether more pages follow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page<T> {
    /// Entries that passed the module's checks.
    pub entries: Vec<T>,
    /// Number of entries the daemon sent, valid or not.
    pub received: u32,
    /// True when the daemon has further pages.
    pub more: bool,
}

/// One configured view of the daemon: its socket, its memory cache (if
/// used) and the module settings.
pub struct Lookup<'a> {
    config: &'a NssConfig,
    socket: &'a Path,
    memcache: Option<(&'a MemcacheReader, &'a Path)>,
    backoff: Option<&'a Backoff>,
    retry: Option<&'a RetryStash>,
    kept: Option<&'a KeptConnection>,
}

impl<'a> Lookup<'a> {
    /// A lookup context asking the daemon listening on `socket`.
    pub fn new(config: &'a NssConfig, socket: &'a Path) -> Self {
        Lookup {
            config,
            socket,
            memcache: None,
            backoff: None,
            retry: None,
            kept: None,
        }
    }

    /// Asks over `kept`, the process's kept connection ([`crate::kept`]),
    /// instead of a new connection a request.
    pub fn with_kept_connection(mut self, kept: &'a KeptConnection) -> Self {
        self.kept = Some(kept);
        self
    }

    /// Keeps a group answer that did not fit the caller's buffer in
    /// `stash` for the caller's retry ([`crate::retry`]).
    pub fn with_retry_stash(mut self, stash: &'a RetryStash) -> Self {
        self.retry = Some(stash);
        self
    }

    /// Skips the daemon while `backoff` has a window open, and opens one
    /// when a call times out.
    pub fn with_backoff(mut self, backoff: &'a Backoff) -> Self {
        self.backoff = Some(backoff);
        self
    }

    /// Answers from the daemon's memory cache at `path` first (a hit needs
    /// no round trip); misses and expired entries still go to the socket.
    pub fn with_memcache(mut self, reader: &'a MemcacheReader, path: &'a Path) -> Self {
        self.memcache = Some((reader, path));
        self
    }

    /// passwd entry by login name.
    pub fn user_by_name(&self, name: &str) -> Answer<User> {
        self.user_by_name_with(name, |u| u.to_owned())
    }

    /// passwd entry by UID.
    pub fn user_by_uid(&self, uid: u32) -> Answer<User> {
        self.user_by_uid_with(uid, |u| u.to_owned())
    }

    /// group entry by name.
    pub fn group_by_name(&self, name: &str) -> Answer<Group> {
        self.group_by_name_with(name, |g| g.to_owned(), |_| false)
    }

    /// group entry by GID.
    pub fn group_by_gid(&self, gid: u32) -> Answer<Group> {
        self.group_by_gid_with(gid, |g| g.to_owned(), |_| false)
    }

    /// passwd entry by login name, handed to `f` as a view: a memory-cache
    /// hit is read in place, without copying.
    pub fn user_by_name_with<R>(
        &self,
        name: &str,
        f: impl FnOnce(&UserView<'_>) -> R,
    ) -> Answer<R> {
        if name.is_empty() || self.config.ignores_user(name) {
            return Answer::NotFound;
        }
        self.user_with(Key::UserName(name), f)
    }

    /// passwd entry by UID, handed to `f` as a view.
    pub fn user_by_uid_with<R>(&self, uid: u32, f: impl FnOnce(&UserView<'_>) -> R) -> Answer<R> {
        if !self.config.serves_id(uid) {
            return Answer::NotFound;
        }
        self.user_with(Key::Uid(uid), f)
    }

    /// group entry by name, handed to `f` as a view; `too_small` tells
    /// from `f`'s result that the caller's buffer could not hold it (the
    /// daemon's answer is then kept for the retry, [`crate::retry`]).
    pub fn group_by_name_with<R>(
        &self,
        name: &str,
        f: impl FnOnce(&GroupView<'_>) -> R,
        too_small: impl Fn(&R) -> bool,
    ) -> Answer<R> {
        if name.is_empty() || self.config.ignores_group(name) {
            return Answer::NotFound;
        }
        self.group_with(Key::GroupName(name), f, too_small)
    }

    /// group entry by GID, handed to `f` as a view (`too_small` as for
    /// [`Lookup::group_by_name_with`]).
    pub fn group_by_gid_with<R>(
        &self,
        gid: u32,
        f: impl FnOnce(&GroupView<'_>) -> R,
        too_small: impl Fn(&R) -> bool,
    ) -> Answer<R> {
        if !self.config.serves_id(gid) {
            return Answer::NotFound;
        }
        self.group_with(Key::Gid(gid), f, too_small)
    }

    /// A user from the memory cache, else from the daemon.
    fn user_with<R>(&self, key: Key<'_>, f: impl FnOnce(&UserView<'_>) -> R) -> Answer<R> {
        let mut f = Some(f);
        if let Some((reader, path)) = self.memcache {
            let hit = reader.get_with(path, &key, |record| match record {
                RecordView::User(u) => f.take().map(|f| self.check_user(u, f)),
                RecordView::Missing(_) => Some(Answer::NotFound),
                _ => None,
            });
            if let Some(Some(answer)) = hit {
                return answer;
            }
        }
        let Some(f) = f else {
            return Answer::Unavailable;
        };
        let req = match key {
            Key::UserName(n) => Request::UserByName(n.to_owned()),
            Key::Uid(id) => Request::UserByUid(id),
            _ => return Answer::Unavailable,
        };
        match self.ask(&req) {
            Answer::Found(Response::User(u)) => match key {
                // An answer for another UID is a daemon fault.
                Key::Uid(id) if u.uid != id => Answer::Unavailable,
                _ => self.check_user(&u.view(), f),
            },
            Answer::Found(_) => Answer::Unavailable,
            Answer::NotFound => Answer::NotFound,
            Answer::Unavailable => Answer::Unavailable,
        }
    }

    /// A group from the memory cache, else from the answer kept for a
    /// retry, else from the daemon.
    fn group_with<R>(
        &self,
        key: Key<'_>,
        f: impl FnOnce(&GroupView<'_>) -> R,
        too_small: impl Fn(&R) -> bool,
    ) -> Answer<R> {
        let mut f = Some(f);
        if let Some((reader, path)) = self.memcache {
            let hit = reader.get_with(path, &key, |record| match record {
                RecordView::Group(g) => f.take().map(|f| self.check_group(g, f)),
                RecordView::Missing(_) => Some(Answer::NotFound),
                _ => None,
            });
            if let Some(Some(answer)) = hit {
                return answer;
            }
        }
        let Some(f) = f else {
            return Answer::Unavailable;
        };
        let req = match key {
            Key::GroupName(n) => Request::GroupByName(n.to_owned()),
            Key::Gid(id) => Request::GroupByGid(id),
            _ => return Answer::Unavailable,
        };
        let now = roster_proto::clock::monotonic_ms();
        // The reply's payload and where its group lies in it, read in
        // place (no member copied; a kept reply is not checked again).
        let kept = self.retry.and_then(|s| s.take(&req, now));
        let (payload, found) = match kept {
            Some(k) => k,
            None => {
                let Ok(payload) = self.exchange(&req, self.config.timeout) else {
                    return Answer::Unavailable;
                };
                match decode_group_reply(&payload) {
                    Ok(Some(found)) => (payload, found),
                    Ok(None) => {
                        return match decode_response(&payload) {
                            Ok(Response::NotFound) => Answer::NotFound,
                            _ => Answer::Unavailable,
                        }
                    }
                    Err(_) => return Answer::Unavailable,
                }
            }
        };
        let g = found.view(&payload);
        let (answer, keep) = match key {
            // An answer for another GID is a daemon fault.
            Key::Gid(id) if g.gid != id => (Answer::Unavailable, false),
            _ => {
                let answer = self.check_group(&g, f);
                let keep = matches!(&answer, Answer::Found(r) if too_small(r));
                (answer, keep)
            }
        };
        if let (Some(s), true) = (self.retry, keep) {
            s.keep(req, (payload, found), now);
        }
        answer
    }

    /// An entry C cannot carry is a daemon fault (`Unavailable`); one the
    /// policy refuses (below `min_id`, ignored name) does not exist for NSS:
    /// the directory can never provide a second root.
    fn check_user<R>(&self, u: &UserView<'_>, f: impl FnOnce(&UserView<'_>) -> R) -> Answer<R> {
        if ![u.name, u.gecos, u.home, u.shell].iter().all(|s| c_safe(s)) {
            Answer::Unavailable
        } else if !self.user_allowed(u.uid, u.name) {
            Answer::NotFound
        } else {
            Answer::Found(f(u))
        }
    }

    fn check_group<R>(&self, g: &GroupView<'_>, f: impl FnOnce(&GroupView<'_>) -> R) -> Answer<R> {
        if !c_safe(g.name) || g.has_nul_member() {
            Answer::Unavailable
        } else if !self.group_allowed(g.gid, g.name) {
            Answer::NotFound
        } else {
            Answer::Found(f(g))
        }
    }

    /// GIDs of the groups `name` belongs to (IDs below `min_id` dropped).
    pub fn groups_of_user(&self, name: &str) -> Answer<Vec<u32>> {
        self.groups_of_user_with(name, |gids| gids.to_vec())
    }

    /// The GIDs of the groups `name` belongs to, handed to `f` as [`Gids`]
    /// (IDs below `min_id` left out): a memory-cache hit is read in place,
    /// without copying the list.
    pub fn groups_of_user_with<R>(&self, name: &str, f: impl FnOnce(Gids<'_>) -> R) -> Answer<R> {
        if name.is_empty() || self.config.ignores_user(name) {
            return Answer::NotFound;
        }
        let mut f = Some(f);
        if let Some((reader, path)) = self.memcache {
            let hit = reader.get_with(path, &Key::GroupsOf(name), |record| match record {
                RecordView::Initgroups { gids, .. } => f
                    .take()
                    .map(|f| Answer::Found(f(Gids::encoded(gids, self.config)))),
                RecordView::Missing(_) => Some(Answer::NotFound),
                _ => None,
            });
            if let Some(Some(answer)) = hit {
                return answer;
            }
        }
        let Some(f) = f else {
            return Answer::Unavailable;
        };
        match self.ask(&Request::GroupsOfUser(name.to_owned())) {
            Answer::Found(Response::Gids(gids)) => {
                Answer::Found(f(Gids::slice(&gids, self.config)))
            }
            Answer::Found(_) => Answer::Unavailable,
            Answer::NotFound => Answer::NotFound,
            Answer::Unavailable => Answer::Unavailable,
        }
    }

    /// A netgroup by name: every triple, nested netgroups resolved by the
    /// daemon. Not in the memory cache (the daemon's cache answers).
    pub fn netgroup(&self, name: &str) -> Answer<Netgroup> {
        if name.is_empty() {
            return Answer::NotFound;
        }
        match self.ask(&Request::NetgroupByName(name.to_owned())) {
            Answer::Found(Response::Netgroup(n)) => {
                let fields_ok = n
                    .triples
                    .iter()
                    .all(|t| c_safe(&t.host) && c_safe(&t.user) && c_safe(&t.domain));
                if fields_ok {
                    Answer::Found(n)
                } else {
                    Answer::Unavailable
                }
            }
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| Netgroup::default()),
        }
    }

    /// One page of the user enumeration, starting at `offset`.
    pub fn list_users(&self, offset: u32) -> Answer<Page<User>> {
        let req = Request::ListUsers {
            offset,
            limit: USER_PAGE_SIZE,
        };
        match self.ask_within(&req, self.config.enumerate_timeout) {
            Answer::Found(Response::Users { entries, more }) => Answer::Found(Page {
                received: entries.len() as u32,
                entries: entries.into_iter().filter(|u| self.valid_user(u)).collect(),
                more,
            }),
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| Page::empty()),
        }
    }

    /// One page of the group enumeration, starting at `offset`.
    pub fn list_groups(&self, offset: u32) -> Answer<Page<Group>> {
        let req = Request::ListGroups {
            offset,
            limit: PAGE_SIZE,
        };
        match self.ask_within(&req, self.config.enumerate_timeout) {
            Answer::Found(Response::Groups { entries, more }) => Answer::Found(Page {
                received: entries.len() as u32,
                entries: entries
                    .into_iter()
                    .filter(|g| self.valid_group(g))
                    .collect(),
                more,
            }),
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| Page::empty()),
        }
    }

    fn user_allowed(&self, uid: u32, name: &str) -> bool {
        self.config.serves_id(uid) && !name.is_empty() && !self.config.ignores_user(name)
    }

    fn group_allowed(&self, gid: u32, name: &str) -> bool {
        self.config.serves_id(gid) && !name.is_empty() && !self.config.ignores_group(name)
    }

    fn valid_user(&self, u: &User) -> bool {
        matches!(self.check_user(&u.view(), |_| ()), Answer::Found(()))
    }

    fn valid_group(&self, g: &Group) -> bool {
        matches!(self.check_group(&g.view(), |_| ()), Answer::Found(()))
    }

    /// Sends one request; a transport failure or a daemon-side failure is
    /// `Unavailable`, "no such object" is `NotFound`. Within a back-off
    /// window (a call timed out a moment ago) nothing is sent.
    fn ask(&self, req: &Request) -> Answer<Response> {
        self.ask_within(req, self.config.timeout)
    }

    /// [`Self::ask`] with another time bound than `timeout_ms`.
    fn ask_within(&self, req: &Request, timeout: Duration) -> Answer<Response> {
        let reply = self
            .exchange(req, timeout)
            .and_then(|p| Ok(decode_response(&p)?));
        match reply {
            Ok(Response::NotFound) => Answer::NotFound,
            Ok(Response::Unavailable(_)) | Ok(Response::Error(_)) => Answer::Unavailable,
            Ok(resp) => Answer::Found(resp),
            Err(_) => Answer::Unavailable,
        }
    }

    /// Sends `req` to the daemon and reads its reply's payload (within
    /// `timeout`), unless the backoff after a timeout is still on; the
    /// backoff learns how it went.
    fn exchange(&self, req: &Request, timeout: Duration) -> Result<Vec<u8>, ClientError> {
        if self.backoff.is_some_and(Backoff::active) {
            return Err(ClientError::Timeout(Duration::ZERO));
        }
        let reply = match self.kept {
            Some(kept) => kept.exchange(self.socket, req, timeout),
            None => Client::request_once_payload(self.socket, req, timeout),
        };
        if let Some(b) = self.backoff {
            match &reply {
                Err(ClientError::Timeout(_)) => b.timed_out(),
                Ok(_) => b.answered(),
                Err(_) => {}
            }
        }
        reply
    }
}

impl<T> Page<T> {
    fn empty() -> Self {
        Page {
            entries: Vec::new(),
            received: 0,
            more: false,
        }
    }
}

/// A string C can carry: no interior NUL.
fn c_safe(s: &str) -> bool {
    !s.as_bytes().contains(&0)
}
