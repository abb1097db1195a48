//! `rosterctl users|groups [DOMAIN]`: what the directory yields for this
//! host after the filters and the entry checks, read straight from the
//! directory with the configuration (no daemon needed).

use super::cli::ListArgs;
use super::conntest::{self, Rejected, Usable};
use super::context::{select_domains, Ctx};
use super::output::print_json;
use super::progress::Progress;
use anyhow::anyhow;
use roster_daemon::config::DomainConfig;
use serde_json::json;
use std::process::ExitCode;

/// Users or groups.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `rosterctl users`.
    Users,
    /// `rosterctl groups`.
    Groups,
}

/// Runs `rosterctl users` or `rosterctl groups`.
pub fn run(ctx: &Ctx, args: &ListArgs, kind: Kind) -> anyhow::Result<ExitCode> {
    let cfg = ctx.load_config()?;
    let domains = select_domains(&cfg, args.domain.as_deref())?;
    let mut all = Vec::new();
    for d in domains {
        let (good, refused) = list(d, kind)?;
        all.push((d.name.clone(), good, refused));
    }
    if ctx.json {
        let v: Vec<_> = all
            .iter()
            .map(|(name, good, refused)| json!({"domain": name, "entries": good, "refused": refused}))
            .collect();
        print_json(&json!({"domains": v}));
        return Ok(ExitCode::SUCCESS);
    }
    for (name, good, refused) in &all {
        match kind {
            Kind::Users => println!(
                "{:<24} {:>10} {:>10}  {:<12} DN",
                "NAME", "UID", "GID", "DOMAIN"
            ),
            Kind::Groups => println!("{:<24} {:>10}  {:<12} DN", "NAME", "GID", "DOMAIN"),
        }
        for e in good {
            match e.uid {
                Some(uid) => println!(
                    "{:<24} {uid:>10} {:>10}  {name:<12} {}",
                    e.name, e.gid, e.dn
                ),
                None => println!("{:<24} {:>10}  {name:<12} {}", e.name, e.gid, e.dn),
            }
        }
        let what = if kind == Kind::Users {
            "users"
        } else {
            "groups"
        };
        eprintln!(
            "{name}: {} {what}; {} entries refused (see `rosterctl test {name}`)",
            good.len(),
            refused.len()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Reads and checks one domain's users or groups.
fn list(d: &DomainConfig, kind: Kind) -> anyhow::Result<(Vec<Usable>, Vec<Rejected>)> {
    let uri = d
        .uris
        .first()
        .ok_or_else(|| anyhow!("domain \"{}\" has no uris", d.name))?;
    let mut last_err = String::new();
    let mut conn = None;
    for u in std::iter::once(uri).chain(d.uris.iter().skip(1)) {
        match conntest::connect(d, u).and_then(|mut c| conntest::bind(&mut c, d).map(|_| c)) {
            Ok(c) => {
                conn = Some(c);
                break;
            }
            Err(e) => last_err = format!("{u}: {e}"),
        }
    }
    let mut conn = conn.ok_or_else(|| {
        anyhow!(
            "domain \"{}\": no server answered ({last_err}); run `rosterctl test {}`",
            d.name,
            d.name
        )
    })?;
    let a = &d.attributes;
    let mut progress = Progress::new(format!(
        "{}: reading {}",
        d.name,
        if kind == Kind::Users {
            "users"
        } else {
            "groups"
        }
    ));
    let mut good = Vec::new();
    let mut refused = Vec::new();
    match kind {
        Kind::Users => {
            let entries = conntest::fetch(
                &mut conn,
                d,
                d.user_base(),
                &d.user_filter,
                &[&a.username, &a.uid_number, &a.gid_number],
                |n| progress.tick(n),
            )
            .map_err(|e| anyhow!("domain \"{}\": {e}", d.name))?;
            for e in entries {
                match conntest::check_user(
                    d,
                    &e.dn,
                    e.values[0].as_deref(),
                    e.values[1].as_deref(),
                    e.values[2].as_deref(),
                ) {
                    Ok(u) => good.push(u),
                    Err(r) => refused.push(r),
                }
            }
        }
        Kind::Groups => {
            let entries = conntest::fetch(
                &mut conn,
                d,
                d.group_base(),
                d.group_filter(),
                &[&a.group_name, &a.gid_number],
                |n| progress.tick(n),
            )
            .map_err(|e| anyhow!("domain \"{}\": {e}", d.name))?;
            for e in entries {
                match conntest::check_group(
                    d,
                    &e.dn,
                    e.values[0].as_deref(),
                    e.values[1].as_deref(),
                ) {
                    Ok(g) => good.push(g),
                    Err(r) => refused.push(r),
                }
            }
        }
    }
    progress.finish();
    good.sort_by(|x, y| x.name.cmp(&y.name));
    Ok((good, refused))
}
