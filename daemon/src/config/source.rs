//! The text being loaded, and turning spans into `file:line: key:` errors.
//!
//! Errors found while resolving carry the span of the value at fault (from
//! [`super::raw`]). Errors of the TOML deserializer carry a span but no key:
//! the key is found by walking the document ([`toml_edit`] keeps the span of
//! every key and value). Checks that run after resolving (ID spaces, files)
//! look a domain's key up in the same document.

use super::error::ConfigError;
use std::cell::OnceCell;
use std::ops::Range;
use toml_edit::{ImDocument, Item, Table, Value};

/// One configuration text, its name in errors, and its parsed document.
pub(crate) struct Source<'a> {
    /// Name of the text in errors (the file path).
    pub origin: &'a str,
    /// The text.
    pub text: &'a str,
    /// The text's document, parsed when an error needs a key's place.
    doc: OnceCell<Option<ImDocument<&'a str>>>,
}

/// A fault of one key, found while resolving: the key (relative to its
/// table, e.g. `page_size` or `attributes.uid_number`), the span of its
/// value when the file has one, and what is wrong.
#[derive(Debug)]
pub(crate) struct Fault {
    pub key: String,
    pub span: Option<Range<usize>>,
    pub message: String,
}

impl Fault {
    /// A fault of `key` whose value is at `span`.
    pub(crate) fn at(key: &str, span: Range<usize>, message: impl Into<String>) -> Fault {
        Fault {
            key: key.to_string(),
            span: Some(span),
            message: message.into(),
        }
    }

    /// A fault of `key` not written in the file (a missing or defaulted
    /// key): reported at its table's header.
    pub(crate) fn unset(key: &str, message: impl Into<String>) -> Fault {
        Fault {
            key: key.to_string(),
            span: None,
            message: message.into(),
        }
    }
}

