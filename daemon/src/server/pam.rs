//! Handling of the PAM requests (codes 20..=23), received on `pam.sock`
//! only. The decisions themselves are in [`crate::auth`]; this file keeps
//! their state (the domains' directories as the PAM side uses them, the
//! per-domain PAM settings and the cached credentials) across requests and
//! configuration reloads.

use super::Context;
use crate::auth::{
    AuthSettings, CredentialError, CredentialStore, Directories, DirectoryBackend, PamAuth,
};
use crate::config::Config;
use crate::directory::Directory;
use roster_proto::{Request, Response};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// State kept for PAM between requests. Built from the configuration at
/// start, updated on reload.
pub struct PamState {
    live: RwLock<(Directories, AuthSettings)>,
    creds: Arc<CredentialStore>,
}

impl std::fmt::Debug for PamState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PamState")
            .field("credentials", &self.creds.path())
            .finish()
    }
}

impl Default for PamState {
    /// No domains; credentials kept in memory only.
    fn default() -> Self {
        PamState {
            live: RwLock::new((Arc::new(HashMap::new()), AuthSettings::default())),
            creds: Arc::new(CredentialStore::in_memory()),
        }
    }
}

/// Directories for `config`'s enabled domains (reusing those of `old`
/// whose configuration did not change). The PAM side has its own
/// connections: a login never waits behind an enumeration.
fn directories(config: &Config, old: Option<&Directories>) -> Directories {
    let idmap = match config.build_idmap(None) {
        Ok(i) => Arc::new(i),
        Err(e) => {
            tracing::error!(error = %e, "PAM: cannot build the ID mapping; directory logins are unavailable");
            return Arc::new(HashMap::new());
        }
    };
    let mut map = HashMap::new();
    for d in config.enabled_domains() {
        if let Some(dir) = old.and_then(|o| o.get(&d.name)).filter(|x| x.config() == d) {
            map.insert(d.name.clone(), dir.clone());
            continue;
        }
        match Directory::new(d.clone(), idmap.clone()) {
            Ok(dir) => {
                map.insert(d.name.clone(), Arc::new(dir));
            }
            Err(e) => tracing::error!(domain = %d.name, error = %e, "PAM: domain unusable"),
        }
    }
    Arc::new(map)
}

impl PamState {
    /// The state for a freshly loaded configuration: opens the credential
    /// cache in `state_dir` (in memory only if it cannot be read).
    pub fn new(config: &Config) -> PamState {
        let creds = match CredentialStore::open(&config.daemon.state_dir) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(error = %e, "PAM: cached credentials are kept in memory only");
                CredentialStore::in_memory()
            }
        };
        PamState {
            live: RwLock::new((directories(config, None), AuthSettings::from_config(config))),
            creds: Arc::new(creds),
        }
    }

    /// Takes a reloaded configuration into account.
    pub fn reconfigure(&self, config: &Config) {
        let mut live = self.live.write().unwrap_or_else(|e| e.into_inner());
        let dirs = directories(config, Some(&live.0));
        *live = (dirs, AuthSettings::from_config(config));
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

    fn service(&self, ctx: &Context) -> PamAuth {
        let (dirs, settings) = self.live.read().unwrap_or_else(|e| e.into_inner()).clone();
        let backend = DirectoryBackend::new(ctx.resolver.clone(), dirs);
        PamAuth::new(Arc::new(backend), settings, self.creds.clone())
    }
}

/// Answers one PAM request.
pub async fn handle(ctx: &Context, req: Request) -> Response {
    match req {
        Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. } => ctx.pam.service(ctx).handle(&req).await,
        other => Response::Error(format!(
            "request code {} is not a PAM request",
            other.code()
        )),
    }
}
