//! The module's configuration: the text of `nss.conf`, which rosterd
//! publishes in the socket directory and carries in the memory cache file
//! too (`roster_proto::memcache`, "Settings"), and a process-wide cache of
//! it that costs no file read on the hot path: taken from the memory cache
//! when it carries it (a new process maps that file for its first lookup
//! anyway), else read from `nss.conf`.
//!
//! Format: one `key=value` per line, `#` starts a comment, blank lines and
//! unknown keys are ignored, a malformed value keeps that key's default.
//!
//! | key             | meaning                                          | default |
//! |-----------------|--------------------------------------------------|---------|
//! | `timeout_ms`    | total time bound of one call to the daemon       | 3000    |
//! | `enumerate_timeout_ms` | time bound of one page of `getent passwd`/`group` | 30000 |
//! | `ignore_users`  | comma-separated names never asked about          | `root`  |
//! | `ignore_groups` | comma-separated group names never asked about    | `root`  |
//! | `min_id`        | UIDs/GIDs below this are never asked about nor returned | 1000 |
//!
//! `root` is always ignored, whatever the file says: the directory can never
//! provide a second root.

use roster_proto::memcache::MemcacheReader;
use roster_proto::NSS_CONF_MAX_LEN;
use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, Mutex, TryLockError};
use std::time::{Duration, Instant};

/// Default total time bound of one call to the daemon.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(3000);
/// Default time bound of one enumeration page: the first page of a large
/// directory waits for the daemon to read every entry, and enumeration is
/// never on a login's path.
pub const DEFAULT_ENUMERATE_TIMEOUT: Duration = Duration::from_millis(30_000);
/// Default lowest UID/GID the module asks about.
pub const DEFAULT_MIN_ID: u32 = 1000;
/// Longest accepted `timeout_ms` (a login must never hang for long).
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// File name of the configuration inside the socket directory.
pub const CONFIG_FILE_NAME: &str = "nss.conf";
/// How long a configuration read from `nss.conf` is trusted before the
/// file is checked (one carried by the memory cache holds while its file
/// is live).
pub const RECHECK_INTERVAL: Duration = Duration::from_secs(1);

/// Settings of the NSS module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NssConfig {
    /// Total time bound of one daemon call (connect + request + reply).
    pub timeout: Duration,
    /// Time bound of one enumeration page (`setpwent`/`getpwent`...).
    pub enumerate_timeout: Duration,
    /// User names the module answers NOTFOUND for without asking.
    pub ignore_users: Vec<String>,
    /// Group names the module answers NOTFOUND for without asking.
    pub ignore_groups: Vec<String>,
    /// IDs below this are never asked about, and never returned.
    pub min_id: u32,
}

impl Default for NssConfig {
    fn default() -> Self {
        NssConfig {
            ignore_users: root_only(),
            ignore_groups: root_only(),
            ..NssConfig::default_numbers()
        }
    }
}

impl NssConfig {
    /// Parses the text of an `nss.conf` file on top of the defaults.
    pub fn parse(text: &str) -> NssConfig {
        NssConfig::parse_bytes(text.as_bytes())
    }

