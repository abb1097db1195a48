//! [`AuthBackend`] over the daemon's resolver (user and group lookups, with
//! the cache and offline data) and one configuration generation's
//! directories (binds as the user on a separate connection, account
//! attributes, password modify), every directory operation through the
//! directory layer's bounded, failover-aware calls.

use super::backend::{
    AccountInfo, AuthBackend, AuthError, AuthUser, BindResult, BoxFuture, ChangeResult, Lookup,
};
use super::ppolicy::{self, PolicyError};
use crate::config::DomainKind;
use crate::directory::{Directory, DirectoryError, UserSession};
use crate::resolver::{Answer, Resolver};
use ldap3::exop::PasswordModify;
use ldap3::{LdapResult, SearchEntry};
use roster_proto::Secret;
use std::collections::HashMap;
use std::sync::Arc;
use zeroize::Zeroizing;

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

    /// A bind as `user` on `session`: ppolicy controls for LDAP domains, AD
    /// bind codes for AD domains.
    async fn bind_on(
        &self,
        dir: &Directory,
        session: &UserSession,
        user: &AuthUser,
        password: &Secret,
    ) -> Result<BindResult, AuthError> {
        if password.is_empty() {
            return Ok(BindResult::InvalidCredentials);
        }
        let Ok(pw) = std::str::from_utf8(password.expose()) else {
            return Ok(BindResult::InvalidCredentials);
        };
        if dir.config().kind == DomainKind::Ad {
            return super::ad::verify(dir, session, &user.dn, pw).await;
        }
        let (dn, pw) = (user.dn.clone(), Zeroizing::new(pw.to_string()));
        let answered = dir
            .on_session(session, "user bind", move |mut ldap| async move {
                ldap.with_controls(ppolicy::request())
                    .simple_bind(&dn, &pw)
                    .await
            })
            .await
            .map_err(from_directory)?;
        let res = match answered {
            Ok(r) | Err(r) => r,
        };
        Ok(bind_result(&res))
    }
}

/// The outcome of an LDAP bind result (with its ppolicy response).
fn bind_result(res: &LdapResult) -> BindResult {
    let policy = ppolicy::from_controls(&res.ctrls).unwrap_or_default();
    match (res.rc, policy.error) {
        (0, _) => BindResult::Accepted(policy.warning()),
        (_, Some(PolicyError::AccountLocked)) => BindResult::Locked,
        (_, Some(PolicyError::PasswordExpired)) => BindResult::PasswordExpired,
        (RC_INVALID_CREDENTIALS, _) => BindResult::InvalidCredentials,
        (rc, _) => BindResult::Refused(format!("rc={rc} {}", res.text)),
    }
}

/// A directory failure as the PAM decisions see it.
pub(crate) fn from_directory(e: DirectoryError) -> AuthError {
    match e {
        DirectoryError::Unavailable(m) => AuthError::Unavailable(m),
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
            let dir = self.directory(&user.domain)?;
            let Some(session) = dir.user_session().await.map_err(from_directory)? else {
                return Ok(BindResult::Insecure);
            };
            let result = self.bind_on(dir, &session, user, password).await;
            dir.close_session(session).await;
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
            let is_ad = dir.config().kind == DomainKind::Ad;
            let attrs: &[&str] = if is_ad {
                &super::ad::AD_ACCOUNT_ATTRS
            } else {
                &ACCOUNT_ATTRS
            };
            let entry = dir
                .read_entry(&user.dn, "(objectClass=*)", attrs)
                .await
                .map_err(from_directory)?
                .ok_or_else(|| AuthError::Failed(format!("entry {} not found", user.dn)))?;
            let mut info = if is_ad {
                super::ad::account_info(&entry)
            } else {
                account_from_entry(&entry)
            };
            if let Some(filter) = access_filter {
                let matched = dir
                    .read_entry(&user.dn, filter, &["1.1"])
                    .await
                    .map_err(from_directory)?;
                info.filter_matches = Some(matched.is_some());
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
            let dir = self.directory(&user.domain)?;
            if dir.config().kind == DomainKind::Ad {
                return super::ad::change_password_on(dir, &user.dn, old_str, new_str).await;
            }
            let Some(session) = dir.user_session().await.map_err(from_directory)? else {
                return Ok(ChangeResult::Insecure);
            };
            let outcome = match self.bind_on(dir, &session, user, old).await {
                Ok(BindResult::Accepted(_)) => {
                    let dn = user.dn.clone();
                    let (o, n) = (
                        Zeroizing::new(old_str.to_string()),
                        Zeroizing::new(new_str.to_string()),
                    );
                    let answered = dir
                        .on_session(&session, "password modify", move |mut ldap| async move {
                            let exop = PasswordModify {
                                user_id: Some(&dn),
                                old_pass: Some(&o),
                                new_pass: Some(&n),
                            };
                            ldap.extended(exop).await
                        })
                        .await
                        .map_err(from_directory);
                    match answered {
                        Ok(Ok(res)) if res.1.rc == 0 => Ok(ChangeResult::Changed),
                        Ok(Ok(res)) => Ok(ChangeResult::Refused(res.1.text.clone())),
                        Ok(Err(res)) => Ok(ChangeResult::Refused(res.text)),
                        Err(e) => Err(e),
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
            dir.close_session(session).await;
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
    fn directory_errors_split_into_unavailable_and_failed() {
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
