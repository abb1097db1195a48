//! rosterd and the NSS module are linked with a `hot-code.ld` each
//! (`rosterd/hot_code_layout.rs`): the sections of the functions their
//! lookups run come first in their `.text`, every other function's after
//! them. Checked on the builds the tests run (and the scripts' lines on
//! their own). A binary linked with its
//! script holds the script's mark (`__roster_hot_code`, at the head of
//! `.text`); where the build left the linker's layout alone (another
//! linker than LLD, a linker chosen in `RUSTFLAGS`,
//! `ROSTER_DEFAULT_LAYOUT=1`) there is none, and nothing to check.

#![cfg(all(target_arch = "x86_64", target_os = "linux", target_env = "gnu"))]

use roster_e2e::rosterd::rosterd_bin;
use std::path::Path;
use std::process::Command;

/// rosterd: the reading of a connection's request and the LDAP
/// connection's reader are among the script's functions, and lie before
/// every Rust function it does not name (without the script, or with
/// patterns that no longer match, the two lie among the others). (Both
/// are functions of their own in the release build the script is written
/// from; the connection's request loop, `conn::serve`, is not since its
/// rare paths were boxed apart: the release build inlines it into its
/// task's poll, which the script names.)
#[test]
fn lookup_code_is_linked_together() {
    // (Their futures' `poll`s, legacy-mangled: the path, then the hash.)
    let closure = "28_$u7b$$u7b$closure$u7d$$u7d$17h";
    let poll_of = |path: &'static str| {
        move |name: &str| {
            name.strip_prefix(path)
                .and_then(|rest| rest.strip_prefix(closure))
                .is_some_and(|hash| hash.len() == 17)
        }
    };
    assert_linked_first(
        &rosterd_bin(),
        "rosterd/hot-code.ld",
        100,
        &[
            (
                "conn::read_request",
                &poll_of("_ZN7rosterd6server4conn12read_request"),
            ),
            (
                "LdapConnAsync::turn",
                &poll_of("_ZN5ldap34conn13LdapConnAsync4turn"),
            ),
        ],
    );
}

/// The NSS module: its `getpwnam_r`, the first reading of its settings
/// (from `nss.mc`, which carries them), the mapping of `nss.mc` and the
/// connection to rosterd (what a new process's first lookup runs) are
/// among the script's functions and lie before every function it does
/// not name. (Functions that stay functions of their own in the release
/// build, with LTO, which the script is written from.)
#[test]
fn module_first_lookup_code_is_linked_together() {
    let legacy = |path: &'static str| {
        move |name: &str| {
            name.strip_prefix(path)
                .and_then(|rest| rest.strip_prefix("17h"))
                .is_some_and(|hash| hash.len() == 17)
        }
    };
    assert_linked_first(
        &roster_e2e::paths::module("libnss_roster.so"),
        "nss/hot-code.ld",
        50,
        &[
            ("_nss_roster_getpwnam_r", &|name: &str| {
                name == "_nss_roster_getpwnam_r"
            }),
            (
                "ConfigCache::get_carried",
                &legacy("_ZN10nss_roster6config11ConfigCache11get_carried"),
            ),
            (
                "memcache::reader::refresh",
                &legacy("_ZN12roster_proto8memcache6reader7refresh"),
            ),
            // A new connection to rosterd.
            (
                "client::connect_before",
                &legacy("_ZN12roster_proto6client14connect_before"),
            ),
        ],
    );
}

/// Each line of both scripts takes its function's section, and its jump
/// tables', under every name LLVM gives them in these builds (an
/// instrumented profile, no machine-function splitting): `.text.NAME`,
/// `.text.hot.NAME` (rosterd's release build is optimized with its
/// profile, which puts the functions it counts as hot there) and
/// `.text.unlikely.NAME`, and the same of `.rodata`. It reads the
/// scripts only, not a build. (The scripts of 27fd299 to 34a8598 missed
/// `.hot.`: a third of the names of rosterd's lay megabytes past its
/// head.)
#[test]
fn hot_code_scripts_take_every_section_name() {
    for script in ["rosterd/hot-code.ld", "nss/hot-code.ld"] {
        let (path, text) = read_script(script);
        let mut lines = 0;
        for line in text.lines().map(str::trim) {
            let Some(inner) = line.strip_prefix("*(").and_then(|l| l.strip_suffix(')')) else {
                continue;
            };
            // The catch-alls.
            if line == "*(.text .text.*)" || line == "*(.rodata .rodata.*)" {
                continue;
            }
            let sections: Vec<&str> = inner.split_whitespace().collect();
            let (kind, name) = ["text", "rodata"]
                .into_iter()
                .find_map(|kind| {
                    Some((kind, sections.first()?.strip_prefix(&format!(".{kind}."))?))
                })
                .unwrap_or_else(|| panic!("{}: {line}", path.display()));
            assert_eq!(
                sections,
                [
                    format!(".{kind}.{name}"),
                    format!(".{kind}.hot.{name}"),
                    format!(".{kind}.unlikely.{name}"),
                ],
                "{}: {line}",
                path.display()
            );
            lines += 1;
        }
        assert!(lines > 100, "{}: {lines} lines", path.display());
    }
}