/// Where a table of the file is: a top-level `[table]`, or the `index`-th
/// `[[domain]]` called `name`.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Place<'n> {
    /// `[cache]`, `[daemon]`, `[nss]`.
    Top(&'static str),
    /// One `[[domain]]`.
    Domain { index: usize, name: &'n str },
}

impl<'a> Source<'a> {
    /// Wraps `text` named `origin`.
    pub(crate) fn new(origin: &'a str, text: &'a str) -> Source<'a> {
        Source {
            origin,
            text,
            doc: OnceCell::new(),
        }
    }

    /// The document of the text (`None`: not TOML), parsed on first use.
    fn doc(&self) -> Option<&ImDocument<&'a str>> {
        self.doc
            .get_or_init(|| ImDocument::parse(self.text).ok())
            .as_ref()
    }

    /// 1-based line of byte offset `at`.
    pub(crate) fn line(&self, at: usize) -> usize {
        let at = floor_char_boundary(self.text, at.min(self.text.len()));
        self.text[..at].matches('\n').count() + 1
    }

    /// The error of `fault` in the table at `place`: at the line of its
    /// value, or else of the key in the file, or else of the header of the
    /// innermost table the file has on the key's path (`[domain.idmap]`
    /// for a missing `idmap.range_low`, else `[[domain]]`).
    pub(crate) fn error(&self, place: Place<'_>, fault: Fault) -> ConfigError {
        let mut parent = fault.key.as_str();
        let line = fault.span.map(|s| self.line(s.start)).or_else(|| {
            self.key_line(place, parent).or_else(|| {
                while let Some((p, _)) = parent.rsplit_once('.') {
                    parent = p;
                    if let Some(l) = self.key_line(place, parent) {
                        return Some(l);
                    }
                }
                self.table_line(place)
            })
        });
        let key = match place {
            Place::Top(table) => format!("key `{table}.{}`", fault.key),
            Place::Domain { name, .. } => format!("domain \"{name}\" key `{}`", fault.key),
        };
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            line,
            key,
            message: fault.message,
        }
    }

    /// The error of `key` (dotted below its table) of the table at `place`,
    /// at the line where the file sets it (or the table's header).
    pub(crate) fn key_error(&self, place: Place<'_>, key: &str, message: String) -> ConfigError {
        self.error(place, Fault::unset(key, message))
    }

    /// 1-based line of the value of `key` (dotted) in the table at `place`.
    pub(crate) fn key_line(&self, place: Place<'_>, key: &str) -> Option<usize> {
        let mut item = self.table_item(place)?;
        for part in key.split('.') {
            item = item.get(part)?;
        }
        item.span().map(|s| self.line(s.start))
    }

    /// 1-based line of the header of the table at `place` (for an inline
    /// table, of its key).
    pub(crate) fn table_line(&self, place: Place<'_>) -> Option<usize> {
        self.table_item(place)
            .and_then(|t| t.span())
            .map(|s| self.line(s.start))
    }

    /// 1-based line of the header of the sub-table `sub` of the table at
    /// `place` (e.g. `[domain.idmap]`), or of the table itself without one.
    pub(crate) fn subtable_line(&self, place: Place<'_>, sub: &str) -> Option<usize> {
        self.table_item(place)
            .and_then(|t| t.get(sub))
            .and_then(|t| t.span())
            .map(|s| self.line(s.start))
            .or_else(|| self.table_line(place))
    }

    fn table_item(&self, place: Place<'_>) -> Option<&Item> {
        let root = self.doc()?.as_item();
        match place {
            Place::Top(table) => root.get(table),
            Place::Domain { index, .. } => root.get("domain")?.get(index),
        }
    }

    /// Converts an error of the TOML deserializer: the line of its span,
    /// and the key there named with its table (`cache.entry_ttl`,
    /// `domain "corp" key `page_size``).
    pub(crate) fn toml_error(&self, err: &toml::de::Error) -> ConfigError {
        let message = err.message().trim().to_string();
        let Some(span) = err.span() else {
            return ConfigError::Parse {
                origin: self.origin.to_string(),
                line: 1,
                column: 1,
                message,
            };
        };
        let Some(doc) = self.doc() else {
            // Not TOML at all: a syntax error, with its column.
            let line = self.line(span.start);
            let start = self.text[..floor_char_boundary(self.text, span.start)]
                .rfind('\n')
                .map_or(0, |i| i + 1);
            let column = self.text[start..floor_char_boundary(self.text, span.start)]
                .chars()
                .count()
                + 1;
            return ConfigError::Parse {
                origin: self.origin.to_string(),
                line,
                column,
                message,
            };
        };
        let mut path = Vec::new();
        path_at(doc.as_table(), span.start, &mut path);
        // A missing key is reported at its table, named after the key.
        let (path, message) = match missing_field(&message) {
            Some(field) => {
                let mut p = path.clone();
                p.push(Seg::Key(field.to_string()));
                (p, "is required but missing".to_string())
            }
            None => (path, message),
        };
        ConfigError::Invalid {
            origin: self.origin.to_string(),
            line: Some(self.line(span.start)),
            key: self.describe(&path),
            message,
        }
    }

    /// Names a key path for an error: `key `cache.entry_ttl``, or
    /// `domain "corp" key `idmap.range_low`` (the domain by its name when it
    /// has a valid one, else by its position).
    fn describe(&self, path: &[Seg]) -> String {
        match path {
            [Seg::Key(d), Seg::Index(i), rest @ ..] if d == "domain" => {
                let name = self
                    .table_item(Place::Domain {
                        index: *i,
                        name: "",
                    })
                    .and_then(|t| t.get("name"))
                    .and_then(|n| n.as_str())
                    .map_or_else(
                        || format!("domain #{}", i + 1),
                        |n| format!("domain \"{n}\""),
                    );
                if rest.is_empty() {
                    name
                } else {
                    format!("{name} key `{}`", dotted(rest))
                }
            }
            [] => "the file".to_string(),
            _ => format!("key `{}`", dotted(path)),
        }
    }
}

/// One step of a key path: a key, or an index in an array.
#[derive(Clone, Debug, PartialEq)]
enum Seg {
    Key(String),
    Index(usize),
}

fn dotted(path: &[Seg]) -> String {
    let mut out = String::new();
    for s in path {
        match s {
            Seg::Key(k) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(k);
            }
            Seg::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

/// The field named by serde's "missing field `x`" message.
fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|r| r.split('`').next())
}

fn contains(span: Option<Range<usize>>, at: usize) -> bool {
    span.is_some_and(|s| s.contains(&at) || (s.is_empty() && s.start == at))
}

