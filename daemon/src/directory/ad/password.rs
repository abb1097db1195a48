//! Logins against Active Directory: the bind result codes AD puts in its
//! diagnostic message (`data 773`), the account state from
//! `userAccountControl` / `accountExpires` / `pwdLastSet`, and password
//! changes through `unicodePwd` (delete the old value, add the new one),
//! which AD accepts over an encrypted connection only.

use super::mapping::{account_state, filetime_to_unix, text, uac_flags, UF_DONT_EXPIRE_PASSWD};
use super::Ad;
use crate::directory::account::{AccountInfo, BindResult, ChangeResult};
use crate::directory::lifecycle;
use crate::directory::{Answered, Directory, DirectoryError, UserSession};
use ldap3::{Ldap, LdapResult, Mod, SearchEntry};
use std::collections::HashSet;
use zeroize::Zeroizing;

/// Attributes read for the account decision of an AD user.
const AD_ACCOUNT_ATTRS: [&str; 3] = ["userAccountControl", "accountExpires", "pwdLastSet"];

/// LDAP result code invalidCredentials.
const RC_INVALID_CREDENTIALS: u32 = 49;
/// LDAP result code strongerAuthRequired.
const RC_STRONGER_AUTH_REQUIRED: u32 = 8;

/// Why AD refused a bind, from the `data XXX` part of its message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AdBindCode {
    /// 52e: wrong password (or no such user).
    InvalidPassword,
    /// 530/531: not allowed at this time / from this workstation.
    Restricted,
    /// 532: the password has expired (the password itself was right).
    PasswordExpired,
    /// 533: the account is disabled.
    Disabled,
    /// 701: the account has expired.
    AccountExpired,
    /// 773: the password must be changed (the password itself was right).
    MustChange,
    /// 775: the account is locked out.
    Locked,
}

/// Parses the `data XXX` code of an AD bind error message.
pub fn bind_code(text: &str) -> Option<AdBindCode> {
    let lower = text.to_ascii_lowercase();
    let start = lower.find("data ")? + 5;
    let code: String = lower[start..]
        .chars()
        .take_while(|c| c.is_ascii_hexdigit())
        .collect();
    Some(match code.as_str() {
        "52e" => AdBindCode::InvalidPassword,
        "530" | "531" => AdBindCode::Restricted,
        "532" => AdBindCode::PasswordExpired,
        "533" => AdBindCode::Disabled,
        "701" => AdBindCode::AccountExpired,
        "773" => AdBindCode::MustChange,
        "775" => AdBindCode::Locked,
        _ => return None,
    })
}

/// The outcome of an AD simple bind result. "Must change" (773) is only
/// returned for a right password: it counts as accepted, and account
/// management then asks for a new password (`pwdLastSet = 0`). An expired
/// password (532) and a locked-out account (775) are refused as such;
/// disabled (533) and expired (701) accounts with the reason.
pub fn bind_outcome(rc: u32, text: &str) -> BindResult {
    match (rc, bind_code(text)) {
        (0, _) => BindResult::Accepted(None),
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::MustChange)) => BindResult::Accepted(None),
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::PasswordExpired)) => {
            BindResult::PasswordExpired
        }
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::Locked)) => BindResult::Locked,
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::Disabled)) => {
            BindResult::Refused("the account is disabled".into())
        }
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::AccountExpired)) => {
            BindResult::Refused("the account has expired".into())
        }
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::Restricted)) => {
            BindResult::Refused("logon not permitted at this time or from this host".into())
        }
        (RC_INVALID_CREDENTIALS, _) => BindResult::InvalidCredentials,
        (RC_STRONGER_AUTH_REQUIRED, _) => BindResult::Refused(format!(
            "the domain controller requires strong authentication (rc=8 {text}): use ldaps:// or StartTLS"
        )),
        (rc, _) => BindResult::Refused(format!("rc={rc} {text}")),
    }
}

impl Ad {
    /// The attributes of a user's entry the account decision reads.
    pub(crate) fn account_attrs(&self) -> &'static [&'static str] {
        &AD_ACCOUNT_ATTRS
    }

    /// The account state of a user's entry ([`account_info`]).
    pub(crate) fn account_info(&self, e: &SearchEntry) -> AccountInfo {
        account_info(e)
    }

    /// What the entry alone does not say: when the password expires, from
    /// `pwdLastSet` and the domain's `maxPwdAge` (read from the domain
    /// root object, cached; only for a password that can expire).
    pub(crate) async fn complete_account(
        &self,
        dir: &Directory,
        e: &SearchEntry,
        info: &mut AccountInfo,
    ) -> Result<(), DirectoryError> {
        let Some(set_at) = expiring_password_set_at(e) else {
            return Ok(());
        };
        let max_age = dir
            .policy_value(&dir.cfg.base_dn, "maxPwdAge", lifecycle::max_pwd_age_secs)
            .await?;
        info.password_expires_at = password_expires_at(set_at, max_age);
        Ok(())
    }

    /// A simple bind as `dn` on `session`, classified by [`bind_outcome`].
    pub(crate) async fn bind(
        &self,
        dir: &Directory,
        session: &UserSession,
        dn: &str,
        password: &str,
    ) -> Result<BindResult, DirectoryError> {
        Ok(match bind(dir, session, dn, password).await? {
            Ok(r) | Err(r) => bind_outcome(r.rc, &r.text),
        })
    }

    /// The whole AD password change of `dn` ([`change_password_on`]).
    pub(crate) async fn change_password(
        &self,
        dir: &Directory,
        dn: &str,
        old: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        change_password_on(dir, dn, old, new).await
    }
}

