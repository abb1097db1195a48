//! Password lifecycle facts that live outside the user's entry: the
//! lockout duration of a ppolicy password policy (`pwdLockoutDuration` of
//! the user's `pwdPolicySubentry` or of `ppolicy_default_dn`) and an AD
//! domain's `maxPwdAge` (on the domain root object). Both are read through
//! the directory layer's bounded, failover-aware reads and kept for
//! [`POLICY_TTL`]; the arithmetic on them (LDAP GeneralizedTime, AD's
//! 100-nanosecond intervals) is pure and tested here.

use super::{Directory, DirectoryError};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a policy value read from the directory is used before it is
/// read again.
pub const POLICY_TTL: Duration = Duration::from_secs(300);
/// Most policy values kept (policies are few; the cache is emptied when
/// it would grow past this).
const POLICY_CACHE_MAX: usize = 256;
/// `pwdAccountLockedTime` of an account an administrator locked: locked
/// until the attribute is removed, whatever the lockout duration.
pub const ADMIN_LOCK: &str = "000001010000Z";
/// AD's FILETIME ticks (100 ns) per second.
const TICKS_PER_SEC: i64 = 10_000_000;

/// A policy value's key: the policy entry's DN and the attribute, both
/// lowercased.
type PolicyKey = (String, String);

/// Policy values read from the directory, by (DN, attribute), with the
/// time they were read (`None`: the entry or the value does not exist).
#[derive(Debug, Default)]
pub(crate) struct PolicyCache {
    values: Mutex<HashMap<PolicyKey, (Option<i64>, Instant)>>,
}

impl PolicyCache {
    fn get(&self, key: &PolicyKey) -> Option<Option<i64>> {
        let values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        values
            .get(key)
            .filter(|(_, at)| at.elapsed() < POLICY_TTL)
            .map(|(v, _)| *v)
    }

    fn put(&self, key: PolicyKey, value: Option<i64>) {
        let mut values = self.values.lock().unwrap_or_else(|e| e.into_inner());
        if values.len() >= POLICY_CACHE_MAX && !values.contains_key(&key) {
            values.clear();
        }
        values.insert(key, (value, Instant::now()));
    }
}

impl Directory {
    /// The first value of `attr` of the entry at `dn`, parsed by `parse`:
    /// from the cache when it was read less than [`POLICY_TTL`] ago, else
    /// with a base search on the service connection. `None` when the entry
    /// or the value does not exist (or does not parse; logged).
    pub(crate) async fn policy_value(
        &self,
        dn: &str,
        attr: &str,
        parse: fn(&str) -> Option<i64>,
    ) -> Result<Option<i64>, DirectoryError> {
        let key = (dn.to_ascii_lowercase(), attr.to_ascii_lowercase());
        if let Some(v) = self.policies.get(&key) {
            return Ok(v);
        }
        let entry = self.read_entry(dn, "(objectClass=*)", &[attr]).await?;
        let raw = entry.as_ref().and_then(|e| {
            e.attrs
                .iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(attr))
                .and_then(|(_, v)| v.first())
                .cloned()
        });
        let value = raw.as_deref().and_then(parse);
        match (&entry, &raw, value) {
            (None, _, _) => {
                tracing::warn!(domain = %self.cfg.name, %dn, %attr, "policy entry not found (or not readable by the service account)")
            }
            (Some(_), Some(r), None) => {
                tracing::warn!(domain = %self.cfg.name, %dn, %attr, value = %r, "policy value not understood")
            }
            _ => {}
        }
        self.policies.put(key, value);
        Ok(value)
    }
}

/// A non-negative number of seconds (`pwdLockoutDuration`).
pub fn seconds(v: &str) -> Option<i64> {
    v.trim().parse::<i64>().ok().filter(|n| *n >= 0)
}

/// AD's `maxPwdAge` as seconds: a negative number of 100-ns intervals
/// (-36288000000000 is 42 days); 0 and the most negative value mean
/// passwords never expire (`None`). A positive value (written by some
/// tools) counts the same.
pub fn max_pwd_age_secs(v: &str) -> Option<i64> {
    let n = v.trim().parse::<i64>().ok()?;
    if n == 0 || n == i64::MIN {
        return None;
    }
    let secs = n.unsigned_abs() / TICKS_PER_SEC as u64;
    (secs > 0).then_some(secs as i64)
}

/// Days from 1970-01-01 to the proleptic Gregorian date `y-m-d`.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// An LDAP GeneralizedTime (`YYYYMMDDHH[MM[SS]][.fraction](Z|±HHMM)`, as
/// ppolicy writes `pwdAccountLockedTime`) as Unix seconds (the fraction is
/// dropped).
pub fn parse_generalized_time(v: &str) -> Option<i64> {
    let v = v.trim();
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    if !matches!(digits, 10 | 12 | 14) {
        return None;
    }
    let num = |a: usize, b: usize| v[a..b].parse::<i64>().ok();
    let (y, mo, d, h) = (num(0, 4)?, num(4, 6)?, num(6, 8)?, num(8, 10)?);
    let mi = if digits >= 12 { num(10, 12)? } else { 0 };
    let s = if digits >= 14 { num(12, 14)? } else { 0 };
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let mut rest = &v[digits..];
    if let Some(frac) = rest.strip_prefix(['.', ',']) {
        let n = frac.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        rest = &frac[n..];
    }
    let offset = match rest {
        "Z" => 0,
        _ if rest.len() == 5 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest[1..3].parse().ok()?;
            let om: i64 = rest[3..5].parse().ok()?;
            let o = oh * 3600 + om * 60;
            if rest.starts_with('-') {
                -o
            } else {
                o
            }
        }
        _ => return None,
    };
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s - offset)
}

