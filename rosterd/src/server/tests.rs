use super::*;
use roster_daemon::cache::SystemClock;
use roster_daemon::resolver::fake::FakeDirectory;
use roster_daemon::resolver::{Provider, Settings};
use roster_proto::admin::{document, AdminReply, AdminRequest, FlushTarget, LookupKind};
use roster_proto::{
    decode_response, encode_request, parse_header, Client, Failure, PamCode, Request, Response,
};
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

struct Running {
    dir: tempfile::TempDir,
    server: Server,
    directory: Arc<FakeDirectory>,
}

impl Running {
    fn nss(&self) -> PathBuf {
        self.dir.path().join("nss.sock")
    }
    fn pam(&self) -> PathBuf {
        self.dir.path().join("pam.sock")
    }
    fn pam_user(&self) -> PathBuf {
        self.dir.path().join("pam-user.sock")
    }
}

/// Local accounts that hide nothing (the host's /etc/group may have a
/// "staff").
fn no_locals() -> roster_daemon::resolver::local::LocalAccounts {
    let p = std::path::Path::new("/nonexistent/roster-test");
    roster_daemon::resolver::local::LocalAccounts::from_paths(&p.join("passwd"), &p.join("group"))
}

fn my_uid() -> u32 {
    nix::unistd::getuid().as_raw()
}

/// The shared state of a daemon serving `domains` (no local accounts, no
/// memory cache).
fn context(domains: Vec<Arc<dyn Provider>>) -> Context {
    Context {
        resolver: Resolver::with_local_accounts(
            domains,
            Settings::default(),
            None,
            Arc::new(SystemClock),
            no_locals(),
        ),
        pam: pam::PamState::default(),
        reload: None,
        memcache: None,
    }
}

fn start_with(limits: Limits) -> Running {
    let dir = tempfile::tempdir().unwrap();
    let directory = FakeDirectory::new("example");
    directory.add_user("alice", 10001, 10000);
    directory.add_group("users", 10000, &[]);
    directory.add_group("staff", 10010, &["alice"]);
    let ctx = Arc::new(context(vec![directory.clone()]));
    let server = Server::start(dir.path(), ctx, limits).unwrap();
    Running {
        dir,
        server,
        directory,
    }
}

fn start() -> Running {
    start_with(Limits {
        pam_peer_uid: my_uid(),
        ..Limits::default()
    })
}

/// One request through the real blocking client (as the modules do).
async fn call(path: PathBuf, req: Request) -> Response {
    tokio::task::spawn_blocking(move || {
        Client::request_once(&path, &req, Duration::from_secs(10)).unwrap()
    })
    .await
    .unwrap()
}

/// Sends raw bytes and reads one reply frame, or `None` if the daemon
/// closed the connection without replying.
async fn raw(path: &Path, bytes: &[u8], then_close_write: bool) -> Option<Response> {
    let mut s = tokio::net::UnixStream::connect(path).await.unwrap();
    // A refused connection may be closed before the bytes are written: its
    // reply is still there to read.
    if s.write_all(bytes).await.is_err() {
        return read_reply(&mut s).await;
    }
    if then_close_write {
        s.shutdown().await.unwrap();
    }
    read_reply(&mut s).await
}

async fn read_reply(s: &mut tokio::net::UnixStream) -> Option<Response> {
    let mut prefix = [0u8; 4];
    s.read_exact(&mut prefix).await.ok()?;
    let h = parse_header(prefix).unwrap();
    let mut body = vec![0; h.len];
    s.read_exact(&mut body).await.unwrap();
    Some(decode_response(&body).unwrap())
}

fn error_text(r: Option<Response>) -> String {
    match r {
        Some(Response::Error(m)) => m,
        other => panic!("expected an error reply, got {other:?}"),
    }
}

/// A context whose answers on nss.sock are published into
/// `dir/nss.mc`, at most `limit` bytes.
fn publishing_ctx(resolver: Resolver, dir: &std::path::Path, limit: usize) -> Arc<Context> {
    Arc::new(Context {
        resolver,
        pam: pam::PamState::default(),
        reload: None,
        memcache: Some(
            crate::memcache_publish::MemcachePublisher::start(dir, limit, None).unwrap(),
        ),
    })
}