impl Ad {
    /// Sets the password of `dn` to `new` on `session`, already bound as
    /// the domain's password admin: `unicodePwd` replaced (AD's "Reset
    /// Password" right), over an encrypted connection only.
    pub(crate) async fn reset_on_session(
        &self,
        dir: &Directory,
        session: &UserSession,
        dn: &str,
        new: &str,
    ) -> Result<ChangeResult, DirectoryError> {
        if !dir.config().uses_tls(session.uri()) {
            return Ok(ChangeResult::Insecure);
        }
        let mods = vec![Mod::Replace(
            Wiped(Zeroizing::new(b"unicodePwd".to_vec())),
            HashSet::from([Wiped(unicode_pwd(new))]),
        )];
        let dn = dn.to_string();
        let answered = dir
            .on_session(
                session,
                "password reset (unicodePwd)",
                move |mut ldap| async move { ldap.modify(&dn, mods).await },
            )
            .await?;
        Ok(match answered {
            Ok(r) | Err(r) if r.rc != 0 => ChangeResult::Refused(format!(
                "the domain controller refused the new password (rc={} {})",
                r.rc, r.text
            )),
            _ => ChangeResult::Changed,
        })
    }
}

/// The account decision input of an AD user entry: a disabled or locked
/// out account is locked; `accountExpires` becomes the day it falls on
/// (refused from the start of that day, UTC); `pwdLastSet = 0` asks for
/// a new password.
pub fn account_info(e: &SearchEntry) -> AccountInfo {
    let s = account_state(e);
    AccountInfo {
        shadow_expire: s.expires_at.map(|t| t.div_euclid(86_400)),
        shadow_last_change: None,
        shadow_max: None,
        locked: s.disabled || s.locked,
        pwd_reset: s.must_change,
        filter_matches: None,
        ..AccountInfo::default()
    }
}

/// When the password of the AD user entry `e` was set (Unix seconds), if
/// it can expire: not with `DONT_EXPIRE_PASSWORD` in `userAccountControl`,
/// nor when `pwdLastSet` is 0 (must be changed now: account management
/// says so) or absent.
pub fn expiring_password_set_at(e: &SearchEntry) -> Option<i64> {
    let uac = text(e, "userAccountControl")
        .and_then(uac_flags)
        .unwrap_or(0);
    if uac & UF_DONT_EXPIRE_PASSWD != 0 {
        return None;
    }
    text(e, "pwdLastSet")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(filetime_to_unix)
}

/// The Unix time a password set at `set_at` expires under a maximum age
/// of `max_age_secs` (`None`: passwords of the domain never expire).
pub fn password_expires_at(set_at: i64, max_age_secs: Option<i64>) -> Option<i64> {
    max_age_secs.map(|a| set_at.saturating_add(a))
}

/// The `unicodePwd` value of a password: the password in double quotes,
/// UTF-16LE encoded (wiped when dropped).
pub fn unicode_pwd(password: &str) -> Zeroizing<Vec<u8>> {
    let mut quoted = Zeroizing::new(String::with_capacity(password.len() + 2));
    quoted.push('"');
    quoted.push_str(password);
    quoted.push('"');
    let mut out = Zeroizing::new(Vec::with_capacity(quoted.len() * 2));
    for unit in quoted.encode_utf16() {
        out.extend_from_slice(&unit.to_le_bytes());
    }
    out
}

/// The modifications of a user changing its own AD password: delete the
/// old `unicodePwd` value and add the new one in one modify, as AD
/// requires.
fn change_mods(old: &str, new: &str) -> Vec<Mod<Wiped>> {
    let attr = || Wiped(Zeroizing::new(b"unicodePwd".to_vec()));
    vec![
        Mod::Delete(attr(), HashSet::from([Wiped(unicode_pwd(old))])),
        Mod::Add(attr(), HashSet::from([Wiped(unicode_pwd(new))])),
    ]
}

