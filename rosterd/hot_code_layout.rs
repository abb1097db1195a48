//! Build-script helper shared by rosterd and the NSS module
//! (`rosterd/build.rs`, `nss/build.rs`): links the crate with the
//! `hot-code.ld` beside its manifest (written by `bench/hot-code.sh`),
//! whose `.text` holds first the functions its lookups run, then every
//! other function, and its `.rodata` first those functions' jump tables,
//! so that a lookup touches fewer pages of code and constants. The script
//! describes `.text` and `.rodata` where the linker puts them anyway (its
//! `INSERT` lines): the rest of the layout is the linker's own, and a
//! pattern that matches nothing changes nothing.
//!
//! Given only where the toolchain links with its own LLD, the one linker
//! the script is tested with: x86_64 GNU/Linux from rustc 1.90, no linker
//! chosen in the flags. `ROSTER_DEFAULT_LAYOUT=1` leaves the linker's
//! layout as it is.

/// Which of the crate's links take the script: cargo's
/// `rustc-link-arg-<KIND>` (`bins` for rosterd, `cdylib` for the module).
/// True when the script is given (the NSS module then also gives its
/// segments pages of their own: `nss/build.rs`).
pub fn link_hot_code(kind: &str) -> bool {
    println!("cargo:rerun-if-changed=hot-code.ld");
    if !lld_layout() {
        return false;
    }
    let script = std::path::Path::new(&var("CARGO_MANIFEST_DIR")).join("hot-code.ld");
    // (Two arguments, not `-Wl,--script,PATH`: a comma in the path would
    // split it.)
    println!("cargo:rustc-link-arg-{kind}=-Xlinker");
    println!("cargo:rustc-link-arg-{kind}=--script={}", script.display());
    true
}

/// Whether the link is one the script is given to: the toolchain's own
/// LLD (as the module doc says), unless `ROSTER_DEFAULT_LAYOUT=1`.
fn lld_layout() -> bool {
    println!("cargo:rerun-if-env-changed=ROSTER_DEFAULT_LAYOUT");
    var("TARGET") == "x86_64-unknown-linux-gnu"
        && links_with_lld(&var("RUSTC"))
        && !["fuse-ld", "linker", "link-self-contained"]
            .iter()
            .any(|flag| var("CARGO_ENCODED_RUSTFLAGS").contains(flag))
        && var("ROSTER_DEFAULT_LAYOUT") != "1"
}

/// An environment variable cargo gives the build script, or "".
fn var(key: &str) -> String {
    std::env::var(key).unwrap_or_default()
}

/// `rustc` (`rustc 1.N.P ...`) is 1.90 or later: it links x86_64
/// GNU/Linux binaries with its own LLD.
fn links_with_lld(rustc: &str) -> bool {
    let Ok(out) = std::process::Command::new(rustc).arg("-V").output() else {
        return false;
    };
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    version.starts_with("rustc 1.") && minor.is_some_and(|m| m >= 90)
}
