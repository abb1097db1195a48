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
    built: OnceCell<T>,
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
    /// thread; kept once made. A build that failed is not kept: the next
    /// connection builds again (the system's CA store may have been
    /// unreadable for a moment).
    async fn get(
        &self,
        domain: &str,
        build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        self.built
            .get_or_try_init(|| async {
                let begun = self.begun.lock().unwrap_or_else(|p| p.into_inner()).take();
                let task = begun.unwrap_or_else(|| tokio::task::spawn_blocking(build));
                task.await.unwrap_or_else(|e| {
                    Err(DirectoryError::unavailable(format!(
                        "domain \"{domain}\": TLS setup task failed: {e}"
                    )))
                })
            })
            .await
            .cloned()
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
    /// Under `auto`: why rustls could not be set up for the domain, last
    /// logged (its connections then go through OpenSSL).
    rustls_unusable: Mutex<Option<String>>,
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
            rustls_unusable: Mutex::new(None),
        };
        if let Some(why) = connectors
            .prepared
            .as_ref()
            .and_then(|p| p.rustls_unusable.clone())
        {
            connectors.rustls_unusable(why);
        }
        match connectors.prepared.as_deref() {
            None => {}
            Some(p) if p.rustls.is_some() => connectors.rustls.begin(connectors.rustls_build()),
            Some(_) => connectors.openssl.begin(connectors.openssl_build()),
        }
        Ok(connectors)
    }

    /// The connector to reach `uri` through (`None` without TLS). Under
    /// `auto`, OpenSSL's when rustls cannot be set up for the domain.
    pub(super) async fn for_server(&self, uri: &str) -> Result<Option<Connector>, DirectoryError> {
        let Some(prepared) = self.prepared.as_deref() else {
            return Ok(None);
        };
        let openssl = match self.cfg.tls_library {
            TlsLibrary::Openssl => true,
            TlsLibrary::Rustls => false,
            TlsLibrary::Auto => prepared.rustls.is_none() || self.locked_servers().contains(uri),
        };
        if openssl {
            return self.openssl().await.map(Some);
        }
        match self.rustls.get(&self.cfg.name, self.rustls_build()).await {
            Ok(config) => {
                *self
                    .rustls_unusable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner()) = None;
                Ok(Some(Connector::Rustls(config)))
            }
            Err(e) if self.cfg.tls_library == TlsLibrary::Auto => {
                self.rustls_unusable(e.to_string());
                self.openssl().await.map(Some)
            }
            Err(e) => Err(e),
        }
    }

    /// Logs, once for each reason, that rustls cannot be set up for the
    /// domain and its connections go through OpenSSL (`auto`).
    fn rustls_unusable(&self, why: String) {
        let mut last = self
            .rustls_unusable
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if last.as_deref() != Some(why.as_str()) {
            tracing::warn!(domain = %self.cfg.name, rustls_error = %why,
                "rustls cannot be set up for this domain; its connections go through OpenSSL (tls_library = \"auto\")");
            *last = Some(why);
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
        let why = tls::refused_by_rustls(e)?;
        Some((why, self.openssl().await))
    }

    /// Notes that `uri` is reached through OpenSSL from now on (rustls
    /// refused its handshake for `why`), logged once for the server.
    pub(super) fn through_openssl(&self, uri: &str, why: &str) {
        if self.locked_servers().insert(uri.to_string()) {
            tracing::warn!(domain = %self.cfg.name, %uri, rustls_error = %why,
                "rustls could not complete a TLS handshake with this server; it is reached through OpenSSL from now on (tls_library = \"auto\"; the server may offer only ciphers rustls lacks, such as CBC or RSA key exchange, or versions before TLS 1.2, or a certificate named by its CN alone)");
        }
    }

    /// The library connections to `uri` use now ("rustls", "openssl";
    /// `None` without TLS).
    pub(super) fn library_of(&self, uri: &str) -> Option<&'static str> {
        let prepared = self.prepared.as_deref()?;
        if !self.cfg.uses_tls(uri) {
            return None;
        }
        Some(match self.cfg.tls_library {
            TlsLibrary::Openssl => "openssl",
            TlsLibrary::Rustls => "rustls",
            TlsLibrary::Auto
                if prepared.rustls.is_none()
                    || self.locked_servers().contains(uri)
                    || self
                        .rustls_unusable
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .is_some() =>
            {
                "openssl"
            }
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