/// A server on `dir`'s sockets over `directory` (default settings) whose
/// answers are published into `dir/nss.mc` (1 MiB at most): its context,
/// the server, `nss.sock` and `nss.mc`.
fn publishing_server(
    directory: &Arc<FakeDirectory>,
    dir: &std::path::Path,
) -> (Arc<Context>, Server, std::path::PathBuf, std::path::PathBuf) {
    let domains: Vec<Arc<dyn Provider>> = vec![directory.clone()];
    let resolver = Resolver::new(domains, Settings::default(), None, Arc::new(SystemClock));
    let ctx = publishing_ctx(resolver, dir, 1 << 20);
    let server = Server::start(dir, ctx.clone(), Limits::default()).unwrap();
    (ctx, server, dir.join("nss.sock"), dir.join("nss.mc"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lookups_over_nss_sock() {
    let rd = start();
    match call(rd.nss(), Request::UserByName("alice".into())).await {
        Response::User(u) => assert_eq!(
            (u.uid, u.gid, u.home.as_str()),
            (10001, 10000, "/home/alice")
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        call(rd.nss(), Request::UserByUid(10001)).await,
        Response::User(_)
    ));
    assert_eq!(
        call(rd.nss(), Request::UserByName("ghost".into())).await,
        Response::NotFound
    );
    assert_eq!(
        call(rd.nss(), Request::GroupsOfUser("alice".into())).await,
        Response::Gids(vec![10000, 10010])
    );
    match call(rd.nss(), Request::GroupByGid(10010)).await {
        Response::Group(g) => assert_eq!(
            (g.name.as_str(), g.members),
            ("staff", vec!["alice".to_string()])
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        call(
            rd.nss(),
            Request::ListUsers {
                offset: 0,
                limit: 10
            }
        )
        .await,
        Response::Users {
            entries: vec![],
            more: false
        }
    );
    let st = status_document(call(rd.pam(), Request::Status).await);
    assert_eq!(st["domains"][0]["name"], "example");
    assert_eq!(st["domains"][0]["online"], true);
    assert!(st["cache"]["hits"].as_u64().is_some());
    // Several requests on one connection.
    let path = rd.nss();
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&path, Duration::from_secs(5)).unwrap();
        for _ in 0..3 {
            assert!(matches!(
                c.call(&Request::UserByUid(10001)).unwrap(),
                Response::User(_)
            ));
        }
    })
    .await
    .unwrap();
    rd.directory.set_online(false);
    assert!(matches!(
        call(rd.nss(), Request::UserByName("bob".into())).await,
        Response::Unavailable(_)
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn socket_modes_and_removal_on_shutdown() {
    let rd = start();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&rd.nss()), 0o666);
    assert_eq!(mode(&rd.pam()), 0o600);
    // A second daemon on the same directory is refused.
    let ctx = Arc::new(Context {
        resolver: Resolver::new(vec![], Settings::default(), None, Arc::new(SystemClock)),
        pam: pam::PamState::default(),
        reload: None,
        memcache: None,
    });
    assert!(matches!(
        Server::start(rd.dir.path(), ctx, Limits::default()),
        Err(ServerError::InUse(_))
    ));
    let (nss, pam, user) = (rd.nss(), rd.pam(), rd.pam_user());
    assert_eq!(mode(&user), 0o666);
    rd.server.shutdown().await;
    assert!(!nss.exists() && !pam.exists() && !user.exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pam_user_sock_serves_only_the_callers_own_authentication() {
    let rd = start();
    // Any other request is refused, naming the socket that serves it.
    for (req, served) in [
        (
            Request::PamAccount {
                user: "alice".into(),
                service: "sshd".into(),
                rhost: String::new(),
            },
            "pam.sock",
        ),
        (
            Request::PamResetPassword {
                user: "alice".into(),
                service: "passwd".into(),
                new_password: roster_proto::Secret::from("n3w-pw"),
            },
            "pam.sock",
        ),
        (Request::UserByName("alice".into()), "nss.sock"),
        (Request::Admin(AdminRequest::CacheStats), "pam.sock"),
    ] {
        let code = req.code();
        match call(rd.pam_user(), req).await {
            Response::Error(m) => assert!(
                m.contains(&format!(
                    "request code {code} is not served on pam-user.sock"
                )) && m.contains(served),
                "{m}"
            ),
            other => panic!("code {code}: {other:?}"),
        }
    }
    // alice (uid 10001) is not this process's account: the answer of an
    // unknown user, with the same message.
    let auth = Request::PamAuthenticate {
        user: "alice".into(),
        service: "swaylock".into(),
        rhost: String::new(),
        password: roster_proto::Secret::from("alice-pw"),
    };
    match call(rd.pam_user(), auth).await {
        Response::Pam(r) => {
            assert_eq!(r.code, PamCode::UserUnknown);
            assert!(
                r.message.contains("Only the password of the account"),
                "{r:?}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nss_sock_refuses_pam_and_admin_requests() {
    let rd = start();
    let pam_req = Request::PamAccount {
        user: "alice".into(),
        service: "sshd".into(),
        rhost: String::new(),
    };
    match call(rd.nss(), pam_req).await {
        Response::Error(m) => assert!(
            m.contains("refused: request code 21 is served only on pam.sock"),
            "{m}"
        ),
        other => panic!("{other:?}"),
    }
    // An admin request gets an admin answer: refused, with the reason.
    match call(rd.nss(), Request::Admin(AdminRequest::CacheStats)).await {
        Response::Admin(Err(Failure::Refused { reason })) => {
            assert!(reason.contains("only on pam.sock"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pam_sock_serves_admin_and_pam_requests() {
    let rd = start();
    call(rd.pam(), Request::UserByName("alice".into())).await;
    let j = admin(&rd, AdminRequest::CacheStats).await;
    assert_eq!(j["ok"], true);
    assert!(j["stats"]["entries"].as_u64().unwrap() >= 2);
    // This daemon publishes no memory cache.
    assert!(j["stats"]["memory_cache"].is_null(), "{j}");
    let lookup = AdminRequest::Lookup {
        kind: LookupKind::User,
        key: "10001".into(),
    };
    let j = admin(&rd, lookup).await;
    assert_eq!(j["source"], "cache");
    assert_eq!(j["dn"], "uid=alice,ou=people,dc=example");
    assert_eq!(j["entry"]["name"], "alice");
    // Each failure has its kind.
    let missing = AdminRequest::Lookup {
        kind: LookupKind::Group,
        key: "nogroup".into(),
    };
    let j = admin(&rd, missing).await;
    assert_eq!(
        (&j["ok"], &j["kind"]),
        (&false.into(), &"not_found".into()),
        "{j}"
    );
    assert_eq!(j["what"], "group nogroup", "{j}");
    let bad_sid = AdminRequest::Lookup {
        kind: LookupKind::Sid,
        key: "S-1-x".into(),
    };
    assert_eq!(admin(&rd, bad_sid).await["kind"], "invalid");
    let control = AdminRequest::Lookup {
        kind: LookupKind::User,
        key: "al\nice".into(),
    };
    let j = admin(&rd, control).await;
    assert_eq!(j["kind"], "invalid", "{j}");
    assert!(
        j["error"].as_str().unwrap().contains("control character"),
        "{j}"
    );
    let j = admin(&rd, AdminRequest::Reload).await;
    assert_eq!(j["kind"], "refused", "{j}");
    assert_eq!(j["reason"], "this daemon cannot reload", "{j}");
    let j = admin(&rd, AdminRequest::CacheFlush(FlushTarget::All)).await;
    assert_eq!(j["ok"], true, "{j}");
    assert!(j["flushed"].as_u64().unwrap() >= 1, "{j}");
    // A malformed admin body is a bad frame, named, and the connection closed.
    let mut frame = encode_request(&Request::Admin(AdminRequest::Reload));
    let at = frame.len() - "{\"cmd\":\"reload\"}".len();
    frame[at..].copy_from_slice(b"{\"cmd\":\"rel0ad\"}");
    let m = error_text(raw(&rd.pam(), &frame, false).await);
    assert!(
        m.contains("admin request is malformed") && m.contains("rel0ad"),
        "{m}"
    );
    let auth = Request::PamAuthenticate {
        user: "alice".into(),
        service: "login".into(),
        rhost: String::new(),
        password: "pw".into(),
    };
    // Answered by PAM, which serves the domains of the installed
    // configuration generation: none here.
    match call(rd.pam(), auth).await {
        Response::Pam(p) => assert_eq!(p.code, PamCode::UserUnknown),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pam_sock_refuses_other_uids() {
    let rd = start_with(Limits {
        pam_peer_uid: my_uid().wrapping_add(1),
        frame_timeout: Duration::from_millis(300),
        ..Limits::default()
    });
    let why = format!("pam.sock accepts uid {} only", my_uid().wrapping_add(1));
    // The request is read, then answered with a refusal in its own terms:
    // the client's write never meets a closed socket.
    let ask = |req: Request| {
        let path = rd.pam();
        async move {
            let mut s = tokio::net::UnixStream::connect(path).await.unwrap();
            s.write_all(&encode_request(&req))
                .await
                .expect("the request is read, not cut off");
            let answer = read_reply(&mut s).await;
            let mut rest = Vec::new();
            s.read_to_end(&mut rest).await.unwrap();
            assert!(rest.is_empty(), "closed after the answer");
            answer
        }
    };
    match ask(Request::Status).await {
        Some(Response::Admin(Err(Failure::Refused { reason }))) => assert_eq!(reason, why),
        other => panic!("expected a typed refusal, got {other:?}"),
    }
    let m = error_text(ask(Request::UserByName("alice".into())).await);
    assert_eq!(m, format!("refused: {why}"));
    // An oversized frame is refused unread, with the same reason.
    let m = error_text(raw(&rd.pam(), &[0, 2, 0, 0], false).await);
    assert_eq!(m, format!("refused: {why}"));
    // A peer that sends nothing is closed after the frame timeout, far
    // before the idle timeout, without an answer.
    let mut silent = tokio::net::UnixStream::connect(rd.pam()).await.unwrap();
    assert_eq!(read_reply(&mut silent).await, None);
}

/// The JSON document of a status answer (as `rosterctl status --json`
/// prints it).
fn status_document(r: Response) -> serde_json::Value {
    match r {
        Response::Admin(Ok(AdminReply::Status(report))) => report.document(),
        other => panic!("{other:?}"),
    }
}

/// One admin command on pam.sock; the answer as `rosterctl --json` prints it.
async fn admin(rd: &Running, cmd: AdminRequest) -> serde_json::Value {
    match call(rd.pam(), Request::Admin(cmd)).await {
        Response::Admin(answer) => document(&answer),
        other => panic!("{other:?}"),
    }
}

/// The keys of a JSON object, sorted.
fn keys(v: &serde_json::Value) -> Vec<String> {
    let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
    k.sort();
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_on_nss_sock_says_only_up_online_offline() {
    let rd = start();
    let public = status_document;
    let st = public(call(rd.nss(), Request::Status).await);
    assert_eq!(keys(&st), ["details", "domains", "state"], "{st}");
    assert_eq!(st["state"], "up");
    assert_eq!(keys(&st["domains"][0]), ["name", "online", "state"], "{st}");
    assert_eq!(st["domains"][0]["state"], "online");
    rd.directory.set_online(false);
    let _ = call(rd.nss(), Request::UserByName("nobody-here".into())).await;
    let st = public(call(rd.nss(), Request::Status).await);
    assert_eq!(st["domains"][0]["state"], "offline", "{st}");
    // The whole document (cache counters, pid, ...) on pam.sock.
    let full = public(call(rd.pam(), Request::Status).await);
    assert!(full["cache"].is_object() && full["pid"].is_u64(), "{full}");
    assert!(full["process"]["rss_kib"].is_u64(), "{full}");
    assert_eq!(full["refused_entries"], serde_json::json!([]), "{full}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_half_frame_costs_only_its_own_connection() {
    let rd = start_with(Limits {
        frame_timeout: Duration::from_millis(200),
        idle_timeout: Duration::from_secs(60),
        pam_peer_uid: my_uid(),
        ..Limits::default()
    });
    // Two bytes of a length prefix, and half a body, then silence.
    let mut half_prefix = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    half_prefix.write_all(&[0, 0]).await.unwrap();
    let mut half_body = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    half_body.write_all(&[0, 0, 0, 50, 0, 1]).await.unwrap();
    // Others are answered meanwhile, on a connection of their own.
    assert!(matches!(
        call(rd.nss(), Request::UserByUid(10001)).await,
        Response::User(_)
    ));
    // The stalled ones are told and closed after the frame timeout, long
    // before the idle timeout.
    let m = error_text(read_reply(&mut half_prefix).await);
    assert!(m.contains("length prefix incomplete (2 of 4 bytes)"), "{m}");
    let m = error_text(read_reply(&mut half_body).await);
    assert!(m.contains("body incomplete (2 of 50 bytes)"), "{m}");
    let mut rest = Vec::new();
    half_body.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
}

/// Frames as they come, through the whole server: two requests in one
/// write are both answered, in order (since e8e595e the second is read
/// with the first and waits in the connection's inbox:
/// `conn::tests::the_frame_after_the_one_read_waits_in_the_inbox`), and
/// a frame in parts is put together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_written_together_or_in_parts_are_answered_in_order() {
    let rd = start();
    let mut s = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    let mut both = encode_request(&Request::UserByUid(10001));
    both.extend_from_slice(&encode_request(&Request::UserByName("nobody-here".into())));
    s.write_all(&both).await.unwrap();
    match read_reply(&mut s).await {
        Some(Response::User(u)) => assert_eq!(u.uid, 10001),
        other => panic!("{other:?}"),
    }
    assert!(matches!(read_reply(&mut s).await, Some(Response::NotFound)));
    let frame = encode_request(&Request::UserByUid(10001));
    for part in [&frame[..3], &frame[3..6], &frame[6..]] {
        s.write_all(part).await.unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    match read_reply(&mut s).await {
        Some(Response::User(u)) => assert_eq!(u.uid, 10001),
        other => panic!("{other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_frames_get_an_error_and_others_are_still_served() {
    let rd = start_with(Limits {
        idle_timeout: Duration::from_millis(300),
        frame_timeout: Duration::from_millis(300),
        pam_peer_uid: my_uid(),
        ..Limits::default()
    });
    // A client that stops in the middle of a frame, kept open meanwhile.
    let mut stuck = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    stuck.write_all(&[0, 0, 0, 50, 0, 1, 0, 1]).await.unwrap();

    // Wrong version.
    let m = error_text(raw(&rd.nss(), &[0, 0, 0, 4, 0, 9, 0, 8], false).await);
    assert!(m.contains("version 9"), "{m}");
    // Oversized length.
    let m = error_text(raw(&rd.nss(), &[0xff, 0xff, 0xff, 0xff], false).await);
    assert!(m.contains("length"), "{m}");
    // Length too small.
    let m = error_text(raw(&rd.nss(), &[0, 0, 0, 1], false).await);
    assert!(m.contains("length 1"), "{m}");
    // Unknown code.
    let m = error_text(raw(&rd.nss(), &[0, 0, 0, 4, 0, 1, 0, 99], false).await);
    assert!(m.contains("unknown request code 99"), "{m}");
    // A body that does not match its code.
    let m = error_text(raw(&rd.nss(), &[0, 0, 0, 6, 0, 1, 0, 2, 0, 0], false).await);
    assert!(m.contains("uid"), "{m}");
    // Truncated body, then the peer closes: closed without a reply.
    assert_eq!(
        raw(&rd.nss(), &[0, 0, 0, 9, 0, 1, 0, 1, 0], true).await,
        None
    );

    // Meanwhile a well-behaved client is served.
    assert!(matches!(
        call(rd.nss(), Request::UserByUid(10001)).await,
        Response::User(_)
    ));

    // The stuck client is told what was wrong once it idled too long.
    let m = error_text(read_reply(&mut stuck).await);
    assert!(m.contains("incomplete"), "{m}");
    assert!(matches!(
        call(rd.nss(), Request::Status).await,
        Response::Admin(Ok(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_over_the_cap_are_refused_at_once() {
    let rd = start_with(Limits {
        max_connections: 1,
        root_reserve: 0,
        unlimited_uid: None,
        idle_timeout: Duration::from_secs(60),
        pam_peer_uid: my_uid(),
        ..Limits::default()
    });
    // A connection waiting for its first request holds the only slot
    // (connections are accepted in the order they came).
    let first = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    // The next one is told why and closed at once, without even sending a
    // request (nothing waits for it): the reply, then end of stream.
    let mut second = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    let m = error_text(read_reply(&mut second).await);
    assert!(m.contains("connection limit (1)"), "{m}");
    let mut rest = Vec::new();
    second.read_to_end(&mut rest).await.unwrap();
    assert!(rest.is_empty());
    // pam.sock shares the cap.
    let m = error_text(raw(&rd.pam(), &encode_request(&Request::Status), false).await);
    assert!(m.contains("connection limit"), "{m}");
    // Once the first one is gone, clients are served again.
    drop(first);
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match raw(&rd.nss(), &encode_request(&Request::Status), false).await {
            Some(Response::Admin(Ok(_))) => break,
            Some(Response::Error(m))
                if m.contains("connection limit") && std::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn root_keeps_a_reserve_when_the_cap_is_reached() {
    // This test process's UID plays root (the exempt UID).
    let rd = start_with(Limits {
        max_connections: 1,
        root_reserve: 1,
        unlimited_uid: Some(my_uid()),
        pam_peer_uid: my_uid(),
        ..Limits::default()
    });
    // Two connections waiting for their first requests hold the slot and
    // the reserve (accepted in the order they came).
    let _held = [
        tokio::net::UnixStream::connect(rd.nss()).await.unwrap(),
        tokio::net::UnixStream::connect(rd.nss()).await.unwrap(),
    ];
    let m = error_text(raw(&rd.nss(), &encode_request(&Request::Status), false).await);
    assert!(m.contains("root's reserve"), "{m}");
}

/// The NSS module keeps its connection between lookups: one waiting for
/// its next request gives its place to a new connection at the UID's
/// limit and at the total one, and is closed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_waiting_for_its_next_request_gives_its_place_to_a_new_one() {
    let per_uid = Limits {
        max_connections_per_uid: 1,
        ..Limits::default()
    };
    let total = Limits {
        max_connections: 1,
        root_reserve: 0,
        ..Limits::default()
    };
    for limits in [per_uid, total] {
        let rd = start_with(Limits {
            unlimited_uid: None,
            idle_timeout: Duration::from_secs(60),
            pam_peer_uid: my_uid(),
            ..limits
        });
        let status = encode_request(&Request::Status);
        let mut kept = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
        kept.write_all(&status).await.unwrap();
        assert!(matches!(
            read_reply(&mut kept).await,
            Some(Response::Admin(Ok(_)))
        ));
        // Served in its place (once the place waits: the kept connection
        // parks it just after its reply, a moment after the test read it)...
        let give_up = std::time::Instant::now() + Duration::from_secs(20);
        loop {
            match raw(&rd.nss(), &status, false).await {
                Some(Response::Admin(Ok(_))) => break,
                Some(Response::Error(m))
                    if (m.contains("limit") || m.contains("too many"))
                        && std::time::Instant::now() < give_up =>
                {
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                other => panic!("{other:?}"),
            }
        }
        // ...which it lost: its next request finds the connection closed.
        let _ = kept.write_all(&status).await;
        assert_eq!(read_reply(&mut kept).await, None);
        rd.server.shutdown().await;
    }
}

/// Which waiting connection's place a new one takes: the UID's own at its
/// limit, anyone's at the total, root's reserve only for root; a
/// connection whose place was taken cannot take it back.
#[test]
fn places_are_taken_from_waiting_connections_by_uid_and_reserve() {
    let slots = Slots::new(Limits {
        max_connections: 2,
        root_reserve: 1,
        max_connections_per_uid: 1,
        unlimited_uid: Some(0),
        ..Limits::default()
    });
    let a = slots.admit(1000, false).unwrap();
    let refused = slots.admit(1000, false).map(|_| ()).unwrap_err();
    assert!(refused.contains("too many open connections"), "{refused}");
    let a = slots.waiting.park(1000, a);
    let again = slots.admit(1000, false).unwrap();
    assert!(a.resume().is_none(), "a's place was taken");
    let root = slots.admit(0, false).unwrap();
    let reserved = slots.admit(0, false).unwrap();
    assert!(reserved.reserved && !root.reserved);
    // All taken; only root's reserve waits: not for uid 1001.
    let reserved = slots.waiting.park(0, reserved);
    let refused = slots.admit(1001, false).map(|_| ()).unwrap_err();
    assert!(refused.contains("connection limit (2)"), "{refused}");
    // A waiting connection of another UID gives its shared slot.
    let again = slots.waiting.park(1000, again);
    let b = slots.admit(1001, false).unwrap();
    assert!(!b.reserved && b.peer.is_some());
    assert!(again.resume().is_none());
    assert_eq!(
        slots.peers.open(1000),
        0,
        "the taken place's UID count went"
    );
    // Root takes the reserve's place.
    let root2 = slots.admit(0, false).unwrap();
    assert!(root2.reserved);
    assert!(reserved.resume().is_none());
    drop((root, b));
}

#[test]
fn limits_fit_the_descriptor_limit() {
    let mut l = Limits::default();
    l.fit(1_000_000);
    assert_eq!(l.max_connections, Limits::default().max_connections);
    let mut l = Limits::default();
    l.fit(1024);
    assert!(
        l.max_connections + l.root_reserve + RESERVED_DESCRIPTORS <= 1024,
        "{l:?}"
    );
    assert!(l.root_reserve >= 4 && l.max_connections >= 16, "{l:?}");
    assert!(l.max_connections_per_uid <= l.max_connections);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlong_names_are_refused() {
    let rd = start();
    let m = error_text(Some(
        call(rd.nss(), Request::UserByName("a".repeat(300))).await,
    ));
    assert!(m.contains("user name"), "{m}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_lookups_are_published_to_the_memory_cache() {
    use roster_proto::memcache::{monotonic_ms, Key as McKey, Mapping, Record};
    let dir = tempfile::tempdir().unwrap();
    let directory = FakeDirectory::new("example");
    directory.add_user("alice", 10001, 10000);
    directory.add_user("bob", 10002, 10000);
    directory.add_group("staff", 10010, &["alice"]);
    let domains: Vec<Arc<dyn Provider>> = vec![directory.clone()];
    let settings = Settings {
        negative_ttl_ms: 0, // NotFound is asked again every time
        ..Settings::default()
    };
    let resolver = Resolver::new(domains, settings, None, Arc::new(SystemClock));
    let ctx = publishing_ctx(
        resolver,
        dir.path(),
        crate::memcache_publish::DEFAULT_SIZE_LIMIT,
    );
    let server = Server::start(dir.path(), ctx.clone(), Limits::default()).unwrap();
    let nss = dir.path().join("nss.sock");
    let mc_path = dir.path().join("nss.mc");
    let fake = directory.clone();
    let flush_ctx = ctx.clone();
    let rt = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&nss, Duration::from_secs(5)).unwrap();
        let mut call = |r: Request| c.call(&r).unwrap();
        assert!(matches!(
            call(Request::UserByName("alice".into())),
            Response::User(_)
        ));
        assert!(matches!(
            call(Request::GroupsOfUser("alice".into())),
            Response::Gids(_)
        ));
        assert!(matches!(
            call(Request::UserByName("bob".into())),
            Response::User(_)
        ));
        // Answers on one connection come in turn, each after the previous
        // one was published.
        call(Request::Status);
        let now = monotonic_ms();
        let map = Mapping::open(&mc_path).unwrap();
        match map.get(&McKey::UserName("alice"), now) {
            Some(Record::User(u)) => assert_eq!(u.uid, 10001),
            other => panic!("alice not published: {other:?}"),
        }
        assert!(map.get(&McKey::Uid(10001), now).is_some());
        assert!(map.get(&McKey::GroupsOf("alice"), now).is_some());
        assert!(map.get(&McKey::UserName("bob"), now).is_some());
        drop(map);

        // bob leaves the directory; once his entry is flushed the daemon
        // answers NotFound, which withdraws the published entry.
        fake.remove_user("bob");
        flush_ctx.resolver.flush_user("bob");
        assert_eq!(call(Request::UserByName("bob".into())), Response::NotFound);
        call(Request::Status);
        let map = Mapping::open(&mc_path).unwrap();
        assert!(map.get(&McKey::UserName("bob"), monotonic_ms()).is_none());
        assert!(map.get(&McKey::UserName("alice"), monotonic_ms()).is_some());
        drop(map);

        // cache stats report the memory cache: its size, bound and fill.
        let stats = match rt.block_on(admin::handle(&flush_ctx, AdminRequest::CacheStats)) {
            Ok(AdminReply::CacheStats(s)) => s,
            other => panic!("{other:?}"),
        };
        let mc = stats.memory_cache.expect("the memory cache's stats");
        assert_eq!(mc.path, mc_path.display().to_string());
        assert_eq!(
            mc.size_limit,
            crate::memcache_publish::DEFAULT_SIZE_LIMIT as u64
        );
        assert_eq!(mc.file_bytes, std::fs::metadata(&mc_path).unwrap().len());
        assert!(mc.records_bytes > 0 && mc.records_bytes <= mc.records_capacity);

        // An admin flush empties the memory cache too.
        let reply = rt.block_on(admin::handle(
            &flush_ctx,
            AdminRequest::CacheFlush(FlushTarget::All),
        ));
        assert!(matches!(reply, Ok(AdminReply::Flushed(_))), "{reply:?}");
        let map = Mapping::open(&mc_path).unwrap();
        assert!(map.get(&McKey::UserName("alice"), monotonic_ms()).is_none());
    })
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_uid_cannot_take_every_connection() {
    let rd = start_with(Limits {
        max_connections_per_uid: 2,
        unlimited_uid: None,
        pam_peer_uid: my_uid(),
        ..Limits::default()
    });
    // Two connections waiting for their first requests (accepted in the
    // order they came): a third one is refused.
    let _a = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    let b = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    let m = error_text(raw(&rd.nss(), &encode_request(&Request::Status), false).await);
    assert!(m.contains("too many open connections"), "{m}");
    // Refused without reading the request: told at once, then closed.
    let mut silent = tokio::net::UnixStream::connect(rd.nss()).await.unwrap();
    let m = error_text(read_reply(&mut silent).await);
    assert!(m.contains("too many open connections"), "{m}");
    drop(b);
    // Closing one frees its slot (once the server has seen the close).
    let give_up = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        match raw(&rd.nss(), &encode_request(&Request::Status), false).await {
            Some(Response::Admin(Ok(_))) => break,
            Some(Response::Error(m))
                if m.contains("too many") && std::time::Instant::now() < give_up =>
            {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            other => panic!("{other:?}"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn case_variants_publish_only_the_served_entry() {
    use roster_proto::memcache::{
        monotonic_ms, Key as McKey, Mapping, OwnedKey, Record, RecordRef,
    };
    let dir = tempfile::tempdir().unwrap();
    // Names match in any case, as in Active Directory: every spelling is
    // answered with the one entry, named in lower case.
    let directory = FakeDirectory::new_any_case("ad");
    directory.add_user("alice", 10001, 10000);
    directory.add_group("staff", 10010, &["alice"]);
    let (ctx, server, nss, mc_path) = publishing_server(&directory, dir.path());
    let usage_ctx = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&nss, Duration::from_secs(5)).unwrap();
        let mut call = |r: Request| c.call(&r).unwrap();
        assert!(matches!(
            call(Request::UserByName("alice".into())),
            Response::User(_)
        ));
        call(Request::Status);
        let usage = || usage_ctx.memcache.as_ref().unwrap().usage().unwrap();
        let (_, one_user) = usage();
        for i in 1..32u32 {
            let variant: String = "alice"
                .chars()
                .enumerate()
                .map(|(b, ch)| {
                    if i >> b & 1 == 1 {
                        ch.to_ascii_uppercase()
                    } else {
                        ch
                    }
                })
                .collect();
            match call(Request::UserByName(variant.clone())) {
                Response::User(u) => assert_eq!(u.name, "alice"),
                other => panic!("{variant}: {other:?}"),
            }
            assert!(matches!(
                call(Request::GroupsOfUser(variant.clone())),
                Response::Gids(_)
            ));
            assert!(matches!(
                call(Request::GroupByName(format!("StAfF{i}"))),
                Response::NotFound
            ));
            assert!(matches!(
                call(Request::UserByName(format!("nobody{i}"))),
                Response::NotFound
            ));
        }
        call(Request::Status);
        // Variants add no record; names nobody has, a "no such entry"
        // record each.
        let missing: usize = (1..32u32)
            .map(|i| {
                let (g, u) = (format!("StAfF{i}"), format!("nobody{i}"));
                RecordRef::Missing(McKey::GroupName(&g)).encoded_len()
                    + RecordRef::Missing(McKey::UserName(&u)).encoded_len()
            })
            .sum();
        assert_eq!(usage().1, one_user + missing);
        let map = Mapping::open(&mc_path).unwrap();
        let now = monotonic_ms();
        assert_eq!(
            map.get(&McKey::UserName("nobody3"), now),
            Some(Record::Missing(OwnedKey::UserName("nobody3".into())))
        );
        assert!(map.get(&McKey::UserName("alice"), now).is_some());
        assert!(map.get(&McKey::GroupsOf("ALICE"), now).is_none());
        assert!(map.get(&McKey::GroupsOf("alice"), now).is_none());
        // Asked under the served name, initgroups is published.
        assert!(matches!(
            call(Request::GroupsOfUser("alice".into())),
            Response::Gids(_)
        ));
        call(Request::Status);
        assert!(map.get(&McKey::GroupsOf("alice"), now).is_some());
        assert!(usage().0 <= 1 << 20);
    })
    .await
    .unwrap();
    server.shutdown().await;
}

/// A "no such user", or "no groups" of a name nobody has, decided from
/// what a flush dropped (the flush comes while the directory is asked) is
/// not published after it; asked again, it is, under the name asked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_decided_before_a_flush_are_not_published() {
    use roster_proto::memcache::{monotonic_ms, Mapping, OwnedKey, Record};
    let dir = tempfile::tempdir().unwrap();
    let directory = FakeDirectory::new("ldap");
    let (ctx, server, nss, mc_path) = publishing_server(&directory, dir.path());
    let (hooked, flushing) = (directory.clone(), ctx.clone());
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&nss, Duration::from_secs(5)).unwrap();
        // `request` answered "not found" while a flush comes (as the
        // directory is asked): not published; asked again (from rosterd's
        // negative cache): published as `want`.
        let mut flushed_then_published = |request: Request, want: OwnedKey| {
            let f = flushing.clone();
            hooked.on_call(hooked.call_count() + 1, move || {
                f.memcache.as_ref().unwrap().flush();
            });
            assert_eq!(c.call(&request).unwrap(), Response::NotFound);
            // Answers on one connection come in turn, each after the
            // previous one was published.
            c.call(&Request::Status).unwrap();
            let map = Mapping::open(&mc_path).unwrap();
            assert_eq!(map.get(&want.as_key(), monotonic_ms()), None, "{want:?}");
            assert_eq!(c.call(&request).unwrap(), Response::NotFound);
            c.call(&Request::Status).unwrap();
            let published = map.get(&want.as_key(), monotonic_ms());
            assert_eq!(published, Some(Record::Missing(want)));
        };
        flushed_then_published(
            Request::UserByName("ghost".into()),
            OwnedKey::UserName("ghost".into()),
        );
        // The groups of a name nobody has.
        flushed_then_published(
            Request::GroupsOfUser("ghost2".into()),
            OwnedKey::GroupsOf("ghost2".into()),
        );
    })
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ssh_keys_follow_the_nss_rules_and_stay_out_of_the_memory_cache() {
    use roster_proto::memcache::{monotonic_ms, Key as McKey, Mapping};
    let dir = tempfile::tempdir().unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir(&etc).unwrap();
    // carol is also a local account: the local one wins, and has no keys
    // here; "operator" is local only.
    std::fs::write(
        etc.join("passwd"),
        "carol:x:500:500::/home/carol:/bin/sh\noperator:x:501:501::/:/bin/sh\n",
    )
    .unwrap();
    std::fs::write(etc.join("group"), "").unwrap();
    let locals = roster_daemon::resolver::local::LocalAccounts::from_paths(
        &etc.join("passwd"),
        &etc.join("group"),
    );
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBmW4rGq0oH7Z4Y2mB0y7e0P2qVZ5y8sF0cXQ2o6m2vN alice@laptop";
    let directory = FakeDirectory::new("example");
    directory.add_user("alice", 10001, 10000);
    directory.add_user("bob", 10002, 10000);
    directory.add_user("carol", 10003, 10000);
    directory.add_user("low", 50, 10000);
    directory.set_ssh_keys("alice", &[key]);
    directory.set_ssh_keys("carol", &[key]);
    directory.set_ssh_keys("low", &[key]);
    let domains: Vec<Arc<dyn Provider>> = vec![directory.clone()];
    // Every answer expires at once: the offline answer below comes from
    // the expired entry.
    let settings = Settings {
        entry_ttl_ms: 0,
        ..Settings::default()
    };
    let resolver =
        Resolver::with_local_accounts(domains, settings, None, Arc::new(SystemClock), locals);
    let ctx = publishing_ctx(
        resolver,
        dir.path(),
        crate::memcache_publish::DEFAULT_SIZE_LIMIT,
    );
    let server = Server::start(dir.path(), ctx, Limits::default()).unwrap();
    let nss = dir.path().join("nss.sock");
    let mc_path = dir.path().join("nss.mc");
    let fake = directory.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = Client::connect(&nss, Duration::from_secs(5)).unwrap();
        let mut call = |r: Request| c.call(&r).unwrap();
        let keys = |name: &str| Request::SshKeys(name.into());
        assert_eq!(call(keys("alice")), Response::SshKeys(vec![key.into()]));
        assert_eq!(
            call(keys("alice@example")),
            Response::SshKeys(vec![key.into()])
        );
        assert_eq!(call(keys("bob")), Response::SshKeys(Vec::new()));
        // Shadowed by /etc/passwd, or local only: no keys, no failure.
        assert_eq!(call(keys("carol")), Response::SshKeys(Vec::new()));
        assert_eq!(call(keys("operator")), Response::SshKeys(Vec::new()));
        // Below min_id (the ID rules), or unknown: not found.
        assert_eq!(call(keys("low")), Response::NotFound);
        assert_eq!(call(keys("ghost")), Response::NotFound);
        assert!(matches!(call(keys(&"x".repeat(300))), Response::Error(_)));
        // The directory is gone: the cached keys are still served.
        fake.set_online(false);
        assert_eq!(call(keys("alice")), Response::SshKeys(vec![key.into()]));
        // A local user is answered without the directory.
        let before = fake.call_count();
        assert_eq!(call(keys("operator")), Response::SshKeys(Vec::new()));
        assert_eq!(fake.call_count(), before);
        call(Request::Status);
        // Nothing of the above went into the memory cache.
        let map = Mapping::open(&mc_path).unwrap();
        for name in ["alice", "bob", "carol"] {
            assert!(map.get(&McKey::UserName(name), monotonic_ms()).is_none());
        }
    })
    .await
    .unwrap();
    server.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cache_unlock_is_an_admin_command() {
    let rd = start();
    let ok = admin(
        &rd,
        AdminRequest::CacheUnlock {
            user: "alice".into(),
        },
    )
    .await;
    assert_eq!(ok, serde_json::json!({"ok": true, "unlocked": 0}));
    let empty = admin(&rd, AdminRequest::CacheUnlock { user: " ".into() }).await;
    assert_eq!(empty["kind"], "invalid", "{empty}");
    // Not on nss.sock.
    let r = call(
        rd.nss(),
        Request::Admin(AdminRequest::CacheUnlock {
            user: "alice".into(),
        }),
    )
    .await;
    assert!(
        matches!(&r, Response::Admin(Err(Failure::Refused { .. }))),
        "{r:?}"
    );
    rd.server.shutdown().await;
}

/// A connection's future holds a lookup's state, not an admin or PAM
/// request's: those are boxed where they are awaited (`dispatch_timed`,
/// `conn::serve`), since each `accept` moves the whole future into its
/// box. Unboxed, the admin commands alone made it about 6 KB.
#[tokio::test]
async fn a_connections_future_is_the_size_of_a_lookup() {
    let ctx = context(vec![FakeDirectory::new("example")]);
    let (stream, _peer) = link::test_pair();
    let slots = Slots::new(Limits::default());
    let seat = Seat {
        admitted: slots.admit(0, true).unwrap(),
        slots,
        anchor: Arc::default(),
    };
    let serving = conn::serve(stream, &ctx, SocketKind::Pam, 0, seat);
    let size = std::mem::size_of_val(&serving);
    assert!(
        size < 4096,
        "a connection's future is {size} bytes: box the large future it now holds"
    );
    // Unboxed, the admin future would be held where a lookup's is
    // (`dispatch_timed`'s state), and the connection's would grow by the
    // difference.
    let admin = admin::handle(&ctx, AdminRequest::CacheStats);
    let lookup = dispatch::dispatch_timed(&ctx, Request::UserByName("alice".into()));
    assert!(
        std::mem::size_of_val(&admin) > std::mem::size_of_val(&lookup),
        "the admin future ({} bytes) no longer needs its box: a lookup's is {} bytes",
        std::mem::size_of_val(&admin),
        std::mem::size_of_val(&lookup)
    );
}

/// A client bound to a path of the whole 108 octets of `sun_path` (no
/// terminating NUL: the kernel then reports an address one octet longer
/// than `sockaddr_un`, see unix(7), BUGS) is served, and so are the
/// connections after it: the listener never reads the peer's address.
/// (mio's accept, tried for its `SOCK_NONBLOCK`, slices such an address
/// past its end: the panic ended the socket's accept loop, and any local
/// user could stop `nss.sock` that way.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_bound_to_a_path_of_the_address_s_full_length_is_served() {
    use nix::sys::socket::{connect, socket, AddressFamily, SockFlag, SockType, UnixAddr};
    use std::os::fd::AsRawFd;
    let rd = start();
    let client_dir = tempfile::tempdir().unwrap();
    let mut path = client_dir
        .path()
        .join("c")
        .into_os_string()
        .into_encoded_bytes();
    let mut own = libc::sockaddr_un {
        sun_family: libc::AF_UNIX as libc::sa_family_t,
        sun_path: [0; 108],
    };
    path.resize(own.sun_path.len(), b'x');
    for (to, from) in own.sun_path.iter_mut().zip(&path) {
        *to = *from as libc::c_char;
    }
    let fd = socket(
        AddressFamily::Unix,
        SockType::Stream,
        SockFlag::empty(),
        None,
    )
    .unwrap();
    // (nix's `UnixAddr` refuses a path without room for a NUL.)
    // SAFETY: `own` is a valid `sockaddr_un` that lives across the call,
    // of the length given; `fd` is an open socket.
    let bound = unsafe {
        libc::bind(
            fd.as_raw_fd(),
            std::ptr::from_ref(&own).cast(),
            std::mem::size_of_val(&own) as libc::socklen_t,
        )
    };
    assert_eq!(bound, 0, "{}", std::io::Error::last_os_error());
    connect(fd.as_raw_fd(), &UnixAddr::new(&rd.nss()).unwrap()).unwrap();
    let s = std::os::unix::net::UnixStream::from(fd);
    s.set_nonblocking(true).unwrap();
    let mut s = tokio::net::UnixStream::from_std(s).unwrap();
    s.write_all(&encode_request(&Request::UserByName("alice".into())))
        .await
        .unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), read_reply(&mut s))
        .await
        .expect("answered");
    assert!(matches!(reply, Some(Response::User(_))), "{reply:?}");
    let again = call(rd.nss(), Request::UserByName("alice".into())).await;
    assert!(matches!(again, Response::User(_)), "{again:?}");
}
