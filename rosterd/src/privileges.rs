//! Running rosterd as its own system user (`_roster`).
//!
//! Started as root with `--user NAME`, rosterd hands its socket and state
//! directories to that user ([`hand_over_dir`]) and then becomes it for
//! good ([`drop_to`]: supplementary groups, GID, UID) before it reads its
//! configuration, opens its store or binds a socket. Everything it creates
//! afterwards (sockets, `nss.mc`, `nss.conf`, `cache.log`, credentials,
//! idmap tables) is the user's, and the configuration and secret files are
//! read as that user at start and at every reload alike. Under systemd the
//! unit's `User=` does the same without root ever being held.

use nix::unistd::{Gid, Uid, User};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The system user rosterd is meant to run as (created by the Debian
/// package and by `make install`).
pub use roster_proto::DAEMON_USER;

/// Why rosterd could not become its user.
#[derive(Debug, Error)]
pub enum PrivilegeError {
    /// No such user in the password database.
    #[error("--user {0}: no such user (create it: adduser --system --group {0})")]
    UnknownUser(String),
    /// The password database could not be read.
    #[error("--user {name}: cannot look the user up: {source}")]
    Lookup {
        /// The user asked for.
        name: String,
        /// What getpwnam_r said.
        source: nix::Error,
    },
    /// The user is root: nothing would be dropped.
    #[error("--user {0}: that is root; name an unprivileged system user such as _roster")]
    RootUser(String),
    /// Started as neither root nor the user.
    #[error("--user {name}: started as uid {euid}, which is neither root nor {name} (uid {uid})")]
    WrongStartUser {
        /// The user asked for.
        name: String,
        /// Its UID.
        uid: u32,
        /// The effective UID rosterd runs as.
        euid: u32,
    },
    /// A file or directory could not be given to the user.
    #[error("cannot give {path} to {name}: {source}")]
    Chown {
        /// The path at fault.
        path: PathBuf,
        /// The user.
        name: String,
        /// The system error.
        source: std::io::Error,
    },
    /// setgroups, setgid or setuid failed.
    #[error("cannot become {name} ({step}): {source}")]
    Drop {
        /// The user.
        name: String,
        /// The call that failed.
        step: &'static str,
        /// The system error.
        source: nix::Error,
    },
    /// After the drop, the process could still become root again.
    #[error("after becoming {0}, setuid(0) still succeeds: refusing to run")]
    StillRoot(String),
}

/// The system user rosterd runs as.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonUser {
    /// Its name (`_roster`).
    pub name: String,
    /// Its UID.
    pub uid: Uid,
    /// Its primary group's GID.
    pub gid: Gid,
}

impl DaemonUser {
    /// Looks `name` up in the password database (`/etc/passwd`; rosterd's
    /// loop guard keeps its own NSS module out of the way). Root is refused.
    pub fn lookup(name: &str) -> Result<DaemonUser, PrivilegeError> {
        let user = User::from_name(name)
            .map_err(|source| PrivilegeError::Lookup {
                name: name.to_string(),
                source,
            })?
            .ok_or_else(|| PrivilegeError::UnknownUser(name.to_string()))?;
        if user.uid.is_root() {
            return Err(PrivilegeError::RootUser(name.to_string()));
        }
        Ok(DaemonUser {
            name: name.to_string(),
            uid: user.uid,
            gid: user.gid,
        })
    }

    /// What to do, given the effective UID rosterd started with: `true`
    /// when it must drop (started as root), `false` when it already runs
    /// as this user (systemd's `User=`), an error otherwise.
    pub fn must_drop_from(&self, euid: Uid) -> Result<bool, PrivilegeError> {
        if euid.is_root() {
            Ok(true)
        } else if euid == self.uid {
            Ok(false)
        } else {
            Err(PrivilegeError::WrongStartUser {
                name: self.name.clone(),
                uid: self.uid.as_raw(),
                euid: euid.as_raw(),
            })
        }
    }
}

/// Gives directory `dir` (which must exist) to `user`. A directory that
/// is not yet the user's (created by root, or left by a rosterd that ran
/// as root) is handed over with everything in it, so the daemon can keep
/// using its cache, credentials and idmap tables; symbolic links are not
/// followed and files with several hard links are left alone. A directory
/// already owned by the user is not descended into: its contents are the
/// user's doing, and root must not change the owner of what the user
/// could have linked there.
pub fn hand_over_dir(dir: &Path, user: &DaemonUser) -> Result<(), PrivilegeError> {
    let meta = std::fs::symlink_metadata(dir).map_err(|e| chown_error(dir, user, e))?;
    if meta.uid() == user.uid.as_raw() {
        if meta.gid() != user.gid.as_raw() {
            lchown(dir, user)?;
        }
        return Ok(());
    }
    hand_over_tree(dir, meta.dev(), user)
}

