//! Runs commands in a private mount namespace with roster's NSS/PAM set-up,
//! so that the host's own `/etc` is never touched.
//!
//! Each namespace is made from the calling thread's, which holds rosterd's
//! system user `_roster` ([`crate::daemon_user::enter`], called by
//! [`Namespace::new`], [`Namespace::command`] and [`Namespace::wrapper`]).
//! Inside the namespace (`unshare --mount --propagation private`):
//! - `/etc/nsswitch.conf` is a bind-mounted file of ours (default:
//!   `passwd`/`group`/`initgroups`... `files roster`);
//! - `/etc/pam.d` is a bind-mounted copy of the host's directory plus our
//!   service files, when any are given;
//! - `/etc/hosts` optionally ours, and any other `/etc` file a test
//!   gives ([`Namespace::etc_file`], e.g. a host's own `passwd`);
//! - optionally its own host name (`unshare --uts`, [`Namespace::hostname`]);
//! - a rosterd socket directory is bind-mounted onto `/run/roster`, where
//!   the NSS module looks by default.
//!
//! The NSS module must be findable by `dlopen("libnss_roster.so.2")`, so
//! [`install_nss_module`] puts a copy of the built one into
//! `/lib/<multiarch>/` when none is there: a file that is inert unless an nsswitch.conf names
//! `roster`, which only our namespaced copies do. Inside each namespace the
//! module of this build is bind-mounted over that copy, so test runs of
//! several checkouts at once never load each other's module.

use crate::paths;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::Once;

/// The nsswitch.conf used by default inside the namespace.
pub const DEFAULT_NSSWITCH: &str = "passwd: files roster\ngroup: files roster\n\
shadow: files\nhosts: files\nnetworks: files\nprotocols: files\nservices: files\n\
ethers: files\nrpc: files\nnetgroup: files\n";

/// The mount set-up of one namespace; each [`Namespace::run`] makes a new one.
pub struct Namespace {
    dir: tempfile::TempDir,
    pam_services: Vec<String>,
    hosts: bool,
    socket_dir: Option<PathBuf>,
    etc_files: Vec<String>,
    hostname: Option<String>,
}

static INSTALL: Once = Once::new();

/// Makes sure `/lib/<multiarch>/libnss_roster.so.2` exists (a copy of
/// this build's `libnss_roster.so`) and returns its path. Only its
/// existence matters: every namespace bind-mounts its own build's module
/// over it. So it is created once, when missing, and never replaced — a
/// replacement (a rename gives the path a new inode) would make any test
/// bind-mounting over the path at that moment fail with ENOENT, and test
/// runs of several checkouts at once would replace each other's copy all
/// the time. Created by a hard link from a private temporary copy, which
/// fails, harmlessly, when another process made the file first.
pub fn install_nss_module() -> PathBuf {
    let target = PathBuf::from(format!("/lib/{}/libnss_roster.so.2", paths::multiarch()));
    INSTALL.call_once(|| {
        if target.exists() {
            return;
        }
        let built = paths::module("libnss_roster.so");
        let tmp = target.with_extension(format!("2.tmp{}", std::process::id()));
        std::fs::copy(&built, &tmp)
            .unwrap_or_else(|e| panic!("copy {} to {}: {e}", built.display(), tmp.display()));
        let linked = std::fs::hard_link(&tmp, &target);
        let _ = std::fs::remove_file(&tmp);
        match linked {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => panic!("link {} to {}: {e}", tmp.display(), target.display()),
        }
    });
    target
}

impl Default for Namespace {
    fn default() -> Self {
        Namespace::new()
    }
}

impl Namespace {
    /// A namespace with [`DEFAULT_NSSWITCH`] and no PAM services.
    pub fn new() -> Namespace {
        crate::daemon_user::enter();
        let dir = tempfile::Builder::new()
            .prefix("roster-ns-")
            .tempdir()
            .expect("temp dir");
        std::fs::write(dir.path().join("nsswitch.conf"), DEFAULT_NSSWITCH).expect("nsswitch");
        Namespace {
            dir,
            pam_services: Vec::new(),
            hosts: false,
            socket_dir: None,
            etc_files: Vec::new(),
            hostname: None,
        }
    }

    /// Replaces the nsswitch.conf seen inside.
    pub fn nsswitch(self, text: &str) -> Namespace {
        std::fs::write(self.dir.path().join("nsswitch.conf"), text).expect("nsswitch");
        self
    }

    /// Adds (or replaces) `/etc/pam.d/NAME` inside.
    pub fn pam_service(mut self, name: &str, text: &str) -> Namespace {
        let pam_dir = self.dir.path().join("pam.d");
        if !pam_dir.exists() {
            std::fs::create_dir_all(&pam_dir).expect("pam.d copy");
            copy_dir_files(Path::new("/etc/pam.d"), &pam_dir);
        }
        std::fs::write(pam_dir.join(name), text).expect("pam service");
        self.pam_services.push(name.to_string());
        self
    }

