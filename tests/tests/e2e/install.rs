//! `make install` into a scratch root puts every file where Debian expects
//! it, with the right modes, and `make uninstall` removes all of it.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn make(target: &str, destdir: &Path) {
    let profile = roster_e2e::paths::profile_dir();
    let profile = profile.file_name().unwrap().to_string_lossy().into_owned();
    let out = Command::new("make")
        .arg("-s")
        .arg("-C")
        .arg(repo())
        .arg(target)
        .arg(format!("DESTDIR={}", destdir.display()))
        .arg(format!("PROFILE={profile}"))
        .arg(format!(
            "BUILD_DIR={}",
            roster_e2e::paths::profile_dir().display()
        ))
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make {target} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

#[test]
fn install_then_uninstall_leaves_nothing_behind() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path().join("root");
    make("install", &root);
    let arch = roster_e2e::paths::multiarch();
    let expect = [
        ("usr/sbin/rosterd", 0o755),
        ("usr/sbin/rosterctl", 0o755),
        (&*format!("usr/lib/{arch}/libnss_roster.so.2"), 0o644),
        (&*format!("usr/lib/{arch}/security/pam_roster.so"), 0o644),
        ("usr/lib/systemd/system/rosterd.service", 0o644),
        ("usr/lib/tmpfiles.d/roster.conf", 0o644),
        ("usr/share/pam-configs/roster", 0o644),
        ("etc/roster/roster.toml", 0o640),
        ("usr/share/man/man1/rosterctl.1", 0o644),
        ("usr/share/bash-completion/completions/rosterctl", 0o644),
    ];
    for (file, want) in expect {
        assert_eq!(mode(&root.join(file)), want, "{file}");
    }
    // The NSS module exports the hooks glibc looks for.
    let nm = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(root.join(format!("usr/lib/{arch}/libnss_roster.so.2")))
        .output()
        .expect("nm");
    let syms = String::from_utf8_lossy(&nm.stdout);
    for sym in [
        "_nss_roster_getpwnam_r",
        "_nss_roster_getpwuid_r",
        "_nss_roster_getgrnam_r",
        "_nss_roster_getgrgid_r",
        "_nss_roster_initgroups_dyn",
        "_nss_roster_setnetgrent",
        "_nss_roster_getnetgrent_r",
        "_nss_roster_endnetgrent",
    ] {
        assert!(syms.contains(sym), "{sym} missing from the NSS module");
    }
    // The installed example config is valid.
    let check = Command::new(root.join("usr/sbin/rosterctl"))
        .arg("--config")
        .arg(root.join("etc/roster/roster.toml"))
        .args(["config", "check"])
        .output()
        .expect("rosterctl config check");
    assert!(
        check.status.success(),
        "the example roster.toml does not load: {}{}",
        String::from_utf8_lossy(&check.stdout),
        String::from_utf8_lossy(&check.stderr)
    );
    // The host's nsswitch.conf is never edited by install.
    assert!(!std::fs::read_to_string("/etc/nsswitch.conf")
        .unwrap()
        .contains("roster"));

    make("uninstall", &root);
    let left: Vec<_> = walk(scratch.path());
    assert!(left.is_empty(), "left behind: {left:?}");
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            out.push(e.path());
            if e.path().is_dir() {
                out.extend(walk(&e.path()));
            }
        }
    }
    out
}
