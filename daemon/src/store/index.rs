//! The in-memory index of the log: key hash -> where its record lies.

use super::record::{namespace_of, Record};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// Where a live record lies in the log, and its key's namespace.
#[derive(Clone, Copy, Debug)]
pub(super) struct Loc {
    pub(super) offset: u64,
    pub(super) len: u32,
    pub(super) ns: u16,
}

/// The index key of `key` (SipHash with fixed keys: the index is rebuilt at
/// every open, so it never needs to be stable across versions).
pub(super) fn hash_key(key: &str) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    key.hash(&mut h);
    h.finish()
}

/// Namespace names, numbered in order of appearance.
#[derive(Default)]
pub(super) struct Namespaces(Vec<String>);

impl Namespaces {
    pub(super) fn id(&mut self, key: &str) -> u16 {
        let ns = namespace_of(key);
        if let Some(i) = self.0.iter().position(|n| n == ns) {
            return i as u16;
        }
        self.0.push(ns.to_string());
        (self.0.len() - 1).min(u16::MAX as usize) as u16
    }

    pub(super) fn find(&self, ns: &str) -> Option<u16> {
        self.0.iter().position(|n| n == ns).map(|i| i as u16)
    }
}

/// Applies a put of `key` lying at `loc` to the index (its namespace is
/// filled in here).
pub(super) fn apply_put(
    index: &mut HashMap<u64, Loc>,
    namespaces: &mut Namespaces,
    key: &str,
    loc: Loc,
) {
    let loc = Loc {
        ns: namespaces.id(key),
        ..loc
    };
    index.insert(hash_key(key), loc);
}

/// Applies one record to the index; `loc` is where a `Put` lies (its
/// namespace is filled in here). Returns false when the record changes
/// nothing (deleting what is not there).
pub(super) fn apply(
    index: &mut HashMap<u64, Loc>,
    namespaces: &mut Namespaces,
    rec: &Record,
    loc: Loc,
) -> bool {
    match rec {
        Record::Put { key, .. } => {
            apply_put(index, namespaces, key, loc);
            true
        }
        Record::Del { key } => index.remove(&hash_key(key)).is_some(),
        Record::DelNs { ns } => match namespaces.find(ns) {
            Some(id) => {
                let before = index.len();
                index.retain(|_, l| l.ns != id);
                index.len() != before
            }
            None => false,
        },
        Record::Clear => {
            let had = !index.is_empty();
            index.clear();
            had
        }
    }
}
