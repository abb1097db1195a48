//! Publishes the daemon's NSS answers into the memory cache
//! (`<socket_dir>/nss.mc`, format in [`roster_proto::memcache`]) so that the
//! NSS module answers warm lookups without a socket round trip.
//!
//! HOOK (agreed with the owner of `server/` and `resolver/`): the service
//! creates one [`MemcachePublisher`] at start-up next to `nss.sock`, and
//! - after answering each request on `nss.sock` calls
//!   [`MemcachePublisher::publish_unless_flushed`]`(flushes, &request,
//!   &response, fresh_for)`, where
//!   `fresh_for` is how much longer the answer may be served without asking
//!   the directory again (`entry_ttl` minus the entry's age; zero publishes
//!   nothing). Found entries are stored; a NotFound answer with a
//!   freshness (every domain's "no such object", fresh until the earliest
//!   of them expires; or a local user's groups, which the settings leave
//!   to the local files) is stored as a "no such entry" record
//!   (`publishes_missing` says when), any other removes the key;
//!   Unavailable/Error change nothing (published entries expire by
//!   themselves);
//! - on `rosterctl cache flush` (or anything that invalidates the whole
//!   cache) calls [`MemcachePublisher::flush`], after the resolver's
//!   caches are dropped (a connection that reads the new
//!   [`MemcachePublisher::flushes`] must decide from what is left);
//! - on a configuration reload calls [`MemcachePublisher::set_settings`]
//!   with the new `nss.conf` text, then [`MemcachePublisher::flush`]: the
//!   new file carries the module's new settings (each file carries those
//!   of its time: a rebuild carries its file's own);
//! - on shutdown calls [`MemcachePublisher::retire`] (dropping it does the
//!   same), so that a stopped daemon's entries are no longer served.
//!
//! A user or group record is filed under its own name and ID only, never
//! under the key that was asked (a case variant, a qualified name): the
//! daemon answers with the entry as served (see `resolver::owner`), whose
//! name and ID lead back to that same entry, so no answer can replace
//! what another name means. A "no such entry" record names no account and
//! is filed under the key asked; it never replaces a live entry.
//!
//! An answer the connection began to decide before a flush is not
//! published after it ([`MemcachePublisher::publish_unless_flushed`]);
//! one that joined a directory search under way at the flush is (it is
//! what rosterd answers too).
//!
//! Everything here is synchronous and quick (a copy into a mapped file); a
//! failure is logged and never fails the request.

use roster_proto::admin::MemoryCacheStats;
use roster_proto::memcache::{
    file_len, monotonic_ms, Key, MemcacheWriter, Record, RecordRef, RecordView, WriteError,
    MEMCACHE_FILE_NAME, SETTINGS_MAX_LEN,
};
use roster_proto::{Group, Request, Response, User};
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

/// Initial number of slots (two per user or group, one per initgroups
/// list), fewer when the size bound leaves less room.
pub const DEFAULT_SLOTS: u32 = 1 << 16;
/// Initial size of the record area (a sparse file: only used pages cost,
/// but records are appended until it is full, so all of it ends up used:
/// on tmpfs in RAM, and in rosterd's RSS through its mapping, twice during
/// a rebuild). A rebuild doubles it whenever the live records need more,
/// up to the size bound (`[nss] memcache_size`).
pub const DEFAULT_DATA_LEN: usize = 8 << 20;
/// Default bound of the whole file (`[nss] memcache_size`).
pub const DEFAULT_SIZE_LIMIT: usize = 32 << 20;

