//! Account policy: which account state refuses a login, and with what;
//! and the password lifecycle notices a login shows (expiry warnings,
//! grace logins left).

use super::backend::{AccountInfo, PolicyNotice};
use roster_proto::PamCode;

/// Seconds in a day.
const DAY: i64 = 86_400;
/// `shadowMax` at or above this means the password never expires.
const SHADOW_MAX_NEVER: i64 = 99_999;

/// Days since 1970-01-01 of a Unix time in seconds.
pub fn days_since_epoch(unix_secs: u64) -> i64 {
    (unix_secs / 86_400) as i64
}

/// The account decision for `info` at Unix time `now`: the code and the
/// reason (shown to the user and logged). Order: access filter, expiry,
/// lock (a lock with an end only until then), password age.
pub fn evaluate(info: &AccountInfo, now: u64) -> (PamCode, &'static str) {
    let today = days_since_epoch(now);
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
    if info.locked_until.is_some_and(|t| (now as i64) < t) {
        return (
            PamCode::PermDenied,
            "Your account is locked after too many failed logins; try again later",
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
        if let Some(max) = info
            .shadow_max
            .filter(|m| (0..SHADOW_MAX_NEVER).contains(m))
        {
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

/// "N day(s)" with the right plural.
fn count(n: i64, one: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {one}s")
    }
}

/// The warning for a password that expires in `secs` seconds: in days
/// when at least one is left, else in hours (rounded up).
pub fn expires_in_text(secs: i64) -> String {
    let secs = secs.max(0);
    if secs >= DAY {
        format!("Your password will expire in {}.", count(secs / DAY, "day"))
    } else {
        let hours = (secs + 3599) / 3600;
        format!(
            "Your password will expire in {}.",
            count(hours.max(1), "hour")
        )
    }
}

/// The notice of a ppolicy response on an accepted bind: grace logins
/// are always reported (the password has already expired); an expiry
/// warning only within `window_days` (0: never).
pub fn policy_notice(n: PolicyNotice, window_days: u32) -> Option<String> {
    match n {
        PolicyNotice::GraceLogins(left) => Some(format!(
            "Your password has expired; grace logins remaining: {left}. Change it now."
        )),
        PolicyNotice::ExpiresIn(secs) => {
            let secs = i64::try_from(secs).unwrap_or(i64::MAX);
            (window_days > 0 && secs <= i64::from(window_days) * DAY).then(|| expires_in_text(secs))
        }
    }
}

/// The expiry warning for the account state `info` at Unix time `now`,
/// when its password expires within `window_days` (0: never warn): from
/// `shadowLastChange` + `shadowMax` (in days; `shadowWarning`, when set,
/// is the window of that account), or from the expiry time the directory
/// gave (AD: `pwdLastSet` + `maxPwdAge`). A password that must be changed
/// now or has already expired gets no warning: account management refuses
/// it.
pub fn expiry_notice(info: &AccountInfo, now: u64, window_days: u32) -> Option<String> {
    if window_days == 0 {
        return None;
    }
    let now = i64::try_from(now).unwrap_or(i64::MAX);
    let today = now.div_euclid(DAY);
    let shadow = match (info.shadow_last_change, info.shadow_max) {
        (Some(last), Some(max)) if last > 0 && (0..SHADOW_MAX_NEVER).contains(&max) => {
            let window = info
                .shadow_warning
                .filter(|w| *w > 0)
                .unwrap_or(i64::from(window_days));
            let left = last + max - today;
            (0..=window).contains(&left).then_some(left)
        }
        _ => None,
    };
    let directory = info.password_expires_at.and_then(|at| {
        let left = at - now;
        (left > 0 && left <= i64::from(window_days) * DAY).then_some(left)
    });
    match (shadow, directory) {
        (Some(days), d) if d.is_none_or(|secs| secs >= days * DAY) => Some(match days {
            0 => "Your password will expire today.".to_string(),
            n => format!("Your password will expire in {}.", count(n, "day")),
        }),
        (_, Some(secs)) => Some(expires_in_text(secs)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODAY: i64 = 20_000;
    /// Noon of day TODAY, in Unix seconds.
    const NOW: u64 = (TODAY * 86_400 + 43_200) as u64;

    fn with(f: impl FnOnce(&mut AccountInfo)) -> PamCode {
        let mut i = AccountInfo::default();
        f(&mut i);
        evaluate(&i, NOW).0
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
    fn a_lock_with_an_end_is_released_then() {
        let now = NOW as i64;
        let until = |t: i64| {
            let mut i = AccountInfo {
                locked_until: Some(t),
                ..AccountInfo::default()
            };
            let d = evaluate(&i, NOW);
            i.locked = true;
            (d, evaluate(&i, NOW).0)
        };
        let ((code, text), forever) = until(now + 1);
        assert_eq!(code, PamCode::PermDenied);
        assert!(text.contains("try again later"), "{text}");
        assert_eq!(forever, PamCode::PermDenied);
        assert_eq!(until(now).0 .0, PamCode::Success);
        assert_eq!(until(now - 3600).0 .0, PamCode::Success);
        // Locked forever wins over an end in the past.
        assert_eq!(until(now - 3600).1, PamCode::PermDenied);
    }

    #[test]
    fn expiry_wins_over_lock() {
        let code = with(|i| {
            i.locked = true;
            i.shadow_expire = Some(1);
        });
        assert_eq!(code, PamCode::AcctExpired);
    }

    fn shadow(last: i64, max: i64, warning: Option<i64>) -> AccountInfo {
        AccountInfo {
            shadow_last_change: Some(last),
            shadow_max: Some(max),
            shadow_warning: warning,
            ..AccountInfo::default()
        }
    }

    #[test]
    fn shadow_expiry_is_counted_in_days() {
        // Expires on day TODAY + 3: warned within 7 days, not within 2.
        let i = shadow(TODAY - 87, 90, None);
        assert_eq!(
            expiry_notice(&i, NOW, 7).as_deref(),
            Some("Your password will expire in 3 days.")
        );
        assert_eq!(expiry_notice(&i, NOW, 2), None);
        assert!(expiry_notice(&i, NOW, 3).is_some());
        // 0 = never warn.
        assert_eq!(expiry_notice(&i, NOW, 0), None);
        // shadowWarning is the account's own window.
        assert_eq!(
            expiry_notice(&shadow(TODAY - 87, 90, Some(2)), NOW, 7),
            None
        );
        assert!(expiry_notice(&shadow(TODAY - 80, 90, Some(14)), NOW, 7).is_some());
        assert_eq!(
            expiry_notice(&shadow(TODAY - 89, 90, None), NOW, 7).as_deref(),
            Some("Your password will expire in 1 day.")
        );
        assert_eq!(
            expiry_notice(&shadow(TODAY - 90, 90, None), NOW, 7).as_deref(),
            Some("Your password will expire today.")
        );
        // Expired, must change now, never expires: no warning.
        assert_eq!(expiry_notice(&shadow(TODAY - 91, 90, None), NOW, 7), None);
        assert_eq!(expiry_notice(&shadow(0, 90, None), NOW, 7), None);
        assert_eq!(
            expiry_notice(&shadow(TODAY - 1, 99_999, None), NOW, 7),
            None
        );
        assert_eq!(expiry_notice(&shadow(TODAY - 1, -1, None), NOW, 7), None);
        assert_eq!(expiry_notice(&AccountInfo::default(), NOW, 7), None);
    }

    #[test]
    fn directory_expiry_time_in_seconds() {
        let at = |secs: i64| AccountInfo {
            password_expires_at: Some(NOW as i64 + secs),
            ..AccountInfo::default()
        };
        assert_eq!(
            expiry_notice(&at(3 * 86_400 + 100), NOW, 7).as_deref(),
            Some("Your password will expire in 3 days.")
        );
        assert_eq!(
            expiry_notice(&at(7 * 86_400), NOW, 7).as_deref(),
            Some("Your password will expire in 7 days.")
        );
        assert_eq!(expiry_notice(&at(7 * 86_400 + 1), NOW, 7), None);
        assert_eq!(
            expiry_notice(&at(5000), NOW, 7).as_deref(),
            Some("Your password will expire in 2 hours.")
        );
        assert_eq!(
            expiry_notice(&at(60), NOW, 7).as_deref(),
            Some("Your password will expire in 1 hour.")
        );
        assert_eq!(expiry_notice(&at(0), NOW, 7), None);
        assert_eq!(expiry_notice(&at(-60), NOW, 7), None);
        assert_eq!(expiry_notice(&at(60), NOW, 0), None);
        // Both known: the earlier one is told.
        let mut both = at(86_400 + 10);
        both.shadow_last_change = Some(TODAY - 85);
        both.shadow_max = Some(90);
        assert_eq!(
            expiry_notice(&both, NOW, 7).as_deref(),
            Some("Your password will expire in 1 day.")
        );
    }

    #[test]
    fn policy_notices() {
        assert_eq!(
            policy_notice(PolicyNotice::GraceLogins(2), 7).as_deref(),
            Some("Your password has expired; grace logins remaining: 2. Change it now.")
        );
        // Grace logins are reported even with warnings off.
        assert!(policy_notice(PolicyNotice::GraceLogins(0), 0).is_some());
        assert_eq!(
            policy_notice(PolicyNotice::ExpiresIn(3 * 86_400 + 5), 7).as_deref(),
            Some("Your password will expire in 3 days.")
        );
        assert_eq!(policy_notice(PolicyNotice::ExpiresIn(8 * 86_400), 7), None);
        assert_eq!(policy_notice(PolicyNotice::ExpiresIn(3600), 0), None);
        assert_eq!(
            policy_notice(PolicyNotice::ExpiresIn(3600), 1).as_deref(),
            Some("Your password will expire in 1 hour.")
        );
        assert_eq!(policy_notice(PolicyNotice::ExpiresIn(u64::MAX), 7), None);
    }
}
