//! The offline answer behind `rosterctl idmap map`: SIDs or numeric IDs in,
//! one per line, `input<TAB>result` or `input<TAB>-<TAB>reason` out.

use std::io::{self, BufRead, Write};

use crate::domainset::DomainSet;
use crate::sid::Sid;

/// What [`map_lines`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MapSummary {
    /// Lines mapped.
    pub mapped: u64,
    /// Well-formed SIDs or IDs with no mapping.
    pub unmapped: u64,
    /// Lines that are neither a SID nor a number.
    pub invalid: u64,
}

/// The answer for one input line: `Ok(result)` or `Err((invalid, reason))`.
fn map_one(set: &DomainSet, input: &str) -> Result<String, (bool, String)> {
    let b = input.as_bytes();
    if b[0] == b'S' || b[0] == b's' {
        let sid: Sid = input.parse().map_err(|e| (true, format!("{e}")))?;
        return set
            .uid_for_sid(&sid)
            .map(|id| id.to_string())
            .map_err(|e| (false, e.to_string()));
    }
    if b.iter().all(u8::is_ascii_digit) {
        let id: u32 = input.parse().map_err(|_| {
            (
                true,
                format!("{input} is larger than the largest ID {}", u32::MAX),
            )
        })?;
        return set
            .resolve_id(id)
            .map(|s| s.to_string())
            .map_err(|e| (false, e.to_string()));
    }
    Err((true, "neither a SID (S-1-...) nor a numeric ID".to_string()))
}

/// Reads SIDs or numeric IDs, one per line, from `input` and writes
/// `input\tresult` (the ID of a SID, the SID of an ID) or
/// `input\t-\treason` for each to `out`. Blank lines are skipped; a bad
/// line gets its reason and processing continues. Only I/O errors stop it.
pub fn map_lines(
    set: &DomainSet,
    mut input: impl BufRead,
    mut out: impl Write,
) -> io::Result<MapSummary> {
    let mut summary = MapSummary::default();
    let mut buf = Vec::new();
    loop {
        buf.clear();
        if input.read_until(b'\n', &mut buf)? == 0 {
            break;
        }
        let text = String::from_utf8_lossy(&buf);
        let trimmed = text.trim();
        if trimmed.is_empty() {
            continue;
        }
        // A tab inside the input would break the output's fields.
        let line = trimmed.replace('\t', " ");
        let line = line.as_str();
        match map_one(set, line) {
            Ok(r) => {
                summary.mapped += 1;
                writeln!(out, "{line}\t{r}")?;
            }
            Err((invalid, reason)) => {
                if invalid {
                    summary.invalid += 1;
                } else {
                    summary.unmapped += 1;
                }
                let reason = reason.replace(['\t', '\n', '\r'], " ");
                writeln!(out, "{line}\t-\t{reason}")?;
            }
        }
    }
    out.flush()?;
    Ok(summary)
}