/// The outcome of the `unicodePwd` modify.
fn modify_outcome(answered: Answered<LdapResult>) -> ChangeResult {
    match answered {
        Ok(r) | Err(r) if r.rc != 0 => change_refusal(r.rc, &r.text),
        _ => ChangeResult::Changed,
    }
}

/// Runs the `unicodePwd` modify of `dn` on the user's session, or on the
/// domain's service connection (`on_service`).
async fn modify_password(
    dir: &Directory,
    session: &UserSession,
    on_service: bool,
    dn: &str,
    old: &str,
    new: &str,
) -> Result<ChangeResult, DirectoryError> {
    let mods = change_mods(old, new);
    let dn = dn.to_string();
    let op = move |mut ldap: Ldap| async move { ldap.modify(&dn, mods).await };
    let answered = if on_service {
        dir.on_service_connection("password change (unicodePwd)", op)
            .await
    } else {
        dir.on_session(session, "password change (unicodePwd)", op)
            .await
    };
    Ok(modify_outcome(answered?))
}

/// The whole AD password change of `dn`: a user session (failover-aware,
/// bounded; never plain LDAP: AD accepts `unicodePwd` over an encrypted
/// connection only), a bind with the old password, then the `unicodePwd`
/// modify on it. When AD says the password must be changed first (773,
/// the old password being right), the modify runs on the domain's service
/// connection: AD grants "Change Password" to everyone, and checks the old
/// value itself.
async fn change_password_on(
    dir: &Directory,
    dn: &str,
    old: &str,
    new: &str,
) -> Result<ChangeResult, DirectoryError> {
    if old.is_empty() {
        return Ok(ChangeResult::WrongOldPassword);
    }
    let Some(session) = dir.user_session().await? else {
        return Ok(ChangeResult::Insecure);
    };
    if !dir.config().uses_tls(session.uri()) {
        dir.close_session(session).await;
        return Ok(ChangeResult::Insecure);
    }
    let outcome = change_on_session(dir, &session, dn, old, new).await;
    dir.close_session(session).await;
    outcome
}

async fn change_on_session(
    dir: &Directory,
    session: &UserSession,
    dn: &str,
    old: &str,
    new: &str,
) -> Result<ChangeResult, DirectoryError> {
    let (rc, text) = match bind(dir, session, dn, old).await? {
        Ok(r) | Err(r) => (r.rc, r.text),
    };
    match (rc, bind_code(&text)) {
        (0, _) => modify_password(dir, session, false, dn, old, new).await,
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::MustChange | AdBindCode::PasswordExpired)) => {
            modify_password(dir, session, true, dn, old, new).await
        }
        _ => Ok(match bind_outcome(rc, &text) {
            BindResult::InvalidCredentials => ChangeResult::WrongOldPassword,
            BindResult::Refused(m) => ChangeResult::Refused(m),
            BindResult::Locked => ChangeResult::Refused("the account is locked out".into()),
            other => ChangeResult::Refused(format!("bind refused: {other:?}")),
        }),
    }
}

/// A simple bind as `dn` on `session` (bounded, failover bookkeeping).
async fn bind(
    dir: &Directory,
    session: &UserSession,
    dn: &str,
    password: &str,
) -> Result<Answered<LdapResult>, DirectoryError> {
    let (dn, pw) = (dn.to_string(), Zeroizing::new(password.to_string()));
    dir.on_session(session, "user bind", move |mut ldap| async move {
        ldap.simple_bind(&dn, &pw).await
    })
    .await
}

/// A modify value wiped when dropped (the password values of a change;
/// the copy ldap3 encodes into its request is out of our reach).
#[derive(PartialEq, Eq)]
struct Wiped(Zeroizing<Vec<u8>>);

impl std::hash::Hash for Wiped {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.as_slice().hash(state)
    }
}

impl AsRef<[u8]> for Wiped {
    fn as_ref(&self) -> &[u8] {
        self.0.as_slice()
    }
}

