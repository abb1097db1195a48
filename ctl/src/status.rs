//! `rosterctl status`: is rosterd up, each domain online or offline with the
//! server in use, the last error and when, since when it is offline, and the
//! cache's entries and hit rate (`Request::Status`: the whole report on
//! pam.sock as root, the public one on nss.sock otherwise).

use super::context::Ctx;
use super::daemon::{self, DaemonError};
use super::output::{print_json, render_text};
use roster_daemon::clock::unix_secs as now;
use serde_json::{json, Value};
use std::fmt::Write as _;
use std::process::ExitCode;

/// Runs `rosterctl status`.
pub fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match daemon::status(ctx) {
        Ok(report) => {
            let doc = report.document();
            if ctx.json {
                let mut doc = doc;
                if let Some(map) = doc.as_object_mut() {
                    map.entry("running").or_insert(Value::Bool(true));
                }
                print_json(&doc);
            } else {
                print!("{}", human(&doc, now()));
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(DaemonError::NotRunning(path)) => {
            if ctx.json {
                print_json(&json!({"running": false, "socket": path}));
            } else {
                println!("rosterd is not running (nothing answers at {path})");
            }
            Ok(ExitCode::FAILURE)
        }
        Err(e) => Err(e.into()),
    }
}

/// " over rustls": the TLS library of server `uri` of domain `d` (nothing
/// without TLS, or from an older rosterd).
fn tls_of(d: &Value, uri: &str) -> String {
    d["servers"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|s| s["uri"].as_str() == Some(uri))
        .and_then(|s| s["tls_library"].as_str())
        .map(|l| format!(" over {l}"))
        .unwrap_or_default()
}

/// The text form of the status document.
fn human(doc: &Value, now: u64) -> String {
    let mut out = String::new();
    let version = doc["version"].as_str().unwrap_or("?");
    let up = doc["uptime_s"]
        .as_u64()
        .map(|s| format!(", up {}", span(s)))
        .unwrap_or_default();
    let _ = writeln!(out, "rosterd {version} is running{up}");
    for d in doc["domains"].as_array().into_iter().flatten() {
        let name = d["name"].as_str().or(d["domain"].as_str()).unwrap_or("?");
        let online = d["online"].as_bool();
        let state = match online {
            Some(true) => "online",
            Some(false) => "OFFLINE",
            None => "state unknown",
        };
        let server = d["server"]
            .as_str()
            .map(|s| format!(", server {s}{}", tls_of(d, s)))
            .unwrap_or_else(|| ", no server in use".into());
        let _ = writeln!(out, "domain {name}: {state}{server}");
        if let Some(since) = d["offline_since"].as_u64() {
            let retry = d["next_probe_in_ms"]
                .as_u64()
                .map(|ms| format!("; next retry in {}", span(ms.div_ceil(1000))))
                .unwrap_or_default();
            let _ = writeln!(out, "  offline since: {}{retry}", when(since, now));
        }
        if let Some(err) = d["last_error"].as_str() {
            let at = d["last_error_at"]
                .as_u64()
                .map(|t| format!(" ({})", when(t, now)))
                .unwrap_or_default();
            let _ = writeln!(out, "  last error: {err}{at}");
        }
        if d["kerberos"].is_object() {
            kerberos_text(&mut out, &d["kerberos"], now);
        }
        if d["census"].is_object() {
            census_text(&mut out, &d["census"], now);
        }
    }
    let c = &doc["cache"];
    // The memory cache's lines name its path: the report's own
    // `memory_cache` (the path) is then not repeated below.
    let mut mc_shown = false;
    if c.is_object() {
        let n = |k: &str| c[k].as_u64().unwrap_or(0);
        let (hits, misses) = (n("hits"), n("misses"));
        let rate = if hits + misses > 0 {
            format!("{:.1}%", 100.0 * hits as f64 / (hits + misses) as f64)
        } else {
            "-".into()
        };
        let _ = writeln!(
            out,
            "cache: {} entries (max {}), {} in the offline store; hits {hits}, misses {misses}, hit rate {rate}; {} offline answers",
            n("entries"),
            n("max_entries"),
            n("persistent_entries"),
            n("offline_answers")
        );
        if let Some(mc) = super::cache::memory_cache_text(&c["memory_cache"]) {
            out.push_str(&mc);
            mc_shown = true;
        }
    }
    let p = &doc["process"];
    if let Some(rss) = p["rss_kib"].as_u64() {
        let opt = |k: &str| p[k].as_u64().map_or("?".to_string(), |v| v.to_string());
        let mut parts = Vec::new();
        if let Some(anon) = p["rss_anon_kib"].as_u64() {
            parts.push(format!("heap {}", mib(anon)));
        }
        if let Some(file) = p["rss_file_kib"].as_u64() {
            parts.push(format!(
                "mapped files {} (mostly the shared nss.mc table)",
                mib(file)
            ));
        }
        if let Some(peak) = p["rss_peak_kib"].as_u64() {
            parts.push(format!("peak {}", mib(peak)));
        }
        let detail = if parts.is_empty() {
            String::new()
        } else {
            format!(" ({})", parts.join(", "))
        };
        let _ = writeln!(
            out,
            "memory: RSS {}{detail}; {} threads, {} open descriptors",
            mib(rss),
            opt("threads"),
            opt("fds")
        );
    }
    if let Some(refused) = doc["refused_entries"].as_array() {
        refused_text(&mut out, refused);
    }
    let known = [
        "version",
        "uptime_s",
        "domains",
        "cache",
        "process",
        "refused_entries",
        if mc_shown { "memory_cache" } else { "" },
    ];
    let rest: serde_json::Map<String, Value> = doc
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, _)| !known.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    if !rest.is_empty() {
        out.push_str(&render_text(&Value::Object(rest)));
    }
    out
}

