use super::*;
use roster_proto::{
    decode_request, decode_response, encode_response, parse_header, Response, User,
};
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::sync::Arc;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A daemon stand-in: answers `UserByUid(n)` with user `c<k>` (`k` the
/// connection's number, from 0) of UID `n`, closes a connection after
/// `per_connection` answers, and answers `slow_uid` after `delay`.
struct FakeDaemon {
    path: PathBuf,
    /// "closed c<k>" for each connection that ended, in order.
    events: Arc<Mutex<Vec<String>>>,
}

impl FakeDaemon {
    fn start(name: &str, per_connection: usize, slow: Option<(u32, Duration)>) -> FakeDaemon {
        let dir =
            std::env::temp_dir().join(format!("roster-nss-kept-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("nss.sock");
        let listener = UnixListener::bind(&path).unwrap();
        let events = Arc::new(Mutex::new(Vec::new()));
        let log = events.clone();
        std::thread::spawn(move || {
            for (k, stream) in listener.incoming().enumerate() {
                let log = log.clone();
                std::thread::spawn(move || serve(stream.unwrap(), k, per_connection, slow, &log));
            }
        });
        FakeDaemon { path, events }
    }

    fn closed(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }

    /// Waits (at most 5 s) until connection `k`'s end was seen.
    fn wait_closed(&self, k: usize) {
        let want = format!("closed c{k}");
        let give_up = Instant::now() + Duration::from_secs(5);
        while !self.closed().contains(&want) {
            assert!(
                Instant::now() < give_up,
                "{want} not seen: {:?}",
                self.closed()
            );
            std::thread::sleep(Duration::from_millis(2));
        }
    }
}

fn serve(
    mut s: UnixStream,
    k: usize,
    per_connection: usize,
    slow: Option<(u32, Duration)>,
    log: &Mutex<Vec<String>>,
) {
    for _ in 0..per_connection {
        let mut prefix = [0u8; 4];
        if s.read_exact(&mut prefix).is_err() {
            break;
        }
        let mut body = vec![0; parse_header(prefix).unwrap().len];
        s.read_exact(&mut body).unwrap();
        let Request::UserByUid(uid) = decode_request(&body).unwrap() else {
            panic!("unexpected request")
        };
        if uid == REFUSED_UID {
            // An error reply, as rosterd's refusal at a limit (which then
            // closes; this one stays open, so that a connection kept
            // anyway would answer the next call).
            let reply = encode_response(&Response::Error("refused".into()));
            if s.write_all(&reply).is_err() {
                break;
            }
            continue;
        }
        if let Some((slow_uid, delay)) = slow {
            if uid == slow_uid {
                std::thread::sleep(delay);
            }
        }
        let reply = encode_response(&Response::User(User {
            name: format!("c{k}"),
            uid,
            ..Default::default()
        }));
        if s.write_all(&reply).is_err() {
            break;
        }
    }
    drop(s);
    log.lock().unwrap().push(format!("closed c{k}"));
}

/// The UID the fake daemon answers with an error reply.
const REFUSED_UID: u32 = 666;

/// A fake daemon (see [`FakeDaemon::start`]), no kept connection yet,
/// and this process.
fn started(
    name: &str,
    per_connection: usize,
    slow: Option<(u32, Duration)>,
) -> (FakeDaemon, KeptConnection, Owner) {
    let d = FakeDaemon::start(name, per_connection, slow);
    (d, KeptConnection::new(), Owner::current())
}

/// Which connection answered `UserByUid(uid)`, and that it was that UID.
fn ask(kept: &KeptConnection, owner: Owner, d: &FakeDaemon, uid: u32) -> String {
    answer(
        kept.exchange_as(owner, &d.path, &Request::UserByUid(uid), TIMEOUT)
            .unwrap(),
        uid,
    )
}

fn answer(payload: Vec<u8>, uid: u32) -> String {
    match decode_response(&payload).unwrap() {
        Response::User(u) if u.uid == uid => u.name,
        other => panic!("asked for {uid}, got {other:?}"),
    }
}

/// The kept connection's descriptor number.
fn kept_fd(kept: &KeptConnection) -> i32 {
    let slot = kept.slot.lock().unwrap();
    slot.as_ref()
        .expect("a kept connection")
        .client
        .as_fd()
        .as_raw_fd()
}

#[test]
fn a_process_asks_over_one_connection() {
    let (d, kept, me) = started("one", usize::MAX, None);
    let answers: Vec<String> = (1..=3).map(|uid| ask(&kept, me, &d, uid)).collect();
    assert_eq!(answers, ["c0", "c0", "c0"]);
    assert!(d.closed().is_empty());
}

#[test]
fn a_connection_the_daemon_closed_is_replaced_within_the_same_call() {
    let (d, kept, me) = started("closed", 1, None);
    assert_eq!(ask(&kept, me, &d, 1), "c0");
    d.wait_closed(0);
    assert_eq!(ask(&kept, me, &d, 2), "c1");
    assert_eq!(ask(&kept, me, &d, 3), "c2");
}

#[test]
fn a_forked_child_or_changed_ids_connect_anew_and_close_their_copy() {
    let (d, kept, me) = started("owner", usize::MAX, None);
    assert_eq!(ask(&kept, me, &d, 1), "c0");
    let child = Owner {
        pid: me.pid.wrapping_add(1),
        ..me
    };
    assert_eq!(ask(&kept, child, &d, 2), "c1");
    d.wait_closed(0);
    let dropped = Owner {
        euid: me.euid.wrapping_add(1),
        ..child
    };
    assert_eq!(ask(&kept, dropped, &d, 3), "c2");
    d.wait_closed(1);
    let regrouped = Owner {
        egid: me.egid.wrapping_add(1),
        ..dropped
    };
    assert_eq!(ask(&kept, regrouped, &d, 4), "c3");
    d.wait_closed(2);
    assert_eq!(ask(&kept, regrouped, &d, 5), "c3");
    // A child with its parent's PID (in a new PID namespace), told by
    // the fork mark.
    let same_pid_child = Owner {
        forked: true,
        ..regrouped
    };
    assert_eq!(ask(&kept, same_pid_child, &d, 6), "c4");
    d.wait_closed(3);
}

/// The page behind the fork mark is empty in a forked child.
#[test]
fn a_forked_child_finds_the_fork_mark_clear() {
    ForkMark::set();
    assert!(
        !MARK_PAGE.load(Ordering::Acquire).is_null(),
        "no mark page: MADV_WIPEONFORK is known since Linux 4.14"
    );
    assert!(ForkMark::holds());
    // SAFETY: the child only reads an atomic and leaves with `_exit`
    // (nothing that could meet a lock another test thread held).
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        let code = if ForkMark::holds() { 1 } else { 0 };
        // SAFETY: ends the child at once.
        unsafe { libc::_exit(code) };
    }
    assert!(pid > 0, "fork failed");
    let mut status = 0;
    // SAFETY: waits for the child just forked.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    assert!(
        libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0,
        "the child found the mark set ({status})"
    );
    assert!(ForkMark::holds(), "the parent's mark is kept");
}

/// Set in the fresh process [`the_kept_connection_sets_the_fork_mark`]
/// runs its check in.
const MARK_CHILD_ENV: &str = "ROSTER_NSS_KEPT_MARK_CHILD";

/// A process's first new connection makes and sets the fork mark (which
/// tells a forked child with its parent's PID), even when it is not kept
/// (answered with an error); the next one is kept all the same. Checked
/// in a fresh process of this test binary: no other test has made the
/// mark there.
#[test]
fn the_kept_connection_sets_the_fork_mark() {
    if std::env::var_os(MARK_CHILD_ENV).is_some() {
        assert!(MARK_PAGE.load(Ordering::Acquire).is_null(), "made before");
        let (d, kept, me) = started("mark", usize::MAX, None);
        let refused = kept
            .exchange_as(me, &d.path, &Request::UserByUid(REFUSED_UID), TIMEOUT)
            .unwrap();
        assert!(roster_proto::reply_is_error(&refused));
        assert!(!MARK_PAGE.load(Ordering::Acquire).is_null(), "not made");
        assert!(ForkMark::holds());
        assert_eq!(ask(&kept, me, &d, 1), "c1");
        assert_eq!(ask(&kept, me, &d, 2), "c1", "not kept");
        return;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "kept::tests::the_kept_connection_sets_the_fork_mark",
            "--test-threads=1",
        ])
        .env(MARK_CHILD_ENV, "1")
        .output()
        .unwrap();
    roster_proto::test_support::assert_one_test_passed(&out);
}

