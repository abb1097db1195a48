//! The steps of an AD domain's Kerberos side: the DCs and KDCs DNS gives
//! (a domain without `uris`), the host keytab (readable, its principals
//! and enctypes, its key version against the computer object's
//! `msDS-KeyVersionNumber`) and the clock skew against the DC's
//! `currentTime` (Kerberos refuses more than 5 minutes by default).

use super::ldap::Session;
use super::report::{DomainReport, Status};
use crate::keytab::{self, KeytabEntry};
use ldap3::Scope;
use roster_daemon::config::DomainConfig;
use roster_daemon::directory::discovery::{self, SystemResolver};
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// Kerberos' default maximum clock skew.
pub const MAX_SKEW_SECS: i64 = 300;

/// The `discovery` and `kdc` steps of a domain without `uris`; returns the
/// DCs' URIs in the order rosterd tries them (empty when DNS gave none).
pub fn discovery_steps(r: &mut DomainReport, d: &DomainConfig) -> Vec<String> {
    let Some(domain) = d.dns_domain() else {
        r.push(
            "discovery",
            d.base_dn.clone(),
            Status::Fail,
            "no uris and no DNS domain to find the DCs in: set ad_domain or uris",
        );
        return Vec::new();
    };
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            r.push(
                "discovery",
                domain,
                Status::Fail,
                format!("no runtime: {e}"),
            );
            return Vec::new();
        }
    };
    let bound = d.connect_timeout + d.op_timeout;
    let dcs = rt.block_on(async {
        tokio::time::timeout(
            bound,
            discovery::domain_controllers(
                &SystemResolver,
                &domain,
                d.ad_site.as_deref(),
                discovery::random_pick,
            ),
        )
        .await
    });
    let names = discovery::dc_names(&domain, d.ad_site.as_deref()).join(", ");
    let uris = match dcs {
        Ok(Ok(found)) => {
            let shown: Vec<String> = found
                .servers
                .iter()
                .map(|s| {
                    format!(
                        "{}:{} (priority {}, weight {})",
                        s.host, s.port, s.priority, s.weight
                    )
                })
                .collect();
            r.push(
                "discovery",
                found.names.join(", "),
                Status::Ok,
                format!(
                    "{} domain controller(s), kept {} s: {}",
                    found.servers.len(),
                    found.ttl.as_secs(),
                    shown.join(", ")
                ),
            );
            found.servers.iter().map(|s| s.ldap_uri()).collect()
        }
        Ok(Err(e)) => {
            r.push(
                "discovery",
                names,
                Status::Fail,
                format!("no domain controller in DNS: {e}"),
            );
            Vec::new()
        }
        Err(_) => {
            r.push(
                "discovery",
                names,
                Status::Fail,
                format!("DNS gave no answer within {bound:?}"),
            );
            Vec::new()
        }
    };
    let kdcs = rt.block_on(async {
        tokio::time::timeout(
            bound,
            discovery::kdcs(&SystemResolver, &domain, discovery::random_pick),
        )
        .await
    });
    let target = format!("_kerberos._tcp.{domain}");
    match kdcs {
        Ok(Ok(found)) => {
            let shown: Vec<String> = found
                .servers
                .iter()
                .map(|s| format!("{}:{}", s.host, s.port))
                .collect();
            r.push(
                "kdc",
                target,
                Status::Ok,
                format!("KDCs: {}", shown.join(", ")),
            )
        }
        Ok(Err(e)) => r.push("kdc", target, Status::Warn, format!("no KDC in DNS: {e}")),
        Err(_) => r.push("kdc", target, Status::Warn, "DNS gave no answer"),
    };
    uris
}

/// The `keytab`, `enctypes`, `kvno` and `clock` steps, on a bound session.
pub fn keytab_steps(r: &mut DomainReport, d: &DomainConfig, path: &Path, conn: &mut Session) {
    clock_step(r, conn);
    let target = path.display().to_string();
    let keys = match keytab::read(path) {
        Ok(k) => k,
        Err(e) => {
            r.push(
                "keytab",
                target,
                Status::Fail,
                format!("{e} (run rosterctl join {})", d.name),
            );
            return;
        }
    };
    if keys.is_empty() {
        r.push("keytab", target, Status::Fail, "no key in the keytab");
        return;
    }
    let mut principals: Vec<&str> = keys.iter().map(|k| k.principal.as_str()).collect();
    principals.dedup();
    r.push(
        "keytab",
        target.clone(),
        Status::Ok,
        format!("{} keys of {}", keys.len(), principals.join(", ")),
    )
    .details = keys
        .iter()
        .map(|k| {
            format!(
                "kvno {} {} {}",
                k.kvno,
                keytab::enctype_name(k.enctype),
                k.principal
            )
        })
        .collect();
    let mut enctypes: Vec<u16> = keys.iter().map(|k| k.enctype).collect();
    enctypes.sort_unstable();
    enctypes.dedup();
    let names: Vec<String> = enctypes.iter().map(|e| keytab::enctype_name(*e)).collect();
    if enctypes.iter().any(|e| keytab::is_strong(*e)) {
        r.push("enctypes", target.clone(), Status::Ok, names.join(", "));
    } else {
        r.push(
            "enctypes",
            target.clone(),
            Status::Warn,
            format!(
                "no AES key ({}): current DCs refuse DES and may refuse RC4",
                names.join(", ")
            ),
        );
    }
    kvno_step(r, d, &keys, conn);
}

