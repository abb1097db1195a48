//! The NSS module exports the functions glibc looks up when it loads a
//! module (glibc 2.34 and later ask for all of them at once; one missing
//! costs each process a failed `dlsym`), but for the lookups by key of
//! maps it does not serve, which must stay missing
//! (`nss/src/unserved.rs`).

use roster_e2e::paths;

/// glibc 2.36's NSS functions (`nss/function.def`), as it looks them up
/// (`_nss_<module>_<name>`).
const GLIBC_FUNCTIONS: &[&str] = &[
    "endaliasent",
    "endetherent",
    "endgrent",
    "endhostent",
    "endnetent",
    "endnetgrent",
    "endprotoent",
    "endpwent",
    "endrpcent",
    "endservent",
    "endsgent",
    "endspent",
    "getaliasbyname_r",
    "getaliasent_r",
    "getcanonname_r",
    "getetherent_r",
    "getgrent_r",
    "getgrgid_r",
    "getgrnam_r",
    "gethostbyaddr2_r",
    "gethostbyaddr_r",
    "gethostbyname2_r",
    "gethostbyname3_r",
    "gethostbyname4_r",
    "gethostbyname_r",
    "gethostent_r",
    "gethostton_r",
    "getnetbyaddr_r",
    "getnetbyname_r",
    "getnetent_r",
    "getnetgrent_r",
    "getntohost_r",
    "getprotobyname_r",
    "getprotobynumber_r",
    "getprotoent_r",
    "getpublickey",
    "getpwent_r",
    "getpwnam_r",
    "getpwuid_r",
    "getrpcbyname_r",
    "getrpcbynumber_r",
    "getrpcent_r",
    "getsecretkey",
    "getservbyname_r",
    "getservbyport_r",
    "getservent_r",
    "getsgent_r",
    "getsgnam_r",
    "getspent_r",
    "getspnam_r",
    "initgroups_dyn",
    "netname2user",
    "setaliasent",
    "setetherent",
    "setgrent",
    "sethostent",
    "setnetent",
    "setnetgrent",
    "setprotoent",
    "setpwent",
    "setrpcent",
    "setservent",
    "setsgent",
    "setspent",
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

/// The functions that must stay missing (`nss_roster::unserved::MISSING`,
/// without the prefix).
const KEPT_MISSING: &[&str] = &[
    "getaliasbyname_r",
    "getcanonname_r",
    "gethostbyaddr2_r",
    "gethostbyaddr_r",
    "gethostbyname2_r",
    "gethostbyname3_r",
    "gethostbyname4_r",
    "gethostbyname_r",
    "getnetbyaddr_r",
    "getnetbyname_r",
    "getprotobyname_r",
    "getprotobynumber_r",
    "getrpcbyname_r",
    "getrpcbynumber_r",
    "getservbyname_r",
    "getservbyport_r",
    "getsgnam_r",
    "getspnam_r",
];

#[test]
fn the_nss_module_exports_every_function_glibc_looks_up_but_the_lookups_kept_missing() {
    assert_eq!(GLIBC_FUNCTIONS.len(), 64);
    let dir = tempfile::tempdir().expect("tempdir");
    let bin = roster_e2e::cc::compile(dir.path(), "symbols-probe", SYMBOLS_PROBE_C, &["-ldl"]);
    let out = std::process::Command::new(&bin)
        .arg(paths::module("libnss_roster.so"))
        .args(GLIBC_FUNCTIONS.iter().map(|f| format!("_nss_roster_{f}")))
        .output()
        .expect("run symbols-probe");
    assert!(out.status.success(), "{out:?}");
    let expected: String = KEPT_MISSING
        .iter()
        .map(|f| format!("_nss_roster_{f}\n"))
        .collect();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        expected,
        "not exported"
    );
}
