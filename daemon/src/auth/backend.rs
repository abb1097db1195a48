//! What the PAM decisions need from the directory, as a trait: the LDAP
//! implementation is [`super::ldap::DirectoryBackend`], tests use a fake.
//! The outcomes of binds, password changes and account reads are the
//! directory layer's ([`crate::directory::account`]), re-exported here.

pub use crate::directory::{AccountInfo, BindResult, ChangeResult};
use roster_proto::Secret;
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

/// Outcome of a user lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Lookup<T> {
    /// Found (from the directory or the cache).
    Found(T),
    /// No domain has it.
    NotFound,
    /// No directory answered and nothing is cached.
    Unavailable(String),
}

/// Why the directory could not answer.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum AuthError {
    /// No server answered (or a timeout): offline rules apply.
    #[error("directory unavailable: {0}")]
    Unavailable(String),
    /// Anything else (configuration, protocol, unexpected server error).
    #[error("{0}")]
    Failed(String),
}

/// The directory operations behind the PAM decisions.
pub trait AuthBackend: Send + Sync + 'static {
    /// The user called `name` (plain or `name@domain`).
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Lookup<AuthUser>>;
    /// GIDs of every group of the resolved account `user` in its own
    /// domain, primary group included (never those of another domain's
    /// account of the same name).
    fn user_gids<'a>(&'a self, user: &'a AuthUser) -> BoxFuture<'a, Lookup<Vec<u32>>>;
    /// The GID of the group called `name` in `domain` (a name qualified
    /// with a configured domain is looked up there).
    fn group_gid<'a>(&'a self, domain: &'a str, name: &'a str) -> BoxFuture<'a, Lookup<u32>>;
    /// Why the resolved account `user` is shadowed by a local account
    /// (same name or UID in `/etc/passwd`, or a reserved UID), if it is:
    /// such users are refused, the login belongs to the local account.
    fn shadowed_by_local(&self, user: &AuthUser) -> Option<String>;
    /// Checks `password` with a simple bind as `user` on a separate connection.
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
    /// Changes the password with the Password Modify operation (RFC 3062),
    /// bound as the user with the old password.
    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, AuthError>>;
}
