//! Why a domain could not carry out what a consumer of the directory layer
//! asked — a lookup for the resolver ([`crate::resolver::Provider`]), a
//! password check, account read or password change for PAM
//! ([`crate::auth::AuthBackend`]) — by kind: the kinds of
//! [`DirectoryError`], from which it is made without losing the kind, the
//! result code or the source, plus the consumer's own reasons (a domain
//! that is not configured, a lookup it cannot answer).

use crate::directory::DirectoryError;
use thiserror::Error;

/// A failed directory operation, by kind, with its source.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum BackendError {
    /// The entry, search base or domain asked for does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What does not exist.
        what: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
    /// No server of the domain answered (or a timeout): offline rules
    /// apply.
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
    /// The domain cannot work as configured (TLS files, URIs, a domain
    /// that is not configured), or was asked something it cannot answer.
    #[error("directory configuration: {reason}")]
    Invalid {
        /// What is wrong, naming the domain and the setting.
        reason: String,
        /// The directory's error, when there is one.
        #[source]
        source: Option<DirectoryError>,
    },
}

impl BackendError {
    /// [`BackendError::Unavailable`] without a directory error.
    pub fn unavailable(context: impl Into<String>) -> BackendError {
        BackendError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// [`BackendError::Refused`] without a directory error.
    pub fn refused(reason: impl Into<String>) -> BackendError {
        BackendError::Refused {
            rc: None,
            reason: reason.into(),
            source: None,
        }
    }

    /// [`BackendError::Invalid`] without a directory error.
    pub fn invalid(reason: impl Into<String>) -> BackendError {
        BackendError::Invalid {
            reason: reason.into(),
            source: None,
        }
    }

    /// True when no server could answer (offline rules apply).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, BackendError::Unavailable { .. })
    }

    /// The kind's name: `not_found`, `unavailable`, `refused`, `invalid`
    /// (as [`roster_proto::Failure::kind`]).
    pub fn kind(&self) -> &'static str {
        match self {
            BackendError::NotFound { .. } => "not_found",
            BackendError::Unavailable { .. } => "unavailable",
            BackendError::Refused { .. } => "refused",
            BackendError::Invalid { .. } => "invalid",
        }
    }
}

/// The directory's error as the same kind, its message kept and the
/// directory's error as the source.
impl From<DirectoryError> for BackendError {
    fn from(e: DirectoryError) -> BackendError {
        match &e {
            DirectoryError::NotFound { what } => BackendError::NotFound {
                what: what.clone(),
                source: Some(e),
            },
            DirectoryError::Unavailable { context, .. } => BackendError::Unavailable {
                context: context.clone(),
                source: Some(e),
            },
            DirectoryError::Refused { rc, reason, .. } => BackendError::Refused {
                rc: *rc,
                reason: reason.clone(),
                source: Some(e),
            },
            DirectoryError::Invalid { reason } => BackendError::Invalid {
                reason: reason.clone(),
                source: Some(e),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_directory_error_keeps_its_kind_code_and_source() {
        let cases = [
            (
                DirectoryError::NotFound {
                    what: "base ou=x".into(),
                },
                "not_found",
            ),
            (
                DirectoryError::unavailable("ldap://h: no answer"),
                "unavailable",
            ),
            (DirectoryError::refused(50, "search: no rights"), "refused"),
            (DirectoryError::invalid("bad CA file"), "invalid"),
        ];
        for (d, kind) in cases {
            let e = BackendError::from(d.clone());
            assert_eq!(e.kind(), kind, "{e:?}");
            assert_eq!(e.is_unavailable(), kind == "unavailable");
            let source = std::error::Error::source(&e)
                .and_then(|s| s.downcast_ref::<DirectoryError>())
                .cloned();
            assert_eq!(source, Some(d));
        }
        let e = BackendError::from(DirectoryError::unavailable("ldap://h: no answer"));
        assert_eq!(e.to_string(), "directory unavailable: ldap://h: no answer");
        let e = BackendError::from(DirectoryError::refused(53, "unwilling to perform"));
        assert!(matches!(&e, BackendError::Refused { rc: Some(53), .. }));
        assert_eq!(
            e.to_string(),
            "refused by the directory: unwilling to perform"
        );
    }
}
