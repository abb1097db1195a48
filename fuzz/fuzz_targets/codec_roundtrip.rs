//! Structured requests and replies: every value encodes to a frame whose
//! length prefix is right and which decodes to the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_proto::{
    decode_request, decode_response, encode_request, encode_response, parse_header, Request,
    Response,
};

fn check_prefix(frame: &[u8]) {
    let h = parse_header(frame[..4].try_into().unwrap()).expect("valid length prefix");
    assert_eq!(h.len, frame.len() - 4);
}

// Inputs are at most a few KiB (libFuzzer's -max_len), far below the
// string, list and frame limits, so every value must come back.
fuzz_target!(|msg: (Request, Response)| {
    let (req, resp) = msg;
    let frame = encode_request(&req);
    check_prefix(&frame);
    assert_eq!(decode_request(&frame[4..]), Ok(req));
    let frame = encode_response(&resp);
    check_prefix(&frame);
    assert_eq!(decode_response(&frame[4..]), Ok(resp));
});
