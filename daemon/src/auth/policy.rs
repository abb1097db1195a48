//! Account policy: which account state refuses a login, and with what.

use super::backend::AccountInfo;
use roster_proto::PamCode;

/// Days since 1970-01-01 of a Unix time in seconds.
pub fn days_since_epoch(unix_secs: u64) -> i64 {
    (unix_secs / 86_400) as i64
}

/// The account decision for `info` on day `today`: the code and the reason
/// (shown to the user and logged). Order: access filter, expiry, lock,
/// password age.
pub fn evaluate(info: &AccountInfo, today: i64) -> (PamCode, &'static str) {
    if info.filter_matches == Some(false) {
        return (
            PamCode::PermDenied,
            "Access denied: the account does not match the access filter",
        );
    }
    if let Some(expire) = info.shadow_expire {
        if expire >= 0 && today >= expire {
            return (
                PamCode::AcctExpired,
                "Your account has expired; please contact your system administrator",
            );
        }
    }
    if info.locked {
        return (
            PamCode::PermDenied,
            "Your account is locked; please contact your system administrator",
        );
    }
    if info.pwd_reset {
        return (
            PamCode::NewAuthtokReqd,
            "You are required to change your password immediately (administrator reset)",
        );
    }
    if let Some(last) = info.shadow_last_change {
        if last == 0 {
            return (
                PamCode::NewAuthtokReqd,
                "You are required to change your password immediately (administrator enforced)",
            );
        }
        if let Some(max) = info.shadow_max.filter(|m| (0..99_999).contains(m)) {
            if today - last > max {
                return (
                    PamCode::NewAuthtokReqd,
                    "Your password has expired; you must change it now",
                );
            }
        }
    }
    (PamCode::Success, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: i64 = 20_000;

    fn with(f: impl FnOnce(&mut AccountInfo)) -> PamCode {
        let mut i = AccountInfo::default();
        f(&mut i);
        evaluate(&i, TODAY).0
    }

    #[test]
    fn plain_account_is_allowed() {
        assert_eq!(with(|_| {}), PamCode::Success);
        assert_eq!(with(|i| i.filter_matches = Some(true)), PamCode::Success);
    }

    #[test]
    fn expiry_uses_days_since_epoch() {
        assert_eq!(
            with(|i| i.shadow_expire = Some(TODAY)),
            PamCode::AcctExpired
        );
        assert_eq!(with(|i| i.shadow_expire = Some(1)), PamCode::AcctExpired);
        assert_eq!(
            with(|i| i.shadow_expire = Some(TODAY + 1)),
            PamCode::Success
        );
        assert_eq!(with(|i| i.shadow_expire = Some(-1)), PamCode::Success);
        assert_eq!(days_since_epoch(86_400 * 3 + 5), 3);
    }

    #[test]
    fn lock_filter_and_password_age() {
        assert_eq!(with(|i| i.locked = true), PamCode::PermDenied);
        assert_eq!(
            with(|i| i.filter_matches = Some(false)),
            PamCode::PermDenied
        );
        assert_eq!(with(|i| i.pwd_reset = true), PamCode::NewAuthtokReqd);
        let aged = |last: i64, max: Option<i64>| {
            with(|i| {
                i.shadow_last_change = Some(last);
                i.shadow_max = max;
            })
        };
        assert_eq!(aged(TODAY - 91, Some(90)), PamCode::NewAuthtokReqd);
        assert_eq!(aged(TODAY - 90, Some(90)), PamCode::Success);
        assert_eq!(aged(TODAY - 5000, None), PamCode::Success);
        assert_eq!(aged(TODAY - 5000, Some(99_999)), PamCode::Success);
        assert_eq!(aged(0, None), PamCode::NewAuthtokReqd);
    }

    #[test]
    fn expiry_wins_over_lock() {
        let code = with(|i| {
            i.locked = true;
            i.shadow_expire = Some(1);
        });
        assert_eq!(code, PamCode::AcctExpired);
    }
}