/// An answer to publish ([`MemcachePublisher::publish_unless_flushed`]): a protocol
/// response, or a user or group lookup's answer borrowed from the
/// resolver's cache (not copied to be compared; a group may have
/// thousands of members).
#[derive(Clone, Copy, Debug)]
pub enum Answered<'a> {
    /// Any response.
    Response(&'a Response),
    /// The user a user lookup answered.
    User(&'a User),
    /// The group a group lookup answered.
    Group(&'a Group),
}

impl<'a> From<&'a Response> for Answered<'a> {
    fn from(r: &'a Response) -> Self {
        Answered::Response(r)
    }
}

/// The publisher: one memory-cache file and its writer.
pub struct MemcachePublisher {
    path: PathBuf,
    /// Largest size of the file in bytes.
    limit: AtomicUsize,
    writer: Mutex<Option<MemcacheWriter>>,
    /// Flushes so far (changed under `writer`'s lock): an answer decided
    /// before a flush is not published after it
    /// ([`MemcachePublisher::publish_unless_flushed`]).
    flushes: AtomicU64,
    /// When "no such entry" records are published ([`publishes_missing`]).
    missing_rules: MissingRules,
    /// The NSS module's settings (`nss.conf`'s text) each new file
    /// carries ([`roster_proto::memcache`]: "Settings").
    settings: Mutex<Option<Vec<u8>>>,
}

/// When "no such entry" records are published ([`publishes_missing`]).
#[derive(Clone, Copy, Debug)]
struct MissingRules {
    /// A "not found" fresh for less publishes none (milliseconds).
    min_fresh_ms: u64,
    /// A file is written anew to drop them no sooner than this after it
    /// was written (milliseconds).
    rebuild_pause_ms: u64,
}

/// The rules rosterd runs with: a second's freshness at least, a new
/// file for them at most once every ten minutes (an idle process keeps
/// the file it last read mapped, and its pages with it, until its next
/// lookup: a scan of names nobody has must not write a new one each
/// minute).
const MISSING_RULES: MissingRules = MissingRules {
    min_fresh_ms: 1_000,
    rebuild_pause_ms: 600_000,
};

/// The settings (`nss.conf`'s text) as new files carry them: none when
/// longer than a file's room for them, which is logged (the NSS module
/// then reads `nss.conf` itself, as without a memory cache).
fn carried(settings: &[u8]) -> Option<Vec<u8>> {
    if settings.len() > SETTINGS_MAX_LEN {
        // (nss.conf is written from the configuration's [nss] table: only
        // its name lists make it long.)
        tracing::warn!(
            bytes = settings.len(),
            room = SETTINGS_MAX_LEN,
            "the [nss] settings (ignore_users, ignore_groups) are too long for the NSS memory cache to carry: \
             the NSS module reads them from nss.conf, one file more for a new process's first lookup"
        );
        return None;
    }
    Some(settings.to_vec())
}

impl MemcachePublisher {
    /// Creates (or replaces, retiring the old one) `socket_dir/nss.mc`,
    /// never to grow past `limit` bytes, carrying `settings` (the text of
    /// `nss.conf`, for the NSS module) when given and not too long
    /// (at most `SETTINGS_MAX_LEN` bytes; longer ones are logged).
    pub fn start(
        socket_dir: &Path,
        limit: usize,
        settings: Option<&[u8]>,
    ) -> io::Result<MemcachePublisher> {
        let path = socket_dir.join(MEMCACHE_FILE_NAME);
        let (slots, data_len) = initial_layout(limit);
        let settings = settings.and_then(carried);
        let writer =
            MemcacheWriter::create_with_settings(&path, slots, data_len, settings.as_deref())?;
        Ok(MemcachePublisher {
            path,
            limit: AtomicUsize::new(limit),
            writer: Mutex::new(Some(writer)),
            flushes: AtomicU64::new(0),
            missing_rules: MISSING_RULES,
            settings: Mutex::new(settings),
        })
    }

    /// Changes the settings new files carry (configuration reload); they
    /// apply at the next [`MemcachePublisher::flush`], which a reload
    /// makes.
    pub fn set_settings(&self, settings: &[u8]) {
        let settings = carried(settings);
        *self.held_settings() = settings;
    }

    /// The settings new files carry, locked.
    fn held_settings(&self) -> MutexGuard<'_, Option<Vec<u8>>> {
        self.settings.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The published file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The size bound in bytes.
    pub fn limit(&self) -> usize {
        self.limit.load(Ordering::Relaxed)
    }

    /// Size of the published file and bytes of its record area in use
    /// (`None` once withdrawn).
    pub fn usage(&self) -> Option<(usize, usize)> {
        let guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        guard.as_ref().map(|w| (w.file_len(), w.data_used()))
    }

    /// Size, bound and fill of the published file, for `rosterctl cache
    /// stats` (`None` once withdrawn).
    pub fn stats(&self) -> Option<MemoryCacheStats> {
        let guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        let w = guard.as_ref()?;
        // Blocks of the file (st_blocks counts 512-byte units): the record
        // area is allocated as it fills.
        let allocated = std::fs::metadata(&self.path).map_or(0, |m| m.blocks() * 512);
        Some(MemoryCacheStats {
            path: self.path.display().to_string(),
            file_bytes: w.file_len() as u64,
            allocated_bytes: allocated,
            size_limit: self.limit() as u64,
            records_bytes: w.data_used() as u64,
            records_capacity: w.data_len() as u64,
            missing_records_written: u64::from(w.missing_records()),
            missing_records_limit: u64::from(w.slot_count() / MISSING_SHARE),
            slots: u64::from(w.slot_count()),
        })
    }

    /// Changes the size bound (configuration reload); it applies at the
    /// next [`MemcachePublisher::flush`] or rebuild.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::Relaxed);
    }

    /// Records the answer to one `nss.sock` request (see the module docs),
    /// whatever was flushed meanwhile: for the tests (rosterd publishes
    /// through [`MemcachePublisher::publish_unless_flushed`] only).
    #[cfg(test)]
    pub fn publish<'a>(
        &self,
        request: &Request,
        response: impl Into<Answered<'a>>,
        fresh_for: Duration,
    ) {
        self.publish_since(None, request, response.into(), fresh_for);
    }

    /// How many flushes there were so far: read before a lookup is
    /// decided, for [`MemcachePublisher::publish_unless_flushed`].
    pub fn flushes(&self) -> u64 {
        self.flushes.load(Ordering::Relaxed)
    }

    /// Records the answer to one `nss.sock` request (see the module
    /// docs), unless the file was flushed since
    /// [`MemcachePublisher::flushes`] said `flushes` (the answer was
    /// decided from what the flush dropped: a user created and then the
    /// cache flushed must not meet a "no such user" decided before).
    pub fn publish_unless_flushed<'a>(
        &self,
        flushes: u64,
        request: &Request,
        response: impl Into<Answered<'a>>,
        fresh_for: Duration,
    ) {
        self.publish_since(Some(flushes), request, response.into(), fresh_for);
    }

    fn publish_since(
        &self,
        flushes: Option<u64>,
        request: &Request,
        response: Answered<'_>,
        fresh_for: Duration,
    ) {
        let mut guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        if flushes.is_some_and(|n| n != self.flushes.load(Ordering::Relaxed)) {
            return;
        }
        let Some(writer) = guard.as_mut() else {
            return;
        };
        let fresh_ms = fresh_for.as_millis() as u64;
        let expires = monotonic_ms().saturating_add(fresh_ms);
        // The answer's records, borrowed from it (copied only when written).
        let records: Vec<RecordRef<'_>> = match (request, response) {
            (
                Request::UserByName(_) | Request::UserByUid(_),
                Answered::User(u) | Answered::Response(Response::User(u)),
            ) => vec![RecordRef::User(u)],
            (
                Request::GroupByName(_) | Request::GroupByGid(_),
                Answered::Group(g) | Answered::Response(Response::Group(g)),
            ) => vec![RecordRef::Group(g)],
            // The dispatcher publishes (non-zero `fresh_for`) only answers
            // asked under the user's served name.
            (Request::GroupsOfUser(name), Answered::Response(Response::Gids(gids))) => {
                vec![RecordRef::Initgroups { user: name, gids }]
            }
            (Request::ListUsers { .. }, Answered::Response(Response::Users { entries, .. })) => {
                entries.iter().map(RecordRef::User).collect()
            }
            (Request::ListGroups { .. }, Answered::Response(Response::Groups { entries, .. })) => {
                entries.iter().map(RecordRef::Group).collect()
            }
            (req, Answered::Response(Response::NotFound)) => {
                let Some(key) = key_of(req) else { return };
                match publishes_missing(writer, &key, fresh_for, self.missing_rules, &self.path) {
                    MissingFate::Publish => vec![RecordRef::Missing(key)],
                    MissingFate::Keep => return,
                    MissingFate::Remove => {
                        writer.remove(&key);
                        return;
                    }
                }
            }
            _ => return,
        };
        // A "no such entry" under the spelling asked goes (the entry is
        // filed under its served name and ID, and may not be written at
        // all), and so does one of a found user's groups, under the name
        // asked and the served one (the user may be new, or no longer
        // shadowed by a local account), even for an answer not fresh
        // enough to publish.
        let asked = key_of(request)
            .filter(|k| fresh_for.is_zero() || !records.iter().any(|r| r.keys().contains(k)));
        let user_asked = match (request, records.first()) {
            (Request::UserByName(n), Some(RecordRef::User(_))) => Some(Key::GroupsOf(n)),
            _ => None,
        };
        let groups_of = records.iter().filter_map(|r| match r {
            RecordRef::User(u) => Some(Key::GroupsOf(&u.name)),
            _ => None,
        });
        for key in asked.into_iter().chain(user_asked).chain(groups_of) {
            if writer
                .get_view(&key)
                .is_some_and(|(r, _)| matches!(r, RecordView::Missing(_)))
            {
                writer.remove(&key);
            }
        }
        if fresh_for.is_zero() {
            return;
        }
        let limit = self.limit();
        for (at, &record) in records.iter().enumerate() {
            // The same answer asked again (under another spelling, or
            // before half its freshness is used up) adds nothing; compared
            // with the published record in place.
            let kept = record
                .keys()
                .first()
                .and_then(|k| writer.get_view(k))
                .is_some_and(|(old, old_expires)| {
                    old.same_as(record) && old_expires >= expires.saturating_sub(fresh_ms / 2)
                });
            if kept {
                continue;
            }
            if let Err(e) = put_or_grow(writer, record, expires, limit) {
                tracing::warn!(error = %e, path = %self.path.display(), "memory cache update failed");
                // Whatever the keys of this and the records left held
                // (a "no such entry" the record was to replace) goes:
                // readers ask the daemon.
                remove_keys(writer, &records[at..]);
                return;
            }
        }
    }

    /// Drops every published entry: a new, empty file replaces the old one.
    /// Call it after the resolver's caches are dropped: an answer decided
    /// before it is not published after it, one decided after it is.
    pub fn flush(&self) {
        let mut guard = match self.writer.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        };
        self.flushes.fetch_add(1, Ordering::Relaxed);
        let limit = self.limit();
        let (slots, len) = guard.as_ref().map_or(initial_layout(limit), |w| {
            let slots = w.slot_count().min(max_slots(limit));
            (slots, w.data_len().min(max_data_len(limit, slots)))
        });
        let settings = self.held_settings().clone();
        match MemcacheWriter::create_with_settings(&self.path, slots, len, settings.as_deref()) {
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

/// What a "no such entry" answer does to the memory cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum MissingFate {
    /// Its record is published.
    Publish,
    /// The key's live "no such entry" record stays as it is.
    Keep,
    /// The key's record, if any, goes (as a lookup that no longer finds
    /// an entry removes it).
    Remove,
}

