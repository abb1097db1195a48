//! argon2id for cached credentials, with bounded memory.
//!
//! Every argon2id computation needs a memory block of `m` KiB. Allocating
//! it per hash on many threads made rosterd's RSS grow to the number of
//! concurrent logins times the block (each thread's malloc arena keeps what
//! it freed). Here the work runs on `HASH_THREADS` dedicated thread(s)
//! behind a queue of `QUEUE_LEN` jobs, and each thread reuses one block
//! ([`Scratch`]): concurrency never multiplies it. A caller waits for room
//! in the queue, so the number of waiting jobs is bounded too.
//!
//! Stored hashes carry their own parameters (PHC string) and verify with
//! them, but a stored memory or iteration count above [`HashCost::accepted`]
//! is refused, so a hash in the file can never make the block grow beyond
//! what the configuration allows.

use super::credentials::CredentialError;
use argon2::password_hash::{Output, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;
use roster_proto::Secret;
use std::sync::{Arc, Mutex};
use tokio::sync::{mpsc, oneshot};

/// Threads computing argon2id hashes (each with its own reused block).
pub(crate) const HASH_THREADS: usize = 1;
/// Jobs that may wait for a hashing thread; a caller beyond that waits
/// for room.
pub(crate) const QUEUE_LEN: usize = 32;
/// Memory cost of the hashes roster stored before the cost was
/// configurable (the argon2 crate's default, m=19456 KiB, t=2): such
/// hashes keep verifying whatever the configured cost.
pub(crate) const LEGACY_COST: HashCost = HashCost {
    memory_kib: 19 * 1024,
    iterations: 2,
};
/// Largest parallelism accepted in a stored hash (roster writes p=1).
const MAX_LANES: u32 = 4;
/// Length of the hash output, in bytes.
const OUTPUT_LEN: usize = 32;

/// The argon2id cost (`[cache] credential_hash_memory_kib` and
/// `credential_hash_iterations`; parallelism is always 1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashCost {
    /// Memory per hash, in KiB (= number of 1 KiB argon2 blocks).
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
}

impl Default for HashCost {
    /// OWASP Password Storage Cheat Sheet's m=7 MiB, t=5, p=1 (see the
    /// README, "Cached credentials").
    fn default() -> Self {
        HashCost {
            memory_kib: 7 * 1024,
            iterations: 5,
        }
    }
}

impl HashCost {
    /// The largest cost a stored hash may have to be verified: the
    /// configured one or the legacy one, whichever is larger, per
    /// parameter.
    pub fn accepted(self) -> HashCost {
        HashCost {
            memory_kib: self.memory_kib.max(LEGACY_COST.memory_kib),
            iterations: self.iterations.max(LEGACY_COST.iterations),
        }
    }

    /// Bytes of the memory block of one hash.
    pub fn block_bytes(self) -> u64 {
        u64::from(self.memory_kib) * Block::SIZE as u64
    }

    fn params(self) -> Result<Params, CredentialError> {
        Params::new(self.memory_kib, self.iterations, 1, Some(OUTPUT_LEN))
            .map_err(CredentialError::Hash)
    }
}

/// What checking a password against a stored hash found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verified {
    /// The password matches.
    Match,
    /// It does not.
    Mismatch,
    /// The stored hash cannot be used (not argon2, malformed, or a cost
    /// above the accepted one): why.
    Unusable(String),
}

/// One hashing thread's reused memory block.
#[derive(Default)]
pub struct Scratch {
    blocks: Vec<Block>,
}

impl Scratch {
    /// An empty block; it grows to the largest cost used, once.
    pub fn new() -> Scratch {
        Scratch::default()
    }

