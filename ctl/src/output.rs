//! Printing: JSON for scripts (`--json`), or text for people.

use serde_json::Value;
use std::fmt::Write as _;

/// Prints `value` as pretty JSON on stdout.
pub fn print_json(value: &Value) {
    println!(
        "{}",
        serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
    );
}

/// The document without its `"ok": true` marker (for the text form).
pub fn without_ok(value: &Value) -> Value {
    let mut v = value.clone();
    if let Some(m) = v.as_object_mut() {
        m.remove("ok");
    }
    v
}

/// Renders a JSON document as indented `key: value` lines.
pub fn render_text(value: &Value) -> String {
    let mut out = String::new();
    render(&mut out, value, 0);
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Null => Some("-".into()),
        Value::Bool(b) => Some(if *b { "yes".into() } else { "no".into() }),
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) => Some(s.clone()),
        Value::Array(a) if a.iter().all(|x| !x.is_object() && !x.is_array()) => Some(
            a.iter()
                .map(|x| scalar(x).unwrap_or_default())
                .collect::<Vec<_>>()
                .join(", "),
        ),
        _ => None,
    }
}

fn render(out: &mut String, value: &Value, indent: usize) {
    let pad = "  ".repeat(indent);
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key = k.replace('_', " ");
                match scalar(v) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}{key}: {s}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}{key}:");
                        render(out, v, indent + 1);
                    }
                }
            }
        }
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                match scalar(item) {
                    Some(s) => {
                        let _ = writeln!(out, "{pad}- {s}");
                    }
                    None => {
                        let _ = writeln!(out, "{pad}[{i}]");
                        render(out, item, indent + 1);
                    }
                }
            }
        }
        other => {
            let _ = writeln!(out, "{pad}{}", scalar(other).unwrap_or_default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn nested_documents_become_indented_lines() {
        let v = json!({"cache_entries": 3, "domains": [{"name": "corp", "online": true}], "tags": ["a", "b"]});
        let t = render_text(&v);
        assert!(t.contains("cache entries: 3\n"), "{t}");
        assert!(
            t.contains("domains:\n  [0]\n    name: corp\n    online: yes\n"),
            "{t}"
        );
        assert!(t.contains("tags: a, b\n"), "{t}");
    }
}