/// A connection whose first reply is an error (rosterd's refusal) is not
/// kept.
#[test]
fn a_connection_answered_with_an_error_is_not_kept() {
    let (d, kept, me) = started("refused", usize::MAX, None);
    let payload = kept
        .exchange_as(me, &d.path, &Request::UserByUid(REFUSED_UID), TIMEOUT)
        .unwrap();
    assert!(roster_proto::reply_is_error(&payload));
    assert_eq!(ask(&kept, me, &d, 1), "c1");
    assert_eq!(ask(&kept, me, &d, 2), "c1");
}

#[test]
fn another_socket_gets_a_connection_of_its_own() {
    let (a, b) = (
        FakeDaemon::start("sock-a", usize::MAX, None),
        FakeDaemon::start("sock-b", usize::MAX, None),
    );
    let kept = KeptConnection::new();
    let me = Owner::current();
    assert_eq!(ask(&kept, me, &a, 1), "c0");
    assert_eq!(ask(&kept, me, &b, 2), "c0");
    a.wait_closed(0);
    assert_eq!(ask(&kept, me, &b, 3), "c0");
}

/// The program closed the socket's descriptor and its number now holds a
/// file of the program's: that file is neither written to nor closed.
#[test]
fn a_descriptor_number_the_program_took_back_is_left_alone() {
    let (d, kept, me) = started("taken", usize::MAX, None);
    assert_eq!(ask(&kept, me, &d, 1), "c0");
    let number = kept_fd(&kept);
    let theirs = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/null")
        .unwrap();
    // SAFETY: `number` is the kept socket's descriptor, which this test
    // replaces (as the program would) with a copy of `theirs`; nothing
    // else in this test uses that number meanwhile.
    assert_eq!(unsafe { libc::dup2(theirs.as_raw_fd(), number) }, number);
    d.wait_closed(0);
    assert_eq!(ask(&kept, me, &d, 2), "c1");
    // SAFETY: `number` is open (the dup2 above) for the rest of the test.
    let still = unsafe { BorrowedFd::borrow_raw(number) };
    let file = |fd: BorrowedFd<'_>| nix::sys::stat::fstat(fd).map(|st| (st.st_dev, st.st_ino));
    assert_eq!(
        file(still).ok(),
        file(theirs.as_fd()).ok(),
        "the program's file was closed"
    );
    // SAFETY: the test's own copy made by dup2, closed once.
    unsafe { libc::close(number) };
}

