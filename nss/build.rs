//! The NSS module's SONAME is the name glibc loads it by
//! (`libnss_roster.so.2`), as for every `libnss_*` module; its unwinder is
//! linked statically ([`static_unwind`]).

mod static_unwind;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    static_unwind::link_static_unwinder();
}
