//! libFuzzer entry point of the `ber_message` target: its body is
//! `roster_fuzz::targets::ber_message` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::ber_message(data));
