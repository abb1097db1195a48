//! Handling of the PAM requests (codes 20..=23), received on `pam.sock`
//! only. The decisions themselves are in [`crate::auth`]; this file keeps
//! their state (the domains' directories as the PAM side uses them, the
//! per-domain PAM settings and the cached credentials) across requests and
//! configuration reloads.

use super::Context;
use crate::auth::{AuthSettings, CredentialStore, Directories, DirectoryBackend, PamAuth};
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
