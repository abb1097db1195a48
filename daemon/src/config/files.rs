//! The files a domain names, read while loading: the TLS material is
//! parsed so that a wrong file is reported by the configuration check, and
//! the bind password is read into a zeroizing [`roster_proto::Secret`].

use super::domain::DomainConfig;
use super::error::ConfigError;
use super::secret::{read_password_file, SecretReader};
use super::source::{Place, Source};

/// Reads the files of the `i`-th domain (resolved): TLS files must be
/// readable (by `reader`, the daemon's user) and parse, the bind password
/// file must be private; the password is kept in `d.bind_password` (and
/// the password admin's, checked the same way, in
/// `d.password_admin_password`).
pub(crate) fn read(
    i: usize,
    d: &mut DomainConfig,
    src: &Source<'_>,
    reader: SecretReader,
) -> Result<(), ConfigError> {
    let name = d.name.clone();
    let place = Place::Domain {
        index: i,
        name: &name,
    };
    let err = |key: &str, msg: String| src.key_error(place, key, msg);
    for (key, path) in [
        ("ca_file", &d.ca_file),
        ("client_cert", &d.client_cert),
        ("client_key", &d.client_key),
    ] {
        if let Some(p) = path {
            match std::fs::File::open(p).and_then(|f| f.metadata()) {
                Err(e) => return Err(err(key, format!("cannot read {}: {e}", p.display()))),
                Ok(meta) if !reader.may_read(&meta) => {
                    return Err(err(
                        key,
                        format!(
                            "{} is not readable by the daemon's user (uid {})",
                            p.display(),
                            reader.uid()
                        ),
                    ))
                }
                Ok(_) => {}
            }
        }
    }
    check_tls_files(d, reader).map_err(|(key, m)| err(key, m))?;
    if let (Some(_), Some(file)) = (&d.bind_dn, &d.bind_password_file) {
        let secret = read_password_file(file, reader).map_err(|m| err("bind_password_file", m))?;
        d.bind_password = Some(secret);
    }
    if let (Some(_), Some(file)) = (&d.password_admin_dn, &d.password_admin_password_file) {
        let secret =
            read_password_file(file, reader).map_err(|m| err("password_admin_password_file", m))?;
        d.password_admin_password = Some(secret);
    }
    Ok(())
}

/// Parses the CA and client certificate files so that a wrong file is
/// reported by the configuration check; the client key must be private.
fn check_tls_files(d: &DomainConfig, reader: SecretReader) -> Result<(), (&'static str, String)> {
    if let Some(ca) = &d.ca_file {
        let pem = std::fs::read(ca)
            .map_err(|e| ("ca_file", format!("cannot read {}: {e}", ca.display())))?;
        match native_tls::Certificate::stack_from_pem(&pem) {
            Ok(certs) if !certs.is_empty() => {}
            Ok(_) => {
                return Err((
                    "ca_file",
                    format!("{}: no PEM certificate in the file", ca.display()),
                ))
            }
            Err(e) => {
                return Err((
                    "ca_file",
                    format!("{}: not a PEM certificate: {e}", ca.display()),
                ))
            }
        }
    }
    if let (Some(cert), Some(key)) = (&d.client_cert, &d.client_key) {
        super::secret::check_private_file(key, "a private key file", reader)
            .map_err(|m| ("client_key", m))?;
        let cert_pem = std::fs::read(cert).map_err(|e| {
            (
                "client_cert",
                format!("cannot read {}: {e}", cert.display()),
            )
        })?;
        let key_pem = zeroize::Zeroizing::new(
            std::fs::read(key)
                .map_err(|e| ("client_key", format!("cannot read {}: {e}", key.display())))?,
        );
        native_tls::Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| {
            (
                "client_key",
                format!(
                    "{} / {}: not a usable certificate and PEM PKCS#8 key (\"BEGIN PRIVATE KEY\"): {e}",
                    cert.display(),
                    key.display()
                ),
            )
        })?;
    }
    Ok(())
}
