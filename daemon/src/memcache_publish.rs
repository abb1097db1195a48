//! Publishes the daemon's NSS answers into the memory cache
//! (`<socket_dir>/nss.mc`, format in [`roster_proto::memcache`]) so that the
//! NSS module answers warm lookups without a socket round trip.
//!
//! HOOK (agreed with the owner of `server/` and `resolver/`): the service
//! creates one [`MemcachePublisher`] at start-up next to `nss.sock`, and
//! - after answering each request on `nss.sock` calls
//!   [`MemcachePublisher::publish`]`(&request, &response, fresh_for)`, where
//!   `fresh_for` is how much longer the answer may be served without asking
//!   the directory again (`entry_ttl` minus the entry's age; zero publishes
//!   nothing). Found entries are stored; a NotFound answer removes the key;
//!   Unavailable/Error change nothing (published entries expire by
//!   themselves);
//! - on `rosterctl cache flush` (or anything that invalidates the whole
//!   cache) calls [`MemcachePublisher::flush`];
//! - on shutdown calls [`MemcachePublisher::retire`] (dropping it does the
//!   same), so that a stopped daemon's entries are no longer served.
//!
//! A user or group record is filed under its own name and ID only, never
//! under the key that was asked (a case variant, a qualified name): the
//! daemon answers with the entry as served (see `resolver::owner`), whose
//! name and ID lead back to that same entry, so no answer can replace
//! what another name means.
//!
//! Everything here is synchronous and quick (a copy into a mapped file); a
//! failure is logged and never fails the request.

use roster_proto::memcache::{
    monotonic_ms, Key, MemcacheWriter, Record, WriteError, MEMCACHE_FILE_NAME,
};
use roster_proto::{Request, Response};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Initial number of slots (two per user or group, one per initgroups list).
pub const DEFAULT_SLOTS: u32 = 1 << 16;
/// Initial size of the record area (a sparse file: only used pages cost,
/// but records are appended until it is full, so all of it ends up used:
/// on tmpfs in RAM, and in rosterd's RSS through its mapping, twice during
/// a rebuild). A rebuild doubles it whenever the live records need more.
pub const DEFAULT_DATA_LEN: usize = 8 << 20;
/// Largest record area a rebuild grows to.
pub const MAX_DATA_LEN: usize = 1 << 30;

/// The publisher: one memory-cache file and its writer.
pub struct MemcachePublisher {
    path: PathBuf,
    writer: Mutex<Option<MemcacheWriter>>,
}

impl MemcachePublisher {
    /// Creates (or replaces, retiring the old one) `socket_dir/nss.mc`.
    pub fn start(socket_dir: &Path) -> io::Result<MemcachePublisher> {
        let path = socket_dir.join(MEMCACHE_FILE_NAME);
        let writer = MemcacheWriter::create(&path, DEFAULT_SLOTS, DEFAULT_DATA_LEN)?;
        Ok(MemcachePublisher {
            path,
            writer: Mutex::new(Some(writer)),
        })
    }

    /// The published file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Records the answer to one `nss.sock` request (see the module docs).
    pub fn publish(&self, request: &Request, response: &Response, fresh_for: Duration) {
        let mut guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let Some(writer) = guard.as_mut() else {
            return;
        };
        let expires = monotonic_ms().saturating_add(fresh_for.as_millis() as u64);
        let records: Vec<Record> = match (request, response) {
            (Request::UserByName(_) | Request::UserByUid(_), Response::User(u)) => {
                vec![Record::User(u.clone())]
            }
            (Request::GroupByName(_) | Request::GroupByGid(_), Response::Group(g)) => {
                vec![Record::Group(g.clone())]
            }
            (Request::GroupsOfUser(name), Response::Gids(gids)) => vec![Record::Initgroups {
                user: name.clone(),
                gids: gids.clone(),
            }],
            (Request::ListUsers { .. }, Response::Users { entries, .. }) => {
                entries.iter().cloned().map(Record::User).collect()
            }
            (Request::ListGroups { .. }, Response::Groups { entries, .. }) => {
                entries.iter().cloned().map(Record::Group).collect()
            }
            (req, Response::NotFound) => {
                if let Some(key) = key_of(req) {
                    writer.remove(&key);
                }
                return;
            }
            _ => return,
        };
        if fresh_for.is_zero() {
            return;
        }
        for record in &records {
            if let Err(e) = put_or_grow(writer, record, expires) {
                tracing::warn!(error = %e, path = %self.path.display(), "memory cache update failed");
                return;
            }
        }
    }

    /// Drops every published entry: a new, empty file replaces the old one.
    pub fn flush(&self) {
        let mut guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let (slots, len) = guard
            .as_ref()
            .map_or((DEFAULT_SLOTS, DEFAULT_DATA_LEN), |w| {
                (w.slot_count(), w.data_len())
            });
        match MemcacheWriter::create(&self.path, slots, len) {
            Ok(w) => *guard = Some(w),
            Err(e) => {
                tracing::warn!(error = %e, path = %self.path.display(), "memory cache flush failed; withdrawing it");
                if let Some(mut old) = guard.take() {
                    old.retire();
                }
            }
        }
    }

