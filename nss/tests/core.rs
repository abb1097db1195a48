//! The module's core against a fake daemon: a thread serving a temporary
//! Unix socket with roster_proto's codec.

use nss_roster::pack::{self, CBuf, PackError};
use nss_roster::retry::RetryStash;
use nss_roster::{Answer, Backoff, Lookup, NssConfig, Page};
use roster_proto::{decode_request, encode_response, parse_header, Group, Request, Response, User};
use std::io::{Read, Write};
use std::mem::MaybeUninit;
use std::os::unix::net::UnixListener;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

type Handler = Box<dyn Fn(&Request) -> Option<Response> + Send + Sync>;

/// A daemon double: answers each request with `handler` (None = never
/// answer), records every request it saw.
struct FakeDaemon {
    dir: PathBuf,
    socket: PathBuf,
    seen: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

fn temp_dir(tag: &str) -> PathBuf {
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("nss-core-{}-{tag}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

impl FakeDaemon {
    fn start(handler: impl Fn(&Request) -> Option<Response> + Send + Sync + 'static) -> Self {
        let handler: Handler = Box::new(handler);
        let dir = temp_dir("daemon");
        let socket = dir.join("nss.sock");
        let listener = UnixListener::bind(&socket).unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen2, stop2) = (Arc::clone(&seen), Arc::clone(&stop));
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            for conn in listener.incoming() {
                if stop2.load(Ordering::SeqCst) {
                    break;
                }
                let mut s = conn.unwrap();
                let mut prefix = [0u8; 4];
                if s.read_exact(&mut prefix).is_err() {
                    continue;
                }
                let h = parse_header(prefix).unwrap();
                let mut body = vec![0; h.len];
                s.read_exact(&mut body).unwrap();
                let req = decode_request(&body).unwrap();
                seen2.lock().unwrap().push(req.clone());
                match handler(&req) {
                    Some(resp) => {
                        let _ = s.write_all(&encode_response(&resp));
                    }
                    None => held.push(s),
                }
            }
        });
        FakeDaemon {
            dir,
            socket,
            seen,
            stop,
            thread: Some(thread),
        }
    }

    fn lookup<'a>(&'a self, config: &'a NssConfig) -> Lookup<'a> {
        Lookup::new(config, &self.socket)
    }

