//! The user's Kerberos ticket cache (`krb5_auth` domains): rosterd hands
//! the verified tickets over with a successful authentication
//! ([`KrbTicket`]); they are kept with the PAM handle, written at
//! open_session to the cache file the domain's `krb5_ccache_template`
//! names (owned by the user, mode 0600: written to a new file next to it,
//! then renamed over it, never following a link), `KRB5CCNAME` is put into
//! the session's environment, and the file is removed at close_session
//! unless `krb5_keep_ccache` is set.

use roster_proto::KrbTicket;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// What authenticate keeps with the PAM handle: the user and the tickets.
#[derive(Clone, Debug)]
pub struct Kept {
    /// The PAM user the tickets were issued for.
    pub user: String,
    /// The tickets.
    pub ticket: KrbTicket,
}

/// The cache written at open_session, for close_session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Written {
    /// The PAM user.
    pub user: String,
    /// The cache file.
    pub path: String,
    /// Leave it at close_session.
    pub keep: bool,
}

/// Writes the tickets to their cache file, owned by the user (mode 0600),
/// replacing any file there.
pub fn write(t: &KrbTicket) -> std::io::Result<()> {
    let path = Path::new(&t.ccache);
    let bad = |why: &str| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{}: {why}", t.ccache),
        )
    };
    if !path.is_absolute() {
        return Err(bad("not an absolute path"));
    }
    let dir = path.parent().ok_or_else(|| bad("no directory"))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| bad("no file name"))?;
    let mut last = None;
    for n in 0..16 {
        let tmp = dir.join(format!(".{name}.roster-{}-{n}", std::process::id()));
        let opened = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&tmp);
        let mut f = match opened {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                last = Some(e);
                continue;
            }
            Err(e) => return Err(e),
        };
        let done = f
            .write_all(t.data.expose())
            .and_then(|_| std::os::unix::fs::fchown(&f, Some(t.uid), Some(t.gid)))
            .and_then(|_| f.sync_all())
            .and_then(|_| std::fs::rename(&tmp, path));
        if done.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return done;
    }
    Err(last.unwrap_or_else(|| bad("cannot create a temporary file")))
}

/// Removes the cache file written at open_session (a file that is gone
/// already is fine).
pub fn remove(path: &str) -> std::io::Result<()> {
    match std::fs::remove_file(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_proto::Secret;
    use std::os::unix::fs::MetadataExt;

    fn ticket(path: &Path, uid: u32) -> KrbTicket {
        KrbTicket {
            ccache: path.display().to_string(),
            uid,
            gid: uid,
            keep: false,
            data: Secret::new(b"\x05\x04ccache".to_vec()),
        }
    }

    #[test]
    fn written_private_to_the_user_replacing_a_link_without_following_it() {
        let dir = tempfile::tempdir().unwrap();
        let me = nix_uid();
        let path = dir.path().join("krb5cc_1000");
        let victim = dir.path().join("victim");
        std::fs::write(&victim, "untouched").unwrap();
        std::os::unix::fs::symlink(&victim, &path).unwrap();
        write(&ticket(&path, me)).unwrap();
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert!(meta.is_file(), "the link is replaced by a file");
        assert_eq!(meta.mode() & 0o777, 0o600);
        assert_eq!(meta.uid(), me);
        assert_eq!(std::fs::read(&path).unwrap(), b"\x05\x04ccache");
        assert_eq!(std::fs::read_to_string(&victim).unwrap(), "untouched");
        // No temporary file is left next to it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
        remove(&path.display().to_string()).unwrap();
        assert!(!path.exists());
        remove(&path.display().to_string()).unwrap();
        assert!(write(&ticket(Path::new("relative/cc"), me)).is_err());
    }

    fn nix_uid() -> u32 {
        // SAFETY: getuid(2) has no preconditions.
        unsafe { libc::getuid() }
    }
}
