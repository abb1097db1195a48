//! The PAM decisions: one method per PAM request, each logged.

use super::backend::{AuthBackend, AuthUser, BindResult, ChangeResult, PolicyNotice};
use super::credentials::{CredentialStore, OfflineCheck, Refreshed};
use super::hasher::HashCost;
use super::policy;
use super::settings::{AuthSettings, DomainAuth};
use crate::backend_error::BackendError;
use crate::clock::{Clock, SystemClock};
use crate::resolver::Answer;
use roster_proto::{KrbTicket, PamCode, PamReply, Request, Response, Secret};
use std::sync::{Arc, RwLock};

/// A decision: the code, the message for the user, and the reason logged;
/// with notices for the user (password expiry, grace logins).
pub(super) struct Decision {
    pub(super) code: PamCode,
    pub(super) message: String,
    pub(super) reason: String,
    pub(super) notices: Vec<String>,
    /// The user's Kerberos tickets of an accepted password (`krb5_auth`).
    pub(super) ticket: Option<KrbTicket>,
}

impl Decision {
    pub(super) fn new(code: PamCode, message: &str, reason: impl Into<String>) -> Decision {
        Decision {
            code,
            message: message.to_string(),
            reason: reason.into(),
            notices: Vec::new(),
            ticket: None,
        }
    }
}

/// rosterd's PAM service: answers `PamAuthenticate`, `PamAccount`,
/// `PamChangePassword`, `PamOpenSession` and `PamResetPassword`; an
/// unprivileged caller's authentication is [`PamAuth::authenticate_caller`].
pub struct PamAuth {
    pub(super) backend: Arc<dyn AuthBackend>,
    settings: RwLock<Arc<AuthSettings>>,
    creds: Arc<CredentialStore>,
    clock: Arc<dyn Clock>,
}

/// How the background update of a password verifier is named (log, and
/// [`CredentialStore::updating`]).
const VERIFIER: &str = "password verifier";
/// How the background update of the account state is named.
const ACCOUNT_STATE: &str = "account state";

fn cred_key(domain: &str, name: &str) -> String {
    format!("{domain}/{name}")
}

impl PamAuth {
    /// The directory account whose password is set to `new` (a change or
    /// a root reset): refused when `new` is empty, unknown, unreachable or
    /// shadowed by a local account.
    pub(super) async fn password_target(
        &self,
        name: &str,
        new: &Secret,
    ) -> Result<AuthUser, Decision> {
        if new.is_empty() {
            return Err(Decision::new(
                PamCode::AuthtokErr,
                "No password has been supplied.",
                "empty new password",
            ));
        }
        let user = match self.backend.find_user(name).await {
            Answer::Found(u, _) => u,
            Answer::NotFound => {
                return Err(Decision::new(
                    PamCode::UserUnknown,
                    "",
                    "not a directory user",
                ))
            }
            Answer::Unavailable(why) => {
                return Err(Decision::new(
                    PamCode::AuthtokErr,
                    "The directory is unreachable: password not changed",
                    why.to_string(),
                ))
            }
        };
        match self.shadowed(&user) {
            Some(d) => Err(d),
            None => Ok(user),
        }
    }

    /// The service over `backend`, with per-domain `settings` and the
    /// credential cache `creds`.
    pub fn new(
        backend: Arc<dyn AuthBackend>,
        settings: AuthSettings,
        creds: Arc<CredentialStore>,
    ) -> PamAuth {
        PamAuth::with_clock(backend, settings, creds, Arc::new(SystemClock))
    }

    /// Like [`PamAuth::new`] with a given clock (tests).
    pub fn with_clock(
        backend: Arc<dyn AuthBackend>,
        settings: AuthSettings,
        creds: Arc<CredentialStore>,
        clock: Arc<dyn Clock>,
    ) -> PamAuth {
        PamAuth {
            backend,
            settings: RwLock::new(Arc::new(settings)),
            creds,
            clock,
        }
    }

    /// Replaces the settings (configuration reload).
    pub fn reconfigure(&self, settings: AuthSettings) {
        *self.settings.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(settings);
    }

