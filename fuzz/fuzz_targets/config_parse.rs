//! libFuzzer entry point of the `config_parse` target: its body is
//! `roster_fuzz::targets::config_parse` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::config_parse(data));
