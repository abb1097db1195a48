//! `make deb` builds a package holding exactly what `make install`
//! installs, with the conffile, maintainer scripts and control fields
//! Debian expects; the real `dpkg` installs, reinstalls, removes and
//! purges it inside a private mount namespace over a throwaway overlay of
//! the host's root (the host's package database and /etc are never
//! touched); lintian finds no error in it.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repo root")
        .to_path_buf()
}

fn make(args: &[String]) -> Output {
    let profile = roster_e2e::paths::profile_dir();
    let name = profile.file_name().unwrap().to_string_lossy().into_owned();
    let out = Command::new("make")
        .arg("-s")
        // Under an outer make (make test), inherited MAKEFLAGS would print
        // "Leaving directory" after the package's path.
        .arg("--no-print-directory")
        .arg("-C")
        .arg(repo())
        .args(args)
        .arg(format!("PROFILE={name}"))
        .arg(format!("BUILD_DIR={}", profile.display()))
        .output()
        .expect("run make");
    assert!(
        out.status.success(),
        "make {args:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn workspace_version() -> String {
    let text = std::fs::read_to_string(repo().join("Cargo.toml")).unwrap();
    let table: toml::Table = text.parse().unwrap();
    table["workspace"]["package"]["version"]
        .as_str()
        .unwrap()
        .to_string()
}

/// The package and the `make install` tree it is compared with: built once
/// for every test process of a run (a shared, read-only fixture; the tests
/// of this binary run in processes of their own under nextest).
struct Built {
    deb: PathBuf,
    installed: PathBuf,
}

/// What the package is made from: the built files `make install` copies
/// (size and modification time) and the text of the packaging files, the
/// Makefile, the README and the workspace manifest.
fn package_inputs() -> String {
    fn files(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                files(&p, out);
            } else {
                out.push(p);
            }
        }
    }
    let profile = roster_e2e::paths::profile_dir();
    let built: Vec<_> = [
        "rosterd",
        "rosterctl",
        "libnss_roster.so",
        "libpam_roster.so",
    ]
    .iter()
    .map(|f| {
        let m = std::fs::metadata(profile.join(f)).unwrap();
        (f.to_string(), m.len(), m.modified().ok())
    })
    .collect();
    let mut sources = vec![
        repo().join("Makefile"),
        repo().join("README.md"),
        repo().join("Cargo.toml"),
    ];
    files(&repo().join("packaging"), &mut sources);
    sources.sort();
    let texts: Vec<_> = sources
        .iter()
        .map(|p| (p.display().to_string(), std::fs::read(p).unwrap()))
        .collect();
    roster_e2e::fixture_cache::digest(&(profile, built, texts))
}

fn built() -> &'static Built {
    static B: OnceLock<Built> = OnceLock::new();
    B.get_or_init(|| {
        let arch = run(Command::new("dpkg").arg("--print-architecture"));
        let file = format!("roster_{}_{}.deb", workspace_version(), arch.trim());
        let name = format!("deb-{}", package_inputs());
        let dir = roster_e2e::fixture_cache::shared_dir(&name, |dir| {
            let out = make(&["deb".into(), format!("DEB_DIR={}", dir.display())]);
            let printed = String::from_utf8_lossy(&out.stdout);
            let deb = PathBuf::from(printed.lines().last().expect("make deb prints the file"));
            assert_eq!(deb, dir.join(&file), "package file name");
            let installed = dir.join("installed");
            make(&["install".into(), format!("DESTDIR={}", installed.display())]);
        });
        Built {
            deb: dir.join(file),
            installed: dir.join("installed"),
        }
    })
}

