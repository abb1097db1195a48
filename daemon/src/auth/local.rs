//! Local users shadow directory users: PAM refuses a directory account
//! whose name (any spelling, for case-insensitive domains) or UID is a
//! local user's in `/etc/passwd`, or whose UID is reserved — `pam_unix`
//! owns that login.
//!
//! A minimal reader, read again at every check (a login is rare and the
//! file small); the resolver's own view of the local accounts (same
//! interface, `LocalAccounts::user_refusal`) replaces it once both live
//! on one branch.

use std::path::PathBuf;

/// UIDs never served for a directory user: root, `nobody`, the 16-bit "no
/// ID" value and `(uid_t)-1`.
const RESERVED_UIDS: [u32; 4] = [0, 65_534, 65_535, u32::MAX];

/// The local user database PAM checks against.
#[derive(Clone, Debug)]
pub struct LocalAccounts {
    passwd: PathBuf,
}

impl LocalAccounts {
    /// `/etc/passwd`.
    pub fn system() -> LocalAccounts {
        LocalAccounts::from_path(PathBuf::from("/etc/passwd"))
    }

    /// Another passwd file (tests).
    pub fn from_path(passwd: PathBuf) -> LocalAccounts {
        LocalAccounts { passwd }
    }

    /// Why the directory user `name` with `uid` must not log in through
    /// roster (`any_case`: its domain compares names case-insensitively);
    /// `None` when no local account shadows it. An unreadable file shadows
    /// nothing (logged).
    pub fn user_refusal(&self, name: &str, uid: u32, any_case: bool) -> Option<String> {
        if RESERVED_UIDS.contains(&uid) {
            return Some(format!("uid {uid} is reserved"));
        }
        let text = match std::fs::read_to_string(&self.passwd) {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(file = %self.passwd.display(), error = %e, "cannot read the local users");
                return None;
            }
        };
        let file = self.passwd.display();
        for line in text.lines() {
            if line.is_empty() || line.starts_with(['#', '+', '-']) {
                continue;
            }
            let mut f = line.split(':');
            let (Some(local), Some(_), Some(id)) = (f.next(), f.next(), f.next()) else {
                continue;
            };
            if id.trim().parse::<u32>().ok() == Some(uid) {
                return Some(format!("uid {uid} is a local ID ({file})"));
            }
            if local == name || (any_case && local.eq_ignore_ascii_case(name)) {
                return Some(format!("name {name:?} is a local user ({file})"));
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_uids_and_reserved_uids_shadow() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0::/root:/bin/sh\n# c\nbackup:x:34:34::/:/bin/sh\nbroken\n",
        )
        .unwrap();
        let l = LocalAccounts::from_path(p);
        assert!(l.user_refusal("backup", 20000, false).is_some());
        assert!(l.user_refusal("BACKUP", 20000, false).is_none());
        assert!(l.user_refusal("BACKUP", 20000, true).is_some());
        assert!(l.user_refusal("x", 34, false).unwrap().contains("uid 34"));
        assert!(l
            .user_refusal("x", 65534, false)
            .unwrap()
            .contains("reserved"));
        assert!(l.user_refusal("x", 20000, false).is_none());
        let none = LocalAccounts::from_path(dir.path().join("missing"));
        assert!(none.user_refusal("backup", 20000, false).is_none());
    }
}
