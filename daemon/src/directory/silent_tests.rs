//! Every network step against a server that accepts and then stops
//! answering is bounded: TCP accepted but nothing answered (StartTLS
//! request, TLS handshake, bind, search), StartTLS answered and the
//! handshake not, the handshake done and the bind not, the bind answered
//! and the search not. Each lookup or login ends `Unavailable` naming the
//! timeout and the domain goes offline (one timeout per outage); closing a
//! user's session on a silent server does not wait for it.
//!
//! The fake server ([`Silent`]) speaks just enough LDAP (BER) to answer
//! StartTLS and a bind; nothing here asserts on elapsed time: a missing
//! bound shows as the guard's "hung" panic.

use super::test_support::{bounded, directory_of};
use super::*;
use crate::config::Config;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// Where the fake server stops answering on each connection.
#[derive(Clone, Copy, Debug)]
enum Stage {
    /// Accepts the TCP connection and answers nothing.
    Accept,
    /// Answers the StartTLS request, then not the TLS handshake.
    AfterStartTls,
    /// Completes the TLS handshake (ldaps), then answers nothing.
    AfterHandshake,
    /// Answers the bind (plain LDAP), then nothing (the search).
    AfterBind,
}

/// A server on 127.0.0.1 that goes silent at `stage` on every connection;
/// its threads end when it is dropped.
struct Silent {
    port: u16,
    stop: Arc<AtomicBool>,
    _pki: tempfile::TempDir,
}

impl Silent {
    fn start(stage: Stage) -> Silent {
        let pki = tempfile::tempdir().unwrap();
        let acceptor = match stage {
            Stage::AfterStartTls | Stage::AfterHandshake => Some(tls_acceptor(pki.path())),
            _ => None,
        };
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let halt = stop.clone();
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (halt, acceptor) = (halt.clone(), acceptor.clone());
                        std::thread::spawn(move || serve(conn, stage, acceptor, &halt));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Silent {
            port,
            stop,
            _pki: pki,
        }
    }
}

impl Drop for Silent {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// One connection: the answers `stage` allows, then silence (reading and
/// dropping whatever comes) until the server is dropped or the client
/// goes away.
fn serve(
    conn: TcpStream,
    stage: Stage,
    acceptor: Option<native_tls::TlsAcceptor>,
    halt: &AtomicBool,
) {
    conn.set_nonblocking(false).unwrap();
    let mut plain = conn;
    match stage {
        Stage::Accept => swallow(&mut plain, halt),
        Stage::AfterBind | Stage::AfterStartTls => {
            let Some(id) = read_message_id(&mut plain) else {
                return;
            };
            // BindResponse (0x61) or ExtendedResponse (0x78), success.
            let op = if matches!(stage, Stage::AfterBind) {
                0x61
            } else {
                0x78
            };
            let answer = [
                0x30, 0x0c, 0x02, 0x01, id, op, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
            ];
            if plain.write_all(&answer).is_err() {
                return;
            }
            swallow(&mut plain, halt);
        }
        Stage::AfterHandshake => {
            let acceptor = acceptor.expect("a TLS acceptor");
            let Ok(mut tls) = acceptor.accept(plain) else {
                return;
            };
            swallow(&mut tls, halt);
        }
    }
}

/// Reads the first LDAP message and returns its message ID (one byte:
/// the first request of a connection).
fn read_message_id(conn: &mut TcpStream) -> Option<u8> {
    let mut buf = [0u8; 4096];
    let n = conn.read(&mut buf).ok()?;
    let msg = &buf[..n];
    // SEQUENCE, length (short or long form), then INTEGER 1 byte: the ID.
    let len_bytes = match msg.get(1)? {
        l if l & 0x80 != 0 => 1 + usize::from(l & 0x7f),
        _ => 1,
    };
    let at = 1 + len_bytes;
    (msg.get(at..at + 2)? == [0x02, 0x01]).then(|| msg[at + 2])
}

/// Reads and drops everything until the server is dropped or the peer
/// closes.
fn swallow<S: Read>(conn: &mut S, halt: &AtomicBool) {
    let mut buf = [0u8; 4096];
    while !halt.load(Ordering::Relaxed) {
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => return,
        }
    }
}

/// A TLS acceptor with a throwaway self-signed certificate (the client
/// runs with `tls_verify = false`).
fn tls_acceptor(dir: &std::path::Path) -> native_tls::TlsAcceptor {
    let (key, cert) = (dir.join("key.pem"), dir.join("cert.pem"));
    let out = std::process::Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .arg("ec_paramgen_curve:prime256v1")
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let identity = native_tls::Identity::from_pkcs8(
        &std::fs::read(&cert).unwrap(),
        &std::fs::read(&key).unwrap(),
    )
    .unwrap();
    native_tls::TlsAcceptor::new(identity).unwrap()
}

