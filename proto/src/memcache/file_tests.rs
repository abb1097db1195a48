//! Writer and reader of the memory cache together, on real files.

use super::*;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

static COUNTER: AtomicUsize = AtomicUsize::new(0);

struct TempDir(PathBuf);

impl TempDir {
    fn new() -> TempDir {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let dir = std::env::temp_dir().join(format!("roster-mc-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
    fn file(&self) -> PathBuf {
        self.0.join(MEMCACHE_FILE_NAME)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn user(name: &str, uid: u32) -> User {
    User {
        name: name.into(),
        uid,
        gid: 10000,
        gecos: format!("gecos of {name} {uid}"),
        home: format!("/home/{name}"),
        shell: "/bin/bash".into(),
    }
}

fn later() -> u64 {
    monotonic_ms() + 60_000
}

#[test]
fn published_entries_are_found_by_every_key() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 1024, 1 << 20).unwrap();
    let alice = Record::User(user("alice", 10001));
    let staff = Record::Group(Group {
        name: "staff".into(),
        gid: 10010,
        members: vec!["alice".into(), "bob".into()],
    });
    let groups = Record::Initgroups {
        user: "alice".into(),
        gids: vec![10000, 10010],
    };
    for r in [&alice, &staff, &groups] {
        w.put(r, later()).unwrap();
    }
    let m = Mapping::open(&dir.file()).unwrap();
    let now = monotonic_ms();
    assert_eq!(m.get(&Key::UserName("alice"), now).as_ref(), Some(&alice));
    assert_eq!(m.get(&Key::Uid(10001), now).as_ref(), Some(&alice));
    assert_eq!(m.get(&Key::GroupName("staff"), now).as_ref(), Some(&staff));
    assert_eq!(m.get(&Key::Gid(10010), now).as_ref(), Some(&staff));
    assert_eq!(m.get(&Key::GroupsOf("alice"), now).as_ref(), Some(&groups));
    assert_eq!(m.get(&Key::UserName("bob"), now), None);
    assert_eq!(
        m.get(&Key::GroupName("alice"), now),
        None,
        "kinds are separate"
    );
    assert_eq!(m.get(&Key::Gid(10001), now), None);

    let reader = MemcacheReader::new();
    assert_eq!(reader.get(&dir.file(), &Key::Uid(10001)), Some(alice));
}

#[test]
fn records_asked_again_are_served_alike() {
    // (A record validated once is not validated again: the memo must
    // hand back each record, whichever was asked before.)
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 1024, 1 << 20).unwrap();
    let big = Record::Group(Group {
        name: "big".into(),
        gid: 1,
        members: (0..5000).map(|i| format!("u{i:05}")).collect(),
    });
    let small = Record::Group(Group {
        name: "small".into(),
        gid: 2,
        members: vec!["a".into()],
    });
    // A member name holding a NUL makes a record readers refuse.
    let refused = Record::Group(Group {
        name: "refused".into(),
        gid: 3,
        members: vec!["a\0b".into()],
    });
    w.put(&big, later()).unwrap();
    w.put(&small, later()).unwrap();
    w.put(&refused, later()).unwrap();
    let m = Mapping::open(&dir.file()).unwrap();
    let now = monotonic_ms();
    for _ in 0..3 {
        // (Asked right after a record that passed: still refused.)
        assert_eq!(m.get(&Key::Gid(1), now).as_ref(), Some(&big));
        assert_eq!(m.get(&Key::Gid(3), now), None);
        for (k, r) in [
            (Key::Gid(1), &big),
            (Key::GroupName("big"), &big),
            (Key::Gid(2), &small),
            (Key::GroupName("small"), &small),
        ] {
            assert_eq!(m.get(&k, now).as_ref(), Some(r), "{k:?}");
        }
    }
}

/// Only the record a key finds is validated whole, once: the records a
/// lookup probes past are matched on their header and name alone (a
/// large group's members were checked for every lookup whose probe chain
/// passed it, and each took the memory of the last record validated, so
/// that glibc's retries of a large group validated it each time).
#[test]
fn only_the_record_found_is_validated_and_only_once() {
    let dir = TempDir::new();
    // A tiny table: 64 slots, 40 keys (20 groups), so probe chains overlap.
    let mut w = MemcacheWriter::create(&dir.file(), 64, 1 << 16).unwrap();
    let groups: Vec<Record> = (0..20)
        .map(|i| {
            Record::Group(Group {
                name: format!("g{i}"),
                gid: 30000 + i,
                members: (0..20).map(|m| format!("m{m}")).collect(),
            })
        })
        .collect();
    for g in &groups {
        w.put(g, later()).unwrap();
    }
    let m = Mapping::open(&dir.file()).unwrap();
    let now = monotonic_ms();
    for (i, g) in (0u32..).zip(&groups) {
        let name = format!("g{i}");
        for key in [Key::GroupName(&name), Key::Gid(30000 + i)] {
            let before = m.full_checks();
            for _ in 0..3 {
                assert_eq!(m.get(&key, now).as_ref(), Some(g), "{key:?}");
            }
            assert!(
                m.full_checks() - before <= 1,
                "{key:?}: {}",
                m.full_checks() - before
            );
        }
    }
    // Each group checked once in all: by the first of its two keys.
    assert_eq!(m.full_checks(), 20);
}

#[test]
fn expired_entries_are_not_served() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    let now = monotonic_ms();
    w.put(&Record::User(user("old", 10005)), now + 100).unwrap();
    let m = Mapping::open(&dir.file()).unwrap();
    assert!(m.get(&Key::UserName("old"), now).is_some());
    assert_eq!(m.get(&Key::UserName("old"), now + 100), None);
    assert_eq!(m.get(&Key::Uid(10005), now + 5000), None);
    assert!(w.live_records(now + 100).is_empty());
}

#[test]
fn a_changed_entry_drops_its_stale_keys() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 64, 1 << 16).unwrap();
    w.put(&Record::User(user("alice", 10001)), later()).unwrap();
    // alice's UID changes: the old UID must no longer resolve to alice.
    w.put(&Record::User(user("alice", 10009)), later()).unwrap();
    let m = Mapping::open(&dir.file()).unwrap();
    let now = monotonic_ms();
    assert_eq!(m.get(&Key::Uid(10001), now), None);
    assert_eq!(
        m.get(&Key::UserName("alice"), now),
        Some(Record::User(user("alice", 10009)))
    );
    // UID 10009 is given to someone else: alice's name must not point to it.
    w.put(&Record::User(user("alicia", 10009)), later())
        .unwrap();
    assert_eq!(m.get(&Key::UserName("alice"), now), None);
    assert_eq!(
        m.get(&Key::Uid(10009), now),
        Some(Record::User(user("alicia", 10009)))
    );
}

