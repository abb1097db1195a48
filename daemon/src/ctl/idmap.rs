//! `rosterctl idmap map`: SIDs or numeric IDs on stdin, one per line, and
//! for each `input<TAB>result` or `input<TAB>-<TAB>reason` on stdout — the
//! answer rosterd would give, computed offline from the configuration and
//! the daemon's recorded autorid allocations (read, never written).

use super::context::{idmap_of, Ctx};
use super::output::print_json;
use anyhow::Context as _;
use roster_idmap::map_lines;
use serde_json::{json, Value};
use std::io::Write;
use std::process::ExitCode;

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