    fn hash_cost(&self) -> HashCost {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .hash_cost
    }

    pub(super) fn domain(&self, domain: &str) -> DomainAuth {
        self.settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .domain(domain)
    }

    /// Answers one PAM request (codes 20..=24); anything else is an error.
    pub async fn handle(&self, req: &Request) -> Response {
        let reply = match req {
            Request::PamAuthenticate {
                user,
                service,
                rhost,
                password,
            } => {
                let mut d = self.decide_authenticate(user, password).await;
                let ticket = d.ticket.take();
                let reply = Self::finish("authenticate", user, service, rhost, d);
                return match ticket {
                    Some(t) if reply.code == PamCode::Success => Response::PamTicket(reply, t),
                    _ => Response::Pam(reply),
                };
            }
            Request::PamAccount {
                user,
                service,
                rhost,
            } => self.account(user, service, rhost).await,
            Request::PamChangePassword {
                user,
                service,
                old_password,
                new_password,
            } => {
                self.change_password(user, service, old_password, new_password)
                    .await
            }
            Request::PamOpenSession {
                user,
                service,
                rhost,
            } => self.open_session(user, service, rhost),
            // Root's `passwd USER` (auth/reset.rs).
            Request::PamResetPassword {
                user,
                service,
                new_password,
            } => self.reset_password(user, service, new_password).await,
            _ => return Response::Error("not a PAM request".into()),
        };
        Response::Pam(reply)
    }

    pub(super) fn finish(
        op: &str,
        user: &str,
        service: &str,
        rhost: &str,
        d: Decision,
    ) -> PamReply {
        if d.code == PamCode::Success {
            tracing::info!(op, user, service, rhost, result = ?d.code, reason = %d.reason, "pam decision");
        } else {
            tracing::warn!(op, user, service, rhost, result = ?d.code, reason = %d.reason, "pam decision");
        }
        PamReply {
            code: d.code,
            message: d.message,
            notices: d.notices,
        }
    }

    /// `pam_sm_authenticate`: verifies `password` for `user`.
    pub async fn authenticate(
        &self,
        user: &str,
        service: &str,
        rhost: &str,
        password: &Secret,
    ) -> PamReply {
        let d = self.decide_authenticate(user, password).await;
        Self::finish("authenticate", user, service, rhost, d)
    }

    /// The decision of [`PamAuth::authenticate`], before it is logged.
    pub(super) async fn decide_authenticate(&self, name: &str, password: &Secret) -> Decision {
        if password.is_empty() {
            // RFC 4513 §5.1.2: an empty password is an unauthenticated bind.
            return Decision::new(
                PamCode::AuthErr,
                "",
                "empty password refused before any bind",
            );
        }
        let user = match self.backend.find_user(name).await {
            Answer::Found(u, _) => u,
            Answer::NotFound => {
                return Decision::new(PamCode::UserUnknown, "", "not a directory user")
            }
            Answer::Unavailable(why) => {
                return self
                    .offline_without_entry(name, password, &why.to_string())
                    .await
            }
        };
        if let Some(d) = self.shadowed(&user) {
            return d;
        }
        let dom = self.domain(&user.domain);
        let (checked, ticket, by) = match self.backend.krb5_login(&user, password).await {
            Some(Ok(k)) => (Ok(k.result), k.ticket, "the KDC"),
            Some(Err(e)) => (Err(e), None, "the KDC"),
            None => (
                self.backend.verify_password(&user, password).await,
                None,
                "the directory",
            ),
        };
        match checked {
            Ok(BindResult::Accepted(policy)) => {
                if dom.cache_credentials {
                    self.remember(&user, password);
                }
                let notices = self.lifecycle_notices(&user, &dom, policy).await;
                let mut d = Decision::new(
                    PamCode::Success,
                    "",
                    format!(
                        "password accepted by {by} (domain {}){}{}{}",
                        user.domain,
                        if ticket.is_some() {
                            ", tickets verified with the host keytab"
                        } else {
                            ""
                        },
                        if notices.is_empty() { "" } else { ": " },
                        notices.join(" ")
                    ),
                );
                d.notices = notices;
                d.ticket = ticket;
                d
            }
            Ok(BindResult::Locked) => Decision::new(
                PamCode::AuthErr,
                "Your account is locked; please contact your system administrator",
                "account locked (password policy)",
            ),
            Ok(BindResult::PasswordExpired) => Decision::new(
                PamCode::AuthErr,
                "Your password has expired; please contact your system administrator",
                "password expired, no grace login left (password policy)",
            ),
            Ok(BindResult::InvalidCredentials) => {
                self.forget(&user).await;
                Decision::new(PamCode::AuthErr, "", "wrong password (invalid credentials)")
            }
            Ok(BindResult::Insecure) => Decision::new(
                PamCode::AuthInfoUnavail,
                "",
                "password binds over an unencrypted connection are refused (set start_tls, use ldaps://, or allow_insecure_auth = true)",
            ),
            Ok(BindResult::Refused(msg)) => {
                Decision::new(PamCode::AuthErr, "", format!("bind refused by the server: {msg}"))
            }
            Err(BackendError::Unavailable { context, .. }) => {
                self.offline(&user, &dom, password, &context).await
            }
            Err(e) => Decision::new(PamCode::SystemErr, "", format!("password check: {e}")),
        }
    }

