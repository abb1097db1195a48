//! The module's core: decides whether to ask the daemon, asks it over the
//! lookup socket with a total time bound, and checks what comes back.
//! No FFI here, so tests drive it against a fake daemon socket.

use crate::answer::Answer;
use crate::config::NssConfig;
use roster_proto::memcache::{Key, MemcacheReader, Record};
use roster_proto::{Client, Group, Request, Response, User};
use std::path::Path;

/// Entries per enumeration page requested from the daemon.
pub const PAGE_SIZE: u32 = 256;

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
}

impl<'a> Lookup<'a> {
    /// A lookup context asking the daemon listening on `socket`.
    pub fn new(config: &'a NssConfig, socket: &'a Path) -> Self {
        Lookup {
            config,
            socket,
            memcache: None,
        }
    }

    /// Answers from the daemon's memory cache at `path` first (a hit needs
    /// no round trip); misses and expired entries still go to the socket.
    pub fn with_memcache(mut self, reader: &'a MemcacheReader, path: &'a Path) -> Self {
        self.memcache = Some((reader, path));
        self
    }

    fn cached(&self, key: Key<'_>) -> Option<Record> {
        let (reader, path) = self.memcache?;
        reader.get(path, &key)
    }

    /// passwd entry by login name.
    pub fn user_by_name(&self, name: &str) -> Answer<User> {
        if name.is_empty() || self.config.ignores_user(name) {
            return Answer::NotFound;
        }
        if let Some(Record::User(u)) = self.cached(Key::UserName(name)) {
            return self.check(u, Self::user_allowed, user_c_safe);
        }
        self.user(Request::UserByName(name.to_owned()))
    }

    /// passwd entry by UID.
    pub fn user_by_uid(&self, uid: u32) -> Answer<User> {
        if !self.config.serves_id(uid) {
            return Answer::NotFound;
        }
        if let Some(Record::User(u)) = self.cached(Key::Uid(uid)) {
            return self.check(u, Self::user_allowed, user_c_safe);
        }
        match self.user(Request::UserByUid(uid)) {
            Answer::Found(u) if u.uid != uid => Answer::Unavailable,
            other => other,
        }
    }

    /// group entry by name.
    pub fn group_by_name(&self, name: &str) -> Answer<Group> {
        if name.is_empty() || self.config.ignores_group(name) {
            return Answer::NotFound;
        }
        if let Some(Record::Group(g)) = self.cached(Key::GroupName(name)) {
            return self.check(g, Self::group_allowed, group_c_safe);
        }
        self.group(Request::GroupByName(name.to_owned()))
    }

    /// group entry by GID.
    pub fn group_by_gid(&self, gid: u32) -> Answer<Group> {
        if !self.config.serves_id(gid) {
            return Answer::NotFound;
        }
        if let Some(Record::Group(g)) = self.cached(Key::Gid(gid)) {
            return self.check(g, Self::group_allowed, group_c_safe);
        }
        match self.group(Request::GroupByGid(gid)) {
            Answer::Found(g) if g.gid != gid => Answer::Unavailable,
            other => other,
        }
    }

    /// GIDs of the groups `name` belongs to (IDs below `min_id` dropped).
    pub fn groups_of_user(&self, name: &str) -> Answer<Vec<u32>> {
        if name.is_empty() || self.config.ignores_user(name) {
            return Answer::NotFound;
        }
        let reply = match self.cached(Key::GroupsOf(name)) {
            Some(Record::Initgroups { gids, .. }) => Answer::Found(Response::Gids(gids)),
            _ => self.ask(&Request::GroupsOfUser(name.to_owned())),
        };
        match reply {
            Answer::Found(Response::Gids(mut gids)) => {
                gids.retain(|&g| self.config.serves_id(g));
                Answer::Found(gids)
            }
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| Vec::new()),
        }
    }

    /// One page of the user enumeration, starting at `offset`.
    pub fn list_users(&self, offset: u32) -> Answer<Page<User>> {
        let req = Request::ListUsers {
            offset,
            limit: PAGE_SIZE,
        };
        match self.ask(&req) {
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
        match self.ask(&req) {
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

    fn user(&self, req: Request) -> Answer<User> {
        match self.ask(&req) {
            Answer::Found(Response::User(u)) => self.check(u, Self::user_allowed, user_c_safe),
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| User::default()),
        }
    }

    fn group(&self, req: Request) -> Answer<Group> {
        match self.ask(&req) {
            Answer::Found(Response::Group(g)) => self.check(g, Self::group_allowed, group_c_safe),
            Answer::Found(_) => Answer::Unavailable,
            other => other.map(|_| Group::default()),
        }
    }

    /// An entry C cannot carry is a daemon fault (`Unavailable`); one the
    /// policy refuses (below `min_id`, ignored name) does not exist for NSS:
    /// the directory can never provide a second root.
    fn check<T>(
        &self,
        entry: T,
        allowed: fn(&Self, &T) -> bool,
        c_safe: fn(&T) -> bool,
    ) -> Answer<T> {
        if !c_safe(&entry) {
            Answer::Unavailable
        } else if !allowed(self, &entry) {
            Answer::NotFound
        } else {
            Answer::Found(entry)
        }
    }

    fn user_allowed(&self, u: &User) -> bool {
        self.config.serves_id(u.uid) && !u.name.is_empty() && !self.config.ignores_user(&u.name)
    }

    fn group_allowed(&self, g: &Group) -> bool {
        self.config.serves_id(g.gid) && !g.name.is_empty() && !self.config.ignores_group(&g.name)
    }

    fn valid_user(&self, u: &User) -> bool {
        user_c_safe(u) && self.user_allowed(u)
    }

    fn valid_group(&self, g: &Group) -> bool {
        group_c_safe(g) && self.group_allowed(g)
    }

    /// Sends one request; a transport failure or a daemon-side failure is
    /// `Unavailable`, "no such object" is `NotFound`.
    fn ask(&self, req: &Request) -> Answer<Response> {
        match Client::request_once(self.socket, req, self.config.timeout) {
            Ok(Response::NotFound) => Answer::NotFound,
            Ok(Response::Unavailable(_)) | Ok(Response::Error(_)) => Answer::Unavailable,
            Ok(resp) => Answer::Found(resp),
            Err(_) => Answer::Unavailable,
        }
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

fn user_c_safe(u: &User) -> bool {
    [&u.name, &u.gecos, &u.home, &u.shell]
        .iter()
        .all(|s| c_safe(s))
}

fn group_c_safe(g: &Group) -> bool {
    c_safe(&g.name) && g.members.iter().all(|m| c_safe(m))
}
