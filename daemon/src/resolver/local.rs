//! Local accounts: `/etc/passwd` and `/etc/group`, read by the daemon
//! itself (never through NSS, which would ask the daemon back) and read
//! again whenever a file changes (modification time, size or inode).
//!
//! Local accounts win: a directory user or group whose name or ID is
//! local, or whose ID is reserved (`RESERVED_IDS`), is never served.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

/// IDs never served for a directory object: root, `nobody`/`nogroup`,
/// the 16-bit "no ID" value and `(uid_t)-1`.
pub(crate) const RESERVED_IDS: [u32; 4] = [0, 65534, 65535, u32::MAX];

/// True for an ID no directory object may have.
pub(crate) fn is_reserved_id(id: u32) -> bool {
    RESERVED_IDS.contains(&id)
}

/// The tables' hasher: every member of a group is looked up in them.
type FastHash = foldhash::fast::RandomState;

/// One parsed account file: names (exact and lower case) and IDs.
#[derive(Debug, Default)]
pub struct Table {
    /// Name -> (ID, primary GID; the GID again for groups).
    entries: HashMap<String, (u32, u32), FastHash>,
    /// Names in lower case (case-insensitive domains compare with these).
    lower: HashSet<String, FastHash>,
    /// IDs in use.
    ids: HashSet<u32, FastHash>,
    /// Which [`bucket`]s the names (and their lower case, when ASCII) fall
    /// in: a name in none of them is not local, told by one bit (every
    /// member of a big group is asked twice, and nearly none is local).
    buckets: Buckets,
    /// Which [`id_bucket`]s the IDs fall in.
    id_buckets: Buckets,
}

/// The bucket of ID `id` (the top 10 bits of a multiplicative hash).
fn id_bucket(id: u32) -> usize {
    (id.wrapping_mul(0x9E37_79B9) >> 22) as usize
}

/// 1,024 bits, one per [`bucket`] (or [`id_bucket`]).
#[derive(Debug, Default)]
struct Buckets([u64; 16]);

impl Buckets {
    fn set(&mut self, b: usize) {
        self.0[b / 64] |= 1 << (b % 64);
    }

    fn get(&self, b: usize) -> bool {
        self.0[b / 64] & (1 << (b % 64)) != 0
    }
}

/// The bucket of name `name`, by its length and its first and last bytes
/// in ASCII lower case: an ASCII name and each of its case variants share
/// one.
fn bucket(name: &[u8]) -> usize {
    let lower = |i: Option<&u8>| u32::from(i.copied().unwrap_or(0).to_ascii_lowercase());
    let h = (name.len() as u32).wrapping_mul(0x9E37_79B9)
        ^ lower(name.first()).wrapping_mul(0x85EB_CA6B)
        ^ lower(name.last()).wrapping_mul(0xC2B2_AE35);
    (h >> 22) as usize
}

impl Table {
    /// Parses passwd (`name:pw:uid:gid:...`) or group (`name:pw:gid:...`)
    /// lines; comments, blank and malformed lines are skipped, as glibc's
    /// files module skips them.
    pub fn parse(text: &str, is_passwd: bool) -> Table {
        let mut t = Table::default();
        for line in text.lines() {
            let line = line.trim_end();
            if line.is_empty() || line.starts_with('#') || line.starts_with(['+', '-']) {
                continue;
            }
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || f[0].is_empty() {
                continue;
            }
            let Ok(id) = f[2].parse::<u32>() else {
                continue;
            };
            let gid = if is_passwd {
                f.get(3).and_then(|g| g.parse().ok()).unwrap_or(id)
            } else {
                id
            };
            let lower = f[0].to_lowercase();
            // A name asked matches this one exactly (the same bytes: the
            // same bucket) or, any case, by its lower case (asked in
            // ASCII, only an ASCII lower case).
            t.buckets.set(bucket(f[0].as_bytes()));
            if lower.is_ascii() {
                t.buckets.set(bucket(lower.as_bytes()));
            }
            t.entries.entry(f[0].to_string()).or_insert((id, gid));
            t.lower.insert(lower);
            t.ids.insert(id);
            t.id_buckets.set(id_bucket(id));
        }
        t
    }