#[test]
fn remove_deletes_every_key_and_keeps_probe_chains() {
    let dir = TempDir::new();
    // A tiny table: 64 slots, 40 keys (20 users), so probe chains overlap.
    let mut w = MemcacheWriter::create(&dir.file(), 64, 1 << 16).unwrap();
    for i in 0..20 {
        w.put(&Record::User(user(&format!("u{i}"), 20000 + i)), later())
            .unwrap();
    }
    assert!(w.remove(&Key::Uid(20003)));
    assert!(w.remove(&Key::UserName("u7")));
    assert!(!w.remove(&Key::UserName("nobody")));
    let m = Mapping::open(&dir.file()).unwrap();
    let now = monotonic_ms();
    for i in 0..20u32 {
        let gone = i == 3 || i == 7;
        let by_name = m.get(&Key::UserName(&format!("u{i}")), now);
        let by_uid = m.get(&Key::Uid(20000 + i), now);
        assert_eq!(by_name.is_none(), gone, "u{i} by name");
        assert_eq!(by_uid.is_none(), gone, "u{i} by uid");
    }
    // Deleted slots are reused and lookups still work afterwards.
    w.put(&Record::User(user("u3", 20003)), later()).unwrap();
    assert!(m.get(&Key::UserName("u3"), now).is_some());
}

#[test]
fn a_full_file_says_so_and_a_rebuild_keeps_live_entries() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 16, 4096).unwrap();
    let mut stored = 0u32;
    let err = loop {
        match w.put(
            &Record::User(user(&format!("u{stored}"), 20000 + stored)),
            later(),
        ) {
            Ok(()) => stored += 1,
            Err(e) => break e,
        }
    };
    assert!(matches!(err, WriteError::Full), "{err}");
    assert!(stored > 0);

    let reader = MemcacheReader::new();
    assert!(reader.get(&dir.file(), &Key::UserName("u0")).is_some());
    let old = Mapping::open(&dir.file()).unwrap();
    w.rebuild(monotonic_ms(), 1024, 1 << 20).unwrap();
    assert!(old.retired(), "the replaced file is retired");
    // The reader notices at its next lookup and maps the new file.
    for i in 0..stored {
        assert!(
            reader.get(&dir.file(), &Key::Uid(20000 + i)).is_some(),
            "u{i}"
        );
    }
    w.put(&Record::User(user("new", 30000)), later()).unwrap();
    assert!(reader.get(&dir.file(), &Key::UserName("new")).is_some());
}

