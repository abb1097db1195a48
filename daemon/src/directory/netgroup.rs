//! Netgroups (RFC 2307 `nisNetgroup`): `nisNetgroupTriple` values and
//! `memberNisNetgroup` nesting, for LDAP and AD domains alike (both use the
//! RFC 2307 schema for them).
//!
//! Nested netgroups are resolved here, in the daemon, as SSSD does: a
//! netgroup is served as the set of its own triples and those of every
//! netgroup it includes, at most `nesting_depth` levels deep, each netgroup
//! read once (a cycle ends where it closes). One search per nesting level
//! (`(|(cn=a)(cn=b)…)`), never one per netgroup. The NSS module then only
//! hands triples to glibc.
//!
//! A malformed `nisNetgroupTriple` value is left out and logged once, with
//! the entry's DN and the value.

use super::{check_name, queries, Directory, DirectoryError};
use crate::filter;
use ldap3::SearchEntry;
use roster_proto::{Netgroup, Triple};
use std::collections::{BTreeSet, HashSet};
use std::sync::Mutex;
use thiserror::Error;

/// A netgroup read from a directory, nested netgroups resolved.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NetgroupRecord {
    /// The netgroup with every triple (its own and its nested netgroups').
    pub netgroup: Netgroup,
    /// DN of the directory entry.
    pub dn: String,
}

/// Why a `nisNetgroupTriple` value was refused.
#[derive(Clone, Debug, Error, PartialEq, Eq)]
pub enum TripleError {
    /// The value is not enclosed in `(` and `)`.
    #[error("not of the form (host,user,domain)")]
    NotParenthesised,
    /// Not exactly three comma-separated fields.
    #[error("{0} fields instead of 3 (host,user,domain)")]
    FieldCount(usize),
    /// A field holds a character no host, user or domain name can hold.
    #[error("the {field} field contains {found:?}")]
    BadCharacter {
        /// `host`, `user` or `domain`.
        field: &'static str,
        /// The character.
        found: char,
    },
}

/// Parses one `nisNetgroupTriple` value, `(host,user,domain)`. Blanks
/// around the parentheses and the fields are ignored; an empty field
/// matches anything, `-` nothing (as glibc's `files` source reads them).
pub fn parse_triple(value: &str) -> Result<Triple, TripleError> {
    let inner = value
        .trim()
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .ok_or(TripleError::NotParenthesised)?;
    let fields: Vec<&str> = inner.split(',').map(str::trim).collect();
    let [host, user, domain] = fields[..] else {
        return Err(TripleError::FieldCount(fields.len()));
    };
    for (field, v) in [("host", host), ("user", user), ("domain", domain)] {
        if let Some(found) = v
            .chars()
            .find(|c| c.is_whitespace() || c.is_control() || matches!(c, '(' | ')'))
        {
            return Err(TripleError::BadCharacter { field, found });
        }
    }
    Ok(Triple {
        host: host.to_string(),
        user: user.to_string(),
        domain: domain.to_string(),
    })
}

/// One netgroup entry as read: its name, valid triples and the names of
/// the netgroups it includes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NetgroupEntry {
    /// The name it was asked by (one of its name attribute's values).
    pub name: String,
    /// DN of the entry.
    pub dn: String,
    /// Its own valid triples.
    pub triples: Vec<Triple>,
    /// Names of the netgroups it includes (`memberNisNetgroup`).
    pub members: Vec<String>,
}

/// Attribute names of netgroup entries.
pub(crate) struct NetgroupAttrs<'a> {
    /// The name attribute (`cn`).
    pub name: &'a str,
    /// The triple attribute (`nisNetgroupTriple`).
    pub triple: &'a str,
    /// The nested netgroup attribute (`memberNisNetgroup`).
    pub member: &'a str,
}

fn attr_values<'e>(e: &'e SearchEntry, attr: &str) -> &'e [String] {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .map_or(&[], |(_, v)| v.as_slice())
}

/// Reads `e` as the netgroup `name` when its name attribute holds `name`
/// (exactly, or in any case when `any_case`). Malformed triples are left
/// out and reported through `bad` (value, reason).
pub(crate) fn read_entry(
    attrs: &NetgroupAttrs<'_>,
    e: &SearchEntry,
    name: &str,
    any_case: bool,
    mut bad: impl FnMut(&str, &TripleError),
) -> Option<NetgroupEntry> {
    let held = attr_values(e, attrs.name)
        .iter()
        .find(|v| *v == name || (any_case && v.eq_ignore_ascii_case(name)))?;
    let mut triples = Vec::new();
    for v in attr_values(e, attrs.triple) {
        match parse_triple(v) {
            Ok(t) => triples.push(t),
            Err(why) => bad(v, &why),
        }
    }
    let members = attr_values(e, attrs.member)
        .iter()
        .map(|m| m.trim().to_string())
        .filter(|m| check_name(m).is_ok())
        .collect();
    Some(NetgroupEntry {
        name: held.clone(),
        dn: e.dn.clone(),
        triples,
        members,
    })
}

