//! TLS settings of a domain: the connector of each TLS library
//! (`tls_library`: rustls, OpenSSL through native-tls, or rustls with
//! OpenSSL where rustls cannot; trusted CA, client identity, verification
//! switch) and the ldap3 connection settings.

use super::DirectoryError;
use crate::config::{DomainConfig, TlsLibrary};
use ldap3::{LdapConnSettings, LdapError};
use native_tls::{Certificate, Identity, TlsConnector, TlsConnectorBuilder};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use std::path::Path;
use std::sync::Arc;
use zeroize::Zeroizing;

/// The TLS settings of a domain, read and checked (its files named in the
/// errors) for each library its `tls_library` may use, ready for
/// [`build_openssl`] and [`build_rustls`].
///
/// `ca_file` certificates replace the system roots (added to them with
/// `ca_system = true`); a client certificate and its key give TLS client
/// authentication; with `tls_verify = false` any certificate and host
/// name are accepted.
pub(crate) struct Prepared {
    /// OpenSSL's connector, to be built (`openssl` and `auto`).
    pub openssl: Option<TlsConnectorBuilder>,
    /// rustls's configuration, to be built (`rustls` and `auto`).
    pub rustls: Option<RustlsParts>,
    /// Under `auto`, why rustls cannot use the domain's TLS files (a key or
    /// certificate it does not read): the domain then goes through OpenSSL.
    pub rustls_unusable: Option<String>,
}

/// What a rustls configuration is built from.
pub(crate) struct RustlsParts {
    /// The certificates of `ca_file` (none without it).
    ca: Vec<CertificateDer<'static>>,
    /// Whether the system's CA store is trusted too (no `ca_file`, or
    /// `ca_system = true`).
    system_roots: bool,
    /// The client certificate's chain and its key's PEM text (read into a
    /// key at each build; the text is wiped when dropped).
    client: Option<(Vec<CertificateDer<'static>>, Zeroizing<Vec<u8>>)>,
}

/// A connector of one TLS library, built.
#[derive(Clone)]
pub(crate) enum Connector {
    /// OpenSSL, through native-tls.
    Openssl(TlsConnector),
    /// rustls.
    Rustls(Arc<ClientConfig>),
}

/// Reads and checks the TLS files of `cfg` for the libraries its
/// `tls_library` may use; `None` when no URI uses TLS.
pub(crate) fn prepare(cfg: &DomainConfig) -> Result<Option<Prepared>, DirectoryError> {
    if !cfg.any_tls() {
        return Ok(None);
    }
    let ca = match &cfg.ca_file {
        Some(path) => Some((path, read(path, "ca_file")?)),
        None => None,
    };
    let client = match (&cfg.client_cert, &cfg.client_key) {
        (Some(cert), Some(key)) => Some((
            (cert, read(cert, "client_cert")?),
            (key, Zeroizing::new(read(key, "client_key")?)),
        )),
        _ => None,
    };
    let openssl = match cfg.tls_library {
        TlsLibrary::Rustls => None,
        TlsLibrary::Openssl | TlsLibrary::Auto => Some(prepare_openssl(cfg, &ca, &client)?),
    };
    let (rustls, rustls_unusable) = match cfg.tls_library {
        TlsLibrary::Openssl => (None, None),
        TlsLibrary::Rustls => (Some(prepare_rustls(cfg, &ca, &client)?), None),
        TlsLibrary::Auto => match prepare_rustls(cfg, &ca, &client) {
            Ok(parts) => (Some(parts), None),
            Err(e) => (None, Some(e.to_string())),
        },
    };
    Ok(Some(Prepared {
        openssl,
        rustls,
        rustls_unusable,
    }))
}

/// A file's path and contents.
type FileRead<'a, T> = (&'a std::path::PathBuf, T);
/// The client certificate's and key's files, read.
type ClientFiles<'a> = Option<(FileRead<'a, Vec<u8>>, FileRead<'a, Zeroizing<Vec<u8>>>)>;

