//! The connectors [`prepare`] and [`build_openssl`] / [`build_rustls`]
//! make, against a TLS server on loopback: the CA each trusts, host-name
//! verification and `tls_verify = false` (vendored native-tls makes a
//! `ca_file`-only connector without the system's roots:
//! vendor/native-tls/ROSTER-PATCH.md), and what each library makes of a
//! certificate named by its CN alone.

use super::{build_openssl, build_rustls, prepare};
use crate::config::{Config, DomainConfig};
use native_tls::{Identity, TlsAcceptor, TlsConnector};
use roster_e2e::tls::TestPki;
use rustls::pki_types::ServerName;
use rustls::ClientConfig;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;

/// A domain configured with `extra` lines (TLS by `ldaps://`).
fn domain(extra: &str) -> DomainConfig {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [\"ldaps://localhost\"]\n\
         base_dn = \"dc=example,dc=test\"\n{extra}"
    );
    Config::from_str(&text, "t.toml").unwrap().domains.remove(0)
}

/// OpenSSL's connector of domain `cfg`, built as rosterd builds it.
fn connector(cfg: &DomainConfig) -> TlsConnector {
    let prepared = prepare(cfg).unwrap().expect("an ldaps:// domain uses TLS");
    build_openssl(cfg, prepared.openssl.as_ref().expect("OpenSSL prepared")).unwrap()
}

/// rustls's configuration of domain `cfg`, built as rosterd builds it.
fn rustls_config(cfg: &DomainConfig) -> Arc<ClientConfig> {
    let prepared = prepare(cfg).unwrap().expect("an ldaps:// domain uses TLS");
    build_rustls(cfg, prepared.rustls.as_ref().expect("rustls prepared")).unwrap()
}

/// A TLS server on loopback with the test PKI's server certificate (for
/// `localhost` and 127.0.0.1); every accepted connection is answered with
/// "ok" once.
fn serve(pki: &TestPki) -> u16 {
    serve_with(&pki.server_cert, &pki.server_key)
}

/// A TLS server on loopback with certificate `cert` and key `key`, as
/// [`serve`].
pub(crate) fn serve_with(cert: &Path, key: &Path) -> u16 {
    let identity =
        Identity::from_pkcs8(&std::fs::read(cert).unwrap(), &std::fs::read(key).unwrap()).unwrap();
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

/// [`handshake`] through rustls.
fn rustls_handshake(c: &Arc<ClientConfig>, port: u16, name: &str) -> Result<(), String> {
    let server = ServerName::try_from(name.to_string()).unwrap();
    let conn = rustls::ClientConnection::new(c.clone(), server).map_err(|e| e.to_string())?;
    let tcp = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut tls = rustls::StreamOwned::new(conn, tcp);
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

#[test]
fn a_ca_file_rustls_config_trusts_its_ca_and_checks_the_host_name() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    let (ca, other) = (&pki.ca_cert, &pki.wrong_ca_cert);

    let trusting = rustls_config(&domain(&format!("ca_file = {:?}\n", ca)));
    rustls_handshake(&trusting, port, "localhost").unwrap();
    rustls_handshake(&trusting, port, "127.0.0.1").unwrap();
    for wrong in ["other.example.test", "127.0.0.2", "localhost.example.test"] {
        let e = rustls_handshake(&trusting, port, wrong).unwrap_err();
        assert!(e.contains("not valid for name"), "{wrong}: {e}");
    }

    // Another CA alone: the server's certificate is refused, whatever name.
    let refusing = rustls_config(&domain(&format!("ca_file = {:?}\n", other)));
    let e = rustls_handshake(&refusing, port, "localhost").unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");

    // tls_verify = false accepts any certificate under any name.
    let lax = rustls_config(&domain(&format!(
        "ca_file = {:?}\ntls_verify = false\n",
        other
    )));
    rustls_handshake(&lax, port, "other.example.test").unwrap();
}

#[test]
fn without_a_ca_file_rustls_trusts_the_system_roots_alone() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    let system = rustls_config(&domain(""));
    let e = rustls_handshake(&system, port, "localhost").unwrap_err();
    assert!(e.contains("UnknownIssuer"), "{e}");
    let both = rustls_config(&domain(&format!(
        "ca_file = {:?}\nca_system = true\n",
        pki.ca_cert
    )));
    rustls_handshake(&both, port, "localhost").unwrap();
    let e = rustls_handshake(&both, port, "other.example.test").unwrap_err();
    assert!(e.contains("not valid for name"), "{e}");
}

#[test]
fn a_certificate_named_by_its_cn_alone_passes_openssl_and_not_rustls() {
    let pki = TestPki::shared();
    let port = serve_with(&pki.cn_only_cert, &pki.cn_only_key);
    let cfg = domain(&format!("ca_file = {:?}\n", pki.ca_cert));
    handshake(&connector(&cfg), port, "localhost").unwrap();
    let e = handshake(&connector(&cfg), port, "other.example.test").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");
    let e = rustls_handshake(&rustls_config(&cfg), port, "localhost").unwrap_err();
    assert!(e.contains("not valid for name"), "{e}");
}

#[test]
fn each_library_prepares_only_its_own_connector() {
    let pki = TestPki::shared();
    let ca = format!("ca_file = {:?}\n", pki.ca_cert);
    let only = |lib: &str| {
        let p = prepare(&domain(&format!("{ca}tls_library = \"{lib}\"\n")))
            .unwrap()
            .unwrap();
        (p.openssl.is_some(), p.rustls.is_some())
    };
    assert_eq!(only("openssl"), (true, false));
    assert_eq!(only("rustls"), (false, true));
    assert_eq!(only("auto"), (true, true));
    let e = Config::from_str(
        "[[domain]]\nname = \"ex\"\nuris = [\"ldaps://localhost\"]\n\
         base_dn = \"dc=example,dc=test\"\ntls_library = \"gnutls\"\n",
        "t.toml",
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("tls_library"), "{e}");
}
