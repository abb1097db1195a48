//! Logins against an RFC 2307 directory: a password check is a simple bind
//! with the password policy control (OpenLDAP's ppolicy says why a bind
//! failed, or that the password expires soon), the account state comes
//! from the shadow attributes and ppolicy's `pwdAccountLockedTime` /
//! `pwdReset`, and a password change is the Password Modify operation
//! (RFC 3062) on a session bound with the old password.

use super::Rfc2307;
use crate::directory::account::{AccountInfo, BindResult, ChangeResult};
use crate::directory::lifecycle::{self, Lock};
use crate::directory::ppolicy::{self, PolicyError};
use crate::directory::{Directory, DirectoryError, UserSession};
use ldap3::exop::PasswordModify;
use ldap3::{LdapResult, SearchEntry};
use zeroize::Zeroizing;

/// LDAP result code invalidCredentials.
const RC_INVALID_CREDENTIALS: u32 = 49;
/// Attributes read for the account decision.
const ACCOUNT_ATTRS: [&str; 7] = [
    "shadowExpire",
    "shadowLastChange",
    "shadowMax",
    "shadowWarning",
    "pwdAccountLockedTime",
    "pwdReset",
    "pwdPolicySubentry",
];

/// The outcome of an LDAP bind result (with its ppolicy response).
fn bind_result(res: &LdapResult) -> BindResult {
    let policy = ppolicy::from_controls(&res.ctrls).unwrap_or_default();
    match (res.rc, policy.error) {
        (0, _) => BindResult::Accepted(policy.notice()),
        (_, Some(PolicyError::AccountLocked)) => BindResult::Locked,
        (_, Some(PolicyError::PasswordExpired)) => BindResult::PasswordExpired,
        (RC_INVALID_CREDENTIALS, _) => BindResult::InvalidCredentials,
        (rc, _) => BindResult::Refused(format!("rc={rc} {}", res.text)),
    }
}

fn first_int(e: &SearchEntry, attr: &str) -> Option<i64> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .and_then(|v| v.trim().parse().ok())
}

fn first_text<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

fn has_attr(e: &SearchEntry, attr: &str) -> bool {
    e.attrs
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case(attr) && !v.is_empty())
}

/// Records `lock` in `info`: a lock with an end is not locked forever.
fn apply_lock(info: &mut AccountInfo, lock: Lock) {
    match lock {
        Lock::Forever => info.locked = true,
        Lock::Until(t) => {
            info.locked = false;
            info.locked_until = Some(t);
        }
    }
}

