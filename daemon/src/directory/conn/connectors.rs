//! The TLS connectors of a domain's connections and the library each
//! server is reached through (`tls_library`): rustls, OpenSSL, or (auto)
//! rustls, and OpenSSL for a server rustls refused a handshake with and
//! OpenSSL completed one, from then on.
//!
//! Each library's connector is built on a blocking thread and kept once
//! built: the one used first is begun when the pool is made, so that
//! rosterd answers its sockets meanwhile and the first connection finds it
//! ready; OpenSSL's under `auto` when a server or the domain needs it. A
//! build runs to its end whoever waits for it (a connection that gives up
//! at its deadline leaves it to the next), and one that failed is made
//! again by the next connection.

use super::super::tls::{self, Connector, Prepared, Refusal};
use super::super::DirectoryError;
use crate::config::{DomainConfig, TlsLibrary};
use ldap3::LdapError;
use rustls::ClientConfig;
use std::collections::HashSet;
use std::sync::{Arc, Mutex, OnceLock};
use tokio::sync::watch;

/// A build's result, once it has one.
type Outcome<T> = Option<Result<T, DirectoryError>>;

/// One library's connector: built on a blocking thread, begun ahead
/// ([`OffThread::begin`]) or when first asked for, and kept once built.
struct OffThread<T> {
    built: OnceLock<T>,
    /// The build under way (or ended with an error not yet seen).
    running: Mutex<Option<watch::Receiver<Outcome<T>>>>,
}

