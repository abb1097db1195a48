//! rosterd is linked with `hot-code.ld` (written by `bench/hot-code.sh`):
//! the functions uncached lookups run, placed together at the head of
//! its code, so that a lookup after idleness touches fewer pages of code
//! (about 210 of 4 KiB instead of 380 in the release build measured:
//! README, "rosterd's code on a cold machine"). The script only adds an
//! output section before `.text` (`INSERT`): the linker's own layout is
//! kept, and patterns that match nothing change nothing.

fn main() {
    let dir = std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR");
    let script = std::path::Path::new(&dir).join("hot-code.ld");
    println!("cargo:rerun-if-changed=hot-code.ld");
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        // (Two arguments, not `-Wl,--script,PATH`: a comma in the path
        // would split it.)
        println!("cargo:rustc-link-arg-bins=-Xlinker");
        println!("cargo:rustc-link-arg-bins=--script={}", script.display());
    }
}