#[test]
fn a_rebuild_never_touches_the_published_file() {
    use std::os::unix::fs::MetadataExt;
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    w.put(&Record::User(user("alice", 10001)), later()).unwrap();
    w.put(&Record::User(user("bob", 10002)), later()).unwrap();
    let held = std::fs::File::open(dir.file()).unwrap();
    let len = held.metadata().unwrap().len();
    assert_eq!(len as usize, w.file_len());
    assert_eq!(w.file_len(), file_len(64, 4096));
    let old = Mapping::open(&dir.file()).unwrap();
    // Only bob is carried over, into a larger file.
    let bob = w.get(&Key::UserName("bob")).unwrap();
    w.rebuild_with(&[bob], 128, 8192).unwrap();
    // The old file: retired, unlinked (its blocks are freed when the last
    // mapping goes), its length and records untouched for readers that
    // still map it, so none of them can fault on a truncated page.
    assert!(old.retired());
    let meta = held.metadata().unwrap();
    assert_eq!(meta.nlink(), 0, "the replaced file is unlinked");
    assert_eq!(meta.len(), len, "never truncated");
    let now = monotonic_ms();
    assert!(old.get(&Key::UserName("alice"), now).is_some());
    let new = Mapping::open(&dir.file()).unwrap();
    assert!(!new.retired());
    assert_eq!(new.get(&Key::UserName("alice"), now), None);
    assert!(new.get(&Key::Uid(10002), now).is_some());
    assert_eq!(w.file_len(), file_len(128, 8192));
}

#[test]
fn retire_withdraws_the_file() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    w.put(&Record::User(user("alice", 10001)), later()).unwrap();
    let reader = MemcacheReader::new();
    assert!(reader.get(&dir.file(), &Key::Uid(10001)).is_some());
    w.retire();
    assert!(!dir.file().exists());
    assert_eq!(reader.get(&dir.file(), &Key::Uid(10001)), None);
}

#[test]
fn a_new_writer_retires_the_previous_file() {
    let dir = TempDir::new();
    let mut first = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    first
        .put(&Record::User(user("alice", 10001)), later())
        .unwrap();
    let reader = MemcacheReader::new();
    assert!(reader.get(&dir.file(), &Key::Uid(10001)).is_some());
    // A restarted daemon (the old one killed) starts with an empty file.
    let _second = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    assert_eq!(reader.get(&dir.file(), &Key::Uid(10001)), None);
}

#[test]
fn unsafe_or_garbage_files_are_refused() {
    let dir = TempDir::new();
    let w = MemcacheWriter::create(&dir.file(), 64, 4096).unwrap();
    drop(w);
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir.file(), std::fs::Permissions::from_mode(0o666)).unwrap();
    assert!(Mapping::open(&dir.file()).is_err(), "world-writable");
    std::fs::write(dir.file(), vec![7u8; 8192]).unwrap();
    std::fs::set_permissions(dir.file(), std::fs::Permissions::from_mode(0o644)).unwrap();
    assert!(Mapping::open(&dir.file()).is_err(), "bad magic");
    std::fs::write(dir.file(), b"short").unwrap();
    assert!(Mapping::open(&dir.file()).is_err(), "too short");
    let reader = MemcacheReader::new();
    assert_eq!(reader.get(&dir.file(), &Key::Uid(1)), None);
}

