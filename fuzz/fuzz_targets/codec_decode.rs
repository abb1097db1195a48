//! libFuzzer entry point of the `codec_decode` target: its body is
//! `roster_fuzz::targets::codec_decode` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| roster_fuzz::targets::codec_decode(data));