    /// True when `name` is local (any spelling when `any_case`).
    #[inline]
    pub fn has_name(&self, name: &str, any_case: bool) -> bool {
        // (Any case, only an ASCII name's bucket is that of its lower
        // case.)
        if (!any_case || name.is_ascii()) && !self.buckets.get(bucket(name.as_bytes())) {
            return false;
        }
        self.has_name_in_maps(name, any_case)
    }

    /// [`Table::has_name`] past the buckets (kept out of line: the
    /// buckets' answer is the usual one, without a stack frame).
    #[inline(never)]
    fn has_name_in_maps(&self, name: &str, any_case: bool) -> bool {
        self.entries.contains_key(name) || (any_case && self.lower.contains(&name.to_lowercase()))
    }

    /// True when `id` is local.
    #[inline]
    pub fn has_id(&self, id: u32) -> bool {
        self.id_buckets.get(id_bucket(id)) && self.ids.contains(&id)
    }

    /// (ID, primary GID) of the local entry `name`.
    pub fn get(&self, name: &str) -> Option<(u32, u32)> {
        self.entries.get(name).copied()
    }
}

/// What identifies a version of a file.
type Stamp = (SystemTime, u64, u64);

fn stamp(path: &Path) -> Option<Stamp> {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::metadata(path).ok()?;
    Some((m.modified().ok()?, m.len(), m.ino()))
}

/// A file and its table, parsed again when the file changes.
struct Watched {
    path: PathBuf,
    is_passwd: bool,
    state: Mutex<Parsed>,
}

/// The table of one version of a file.
struct Parsed {
    stamp: Option<Stamp>,
    table: Arc<Table>,
    /// Counts the times the file was parsed (a version number).
    version: u64,
}

impl Watched {
    fn new(path: PathBuf, is_passwd: bool) -> Self {
        Watched {
            path,
            is_passwd,
            state: Mutex::new(Parsed {
                stamp: None,
                table: Arc::new(Table::default()),
                version: 0,
            }),
        }
    }

    fn table(&self) -> Arc<Table> {
        self.current().0
    }

    /// The current table and its version.
    fn current(&self) -> (Arc<Table>, u64) {
        let now = stamp(&self.path);
        let mut st = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // (A file missing now and at the last read gives the same empty
        // table.)
        if st.version > 0 && st.stamp == now {
            return (st.table.clone(), st.version);
        }
        let table = match std::fs::read_to_string(&self.path) {
            Ok(text) => Table::parse(&text, self.is_passwd),
            Err(e) => {
                if st.stamp.is_some() || now.is_some() {
                    tracing::warn!(path = %self.path.display(), error = %e, "cannot read local accounts");
                }
                Table::default()
            }
        };
        st.stamp = now;
        st.table = Arc::new(table);
        st.version += 1;
        (st.table.clone(), st.version)
    }
}

/// The local users and groups.
pub struct LocalAccounts {
    passwd: Watched,
    group: Watched,
}

impl LocalAccounts {
    /// `/etc/passwd` and `/etc/group`.
    pub fn system() -> Self {
        Self::from_paths(Path::new("/etc/passwd"), Path::new("/etc/group"))
    }

    /// Other files (tests).
    pub fn from_paths(passwd: &Path, group: &Path) -> Self {
        LocalAccounts {
            passwd: Watched::new(passwd.to_path_buf(), true),
            group: Watched::new(group.to_path_buf(), false),
        }
    }

    /// The local users, current.
    pub fn users(&self) -> Arc<Table> {
        self.passwd.table()
    }

    /// The local groups, current.
    pub fn groups(&self) -> Arc<Table> {
        self.group.table()
    }

    /// Both files as they are now (one `stat` each): what one lookup
    /// judges by, whatever changes while it runs.
    pub fn view(&self) -> LocalView {
        let (users, passwd) = self.passwd.current();
        let (groups, group) = self.group.current();
        LocalView {
            users,
            groups,
            version: (passwd, group),
        }
    }