/// The expansion of one netgroup: triples gathered so far (each once, in
/// the order met), netgroups already read, and the next level to read.
#[derive(Debug)]
pub(crate) struct Expansion {
    triples: Vec<Triple>,
    have: HashSet<Triple>,
    /// Names already read or asked (lower case: the directory matches
    /// names case-insensitively, so `A` and `a` are one entry to it).
    seen: HashSet<String>,
    next: Vec<String>,
}

impl Expansion {
    /// Starts with the netgroup `root` (not read yet).
    pub fn new(root: &NetgroupEntry) -> Self {
        let mut x = Expansion {
            triples: Vec::new(),
            have: HashSet::new(),
            seen: HashSet::new(),
            next: Vec::new(),
        };
        x.seen.insert(root.name.to_lowercase());
        x.add(root);
        x
    }

    /// Adds a netgroup read at the current level: its triples, and its
    /// members not met before for the next level.
    pub fn add(&mut self, e: &NetgroupEntry) {
        for t in &e.triples {
            if self.have.insert(t.clone()) {
                self.triples.push(t.clone());
            }
        }
        for m in &e.members {
            if self.seen.insert(m.to_lowercase()) {
                self.next.push(m.clone());
            }
        }
    }

    /// The names to read at the next level (none: the expansion is complete).
    pub fn take_level(&mut self) -> Vec<String> {
        std::mem::take(&mut self.next)
    }

    /// Names still waiting to be read (left out when the depth bound ends
    /// the expansion).
    pub fn pending(&self) -> &[String] {
        &self.next
    }

    /// Every triple gathered.
    pub fn into_triples(self) -> Vec<Triple> {
        self.triples
    }
}

/// Malformed values already logged, so each is logged once (bounded: when
/// full it starts over, so memory stays small and a value is at worst
/// logged again).
static LOGGED: Mutex<BTreeSet<(String, String, String)>> = Mutex::new(BTreeSet::new());
/// At most this many malformed values are remembered.
const LOGGED_MAX: usize = 4096;

/// True the first time (domain, DN, value) is seen: it should be logged.
pub(crate) fn first_sighting(domain: &str, dn: &str, value: &str) -> bool {
    let mut set = LOGGED.lock().unwrap_or_else(|e| e.into_inner());
    if set.len() >= LOGGED_MAX {
        set.clear();
    }
    set.insert((domain.to_string(), dn.to_lowercase(), value.to_string()))
}