/// Fills `path` with the deepest key of `table` whose key, value or
/// header holds byte `at`; false when none does.
fn path_at(table: &Table, at: usize, path: &mut Vec<Seg>) -> bool {
    for (name, item) in table.iter() {
        path.push(Seg::Key(name.to_string()));
        if item_path(item, at, path) {
            return true;
        }
        if contains(table.key(name).and_then(|k| k.span()), at) || contains(item.span(), at) {
            return true;
        }
        path.pop();
    }
    false
}

/// Descends into `item` for [`path_at`]: true when a part of it holds `at`
/// (the path then leads there).
fn item_path(item: &Item, at: usize, path: &mut Vec<Seg>) -> bool {
    match item {
        Item::Table(t) => path_at(t, at, path) || contains(t.span(), at),
        Item::ArrayOfTables(a) => a.iter().enumerate().any(|(i, t)| {
            path.push(Seg::Index(i));
            let hit = path_at(t, at, path) || contains(t.span(), at);
            if !hit {
                path.pop();
            }
            hit
        }),
        Item::Value(v) => value_path(v, at, path),
        Item::None => false,
    }
}

fn value_path(v: &Value, at: usize, path: &mut Vec<Seg>) -> bool {
    match v {
        Value::InlineTable(t) => t.iter().any(|(name, v)| {
            path.push(Seg::Key(name.to_string()));
            let hit = value_path(v, at, path)
                || contains(t.key(name).and_then(|k| k.span()), at)
                || contains(v.span(), at);
            if !hit {
                path.pop();
            }
            hit
        }),
        Value::Array(a) => a.iter().enumerate().any(|(i, v)| {
            path.push(Seg::Index(i));
            let hit = value_path(v, at, path) || contains(v.span(), at);
            if !hit {
                path.pop();
            }
            hit
        }),
        _ => false,
    }
}

fn floor_char_boundary(text: &str, mut i: usize) -> usize {
    while i > 0 && !text.is_char_boundary(i) {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key_of(text: &str, at: &str) -> String {
        let s = Source::new("x.toml", text);
        let mut path = Vec::new();
        path_at(
            s.doc().unwrap().as_table(),
            text.find(at).unwrap(),
            &mut path,
        );
        s.describe(&path)
    }

    #[test]
    fn keys_are_found_by_position() {
        let t = "[cache]\nentry_ttl = 3\n[[domain]]\nname = \"a\"\n[domain.attributes]\nuid_number = \"x\"\n[[domain]]\nname = \"b\"\nuris = [\"u1\", 7]\nidmap = { backend = \"rid\", range_low = \"q\" }\n";
        assert_eq!(key_of(t, "3"), "key `cache.entry_ttl`");
        assert_eq!(key_of(t, "entry_ttl"), "key `cache.entry_ttl`");
        assert_eq!(
            key_of(t, "\"x\""),
            "domain \"a\" key `attributes.uid_number`"
        );
        assert_eq!(key_of(t, "7"), "domain \"b\" key `uris[1]`");
        assert_eq!(key_of(t, "\"q\""), "domain \"b\" key `idmap.range_low`");
        assert_eq!(key_of(t, "[[domain]]\nname = \"b\""), "domain \"b\"");
    }

    #[test]
    fn lines_of_keys_and_tables() {
        let t = "[cache]\nentry_ttl = 3\n[[domain]]\nname = \"a\"\n[domain.idmap]\nrange_low = 1\n[[domain]]\nname = \"b\"\n";
        let s = Source::new("x.toml", t);
        let a = Place::Domain {
            index: 0,
            name: "a",
        };
        let b = Place::Domain {
            index: 1,
            name: "b",
        };
        assert_eq!(s.key_line(Place::Top("cache"), "entry_ttl"), Some(2));
        assert_eq!(s.key_line(a, "idmap.range_low"), Some(6));
        assert_eq!(s.key_line(b, "idmap.range_low"), None);
        assert_eq!(s.table_line(b), Some(7));
        assert_eq!(s.subtable_line(a, "idmap"), Some(5));
        assert_eq!(s.subtable_line(b, "idmap"), Some(7));
        assert_eq!(s.line(0), 1);
    }
}