/// How long a ppolicy lock lasts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lock {
    /// Until an administrator unlocks it.
    Forever,
    /// Until this Unix time.
    Until(i64),
}

/// The lock of an account whose `pwdAccountLockedTime` is `locked_time`,
/// under a policy whose `pwdLockoutDuration` is `duration` seconds:
/// forever for the administrative lock ([`ADMIN_LOCK`]), an unreadable
/// time, no known duration or a duration of 0; else until the lock time
/// plus the duration.
pub fn lock_of(locked_time: &str, duration: Option<i64>) -> Lock {
    if locked_time.trim() == ADMIN_LOCK {
        return Lock::Forever;
    }
    match (parse_generalized_time(locked_time), duration) {
        (Some(at), Some(d)) if d > 0 => Lock::Until(at.saturating_add(d)),
        _ => Lock::Forever,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times() {
        assert_eq!(parse_generalized_time("19700101000000Z"), Some(0));
        assert_eq!(parse_generalized_time("19700102000001Z"), Some(86_401));
        // 2026-12-03 08:00:00 UTC.
        assert_eq!(
            parse_generalized_time("20261203080000Z"),
            Some(1_796_284_800)
        );
        assert_eq!(
            parse_generalized_time("20261203080000.123456Z"),
            Some(1_796_284_800)
        );
        assert_eq!(parse_generalized_time("202612030800Z"), Some(1_796_284_800));
        assert_eq!(parse_generalized_time("2026120308Z"), Some(1_796_284_800));
        assert_eq!(
            parse_generalized_time("20261203100000+0200"),
            Some(1_796_284_800)
        );
        assert_eq!(
            parse_generalized_time("20261203060000-0200"),
            Some(1_796_284_800)
        );
        // Leap day.
        assert_eq!(
            parse_generalized_time("20240229000000Z"),
            Some(1_709_164_800)
        );
        for bad in [
            "",
            "2026",
            "20261203080000",
            "20261303080000Z",
            "20261203250000Z",
            "20261203080000.Z",
            "20261203080000+02",
            "x0261203080000Z",
        ] {
            assert_eq!(parse_generalized_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn lockout_window() {
        let at = parse_generalized_time("20261203080000Z").unwrap();
        assert_eq!(lock_of("20261203080000Z", Some(300)), Lock::Until(at + 300));
        // Duration 0 or unknown: locked until an administrator unlocks.
        assert_eq!(lock_of("20261203080000Z", Some(0)), Lock::Forever);
        assert_eq!(lock_of("20261203080000Z", None), Lock::Forever);
        // The administrative lock ignores the duration.
        assert_eq!(lock_of(ADMIN_LOCK, Some(300)), Lock::Forever);
        assert_eq!(lock_of("garbage", Some(300)), Lock::Forever);
        assert_eq!(seconds(" 30 "), Some(30));
        assert_eq!(seconds("-1"), None);
        assert_eq!(seconds("x"), None);
    }

    #[test]
    fn ad_max_pwd_age_is_negative_100ns_intervals() {
        // 42 days, as Samba and Windows write it.
        assert_eq!(max_pwd_age_secs("-36288000000000"), Some(42 * 86_400));
        assert_eq!(max_pwd_age_secs("36288000000000"), Some(42 * 86_400));
        assert_eq!(max_pwd_age_secs("-864000000000"), Some(86_400));
        // Never expires.
        assert_eq!(max_pwd_age_secs("0"), None);
        assert_eq!(max_pwd_age_secs("-9223372036854775808"), None);
        assert_eq!(max_pwd_age_secs("-1"), None);
        assert_eq!(max_pwd_age_secs("junk"), None);
    }

    #[test]
    fn the_cache_keeps_values_and_empties_when_full() {
        let c = PolicyCache::default();
        let k = |i: usize| (format!("cn=p{i}"), "pwdlockoutduration".to_string());
        assert_eq!(c.get(&k(0)), None);
        c.put(k(0), Some(30));
        c.put(k(1), None);
        assert_eq!(c.get(&k(0)), Some(Some(30)));
        assert_eq!(c.get(&k(1)), Some(None));
        for i in 2..POLICY_CACHE_MAX + 1 {
            c.put(k(i), Some(i as i64));
        }
        assert_eq!(c.get(&k(0)), None);
        assert_eq!(
            c.get(&k(POLICY_CACHE_MAX)),
            Some(Some(POLICY_CACHE_MAX as i64))
        );
    }
}
