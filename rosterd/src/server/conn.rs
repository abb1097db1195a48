//! One client connection: read a frame, answer it, repeat.
//!
//! Between requests the connection's place under the limits waits in
//! [`super::waiting`], where a new connection that finds a limit reached
//! may take it (this connection then closes).
//!
//! A frame whose header or body is bad gets an `Error` reply naming the
//! fault, then the connection is closed; a connection that sends nothing
//! for the idle timeout is closed, and one that starts a frame and does
//! not finish it within the frame timeout is told so and closed. Every
//! wait is a timer on this connection's own task: a stalled client costs
//! its connection slot, nothing else.

use super::dispatch::{dispatch_timed, failed, Reply};
use super::inbox::Inbox;
use super::link::Link;
use super::{pam, status_report, Context, Limits, Seat, SocketKind};
use crate::memcache_publish::Answered;
use roster_daemon::resolver::answering;
use roster_proto::admin::{AdminReply, StatusReport};
use roster_proto::{
    decode_request, encode_response, parse_header, Failure, Request, Response, MAX_FRAME_LEN,
};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::{timeout, timeout_at, Instant};

/// Serves requests on `stream`, which came in on the `kind` socket from a
/// peer of UID `uid` and holds `seat`, until the peer closes it or
/// misbehaves, or its place is given to another connection.
pub async fn serve(mut stream: Link, ctx: &Context, kind: SocketKind, uid: u32, seat: Seat) {
    let privileged = kind == SocketKind::Pam;
    let Seat {
        admitted: mut place,
        slots,
        anchor,
    } = seat;
    let limits: &Limits = &slots.limits;
    let idle = limits.idle_timeout;
    let mut inbox = Inbox::default();
    // The first request is read with the place held (the accept noted it).
    let mut incoming = read_request(
        &mut stream,
        &mut inbox,
        idle,
        limits.frame_timeout,
        MAX_FRAME_LEN,
    )
    .await;
    loop {
        let request = match incoming {
            Incoming::Request(r) => r,
            Incoming::Closed => return,
            Incoming::Fault(msg) => {
                let _ = reply(&mut stream, &Response::Error(msg).into(), idle).await;
                return;
            }
        };
        // Lookups answered on nss.sock are also published to the memory
        // cache (after the reply is sent), unless it is flushed meanwhile.
        let lookup = (kind == SocketKind::Nss && (1..=5).contains(&request.code())).then(|| {
            let flushes = ctx.memcache.as_ref().map_or(0, |mc| mc.flushes());
            (request.clone(), flushes)
        });
        // What a lookup begins in the background waits for an answer to be
        // sent (`answers_sent` below).
        let (response, fresh_until) = answering(async move {
            if kind == SocketKind::PamUser {
                // Boxed like PAM's requests in `dispatch_timed`.
                (
                    roster_daemon::boxed_apart(|| pam::handle_caller(ctx, request, uid))
                        .await
                        .into(),
                    0,
                )
            } else if request.is_privileged() && !privileged {
                let msg = format!("request code {} is served only on pam.sock", request.code());
                (failed(&request, Failure::refused(msg)).into(), 0)
            } else if matches!(request, Request::Status) && !privileged {
                let report = StatusReport::Public(status_report::public(&ctx.resolver));
                (Response::Admin(Ok(AdminReply::Status(report))).into(), 0)
            } else {
                dispatch_timed(ctx, request).await
            }
        })
        .await;
        let frame = frame_of(&response);
        // A listing page holds its snapshot: it goes before a slow reader
        // takes the reply (a page answers no lookup to publish).
        let response =
            (!matches!(response, Reply::Users(_) | Reply::Groups(_))).then_some(response);
        let sent = send(&mut stream, &frame, idle).await;
        // What the lookup left for after its answer starts now.
        ctx.resolver.answers_sent();
        if let (Some((req, flushes)), Some(mc), Some(response)) = (lookup, &ctx.memcache, &response)
        {
            let ms = fresh_until.saturating_sub(ctx.resolver.now_ms());
            let answered = match response {
                Reply::Response(r) => Some(Answered::Response(r)),
                Reply::User(u) => Some(Answered::User(&u.user)),
                Reply::Group(g) => Some(Answered::Group(&g.group)),
                Reply::Users(_) | Reply::Groups(_) => None,
            };
            if let Some(answered) = answered {
                mc.publish_unless_flushed(flushes, &req, answered, Duration::from_millis(ms));
            }
        }
        if sent.is_err() {
            return;
        }
        // Waiting for the next request: a new connection may take the
        // place meanwhile.
        let ticket = slots.waiting.park(uid, place);
        incoming = tokio::select! {
            biased;
            () = ticket.given_away() => return,
            r = read_request(&mut stream, &mut inbox, idle, limits.frame_timeout, MAX_FRAME_LEN) => r,
        };
        let Some(back) = ticket.resume() else {
            return;
        };
        place = back;
        if matches!(incoming, Incoming::Request(_)) {
            anchor.note_request();
        }
    }
}

