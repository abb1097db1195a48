//! The directory operations of a login, for PAM: a password check, the
//! account state, a password change. Each runs on the bounded,
//! failover-aware sessions and reads of [`super::session`] and is carried
//! out by the domain's flavour (binds, attributes and the change method
//! differ between RFC 2307 and Active Directory). An empty password is
//! refused before any bind.

use super::account::{AccountInfo, BindResult, ChangeResult};
use super::flavour::by_flavour;
use super::{Directory, DirectoryError};
use roster_proto::Secret;

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
    /// per [`super::lifecycle::POLICY_TTL`]: the lockout duration of the
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

    /// Changes the password of the user at `dn` from `old` to `new`, bound
    /// as the user with `old` (the flavour's method: Password Modify, or
    /// AD's `unicodePwd` replacement over TLS).
    pub async fn change_password(
        &self,
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
        by_flavour!(self, f => f.change_password(self, dn, old, new).await)
    }
}