/// A domain's census of names and IDs: entries counted and when, or why
/// the last listing failed.
fn census_text(out: &mut String, c: &Value, now: u64) {
    let part = |kind: &str| match (c[kind].as_u64(), c[format!("{kind}_taken_at")].as_u64()) {
        (Some(n), Some(at)) => format!("{n} {kind} ({})", when(at, now)),
        _ => format!("no {kind} yet"),
    };
    let mut line = format!("  census: {}, {}", part("users"), part("groups"));
    if let Some(n) = c["checks_answered"].as_u64().filter(|&n| n > 0) {
        line.push_str(&format!(", {n} checks answered"));
    }
    if let Some(n) = c["left_to_record"].as_u64().filter(|&n| n > 0) {
        line.push_str(&format!(", {n} entries still to record"));
    }
    if let Some(err) = c["last_error"].as_str() {
        line.push_str(&format!("; last failure: {err}"));
    }
    let _ = writeln!(out, "{line}");
}

/// A GSSAPI domain's host TGT: its principal, when the TGT ends, its last
/// renewal, the next one and the last renewal error.
fn kerberos_text(out: &mut String, k: &Value, now: u64) {
    let principal = k["principal"].as_str().unwrap_or("?");
    let tgt = match k["tgt_end"].as_u64() {
        Some(end) if end > now => format!("TGT ends {} (in {})", utc(end), span(end - now)),
        Some(end) => format!("TGT ENDED {}", when(end, now)),
        None => "no TGT yet".to_string(),
    };
    let mut parts = vec![format!("host principal {principal}"), tgt];
    if let Some(last) = k["last_renewal"].as_u64() {
        let n = k["renewals"].as_u64().unwrap_or(0);
        parts.push(format!("acquired {} ({n} since start)", when(last, now)));
    }
    if let Some(next) = k["next_renewal"].as_u64() {
        parts.push(format!(
            "next renewal in {}",
            span(next.saturating_sub(now))
        ));
    }
    let _ = writeln!(out, "  kerberos: {}", parts.join("; "));
    if let Some(err) = k["last_renewal_error"].as_str() {
        let at = k["last_renewal_error_at"]
            .as_u64()
            .map(|t| format!(" ({})", when(t, now)))
            .unwrap_or_default();
        let _ = writeln!(out, "  last renewal error: {err}{at}");
    }
}

/// Refused entries shown in the text form; `--json` lists them all.
const REFUSED_SHOWN: usize = 10;

/// "refused entries: N" and the first [`REFUSED_SHOWN`] (domain, DN, reason).
fn refused_text(out: &mut String, refused: &[Value]) {
    let _ = writeln!(out, "refused entries: {}", refused.len());
    for e in refused.iter().take(REFUSED_SHOWN) {
        let s = |k: &str| e[k].as_str().unwrap_or("?").to_string();
        let _ = writeln!(
            out,
            "  domain {}: {}: {}",
            s("domain"),
            s("dn"),
            s("reason")
        );
    }
    if refused.len() > REFUSED_SHOWN {
        let _ = writeln!(
            out,
            "  ... and {} more (rosterctl status --json lists them all)",
            refused.len() - REFUSED_SHOWN
        );
    }
}