    /// Why a directory user named `name` with `uid` must not be served
    /// (`any_case`: the directory compares names case-insensitively).
    pub fn user_refusal(&self, name: &str, uid: u32, any_case: bool) -> Option<String> {
        user_refusal(&self.users(), name, uid, any_case)
    }

    /// Why a directory group named `name` with `gid` must not be served.
    pub fn group_refusal(&self, name: &str, gid: u32, any_case: bool) -> Option<String> {
        group_refusal(&self.groups(), name, gid, any_case)
    }
}

/// The local accounts one lookup judges by, read once (one version of the
/// files for the whole lookup): while the first search of
/// `super::Resolver::walk_domains` is out instead of before it (their
/// two `stat`s take 13–19 µs on a machine idle for 60 ms, 0.8 µs back to
/// back), or when first used by a lookup that searches nothing.
pub struct LocalSlot {
    accounts: Arc<LocalAccounts>,
    view: OnceLock<LocalView>,
}

impl LocalSlot {
    /// Not read yet: [`LocalSlot::get`] reads `accounts` when first called.
    pub fn new(accounts: Arc<LocalAccounts>) -> Self {
        LocalSlot {
            accounts,
            view: OnceLock::new(),
        }
    }

    /// Holding `view`, already read.
    pub fn with_view(accounts: Arc<LocalAccounts>, view: LocalView) -> Self {
        LocalSlot {
            accounts,
            view: OnceLock::from(view),
        }
    }

    /// The view, read now if it was not yet.
    pub fn get(&self) -> &LocalView {
        self.view.get_or_init(|| self.accounts.view())
    }

    /// True once the view is read.
    pub fn is_read(&self) -> bool {
        self.view.get().is_some()
    }

    /// The files the view is read from (to read it apart from the slot).
    pub fn accounts(&self) -> &Arc<LocalAccounts> {
        &self.accounts
    }

    /// Holds `view` unless one was read already (the first one stays).
    pub fn fill(&self, view: LocalView) {
        let _ = self.view.set(view);
    }
}

/// One version of the local users and groups ([`LocalAccounts::view`]).
#[derive(Clone)]
pub struct LocalView {
    /// `/etc/passwd`.
    pub users: Arc<Table>,
    /// `/etc/group`.
    pub groups: Arc<Table>,
    /// The versions of the two files: they change whenever either file is
    /// read again (an answer decided under other versions may be wrong
    /// now).
    pub version: (u64, u64),
}

impl LocalView {
    /// [`LocalAccounts::user_refusal`] in this version.
    pub fn user_refusal(&self, name: &str, uid: u32, any_case: bool) -> Option<String> {
        user_refusal(&self.users, name, uid, any_case)
    }

    /// [`LocalAccounts::group_refusal`] in this version.
    pub fn group_refusal(&self, name: &str, gid: u32, any_case: bool) -> Option<String> {
        group_refusal(&self.groups, name, gid, any_case)
    }
}

fn user_refusal(t: &Table, name: &str, uid: u32, any_case: bool) -> Option<String> {
    id_refusal("uid", uid, t, "/etc/passwd").or_else(|| {
        t.has_name(name, any_case)
            .then(|| format!("name {name:?} is a local user (/etc/passwd)"))
    })
}

fn group_refusal(t: &Table, name: &str, gid: u32, any_case: bool) -> Option<String> {
    id_refusal("gid", gid, t, "/etc/group").or_else(|| {
        t.has_name(name, any_case)
            .then(|| format!("name {name:?} is a local group (/etc/group)"))
    })
}