    /// [`NssConfig::parse`] of the file's bytes as read: lines split at
    /// `\n`, `#` to the end of a line dropped, keys and values trimmed of
    /// ASCII white space; a name that is not UTF-8 is read with U+FFFD in
    /// place of its bad bytes (it matches no account). Byte by byte and
    /// without copying the text (a process's first lookup reads the file).
    pub fn parse_bytes(bytes: &[u8]) -> NssConfig {
        let mut config = NssConfig::default_numbers();
        let (mut users, mut groups) = (None, None);
        for line in bytes.split(|&b| b == b'\n') {
            let line = match line.iter().position(|&b| b == b'#') {
                Some(comment) => &line[..comment],
                None => line,
            };
            let Some(eq) = line.iter().position(|&b| b == b'=') else {
                continue;
            };
            let value = line[eq + 1..].trim_ascii();
            let number = || std::str::from_utf8(value).ok();
            // A bound in milliseconds: at least 1, at most MAX_TIMEOUT.
            let bound = || {
                let ms = number()?.parse::<u64>().ok()?;
                Some(Duration::from_millis(ms.max(1)).min(MAX_TIMEOUT))
            };
            match line[..eq].trim_ascii() {
                b"timeout_ms" => config.timeout = bound().unwrap_or(config.timeout),
                b"enumerate_timeout_ms" => {
                    config.enumerate_timeout = bound().unwrap_or(config.enumerate_timeout)
                }
                b"min_id" => {
                    if let Some(id) = number().and_then(|v| v.parse::<u32>().ok()) {
                        config.min_id = id;
                    }
                }
                b"ignore_users" => users = Some(name_list(value)),
                b"ignore_groups" => groups = Some(name_list(value)),
                _ => {}
            }
        }
        config.ignore_users = users.unwrap_or_else(root_only);
        config.ignore_groups = groups.unwrap_or_else(root_only);
        config
    }

    /// The defaults' numbers, with no names ignored yet.
    fn default_numbers() -> NssConfig {
        NssConfig {
            timeout: DEFAULT_TIMEOUT,
            enumerate_timeout: DEFAULT_ENUMERATE_TIMEOUT,
            ignore_users: Vec::new(),
            ignore_groups: Vec::new(),
            min_id: DEFAULT_MIN_ID,
        }
    }

    /// Reads and parses `path`; a missing or unreadable file gives the defaults.
    pub fn load(path: &Path) -> NssConfig {
        read_stamped(path).1
    }

    /// True when the module must not ask the daemon about this user name.
    pub fn ignores_user(&self, name: &str) -> bool {
        name == "root" || self.ignore_users.iter().any(|n| n == name)
    }

    /// True when the module must not ask the daemon about this group name.
    pub fn ignores_group(&self, name: &str) -> bool {
        name == "root" || self.ignore_groups.iter().any(|n| n == name)
    }

    /// True when the ID is in the range the module serves.
    pub fn serves_id(&self, id: u32) -> bool {
        id >= self.min_id && id != 0
    }
}

/// The names of a comma-separated list, trimmed, empty ones left out.
fn name_list(value: &[u8]) -> Vec<String> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|n| !n.is_empty())
        .map(|n| String::from_utf8_lossy(n).into_owned())
        .collect()
}

/// The ignored names when the file names none: `root` (ignored anyway).
fn root_only() -> Vec<String> {
    vec!["root".to_owned()]
}

/// Identity of one version of the file: a rewrite (even within the same
/// second, or by rename) changes at least one of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_nsec: i64,
}

impl FileStamp {
    fn of(m: &fs::Metadata) -> FileStamp {
        FileStamp {
            dev: m.dev(),
            ino: m.ino(),
            size: m.size(),
            mtime: m.mtime(),
            mtime_nsec: m.mtime_nsec(),
        }
    }
}

fn stamp(path: &Path) -> io::Result<FileStamp> {
    Ok(FileStamp::of(&fs::metadata(path)?))
}

