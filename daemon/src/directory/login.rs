//! The directory operations of a login, for PAM: a password check, the
//! account state, a password change. Each runs on the bounded,
//! failover-aware sessions and reads of [`super::session`] and is carried
//! out by the domain's flavour (binds, attributes and the change method
//! differ between RFC 2307 and Active Directory). An empty password is
//! refused before any bind.

use super::account::{AccountInfo, BindResult, ChangeResult};
use super::flavour::by_flavour;
use super::krb5::host::HostCreds;
use super::krb5::login::UserTickets;
use super::krb5::{self, KrbError, KrbFailure};
use super::{ad, Directory, DirectoryError};
use roster_proto::Secret;
use zeroize::Zeroizing;

/// The password as text, or `None` when it is empty or not UTF-8 (neither
/// can be right: no bind is made with it).
fn usable(password: &Secret) -> Option<&str> {
    if password.is_empty() {
        return None;
    }
    std::str::from_utf8(password.expose()).ok()
}

impl Directory {
    /// Checks `password` with a bind as `dn` on a connection of its own
    /// (never the shared service connection). `Insecure` when the
    /// connection would carry it unencrypted and `allow_insecure_auth` is
    /// off; `InvalidCredentials` for an empty password, without a bind.
    pub async fn verify_password(
        &self,
        dn: &str,
        password: &Secret,
    ) -> Result<BindResult, DirectoryError> {
        let Some(pw) = usable(password) else {
            return Ok(BindResult::InvalidCredentials);
        };
        let Some(session) = self.user_session().await? else {
            return Ok(BindResult::Insecure);
        };
        let result = by_flavour!(self, f => f.bind(self, &session, dn, pw).await);
        self.close_session(session).await;
        result
    }

    /// The account state of the user at `dn`; with `access_filter`, also
    /// whether the entry matches it (base searches on the service
    /// connection). What the entry alone does not say is read too, once
    /// per `super::lifecycle::POLICY_TTL`: the lockout duration of the
    /// user's password policy, an AD domain's `maxPwdAge`.
    pub async fn account_info(
        &self,
        dn: &str,
        access_filter: Option<&str>,
    ) -> Result<AccountInfo, DirectoryError> {
        let attrs = by_flavour!(self, f => f.account_attrs());
        let entry = self
            .read_entry(dn, "(objectClass=*)", attrs)
            .await?
            .ok_or_else(|| DirectoryError::NotFound {
                what: format!("entry {dn} not found"),
            })?;
        let mut info = by_flavour!(self, f => f.account_info(&entry));
        by_flavour!(self, f => f.complete_account(self, &entry, &mut info).await)?;
        if let Some(filter) = access_filter {
            let matched = self.read_entry(dn, filter, &["1.1"]).await?;
            info.filter_matches = Some(matched.is_some());
        }
        Ok(info)
    }

    /// Changes the password of the user `name` (at `dn`) from `old` to
    /// `new`. With `krb5_auth` on, through the realm's kpasswd server
    /// (`Directory::kpasswd_change`); otherwise bound as the user with
    /// `old` (the flavour's method: Password Modify, or AD's `unicodePwd`
    /// replacement over TLS).
    pub async fn change_password(
        &self,
        name: &str,
        dn: &str,
        old: &Secret,
        new: &Secret,
    ) -> Result<ChangeResult, DirectoryError> {
        if old.is_empty() {
            return Ok(ChangeResult::WrongOldPassword);
        }
        let (Ok(old), Ok(new)) = (
            std::str::from_utf8(old.expose()),
            std::str::from_utf8(new.expose()),
        ) else {
            return Ok(ChangeResult::Refused("passwords must be UTF-8".into()));
        };
        if self.cfg.krb5.login {
            return self.kpasswd_change(name, dn, old, new).await;
        }
        by_flavour!(self, f => f.change_password(self, dn, old, new).await)
    }
}

/// The outcome of a Kerberos login ([`Directory::krb5_login`]).
#[derive(Debug)]
pub enum KrbLogin {
    /// The KDC accepted the password; the tickets passed verification
    /// with the host keytab.
    Tickets(UserTickets),
    /// No tickets: the password check's outcome as a bind would give it
    /// (refused, or accepted when the password is right but must be
    /// changed).
    Checked(BindResult),
}