    /// The password lifecycle notices of a login the directory accepted:
    /// what its password policy said on the bind (grace logins left, or an
    /// expiry within `pwd_expiration_warning` days), else an expiry within
    /// that window from the account state (shadow attributes, AD's
    /// `pwdLastSet` + `maxPwdAge`), read with one base search when
    /// warnings are on. A state that cannot be read gives no notice.
    async fn lifecycle_notices(
        &self,
        user: &AuthUser,
        dom: &DomainAuth,
        policy: Option<PolicyNotice>,
    ) -> Vec<String> {
        let window = dom.pwd_expiration_warning;
        if let Some(n) = policy {
            return policy::policy_notice(n, window).into_iter().collect();
        }
        if window == 0 {
            return Vec::new();
        }
        match self.backend.account_info(user, None).await {
            Ok(info) => policy::expiry_notice(&info, self.clock.now_secs(), window)
                .into_iter()
                .collect(),
            Err(e) => {
                tracing::debug!(user = %user.name, domain = %user.domain, error = %e, "password expiry unknown: account state not read");
                Vec::new()
            }
        }
    }

    /// Brings the offline credential of a password the directory just
    /// accepted up to date, after the reply: this only registers the
    /// update (its ticket orders it after every earlier decision about the
    /// user, see [`super::pending`]) and spawns it. In the background the
    /// verifier is refreshed on the argon2 worker (kept without hashing
    /// when it was made from the same password, see
    /// [`CredentialStore::refresh_hash`]) and the account state read and
    /// kept. An offline check of the user waits for both.
    pub(super) fn remember(&self, user: &AuthUser, password: &Secret) {
        let key = cred_key(&user.domain, &user.name);
        let verifier = self.creds.begin_update(&key, VERIFIER);
        let account = self.creds.begin_update(&key, ACCOUNT_STATE);
        let creds = self.creds.clone();
        let backend = self.backend.clone();
        let pw = password.clone();
        let now = self.clock.now_secs();
        let cost = self.hash_cost();
        let filter = self.domain(&user.domain).access_filter;
        let user = user.clone();
        tokio::spawn(async move {
            let job_creds = creds.clone();
            let name = user.name.clone();
            let queued = creds
                .worker()
                .submit(move |scratch| {
                    let refreshed = job_creds.refresh_hash(
                        verifier.key(),
                        &pw,
                        cost,
                        now,
                        verifier.ticket(),
                        |pw| scratch.hash(pw, cost),
                    );
                    drop(pw);
                    match refreshed {
                        Ok(Refreshed::Hashed) => {
                            tracing::debug!(user = %name, "cached credential: new verifier stored")
                        }
                        Ok(Refreshed::Current) => {
                            tracing::debug!(user = %name, "cached credential: stored verifier is current")
                        }
                        Ok(Refreshed::Stale) => tracing::info!(
                            user = %name,
                            "cached credential not stored: a later decision (refusal or forget) came first"
                        ),
                        Err(e) => {
                            tracing::error!(user = %name, error = %e, "cannot cache credentials")
                        }
                    }
                    verifier.finish();
                })
                .await;
            if let Err(e) = queued {
                tracing::error!(user = %user.name, error = %e, "cannot cache credentials");
            }
            if let Ok(info) = backend.account_info(&user, filter.as_deref()).await {
                keep_account(&creds, &user, info, now).await;
            }
            account.finish();
        });
    }

