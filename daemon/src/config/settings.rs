//! The `[cache]`, `[daemon]` and `[nss]` tables.

use serde::Deserialize;
use std::path::PathBuf;

/// `[cache]`: how long answers are kept.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
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
            credential_hash_memory_kib: 7 * 1024,
            credential_hash_iterations: 5,
        }
    }
}

/// `[daemon]`: where rosterd keeps its sockets and state.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DaemonSettings {
    /// Directory of `nss.sock` and `pam.sock` (`/run/roster`).
    pub socket_dir: PathBuf,
    /// Directory of the persistent store and idmap state (`/var/lib/roster`).
    pub state_dir: PathBuf,
    /// Log filter: a level (`error`, `warn`, `info`, `debug`, `trace`) or a
    /// tracing filter directive (`info`).
    pub log_level: String,
}

impl Default for DaemonSettings {
    fn default() -> Self {
        DaemonSettings {
            socket_dir: PathBuf::from(roster_proto::DEFAULT_SOCKET_DIR),
            state_dir: PathBuf::from(roster_proto::DEFAULT_STATE_DIR),
            log_level: "info".to_string(),
        }
    }
}

/// `[nss]`: settings the daemon publishes for the NSS module.
#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
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

/// Serde helpers for durations written as seconds (integer or float).
pub(crate) mod seconds {
    use serde::{de, Deserialize, Deserializer};
    use std::time::Duration;

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Num {
        Int(i64),
        Float(f64),
    }

    /// Deserializes a non-negative, finite number of seconds.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let secs = match Num::deserialize(d)
            .map_err(|_| de::Error::custom("expected a number of seconds (integer or float)"))?
        {
            Num::Int(i) => i as f64,
            Num::Float(f) => f,
        };
        if !secs.is_finite() || !(0.0..=1e9).contains(&secs) {
            return Err(de::Error::custom(format!(
                "{secs} is not a valid number of seconds (0 to 1e9)"
            )));
        }
        Ok(Duration::from_secs_f64(secs))
    }
}
