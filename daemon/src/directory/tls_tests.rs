//! The connector [`prepare`]/[`build`] make, against a TLS server on
//! loopback: the CA it trusts, host-name verification and
//! `tls_verify = false` (vendored native-tls makes a `ca_file`-only
//! connector without the system's roots: vendor/native-tls/ROSTER-PATCH.md).

use super::{build, prepare};
use crate::config::{Config, DomainConfig};
use native_tls::{Identity, TlsAcceptor, TlsConnector};
use roster_e2e::tls::TestPki;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// A domain configured with `extra` lines (TLS by `ldaps://`).
fn domain(extra: &str) -> DomainConfig {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [\"ldaps://localhost\"]\n\
         base_dn = \"dc=example,dc=test\"\n{extra}"
    );
    Config::from_str(&text, "t.toml").unwrap().domains.remove(0)
}

/// The connector of domain `cfg`, built as rosterd builds it.
fn connector(cfg: &DomainConfig) -> TlsConnector {
    let builder = prepare(cfg).unwrap().expect("an ldaps:// domain uses TLS");
    build(cfg, &builder).unwrap()
}

/// A TLS server on loopback with the test PKI's server certificate (for
/// `localhost` and 127.0.0.1); every accepted connection is answered with
/// "ok" once.
fn serve(pki: &TestPki) -> u16 {
    let identity = Identity::from_pkcs8(
        &std::fs::read(&pki.server_cert).unwrap(),
        &std::fs::read(&pki.server_key).unwrap(),
    )
    .unwrap();
    let acceptor = TlsAcceptor::new(identity).unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            // (A refused handshake ends here; the next client is served.)
            if let Ok(mut tls) = acceptor.accept(conn) {
                let _ = tls.write_all(b"ok");
            }
        }
    });
    port
}

/// Whether a handshake with the server, verifying it as `name`, succeeds
/// (and the server's "ok" is read); the error text otherwise.
fn handshake(c: &TlsConnector, port: u16, name: &str) -> Result<(), String> {
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = c.connect(name, tcp).map_err(|e| e.to_string())?;
    let mut buf = [0u8; 2];
    tls.read_exact(&mut buf).map_err(|e| e.to_string())?;
    assert_eq!(&buf, b"ok");
    Ok(())
}

#[test]
fn a_ca_file_connector_trusts_its_ca_and_checks_the_host_name() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    let (ca, other) = (&pki.ca_cert, &pki.wrong_ca_cert);

    let trusting = connector(&domain(&format!("ca_file = {:?}\n", ca)));
    handshake(&trusting, port, "localhost").unwrap();
    handshake(&trusting, port, "127.0.0.1").unwrap();
    for wrong in ["other.example.test", "127.0.0.2", "localhost.example.test"] {
        let e = handshake(&trusting, port, wrong).unwrap_err();
        assert!(e.contains("certificate verify failed"), "{wrong}: {e}");
    }

    // Another CA alone: the server's certificate is refused, whatever name.
    let refusing = connector(&domain(&format!("ca_file = {:?}\n", other)));
    let e = handshake(&refusing, port, "localhost").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");

    // tls_verify = false accepts any certificate under any name.
    let lax = connector(&domain(&format!(
        "ca_file = {:?}\ntls_verify = false\n",
        other
    )));
    handshake(&lax, port, "other.example.test").unwrap();
}

#[test]
fn without_a_ca_file_the_system_roots_do_not_trust_a_private_ca() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    let system = connector(&domain(""));
    let e = handshake(&system, port, "localhost").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");
    // With ca_system = true the private CA is trusted beside them.
    let both = connector(&domain(&format!(
        "ca_file = {:?}\nca_system = true\n",
        pki.ca_cert
    )));
    handshake(&both, port, "localhost").unwrap();
    let e = handshake(&both, port, "other.example.test").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");
}