fn hand_over_tree(path: &Path, dev: u64, user: &DaemonUser) -> Result<(), PrivilegeError> {
    let meta = std::fs::symlink_metadata(path).map_err(|e| chown_error(path, user, e))?;
    if meta.dev() != dev || (meta.is_file() && meta.nlink() > 1) {
        return Ok(());
    }
    if meta.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|e| chown_error(path, user, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| chown_error(path, user, e))?;
            hand_over_tree(&entry.path(), dev, user)?;
        }
    }
    lchown(path, user)
}

fn lchown(path: &Path, user: &DaemonUser) -> Result<(), PrivilegeError> {
    std::os::unix::fs::lchown(path, Some(user.uid.as_raw()), Some(user.gid.as_raw()))
        .map_err(|e| chown_error(path, user, e))
}

fn chown_error(path: &Path, user: &DaemonUser, source: std::io::Error) -> PrivilegeError {
    PrivilegeError::Chown {
        path: path.to_path_buf(),
        name: user.name.clone(),
        source,
    }
}

/// Becomes `user` for good: its primary group as the only group, then its
/// GID, then its UID (real, effective and saved). Checks afterwards that
/// root cannot be regained.
pub fn drop_to(user: &DaemonUser) -> Result<(), PrivilegeError> {
    let fail = |step: &'static str| {
        let name = user.name.clone();
        move |source| PrivilegeError::Drop { name, step, source }
    };
    nix::unistd::setgroups(&[user.gid]).map_err(fail("setgroups"))?;
    nix::unistd::setgid(user.gid).map_err(fail("setgid"))?;
    nix::unistd::setuid(user.uid).map_err(fail("setuid"))?;
    if nix::unistd::setuid(Uid::from_raw(0)).is_ok() {
        return Err(PrivilegeError::StillRoot(user.name.clone()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn someone() -> DaemonUser {
        DaemonUser {
            name: "_roster".into(),
            uid: Uid::from_raw(64900),
            gid: Gid::from_raw(64900),
        }
    }

    #[test]
    fn root_drops_the_user_stays_anyone_else_is_refused() {
        let u = someone();
        assert!(u.must_drop_from(Uid::from_raw(0)).unwrap());
        assert!(!u.must_drop_from(Uid::from_raw(64900)).unwrap());
        let e = u.must_drop_from(Uid::from_raw(1000)).unwrap_err();
        let text = e.to_string();
        assert!(
            text.contains("uid 1000") && text.contains("_roster"),
            "{text}"
        );
    }

    #[test]
    fn root_and_unknown_users_are_refused() {
        assert!(matches!(
            DaemonUser::lookup("root"),
            Err(PrivilegeError::RootUser(_))
        ));
        let e = DaemonUser::lookup("no-such-user-roster-test").unwrap_err();
        assert!(e.to_string().contains("no such user"), "{e}");
    }

    #[test]
    fn hand_over_gives_a_root_owned_tree_but_not_a_users_directory() {
        if !Uid::effective().is_root() {
            return; // chown needs root (CI runs as root)
        }
        let d = tempfile::tempdir().unwrap();
        let state = d.path().join("state");
        std::fs::create_dir_all(state.join("idmap")).unwrap();
        std::fs::write(state.join("cache.log"), b"x").unwrap();
        std::fs::write(state.join("idmap/table"), b"x").unwrap();
        std::fs::write(d.path().join("outside"), b"x").unwrap();
        std::os::unix::fs::symlink(d.path().join("outside"), state.join("link")).unwrap();
        std::fs::hard_link(d.path().join("outside"), state.join("hard")).unwrap();
        let u = someone();
        hand_over_dir(&state, &u).unwrap();
        for p in ["", "idmap", "cache.log", "idmap/table", "link"] {
            let m = std::fs::symlink_metadata(state.join(p)).unwrap();
            assert_eq!((m.uid(), m.gid()), (64900, 64900), "{p}");
        }
        // Neither the link's target nor a hard-linked file changed owner.
        let m = std::fs::metadata(d.path().join("outside")).unwrap();
        assert_eq!(m.uid(), 0);

        // Once the directory is the user's, a root-owned file put in it
        // stays root's.
        std::fs::write(state.join("later"), b"x").unwrap();
        hand_over_dir(&state, &u).unwrap();
        assert_eq!(std::fs::metadata(state.join("later")).unwrap().uid(), 0);
    }
}
