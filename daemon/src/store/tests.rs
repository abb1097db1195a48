use super::*;
use crate::clock::unix_ms as now_ms;
use std::fs;

const DAY_MS: u64 = 86_400_000;

fn user(name: &str, uid: u32) -> StoredValue {
    StoredValue::User(StoredUser {
        name: name.into(),
        uid,
        gid: 100,
        gecos: String::new(),
        home: format!("/home/{name}"),
        shell: "/bin/sh".into(),
        dn: format!("uid={name},ou=people,dc=example,dc=test"),
        unique_id: None,
        ssh_keys: Vec::new(),
    })
}

fn open(dir: &Path) -> Store {
    Store::open(dir, DAY_MS).unwrap()
}

/// A new log gets its header from the writer thread (off the path to the
/// first answer), before anything is appended to it.
#[test]
fn a_new_log_is_written_with_its_header_before_any_record() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(STORE_FILE_NAME);
    let s = open(dir.path());
    s.close();
    assert_eq!(
        fs::read(&file).unwrap(),
        FILE_MAGIC,
        "an unused log holds its header only"
    );
    let s = open(dir.path());
    s.put("k".into(), now_ms(), user("u", 7));
    s.close();
    assert!(fs::read(&file).unwrap().starts_with(FILE_MAGIC));
    let s = open(dir.path());
    assert_eq!(s.len(), 1);
    assert_eq!(s.recovery().records, 1);
}

/// A new log whose header cannot be written (here: its directory is
/// gone) keeps nothing: its puts are counted as dropped, and a flush
/// still returns.
#[test]
fn a_log_that_cannot_be_begun_counts_its_puts_as_dropped() {
    let dir = tempfile::tempdir().unwrap();
    let file = fs::File::create(dir.path().join("placeholder")).unwrap();
    // (The two puts below, as a store counts them when it queues them.)
    let (tx, counts, writer) = bare_writer(dir.path().join("gone"), file, true, 2);
    tx.send(Op::Held {
        key: "k".into(),
        at_ms: now_ms(),
        value: Box::new(user("u", 7)),
    })
    .unwrap();
    tx.send(Op::Held {
        key: "m".into(),
        at_ms: now_ms(),
        value: Box::new(Held(Some(user("m", 8)))),
    })
    .unwrap();
    let (done, flushed) = mpsc::channel();
    tx.send(Op::Barrier(done)).unwrap();
    flushed.recv().unwrap();
    assert_eq!(counts.dropped.load(std::sync::atomic::Ordering::Relaxed), 2);
    assert_eq!(
        counts
            .puts_in_flight
            .load(std::sync::atomic::Ordering::Relaxed),
        0,
        "dropped puts are no longer on their way"
    );
    drop(tx);
    writer.join().unwrap();
}

/// A writer thread over `file` (its log at `dir/cache.log`, holding only
/// its header), without a store around it: its queue, the counts it
/// shares (`puts` already on their way, as a store counts those it
/// queues) and the thread.
fn bare_writer(
    dir: std::path::PathBuf,
    file: fs::File,
    new_log: bool,
    puts: u64,
) -> (
    mpsc::SyncSender<Op>,
    Arc<WriteCounts>,
    std::thread::JoinHandle<()>,
) {
    let inner = Arc::new(Mutex::new(Inner {
        path: dir.join(STORE_FILE_NAME),
        file: Arc::new(file),
        index: HashMap::new(),
        namespaces: Default::default(),
        end: FILE_MAGIC.len() as u64,
        max_age_ms: DAY_MS,
    }));
    let (tx, rx) = mpsc::sync_channel(8);
    let counts = Arc::new(WriteCounts::default());
    counts
        .puts_in_flight
        .store(puts, std::sync::atomic::Ordering::Relaxed);
    let counted = counts.clone();
    let writer = std::thread::spawn(move || writer::writer_loop(inner, rx, new_log, counted));
    (tx, counts, writer)
}

/// A value held elsewhere, for [`Store::put_value`].
struct Held(Option<StoredValue>);

impl Storable for Held {
    fn stored(&self) -> Option<ValueRef<'_>> {
        self.0.as_ref().map(StoredValue::borrowed)
    }
}