    fn requests(&self) -> Vec<Request> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for FakeDaemon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = std::os::unix::net::UnixStream::connect(&self.socket);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

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

fn staff() -> Group {
    Group {
        name: "staff".into(),
        gid: 10010,
        members: vec!["alice".into(), "bob".into()],
    }
}

/// A directory with alice, staff, and groups for alice.
fn directory(req: &Request) -> Option<Response> {
    Some(match req {
        Request::UserByName(n) if n == "alice" => Response::User(alice()),
        Request::UserByUid(10001) => Response::User(alice()),
        Request::GroupByName(n) if n == "staff" => Response::Group(staff()),
        Request::GroupByGid(10010) => Response::Group(staff()),
        Request::GroupsOfUser(n) if n == "alice" => Response::Gids(vec![10000, 10010, 27]),
        _ => Response::NotFound,
    })
}

#[test]
fn found_entries_come_back_whole() {
    let d = FakeDaemon::start(directory);
    let config = NssConfig::default();
    let l = d.lookup(&config);
    assert_eq!(l.user_by_name("alice"), Answer::Found(alice()));
    assert_eq!(l.user_by_uid(10001), Answer::Found(alice()));
    assert_eq!(l.group_by_name("staff"), Answer::Found(staff()));
    assert_eq!(l.group_by_gid(10010), Answer::Found(staff()));
    assert_eq!(
        l.groups_of_user("alice"),
        Answer::Found(vec![10000, 10010]),
        "gid 27 is below min_id and dropped"
    );
    assert_eq!(
        d.requests(),
        vec![
            Request::UserByName("alice".into()),
            Request::UserByUid(10001),
            Request::GroupByName("staff".into()),
            Request::GroupByGid(10010),
            Request::GroupsOfUser("alice".into()),
        ]
    );
}

#[test]
fn not_found_is_notfound() {
    let d = FakeDaemon::start(directory);
    let config = NssConfig::default();
    let l = d.lookup(&config);
    assert_eq!(l.user_by_name("nobody-here"), Answer::NotFound);
    assert_eq!(l.user_by_uid(55555), Answer::NotFound);
    assert_eq!(l.group_by_name("nogroup-here"), Answer::NotFound);
    assert_eq!(l.group_by_gid(55555), Answer::NotFound);
    assert_eq!(l.groups_of_user("nobody-here"), Answer::NotFound);
}

#[test]
fn daemon_failures_are_unavailable() {
    let d = FakeDaemon::start(|req| {
        Some(match req {
            Request::UserByName(_) => Response::Unavailable("directory down".into()),
            Request::UserByUid(_) => Response::Error("bug".into()),
            // A reply of the wrong kind is a daemon fault, not an entry.
            Request::GroupByName(_) => Response::User(alice()),
            _ => Response::Admin(Ok(roster_proto::AdminReply::Reloaded)),
        })
    });
    let config = NssConfig::default();
    let l = d.lookup(&config);
    assert_eq!(l.user_by_name("alice"), Answer::Unavailable);
    assert_eq!(l.user_by_uid(10001), Answer::Unavailable);
    assert_eq!(l.group_by_name("staff"), Answer::Unavailable);
    assert_eq!(l.group_by_gid(10010), Answer::Unavailable);
    assert_eq!(l.groups_of_user("alice"), Answer::Unavailable);
}

#[test]
fn no_socket_is_unavailable() {
    let dir = temp_dir("nosock");
    let config = NssConfig::default();
    let socket = dir.join("nss.sock");
    let l = Lookup::new(&config, &socket);
    assert_eq!(l.user_by_name("alice"), Answer::Unavailable);
    assert_eq!(l.groups_of_user("alice"), Answer::Unavailable);
    // A socket file nobody listens on: connection refused.
    drop(UnixListener::bind(&socket).unwrap());
    assert_eq!(l.user_by_uid(10001), Answer::Unavailable);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn silent_daemon_is_unavailable_after_the_timeout() {
    let d = FakeDaemon::start(|_| None);
    let config = NssConfig::parse("timeout_ms=100");
    assert_eq!(d.lookup(&config).user_by_name("alice"), Answer::Unavailable);
    assert_eq!(d.requests().len(), 1);
}

#[test]
fn an_enumeration_page_may_take_longer_than_a_lookup() {
    // The daemon takes 300 ms for every answer: over timeout_ms, within
    // enumerate_timeout_ms. Lookups give up, enumeration pages wait.
    let d = FakeDaemon::start(|req| {
        std::thread::sleep(Duration::from_millis(300));
        match req {
            Request::ListUsers { .. } => Some(Response::Users {
                entries: vec![alice()],
                more: false,
            }),
            other => directory(other),
        }
    });
    let config = NssConfig::parse("timeout_ms=100\nenumerate_timeout_ms=5000");
    let page = d.lookup(&config).list_users(0);
    let Answer::Found(page) = page else {
        panic!("enumeration page not answered: {page:?}")
    };
    assert_eq!(page.entries.len(), 1);
    let slow = NssConfig::parse("timeout_ms=100\nenumerate_timeout_ms=100");
    assert_eq!(d.lookup(&slow).list_users(0), Answer::Unavailable);
}

#[test]
fn ignored_names_and_low_ids_never_reach_the_daemon() {
    let d = FakeDaemon::start(directory);
    let config = NssConfig::parse("ignore_users=daemon,sshd\nignore_groups=adm\nmin_id=1000");
    let l = d.lookup(&config);
    assert_eq!(l.user_by_name("root"), Answer::NotFound);
    assert_eq!(l.user_by_name("sshd"), Answer::NotFound);
    assert_eq!(l.user_by_name(""), Answer::NotFound);
    assert_eq!(l.groups_of_user("root"), Answer::NotFound);
    assert_eq!(l.groups_of_user("daemon"), Answer::NotFound);
    assert_eq!(l.group_by_name("root"), Answer::NotFound);
    assert_eq!(l.group_by_name("adm"), Answer::NotFound);
    assert_eq!(l.user_by_uid(0), Answer::NotFound);
    assert_eq!(l.user_by_uid(999), Answer::NotFound);
    assert_eq!(l.group_by_gid(4), Answer::NotFound);
    assert!(d.requests().is_empty(), "{:?}", d.requests());
}

#[test]
fn directory_entries_below_min_id_are_never_served() {
    // A directory object claiming uid 0 (or an ignored name) must not
    // become a second root.
    let d = FakeDaemon::start(|req| {
        Some(match req {
            Request::UserByName(n) => Response::User(User {
                name: n.clone(),
                uid: if n == "evil" { 0 } else { 10001 },
                ..alice()
            }),
            Request::UserByUid(uid) => Response::User(User {
                name: "root".into(),
                uid: *uid,
                ..alice()
            }),
            Request::GroupByGid(gid) => Response::Group(Group {
                name: "g".into(),
                gid: gid + 1,
                members: vec![],
            }),
            _ => Response::NotFound,
        })
    });
    let config = NssConfig::default();
    let l = d.lookup(&config);
    assert_eq!(l.user_by_name("evil"), Answer::NotFound);
    assert_eq!(l.user_by_uid(10001), Answer::NotFound, "named root");
    assert_eq!(l.group_by_gid(10010), Answer::Unavailable, "wrong gid");
}

#[test]
fn entries_with_nul_bytes_are_refused() {
    let d = FakeDaemon::start(|_| {
        Some(Response::User(User {
            gecos: "a\0b".into(),
            ..alice()
        }))
    });
    let config = NssConfig::default();
    assert_eq!(d.lookup(&config).user_by_name("alice"), Answer::Unavailable);
}

#[test]
fn tiny_buffer_is_erange_then_a_larger_one_succeeds() {
    let d = FakeDaemon::start(directory);
    let config = NssConfig::default();
    let Answer::Found(user) = d.lookup(&config).user_by_name("alice") else {
        panic!("alice not found")
    };
    // SAFETY: all-zero is a valid struct passwd.
    let mut out: libc::passwd = unsafe { std::mem::zeroed() };
    let mut tiny = [MaybeUninit::<u8>::uninit(); 8];
    assert_eq!(
        pack::passwd(&user.view(), &mut out, &mut CBuf::new(&mut tiny)),
        Err(PackError::Range)
    );
    assert!(out.pw_name.is_null(), "nothing half-filled");
    let mut big = [MaybeUninit::<u8>::uninit(); 1024];
    pack::passwd(&user.view(), &mut out, &mut CBuf::new(&mut big)).unwrap();
    assert_eq!(out.pw_uid, 10001);

    let Answer::Found(group) = d.lookup(&config).group_by_name("staff") else {
        panic!("staff not found")
    };
    // SAFETY: all-zero is a valid struct group.
    let mut gout: libc::group = unsafe { std::mem::zeroed() };
    let mut tiny = [MaybeUninit::<u8>::uninit(); 20];
    assert_eq!(
        pack::group(&group.view(), &mut gout, &mut CBuf::new(&mut tiny)),
        Err(PackError::Range)
    );
    assert!(gout.gr_name.is_null() && gout.gr_mem.is_null());
}

#[test]
fn enumeration_pages() {
    // One full page and part of a second.
    let page = nss_roster::lookup::USER_PAGE_SIZE;
    let total = page + 100;
    let d = FakeDaemon::start(move |req| {
        Some(match req {
            Request::ListUsers { offset, limit } => {
                let end = (offset + limit).min(total);
                Response::Users {
                    entries: (*offset..end)
                        .map(|i| User {
                            name: format!("u{i}"),
                            // Every 100th entry has an ID below min_id.
                            uid: if i % 100 == 0 { 5 } else { 20000 + i },
                            ..alice()
                        })
                        .collect(),
                    more: end < total,
                }
            }
            Request::ListGroups { .. } => Response::Groups {
                entries: vec![],
                more: false,
            },
            _ => Response::NotFound,
        })
    });
    let config = NssConfig::default();
    let l = d.lookup(&config);
    let Answer::Found(Page {
        entries,
        received,
        more,
    }) = l.list_users(0)
    else {
        panic!("no page")
    };
    // Every 100th entry of a page is left out.
    let kept = |n: u32| (n - n.div_ceil(100)) as usize;
    assert_eq!((entries.len(), received, more), (kept(page), page, true));
    let mut cursor = nss_roster::enumerate::Cursor::new();
    let mut names = Vec::new();
    while let Answer::Found(u) = cursor.current(|off| l.list_users(off)) {
        names.push(u.name.clone());
        cursor.advance();
    }
    assert_eq!(names.len(), kept(total));
    assert_eq!(names.first().map(String::as_str), Some("u1"));
    let last = format!("u{}", total - 1);
    assert_eq!(names.last(), Some(&last));
    let Answer::Found(empty) = l.list_groups(0) else {
        panic!("groups listing failed")
    };
    assert!(empty.entries.is_empty() && !empty.more);
}

#[test]
fn each_call_uses_its_own_connection() {
    let d = FakeDaemon::start(directory);
    let config = NssConfig::default();
    let l = d.lookup(&config);
    for _ in 0..5 {
        assert_eq!(l.user_by_uid(10001), Answer::Found(alice()));
    }
    assert_eq!(d.requests().len(), 5);
}

mod memcache {
    use super::*;
    use roster_proto::memcache::{
        monotonic_ms, MemcacheReader, MemcacheWriter, Record, MEMCACHE_FILE_NAME,
    };

    #[test]
    fn hits_need_no_daemon_and_misses_ask_it() {
        let d = FakeDaemon::start(directory);
        let mc = d.dir.join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&mc, 256, 1 << 16).unwrap();
        let later = monotonic_ms() + 60_000;
        let cached_alice = User {
            gecos: "from the memory cache".into(),
            ..alice()
        };
        w.put(&Record::User(cached_alice.clone()), later).unwrap();
        w.put(&Record::Group(staff()), later).unwrap();
        w.put(
            &Record::Initgroups {
                user: "alice".into(),
                gids: vec![10010, 4, 10000],
            },
            later,
        )
        .unwrap();
        let reader = MemcacheReader::new();
        let config = NssConfig::default();
        let l = d.lookup(&config).with_memcache(&reader, &mc);
        assert_eq!(l.user_by_name("alice"), Answer::Found(cached_alice.clone()));
        assert_eq!(l.user_by_uid(10001), Answer::Found(cached_alice));
        assert_eq!(l.group_by_name("staff"), Answer::Found(staff()));
        assert_eq!(l.group_by_gid(10010), Answer::Found(staff()));
        assert_eq!(l.groups_of_user("alice"), Answer::Found(vec![10010, 10000]));
        assert!(d.requests().is_empty(), "{:?}", d.requests());
        assert_eq!(l.user_by_name("bob"), Answer::NotFound);
        assert_eq!(d.requests(), vec![Request::UserByName("bob".into())]);
    }

    #[test]
    fn no_such_entry_records_answer_not_found_until_they_expire() {
        use roster_proto::memcache::OwnedKey;
        // A daemon that knows everyone: only the records say "not found".
        let d = FakeDaemon::start(|req| match req {
            Request::UserByName(name) => Some(Response::User(User {
                name: name.clone(),
                ..alice()
            })),
            Request::UserByUid(uid) => Some(Response::User(User {
                uid: *uid,
                ..alice()
            })),
            Request::GroupByName(_) | Request::GroupByGid(_) => Some(Response::Group(staff())),
            Request::GroupsOfUser(_) => Some(Response::Gids(vec![10000])),
            _ => None,
        });
        let mc = d.dir.join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&mc, 256, 1 << 16).unwrap();
        let later = monotonic_ms() + 60_000;
        for key in [
            OwnedKey::UserName("alice".into()),
            OwnedKey::Uid(10001),
            OwnedKey::GroupName("staff".into()),
            OwnedKey::Gid(10010),
            OwnedKey::GroupsOf("alice".into()),
        ] {
            w.put(&Record::Missing(key), later).unwrap();
        }
        w.put(
            &Record::Missing(OwnedKey::UserName("bob".into())),
            monotonic_ms().saturating_sub(1),
        )
        .unwrap();
        let reader = MemcacheReader::new();
        let config = NssConfig::default();
        let l = d.lookup(&config).with_memcache(&reader, &mc);
        assert_eq!(l.user_by_name("alice"), Answer::NotFound);
        assert_eq!(l.user_by_uid(10001), Answer::NotFound);
        assert_eq!(l.group_by_name("staff"), Answer::NotFound);
        assert_eq!(l.group_by_gid(10010), Answer::NotFound);
        assert_eq!(l.groups_of_user("alice"), Answer::NotFound);
        assert!(d.requests().is_empty(), "{:?}", d.requests());
        // Expired: the daemon is asked; another key: likewise.
        let bob = User {
            name: "bob".into(),
            ..alice()
        };
        assert_eq!(l.user_by_name("bob"), Answer::Found(bob));
        let other = User {
            uid: 10002,
            ..alice()
        };
        assert_eq!(l.user_by_uid(10002), Answer::Found(other));
        assert_eq!(
            d.requests(),
            vec![Request::UserByName("bob".into()), Request::UserByUid(10002)]
        );
    }