/// The machine account's keys against its object's msDS-KeyVersionNumber.
fn kvno_step(r: &mut DomainReport, d: &DomainConfig, keys: &[KeytabEntry], conn: &mut Session) {
    let realm = d.realm().unwrap_or_default();
    let Some(account) = keys.iter().find_map(|k| {
        k.principal
            .strip_suffix(&format!("@{realm}"))
            .filter(|p| p.ends_with('$') && !p.contains('/'))
    }) else {
        r.push(
            "kvno",
            realm,
            Status::Fail,
            "the keytab has no computer account key (NAME$) of this realm",
        );
        return;
    };
    let ours = keys
        .iter()
        .filter(|k| k.principal == format!("{account}@{realm}"))
        .map(|k| k.kvno)
        .max()
        .unwrap_or(0);
    let filter = format!(
        "(&(objectClass=computer)(sAMAccountName={}))",
        ldap3::ldap_escape(account)
    );
    let found = conn.read(
        &d.base_dn,
        Scope::Subtree,
        &filter,
        &["msDS-KeyVersionNumber"],
    );
    let target = format!("{account} under {}", d.base_dn);
    match found {
        Err(e) => r.push("kvno", target, Status::Fail, e),
        Ok(entries) => match entries.first() {
            None => r.push(
                "kvno",
                target,
                Status::Fail,
                format!("no computer account {account} in the directory: the host is not joined (rosterctl join {})", d.name),
            ),
            Some(e) => {
                let dc = e
                    .attrs
                    .get("msDS-KeyVersionNumber")
                    .and_then(|v| v.first())
                    .and_then(|v| v.parse::<u32>().ok());
                match dc {
                    Some(v) if v == ours => r.push(
                        "kvno",
                        target,
                        Status::Ok,
                        format!("kvno {ours} in the keytab and on the DC ({})", e.dn),
                    ),
                    Some(v) => r.push(
                        "kvno",
                        target,
                        Status::Fail,
                        format!("the keytab holds kvno {ours}, the DC {v} ({}): the keys are stale, join again", e.dn),
                    ),
                    None => r.push(
                        "kvno",
                        target,
                        Status::Warn,
                        format!("{} has no readable msDS-KeyVersionNumber (keytab kvno {ours})", e.dn),
                    ),
                }
            }
        },
    };
}

/// The DC's `currentTime` (rootDSE) against this host's clock.
fn clock_step(r: &mut DomainReport, conn: &mut Session) {
    let found = conn.read("", Scope::Base, "(objectClass=*)", &["currentTime"]);
    let time = found
        .as_ref()
        .ok()
        .and_then(|e| e.first()?.attrs.get("currentTime")?.first().cloned());
    let Some(text) = time else {
        let why = found
            .err()
            .unwrap_or_else(|| "the rootDSE has no currentTime".into());
        r.push("clock", "rootDSE currentTime", Status::Warn, why);
        return;
    };
    let Some(dc) = generalized_time(&text) else {
        r.push(
            "clock",
            "rootDSE currentTime",
            Status::Warn,
            format!("cannot read currentTime {text:?}"),
        );
        return;
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let skew = now - dc;
    let message = format!(
        "this host's clock is {} s {} the DC's ({text})",
        skew.abs(),
        if skew >= 0 { "ahead of" } else { "behind" }
    );
    let status = if skew.abs() > MAX_SKEW_SECS {
        Status::Warn
    } else {
        Status::Ok
    };
    let message = if status == Status::Warn {
        format!("{message}: more than {MAX_SKEW_SECS} s, Kerberos will refuse tickets; synchronise the clock (NTP)")
    } else {
        message
    };
    r.push("clock", "rootDSE currentTime", status, message);
}

/// Seconds since the epoch of an LDAP GeneralizedTime in UTC
/// (`YYYYMMDDHHMMSS[.f]Z`).
pub fn generalized_time(t: &str) -> Option<i64> {
    let digits = t.get(..14)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) || !t.ends_with('Z') {
        return None;
    }
    let n = |a: usize, b: usize| digits[a..b].parse::<i64>().ok();
    let (y, mo, d) = (n(0, 4)?, n(4, 6)?, n(6, 8)?);
    let (h, mi, s) = (n(8, 10)?, n(10, 12)?, n(12, 14)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generalized_times() {
        assert_eq!(generalized_time("19700101000000.0Z"), Some(0));
        assert_eq!(generalized_time("20000301000000Z"), Some(951_868_800));
        assert_eq!(generalized_time("20261203081500.0Z"), Some(1_796_285_700));
        assert_eq!(generalized_time("2026120308150"), None);
        assert_eq!(generalized_time("20261303081500.0Z"), None);
    }
}
