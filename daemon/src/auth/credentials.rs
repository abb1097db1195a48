//! Cached credentials for offline logins: a salted argon2id hash of the last
//! password that logged in online, a failure counter with a lockout, and the
//! last account attributes seen, kept in `state_dir/credentials.json`
//! (mode 0600, replaced atomically). Never the password itself.

use super::backend::AccountInfo;
use super::hasher::{HashWorker, Verified};
use roster_proto::atomic_file::{self, Options};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// File name of the credential cache inside the state directory.
pub const FILE_NAME: &str = "credentials.json";

/// Per-user locks kept before idle ones are dropped.
const IDLE_LOCKS: usize = 256;

/// Why the credential cache could not be read, written or hashed.
#[derive(Debug, Error)]
pub enum CredentialError {
    /// Reading or writing the file failed.
    #[error("credential cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not a credential cache.
    #[error("credential cache {path} is corrupt: {message}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// Hashing failed.
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// What is kept per user.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// PHC string of the argon2id hash, when a password is cached.
    pub hash: Option<String>,
    /// When the hash was stored (Unix seconds).
    pub stored_at: u64,
    /// Failed offline attempts since the last success or lockout.
    pub failures: u32,
    /// Offline logins are refused until then (Unix seconds; 0: not locked).
    pub locked_until: u64,
    /// Account attributes of the last online check.
    pub account: Option<AccountInfo>,
    /// When they were read (Unix seconds).
    #[serde(default)]
    pub account_at: u64,
}

/// The offline lockout rules of a domain.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OfflineRules {
    /// Seconds a cached password may be used (0: forever).
    pub max_age_secs: u64,
    /// Failures before a lockout (0: never).
    pub attempts: u32,
    /// Seconds a lockout lasts.
    pub delay_secs: u64,
}

/// Outcome of an offline password check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OfflineCheck {
    /// No cached password for this user.
    NoCredential,
    /// The cached password is older than `offline_max_age`.
    TooOld,
    /// Too many failures: refused until this Unix time.
    Locked(u64),
    /// The password matches the cached hash.
    Accepted,
    /// Wrong password; `locked_until` is set when this failure locked it.
    Rejected {
        /// Failures counted so far.
        failures: u32,
        /// Lockout end, when this failure started one.
        locked_until: Option<u64>,
    },
}

#[derive(Default, Serialize, Deserialize)]
struct FileData {
    version: u32,
    users: BTreeMap<String, Record>,
}

/// The credential cache (in memory, persisted on every change).
pub struct CredentialStore {
    path: Option<PathBuf>,
    users: Mutex<BTreeMap<String, Record>>,
    /// Per-user locks: held while a new hash is computed (in the background,
    /// after an online login was answered) and while an offline check runs,
    /// so a check always sees the last accepted password.
    user_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The bounded argon2id worker all hashing and verification runs on.
    worker: HashWorker,
}

