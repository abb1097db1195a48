//! `rosterctl idmap map`: SIDs or numeric IDs on stdin, one per line, and
//! for each `input<TAB>result` or `input<TAB>-<TAB>reason` on stdout — the
//! answer rosterd would give, computed offline from the configuration and
//! the daemon's recorded autorid allocations and sss slices (read, never
//! written). `export` prints the allocation table, `diff` compares it with
//! another host's, `reset` forgets what is recorded for one domain.

use super::context::{idmap_of, Ctx};
use super::output::print_json;
use anyhow::{bail, Context as _};
use roster_idmap::export::{diff_exports, export_text, parse_export};
use roster_idmap::map_lines;
use serde_json::{json, Value};
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::Path;
use std::process::ExitCode;

/// Runs `rosterctl idmap export`.
pub fn export(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = ctx.load_config()?;
    let set = idmap_of(&cfg)?;
    let lines = set.export();
    if ctx.json {
        let rows: Vec<Value> = lines
            .iter()
            .map(|l| json!({"domain_sid": l.domain.to_string(), "block": l.block, "first": l.first, "last": l.last}))
            .collect();
        print_json(&json!({"ok": true, "allocations": rows}));
    } else {
        let mut out = std::io::stdout().lock();
        out.write_all(export_text(&lines).as_bytes())?;
        out.flush()?;
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs `rosterctl idmap diff FILE`: exit 0 when the tables agree, 1
/// with every disagreement listed.
pub fn diff(ctx: &Ctx, file: &Path) -> anyhow::Result<ExitCode> {
    let cfg = ctx.load_config()?;
    let text = if file == Path::new("-") {
        let mut t = String::new();
        std::io::stdin()
            .read_to_string(&mut t)
            .context("reading stdin")?;
        t
    } else {
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?
    };
    let name = file.display().to_string();
    let there = parse_export(&text).map_err(|e| anyhow::anyhow!("{name}: {e}"))?;
    let set = idmap_of(&cfg)?;
    let found = diff_exports(&set.export(), &there, &name);
    if ctx.json {
        print_json(&json!({"ok": found.is_empty(), "disagreements": found}));
    } else if found.is_empty() {
        println!("no disagreement with {name}");
    } else {
        for d in &found {
            println!("{d}");
        }
        eprintln!("rosterctl: {} disagreement(s) with {name}", found.len());
    }
    Ok(if found.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Runs `rosterctl idmap reset DOMAIN`.
pub fn reset(ctx: &Ctx, domain: &str, yes: bool) -> anyhow::Result<ExitCode> {
    // The configuration may be refused exactly because of the record:
    // read only what is needed, leniently.
    let text = std::fs::read_to_string(&ctx.config_path)
        .with_context(|| format!("reading {}", ctx.config_path.display()))?;
    let table: toml::Table = toml::from_str(&text)
        .with_context(|| format!("{} is not valid TOML", ctx.config_path.display()))?;
    let state_dir = table
        .get("daemon")
        .and_then(|d| d.get("state_dir"))
        .and_then(|v| v.as_str())
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from("/var/lib/roster"));
    let sid = table
        .get("domain")
        .and_then(|d| d.as_array())
        .and_then(|a| {
            a.iter().find(|d| {
                d.get("name")
                    .and_then(|n| n.as_str())
                    .is_some_and(|n| n.eq_ignore_ascii_case(domain))
            })
        })
        .and_then(|d| d.get("idmap"))
        .and_then(|i| i.get("domain_sid"))
        .and_then(|s| s.as_str())
        .and_then(|s| s.parse().ok());
    if !yes {
        confirm(domain, &state_dir)?;
    }
    let done = roster_idmap::store::reset_domain(&state_dir, domain, sid)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if ctx.json {
        print_json(&json!({"ok": true, "domain": domain, "changes": done}));
    } else if done.is_empty() {
        println!(
            "nothing is recorded for domain \"{domain}\" in {}",
            state_dir.display()
        );
    } else {
        for d in &done {
            println!("{d}");
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal; refuses when there is none.
fn confirm(domain: &str, state_dir: &Path) -> anyhow::Result<()> {
    if !std::io::stdin().is_terminal() {
        bail!("refusing to reset domain \"{domain}\" without confirmation: no terminal to ask on (pass --yes)");
    }
    eprint!(
        "Forget the ID mapping recorded for domain \"{domain}\" in {}? Its users and groups \
         will get new IDs when rosterd starts again (stop rosterd first). [y/N] ",
        state_dir.display()
    );
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer)?;
    if matches!(answer.trim(), "y" | "Y" | "yes" | "YES" | "Yes") {
        Ok(())
    } else {
        bail!("domain \"{domain}\" not reset")
    }
}

/// Runs `rosterctl idmap map`; fails (exit 1) when a line could not be mapped.
pub fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let cfg = ctx.load_config()?;
    let set = idmap_of(&cfg)?;
    let summary = if ctx.json {
        let mut buf = Vec::new();
        let summary =
            map_lines(&set, std::io::stdin().lock(), &mut buf).context("reading stdin")?;
        let text = String::from_utf8_lossy(&buf);
        let rows: Vec<Value> = text.lines().map(row).collect();
        print_json(&json!({
            "results": rows,
            "mapped": summary.mapped,
            "unmapped": summary.unmapped,
            "invalid": summary.invalid,
        }));
        summary
    } else {
        let mut out = std::io::stdout().lock();
        let summary =
            map_lines(&set, std::io::stdin().lock(), &mut out).context("reading stdin")?;
        out.flush()?;
        summary
    };
    Ok(if summary.unmapped == 0 && summary.invalid == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// One output line of `map_lines` as a JSON object.
fn row(line: &str) -> Value {
    let mut parts = line.splitn(3, '\t');
    let input = parts.next().unwrap_or("");
    match (parts.next(), parts.next()) {
        (Some("-"), Some(reason)) => json!({"input": input, "result": null, "reason": reason}),
        (Some(result), _) => json!({"input": input, "result": result}),
        _ => json!({"input": input, "result": null, "reason": "no answer"}),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_become_objects() {
        assert_eq!(
            row("S-1-5-21-1-2-3-500\t200500"),
            json!({"input": "S-1-5-21-1-2-3-500", "result": "200500"})
        );
        assert_eq!(
            row("x\t-\tneither"),
            json!({"input": "x", "result": null, "reason": "neither"})
        );
    }
}
