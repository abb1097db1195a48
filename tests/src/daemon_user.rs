//! The system user rosterd runs as in the tests: `_roster`, as the Debian
//! package and `make install` create it.
//!
//! [`daemon_user`] makes sure the account exists on the machine that runs
//! the tests, creating it if missing exactly as `make install` does
//! (`adduser --system --group` with home `/var/lib/roster`, shell
//! `/usr/sbin/nologin`; `useradd --system --user-group` where `adduser` is
//! missing). This is the one change the tests make to the machine's
//! `/etc` (besides the inert NSS module copy of [`crate::namespace`]): a
//! host with roster installed has that user, and with it every
//! configuration check in the tests sees what it sees on such a host (a
//! root `rosterctl config check` checks the secret files as `_roster`).
//! Creation is serialised between test processes by an `flock` on
//! `$TMPDIR/roster-e2e-daemon-user.lock`; each process looks the account up
//! once.
//!
//! The files rosterd reads in a test are made for that user the way the
//! README asks of an installed system: the configuration root:`_roster`
//! 0640, secret files (bind password files) root:`_roster` 0640, in
//! directories it may traverse ([`share_dir`]).

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

/// The user's name ([`roster_proto::DAEMON_USER`]).
pub const NAME: &str = roster_proto::DAEMON_USER;

/// The `_roster` account of this machine.
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
}

/// The line of `/etc/passwd`-like `text` whose first field is `name`.
fn entry<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    text.lines().find(|l| l.split(':').next() == Some(name))
}

/// Field `n` (0-based) of a colon-separated line, as a number.
fn id_field(line: &str, n: usize) -> Option<u32> {
    line.split(':').nth(n).and_then(|v| v.parse().ok())
}

/// The account as `/etc/passwd` and `/etc/group` describe it now, if both
/// hold it.
fn read_account() -> Option<DaemonUser> {
    let passwd = std::fs::read_to_string("/etc/passwd").expect("read /etc/passwd");
    let group = std::fs::read_to_string("/etc/group").expect("read /etc/group");
    let p = entry(&passwd, NAME)?;
    let g = entry(&group, NAME)?;
    let uid = id_field(p, 2)?;
    let gid = id_field(p, 3)?;
    assert_eq!(
        id_field(g, 2),
        Some(gid),
        "/etc/group's {NAME} is not the primary group of /etc/passwd's {NAME}"
    );
    assert_ne!(uid, 0, "/etc/passwd's {NAME} is root");
    Some(DaemonUser {
        uid,
        gid,
        passwd_line: p.to_string(),
        group_line: g.to_string(),
    })
}

/// Creates the account as `make install` does; the error says what
/// failed (the caller looks again: someone else may have made it).
fn create() -> Result<(), String> {
    let have = |tool: &str| {
        ["/usr/sbin", "/sbin", "/usr/bin", "/bin"]
            .iter()
            .any(|d| Path::new(d).join(tool).is_file())
    };
    let mut cmd = if have("adduser") {
        let mut c = Command::new("adduser");
        c.args([
            "--system",
            "--group",
            "--quiet",
            "--home",
            "/var/lib/roster",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--gecos",
            "roster identity cache daemon",
            NAME,
        ]);
        c
    } else {
        let mut c = Command::new("useradd");
        c.args([
            "--system",
            "--user-group",
            "--home-dir",
            "/var/lib/roster",
            "--no-create-home",
            "--shell",
            "/usr/sbin/nologin",
            "--comment",
            "roster identity cache daemon",
            NAME,
        ]);
        c
    };
    let out = cmd
        .output()
        .map_err(|e| format!("create the system user {NAME} ({cmd:?}): {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "create the system user {NAME} ({cmd:?}) failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    Ok(())
}

/// The `_roster` account, created first if this machine has none.
pub fn daemon_user() -> &'static DaemonUser {
    static USER: OnceLock<DaemonUser> = OnceLock::new();
    USER.get_or_init(|| {
        if let Some(u) = read_account() {
            return u;
        }
        // One creator at a time on this machine: another test process (of
        // this checkout or another) may be at it.
        let _lock = crate::fixture_cache::Lock::acquire(
            &std::env::temp_dir().join("roster-e2e-daemon-user.lock"),
        );
        if let Some(u) = read_account() {
            return u;
        }
        let failed = create().err();
        read_account().unwrap_or_else(|| match failed {
            Some(e) => panic!("{e}"),
            None => panic!("{NAME} was created but /etc/passwd or /etc/group lacks it"),
        })
    })
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
    let mut out = text.to_string();
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(line);
    out.push('\n');
    out
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
}
