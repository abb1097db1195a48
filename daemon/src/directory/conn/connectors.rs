//! The TLS connectors of a domain's connections and the library each
//! server is reached through (`tls_library`): rustls, OpenSSL, or (auto)
//! rustls, and OpenSSL for a server rustls refused a handshake with and
//! OpenSSL completed one, from then on.
//!
//! Each library's connector is built once, on a blocking thread: the one
//! used first is begun when the pool is made, so that rosterd answers its
//! sockets meanwhile and the first connection finds it ready; OpenSSL's
//! under `auto` only when a server needs it.

use super::super::tls::{self, Connector, Prepared};
use super::super::DirectoryError;
use crate::config::{DomainConfig, TlsLibrary};
use ldap3::LdapError;
use rustls::ClientConfig;
use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use tokio::sync::OnceCell;
use tokio::task::JoinHandle;

/// One library's connector: built once on a blocking thread, the build
/// begun ahead ([`OffThread::begin`]) or when first asked for.
struct OffThread<T> {
    built: OnceCell<Result<T, DirectoryError>>,
    begun: Mutex<Option<JoinHandle<Result<T, DirectoryError>>>>,
}

impl<T: Clone + Send + 'static> OffThread<T> {
    fn new() -> Self {
        OffThread {
            built: OnceCell::new(),
            begun: Mutex::new(None),
        }
    }

    /// Begins `build` on a blocking thread of the current runtime (none
    /// outside one: it is then built when first asked for).
    fn begin(&self, build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static) {
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            *self.begun.lock().unwrap_or_else(|p| p.into_inner()) = Some(rt.spawn_blocking(build));
        }
    }

    /// What the begun build made, or `build` makes now on a blocking
    /// thread; built once.
    async fn get(
        &self,
        domain: &str,
        build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        self.built
            .get_or_init(|| async {
                let begun = self.begun.lock().unwrap_or_else(|p| p.into_inner()).take();
                let task = begun.unwrap_or_else(|| tokio::task::spawn_blocking(build));
                task.await.unwrap_or_else(|e| {
                    Err(DirectoryError::unavailable(format!(
                        "domain \"{domain}\": TLS setup task failed: {e}"
                    )))
                })
            })
            .await
            .clone()
    }
}

/// The TLS connectors of one domain (none without TLS).
pub(super) struct Connectors {
    cfg: DomainConfig,
    prepared: Option<Arc<Prepared>>,
    rustls: OffThread<Arc<ClientConfig>>,
    openssl: OffThread<native_tls::TlsConnector>,
    /// Under `auto`: the servers (URIs) rustls refused a handshake with
    /// and OpenSSL completed one.
    through_openssl: Mutex<HashSet<String>>,
}

impl Connectors {
    /// The connectors of `cfg`, its TLS files read and checked; the build
    /// of the one used first begun (in a runtime).
    pub(super) fn new(cfg: &DomainConfig) -> Result<Connectors, DirectoryError> {
        let connectors = Connectors {
            cfg: cfg.clone(),
            prepared: tls::prepare(cfg)?.map(Arc::new),
            rustls: OffThread::new(),
            openssl: OffThread::new(),
            through_openssl: Mutex::new(HashSet::new()),
        };
        match cfg.tls_library {
            _ if connectors.prepared.is_none() => {}
            TlsLibrary::Openssl => connectors.openssl.begin(connectors.openssl_build()),
            TlsLibrary::Rustls | TlsLibrary::Auto => {
                connectors.rustls.begin(connectors.rustls_build())
            }
        }
        Ok(connectors)
    }

    /// The connector to reach `uri` through (`None` without TLS).
    pub(super) async fn for_server(&self, uri: &str) -> Result<Option<Connector>, DirectoryError> {
        if self.prepared.is_none() {
            return Ok(None);
        }
        let openssl = match self.cfg.tls_library {
            TlsLibrary::Openssl => true,
            TlsLibrary::Rustls => false,
            TlsLibrary::Auto => self.locked_servers().contains(uri),
        };
        if openssl {
            self.openssl().await.map(Some)
        } else {
            let config = self.rustls.get(&self.cfg.name, self.rustls_build()).await?;
            Ok(Some(Connector::Rustls(config)))
        }
    }

    /// Under `auto`, when `e` is rustls refusing the handshake of a
    /// connection made through `used`: why, and the OpenSSL connector to
    /// try the server with instead.
    pub(super) async fn instead_of(
        &self,
        used: Option<&Connector>,
        e: &LdapError,
    ) -> Option<(String, Result<Connector, DirectoryError>)> {
        if self.cfg.tls_library != TlsLibrary::Auto || !matches!(used, Some(Connector::Rustls(_))) {
            return None;
        }
        let why = tls::refused_by_rustls(e)?.to_string();
        Some((why, self.openssl().await))
    }

    /// Notes that `uri` is reached through OpenSSL from now on (rustls
    /// refused its handshake for `why`), logged once for the server.
    pub(super) fn through_openssl(&self, uri: &str, why: &str) {
        if self.locked_servers().insert(uri.to_string()) {
            tracing::warn!(domain = %self.cfg.name, %uri, rustls_error = %why,
                "rustls could not complete a TLS handshake with this server; it is reached through OpenSSL from now on (tls_library = \"auto\"; the server may offer only TLS 1.0 or 1.1 or CBC ciphers, or a certificate named by its CN alone)");
        }
    }

    /// The library connections to `uri` use now ("rustls", "openssl";
    /// `None` without TLS).
    pub(super) fn library_of(&self, uri: &str) -> Option<&'static str> {
        self.prepared.as_ref()?;
        Some(match self.cfg.tls_library {
            TlsLibrary::Openssl => "openssl",
            TlsLibrary::Rustls => "rustls",
            TlsLibrary::Auto if self.locked_servers().contains(uri) => "openssl",
            TlsLibrary::Auto => "rustls",
        })
    }

    async fn openssl(&self) -> Result<Connector, DirectoryError> {
        self.openssl
            .get(&self.cfg.name, self.openssl_build())
            .await
            .map(Connector::Openssl)
    }

    fn locked_servers(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.through_openssl
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }

    /// The build of OpenSSL's connector (an error when the domain's
    /// `tls_library` has none prepared).
    fn openssl_build(
        &self,
    ) -> impl FnOnce() -> Result<native_tls::TlsConnector, DirectoryError> + Send + 'static {
        let (cfg, prepared) = (self.cfg.clone(), self.prepared.clone());
        move || match prepared.as_ref().and_then(|p| p.openssl.as_ref()) {
            Some(builder) => tls::build_openssl(&cfg, builder),
            None => Err(DirectoryError::invalid(format!(
                "domain \"{}\": no OpenSSL connector with tls_library = \"rustls\"",
                cfg.name
            ))),
        }
    }

    /// The build of rustls's configuration (an error when the domain's
    /// `tls_library` has none prepared).
    fn rustls_build(
        &self,
    ) -> impl FnOnce() -> Result<Arc<ClientConfig>, DirectoryError> + Send + 'static {
        let (cfg, prepared) = (self.cfg.clone(), self.prepared.clone());
        move || match prepared.as_ref().and_then(|p| p.rustls.as_ref()) {
            Some(parts) => tls::build_rustls(&cfg, parts),
            None => Err(DirectoryError::invalid(format!(
                "domain \"{}\": no rustls configuration with tls_library = \"openssl\"",
                cfg.name
            ))),
        }
    }
}

#[cfg(test)]
#[path = "connectors_tests.rs"]
mod tests;
