//! Operations as a user, for PAM: password binds, the password change that
//! follows one, and base reads of the user's entry. They go through the
//! same bounded, failover-aware machinery as lookups: servers are tried in
//! failover order (the one in use first, those marked down skipped), a
//! server that cannot be reached or does not answer within the timeouts is
//! marked down for the other operations too, every step is bounded by
//! `connect_timeout` / `op_timeout`, and a panic inside the LDAP library is
//! an error of that operation, never of the daemon.

use super::conn::is_connection_error;
use super::search::Query;
use super::{Directory, DirectoryError};
use ldap3::{Ldap, LdapError, LdapResult, Scope, SearchEntry};
use std::future::Future;
use zeroize::Zeroizing;

/// A connection opened for one user's bind (never the shared service
/// connection, whose identity must not change). Close it with
/// [`Directory::close_session`].
pub struct UserSession {
    ldap: Ldap,
    uri: String,
}

impl UserSession {
    /// The URI of the server this session talks to.
    pub fn uri(&self) -> &str {
        &self.uri
    }
}

/// The outcome of one operation the server answered: success, or the
/// server's refusal (result code, message, controls).
pub type Answered<T> = Result<T, LdapResult>;

/// Runs `fut` as its own task, bounded by `limit`: a panic in it (ldap3
/// panics on some malformed replies) becomes `Err(Panic)`, a timeout
/// `Err(Timeout)`; the task is aborted on timeout.
async fn guarded<T: Send + 'static>(
    limit: std::time::Duration,
    fut: impl Future<Output = T> + Send + 'static,
) -> Result<T, Guard> {
    let mut task = tokio::spawn(fut);
    match tokio::time::timeout(limit, &mut task).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) if e.is_panic() => Err(Guard::Panic),
        Ok(Err(_)) => Err(Guard::Panic),
        Err(_) => {
            task.abort();
            Err(Guard::Timeout)
        }
    }
}

/// Why a guarded operation gave no value.
enum Guard {
    Panic,
    Timeout,
}

impl Directory {
    /// Opens a connection for a password bind as a user: the first server
    /// not marked down, the one in use first. A server that cannot be
    /// reached is marked down and the next is tried. `Ok(None)` when the
    /// connection would carry the password unencrypted and the domain does
    /// not set `allow_insecure_auth` (the connection is closed, nothing was
    /// sent). `Unavailable` at once while the domain is offline.
    pub async fn user_session(&self) -> Result<Option<UserSession>, DirectoryError> {
        self.pool.check_online()?;
        let mut uris = self.pool.usable_uris();
        if let Some(cur) = self.pool.current_uri() {
            uris.retain(|u| *u != cur);
            uris.insert(0, cur);
        }
        let mut errors = Vec::new();
        for uri in uris {
            match self.pool.connect_unbound(&uri).await {
                Ok(ldap) => {
                    if !self.cfg.uses_tls(&uri) && !self.cfg.allow_insecure_auth {
                        tracing::warn!(domain = %self.cfg.name, %uri, "refusing a password bind over an unencrypted connection (allow_insecure_auth = false)");
                        // Dropped, not unbound: nothing was sent on it, and
                        // no goodbye is awaited from a server.
                        drop(ldap);
                        return Ok(None);
                    }
                    return Ok(Some(UserSession { ldap, uri }));
                }
                Err(DirectoryError::Unavailable { context: m, .. }) => {
                    tracing::warn!(domain = %self.cfg.name, %uri, error = %m, "server unreachable for a user bind, trying the next");
                    self.pool.mark_down(&uri, &m);
                    errors.push(format!("{uri}: {m}"));
                }
                Err(e) => return Err(e),
            }
        }
        Err(DirectoryError::unavailable(format!(
            "no server of domain \"{}\" answers ({})",
            self.cfg.name,
            if errors.is_empty() {
                "all marked down".to_string()
            } else {
                errors.join("; ")
            }
        )))
    }

    /// A session to the server `uri` of this domain whatever its state
    /// (`rosterctl test` checks each server in turn): connected with the
    /// domain's TLS settings within `connect_timeout`, not bound.
    pub async fn session_to(&self, uri: &str) -> Result<UserSession, DirectoryError> {
        if !self.pool.servers().await?.iter().any(|u| u == uri) {
            return Err(DirectoryError::invalid(format!(
                "{uri} is not a URI of domain \"{}\"",
                self.cfg.name
            )));
        };
        let ldap = self.pool.connect_unbound(uri).await?;
        Ok(UserSession {
            ldap,
            uri: uri.to_string(),
        })
    }