/// `path` parsed, and the stamp of the version read: taken from the open
/// file, so the two always match (a file replaced meanwhile is the next
/// check's). One `open`, `statx` of the descriptor, `read` and `close`:
/// the read asks for the size the `statx` gave and no more, so no read is
/// spent learning that the file ended; bytes written after the `statx`
/// change the stamp, and the next check reads them. A file longer than
/// [`NSS_CONF_MAX_LEN`] (rosterd never writes one) is read up to it, and a
/// read that ends short of what `statx` said: their whole lines only.
/// Bytes that are not UTF-8 are read as U+FFFD (such a name matches no
/// account). A file that is there but cannot be opened or read, or is not
/// a regular file (a FIFO is opened without waiting for a writer), keeps
/// its stamp (the defaults then hold until it changes); one that is not
/// there has none (the next check looks again).
fn read_stamped(path: &Path) -> (Option<FileStamp>, NssConfig) {
    // (Non-blocking: a FIFO there must not hold the lookup.)
    let opened = fs::File::options()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return (None, NssConfig::default()),
        Err(_) => return (stamp(path).ok(), NssConfig::default()),
    };
    let Ok(meta) = file.metadata() else {
        return (None, NssConfig::default());
    };
    let stamp = Some(FileStamp::of(&meta));
    if !meta.is_file() {
        return (stamp, NssConfig::default());
    }
    let len = meta.len().min(NSS_CONF_MAX_LEN);
    let mut bytes = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    if (&file).take(len).read_to_end(&mut bytes).is_err() {
        return (stamp, NssConfig::default());
    }
    if bytes.len() as u64 != meta.len() {
        let whole_lines = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        bytes.truncate(whole_lines);
    }
    (stamp, NssConfig::parse_bytes(&bytes))
}

struct Cached {
    source: Source,
    config: Arc<NssConfig>,
}

/// What a cached configuration was read from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    /// `nss.conf`, as its stamp was then (`None`: not there), checked
    /// then.
    File {
        stamp: Option<FileStamp>,
        checked: Instant,
    },
    /// The memory cache file of this generation, which carried it.
    Memcache(u64),
}

/// A configuration cached in memory: taken from the memory cache file when
/// it carries it ([`ConfigCache::get_carried`]: parsed once per file), else
/// read from `nss.conf`, which is `stat`ed at most once per
/// [`RECHECK_INTERVAL`] and re-read only when it changed.
///
/// Fork- and thread-safe without ever blocking: the lock is only tried; if it
/// is busy (another thread, or a lock inherited locked across `fork`), the
/// caller reads the settings itself, which is slower but always correct.
pub struct ConfigCache {
    state: Mutex<Option<Cached>>,
}

impl Default for ConfigCache {
    fn default() -> Self {
        ConfigCache::new()
    }
}

impl ConfigCache {
    /// An empty cache (usable in a `static`).
    pub const fn new() -> ConfigCache {
        ConfigCache {
            state: Mutex::new(None),
        }
    }

    /// The configuration at `path` as of at most [`RECHECK_INTERVAL`] ago.
    pub fn get(&self, path: &Path) -> Arc<NssConfig> {
        self.get_at(path, Instant::now())
    }

    /// The configuration the memory cache at `memcache_path` carries
    /// (rosterd writes `nss.conf`'s text into it: a new process's first
    /// lookup maps that file anyway and opens no other), else as
    /// [`ConfigCache::get`] reads it at `path` (no memory cache, one that
    /// carries none, or its holder busy).
    pub fn get_carried(
        &self,
        path: &Path,
        memcache: &MemcacheReader,
        memcache_path: &Path,
    ) -> Arc<NssConfig> {
        // (The clock is read only when `nss.conf` is: not on a lookup
        // the memory cache's settings serve.)
        self.get_from(path, Some((memcache, memcache_path)), Instant::now)
    }

    /// Same as [`ConfigCache::get`] with an explicit clock (for tests).
    pub fn get_at(&self, path: &Path, now: Instant) -> Arc<NssConfig> {
        self.get_from(path, None, || now)
    }

