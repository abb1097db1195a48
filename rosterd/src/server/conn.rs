//! One client connection: read a frame, answer it, repeat.
//!
//! A frame whose header or body is bad gets an `Error` reply naming the
//! fault, then the connection is closed; a connection that sends nothing
//! for the idle timeout is closed, and one that starts a frame and does
//! not finish it within the frame timeout is told so and closed. Every
//! wait is a timer on this connection's own task: a stalled client costs
//! its connection slot, nothing else.

use super::dispatch::{dispatch_timed, failed};
use super::{status_report, Context, Limits};
use roster_proto::admin::{AdminReply, StatusReport};
use roster_proto::{
    decode_request, encode_response, parse_header, Failure, Request, Response, MAX_FRAME_LEN,
};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;
use tokio::time::{timeout, timeout_at, Instant};

/// Serves requests on `stream` until the peer closes it or misbehaves.
pub async fn serve(mut stream: UnixStream, ctx: &Context, privileged: bool, limits: &Limits) {
    let idle = limits.idle_timeout;
    loop {
        // The first byte may take up to the idle timeout; the rest of the
        // frame must follow within the frame timeout.
        let mut prefix = [0u8; 4];
        let first = match timeout(idle, stream.read(&mut prefix)).await {
            Ok(Ok(n)) if n > 0 => n,
            Ok(_) | Err(_) => return, // closed, or idle too long
        };
        let frame_deadline = Instant::now() + limits.frame_timeout;
        match timeout_at(frame_deadline, stream.read_exact(&mut prefix[first..])).await {
            Ok(Ok(_)) => {}
            Ok(Err(_)) => return, // closed in the middle of the prefix
            Err(_) => {
                let msg = format!(
                    "bad frame: length prefix incomplete ({first} of 4 bytes) after {:?}",
                    limits.frame_timeout
                );
                let _ = reply(&mut stream, &Response::Error(msg), idle).await;
                return;
            }
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
        match timeout_at(frame_deadline, body.read_to_end(&mut payload)).await {
            Ok(Ok(n)) if n == header.len => {}
            Ok(_) => return, // peer closed in the middle of the frame
            Err(_) => {
                let msg = format!(
                    "bad frame: body incomplete ({} of {} bytes) after {:?}",
                    payload.len(),
                    header.len,
                    limits.frame_timeout
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
            (failed(&request, Failure::refused(msg)), 0)
        } else if matches!(request, Request::Status) && !privileged {
            let report = StatusReport::Public(status_report::public(&ctx.resolver));
            (Response::Admin(Ok(AdminReply::Status(report))), 0)
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

/// Tells a refused peer why (`msg`) if its socket takes the reply without
/// waiting, and closes the connection at once: a refused connection never
/// holds a descriptor. (The peer reads the reply before it sees the close,
/// even when its request was left unread.)
pub fn refuse(stream: UnixStream, msg: &str) {
    let frame = encode_response(&Response::Error(msg.to_string()));
    // Out of the reactor, as a plain non-blocking socket: one write(2)
    // that cannot wait, then close.
    if let Ok(stream) = stream.into_std() {
        let _ = std::io::Write::write(&mut &stream, &frame);
    }
}
