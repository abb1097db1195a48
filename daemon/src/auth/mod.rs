//! PAM decisions of rosterd: password verification (a simple bind as the
//! user, never with an empty password, never over an unencrypted connection
//! unless `allow_insecure_auth`), cached credentials for offline logins
//! (argon2id, lockout), account policy (`allow_groups`, `access_filter`,
//! expiry, ppolicy lock, password age) and password change (RFC 3062).
//!
//! Every decision is logged (user, service, rhost, result, reason), never a
//! password.

pub(crate) mod backend;
pub(crate) mod credentials;
pub(crate) mod fingerprint;
pub mod hasher;
pub(crate) mod ldap;
pub mod pending;
pub(crate) mod policy;
pub(crate) mod service;
pub(crate) mod settings;

#[cfg(test)]
mod tests;

pub use backend::{
    AccountInfo, AuthBackend, AuthError, AuthUser, BindResult, ChangeResult, KrbChecked,
};
pub use credentials::{CredentialError, CredentialStore, OfflineRules};
pub use hasher::HashCost;
pub use ldap::{Directories, DirectoryBackend};
pub use service::PamAuth;
pub use settings::{AuthSettings, DomainAuth};