fn prepare_openssl(
    cfg: &DomainConfig,
    ca: &Option<FileRead<'_, Vec<u8>>>,
    client: &ClientFiles<'_>,
) -> Result<TlsConnectorBuilder, DirectoryError> {
    let mut builder = TlsConnector::builder();
    // The protocol versions are left to the system's OpenSSL configuration
    // (vendored native-tls): `openssl.cnf`'s MinProtocol / MaxProtocol,
    // else OpenSSL 3's security level (Debian's 2 allows TLS 1.2 and later).
    builder.min_protocol_version(None);
    if let Some((path, pem)) = ca {
        let certs = Certificate::stack_from_pem(pem).map_err(|e| {
            config_err(
                cfg,
                format!("ca_file {}: not a PEM certificate: {e}", path.display()),
            )
        })?;
        if certs.is_empty() {
            return Err(no_certificate(cfg, "ca_file", path));
        }
        builder.disable_built_in_roots(!cfg.ca_system);
        for c in certs {
            builder.add_root_certificate(c);
        }
    }
    if let Some(((cert, cert_pem), (key, key_pem))) = client {
        let identity = Identity::from_pkcs8(cert_pem, key_pem).map_err(|e| {
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
    Ok(builder)
}

fn prepare_rustls(
    cfg: &DomainConfig,
    ca: &Option<FileRead<'_, Vec<u8>>>,
    client: &ClientFiles<'_>,
) -> Result<RustlsParts, DirectoryError> {
    let ca_certs = match ca {
        Some((path, pem)) => pem_certificates(cfg, path, "ca_file", pem)?,
        None => Vec::new(),
    };
    let client = match client {
        Some(((cert, cert_pem), (_, key_pem))) => Some((
            pem_certificates(cfg, cert, "client_cert", cert_pem)?,
            key_pem.clone(),
        )),
        None => None,
    };
    let parts = RustlsParts {
        system_roots: ca.is_none() || cfg.ca_system,
        ca: ca_certs,
        client,
    };
    // What can only fail for good (a `ca_file` certificate rustls cannot
    // use, a client key it cannot sign with or that does not match its
    // certificate) is found now, with the `ca_file` alone: the build at the
    // first connection then adds only the system's store.
    let check = ClientConfig::builder_with_provider(Arc::new(provider()))
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(cfg, format!("TLS setup (rustls) failed: {e}")))?
        .with_root_certificates(ca_store(cfg, &parts.ca)?);
    if let Some((chain, key_pem)) = &parts.client {
        check
            .with_client_auth_cert(chain.clone(), client_key(cfg, key_pem)?)
            .map_err(|e| client_pair_err(cfg, e))?;
    }
    Ok(parts)
}

/// The error of a client certificate and key rustls cannot use (together).
fn client_pair_err(cfg: &DomainConfig, e: rustls::Error) -> DirectoryError {
    let path = |p: &Option<std::path::PathBuf>| {
        p.as_deref()
            .map_or_else(String::new, |p| p.display().to_string())
    };
    config_err(
        cfg,
        format!(
            "client_cert {} / client_key {}: not usable by rustls: {e}",
            path(&cfg.client_cert),
            path(&cfg.client_key)
        ),
    )
}

/// The certificates of a PEM file, at least one.
fn pem_certificates(
    cfg: &DomainConfig,
    path: &Path,
    key: &str,
    pem: &[u8],
) -> Result<Vec<CertificateDer<'static>>, DirectoryError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| {
            config_err(
                cfg,
                format!("{key} {}: not a PEM certificate: {e}", path.display()),
            )
        })?;
    if certs.is_empty() {
        return Err(no_certificate(cfg, key, path));
    }
    Ok(certs)
}

/// The error of a certificate file (`key`) without a certificate.
fn no_certificate(cfg: &DomainConfig, key: &str, path: &Path) -> DirectoryError {
    config_err(
        cfg,
        format!("{key} {}: no certificate in the file", path.display()),
    )
}

/// OpenSSL's connector of settings [`prepare`]d. With the system's roots
/// this is the slow part: OpenSSL parses the system's CA bundle (about 17
/// ms); a `ca_file` that replaces them is read alone (the vendored
/// native-tls: vendor/native-tls/ROSTER-PATCH.md).
pub(crate) fn build_openssl(
    cfg: &DomainConfig,
    builder: &TlsConnectorBuilder,
) -> Result<TlsConnector, DirectoryError> {
    builder
        .build()
        .map_err(|e| config_err(cfg, format!("TLS setup (OpenSSL) failed: {e}")))
}

