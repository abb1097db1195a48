//! A client connection that joins the runtime's reactor only once it has
//! to wait.
//!
//! A client's first request is usually written by the time rosterd
//! accepts its connection (the modules send it right after `connect`),
//! and a reply fits the socket's buffer. A connection of one request (the
//! PAM module's, `rosterctl`'s: the writing half shut after it) then never
//! waits, and registering it with epoll would cost an `epoll_ctl` to add
//! it, one to remove it and the readiness events it queues meanwhile, for
//! nothing. A [`Link`] is a plain non-blocking socket until a read or write
//! would block; it is then handed to tokio (registered) and waits as any
//! tokio socket, so a slow or idle peer is served exactly as before. The
//! connection the NSS module keeps between lookups is registered once,
//! when it first waits for its next request, for the rest of its life.

use nix::sys::socket::{getsockopt, sockopt::PeerCredentials};
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream as PlainStream;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::UnixStream;
use tokio::task::coop;

/// The most a read of a plain link offers the socket (and zeroes first).
const PLAIN_READ_MAX: usize = 64 * 1024;

/// A connection accepted from a client: plain until it has to wait.
pub struct Link {
    state: State,
}

enum State {
    /// Non-blocking, not known to the reactor.
    Plain(PlainStream),
    /// Registered with the reactor (after an operation would have blocked).
    Registered(UnixStream),
    /// Only while moving from `Plain` to `Registered`, or after that
    /// failed.
    Gone,
}

impl Link {
    /// A link over `stream`, which must be in non-blocking mode.
    pub fn new(stream: PlainStream) -> Link {
        debug_assert!(
            nix::fcntl::fcntl(&stream, nix::fcntl::FcntlArg::F_GETFL).is_ok_and(|flags| {
                nix::fcntl::OFlag::from_bits_truncate(flags).contains(nix::fcntl::OFlag::O_NONBLOCK)
            }),
            "a link's socket must be non-blocking (a blocking read would stall the runtime thread)"
        );
        Link {
            state: State::Plain(stream),
        }
    }

    /// The UID of the peer process (`SO_PEERCRED`).
    pub fn peer_uid(&self) -> io::Result<u32> {
        let creds = match &self.state {
            State::Plain(s) => getsockopt(s, PeerCredentials),
            State::Registered(s) => getsockopt(s, PeerCredentials),
            State::Gone => return Err(gone()),
        };
        Ok(creds.map_err(io::Error::from)?.uid())
    }

    /// Whether the link was registered with the reactor (an operation
    /// had to wait; tests).
    #[cfg(test)]
    pub fn registered(&self) -> bool {
        matches!(self.state, State::Registered(_))
    }

    /// The plain socket, taken from the reactor if it was registered.
    pub fn into_std(self) -> io::Result<PlainStream> {
        match self.state {
            State::Plain(s) => Ok(s),
            State::Registered(s) => s.into_std(),
            State::Gone => Err(gone()),
        }
    }

    /// The registered socket, registering the plain one first.
    fn registered_stream(&mut self) -> io::Result<&mut UnixStream> {
        if let State::Plain(_) = self.state {
            let State::Plain(plain) = std::mem::replace(&mut self.state, State::Gone) else {
                unreachable!("matched above")
            };
            self.state = State::Registered(UnixStream::from_std(plain)?);
        }
        match &mut self.state {
            State::Registered(s) => Ok(s),
            _ => Err(gone()),
        }
    }
}

/// The error of a link whose registration failed earlier.
fn gone() -> io::Error {
    io::Error::new(
        io::ErrorKind::NotConnected,
        "connection lost its registration",
    )
}

/// Makes `call` on a plain link's socket, spending the task's cooperative
/// budget as a registered socket's call does (a peer that never lets a
/// call block still lets the other tasks run): `None` when it would
/// block (the link is to be registered), else its result.
fn plain_call<T>(
    cx: &mut Context<'_>,
    mut call: impl FnMut() -> io::Result<T>,
) -> Poll<Option<io::Result<T>>> {
    let budget = std::task::ready!(coop::poll_proceed(cx));
    loop {
        match call() {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Poll::Ready(None),
            done => {
                budget.made_progress();
                return Poll::Ready(Some(done));
            }
        }
    }
}

impl AsyncRead for Link {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let State::Plain(s) = &this.state {
            // (At most 64 KiB zeroed a call: `read_to_end` offers all of a
            // large body's buffer.)
            let room = buf.remaining().min(PLAIN_READ_MAX);
            let read = std::task::ready!(plain_call(cx, || {
                (&*s).read(buf.initialize_unfilled_to(room))
            }));
            match read {
                Some(Ok(n)) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                Some(Err(e)) => return Poll::Ready(Err(e)),
                None => {}
            }
        }
        match this.registered_stream() {
            Ok(s) => Pin::new(s).poll_read(cx, buf),
            Err(e) => Poll::Ready(Err(e)),
        }
    }
}

