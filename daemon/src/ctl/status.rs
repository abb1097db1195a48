//! `rosterctl status`: is rosterd up, how are its domains and its cache.

use super::context::Ctx;
use super::daemon::{self, DaemonError};
use super::output::{print_json, render_text};
use serde_json::{json, Value};
use std::process::ExitCode;

/// Runs `rosterctl status`.
pub fn run(ctx: &Ctx) -> anyhow::Result<ExitCode> {
    match daemon::status(ctx) {
        Ok(doc) => {
            if ctx.json {
                let mut doc = doc;
                if let Some(map) = doc.as_object_mut() {
                    map.entry("running").or_insert(Value::Bool(true));
                }
                print_json(&doc);
            } else {
                print!("{}", human(&doc));
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

/// The text form: a headline, the daemon's document, and the hit rate.
fn human(doc: &Value) -> String {
    let mut out = String::from("rosterd is running\n");
    out.push_str(&render_text(doc));
    if let Some(rate) = hit_rate(doc) {
        out.push_str(&format!("cache hit rate: {rate:.1}%\n"));
    }
    out
}

/// Hits / (hits + misses) in percent, from `hits`/`misses` at the top level
/// or inside a `cache` object.
fn hit_rate(doc: &Value) -> Option<f64> {
    let source = doc
        .get("cache")
        .filter(|c| c.get("hits").is_some())
        .unwrap_or(doc);
    let hits = source.get("hits")?.as_f64()?;
    let misses = source.get("misses")?.as_f64()?;
    (hits + misses > 0.0).then(|| 100.0 * hits / (hits + misses))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hit_rate_from_either_place() {
        assert_eq!(hit_rate(&json!({"hits": 3, "misses": 1})), Some(75.0));
        assert_eq!(
            hit_rate(&json!({"cache": {"hits": 1, "misses": 1}})),
            Some(50.0)
        );
        assert_eq!(hit_rate(&json!({"hits": 0, "misses": 0})), None);
        let text = human(&json!({"version": "0.1.0", "cache": {"hits": 9, "misses": 1}}));
        assert!(text.contains("version: 0.1.0"), "{text}");
        assert!(text.contains("hit rate: 90.0%"), "{text}");
    }
}
