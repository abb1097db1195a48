//! The fuzz smoke check of `make test`, one test per target, run with the
//! workspace's other tests (no instrumented build, no libFuzzer): every
//! file of `fuzz/corpus/TARGET` and `fuzz/regressions/TARGET` goes through
//! the target's function (src/targets.rs), then [`RANDOM_INPUTS`] inputs
//! of random bytes from a fixed seed (the same every run). Bytes become the
//! target's input exactly as libfuzzer-sys's `fuzz_target!` makes them:
//! the bytes themselves for a `&[u8]` target, else
//! `arbitrary::Unstructured` and `arbitrary_take_rest` (an input too short
//! or that does not convert is skipped, as libFuzzer rejects it). A panic
//! fails the test, naming the target and the input file (a random input is
//! written to a file first, to add to fuzz/regressions/TARGET).

use crate::targets;
use arbitrary::{Arbitrary, Unstructured};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

/// Random inputs per target, after the corpus: about 2 s of CPU for all
/// nine targets in the debug build (`ROSTER_FUZZ_SMOKE_INPUTS=N` sets
/// another count, e.g. for a longer run by hand).
const RANDOM_INPUTS: usize = 5000;

/// The longest random input, in bytes.
const MAX_LEN: usize = 1024;

/// A target's input made from bytes as `fuzz_target!` makes it.
fn structured<'a, T: Arbitrary<'a>>(bytes: &'a [u8], run: fn(T)) {
    if bytes.len() < T::size_hint(0).0 {
        return;
    }
    if let Ok(input) = T::arbitrary_take_rest(Unstructured::new(bytes)) {
        run(input);
    }
}

/// xorshift64*: a fixed sequence of bytes, the same on every run.
struct Rng(u64);

impl Rng {
    fn new(target: &str) -> Rng {
        // FNV-1a of the name: each target its own sequence.
        let seed = target.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn bytes(&mut self) -> Vec<u8> {
        // Short inputs more often than long ones, as libFuzzer starts.
        let max = [16, 64, 256, MAX_LEN][(self.next() % 4) as usize];
        let len = (self.next() % (max as u64 + 1)) as usize;
        (0..len).map(|_| self.next() as u8).collect()
    }
}

/// The committed inputs of a target: its seed corpus and its regression
/// inputs, sorted by path.
fn committed_inputs(target: &str) -> Vec<PathBuf> {
    let top = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["corpus", "regressions"] {
        let Ok(entries) = std::fs::read_dir(top.join(dir).join(target)) else {
            continue;
        };
        for e in entries {
            let path = e.expect("read a corpus directory").path();
            if path.is_file() {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

/// The smoke check of one target (see the module documentation).
fn smoke(target: &str, run: fn(&[u8])) {
    let committed = committed_inputs(target);
    assert!(
        !committed.is_empty(),
        "no committed inputs for fuzz target {target} (fuzz/corpus/{target})"
    );
    let mut failures = Vec::new();
    for path in &committed {
        let bytes = std::fs::read(path).expect("read a corpus file");
        if catch_unwind(AssertUnwindSafe(|| run(&bytes))).is_err() {
            failures.push(format!(
                "fuzz target {target}: input {} panicked",
                path.display()
            ));
        }
    }
    let count = std::env::var("ROSTER_FUZZ_SMOKE_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(RANDOM_INPUTS);
    let mut rng = Rng::new(target);
    for i in 0..count {
        let bytes = rng.bytes();
        if catch_unwind(AssertUnwindSafe(|| run(&bytes))).is_err() {
            let file = std::env::temp_dir().join(format!("roster-fuzz-smoke-{target}-{i}"));
            let saved = match std::fs::write(&file, &bytes) {
                Ok(()) => format!("{} (add it to fuzz/regressions/{target}/)", file.display()),
                Err(e) => format!("not saved ({e}): {bytes:02x?}"),
            };
            failures.push(format!(
                "fuzz target {target}: random input {i} panicked, saved as {saved}"
            ));
            if failures.len() >= 10 {
                failures.push("(stopped after 10 failures)".into());
                break;
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn codec_decode() {
    smoke("codec_decode", targets::codec_decode);
}

#[test]
fn codec_roundtrip() {
    smoke("codec_roundtrip", |b| {
        structured(b, targets::codec_roundtrip)
    });
}

/// Runs its function when dropped: a target's scratch files go when its
/// test ends, passed or failed.
struct Cleanup(fn());

impl Drop for Cleanup {
    fn drop(&mut self) {
        (self.0)();
    }
}

#[test]
fn memcache_file() {
    let _cleanup = Cleanup(targets::remove_memcache_scratch);
    smoke("memcache_file", targets::memcache_file);
}

#[test]
fn config_parse() {
    let _cleanup = Cleanup(targets::remove_config_scratch);
    smoke("config_parse", targets::config_parse);
}

#[test]
fn ldap_entry() {
    smoke("ldap_entry", |b| structured(b, targets::ldap_entry));
}

#[test]
fn ad_entry() {
    smoke("ad_entry", |b| structured(b, targets::ad_entry));
}

#[test]
fn ber_message() {
    smoke("ber_message", targets::ber_message);
}

#[test]
fn sid() {
    smoke("sid", targets::sid);
}

#[test]
fn store_record() {
    smoke("store_record", targets::store_record);
}

#[test]
fn dn_range() {
    smoke("dn_range", |b| structured(b, targets::dn_range));
}
