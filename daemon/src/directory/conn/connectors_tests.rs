//! Which library a pool reaches a server through: under `auto` rustls,
//! and OpenSSL from then on for a server whose handshake rustls refused
//! and OpenSSL completed; under `rustls` or `openssl` that library alone.

use super::super::Pool;
use crate::config::Config;
use crate::directory::DirectoryError;
use native_tls::{Identity, TlsAcceptor};
use roster_e2e::tls::TestPki;
use std::io::Read;
use std::net::TcpListener;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The TLS handshakes a test server saw: begun, and completed.
#[derive(Default)]
struct Handshakes {
    begun: AtomicUsize,
    completed: AtomicUsize,
}

impl Handshakes {
    fn counts(&self) -> (usize, usize) {
        (
            self.begun.load(Ordering::SeqCst),
            self.completed.load(Ordering::SeqCst),
        )
    }

    /// Asserts the counts reach `expected` (the server's side of a
    /// handshake may end just after the client's; waits at most 5 s).
    fn reach(&self, expected: (usize, usize)) {
        let until = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while self.counts() != expected && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert_eq!(self.counts(), expected);
    }
}

/// What a test server does with one connection.
#[derive(Clone, Copy)]
enum Answer {
    /// The TLS handshake, then the connection kept until the client closes.
    Handshake,
    /// The client's first message read and the connection closed without
    /// an answer (read first: closed with it unread, the connection would
    /// be reset rather than ended).
    Close,
    /// Nothing: the connection held open, silent.
    Silence,
    /// The handshake after 1.8 s.
    SlowHandshake,
}

/// A TLS server (OpenSSL) on loopback with `cert` and `key` answering its
/// `n`-th connection (from 0) as `answer(n)` says: its `ldaps://` URI and
/// counts (every connection counted as begun).
fn serve_as(cert: &Path, key: &Path, answer: fn(usize) -> Answer) -> (String, Arc<Handshakes>) {
    let identity =
        Identity::from_pkcs8(&std::fs::read(cert).unwrap(), &std::fs::read(key).unwrap()).unwrap();
    let acceptor = TlsAcceptor::new(identity).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(Handshakes::default());
    let counts = seen.clone();
    std::thread::spawn(move || {
        for mut conn in listener.incoming().flatten() {
            let n = counts.begun.fetch_add(1, Ordering::SeqCst);
            let (acceptor, counts) = (acceptor.clone(), counts.clone());
            std::thread::spawn(move || match answer(n) {
                how @ (Answer::Handshake | Answer::SlowHandshake) => {
                    if matches!(how, Answer::SlowHandshake) {
                        std::thread::sleep(std::time::Duration::from_millis(1800));
                    }
                    if let Ok(mut tls) = acceptor.accept(conn) {
                        counts.completed.fetch_add(1, Ordering::SeqCst);
                        let _ = tls.read(&mut [0u8; 64]);
                    }
                }
                Answer::Close => {
                    let _ = conn.read(&mut [0u8; 4096]);
                }
                Answer::Silence => {
                    let _ = conn.read_to_end(&mut Vec::new());
                }
            });
        }
    });
    (format!("ldaps://localhost:{port}"), seen)
}

/// [`serve_as`], every connection given the handshake.
fn serve(cert: &Path, key: &Path) -> (String, Arc<Handshakes>) {
    serve_as(cert, key, |_| Answer::Handshake)
}

/// A pool for domain `uris` (TOML) trusting `ca`, with `extra` lines.
fn pool_of(uris: &str, ca: &Path, extra: &str) -> Arc<Pool> {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = {uris}\n\
         base_dn = \"dc=example,dc=test\"\nca_file = {ca:?}\n{extra}"
    );
    let cfg = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
    Pool::new(cfg).unwrap()
}

/// A pool for server `uri` trusting the test CA, with `extra` lines.
fn pool(uri: &str, extra: &str) -> Arc<Pool> {
    pool_of(&format!("[\"{uri}\"]"), &TestPki::shared().ca_cert, extra)
}

/// The TLS library the pool's status shows for its server.
fn library(pool: &Pool) -> Option<String> {
    pool.status().servers[0].tls_library.clone()
}

#[tokio::test]
async fn auto_reaches_a_server_rustls_refuses_through_openssl_from_then_on() {
    let pki = TestPki::shared();
    let (uri, seen) = serve(&pki.cn_only_cert, &pki.cn_only_key);
    let p = pool(&uri, "");
    assert_eq!(library(&p).as_deref(), Some("rustls"));
    p.connect_unbound(&uri).await.unwrap();
    // rustls's handshake refused (begun, never completed), then OpenSSL's.
    seen.reach((2, 1));
    assert_eq!(library(&p).as_deref(), Some("openssl"));
    // The next connection goes to OpenSSL at once.
    p.connect_unbound(&uri).await.unwrap();
    seen.reach((3, 2));
}

#[tokio::test]
async fn auto_keeps_rustls_for_a_server_it_accepts() {
    let pki = TestPki::shared();
    let (uri, seen) = serve(&pki.server_cert, &pki.server_key);
    let p = pool(&uri, "");
    p.connect_unbound(&uri).await.unwrap();
    p.connect_unbound(&uri).await.unwrap();
    seen.reach((2, 2));
    assert_eq!(library(&p).as_deref(), Some("rustls"));
}

