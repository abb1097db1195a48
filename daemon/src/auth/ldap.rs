//! [`AuthBackend`] over the daemon's resolver (user and group lookups, with
//! the cache and offline data) and its directories (binds as the user on a
//! separate connection, account attributes, password modify).

use super::backend::{
    AccountInfo, AuthBackend, AuthError, AuthUser, BindResult, BoxFuture, ChangeResult, Lookup,
};
use super::ppolicy::{self, PolicyError};
use crate::directory::{Directory, DirectoryError};
use crate::resolver::{Answer, Resolver};
use ldap3::exop::PasswordModify;
use ldap3::{Ldap, LdapError, Scope, SearchEntry};
use roster_proto::Secret;
use std::collections::HashMap;
use std::sync::Arc;

/// LDAP result code invalidCredentials.
const RC_INVALID_CREDENTIALS: u32 = 49;
/// Attributes read for the account decision.
const ACCOUNT_ATTRS: [&str; 5] = [
    "shadowExpire",
    "shadowLastChange",
    "shadowMax",
    "pwdAccountLockedTime",
    "pwdReset",
];

/// The production backend.
pub struct DirectoryBackend {
    resolver: Resolver,
    directories: Directories,
}

/// The enabled domains' directories, by domain name.
pub type Directories = Arc<HashMap<String, Arc<Directory>>>;

impl DirectoryBackend {
    /// A backend over `resolver` and the enabled domains' `directories`.
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

    /// A new connection for a user bind, refused when it would carry the
    /// password unencrypted (unless the domain allows it).
    async fn user_connection(&self, domain: &str) -> Result<Option<(Ldap, String)>, AuthError> {
        let dir = self.directory(domain)?;
        let cfg = dir.config();
        let (ldap, uri) = dir.connect_unbound_any().await.map_err(from_directory)?;
        if !cfg.uses_tls(&uri) && !cfg.allow_insecure_auth {
            tracing::warn!(domain, %uri, "refusing a password bind over an unencrypted connection (allow_insecure_auth = false)");
            let mut ldap = ldap;
            let _ = ldap.unbind().await;
            return Ok(None);
        }
        Ok(Some((ldap, uri)))
    }

    async fn bind_as(
        &self,
        ldap: &mut Ldap,
        user: &AuthUser,
        password: &Secret,
    ) -> Result<BindResult, AuthError> {
        if password.is_empty() {
            return Ok(BindResult::InvalidCredentials);
        }
        let Ok(pw) = std::str::from_utf8(password.expose()) else {
            return Ok(BindResult::InvalidCredentials);
        };
        let timeout = self.directory(&user.domain)?.config().op_timeout;
        if self.directory(&user.domain)?.is_ad() {
            return super::ad::bind(ldap, &user.dn, pw, timeout).await;
        }
        let res = ldap
            .with_controls(ppolicy::request())
            .with_timeout(timeout)
            .simple_bind(&user.dn, pw)
            .await
            .map_err(from_ldap)?;
        let policy = ppolicy::from_controls(&res.ctrls).unwrap_or_default();
        Ok(match (res.rc, policy.error) {
            (0, _) => BindResult::Accepted(policy.warning()),
            (_, Some(PolicyError::AccountLocked)) => BindResult::Locked,
            (_, Some(PolicyError::PasswordExpired)) => BindResult::PasswordExpired,
            (RC_INVALID_CREDENTIALS, _) => BindResult::InvalidCredentials,
            (rc, _) => BindResult::Refused(format!("rc={rc} {}", res.text)),
        })
    }
}

fn from_directory(e: DirectoryError) -> AuthError {
    match e {
        DirectoryError::Unavailable(m) => AuthError::Unavailable(m),
        other => AuthError::Failed(other.to_string()),
    }
}

fn from_ldap(e: LdapError) -> AuthError {
    match e {
        LdapError::LdapResult { result } => {
            AuthError::Failed(format!("rc={} {}", result.rc, result.text))
        }
        LdapError::FilterParsing => AuthError::Failed("invalid LDAP filter".into()),
        other => AuthError::Unavailable(other.to_string()),
    }
}

fn lookup<T, U>(a: Answer<T>, f: impl FnOnce(T) -> U) -> Lookup<U> {
    match a {
        Answer::Found(v, _) => Lookup::Found(f(v)),
        Answer::NotFound => Lookup::NotFound,
        Answer::Unavailable(r) => Lookup::Unavailable(r),
    }
}

fn first_int(e: &SearchEntry, attr: &str) -> Option<i64> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .and_then(|v| v.trim().parse().ok())
}

fn has_attr(e: &SearchEntry, attr: &str) -> bool {
    e.attrs
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(attr) && !v.is_empty())
}

/// The account attributes of a base-search result.
pub fn account_from_entry(e: &SearchEntry) -> AccountInfo {
    AccountInfo {
        shadow_expire: first_int(e, "shadowExpire"),
        shadow_last_change: first_int(e, "shadowLastChange"),
        shadow_max: first_int(e, "shadowMax"),
        locked: has_attr(e, "pwdAccountLockedTime"),
        pwd_reset: e.attrs.iter().any(|(k, v)| {
            k.eq_ignore_ascii_case("pwdReset") && v.iter().any(|x| x.eq_ignore_ascii_case("TRUE"))
        }),
        filter_matches: None,
    }
}

impl AuthBackend for DirectoryBackend {
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Lookup<AuthUser>> {
        Box::pin(async move {
            lookup(self.resolver.user_by_name(name).await, |u| AuthUser {
                name: u.user.name.clone(),
                uid: u.user.uid,
                dn: u.dn.clone(),
                domain: u.domain.to_string(),
            })
        })
    }

