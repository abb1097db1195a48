//! libFuzzer entry point of the `ad_entry` target: its body is
//! `roster_fuzz::targets::ad_entry` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |input: (u8, roster_fuzz::FuzzEntry)| roster_fuzz::targets::ad_entry(input)
);