/// A value encoded from where it is held is stored as a put would store
/// it, in queue order with the other writes; `None` stores nothing.
#[test]
fn values_held_elsewhere_are_stored_in_queue_order() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let s = open(dir.path());
    s.put("a".into(), now, user("old", 1));
    s.put_value("a".into(), now, Box::new(Held(Some(user("new", 2)))));
    s.put_value("b".into(), now, Box::new(Held(None)));
    s.put_value("c".into(), now, Box::new(Held(Some(user("c", 3)))));
    s.delete("c".into());
    s.close();
    let s = open(dir.path());
    assert_eq!(s.get("a"), Some((now, user("new", 2))));
    assert_eq!(s.get("b"), None);
    assert_eq!(s.get("c"), None);
}

#[test]
fn reopen_keeps_entries_and_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let s = open(dir.path());
        s.put("a".into(), now, user("alice", 1));
        s.put("b".into(), now, user("bob", 2));
        s.put("c".into(), now, StoredValue::Gids(vec![1, 2, 3]));
        s.delete("b".into());
        s.put("a".into(), now + 1, user("alice", 11));
        s.close();
    }
    let s = open(dir.path());
    assert_eq!(s.recovery().corrupt_records, 0);
    assert_eq!(s.recovery().truncated_bytes, 0);
    assert_eq!(s.get("a"), Some((now + 1, user("alice", 11))));
    assert_eq!(s.get("b"), None);
    assert_eq!(s.get("c"), Some((now, StoredValue::Gids(vec![1, 2, 3]))));
    assert_eq!(s.len(), 2);
    s.clear();
    s.close();
    assert!(open(dir.path()).is_empty());
}

#[test]
fn truncated_tail_is_detected_and_the_rest_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let s = open(dir.path());
        s.put("a".into(), now, user("alice", 1));
        s.put("b".into(), now, user("bob", 2));
        s.close();
    }
    let path = dir.path().join(STORE_FILE_NAME);
    let len = fs::metadata(&path).unwrap().len();
    // A crash in the middle of writing the last record.
    let f = OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len - 5).unwrap();
    drop(f);
    let s = open(dir.path());
    assert!(s.recovery().truncated_bytes > 0);
    assert_eq!(s.get("a"), Some((now, user("alice", 1))));
    assert_eq!(s.get("b"), None);
    // The damage is gone and new writes survive another reopen.
    s.put("c".into(), now, user("carol", 3));
    s.close();
    let s = open(dir.path());
    assert_eq!(
        s.recovery(),
        &Recovery {
            records: 2,
            ..Default::default()
        }
    );
    assert_eq!(s.get("c"), Some((now, user("carol", 3))));
}

#[test]
fn corrupted_record_is_skipped_and_later_records_kept() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    {
        let s = open(dir.path());
        s.put("a".into(), now, user("alice", 1));
        s.put("b".into(), now, user("bob", 2));
        s.put("c".into(), now, user("carol", 3));
        s.close();
    }
    let path = dir.path().join(STORE_FILE_NAME);
    let mut bytes = fs::read(&path).unwrap();
    // Flip one byte inside the payload of the second record ("bob").
    let pos = bytes.windows(3).position(|w| w == b"bob").unwrap();
    bytes[pos] ^= 0x20;
    // And append garbage as if a crash left half a header.
    bytes.extend_from_slice(&[record::RECORD_MAGIC, 0, 0]);
    fs::write(&path, &bytes).unwrap();
    let s = open(dir.path());
    assert_eq!(s.recovery().corrupt_records, 1);
    assert_eq!(s.recovery().truncated_bytes, 3);
    assert_eq!(s.get("a"), Some((now, user("alice", 1))));
    assert_eq!(s.get("b"), None);
    assert_eq!(s.get("c"), Some((now, user("carol", 3))));
}

#[test]
fn foreign_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(STORE_FILE_NAME), b"not a cache at all").unwrap();
    let s = open(dir.path());
    assert!(s.recovery().bad_header);
    assert!(s.is_empty());
    assert!(dir.path().join("cache.log.bad").exists());
    s.put("a".into(), now_ms(), StoredValue::Gids(vec![]));
    s.close();
    assert_eq!(open(dir.path()).len(), 1);
}

