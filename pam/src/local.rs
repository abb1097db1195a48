//! Local accounts: a user listed in the local passwd file is not a directory
//! user (`files` comes first in nsswitch.conf), so the module leaves it to
//! pam_unix at once, without asking the daemon. root can always log in, even
//! when rosterd hangs or is gone.

use std::io::{BufRead, BufReader, Read};
use std::path::Path;

/// Largest passwd file read (a bound, never a hang on a strange file).
const MAX_PASSWD_BYTES: u64 = 16 * 1024 * 1024;

/// True when `user` has a line in the passwd file at `path`. A file that
/// cannot be read counts as "not local".
pub fn is_local_user(path: &Path, user: &str) -> bool {
    let Ok(file) = std::fs::File::open(path) else {
        return false;
    };
    let reader = BufReader::new(file.take(MAX_PASSWD_BYTES));
    reader
        .split(b'\n')
        .map_while(Result::ok)
        .any(|line| line.split(|&b| b == b':').next() == Some(user.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_only_exact_names() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("passwd");
        std::fs::write(
            &p,
            "root:x:0:0:root:/root:/bin/bash\nalice2:x:1001:1001::/home/a:/bin/sh\n",
        )
        .unwrap();
        assert!(is_local_user(&p, "root"));
        assert!(is_local_user(&p, "alice2"));
        assert!(!is_local_user(&p, "alice"));
        assert!(!is_local_user(&p, "x"));
        assert!(!is_local_user(&dir.path().join("missing"), "root"));
    }
}