/// What a connection sent: a request, nothing more (closed, or idle too
/// long), or a bad or incomplete frame (the reply names the fault).
enum Incoming {
    Request(Request),
    Closed,
    Fault(String),
}

/// Reads one request frame from `inbox` and, when it lacks bytes, from
/// `stream`: the first byte may take up to `first_byte`, the rest of the
/// frame must follow within `frame_timeout`; a body over `max_len` bytes
/// is refused once its length is read (no more of it read than came
/// with the length). Bytes after the frame stay in `inbox`.
async fn read_request(
    stream: &mut Link,
    inbox: &mut Inbox,
    first_byte: Duration,
    frame_timeout: Duration,
    max_len: usize,
) -> Incoming {
    if inbox.bytes().is_empty() {
        match timeout(first_byte, inbox.fill(stream, 0)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) | Err(_) => return Incoming::Closed, // closed, or idle too long
        }
    }
    let frame_deadline = Instant::now() + frame_timeout;
    while inbox.bytes().len() < 4 {
        match timeout_at(frame_deadline, inbox.fill(stream, 0)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Incoming::Closed, // closed in the middle of the prefix
            Err(_) => {
                return Incoming::Fault(format!(
                    "bad frame: length prefix incomplete ({} of 4 bytes) after {frame_timeout:?}",
                    inbox.bytes().len()
                ))
            }
        }
    }
    let prefix: [u8; 4] = inbox.bytes()[..4].try_into().expect("four bytes");
    let header = match parse_header(prefix) {
        Ok(h) => h,
        Err(e) => return Incoming::Fault(format!("bad frame: {e}")),
    };
    if header.len > max_len {
        return Incoming::Fault(format!(
            "bad frame: length {} over the {max_len} bytes accepted here",
            header.len
        ));
    }
    // The inbox grows only as bytes arrive: a peer announcing 4 MiB and
    // sending nothing costs 4 KiB of room (`Inbox::fill`).
    let frame_len = 4 + header.len;
    while inbox.bytes().len() < frame_len {
        let lacking = frame_len - inbox.bytes().len();
        match timeout_at(frame_deadline, inbox.fill(stream, lacking)).await {
            Ok(Ok(n)) if n > 0 => {}
            Ok(_) => return Incoming::Closed, // peer closed in the middle of the frame
            Err(_) => {
                return Incoming::Fault(format!(
                    "bad frame: body incomplete ({} of {} bytes) after {frame_timeout:?}",
                    inbox.bytes().len() - 4,
                    header.len
                ));
            }
        }
    }
    let decoded = decode_request(&inbox.bytes()[4..frame_len]);
    // A PAM frame holds a password: the inbox wipes the frame's bytes (the
    // decoded `Secret` zeroizes itself).
    inbox.take(frame_len);
    match decoded {
        Ok(r) => Incoming::Request(r),
        Err(e) => Incoming::Fault(format!("bad request frame: {e}")),
    }
}

/// Sends `resp` ([`frame_of`]), waiting at most `idle` for the peer to
/// take it.
async fn reply(stream: &mut Link, resp: &Reply, idle: Duration) -> std::io::Result<()> {
    send(stream, &frame_of(resp), idle).await
}

/// The frame of `resp`, or of an error saying it is over the frame limit.
fn frame_of(resp: &Reply) -> Vec<u8> {
    let frame = resp.encode();
    if frame.len() - 4 > MAX_FRAME_LEN {
        return encode_response(&Response::Error(format!(
            "reply of {} bytes exceeds the frame limit; ask for a smaller page",
            frame.len()
        )));
    }
    frame
}

