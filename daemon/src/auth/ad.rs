//! Active Directory specifics of the PAM decisions: the bind result codes
//! AD puts in its diagnostic message (`data 773`), the account state from
//! `userAccountControl` / `accountExpires` / `pwdLastSet`, and password
//! changes through `unicodePwd` (delete the old value, add the new one),
//! which AD accepts over an encrypted connection only.

use super::backend::{AccountInfo, AuthError, BindResult, ChangeResult};
use crate::directory::ad::mapping::account_state;
use crate::directory::Directory;
use ldap3::{Ldap, LdapError, Mod, SearchEntry};
use std::collections::HashSet;
use std::time::Duration;
use zeroize::Zeroizing;

/// Attributes read for the account decision of an AD user.
pub const AD_ACCOUNT_ATTRS: [&str; 3] = ["userAccountControl", "accountExpires", "pwdLastSet"];

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

/// A simple bind as `dn` classified by [`bind_outcome`].
pub async fn bind(
    ldap: &mut Ldap,
    dn: &str,
    password: &str,
    timeout: Duration,
) -> Result<BindResult, AuthError> {
    match ldap.with_timeout(timeout).simple_bind(dn, password).await {
        Ok(res) => Ok(bind_outcome(res.rc, &res.text)),
        Err(LdapError::LdapResult { result }) => Ok(bind_outcome(result.rc, &result.text)),
        Err(e) => Err(AuthError::Unavailable(e.to_string())),
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
    }
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

/// Changes the password of `dn` on `ldap` (an encrypted connection) by
/// deleting the old `unicodePwd` value and adding the new one in one
/// modify, as AD requires for a user changing its own password.
pub async fn change_password(
    ldap: &mut Ldap,
    dn: &str,
    old: &str,
    new: &str,
    timeout: Duration,
) -> Result<ChangeResult, AuthError> {
    let attr = || Wiped(Zeroizing::new(b"unicodePwd".to_vec()));
    let mods = vec![
        Mod::Delete(attr(), HashSet::from([Wiped(unicode_pwd(old))])),
        Mod::Add(attr(), HashSet::from([Wiped(unicode_pwd(new))])),
    ];
    let res = ldap.with_timeout(timeout).modify(dn, mods).await;
    match res {
        Ok(r) if r.rc == 0 => Ok(ChangeResult::Changed),
        Ok(r) => Ok(change_refusal(r.rc, &r.text)),
        Err(LdapError::LdapResult { result }) => Ok(change_refusal(result.rc, &result.text)),
        Err(e) => Err(AuthError::Unavailable(e.to_string())),
    }
}

/// The whole AD password change of `dn`: a new encrypted connection (never
/// plain LDAP), a bind with the old password, then the `unicodePwd`
/// modify on it. When AD says the password must be changed first (773,
/// the old password being right), the modify runs on the domain's service
/// connection: AD grants "Change Password" to everyone, and checks the old
/// value itself.
pub async fn change_password_on(
    dir: &Directory,
    dn: &str,
    old: &str,
    new: &str,
) -> Result<ChangeResult, AuthError> {
    if old.is_empty() {
        return Ok(ChangeResult::WrongOldPassword);
    }
    let timeout = dir.config().op_timeout;
    let (mut ldap, uri) = dir
        .connect_unbound_any()
        .await
        .map_err(|e| AuthError::Unavailable(e.to_string()))?;
    if !dir.config().uses_tls(&uri) {
        let _ = ldap.unbind().await;
        return Ok(ChangeResult::Insecure);
    }
    let bound = ldap.with_timeout(timeout).simple_bind(dn, old).await;
    let (rc, text) = match bound {
        Ok(r) => (r.rc, r.text),
        Err(LdapError::LdapResult { result }) => (result.rc, result.text),
        Err(e) => return Err(AuthError::Unavailable(e.to_string())),
    };
    let outcome = match (rc, bind_code(&text)) {
        (0, _) => change_password(&mut ldap, dn, old, new, timeout).await,
        (RC_INVALID_CREDENTIALS, Some(AdBindCode::MustChange | AdBindCode::PasswordExpired)) => {
            match dir.connection().await {
                Ok(mut svc) => change_password(&mut svc, dn, old, new, timeout).await,
                Err(e) => Err(AuthError::Unavailable(e.to_string())),
            }
        }
        _ => Ok(match bind_outcome(rc, &text) {
            BindResult::InvalidCredentials => ChangeResult::WrongOldPassword,
            BindResult::Refused(m) => ChangeResult::Refused(m),
            BindResult::Locked => ChangeResult::Refused("the account is locked out".into()),
            other => ChangeResult::Refused(format!("bind refused: {other:?}")),
        }),
    };
    let _ = ldap.unbind().await;
    outcome
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
    use std::collections::HashMap;

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
            bin_attrs: HashMap::new(),
        }
    }

    #[test]
    fn account_state_maps_to_policy_input() {
        use crate::auth::policy::evaluate;
        use roster_proto::PamCode;
        let today = 20_000;
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