/// A directory for `uri` with short timeouts, the probe far away, and
/// `extra` lines; `bind` sets a service account (password given directly).
fn directory(uri: &str, extra: &str, bind: bool) -> Directory {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [\"{uri}\"]\nbase_dn = \"dc=example,dc=test\"\n\
         connect_timeout = 0.5\nop_timeout = 0.5\noffline_retry_initial = 30\n{extra}"
    );
    let mut c = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
    if bind {
        c.bind_dn = Some("cn=svc,dc=example,dc=test".into());
        c.bind_password = Some(roster_proto::Secret::from("svc-password"));
    }
    directory_of(c)
}

/// A lookup ends `Unavailable` with a message containing
/// `expected`, and the domain is offline afterwards with that reason.
async fn lookup_times_out(d: &Directory, expected: &str) {
    match bounded("user lookup", d.user_by_name("alice")).await {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains(expected), "expected {expected:?} in: {m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    let st = d.status();
    assert!(!st.online, "{st:?}");
    let last = st.servers[0].last_error.clone().unwrap_or_default();
    assert!(last.contains("timeout"), "{st:?}");
    // Offline: the next lookup does not wait at all (no connection made).
    let connects = st.connects;
    assert!(matches!(
        bounded("lookup while offline", d.user_by_uid(10001)).await,
        Err(DirectoryError::Unavailable { .. })
    ));
    assert_eq!(d.status().connects, connects);
}

#[tokio::test]
async fn search_unanswered_on_a_plain_connection() {
    let s = Silent::start(Stage::Accept);
    let d = directory(&format!("ldap://127.0.0.1:{}", s.port), "", false);
    lookup_times_out(&d, "no answer within op_timeout").await;
}

#[tokio::test]
async fn service_bind_unanswered() {
    let s = Silent::start(Stage::Accept);
    let d = directory(
        &format!("ldap://127.0.0.1:{}", s.port),
        "allow_insecure_bind = true\n",
        true,
    );
    lookup_times_out(&d, "bind timeout").await;
}

#[tokio::test]
async fn start_tls_request_unanswered() {
    let s = Silent::start(Stage::Accept);
    let d = directory(
        &format!("ldap://127.0.0.1:{}", s.port),
        "start_tls = true\ntls_verify = false\n",
        false,
    );
    lookup_times_out(&d, "connect timeout").await;
}

#[tokio::test]
async fn tls_handshake_unanswered_after_start_tls() {
    let s = Silent::start(Stage::AfterStartTls);
    let d = directory(
        &format!("ldap://127.0.0.1:{}", s.port),
        "start_tls = true\ntls_verify = false\n",
        false,
    );
    lookup_times_out(&d, "connect timeout").await;
}

#[tokio::test]
async fn ldaps_handshake_unanswered() {
    let s = Silent::start(Stage::Accept);
    let d = directory(
        &format!("ldaps://127.0.0.1:{}", s.port),
        "tls_verify = false\n",
        false,
    );
    lookup_times_out(&d, "connect timeout").await;
}

#[tokio::test]
async fn service_bind_unanswered_after_the_tls_handshake() {
    let s = Silent::start(Stage::AfterHandshake);
    let d = directory(
        &format!("ldaps://127.0.0.1:{}", s.port),
        "tls_verify = false\n",
        true,
    );
    lookup_times_out(&d, "bind timeout").await;
}

#[tokio::test]
async fn search_unanswered_after_the_bind() {
    let s = Silent::start(Stage::AfterBind);
    let d = directory(
        &format!("ldap://127.0.0.1:{}", s.port),
        "allow_insecure_bind = true\n",
        true,
    );
    lookup_times_out(&d, "no answer within op_timeout").await;
}

#[tokio::test]
async fn user_bind_unanswered_after_the_tls_handshake_and_close_does_not_wait() {
    let s = Silent::start(Stage::AfterHandshake);
    let d = directory(
        &format!("ldaps://127.0.0.1:{}", s.port),
        "tls_verify = false\n",
        false,
    );
    let pw = roster_proto::Secret::from("alice-password");
    match bounded(
        "password check",
        d.verify_password("uid=alice,dc=example,dc=test", &pw),
    )
    .await
    {
        Err(DirectoryError::Unavailable { context: m, .. }) => {
            assert!(m.contains("no answer within op_timeout"), "{m}")
        }
        other => panic!("expected Unavailable, got {other:?}"),
    }
    assert!(!d.status().online, "{:?}", d.status());
    // A session whose server went silent is closed without waiting for it:
    // the unbind and TLS close go on in the background, bounded.
    d.retry_now();
    let session = bounded("user session", d.user_session())
        .await
        .unwrap()
        .expect("a TLS session");
    let closed = tokio::time::timeout(Duration::from_secs(30), d.close_session(session)).await;
    assert!(closed.is_ok(), "close_session waited on a silent server");
}
