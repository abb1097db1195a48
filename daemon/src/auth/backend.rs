//! What the PAM decisions need from the directory, as a trait: the LDAP
//! implementation is [`super::ldap::DirectoryBackend`], tests use a fake.
//! The outcomes of binds, password changes and account reads are the
//! directory layer's ([`crate::directory::account`]), re-exported here;
//! user and group lookups answer as the resolver does ([`Answer`]).

use crate::backend_error::BackendError;
pub use crate::directory::{AccountInfo, BindResult, ChangeResult, PolicyNotice};
use crate::resolver::Answer;
use roster_proto::{KrbTicket, Secret};

pub use crate::BoxFuture;

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
    ) -> BoxFuture<'a, Option<Result<KrbChecked, BackendError>>> {
        Box::pin(async { None })
    }
    fn verify_password<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Result<BindResult, BackendError>>;
    /// Reads the account attributes of `user`; with `access_filter`, also
    /// whether the entry matches it (a base search on the user's DN).
    fn account_info<'a>(
        &'a self,
        user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, BackendError>>;
    /// Changes the user's password from `old` to `new`: with the Password
    /// Modify operation (RFC 3062) or AD's `unicodePwd`, bound as the user
    /// with the old password; through kpasswd with `krb5_auth`.
    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>>;
    /// Sets `user`'s password to `new` without the old one (root's
    /// `passwd USER`), bound as the domain's password admin. A backend
    /// without one refuses (`Invalid`, naming what is missing).
    fn reset_password<'a>(
        &'a self,
        user: &'a AuthUser,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        let _ = new;
        Box::pin(async move {
            Err(BackendError::invalid(format!(
                "domain {} has no password_admin_dn / password_admin_password_file: root cannot reset passwords",
                user.domain
            )))
        })
    }
}
