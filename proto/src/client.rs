//! A tiny blocking client with a total time bound, safe to use inside
//! foreign processes: no threads, no global state, one connection per
//! [`Client`] (a caller that keeps one across calls must check it is still
//! its own after a `fork`, as the NSS module's kept connection does), and
//! every step (connect, write, read) bounded by one deadline. Requests are
//! written with `send(MSG_NOSIGNAL)`: a daemon that closed the connection
//! is an error, never a `SIGPIPE` that kills the calling program (std's
//! `write` only avoids it where the Rust runtime ignores SIGPIPE, which a C
//! program loading the NSS or PAM module does not). The socket stays
//! non-blocking: the request goes out right after `connect` (no system
//! call between them, so the daemon, woken by the connection, finds the
//! request already there), and every wait is one `ppoll` bounded by the
//! deadline instead of a socket timeout set before each read and write.

use crate::codec::{decode_response, encode_request, parse_header, DecodeError};
use crate::types::{Request, Response};
use std::io::{self, Read};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};
use thiserror::Error;

/// Why a call to the daemon failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The daemon is not running (no socket, connection refused).
    #[error("rosterd is not reachable at {path}: {source}")]
    Unreachable {
        /// The socket path that was tried.
        path: String,
        /// The connect error.
        source: io::Error,
    },
    /// The deadline passed before the reply was complete.
    #[error("rosterd did not answer within {0:?}")]
    Timeout(Duration),
    /// The connection failed after it was established.
    #[error("I/O error talking to rosterd: {0}")]
    Io(#[from] io::Error),
    /// The daemon's reply could not be decoded.
    #[error("malformed reply from rosterd: {0}")]
    Protocol(#[from] DecodeError),
}

/// One connection to the daemon with a fixed time budget per call.
pub struct Client {
    stream: UnixStream,
    timeout: Duration,
}

impl Client {
    /// Connects to the daemon socket at `path`, waiting at most `timeout`.
    pub fn connect(path: &Path, timeout: Duration) -> Result<Client, ClientError> {
        let deadline = Instant::now() + timeout;
        let stream = connect_before(path, deadline, timeout)?;
        Ok(Client { stream, timeout })
    }

    /// Sends `req` and waits for its reply, at most the client's timeout.
    pub fn call(&mut self, req: &Request) -> Result<Response, ClientError> {
        let payload = self.call_payload(req, self.timeout)?;
        Ok(decode_response(&payload)?)
    }

    /// Sends `req` and reads its reply's payload undecoded (as
    /// [`Client::request_once_payload`]), within `timeout` (the client's
    /// time budget from now on).
    pub fn call_payload(
        &mut self,
        req: &Request,
        timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        self.call_payload_meanwhile(req, timeout, |_| {})
    }

    /// [`Client::call_payload`], running `meanwhile` once the request is
    /// sent and before the reply is waited for: work the caller does for
    /// this connection anyway, done while the daemon answers instead of
    /// before or after. It runs only when the request was sent.
    pub fn call_payload_meanwhile(
        &mut self,
        req: &Request,
        timeout: Duration,
        meanwhile: impl FnOnce(&Client),
    ) -> Result<Vec<u8>, ClientError> {
        self.timeout = timeout;
        let deadline = Instant::now() + timeout;
        self.send_before(req, deadline)?;
        meanwhile(self);
        self.reply_before(deadline)
    }

    /// Gives the connection up without closing its descriptor: for a
    /// caller that found the descriptor's number taken by another file
    /// (the program closed it and opened something else), which closing
    /// it would close.
    pub fn abandon(self) {
        let _ = std::os::fd::IntoRawFd::into_raw_fd(self.stream);
    }

    /// Connects, sends one request and reads its reply; the whole exchange,
    /// connect included, takes at most `timeout`.
    pub fn request_once(
        path: &Path,
        req: &Request,
        timeout: Duration,
    ) -> Result<Response, ClientError> {
        let payload = Self::request_once_payload(path, req, timeout)?;
        Ok(decode_response(&payload)?)
    }

    /// [`Client::request_once`], the reply's payload (the frame past its
    /// length prefix) undecoded: for a reader that reads it in place
    /// ([`crate::decode_group_reply`]).
    pub fn request_once_payload(
        path: &Path,
        req: &Request,
        timeout: Duration,
    ) -> Result<Vec<u8>, ClientError> {
        let deadline = Instant::now() + timeout;
        let stream = connect_before(path, deadline, timeout)?;
        let mut client = Client { stream, timeout };
        client.send_before(req, deadline)?;
        // One request only: the writing half is shut, so that the daemon
        // finds the end of the connection as soon as it has answered,
        // instead of waiting to be woken by the close. (A daemon that
        // cannot be told so still answers: the reply is read as before.)
        let _ = client.stream.shutdown(std::net::Shutdown::Write);
        client.reply_before(deadline)
    }

    /// Sends `req`, by `deadline`.
    fn send_before(&mut self, req: &Request, deadline: Instant) -> Result<(), ClientError> {
        let mut frame = WipeOnDrop(encode_request(req));
        self.write_all_before(&frame.0, deadline)?;
        frame.wipe();
        Ok(())
    }

    /// Reads the reply's payload to the request sent, by `deadline`.
    fn reply_before(&mut self, deadline: Instant) -> Result<Vec<u8>, ClientError> {
        // The daemon cannot have answered yet: wait first instead of a
        // read that would find nothing (one system call less a request).
        self.wait_before(libc::POLLIN, deadline)?;
        // One read takes a small reply whole (prefix and body): most
        // replies are a few hundred bytes.
        let mut head = [0u8; FIRST_READ];
        let mut got = 0;
        while got < 4 {
            got += self.read_before(&mut head[got..], deadline)?;
        }
        let header = parse_header([head[0], head[1], head[2], head[3]])?;
        let had = got - 4;
        if had > header.len {
            // One reply per request: bytes past it are no reply at all.
            return Err(DecodeError::PastFrame(had - header.len).into());
        }
        let mut payload = vec![0u8; header.len];
        payload[..had].copy_from_slice(&head[4..got]);
        let mut filled = had;
        while filled < header.len {
            filled += self.read_before(&mut payload[filled..], deadline)?;
        }
        Ok(payload)
    }

    fn remaining(&self, deadline: Instant) -> Result<Duration, ClientError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            Err(ClientError::Timeout(self.timeout))
        } else {
            Ok(left)
        }
    }

    /// Waits (at most until `deadline`) until the socket is ready for
    /// `events`; a hang-up or error counts as ready (the next call on the
    /// socket reports it).
    fn wait_before(&self, events: libc::c_short, deadline: Instant) -> Result<(), ClientError> {
        let left = self.remaining(deadline)?;
        let mut pfd = libc::pollfd {
            fd: self.stream.as_raw_fd(),
            events,
            revents: 0,
        };
        let ts = libc::timespec {
            tv_sec: left.as_secs().min(libc::time_t::MAX as u64) as libc::time_t,
            tv_nsec: left.subsec_nanos() as libc::c_long,
        };
        // SAFETY: `pfd` is one valid pollfd, `ts` a valid timespec, and a
        // null signal mask leaves the caller's mask as it is.
        let n = unsafe { libc::ppoll(&mut pfd, 1, &ts, std::ptr::null()) };
        match n {
            0 => Err(ClientError::Timeout(self.timeout)),
            n if n > 0 => Ok(()),
            _ => {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    Ok(())
                } else {
                    Err(e.into())
                }
            }
        }
    }

    fn write_all_before(&mut self, mut buf: &[u8], deadline: Instant) -> Result<(), ClientError> {
        while !buf.is_empty() {
            match send_nosignal(&self.stream, buf) {
                Ok(0) => return Err(ClientError::Io(io::ErrorKind::WriteZero.into())),
                Ok(n) => buf = &buf[n..],
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_before(libc::POLLOUT, deadline)?
                }
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// Reads what has arrived into `buf` (at least one byte), waiting at
    /// most until `deadline`; the peer closing first is an error.
    fn read_before(&mut self, buf: &mut [u8], deadline: Instant) -> Result<usize, ClientError> {
        loop {
            match self.stream.read(buf) {
                Ok(0) => return Err(ClientError::Io(io::ErrorKind::UnexpectedEof.into())),
                Ok(n) => return Ok(n),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.wait_before(libc::POLLIN, deadline)?
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
}

impl AsFd for Client {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }
}

/// Bytes asked of the first read of a reply.
const FIRST_READ: usize = 1024;

/// `send(2)` with `MSG_NOSIGNAL`: a closed peer gives `EPIPE`, no signal.
fn send_nosignal(stream: &UnixStream, buf: &[u8]) -> io::Result<usize> {
    // SAFETY: the descriptor is open for the lifetime of `stream`, and
    // `buf` is valid for reads of `buf.len()` bytes.
    let n = unsafe {
        libc::send(
            stream.as_raw_fd(),
            buf.as_ptr().cast(),
            buf.len(),
            libc::MSG_NOSIGNAL,
        )
    };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A request frame may hold a password: wipe it once it is sent or dropped.
struct WipeOnDrop(Vec<u8>);

impl WipeOnDrop {
    fn wipe(&mut self) {
        zeroize::Zeroize::zeroize(&mut self.0);
    }
}

impl Drop for WipeOnDrop {
    fn drop(&mut self) {
        self.wipe();
    }
}

/// `fd`, or a copy of it numbered 3 or more (close-on-exec, the original
/// closed) when it is a standard stream's number: a program that closed
/// its stdin gets the socket as 0, and a connection kept past the call (the
/// NSS module's) would then meet the program's own use of 0–2 (a daemon
/// reopening them onto `/dev/null` would `dup` the socket over its
/// stdout and stderr).
fn above_stdio(fd: OwnedFd) -> io::Result<OwnedFd> {
    if fd.as_raw_fd() > 2 {
        return Ok(fd);
    }
    // SAFETY: `fd` is open; F_DUPFD_CLOEXEC makes a new descriptor (the
    // lowest free from 3 up), checked before use.
    let copy = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 3) };
    if copy < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `copy` was just made by fcntl and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(copy) })
}

