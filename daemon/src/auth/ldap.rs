//! [`AuthBackend`] over the daemon's resolver (user and group lookups, with
//! the cache and offline data) and one configuration generation's
//! directories. Password checks, account reads and password changes are
//! [`Directory`] methods: bounded, failover-aware and carried out by the
//! domain's flavour (RFC 2307 or Active Directory); this module only
//! routes a user to its domain's directory.

use super::backend::{
    AccountInfo, AuthBackend, AuthUser, BindResult, BoxFuture, ChangeResult, KrbChecked,
};
use crate::backend_error::BackendError;
use crate::directory::{Directory, KrbLogin};
use crate::resolver::{Answer, DomainError, Resolver};
use roster_proto::{KrbTicket, Secret};
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

    fn directory(&self, domain: &str) -> Result<&Arc<Directory>, BackendError> {
        self.directories
            .get(domain)
            .ok_or_else(|| BackendError::invalid(format!("domain {domain} is not configured")))
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

/// The domain of a lookup answered by another configuration generation
/// than this one's: not an answer for these directories.
fn reloaded(domain: &str, why: String) -> DomainError {
    DomainError::new(domain, BackendError::unavailable(why))
}

impl AuthBackend for DirectoryBackend {
    fn find_user<'a>(&'a self, name: &'a str) -> BoxFuture<'a, Answer<AuthUser>> {
        Box::pin(async move {
            let found = self.resolver.user_by_name(name).await.map(|u| AuthUser {
                name: u.user.name.clone(),
                uid: u.user.uid,
                dn: u.dn.clone(),
                domain: u.domain.to_string(),
            });
            match found {
                // Resolved by a newer configuration generation than this
                // one (a reload in between): the caller asks again.
                Answer::Found(u, _) if !self.directories.contains_key(&u.domain) => {
                    Answer::Unavailable(reloaded(
                        &u.domain,
                        "changed by a configuration reload; try again".into(),
                    ))
                }
                other => other,
            }
        })
    }

    fn user_gids<'a>(&'a self, user: &'a AuthUser) -> BoxFuture<'a, Answer<Vec<u32>>> {
        Box::pin(async move {
            let name = self.qualified(&user.name, &user.domain);
            // The groups of this account, in its domain: asked by its
            // qualified name, and checked to be the same entry.
            match self.resolver.user_by_name(&name).await {
                Answer::Found(u, _) if u.dn != user.dn || *u.domain != *user.domain => {
                    return Answer::Unavailable(reloaded(
                        &user.domain,
                        format!(
                            "{name} now resolves to {} in domain {}, not {}",
                            u.dn, u.domain, user.dn
                        ),
                    ))
                }
                Answer::Found(..) => {}
                Answer::NotFound => return Answer::NotFound,
                Answer::Unavailable(e) => return Answer::Unavailable(e),
            }
            self.resolver.groups_of_user(&name).await
        })
    }

    fn group_gid<'a>(&'a self, domain: &'a str, name: &'a str) -> BoxFuture<'a, Answer<u32>> {
        Box::pin(async move {
            let name = self.qualified(name, domain);
            self.resolver
                .group_by_name(&name)
                .await
                .map(|g| g.group.gid)
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
    ) -> BoxFuture<'a, Result<BindResult, BackendError>> {
        Box::pin(async move {
            if password.is_empty() {
                return Ok(BindResult::InvalidCredentials);
            }
            self.directory(&user.domain)?
                .verify_password(&user.dn, password)
                .await
                .map_err(BackendError::from)
        })
    }

    fn krb5_login<'a>(
        &'a self,
        user: &'a AuthUser,
        password: &'a Secret,
    ) -> BoxFuture<'a, Option<Result<KrbChecked, BackendError>>> {
        Box::pin(async move {
            let dir = match self.directory(&user.domain) {
                Ok(d) => d,
                Err(e) => return Some(Err(e)),
            };
            if !dir.config().krb5.login {
                return None;
            }
            let checked = match dir.krb5_login(&user.name, &user.dn, password).await {
                Err(e) => Err(BackendError::from(e)),
                Ok(KrbLogin::Checked(result)) => Ok(KrbChecked {
                    result,
                    ticket: None,
                }),
                Ok(KrbLogin::Tickets(mut t)) => {
                    let name = self.qualified(&user.name, &user.domain);
                    let gid = match self.resolver.user_by_name(&name).await {
                        Answer::Found(u, _) if u.dn == user.dn => Some(u.user.gid),
                        _ => None,
                    };
                    let k = &dir.config().krb5;
                    let ticket = gid.map(|gid| KrbTicket {
                        ccache: crate::config::expand_ccache(
                            &k.ccache_template,
                            user.uid,
                            &user.name,
                        ),
                        uid: user.uid,
                        gid,
                        keep: k.keep_ccache,
                        data: Secret::new(std::mem::take(&mut *t.ccache)),
                    });
                    if ticket.is_none() {
                        tracing::warn!(user = %user.name, domain = %user.domain, "password accepted by the KDC, but the user's group is not known now: no ticket cache");
                    }
                    Ok(KrbChecked {
                        result: BindResult::Accepted(None),
                        ticket,
                    })
                }
            };
            Some(checked)
        })
    }

    fn account_info<'a>(
        &'a self,
        user: &'a AuthUser,
        access_filter: Option<&'a str>,
    ) -> BoxFuture<'a, Result<AccountInfo, BackendError>> {
        Box::pin(async move {
            self.directory(&user.domain)?
                .account_info(&user.dn, access_filter)
                .await
                .map_err(BackendError::from)
        })
    }

    fn change_password<'a>(
        &'a self,
        user: &'a AuthUser,
        old: &'a Secret,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        Box::pin(async move {
            if old.is_empty() {
                return Ok(ChangeResult::WrongOldPassword);
            }
            self.directory(&user.domain)?
                .change_password(&user.name, &user.dn, old, new)
                .await
                .map_err(BackendError::from)
        })
    }

    fn reset_password<'a>(
        &'a self,
        user: &'a AuthUser,
        new: &'a Secret,
    ) -> BoxFuture<'a, Result<ChangeResult, BackendError>> {
        Box::pin(async move {
            self.directory(&user.domain)?
                .reset_password(&user.dn, new)
                .await
                .map_err(BackendError::from)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{AuthSettings, CredentialStore, PamAuth};
    use crate::clock::SystemClock;
    use crate::config::{Config, DomainSet, IdmapSettings};
    use crate::directory::DirectoryError;
    use crate::resolver::ldap::DirectoryProvider;
    use crate::resolver::{Provider, Settings};
    use roster_proto::PamCode;
    use std::net::TcpListener;

    /// A server that accepts connections and never answers: every
    /// operation runs into `op_timeout`. The accepted sockets are kept
    /// open until the listener's thread ends with the test process.
    fn silent_server() -> u16 {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        std::thread::spawn(move || {
            let mut held = Vec::new();
            for s in l.incoming().flatten() {
                held.push(s);
            }
        });
        port
    }

    fn silent_directory() -> Arc<Directory> {
        let text = format!(
            "[[domain]]\nname = \"ex\"\nuris = [\"ldap://127.0.0.1:{}\"]\nbase_dn = \"dc=example,dc=test\"\n\
             connect_timeout = 2\nop_timeout = 0.3\nallow_insecure_auth = true\noffline_retry_initial = 30\n",
            silent_server()
        );
        let c = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
        let idmap = DomainSet::new(
            &[(c.name.clone(), IdmapSettings::default(), c.min_id, c.max_id)],
            None,
        )
        .unwrap();
        Arc::new(Directory::new(c, Arc::new(idmap)).unwrap())
    }

    fn backend(dir: &Arc<Directory>) -> DirectoryBackend {
        let provider: Arc<dyn Provider> = Arc::new(DirectoryProvider::new(dir.clone()));
        let resolver = Resolver::new(
            vec![provider],
            Settings::default(),
            None,
            Arc::new(SystemClock),
        );
        let dirs: Directories = Arc::new(HashMap::from([("ex".to_string(), dir.clone())]));
        DirectoryBackend::new(resolver, dirs)
    }

    #[tokio::test]
    async fn a_bind_timeout_is_unavailable_with_the_directory_error_as_source() {
        let dir = silent_directory();
        let b = backend(&dir);
        let user = AuthUser {
            name: "alice".into(),
            uid: 10001,
            dn: "uid=alice,dc=example,dc=test".into(),
            domain: "ex".into(),
        };
        let e = b
            .verify_password(&user, &Secret::from("pw"))
            .await
            .unwrap_err();
        match &e {
            BackendError::Unavailable { context, source } => {
                assert!(context.contains("no answer within op_timeout"), "{context}");
                assert!(
                    matches!(source, Some(DirectoryError::Unavailable { .. })),
                    "{source:?}"
                );
            }
            other => panic!("expected unavailable, got {other:?}"),
        }
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(e.kind(), "unavailable");
    }

    #[tokio::test]
    async fn a_lookup_timeout_reaches_pam_as_offline() {
        let dir = silent_directory();
        let pam = PamAuth::new(
            Arc::new(backend(&dir)),
            AuthSettings::default(),
            Arc::new(CredentialStore::in_memory()),
        );
        let d = pam.decide_authenticate("alice", &Secret::from("pw")).await;
        // The offline path: no cached credential, so "unavailable", and
        // the reason names the domain and the timeout.
        assert_eq!(d.code, PamCode::AuthInfoUnavail);
        assert!(
            d.reason.contains("no directory server answers")
                && d.reason.contains("domain ex: directory unavailable")
                && d.reason.contains("no answer within op_timeout"),
            "{}",
            d.reason
        );
    }

    #[tokio::test]
    async fn a_domain_of_another_generation_is_invalid_not_unavailable() {
        let dir = silent_directory();
        let b = backend(&dir);
        let user = AuthUser {
            name: "alice".into(),
            uid: 10001,
            dn: "uid=alice,dc=example,dc=test".into(),
            domain: "gone".into(),
        };
        let e = b.account_info(&user, None).await.unwrap_err();
        assert!(
            matches!(&e, BackendError::Invalid { reason, source: None } if reason == "domain gone is not configured"),
            "{e:?}"
        );
    }
}
