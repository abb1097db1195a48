//! Handling of the PAM requests (codes 20..=23), received on `pam.sock`
//! only. The decisions themselves are in [`crate::auth`]; this file keeps
//! the PAM service of the current configuration generation (built once
//! per generation over its directories and settings, see
//! [`crate::registry`]) and the cached credentials, which outlive reloads.

use super::Context;
use crate::auth::{AuthSettings, CredentialError, CredentialStore, DirectoryBackend, PamAuth};
use crate::config::Config;
use crate::registry::Generation;
use crate::resolver::Resolver;
use roster_proto::{Request, Response};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// State kept for PAM between requests.
pub struct PamState {
    /// The service of the current generation, and that generation's number.
    live: RwLock<(Arc<PamAuth>, u64)>,
    creds: Arc<CredentialStore>,
}

impl std::fmt::Debug for PamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PamState")
            .field("credentials", &self.creds.path())
            .field("generation", &self.generation())
            .finish()
    }
}

/// A service over no domain (before the first generation is installed).
fn empty_service(resolver: Resolver, creds: Arc<CredentialStore>) -> Arc<PamAuth> {
    let backend = DirectoryBackend::new(resolver, Arc::new(HashMap::new()));
    Arc::new(PamAuth::new(
        Arc::new(backend),
        AuthSettings::default(),
        creds,
    ))
}

impl Default for PamState {
    /// No domains; credentials kept in memory only.
    fn default() -> Self {
        PamState::with_credentials(CredentialStore::in_memory())
    }
}

impl PamState {
    /// The state for a freshly loaded configuration: opens the credential
    /// cache in `state_dir` (in memory only if it cannot be read). PAM
    /// serves no domain until a generation is installed.
    pub fn new(config: &Config) -> PamState {
        let creds = match CredentialStore::open(&config.daemon.state_dir) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "PAM: cached credentials are kept in memory only");
                CredentialStore::in_memory()
            }
        };
        PamState::with_credentials(creds)
    }

    fn with_credentials(creds: CredentialStore) -> PamState {
        let creds = Arc::new(creds);
        let resolver = Resolver::new(
            Vec::new(),
            crate::resolver::Settings::default(),
            None,
            Arc::new(crate::cache::SystemClock),
        );
        PamState {
            live: RwLock::new((empty_service(resolver, creds.clone()), 0)),
            creds,
        }
    }

    /// Serves `generation` from now on: its directories and PAM settings,
    /// with users and groups looked up through `resolver` (which serves the
    /// same generation). Requests already running finish on the previous
    /// one.
    pub fn install(&self, generation: &Generation, resolver: &Resolver) {
        let backend = DirectoryBackend::new(resolver.clone(), generation.directories());
        let service = PamAuth::new(
            Arc::new(backend),
            generation.auth().clone(),
            self.creds.clone(),
        );
        *self.live.write().unwrap_or_else(|e| e.into_inner()) =
            (Arc::new(service), generation.id());
    }

    /// `rosterctl cache forget-credentials`: deletes the cached passwords
    /// of user `name` (`NAME` in every domain, `NAME@DOMAIN` in one), or
    /// all of them with `None`, each after a hash still being computed for
    /// it. Returns how many were deleted.
    pub async fn forget_credentials(&self, name: Option<&str>) -> Result<usize, CredentialError> {
        let mut forgotten = 0;
        for key in self.creds.keys_with_hash(name) {
            let _held = self.creds.user_lock(&key).lock_owned().await;
            let creds = self.creds.clone();
            let gone = tokio::task::spawn_blocking(move || creds.forget_hash(&key))
                .await
                .map_err(|e| CredentialError::Hash(e.to_string()))??;
            forgotten += usize::from(gone);
        }
        Ok(forgotten)
    }

    /// The number of the generation PAM serves (0: none installed yet).
    pub fn generation(&self) -> u64 {
        self.live.read().unwrap_or_else(|e| e.into_inner()).1
    }

    fn service(&self) -> Arc<PamAuth> {
        self.live
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .0
            .clone()
    }
}

/// Answers one PAM request.
pub async fn handle(ctx: &Context, req: Request) -> Response {
    match req {
        Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. } => ctx.pam.service().handle(&req).await,
        other => Response::Error(format!(
            "request code {} is not a PAM request",
            other.code()
        )),
    }
}