impl Rfc2307 {
    /// The attributes of a user's entry the account decision reads.
    pub(crate) fn account_attrs(&self) -> &'static [&'static str] {
        &ACCOUNT_ATTRS
    }

    /// The account state of a user's entry: shadow expiry and age, ppolicy
    /// lock and reset.
    pub(crate) fn account_info(&self, e: &SearchEntry) -> AccountInfo {
        AccountInfo {
            shadow_expire: first_int(e, "shadowExpire"),
            shadow_last_change: first_int(e, "shadowLastChange"),
            shadow_max: first_int(e, "shadowMax"),
            shadow_warning: first_int(e, "shadowWarning"),
            password_expires_at: None,
            locked: has_attr(e, "pwdAccountLockedTime"),
            locked_until: None,
            pwd_reset: e.attrs.iter().any(|(k, v)| {
                k.eq_ignore_ascii_case("pwdReset")
                    && v.iter().any(|x| x.eq_ignore_ascii_case("TRUE"))
            }),
            filter_matches: None,
        }
    }

    /// What the entry alone does not say: how long a ppolicy lock lasts.
    /// `pwdAccountLockedTime` plus the `pwdLockoutDuration` of the user's
    /// policy (`pwdPolicySubentry`, else the domain's
    /// `ppolicy_default_dn`); locked forever for the administrative lock,
    /// a policy without a duration (or 0), or no known policy.
    pub(crate) async fn complete_account(
        &self,
        dir: &Directory,
        e: &SearchEntry,
        info: &mut AccountInfo,
    ) -> Result<(), DirectoryError> {
        let Some(locked_time) = first_text(e, "pwdAccountLockedTime") else {
            return Ok(());
        };
        if locked_time.trim() == lifecycle::ADMIN_LOCK {
            return Ok(());
        }
        let policy = first_text(e, "pwdPolicySubentry")
            .map(str::to_string)
            .or_else(|| dir.cfg.ppolicy_default_dn.clone());
        let Some(policy) = policy else {
            return Ok(());
        };
        let duration = dir
            .policy_value(&policy, "pwdLockoutDuration", lifecycle::seconds)
            .await?;
        apply_lock(info, lifecycle::lock_of(locked_time, duration));
        Ok(())
    }

    /// A bind as `dn` with `password` on `session`, with the ppolicy
    /// control.
    pub(crate) async fn bind(
        &self,
        dir: &Directory,
        session: &UserSession,
        dn: &str,
        password: &str,
    ) -> Result<BindResult, DirectoryError> {
        let (dn, pw) = (dn.to_string(), Zeroizing::new(password.to_string()));
        let answered = dir
            .on_session(session, "user bind", move |mut ldap| async move {
                ldap.with_controls(ppolicy::request())
                    .simple_bind(&dn, &pw)
                    .await
            })
            .await?;
        let res = match answered {
            Ok(r) | Err(r) => r,
        };
        Ok(bind_result(&res))
    }

    /// Changes the password of `dn`: a session bound with `old`, then the
    /// Password Modify operation on it.
    pub(crate) async fn change_password(
        &self,
        dir: &Directory,
        dn: &str,
        old: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        let Some(session) = dir.user_session().await? else {
            return Ok(ChangeResult::Insecure);
        };
        let outcome = self.change_on_session(dir, &session, dn, old, new).await;
        dir.close_session(session).await;
        outcome
    }

    /// Sets the password of `dn` to `new` on `session`, already bound as
    /// the domain's password admin: the Password Modify operation without
    /// the old password (RFC 3062 §2: an administrator's reset).
    pub(crate) async fn reset_on_session(
        &self,
        dir: &Directory,
        session: &UserSession,
        dn: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        let dn = dn.to_string();
        let n = Zeroizing::new(new.to_string());
        let answered = dir
            .on_session(
                session,
                "password modify (reset)",
                move |mut ldap| async move {
                    let exop = PasswordModify {
                        user_id: Some(&dn),
                        old_pass: None,
                        new_pass: Some(&n),
                    };
                    ldap.extended(exop).await
                },
            )
            .await?;
        Ok(match answered {
            Ok(res) if res.1.rc == 0 => ChangeResult::Changed,
            Ok(res) => ChangeResult::Refused(format!("rc={} {}", res.1.rc, res.1.text)),
            Err(res) => ChangeResult::Refused(format!("rc={} {}", res.rc, res.text)),
        })
    }

    async fn change_on_session(
        &self,
        dir: &Directory,
        session: &UserSession,
        dn: &str,
        old: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        Ok(match self.bind(dir, session, dn, old).await? {
            BindResult::Accepted(_) => {
                let dn = dn.to_string();
                let (o, n) = (
                    Zeroizing::new(old.to_string()),
                    Zeroizing::new(new.to_string()),
                );
                let answered = dir
                    .on_session(session, "password modify", move |mut ldap| async move {
                        let exop = PasswordModify {
                            user_id: Some(&dn),
                            old_pass: Some(&o),
                            new_pass: Some(&n),
                        };
                        ldap.extended(exop).await
                    })
                    .await?;
                match answered {
                    Ok(res) if res.1.rc == 0 => ChangeResult::Changed,
                    Ok(res) => ChangeResult::Refused(res.1.text.clone()),
                    Err(res) => ChangeResult::Refused(res.text),
                }
            }
            BindResult::InvalidCredentials => ChangeResult::WrongOldPassword,
            BindResult::Locked => ChangeResult::Refused("the account is locked".into()),
            BindResult::PasswordExpired => ChangeResult::Refused(
                "the password has expired; an administrator must reset it".into(),
            ),
            BindResult::Insecure => ChangeResult::Insecure,
            BindResult::Refused(m) => ChangeResult::Refused(m),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flavour, for its account checks (which read no attribute list).
    fn rfc2307() -> Rfc2307 {
        Rfc2307 {
            user_attrs: std::sync::Arc::from([]),
            group_attrs: std::sync::Arc::from([]),
        }
    }

    fn entry(attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: "uid=alice,dc=example,dc=test".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: Default::default(),
        }
    }

    #[test]
    fn account_attributes_are_read_case_insensitively() {
        let e = entry(&[
            ("shadowexpire", &["19000"]),
            ("shadowLastChange", &[" 18000 "]),
            ("SHADOWMAX", &["90"]),
            ("shadowWarning", &["10"]),
            ("pwdAccountLockedTime", &["000001010000Z"]),
            ("pwdReset", &["TRUE"]),
        ]);
        let i = rfc2307().account_info(&e);
        assert_eq!(i.shadow_expire, Some(19000));
        assert_eq!(i.shadow_last_change, Some(18000));
        assert_eq!(i.shadow_max, Some(90));
        assert_eq!(i.shadow_warning, Some(10));
        assert!(i.locked && i.pwd_reset);
        assert_eq!(i.filter_matches, None);
    }

    #[test]
    fn absent_or_false_attributes_allow() {
        let i = rfc2307().account_info(&entry(&[("pwdReset", &["FALSE"]), ("shadowMax", &["x"])]));
        assert_eq!(i, AccountInfo::default());
    }

    #[test]
    fn a_lock_with_an_end_is_not_locked_forever() {
        let mut i =
            rfc2307().account_info(&entry(&[("pwdAccountLockedTime", &["20261203080000Z"])]));
        assert!(i.locked && i.locked_until.is_none());
        apply_lock(&mut i, Lock::Until(1_796_285_100));
        assert!(!i.locked);
        assert_eq!(i.locked_until, Some(1_796_285_100));
        let mut i = AccountInfo::default();
        apply_lock(&mut i, Lock::Forever);
        assert!(i.locked && i.locked_until.is_none());
    }

    fn result(rc: u32, text: &str) -> LdapResult {
        LdapResult {
            rc,
            matched: String::new(),
            text: text.into(),
            refs: Vec::new(),
            ctrls: Vec::new(),
        }
    }

    #[test]
    fn bind_results_without_a_policy_response() {
        assert_eq!(bind_result(&result(0, "")), BindResult::Accepted(None));
        assert_eq!(bind_result(&result(49, "")), BindResult::InvalidCredentials);
        assert_eq!(
            bind_result(&result(53, "unwilling")),
            BindResult::Refused("rc=53 unwilling".into())
        );
    }
}
