//! The `[cache]`, `[daemon]` and `[nss]` tables, resolved from the file's
//! [`super::raw`] tables: defaults for keys left out, each value checked
//! where it is read.

use super::raw::{Opt, RawCache, RawDaemon, RawNss};
use super::source::Fault;
use std::path::PathBuf;
use toml::Spanned;

/// `[cache]`: how long answers are kept.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheSettings {
    /// Seconds an entry is served without asking the directory again (300).
    pub entry_ttl: u64,
    /// Seconds a "does not exist" answer is remembered (60).
    pub negative_ttl: u64,
    /// Seconds an entry may be served from the offline store while no
    /// directory answers (604800 = 7 days; 0 = forever).
    pub offline_max_age: u64,
    /// Maximum number of entries in the memory cache (100000).
    pub max_entries: usize,
    /// Serve enumeration (`getent passwd` without a key) (false).
    pub enumerate: bool,
    /// List every RFC 2307 domain's user and group names and IDs once per
    /// `entry_ttl`, in the background, so that a cold lookup needs one
    /// search instead of two ([`crate::census`]) (true).
    pub census: bool,
    /// Memory of the argon2id hash of cached credentials, in KiB (7168).
    pub credential_hash_memory_kib: u32,
    /// Iterations of that hash (5).
    pub credential_hash_iterations: u32,
}

impl Default for CacheSettings {
    fn default() -> Self {
        CacheSettings {
            entry_ttl: 300,
            negative_ttl: 60,
            offline_max_age: 604_800,
            max_entries: 100_000,
            enumerate: false,
            census: true,
            credential_hash_memory_kib: 7 * 1024,
            credential_hash_iterations: 5,
        }
    }
}

/// `[daemon]`: where rosterd keeps its sockets and state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DaemonSettings {
    /// Directory of `nss.sock` and `pam.sock` (`/run/roster`).
    pub socket_dir: PathBuf,
    /// Directory of the persistent store and idmap state (`/var/lib/roster`).
    pub state_dir: PathBuf,
    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or a
    /// tracing filter directive (`info`).
    pub log_level: String,
    /// How long rosterd's thread keeps polling after each entry of a
    /// large answer instead of sleeping (`busy_poll_us`, 50 µs; zero: it
    /// never does): [`crate::directory::busy_poll`].
    pub busy_poll_window: std::time::Duration,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            socket_dir: PathBuf::from(roster_proto::DEFAULT_SOCKET_DIR),
            state_dir: PathBuf::from(roster_proto::DEFAULT_STATE_DIR),
            log_level: "info".to_string(),
            busy_poll_window: crate::directory::busy_poll::WINDOW,
        }
    }
}

/// `[nss]`: settings the daemon publishes for the NSS module.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NssSettings {
    /// Total time bound of one NSS call, in milliseconds (3000).
    pub timeout_ms: u64,
    /// Time bound of one enumeration page (`getent passwd`), in
    /// milliseconds (30000): the first page waits for the whole directory.
    pub enumerate_timeout_ms: u64,
    /// User names the module never asks the daemon about (`["root"]`).
    pub ignore_users: Vec<String>,
    /// Group names the module never asks the daemon about (`["root"]`).
    pub ignore_groups: Vec<String>,
    /// UIDs/GIDs below this are never asked about (1000).
    pub min_id: u32,
    /// initgroups of a user in `/etc/passwd` adds the directory groups
    /// that list the name as a member (false: it adds none).
    pub initgroups_for_local_users: bool,
    /// Largest size of the memory cache file `nss.mc`, in bytes (32 MiB):
    /// when full, it is rebuilt with the live records and the oldest are
    /// dropped; it never grows past this.
    pub memcache_size: u64,
}

impl NssSettings {
    /// Whether `nss.conf` can list `name` as it is: no `,` (the list's
    /// separator), `#` (a comment's start), line break or NUL, and no
    /// white space at either end (the module trims it). The
    /// configuration refuses other names; rosterd writes only these.
    pub fn listable(name: &str) -> bool {
        !name.contains([',', '#', '\n', '\r', '\0']) && name.trim() == name
    }
}

/// Smallest and largest `[nss] memcache_size` accepted (1 MiB, 1 GiB).
pub const MEMCACHE_SIZE_RANGE: (u64, u64) = (1 << 20, 1 << 30);

impl Default for NssSettings {
    fn default() -> Self {
        NssSettings {
            timeout_ms: 3000,
            enumerate_timeout_ms: 30_000,
            ignore_users: vec!["root".to_string()],
            ignore_groups: vec!["root".to_string()],
            min_id: 1000,
            initgroups_for_local_users: false,
            memcache_size: 32 << 20,
        }
    }
}