    #[test]
    fn expired_or_withdrawn_entries_go_to_the_daemon() {
        let d = FakeDaemon::start(directory);
        let mc = d.dir.join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&mc, 256, 1 << 16).unwrap();
        let stale = User {
            gecos: "stale".into(),
            ..alice()
        };
        w.put(&Record::User(stale), monotonic_ms().saturating_sub(1))
            .unwrap();
        let reader = MemcacheReader::new();
        let config = NssConfig::default();
        let l = d.lookup(&config).with_memcache(&reader, &mc);
        assert_eq!(l.user_by_name("alice"), Answer::Found(alice()));
        w.put(&Record::Group(staff()), monotonic_ms() + 60_000)
            .unwrap();
        assert_eq!(l.group_by_gid(10010), Answer::Found(staff()));
        w.retire();
        assert_eq!(l.group_by_gid(10010), Answer::Found(staff()));
        assert_eq!(
            d.requests(),
            vec![
                Request::UserByName("alice".into()),
                Request::GroupByGid(10010)
            ]
        );
    }

    #[test]
    fn the_policy_applies_to_cached_entries_too() {
        let dir = temp_dir("mc-policy");
        let mc = dir.join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&mc, 256, 1 << 16).unwrap();
        let evil = User {
            name: "evil".into(),
            uid: 0,
            ..alice()
        };
        w.put(&Record::User(evil), monotonic_ms() + 60_000).unwrap();
        let reader = MemcacheReader::new();
        let config = NssConfig::default();
        let socket = dir.join("nss.sock");
        let l = Lookup::new(&config, &socket).with_memcache(&reader, &mc);
        assert_eq!(l.user_by_name("evil"), Answer::NotFound);
        drop(w);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

