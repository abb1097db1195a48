//! The NSS module's SONAME is the name glibc loads it by
//! (`libnss_roster.so.2`), as for every `libnss_*` module; its unwinder is
//! linked statically ([`static_unwind`]); it is linked with `hot-code.ld`
//! (written by `bench/hot-code.sh module`): the functions a new process's
//! first lookups run first in its `.text` (README, "The first lookup of a
//! new process"; `rosterd/hot_code_layout.rs` says how and when), and
//! then each of its segments starts on a page of its own (README, "The
//! settings in the memory cache").

#[path = "../rosterd/hot_code_layout.rs"]
mod hot_code_layout;
mod static_unwind;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    static_unwind::link_static_unwinder();
    // Each segment on pages of its own, where the hot code's script is
    // given (the toolchain's LLD): the relocated data (RELRO), which
    // loading the module writes page by page, then starts at a page's
    // head and takes the fewest pages its size allows (3 for its 10 KB
    // with LTO; one more when a build's layout put its start late in a
    // page: one copy-on-write fault more in every new process).
    if hot_code_layout::link_hot_code("cdylib") {
        println!("cargo:rustc-cdylib-link-arg=-Wl,-z,separate-loadable-segments");
    }
}