/// Connects a non-blocking AF_UNIX socket so that a daemon whose listen
/// backlog is full cannot stall the caller past `deadline`.
fn connect_before(
    path: &Path,
    deadline: Instant,
    timeout: Duration,
) -> Result<UnixStream, ClientError> {
    let unreachable = |source: io::Error| ClientError::Unreachable {
        path: path.display().to_string(),
        source,
    };
    // SAFETY: zeroed sockaddr_un is a valid value (all-zero plain C struct).
    let mut addr: libc::sockaddr_un = unsafe { std::mem::zeroed() };
    addr.sun_family = libc::AF_UNIX as libc::sa_family_t;
    let bytes = path.as_os_str().as_bytes();
    if bytes.len() >= addr.sun_path.len() || bytes.contains(&0) {
        return Err(unreachable(io::Error::new(
            io::ErrorKind::InvalidInput,
            "socket path too long or contains NUL",
        )));
    }
    for (dst, src) in addr.sun_path.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    // SAFETY: plain socket(2) call; the result is checked before use.
    let fd = unsafe {
        libc::socket(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
            0,
        )
    };
    if fd < 0 {
        return Err(unreachable(io::Error::last_os_error()));
    }
    // SAFETY: fd is a fresh descriptor we own exclusively.
    let owned = above_stdio(unsafe { OwnedFd::from_raw_fd(fd) }).map_err(unreachable)?;
    let fd = owned.as_raw_fd();
    let addr_len = std::mem::size_of::<libc::sockaddr_un>() as libc::socklen_t;
    loop {
        // SAFETY: addr is a fully initialised sockaddr_un of addr_len bytes
        // and fd is open.
        let rc = unsafe {
            libc::connect(
                fd,
                &addr as *const libc::sockaddr_un as *const libc::sockaddr,
                addr_len,
            )
        };
        if rc == 0 {
            break;
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(libc::EINTR) => continue,
            // Backlog full: retry briefly until the deadline.
            Some(libc::EAGAIN) | Some(libc::EINPROGRESS) => {
                if Instant::now() >= deadline {
                    return Err(ClientError::Timeout(timeout));
                }
                std::thread::sleep(Duration::from_millis(1));
            }
            _ => return Err(unreachable(err)),
        }
    }
    // Left non-blocking: every wait is a `ppoll` bounded by the deadline.
    Ok(UnixStream::from(owned))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::{decode_request, encode_response};
    use crate::types::User;
    use std::io::Write;
    use std::os::unix::net::UnixListener;

    fn temp_socket(name: &str) -> std::path::PathBuf {
        let dir = std::env::temp_dir().join(format!("roster-proto-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir.join("s.sock")
    }

    #[test]
    fn missing_socket_is_unreachable_at_once() {
        let start = Instant::now();
        let err = Client::request_once(
            Path::new("/nonexistent/roster/nss.sock"),
            &Request::Status,
            Duration::from_secs(5),
        )
        .unwrap_err();
        assert!(matches!(err, ClientError::Unreachable { .. }), "{err}");
        assert!(start.elapsed() < Duration::from_secs(1));
    }

    #[test]
    fn silent_server_times_out() {
        let path = temp_socket("silent");
        let _listener = UnixListener::bind(&path).unwrap();
        let err =
            Client::request_once(&path, &Request::Status, Duration::from_millis(200)).unwrap_err();
        assert!(matches!(err, ClientError::Timeout(_)), "{err}");
    }

    /// Set in the child run of [`closed_peer_is_an_error_not_sigpipe`].
    const SIGPIPE_CHILD: &str = "ROSTER_PROTO_SIGPIPE_CHILD";

    /// A C program that loads the NSS module does not ignore SIGPIPE: the
    /// test runs the write in a child with SIGPIPE at its default action,
    /// which would kill the child if the client wrote without
    /// MSG_NOSIGNAL.
    #[test]
    fn closed_peer_is_an_error_not_sigpipe() {
        if std::env::var_os(SIGPIPE_CHILD).is_some() {
            // SAFETY: restoring the default action of SIGPIPE in this
            // single-purpose child process.
            unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
            let path = temp_socket("sigpipe");
            let listener = UnixListener::bind(&path).unwrap();
            let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
            drop(listener.accept().unwrap()); // the daemon closes at once
            drop(listener);
            let big = Request::UserByName("x".repeat(200_000));
            let err = client.call(&big).unwrap_err();
            println!("client error: {err}");
            return;
        }
        let stdout = in_child("closed_peer_is_an_error_not_sigpipe", SIGPIPE_CHILD);
        assert!(stdout.contains("client error: I/O error"), "{stdout}");
    }

    /// Runs the test `name` of this module again, alone, in a child
    /// process with `var` set (where it takes its child's part; stdin is
    /// `/dev/null`); its stdout, once it exited successfully (a signal or
    /// a failure fails the caller).
    fn in_child(name: &str, var: &str) -> String {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                &format!("client::tests::{name}"),
                "--nocapture",
                "--test-threads=1",
            ])
            .env(var, "1")
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "child died ({:?}): {stdout}",
            std::os::unix::process::ExitStatusExt::signal(&out.status)
        );
        stdout
    }

    /// Set in the child run of [`a_socket_never_takes_a_standard_stream_s_number`].
    const STDIO_CHILD: &str = "ROSTER_PROTO_STDIO_CHILD";

    /// A program that closed its stdin does not get the client's socket
    /// as descriptor 0 (the NSS module keeps it past the call). Run in a
    /// child process, whose descriptor 0 no other test can take meanwhile
    /// (the test server's thread waits in `accept`: it opens nothing
    /// before the client's socket is made).
    #[test]
    fn a_socket_never_takes_a_standard_stream_s_number() {
        if std::env::var_os(STDIO_CHILD).is_some() {
            let (path, server) = serving("stdio", |mut s| {
                assert!(matches!(read_request(&mut s), Request::UserByUid(1)));
                s.write_all(&user_reply("u1", 1)).unwrap();
            });
            // SAFETY: this child's stdin is unused; closing it frees 0.
            unsafe { libc::close(0) };
            let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
            println!("socket descriptor {}", client.as_fd().as_raw_fd());
            assert!(matches!(
                client.call(&Request::UserByUid(1)),
                Ok(Response::User(_))
            ));
            server.join().unwrap();
            return;
        }
        let stdout = in_child(
            "a_socket_never_takes_a_standard_stream_s_number",
            STDIO_CHILD,
        );
        let fd: i32 = stdout
            .lines()
            .find_map(|l| l.split_once("socket descriptor "))
            .and_then(|(_, n)| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{stdout}"));
        assert!(fd > 2, "the socket is descriptor {fd}");
    }

    #[test]
    fn round_trip_with_a_real_socket() {
        let (path, server) = serving("echo", |mut s| {
            let Request::UserByUid(uid) = read_request(&mut s) else {
                panic!("wrong request")
            };
            // One request only: the client said so by shutting its
            // writing half, so the end shows before the reply is written.
            s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
            let mut rest = [0u8; 1];
            assert_eq!(
                s.read(&mut rest).unwrap(),
                0,
                "the request's end is not shown"
            );
            s.write_all(&user_reply("alice", uid)).unwrap();
        });
        let resp =
            Client::request_once(&path, &Request::UserByUid(4242), Duration::from_secs(5)).unwrap();
        server.join().unwrap();
        match resp {
            Response::User(u) => assert_eq!((u.name.as_str(), u.uid), ("alice", 4242)),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_connection_for_several_calls_keeps_its_writing_half() {
        let (path, server) = serving("calls", |mut s| {
            for uid in [1u32, 2] {
                assert!(matches!(read_request(&mut s), Request::UserByUid(u) if u == uid));
                s.write_all(&user_reply(&format!("u{uid}"), uid)).unwrap();
            }
        });
        let mut client = Client::connect(&path, Duration::from_secs(5)).unwrap();
        for uid in [1u32, 2] {
            match client.call(&Request::UserByUid(uid)).unwrap() {
                Response::User(u) => assert_eq!(u.uid, uid),
                other => panic!("unexpected {other:?}"),
            }
        }
        server.join().unwrap();
    }

    /// A socket named after `name` and a thread that serves its first
    /// connection with `serve`.
    fn serving(
        name: &str,
        serve: impl FnOnce(std::os::unix::net::UnixStream) + Send + 'static,
    ) -> (std::path::PathBuf, std::thread::JoinHandle<()>) {
        let path = temp_socket(name);
        let listener = UnixListener::bind(&path).unwrap();
        let server = std::thread::spawn(move || serve(listener.accept().unwrap().0));
        (path, server)
    }

    /// The reply frame of user `name` with UID `uid`.
    fn user_reply(name: &str, uid: u32) -> Vec<u8> {
        encode_response(&Response::User(User {
            name: name.into(),
            uid,
            ..Default::default()
        }))
    }

    /// The request frame a test server reads from `s`.
    fn read_request(s: &mut std::os::unix::net::UnixStream) -> Request {
        let mut prefix = [0u8; 4];
        s.read_exact(&mut prefix).unwrap();
        let mut body = vec![0; parse_header(prefix).unwrap().len];
        s.read_exact(&mut body).unwrap();
        decode_request(&body).unwrap()
    }

    /// A server that reads one request and writes `reply` (its chunks one
    /// write each): the client's answer.
    fn answered_with(name: &str, reply: Vec<Vec<u8>>) -> Result<Response, ClientError> {
        let (path, server) = serving(name, move |mut s| {
            read_request(&mut s);
            for chunk in reply {
                s.write_all(&chunk).unwrap();
                s.flush().unwrap();
            }
        });
        let resp = Client::request_once(&path, &Request::UserByUid(7), Duration::from_secs(5));
        server.join().unwrap();
        resp
    }

    /// A reply larger than the first read, and one written in pieces
    /// (cut inside the prefix, then inside the body; the pieces may also
    /// arrive together), are read whole.
    #[test]
    fn replies_are_read_whole_however_they_arrive() {
        let big = Response::User(User {
            name: "alice".into(),
            uid: 7,
            gecos: "g".repeat(3 * FIRST_READ),
            ..Default::default()
        });
        let frame = encode_response(&big);
        assert!(frame.len() > FIRST_READ);
        let whole = answered_with("big", vec![frame.clone()]).unwrap();
        let split = answered_with(
            "split",
            vec![
                frame[..2].to_vec(),
                frame[2..10].to_vec(),
                frame[10..].to_vec(),
            ],
        )
        .unwrap();
        for resp in [whole, split] {
            match resp {
                Response::User(u) => assert_eq!(u.gecos.len(), 3 * FIRST_READ),
                other => panic!("unexpected {other:?}"),
            }
        }
    }

    /// Bytes after the reply frame that arrive with it (in the first read)
    /// are refused, not left for a next call.
    #[test]
    fn bytes_past_the_reply_frame_are_an_error() {
        let mut frame = encode_response(&Response::NotFound);
        frame.extend_from_slice(b"xyz");
        let err = answered_with("past", vec![frame]).unwrap_err();
        assert!(
            matches!(err, ClientError::Protocol(DecodeError::PastFrame(3))),
            "{err}"
        );
    }
}
