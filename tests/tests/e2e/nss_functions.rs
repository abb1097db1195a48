//! The NSS module exports the functions glibc looks up when it loads a
//! module (glibc 2.34 and later ask for all of them at once; one missing
//! costs each process a failed `dlsym`), but for the lookups by key of
//! maps it does not serve, which must stay missing
//! (`nss/src/unserved.rs`).

use roster_e2e::paths;

/// glibc 2.36's NSS functions (`nss/function.def`), as it looks them up
/// (`_nss_<module>_<name>`), each with whether the module exports it
/// (`false`: a lookup by key of a map roster does not serve, which must
/// stay missing: `nss_roster::unserved::MISSING`).
const GLIBC_FUNCTIONS: &[(&str, bool)] = &[
    ("endaliasent", true),
    ("endetherent", true),
    ("endgrent", true),
    ("endhostent", true),
    ("endnetent", true),
    ("endnetgrent", true),
    ("endprotoent", true),
    ("endpwent", true),
    ("endrpcent", true),
    ("endservent", true),
    ("endsgent", true),
    ("endspent", true),
    ("getaliasbyname_r", false),
    ("getaliasent_r", true),
    ("getcanonname_r", false),
    ("getetherent_r", true),
    ("getgrent_r", true),
    ("getgrgid_r", true),
    ("getgrnam_r", true),
    ("gethostbyaddr2_r", false),
    ("gethostbyaddr_r", false),
    ("gethostbyname2_r", false),
    ("gethostbyname3_r", false),
    ("gethostbyname4_r", false),
    ("gethostbyname_r", false),
    ("gethostent_r", true),
    ("gethostton_r", true),
    ("getnetbyaddr_r", false),
    ("getnetbyname_r", false),
    ("getnetent_r", true),
    ("getnetgrent_r", true),
    ("getntohost_r", true),
    ("getprotobyname_r", false),
    ("getprotobynumber_r", false),
    ("getprotoent_r", true),
    ("getpublickey", true),
    ("getpwent_r", true),
    ("getpwnam_r", true),
    ("getpwuid_r", true),
    ("getrpcbyname_r", false),
    ("getrpcbynumber_r", false),
    ("getrpcent_r", true),
    ("getsecretkey", true),
    ("getservbyname_r", false),
    ("getservbyport_r", false),
    ("getservent_r", true),
    ("getsgent_r", true),
    ("getsgnam_r", false),
    ("getspent_r", true),
    ("getspnam_r", false),
    ("initgroups_dyn", true),
    ("netname2user", true),
    ("setaliasent", true),
    ("setetherent", true),
    ("setgrent", true),
    ("sethostent", true),
    ("setnetent", true),
    ("setnetgrent", true),
    ("setprotoent", true),
    ("setpwent", true),
    ("setrpcent", true),
    ("setservent", true),
    ("setsgent", true),
    ("setspent", true),
];

/// `symbols-probe MODULE NAME…`: dlopens MODULE and prints each NAME it
/// does not export.
const SYMBOLS_PROBE_C: &str = r#"
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv) {
    if (argc < 2) { fprintf(stderr, "usage: symbols-probe MODULE NAME...\n"); return 2; }
    void *module = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
    if (!module) { printf("dlopen failed: %s\n", dlerror()); return 1; }
    for (int i = 2; i < argc; i++)
        if (!dlsym(module, argv[i])) printf("%s\n", argv[i]);
    return 0;
}
"#;

#[test]
fn the_nss_module_exports_every_function_glibc_looks_up_but_the_lookups_kept_missing() {
    assert_eq!(GLIBC_FUNCTIONS.len(), 64);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = roster_e2e::cc::compile(dir.path(), "symbols-probe", SYMBOLS_PROBE_C, &["-ldl"]);
    let out = std::process::Command::new(&bin)
        .arg(paths::module("libnss_roster.so"))
        .args(
            GLIBC_FUNCTIONS
                .iter()
                .map(|(f, _)| format!("_nss_roster_{f}")),
        )
        .output()
        .expect("run symbols-probe");
    assert!(out.status.success(), "{out:?}");
    let expected: String = GLIBC_FUNCTIONS
        .iter()
        .filter(|(_, exported)| !exported)
        .map(|(f, _)| format!("_nss_roster_{f}\n"))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "not exported"
    );
}
