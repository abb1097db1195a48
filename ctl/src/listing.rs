//! `rosterctl users|groups [DOMAIN]`: what the directory yields for this
//! host after the filters, `limit_to_groups`, the entry checks and the ID
//! mapping — read straight from the directory with the daemon's own
//! [`Directory`] code and the configuration (no daemon needed).

use super::cli::ListArgs;
use super::context::{idmap_of, select_domains, Ctx};
use super::output::print_json;
use super::progress::Spinner;
use anyhow::{anyhow, Context as _};
use roster_daemon::directory::Directory;
use serde_json::{json, Value};
use std::process::ExitCode;
use std::sync::Arc;

/// Users or groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `rosterctl users`.
    Users,
    /// `rosterctl groups`.
    Groups,
}

impl Kind {
    fn word(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
        }
    }
}

/// Runs `rosterctl users` or `rosterctl groups`.
pub fn run(ctx: &Ctx, args: &ListArgs, kind: Kind) -> anyhow::Result<ExitCode> {
    let cfg = ctx.load_config()?;
    let domains = select_domains(&cfg, args.domain.as_deref())?;
    let idmap = Arc::new(idmap_of(&cfg)?);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = Vec::new();
    for d in domains {
        let dir = Directory::new(d.clone(), Arc::clone(&idmap))
            .map_err(|e| anyhow!("domain \"{}\": {e}", d.name))?;
        let spinner = Spinner::start(format!(
            "{}: reading {} from the directory",
            d.name,
            kind.word()
        ));
        let rows = match kind {
            Kind::Users => rt.block_on(dir.all_users()).map(|v| {
                v.into_iter()
                    .map(|u| {
                        json!({"name": u.user.name, "uid": u.user.uid, "gid": u.user.gid, "gecos": u.user.gecos,
                               "home": u.user.home, "shell": u.user.shell, "dn": u.dn, "domain": u.domain})
                    })
                    .collect::<Vec<Value>>()
            }),
            Kind::Groups => rt.block_on(dir.all_groups()).map(|v| {
                v.into_iter()
                    .map(|g| json!({"name": g.group.name, "gid": g.group.gid, "members": g.group.members, "dn": g.dn, "domain": g.domain}))
                    .collect::<Vec<Value>>()
            }),
        };
        drop(spinner);
        let mut rows = rows.map_err(|e| {
            anyhow!(
                "domain \"{}\": {e} (run `rosterctl test {}` for details)",
                d.name,
                d.name
            )
        })?;
        rows.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        out.push((d.name.clone(), rows));
    }
    if ctx.json {
        let v: Vec<Value> = out
            .iter()
            .map(|(name, rows)| json!({"domain": name, "entries": rows}))
            .collect();
        print_json(&json!({"domains": v}));
    } else {
        print_table(&out, kind);
    }
    Ok(ExitCode::SUCCESS)
}

fn print_table(out: &[(String, Vec<Value>)], kind: Kind) {
    let s = |v: &Value, k: &str| v[k].as_str().unwrap_or("").to_string();
    let n = |v: &Value, k: &str| v[k].as_u64().unwrap_or(0);
    match kind {
        Kind::Users => println!(
            "{:<20} {:>10} {:>10} {:<12} {:<24} {:<16} DN",
            "NAME", "UID", "GID", "DOMAIN", "HOME", "SHELL"
        ),
        Kind::Groups => println!(
            "{:<20} {:>10} {:>8} {:<12} DN",
            "NAME", "GID", "MEMBERS", "DOMAIN"
        ),
    }
    for (domain, rows) in out {
        for r in rows {
            match kind {
                Kind::Users => println!(
                    "{:<20} {:>10} {:>10} {domain:<12} {:<24} {:<16} {}",
                    s(r, "name"),
                    n(r, "uid"),
                    n(r, "gid"),
                    s(r, "home"),
                    s(r, "shell"),
                    s(r, "dn")
                ),
                Kind::Groups => println!(
                    "{:<20} {:>10} {:>8} {domain:<12} {}",
                    s(r, "name"),
                    n(r, "gid"),
                    r["members"].as_array().map(|m| m.len()).unwrap_or(0),
                    s(r, "dn")
                ),
            }
        }
        eprintln!("{domain}: {} {}", rows.len(), kind.word());
    }
}