    /// Withdraws the file (daemon shutdown): readers go back to the socket.
    pub fn retire(&self) {
        let mut guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if let Some(mut w) = guard.take() {
            w.retire();
        }
    }
}

impl Drop for MemcachePublisher {
    fn drop(&mut self) {
        self.retire();
    }
}

/// The memory-cache key a lookup request asks about.
fn key_of(req: &Request) -> Option<Key<'_>> {
    Some(match req {
        Request::UserByName(n) => Key::UserName(n),
        Request::UserByUid(id) => Key::Uid(*id),
        Request::GroupByName(n) => Key::GroupName(n),
        Request::GroupByGid(id) => Key::Gid(*id),
        Request::GroupsOfUser(n) => Key::GroupsOf(n),
        _ => return None,
    })
}

/// Stores `record`; when the file is full, rewrites it with the live
/// entries (twice as large when they fill more than half of it) and retries.
fn put_or_grow(
    writer: &mut MemcacheWriter,
    record: &Record,
    expires: u64,
) -> Result<(), WriteError> {
    match writer.put(record, expires) {
        Err(WriteError::Full) => {}
        other => return other,
    }
    let now = monotonic_ms();
    let live = writer.live_records(now);
    let live_bytes: usize = live.iter().map(|(r, e)| r.encode(*e).len()).sum();
    let live_keys: usize = live.iter().map(|(r, _)| r.keys().len()).sum();
    let mut data_len = writer.data_len();
    let need = live_bytes + record.encode(expires).len();
    while need * 2 > data_len && data_len < MAX_DATA_LEN {
        data_len *= 2;
    }
    let mut slots = writer.slot_count();
    while (live_keys + 2) * 3 > slots as usize && slots < (1 << 30) {
        slots *= 2;
    }
    writer.rebuild(now, slots, data_len)?;
    writer.put(record, expires)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_proto::memcache::Mapping;
    use roster_proto::{Group, User};

    fn alice() -> User {
        User {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: "Alice".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn answers_are_published_and_notfound_removes_them() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path()).unwrap();
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let staff = Group {
            name: "staff".into(),
            gid: 10010,
            members: vec!["alice".into()],
        };
        p.publish(
            &Request::GroupByGid(10010),
            &Response::Group(staff.clone()),
            TTL,
        );
        p.publish(
            &Request::GroupsOfUser("alice".into()),
            &Response::Gids(vec![10000, 10010]),
            TTL,
        );
        p.publish(
            &Request::UserByName("zed".into()),
            &Response::Unavailable("down".into()),
            TTL,
        );
        let m = Mapping::open(p.path()).unwrap();
        let now = monotonic_ms();
        assert_eq!(m.get(&Key::Uid(10001), now), Some(Record::User(alice())));
        assert_eq!(
            m.get(&Key::GroupName("staff"), now),
            Some(Record::Group(staff))
        );
        assert!(m.get(&Key::GroupsOf("alice"), now).is_some());
        assert_eq!(m.get(&Key::UserName("zed"), now), None);

        // The user is deleted in the directory: both keys disappear.
        p.publish(&Request::UserByUid(10001), &Response::NotFound, TTL);
        assert_eq!(m.get(&Key::UserName("alice"), now), None);
        assert_eq!(m.get(&Key::Uid(10001), now), None);
        // An answer already at the end of its TTL is not published.
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            Duration::ZERO,
        );
        assert_eq!(m.get(&Key::UserName("alice"), now), None);
    }

    #[test]
    fn flush_and_retire_withdraw_everything() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path()).unwrap();
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let before = Mapping::open(p.path()).unwrap();
        p.flush();
        assert!(before.retired());
        let after = Mapping::open(p.path()).unwrap();
        assert_eq!(after.get(&Key::UserName("alice"), monotonic_ms()), None);
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        assert!(after.get(&Key::UserName("alice"), monotonic_ms()).is_some());
        drop(p);
        assert!(after.retired());
        assert!(!dir.path().join(MEMCACHE_FILE_NAME).exists());
    }

    #[test]
    fn a_full_file_grows() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MEMCACHE_FILE_NAME);
        let p = MemcachePublisher {
            path: path.clone(),
            writer: Mutex::new(Some(MemcacheWriter::create(&path, 16, 4096).unwrap())),
        };
        let users: Vec<User> = (0..500)
            .map(|i| User {
                name: format!("u{i:05}"),
                uid: 20000 + i,
                ..alice()
            })
            .collect();
        for u in &users {
            p.publish(&Request::UserByUid(u.uid), &Response::User(u.clone()), TTL);
        }
        let m = Mapping::open(&path).unwrap();
        let now = monotonic_ms();
        for u in &users {
            assert_eq!(
                m.get(&Key::UserName(&u.name), now),
                Some(Record::User(u.clone()))
            );
        }
    }
}
