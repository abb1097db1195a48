//! PAM decisions of rosterd: password verification (a simple bind as the
//! user, never with an empty password, never over an unencrypted connection
//! unless `allow_insecure_auth`), cached credentials for offline logins
//! (argon2id, lockout), account policy (`allow_groups`, `access_filter`,
//! expiry, ppolicy lock until its lockout duration ends, password age),
//! password lifecycle notices at login (expiry warnings within
//! `pwd_expiration_warning` days, grace logins left), password change
//! (RFC 3062, AD's `unicodePwd`, or kpasswd with `krb5_auth`), root's
//! password reset by the domain's password admin (`reset`), and the
//! authentication of unprivileged callers: their own account only,
//! failures throttled per UID (`caller`, [`throttle`]).
//!
//! Every decision is logged (user, service, rhost, result, reason), never a
//! password.

pub(crate) mod backend;
mod caller;
pub(crate) mod credentials;
pub(crate) mod fingerprint;
pub mod hasher;
pub(crate) mod ldap;
pub mod pending;
pub(crate) mod policy;
mod reset;
pub(crate) mod service;
pub(crate) mod settings;
pub mod throttle;

#[cfg(test)]
mod tests;
#[cfg(test)]
mod unpriv_tests;

pub use backend::{
    AccountInfo, AuthBackend, AuthUser, BindResult, ChangeResult, KrbChecked, PolicyNotice,
};
pub use credentials::{CredentialError, CredentialStore, OfflineRules};
pub use hasher::HashCost;
pub use ldap::{Directories, DirectoryBackend};
pub use service::PamAuth;
pub use settings::{AuthSettings, DomainAuth};
pub use throttle::{Refusal, Throttle, ThrottleSettings, Ticket};