    /// Binds `session` as the domain's service account (`bind_dn` with the
    /// password of `bind_password_file`), bounded and guarded like
    /// [`Directory::on_session`]; the server's refusal is `Ok(Err(result))`.
    /// Without `bind_dn` nothing is sent (the session stays anonymous). An
    /// empty or non-UTF-8 password is refused before any bind.
    pub async fn service_bind(
        &self,
        session: &UserSession,
    ) -> Result<Answered<()>, DirectoryError> {
        let Some(dn) = self.cfg.bind_dn.clone() else {
            return Ok(Ok(()));
        };
        let name = &self.cfg.name;
        let pw = match &self.cfg.bind_password {
            Some(p) if !p.is_empty() => p,
            _ => {
                return Err(DirectoryError::invalid(format!(
                    "domain \"{name}\": bind_dn {dn} without a bind password"
                )))
            }
        };
        let pw = std::str::from_utf8(pw.expose()).map_err(|_| {
            DirectoryError::invalid(format!("domain \"{name}\": bind password is not UTF-8"))
        })?;
        let pw = Zeroizing::new(pw.to_string());
        self.on_session(session, "service bind", move |mut ldap| async move {
            ldap.simple_bind(&dn, &pw)
                .await
                .and_then(|r| r.success())
                .map(|_| ())
        })
        .await
    }

    /// Runs one operation on `session`, bounded by `op_timeout` and guarded
    /// against panics. `op` gets a handle of the session's connection. A
    /// timeout or a broken connection marks the server down and is
    /// `Unavailable`; a refusal by the server is `Ok(Err(result))`.
    pub async fn on_session<T, F, Fut>(
        &self,
        session: &UserSession,
        what: &str,
        op: F,
    ) -> Result<Answered<T>, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>> + Send + 'static,
    {
        let limit = self.cfg.op_timeout;
        let outcome = guarded(limit, op(session.ldap.clone())).await;
        self.classify(&session.uri, what, outcome)
    }

    /// Closes a session: the unbind (bounded by `op_timeout`) is sent in the
    /// background, so the caller (a login being answered) never waits on
    /// the goodbye of a server that may have stopped answering; at the
    /// bound the connection is dropped without a graceful TLS close.
    pub async fn close_session(&self, session: UserSession) {
        let mut ldap = session.ldap;
        let limit = self.cfg.op_timeout;
        tokio::spawn(async move {
            let _ = guarded(limit, async move { ldap.unbind().await }).await;
        });
    }

    /// Runs one operation on the domain's shared service connection (bound
    /// as the service account), bounded and guarded like
    /// [`Directory::on_session`].
    pub async fn on_service_connection<T, F, Fut>(
        &self,
        what: &str,
        op: F,
    ) -> Result<Answered<T>, DirectoryError>
    where
        T: Send + 'static,
        F: FnOnce(Ldap) -> Fut,
        Fut: Future<Output = Result<T, LdapError>> + Send + 'static,
    {
        let lease = self.pool.get().await?;
        let outcome = guarded(self.cfg.op_timeout, op(lease.ldap)).await;
        self.classify(&lease.uri, what, outcome)
    }

    fn classify<T>(
        &self,
        uri: &str,
        what: &str,
        outcome: Result<Result<T, LdapError>, Guard>,
    ) -> Result<Answered<T>, DirectoryError> {
        let name = &self.cfg.name;
        match outcome {
            Ok(Ok(v)) => Ok(Ok(v)),
            Ok(Err(LdapError::LdapResult { result })) => Ok(Err(result)),
            Ok(Err(LdapError::Timeout { .. })) | Err(Guard::Timeout) => {
                let msg = format!(
                    "{what}: no answer within op_timeout {:?}",
                    self.cfg.op_timeout
                );
                self.pool.discard(uri, &msg, true);
                Err(DirectoryError::unavailable(format!(
                    "domain \"{name}\" ({uri}): {msg}"
                )))
            }
            Ok(Err(e)) if is_connection_error(&e) => {
                self.pool.discard(uri, &format!("{what}: {e}"), true);
                Err(DirectoryError::unavailable_from(
                    format!("domain \"{name}\" ({uri}): {what}"),
                    e,
                ))
            }
            Ok(Err(e)) => Err(DirectoryError::refused_from(
                format!("domain \"{name}\": {what}"),
                e,
            )),
            Err(Guard::Panic) => {
                tracing::error!(domain = %name, %uri, "{what}: the LDAP library panicked; operation abandoned");
                Err(DirectoryError::Refused {
                    rc: None,
                    reason: format!(
                        "domain \"{name}\": {what}: internal error in the LDAP library"
                    ),
                    source: None,
                })
            }
        }
    }

    /// The entry at `dn` with `attrs` (a base search on the service
    /// connection, bounded and failover-aware like every lookup); `None`
    /// when it does not exist or the search filter does not match.
    pub async fn read_entry(
        &self,
        dn: &str,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Option<SearchEntry>, DirectoryError> {
        let q = Query {
            base: dn.to_string(),
            scope: Scope::Base,
            filter: filter.to_string(),
            attrs: attrs.iter().map(|a| a.to_string()).collect(),
        };
        match self.search_one(&q).await {
            Ok(entries) => Ok(entries.into_iter().next()),
            // The entry vanished since it was resolved.
            Err(DirectoryError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn guarded_turns_panics_and_hangs_into_errors() {
        let limit = Duration::from_millis(200);
        assert!(matches!(guarded(limit, async { 7 }).await, Ok(7)));
        let panicked = guarded(limit, async move {
            if limit.as_millis() > 0 {
                panic!("malformed reply");
            }
        })
        .await;
        assert!(matches!(panicked, Err(Guard::Panic)));
        let hung = guarded(limit, std::future::pending::<()>()).await;
        assert!(matches!(hung, Err(Guard::Timeout)));
    }
}
