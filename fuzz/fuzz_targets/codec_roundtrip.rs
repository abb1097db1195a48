//! libFuzzer entry point of the `codec_roundtrip` target: its body is
//! `roster_fuzz::targets::codec_roundtrip` (what it checks is documented there).
#![no_main]

libfuzzer_sys::fuzz_target!(|msg: (roster_proto::Request, roster_proto::Response)| {
    roster_fuzz::targets::codec_roundtrip(msg)
});