    fn get_from(
        &self,
        path: &Path,
        memcache: Option<(&MemcacheReader, &Path)>,
        clock: impl Fn() -> Instant,
    ) -> Arc<NssConfig> {
        let mut guard = match self.state.try_lock() {
            Ok(g) => g,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            // (Another thread holds the cache: this caller takes the
            // settings itself, from the memory cache, else nss.conf.)
            Err(TryLockError::WouldBlock) => {
                let carried = memcache.and_then(|(reader, mc_path)| {
                    reader.settings_with(mc_path, |_, text| NssConfig::parse_bytes(text))
                });
                return Arc::new(carried.unwrap_or_else(|| NssConfig::load(path)));
            }
        };
        if let Some((reader, mc_path)) = memcache {
            let held = match guard.as_ref() {
                Some(Cached {
                    source: Source::Memcache(generation),
                    ..
                }) => Some(*generation),
                _ => None,
            };
            // Parsed only when the file is not the one already read.
            let carried = reader.settings_with(mc_path, |generation, text| {
                (
                    generation,
                    (held != Some(generation)).then(|| NssConfig::parse_bytes(text)),
                )
            });
            match (carried, guard.as_ref()) {
                (Some((_, None)), Some(c)) => return Arc::clone(&c.config),
                (Some((generation, Some(config))), _) => {
                    let config = Arc::new(config);
                    *guard = Some(Cached {
                        source: Source::Memcache(generation),
                        config: Arc::clone(&config),
                    });
                    return config;
                }
                _ => {}
            }
        }
        let now = clock();
        if let Some(c) = guard.as_mut() {
            if let Source::File {
                stamp: kept,
                checked,
            } = &mut c.source
            {
                if now.saturating_duration_since(*checked) < RECHECK_INTERVAL {
                    return Arc::clone(&c.config);
                }
                // Only a cached version is compared with the file's
                // stamp: the first read takes the stamp from the file it
                // opens.
                if *kept == stamp(path).ok() {
                    *checked = now;
                    return Arc::clone(&c.config);
                }
            }
        }
        let (stamp, config) = read_stamped(path);
        let config = Arc::new(config);
        *guard = Some(Cached {
            source: Source::File {
                stamp,
                checked: now,
            },
            config: Arc::clone(&config),
        });
        config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The stamp of the `nss.conf` `cache` read last.
    fn kept_stamp(cache: &ConfigCache) -> Option<FileStamp> {
        match cache.state.lock().unwrap().as_ref().unwrap().source {
            Source::File { stamp, .. } => stamp,
            Source::Memcache(_) => panic!("read from the memory cache"),
        }
    }

    #[test]
    fn defaults_when_empty() {
        let c = NssConfig::parse("");
        assert_eq!(c, NssConfig::default());
        assert_eq!(c.timeout, Duration::from_millis(3000));
        assert_eq!(c.enumerate_timeout, Duration::from_millis(30_000));
        assert!(c.ignores_user("root"));
        assert!(!c.ignores_user("alice"));
        assert!(!c.serves_id(999));
        assert!(c.serves_id(1000));
    }

    #[test]
    fn parses_all_keys_and_ignores_junk() {
        let c = NssConfig::parse(
            "# published by rosterd\n timeout_ms = 250 \nignore_users=daemon, sshd,,\n\
             ignore_groups=adm\nmin_id=500\nbogus\nunknown=1\nenumerate_timeout_ms=45000\n",
        );
        assert_eq!(c.timeout, Duration::from_millis(250));
        assert_eq!(c.enumerate_timeout, Duration::from_millis(45_000));
        assert_eq!(c.ignore_users, vec!["daemon", "sshd"]);
        assert_eq!(c.ignore_groups, vec!["adm"]);
        assert_eq!(c.min_id, 500);
        assert!(c.ignores_user("root"), "root is always ignored");
        assert!(c.ignores_user("sshd"));
        assert!(c.ignores_group("adm") && c.ignores_group("root"));
        // Lines ended by CRLF, a comment after a value, a key named only
        // in part, a list named twice (the last one holds).
        let c = NssConfig::parse(
            "min_id=700\r\nignore_users=a, b # and c\r\nignore_users=d\r\nmin=1\r\n",
        );
        assert_eq!(c.min_id, 700);
        assert_eq!(c.ignore_users, vec!["d"]);
        assert_eq!(c.ignore_groups, vec!["root"], "the default when not named");
    }

    #[test]
    fn bad_values_keep_defaults_and_timeout_is_clamped() {
        let c = NssConfig::parse("timeout_ms=soon\nmin_id=-4\n");
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.min_id, DEFAULT_MIN_ID);
        assert_eq!(
            NssConfig::parse("timeout_ms=0").timeout,
            Duration::from_millis(1)
        );
        assert_eq!(NssConfig::parse("timeout_ms=99999999").timeout, MAX_TIMEOUT);
        assert!(!NssConfig::parse("min_id=0").serves_id(0), "uid 0 never");
    }