    /// The directory refused the password: the cached hash of the account
    /// (if any) is deleted, and a verifier still being computed for an
    /// earlier login will not be stored (the refusal's ticket is later), so
    /// an old password never keeps working offline. Waits for no hash.
    pub(super) async fn forget(&self, user: &AuthUser) {
        let key = cred_key(&user.domain, &user.name);
        let refused = self.creds.refuse(&key);
        if self.creds.get(&key).is_none_or(|r| r.hash.is_none()) {
            if self.creds.updating(&key, VERIFIER) {
                tracing::info!(
                    user = %user.name,
                    domain = %user.domain,
                    "cached password deleted: the directory refused the password (the verifier still being computed will not be stored)"
                );
            }
            return;
        }
        let creds = self.creds.clone();
        let deleted =
            tokio::task::spawn_blocking(move || creds.forget_hash_before(&key, refused)).await;
        match deleted {
            Ok(Ok(true)) => tracing::info!(
                user = %user.name,
                domain = %user.domain,
                "cached password deleted: the directory refused the password"
            ),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => {
                tracing::error!(user = %user.name, error = %e, "cannot delete the cached password")
            }
            Err(e) => tracing::error!(user = %user.name, error = %e, "credential task failed"),
        }
    }

    /// No server answers: the user's entry is known, check the cached
    /// credential.
    async fn offline(
        &self,
        user: &AuthUser,
        dom: &DomainAuth,
        password: &Secret,
        why: &str,
    ) -> Decision {
        if !dom.cache_credentials {
            return Decision::new(
                PamCode::AuthInfoUnavail,
                "",
                format!("no directory server answers and cache_credentials is off: {why}"),
            );
        }
        self.check_cached(&user.domain, &user.name, dom, password, why)
            .await
    }

    /// No server answers and the user is not even cached: a cached
    /// credential in a domain that keeps them may still exist.
    async fn offline_without_entry(&self, name: &str, password: &Secret, why: &str) -> Decision {
        let settings = self
            .settings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        let (base, wanted) = match name.split_once('@') {
            Some((b, d)) => (b, Some(d)),
            None => (name, None),
        };
        let mut domains: Vec<_> = settings
            .domains
            .iter()
            .filter(|(d, a)| {
                a.cache_credentials && wanted.is_none_or(|w| w.eq_ignore_ascii_case(d))
            })
            .collect();
        domains.sort_by(|a, b| a.0.cmp(b.0));
        for (domain, dom) in domains {
            let key = cred_key(domain, base);
            self.creds.settled(&key).await;
            if self.creds.get(&key).is_some() {
                return self.check_cached(domain, base, dom, password, why).await;
            }
        }
        Decision::new(
            PamCode::AuthInfoUnavail,
            "",
            format!("no directory server answers and no cached credential: {why}"),
        )
    }

