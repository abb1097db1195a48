//! The outcome of one lookup, before it is turned into an NSS status.

use libnss::interop::NssStatus;

/// What the module knows after asking (or deciding not to ask) the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer<T> {
    /// The entry exists and is served by roster.
    Found(T),
    /// No such entry (or one roster must not serve): `NSS_STATUS_NOTFOUND`.
    NotFound,
    /// The daemon could not answer: `NSS_STATUS_UNAVAIL`, the next source in
    /// nsswitch.conf is tried.
    Unavailable,
}

impl<T> Answer<T> {
    /// Applies `f` to a found entry.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Answer<U> {
        match self {
            Answer::Found(t) => Answer::Found(f(t)),
            Answer::NotFound => Answer::NotFound,
            Answer::Unavailable => Answer::Unavailable,
        }
    }

    /// Borrows the found entry.
    pub fn as_ref(&self) -> Answer<&T> {
        match self {
            Answer::Found(t) => Answer::Found(t),
            Answer::NotFound => Answer::NotFound,
            Answer::Unavailable => Answer::Unavailable,
        }
    }

    /// The NSS status for an answer that carries no entry.
    pub fn status(&self) -> NssStatus {
        match self {
            Answer::Found(_) => NssStatus::Success,
            Answer::NotFound => NssStatus::NotFound,
            Answer::Unavailable => NssStatus::Unavail,
        }
    }
}
