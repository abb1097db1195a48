//! The modules in a C program: loading either one does not load
//! `libgcc_s` (their unwinder is linked in, `nss/static_unwind.rs`), and
//! the NSS module's own unwinder still turns a panic into UNAVAIL.

use roster_e2e::paths;

/// `probe MODULE [SELFTEST]`: dlopens MODULE, prints whether `libgcc_s`
/// is loaded then, and calls SELFTEST (`int f(int *errnop)`) if named,
/// printing its status and errno.
const UNWIND_PROBE_C: &str = r#"
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: unwind-probe MODULE [SELFTEST]\n"); return 2; }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!module) { printf("dlopen failed: %s\n", dlerror()); return 1; }
    void *gcc_s = dlopen("libgcc_s.so.1", RTLD_NOW | RTLD_NOLOAD);
    printf("libgcc_s %s\n", gcc_s ? "loaded" : "absent");
    if (argc == 3) {
        int (*selftest)(int *) = (int (*)(int *))dlsym(module, argv[2]);
        if (!selftest) { printf("no symbol %s\n", argv[2]); return 1; }
        int err = 0;
        int status = selftest(&err);
        printf("status %d errno %d\n", status, err);
    }
    return 0;
}
"#;

/// Runs the probe on `module` (with `selftest`), returning what it printed.
fn probe(module: &str, selftest: Option<&str>) -> String {
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = roster_e2e::cc::compile(dir.path(), "unwind-probe", UNWIND_PROBE_C, &["-ldl"]);
    let out = std::process::Command::new(&bin)
        .arg(paths::module(module))
        .args(selftest)
        .output()
        .expect("run unwind-probe");
    let printed = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "unwind-probe {module}: {:?}\n{printed}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    printed
}

#[test]
fn the_nss_module_catches_its_own_panic_without_libgcc_s() {
    let printed = probe("libnss_roster.so", Some("_nss_roster_unwind_selftest"));
    // NSS_STATUS_UNAVAIL is -1; the guard sets ENOENT (2).
    assert_eq!(printed, "libgcc_s absent\nstatus -1 errno 2\n");
}

#[test]
fn the_pam_module_loads_without_libgcc_s() {
    let printed = probe("libpam_roster.so", None);
    assert_eq!(printed, "libgcc_s absent\n");
}