mod in_place {
    use super::*;
    use roster_proto::memcache::{
        monotonic_ms, MemcacheReader, MemcacheWriter, Record, MEMCACHE_FILE_NAME,
    };
    use std::ffi::CStr;

    fn members(out: &libc::group) -> Vec<String> {
        let mut v = Vec::new();
        for i in 0.. {
            // SAFETY: gr_mem is a NULL-terminated array filled by pack.
            let p = unsafe { *out.gr_mem.add(i) };
            if p.is_null() {
                break;
            }
            // SAFETY: p is a NUL-terminated string inside the buffer.
            v.push(unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned());
        }
        v
    }

    #[test]
    fn cached_groups_are_packed_straight_from_the_mapping() {
        let d = FakeDaemon::start(|_| Some(Response::NotFound));
        let mc = d.dir.join(MEMCACHE_FILE_NAME);
        let mut w = MemcacheWriter::create(&mc, 256, 1 << 20).unwrap();
        let big = Group {
            name: "biggroup".into(),
            gid: 10050,
            members: (1..=5000).map(|i| format!("u{i:05}")).collect(),
        };
        w.put(&Record::Group(big.clone()), monotonic_ms() + 60_000)
            .unwrap();
        let reader = MemcacheReader::new();
        let config = NssConfig::default();
        let l = d.lookup(&config).with_memcache(&reader, &mc);

        // Too small: ERANGE, nothing filled; then large enough: whole.
        // SAFETY: all-zero is a valid struct group.
        let mut out: libc::group = unsafe { std::mem::zeroed() };
        let mut small = vec![MaybeUninit::<u8>::uninit(); 4096];
        let r = l.group_by_gid_with(
            10050,
            |g| pack::group(g, &mut out, &mut CBuf::new(&mut small)),
            Result::is_err,
        );
        assert_eq!(r, Answer::Found(Err(PackError::Range)));
        assert!(out.gr_name.is_null());
        let mut large = vec![MaybeUninit::<u8>::uninit(); 1 << 20];
        let r = l.group_by_name_with(
            "biggroup",
            |g| pack::group(g, &mut out, &mut CBuf::new(&mut large)),
            Result::is_err,
        );
        assert_eq!(r, Answer::Found(Ok(())));
        assert_eq!(out.gr_gid, 10050);
        assert_eq!(members(&out), big.members);
        assert!(d.requests().is_empty(), "served from the mapping");
        assert_eq!(l.group_by_gid(10050), Answer::Found(big));
    }