/// Writes `frame`, waiting at most `idle` for the peer to take it.
async fn send(stream: &mut Link, frame: &[u8], idle: Duration) -> std::io::Result<()> {
    match timeout(idle, stream.write_all(frame)).await {
        Ok(r) => r,
        Err(_) => Err(std::io::ErrorKind::TimedOut.into()),
    }
}

/// The largest request a peer refused on `pam.sock` may send for its
/// answer: a PAM or admin request is far smaller.
pub const REFUSED_FRAME_MAX: usize = 64 * 1024;

/// Answers a peer that may not use this socket: reads its first request
/// (at most [`REFUSED_FRAME_MAX`] bytes, the whole exchange within the
/// frame timeout) and answers it with a refusal naming `reason`, in the
/// request's own terms (an admin or status request gets
/// `Failure::Refused`, any other an error reply), then closes. Reading
/// the request first means the client's write never meets a closed
/// socket (EPIPE) before it can read why.
pub async fn refuse_request(mut stream: Link, reason: &str, limits: &Limits) {
    let bound = limits.frame_timeout;
    let _ = timeout(bound, async {
        let mut inbox = Inbox::default();
        let answer =
            match read_request(&mut stream, &mut inbox, bound, bound, REFUSED_FRAME_MAX).await {
                Incoming::Request(req) => failed(&req, Failure::refused(reason)),
                Incoming::Fault(_) => Response::Error(Failure::refused(reason).to_string()),
                Incoming::Closed => return,
            };
        let _ = reply(&mut stream, &answer.into(), bound).await;
    })
    .await;
}

/// Tells a refused peer why (`msg`) if its socket takes the reply without
/// waiting, and closes the connection at once: a refused connection never
/// holds a descriptor. (The peer reads the reply before it sees the close,
/// even when its request was left unread.)
pub fn refuse(stream: Link, msg: &str) {
    let frame = encode_response(&Response::Error(msg.to_string()));
    // Out of the reactor, as a plain non-blocking socket: one write(2)
    // that cannot wait, then close.
    if let Ok(stream) = stream.into_std() {
        let _ = std::io::Write::write(&mut &stream, &frame);
    }
}

#[cfg(test)]
mod tests {
    use super::super::link::test_pair as link;
    use super::*;
    use roster_proto::encode_request;
    use std::io::Write;

    const LONG: Duration = Duration::from_secs(5);

    /// Two frames in one write: one read takes both, the first is the
    /// request and the second waits in the inbox, whole.
    #[tokio::test]
    async fn the_frame_after_the_one_read_waits_in_the_inbox() {
        let (mut stream, mut peer) = link();
        let second = encode_request(&Request::UserByName("bob".into()));
        let mut both = encode_request(&Request::UserByUid(7));
        both.extend_from_slice(&second);
        peer.write_all(&both).unwrap();
        let mut inbox = Inbox::default();
        let first = read_request(&mut stream, &mut inbox, LONG, LONG, MAX_FRAME_LEN).await;
        assert!(matches!(first, Incoming::Request(Request::UserByUid(7))));
        assert_eq!(inbox.bytes(), &second[..]);
        drop(peer);
        let next = read_request(&mut stream, &mut inbox, LONG, LONG, MAX_FRAME_LEN).await;
        assert!(matches!(next, Incoming::Request(Request::UserByName(n)) if n == "bob"));
        assert!(inbox.bytes().is_empty());
    }

    /// A length over the limit is refused once read, with body bytes
    /// after it.
    #[tokio::test]
    async fn a_length_over_the_limit_is_refused_with_its_bytes_there() {
        let (mut stream, mut peer) = link();
        let frame = encode_request(&Request::UserByName("x".repeat(200)));
        peer.write_all(&frame).unwrap();
        let mut inbox = Inbox::default();
        match read_request(&mut stream, &mut inbox, LONG, LONG, 100).await {
            Incoming::Fault(m) => assert!(m.contains("over the 100 bytes accepted here"), "{m}"),
            _ => panic!("not refused"),
        }
    }
}