    async fn check_cached(
        &self,
        domain: &str,
        name: &str,
        dom: &DomainAuth,
        password: &Secret,
        why: &str,
    ) -> Decision {
        let key = cred_key(domain, name);
        // Waits for a verifier of an earlier login still being computed.
        self.creds.settled(&key).await;
        let creds = self.creds.clone();
        let pw = password.clone();
        let now = self.clock.now_secs();
        let rules = dom.offline;
        let accepted = self.hash_cost().accepted();
        let checked = self
            .creds
            .worker()
            .run(move |scratch| {
                creds.check_offline(&key, now, rules, |hash| scratch.verify(&pw, hash, accepted))
            })
            .await;
        let outcome = match checked {
            Ok(Ok(o)) => o,
            Ok(Err(e)) => return Decision::new(PamCode::SystemErr, "", e.to_string()),
            Err(e) => return Decision::new(PamCode::SystemErr, "", e.to_string()),
        };
        match outcome {
            OfflineCheck::NoCredential => Decision::new(
                PamCode::AuthInfoUnavail,
                "",
                format!("offline ({why}) and no cached credential"),
            ),
            OfflineCheck::TooOld => Decision::new(
                PamCode::AuthInfoUnavail,
                "",
                format!("offline ({why}) and the cached credential is older than offline_max_age"),
            ),
            OfflineCheck::Locked(until) => Decision::new(
                PamCode::MaxTries,
                "Too many failed logins while offline; try again later",
                format!("offline login locked until {until} (unix time)"),
            ),
            OfflineCheck::Accepted => Decision::new(
                PamCode::Success,
                "Authenticated with cached credentials (the directory is unreachable)",
                "offline: cached credential matches",
            ),
            OfflineCheck::Rejected {
                failures,
                locked_until: Some(until),
            } => Decision::new(
                PamCode::AuthErr,
                "",
                format!("offline: wrong password (failure {failures}): locked until {until} (unix time)"),
            ),
            OfflineCheck::Rejected { failures, .. } => Decision::new(
                PamCode::AuthErr,
                "",
                format!("offline: wrong password (failure {failures})"),
            ),
        }
    }

    /// `pam_sm_acct_mgmt`: may `user` log in now?
    pub async fn account(&self, user: &str, service: &str, rhost: &str) -> PamReply {
        let d = self.decide_account(user).await;
        Self::finish("account", user, service, rhost, d)
    }

    async fn decide_account(&self, name: &str) -> Decision {
        let user = match self.backend.find_user(name).await {
            Answer::Found(u, _) => u,
            Answer::NotFound => {
                return Decision::new(PamCode::UserUnknown, "", "not a directory user")
            }
            Answer::Unavailable(why) => {
                return Decision::new(
                    PamCode::AuthInfoUnavail,
                    "",
                    format!("user unknown while offline: {why}"),
                )
            }
        };
        if let Some(d) = self.shadowed(&user) {
            return d;
        }
        // Every decision below uses the resolved account's domain: its
        // allow_groups (groups of that domain), access_filter and state.
        let dom = self.domain(&user.domain);
        if !dom.allow_groups.is_empty() {
            match self.in_allowed_group(&user, &dom.allow_groups).await {
                Ok(true) => {}
                Ok(false) => {
                    return Decision::new(
                        PamCode::PermDenied,
                        "Access denied: you are not a member of a group allowed to log in here",
                        format!(
                            "not a member of allow_groups {:?} (groups of domain {}, account {})",
                            dom.allow_groups, user.domain, user.dn
                        ),
                    )
                }
                Err(why) => return Decision::new(PamCode::AuthInfoUnavail, "", why),
            }
        }
        let key = cred_key(&user.domain, &user.name);
        let (info, source) = match self
            .backend
            .account_info(&user, dom.access_filter.as_deref())
            .await
        {
            Ok(info) => {
                keep_account(&self.creds, &user, info.clone(), self.clock.now_secs()).await;
                (info, "directory")
            }
            Err(BackendError::Unavailable { context: why, .. }) => {
                // The state read after an earlier login may still be on
                // its way.
                self.creds.settled(&key).await;
                let now = self.clock.now_secs();
                match self.creds.account(&key, now, dom.offline.max_age_secs) {
                    Some(info) => (info, "offline copy"),
                    _ => {
                        return Decision::new(
                            PamCode::AuthInfoUnavail,
                            "",
                            format!("account state unknown while offline: {why}"),
                        )
                    }
                }
            }
            Err(e) => return Decision::new(PamCode::SystemErr, "", format!("account check: {e}")),
        };
        let (code, text) = policy::evaluate(&info, self.clock.now_secs());
        let reason = if code == PamCode::Success {
            format!("account allowed (domain {}, {source})", user.domain)
        } else {
            format!("{text} (domain {}, {source})", user.domain)
        };
        Decision::new(code, text, reason)
    }

