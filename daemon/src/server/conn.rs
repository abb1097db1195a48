//! One client connection: read a frame, answer it, repeat.
//!
//! A frame whose header or body is bad gets an `Error` reply naming the
//! fault, then the connection is closed; a connection that sends nothing
//! for `idle` (or stops in the middle of a frame) is closed.

use super::dispatch::dispatch_timed;
use super::Context;
use roster_proto::{decode_request, encode_response, parse_header, Response, MAX_FRAME_LEN};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::timeout;

/// Serves requests on `stream` until the peer closes it or misbehaves.
pub async fn serve(mut stream: UnixStream, ctx: &Context, privileged: bool, idle: Duration) {
    loop {
        let mut prefix = [0u8; 4];
        match timeout(idle, stream.read_exact(&mut prefix)).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) | Err(_) => return, // closed, or idle too long
        }
        let header = match parse_header(prefix) {
            Ok(h) => h,
            Err(e) => {
                let _ = reply(
                    &mut stream,
                    &Response::Error(format!("bad frame: {e}")),
                    idle,
                )
                .await;
                return;
            }
        };
        // Grows only as bytes arrive: a peer announcing 4 MiB and sending
        // nothing costs nothing.
        let mut payload = Vec::with_capacity(header.len.min(4096));
        let mut body = (&mut stream).take(header.len as u64);
        match timeout(idle, body.read_to_end(&mut payload)).await {
            Ok(Ok(n)) if n == header.len => {}
            Ok(_) => return, // peer closed in the middle of the frame
            Err(_) => {
                let msg = format!(
                    "bad frame: body incomplete ({} of {} bytes) after {idle:?}",
                    payload.len(),
                    header.len
                );
                let _ = reply(&mut stream, &Response::Error(msg), idle).await;
                return;
            }
        }
        let decoded = decode_request(&payload);
        // A PAM frame holds a password: wipe the buffer (the decoded
        // `Secret` zeroizes itself).
        zeroize::Zeroize::zeroize(&mut payload);
        let request = match decoded {
            Ok(r) => r,
            Err(e) => {
                let _ = reply(
                    &mut stream,
                    &Response::Error(format!("bad request frame: {e}")),
                    idle,
                )
                .await;
                return;
            }
        };
        // Lookups answered on nss.sock are also published to the memory
        // cache (after the reply is sent).
        let lookup = (!privileged && (1..=5).contains(&request.code())).then(|| request.clone());
        let (response, fresh_until) = if request.is_privileged() && !privileged {
            let msg = format!("request code {} is served only on pam.sock", request.code());
            (Response::Error(msg), 0)
        } else {
            dispatch_timed(ctx, request).await
        };
        let sent = reply(&mut stream, &response, idle).await;
        if let (Some(req), Some(mc)) = (lookup, &ctx.memcache) {
            let ms = fresh_until.saturating_sub(ctx.resolver.now_ms());
            mc.publish(&req, &response, Duration::from_millis(ms));
        }
        if sent.is_err() {
            return;
        }
    }
}

async fn reply(stream: &mut UnixStream, resp: &Response, idle: Duration) -> std::io::Result<()> {
    let mut frame = encode_response(resp);
    if frame.len() - 4 > MAX_FRAME_LEN {
        frame = encode_response(&Response::Error(format!(
            "reply of {} bytes exceeds the frame limit; ask for a smaller page",
            frame.len()
        )));
    }
    match timeout(idle, stream.write_all(&frame)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// Tells a refused peer why (`msg`), then closes.
pub async fn refuse(mut stream: UnixStream, msg: String) {
    // Read the peer's request first (briefly), so that it is not writing
    // into a closed socket and sees the reason.
    let drain = async {
        let mut prefix = [0u8; 4];
        stream.read_exact(&mut prefix).await?;
        let len = parse_header(prefix).map_or(0, |h| h.len) as u64;
        tokio::io::copy(&mut (&mut stream).take(len), &mut tokio::io::sink()).await
    };
    let _ = timeout(Duration::from_secs(1), drain).await;
    let _ = reply(&mut stream, &Response::Error(msg), Duration::from_secs(1)).await;
}
