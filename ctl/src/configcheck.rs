//! `rosterctl config check`: load and validate the configuration file.

use super::context::Ctx;
use super::output::print_json;
use roster_daemon::config;
use serde_json::json;
use std::process::ExitCode;

/// Runs `rosterctl config check`: prints OK (and any warnings) or the
/// error, `FILE:LINE: KEY: what is wrong`.
pub fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    let path = &ctx.config_path;
    match config::check(path) {
        Ok(cfg) => {
            let domains: Vec<_> = cfg
                .domains
                .iter()
                .map(|d| json!({"name": d.name, "enabled": d.enabled}))
                .collect();
            if ctx.json {
                print_json(&json!({
                    "ok": true, "file": path, "domains": domains, "warnings": cfg.warnings,
                }));
            } else {
                for w in &cfg.warnings {
                    println!("warning: {w}");
                }
                let names: Vec<String> = cfg
                    .domains
                    .iter()
                    .map(|d| {
                        if d.enabled {
                            d.name.clone()
                        } else {
                            format!("{} (disabled)", d.name)
                        }
                    })
                    .collect();
                println!(
                    "OK: {} ({} domain(s): {})",
                    path.display(),
                    names.len(),
                    names.join(", ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            if ctx.json {
                print_json(&json!({"ok": false, "file": path, "error": e.to_string()}));
            } else {
                println!("{e}");
            }
            Ok(ExitCode::FAILURE)
        }
    }
}
