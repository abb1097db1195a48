//! `rosterctl idmap export` / `diff`: a host's allocation table in a
//! stable text form, and the comparison of two such tables.
//!
//! One line per block: `DOMAIN-SID BLOCK FIRST-LAST` (block = RID /
//! range size; FIRST-LAST the IDs it maps to), sorted by SID then block,
//! after a `# roster idmap export v1` header. Lines starting with `#` and
//! blank lines are ignored when reading.

use std::collections::BTreeMap;
use std::fmt;

use crate::sid::Sid;

/// The export header line.
pub const EXPORT_HEADER: &str = "# roster idmap export v1";

/// One block of one domain and the IDs it maps to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct ExportLine {
    /// Domain SID.
    pub domain: Sid,
    /// Block number (RID / range size).
    pub block: u32,
    /// First ID.
    pub first: u32,
    /// Last ID.
    pub last: u32,
}

impl fmt::Display for ExportLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} {} {}-{}",
            self.domain, self.block, self.first, self.last
        )
    }
}

/// The export text of `lines` (sorted here).
pub fn export_text(lines: &[ExportLine]) -> String {
    let mut v = lines.to_vec();
    v.sort();
    let mut out = format!("{EXPORT_HEADER}\n");
    for l in v {
        out.push_str(&format!("{l}\n"));
    }
    out
}

/// Parses an export; the error names the 1-based line at fault.
pub fn parse_export(text: &str) -> Result<Vec<ExportLine>, String> {
    let mut out = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let l = raw.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let bad = |why: &str| format!("line {}: {why}: {raw:?}", i + 1);
        let f: Vec<&str> = l.split_whitespace().collect();
        let [sid, block, range] = f[..] else {
            return Err(bad("expected \"DOMAIN-SID BLOCK FIRST-LAST\""));
        };
        let domain: Sid = sid.parse().map_err(|e| bad(&format!("bad SID ({e})")))?;
        let block: u32 = block.parse().map_err(|_| bad("bad block number"))?;
        let (a, b) = range.split_once('-').ok_or_else(|| bad("bad range"))?;
        let first: u32 = a.parse().map_err(|_| bad("bad range"))?;
        let last: u32 = b.parse().map_err(|_| bad("bad range"))?;
        if last < first {
            return Err(bad("range ends before it starts"));
        }
        out.push(ExportLine {
            domain,
            block,
            first,
            last,
        });
    }
    Ok(out)
}

/// Every disagreement between this host's table (`here`) and another
/// host's (`there`, named `there_name` in the messages): a block mapped
/// to different IDs, a block only one side has, and IDs that the two
/// sides give to different blocks. Empty when they agree.
pub fn diff_exports(here: &[ExportLine], there: &[ExportLine], there_name: &str) -> Vec<String> {
    let key = |l: &ExportLine| (l.domain, l.block);
    let a: BTreeMap<(Sid, u32), &ExportLine> = here.iter().map(|l| (key(l), l)).collect();
    let b: BTreeMap<(Sid, u32), &ExportLine> = there.iter().map(|l| (key(l), l)).collect();
    let mut out = Vec::new();
    for (k, l) in &a {
        match b.get(k) {
            Some(o) if (o.first, o.last) != (l.first, l.last) => out.push(format!(
                "block {} of {}: IDs {}-{} here, {}-{} in {there_name}",
                k.1, k.0, l.first, l.last, o.first, o.last
            )),
            Some(_) => {}
            None => out.push(format!(
                "block {} of {}: IDs {}-{} here, not allocated in {there_name}",
                k.1, k.0, l.first, l.last
            )),
        }
    }
    for (k, o) in &b {
        if !a.contains_key(k) {
            out.push(format!(
                "block {} of {}: not allocated here, IDs {}-{} in {there_name}",
                k.1, k.0, o.first, o.last
            ));
        }
    }
    for l in a.values() {
        for o in b.values() {
            if key(l) != key(o) && l.first <= o.last && o.first <= l.last {
                out.push(format!(
                    "IDs {}-{}: block {} of {} here, block {} of {} in {there_name}",
                    l.first.max(o.first),
                    l.last.min(o.last),
                    l.block,
                    l.domain,
                    o.block,
                    o.domain
                ));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(s: &str, b: u32, f: u32, l: u32) -> ExportLine {
        ExportLine {
            domain: s.parse().unwrap(),
            block: b,
            first: f,
            last: l,
        }
    }

    #[test]
    fn round_trip_and_every_kind_of_disagreement() {
        let here = vec![
            line("S-1-5-21-1-1-1", 0, 1000, 1999),
            line("S-1-5-21-2-2-2", 0, 2000, 2999),
            line("S-1-5-21-3-3-3", 1, 5000, 5999),
        ];
        let text = export_text(&here);
        assert!(text.starts_with(EXPORT_HEADER));
        assert_eq!(parse_export(&text).unwrap(), here);
        assert!(diff_exports(&here, &here, "x").is_empty());
        let there = vec![
            line("S-1-5-21-1-1-1", 0, 1000, 1999),
            line("S-1-5-21-2-2-2", 0, 3000, 3999),
            line("S-1-5-21-4-4-4", 0, 5000, 5999),
        ];
        let d = diff_exports(&here, &there, "b.txt");
        assert!(
            d.iter()
                .any(|m| m
                    .contains("block 0 of S-1-5-21-2-2-2: IDs 2000-2999 here, 3000-3999 in b.txt")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|m| m.contains("S-1-5-21-3-3-3: IDs 5000-5999 here, not allocated")),
            "{d:?}"
        );
        assert!(
            d.iter()
                .any(|m| m.contains("S-1-5-21-4-4-4: not allocated here")),
            "{d:?}"
        );
        assert!(
            d.iter().any(|m| m.starts_with(
                "IDs 5000-5999: block 1 of S-1-5-21-3-3-3 here, block 0 of S-1-5-21-4-4-4"
            )),
            "{d:?}"
        );
        let e = parse_export("# x\nS-1-5-21-1-1-1 zero 1-2\n").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }
}
