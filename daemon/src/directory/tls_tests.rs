//! The connector [`prepare`]/[`build`] make, against a TLS server on
//! loopback: the CA it trusts, host-name verification and
//! `tls_verify = false` (vendored native-tls makes a `ca_file`-only
//! connector without the system's roots: vendor/native-tls/ROSTER-PATCH.md).

use super::{build, prepare};
use crate::config::{Config, DomainConfig};
use native_tls::{Identity, TlsAcceptor, TlsConnector};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::Command;

/// Runs `openssl` with `args` in `dir`; panics with its output on failure.
fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A self-signed CA `NAME.pem` (key `NAME.key`) in `dir`.
fn make_ca(dir: &Path, name: &str) {
    let (key, cert) = (format!("{name}.key"), format!("{name}.pem"));
    let subj = format!("/CN={name}");
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "2",
            "-subj",
            &subj,
            "-keyout",
            &key,
            "-out",
            &cert,
        ],
    );
}

/// A server certificate for `localhost` and 127.0.0.1 signed by CA `ca`:
/// `server.pem`, `server.key` (PKCS#8).
fn make_server_cert(dir: &Path, ca: &str) {
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-subj",
            "/CN=localhost",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    let (ca_pem, ca_key) = (format!("{ca}.pem"), format!("{ca}.key"));
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            &ca_pem,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
}

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

/// A TLS server on loopback with `dir`'s server certificate; every
/// accepted connection is answered with "ok" once.
fn serve(dir: &Path) -> u16 {
    let identity = Identity::from_pkcs8(
        &std::fs::read(dir.join("server.pem")).unwrap(),
        &std::fs::read(dir.join("server.key")).unwrap(),
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
    let t = tempfile::tempdir().unwrap();
    make_ca(t.path(), "ca");
    make_ca(t.path(), "other");
    make_server_cert(t.path(), "ca");
    let port = serve(t.path());
    let ca = t.path().join("ca.pem");
    let other = t.path().join("other.pem");

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
    let t = tempfile::tempdir().unwrap();
    make_ca(t.path(), "ca");
    make_server_cert(t.path(), "ca");
    let port = serve(t.path());
    let system = connector(&domain(""));
    let e = handshake(&system, port, "localhost").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");
    // With ca_system = true the private CA is trusted beside them.
    let both = connector(&domain(&format!(
        "ca_file = {:?}\nca_system = true\n",
        t.path().join("ca.pem")
    )));
    handshake(&both, port, "localhost").unwrap();
    let e = handshake(&both, port, "other.example.test").unwrap_err();
    assert!(e.contains("certificate verify failed"), "{e}");
}