/// Accepted `[cache] credential_hash_memory_kib` (KiB): one argon2 block per
/// hashing thread is kept this large.
const CREDENTIAL_HASH_MEMORY_KIB: (u32, u32) = (1024, 262_144);
/// Largest accepted `[cache] credential_hash_iterations`.
const CREDENTIAL_HASH_MAX_ITERATIONS: u32 = 64;

/// The value of a key, or `default` when the file leaves it out.
pub(crate) fn or<T: Clone>(v: &Opt<T>, default: T) -> T {
    v.as_ref().map_or(default, |s| s.get_ref().clone())
}

/// The value of `key` checked by `ok` (default `default`, which is not
/// checked); `why` says what is wrong with a refused value.
pub(crate) fn checked<T: Clone>(
    key: &str,
    v: &Opt<T>,
    default: T,
    ok: impl Fn(&T) -> bool,
    why: impl Fn(&T) -> String,
) -> Result<T, Fault> {
    match v {
        None => Ok(default),
        Some(s) if ok(s.get_ref()) => Ok(s.get_ref().clone()),
        Some(s) => Err(Fault::at(key, s.span(), why(s.get_ref()))),
    }
}

/// [`checked`] with a fixed reason.
pub(crate) fn greater_than_0<T: Clone + PartialOrd + Default>(
    key: &str,
    v: &Opt<T>,
    default: T,
) -> Result<T, Fault> {
    checked(
        key,
        v,
        default,
        |n| *n > T::default(),
        |_| "must be greater than 0".to_string(),
    )
}

/// Resolves `[cache]` (absent: all defaults).
pub(crate) fn cache(raw: Option<&RawCache>) -> Result<CacheSettings, Fault> {
    let d = CacheSettings::default();
    let Some(r) = raw else { return Ok(d) };
    let (mem_min, mem_max) = CREDENTIAL_HASH_MEMORY_KIB;
    Ok(CacheSettings {
        entry_ttl: or(&r.entry_ttl, d.entry_ttl),
        negative_ttl: or(&r.negative_ttl, d.negative_ttl),
        offline_max_age: or(&r.offline_max_age, d.offline_max_age),
        max_entries: greater_than_0("max_entries", &r.max_entries, d.max_entries)?,
        enumerate: or(&r.enumerate, d.enumerate),
        census: or(&r.census, d.census),
        credential_hash_memory_kib: checked(
            "credential_hash_memory_kib",
            &r.credential_hash_memory_kib,
            d.credential_hash_memory_kib,
            |m| (mem_min..=mem_max).contains(m),
            |m| {
                format!(
                    "{m} is out of range: from {mem_min} to {mem_max} KiB (OWASP's minimum for argon2id is 7168)"
                )
            },
        )?,
        credential_hash_iterations: checked(
            "credential_hash_iterations",
            &r.credential_hash_iterations,
            d.credential_hash_iterations,
            |i| (1..=CREDENTIAL_HASH_MAX_ITERATIONS).contains(i),
            |i| format!("{i} is out of range: from 1 to {CREDENTIAL_HASH_MAX_ITERATIONS}"),
        )?,
    })
}

/// Resolves `[daemon]` (absent: all defaults).
pub(crate) fn daemon(raw: Option<&RawDaemon>) -> Result<DaemonSettings, Fault> {
    let d = DaemonSettings::default();
    let Some(r) = raw else { return Ok(d) };
    let log_level = match &r.log_level {
        None => d.log_level,
        Some(l) => {
            let level = l.get_ref();
            if level.trim().is_empty() || tracing_subscriber::EnvFilter::try_new(level).is_err() {
                return Err(Fault::at(
                    "log_level",
                    l.span(),
                    format!("\"{level}\" is not a log level (error, warn, info, debug, trace) or filter directive"),
                ));
            }
            level.clone()
        }
    };
    let max_us = crate::directory::busy_poll::MAX_WINDOW.as_micros() as u64;
    let busy_poll_us = checked(
        "busy_poll_us",
        &r.busy_poll_us,
        d.busy_poll_window.as_micros() as u64,
        |us| *us <= max_us,
        |us| format!("{us} is out of range: from 0 (never) to {max_us} microseconds"),
    )?;
    Ok(DaemonSettings {
        socket_dir: absolute("socket_dir", &r.socket_dir, d.socket_dir)?,
        state_dir: absolute("state_dir", &r.state_dir, d.state_dir)?,
        log_level,
        busy_poll_window: std::time::Duration::from_micros(busy_poll_us),
    })
}