/// A file carries the module's settings whole, or says it carries none
/// (none given, or longer than its first page holds); a length that
/// reaches into the slots, or a file of the layout before them, is
/// refused whole.
#[test]
fn the_settings_are_carried_whole_or_not_at_all() {
    use std::os::unix::fs::FileExt;
    let dir = TempDir::new();
    let text = b"timeout_ms=1500\nignore_users=root,daemon\n";
    let w = MemcacheWriter::create_with_settings(&dir.file(), 64, 4096, Some(text)).unwrap();
    assert_eq!(w.settings(), Some(&text[..]));
    let m = Mapping::open(&dir.file()).unwrap();
    assert_eq!(m.settings(), Some(&text[..]));
    let reader = MemcacheReader::new();
    let handed = reader.settings_with(&dir.file(), |generation, t| (generation, t.to_vec()));
    assert_eq!(handed, Some((m.generation(), text.to_vec())));
    let longest = vec![b'#'; SETTINGS_MAX_LEN];
    let w = MemcacheWriter::create_with_settings(&dir.file(), 64, 4096, Some(&longest)).unwrap();
    assert_eq!(
        Mapping::open(&dir.file()).unwrap().settings(),
        Some(&longest[..])
    );
    let too_long = vec![b'#'; SETTINGS_MAX_LEN + 1];
    let w2 = MemcacheWriter::create_with_settings(&dir.file(), 64, 4096, Some(&too_long)).unwrap();
    assert_eq!(w2.settings(), None);
    assert_eq!(Mapping::open(&dir.file()).unwrap().settings(), None);
    drop((w, w2));
    let _w = MemcacheWriter::create_with_settings(&dir.file(), 64, 4096, Some(text)).unwrap();
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(dir.file())
        .unwrap();
    // The file mapped again with `len` written as the settings' length.
    let opened_with_length = |len: u32| {
        file.write_all_at(&len.to_ne_bytes(), OFF_SETTINGS as u64)
            .unwrap();
        Mapping::open(&dir.file())
    };
    let fitting = SETTINGS_MAX_LEN as u32;
    assert!(
        opened_with_length(fitting + 1).is_err(),
        "settings into the slots"
    );
    assert!(
        opened_with_length(fitting).is_ok(),
        "settings up to the slots"
    );
    assert!(
        opened_with_length(u32::MAX - 1).is_err(),
        "a length past the file"
    );
    let none = opened_with_length(SETTINGS_NONE).unwrap();
    assert_eq!(none.settings(), None);
    file.write_all_at(&3u32.to_ne_bytes(), OFF_VERSION as u64)
        .unwrap();
    assert!(
        Mapping::open(&dir.file()).is_err(),
        "the layout before settings"
    );
}

/// A file a daemon left without retiring it (killed) is withdrawn: a
/// reader mapping it stops using it, and the path goes; nothing there is
/// no error.
#[test]
fn a_file_left_behind_is_withdrawn() {
    let dir = TempDir::new();
    let w = MemcacheWriter::create_with_settings(&dir.file(), 64, 4096, Some(b"min_id=1\n"));
    drop(w.unwrap());
    let mapped = Mapping::open(&dir.file()).unwrap();
    assert!(!mapped.retired());
    withdraw(&dir.file()).unwrap();
    assert!(mapped.retired());
    assert!(!dir.file().exists());
    withdraw(&dir.file()).unwrap();
    // A symbolic link there is neither followed nor removed.
    let elsewhere = dir.0.join("elsewhere.mc");
    let _live = MemcacheWriter::create(&elsewhere, 64, 4096).unwrap();
    std::os::unix::fs::symlink(&elsewhere, dir.file()).unwrap();
    assert!(withdraw(&dir.file()).is_err());
    assert!(!Mapping::open(&elsewhere).unwrap().retired());
    assert!(dir.file().symlink_metadata().is_ok());
}

/// A FIFO where the file should be is refused at once: opening it does
/// not wait for a writer (a lookup must never hang on it).
#[test]
fn a_fifo_is_refused_without_waiting() {
    let dir = TempDir::new();
    let made = std::process::Command::new("mkfifo")
        .arg(dir.file())
        .status();
    assert!(made.is_ok_and(|s| s.success()), "mkfifo");
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.file();
    std::thread::spawn(move || {
        let _ = tx.send(Mapping::open(&path).is_err());
    });
    let refused = rx
        .recv_timeout(std::time::Duration::from_secs(10))
        .expect("opening a FIFO waited for a writer");
    assert!(refused, "a FIFO is not a memory cache");
}

#[test]
fn a_file_of_the_daemons_user_is_trusted_only_in_its_own_directory() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return; // chown needs root (CI runs as root)
    }
    use std::os::unix::fs::PermissionsExt;
    let daemon = 64902;
    let top = TempDir::new();
    std::fs::set_permissions(&top.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    let run = top.0.join("run");
    std::fs::create_dir(&run).unwrap();
    let file = run.join(MEMCACHE_FILE_NAME);
    drop(MemcacheWriter::create(&file, 64, 4096).unwrap());
    std::os::unix::fs::chown(&file, Some(daemon), Some(daemon)).unwrap();
    // The directory is still root's: someone else's file, refused.
    assert!(Mapping::open(&file).is_err(), "foreign owner");
    // The daemon's directory (/run/roster given to _roster): trusted.
    std::os::unix::fs::chown(&run, Some(daemon), Some(daemon)).unwrap();
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(Mapping::open(&file).is_ok(), "daemon's file");
    // ... unless others may write to that directory.
    std::fs::set_permissions(&run, std::fs::Permissions::from_mode(0o775)).unwrap();
    assert!(Mapping::open(&file).is_err(), "group-writable dir");
}