/// Every file and symlink under `root`, relative, with its mode.
fn tree(root: &Path) -> BTreeMap<String, u32> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, u32>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let meta = std::fs::symlink_metadata(e.path()).unwrap();
            if meta.is_dir() {
                walk(root, &e.path(), out);
            } else {
                let rel = e.path().strip_prefix(root).unwrap().display().to_string();
                out.insert(rel, meta.permissions().mode() & 0o7777);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

fn is_elf(p: &Path) -> bool {
    std::fs::read(p).unwrap().starts_with(b"\x7fELF")
}

#[test]
fn package_holds_what_make_install_installs() {
    let b = built();
    let scratch = tempfile::tempdir().unwrap();
    let x = scratch.path().join("x");
    run(Command::new("dpkg-deb").arg("-x").arg(&b.deb).arg(&x));
    let packaged = tree(&x);
    let mut expected: BTreeMap<String, u32> = tree(&b.installed)
        .into_iter()
        .map(|(f, m)| {
            // Debian policy: man pages are compressed.
            if f.starts_with("usr/share/man/") {
                (format!("{f}.gz"), m)
            } else {
                (f, m)
            }
        })
        .collect();
    expected.insert("usr/share/doc/roster/copyright".into(), 0o644);
    expected.insert("usr/share/doc/roster/changelog.gz".into(), 0o644);
    assert_eq!(packaged, expected, "package contents versus make install");
    for f in expected.keys() {
        let (inst, pkg) = (b.installed.join(f), x.join(f));
        if !inst.exists() || f.starts_with("usr/share/man/") {
            continue;
        }
        if is_elf(&inst) {
            // Stripped, but the same program: same dynamic symbols.
            let syms = |p: &Path| run(Command::new("nm").args(["-D", "--defined-only"]).arg(p));
            assert!(is_elf(&pkg), "{f}");
            assert_eq!(syms(&inst), syms(&pkg), "{f}: dynamic symbols");
        } else {
            assert_eq!(
                std::fs::read(&inst).unwrap(),
                std::fs::read(&pkg).unwrap(),
                "{f} differs from the installed file"
            );
        }
    }
    // The man pages are the installed ones, compressed.
    let man = "usr/share/man/man1/rosterctl.1";
    let unzipped = run(Command::new("gzip")
        .arg("-dc")
        .arg(x.join(format!("{man}.gz"))));
    assert_eq!(
        unzipped,
        std::fs::read_to_string(b.installed.join(man)).unwrap()
    );
}

#[test]
fn control_fields_conffiles_and_maintainer_scripts() {
    let b = built();
    let scratch = tempfile::tempdir().unwrap();
    let ctl = scratch.path().join("DEBIAN");
    run(Command::new("dpkg-deb").arg("-e").arg(&b.deb).arg(&ctl));
    let field = |name: &str| {
        run(Command::new("dpkg-deb").args(["-f"]).arg(&b.deb).arg(name))
            .trim()
            .to_string()
    };
    assert_eq!(field("Package"), "roster");
    assert_eq!(field("Version"), workspace_version());
    let depends = field("Depends");
    for dep in ["libc6", "libpam0g", "libssl3", "adduser", "libpam-runtime"] {
        assert!(depends.contains(dep), "Depends lacks {dep}: {depends}");
    }
    assert_eq!(
        std::fs::read_to_string(ctl.join("conffiles")).unwrap(),
        "/etc/roster/roster.toml\n"
    );
    // The NSS module lives in the linker path: ldconfig runs after it.
    assert_eq!(
        std::fs::read_to_string(ctl.join("triggers")).unwrap(),
        "activate-noawait ldconfig\n"
    );
    for s in ["postinst", "prerm", "postrm"] {
        let p = ctl.join(s);
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o755
        );
        run(Command::new("sh").arg("-n").arg(&p));
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(!text.contains("nsswitch"), "{s} touches nsswitch.conf");
        assert!(!text.contains("--enable"), "{s} force-enables something");
    }
    let postinst = std::fs::read_to_string(ctl.join("postinst")).unwrap();
    assert!(postinst.contains("adduser --system"));
    assert!(postinst.contains("pam-auth-update --package\n"));
    assert!(postinst.contains("deb-systemd-helper enable 'rosterd.service'"));
    let postrm = std::fs::read_to_string(ctl.join("postrm")).unwrap();
    assert!(postrm.contains("rm -rf /var/lib/roster"));
}

/// Runs `script` as root in a private mount namespace, chrooted into an
/// overlay of `/` whose writes go to a tmpfs that vanishes with the
/// namespace. `/run` is an empty tmpfs there, so the maintainer scripts
/// see no running systemd and start or stop nothing on the host.
fn in_scratch_root(deb: &Path, script: &str) -> String {
    let scratch = tempfile::tempdir().unwrap();
    let s = scratch.path().display();
    let outer = format!(
        r#"set -e
mount -t tmpfs tmpfs {s}
mkdir {s}/upper {s}/work {s}/root
mount -t overlay overlay -o lowerdir=/,upperdir={s}/upper,workdir={s}/work {s}/root
mount --rbind /dev {s}/root/dev
mount -t proc proc {s}/root/proc
mount -t tmpfs tmpfs {s}/root/run
mount -t tmpfs tmpfs {s}/root/tmp
cp {deb} {s}/root/tmp/roster.deb
cp /etc/nsswitch.conf {s}/root/tmp/nsswitch.host
exec chroot {s}/root /bin/sh -s
"#,
        deb = deb.display()
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "/bin/sh", "-c"])
        .arg(outer)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut child| {
            use std::io::Write;
            child.stdin.take().unwrap().write_all(
                format!("set -e\nexport DEBIAN_FRONTEND=noninteractive\n{script}").as_bytes(),
            )?;
            child.wait_with_output()
        })
        .expect("unshare");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "scratch-root dpkg run failed:\n{text}"
    );
    text
}

fn host_has_roster_package() -> bool {
    std::fs::read_to_string("/var/lib/dpkg/status")
        .unwrap()
        .lines()
        .any(|l| l == "Package: roster")
}