#[test]
fn compaction_keeps_live_entries_and_drops_old_ones() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let s = open(dir.path());
    s.put("old".into(), now - 2 * DAY_MS, user("old", 9));
    // Rewrite the same few keys until the log passes the compaction size.
    for i in 0..12_000u32 {
        s.put(format!("k{}", i % 10), now, user("u", i));
        if i % 1000 == 999 {
            s.flush(); // stay below the queue's capacity
        }
    }
    assert_eq!(s.dropped_writes(), 0);
    s.close();
    let size = fs::metadata(dir.path().join(STORE_FILE_NAME))
        .unwrap()
        .len();
    assert!(
        size < COMPACT_MIN_BYTES,
        "log was not compacted: {size} bytes"
    );
    let s = open(dir.path());
    assert_eq!(s.len(), 10);
    assert_eq!(s.get("old"), None);
    assert_eq!(s.get("k3"), Some((now, user("u", 11_993))));
}

/// The record frames of a log, in order.
fn frames(log: &[u8]) -> Vec<&[u8]> {
    let mut rest = &log[FILE_MAGIC.len()..];
    let mut out = Vec::new();
    while !rest.is_empty() {
        let len =
            record::FRAME_OVERHEAD + u32::from_be_bytes(rest[1..5].try_into().unwrap()) as usize;
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// A log of an earlier release (its header, JSON records as those
/// releases wrote them) is read, then rewritten at once with the new
/// header and every record in the binary form (an earlier release given
/// the new log sets it aside instead of misreading it); what it held is
/// served, its deletions kept.
#[test]
fn a_log_of_an_earlier_release_is_read_and_rewritten_in_the_binary_form() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let path = dir.path().join(STORE_FILE_NAME);
    let mut old = JSON_FILE_MAGIC.to_vec();
    for payload in [
        format!(
            r#"{{"op":"Put","key":"a","at_ms":{now},"value":{{"User":{{"name":"alice","uid":1,"gid":100,"gecos":"","home":"/home/alice","shell":"/bin/sh","dn":"uid=alice,ou=people,dc=example,dc=test","unique_id":null}}}}}}"#
        ),
        format!(r#"{{"op":"Put","key":"gone","at_ms":{now},"value":"Missing"}}"#),
        format!(r#"{{"op":"Put","key":"i","at_ms":{now},"value":{{"Gids":[1,2]}}}}"#),
        format!(r#"{{"op":"Put","key":"e\u001fx","at_ms":{now},"value":{{"Gids":[3]}}}}"#),
        r#"{"op":"Del","key":"gone"}"#.to_string(),
        r#"{"op":"DelNs","ns":"e"}"#.to_string(),
    ] {
        old.extend_from_slice(&record::json_frame(&payload));
    }
    fs::write(&path, &old).unwrap();
    let s = open(dir.path());
    assert_eq!(s.recovery().records, 6);
    assert_eq!(s.recovery().corrupt_records, 0);
    assert!(!s.recovery().bad_header);
    let log = fs::read(&path).unwrap();
    assert!(log.starts_with(FILE_MAGIC), "rewritten with the new header");
    let written = frames(&log);
    assert_eq!(written.len(), 2);
    assert!(written.iter().all(|f| f[0] == record::RECORD_MAGIC));
    assert_eq!(s.get("a"), Some((now, user("alice", 1))));
    assert_eq!(s.get("i"), Some((now, StoredValue::Gids(vec![1, 2]))));
    assert_eq!((s.get("gone"), s.get("e\u{1f}x")), (None, None));
    s.put("b".into(), now, user("bob", 2));
    s.close();
    let s = open(dir.path());
    assert_eq!(s.len(), 3);
    assert_eq!(s.get("a"), Some((now, user("alice", 1))));
    assert_eq!(s.get("b"), Some((now, user("bob", 2))));
}

/// A value too large to be read back is not written (it would end every
/// later replay there): counted as dropped; the key's earlier value is
/// removed, not served in its place; what follows it is kept.
#[test]
fn a_value_too_large_to_read_back_is_dropped_and_the_rest_kept() {
    let dir = tempfile::tempdir().unwrap();
    let now = now_ms();
    let s = open(dir.path());
    let small = StoredValue::Group(StoredGroup {
        name: "big".into(),
        gid: 1,
        members: vec!["m".into()],
        dn: "cn=big".into(),
    });
    s.put("big".into(), now, small.clone());
    s.put("big2".into(), now, small.clone());
    s.flush();
    assert_eq!(s.get("big"), Some((now, small)));
    let big = StoredValue::Group(StoredGroup {
        name: "big".into(),
        gid: 1,
        members: vec!["m".repeat(1 << 20); 17],
        dn: "cn=big".into(),
    });
    // Held by the cache (put_value) and handed over whole (put).
    s.put_value("big".into(), now, Box::new(Held(Some(big.clone()))));
    s.put("big2".into(), now, big);
    s.put("a".into(), now, user("alice", 1));
    s.flush();
    assert_eq!(s.dropped_writes(), 2);
    assert_eq!((s.get("big"), s.get("big2")), (None, None));
    s.close();
    let s = open(dir.path());
    assert_eq!(s.recovery().truncated_bytes, 0);
    assert_eq!((s.get("big"), s.get("big2")), (None, None));
    assert_eq!(s.get("a"), Some((now, user("alice", 1))));
}

#[test]
fn namespaces_are_dropped_whole_and_stay_dropped() {
    let dir = tempfile::tempdir().unwrap();
    {
        let s = open(dir.path());
        s.put("d1\u{1f}x".into(), now_ms(), StoredValue::Gids(vec![]));
        s.put("d1\u{1f}y".into(), now_ms(), StoredValue::Gids(vec![]));
        s.put("d2\u{1f}x".into(), now_ms(), StoredValue::Gids(vec![1]));
        s.flush();
        assert_eq!((s.namespace_len("d1"), s.namespace_len("d2")), (2, 1));
        s.delete_namespace("d1");
        s.flush();
        assert_eq!((s.namespace_len("d1"), s.len()), (0, 1));
        s.close();
    }
    let s = open(dir.path());
    assert_eq!(s.get("d1\u{1f}x"), None);
    assert_eq!(
        s.get("d2\u{1f}x").map(|v| v.1),
        Some(StoredValue::Gids(vec![1]))
    );
}

#[test]
fn a_full_queue_drops_puts_but_never_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.put("victim".into(), now_ms(), StoredValue::Gids(vec![]));
    s.flush();
    // Hold the writer on the index lock so the queue fills up.
    let guard = s.inner.lock().unwrap();
    for i in 0..((QUEUE_CAPACITY + MAX_BATCH) as u32 + 100) {
        s.put(format!("k{i}"), now_ms(), StoredValue::Gids(vec![i]));
    }
    assert!(s.dropped_writes() >= 99, "{}", s.dropped_writes());
    drop(guard);
    s.delete("victim".into());
    s.flush();
    assert_eq!(s.get("victim"), None);
    assert!(s.len() <= QUEUE_CAPACITY + MAX_BATCH + 1);
}

#[test]
fn removals_are_seen_at_once_and_survive_a_queued_put() {
    let dir = tempfile::tempdir().unwrap();
    let s = open(dir.path());
    s.put("a".into(), now_ms(), StoredValue::Gids(vec![1]));
    s.flush();
    // Hold the writer: the put below is still queued when the delete comes.
    let guard = s.inner.lock().unwrap();
    s.put("b".into(), now_ms(), StoredValue::Gids(vec![2]));
    drop(guard);
    s.delete("a".into());
    assert_eq!(
        s.get("a"),
        None,
        "a removal is visible before it is written"
    );
    s.delete("b".into());
    s.flush();
    assert_eq!((s.get("a"), s.get("b")), (None, None));
    s.close();
    assert!(open(dir.path()).is_empty());
}

#[test]
fn the_queue_s_slots_are_small() {
    // The queue's QUEUE_CAPACITY slots are allocated and touched when the
    // store opens: an operation holding a record inline made them 1.8 MB.
    let (op, record) = (std::mem::size_of::<Op>(), std::mem::size_of::<Record>());
    assert!(
        op < record,
        "an operation takes {op} octets, a record {record}"
    );
}

/// Deferred puts and removals wait for their release, and keep their place
/// before anything queued after them (a put then a removal of one key
/// leaves it removed, a removal then a put leaves the put), also across a
/// restart.
#[test]
fn deferred_writes_wait_for_their_release_and_keep_their_order() {
    let dir = tempfile::tempdir().unwrap();
    let at = now_ms();
    {
        let s = open(dir.path());
        s.put_value_deferred("a".into(), at, Box::new(user("a", 1)));
        assert_eq!(s.deferred_ops(), 1);
        s.delete("a".into());
        assert_eq!(s.deferred_ops(), 0, "a removal queued after a deferred put");
        s.put("b".into(), at, user("b", 2));
        s.flush();
        s.delete_deferred("b".into());
        assert!(
            s.get("b").is_none(),
            "reads no longer see a key whose removal is deferred"
        );
        assert_eq!(s.deferred_ops(), 1);
        s.put_value("b".into(), at, Box::new(user("b", 3)));
        assert_eq!(s.deferred_ops(), 0, "a put queued after a deferred removal");
        s.put_value_deferred("c".into(), at, Box::new(user("c", 4)));
        s.release_deferred();
        assert_eq!(s.deferred_ops(), 0);
        s.put_value_deferred("d".into(), at, Box::new(user("d", 5)));
        s.flush();
        assert!(matches!(s.get("b"), Some((_, StoredValue::User(u))) if u.uid == 3));
        assert!(s.get("a").is_none());
        assert!(s.get("c").is_some() && s.get("d").is_some());
        for i in 0..=MAX_DEFERRED {
            s.put_value_deferred(format!("e{i}"), at, Box::new(user("e", 6)));
        }
        assert_eq!(s.deferred_ops(), 0, "more than MAX_DEFERRED are released");
        s.put_value_deferred("f".into(), at, Box::new(user("f", 7)));
    }
    // Closing (the store's drop) writes what was still deferred.
    let s = open(dir.path());
    assert!(s.get("a").is_none());
    assert!(matches!(s.get("b"), Some((_, StoredValue::User(u))) if u.uid == 3));
    assert!(s.get("f").is_some() && s.get("e0").is_some());
}

/// A removal of a key the log neither holds nor is about to (a lookup of
/// a name the directory does not have) writes nothing; one of a key
/// stored, or while a put is on its way (it may be that key's), is
/// written as before.
#[test]
fn a_removal_of_what_was_never_stored_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(STORE_FILE_NAME);
    let at = now_ms();
    let s = open(dir.path());
    s.put("kept".into(), at, user("kept", 1));
    s.flush();
    let written = fs::metadata(&file).unwrap().len();
    s.delete_deferred("never".into());
    assert_eq!(
        s.deferred_ops(),
        0,
        "nothing deferred for a key never stored"
    );
    s.delete("never".into());
    s.flush();
    assert_eq!(
        fs::metadata(&file).unwrap().len(),
        written,
        "nothing written"
    );

    // A put on its way: the removal is kept, in its place after it.
    s.put_value_deferred("soon".into(), at, Box::new(user("soon", 2)));
    s.delete_deferred("soon".into());
    assert_eq!(s.deferred_ops(), 2);
    s.release_deferred();
    s.flush();
    assert!(s.get("soon").is_none(), "the put then its removal");

    // Once written, nothing is on its way: a stored key's removal is
    // written, an unknown key's is not.
    let written = fs::metadata(&file).unwrap().len();
    s.delete_deferred("kept".into());
    assert_eq!(s.deferred_ops(), 1);
    s.release_deferred();
    s.delete("still never".into());
    s.flush();
    assert!(s.get("kept").is_none());
    assert!(
        fs::metadata(&file).unwrap().len() > written,
        "the removal of a stored key is written"
    );
    drop(s);
    let s = open(dir.path());
    assert!(s.get("kept").is_none() && s.get("soon").is_none());
}

/// A write of the log that fails leaves the log and the index apart: the
/// writer notes it, and removals are written from then on whatever the
/// index says.
#[test]
fn a_failed_write_turns_off_skipping_removals() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(STORE_FILE_NAME);
    fs::write(&path, FILE_MAGIC).unwrap();
    // Opened read-only: every append fails.
    let file = fs::File::open(&path).unwrap();
    let (tx, counts, writer) = bare_writer(dir.path().to_path_buf(), file, false, 1);
    tx.send(Op::Held {
        key: "k".into(),
        at_ms: now_ms(),
        value: Box::new(user("k", 7)),
    })
    .unwrap();
    let (done, flushed) = mpsc::channel();
    tx.send(Op::Barrier(done)).unwrap();
    flushed.recv().unwrap();
    assert!(counts
        .write_failed
        .load(std::sync::atomic::Ordering::Relaxed));
    assert_eq!(
        counts
            .puts_in_flight
            .load(std::sync::atomic::Ordering::Relaxed),
        0
    );
    drop(tx);
    writer.join().unwrap();

    // A store whose writer noted a failure writes a removal of a key it
    // does not index.
    let s = open(dir.path());
    s.counts
        .write_failed
        .store(true, std::sync::atomic::Ordering::Relaxed);
    s.delete_deferred("never".into());
    assert_eq!(s.deferred_ops(), 1);
}
