//! rosterd is linked with `hot-code.ld` (written by `bench/hot-code.sh`):
//! its `.text` holds first the functions uncached lookups run, then every
//! other function, so that a lookup after idleness touches fewer pages of
//! code (README, "rosterd's lookup code linked together"). The script
//! describes `.text` where the linker puts it anyway (`INSERT BEFORE
//! .init`): the rest of the layout is the linker's own, and a pattern
//! that matches nothing changes nothing.
//!
//! Given only where the toolchain links with LLD (x86_64 GNU/Linux: the
//! script is tested with it alone); `ROSTER_DEFAULT_LAYOUT=1` leaves the
//! linker's layout as it is.

fn main() {
    println!("cargo:rerun-if-changed=hot-code.ld");
    println!("cargo:rerun-if-env-changed=ROSTER_DEFAULT_LAYOUT");
    let var = |k: &str| std::env::var(k).unwrap_or_default();
    let lld_target = var("CARGO_CFG_TARGET_OS") == "linux"
        && var("CARGO_CFG_TARGET_ARCH") == "x86_64"
        && var("CARGO_CFG_TARGET_ENV") == "gnu";
    if !lld_target || var("ROSTER_DEFAULT_LAYOUT") == "1" {
        return;
    }
    let dir = var("CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("hot-code.ld");
    // (Two arguments, not `-Wl,--script,PATH`: a comma in the path would
    // split it.)
    println!("cargo:rustc-link-arg-bins=-Xlinker");
    println!("cargo:rustc-link-arg-bins=--script={}", script.display());
}
