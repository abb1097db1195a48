//! What the PAM decisions need from the directory, as a trait: the LDAP
//! implementation is [`super::ldap::DirectoryBackend`], tests use a fake.
//! The outcomes of binds, password changes and account reads are the
//! directory layer's ([`crate::directory::account`]), re-exported here;
//! user and group lookups answer as the resolver does ([`Answer`]).

use crate::directory::DirectoryError;
pub use crate::directory::{AccountInfo, BindResult, ChangeResult, PolicyNotice};
use crate::resolver::Answer;
use roster_proto::{KrbTicket, Secret};
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

/// A boxed, sendable future (keeps [`AuthBackend`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A directory user as the PAM decisions see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthUser {
    /// Login name (without `@domain`).
    pub name: String,
    /// Numeric user ID.
    pub uid: u32,
    /// DN of the directory entry (the bind DN for password checks).
    pub dn: String,
    /// Name of the domain that has the user.
    pub domain: String,
}

/// Why the directory could not carry out a password check, account read
/// or password change, by kind (those of [`DirectoryError`], from which it
/// is made without losing the kind, the result code or the source).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// The user's entry (or the domain asked for) does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What does not exist.
        what: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// No server answered (or a timeout): offline rules apply.
    #[error("directory unavailable: {context}")]
    Unavailable {
        /// Which server and operation, and why.
        context: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// The server refused the operation or answered with an error.
    #[error("refused by the directory: {reason}")]
    Refused {
        /// The LDAP result code, when the server sent one.
        rc: Option<u32>,
        /// What was refused, with the server's message.
        reason: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// The domain's configuration cannot work (TLS files, URIs, a domain
    /// that is not configured).
    #[error("directory configuration: {reason}")]
    Invalid {
        /// What is wrong, naming the domain and the setting.
        reason: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
}

impl AuthError {
    /// [`AuthError::Unavailable`] without a directory error.
    pub fn unavailable(context: impl Into<String>) -> AuthError {
        AuthError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// [`AuthError::Invalid`] without a directory error.
    pub fn invalid(reason: impl Into<String>) -> AuthError {
        AuthError::Invalid {
            reason: reason.into(),
            source: None,
        }
    }

    /// The kind's name: `not_found`, `unavailable`, `refused`, `invalid`
    /// (as [`roster_proto::Failure::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            AuthError::NotFound { .. } => "not_found",
            AuthError::Unavailable { .. } => "unavailable",
            AuthError::Refused { .. } => "refused",
            AuthError::Invalid { .. } => "invalid",
        }
    }
}

/// The directory's error as the same kind, its message kept and the
/// directory's error as the source.
impl From<DirectoryError> for AuthError {
    fn from(e: DirectoryError) -> AuthError {
        match &e {
            DirectoryError::NotFound { what } => AuthError::NotFound {
                what: what.clone(),
                source: Some(e),
            },
            DirectoryError::Unavailable { context, .. } => AuthError::Unavailable {
                context: context.clone(),
                source: Some(e),
            },
            DirectoryError::Refused { rc, reason, .. } => AuthError::Refused {
                rc: *rc,
                reason: reason.clone(),
                source: Some(e),
            },
            DirectoryError::Invalid { reason } => AuthError::Invalid {
                reason: reason.clone(),
                source: Some(e),
            },
        }
    }
}

/// A password checked with the KDC (`krb5_auth`): the outcome, as a bind
/// would give it, and the user's verified tickets when it was accepted.
#[derive(Debug)]
pub struct KrbChecked {
    /// The outcome of the password check.
    pub result: BindResult,
    /// The tickets for the PAM module to store (none when the password was
    /// refused, or accepted without tickets).
    pub ticket: Option<KrbTicket>,
}

/// The directory operations behind the PAM decisions.
pub trait AuthBackend: Send + Sync + 'static {
    /// The user called `name` (plain or `name@domain`).
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Answer<AuthUser>>;
    /// GIDs of every group of the resolved account `user` in its own
    /// domain, primary group included (never those of another domain's
    /// account of the same name).
    fn user_gids<'a>(&'a self, user: &'a AuthUser) -> BoxFuture<'a, Answer<Vec<u32>>>;
    /// The GID of the group called `name` in `domain` (a name qualified
    /// with a configured domain is looked up there).
    fn group_gid<'a>(&'a self, domain: &'a str, name: &'a str) -> BoxFuture<'a, Answer<u32>>;
    /// Why the resolved account `user` is shadowed by a local account
    /// (same name or UID in `/etc/passwd`, or a reserved UID), if it is:
    /// such users are refused, the login belongs to the local account.
    fn shadowed_by_local(&self, user: &AuthUser) -> Option<String>;
    /// Checks `password` with a simple bind as `user` on a separate connection.
    /// With `krb5_auth` on the user's domain: checks `password` with the
    /// KDC (a TGT verified with the host keytab) instead of a bind. `None`
    /// when the domain does not use Kerberos logins (the default).
    fn krb5_login<'a>(
        &'a self,
        _user: &'a AuthUser,
        _password: &'a Secret,
    ) -> BoxFuture<'a, Option<Result<KrbChecked, AuthError>>> {
        Box::pin(async { None })
    }
    fn verify_password<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Result<BindResult, AuthError>>;
    /// Reads the account attributes of `user`; with `access_filter`, also
    /// whether the entry matches it (a base search on the user's DN).
    fn account_info<'a>(
        &'a self,
        user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, AuthError>>;
    /// Changes the user's password from `old` to `new`: with the Password
    /// Modify operation (RFC 3062) or AD's `unicodePwd`, bound as the user
    /// with the old password; through kpasswd with `krb5_auth`.
    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, AuthError>>;
    /// Sets `user`'s password to `new` without the old one (root's
    /// `passwd USER`), bound as the domain's password admin. A backend
    /// without one refuses (`Invalid`, naming what is missing).
    fn reset_password<'a>(
        &'a self,
        user: &'a AuthUser,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, AuthError>> {
        let _ = new;
        Box::pin(async move {
            Err(AuthError::invalid(format!(
                "domain {} has no password_admin_dn / password_admin_password_file: root cannot reset passwords",
                user.domain
            )))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_errors_keep_their_kind_and_source() {
        let cases = [
            (
                DirectoryError::unavailable("no answer within op_timeout"),
                "unavailable",
            ),
            (
                DirectoryError::refused(53, "unwilling to perform"),
                "refused",
            ),
            (DirectoryError::invalid("bad CA file"), "invalid"),
            (
                DirectoryError::NotFound {
                    what: "entry uid=x".into(),
                },
                "not_found",
            ),
        ];
        for (d, kind) in cases {
            let e = AuthError::from(d.clone());
            assert_eq!(e.kind(), kind, "{e:?}");
            let source = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<DirectoryError>())
                .cloned();
            assert_eq!(source, Some(d));
        }
        let e = AuthError::from(DirectoryError::refused(53, "unwilling to perform"));
        assert!(matches!(&e, AuthError::Refused { rc: Some(53), .. }));
        assert_eq!(
            e.to_string(),
            "refused by the directory: unwilling to perform"
        );
    }
}
