//! libFuzzer entry point of the `memcache_file` target: its body is
//! `roster_fuzz::targets::memcache_file` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::memcache_file(data));