    /// Bytes held by the block.
    pub fn held_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let n = params.block_count();
        if self.blocks.len() < n {
            self.blocks.resize(n, Block::default());
        }
        &mut self.blocks[..n]
    }

    fn compute(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &Secret,
        salt: &[u8],
        out: &mut [u8],
    ) -> Result<(), argon2::Error> {
        let argon = Argon2::new(algorithm, version, params.clone());
        let blocks = self.blocks(&params);
        let done = argon.hash_password_into_with_memory(password.expose(), salt, out, &mut *blocks);
        // No password-derived state stays in memory between jobs.
        blocks.fill(Block::default());
        done
    }

    /// A salted argon2id hash (PHC string) of `password` at `cost`.
    pub fn hash(&mut self, password: &Secret, cost: HashCost) -> Result<String, CredentialError> {
        let params = cost.params()?;
        let mut salt = [0u8; 16];
        rand::rngs::OsRng.fill_bytes(&mut salt);
        let salt_string = SaltString::encode_b64(&salt).map_err(CredentialError::Phc)?;
        let mut out = [0u8; OUTPUT_LEN];
        self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            params.clone(),
            password,
            &salt,
            &mut out,
        )
        .map_err(CredentialError::Hash)?;
        let phc = PasswordHash {
            algorithm: Algorithm::Argon2id.ident(),
            version: Some(Version::V0x13.into()),
            params: (&params).try_into().map_err(CredentialError::Phc)?,
            salt: Some(salt_string.as_salt()),
            hash: Some(Output::new(&out).map_err(CredentialError::Phc)?),
        };
        Ok(phc.to_string())
    }

    /// Checks `password` against the PHC string `phc` with the parameters
    /// it carries, refusing a cost above `limit` (see
    /// [`HashCost::accepted`]). The comparison is constant-time.
    pub fn verify(&mut self, password: &Secret, phc: &str, limit: HashCost) -> Verified {
        let unusable = |why: String| Verified::Unusable(why);
        let parsed = match PasswordHash::new(phc) {
            Ok(p) => p,
            Err(e) => return unusable(format!("not a PHC string: {e}")),
        };
        let algorithm = match Algorithm::try_from(parsed.algorithm) {
            Ok(a) => a,
            Err(e) => return unusable(format!("not an argon2 hash: {e}")),
        };
        let version = match parsed.version.map(Version::try_from).transpose() {
            Ok(v) => v.unwrap_or_default(),
            Err(e) => return unusable(format!("argon2 version: {e}")),
        };
        let params = match Params::try_from(&parsed) {
            Ok(p) => p,
            Err(e) => return unusable(format!("argon2 parameters: {e}")),
        };
        if params.m_cost() > limit.memory_kib
            || params.t_cost() > limit.iterations
            || params.p_cost() > MAX_LANES
        {
            return unusable(format!(
                "its cost (m={} KiB, t={}, p={}) is above the accepted m={} KiB, t={}, p={MAX_LANES}",
                params.m_cost(),
                params.t_cost(),
                params.p_cost(),
                limit.memory_kib,
                limit.iterations
            ));
        }
        let (Some(salt), Some(expected)) = (parsed.salt, parsed.hash) else {
            return unusable("no salt or no hash".into());
        };
        let mut salt_buf = [0u8; 64];
        let salt = match salt.decode_b64(&mut salt_buf) {
            Ok(s) => s,
            Err(e) => return unusable(format!("salt: {e}")),
        };
        let mut out = vec![0u8; expected.len()];
        if let Err(e) = self.compute(algorithm, version, params, password, salt, &mut out) {
            return unusable(format!("argon2: {e}"));
        }
        let matches = Output::new(&out).is_ok_and(|got| got == expected);
        zeroize::Zeroize::zeroize(&mut out);
        if matches {
            Verified::Match
        } else {
            Verified::Mismatch
        }
    }
}

type Job = Box<dyn FnOnce(&mut Scratch) + Send>;

/// The bounded hashing worker: `HASH_THREADS` thread(s), each with its
/// own [`Scratch`], behind a queue of `QUEUE_LEN` jobs. The threads end
/// when the worker is dropped.
pub struct HashWorker {
    queue: mpsc::Sender<Job>,
}

impl std::fmt::Debug for HashWorker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HashWorker")
            .field("threads", &HASH_THREADS)
            .finish()
    }
}

