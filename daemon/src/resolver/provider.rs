//! The seam between the resolver and an identity source: one [`Provider`]
//! per configured domain (the LDAP [`crate::directory::Directory`] in the
//! daemon, a fake in tests).

use crate::backend_error::BackendError;
use crate::cache::{GroupEntry, NetgroupEntry, UserEntry};
use crate::census::Census;
pub use crate::directory::{HeldKeys, Listing};
use crate::in_turn::in_turn;
use roster_proto::admin::DomainStatus;
use roster_proto::Failure;
use thiserror::Error;

pub use crate::BoxFuture;

/// A domain that could not answer a lookup, and why: what the resolver's
/// [`super::Answer::Unavailable`] carries.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("domain {domain}: {error}")]
pub struct DomainError {
    /// The domain's name.
    pub domain: String,
    /// Its provider's error.
    #[source]
    pub error: BackendError,
}

impl DomainError {
    /// `error` of the domain called `domain`.
    pub fn new(domain: impl Into<String>, error: BackendError) -> DomainError {
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
pub type ProviderResult<T> = Result<T, BackendError>;

/// A users census and, when its pass read it whole, the user listing
/// ([`Provider::users_census_with_listing`]).
pub struct CensusListed {
    /// Who holds each name and UID.
    pub census: Census,
    /// The users, as [`Provider::all_users`] lists them.
    pub users: Option<Listing<UserEntry>>,
}

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
        Box::pin(in_turn(names, |n| self.user_by_name(n)))
    }
    /// The users with UIDs `uids`, each as [`Provider::user_by_uid`]
    /// answers it, in the order asked (batched like
    /// [`Provider::users_by_names`]).
    fn users_by_uids<'a>(
        &'a self,
        uids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(in_turn(uids, |&u| self.user_by_uid(u)))
    }
    /// A group by name (without `@domain`).
    fn group_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<GroupEntry>>>;
    /// A group by GID.
    fn group_by_gid(&self, gid: u32) -> BoxFuture<'_, ProviderResult<Option<GroupEntry>>>;
    /// The groups called `names`, each as [`Provider::group_by_name`]
    /// answers it, in the order asked (batched like
    /// [`Provider::users_by_names`]; this default asks one name at a time).
    fn groups_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(in_turn(names, |n| self.group_by_name(n)))
    }
    /// The groups with GIDs `gids`, each as [`Provider::group_by_gid`]
    /// answers it, in the order asked (batched like
    /// [`Provider::users_by_names`]; this default asks one GID at a time).
    fn groups_by_gids<'a>(
        &'a self,
        gids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(in_turn(gids, |&g| self.group_by_gid(g)))
    }
    /// GIDs of the groups `user` is a member of (primary group may be
    /// missing: the resolver adds it).
    fn groups_of_user<'a>(&'a self, user: &'a UserEntry)
        -> BoxFuture<'a, ProviderResult<Vec<u32>>>;
    /// True when [`Provider::groups_of_name`] answers: the domain finds a
    /// user's groups by its login name alone (false, the default: they
    /// need the user's entry).
    fn groups_by_name_alone(&self) -> bool {
        false
    }
    /// [`Provider::groups_of_user`]'s answer for the user called `name`
    /// (without `@domain`), found by the name alone
    /// ([`Provider::groups_by_name_alone`]; its primary group may be
    /// missing: the resolver adds it). This default refuses.
    fn groups_of_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async move {
            Err(BackendError::invalid(format!(
                "groups of {name} asked without the user"
            )))
        })
    }
    /// A netgroup by name (without `@domain`), nested netgroups resolved.
    fn netgroup_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<NetgroupEntry>>>;
    /// Every user (enumeration; SSH keys may be left out: an enumeration
    /// serves none), each name and UID used once among them; with the
    /// names and UIDs that users left out still hold for
    /// [`Provider::user_by_name`] and [`Provider::user_by_uid`]
    /// ([`HeldKeys`]).
    fn all_users(&self) -> BoxFuture<'_, ProviderResult<Listing<UserEntry>>>;
    /// Every group (enumeration), each name and GID used once among them;
    /// with the names and GIDs that groups left out still hold.
    fn all_groups(&self) -> BoxFuture<'_, ProviderResult<Listing<GroupEntry>>>;
    /// The census of the domain's users (`users`) or groups: who holds
    /// each name and ID ([`crate::census`]); `None` when the domain takes
    /// none (the default).
    fn census(&self, _users: bool) -> BoxFuture<'_, ProviderResult<Option<Census>>> {
        Box::pin(async { Ok(None) })
    }
    /// True when [`Provider::users_census_with_listing`] reads the user
    /// listing with the census (false, the default: it takes the census
    /// alone).
    fn census_reads_users(&self) -> bool {
        false
    }
    /// The census of the domain's users, with the user listing
    /// [`Provider::all_users`] would give when the census's pass read it
    /// whole (`None` when it could not: then it is listed on its own).
    /// This default takes the census alone.
    fn users_census_with_listing(&self) -> BoxFuture<'_, ProviderResult<Option<CensusListed>>> {
        Box::pin(async {
            Ok(self.census(true).await?.map(|census| CensusListed {
                census,
                users: None,
            }))
        })
    }
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
    fn a_domain_that_failed_is_an_unavailable_lookup_naming_it() {
        let e = DomainError::new("ex", BackendError::refused("search: no rights"));
        assert!(!e.is_unavailable());
        let f = Failure::from(e);
        assert_eq!(f.kind(), "unavailable");
        assert_eq!(
            f.to_string(),
            "unavailable: domain ex: refused by the directory: search: no rights"
        );
    }
}
