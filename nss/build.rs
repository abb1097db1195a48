//! The NSS module's SONAME is the name glibc loads it by
//! (`libnss_roster.so.2`), as for every `libnss_*` module; its unwinder is
//! linked statically ([`static_unwind`]); it is linked with `hot-code.ld`
//! (written by `bench/hot-code.sh module`): the functions a new process's
//! first lookups run first in its `.text` (README, "The first lookup of a
//! new process"; `rosterd/hot_code_layout.rs` says how and when).

#[path = "../rosterd/hot_code_layout.rs"]
mod hot_code_layout;
mod static_unwind;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    static_unwind::link_static_unwinder();
    hot_code_layout::link_hot_code("cdylib");
}
