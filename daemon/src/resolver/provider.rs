//! The seam between the resolver and an identity source: one [`Provider`]
//! per configured domain (the LDAP [`crate::directory::Directory`] in the
//! daemon, a fake in tests).

use crate::cache::{GroupEntry, NetgroupEntry, UserEntry};
use crate::directory::DirectoryError;
use roster_proto::admin::DomainStatus;
use roster_proto::Failure;
use std::future::Future;
use std::pin::Pin;
use thiserror::Error;

/// A boxed, sendable future (keeps [`Provider`] object-safe).
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Why a domain could not answer, by kind (the same kinds as
/// [`DirectoryError`], from which it is made without losing the kind, the
/// result code or the source: [`From<DirectoryError>`]).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum ProviderError {
    /// A search base or entry the lookup needs does not exist.
    #[error("directory error: {what}")]
    NotFound {
        /// What does not exist.
        what: String,
        /// The directory's error.
        #[source]
        source: Option<DirectoryError>,
    },
    /// No server of the domain answered: offline data may be used.
    #[error("directory unavailable: {context}")]
    Unavailable {
        /// Which server and operation, and why.
        context: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// The domain answered with a refusal or an error.
    #[error("directory error: {reason}")]
    Refused {
        /// The LDAP result code, when the server sent one.
        rc: Option<u32>,
        /// What was refused, and why.
        reason: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// The domain cannot work as configured, or was asked something it
    /// cannot answer.
    #[error("directory configuration: {reason}")]
    Invalid {
        /// What is wrong.
        reason: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
}

impl ProviderError {
    /// [`ProviderError::Unavailable`] without a directory error.
    pub fn unavailable(context: impl Into<String>) -> ProviderError {
        ProviderError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// [`ProviderError::Refused`] without a directory error.
    pub fn refused(reason: impl Into<String>) -> ProviderError {
        ProviderError::Refused {
            rc: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// [`ProviderError::Invalid`] without a directory error.
    pub fn invalid(reason: impl Into<String>) -> ProviderError {
        ProviderError::Invalid {
            reason: reason.into(),
            source: None,
        }
    }

    /// True when no server could answer (offline rules apply).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, ProviderError::Unavailable { .. })
    }
}

/// The directory's error as the same kind, its message kept and the
/// directory's error as the source.
impl From<DirectoryError> for ProviderError {
    fn from(e: DirectoryError) -> ProviderError {
        match &e {
            DirectoryError::NotFound { what } => ProviderError::NotFound {
                what: what.clone(),
                source: Some(e),
            },
            DirectoryError::Unavailable { context, .. } => ProviderError::Unavailable {
                context: context.clone(),
                source: Some(e),
            },
            DirectoryError::Refused { rc, reason, .. } => ProviderError::Refused {
                rc: *rc,
                reason: reason.clone(),
                source: Some(e),
            },
            DirectoryError::Invalid { reason } => ProviderError::Invalid {
                reason: reason.clone(),
                source: Some(e),
            },
        }
    }
}

/// A domain that could not answer a lookup, and why: what the resolver's
/// [`super::Answer::Unavailable`] carries.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("domain {domain}: {error}")]
pub struct DomainError {
    /// The domain's name.
    pub domain: String,
    /// Its provider's error.
    #[source]
    pub error: ProviderError,
}

impl DomainError {
    /// `error` of the domain called `domain`.
    pub fn new(domain: impl Into<String>, error: ProviderError) -> DomainError {
        DomainError {
            domain: domain.into(),
            error,
        }
    }

    /// True when the domain's servers did not answer (as opposed to a
    /// refusal or a configuration error).
    pub fn is_unavailable(&self) -> bool {
        self.error.is_unavailable()
    }
}

/// A lookup a domain could not answer is unavailable, whatever the
/// domain's error (the walk over the domains stops there: a later domain's
/// answer could be another object than the failed one's); the text names
/// the domain and its error.
impl From<DomainError> for Failure {
    fn from(e: DomainError) -> Failure {
        Failure::unavailable(e)
    }
}

/// Answers of one provider call.
pub type ProviderResult<T> = Result<T, ProviderError>;

/// One identity domain, as the resolver sees it.
pub trait Provider: Send + Sync + 'static {
    /// The domain's name, as in the configuration.
    fn name(&self) -> &str;
    /// True when the domain matches names case-insensitively (Active
    /// Directory): every spelling of a name is the same entry.
    fn case_insensitive(&self) -> bool {
        false
    }
    /// True when no two entries of the domain can have one ID (IDs
    /// derived from SIDs): the resolver then does not ask the ID again to
    /// check that it leads back to the entry found by name.
    fn unique_ids(&self) -> bool {
        false
    }
    /// A user by login name (without `@domain`).
    fn user_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<UserEntry>>>;
    /// A user by UID.
    fn user_by_uid(&self, uid: u32) -> BoxFuture<'_, ProviderResult<Option<UserEntry>>>;
    /// The users called `names`, each as [`Provider::user_by_name`]
    /// answers it, in the order asked. A directory answers them in a few
    /// searches; this default asks one name at a time.
    fn users_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(names.len());
            for n in names {
                out.push(self.user_by_name(n).await?);
            }
            Ok(out)
        })
    }
    /// The users with UIDs `uids`, each as [`Provider::user_by_uid`]
    /// answers it, in the order asked (batched like
    /// [`Provider::users_by_names`]).
    fn users_by_uids<'a>(
        &'a self,
        uids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            let mut out = Vec::with_capacity(uids.len());
            for &u in uids {
                out.push(self.user_by_uid(u).await?);
            }
            Ok(out)
        })
    }
    /// A group by name (without `@domain`).
    fn group_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<GroupEntry>>>;
    /// A group by GID.
    fn group_by_gid(&self, gid: u32) -> BoxFuture<'_, ProviderResult<Option<GroupEntry>>>;
    /// GIDs of the groups `user` is a member of (primary group may be
    /// missing: the resolver adds it).
    fn groups_of_user<'a>(&'a self, user: &'a UserEntry)
        -> BoxFuture<'a, ProviderResult<Vec<u32>>>;
    /// A netgroup by name (without `@domain`), nested netgroups resolved.
    fn netgroup_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<NetgroupEntry>>>;
    /// Every user (enumeration).
    fn all_users(&self) -> BoxFuture<'_, ProviderResult<Vec<UserEntry>>>;
    /// Every group (enumeration).
    fn all_groups(&self) -> BoxFuture<'_, ProviderResult<Vec<GroupEntry>>>;
    /// Connection state for `Status` (online, server, last error, ...),
    /// `name` filled with [`Provider::name`].
    fn status(&self) -> DomainStatus;
    /// The LDAP directory behind this domain, if it is one (for PAM binds).
    fn directory(&self) -> Option<&std::sync::Arc<crate::directory::Directory>> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_error_keeps_its_kind_code_and_source() {
        let e = ProviderError::from(DirectoryError::unavailable("ldap://h: no answer"));
        assert!(
            matches!(&e, ProviderError::Unavailable { context, source: Some(_) } if context == "ldap://h: no answer")
        );
        assert_eq!(e.to_string(), "directory unavailable: ldap://h: no answer");
        let e = ProviderError::from(DirectoryError::refused(50, "search: no rights"));
        assert!(matches!(
            &e,
            ProviderError::Refused { rc: Some(50), reason, source: Some(DirectoryError::Refused { .. }) }
                if reason == "search: no rights"
        ));
        assert_eq!(e.to_string(), "directory error: search: no rights");
        let e = ProviderError::from(DirectoryError::NotFound {
            what: "base ou=x".into(),
        });
        assert!(matches!(e, ProviderError::NotFound { .. }));
        let e = ProviderError::from(DirectoryError::invalid("bad CA file"));
        assert!(matches!(e, ProviderError::Invalid { .. }));
        assert!(std::error::Error::source(&e).is_some());
    }

    #[test]
    fn a_domain_that_failed_is_an_unavailable_lookup_naming_it() {
        let e = DomainError::new("ex", ProviderError::refused("search: no rights"));
        assert!(!e.is_unavailable());
        let f = Failure::from(e);
        assert_eq!(f.kind(), "unavailable");
        assert_eq!(
            f.to_string(),
            "unavailable: domain ex: directory error: search: no rights"
        );
    }
}