/// rustls's configuration of settings [`prepare`]d: TLS 1.2 and 1.3 with
/// ring's cryptography; the system's CA store read when trusted (the slow
/// part, as for OpenSSL).
pub(crate) fn build_rustls(
    cfg: &DomainConfig,
    parts: &RustlsParts,
) -> Result<Arc<ClientConfig>, DirectoryError> {
    let provider = Arc::new(provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| config_err(cfg, format!("TLS setup (rustls) failed: {e}")))?;
    let builder = if cfg.tls_verify {
        builder.with_root_certificates(roots(cfg, parts)?)
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
    };
    let config = match &parts.client {
        Some((chain, key_pem)) => builder
            .with_client_auth_cert(chain.clone(), client_key(cfg, key_pem)?)
            .map_err(|e| client_pair_err(cfg, e))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// The client key of PEM text `key_pem` (read when prepared).
fn client_key(
    cfg: &DomainConfig,
    key_pem: &[u8],
) -> Result<PrivateKeyDer<'static>, DirectoryError> {
    PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
        let path = cfg.client_key.as_deref().unwrap_or(Path::new("client_key"));
        config_err(
            cfg,
            format!("client_key {}: no private key read: {e}", path.display()),
        )
    })
}

/// ring's cryptography, the only provider compiled in (ring is built for
/// the GSSAPI channel binding already; aws-lc-rs, rustls's default, would
/// add a C library to the build). rustls 0.23.48 marks it deprecated
/// because ring has no post-quantum key exchange, which Debian 12's
/// OpenSSL 3.0 has not either.
#[allow(deprecated)]
fn provider() -> CryptoProvider {
    rustls::crypto::ring::default_provider()
}

/// The CAs rustls trusts for the domain: `ca_file`'s, and the system's
/// when trusted.
fn roots(cfg: &DomainConfig, parts: &RustlsParts) -> Result<RootCertStore, DirectoryError> {
    let mut store = ca_store(cfg, &parts.ca)?;
    if parts.system_roots {
        let system = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(system.certs);
        if added == 0 && parts.ca.is_empty() {
            let why = system
                .errors
                .first()
                .map_or_else(|| "none found".to_string(), |e| e.to_string());
            return Err(config_err(
                cfg,
                format!("no system CA certificate could be read for rustls ({why}): set ca_file"),
            ));
        }
    }
    Ok(store)
}

/// The store of `ca_file`'s certificates `ca`.
fn ca_store(
    cfg: &DomainConfig,
    ca: &[CertificateDer<'static>],
) -> Result<RootCertStore, DirectoryError> {
    let mut store = RootCertStore::empty();
    for cert in ca {
        store.add(cert.clone()).map_err(|e| {
            let path = cfg.ca_file.as_deref().unwrap_or(Path::new("ca_file"));
            config_err(
                cfg,
                format!(
                    "ca_file {}: a certificate rustls cannot use: {e}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(store)
}

/// `tls_verify = false` under rustls: any certificate, under any name, is
/// accepted; the handshake's signature is still checked against it.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// rustls refusing a connection's TLS handshake: the cases after which
/// `tls_library = "auto"` tries OpenSSL.
#[derive(Debug, PartialEq)]
pub(crate) struct Refusal {
    /// Why, in words.
    pub why: String,
    /// True when rustls itself refused (its error, or the server's alert):
    /// the server is reached through OpenSSL from then on. False when the
    /// server closed the connection during the handshake, which some do
    /// instead of an alert when they share no version or cipher with the
    /// client, but a restart or a connection limit does too: OpenSSL for
    /// this connection only.
    pub lasting: bool,
}

/// How rustls refused the handshake that `e` ended, when it did (not a
/// timeout, a refused or reset TCP connection, another end of file).
pub(crate) fn refused_by_rustls(e: &LdapError) -> Option<Refusal> {
    let lasting = |why: String| Refusal { why, lasting: true };
    match e {
        LdapError::Rustls { source } => Some(lasting(source.to_string())),
        LdapError::Io { source } => {
            if let Some(e) = source
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
            {
                return Some(lasting(e.to_string()));
            }
            // tokio-rustls 0.26's words for an end of file during the
            // handshake (`common/mod.rs`).
            (source.kind() == std::io::ErrorKind::UnexpectedEof
                && source.to_string() == "tls handshake eof")
                .then(|| Refusal {
                    why: "the server closed the connection during the handshake".into(),
                    lasting: false,
                })
        }
        _ => None,
    }
}

/// ldap3 settings for connecting to `uri` of this domain through
/// `connector`.
pub(crate) fn settings(
    cfg: &DomainConfig,
    connector: Option<&Connector>,
    uri: &str,
) -> LdapConnSettings {
    let mut s = LdapConnSettings::new().set_conn_timeout(cfg.connect_timeout);
    if cfg.uses_tls(uri) {
        s = s.set_starttls(cfg.start_tls && !crate::uri::parse(uri).is_ok_and(|u| u.is_ldaps()));
        match connector {
            Some(Connector::Openssl(c)) => s = s.set_connector(c.clone()),
            Some(Connector::Rustls(c)) => s = s.set_config(c.clone()),
            None => {}
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
