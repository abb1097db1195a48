//! libFuzzer entry point of the `ldap_entry` target: its body is
//! `roster_fuzz::targets::ldap_entry` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(
    |input: (u8, roster_fuzz::FuzzEntry)| roster_fuzz::targets::ldap_entry(input)
);
