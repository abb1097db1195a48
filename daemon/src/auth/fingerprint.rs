//! In-memory fingerprints of the passwords behind the stored verifiers.
//!
//! An argon2id verifier costs about 11 ms of CPU to compute, and checking
//! a password against one costs the same. To know cheaply that a password
//! the directory just accepted is the one the stored verifier was made
//! from (so the verifier is still current and need not be computed
//! again), rosterd keeps, in memory only, a keyed BLAKE2b MAC of that
//! password under a random key drawn at start. Neither the key nor the
//! fingerprints are ever written anywhere; a restart forgets them (the
//! first login after it computes the verifier again).

use blake2::digest::consts::U32;
use blake2::digest::{KeyInit, Mac};
use blake2::Blake2bMac;
use rand::RngCore;
use roster_proto::Secret;

/// The MAC key, random per process.
pub struct FingerprintKey([u8; 32]);

/// A password's fingerprint under one [`FingerprintKey`].
#[derive(Clone)]
pub struct Fingerprint([u8; 32]);

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FingerprintKey(..)")
    }
}

impl std::fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Fingerprint(..)")
    }
}

impl FingerprintKey {
    /// A key from the operating system's random source.
    pub fn random() -> FingerprintKey {
        let mut key = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        FingerprintKey(key)
    }

    /// The fingerprint of `password`.
    pub fn of(&self, password: &Secret) -> Fingerprint {
        // A 32-byte key is within BLAKE2b's 64-byte limit: cannot fail.
        let mut mac = <Blake2bMac<U32> as KeyInit>::new_from_slice(&self.0)
            .unwrap_or_else(|_| unreachable!("a 32-byte BLAKE2b key is valid"));
        mac.update(password.expose());
        Fingerprint(mac.finalize().into_bytes().into())
    }
}

impl Drop for FingerprintKey {
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl PartialEq for Fingerprint {
    /// Constant-time comparison.
    fn eq(&self, other: &Self) -> bool {
        self.0
            .iter()
            .zip(other.0.iter())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0
    }
}

impl Eq for Fingerprint {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_password_same_fingerprint_under_one_key_only() {
        let k = FingerprintKey::random();
        let a = k.of(&Secret::from("alice-pw"));
        assert_eq!(a, k.of(&Secret::from("alice-pw")));
        assert_ne!(a, k.of(&Secret::from("alice-pX")));
        let other = FingerprintKey::random();
        assert_ne!(a, other.of(&Secret::from("alice-pw")), "keyed");
        assert_eq!(format!("{a:?}"), "Fingerprint(..)");
    }
}