#[tokio::test]
async fn a_chosen_library_is_used_alone() {
    let pki = TestPki::shared();
    let (uri, seen) = serve(&pki.cn_only_cert, &pki.cn_only_key);
    let rustls = pool(&uri, "tls_library = \"rustls\"\n");
    let e = rustls.connect_unbound(&uri).await.unwrap_err().to_string();
    assert!(e.contains("not valid for name"), "{e}");
    seen.reach((1, 0));
    assert_eq!(library(&rustls).as_deref(), Some("rustls"));
    let openssl = pool(&uri, "tls_library = \"openssl\"\n");
    openssl.connect_unbound(&uri).await.unwrap();
    seen.reach((2, 1));
    assert_eq!(library(&openssl).as_deref(), Some("openssl"));
}

#[tokio::test]
async fn when_openssl_refuses_too_the_error_names_both() {
    let pki = TestPki::shared();
    // Trusting another CA: both libraries refuse the server.
    let (uri, seen) = serve(&pki.server_cert, &pki.server_key);
    let p = pool_of(&format!("[\"{uri}\"]"), &pki.wrong_ca_cert, "");
    let e = p.connect_unbound(&uri).await.unwrap_err().to_string();
    assert!(
        e.contains("through OpenSSL")
            && e.contains("UnknownIssuer")
            && e.contains("certificate verify failed"),
        "{e}"
    );
    seen.reach((2, 0));
    // Not remembered: the next connection tries rustls first again.
    assert_eq!(library(&p).as_deref(), Some("rustls"));
}

#[tokio::test]
async fn a_server_without_tls_shows_no_library() {
    let p = pool_of(
        "[\"ldaps://localhost:1\", \"ldap://localhost:2\"]",
        &TestPki::shared().ca_cert,
        "",
    );
    let libraries: Vec<_> = p
        .status()
        .servers
        .iter()
        .map(|s| s.tls_library.clone())
        .collect();
    assert_eq!(libraries, [Some("rustls".to_string()), None]);
}

#[tokio::test]
async fn auto_reaches_servers_through_openssl_when_rustls_cannot_use_the_client_key() {
    let pki = TestPki::shared();
    let t = tempfile::tempdir().unwrap();
    let (cert, key) = roster_e2e::tls::p521_client(t.path());
    let (uri, seen) = serve(&pki.server_cert, &pki.server_key);
    let p = pool(
        &uri,
        &format!("client_cert = {cert:?}\nclient_key = {key:?}\n"),
    );
    assert_eq!(library(&p).as_deref(), Some("openssl"));
    p.connect_unbound(&uri).await.unwrap();
    seen.reach((1, 1));
}

#[tokio::test]
async fn a_server_closing_the_connection_during_the_handshake_is_not_pinned_to_openssl() {
    let pki = TestPki::shared();
    let (uri, seen) = serve_as(&pki.server_cert, &pki.server_key, |n| match n {
        0 => Answer::Close,
        _ => Answer::Handshake,
    });
    let p = pool(&uri, "");
    // rustls's connection closed at once, then OpenSSL's completed...
    p.connect_unbound(&uri).await.unwrap();
    seen.reach((2, 1));
    // ...for that connection only: the next goes through rustls again.
    assert_eq!(library(&p).as_deref(), Some("rustls"));
    p.connect_unbound(&uri).await.unwrap();
    seen.reach((3, 2));
}

#[tokio::test]
async fn both_attempts_of_a_connection_end_within_one_connect_timeout() {
    let pki = TestPki::shared();
    // rustls refused (a CN-only certificate) after 1.8 s, then OpenSSL's
    // handshake never answered: the connection gives up at one
    // connect_timeout (2 s), not after one for each attempt (3.8 s).
    let (uri, seen) = serve_as(&pki.cn_only_cert, &pki.cn_only_key, |n| match n {
        0 => Answer::SlowHandshake,
        _ => Answer::Silence,
    });
    let p = pool(&uri, "connect_timeout = 2\n");
    let start = std::time::Instant::now();
    let e = p.connect_unbound(&uri).await.unwrap_err().to_string();
    let took = start.elapsed();
    assert!(e.contains("connect timeout after 2s"), "{e}");
    seen.reach((2, 0));
    assert!(
        took >= std::time::Duration::from_secs(2) && took < std::time::Duration::from_millis(3300),
        "{took:?}"
    );
}

#[tokio::test]
async fn a_build_a_caller_gave_up_on_is_kept_and_a_failed_one_made_again() {
    use super::OffThread;
    use std::time::Duration;
    let builds = Arc::new(AtomicUsize::new(0));
    let slow = |builds: Arc<AtomicUsize>| {
        move || {
            builds.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(100));
            Ok::<u32, DirectoryError>(7)
        }
    };
    let cell = OffThread::new();
    // The first caller gives up before the build ends...
    let quick = tokio::time::timeout(
        Duration::from_millis(10),
        cell.get("ex", slow(builds.clone())),
    );
    assert!(quick.await.is_err());
    // ...the next finds that build's result: one build in all.
    assert_eq!(cell.get("ex", slow(builds.clone())).await.unwrap(), 7);
    assert_eq!(cell.get("ex", slow(builds.clone())).await.unwrap(), 7);
    assert_eq!(builds.load(Ordering::SeqCst), 1);

    let failing = OffThread::<u32>::new();
    let fail = |builds: Arc<AtomicUsize>| {
        move || {
            builds.fetch_add(1, Ordering::SeqCst);
            Err(DirectoryError::invalid("no CA store"))
        }
    };
    let builds = Arc::new(AtomicUsize::new(0));
    assert!(failing.get("ex", fail(builds.clone())).await.is_err());
    assert!(failing.get("ex", fail(builds.clone())).await.is_err());
    assert_eq!(builds.load(Ordering::SeqCst), 2);
}