    /// glibc's retries with a doubled buffer after ERANGE (from 1 KiB):
    /// the daemon is asked once, the retries are served from its answer.
    #[test]
    fn a_group_too_big_for_the_buffer_is_asked_of_the_daemon_once() {
        let big = Group {
            name: "biggroup".into(),
            gid: 10050,
            members: (1..=5000).map(|i| format!("u{i:05}")).collect(),
        };
        let answer = big.clone();
        let d = FakeDaemon::start(move |_| Some(Response::Group(answer.clone())));
        let config = NssConfig::default();
        let stash = RetryStash::new();
        let l = d.lookup(&config).with_retry_stash(&stash);
        // SAFETY: all-zero is a valid struct group.
        let mut out: libc::group = unsafe { std::mem::zeroed() };
        // (The filled entry points into the last buffer: it outlives the loop.)
        let mut buf = vec![MaybeUninit::<u8>::uninit(); 1024];
        loop {
            let r = l.group_by_name_with(
                "biggroup",
                |g| pack::group(g, &mut out, &mut CBuf::new(&mut buf)),
                Result::is_err,
            );
            match r {
                Answer::Found(Ok(())) => break,
                Answer::Found(Err(PackError::Range)) => {
                    buf = vec![MaybeUninit::<u8>::uninit(); buf.len() * 2];
                }
                other => panic!("{other:?}"),
            }
        }
        assert!(buf.len() >= 64 * 1024, "{}", buf.len());
        assert_eq!(members(&out), big.members);
        assert_eq!(d.requests(), [Request::GroupByName("biggroup".into())]);
        // Once it fitted, the next call asks again.
        assert_eq!(l.group_by_name("biggroup"), Answer::Found(big.clone()));
        assert_eq!(d.requests().len(), 2);
        // Without a stash every retry asks.
        let plain = d.lookup(&config);
        let mut small = vec![MaybeUninit::<u8>::uninit(); 1024];
        for _ in 0..2 {
            let r = plain.group_by_gid_with(
                10050,
                |g| pack::group(g, &mut out, &mut CBuf::new(&mut small)),
                Result::is_err,
            );
            assert_eq!(r, Answer::Found(Err(PackError::Range)));
        }
        assert_eq!(d.requests().len(), 4);
    }
}

