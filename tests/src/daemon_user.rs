//! The system user rosterd runs as in the tests: `_roster`, as the Debian
//! package and `make install` create it — without adding it to the
//! machine's `/etc`.
//!
//! If the machine has a `_roster` already (roster installed), the tests use
//! it as is. Otherwise [`enter`] gives the calling thread a private mount
//! namespace (`unshare(CLONE_NEWNS)`, `/` made recursively private) in
//! which `/etc/passwd` and `/etc/group` are bind-mounted copies of the
//! host's with a `_roster` line appended: a system UID and GID free in
//! both host files (the highest below 1000, as `adduser --system` picks,
//! the same for every test process of a run). A mount namespace belongs to
//! the thread that unshared it and to the processes it starts from then
//! on, so everything a test runs from its thread — rosterd started with
//! `--user _roster`, `rosterctl config check`, in-process configuration
//! checks, the nested `unshare --mount` namespaces of [`crate::namespace`]
//! — sees `_roster`, and the host's `/etc` is never written. The copies
//! are a shared fixture of the run (`target/e2e-fixtures/etc-with_roster-*`,
//! [`crate::fixture_cache`]), written once per content.
//!
//! [`enter`] is idempotent per thread (a thread-local guard) and is called
//! by the fixtures' entry points: [`daemon_user`] (and so the secret files
//! and configuration the fixtures write), [`crate::rosterd::rosterd_bin`]
//! and [`crate::rosterd::Rosterd::start_with`], [`crate::namespace`]'s
//! `Namespace`. A test that starts processes from threads of its own calls
//! it in those threads.
//!
//! The files rosterd reads in a test are made for that user the way the
//! README asks of an installed system: the configuration root:`_roster`
//! 0640, secret files (bind password files) root:`_roster` 0640, in
//! directories it may traverse ([`share_dir`]).

use nix::mount::{mount, MsFlags};
use nix::sched::{unshare, CloneFlags};
use std::cell::Cell;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

/// The user's name ([`roster_proto::DAEMON_USER`]).
pub const NAME: &str = roster_proto::DAEMON_USER;

/// The `_roster` account the tests see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonUser {
    /// Its UID.
    pub uid: u32,
    /// Its primary group's GID (group `_roster`).
    pub gid: u32,
    /// Its `/etc/passwd` line (no newline).
    pub passwd_line: String,
    /// Its `/etc/group` line (no newline).
    pub group_line: String,
    /// Whether the machine's own `/etc` holds it (no namespace needed).
    pub on_host: bool,
}

/// What the test process knows of the account, found once.
struct Account {
    user: DaemonUser,
    /// The host's `/etc/passwd` and `/etc/group` with the account's lines
    /// appended (empty when it is the host's own).
    passwd: String,
    group: String,
}

/// The line of `/etc/passwd`-like `text` whose first field is `name`.
fn entry<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| l.split(':').next() == Some(name))
}

/// Field `n` (0-based) of a colon-separated line, as a number.
fn id_field(line: &str, n: usize) -> Option<u32> {
    line.split(':').nth(n).and_then(|v| v.parse().ok())
}

/// `text` with `line` appended as a line of its own.
fn append_line(text: &str, line: &str) -> String {
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
}

/// The highest system ID (below 1000, from 100) used neither as a UID in
/// `passwd` nor as a GID in `group`.
fn free_system_id(passwd: &str, group: &str) -> Option<u32> {
    let used = |text: &str, id: u32| text.lines().any(|l| id_field(l, 2) == Some(id));
    (100..1000)
        .rev()
        .find(|&id| !used(passwd, id) && !used(group, id))
}

/// The account from the host's `passwd` and `group` texts: the host's own
/// when both hold it, else a new one with a free system ID.
fn account_from(passwd: &str, group: &str) -> Result<Account, String> {
    match (entry(passwd, NAME), entry(group, NAME)) {
        (Some(p), Some(g)) => {
            let uid =
                id_field(p, 2).ok_or_else(|| format!("/etc/passwd: bad {NAME} line {p:?}"))?;
            let gid =
                id_field(p, 3).ok_or_else(|| format!("/etc/passwd: bad {NAME} line {p:?}"))?;
            if id_field(g, 2) != Some(gid) {
                return Err(format!(
                    "/etc/group's {NAME} ({g:?}) is not the primary group of /etc/passwd's ({p:?})"
                ));
            }
            if uid == 0 {
                return Err(format!("/etc/passwd's {NAME} is root: {p:?}"));
            }
            Ok(Account {
                user: DaemonUser {
                    uid,
                    gid,
                    passwd_line: p.to_string(),
                    group_line: g.to_string(),
                    on_host: true,
                },
                passwd: String::new(),
                group: String::new(),
            })
        }
        (None, None) => {
            let id = free_system_id(passwd, group)
                .ok_or("no system ID (100-999) is free in /etc/passwd and /etc/group")?;
            let passwd_line = format!(
                "{NAME}:x:{id}:{id}:roster identity cache daemon:/var/lib/roster:/usr/sbin/nologin"
            );
            let group_line = format!("{NAME}:x:{id}:");
            Ok(Account {
                passwd: append_line(passwd, &passwd_line),
                group: append_line(group, &group_line),
                user: DaemonUser {
                    uid: id,
                    gid: id,
                    passwd_line,
                    group_line,
                    on_host: false,
                },
            })
        }
        (Some(_), None) => Err(format!("/etc/passwd has {NAME} but /etc/group has not")),
        (None, Some(_)) => Err(format!("/etc/group has {NAME} but /etc/passwd has not")),
    }
}

