//! A user's own password change with the kpasswd protocol (RFC 3244,
//! `krb5_auth` domains): initial tickets for `kadmin/changepw` with the
//! old password (which the KDC issues even when that password has
//! expired), then the change request with the new one to the realm's
//! kpasswd server (`kpasswd_server`, else `admin_server`, else the KDCs,
//! port 464).

use super::{sys, Context, KrbError};

/// What the kpasswd server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Kpasswd {
    /// The password was changed.
    Changed,
    /// The new password breaks the password policy (too short, in the
    /// history, not complex enough): `KRB5_KPASSWD_SOFTERROR`, with the
    /// server's message.
    Policy(String),
    /// The server did not accept the request's authentication
    /// (`KRB5_KPASSWD_AUTHERROR`), with its message.
    AuthError(String),
    /// Any other refusal: the result code and the server's message.
    Refused(i32, String),
}

/// Blocking: changes the password of `user` (a principal name) from `old`
/// to `new`. `Err` when the ticket for `kadmin/changepw` is refused (a
/// wrong old password: [`super::KrbFailure::WrongKey`]) or no server
/// answered; the server's own refusals are [`Kpasswd`] values.
pub(crate) fn change_password(user: &str, old: &[u8], new: &[u8]) -> Result<Kpasswd, KrbError> {
    let ctx = Context::new()?;
    let client = ctx.principal(user)?;
    let mut creds = ctx.init_creds_password(
        &client,
        old,
        Some("kadmin/changepw"),
        &format!("password change ticket of {user}"),
    )?;
    ctx.change_password(
        &mut creds,
        new,
        &format!("password change of {user} (kpasswd)"),
    )
}

/// The meaning of a kpasswd result code (`KRB5_KPASSWD_*`) and the
/// server's message.
pub(super) fn outcome(code: i32, message: String) -> Kpasswd {
    match code {
        sys::KRB5_KPASSWD_SUCCESS => Kpasswd::Changed,
        sys::KRB5_KPASSWD_SOFTERROR => Kpasswd::Policy(message),
        sys::KRB5_KPASSWD_AUTHERROR => Kpasswd::AuthError(message),
        _ => Kpasswd::Refused(code, message),
    }
}

/// The name of a kpasswd result code (for messages).
pub(crate) fn code_name(code: i32) -> &'static str {
    match code {
        sys::KRB5_KPASSWD_SUCCESS => "success",
        sys::KRB5_KPASSWD_MALFORMED => "malformed request",
        sys::KRB5_KPASSWD_HARDERROR => "server error",
        sys::KRB5_KPASSWD_AUTHERROR => "authentication error",
        sys::KRB5_KPASSWD_SOFTERROR => "password change rejected",
        sys::KRB5_KPASSWD_ACCESSDENIED => "not authorized",
        sys::KRB5_KPASSWD_BAD_VERSION => "unknown protocol version",
        sys::KRB5_KPASSWD_INITIAL_FLAG_NEEDED => "initial ticket needed",
        _ => "unknown result code",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn result_codes() {
        assert_eq!(outcome(0, String::new()), Kpasswd::Changed);
        assert_eq!(
            outcome(4, "Password too short".into()),
            Kpasswd::Policy("Password too short".into())
        );
        assert_eq!(outcome(3, "x".into()), Kpasswd::AuthError("x".into()));
        assert_eq!(outcome(5, "no".into()), Kpasswd::Refused(5, "no".into()));
        assert_eq!(code_name(5), "not authorized");
        assert_eq!(code_name(42), "unknown result code");
    }
}
