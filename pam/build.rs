//! The PAM module's unwinder is linked statically, as the NSS module's
//! (`nss/static_unwind.rs` says why).

#[path = "../nss/static_unwind.rs"]
mod static_unwind;

fn main() {
    static_unwind::link_static_unwinder();
}
