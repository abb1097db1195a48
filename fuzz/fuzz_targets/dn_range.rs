//! libFuzzer entry point of the `dn_range` target: its body is
//! `roster_fuzz::targets::dn_range` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|input: (&str, &str)| roster_fuzz::targets::dn_range(input));