/// Whether a "no such entry" answer to `key`, fresh for `fresh_for`, is
/// published as a record: never over a live entry (one published
/// meanwhile by another lookup: removed), nor for the groups of a user
/// whose entry is live, with
/// at least `rules.min_fresh_ms` of freshness; and at most a sixteenth
/// of the slots' worth of them a file, in at most a sixteenth of its
/// record area ([`MISSING_SHARE`]: names nobody has, asked by a scan,
/// cannot fill it), counting those replaced or expired. Once they are
/// used up, none more (a live one of the key stays) until every one has
/// expired and the file is `rules.rebuild_pause_ms` old: then it is
/// written anew without them. No rebuild carries them over.
fn publishes_missing(
    writer: &mut MemcacheWriter,
    key: &Key<'_>,
    fresh_for: Duration,
    rules: MissingRules,
    path: &Path,
) -> MissingFate {
    let now = monotonic_ms();
    let live = writer
        .get_view(key)
        .filter(|(_, expires)| *expires > now)
        .map(|(old, _)| matches!(old, RecordView::Missing(_)));
    let fresh_ms = fresh_for.as_millis() as u64;
    // Nor the groups of a user whose entry is live (published meanwhile,
    // or a local namesake's groups while the directory user's entry is
    // served): the two never live together.
    let user_live = match key {
        Key::GroupsOf(name) => writer
            .get_view(&Key::UserName(name))
            .is_some_and(|(r, expires)| expires > now && matches!(r, RecordView::User(_))),
        _ => false,
    };
    if live == Some(false) || user_live || fresh_ms < rules.min_fresh_ms.max(1) {
        return MissingFate::Remove;
    }
    let len = RecordRef::Missing(*key).encoded_len();
    let area_share = writer.data_len() / MISSING_SHARE as usize;
    if len > area_share {
        return MissingFate::Remove;
    }
    if writer.missing_records() < writer.slot_count() / MISSING_SHARE
        && writer.missing_bytes() + len <= area_share
    {
        return MissingFate::Publish;
    }
    if live == Some(true) {
        return MissingFate::Keep;
    }
    let due = writer
        .missing_expiry()
        .max(writer.created_ms().saturating_add(rules.rebuild_pause_ms));
    if now < due {
        return MissingFate::Remove;
    }
    let (slots, len) = (writer.slot_count(), writer.data_len());
    match writer.rebuild(now, slots, len) {
        Ok(()) => MissingFate::Publish,
        Err(e) => {
            tracing::warn!(error = %e, path = %path.display(), "memory cache rebuild failed");
            MissingFate::Remove
        }
    }
}