/// The account, found from the host's files on first use (before any
/// thread of this process has its own `/etc/passwd`).
fn account() -> &'static Account {
    static ACCOUNT: OnceLock<Account> = OnceLock::new();
    ACCOUNT.get_or_init(|| {
        let read = |p: &str| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("read {p}: {e}"));
        account_from(&read("/etc/passwd"), &read("/etc/group")).unwrap_or_else(|e| panic!("{e}"))
    })
}

thread_local! {
    /// Whether this thread has entered its namespace (or needs none).
    static ENTERED: Cell<bool> = const { Cell::new(false) };
}

/// Makes `_roster` visible to the calling thread and every process it
/// starts from now on: nothing if the host has the account; otherwise,
/// once per thread, a private mount namespace whose `/etc/passwd` and
/// `/etc/group` hold it (see the module docs). Needs root
/// (`CAP_SYS_ADMIN`), as the e2e tests do.
pub fn enter() {
    if ENTERED.with(Cell::get) {
        return;
    }
    let acc = account();
    if !acc.user.on_host {
        enter_namespace(acc).unwrap_or_else(|e| panic!("give this test thread {NAME}: {e}"));
    }
    ENTERED.with(|e| e.set(true));
}

/// Unshares the calling thread's mount namespace, makes `/` recursively
/// private (nothing propagates back to the host) and bind-mounts the
/// account's `passwd` and `group` over `/etc`'s.
fn enter_namespace(acc: &Account) -> Result<(), String> {
    unshare(CloneFlags::CLONE_NEWNS).map_err(|e| format!("unshare(CLONE_NEWNS): {e}"))?;
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .map_err(|e| format!("mount --make-rprivate /: {e}"))?;
    // The copies stay on disk: a mount stacked later on /etc/passwd (a
    // simulated host's own, by `crate::namespace`) needs its mount point,
    // the top of this bind mount, not to be an unlinked file. They are a
    // shared fixture (target/e2e-fixtures), written once per content.
    let name = format!(
        "etc-with{NAME}-{}",
        crate::fixture_cache::digest(&(&acc.passwd, &acc.group))
    );
    let dir = crate::fixture_cache::shared_dir(&name, |d| {
        for (file, text) in [("passwd", &acc.passwd), ("group", &acc.group)] {
            let copy = d.join(file);
            std::fs::write(&copy, text).unwrap_or_else(|e| panic!("write {}: {e}", copy.display()));
            std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o644))
                .unwrap_or_else(|e| panic!("chmod 0644 {}: {e}", copy.display()));
        }
    });
    for file in ["passwd", "group"] {
        let copy = dir.join(file);
        let target = Path::new("/etc").join(file);
        mount(
            Some(&copy),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| format!("mount --bind {} {}: {e}", copy.display(), target.display()))?;
    }
    Ok(())
}

/// The `_roster` account the tests see; enters the calling thread's
/// namespace first ([`enter`]).
pub fn daemon_user() -> &'static DaemonUser {
    enter();
    &account().user
}

/// Appends the `_roster` line to the text of a `passwd` or `group` file
/// (`name`) that lacks it: a simulated host's own account files, which
/// hold the daemon's user as any host with roster installed does. Other
/// files are returned unchanged.
pub fn with_daemon_user(name: &str, text: &str) -> String {
    let line = match name {
        "passwd" => &daemon_user().passwd_line,
        "group" => &daemon_user().group_line,
        _ => return text.to_string(),
    };
    if entry(text, NAME).is_some() {
        return text.to_string();
    }
    append_line(text, line)
}

