//! Build-script helper shared by the NSS and PAM modules (`nss/build.rs`,
//! `pam/build.rs`): links the module's unwinder statically, so that
//! loading the module does not load `libgcc_s.so.1` into the host process.
//!
//! Why: `libgcc_s`'s constructor (`__cpu_indicator_init`) runs CPUID a
//! few dozen times, and in a virtual machine every CPUID traps to the
//! hypervisor. Measured on the 2-vCPU development VM, `dlopen` of the NSS
//! module took 160–210 µs with `libgcc_s` and 47–60 µs without (nslcd's
//! `libnss_ldap.so.2`: 35 µs), and every process that looks up a directory
//! name (`ls -l`, `id`, sshd's session child) pays it once.
//!
//! How: the Rust standard library asks for `-lgcc_s` (its unwinder, used
//! by `catch_unwind` at the FFI edge). A linker script named `libgcc_s.so`
//! in a directory searched first (a `-L` given to the module's link only)
//! makes that `-lgcc_s` read GCC's static `libgcc_eh.a` instead, the same
//! unwinder GCC's own `-static-libgcc` links into shared libraries. The
//! module's version script keeps the unwinder's symbols local, so it never
//! meets the host's own unwinder; a panic is still caught inside the
//! module (the end-to-end test `tests/tests/e2e/modules_unwind.rs` checks
//! it in a C program without `libgcc_s`). When the C compiler does not
//! know `libgcc_eh.a`, the module links `libgcc_s` as before (with a
//! build warning).
//!
//! Limits: GCC 12's `libgcc_eh.a` calls `_dl_find_object`, so the module
//! needs glibc 2.35 or later (Debian 12 has 2.36; it needed 2.34 before).
//! An unwind that starts outside the module and crosses its frames (a
//! `pthread_cancel` of a thread inside a lookup, or a C++ exception thrown
//! through a PAM conversation) is driven by the system's `libgcc_s` and
//! calls the module's own copies of the unwinder's context functions:
//! they match when the module was built with the GCC of the host's
//! `libgcc_s`, as a Debian package is. (Such an unwind through an
//! `extern "C"` function of the module aborted before too.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// Sends the module's (cdylib's) link to a static unwinder, as the module
/// doc says.
pub fn link_static_unwinder() {
    println!("cargo:rerun-if-changed=../nss/static_unwind.rs");
    let Some(archive) = gcc_eh_archive() else {
        println!("cargo:warning=libgcc_eh.a not found: the module loads libgcc_s.so.1");
        return;
    };
    // (A GCC upgrade moves or replaces it: look again then.)
    println!("cargo:rerun-if-changed={}", archive.display());
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    let dir = out.join("static-unwind");
    std::fs::create_dir_all(&dir).expect("create OUT_DIR/static-unwind");
    std::fs::write(
        dir.join("libgcc_s.so"),
        format!("INPUT({})\n", archive.display()),
    )
    .expect("write the libgcc_s.so linker script");
    println!("cargo:rustc-cdylib-link-arg=-L{}", dir.display());
}

/// The path of GCC's `libgcc_eh.a`, as the target's C compiler reports it
/// (`cc -print-file-name`), when it exists.
fn gcc_eh_archive() -> Option<PathBuf> {
    let cc = target_cc();
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()
        .filter(|o| o.status.success())?;
    let path = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    // An unknown file is printed back as its bare name.
    (path.is_absolute() && Path::new(&path).is_file()).then_some(path)
}

/// The C compiler that links the module: the linker cargo was given for
/// the target (`RUSTC_LINKER`), else the target's C compiler as the `cc`
/// crate looks for it (`CC_<target>`, dashes as underscores too,
/// `TARGET_CC`, `CC`), else `cc`.
fn target_cc() -> String {
    let target = std::env::var("TARGET").unwrap_or_default();
    let names = [
        "RUSTC_LINKER".to_string(),
        format!("CC_{target}"),
        format!("CC_{}", target.replace('-', "_")),
        "TARGET_CC".to_string(),
        "CC".to_string(),
    ];
    for name in &names {
        println!("cargo:rerun-if-env-changed={name}");
    }
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "cc".into())
}