impl Directory {
    /// The host principal whose key in the keytab verifies users' tickets.
    fn host_principal(&self) -> String {
        match self.pool.host_creds() {
            Some(h) => h.principal().to_string(),
            None => HostCreds::new(&self.cfg).principal().to_string(),
        }
    }

    /// Checks `password` of the user `name` (at `dn`) with the KDC of the
    /// domain's realm (`krb5_auth`): a TGT verified with the host keytab.
    /// Bounded by `op_timeout`; `Unavailable` at once while the domain is
    /// offline, and when no KDC answers. A KDC whose tickets do not pass
    /// verification is a configuration error (`Invalid`), never a login.
    pub async fn krb5_login(
        &self,
        name: &str,
        dn: &str,
        password: &Secret,
    ) -> Result<KrbLogin, DirectoryError> {
        let Some(pw) = usable(password) else {
            return Ok(KrbLogin::Checked(BindResult::InvalidCredentials));
        };
        self.pool.check_online()?;
        let user = self.user_principal(name);
        let host = self.host_principal();
        let keytab = self.cfg.keytab_path();
        let secret = Zeroizing::new(pw.as_bytes().to_vec());
        let principal = user.clone();
        let done = self
            .blocking(move || krb5::login::login(&principal, &secret, &host, &keytab))
            .await?;
        let e = match done {
            Ok(t) => return Ok(KrbLogin::Tickets(t)),
            Err(e) => e,
        };
        let checked = match e.failure() {
            KrbFailure::Unreachable => {
                return Err(DirectoryError::unavailable(format!(
                    "domain \"{}\": no KDC of realm {} answers: {e}",
                    self.cfg.name, self.cfg.krb5.realm
                )))
            }
            KrbFailure::WrongKey | KrbFailure::UnknownPrincipal => BindResult::InvalidCredentials,
            KrbFailure::Revoked => self.revoked(dn).await?,
            KrbFailure::KeyExpired => {
                let secret = Zeroizing::new(pw.as_bytes().to_vec());
                let principal = user.clone();
                let right = self
                    .blocking(move || {
                        krb5::login::expired_password_is_right(&principal, &secret)
                    })
                    .await?
                    .map_err(|e| self.krb5_error(e))?;
                if !right {
                    BindResult::InvalidCredentials
                } else if self.must_change(dn).await? {
                    // As AD's bind answers it (773): right, and account
                    // management asks for a new password.
                    BindResult::Accepted(None)
                } else {
                    BindResult::PasswordExpired
                }
            }
            KrbFailure::NotVerified | KrbFailure::UnknownService => {
                return Err(DirectoryError::invalid(format!(
                    "domain \"{}\": the tickets of {user} do not pass verification with the keytab (a KDC that does not hold the host's key, or a keytab out of date): {e}",
                    self.cfg.name
                )))
            }
            _ => return Err(self.krb5_error(e)),
        };
        Ok(KrbLogin::Checked(checked))
    }

    /// The principal of the user `name` in the domain's realm.
    fn user_principal(&self, name: &str) -> String {
        let short = name.split('@').next().unwrap_or(name);
        format!("{short}@{}", self.cfg.krb5.realm)
    }

