//! `rosterctl test [DOMAIN]`: the "Test connection" button done properly.
//! Each step reports OK or the precise failure, and the steps that depend
//! on a failed one are not run: DNS, TCP, StartTLS, TLS (certificate
//! subject, issuer, expiry, verification, as OpenSSL sees them), the TLS
//! library rosterd's own connection went through (`tls_library`), bind,
//! search bases, what the
//! filters find, the entries the host would refuse, and a sample mapping;
//! and, for NFSv4, this host's ID-mapping domain against the directory's.

mod entries;
mod idmapd;
mod krb;
mod ldap;
mod net;
mod nfs;
mod report;
mod tls;

use super::cli::TestArgs;
use super::context::{idmap_of, select_domains, Ctx};
use super::output::print_json;
use super::progress::Progress;
use report::{DomainReport, Status};
use roster_daemon::config::{agreement_warnings, Config, DomainConfig, DomainSet, TlsLibrary};
use roster_daemon::directory::Directory;
use roster_daemon::uri::Scheme;
use serde_json::json;
use std::process::ExitCode;
use std::sync::Arc;

/// Runs `rosterctl test`.
pub fn run(ctx: &Ctx, args: &TestArgs) -> anyhow::Result<ExitCode> {
    let cfg = match ctx.load_config() {
        Ok(c) => c,
        Err(e) => {
            if ctx.json {
                print_json(
                    &json!({"ok": false, "steps": [{"step": "config", "target": ctx.config_path, "status": "fail", "message": e.to_string()}]}),
                );
            } else {
                println!(
                    "  [FAIL] {:<17} {}: {e}",
                    "config",
                    ctx.config_path.display()
                );
            }
            return Ok(ExitCode::FAILURE);
        }
    };
    let domains = select_domains(&cfg, args.domain.as_deref())?;
    let idmap = Arc::new(idmap_of(&cfg)?);
    let conf_path = args
        .idmapd_conf
        .clone()
        .unwrap_or_else(|| idmapd::DEFAULT_PATH.into());
    let host = idmapd::host(&conf_path);
    let conf_path = conf_path.display().to_string();
    let reports: Vec<DomainReport> = domains
        .iter()
        .map(|d| {
            let r = test_domain(&cfg, d, &idmap, args.sample, (&host, &conf_path));
            if !ctx.json {
                print!("{}", r.render());
            }
            r
        })
        .collect();
    let ok = reports.iter().all(|r| r.ok);
    if ctx.json {
        print_json(&json!({"ok": ok, "nfs": host, "domains": reports}));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs every step for one domain (the `nfs` step, which needs no
/// server, first): `nfs` is this host's ID mapping and idmapd.conf's path.
fn test_domain(
    cfg: &Config,
    d: &DomainConfig,
    idmap: &Arc<DomainSet>,
    sample: usize,
    nfs: (&idmapd::HostIdmap, &str),
) -> DomainReport {
    let mut r = DomainReport::new(&d.name);
    nfs::step(&mut r, d, nfs.0, nfs.1);
    if !d.enabled {
        r.push(
            "config",
            "enabled",
            Status::Warn,
            "the domain is disabled (enabled = false): rosterd does not serve it",
        );
    }
    for (_, message) in agreement_warnings(cfg)
        .into_iter()
        .filter(|(n, _)| *n == d.name)
    {
        r.push("idmap", "backend autorid", Status::Warn, message);
    }
    let uris = if d.discovers_servers() {
        krb::discovery_steps(&mut r, d)
    } else {
        d.uris.clone()
    };
    let mut usable_uri = None;
    for u in &uris {
        if connection_steps(&mut r, d, u) && usable_uri.is_none() {
            usable_uri = Some(u.as_str());
        }
    }
    if let Some(u) = usable_uri {
        directory_steps(&mut r, d, idmap, u, sample);
    }
    r
}

/// DNS, TCP, StartTLS and TLS for one URI; true when all passed.
fn connection_steps(r: &mut DomainReport, d: &DomainConfig, uri_text: &str) -> bool {
    let u = match roster_daemon::uri::parse(uri_text) {
        Ok(u) if u.host.is_empty() || u.scheme == Scheme::Ldapi => {
            let e = format!("{uri_text}: no host to test (ldap:// or ldaps:// with a host)");
            r.push("uri", uri_text, Status::Fail, e);
            return false;
        }
        Ok(u) => u,
        Err(e) => {
            r.push("uri", uri_text, Status::Fail, e.to_string());
            return false;
        }
    };
    let addrs = match net::resolve(&u.host, u.port) {
        Ok(a) => a,
        Err(e) => {
            r.push("dns", uri_text, Status::Fail, e);
            return false;
        }
    };
    let shown: Vec<String> = addrs.iter().map(|a| a.ip().to_string()).collect();
    r.push(
        "dns",
        uri_text,
        Status::Ok,
        format!("{} resolves to {}", u.host, shown.join(", ")),
    );
    let (mut stream, addr, took) = match net::connect(&addrs, d.connect_timeout) {
        Ok(c) => c,
        Err(e) => {
            r.push("tcp", uri_text, Status::Fail, e);
            return false;
        }
    };
    r.push(
        "tcp",
        uri_text,
        Status::Ok,
        format!("connected to {addr} in {} ms", took.as_millis()),
    );
    if !d.uses_tls(uri_text) {
        r.push(
            "tls",
            uri_text,
            Status::Warn,
            "not used: plain LDAP without StartTLS, the bind password crosses the network in clear",
        );
        return true;
    }
    if !u.is_ldaps() {
        if let Err(e) = tls::starttls(&mut stream) {
            r.push("starttls", uri_text, Status::Fail, e);
            return false;
        }
        r.push(
            "starttls",
            uri_text,
            Status::Ok,
            "the server accepted StartTLS",
        );
    }
    match tls::handshake(stream, &u.host, d) {
        Err(e) => {
            r.push("tls", uri_text, Status::Fail, e);
            false
        }
        Ok(info) => {
            let (status, verdict, passed) = match (&info.verified, d.tls_verify) {
                (Ok(()), _) => (Status::Ok, "the certificate verifies".to_string(), true),
                (Err(e), true) => (Status::Fail, format!("the certificate {e}"), false),
                (Err(e), false) => (
                    Status::Warn,
                    format!("the certificate {e}; accepted because tls_verify = false"),
                    true,
                ),
            };
            let (status, verdict) = if info.days_left < 0 {
                (
                    Status::Fail,
                    format!(
                        "{verdict}; the certificate EXPIRED {} ago",
                        days(-info.days_left)
                    ),
                )
            } else if info.days_left < 30 && status == Status::Ok {
                (
                    Status::Warn,
                    format!("{verdict}; it expires in {}", days(info.days_left)),
                )
            } else {
                (status, verdict)
            };
            let step = r.push(
                "tls",
                uri_text,
                status,
                format!("{} ({}): {verdict}", info.protocol, info.cipher),
            );
            step.details = vec![
                format!("subject: {}", info.subject),
                format!("issuer:  {}", info.issuer),
                format!(
                    "expires: {} ({} left)",
                    info.not_after,
                    days(info.days_left.max(0))
                ),
            ];
            passed && info.days_left >= 0
        }
    }
}

/// The search bases as text: `base` or `base (scope, filter)`, `; `-separated.
fn bases_text(bases: &[roster_daemon::config::SearchBase]) -> String {
    let one = |b: &roster_daemon::config::SearchBase| match &b.filter {
        Some(f) => format!("{} ({:?}, {f})", b.base, b.scope),
        None => b.base.clone(),
    };
    bases.iter().map(one).collect::<Vec<_>>().join("; ")
}

/// The TLS library rosterd's own connection to `uri` went through (none
/// without TLS): under `auto`, OpenSSL means rustls refused this server or
/// cannot be set up for the domain (the `tls` step above is OpenSSL's view).
fn tls_library_step(r: &mut DomainReport, d: &DomainConfig, dir: &Directory, uri: &str) {
    let status = dir.status();
    let Some(library) = status
        .servers
        .iter()
        .find(|s| s.uri == uri)
        .and_then(|s| s.tls_library.clone())
    else {
        return;
    };
    let message = match (d.tls_library, library.as_str()) {
        (TlsLibrary::Auto, "openssl") => "OpenSSL: rustls refused this server's handshake or cannot be set up for the domain (rosterd's log says why)".to_string(),
        (_, "openssl") => "OpenSSL".to_string(),
        (_, other) => other.to_string(),
    };
    r.push("tls_library", uri, Status::Ok, message);
}

/// Bind, bases, filters, entries and mapping over the first working URI.
fn directory_steps(
    r: &mut DomainReport,
    d: &DomainConfig,
    idmap: &Arc<DomainSet>,
    uri: &str,
    sample: usize,
) {
    let dir = match Directory::new(d.clone(), Arc::clone(idmap)) {
        Ok(dir) => dir,
        Err(e) => {
            r.push("connect", uri, Status::Fail, e.to_string());
            return;
        }
    };
    let mut conn = match ldap::Session::open(&dir, uri) {
        Ok(c) => c,
        Err(e) => {
            r.push("connect", uri, Status::Fail, e);
            return;
        }
    };
    tls_library_step(r, d, &dir, uri);
    let who = d.bind_dn.clone().unwrap_or_else(|| "(anonymous)".into());
    match conn.bind() {
        Ok(m) => r.push("bind", who, Status::Ok, m),
        Err(e) => {
            r.push("bind", who, Status::Fail, e);
            return;
        }
    };
    if let Some(keytab) = crate::join::keytab_to_check(d) {
        krb::keytab_steps(r, d, &keytab, &mut conn);
    }
    let mut bases = vec![("base_dn", d.base_dn.clone())];
    bases.extend(
        d.user_bases()
            .into_iter()
            .map(|b| ("user_search_base", b.base)),
    );
    bases.extend(
        d.group_bases()
            .into_iter()
            .map(|b| ("group_search_base", b.base)),
    );
    for (i, (step, dn)) in bases.iter().enumerate() {
        if i > 0 && bases[..i].iter().any(|(_, seen)| seen == dn) {
            continue;
        }
        match conn.base_exists(dn) {
            Ok(()) => r.push(step, dn.as_str(), Status::Ok, "exists"),
            Err(e) => {
                r.push(step, dn.as_str(), Status::Fail, e);
                return;
            }
        };
    }
    let a = &d.attributes;
    let mut progress = Progress::new(format!("{}: reading users", d.name));
    let users = conn.scan(true);
    if let Ok(u) = &users {
        progress.tick(u.len());
    }
    progress.finish();
    let users = match users {
        Ok(u) => u,
        Err(e) => {
            r.push("users", d.user_filter.clone(), Status::Fail, e);
            return;
        }
    };
    let mut progress = Progress::new(format!("{}: reading groups", d.name));
    let groups = conn.scan(false);
    if let Ok(g) = &groups {
        progress.tick(g.len());
    }
    progress.finish();
    let groups = match groups {
        Ok(g) => g,
        Err(e) => {
            r.push("groups", d.group_filter().to_string(), Status::Fail, e);
            return;
        }
    };
    let (good_users, mut refused_users) = entries::users(&dir, &users);
    let good_users = entries::drop_duplicates(good_users, &mut refused_users, &a.uid_number);
    let (good_groups, mut refused_groups) = entries::groups(&dir, &groups);
    let good_groups = entries::drop_duplicates(good_groups, &mut refused_groups, &a.gid_number);
    // Local accounts win: read as the daemon reads them.
    let local = roster_daemon::resolver::local::LocalAccounts::system();
    let any_case = dir.case_insensitive_names();
    let good_users = entries::drop_local(good_users, &mut refused_users, &local, any_case);
    let good_groups = entries::drop_local(good_groups, &mut refused_groups, &local, any_case);
    let good_group_names: Vec<String> = good_groups.iter().map(|g| g.name.clone()).collect();
    let good_groups = good_groups.len();
    r.rejected_users = refused_users;
    r.rejected_groups = refused_groups;
    r.users_found = Some(users.len());
    r.groups_found = Some(groups.len());
    let count_status = |n: usize| if n == 0 { Status::Warn } else { Status::Ok };
    r.push(
        "users",
        format!("{} under {}", d.user_filter, bases_text(&d.user_bases())),
        count_status(good_users.len()),
        format!(
            "{} entries found, {} usable, {} refused",
            users.len(),
            good_users.len(),
            r.rejected_users.len()
        ),
    );
    r.push(
        "groups",
        format!(
            "{} under {}",
            d.group_filter(),
            bases_text(&d.group_bases())
        ),
        count_status(good_groups),
        format!(
            "{} entries found, {} usable, {} refused",
            groups.len(),
            good_groups,
            r.rejected_groups.len()
        ),
    );
    let (message, bad_keys) = entries::ssh_keys(&a.ssh_public_key, &users, &good_users);
    let keys_status = if bad_keys.is_empty() {
        Status::Ok
    } else {
        Status::Warn
    };
    r.push(
        "ssh keys",
        format!("attribute {}", a.ssh_public_key),
        keys_status,
        message,
    )
    .details = bad_keys;
    let refs = dir.referral_counts();
    let (target, status, message) = if d.follows_referrals() {
        (
            format!("followed up to {} deep", d.referral_hops),
            if refs.skipped > 0 {
                Status::Warn
            } else {
                Status::Ok
            },
            format!(
                "{} seen, {} followed, {} skipped",
                refs.seen, refs.followed, refs.skipped
            ),
        )
    } else {
        (
            "referrals = false".to_string(),
            Status::Ok,
            format!("{} seen, 0 followed, {} skipped", refs.seen, refs.skipped),
        )
    };
    r.push("referrals", target, status, message).details = refs
        .skipped_urls
        .iter()
        .map(|u| format!("skipped: {u}"))
        .collect();
    let refused = r.rejected_users.len() + r.rejected_groups.len();
    let details: Vec<String> = r
        .rejected_users
        .iter()
        .map(|x| format!("user  {}: {}", x.dn, x.reason))
        .chain(
            r.rejected_groups
                .iter()
                .map(|x| format!("group {}: {}", x.dn, x.reason)),
        )
        .collect();
    let step = if refused == 0 {
        r.push(
            "entries",
            d.name.clone(),
            Status::Ok,
            "every entry has valid names and IDs in range",
        )
    } else {
        r.push(
            "entries",
            d.name.clone(),
            Status::Warn,
            format!(
                "{refused} entries are refused (missing uidNumber, IDs out of range or below min_id {}, bad or ambiguous names)",
                d.min_id
            ),
        )
    };
    step.details = details;
    if !d.limit_to_groups.is_empty() {
        let missing: Vec<&str> = d
            .limit_to_groups
            .iter()
            .filter(|g| !good_group_names.iter().any(|n| n == *g))
            .map(String::as_str)
            .collect();
        let target = d.limit_to_groups.join(", ");
        if missing.is_empty() {
            r.push(
                "limit_to_groups",
                target,
                Status::Ok,
                "every group exists: only their members are served",
            );
        } else {
            r.push(
                "limit_to_groups",
                target,
                Status::Warn,
                format!(
                    "no usable group called {} under {}: its members are not served",
                    missing.join(", "),
                    d.group_base()
                ),
            );
        }
    }
    r.sample = good_users.into_iter().take(sample).collect();
    let lines: Vec<String> = r
        .sample
        .iter()
        .map(|u| {
            format!(
                "{} -> uid {}, gid {} ({})",
                u.name,
                u.uid.unwrap_or(0),
                u.gid,
                u.dn
            )
        })
        .collect();
    let msg = format!(
        "{} sample users, IDs from {}/{}",
        lines.len(),
        a.uid_number,
        a.gid_number
    );
    r.push("mapping", d.name.clone(), Status::Ok, msg).details = lines;
}

/// `1 day`, `3 days`.
fn days(n: i32) -> String {
    if n == 1 {
        "1 day".into()
    } else {
        format!("{n} days")
    }
}