/// A function of a binary asked for by a test: what the test calls it,
/// and which symbols are it.
type Wanted<'a> = (&'a str, &'a dyn Fn(&str) -> bool);

/// Asserts that `bin`'s functions each of `wanted` picks (at least one
/// each) are named by the script `script` (a path from the workspace's
/// root, of more than `min_patterns` patterns) and lie before every
/// function of `bin` it does not name. Nothing is checked when `bin`
/// holds no mark of the script (its build left the linker's layout
/// alone).
fn assert_linked_first(bin: &Path, script: &str, min_patterns: usize, wanted: &[Wanted<'_>]) {
    let out = Command::new("nm")
        .args(["-n", "--defined-only"])
        .arg(bin)
        .output()
        .expect("nm (binutils)");
    assert!(out.status.success(), "nm {}", bin.display());
    let listing = String::from_utf8_lossy(&out.stdout);
    if !listing.lines().any(|l| l.ends_with(" __roster_hot_code")) {
        eprintln!("{}: not linked with its script", bin.display());
        return;
    }
    let (script_path, text) = read_script(script);
    let patterns: Vec<&str> = text
        .lines()
        // `*(.text.NAME .text.hot.NAME .text.unlikely.NAME)`: NAME.
        .filter_map(|l| l.trim().strip_prefix("*(.text.")?.split_whitespace().next())
        .map(|name| name.trim_end_matches(')'))
        .collect();
    assert!(
        patterns.len() > min_patterns,
        "{}: {} patterns",
        script_path.display(),
        patterns.len()
    );
    let named = |symbol: &str| patterns.iter().any(|p| glob_matches(p, symbol));
    // (address, name) of the Rust functions and the module's entry
    // points, by address.
    let functions: Vec<(u64, &str)> = listing
        .lines()
        .filter_map(|l| match l.split_whitespace().collect::<Vec<_>>()[..] {
            [addr, "t" | "T", name]
                if name.starts_with("_ZN")
                    || name.starts_with("_R")
                    || name.starts_with("_nss_") =>
            {
                Some((u64::from_str_radix(addr, 16).ok()?, name))
            }
            _ => None,
        })
        .collect();
    // (Code shared by several names, one of them the script's, is placed
    // by that one.)
    let named_at: std::collections::HashSet<u64> = functions
        .iter()
        .filter(|(_, name)| named(name))
        .map(|&(addr, _)| addr)
        .collect();
    let first_other = functions
        .iter()
        .find(|(addr, _)| !named_at.contains(addr))
        .map(|&(addr, _)| addr)
        .expect("a function the script does not name");
    for (what, picks) in wanted {
        let placed: Vec<(u64, &str)> = functions
            .iter()
            .filter(|(_, name)| picks(name))
            .copied()
            .collect();
        assert!(
            !placed.is_empty(),
            "no function {what} in {}",
            bin.display()
        );
        for (addr, name) in placed {
            assert!(named(name), "{name}: not in {}", script_path.display());
            assert!(
                addr < first_other,
                "{name} at {addr:#x}, after a function the script does not name ({first_other:#x})"
            );
        }
    }
}

/// The path and text of `script`, a path from the workspace's root.
fn read_script(script: &str) -> (std::path::PathBuf, String) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join(script);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (path, text)
}

/// `pattern` (a linker script's: `*` any run of characters, every other
/// character itself) matches the whole of `name`.
fn glob_matches(pattern: &str, name: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = name.strip_prefix(first) else {
        return false;
    };
    let mut parts: Vec<&str> = parts.collect();
    let Some(last) = parts.pop() else {
        return rest.is_empty();
    };
    for part in parts {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}
