//! Root's password reset (`passwd USER` run by root): a new password set
//! without the old one, by the domain's password admin
//! (`password_admin_dn` with the password of
//! `password_admin_password_file`). Like every login operation it runs on a
//! bounded, failover-aware session of its own ([`super::session`]), never
//! on the shared service connection: the session binds as the admin, then
//! the flavour sets the password (RFC 2307: the Password Modify operation
//! without `oldPasswd`; AD: `unicodePwd` replaced, over TLS only).

use super::account::ChangeResult;
use super::flavour::by_flavour;
use super::{Directory, DirectoryError};
use roster_proto::Secret;
use zeroize::Zeroizing;

impl Directory {
    /// The domain's password admin: its DN and password, or the refusal
    /// naming the missing keys.
    fn password_admin(&self) -> Result<(String, Zeroizing<String>), DirectoryError> {
        let name = &self.cfg.name;
        let (Some(dn), Some(pw)) = (
            self.cfg.password_admin_dn.as_ref(),
            self.cfg.password_admin_password.as_ref(),
        ) else {
            return Err(DirectoryError::invalid(format!(
                "domain {name} has no password_admin_dn / password_admin_password_file: root cannot reset passwords"
            )));
        };
        let pw = match std::str::from_utf8(pw.expose()) {
            Ok(p) if !p.is_empty() => Zeroizing::new(p.to_string()),
            _ => {
                return Err(DirectoryError::invalid(format!(
                    "domain {name}: the password of password_admin_dn {dn} is empty or not UTF-8"
                )))
            }
        };
        Ok((dn.clone(), pw))
    }

    /// Sets the password of the user at `dn` to `new` without the old one,
    /// bound as the domain's password admin. `Err(Invalid)` naming the
    /// missing keys when the domain has none; `Insecure` when the
    /// connection would carry the passwords unencrypted (and
    /// `allow_insecure_auth` is off; AD: always without TLS); `Refused`
    /// with the server's message when the admin cannot bind or the server
    /// refuses the new password. An empty or non-UTF-8 new password is
    /// refused before any bind.
    pub async fn reset_password(
        &self,
        dn: &str,
        new: &Secret,
    ) -> Result<ChangeResult, DirectoryError> {
        let (admin_dn, admin_pw) = self.password_admin()?;
        let new = match std::str::from_utf8(new.expose()) {
            Ok(n) if !n.is_empty() => Zeroizing::new(n.to_string()),
            Ok(_) => return Ok(ChangeResult::Refused("the new password is empty".into())),
            Err(_) => return Ok(ChangeResult::Refused("passwords must be UTF-8".into())),
        };
        let Some(session) = self.user_session().await? else {
            return Ok(ChangeResult::Insecure);
        };
        let outcome = async {
            let who = admin_dn.clone();
            let bound = self
                .on_session(
                    &session,
                    "password admin bind",
                    move |mut ldap| async move {
                        ldap.simple_bind(&who, &admin_pw)
                            .await
                            .and_then(|r| r.success())
                            .map(|_| ())
                    },
                )
                .await?;
            if let Err(r) = bound {
                return Ok(ChangeResult::Refused(format!(
                    "the password admin {admin_dn} of domain {} cannot bind (rc={} {})",
                    self.cfg.name, r.rc, r.text
                )));
            }
            by_flavour!(self, f => f.reset_on_session(self, &session, dn, &new).await)
        }
        .await;
        self.close_session(session).await;
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use std::sync::Arc;

    fn directory(extra: &str) -> Directory {
        let text = format!(
            "[[domain]]\nname = \"ex\"\nuris = [\"ldaps://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\n{extra}"
        );
        let cfg = Config::from_str(&text, "t.toml").unwrap();
        let idmap = Arc::new(cfg.build_idmap(None).unwrap());
        Directory::new(cfg.domains[0].clone(), idmap).unwrap()
    }

    #[tokio::test]
    async fn without_a_password_admin_the_refusal_names_the_missing_keys() {
        let dir = directory("");
        let e = dir
            .reset_password("uid=alice,dc=example,dc=test", &Secret::from("n3w"))
            .await
            .unwrap_err();
        assert!(
            matches!(&e, DirectoryError::Invalid { reason } if reason
                == "domain ex has no password_admin_dn / password_admin_password_file: root cannot reset passwords"),
            "{e:?}"
        );
    }
}