    fn user_gids<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Lookup<Vec<u32>>> {
        Box::pin(async move { lookup(self.resolver.groups_of_user(name).await, |g| g) })
    }

    fn group_gid<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Lookup<u32>> {
        Box::pin(async move { lookup(self.resolver.group_by_name(name).await, |g| g.group.gid) })
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
            let Some((mut ldap, _uri)) = self.user_connection(&user.domain).await? else {
                return Ok(BindResult::Insecure);
            };
            let result = self.bind_as(&mut ldap, user, password).await;
            let _ = ldap.unbind().await;
            result
        })
    }

    fn account_info<'a>(
        &'a self,
        user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, AuthError>> {
        Box::pin(async move {
            let dir = self.directory(&user.domain)?;
            let timeout = dir.config().op_timeout;
            let mut ldap = dir.connection().await.map_err(from_directory)?;
            let (entries, _) = ldap
                .with_timeout(timeout)
                .search(
                    &user.dn,
                    Scope::Base,
                    "(objectClass=*)",
                    if dir.is_ad() {
                        super::ad::AD_ACCOUNT_ATTRS.to_vec()
                    } else {
                        ACCOUNT_ATTRS.to_vec()
                    },
                )
                .await
                .map_err(from_ldap)?
                .success()
                .map_err(from_ldap)?;
            let entry = entries
                .into_iter()
                .next()
                .map(SearchEntry::construct)
                .ok_or_else(|| AuthError::Failed(format!("entry {} not found", user.dn)))?;
            let mut info = if dir.is_ad() {
                super::ad::account_info(&entry)
            } else {
                account_from_entry(&entry)
            };
            if let Some(filter) = access_filter {
                let (matched, _) = ldap
                    .with_timeout(timeout)
                    .search(&user.dn, Scope::Base, filter, vec!["1.1"])
                    .await
                    .map_err(from_ldap)?
                    .success()
                    .map_err(from_ldap)?;
                info.filter_matches = Some(!matched.is_empty());
            }
            Ok(info)
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
            let (Ok(old_str), Ok(new_str)) = (
                std::str::from_utf8(old.expose()),
                std::str::from_utf8(new.expose()),
            ) else {
                return Ok(ChangeResult::Refused("passwords must be UTF-8".into()));
            };
            if self.directory(&user.domain)?.is_ad() {
                let dir = self.directory(&user.domain)?;
                return super::ad::change_password_on(dir, &user.dn, old_str, new_str).await;
            }
            let Some((mut ldap, _uri)) = self.user_connection(&user.domain).await? else {
                return Ok(ChangeResult::Insecure);
            };
            let outcome = match self.bind_as(&mut ldap, user, old).await {
                Ok(BindResult::Accepted(_)) => {
                    let timeout = self.directory(&user.domain)?.config().op_timeout;
                    let exop = PasswordModify {
                        user_id: Some(&user.dn),
                        old_pass: Some(old_str),
                        new_pass: Some(new_str),
                    };
                    match ldap.with_timeout(timeout).extended(exop).await {
                        Ok(res) if res.1.rc == 0 => Ok(ChangeResult::Changed),
                        Ok(res) => Ok(ChangeResult::Refused(res.1.text.clone())),
                        Err(e) => Err(from_ldap(e)),
                    }
                }
                Ok(BindResult::InvalidCredentials) => Ok(ChangeResult::WrongOldPassword),
                Ok(BindResult::Locked) => Ok(ChangeResult::Refused("the account is locked".into())),
                Ok(BindResult::PasswordExpired) => Ok(ChangeResult::Refused(
                    "the password has expired; an administrator must reset it".into(),
                )),
                Ok(BindResult::Insecure) => Ok(ChangeResult::Insecure),
                Ok(BindResult::Refused(m)) => Ok(ChangeResult::Refused(m)),
                Err(e) => Err(e),
            };
            let _ = ldap.unbind().await;
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "uid=alice,dc=example,dc=test".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn account_attributes_are_read_case_insensitively() {
        let e = entry(&[
            ("shadowexpire", &["19000"]),
            ("shadowLastChange", &[" 18000 "]),
            ("SHADOWMAX", &["90"]),
            ("pwdAccountLockedTime", &["000001010000Z"]),
            ("pwdReset", &["TRUE"]),
        ]);
        let i = account_from_entry(&e);
        assert_eq!(i.shadow_expire, Some(19000));
        assert_eq!(i.shadow_last_change, Some(18000));
        assert_eq!(i.shadow_max, Some(90));
        assert!(i.locked && i.pwd_reset);
        assert_eq!(i.filter_matches, None);
    }

    #[test]
    fn absent_or_false_attributes_allow() {
        let i = account_from_entry(&entry(&[("pwdReset", &["FALSE"]), ("shadowMax", &["x"])]));
        assert_eq!(i, AccountInfo::default());
    }

    #[test]
    fn ldap_errors_split_into_unavailable_and_failed() {
        assert!(matches!(
            from_ldap(LdapError::EndOfStream),
            AuthError::Unavailable(_)
        ));
        assert!(matches!(
            from_ldap(LdapError::FilterParsing),
            AuthError::Failed(_)
        ));
        assert!(matches!(
            from_directory(DirectoryError::Unavailable("down".into())),
            AuthError::Unavailable(_)
        ));
        assert!(matches!(
            from_directory(DirectoryError::Config("bad".into())),
            AuthError::Failed(_)
        ));
    }
}