/// Lets other users (the daemon's) traverse `dir`: adds search permission
/// for group and others (a temporary directory is made 0700); listing
/// stays refused.
pub fn share_dir(dir: &Path) {
    let mode = std::fs::metadata(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .permissions()
        .mode();
    if mode & 0o011 != 0o011 {
        std::fs::set_permissions(
            dir,
            std::fs::Permissions::from_mode((mode | 0o011) & 0o7777),
        )
        .unwrap_or_else(|e| panic!("chmod {}: {e}", dir.display()));
    }
}

/// Makes `path` a secret file of an installed system: owned by root,
/// group `_roster`, mode 0640 (readable by rosterd's user, nothing for
/// others), and its directory traversable ([`share_dir`]).
pub fn give_secret(path: &Path) {
    let u = daemon_user();
    std::os::unix::fs::chown(path, Some(0), Some(u.gid))
        .unwrap_or_else(|e| panic!("chown root:{NAME} {}: {e}", path.display()));
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o640))
        .unwrap_or_else(|e| panic!("chmod 0640 {}: {e}", path.display()));
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        share_dir(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOST_PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\nsys:x:999:999::/:/bin/false\n";
    const HOST_GROUP: &str = "root:x:0:\nother:x:998:";

    #[test]
    fn a_host_without_the_user_gets_a_free_system_id_in_copies() {
        let acc = account_from(HOST_PASSWD, HOST_GROUP).unwrap();
        assert!(!acc.user.on_host);
        // 999 is a UID, 998 a GID: 997 is the first free in both.
        assert_eq!((acc.user.uid, acc.user.gid), (997, 997));
        assert_eq!(
            acc.passwd,
            format!("{HOST_PASSWD}{}\n", acc.user.passwd_line)
        );
        assert_eq!(acc.group, format!("{HOST_GROUP}\n{NAME}:x:997:\n"));
        assert_eq!(
            entry(&acc.passwd, NAME),
            Some(acc.user.passwd_line.as_str())
        );
    }

    #[test]
    fn a_host_with_the_user_keeps_it_and_bad_entries_are_named() {
        let passwd = format!("{HOST_PASSWD}{NAME}:x:104:106::/var/lib/roster:/usr/sbin/nologin\n");
        let group = format!("{HOST_GROUP}\n{NAME}:x:106:\n");
        let acc = account_from(&passwd, &group).unwrap();
        assert!(acc.user.on_host);
        assert_eq!((acc.user.uid, acc.user.gid), (104, 106));
        let e = account_from(&passwd, HOST_GROUP).err().unwrap();
        assert!(e.contains("/etc/group has not"), "{e}");
        let wrong = format!("{HOST_GROUP}\n{NAME}:x:107:\n");
        let e = account_from(&passwd, &wrong).err().unwrap();
        assert!(e.contains("not the primary group"), "{e}");
    }

    #[test]
    fn the_daemon_users_line_is_added_once() {
        let u = daemon_user();
        let host = "root:x:0:0:root:/root:/bin/bash";
        let added = with_daemon_user("passwd", host);
        assert_eq!(added, format!("{host}\n{}\n", u.passwd_line));
        assert_eq!(with_daemon_user("passwd", &added), added);
        let group = with_daemon_user("group", "root:x:0:\n");
        assert_eq!(group, format!("root:x:0:\n{}\n", u.group_line));
        assert_eq!(with_daemon_user("hosts", "x"), "x");
        assert_eq!(id_field(&u.passwd_line, 2), Some(u.uid));
        assert_ne!(u.uid, 0);
    }

    /// `getent KEY _roster` run from the calling thread.
    fn getent(key: &str) -> String {
        let out = std::process::Command::new("getent")
            .args([key, NAME])
            .output()
            .expect("run getent");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    #[test]
    fn an_entered_thread_and_its_children_see_the_user_and_the_host_does_not_change() {
        let host_passwd = std::fs::read_to_string("/etc/passwd").unwrap();
        let host_group = std::fs::read_to_string("/etc/group").unwrap();
        let u = std::thread::spawn(|| {
            let u = daemon_user().clone();
            enter(); // again: nothing more
            assert_eq!(getent("passwd"), u.passwd_line);
            assert_eq!(getent("group"), u.group_line);
            let pw = nix::unistd::User::from_name(NAME)
                .unwrap()
                .expect("in-process lookup");
            assert_eq!((pw.uid.as_raw(), pw.gid.as_raw()), (u.uid, u.gid));
            // A nested namespace inherits the view and may mount over it
            // (a simulated host's own passwd).
            let own = tempfile::tempdir().unwrap();
            let file = own.path().join("passwd");
            std::fs::write(&file, "root:x:0:0:root:/root:/bin/sh\n").unwrap();
            let out = std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(r#"getent passwd _roster && mount --bind "$0" /etc/passwd && cat /etc/passwd"#)
                .arg(&file)
                .output()
                .expect("run unshare");
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                format!("{}\nroot:x:0:0:root:/root:/bin/sh\n", u.passwd_line)
            );
            u
        })
        .join()
        .unwrap();
        // A thread that never entered sees the host's files, unchanged.
        let (passwd, group) = std::thread::spawn(|| {
            (
                std::fs::read_to_string("/etc/passwd").unwrap(),
                std::fs::read_to_string("/etc/group").unwrap(),
            )
        })
        .join()
        .unwrap();
        assert_eq!(entry(&passwd, NAME).is_some(), u.on_host);
        assert_eq!(entry(&group, NAME).is_some(), u.on_host);
        assert_eq!((passwd, group), (host_passwd, host_group));
    }
}