fn absolute(key: &str, v: &Opt<PathBuf>, default: PathBuf) -> Result<PathBuf, Fault> {
    match v {
        None => Ok(default),
        Some(p) if p.get_ref().is_absolute() => Ok(p.get_ref().clone()),
        Some(p) => Err(Fault::at(
            key,
            p.span(),
            format!("{} is not an absolute path", p.get_ref().display()),
        )),
    }
}

/// What `nss.conf`'s lines other than the two name lists take at most
/// (rosterd's comment and three numbers).
const NSS_CONF_OTHER_LINES: u64 = 512;

/// Refuses name lists that would make `nss.conf` longer than the NSS
/// module reads ([`roster_proto::NSS_CONF_MAX_LEN`]), naming the longer.
fn name_lists_fit(r: &RawNss, users: &[String], groups: &[String]) -> Result<(), Fault> {
    let len = |names: &[String]| names.iter().map(|n| n.len() as u64 + 1).sum::<u64>();
    let room = roster_proto::NSS_CONF_MAX_LEN - NSS_CONF_OTHER_LINES;
    let (user_bytes, group_bytes) = (len(users), len(groups));
    if user_bytes + group_bytes <= room {
        return Ok(());
    }
    let (key, list) = if user_bytes >= group_bytes {
        ("ignore_users", &r.ignore_users)
    } else {
        ("ignore_groups", &r.ignore_groups)
    };
    let message = format!(
        "ignore_users and ignore_groups take {} octets in nss.conf (each name and its comma): more than the {room} it has for them (the NSS module reads {} octets of it)",
        user_bytes + group_bytes,
        roster_proto::NSS_CONF_MAX_LEN
    );
    Err(match span(list) {
        Some(at) => Fault::at(key, at, message),
        None => Fault::unset(key, message),
    })
}

/// Refuses a name of `key`'s list that `nss.conf` cannot carry as it is
/// ([`NssSettings::listable`]).
fn names_fit_nss_conf(key: &str, list: &Opt<Vec<String>>) -> Result<(), Fault> {
    let Some(names) = list else { return Ok(()) };
    let bad = names.get_ref().iter().find(|n| !NssSettings::listable(n));
    match bad {
        None => Ok(()),
        Some(name) => Err(Fault::at(
            key,
            names.span(),
            format!(
                "{name:?} cannot be a name here: nss.conf lists names with `,` between them and `#` starting a comment (no `,`, `#`, line break, NUL, or white space at either end)"
            ),
        )),
    }
}

/// Resolves `[nss]` (absent: all defaults).
pub(crate) fn nss(raw: Option<&RawNss>) -> Result<NssSettings, Fault> {
    let d = NssSettings::default();
    let Some(r) = raw else { return Ok(d) };
    let (mc_min, mc_max) = MEMCACHE_SIZE_RANGE;
    let ignore_users = or(&r.ignore_users, d.ignore_users);
    let ignore_groups = or(&r.ignore_groups, d.ignore_groups);
    names_fit_nss_conf("ignore_users", &r.ignore_users)?;
    names_fit_nss_conf("ignore_groups", &r.ignore_groups)?;
    name_lists_fit(r, &ignore_users, &ignore_groups)?;
    Ok(NssSettings {
        timeout_ms: greater_than_0("timeout_ms", &r.timeout_ms, d.timeout_ms)?,
        enumerate_timeout_ms: greater_than_0(
            "enumerate_timeout_ms",
            &r.enumerate_timeout_ms,
            d.enumerate_timeout_ms,
        )?,
        ignore_users,
        ignore_groups,
        min_id: or(&r.min_id, d.min_id),
        initgroups_for_local_users: or(&r.initgroups_for_local_users, d.initgroups_for_local_users),
        memcache_size: checked(
            "memcache_size",
            &r.memcache_size,
            d.memcache_size,
            |n| (mc_min..=mc_max).contains(n),
            |n| format!("{n} is out of range: from {mc_min} (1 MiB) to {mc_max} (1 GiB) bytes"),
        )?,
    })
}

/// A number of seconds (integer or float, 0 to 1e9) as a duration; with
/// `positive`, 0 is refused.
pub(crate) fn seconds(
    key: &str,
    v: &Opt<f64>,
    default: std::time::Duration,
    positive: bool,
) -> Result<std::time::Duration, Fault> {
    let Some(s) = v else { return Ok(default) };
    let secs = *s.get_ref();
    if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
        return Err(Fault::at(
            key,
            s.span(),
            format!("{secs} is not a valid number of seconds (0 to 1e9)"),
        ));
    }
    if positive && secs == 0.0 {
        return Err(Fault::at(key, s.span(), "must be greater than 0"));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// The span of a key the file sets, for faults found across keys.
pub(crate) fn span<T>(v: &Opt<T>) -> Option<std::ops::Range<usize>> {
    v.as_ref().map(Spanned::span)
}
