//! [`Failure`]: why the daemon did not do what a request asked, with a kind.
//!
//! The daemon's handlers carry a `Failure` up to the point where the reply
//! is encoded: an admin or status request gets it whole (kind and fields,
//! see [`crate::admin`]); a lookup gets the lookup protocol's statuses
//! ([`Failure::into_lookup_response`]), which the NSS module maps onto its
//! own (NotFound, Unavailable, anything else).

use crate::types::Response;
use serde::{Deserialize, Serialize};
use thiserror::Error;

/// Why a request was not done. Each kind says what the caller can do about
/// it: nothing to find, try again later, ask differently, or fix the input.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Error, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Failure {
    /// The object asked for does not exist.
    #[error("not found: {what}")]
    NotFound {
        /// What was looked for (`user alice`, `SID S-1-5-…`).
        what: String,
    },
    /// The daemon cannot answer now (no directory answered, a store could
    /// not be read, the daemon is shutting down); asking later may work.
    #[error("unavailable: {reason}")]
    Unavailable {
        /// What is unavailable and why (no secrets).
        reason: String,
    },
    /// A well-formed request the daemon will not carry out.
    #[error("refused: {reason}")]
    Refused {
        /// Why (a socket that does not serve it, a new configuration that
        /// does not load, ...).
        reason: String,
    },
    /// The request carries a value that is not acceptable (a name too
    /// long, a malformed SID, an empty name).
    #[error("invalid request: {message}")]
    Invalid {
        /// Which value is at fault and why.
        message: String,
    },
}

impl Failure {
    /// A [`Failure::NotFound`] for `what`.
    pub fn not_found(what: impl Into<String>) -> Self {
        Failure::NotFound { what: what.into() }
    }
    /// A [`Failure::Unavailable`] with `reason`.
    pub fn unavailable(reason: impl std::fmt::Display) -> Self {
        Failure::Unavailable {
            reason: reason.to_string(),
        }
    }
    /// A [`Failure::Refused`] with `reason`.
    pub fn refused(reason: impl std::fmt::Display) -> Self {
        Failure::Refused {
            reason: reason.to_string(),
        }
    }
    /// A [`Failure::Invalid`] with `message`.
    pub fn invalid(message: impl std::fmt::Display) -> Self {
        Failure::Invalid {
            message: message.to_string(),
        }
    }

    /// The kind's wire name (`not_found`, `unavailable`, `refused`,
    /// `invalid`).
    pub fn kind(&self) -> &'static str {
        match self {
            Failure::NotFound { .. } => "not_found",
            Failure::Unavailable { .. } => "unavailable",
            Failure::Refused { .. } => "refused",
            Failure::Invalid { .. } => "invalid",
        }
    }

    /// The reply to a lookup (or PAM) request that failed this way: the
    /// lookup protocol's NotFound and Unavailable statuses, and its Error
    /// status (with this failure's text) for a refused or invalid request.
    pub fn into_lookup_response(self) -> Response {
        match self {
            Failure::NotFound { .. } => Response::NotFound,
            Failure::Unavailable { reason } => Response::Unavailable(reason),
            refused_or_invalid => Response::Error(refused_or_invalid.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookup_replies_keep_the_kind_where_the_protocol_has_one() {
        assert_eq!(
            Failure::not_found("user bob").into_lookup_response(),
            Response::NotFound
        );
        assert_eq!(
            Failure::unavailable("no server").into_lookup_response(),
            Response::Unavailable("no server".into())
        );
        assert_eq!(
            Failure::invalid("user name contains a control character").into_lookup_response(),
            Response::Error("invalid request: user name contains a control character".into())
        );
        assert_eq!(
            Failure::refused("request code 20 is served only on pam.sock").into_lookup_response(),
            Response::Error("refused: request code 20 is served only on pam.sock".into())
        );
    }

    #[test]
    fn the_kind_is_a_field_of_the_json_form() {
        let v = serde_json::to_value(Failure::refused("no reload channel")).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"kind": "refused", "reason": "no reload channel"})
        );
        assert_eq!(Failure::refused("x").kind(), "refused");
    }
}
