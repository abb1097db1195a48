//! Handling of the PAM requests (codes 20..=24), received on `pam.sock`,
//! and of an unprivileged caller's authentication on `pam-user.sock`
//! ([`handle_caller`]: its own account only, failures throttled per UID).
//! The decisions themselves are in [`roster_daemon::auth`]; this file keeps
//! the PAM service of the current configuration generation (built once
//! per generation over its directories and settings, see
//! [`roster_daemon::registry`]) and the cached credentials, which outlive reloads.

use super::Context;
use roster_daemon::auth::{
    AuthSettings, CredentialError, CredentialStore, DirectoryBackend, PamAuth, Throttle,
    ThrottleSettings,
};
use roster_daemon::config::Config;
use roster_daemon::registry::Generation;
use roster_daemon::resolver::Resolver;
use roster_proto::{Request, Response};
use std::collections::HashMap;
use std::sync::{Arc, RwLock};

/// State kept for PAM between requests.
pub struct PamState {
    /// The service of the current generation, and that generation's number.
    live: RwLock<(Arc<PamAuth>, u64)>,
    creds: Arc<CredentialStore>,
    /// Failed authentications of unprivileged callers, per UID (outlives
    /// reloads).
    throttle: Arc<Throttle>,
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
            roster_daemon::resolver::Settings::default(),
            None,
            Arc::new(roster_daemon::cache::SystemClock),
        );
        PamState {
            live: RwLock::new((empty_service(resolver, creds.clone()), 0)),
            creds,
            throttle: Arc::new(Throttle::new(
                ThrottleSettings::default(),
                Arc::new(roster_daemon::cache::SystemClock),
            )),
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
    /// all of them with `None`, each after a verifier still being computed
    /// for it. Returns how many were deleted.
    pub async fn forget_credentials(&self, name: Option<&str>) -> Result<usize, CredentialError> {
        self.creds.settled_all().await;
        let mut forgotten = 0;
        for key in self.creds.keys_with_hash(name) {
            let creds = self.creds.clone();
            let gone = tokio::task::spawn_blocking(move || creds.forget_hash(&key))
                .await
                .map_err(CredentialError::Task)??;
            forgotten += usize::from(gone);
        }
        Ok(forgotten)
    }

    /// `rosterctl cache unlock`: clears the offline lockout and failure
    /// count of user `name` (`NAME` in every domain, `NAME@DOMAIN` in one),
    /// keeping the cached password. Returns how many records it cleared.
    pub async fn unlock(&self, name: &str) -> Result<usize, CredentialError> {
        let creds = self.creds.clone();
        let name = name.to_string();
        tokio::task::spawn_blocking(move || creds.unlock(&name))
            .await
            .map_err(CredentialError::Task)?
    }

    /// Waits up to `bound` for the cached-credential updates still in
    /// flight (verifiers and account state written after the logins were
    /// answered), at shutdown; those still unwritten then are logged.
    pub async fn drain_credentials(&self, bound: std::time::Duration) {
        let waiting = self.creds.drain(std::time::Duration::ZERO).await;
        if waiting.is_empty() {
            return;
        }
        tracing::info!(
            updates = waiting.len(),
            "waiting for cached-credential updates before stopping"
        );
        let left = self.creds.drain(bound).await;
        if !left.is_empty() {
            tracing::error!(
                updates = left.len(),
                users = ?roster_daemon::auth::pending::keys_of(&left),
                bound_ms = bound.as_millis() as u64,
                "cached-credential updates lost at shutdown: not written in time"
            );
        }
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

/// The login name of a PAM request.
fn user_of(req: &Request) -> Option<&str> {
    match req {
        Request::PamAuthenticate { user, .. }
        | Request::PamAccount { user, .. }
        | Request::PamChangePassword { user, .. }
        | Request::PamOpenSession { user, .. }
        | Request::PamResetPassword { user, .. } => Some(user),
        _ => None,
    }
}

/// Refuses a login name holding a control character (a newline could
/// forge log lines; no directory account has one): `PAM_USER_UNKNOWN`,
/// logged once with the name escaped.
fn refuse_bad_user(req: &Request) -> Option<Response> {
    let user = user_of(req)?;
    if !user.chars().any(char::is_control) {
        return None;
    }
    let shown = user.escape_debug().to_string();
    tracing::warn!(op = req.code(), user = %shown, "PAM request refused: the user name holds a control character");
    Some(Response::Pam(roster_proto::PamReply::new(
        roster_proto::PamCode::UserUnknown,
        "",
    )))
}

/// Answers one PAM request.
pub async fn handle(ctx: &Context, req: Request) -> Response {
    if let Some(refused) = refuse_bad_user(&req) {
        return refused;
    }
    match req {
        Request::PamAuthenticate { .. }
        | Request::PamAccount { .. }
        | Request::PamChangePassword { .. }
        | Request::PamOpenSession { .. }
        | Request::PamResetPassword { .. } => ctx.pam.service().handle(&req).await,
        other => Response::Error(format!(
            "request code {} is not a PAM request",
            other.code()
        )),
    }
}

/// Answers one request on `pam-user.sock` from a peer of UID `peer_uid`:
/// only an authentication is served there, of the account whose UID is
/// `peer_uid` ([`PamAuth::authenticate_caller`]); every other request is
/// answered with an error naming the socket that serves it.
pub async fn handle_caller(ctx: &Context, req: Request, peer_uid: u32) -> Response {
    if let Some(refused) = refuse_bad_user(&req) {
        return refused;
    }
    match &req {
        Request::PamAuthenticate {
            user,
            service,
            rhost,
            password,
        } => Response::Pam(
            ctx.pam
                .service()
                .authenticate_caller(&ctx.pam.throttle, peer_uid, user, service, rhost, password)
                .await,
        ),
        other => {
            let code = other.code();
            let served = if other.is_privileged() {
                "pam.sock (root only)"
            } else {
                "nss.sock"
            };
            Response::Error(format!(
                "request code {code} is not served on pam-user.sock (authentication of the caller's own account only): it is served on {served}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_proto::{PamCode, Secret};

    #[test]
    fn user_names_with_control_characters_are_refused_at_the_edge() {
        for user in ["eve\nroot", "eve\u{1b}[31m", "eve\r", "eve\u{0}"] {
            let req = Request::PamAuthenticate {
                user: user.into(),
                service: "sshd".into(),
                rhost: String::new(),
                password: Secret::from("pw"),
            };
            match refuse_bad_user(&req) {
                Some(Response::Pam(r)) => assert_eq!(r.code, PamCode::UserUnknown, "{user:?}"),
                other => panic!("{user:?}: {other:?}"),
            }
        }
        let ok = Request::PamAccount {
            user: "eve".into(),
            service: "sshd".into(),
            rhost: String::new(),
        };
        assert!(refuse_bad_user(&ok).is_none());
    }
}