/// KiB as `12.3 MiB`.
fn mib(kib: u64) -> String {
    format!("{:.1} MiB", kib as f64 / 1024.0)
}

/// `2026-11-23 16:05:00 UTC (3m ago)`.
fn when(t: u64, now: u64) -> String {
    format!("{} ({} ago)", utc(t), span(now.saturating_sub(t)))
}

/// A duration as `1d 2h`, `3h 4m`, `5m 6s` or `7s`.
fn span(s: u64) -> String {
    let (d, h, m, sec) = (s / 86400, s / 3600 % 24, s / 60 % 60, s % 60);
    if d > 0 {
        format!("{d}d {h}h")
    } else if h > 0 {
        format!("{h}h {m}m")
    } else if m > 0 {
        format!("{m}m {sec}s")
    } else {
        format!("{sec}s")
    }
}

/// Unix seconds as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian calendar).
fn utc(t: u64) -> String {
    let days = (t / 86400) as i64;
    let rem = t % 86400;
    // Days since 1970-01-01 to a civil date (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_spans() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00:00 UTC");
        assert_eq!(utc(1_795_453_200), "2026-11-23 17:00:00 UTC");
        assert_eq!(span(59), "59s");
        assert_eq!(span(3725), "1h 2m");
        assert_eq!(span(90_000), "1d 1h");
    }

    #[test]
    fn the_text_form_shows_domains_errors_and_hit_rate() {
        let doc = json!({
            "version": "0.1.0", "uptime_s": 65,
            "domains": [{"name": "corp", "online": false, "server": null,
                          "last_error": "connection refused", "last_error_at": 1000, "offline_since": 940,
                          "next_probe_in_ms": 1500}],
            "cache": {"entries": 3, "max_entries": 100, "persistent_entries": 2, "hits": 9, "misses": 1, "offline_answers": 4},
            "process": {"rss_kib": 18022, "rss_anon_kib": 10240, "rss_file_kib": 7782, "rss_peak_kib": 25600, "threads": 5, "fds": 17},
        });
        let t = human(&doc, 1060);
        assert!(t.starts_with("rosterd 0.1.0 is running, up 1m 5s\n"), "{t}");
        assert!(
            t.contains("domain corp: OFFLINE, no server in use\n"),
            "{t}"
        );
        assert!(
            t.contains("  offline since: 1970-01-01 00:15:40 UTC (2m 0s ago); next retry in 2s\n"),
            "{t}"
        );
        assert!(
            t.contains("  last error: connection refused (1970-01-01 00:16:40 UTC (1m 0s ago))\n"),
            "{t}"
        );
        assert!(
            t.contains("hits 9, misses 1, hit rate 90.0%; 4 offline answers\nmemory: RSS 17.6 MiB (heap 10.0 MiB, mapped files 7.6 MiB (mostly the shared nss.mc table), peak 25.0 MiB); 5 threads, 17 open descriptors\n"),
            "{t}"
        );
        assert!(!t.contains("process"), "{t}");
        assert!(!t.contains("refused entries"), "{t}");
    }

    #[test]
    fn the_text_form_names_the_tls_library_of_the_server_in_use() {
        let doc = json!({
            "domains": [
                {"name": "corp", "online": true, "server": "ldaps://b",
                 "servers": [{"uri": "ldaps://a", "tls_library": "rustls"},
                             {"uri": "ldaps://b", "tls_library": "openssl"}]},
                {"name": "plain", "online": true, "server": "ldap://c",
                 "servers": [{"uri": "ldap://c"}]}],
        });
        let t = human(&doc, 0);
        assert!(
            t.contains("domain corp: online, server ldaps://b over openssl\n"),
            "{t}"
        );
        assert!(t.contains("domain plain: online, server ldap://c\n"), "{t}");
    }

    #[test]
    fn the_text_form_shows_the_memory_cache_once() {
        let mc = json!({"path": "/run/roster/nss.mc", "file_bytes": 8u64 << 20,
                        "allocated_bytes": 1u64 << 20, "size_limit": 32u64 << 20,
                        "records_bytes": 1u64 << 19, "records_capacity": 7u64 << 20, "slots": 65536});
        let doc = json!({
            "version": "0.1.0",
            "cache": {"entries": 3, "memory_cache": mc},
            "memory_cache": "/run/roster/nss.mc",
        });
        let t = human(&doc, 1060);
        assert!(
            t.contains("offline answers\nmemory cache: /run/roster/nss.mc\n  file: 8.0 MiB (1.0 MiB allocated), at most 32.0 MiB ([nss] memcache_size)\n  records: 512.0 KiB of 7.0 MiB (7% full), 65536 slots\n"),
            "{t}"
        );
        assert_eq!(t.matches("nss.mc").count(), 1, "{t}");
        // An older report: the path alone, as before.
        let doc = json!({"version": "0.1.0", "cache": {"entries": 3},
                         "memory_cache": "/run/roster/nss.mc"});
        assert!(human(&doc, 1060).contains("memory cache: /run/roster/nss.mc\n"));
    }

    #[test]
    fn the_text_form_shows_each_domains_census() {
        let doc = json!({
            "version": "0.1.0",
            "domains": [{"name": "corp", "online": true, "server": "ldap://l1",
                          "census": {"users": 10000, "users_taken_at": 1000, "groups": 2000,
                                     "groups_taken_at": 1030, "checks_answered": 12}},
                         {"name": "down", "online": false,
                          "census": {"last_error": "users: domain down: no server answers"}},
                         {"name": "busy", "online": true, "server": "ldap://l2",
                          "census": {"users": 5, "users_taken_at": 1000, "groups": 2,
                                     "groups_taken_at": 1000, "checks_answered": 900,
                                     "left_to_record": 700}}],
        });
        let t = human(&doc, 1060);
        assert!(
            t.contains("domain corp: online, server ldap://l1\n  census: 10000 users (1970-01-01 00:16:40 UTC (1m 0s ago)), 2000 groups (1970-01-01 00:17:10 UTC (30s ago)), 12 checks answered\n"),
            "{t}"
        );
        assert!(
            t.contains("2 groups (1970-01-01 00:16:40 UTC (1m 0s ago)), 900 checks answered, 700 entries still to record\n"),
            "{t}"
        );
        assert!(
            t.contains("  census: no users yet, no groups yet; last failure: users: domain down: no server answers\n"),
            "{t}"
        );
    }

    #[test]
    fn the_text_form_shows_the_host_tgt_of_a_gssapi_domain() {
        let doc = json!({
            "version": "0.1.0",
            "domains": [{"name": "ad", "online": true, "server": "ldap://dc1",
                          "kerberos": {"principal": "HOST$@AD.TEST", "tgt_end": 1100,
                                       "last_renewal": 1000, "renewals": 2, "next_renewal": 1075,
                                       "last_renewal_error": "no KDC answers", "last_renewal_error_at": 940}},
                         {"name": "new", "online": true, "kerberos": {"principal": "NEW$@AD.TEST"}},
                         {"name": "old", "online": true, "kerberos": {"principal": "OLD$@AD.TEST", "tgt_end": 1000}}],
        });
        let t = human(&doc, 1060);
        assert!(
            t.contains("domain ad: online, server ldap://dc1\n  kerberos: host principal HOST$@AD.TEST; TGT ends 1970-01-01 00:18:20 UTC (in 40s); acquired 1970-01-01 00:16:40 UTC (1m 0s ago) (2 since start); next renewal in 15s\n  last renewal error: no KDC answers (1970-01-01 00:15:40 UTC (2m 0s ago))\n"),
            "{t}"
        );
        assert!(
            t.contains("  kerberos: host principal NEW$@AD.TEST; no TGT yet\n"),
            "{t}"
        );
        assert!(
            t.contains("  kerberos: host principal OLD$@AD.TEST; TGT ENDED 1970-01-01 00:16:40 UTC (1m 0s ago)\n"),
            "{t}"
        );
    }

    #[test]
    fn the_text_form_counts_refused_entries_and_shows_the_first() {
        let entry = |i: usize| {
            json!({"domain": "corp", "dn": format!("uid=u{i:02},dc=corp"),
                   "reason": "uid 34 is a local user's (backup)"})
        };
        let doc = json!({"version": "0.1.0",
                         "refused_entries": (0..12).map(entry).collect::<Vec<_>>()});
        let t = human(&doc, 0);
        assert!(t.contains("refused entries: 12\n"), "{t}");
        assert!(
            t.contains("  domain corp: uid=u00,dc=corp: uid 34 is a local user's (backup)\n"),
            "{t}"
        );
        assert!(t.contains("uid=u09,dc=corp"), "{t}");
        assert!(!t.contains("uid=u10,dc=corp"), "{t}");
        assert!(t.contains("  ... and 2 more"), "{t}");
        let none = human(&json!({"version": "0.1.0", "refused_entries": []}), 0);
        assert!(none.contains("refused entries: 0\n"), "{none}");
        assert!(!none.contains("  domain"), "{none}");
    }
}
