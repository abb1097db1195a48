//! Publication of the `[nss]` settings for the NSS module.
//!
//! `socket_dir/nss.conf`, mode 0644, replaced atomically
//! ([`roster_proto::atomic_file`]) at start and on every reload; the
//! same text ([`render`]) goes into every memory cache file
//! (`MemcachePublisher`'s settings; not when longer than
//! `roster_proto::memcache::SETTINGS_MAX_LEN`), where the module reads it
//! first.
//! Format: `#` comment lines, then one `key=value` per line:
//!
//! ```text
//! timeout_ms=3000
//! enumerate_timeout_ms=30000
//! min_id=1000
//! ignore_users=root,daemon
//! ignore_groups=root
//! ```
//!
//! Lists are comma-separated, without spaces. Names cannot contain `,`,
//! `#`, a line break or NUL, nor start or end with white space (the
//! configuration refuses them; any left are not written). The lists come last:
//! the keys of one value come first whatever their length. The whole
//! file fits [`roster_proto::NSS_CONF_MAX_LEN`], the most the module
//! reads (the configuration refuses longer lists).

use roster_daemon::config::NssSettings;
use roster_proto::atomic_file::{self, Options};
use std::io;
use std::path::Path;

/// File name of the published settings in the socket directory.
pub const NSS_CONF_NAME: &str = "nss.conf";

/// The file's text for `nss`.
pub fn render(nss: &NssSettings) -> String {
    let clean = |names: &[String]| -> String {
        names
            .iter()
            .filter(|n| !n.is_empty() && NssSettings::listable(n))
            .cloned()
            .collect::<Vec<_>>()
            .join(",")
    };
    format!(
        "# Written by rosterd from the [nss] table of its configuration; do not edit.\n\
         timeout_ms={}\nenumerate_timeout_ms={}\nmin_id={}\nignore_users={}\nignore_groups={}\n",
        nss.timeout_ms,
        nss.enumerate_timeout_ms,
        nss.min_id,
        clean(&nss.ignore_users),
        clean(&nss.ignore_groups)
    )
}

/// Writes `socket_dir/nss.conf` atomically; returns its text (for the
/// memory cache, which carries it too).
pub fn write(socket_dir: &Path, nss: &NssSettings) -> io::Result<String> {
    let text = render(nss);
    atomic_file::replace(
        &socket_dir.join(NSS_CONF_NAME),
        text.as_bytes(),
        Options::mode(0o644),
    )?;
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    /// The largest file the configuration lets through (the largest
    /// numbers, name lists as long as it accepts) fits what the module
    /// reads.
    #[test]
    fn the_largest_accepted_file_fits_what_the_module_reads() {
        // (Each name and its comma: 10 octets; the lists may take the
        // module's bound less 512, as the configuration checks.)
        let room = roster_proto::NSS_CONF_MAX_LEN as usize - 512;
        let names = |prefix: char, count: usize| -> Vec<String> {
            (0..count).map(|i| format!("{prefix}{i:08}")).collect()
        };
        let nss = NssSettings {
            timeout_ms: u64::MAX,
            enumerate_timeout_ms: u64::MAX,
            min_id: u32::MAX,
            ignore_users: names('u', room / 20),
            ignore_groups: names('g', room / 10 - room / 20),
            ..NssSettings::default()
        };
        let text = render(&nss);
        assert!(
            text.len() as u64 <= roster_proto::NSS_CONF_MAX_LEN,
            "{} octets",
            text.len()
        );
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn writes_key_value_lines_world_readable() {
        let dir = tempfile::tempdir().unwrap();
        let nss = NssSettings {
            timeout_ms: 1500,
            enumerate_timeout_ms: 45_000,
            ignore_users: vec!["root".into(), "daemon".into(), "bad,name".into()],
            ignore_groups: vec![],
            min_id: 2000,
            ..NssSettings::default()
        };
        let written = write(dir.path(), &nss).unwrap();
        let path = dir.path().join(NSS_CONF_NAME);
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text, written);
        let lines: Vec<&str> = text.lines().filter(|l| !l.starts_with('#')).collect();
        assert_eq!(
            lines,
            [
                "timeout_ms=1500",
                "enumerate_timeout_ms=45000",
                "min_id=2000",
                "ignore_users=root,daemon",
                "ignore_groups="
            ]
        );
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o644);
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["nss.conf"], "no temporary file is left behind");
    }
}