impl Directory {
    fn netgroup_attrs(&self) -> NetgroupAttrs<'_> {
        let a = &self.cfg.attributes;
        NetgroupAttrs {
            name: &a.netgroup_name,
            triple: &a.netgroup_triple,
            member: &a.member_netgroup,
        }
    }

    /// Reads the entries of `found` that are the netgroups `names`
    /// (malformed triples logged once). `any_case`: a name matches in any
    /// case (nested references, which the directory resolves so).
    fn netgroups_from(
        &self,
        found: &[SearchEntry],
        names: &[String],
        any_case: bool,
    ) -> Vec<NetgroupEntry> {
        let attrs = self.netgroup_attrs();
        let any_case = any_case || self.case_insensitive_names();
        let domain = &self.cfg.name;
        let mut out = Vec::new();
        for e in found {
            for n in names {
                let bad = |v: &str, why: &TripleError| {
                    if first_sighting(domain, &e.dn, v) {
                        tracing::warn!(domain = %domain, dn = %e.dn, attribute = %attrs.triple, value = ?v, reason = %why, "netgroup triple not served");
                    }
                };
                if let Some(ng) = read_entry(&attrs, e, n, any_case, bad) {
                    out.push(ng);
                    break;
                }
            }
        }
        out
    }

    /// Searches the netgroup search bases for the netgroups `names`.
    async fn search_netgroups(
        &self,
        names: &[String],
        first_only: bool,
    ) -> Result<Vec<SearchEntry>, DirectoryError> {
        let attr = &self.cfg.attributes.netgroup_name;
        let f = filter::or(names.iter().map(|n| filter::eq(attr, n)));
        let a = self.netgroup_attrs();
        let wanted = vec![
            a.name.to_string(),
            a.triple.to_string(),
            a.member.to_string(),
        ];
        let qs = queries(
            self.cfg.netgroup_bases(),
            &self.cfg.netgroup_filter,
            &f,
            wanted,
        );
        if first_only {
            self.search_first(&qs).await
        } else {
            self.search_all(&qs, true).await
        }
    }

    /// The netgroup `name` with every triple, those of the netgroups it
    /// includes (`memberNisNetgroup`, at most `nesting_depth` levels deep,
    /// cycles cut) included. Two entries with the name are refused.
    pub async fn netgroup_by_name(
        &self,
        name: &str,
    ) -> Result<Option<NetgroupRecord>, DirectoryError> {
        if check_name(name).is_err() {
            return Ok(None);
        }
        let names = [name.to_string()];
        let found = self.search_netgroups(&names, true).await?;
        let mut roots = self.netgroups_from(&found, &names, false);
        if roots.len() > 1 {
            let dns: Vec<&str> = roots.iter().map(|r| r.dn.as_str()).collect();
            tracing::warn!(domain = %self.cfg.name, dns = %dns.join(" | "), "netgroup name {name:?} matches several entries: refused");
            return Ok(None);
        }
        let Some(root) = roots.pop() else {
            return Ok(None);
        };
        let mut x = Expansion::new(&root);
        for _ in 0..self.cfg.nesting_depth {
            let level = x.take_level();
            if level.is_empty() {
                break;
            }
            let found = self.search_netgroups(&level, false).await?;
            for ng in self.netgroups_from(&found, &level, true) {
                x.add(&ng);
            }
        }
        if !x.pending().is_empty() {
            tracing::warn!(domain = %self.cfg.name, dn = %root.dn, left_out = %x.pending().join(" "), depth = self.cfg.nesting_depth, "netgroup nesting deeper than nesting_depth: deeper netgroups left out");
        }
        Ok(Some(NetgroupRecord {
            netgroup: Netgroup {
                name: root.name,
                triples: x.into_triples(),
            },
            dn: root.dn,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn t(h: &str, u: &str, d: &str) -> Triple {
        Triple {
            host: h.into(),
            user: u.into(),
            domain: d.into(),
        }
    }

    #[test]
    fn triples_parse_with_empty_fields_and_blanks() {
        assert_eq!(
            parse_triple("(h1,alice,example)"),
            Ok(t("h1", "alice", "example"))
        );
        assert_eq!(parse_triple(" ( h1 , , - ) "), Ok(t("h1", "", "-")));
        assert_eq!(parse_triple("(,,)"), Ok(t("", "", "")));
    }

    #[test]
    fn malformed_triples_name_the_fault() {
        assert_eq!(
            parse_triple("h1,alice,x"),
            Err(TripleError::NotParenthesised)
        );
        assert_eq!(
            parse_triple("(h1,alice"),
            Err(TripleError::NotParenthesised)
        );
        assert_eq!(parse_triple("(h1,alice)"), Err(TripleError::FieldCount(2)));
        assert_eq!(parse_triple("(a,b,c,d)"), Err(TripleError::FieldCount(4)));
        assert_eq!(
            parse_triple("(h 1,alice,x)"),
            Err(TripleError::BadCharacter {
                field: "host",
                found: ' '
            })
        );
        assert_eq!(
            parse_triple("(h,al\nice,x)"),
            Err(TripleError::BadCharacter {
                field: "user",
                found: '\n'
            })
        );
        assert_eq!(
            parse_triple("(h,u,(x))"),
            Err(TripleError::BadCharacter {
                field: "domain",
                found: '('
            })
        );
        let msg = parse_triple("(a,b)").unwrap_err().to_string();
        assert!(msg.contains("2 fields"), "{msg}");
    }

    fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
        SearchEntry {
            dn: dn.into(),
            attrs: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
                .collect(),
            bin_attrs: Default::default(),
        }
    }

    const ATTRS: NetgroupAttrs<'static> = NetgroupAttrs {
        name: "cn",
        triple: "nisNetgroupTriple",
        member: "memberNisNetgroup",
    };

    #[test]
    fn an_entry_reads_its_triples_and_members_and_reports_bad_values() {
        let e = entry(
            "cn=admins,ou=netgroup,dc=example,dc=test",
            &[
                ("cn", &["admins"]),
                ("NISNETGROUPTRIPLE", &["(h1,alice,)", "broken", "(h2,-,x)"]),
                ("memberNisNetgroup", &["ops", "bad name", ""]),
            ],
        );
        let mut bad = Vec::new();
        let ng = read_entry(&ATTRS, &e, "admins", false, |v, why| {
            bad.push((v.to_string(), why.clone()))
        })
        .unwrap();
        assert_eq!(ng.triples, vec![t("h1", "alice", ""), t("h2", "-", "x")]);
        assert_eq!(ng.members, vec!["ops".to_string()]);
        assert_eq!(bad, vec![("broken".into(), TripleError::NotParenthesised)]);
        // Another name, or another case in an LDAP domain, is not this entry.
        assert!(read_entry(&ATTRS, &e, "ops", false, |_, _| ()).is_none());
        assert!(read_entry(&ATTRS, &e, "Admins", false, |_, _| ()).is_none());
        assert_eq!(
            read_entry(&ATTRS, &e, "Admins", true, |_, _| ()).map(|n| n.name),
            Some("admins".to_string())
        );
    }

    #[test]
    fn a_malformed_value_is_logged_once_per_entry() {
        let dn = "cn=once,ou=netgroup,dc=example,dc=test";
        assert!(first_sighting("d-once", dn, "(x"));
        assert!(!first_sighting("d-once", dn, "(x"));
        assert!(!first_sighting("d-once", &dn.to_uppercase(), "(x"));
        assert!(first_sighting("d-once", dn, "(y"));
        assert!(first_sighting("d-once", "cn=other", "(x"));
    }

    fn ng(name: &str, triples: &[Triple], members: &[&str]) -> NetgroupEntry {
        NetgroupEntry {
            name: name.into(),
            dn: format!("cn={name},ou=netgroup,dc=example,dc=test"),
            triples: triples.to_vec(),
            members: members.iter().map(|m| m.to_string()).collect(),
        }
    }

    /// Expands `root` over `dir` as the directory code does, `depth`
    /// levels deep; returns the triples and what was left out.
    fn expand(
        dir: &HashMap<&str, NetgroupEntry>,
        root: &str,
        depth: u32,
    ) -> (Vec<Triple>, Vec<String>, usize) {
        let mut x = Expansion::new(&dir[root]);
        let mut reads = 0;
        for _ in 0..depth {
            let level = x.take_level();
            if level.is_empty() {
                break;
            }
            reads += 1;
            for n in &level {
                if let Some(e) = dir.get(n.as_str()) {
                    x.add(e);
                }
            }
        }
        let left = x.pending().to_vec();
        (x.into_triples(), left, reads)
    }

    #[test]
    fn nested_netgroups_add_their_triples_once() {
        let a = t("h1", "alice", "");
        let b = t("h2", "bob", "");
        let dir: HashMap<&str, NetgroupEntry> = [
            ("top", ng("top", std::slice::from_ref(&a), &["mid", "leaf"])),
            (
                "mid",
                ng("mid", std::slice::from_ref(&b), &["leaf", "ghost"]),
            ),
            ("leaf", ng("leaf", &[a.clone(), t("", "carol", "")], &[])),
        ]
        .into_iter()
        .collect();
        let (triples, left, reads) = expand(&dir, "top", 8);
        assert_eq!(triples, vec![a, b, t("", "carol", "")]);
        assert!(left.is_empty());
        // One read per level: {mid, leaf}, then {ghost} (missing: ignored).
        assert_eq!(reads, 2);
    }

    #[test]
    fn a_cycle_ends_where_it_closes() {
        let dir: HashMap<&str, NetgroupEntry> = [
            ("a", ng("a", &[t("ha", "", "")], &["b"])),
            ("b", ng("b", &[t("hb", "", "")], &["c"])),
            ("c", ng("c", &[t("hc", "", "")], &["A", "b"])),
        ]
        .into_iter()
        .collect();
        let (triples, left, reads) = expand(&dir, "a", 100);
        assert_eq!(
            triples,
            vec![t("ha", "", ""), t("hb", "", ""), t("hc", "", "")]
        );
        assert!(left.is_empty());
        assert_eq!(reads, 2);
        // A netgroup naming itself.
        let me: HashMap<&str, NetgroupEntry> = [("me", ng("me", &[t("h", "", "")], &["me"]))]
            .into_iter()
            .collect();
        let (triples, left, reads) = expand(&me, "me", 8);
        assert_eq!((triples.len(), left.len(), reads), (1, 0, 0));
    }

    #[test]
    fn the_depth_bound_leaves_deeper_netgroups_out() {
        // n0 -> n1 -> ... -> n9, each with one triple.
        let names: Vec<String> = (0..10).map(|i| format!("n{i}")).collect();
        let dir: HashMap<&str, NetgroupEntry> = names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                let next: Vec<&str> = names.get(i + 1).map(|s| s.as_str()).into_iter().collect();
                (n.as_str(), ng(n, &[t(n, "", "")], &next))
            })
            .collect();
        let (triples, left, reads) = expand(&dir, "n0", 3);
        let hosts: Vec<&str> = triples.iter().map(|t| t.host.as_str()).collect();
        assert_eq!(hosts, ["n0", "n1", "n2", "n3"]);
        assert_eq!(left, vec!["n4".to_string()]);
        assert_eq!(reads, 3);
        let (triples, left, _) = expand(&dir, "n0", 9);
        assert_eq!((triples.len(), left.len()), (10, 0));
    }
}
