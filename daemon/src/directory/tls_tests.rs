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
fn serve_with(cert: &Path, key: &Path) -> u16 {
    serve_through(TlsAcceptor::new(identity(cert, key)).unwrap())
}

/// The identity of certificate `cert` and PKCS#8 key `key`.
fn identity(cert: &Path, key: &Path) -> Identity {
    Identity::from_pkcs8(&std::fs::read(cert).unwrap(), &std::fs::read(key).unwrap()).unwrap()
}

/// A TLS server on loopback accepting through `acceptor`; every accepted
/// connection is answered with "ok" once.
fn serve_through(acceptor: TlsAcceptor) -> u16 {
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

/// A domain's client through one TLS library, built as rosterd builds it.
enum Client {
    Openssl(TlsConnector),
    Rustls(Arc<ClientConfig>),
}

impl Client {
    /// The client of domain `cfg` through `library` ("openssl", "rustls").
    fn of(library: &str, cfg: &DomainConfig) -> Client {
        match library {
            "openssl" => Client::Openssl(connector(cfg)),
            _ => Client::Rustls(rustls_config(cfg)),
        }
    }

    fn handshake(&self, port: u16, name: &str) -> Result<(), String> {
        match self {
            Client::Openssl(c) => handshake(c, port, name),
            Client::Rustls(c) => rustls_handshake(c, port, name),
        }
    }
}

/// The words of `library`'s refusal of a certificate for another name, and
/// of one of an unknown CA.
fn refusals(library: &str) -> (&'static str, &'static str) {
    match library {
        "openssl" => ("certificate verify failed", "certificate verify failed"),
        _ => ("not valid for name", "UnknownIssuer"),
    }
}

#[test]
fn a_ca_file_client_trusts_its_ca_and_checks_the_host_name() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    let (ca, other) = (&pki.ca_cert, &pki.wrong_ca_cert);
    for lib in ["openssl", "rustls"] {
        let (wrong_name, unknown_ca) = refusals(lib);
        let trusting = Client::of(lib, &domain(&format!("ca_file = {:?}\n", ca)));
        trusting.handshake(port, "localhost").unwrap();
        trusting.handshake(port, "127.0.0.1").unwrap();
        for wrong in ["other.example.test", "127.0.0.2", "localhost.example.test"] {
            let e = trusting.handshake(port, wrong).unwrap_err();
            assert!(e.contains(wrong_name), "{lib} {wrong}: {e}");
        }

        // Another CA alone: the server's certificate is refused, whatever name.
        let refusing = Client::of(lib, &domain(&format!("ca_file = {:?}\n", other)));
        let e = refusing.handshake(port, "localhost").unwrap_err();
        assert!(e.contains(unknown_ca), "{lib}: {e}");

        // tls_verify = false accepts any certificate under any name.
        let lax = Client::of(
            lib,
            &domain(&format!("ca_file = {:?}\ntls_verify = false\n", other)),
        );
        lax.handshake(port, "other.example.test").unwrap();
    }
}