impl HashWorker {
    /// Starts the thread(s).
    pub fn start() -> HashWorker {
        let (tx, rx) = mpsc::channel::<Job>(QUEUE_LEN);
        let rx = Arc::new(Mutex::new(rx));
        for n in 0..HASH_THREADS {
            let rx = rx.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("roster-argon2-{n}"))
                .spawn(move || {
                    let mut scratch = Scratch::new();
                    loop {
                        let job = rx.lock().unwrap_or_else(|e| e.into_inner()).blocking_recv();
                        let Some(job) = job else { break };
                        // A failing job must not take the worker with it.
                        let run = std::panic::AssertUnwindSafe(|| job(&mut scratch));
                        if std::panic::catch_unwind(run).is_err() {
                            tracing::error!("an argon2 job panicked; the worker goes on");
                            scratch = Scratch::new();
                        }
                    }
                });
            if let Err(e) = spawned {
                tracing::error!(error = %e, "cannot start an argon2 thread");
            }
        }
        HashWorker { queue: tx }
    }

    /// Queues `job`, waiting for room in the queue (not for the job).
    pub async fn submit(
        &self,
        job: impl FnOnce(&mut Scratch) + Send + 'static,
    ) -> Result<(), CredentialError> {
        self.queue
            .send(Box::new(job))
            .await
            .map_err(|_| CredentialError::Worker("the argon2 worker has stopped"))
    }

    /// Runs `job` on the worker and returns its result.
    pub async fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&mut Scratch) -> T + Send + 'static,
    ) -> Result<T, CredentialError> {
        let (tx, rx) = oneshot::channel();
        self.submit(move |scratch| {
            let _ = tx.send(job(scratch));
        })
        .await?;
        rx.await
            .map_err(|_| CredentialError::Worker("the argon2 job was lost"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: HashCost = HashCost {
        memory_kib: 64,
        iterations: 1,
    };

    #[test]
    fn hashes_are_salted_argon2id_with_the_configured_cost() {
        let mut s = Scratch::new();
        let pw = Secret::from("alice-pw");
        let a = s.hash(&pw, SMALL).unwrap();
        let b = s.hash(&pw, SMALL).unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=64,t=1,p=1$"), "{a}");
        assert_ne!(a, b, "salted");
        assert_eq!(s.verify(&pw, &a, SMALL), Verified::Match);
        assert_eq!(
            s.verify(&Secret::from("alice-pX"), &a, SMALL),
            Verified::Mismatch
        );
        assert!(matches!(
            s.verify(&pw, "garbage", SMALL),
            Verified::Unusable(_)
        ));
        assert_eq!(s.held_bytes(), 64 * 1024, "one block, reused");
    }

    #[test]
    fn hashes_of_the_argon2_crate_verify_with_their_own_parameters() {
        use argon2::password_hash::PasswordHasher;
        // What roster stored before the cost was configurable.
        let pw = Secret::from("old-pw");
        let salt = SaltString::encode_b64(b"0123456789abcdef").unwrap();
        let legacy = Argon2::default()
            .hash_password(pw.expose(), &salt)
            .unwrap()
            .to_string();
        assert!(legacy.contains("m=19456,t=2,p=1"), "{legacy}");
        let mut s = Scratch::new();
        let cost = HashCost::default();
        assert_eq!(s.verify(&pw, &legacy, cost.accepted()), Verified::Match);
        assert_eq!(
            s.verify(&Secret::from("x"), &legacy, cost.accepted()),
            Verified::Mismatch
        );
        assert_eq!(s.held_bytes(), 19456 * 1024);
    }

    #[test]
    fn a_stored_cost_above_the_accepted_one_is_refused_without_allocating() {
        let mut s = Scratch::new();
        let pw = Secret::from("pw");
        let big = Scratch::new()
            .hash(
                &pw,
                HashCost {
                    memory_kib: 256,
                    iterations: 1,
                },
            )
            .unwrap();
        let why = s.verify(&pw, &big, SMALL);
        assert!(
            matches!(&why, Verified::Unusable(m) if m.contains("m=256 KiB")),
            "{why:?}"
        );
        let slow = s
            .hash(
                &pw,
                HashCost {
                    memory_kib: 64,
                    iterations: 3,
                },
            )
            .unwrap();
        assert!(matches!(s.verify(&pw, &slow, SMALL), Verified::Unusable(_)));
        assert_eq!(s.held_bytes(), 64 * 1024, "never grew for the refused hash");
    }

    #[test]
    fn the_accepted_cost_covers_the_configured_and_the_legacy_one() {
        let c = HashCost {
            memory_kib: 65536,
            iterations: 1,
        };
        assert_eq!(
            c.accepted(),
            HashCost {
                memory_kib: 65536,
                iterations: 2
            }
        );
        assert_eq!(
            HashCost::default().accepted(),
            HashCost {
                memory_kib: 19456,
                iterations: 5
            }
        );
        assert_eq!(SMALL.block_bytes(), 65536);
    }

    #[tokio::test]
    async fn a_panicking_job_does_not_stop_the_worker() {
        let w = HashWorker::start();
        let lost = w.run(|_| -> u32 { panic!("job failure") }).await;
        assert!(lost.is_err());
        assert_eq!(w.run(|_| 7).await.unwrap(), 7);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_worker_runs_many_jobs_with_one_block() {
        let w = Arc::new(HashWorker::start());
        let mut tasks = Vec::new();
        for i in 0..40 {
            let w = w.clone();
            tasks.push(tokio::spawn(async move {
                let pw = Secret::from(format!("pw{i}").as_str());
                let hash = {
                    let pw = pw.clone();
                    w.run(move |s| s.hash(&pw, SMALL)).await.unwrap().unwrap()
                };
                let held = w
                    .run(move |s| {
                        assert_eq!(s.verify(&pw, &hash, SMALL), Verified::Match);
                        s.held_bytes()
                    })
                    .await
                    .unwrap();
                assert_eq!(held, 64 * 1024);
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    }
}