impl CredentialStore {
    /// Opens (or starts) the cache in `state_dir`; the file is made 0600.
    pub fn open(state_dir: &Path) -> Result<CredentialStore, CredentialError> {
        let path = state_dir.join(FILE_NAME);
        let io = |source| CredentialError::Io {
            path: path.clone(),
            source,
        };
        let users = match std::fs::read(&path) {
            Ok(bytes) => {
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .map_err(io)?;
                let data: FileData =
                    serde_json::from_slice(&bytes).map_err(|e| CredentialError::Corrupt {
                        path: path.clone(),
                        message: e.to_string(),
                    })?;
                data.users
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(CredentialStore {
            path: Some(path),
            users: Mutex::new(users),
            user_locks: Mutex::new(HashMap::new()),
            worker: HashWorker::start(),
        })
    }

    /// A cache that is never written to disk (tests, no state directory).
    pub fn in_memory() -> CredentialStore {
        CredentialStore {
            path: None,
            users: Mutex::new(BTreeMap::new()),
            user_locks: Mutex::new(HashMap::new()),
            worker: HashWorker::start(),
        }
    }

    /// The argon2id worker (see [`super::hasher`]).
    pub fn worker(&self) -> &HashWorker {
        &self.worker
    }

    /// The lock of `key` (see the field's documentation).
    /// Locks nobody holds or waits for are dropped once there are more than
    /// [`IDLE_LOCKS`], so the map stays as small as the logins in flight.
    pub fn user_lock(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.user_locks.lock().unwrap_or_else(|e| e.into_inner());
        if locks.len() > IDLE_LOCKS {
            locks.retain(|_, l| Arc::strong_count(l) > 1);
        }
        locks.entry(key.to_string()).or_default().clone()
    }

    /// The file, when persisted.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// A copy of the record of `key`.
    pub fn get(&self, key: &str) -> Option<Record> {
        self.lock().get(key).cloned()
    }

    /// Stores the hash of a password that was just accepted online and
    /// clears the failure counter and lockout.
    pub fn store_hash(&self, key: &str, hash: String, now: u64) -> Result<(), CredentialError> {
        self.update(key, |r| {
            r.hash = Some(hash);
            r.stored_at = now;
            r.failures = 0;
            r.locked_until = 0;
        })
    }

    /// Forgets the cached password of `key` (kept account data stays) and
    /// its failure count and lockout. True when there was one (the file is
    /// rewritten only then).
    pub fn forget_hash(&self, key: &str) -> Result<bool, CredentialError> {
        let mut users = self.lock();
        match users.get_mut(key) {
            Some(r) if r.hash.is_some() => {
                r.hash = None;
                r.failures = 0;
                r.locked_until = 0;
                self.persist(&users)?;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    /// The keys (`domain/name`) holding a cached password: all of them, or
    /// those of user `name` (`NAME` in any domain, `NAME@DOMAIN` in one;
    /// case-insensitive).
    pub fn keys_with_hash(&self, name: Option<&str>) -> Vec<String> {
        let wanted = name.map(|n| match n.split_once('@') {
            Some((base, domain)) => (base, Some(domain)),
            None => (n, None),
        });
        self.lock()
            .iter()
            .filter(|(_, r)| r.hash.is_some())
            .filter(|(key, _)| {
                let Some((base, domain)) = wanted else {
                    return true;
                };
                let Some((d, n)) = key.split_once('/') else {
                    return false;
                };
                n.eq_ignore_ascii_case(base) && domain.is_none_or(|w| w.eq_ignore_ascii_case(d))
            })
            .map(|(key, _)| key.clone())
            .collect()
    }

    /// Keeps the account attributes of the last online check (the file is
    /// rewritten only when they changed or are an hour old).
    pub fn store_account(
        &self,
        key: &str,
        info: AccountInfo,
        now: u64,
    ) -> Result<(), CredentialError> {
        if let Some(r) = self.get(key) {
            if r.account.as_ref() == Some(&info) && now.saturating_sub(r.account_at) < 3600 {
                return Ok(());
            }
        }
        self.update(key, |r| {
            r.account = Some(info);
            r.account_at = now;
        })
    }

    /// The account attributes of the last online check, unless older than
    /// `max_age_secs` (0: no limit).
    pub fn account(&self, key: &str, now: u64, max_age_secs: u64) -> Option<AccountInfo> {
        let r = self.get(key)?;
        if max_age_secs > 0 && now.saturating_sub(r.account_at) > max_age_secs {
            return None;
        }
        r.account
    }

    /// Checks the cached hash of `key` with `verify` (the password check,
    /// see [`super::hasher::Scratch::verify`]) at time `now`, counting
    /// failures and locking after `rules.attempts` of them. An unusable
    /// stored hash counts as no credential. CPU-heavy (argon2): run it on
    /// the [`HashWorker`].
    pub fn check_offline(
        &self,
        key: &str,
        now: u64,
        rules: OfflineRules,
        verify: impl FnOnce(&str) -> Verified,
    ) -> Result<OfflineCheck, CredentialError> {
        let Some(record) = self.get(key) else {
            return Ok(OfflineCheck::NoCredential);
        };
        let Some(hash) = record.hash.as_deref() else {
            return Ok(OfflineCheck::NoCredential);
        };
        if record.locked_until > now {
            return Ok(OfflineCheck::Locked(record.locked_until));
        }
        if rules.max_age_secs > 0 && now.saturating_sub(record.stored_at) > rules.max_age_secs {
            return Ok(OfflineCheck::TooOld);
        }
        let verified = verify(hash);
        if let Verified::Unusable(why) = verified {
            tracing::warn!(key, reason = %why, "cached password hash ignored");
            return Ok(OfflineCheck::NoCredential);
        }
        if verified == Verified::Match {
            self.update(key, |r| {
                r.failures = 0;
                r.locked_until = 0;
            })?;
            return Ok(OfflineCheck::Accepted);
        }
        let mut outcome = OfflineCheck::Rejected {
            failures: 0,
            locked_until: None,
        };
        self.update(key, |r| {
            r.failures += 1;
            let failures = r.failures;
            let mut locked = None;
            if rules.attempts > 0 && r.failures >= rules.attempts {
                r.locked_until = now + rules.delay_secs;
                r.failures = 0;
                locked = Some(r.locked_until);
            }
            outcome = OfflineCheck::Rejected {
                failures,
                locked_until: locked,
            };
        })?;
        Ok(outcome)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Record>> {
        self.users.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn update(&self, key: &str, f: impl FnOnce(&mut Record)) -> Result<(), CredentialError> {
        let mut users = self.lock();
        f(users.entry(key.to_string()).or_default());
        self.persist(&users)
    }

    fn persist(&self, users: &BTreeMap<String, Record>) -> Result<(), CredentialError> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let data = FileData {
            version: 1,
            users: users.clone(),
        };
        let bytes = serde_json::to_vec(&data).map_err(|e| CredentialError::Hash(e.to_string()))?;
        atomic_file::replace(path, &bytes, Options::mode(0o600)).map_err(|e| CredentialError::Io {
            path: e.path,
            source: e.source,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::hasher::{HashCost, Scratch};
    use roster_proto::Secret;

    const COST: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
    };

    fn hash_password(pw: &Secret) -> Result<String, CredentialError> {
        Scratch::new().hash(pw, COST)
    }

    /// `check_offline` with an allocating verifier.
    fn check(
        s: &CredentialStore,
        key: &str,
        pw: &Secret,
        now: u64,
        rules: OfflineRules,
    ) -> Result<OfflineCheck, CredentialError> {
        s.check_offline(key, now, rules, |h| Scratch::new().verify(pw, h, COST))
    }

    const RULES: OfflineRules = OfflineRules {
        max_age_secs: 1000,
        attempts: 3,
        delay_secs: 300,
    };

    #[test]
    fn offline_check_counts_failures_and_locks() {
        let s = CredentialStore::in_memory();
        let pw = Secret::from("alice-pw");
        let bad = Secret::from("nope");
        assert_eq!(
            check(&s, "d/alice", &pw, 100, RULES).unwrap(),
            OfflineCheck::NoCredential
        );
        s.store_hash("d/alice", hash_password(&pw).unwrap(), 100)
            .unwrap();
        assert_eq!(
            check(&s, "d/alice", &pw, 200, RULES).unwrap(),
            OfflineCheck::Accepted
        );
        for n in 1..3 {
            assert_eq!(
                check(&s, "d/alice", &bad, 200, RULES).unwrap(),
                OfflineCheck::Rejected {
                    failures: n,
                    locked_until: None
                }
            );
        }
        assert_eq!(
            check(&s, "d/alice", &bad, 200, RULES).unwrap(),
            OfflineCheck::Rejected {
                failures: 3,
                locked_until: Some(500)
            }
        );
        // Locked: even the right password is refused until the delay passed.
        assert_eq!(
            check(&s, "d/alice", &pw, 499, RULES).unwrap(),
            OfflineCheck::Locked(500)
        );
        assert_eq!(
            check(&s, "d/alice", &pw, 500, RULES).unwrap(),
            OfflineCheck::Accepted
        );
        // Too old.
        assert_eq!(
            check(&s, "d/alice", &pw, 1101, RULES).unwrap(),
            OfflineCheck::TooOld
        );
        let forever = OfflineRules {
            max_age_secs: 0,
            ..RULES
        };
        assert_eq!(
            check(&s, "d/alice", &pw, 1_000_000, forever).unwrap(),
            OfflineCheck::Accepted
        );
    }

    #[test]
    fn forgetting_deletes_the_hash_and_keeps_the_account_state() {
        let s = CredentialStore::in_memory();
        let pw = Secret::from("pw");
        for key in ["corp/alice", "ad/Alice", "corp/bob"] {
            s.store_hash(key, hash_password(&pw).unwrap(), 100).unwrap();
        }
        s.store_account("corp/alice", AccountInfo::default(), 100)
            .unwrap();
        s.store_account("corp/carol", AccountInfo::default(), 100)
            .unwrap();
        assert_eq!(s.keys_with_hash(Some("alice")), ["ad/Alice", "corp/alice"]);
        assert_eq!(s.keys_with_hash(Some("ALICE@AD")), ["ad/Alice"]);
        assert_eq!(
            s.keys_with_hash(Some("alice@nowhere")),
            Vec::<String>::new()
        );
        assert_eq!(s.keys_with_hash(None).len(), 3, "carol has no hash");
        assert!(s.forget_hash("corp/alice").unwrap());
        assert!(!s.forget_hash("corp/alice").unwrap(), "already gone");
        assert!(!s.forget_hash("corp/nobody").unwrap());
        assert_eq!(
            check(&s, "corp/alice", &pw, 200, RULES).unwrap(),
            OfflineCheck::NoCredential
        );
        assert!(s.account("corp/alice", 200, 1000).is_some());
        assert_eq!(
            check(&s, "corp/bob", &pw, 200, RULES).unwrap(),
            OfflineCheck::Accepted
        );
    }

    #[test]
    fn idle_user_locks_are_dropped() {
        let s = CredentialStore::in_memory();
        let held = s.user_lock("d/held");
        for i in 0..=IDLE_LOCKS {
            s.user_lock(&format!("d/u{i}"));
        }
        let again = s.user_lock("d/held");
        assert!(Arc::ptr_eq(&held, &again), "a held lock is kept");
        assert!(s.user_locks.lock().unwrap().len() <= 3);
    }

    #[test]
    fn file_is_private_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let s = CredentialStore::open(dir.path()).unwrap();
        let pw = Secret::from("alice-pw");
        s.store_hash("d/alice", hash_password(&pw).unwrap(), 100)
            .unwrap();
        s.store_account(
            "d/alice",
            AccountInfo {
                locked: true,
                ..Default::default()
            },
            100,
        )
        .unwrap();
        let path = dir.path().join(FILE_NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(!text.contains("alice-pw"));
        drop(s);
        let s = CredentialStore::open(dir.path()).unwrap();
        assert_eq!(
            check(&s, "d/alice", &pw, 200, RULES).unwrap(),
            OfflineCheck::Accepted
        );
        assert!(s.account("d/alice", 200, 1000).unwrap().locked);
        assert!(s.account("d/alice", 2000, 1000).is_none(), "too old");
        std::fs::write(&path, "not json").unwrap();
        assert!(matches!(
            CredentialStore::open(dir.path()),
            Err(CredentialError::Corrupt { .. })
        ));
    }
}
