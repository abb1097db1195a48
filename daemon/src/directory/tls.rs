//! TLS settings of a domain: the native-tls connector (trusted CA, client
//! identity, verification switch) and the ldap3 connection settings.

use super::DirectoryError;
use crate::config::DomainConfig;
use ldap3::LdapConnSettings;
use native_tls::{Certificate, Identity, TlsConnector, TlsConnectorBuilder};
use std::path::Path;
use zeroize::Zeroizing;

/// The TLS settings of a domain, read and checked (its files named in the
/// errors), ready for [`build`]; `None` when no URI uses TLS.
///
/// `ca_file` certificates replace the system roots (added to them with
/// `ca_system = true`); a client
/// certificate and PKCS#8 key give TLS client authentication; with
/// `tls_verify = false` any certificate and host name are accepted.
pub(crate) fn prepare(cfg: &DomainConfig) -> Result<Option<TlsConnectorBuilder>, DirectoryError> {
    if !cfg.any_tls() {
        return Ok(None);
    }
    let mut builder = TlsConnector::builder();
    if let Some(ca) = &cfg.ca_file {
        let pem = read(ca, "ca_file")?;
        let certs = Certificate::stack_from_pem(&pem).map_err(|e| {
            config_err(
                cfg,
                format!("ca_file {}: not a PEM certificate: {e}", ca.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(config_err(
                cfg,
                format!("ca_file {}: no certificate in the file", ca.display()),
            ));
        }
        builder.disable_built_in_roots(!cfg.ca_system);
        for c in certs {
            builder.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert, &cfg.client_key) {
        let cert_pem = read(cert, "client_cert")?;
        let key_pem = Zeroizing::new(read(key, "client_key")?);
        let identity = Identity::from_pkcs8(&cert_pem, &key_pem).map_err(|e| {
            config_err(
                cfg,
                format!(
                    "client_cert {} / client_key {}: {e} (the key must be PEM PKCS#8, \"BEGIN PRIVATE KEY\")",
                    cert.display(),
                    key.display()
                ),
            )
        })?;
        builder.identity(identity);
    }
    if !cfg.tls_verify {
        builder.danger_accept_invalid_certs(true);
        builder.danger_accept_invalid_hostnames(true);
    }
    Ok(Some(builder))
}

/// The connector of settings [`prepare`]d. With the system's roots this is
/// the slow part: OpenSSL parses the system's CA bundle (about 17 ms); a
/// `ca_file` that replaces them is read alone (the vendored native-tls:
/// vendor/native-tls/ROSTER-PATCH.md).
pub(crate) fn build(
    cfg: &DomainConfig,
    builder: &TlsConnectorBuilder,
) -> Result<TlsConnector, DirectoryError> {
    builder
        .build()
        .map_err(|e| config_err(cfg, format!("TLS setup failed: {e}")))
}

/// ldap3 settings for connecting to `uri` of this domain.
pub(crate) fn settings(
    cfg: &DomainConfig,
    connector: Option<&TlsConnector>,
    uri: &str,
) -> LdapConnSettings {
    let mut s = LdapConnSettings::new().set_conn_timeout(cfg.connect_timeout);
    if cfg.uses_tls(uri) {
        s = s.set_starttls(cfg.start_tls && !crate::uri::parse(uri).is_ok_and(|u| u.is_ldaps()));
        if let Some(c) = connector {
            s = s.set_connector(c.clone());
        }
        s = s.set_no_tls_verify(!cfg.tls_verify);
    }
    s
}

fn read(path: &Path, key: &str) -> Result<Vec<u8>, DirectoryError> {
    std::fs::read(path)
        .map_err(|e| DirectoryError::invalid(format!("{key} {}: {e}", path.display())))
}

fn config_err(cfg: &DomainConfig, msg: String) -> DirectoryError {
    DirectoryError::invalid(format!("domain \"{}\": {msg}", cfg.name))
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