    #[test]
    fn cache_rechecks_at_most_once_per_interval() {
        let dir = std::env::temp_dir().join(format!("nss-conf-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(CONFIG_FILE_NAME);
        let cache = ConfigCache::new();
        let t0 = Instant::now();
        assert_eq!(
            cache.get_at(&path, t0).min_id,
            DEFAULT_MIN_ID,
            "missing file"
        );

        fs::write(&path, "min_id=2000\n").unwrap();
        assert_eq!(
            cache.get_at(&path, t0 + Duration::from_millis(10)).min_id,
            DEFAULT_MIN_ID,
            "within the interval the cached value is kept"
        );
        let t1 = t0 + RECHECK_INTERVAL;
        assert_eq!(cache.get_at(&path, t1).min_id, 2000, "re-read after change");

        // Same length, rewritten by rename: the inode changes.
        let tmp = dir.join("nss.conf.tmp");
        fs::write(&tmp, "min_id=3000\n").unwrap();
        fs::rename(&tmp, &path).unwrap();
        let t2 = t1 + RECHECK_INTERVAL;
        assert_eq!(cache.get_at(&path, t2).min_id, 3000);

        fs::remove_file(&path).unwrap();
        let t3 = t2 + RECHECK_INTERVAL;
        assert_eq!(cache.get_at(&path, t3).min_id, DEFAULT_MIN_ID, "file gone");
        fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_first_read_keeps_the_stamp_of_the_file_it_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        fs::write(&path, "min_id=2000\n").unwrap();
        let cache = ConfigCache::new();
        let t0 = Instant::now();
        assert_eq!(cache.get_at(&path, t0).min_id, 2000);
        // Unchanged: the stamp taken from the open file is the path's.
        let kept = kept_stamp(&cache);
        assert_eq!(kept, Some(stamp(&path).unwrap()));
        assert_eq!(cache.get_at(&path, t0 + RECHECK_INTERVAL).min_id, 2000);
        // A file that is not there keeps no stamp: the next check reads
        // again once it is.
        let missing = ConfigCache::new();
        assert_eq!(
            missing.get_at(&dir.path().join("absent"), t0).min_id,
            DEFAULT_MIN_ID
        );
        assert_eq!(kept_stamp(&missing), None);
        // One there that cannot be read (a directory) keeps its stamp: the
        // next checks only `stat` it.
        let unreadable = ConfigCache::new();
        assert_eq!(unreadable.get_at(dir.path(), t0).min_id, DEFAULT_MIN_ID);
        assert_eq!(kept_stamp(&unreadable), Some(stamp(dir.path()).unwrap()));
        // So does one that cannot be opened (a socket: ENXIO, even for
        // root).
        let socket = dir.path().join("socket");
        let _listener = std::os::unix::net::UnixListener::bind(&socket).unwrap();
        let unopenable = ConfigCache::new();
        assert_eq!(unopenable.get_at(&socket, t0).min_id, DEFAULT_MIN_ID);
        assert_eq!(kept_stamp(&unopenable), Some(stamp(&socket).unwrap()));
    }

    /// A FIFO at the file's path gives the defaults at once: opening it
    /// does not wait for a writer (a lookup must never hang on it).
    #[test]
    fn a_fifo_is_not_waited_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        let made = std::process::Command::new("mkfifo").arg(&path).status();
        assert!(made.is_ok_and(|s| s.success()), "mkfifo");
        let (tx, rx) = std::sync::mpsc::channel();
        let reading = path.clone();
        std::thread::spawn(move || {
            let _ = tx.send(NssConfig::load(&reading));
        });
        let config = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("opening a FIFO waited for a writer");
        assert_eq!(config, NssConfig::default());
    }

    #[test]
    fn a_read_is_bounded_and_keeps_the_valid_lines() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(CONFIG_FILE_NAME);
        // Bytes that are not UTF-8 match no name; the other lines hold.
        fs::write(&path, b"ignore_users=\xff\xfe\nmin_id=2000\n").unwrap();
        let config = NssConfig::load(&path);
        assert_eq!(config.min_id, 2000);
        assert!(!config.ignores_user("alice"));
        // Past NSS_CONF_MAX_LEN nothing is read, and a line cut by it is
        // not read either: not `min_id=1`.
        let max = NSS_CONF_MAX_LEN as usize;
        let mut big = "timeout_ms=1234\n".to_string();
        big.push_str(&"#".repeat(max - big.len() - 9));
        big.push('\n');
        big.push_str("min_id=10000\n");
        assert_eq!(&big[max - 8..max], "min_id=1");
        fs::write(&path, big).unwrap();
        let config = NssConfig::load(&path);
        assert_eq!(config.timeout, Duration::from_millis(1234));
        assert_eq!(config.min_id, DEFAULT_MIN_ID);
    }

