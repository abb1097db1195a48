//! Configuration errors, and finding where in the file a key is.

use std::path::PathBuf;

/// Why a configuration could not be used. Every variant names the file, and
/// when the fault is in the text, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read configuration: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML, has an unknown key or a value of the wrong
    /// type.
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// Name of the configuration (file path).
        origin: String,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// The text parsed but a value is not acceptable.
    #[error("{}: {key}: {message}", location(origin, *line))]
    Invalid {
        /// Name of the configuration (file path).
        origin: String,
        /// 1-based line of the key, when it could be found.
        line: Option<usize>,
        /// The key at fault, e.g. `domain "corp" bind_password_file`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn location(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{origin}:{l}"),
        None => origin.to_string(),
    }
}

/// 1-based (line, column) of a byte offset in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = &text[..floor_char_boundary(text, offset)];
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map(|i| i + 1).unwrap_or(0);
    let column = before[line_start..].chars().count() + 1;
    (line, column)
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Converts a toml parse error into [`ConfigError::Parse`], naming the key
/// on the faulty line and the table it is in.
pub(crate) fn from_toml(origin: &str, text: &str, err: &toml::de::Error) -> ConfigError {
    let message = err.message().trim().to_string();
    let Some(span) = err.span() else {
        return ConfigError::Parse {
            origin: origin.to_string(),
            line: 1,
            column: 1,
            message,
        };
    };
    let (line, column) = line_col(text, span.start);
    let line_text = text.lines().nth(line - 1).unwrap_or("");
    let table = enclosing_table(text, line);
    let key = key_on_line(line_text);
    let message = match (key, table) {
        (Some(k), Some(t)) => format!("key `{t}.{k}`: {message}"),
        (Some(k), None) => format!("key `{k}`: {message}"),
        (None, Some(t)) => format!("in table `[{t}]`: {message}"),
        (None, None) => message,
    };
    ConfigError::Parse {
        origin: origin.to_string(),
        line,
        column,
        message,
    }
}

/// The key assigned on a line (`key = value`), if the line is an assignment.
fn key_on_line(line: &str) -> Option<String> {
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') || trimmed.starts_with('#') {
        return None;
    }
    let (key, _) = trimmed.split_once('=')?;
    let key = key.trim().trim_matches('"');
    (!key.is_empty()).then(|| key.to_string())
}

/// The `[table]` or `[[array]]` header in force at 1-based `line`.
fn enclosing_table(text: &str, line: usize) -> Option<String> {
    text.lines().take(line).filter_map(header_name).last()
}

fn header_name(line: &str) -> Option<String> {
    let t = line.trim();
    let inner = t
        .strip_prefix("[[")
        .and_then(|r| r.split("]]").next())
        .or_else(|| t.strip_prefix('[').and_then(|r| r.split(']').next()))?;
    Some(inner.trim().to_string())
}

/// Finds the 1-based line where `key` is assigned in the `index`-th
/// `[[domain]]` (or its sub-tables such as `[domain.attributes]`), or at top
/// level in `[table]` when `domain` is `None`.
pub(crate) fn find_key_line(
    text: &str,
    domain: Option<usize>,
    table: &str,
    key: &str,
) -> Option<usize> {
    let mut current: Option<String> = None;
    let mut domain_count: usize = 0;
    for (i, line) in text.lines().enumerate() {
        if let Some(h) = header_name(line) {
            if line.trim().starts_with("[[") && h == "domain" {
                domain_count += 1;
            }
            current = Some(h);
            continue;
        }
        let in_place = match (domain, &current) {
            (Some(d), Some(h)) => domain_count == d + 1 && h == table,
            (None, Some(h)) => h == table,
            (None, None) => table.is_empty(),
            (Some(_), None) => false,
        };
        if in_place && key_on_line(line).as_deref() == Some(key) {
            return Some(i + 1);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_and_column() {
        let t = "a = 1\nbb = 2\n";
        assert_eq!(line_col(t, 0), (1, 1));
        assert_eq!(line_col(t, 6), (2, 1));
        assert_eq!(line_col(t, 9), (2, 4));
    }

    #[test]
    fn key_lines_in_domains() {
        let t = "[cache]\nentry_ttl = 3\n[[domain]]\nname = \"a\"\n[domain.attributes]\nuid_number = \"x\"\n[[domain]]\nname = \"b\"\nuris = []\n";
        assert_eq!(find_key_line(t, None, "cache", "entry_ttl"), Some(2));
        assert_eq!(find_key_line(t, Some(0), "domain", "name"), Some(4));
        assert_eq!(find_key_line(t, Some(1), "domain", "name"), Some(8));
        assert_eq!(find_key_line(t, Some(1), "domain", "uris"), Some(9));
        assert_eq!(
            find_key_line(t, Some(0), "domain.attributes", "uid_number"),
            Some(6)
        );
        assert_eq!(
            find_key_line(t, Some(1), "domain.attributes", "uid_number"),
            None
        );
    }

    #[test]
    fn parse_error_names_key_and_table() {
        let t = "[cache]\nentry_ttl = \"soon\"\n";
        let e = toml::from_str::<toml::Table>(t).map(|_| ());
        assert!(e.is_ok());
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct C {
            cache: Inner,
        }
        #[derive(serde::Deserialize, Debug)]
        #[allow(dead_code)]
        struct Inner {
            entry_ttl: u64,
        }
        let err = toml::from_str::<C>(t).unwrap_err();
        let msg = from_toml("x.toml", t, &err).to_string();
        assert!(msg.starts_with("x.toml:2:"), "{msg}");
        assert!(msg.contains("cache.entry_ttl"), "{msg}");
    }
}
