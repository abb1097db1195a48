//! libFuzzer entry point of the `store_record` target: its body is
//! `roster_fuzz::targets::store_record` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::store_record(data));
