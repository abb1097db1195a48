//! Arbitrary bytes from a socket: the frame header, then the payload as a
//! request (what rosterd reads) and as a reply (what the modules read).
//! Whatever decodes must encode back to a frame that decodes the same.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_proto::{
    decode_request, decode_response, encode_request, encode_response, parse_header,
};

fuzz_target!(|data: &[u8]| {
    if let Some(prefix) = data.get(..4) {
        if let Ok(h) = parse_header(prefix.try_into().unwrap()) {
            assert!(h.len >= 4 && h.len <= roster_proto::MAX_FRAME_LEN);
        }
    }
    if let Ok(req) = decode_request(data) {
        let frame = encode_request(&req);
        assert_eq!(decode_request(&frame[4..]).as_ref(), Ok(&req));
    }
    if let Ok(resp) = decode_response(data) {
        let frame = encode_response(&resp);
        assert_eq!(decode_response(&frame[4..]).as_ref(), Ok(&resp));
    }
});
