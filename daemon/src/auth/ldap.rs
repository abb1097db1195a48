//! [`AuthBackend`] over the daemon's resolver (user and group lookups, with
//! the cache and offline data) and one configuration generation's
//! directories. Password checks, account reads and password changes are
//! [`Directory`] methods: bounded, failover-aware and carried out by the
//! domain's flavour (RFC 2307 or Active Directory); this module only
//! routes a user to its domain's directory.

use super::backend::{
    AccountInfo, AuthBackend, AuthError, AuthUser, BindResult, BoxFuture, ChangeResult, Lookup,
};
use crate::directory::{Directory, DirectoryError};
use crate::resolver::{Answer, Resolver};
use roster_proto::Secret;
use std::collections::HashMap;
use std::sync::Arc;

/// The production backend, for one configuration generation.
pub struct DirectoryBackend {
    resolver: Resolver,
    directories: Directories,
}

/// The enabled domains' directories, by domain name.
pub type Directories = Arc<HashMap<String, Arc<Directory>>>;

impl DirectoryBackend {
    /// A backend over `resolver` and the enabled domains' `directories`
    /// (those the resolver's domains use), checking shadowing against the
    /// resolver's view of the local accounts.
    pub fn new(resolver: Resolver, directories: Directories) -> DirectoryBackend {
        DirectoryBackend {
            resolver,
            directories,
        }
    }

    fn directory(&self, domain: &str) -> Result<&Arc<Directory>, AuthError> {
        self.directories
            .get(domain)
            .ok_or_else(|| AuthError::Failed(format!("domain {domain} is not configured")))
    }

    /// `name` qualified with `domain` (unless it already names a domain of
    /// this generation): the resolver then asks that domain only.
    fn qualified(&self, name: &str, domain: &str) -> String {
        match name.rsplit_once('@') {
            Some((base, d))
                if !base.is_empty()
                    && self.directories.keys().any(|k| k.eq_ignore_ascii_case(d)) =>
            {
                name.to_string()
            }
            _ => format!("{name}@{domain}"),
        }
    }
}

/// A directory failure as the PAM decisions see it.
pub(crate) fn from_directory(e: DirectoryError) -> AuthError {
    match e {
        DirectoryError::Unavailable { context, .. } => AuthError::Unavailable(context),
        other => AuthError::Failed(other.to_string()),
    }
}

fn lookup<T, U>(a: Answer<T>, f: impl FnOnce(T) -> U) -> Lookup<U> {
    match a {
        Answer::Found(v, _) => Lookup::Found(f(v)),
        Answer::NotFound => Lookup::NotFound,
        Answer::Unavailable(r) => Lookup::Unavailable(r),
    }
}

impl AuthBackend for DirectoryBackend {
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Lookup<AuthUser>> {
        Box::pin(async move {
            let found = lookup(self.resolver.user_by_name(name).await, |u| AuthUser {
                name: u.user.name.clone(),
                uid: u.user.uid,
                dn: u.dn.clone(),
                domain: u.domain.to_string(),
            });
            match found {
                // Resolved by a newer configuration generation than this
                // one (a reload in between): the caller asks again.
                Lookup::Found(u) if !self.directories.contains_key(&u.domain) => {
                    Lookup::Unavailable(format!(
                        "domain {} changed by a configuration reload; try again",
                        u.domain
                    ))
                }
                other => other,
            }
        })
    }

    fn user_gids<'a>(&'a self, user: &'a AuthUser) -> BoxFuture<'a, Lookup<Vec<u32>>> {
        Box::pin(async move {
            let name = self.qualified(&user.name, &user.domain);
            // The groups of this account, in its domain: asked by its
            // qualified name, and checked to be the same entry.
            match self.resolver.user_by_name(&name).await {
                Answer::Found(u, _) if u.dn != user.dn || *u.domain != *user.domain => {
                    return Lookup::Unavailable(format!(
                        "{name} now resolves to {} in domain {}, not {}",
                        u.dn, u.domain, user.dn
                    ))
                }
                Answer::Found(..) => {}
                Answer::NotFound => return Lookup::NotFound,
                Answer::Unavailable(r) => return Lookup::Unavailable(r),
            }
            lookup(self.resolver.groups_of_user(&name).await, |g| g)
        })
    }

    fn group_gid<'a>(&'a self, domain: &'a str, name: &'a str) -> BoxFuture<'a, Lookup<u32>> {
        Box::pin(async move {
            let name = self.qualified(name, domain);
            lookup(self.resolver.group_by_name(&name).await, |g| g.group.gid)
        })
    }

    fn shadowed_by_local(&self, user: &AuthUser) -> Option<String> {
        let short = match user.name.rsplit_once('@') {
            Some((base, d)) if d.eq_ignore_ascii_case(&user.domain) => base,
            _ => user.name.as_str(),
        };
        self.resolver
            .local_user_refusal(&user.domain, short, user.uid)
    }

    fn verify_password<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Result<BindResult, AuthError>> {
        Box::pin(async move {
            if password.is_empty() {
                return Ok(BindResult::InvalidCredentials);
            }
            self.directory(&user.domain)?
                .verify_password(&user.dn, password)
                .await
                .map_err(from_directory)
        })
    }

    fn account_info<'a>(
        &'a self,
        user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, AuthError>> {
        Box::pin(async move {
            self.directory(&user.domain)?
                .account_info(&user.dn, access_filter)
                .await
                .map_err(from_directory)
        })
    }

    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, AuthError>> {
        Box::pin(async move {
            if old.is_empty() {
                return Ok(ChangeResult::WrongOldPassword);
            }
            self.directory(&user.domain)?
                .change_password(&user.dn, old, new)
                .await
                .map_err(from_directory)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn directory_errors_split_into_unavailable_and_failed() {
        assert!(matches!(
            from_directory(DirectoryError::unavailable("down")),
            AuthError::Unavailable(m) if m == "down"
        ));
        assert!(matches!(
            from_directory(DirectoryError::invalid("bad")),
            AuthError::Failed(m) if m.contains("bad")
        ));
        assert!(matches!(
            from_directory(DirectoryError::refused(50, "no rights")),
            AuthError::Failed(m) if m.contains("no rights")
        ));
    }
}