impl AsyncWrite for Link {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let State::Plain(s) = &this.state {
            if let Some(written) = std::task::ready!(plain_call(cx, || (&*s).write(data))) {
                return Poll::Ready(written);
            }
        }
        match this.registered_stream() {
            Ok(s) => Pin::new(s).poll_write(cx, data),
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(_) => Poll::Ready(Ok(())),
            State::Registered(s) => Pin::new(s).poll_flush(cx),
            State::Gone => Poll::Ready(Err(gone())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().state {
            State::Plain(s) => Poll::Ready(s.shutdown(std::net::Shutdown::Write)),
            State::Registered(s) => Pin::new(s).poll_shutdown(cx),
            State::Gone => Poll::Ready(Err(gone())),
        }
    }
}

/// A link and the socket of its peer (tests).
#[cfg(test)]
pub(crate) fn test_pair() -> (Link, PlainStream) {
    let (ours, theirs) = PlainStream::pair().unwrap();
    ours.set_nonblocking(true).unwrap();
    (Link::new(ours), theirs)
}

#[cfg(test)]
mod tests {
    use super::test_pair as pair;
    use super::*;
    use std::future::Future;
    use std::time::Duration;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// A request already there and a reply the socket takes: served
    /// without the reactor.
    #[tokio::test]
    async fn a_connection_that_never_waits_is_never_registered() {
        let (mut link, mut peer) = pair();
        peer.write_all(b"ping").unwrap();
        peer.shutdown(std::net::Shutdown::Write).unwrap();
        let mut got = [0u8; 4];
        link.read_exact(&mut got).await.unwrap();
        assert_eq!(&got, b"ping");
        assert_eq!(link.read(&mut got).await.unwrap(), 0, "the peer's end");
        link.write_all(b"pong").await.unwrap();
        assert!(!link.registered());
        assert_eq!(link.peer_uid().unwrap(), nix::unistd::getuid().as_raw());
        drop(link);
        let mut reply = Vec::new();
        peer.read_to_end(&mut reply).unwrap();
        assert_eq!(reply, b"pong");
    }

    /// A read that has to wait registers the link and waits for the bytes
    /// as a tokio socket does.
    #[tokio::test]
    async fn a_read_that_has_to_wait_registers_and_gets_the_bytes() {
        let (mut link, mut peer) = pair();
        let mut got = [0u8; 4];
        let read = link.read_exact(&mut got);
        tokio::pin!(read);
        let first = std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "nothing to read yet");
        peer.write_all(b"late").unwrap();
        tokio::time::timeout(Duration::from_secs(30), read)
            .await
            .expect("the read is woken when the bytes arrive")
            .unwrap();
        assert_eq!(&got, b"late");
        assert!(link.registered());
        assert_eq!(link.peer_uid().unwrap(), nix::unistd::getuid().as_raw());
    }

    /// A reply larger than the socket takes at once registers the link and
    /// is written whole as the peer reads it.
    #[tokio::test]
    async fn a_write_that_has_to_wait_registers_and_writes_it_all() {
        let (mut link, mut peer) = pair();
        let big = vec![7u8; 4 << 20];
        let write = link.write_all(&big);
        tokio::pin!(write);
        let first = std::future::poll_fn(|cx| Poll::Ready(write.as_mut().poll(cx))).await;
        assert!(first.is_pending(), "no one reads yet: the socket fills");
        let reader = std::thread::spawn(move || {
            let mut got = Vec::new();
            peer.read_to_end(&mut got).unwrap();
            got
        });
        tokio::time::timeout(Duration::from_secs(30), write)
            .await
            .expect("the write is woken as the peer reads")
            .unwrap();
        assert!(link.registered());
        link.shutdown().await.unwrap();
        drop(link);
        assert_eq!(reader.join().unwrap(), big);
    }

    /// A peer whose calls never block still leaves the other tasks their
    /// turn: reads of a plain link spend the task's budget.
    #[tokio::test]
    async fn reads_that_never_block_still_yield_to_other_tasks() {
        let (mut link, mut peer) = pair();
        peer.write_all(&[1u8; 4096]).unwrap();
        let mut byte = [0u8; 1];
        let mut pending = 0;
        for _ in 0..4096 {
            let read = link.read_exact(&mut byte);
            tokio::pin!(read);
            loop {
                match std::future::poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
                    Poll::Ready(r) => break assert_eq!(r.unwrap(), 1),
                    Poll::Pending => {
                        pending += 1;
                        tokio::task::yield_now().await;
                    }
                }
            }
        }
        assert!(!link.registered(), "the bytes were all there");
        assert!(pending > 0, "4,096 reads without ever giving way");
    }
}