    /// A memory cache that carries the settings is where they come from
    /// (parsed once per file, `nss.conf` not opened); a new file carries
    /// new ones, seen at the next call; without one, or with one that
    /// carries none, `nss.conf` is read.
    #[test]
    fn settings_come_from_the_memory_cache_that_carries_them() {
        use roster_proto::memcache::MemcacheWriter;
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join(CONFIG_FILE_NAME);
        let mc = dir.path().join("nss.mc");
        let carrying =
            |text: &[u8]| MemcacheWriter::create_with_settings(&mc, 16, 4096, Some(text));
        let reader = MemcacheReader::new();
        let cache = ConfigCache::new();
        let get = || cache.get_carried(&conf, &reader, &mc).min_id;
        let _first = carrying(b"min_id=3000\n").unwrap();
        fs::write(&conf, "min_id=2000\n").unwrap();
        assert_eq!(get(), 3000, "the memory cache's");
        let first = cache.get_carried(&conf, &reader, &mc);
        // Made a directory: a read of nss.conf now would give the defaults.
        fs::remove_file(&conf).unwrap();
        fs::create_dir(&conf).unwrap();
        assert_eq!(get(), 3000, "nss.conf is not read");
        let again = cache.get_carried(&conf, &reader, &mc);
        assert!(Arc::ptr_eq(&first, &again), "parsed once for the file");
        let _flushed = carrying(b"min_id=4000\n").unwrap();
        assert_eq!(get(), 4000, "the new file's, at once");
        fs::remove_dir(&conf).unwrap();
        fs::write(&conf, "min_id=2000\n").unwrap();
        let _without = MemcacheWriter::create(&mc, 16, 4096).unwrap();
        assert_eq!(get(), 2000, "a file without settings: nss.conf");
        let mut writer = carrying(b"min_id=5000\n").unwrap();
        assert_eq!(get(), 5000);
        writer.retire();
        assert!(!mc.exists());
        assert_eq!(get(), 2000, "no memory cache: nss.conf");
    }

    #[test]
    fn busy_lock_falls_back_to_reading_the_file() {
        let dir = std::env::temp_dir().join(format!("nss-conf-busy-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let path = dir.join(CONFIG_FILE_NAME);
        fs::write(&path, "min_id=4242\n").unwrap();
        let cache = ConfigCache::new();
        let _held = cache.state.lock().unwrap();
        assert_eq!(cache.get(&path).min_id, 4242);
        fs::remove_dir_all(&dir).unwrap();
    }
}
