//! What a login asks of a directory and what it answers: a password check
//! (a bind as the user), a password change, and the account state read from
//! the user's entry. Each flavour fills these in its own way (ppolicy and
//! shadow attributes for RFC 2307, AD's bind codes and
//! `userAccountControl`); the PAM decisions read only these types.

use serde::{Deserialize, Serialize};

/// What a password policy said about a password it accepted (the ppolicy
/// response control of the bind).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyNotice {
    /// The password expires in this many seconds (timeBeforeExpiration).
    ExpiresIn(u64),
    /// The password has expired; this login used a grace login and this
    /// many are left (graceAuthNsRemaining).
    GraceLogins(u64),
}

/// Outcome of a password check (a simple bind as the user).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BindResult {
    /// The server accepted the password; with what the password policy
    /// said when it expires soon or is in its grace logins.
    Accepted(Option<PolicyNotice>),
    /// Wrong password (LDAP invalidCredentials).
    InvalidCredentials,
    /// Refused by the password policy: the account is locked.
    Locked,
    /// Refused by the password policy: the password has expired.
    PasswordExpired,
    /// Refused before binding: the connection is not encrypted and the
    /// domain does not set `allow_insecure_auth`.
    Insecure,
    /// The server refused the bind for another reason (its message).
    Refused(String),
}

/// Outcome of a password change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeResult {
    /// The password was changed.
    Changed,
    /// The current password is wrong.
    WrongOldPassword,
    /// Refused before binding: unencrypted connection.
    Insecure,
    /// The server refused the new password (its policy message).
    Refused(String),
}

/// Account attributes read from the user's entry (and what the account
/// filter said), kept with cached credentials for offline checks. Fields
/// added later default when an older copy is read.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountInfo {
    /// `shadowExpire`: days since 1970-01-01 at which the account expires.
    pub shadow_expire: Option<i64>,
    /// `shadowLastChange`: day of the last password change (0: must change).
    pub shadow_last_change: Option<i64>,
    /// `shadowMax`: days a password is valid.
    pub shadow_max: Option<i64>,
    /// `shadowWarning`: days before expiry from which to warn.
    #[serde(default)]
    pub shadow_warning: Option<i64>,
    /// Unix time at which the password expires, when the directory says
    /// so otherwise than with shadow attributes (AD: `pwdLastSet` +
    /// the domain's `maxPwdAge`).
    #[serde(default)]
    pub password_expires_at: Option<i64>,
    /// Locked without an end: a disabled or locked-out AD account, a
    /// ppolicy `pwdAccountLockedTime` without a lockout duration (or the
    /// administrative lock `000001010000Z`).
    pub locked: bool,
    /// Locked until this Unix time (ppolicy `pwdAccountLockedTime` plus
    /// the policy's `pwdLockoutDuration`); not locked from then on.
    #[serde(default)]
    pub locked_until: Option<i64>,
    /// ppolicy `pwdReset: TRUE` (an administrator set the password).
    pub pwd_reset: bool,
    /// Whether the entry matches the domain's `access_filter` (None: no filter).
    pub filter_matches: Option<bool>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offline_copy_written_before_the_lifecycle_fields_still_reads() {
        let old = r#"{"shadow_expire":null,"shadow_last_change":19000,"shadow_max":90,"locked":true,"pwd_reset":false,"filter_matches":null}"#;
        let info: AccountInfo = serde_json::from_str(old).unwrap();
        assert!(info.locked);
        assert_eq!(info.shadow_max, Some(90));
        assert_eq!(
            (
                info.shadow_warning,
                info.password_expires_at,
                info.locked_until
            ),
            (None, None, None)
        );
        let new = AccountInfo {
            locked_until: Some(1_796_285_100),
            password_expires_at: Some(1_796_284_800),
            shadow_warning: Some(7),
            ..AccountInfo::default()
        };
        let back: AccountInfo =
            serde_json::from_str(&serde_json::to_string(&new).unwrap()).unwrap();
        assert_eq!(back, new);
    }
}
