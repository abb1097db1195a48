//! Cached credentials for offline logins: a salted argon2id hash of the last
//! password that logged in online, a failure counter with a lockout, and the
//! last account attributes seen, kept in `state_dir/credentials.json`
//! (mode 0600, replaced atomically). Never the password itself.

use super::backend::AccountInfo;
use super::fingerprint::{Fingerprint, FingerprintKey};
use super::hasher::{HashCost, HashWorker, Verified};
use super::pending::{Pending, Work};
use roster_proto::atomic_file::{self, Options};
use roster_proto::Secret;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use thiserror::Error;

/// File name of the credential cache inside the state directory.
pub const FILE_NAME: &str = "credentials.json";

/// A verifier found current again within this many seconds of its last
/// write is not written again (`stored_at` moves at most this late).
const CONFIRM_WRITE_SECS: u64 = 60;

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
    /// Hashing failed (argon2's error: its parameters or the computation).
    #[error("password hashing failed: {0}")]
    Hash(#[source] argon2::Error),
    /// The hash could not be written as a PHC string (salt, output or
    /// parameters out of the format's range).
    #[error("password hashing failed: PHC string: {0}")]
    Phc(#[source] argon2::password_hash::Error),
    /// The argon2 worker thread is gone (stopped, or the job lost).
    #[error("password hashing failed: {0}")]
    Worker(&'static str),
    /// The cache could not be encoded for its file.
    #[error("credential cache {path}: cannot encode it: {source}")]
    Encode {
        /// The file.
        path: PathBuf,
        /// The encoder's error.
        source: serde_json::Error,
    },
    /// A background task on the credentials failed (panicked or was
    /// cancelled at shutdown).
    #[error("credential task failed: {0}")]
    Task(#[source] tokio::task::JoinError),
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

/// What [`CredentialStore::refresh_hash`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refreshed {
    /// The stored verifier was made from this password at the configured
    /// cost: kept, its age and failure count reset, no hash computed.
    Current,
    /// A new verifier was computed and stored.
    Hashed,
    /// A later decision about this user (a refusal by the directory, a
    /// forget, or a later accepted password) was applied already: nothing
    /// stored.
    Stale,
}

/// What is known in memory only about a key's stored verifier.
#[derive(Debug, Default)]
struct KeyState {
    /// Ticket of the last refusal or forget (see [`super::pending`]).
    refused: u64,
    /// Ticket of the decision whose verifier is stored.
    written: u64,
    /// The fingerprint of the password behind the stored verifier, the
    /// verifier (PHC string) and its cost.
    current: Option<(Fingerprint, String, HashCost)>,
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
    /// Per key, in memory only (locked after `users` when both are).
    state: Mutex<HashMap<String, KeyState>>,
    /// Updates decided but not yet written (verifiers computed and account
    /// state read in the background, after the login was answered).
    pending: Arc<Pending>,
    /// Key of the in-memory password fingerprints.
    fingerprints: FingerprintKey,
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
        Ok(CredentialStore::with(Some(path), users))
    }

    /// A cache that is never written to disk (tests, no state directory).
    pub fn in_memory() -> CredentialStore {
        CredentialStore::with(None, BTreeMap::new())
    }

    fn with(path: Option<PathBuf>, users: BTreeMap<String, Record>) -> CredentialStore {
        CredentialStore {
            path,
            users: Mutex::new(users),
            state: Mutex::new(HashMap::new()),
            pending: Arc::new(Pending::default()),
            fingerprints: FingerprintKey::random(),
            worker: HashWorker::start(),
        }
    }

    /// The argon2id worker (see [`super::hasher`]).
    pub fn worker(&self) -> &HashWorker {
        &self.worker
    }

    /// Starts a background update of `key` decided now (see
    /// [`super::pending`]); `what` names it in the log.
    pub fn begin_update(&self, key: &str, what: &'static str) -> Work {
        self.pending.begin(key, what)
    }

    /// Waits until the updates of `key` decided before this call are
    /// written (or failed and logged).
    pub async fn settled(&self, key: &str) {
        self.pending.settled(key).await
    }

    /// True while an update of `key` named `what` (as given to
    /// [`CredentialStore::begin_update`]) is in flight.
    pub fn updating(&self, key: &str, what: &str) -> bool {
        self.pending.has(key, what)
    }

    /// Waits until the updates of every user decided before this call are
    /// written (or failed and logged).
    pub async fn settled_all(&self) {
        self.pending.settled_all().await
    }

    /// Waits up to `bound` for every update in flight (shutdown); returns
    /// those still in flight then (key, what).
    pub async fn drain(&self, bound: std::time::Duration) -> Vec<(String, &'static str)> {
        self.pending.drain(bound).await
    }

    /// The directory refused a password of `key` (or the cached one is
    /// being forgotten): from now on no verifier decided earlier is
    /// stored. Returns the refusal's ticket, for
    /// [`CredentialStore::forget_hash_before`].
    pub fn refuse(&self, key: &str) -> u64 {
        let ticket = self.pending.ticket();
        let mut state = self.state();
        let s = state.entry(key.to_string()).or_default();
        s.refused = ticket;
        s.current = None;
        ticket
    }

    /// Brings the verifier of `key` up to date with `password`, just
    /// accepted by the directory in the decision of `ticket` (see
    /// [`super::pending`]): nothing when a later decision about `key` was
    /// applied already; the stored verifier kept when it was made from the
    /// same password (in-memory fingerprint) at `cost`; else a new one from
    /// `hash` (argon2id: run this on the [`HashWorker`]). Clears the
    /// failure count and lockout, as [`CredentialStore::store_hash`].
    pub fn refresh_hash(
        &self,
        key: &str,
        password: &Secret,
        cost: HashCost,
        now: u64,
        ticket: u64,
        hash: impl FnOnce(&Secret) -> Result<String, CredentialError>,
    ) -> Result<Refreshed, CredentialError> {
        let fingerprint = self.fingerprints.of(password);
        {
            let mut users = self.lock();
            let mut state = self.state();
            let s = state.entry(key.to_string()).or_default();
            if ticket <= s.refused || ticket <= s.written {
                return Ok(Refreshed::Stale);
            }
            let record = users.get_mut(key);
            let stored = record.as_ref().and_then(|r| r.hash.as_deref());
            let current = s.current.as_ref().is_some_and(|(f, phc, c)| {
                *f == fingerprint && *c == cost && stored == Some(phc.as_str())
            });
            if let (true, Some(r)) = (current, record) {
                s.written = ticket;
                let changed = r.failures != 0
                    || r.locked_until != 0
                    || now.saturating_sub(r.stored_at) >= CONFIRM_WRITE_SECS;
                if changed {
                    r.stored_at = now;
                    r.failures = 0;
                    r.locked_until = 0;
                    drop(state);
                    self.persist(&users)?;
                }
                return Ok(Refreshed::Current);
            }
        }
        let phc = hash(password)?;
        let mut users = self.lock();
        let mut state = self.state();
        let s = state.entry(key.to_string()).or_default();
        if ticket <= s.refused || ticket <= s.written {
            return Ok(Refreshed::Stale);
        }
        s.written = ticket;
        s.current = Some((fingerprint, phc.clone(), cost));
        drop(state);
        let r = users.entry(key.to_string()).or_default();
        r.hash = Some(phc);
        r.stored_at = now;
        r.failures = 0;
        r.locked_until = 0;
        self.persist(&users)?;
        Ok(Refreshed::Hashed)
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
    /// its failure count and lockout; a verifier still being computed for
    /// it is not stored. True when there was one (the file is rewritten
    /// only then).
    pub fn forget_hash(&self, key: &str) -> Result<bool, CredentialError> {
        let ticket = self.refuse(key);
        self.forget_hash_before(key, ticket)
    }

    /// [`CredentialStore::forget_hash`] for the refusal of `ticket` (from
    /// [`CredentialStore::refuse`]): a verifier of a password accepted
    /// after that refusal stays.
    pub fn forget_hash_before(&self, key: &str, ticket: u64) -> Result<bool, CredentialError> {
        let mut users = self.lock();
        if self.state().get(key).is_some_and(|s| s.written > ticket) {
            return Ok(false);
        }
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

    fn state(&self) -> std::sync::MutexGuard<'_, HashMap<String, KeyState>> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
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
        let bytes = serde_json::to_vec(&data).map_err(|source| CredentialError::Encode {
            path: path.clone(),
            source,
        })?;
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

    fn refresh(
        s: &CredentialStore,
        pw: &str,
        now: u64,
        ticket: u64,
        hashes: &std::cell::Cell<u32>,
    ) -> Refreshed {
        s.refresh_hash("d/alice", &Secret::from(pw), COST, now, ticket, |p| {
            hashes.set(hashes.get() + 1);
            hash_password(p)
        })
        .unwrap()
    }

    #[test]
    fn a_current_verifier_is_kept_and_a_new_password_hashed() {
        let s = CredentialStore::in_memory();
        let hashes = std::cell::Cell::new(0);
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw1", 100, t, &hashes), Refreshed::Hashed);
        let first = s.get("d/alice").unwrap().hash.unwrap();
        // The same password again: no hash computed, the verifier kept,
        // its age reset once a minute has passed.
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw1", 130, t, &hashes), Refreshed::Current);
        assert_eq!(s.get("d/alice").unwrap().stored_at, 100);
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw1", 200, t, &hashes), Refreshed::Current);
        let r = s.get("d/alice").unwrap();
        assert_eq!(
            (r.hash.as_deref(), r.stored_at),
            (Some(first.as_str()), 200)
        );
        assert_eq!(hashes.get(), 1);
        // Offline failures are cleared by an accepted password, hash or not.
        let bad = check(&s, "d/alice", &Secret::from("x"), 210, RULES).unwrap();
        assert!(matches!(bad, OfflineCheck::Rejected { .. }));
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw1", 220, t, &hashes), Refreshed::Current);
        assert_eq!(s.get("d/alice").unwrap().failures, 0);
        // Another password (changed in the directory): a new verifier.
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw2", 230, t, &hashes), Refreshed::Hashed);
        assert_ne!(s.get("d/alice").unwrap().hash.unwrap(), first);
        assert_eq!(
            check(&s, "d/alice", &Secret::from("pw2"), 240, RULES).unwrap(),
            OfflineCheck::Accepted
        );
        // A verifier stored by other means is not taken for current.
        s.store_hash("d/alice", hash_password(&Secret::from("pw2")).unwrap(), 250)
            .unwrap();
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "pw2", 260, t, &hashes), Refreshed::Hashed);
        assert_eq!(hashes.get(), 3);
    }

    #[test]
    fn a_verifier_decided_before_a_refusal_is_never_stored() {
        let s = CredentialStore::in_memory();
        let hashes = std::cell::Cell::new(0);
        let accepted = s.pending.ticket();
        let refused = s.refuse("d/alice");
        assert!(!s.forget_hash_before("d/alice", refused).unwrap());
        assert_eq!(refresh(&s, "old", 100, accepted, &hashes), Refreshed::Stale);
        assert!(s.get("d/alice").is_none_or(|r| r.hash.is_none()));
        // A password accepted after the refusal is cached ...
        let later = s.pending.ticket();
        assert_eq!(refresh(&s, "new", 110, later, &hashes), Refreshed::Hashed);
        // ... and an older decision arriving late changes nothing.
        assert_eq!(refresh(&s, "old", 120, accepted, &hashes), Refreshed::Stale);
        // A refusal decided before that acceptance does not delete it.
        assert!(!s.forget_hash_before("d/alice", refused).unwrap());
        assert_eq!(
            check(&s, "d/alice", &Secret::from("new"), 130, RULES).unwrap(),
            OfflineCheck::Accepted
        );
        // A forget now deletes it, and the fingerprint with it.
        assert!(s.forget_hash("d/alice").unwrap());
        let t = s.pending.ticket();
        assert_eq!(refresh(&s, "new", 140, t, &hashes), Refreshed::Hashed);
    }

    #[test]
    fn a_changed_cost_computes_a_new_verifier() {
        let s = CredentialStore::in_memory();
        let pw = Secret::from("pw");
        let t = s.pending.ticket();
        s.refresh_hash("d/a", &pw, COST, 100, t, hash_password)
            .unwrap();
        let higher = HashCost {
            memory_kib: 128,
            iterations: 1,
        };
        let t = s.pending.ticket();
        let got = s
            .refresh_hash("d/a", &pw, higher, 200, t, |p| {
                Scratch::new().hash(p, higher)
            })
            .unwrap();
        assert_eq!(got, Refreshed::Hashed);
        assert!(s.get("d/a").unwrap().hash.unwrap().contains("m=128"));
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