#[test]
fn after_one_timeout_a_hung_daemon_is_not_asked_again_within_the_window() {
    let d = FakeDaemon::start(|_| None);
    let config = NssConfig::parse("timeout_ms=100");
    let backoff = Backoff::new(Duration::from_secs(60));
    let l = d.lookup(&config).with_backoff(&backoff);
    assert_eq!(l.user_by_name("alice"), Answer::Unavailable);
    // Every further call of this process: unavailable, nothing sent.
    assert_eq!(l.user_by_name("bob"), Answer::Unavailable);
    assert_eq!(l.user_by_uid(10001), Answer::Unavailable);
    assert_eq!(l.group_by_name("staff"), Answer::Unavailable);
    assert_eq!(l.groups_of_user("alice"), Answer::Unavailable);
    assert!(matches!(l.list_users(0), Answer::Unavailable));
    // Without the back-off every call pays (and reaches the socket).
    let plain = d.lookup(&config);
    assert_eq!(plain.user_by_name("bob"), Answer::Unavailable);
    assert_eq!(plain.user_by_name("carol"), Answer::Unavailable);
    // The fake records in arrival order: once the last plain request is
    // in, anything sent within the window would be too.
    let seen = requests_until(&d, &Request::UserByName("carol".into()));
    assert_eq!(
        seen,
        [
            Request::UserByName("alice".into()),
            Request::UserByName("bob".into()),
            Request::UserByName("carol".into())
        ]
    );
}