#[test]
fn dpkg_installs_upgrades_removes_and_purges_in_a_scratch_root() {
    let b = built();
    let host_before = host_has_roster_package();
    let nsswitch_before = std::fs::read("/etc/nsswitch.conf").unwrap();
    let out = in_scratch_root(
        &b.deb,
        r#"
dpkg -i /tmp/roster.deb
echo "status=$(dpkg-query -W -f='${Status}' roster)"
getent passwd _roster | cut -d: -f6,7 | sed 's/^/user=/'
getent group _roster >/dev/null && echo group=yes
grep -q pam_roster.so /etc/pam.d/common-auth && echo pam-auth=yes
grep -q pam_roster.so /etc/pam.d/common-account && echo pam-account=yes
grep -qx roster /var/lib/pam/seen && echo pam-seen=yes
[ -L /etc/systemd/system/multi-user.target.wants/rosterd.service ] && echo unit-enabled=yes
cmp -s /etc/nsswitch.conf /tmp/nsswitch.host && echo nsswitch-unchanged=yes
echo "conf-mode=$(stat -c %a /etc/roster/roster.toml)"
echo "conf-owner=$(stat -c %U:%G /etc/roster/roster.toml)"
# The administrator's edit of the conffile survives a reinstall.
# ... naming a root-only password file, as a root-run rosterd wanted it:
# the upgrade makes it readable by _roster through its group.
install -m 0600 /dev/null /etc/roster/bind_password
echo 'bind_password_file = "/etc/roster/bind_password"' >> /etc/roster/roster.toml
echo '# edited by the admin' >> /etc/roster/roster.toml
mkdir -p /var/lib/roster && echo state > /var/lib/roster/cache.db
dpkg -i /tmp/roster.deb
tail -n1 /etc/roster/roster.toml | grep -q 'edited by the admin' && echo conffile-kept=yes
echo "conf-after-upgrade=$(stat -c %U:%G:%a /etc/roster/roster.toml)"
echo "secret-after-upgrade=$(stat -c %U:%G:%a /etc/roster/bind_password)"
dpkg --remove roster
echo "after-remove=$(dpkg-query -W -f='${Status}' roster)"
grep -q pam_roster.so /etc/pam.d/common-auth || echo pam-removed=yes
[ -e /etc/roster/roster.toml ] && echo conf-after-remove=yes
[ -e /var/lib/roster/cache.db ] && echo state-after-remove=yes
rm -f /etc/roster/bind_password  # the admin's own file: purge keeps it
dpkg --purge roster
dpkg-query -W roster 2>/dev/null || echo after-purge=gone
[ -e /var/lib/roster ] || echo state-purged=yes
[ -e /etc/roster ] || echo conf-purged=yes
dpkg-statoverride --list /etc/roster/roster.toml >/dev/null || echo statoverride-gone=yes
ls /etc/systemd/system/multi-user.target.wants/rosterd.service /etc/systemd/system/rosterd.service 2>/dev/null || echo unit-links-gone=yes
cmp -s /etc/nsswitch.conf /tmp/nsswitch.host && echo nsswitch-still-unchanged=yes
"#,
    );
    for want in [
        "status=install ok installed",
        "user=/var/lib/roster:/usr/sbin/nologin",
        "group=yes",
        "pam-auth=yes",
        "pam-account=yes",
        "pam-seen=yes",
        "unit-enabled=yes",
        "nsswitch-unchanged=yes",
        "conf-mode=640",
        "conf-owner=root:_roster",
        "conf-after-upgrade=root:_roster:640",
        "secret-after-upgrade=root:_roster:640",
        "conffile-kept=yes",
        "after-remove=deinstall ok config-files",
        "pam-removed=yes",
        "conf-after-remove=yes",
        "state-after-remove=yes",
        "after-purge=gone",
        "state-purged=yes",
        "conf-purged=yes",
        "statoverride-gone=yes",
        "unit-links-gone=yes",
        "nsswitch-still-unchanged=yes",
    ] {
        assert!(
            out.lines().any(|l| l == want),
            "missing {want:?} in:\n{out}"
        );
    }
    // Nothing of it reached the host.
    assert_eq!(host_has_roster_package(), host_before);
    assert_eq!(
        std::fs::read("/etc/nsswitch.conf").unwrap(),
        nsswitch_before
    );
    assert!(
        !Path::new("/etc/systemd/system/multi-user.target.wants/rosterd.service").exists()
            || host_before
    );
}

#[test]
fn lintian_finds_no_error() {
    let b = built();
    assert!(
        Path::new("/usr/bin/lintian").exists(),
        "lintian is not installed: run `make deps-deb` (make test does)"
    );
    let out = Command::new("lintian")
        .args(["--fail-on", "error", "--tag-display-limit", "0"])
        .arg(&b.deb)
        .output()
        .expect("lintian");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "lintian:\n{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("E:")),
        "lintian errors:\n{text}"
    );
}