fn id_refusal(what: &str, id: u32, t: &Table, file: &str) -> Option<String> {
    if is_reserved_id(id) {
        return Some(format!("{what} {id} is reserved"));
    }
    t.has_id(id)
        .then(|| format!("{what} {id} is a local ID ({file})"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_ids_and_reserved_ids_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (p, g) = (dir.path().join("passwd"), dir.path().join("group"));
        std::fs::write(
            &p,
            "root:x:0:0::/root:/bin/sh\n# c\nbackup:x:34:34::/:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(&g, "sudo:x:27:\nbad line\n").unwrap();
        let l = LocalAccounts::from_paths(&p, &g);
        assert!(l.user_refusal("backup", 20000, false).is_some());
        assert!(l.user_refusal("BACKUP", 20000, false).is_none());
        assert!(l.user_refusal("BACKUP", 20000, true).is_some());
        assert!(l.user_refusal("x", 34, false).unwrap().contains("uid 34"));
        assert!(l
            .user_refusal("x", 65534, false)
            .unwrap()
            .contains("reserved"));
        assert!(l.user_refusal("x", 20000, false).is_none());
        assert!(l.group_refusal("sudo", 20000, false).is_some());
        assert!(l.group_refusal("x", 27, false).is_some());
        assert!(l.group_refusal("x", u32::MAX, false).is_some());
        assert_eq!(l.users().get("backup"), Some((34, 34)));
        // A change of the file is seen at the next question.
        std::fs::write(&p, "alice:x:20000:20000::/:/bin/sh\n").unwrap();
        assert!(l.user_refusal("backup", 20001, false).is_none());
        assert!(l.user_refusal("y", 20000, false).is_some());
    }

    #[test]
    fn the_buckets_hide_no_local_name_in_any_case() {
        // Names whose lower case is ASCII though they are not (the Kelvin
        // sign), or changes length (dotted capital I), and plain ones.
        let t = Table::parse(
            "\u{212A}:x:1001:1001::/:/bin/sh\nal\u{130}ce:x:1002:1002::/:/bin/sh\n\
             Backup:x:34:34::/:/bin/sh\nz:x:1003:1003::/:/bin/sh\n",
            true,
        );
        for (name, any_case, local) in [
            ("k", true, true),
            ("k", false, false),
            ("\u{212A}", false, true),
            ("ali\u{307}ce", true, true),
            ("backup", true, true),
            ("BACKUP", true, true),
            ("backup", false, false),
            ("Backup", false, true),
            ("z", false, true),
            ("Z", true, true),
            ("u00001", true, false),
            ("", true, false),
        ] {
            assert_eq!(t.has_name(name, any_case), local, "{name:?} {any_case}");
            assert_eq!(t.has_name_in_maps(name, any_case), local, "{name:?}");
        }
    }

    proptest::proptest! {
        /// With the ID buckets, the same answers as the set alone.
        #[test]
        fn the_id_buckets_change_no_answer(
            local in proptest::collection::vec(proptest::num::u32::ANY, 0..60),
            asked in proptest::collection::vec(proptest::num::u32::ANY, 0..60),
        ) {
            let text: String = local
                .iter()
                .enumerate()
                .map(|(k, id)| format!("n{k}:x:{id}:1::/:/bin/sh\n"))
                .collect();
            let t = Table::parse(&text, true);
            for &id in local.iter().chain(&asked).chain(&[0, 1000, u32::MAX]) {
                proptest::prop_assert_eq!(t.has_id(id), t.ids.contains(&id), "{}", id);
            }
            for &id in &local {
                proptest::prop_assert!(t.has_id(id));
            }
        }

        /// With the buckets, the same answers as the maps alone.
        #[test]
        fn the_buckets_change_no_answer(
            local in proptest::collection::vec("[a-zA-Z_][a-zA-Z0-9_.\u{212A}\u{130}-]{0,12}", 0..40),
            asked in proptest::collection::vec("[a-zA-Z_][a-zA-Z0-9_.\u{212A}\u{130}-]{0,12}", 0..40),
        ) {
            let text: String = local
                .iter()
                .enumerate()
                .map(|(k, n)| format!("{n}:x:{}:1::/:/bin/sh\n", 1000 + k))
                .collect();
            let t = Table::parse(&text, true);
            for name in local.iter().chain(&asked) {
                for any_case in [false, true] {
                    for form in [name.clone(), name.to_uppercase(), name.to_lowercase()] {
                        proptest::prop_assert_eq!(
                            t.has_name(&form, any_case),
                            t.has_name_in_maps(&form, any_case),
                            "{:?}", form
                        );
                    }
                }
            }
        }
    }
}