/// A file holds at most one "no such entry" record for this many slots,
/// and their bytes at most this fraction of its record area.
const MISSING_SHARE: u32 = 16;

/// Largest slot table of a file bounded by `limit` bytes: at most a
/// sixteenth of it.
fn max_slots(limit: usize) -> u32 {
    let n = (limit / 64).clamp(16, 1 << 30);
    1u32 << (usize::BITS - 1 - n.leading_zeros())
}

/// Largest record area next to `slots` slots in a file of `limit` bytes.
fn max_data_len(limit: usize, slots: u32) -> usize {
    let data_off = file_len(slots, 4096) - 4096;
    (limit.saturating_sub(data_off) / 4096 * 4096).max(4096)
}

/// Slots and record area of a new file bounded by `limit` bytes.
fn initial_layout(limit: usize) -> (u32, usize) {
    let slots = DEFAULT_SLOTS.min(max_slots(limit));
    (slots, DEFAULT_DATA_LEN.min(max_data_len(limit, slots)))
}

/// Removes every key of `records` (and the records filed under them):
/// what could not be published is asked of the daemon, never answered
/// from an older record.
fn remove_keys(writer: &mut MemcacheWriter, records: &[RecordRef<'_>]) {
    for key in records.iter().flat_map(|r| r.keys()) {
        writer.remove(&key);
    }
}

/// Stores `record`; when the file is full, writes a new one with the live
/// entries (twice as large when they fill more than half of it, never past
/// `limit`; at the bound, the newest live entries that fill half of it,
/// dropping the oldest) and the record. A record too large to share the
/// bounded file is not published (readers ask the daemon).
fn put_or_grow(
    writer: &mut MemcacheWriter,
    record: RecordRef<'_>,
    expires: u64,
    limit: usize,
) -> Result<(), WriteError> {
    let len = record.encoded_len();
    let largest = max_data_len(limit, max_slots(limit));
    if len * 4 > largest {
        // An older version of the entry goes too: readers ask the daemon.
        remove_keys(writer, &[record]);
        return Ok(());
    }
    match writer.put(record, expires) {
        // "No such entry" never grows the file: its key's record goes.
        Err(WriteError::Full) if matches!(record, RecordRef::Missing(_)) => {
            remove_keys(writer, &[record]);
            return Ok(());
        }
        Err(WriteError::Full) => {}
        other => return other,
    }
    let now = monotonic_ms();
    let mut live = writer.live_records(now);
    // Nor are its records carried over: a lookup publishes them again.
    live.retain(|(r, _)| !matches!(r, Record::Missing(_)));
    live.push((record.to_owned(), expires));
    // Newest first (latest expiry: the entries published last).
    live.sort_by_key(|r| std::cmp::Reverse(r.1));
    let sizes: Vec<(usize, usize)> = live
        .iter()
        .map(|(r, _)| (RecordRef::from(r).encoded_len(), r.keys().len()))
        .collect();
    let live_bytes: usize = sizes.iter().map(|s| s.0).sum();
    let live_keys: usize = sizes.iter().map(|s| s.1).sum();
    let slot_cap = max_slots(limit);
    let mut slots = writer.slot_count().min(slot_cap);
    while (live_keys + 2) * 3 > slots as usize && slots < slot_cap {
        slots *= 2;
    }
    let data_cap = max_data_len(limit, slots);
    let mut data_len = writer.data_len().min(data_cap);
    while live_bytes * 2 > data_len && data_len < data_cap {
        data_len = (data_len * 2).min(data_cap);
    }
    let (mut kept, mut bytes, mut keys) = (0, 0, 0);
    for (b, k) in &sizes {
        if (bytes + b) * 2 > data_len || (keys + k) * 3 > slots as usize {
            break;
        }
        bytes += b;
        keys += k;
        kept += 1;
    }
    if kept < live.len() {
        tracing::info!(
            kept,
            dropped = live.len() - kept,
            limit,
            "memory cache at its size bound: the oldest entries are dropped"
        );
    }
    live.truncate(kept);
    // Oldest first, so that a newer version of a key replaces an older one.
    live.reverse();
    writer.rebuild_with(&live, slots, data_len)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_proto::memcache::{Mapping, Record};
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
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, None).unwrap();
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

    /// Each new file carries the settings given at start, then those of a
    /// reload from its flush on; a file without them says so.
    #[test]
    fn new_files_carry_the_settings_of_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, Some(b"min_id=2000\n"))
            .unwrap();
        let first = Mapping::open(p.path()).unwrap();
        assert_eq!(first.settings(), Some(&b"min_id=2000\n"[..]));
        p.set_settings(b"min_id=3000\n");
        let unchanged = Mapping::open(p.path()).unwrap();
        assert_eq!(
            unchanged.generation(),
            first.generation(),
            "until the flush"
        );
        p.flush();
        assert!(first.retired());
        let flushed = Mapping::open(p.path()).unwrap();
        assert_eq!(flushed.settings(), Some(&b"min_id=3000\n"[..]));
        assert_ne!(flushed.generation(), first.generation());
        let none = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, None).unwrap();
        assert_eq!(Mapping::open(none.path()).unwrap().settings(), None);
    }

    /// What this thread logs, kept (for the tests that check a warning).
    #[derive(Clone, Default)]
    struct Logged(std::sync::Arc<Mutex<Vec<u8>>>);

    impl io::Write for Logged {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl Logged {
        /// How many logged lines so far contain `text`.
        fn lines_with(&self, text: &str) -> usize {
            let logged = self.0.lock().unwrap();
            String::from_utf8_lossy(&logged).matches(text).count()
        }
    }

    /// Settings longer than a file has room for are held by the
    /// publisher as none (its files carry none: the module reads
    /// `nss.conf`), which is logged once at start and once at a reload
    /// that gives them, never at a flush; a reload's that fit are
    /// carried again.
    #[test]
    fn settings_too_long_are_not_carried() {
        let logged = Logged::default();
        let writer = logged.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let _logs = tracing::subscriber::set_default(subscriber);
        let warning = "too long for the NSS memory cache";
        let held = |p: &MemcachePublisher| p.held_settings().clone();
        let dir = tempfile::tempdir().unwrap();
        let long = vec![b'#'; SETTINGS_MAX_LEN + 1];
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, Some(&long)).unwrap();
        assert_eq!(held(&p), None);
        assert_eq!(Mapping::open(p.path()).unwrap().settings(), None);
        assert_eq!(logged.lines_with(warning), 1, "at start");
        let fits = vec![b'#'; SETTINGS_MAX_LEN];
        p.set_settings(&fits);
        assert_eq!(held(&p).as_deref(), Some(&fits[..]));
        p.flush();
        assert_eq!(Mapping::open(p.path()).unwrap().settings(), Some(&fits[..]));
        p.set_settings(&long);
        assert_eq!(held(&p), None);
        p.flush();
        p.flush();
        assert_eq!(Mapping::open(p.path()).unwrap().settings(), None);
        assert_eq!(logged.lines_with(warning), 2, "once more at the reload");
    }

    #[test]
    fn flush_and_retire_withdraw_everything() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, None).unwrap();
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
        let settings = b"min_id=1500\n";
        let small = MemcacheWriter::create_with_settings(&path, 16, 4096, Some(settings));
        let p = MemcachePublisher {
            path: path.clone(),
            limit: AtomicUsize::new(DEFAULT_SIZE_LIMIT),
            writer: Mutex::new(Some(small.unwrap())),
            flushes: AtomicU64::new(0),
            missing_rules: MISSING_RULES,
            settings: Mutex::new(Some(settings.to_vec())),
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
        assert_eq!(
            m.settings(),
            Some(&settings[..]),
            "the grown file's settings"
        );
    }

    fn file_size(path: &Path) -> u64 {
        std::fs::metadata(path).unwrap().len()
    }

    #[test]
    fn the_file_never_grows_past_its_bound_and_drops_the_oldest() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 2 << 20;
        let p = MemcachePublisher::start(dir.path(), limit, None).unwrap();
        assert!(file_size(p.path()) <= limit as u64);
        let first = Mapping::open(p.path()).unwrap();
        let users: Vec<User> = (0..20_000)
            .map(|i| User {
                name: format!("user{i:06}"),
                uid: 100_000 + i,
                gecos: "x".repeat(40),
                ..alice()
            })
            .collect();
        for (i, u) in users.iter().enumerate() {
            p.publish(&Request::UserByUid(u.uid), &Response::User(u.clone()), TTL);
            if i % 1000 == 0 {
                assert!(file_size(p.path()) <= limit as u64, "after {i} users");
            }
        }
        assert!(file_size(p.path()) <= limit as u64);
        // The file was rebuilt (a new one, the old retired, never rewritten
        // in place): a reader of the first one still reads it, retired.
        assert!(first.retired());
        let m = Mapping::open(p.path()).unwrap();
        let now = monotonic_ms();
        let last = users.last().unwrap();
        assert_eq!(
            m.get(&Key::UserName(&last.name), now),
            Some(Record::User(last.clone()))
        );
        assert_eq!(m.get(&Key::UserName(&users[0].name), now), None);
        // A lower bound (configuration reload) applies at the flush.
        p.set_limit(1 << 20);
        p.flush();
        assert!(file_size(p.path()) <= 1 << 20);
    }

    #[test]
    fn stats_report_size_bound_and_fill() {
        let dir = tempfile::tempdir().unwrap();
        let limit = 2 << 20;
        let p = MemcachePublisher::start(dir.path(), limit, None).unwrap();
        let empty = p.stats().unwrap();
        assert_eq!(empty.path, p.path().display().to_string());
        assert_eq!(empty.size_limit, limit as u64);
        assert_eq!(empty.file_bytes, file_size(p.path()));
        assert!(empty.file_bytes <= empty.size_limit);
        assert_eq!(empty.records_bytes, 0);
        assert!(empty.records_capacity > 0 && empty.records_capacity < empty.file_bytes);
        assert!(empty.slots >= 16);
        // Header and slot table are allocated up front, records as they come.
        assert!(empty.allocated_bytes > 0 && empty.allocated_bytes <= empty.file_bytes);
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let one = p.stats().unwrap();
        assert!(one.records_bytes > 0 && one.records_bytes <= one.records_capacity);
        assert!(one.allocated_bytes >= empty.allocated_bytes);
        // Full enough to grow: still within the bound.
        for i in 0..20_000 {
            let u = User {
                name: format!("user{i:06}"),
                uid: 100_000 + i,
                ..alice()
            };
            p.publish(&Request::UserByUid(u.uid), &Response::User(u), TTL);
        }
        let full = p.stats().unwrap();
        assert!(full.file_bytes <= limit as u64, "{full:?}");
        assert_eq!(full.file_bytes, file_size(p.path()));
        p.flush();
        assert_eq!(p.stats().unwrap().records_bytes, 0);
        p.retire();
        assert_eq!(p.stats(), None);
    }

    #[test]
    fn the_same_answer_asked_again_adds_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MEMCACHE_FILE_NAME);
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, None).unwrap();
        let used = |p: &MemcachePublisher| p.writer.lock().unwrap().as_ref().unwrap().data_used();
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let one = used(&p);
        assert!(one > 0);
        // Case variants: the served entry is already there.
        for i in 0..32 {
            let variant: String = "alice"
                .chars()
                .enumerate()
                .map(|(b, c)| {
                    if (i >> b) & 1 == 1 {
                        c.to_ascii_uppercase()
                    } else {
                        c
                    }
                })
                .collect();
            p.publish(&Request::UserByName(variant), &Response::User(alice()), TTL);
        }
        assert_eq!(used(&p), one);
        // A changed entry is republished.
        let renamed = User {
            gecos: "Alice Liddell".into(),
            ..alice()
        };
        p.publish(
            &Request::UserByUid(10001),
            &Response::User(renamed.clone()),
            TTL,
        );
        assert!(used(&p) > one);
        let m = Mapping::open(&path).unwrap();
        assert_eq!(
            m.get(&Key::UserName("alice"), monotonic_ms()),
            Some(Record::User(renamed))
        );
    }

    #[test]
    fn no_such_entry_answers_are_published_within_their_share() {
        use roster_proto::memcache::OwnedKey;
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        let ghost = Request::UserByName("ghost".into());
        p.publish(&ghost, &Response::NotFound, TTL);
        p.publish(&Request::GroupByGid(4242), &Response::NotFound, TTL);
        // Without a freshness (a refusal, offline data): nothing.
        p.publish(
            &Request::GroupByName("ghosts".into()),
            &Response::NotFound,
            Duration::ZERO,
        );
        let now = monotonic_ms();
        assert_eq!(
            mapped(&p).get(&Key::UserName("ghost"), now),
            Some(Record::Missing(OwnedKey::UserName("ghost".into())))
        );
        assert_eq!(
            mapped(&p).get(&Key::Gid(4242), now),
            Some(Record::Missing(OwnedKey::Gid(4242)))
        );
        assert_eq!(mapped(&p).get(&Key::GroupName("ghosts"), now), None);
        // `rosterctl cache stats` counts them.
        let stats = p.stats().unwrap();
        assert_eq!(stats.missing_records_written, 2);
        assert_eq!(stats.missing_records_limit, stats.slots / 16);
        // Asked again: no second record.
        let used = written(&p, &|w| w.data_used() as u64);
        p.publish(&ghost, &Response::NotFound, TTL);
        assert_eq!(written(&p, &|w| w.data_used() as u64), used);
        // The name found later (by its UID): the entry replaces it.
        let found = User {
            name: "ghost".into(),
            uid: 20000,
            ..alice()
        };
        p.publish(
            &Request::UserByUid(20000),
            &Response::User(found.clone()),
            TTL,
        );
        assert_eq!(
            mapped(&p).get(&Key::UserName("ghost"), now),
            Some(Record::User(found))
        );
        // A live entry is removed, not replaced (another lookup may have
        // published it since this one's answer was decided).
        p.publish(&Request::UserByUid(20000), &Response::NotFound, TTL);
        assert_eq!(mapped(&p).get(&Key::Uid(20000), now), None);
        assert_eq!(mapped(&p).get(&Key::UserName("ghost"), now), None);
        // A rebuild (the file full of entries) carries none over, not even
        // the one of latest expiry (a full file keeps the latest).
        p.publish(
            &Request::GroupByGid(4243),
            &Response::NotFound,
            Duration::from_secs(3600),
        );
        let first = mapped(&p);
        let mut uid = 30000;
        while !first.retired() {
            let u = User {
                name: format!("user{uid}"),
                uid,
                ..alice()
            };
            p.publish(&Request::UserByUid(uid), &Response::User(u), TTL);
            uid += 1;
        }
        assert_eq!(written(&p, &|w| u64::from(w.missing_records())), 0);
        assert!(first.get(&Key::Gid(4243), now).is_some());
        assert_eq!(mapped(&p).get(&Key::Gid(4243), 0), None);
        assert!(mapped(&p).get(&Key::Uid(uid - 1), now).is_some());
    }

    /// A write that fails (here `fallocate`, on a full file system)
    /// removes what the record's keys held: a "no such entry" it was to
    /// replace answers no more.
    #[test]
    #[ignore = "needs a small filesystem as TMPDIR"]
    fn a_failed_write_removes_the_no_such_entry_it_was_to_replace() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), DEFAULT_SIZE_LIMIT, None).unwrap();
        let big = Request::GroupByName("big".into());
        p.publish(&big, &Response::NotFound, TTL);
        let now = monotonic_ms();
        let held = mapped(&p).get(&Key::GroupName("big"), now);
        assert!(matches!(held, Some(Record::Missing(_))), "{held:?}");
        // Another file takes what the file system has left (at most 8 MiB:
        // run anywhere but on its small tmpfs, the test fails instead of
        // filling a real disk).
        let mut filler = std::fs::File::create(dir.path().join("filler")).unwrap();
        let chunk = vec![1u8; 64 << 10];
        let full = (0..128).any(|_| std::io::Write::write_all(&mut filler, &chunk).is_err());
        assert!(full, "TMPDIR is not a small file system");
        // The group is created: its record needs more blocks than the
        // file has reserved.
        let group = Group {
            name: "big".into(),
            gid: 4242,
            members: (0..150_000).map(|i| format!("member{i:06}")).collect(),
        };
        // (Small enough to publish: not refused for its size.)
        let limit = DEFAULT_SIZE_LIMIT;
        let len = RecordRef::Group(&group).encoded_len();
        assert!(len > 1 << 20 && len * 4 <= max_data_len(limit, max_slots(limit)));
        p.publish(&big, &Response::Group(group), TTL);
        assert_eq!(mapped(&p).get(&Key::GroupName("big"), now), None);
        assert_eq!(mapped(&p).get(&Key::Gid(4242), now), None);
    }

    /// Runs the test above in a private mount namespace on a 4 MiB tmpfs
    /// (as root, like the rest of the suite).
    #[test]
    fn full_tmpfs_runs_the_failed_write_test() {
        roster_proto::test_support::run_ignored_on_small_tmpfs(
            "memcache_publish::tests::a_failed_write_removes_the_no_such_entry_it_was_to_replace",
            "4m",
        );
    }

    fn written(p: &MemcachePublisher, f: &dyn Fn(&MemcacheWriter) -> u64) -> u64 {
        f(p.writer.lock().unwrap().as_ref().unwrap())
    }

    fn mapped(p: &MemcachePublisher) -> Mapping {
        Mapping::open(p.path()).unwrap()
    }

    #[test]
    fn names_nobody_has_fill_a_sixteenth_of_the_slots_until_they_expire() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        p.missing_rules.rebuild_pause_ms = u64::MAX;
        p.publish(&Request::UserByUid(10001), &Response::User(alice()), TTL);
        let share = written(&p, &|w| u64::from(w.slot_count() / MISSING_SHARE));
        let brief = Duration::from_millis(MISSING_RULES.min_fresh_ms);
        // Fresh for less than the floor: none.
        let hasty = Request::GroupByName("hasty".into());
        p.publish(
            &hasty,
            &Response::NotFound,
            brief - Duration::from_millis(1),
        );
        assert_eq!(written(&p, &|w| u64::from(w.missing_records())), 0);
        let now = monotonic_ms();
        for i in 0..2 * share {
            let name = Request::GroupByName(format!("zz{i}"));
            p.publish(&name, &Response::NotFound, brief);
        }
        assert_eq!(written(&p, &|w| u64::from(w.missing_records())), share);
        let held = (0..2 * share)
            .filter(|i| {
                mapped(&p)
                    .get(&Key::GroupName(&format!("zz{i}")), now)
                    .is_some()
            })
            .count() as u64;
        assert_eq!(held, share, "the first asked");
        // Used up: no new one.
        let at_share = written(&p, &|w| w.data_used() as u64);
        p.publish(&Request::UserByName("zz".into()), &Response::NotFound, TTL);
        assert_eq!(written(&p, &|w| w.data_used() as u64), at_share);
        assert_eq!(mapped(&p).get(&Key::UserName("zz"), now), None);
        // Every one of them expired, but the file younger than the pause:
        // still none.
        let first = mapped(&p);
        while monotonic_ms() < written(&p, &|w| w.missing_expiry()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        p.publish(&Request::UserByName("zz".into()), &Response::NotFound, TTL);
        assert!(!first.retired());
        // Past the pause: published in a file written anew without them
        // (the entries kept).
        p.missing_rules.rebuild_pause_ms = 0;
        p.publish(&Request::UserByName("zz".into()), &Response::NotFound, TTL);
        assert!(first.retired());
        assert_eq!(written(&p, &|w| u64::from(w.missing_records())), 1);
        let now = monotonic_ms();
        assert!(mapped(&p).get(&Key::UserName("zz"), now).is_some());
        assert!(mapped(&p).get(&Key::UserName("alice"), now).is_some());
        // (Asked as of time 0, when every record is live: gone, not
        // expired.)
        assert!(first.get(&Key::GroupName("zz1"), 0).is_some());
        assert_eq!(mapped(&p).get(&Key::GroupName("zz1"), 0), None);
    }

    #[test]
    fn a_live_no_such_entry_stays_when_their_share_is_used_up() {
        let dir = tempfile::tempdir().unwrap();
        let mut p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        p.missing_rules.rebuild_pause_ms = u64::MAX;
        let share = written(&p, &|w| u64::from(w.slot_count() / MISSING_SHARE));
        for i in 0..share {
            let name = Request::GroupByName(format!("zz{i}"));
            p.publish(&name, &Response::NotFound, TTL);
        }
        let at_share = written(&p, &|w| w.data_used() as u64);
        p.publish(
            &Request::GroupByName("zz0".into()),
            &Response::NotFound,
            TTL,
        );
        assert_eq!(written(&p, &|w| w.data_used() as u64), at_share);
        assert!(mapped(&p)
            .get(&Key::GroupName("zz0"), monotonic_ms())
            .is_some());
    }

    #[test]
    fn an_entry_found_under_another_spelling_removes_its_no_such_entry() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        p.publish(
            &Request::UserByName("Alice".into()),
            &Response::NotFound,
            TTL,
        );
        p.publish(&Request::UserByName("bob".into()), &Response::NotFound, TTL);
        assert!(mapped(&p)
            .get(&Key::UserName("Alice"), monotonic_ms())
            .is_some());
        // (The rosterd of a case-insensitive domain, its own negative
        // evicted, finds her under that spelling: filed as "alice".)
        p.publish(
            &Request::UserByName("Alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let now = monotonic_ms();
        assert_eq!(mapped(&p).get(&Key::UserName("Alice"), now), None);
        assert!(mapped(&p).get(&Key::UserName("alice"), now).is_some());
        assert!(mapped(&p).get(&Key::UserName("bob"), now).is_some());
    }

    #[test]
    fn a_no_such_entry_larger_than_its_share_is_never_published() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&path, 64, 4096).unwrap();
        let name = "x".repeat(300);
        let key = Key::UserName(&name);
        assert!(RecordRef::Missing(key).encoded_len() > w.data_len() / MISSING_SHARE as usize);
        let rules = MissingRules {
            rebuild_pause_ms: 0,
            ..MISSING_RULES
        };
        let first = Mapping::open(&path).unwrap();
        let fate = publishes_missing(&mut w, &key, TTL, rules, &path);
        assert_eq!(fate, MissingFate::Remove);
        assert!(!first.retired(), "no file written anew for it");
    }

    #[test]
    fn long_names_nobody_has_fill_a_sixteenth_of_the_record_area() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        let share = written(&p, &|w| u64::from(w.slot_count() / MISSING_SHARE));
        let area = written(&p, &|w| w.data_len() as u64);
        let len = RecordRef::Missing(Key::UserName(&"0".repeat(250))).encoded_len() as u64;
        for i in 0..share {
            let name = format!("{i:0>250}");
            p.publish(&Request::UserByName(name), &Response::NotFound, TTL);
        }
        let count = written(&p, &|w| u64::from(w.missing_records()));
        let bytes = written(&p, &|w| w.missing_bytes() as u64);
        assert!(count > 0 && count < share, "{count} of {share}");
        assert!(
            bytes <= area / u64::from(MISSING_SHARE),
            "{bytes} of {area}"
        );
        assert!(
            bytes + len > area / u64::from(MISSING_SHARE),
            "{bytes} of {area}"
        );
    }

    #[test]
    fn answers_decided_before_a_flush_are_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        let ghost = Request::UserByName("ghost".into());
        let before = p.flushes();
        p.flush();
        p.publish_unless_flushed(before, &ghost, &Response::NotFound, TTL);
        p.publish_unless_flushed(
            before,
            &Request::UserByUid(10001),
            &Response::User(alice()),
            TTL,
        );
        let now = monotonic_ms();
        assert_eq!(mapped(&p).get(&Key::UserName("ghost"), now), None);
        assert_eq!(mapped(&p).get(&Key::Uid(10001), now), None);
        p.publish_unless_flushed(p.flushes(), &ghost, &Response::NotFound, TTL);
        assert!(mapped(&p).get(&Key::UserName("ghost"), now).is_some());
    }

    #[test]
    fn a_users_groups_no_such_entry_goes_when_the_user_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        for name in ["alice", "bob"] {
            let groups = Request::GroupsOfUser(name.into());
            p.publish(&groups, &Response::NotFound, TTL);
        }
        assert!(mapped(&p)
            .get(&Key::GroupsOf("alice"), monotonic_ms())
            .is_some());
        // alice found (created since, or her local namesake gone), even
        // by UID and with no freshness left: her groups are asked again.
        let found = Response::User(alice());
        p.publish(&Request::UserByUid(10001), &found, Duration::ZERO);
        let now = monotonic_ms();
        assert_eq!(mapped(&p).get(&Key::GroupsOf("alice"), now), None);
        assert!(mapped(&p).get(&Key::GroupsOf("bob"), now).is_some());
        // Nor is one published while her entry is live.
        p.publish(&Request::UserByUid(10001), &found, TTL);
        let alices = Request::GroupsOfUser("alice".into());
        p.publish(&alices, &Response::NotFound, TTL);
        assert_eq!(mapped(&p).get(&Key::GroupsOf("alice"), now), None);
        // Under another spelling: found by it, or her groups asked by it
        // (answered, but not published), its record goes too.
        for (asked, answer) in [
            (Request::UserByName("Alice".into()), found.clone()),
            (
                Request::GroupsOfUser("ALICE".into()),
                Response::Gids(vec![10000]),
            ),
        ] {
            let spelling = match &asked {
                Request::UserByName(n) | Request::GroupsOfUser(n) => n.clone(),
                _ => unreachable!(),
            };
            let groups = Request::GroupsOfUser(spelling.clone());
            p.publish(&groups, &Response::NotFound, TTL);
            let key = Key::GroupsOf(&spelling);
            assert!(mapped(&p).get(&key, monotonic_ms()).is_some());
            p.publish(&asked, &answer, Duration::ZERO);
            assert_eq!(mapped(&p).get(&key, monotonic_ms()), None, "{spelling}");
        }
    }

    #[test]
    fn a_no_such_entry_that_finds_the_file_full_removes_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = MemcacheWriter::create(&dir.path().join(MEMCACHE_FILE_NAME), 64, 4096).unwrap();
        let ghost = User {
            name: "ghost".into(),
            uid: 20000,
            ..alice()
        };
        w.put(RecordRef::User(&ghost), 1).unwrap();
        let mut uid = 30000;
        loop {
            let u = User {
                name: format!("user{uid}"),
                uid,
                ..alice()
            };
            if w.put(RecordRef::User(&u), u64::MAX).is_err() {
                break;
            }
            uid += 1;
        }
        let (used, retired_before) = (w.data_used(), Mapping::open(w.path()).unwrap());
        let key = Key::UserName("ghost");
        put_or_grow(&mut w, RecordRef::Missing(key), u64::MAX, 1 << 20).unwrap();
        assert_eq!(w.data_used(), used, "nothing written");
        assert!(!retired_before.retired(), "the file not rebuilt");
        assert!(w.get_view(&key).is_none(), "the key's record removed");
        assert!(w.get_view(&Key::Uid(20000)).is_none());
    }

    #[test]
    fn a_record_too_large_for_the_bound_is_not_published() {
        let dir = tempfile::tempdir().unwrap();
        let p = MemcachePublisher::start(dir.path(), 1 << 20, None).unwrap();
        p.publish(
            &Request::UserByName("alice".into()),
            &Response::User(alice()),
            TTL,
        );
        let huge = Group {
            name: "huge".into(),
            gid: 5000,
            members: (0..40_000).map(|i| format!("member{i:06}")).collect(),
        };
        // Its smaller version, published before it grew, goes with it.
        let small = Group {
            members: huge.members[..10].to_vec(),
            ..huge.clone()
        };
        p.publish(&Request::GroupByGid(5000), &Response::Group(small), TTL);
        assert!(mapped(&p)
            .get(&Key::GroupName("huge"), monotonic_ms())
            .is_some());
        p.publish(&Request::GroupByGid(5000), &Response::Group(huge), TTL);
        let m = Mapping::open(p.path()).unwrap();
        let now = monotonic_ms();
        assert_eq!(m.get(&Key::Gid(5000), now), None);
        assert_eq!(m.get(&Key::GroupName("huge"), now), None);
        assert!(
            m.get(&Key::UserName("alice"), now).is_some(),
            "nothing evicted for it"
        );
    }

    #[test]
    fn layouts_fit_their_bound() {
        for limit in [1 << 20, 3 << 20, 32 << 20, 1 << 30] {
            let (slots, data) = initial_layout(limit);
            assert!(file_len(slots, data) <= limit, "{limit}");
            let slots = max_slots(limit);
            assert!(
                file_len(slots, max_data_len(limit, slots)) <= limit,
                "{limit}"
            );
        }
    }
}