#[test]
fn readers_never_see_a_torn_entry_while_the_writer_updates() {
    let dir = TempDir::new();
    let path = dir.file();
    let mut w = MemcacheWriter::create(&path, 4096, 64 << 20).unwrap();
    for i in 0..100 {
        w.put(&Record::User(user(&format!("u{i}"), 20000 + i)), later())
            .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let stop = Arc::clone(&stop);
            let path = path.clone();
            std::thread::spawn(move || {
                let m = Mapping::open(&path).unwrap();
                let mut seen = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    for i in 0..100u32 {
                        let Some(Record::User(u)) = m.get(&Key::Uid(20000 + i), monotonic_ms())
                        else {
                            panic!("u{i} vanished during updates");
                        };
                        // Every version is internally consistent.
                        assert_eq!(u.name, format!("u{i}"));
                        assert!(u.gecos.starts_with(&format!("gecos of u{i} ")), "{u:?}");
                        seen += 1;
                    }
                }
                seen
            })
        })
        .collect();
    for round in 0..300u32 {
        for i in 0..100u32 {
            let mut u = user(&format!("u{i}"), 20000 + i);
            u.gecos = format!("gecos of u{i} round {round}");
            w.put(&Record::User(u), later()).unwrap();
        }
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() > 0);
    }
}

/// Run on a small tmpfs as TMPDIR (by the next test): filling a file larger
/// than the filesystem ends in an error, never a SIGBUS.
#[test]
#[ignore = "needs a small filesystem as TMPDIR"]
fn a_full_filesystem_is_an_error_not_a_crash() {
    let dir = TempDir::new();
    let mut w = MemcacheWriter::create(&dir.file(), 1 << 16, 64 << 20).unwrap();
    let mut i = 0u32;
    let err = loop {
        let mut u = user(&format!("u{i}"), 20000 + i);
        u.gecos = "x".repeat(4000);
        if let Err(e) = w.put(&Record::User(u), later()) {
            break e;
        }
        i += 1;
    };
    assert!(matches!(err, WriteError::Io(_)), "{err}");
}

/// Runs the test above in a private mount namespace on a 2 MiB tmpfs (as
/// root, like the rest of the suite): the writer must fail cleanly.
#[test]
fn full_tmpfs_runs_the_filesystem_test() {
    crate::test_support::run_ignored_on_small_tmpfs(
        "memcache::file_tests::a_full_filesystem_is_an_error_not_a_crash",
        "2m",
    );
}

#[test]
fn a_file_counts_its_no_such_entry_records_and_its_age() {
    let dir = TempDir::new();
    let before = monotonic_ms();
    let mut w = MemcacheWriter::create(&dir.file(), 64, 1 << 16).unwrap();
    let made = w.created_ms();
    assert!(made >= before && made <= monotonic_ms());
    assert_eq!(
        (w.missing_records(), w.missing_bytes(), w.missing_expiry()),
        (0, 0, 0)
    );
    w.put(&Record::User(user("alice", 10001)), later()).unwrap();
    let ghost = Record::Missing(OwnedKey::UserName("ghost".into()));
    w.put(&ghost, 5_000).unwrap();
    w.put(&Record::Missing(OwnedKey::Gid(7)), 4_000).unwrap();
    let bytes =
        RecordRef::from(&ghost).encoded_len() + RecordRef::Missing(Key::Gid(7)).encoded_len();
    assert_eq!(
        (w.missing_records(), w.missing_bytes(), w.missing_expiry()),
        (2, bytes, 5_000)
    );
    // A file written anew counts afresh, from its own creation.
    while monotonic_ms() == made {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    w.rebuild(monotonic_ms(), 64, 1 << 16).unwrap();
    assert!(w.created_ms() > made);
    assert_eq!(
        (w.missing_records(), w.missing_bytes(), w.missing_expiry()),
        (0, 0, 0)
    );
    assert!(w.get(&Key::UserName("alice")).is_some());
}