    /// Replaces `/etc/hosts` inside.
    pub fn hosts(mut self, text: &str) -> Namespace {
        std::fs::write(self.dir.path().join("hosts"), text).expect("hosts");
        self.hosts = true;
        self
    }

    /// Replaces `/etc/NAME` inside (e.g. `passwd`, `group`): a simulated
    /// host's own local accounts. The file must exist on the host. A
    /// `passwd` or `group` without rosterd's system user gets its line
    /// added (a host with roster installed has `_roster`, and a rosterd
    /// started in the namespace drops to it).
    pub fn etc_file(mut self, name: &str, text: &str) -> Namespace {
        assert!(
            !name.contains('/') && Path::new("/etc").join(name).is_file(),
            "/etc/{name} must be an existing file of /etc"
        );
        let dir = self.dir.path().join("etc");
        std::fs::create_dir_all(&dir).expect("etc copy dir");
        let text = crate::daemon_user::with_daemon_user(name, text);
        std::fs::write(dir.join(name), text).expect("etc file");
        if !self.etc_files.iter().any(|n| n == name) {
            self.etc_files.push(name.to_string());
        }
        self
    }

    /// Gives the namespace its own host name (a private UTS namespace).
    pub fn hostname(mut self, name: &str) -> Namespace {
        self.hostname = Some(name.to_string());
        self
    }

    /// Bind-mounts a rosterd socket directory onto `/run/roster` inside.
    pub fn socket_dir(mut self, dir: &Path) -> Namespace {
        self.socket_dir = Some(dir.to_path_buf());
        self
    }

    /// The namespace's scratch directory (for files the script uses).
    pub fn scratch(&self) -> &Path {
        self.dir.path()
    }

    /// The mount (and host name) set-up, as a bash prologue.
    fn setup(&self) -> String {
        let installed = install_nss_module();
        let d = self.dir.path().display();
        let mut setup = String::from("set -e\n");
        setup += &format!(
            "mount --bind {} {}\n",
            paths::module("libnss_roster.so").display(),
            installed.display()
        );
        setup += &format!("mount --bind {d}/nsswitch.conf /etc/nsswitch.conf\n");
        if !self.pam_services.is_empty() {
            setup += &format!("mount --bind {d}/pam.d /etc/pam.d\n");
        }
        if self.hosts {
            setup += &format!("mount --bind {d}/hosts /etc/hosts\n");
        }
        for name in &self.etc_files {
            setup += &format!("mount --bind {d}/etc/{name} /etc/{name}\n");
        }
        if let Some(sock) = &self.socket_dir {
            std::fs::create_dir_all("/run/roster").expect("mkdir /run/roster mount point");
            setup += &format!("mount --bind {} /run/roster\n", sock.display());
        }
        if let Some(name) = &self.hostname {
            setup += &format!("hostname {name}\n");
        }
        setup += "set +e\n";
        setup
    }

    /// `unshare` and its options, before the program it runs.
    fn unshare(&self) -> Vec<String> {
        let mut args = vec!["unshare".to_string(), "--mount".into()];
        if self.hostname.is_some() {
            args.push("--uts".into());
        }
        args.extend(["--propagation".into(), "private".into()]);
        args
    }

    /// The command that runs `script` in a fresh namespace, not yet
    /// started: for a caller that wires its stdin or stdout (a pipe between
    /// two namespaces).
    pub fn command(&self, script: &str) -> Command {
        crate::daemon_user::enter();
        let args = self.unshare();
        let mut cmd = Command::new(&args[0]);
        cmd.args(&args[1..])
            .args(["bash", "-c"])
            .arg(format!("{}{script}", self.setup()));
        cmd
    }

    /// A command prefix that runs its arguments in a fresh namespace of
    /// this set-up, by `exec` (same PID): e.g.
    /// [`crate::rosterd::Launch::wrapper`], so a daemon sees the
    /// namespace's `/etc` files.
    pub fn wrapper(&self) -> Vec<String> {
        crate::daemon_user::enter();
        let mut args = self.unshare();
        args.extend([
            "bash".into(),
            "-c".into(),
            format!("{}exec \"$@\"", self.setup()),
            "roster-ns".into(),
        ]);
        args
    }

    /// Runs a bash script inside a fresh namespace and returns its output.
    pub fn run(&self, script: &str) -> Output {
        self.command(script)
            .stdin(Stdio::null())
            .output()
            .expect("run unshare")
    }

    /// Runs a script that must succeed and returns its stdout.
    pub fn run_ok(&self, script: &str) -> String {
        let out = self.run(script);
        assert!(
            out.status.success(),
            "`{script}` failed with {}:\nstdout: {}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Starts a long-running bash script inside a fresh namespace (e.g. an
    /// sshd); the caller stops it by PID.
    pub fn spawn(&self, script: &str) -> Child {
        self.command(script)
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare")
    }
}

fn copy_dir_files(from: &Path, to: &Path) {
    if let Ok(entries) = std::fs::read_dir(from) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_file() {
                let _ = std::fs::copy(&p, to.join(e.file_name()));
            }
        }
    }
}
