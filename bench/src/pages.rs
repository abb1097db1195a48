//! The memory a process touched over a stretch of time, from the kernel's
//! page tables: the referenced bits cleared (`/proc/PID/clear_refs`),
//! the process left to work, then the pages found referenced again
//! counted (`Referenced:` of each mapping in `/proc/PID/smaps`), split
//! into code (executable mappings: the program's and its libraries') and
//! data (the rest: heap, stacks, the binaries' data and constants, mapped
//! files), and by mapping ([`mapping_class`]). After idleness every page a lookup touches is a cache and TLB
//! miss, so the count is a measure of what a cold lookup costs that does
//! not depend on the machine's load. (Clearing the bits also drops the
//! process's TLB entries: the lookups counted are not timed.)

use std::collections::BTreeMap;
use std::io;

/// Memory a process touched, in kB (4 kB a page).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Touched {
    /// In executable mappings.
    pub code_kb: u64,
    /// In all other mappings.
    pub data_kb: u64,
    /// The same memory by where it lies ([`mapping_class`]), mappings
    /// touched not at all left out.
    pub by_mapping: BTreeMap<String, u64>,
}

/// What a mapping of `smaps` holds, from its permissions and path: the
/// file's name with `:code` or `:data` (a file replaced since it was
/// mapped, ` (deleted)`, under its name), or the kernel's name for it
/// (`[heap]`, `[stack]`, `[vdso]`), or `anon` (thread stacks, other
/// arenas). No `=` or whitespace: a benchmark's `key=value` line is made
/// of it.
pub fn mapping_class(perms: &str, path: Option<&str>) -> String {
    match path {
        Some(p) if p.starts_with('[') && !p.starts_with("[anon") => p.to_string(),
        Some(p) if p.starts_with('/') => {
            let p = p.strip_suffix(" (deleted)").unwrap_or(p);
            let name: String = p
                .rsplit('/')
                .next()
                .unwrap_or(p)
                .chars()
                .map(|c| {
                    if c == '=' || c.is_whitespace() {
                        '_'
                    } else {
                        c
                    }
                })
                .collect();
            let kind = if perms.contains('x') { "code" } else { "data" };
            format!("{name}:{kind}")
        }
        _ => "anon".to_string(),
    }
}

/// Clears the referenced bits of every page of process `pid`.
pub fn clear(pid: u32) -> io::Result<()> {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "1")
}

/// What process `pid` touched since its bits were last [`clear`]ed.
pub fn touched(pid: u32) -> io::Result<Touched> {
    Ok(parse_smaps(&std::fs::read_to_string(format!(
        "/proc/{pid}/smaps"
    ))?))
}

/// The referenced memory of an `smaps` text, code and data.
pub fn parse_smaps(smaps: &str) -> Touched {
    let mut out = Touched::default();
    let mut executable = false;
    let mut class = String::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let Some(first) = fields.next() else { continue };
        if let Some(kb) = first
            .strip_prefix("Referenced:")
            .and_then(|_| fields.next())
            .and_then(|v| v.parse::<u64>().ok())
        {
            if executable {
                out.code_kb += kb;
            } else {
                out.data_kb += kb;
            }
            if kb > 0 {
                *out.by_mapping.entry(class.clone()).or_default() += kb;
            }
        } else if first.contains('-') && !first.ends_with(':') {
            // A mapping's header: `START-END PERMS OFFSET DEV INODE [PATH]`
            // (a path may hold spaces).
            let perms = fields.next().unwrap_or("");
            executable = perms.contains('x');
            let path = line.splitn(6, char::is_whitespace).nth(5).map(str::trim);
            class = mapping_class(perms, path.filter(|p| !p.is_empty()));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_and_data_are_told_apart_by_the_mapping() {
        let smaps = "\
55d0c0000000-55d0c0100000 r--p 00000000 fe:01 123 /usr/sbin/rosterd
Size:               1024 kB
Referenced:           12 kB
55d0c0100000-55d0c0900000 r-xp 00100000 fe:01 123 /usr/sbin/rosterd
Size:               8192 kB
Referenced:          700 kB
VmFlags: rd ex mr mw me
55d0c2000000-55d0c2400000 rw-p 00000000 00:00 0                          [heap]
Referenced:          260 kB
7ffd00000000-7ffd00021000 rw-p 00000000 00:00 0                          [stack]
Referenced:           52 kB
7f0000000000-7f0000100000 r-xp 00000000 fe:01 99 /usr/lib/x86_64-linux-gnu/libc.so.6
Referenced:           68 kB
";
        let t = parse_smaps(smaps);
        assert_eq!((t.code_kb, t.data_kb), (768, 324));
        let by: Vec<(&str, u64)> = t.by_mapping.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        assert_eq!(
            by,
            [
                ("[heap]", 260),
                ("[stack]", 52),
                ("libc.so.6:code", 68),
                ("rosterd:code", 700),
                ("rosterd:data", 12),
            ]
        );
    }

    #[test]
    fn mappings_are_classed_by_path_and_permissions() {
        assert_eq!(
            mapping_class("r--p", Some("/usr/sbin/rosterd")),
            "rosterd:data"
        );
        assert_eq!(
            mapping_class("r-xp", Some("/usr/sbin/rosterd")),
            "rosterd:code"
        );
        assert_eq!(mapping_class("rw-p", Some("[heap]")), "[heap]");
        assert_eq!(mapping_class("rw-p", Some("[anon:glibc]")), "anon");
        assert_eq!(mapping_class("rw-p", None), "anon");
        assert_eq!(
            mapping_class("rw-s", Some("/run/a b/nss.mc")),
            "nss.mc:data"
        );
        assert_eq!(mapping_class("rw-s", Some("/run/x/a b")), "a_b:data");
        assert_eq!(mapping_class("rw-s", Some("/run/x/a=b")), "a_b:data");
        assert_eq!(
            mapping_class("r-xp", Some("/usr/sbin/rosterd (deleted)")),
            "rosterd:code"
        );
    }

    /// The process's own page tables: what it touched is counted, and
    /// its code is some of it.
    #[test]
    fn this_process_touched_code_and_data() {
        let pid = std::process::id();
        clear(pid).unwrap();
        let buf = std::hint::black_box(vec![7u8; 1 << 20]);
        let sum: u64 = buf.iter().step_by(4096).map(|&b| u64::from(b)).sum();
        assert_eq!(sum, 7 * 256);
        let t = touched(pid).unwrap();
        assert!(t.code_kb > 0, "{t:?}");
        assert!(t.data_kb >= 1024, "the buffer's megabyte: {t:?}");
    }
}