fn change_refusal(rc: u32, text: &str) -> ChangeResult {
    // AD answers constraintViolation (19) both for a policy refusal and for
    // a wrong old password (data 56 / 52e).
    let lower = text.to_ascii_lowercase();
    if rc == RC_INVALID_CREDENTIALS || lower.contains("data 52e") || lower.contains("data 56,") {
        return ChangeResult::WrongOldPassword;
    }
    ChangeResult::Refused(format!(
        "the domain controller refused the new password (rc={rc} {text})"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_codes_from_ad_messages() {
        let msg = |d: &str| {
            format!("80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data {d}, v4563")
        };
        assert_eq!(bind_code(&msg("52e")), Some(AdBindCode::InvalidPassword));
        assert_eq!(bind_code(&msg("773")), Some(AdBindCode::MustChange));
        assert_eq!(bind_code(&msg("533")), Some(AdBindCode::Disabled));
        assert_eq!(bind_code("no data here"), None);
        assert_eq!(
            bind_outcome(49, &msg("52e")),
            BindResult::InvalidCredentials
        );
        assert_eq!(bind_outcome(49, "plain"), BindResult::InvalidCredentials);
        assert_eq!(bind_outcome(49, &msg("773")), BindResult::Accepted(None));
        assert_eq!(bind_outcome(49, &msg("532")), BindResult::PasswordExpired);
        assert_eq!(bind_outcome(49, &msg("775")), BindResult::Locked);
        assert!(
            matches!(bind_outcome(49, &msg("533")), BindResult::Refused(m) if m.contains("disabled"))
        );
        assert!(
            matches!(bind_outcome(49, &msg("701")), BindResult::Refused(m) if m.contains("expired"))
        );
        assert!(matches!(
            bind_outcome(8, "BindSimple: Transport encryption required."),
            BindResult::Refused(m) if m.contains("strong authentication") && m.contains("StartTLS")
        ));
        assert_eq!(bind_outcome(0, ""), BindResult::Accepted(None));
    }

    fn entry(attrs: &[(&str, &str)]) -> SearchEntry {
        SearchEntry {
            dn: "CN=x,DC=ad,DC=test".into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
                .collect(),
            bin_attrs: Default::default(),
        }
    }

    #[test]
    fn account_state_maps_to_policy_input() {
        use crate::auth::policy::evaluate;
        use roster_proto::PamCode;
        let today = 20_000 * 86_400;
        let ok = entry(&[
            ("userAccountControl", "512"),
            ("accountExpires", "9223372036854775807"),
            ("pwdLastSet", "134399263325538160"),
        ]);
        assert_eq!(evaluate(&account_info(&ok), today).0, PamCode::Success);
        let disabled = entry(&[("userAccountControl", "514")]);
        assert_eq!(
            evaluate(&account_info(&disabled), today).0,
            PamCode::PermDenied
        );
        let locked = entry(&[("userAccountControl", "528")]);
        assert_eq!(
            evaluate(&account_info(&locked), today).0,
            PamCode::PermDenied
        );
        let expired = entry(&[("accountExpires", "129000000000000000")]);
        assert_eq!(
            evaluate(&account_info(&expired), today).0,
            PamCode::AcctExpired
        );
        let never = entry(&[("accountExpires", "0")]);
        assert_eq!(evaluate(&account_info(&never), today).0, PamCode::Success);
        let must = entry(&[("pwdLastSet", "0")]);
        assert_eq!(
            evaluate(&account_info(&must), today).0,
            PamCode::NewAuthtokReqd
        );
    }

    #[test]
    fn password_expiry_from_pwd_last_set_and_max_pwd_age() {
        // 2026-12-03 08:00:00 UTC as a FILETIME (100 ns since 1601).
        let set = (1_796_284_800i64 + 11_644_473_600) * 10_000_000;
        let e = entry(&[
            ("userAccountControl", "512"),
            ("pwdLastSet", &set.to_string()),
        ]);
        assert_eq!(expiring_password_set_at(&e), Some(1_796_284_800));
        let age = lifecycle::max_pwd_age_secs("-36288000000000");
        assert_eq!(
            password_expires_at(1_796_284_800, age),
            Some(1_796_284_800 + 42 * 86_400)
        );
        assert_eq!(password_expires_at(1_796_284_800, None), None);
        // DONT_EXPIRE_PASSWORD (0x10000 | NORMAL_ACCOUNT 0x200 = 66048).
        let never = entry(&[
            ("userAccountControl", "66048"),
            ("pwdLastSet", &set.to_string()),
        ]);
        assert_eq!(expiring_password_set_at(&never), None);
        // Must change now, or never set.
        assert_eq!(
            expiring_password_set_at(&entry(&[("pwdLastSet", "0")])),
            None
        );
        assert_eq!(
            expiring_password_set_at(&entry(&[("userAccountControl", "512")])),
            None
        );
    }

    #[test]
    fn unicode_pwd_is_quoted_utf16le() {
        assert_eq!(
            unicode_pwd("aé").as_slice(),
            &[b'"', 0, b'a', 0, 0xe9, 0, b'"', 0]
        );
        assert_eq!(unicode_pwd("").as_slice(), &[b'"', 0, b'"', 0]);
    }

    #[test]
    fn change_refusals() {
        assert_eq!(
            change_refusal(19, "0000052D: Constraint violation - check_password_restrictions: the password is too short"),
            ChangeResult::Refused("the domain controller refused the new password (rc=19 0000052D: Constraint violation - check_password_restrictions: the password is too short)".into())
        );
        assert_eq!(
            change_refusal(
                19,
                "00000056: AtrErr: DSID-03190F80, #1:, data 56, Att 9005a"
            ),
            ChangeResult::WrongOldPassword
        );
    }
}
