//! Throwaway certificates made at test time with the `openssl` command:
//! a CA, a server certificate for 127.0.0.1/localhost signed by it, a client
//! certificate, and an unrelated "wrong" CA.
//!
//! [`TestPki::shared`] makes one such set a day and hands the same files to
//! every test process (see [`crate::fixture_cache`]); nothing writes them.

use crate::fixture_cache;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

/// Days each certificate is valid: a shared set is made for the day it is
/// first needed and must outlast any run that starts that day.
const VALID_DAYS: &str = "3";
/// Extensions of the server certificate.
/// (`*.ad.example.test`: the test Samba DC's name as DNS SRV records give it.)
const SERVER_EXT: &str = "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:*.ad.example.test\n\
                          basicConstraints=CA:FALSE\n\
                          keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
/// Extensions of the legacy server certificate: no subjectAltName, its
/// name (`localhost`) in the subject's CN alone, which OpenSSL accepts and
/// rustls does not.
const CN_ONLY_EXT: &str = "basicConstraints=CA:FALSE\n\
                           keyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n";
/// Extensions of the client certificate.
const CLIENT_EXT: &str =
    "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=clientAuth\n";

/// Files of a generated test PKI.
#[derive(Clone, Debug)]
pub struct TestPki {
    /// CA certificate that signed the server and client certificates.
    pub ca_cert: PathBuf,
    /// Server certificate (SAN: IP 127.0.0.1, DNS localhost and
    /// *.ad.example.test).
    pub server_cert: PathBuf,
    /// Server private key.
    pub server_key: PathBuf,
    /// Client certificate (extendedKeyUsage clientAuth).
    pub client_cert: PathBuf,
    /// Client private key.
    pub client_key: PathBuf,
    /// A CA that signed nothing here: verifying the server with it fails.
    pub wrong_ca_cert: PathBuf,
    /// A server certificate of the CA named `localhost` by its CN alone (no
    /// subjectAltName), as older servers' are.
    pub cn_only_cert: PathBuf,
    /// Its private key.
    pub cn_only_key: PathBuf,
}

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("run openssl");
    assert!(
        out.status.success(),
        "openssl {:?} failed: {}",
        args,
        String::from_utf8_lossy(&out.stderr)
    );
}

fn self_signed_ca(dir: &Path, name: &str, cn: &str) {
    self_signed(
        dir,
        name,
        cn,
        "prime256v1",
        &[
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        ],
    );
}

/// A self-signed certificate `name.pem` with an EC key `name.key` on
/// `curve`, with `extra` arguments of `openssl req`.
fn self_signed(dir: &Path, name: &str, cn: &str, curve: &str, extra: &[&str]) {
    let curve = format!("ec_paramgen_curve:{curve}");
    let (subject, key, cert) = (
        format!("/CN={cn}"),
        format!("{name}.key"),
        format!("{name}.pem"),
    );
    let mut args = vec![
        "req", "-x509", "-newkey", "ec", "-pkeyopt", &curve, "-nodes", "-days", VALID_DAYS,
        "-subj", &subject,
    ];
    args.extend_from_slice(extra);
    args.extend(["-keyout", &key, "-out", &cert]);
    openssl(dir, &args);
}

fn signed_cert(dir: &Path, name: &str, cn: &str, ext: &str) {
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
            &format!("/CN={cn}"),
            "-keyout",
            &format!("{name}.key"),
            "-out",
            &format!("{name}.csr"),
        ],
    );
    std::fs::write(dir.join(format!("{name}.ext")), ext).expect("write ext file");
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            VALID_DAYS,
            "-extfile",
            &format!("{name}.ext"),
            "-out",
            &format!("{name}.pem"),
        ],
    );
}

impl TestPki {
    /// Generates a fresh PKI in `dir` (takes well under a second).
    pub fn generate(dir: &Path) -> TestPki {
        std::fs::create_dir_all(dir).expect("create pki dir");
        self_signed_ca(dir, "ca", "roster test CA");
        self_signed_ca(dir, "wrong-ca", "roster wrong CA");
        signed_cert(dir, "server", "localhost", SERVER_EXT);
        signed_cert(dir, "client", "roster client", CLIENT_EXT);
        signed_cert(dir, "cn-only", "localhost", CN_ONLY_EXT);
        // Servers (Samba) refuse keys others may read.
        for key in [
            "ca.key",
            "wrong-ca.key",
            "server.key",
            "client.key",
            "cn-only.key",
        ] {
            std::fs::set_permissions(dir.join(key), std::fs::Permissions::from_mode(0o600))
                .expect("chmod key");
        }
        TestPki::in_dir(dir)
    }

    /// The PKI of today, generated by the first test process that asks and
    /// shared read-only by every other one.
    pub fn shared() -> TestPki {
        let day = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() / 86_400)
            .unwrap_or(0);
        let recipe = fixture_cache::digest(&(VALID_DAYS, SERVER_EXT, CLIENT_EXT, CN_ONLY_EXT));
        let dir = fixture_cache::shared_dir(&format!("pki-day{day}-{recipe}"), |d| {
            TestPki::generate(d);
        });
        TestPki::in_dir(&dir)
    }

    /// The file names [`TestPki::generate`] writes in `dir`.
    pub(crate) fn in_dir(dir: &Path) -> TestPki {
        TestPki {
            ca_cert: dir.join("ca.pem"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
            wrong_ca_cert: dir.join("wrong-ca.pem"),
            cn_only_cert: dir.join("cn-only.pem"),
            cn_only_key: dir.join("cn-only.key"),
        }
    }
}

/// A self-signed client certificate and its PKCS#8 key (mode 0600) on
/// curve P-521, which OpenSSL signs with and rustls (ring) does not, in
/// `dir`: (certificate, key).
pub fn p521_client(dir: &Path) -> (PathBuf, PathBuf) {
    self_signed(dir, "p521", "p521 client", "secp521r1", &[]);
    let (cert, key) = (dir.join("p521.pem"), dir.join("p521.key"));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).expect("chmod key");
    (cert, key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of a generated PKI is there, each certificate the CA
    /// signed verifies against it, and the P-521 client pair is made.
    #[test]
    fn generate_writes_a_pki_whose_certificates_verify() {
        let t = tempfile::tempdir().unwrap();
        let dir = t.path().join("pki");
        let pki = TestPki::generate(&dir);
        for cert in [&pki.server_cert, &pki.client_cert, &pki.cn_only_cert] {
            let ca = pki.ca_cert.display().to_string();
            let c = cert.display().to_string();
            openssl(&dir, &["verify", "-CAfile", &ca, &c]);
        }
        let (cert, key) = p521_client(&dir);
        assert!(cert.is_file() && key.is_file());
    }
}