#[test]
fn without_a_ca_file_the_system_roots_do_not_trust_a_private_ca() {
    let pki = TestPki::shared();
    let port = serve(&pki);
    for lib in ["openssl", "rustls"] {
        let (wrong_name, unknown_ca) = refusals(lib);
        let system = Client::of(lib, &domain(""));
        let e = system.handshake(port, "localhost").unwrap_err();
        assert!(e.contains(unknown_ca), "{lib}: {e}");
        // With ca_system = true the private CA is trusted beside them.
        let both = Client::of(
            lib,
            &domain(&format!("ca_file = {:?}\nca_system = true\n", pki.ca_cert)),
        );
        both.handshake(port, "localhost").unwrap();
        let e = both.handshake(port, "other.example.test").unwrap_err();
        assert!(e.contains(wrong_name), "{lib}: {e}");
    }
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

/// Set in the child run of [`openssl_follows_the_systems_protocol_bounds`]:
/// the port of the parent's server and its CA file.
const CHILD: &str = "ROSTER_TEST_OPENSSL_CONF_CHILD";

/// A TLS server on loopback that speaks TLS 1.2 alone, as [`serve`]
/// (native-tls's acceptor has no TLS 1.3).
fn serve_tls12_only(pki: &TestPki) -> u16 {
    let acceptor = TlsAcceptor::builder(identity(&pki.server_cert, &pki.server_key))
        .min_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .max_protocol_version(Some(native_tls::Protocol::Tlsv12))
        .build()
        .unwrap();
    serve_through(acceptor)
}

/// OpenSSL's connector leaves the protocol versions to the system's
/// configuration (vendored native-tls: `None` bounds are not set): under an
/// `openssl.cnf` whose `MinProtocol` is TLS 1.3 it cannot reach a server
/// that speaks TLS 1.2 alone, which it reaches without that file (released
/// native-tls set "any version" and reached it under both). The file is
/// read once a process, so the client side runs in a child process with
/// `OPENSSL_CONF` set; the server stays in this one.
#[test]
fn openssl_follows_the_systems_protocol_bounds() {
    let name = "directory::tls::tests::openssl_follows_the_systems_protocol_bounds";
    if let Some(child) = std::env::var_os(CHILD) {
        // "PORT CA-FILE": the parent's server and CA (the shared PKI is
        // the day's: the child might start on the next one).
        let child = child.to_str().unwrap().to_string();
        let (port, ca) = child.split_once(' ').unwrap();
        let port: u16 = port.parse().unwrap();
        let cfg = domain(&format!("ca_file = {ca:?}\n"));
        let e = handshake(&connector(&cfg), port, "localhost").unwrap_err();
        assert!(e.contains("protocol"), "{e}");
        // rustls does not read openssl.cnf: TLS 1.2.
        rustls_handshake(&rustls_config(&cfg), port, "localhost").unwrap();
        return;
    }
    let pki = TestPki::shared();
    let cfg = domain(&format!("ca_file = {:?}\n", pki.ca_cert));
    let port = serve_tls12_only(&pki);
    handshake(&connector(&cfg), port, "localhost").unwrap();
    let t = tempfile::tempdir().unwrap();
    let conf = t.path().join("openssl.cnf");
    std::fs::write(
        &conf,
        "openssl_conf = default_conf\n[default_conf]\nssl_conf = ssl_sect\n\
         [ssl_sect]\nsystem_default = system_default_sect\n\
         [system_default_sect]\nMinProtocol = TLSv1.3\n",
    )
    .unwrap();
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, format!("{port} {}", pki.ca_cert.display()))
        .env("OPENSSL_CONF", &conf)
        .output()
        .unwrap();
    roster_proto::test_support::assert_one_test_passed(&out);
}

#[test]
fn what_counts_as_rustls_refusing_a_handshake() {
    use super::{refused_by_rustls, Refusal};
    use ldap3::LdapError;
    use std::io::{Error, ErrorKind};
    let io = |e: Error| LdapError::Io { source: e };
    let alert = io(Error::new(
        ErrorKind::InvalidData,
        rustls::Error::AlertReceived(rustls::AlertDescription::HandshakeFailure),
    ));
    let refusal = refused_by_rustls(&alert).unwrap();
    assert!(refusal.why.contains("HandshakeFailure") && refusal.lasting);
    // An end of file during the handshake: OpenSSL for that connection.
    let eof = io(Error::new(ErrorKind::UnexpectedEof, "tls handshake eof"));
    assert_eq!(
        refused_by_rustls(&eof),
        Some(Refusal {
            why: "the server closed the connection during the handshake".into(),
            lasting: false
        })
    );
    // Not a refusal: a refused or reset TCP connection, another EOF.
    for other in [
        io(Error::from(ErrorKind::ConnectionRefused)),
        io(Error::from(ErrorKind::ConnectionReset)),
        io(Error::new(ErrorKind::UnexpectedEof, "early eof")),
    ] {
        assert_eq!(refused_by_rustls(&other), None, "{other}");
    }
}

#[test]
fn auto_leaves_to_openssl_a_client_key_rustls_cannot_use() {
    let pki = TestPki::shared();
    let t = tempfile::tempdir().unwrap();
    let (cert, key) = roster_e2e::tls::p521_client(t.path());
    let lines = |lib: &str| {
        format!(
            "ca_file = {:?}\nclient_cert = {cert:?}\nclient_key = {key:?}\ntls_library = \"{lib}\"\n",
            pki.ca_cert
        )
    };
    let auto = prepare(&domain(&lines("auto"))).unwrap().unwrap();
    assert!(auto.openssl.is_some() && auto.rustls.is_none());
    let why = auto.rustls_unusable.expect("why rustls is not used");
    assert!(
        why.contains("client_key") && why.contains("p521.key"),
        "{why}"
    );
    // Chosen alone, rustls refuses the domain, naming the key.
    let e = prepare(&domain(&lines("rustls")))
        .err()
        .unwrap()
        .to_string();
    assert!(e.contains("client_key") && e.contains("p521.key"), "{e}");
}
