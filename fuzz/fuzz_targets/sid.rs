//! libFuzzer entry point of the `sid` target: its body is
//! `roster_fuzz::targets::sid` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::sid(data));