/// The requests `d` saw, once `last` is among them (the fake reads on its
/// own thread, which may lag behind a client that already gave up).
fn requests_until(d: &FakeDaemon, last: &Request) -> Vec<Request> {
    for _ in 0..1000 {
        let seen = d.requests();
        if seen.contains(last) {
            return seen;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("{last:?} never reached the fake daemon: {:?}", d.requests());
}

#[test]
fn back_off_ends_with_its_window_and_only_timeouts_open_one() {
    // A window of zero: the daemon is asked again at once.
    let d = FakeDaemon::start(|_| None);
    let config = NssConfig::parse("timeout_ms=50");
    let none = Backoff::new(Duration::ZERO);
    let l = d.lookup(&config).with_backoff(&none);
    assert_eq!(l.user_by_name("alice"), Answer::Unavailable);
    assert_eq!(l.user_by_name("bob"), Answer::Unavailable);
    assert_eq!(
        requests_until(&d, &Request::UserByName("bob".into())).len(),
        2
    );
    // A daemon that is down (no socket) is fast anyway: no window opens,
    // so it is used as soon as it is back.
    let backoff = Backoff::new(Duration::from_secs(60));
    let config = NssConfig::default();
    let gone = Lookup::new(
        &config,
        std::path::Path::new("/nonexistent/roster/nss.sock"),
    )
    .with_backoff(&backoff);
    assert_eq!(gone.user_by_name("alice"), Answer::Unavailable);
    assert!(!backoff.active());
    // Answers keep it closed.
    let up = FakeDaemon::start(directory);
    let l = up.lookup(&config).with_backoff(&backoff);
    assert!(matches!(l.user_by_name("alice"), Answer::Found(_)));
    assert!(!backoff.active());
}

#[test]
fn netgroups_come_back_with_their_triples_and_nul_bytes_are_refused() {
    use roster_proto::{Netgroup, Triple};
    let admins = Netgroup {
        name: "admins".into(),
        triples: vec![
            Triple {
                host: "h1".into(),
                user: String::new(),
                domain: "-".into(),
            },
            Triple::default(),
        ],
    };
    let reply = admins.clone();
    let d = FakeDaemon::start(move |req| {
        Some(match req {
            Request::NetgroupByName(n) if n == "admins" => Response::Netgroup(reply.clone()),
            Request::NetgroupByName(n) if n == "nul" => Response::Netgroup(Netgroup {
                name: "nul".into(),
                triples: vec![Triple {
                    host: "a\0b".into(),
                    ..Triple::default()
                }],
            }),
            Request::NetgroupByName(n) if n == "down" => Response::Unavailable("x".into()),
            _ => Response::NotFound,
        })
    });
    let config = NssConfig::default();
    let l = d.lookup(&config);
    assert_eq!(l.netgroup("admins"), Answer::Found(admins));
    assert_eq!(l.netgroup("ghost"), Answer::NotFound);
    assert_eq!(l.netgroup("nul"), Answer::Unavailable);
    assert_eq!(l.netgroup("down"), Answer::Unavailable);
    assert_eq!(l.netgroup(""), Answer::NotFound);
    assert_eq!(d.requests().len(), 4, "an empty name is never sent");
}