    /// The refusal of a directory user shadowed by a local account.
    pub(super) fn shadowed(&self, user: &AuthUser) -> Option<Decision> {
        let why = self.backend.shadowed_by_local(user)?;
        Some(Decision::new(
            PamCode::UserUnknown,
            "",
            format!(
                "directory user {} (domain {}, {}) refused: {why}; the local account owns this login",
                user.name, user.domain, user.dn
            ),
        ))
    }

    /// Whether the resolved account `user` is a member of one of its
    /// domain's `allowed` groups (both looked up in that domain).
    async fn in_allowed_group(&self, user: &AuthUser, allowed: &[String]) -> Result<bool, String> {
        let gids = match self.backend.user_gids(user).await {
            Answer::Found(g, _) => g,
            Answer::NotFound => return Ok(false),
            Answer::Unavailable(why) => return Err(format!("groups unknown: {why}")),
        };
        for group in allowed {
            match self.backend.group_gid(&user.domain, group).await {
                Answer::Found(gid, _) if gids.contains(&gid) => return Ok(true),
                Answer::Found(..) | Answer::NotFound => {}
                Answer::Unavailable(why) => return Err(format!("group {group} unknown: {why}")),
            }
        }
        Ok(false)
    }

    /// `pam_sm_chauthtok`: changes `user`'s password.
    pub async fn change_password(
        &self,
        user: &str,
        service: &str,
        old: &Secret,
        new: &Secret,
    ) -> PamReply {
        let d = self.decide_change(user, old, new).await;
        Self::finish("chauthtok", user, service, "", d)
    }

    async fn decide_change(&self, name: &str, old: &Secret, new: &Secret) -> Decision {
        if old.is_empty() {
            return Decision::new(
                PamCode::AuthtokErr,
                "",
                "empty current password refused before any bind",
            );
        }
        let user = match self.password_target(name, new).await {
            Ok(u) => u,
            Err(d) => return d,
        };
        match self.backend.change_password(&user, old, new).await {
            Ok(ChangeResult::Changed) => {
                if self.domain(&user.domain).cache_credentials {
                    self.remember(&user, new);
                }
                Decision::new(PamCode::Success, "", "password changed")
            }
            Ok(ChangeResult::WrongOldPassword) => Decision::new(
                PamCode::AuthtokErr,
                "Current password is wrong: password not changed",
                "wrong current password",
            ),
            Ok(ChangeResult::Insecure) => Decision::new(
                PamCode::AuthtokErr,
                "The password cannot be changed over an unencrypted connection",
                "unencrypted connection and allow_insecure_auth is off",
            ),
            Ok(ChangeResult::Refused(msg)) => {
                let shown = if msg.is_empty() {
                    "The directory refused the new password".to_string()
                } else {
                    format!("Password change refused: {msg}")
                };
                Decision::new(
                    PamCode::AuthtokErr,
                    &shown,
                    format!("refused by the server: {msg}"),
                )
            }
            Err(BackendError::Unavailable { context, .. }) => Decision::new(
                PamCode::AuthtokErr,
                "The directory is unreachable: password not changed",
                context,
            ),
            Err(e) => Decision::new(PamCode::SystemErr, "", format!("password change: {e}")),
        }
    }

    /// `pam_sm_open_session`: logged, nothing else.
    pub fn open_session(&self, user: &str, service: &str, rhost: &str) -> PamReply {
        Self::finish(
            "open_session",
            user,
            service,
            rhost,
            Decision::new(PamCode::Success, "", "session opened"),
        )
    }
}

/// Keeps the account state of `user` for offline checks (the file write
/// and fsync run off the async threads).
async fn keep_account(
    creds: &Arc<CredentialStore>,
    user: &AuthUser,
    info: super::AccountInfo,
    now: u64,
) {
    let key = cred_key(&user.domain, &user.name);
    let creds = creds.clone();
    let stored = tokio::task::spawn_blocking(move || creds.store_account(&key, info, now)).await;
    match stored {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            tracing::error!(user = %user.name, error = %e, "cannot keep account state")
        }
        Err(e) => tracing::error!(user = %user.name, error = %e, "account state task failed"),
    }
}