#[test]
fn a_held_lock_is_never_waited_for() {
    let (d, kept, me) = started("held", usize::MAX, None);
    assert_eq!(ask(&kept, me, &d, 1), "c0");
    let held = kept.slot.lock().unwrap();
    assert_eq!(ask(&kept, me, &d, 2), "c1");
    d.wait_closed(1);
    drop(held);
    assert_eq!(ask(&kept, me, &d, 3), "c0");
}

/// A reply that came after its call timed out is never read as the next
/// call's answer: the connection it would arrive on is dropped.
#[test]
fn a_late_reply_never_answers_the_next_request() {
    let (d, kept, me) = started("late", usize::MAX, Some((1, Duration::from_millis(300))));
    assert_eq!(ask(&kept, me, &d, 3), "c0");
    let late = kept.exchange_as(
        me,
        &d.path,
        &Request::UserByUid(1),
        Duration::from_millis(100),
    );
    assert!(matches!(late, Err(ClientError::Timeout(_))), "{late:?}");
    assert_eq!(ask(&kept, me, &d, 2), "c1");
}

#[test]
fn no_daemon_is_unreachable_and_nothing_is_kept() {
    let kept = KeptConnection::new();
    let err = kept
        .exchange(
            Path::new("/nonexistent/roster/nss.sock"),
            &Request::UserByUid(1),
            TIMEOUT,
        )
        .unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
    assert!(kept.slot.lock().unwrap().is_none());
}