impl<T: Clone + Send + Sync + 'static> OffThread<T> {
    fn new() -> Self {
        OffThread {
            built: OnceLock::new(),
            running: Mutex::new(None),
        }
    }

    /// Begins `build` (within a runtime: otherwise it is made when first
    /// asked for).
    fn begin(
        &self,
        domain: &str,
        build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
    ) {
        if tokio::runtime::Handle::try_current().is_ok() {
            *self.running.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(Self::spawn(domain, build));
        }
    }

    /// `build` on a blocking thread, its result sent when it ends.
    fn spawn(
        domain: &str,
        build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
    ) -> watch::Receiver<Outcome<T>> {
        let (tx, rx) = watch::channel(None);
        let task = tokio::task::spawn_blocking(build);
        let domain = domain.to_string();
        tokio::spawn(async move {
            let outcome = task.await.unwrap_or_else(|e| {
                Err(DirectoryError::unavailable(format!(
                    "domain \"{domain}\": TLS setup task failed: {e}"
                )))
            });
            let _ = tx.send(Some(outcome));
        });
        rx
    }

    /// The connector: the one built, the running build's, or one `build`
    /// makes now on a blocking thread. A failed build is not kept: the
    /// next call builds again (the system's CA store may have been
    /// unreadable for a moment).
    async fn get(
        &self,
        domain: &str,
        build: impl FnOnce() -> Result<T, DirectoryError> + Send + 'static,
    ) -> Result<T, DirectoryError> {
        if let Some(built) = self.built.get() {
            return Ok(built.clone());
        }
        let mut rx = {
            let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
            running
                .get_or_insert_with(|| Self::spawn(domain, build))
                .clone()
        };
        let ended = || {
            Err(DirectoryError::unavailable(format!(
                "domain \"{domain}\": TLS setup task ended without a result"
            )))
        };
        let outcome = match rx.wait_for(Option::is_some).await {
            Ok(outcome) => outcome.clone().unwrap_or_else(ended),
            Err(_) => ended(),
        };
        let mut running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(built) => {
                let _ = self.built.set(built.clone());
                *running = None;
                Ok(built)
            }
            Err(e) => {
                // This build is over: the next call makes another (unless
                // one was begun since).
                if running.as_ref().is_some_and(|r| r.same_channel(&rx)) {
                    *running = None;
                }
                Err(e)
            }
        }
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
            Some(p) if p.rustls.is_some() => connectors
                .rustls
                .begin(&cfg.name, connectors.rustls_build()),
            Some(_) => connectors
                .openssl
                .begin(&cfg.name, connectors.openssl_build()),
        }
        Ok(connectors)
    }

    /// The connector to reach `uri` through (`None` without TLS). Under
    /// `auto`, OpenSSL's when rustls cannot be set up for the domain.
    pub(super) async fn for_server(&self, uri: &str) -> Result<Option<Connector>, DirectoryError> {
        let Some(prepared) = self.prepared.as_deref() else {
            return Ok(None);
        };
        if self.openssl_first(prepared, uri) {
            return self.openssl().await.map(Some);
        }
        match self.rustls.get(&self.cfg.name, self.rustls_build()).await {
            Ok(config) => {
                let mut unusable = self
                    .rustls_unusable
                    .lock()
                    .unwrap_or_else(|p| p.into_inner());
                if unusable.is_some() {
                    *unusable = None;
                }
                Ok(Some(Connector::Rustls(config)))
            }
            Err(e) if self.cfg.tls_library == TlsLibrary::Auto => {
                self.rustls_unusable(e.to_string());
                self.openssl().await.map(Some)
            }
            Err(e) => Err(e),
        }
    }

    /// Whether connections to `uri` go through OpenSSL without trying
    /// rustls: `openssl`, or under `auto` a domain rustls cannot be
    /// prepared for or a server it refused.
    fn openssl_first(&self, prepared: &Prepared, uri: &str) -> bool {
        match self.cfg.tls_library {
            TlsLibrary::Openssl => true,
            TlsLibrary::Rustls => false,
            TlsLibrary::Auto => prepared.rustls.is_none() || self.locked_servers().contains(uri),
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
    /// connection made through `used`: how, and the OpenSSL connector to
    /// try the server with instead.
    pub(super) async fn instead_of(
        &self,
        used: Option<&Connector>,
        e: &LdapError,
    ) -> Option<(Refusal, Result<Connector, DirectoryError>)> {
        if self.cfg.tls_library != TlsLibrary::Auto || !matches!(used, Some(Connector::Rustls(_))) {
            return None;
        }
        let why = tls::refused_by_rustls(e)?;
        Some((why, self.openssl().await))
    }

    /// Notes that OpenSSL completed the handshake with `uri` that rustls
    /// refused: from now on that server is reached through OpenSSL when
    /// the refusal was rustls's own (logged once for the server); this
    /// connection only when the server had closed the connection.
    pub(super) fn through_openssl(&self, uri: &str, refusal: &Refusal) {
        let why = &refusal.why;
        if !refusal.lasting {
            tracing::info!(domain = %self.cfg.name, %uri, rustls_error = %why,
                "the server closed the connection during rustls's handshake; this connection goes through OpenSSL");
            return;
        }
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
        // (A rustls build that failed under `auto` sends the domain's
        // connections to OpenSSL until one succeeds.)
        let unusable = || {
            self.rustls_unusable
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .is_some()
        };
        Some(if self.openssl_first(prepared, uri) || unusable() {
            "openssl"
        } else {
            "rustls"
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

    /// The build of OpenSSL's connector.
    fn openssl_build(
        &self,
    ) -> impl FnOnce() -> Result<native_tls::TlsConnector, DirectoryError> + Send + 'static {
        self.build_of("OpenSSL", |p| p.openssl.as_ref(), tls::build_openssl)
    }

    /// The build of rustls's configuration.
    fn rustls_build(
        &self,
    ) -> impl FnOnce() -> Result<Arc<ClientConfig>, DirectoryError> + Send + 'static {
        self.build_of("rustls", |p| p.rustls.as_ref(), tls::build_rustls)
    }

    /// The build of `library`'s connector by `build` from its prepared
    /// part `part` (an error when the domain's `tls_library` prepared none).
    fn build_of<P: 'static, T: 'static>(
        &self,
        library: &'static str,
        part: fn(&Prepared) -> Option<&P>,
        build: fn(&DomainConfig, &P) -> Result<T, DirectoryError>,
    ) -> impl FnOnce() -> Result<T, DirectoryError> + Send + 'static {
        let (cfg, prepared) = (self.cfg.clone(), self.prepared.clone());
        move || match prepared.as_deref().and_then(part) {
            Some(prepared_part) => build(&cfg, prepared_part),
            None => Err(DirectoryError::invalid(format!(
                "domain \"{}\": no {library} connector with tls_library = \"{}\"",
                cfg.name,
                format!("{:?}", cfg.tls_library).to_lowercase()
            ))),
        }
    }
}

#[cfg(test)]
#[path = "connectors_tests.rs"]
mod tests;