    /// A user's own password change with the kpasswd protocol
    /// (`krb5_auth`): a ticket for `kadmin/changepw` with `old` (issued
    /// even when `old` has expired), then the change to `new`. The KDC's
    /// policy refusals come back with its message; a wrong `old` is
    /// [`ChangeResult::WrongOldPassword`]. Bounded by `op_timeout`;
    /// `Unavailable` at once while the domain is offline, and when neither
    /// the KDC nor the kpasswd server answers.
    async fn kpasswd_change(
        &self,
        name: &str,
        dn: &str,
        old: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        use krb5::kpasswd::{code_name, Kpasswd};
        self.pool.check_online()?;
        let user = self.user_principal(name);
        let principal = user.clone();
        let old = Zeroizing::new(old.as_bytes().to_vec());
        let new = Zeroizing::new(new.as_bytes().to_vec());
        let done = self
            .blocking(move || krb5::kpasswd::change_password(&principal, &old, &new))
            .await?;
        let domain = &self.cfg.name;
        let reply = match done {
            Ok(r) => r,
            Err(e) => {
                return match e.failure() {
                    KrbFailure::WrongKey | KrbFailure::UnknownPrincipal => {
                        Ok(ChangeResult::WrongOldPassword)
                    }
                    KrbFailure::Revoked => Ok(match self.revoked(dn).await? {
                        BindResult::Locked => {
                            ChangeResult::Refused("the account is locked out".into())
                        }
                        BindResult::Refused(m) => ChangeResult::Refused(m),
                        other => ChangeResult::Refused(format!("{other:?}")),
                    }),
                    KrbFailure::Unreachable => Err(DirectoryError::unavailable(format!(
                        "domain \"{domain}\": no KDC or kpasswd server of realm {} answers: {e}",
                        self.cfg.krb5.realm
                    ))),
                    _ => Err(self.krb5_error(e)),
                };
            }
        };
        Ok(match reply {
            Kpasswd::Changed => {
                tracing::info!(domain = %domain, user = %user, "password changed through kpasswd");
                ChangeResult::Changed
            }
            Kpasswd::Policy(m) if m.is_empty() => {
                ChangeResult::Refused("the KDC refused the new password (password policy)".into())
            }
            Kpasswd::Policy(m) => ChangeResult::Refused(m),
            Kpasswd::AuthError(m) => {
                tracing::warn!(domain = %domain, user = %user, message = %m, "kpasswd: authentication error");
                ChangeResult::WrongOldPassword
            }
            Kpasswd::Refused(code, m) => ChangeResult::Refused(format!(
                "the kpasswd server refused the change ({}, code {code}){}",
                code_name(code),
                if m.is_empty() {
                    String::new()
                } else {
                    format!(": {m}")
                }
            )),
        })
    }

    fn krb5_error(&self, e: KrbError) -> DirectoryError {
        match e.failure() {
            KrbFailure::Unreachable => DirectoryError::unavailable(format!(
                "domain \"{}\": no KDC answers: {e}",
                self.cfg.name
            )),
            _ => DirectoryError::invalid(format!("domain \"{}\": Kerberos: {e}", self.cfg.name)),
        }
    }

    /// Runs a blocking Kerberos call on a blocking thread, bounded by
    /// `op_timeout` (a call still waiting on a KDC then finishes unseen).
    async fn blocking<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, DirectoryError> {
        let op = self.cfg.op_timeout;
        match tokio::time::timeout(op, tokio::task::spawn_blocking(f)).await {
            Err(_) => Err(DirectoryError::unavailable(format!(
                "domain \"{}\": no answer from the KDC within op_timeout {op:?}",
                self.cfg.name
            ))),
            Ok(Err(e)) => Err(DirectoryError::unavailable(format!(
                "domain \"{}\": Kerberos task failed: {e}",
                self.cfg.name
            ))),
            Ok(Ok(v)) => Ok(v),
        }
    }

    /// The KDC refused the account ("client revoked"): why, from its
    /// entry (disabled, locked out, expired).
    async fn revoked(&self, dn: &str) -> Result<BindResult, DirectoryError> {
        let entry = self
            .read_entry(dn, "(objectClass=*)", &AD_STATE_ATTRS)
            .await?;
        let s = entry.as_ref().map(ad::mapping::account_state);
        Ok(match s {
            Some(s) if s.locked => BindResult::Locked,
            Some(s) if s.disabled => BindResult::Refused("the account is disabled".into()),
            Some(s)
                if s.expires_at
                    .is_some_and(|t| t <= crate::clock::unix_secs() as i64) =>
            {
                BindResult::Refused("the account has expired".into())
            }
            _ => BindResult::Refused(
                "the KDC refuses the account (disabled, locked out or expired)".into(),
            ),
        })
    }

    /// Whether the user at `dn` must change the password (`pwdLastSet` 0).
    async fn must_change(&self, dn: &str) -> Result<bool, DirectoryError> {
        let entry = self
            .read_entry(dn, "(objectClass=*)", &AD_STATE_ATTRS)
            .await?;
        Ok(entry
            .as_ref()
            .map(ad::mapping::account_state)
            .is_some_and(|s| s.must_change))
    }
}

/// The attributes of an AD account's state.
const AD_STATE_ATTRS: [&str; 4] = [
    "userAccountControl",
    "accountExpires",
    "pwdLastSet",
    "lockoutTime",
];
