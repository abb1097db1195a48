//! The bytes a client connection has read and not yet taken as requests.
//!
//! A read asks the socket for at least [`READ_AHEAD`] bytes, so that a
//! request's length prefix and body come in one system call (a module
//! writes a lookup's frame, a few dozen bytes, in one `write`; reading
//! the prefix alone first cost a second `recvfrom` on every lookup's
//! path); bytes of a next frame read with it wait here for the next
//! request. Taken bytes are wiped, the buffer is never reallocated with
//! bytes left behind in the old one, and what is left is wiped when the
//! inbox is dropped: a PAM frame holds a password.

use super::link::Link;
use std::io;
use tokio::io::AsyncReadExt;
use zeroize::Zeroize;

/// The least a read asks the socket for.
pub const READ_AHEAD: usize = 512;

/// The most room made for a frame's bytes before any has come.
const FIRST_ROOM: usize = 4096;

/// The most room a read makes (a large frame is read in parts).
const READ_MAX: usize = 64 * 1024;

/// Bytes read from one connection, oldest first.
#[derive(Default)]
pub struct Inbox {
    bytes: Vec<u8>,
}

impl Inbox {
    /// The bytes read and not yet taken.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Reads once from `stream`, with room made for `lacking` more bytes
    /// (what the frame being read still lacks; 0 when unknown) but never
    /// more than the bytes held or [`FIRST_ROOM`], whichever is larger
    /// (a frame announced large and not sent costs no more than that),
    /// at least [`READ_AHEAD`], at most 64 KiB: the bytes read, 0 at the
    /// end of the stream. The read is offered all the spare room. Cancel
    /// safe: a read that is dropped has read nothing.
    pub async fn fill(&mut self, stream: &mut Link, lacking: usize) -> io::Result<usize> {
        let room = lacking.min(self.bytes.len().max(FIRST_ROOM));
        self.reserve(room.clamp(READ_AHEAD, READ_MAX));
        // (Into the spare capacity: `read_buf` grows the length by what
        // was read.)
        stream.read_buf(&mut self.bytes).await
    }

    /// Removes the first `n` bytes (wiped), keeping the rest in order.
    pub fn take(&mut self, n: usize) {
        let kept = shift_out(&mut self.bytes, n);
        self.bytes.truncate(kept);
        if kept == 0 && self.bytes.capacity() > FIRST_ROOM {
            // A large frame's room is not kept for the connection's life
            // (wiped: `shift_out` did).
            self.bytes = Vec::new();
        }
    }

    /// Room for `additional` more bytes; a larger buffer takes the bytes
    /// over and the old one is wiped before it is freed (`Vec`'s own
    /// growth would leave them behind).
    fn reserve(&mut self, additional: usize) {
        let len = self.bytes.len();
        if self.bytes.capacity() - len >= additional {
            return;
        }
        let capacity = (len + additional).max(self.bytes.capacity() * 2);
        let mut larger = Vec::with_capacity(capacity);
        larger.extend_from_slice(&self.bytes);
        wipe(&mut self.bytes);
        self.bytes = larger;
    }
}

/// Moves `bytes` after the first `n` to the front and wipes the rest of
/// `bytes` (the `n` taken and the old copy of those kept): the length
/// kept.
fn shift_out(bytes: &mut [u8], n: usize) -> usize {
    let len = bytes.len();
    let n = n.min(len);
    bytes[..n].zeroize();
    bytes.copy_within(n..len, 0);
    bytes[len - n..].zeroize();
    len - n
}

/// Wipes `bytes`' length. Its spare room holds nothing to wipe: bytes
/// are only ever written there by a read, which makes them part of the
/// length, and [`shift_out`] wipes what it moves out before the length
/// is cut. (`Vec`'s own `zeroize` would also write every page of the
/// spare room, never touched.)
fn wipe(bytes: &mut Vec<u8>) {
    bytes.as_mut_slice().zeroize();
    bytes.clear();
}

impl Drop for Inbox {
    fn drop(&mut self) {
        wipe(&mut self.bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::super::link::test_pair as pair;
    use super::*;
    use std::io::Write;

    #[tokio::test]
    async fn one_read_takes_what_the_peer_wrote_and_the_rest_waits() {
        let (mut link, mut peer) = pair();
        peer.write_all(b"first-frame|second").unwrap();
        let mut inbox = Inbox::default();
        assert_eq!(inbox.fill(&mut link, 0).await.unwrap(), 18);
        assert_eq!(inbox.bytes(), b"first-frame|second");
        inbox.take(12);
        assert_eq!(inbox.bytes(), b"second");
        peer.write_all(b"-more").unwrap();
        inbox.fill(&mut link, 0).await.unwrap();
        assert_eq!(inbox.bytes(), b"second-more");
        drop(peer);
        assert_eq!(inbox.fill(&mut link, 0).await.unwrap(), 0, "end of stream");
    }

    #[tokio::test]
    async fn a_large_frame_grows_the_buffer_as_its_bytes_come() {
        let (mut link, mut peer) = pair();
        let big: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let writer = std::thread::spawn({
            let big = big.clone();
            move || peer.write_all(&big).unwrap()
        });
        let mut inbox = Inbox::default();
        while inbox.bytes().len() < big.len() {
            let lacking = big.len() - inbox.bytes().len();
            let held = inbox.bytes().len();
            let n = inbox.fill(&mut link, lacking).await.unwrap();
            assert!(n > 0, "the peer is still writing");
            assert!(
                inbox.bytes.capacity() <= 2 * (held + READ_MAX),
                "room made ahead of the bytes: {} for {held}",
                inbox.bytes.capacity()
            );
        }
        writer.join().unwrap();
        assert_eq!(inbox.bytes(), &big[..]);
    }

    /// A frame announced large costs at most `FIRST_ROOM` of room before
    /// its bytes come, and the room of a large frame taken is not kept.
    #[tokio::test]
    async fn room_follows_the_bytes_that_came() {
        let (mut link, mut peer) = pair();
        peer.write_all(&[0, 0x40, 0, 0, 1, 2, 3]).unwrap();
        let mut inbox = Inbox::default();
        inbox.fill(&mut link, 0).await.unwrap();
        assert_eq!(inbox.bytes().len(), 7);
        peer.write_all(&[4; 100]).unwrap();
        inbox.fill(&mut link, 4 << 20).await.unwrap();
        assert!(
            inbox.bytes.capacity() <= 2 * FIRST_ROOM,
            "{}",
            inbox.bytes.capacity()
        );
        let writer = std::thread::spawn(move || peer.write_all(&[5; 100_000]).unwrap());
        while inbox.bytes().len() < 107 + 100_000 {
            inbox.fill(&mut link, 4 << 20).await.unwrap();
        }
        writer.join().unwrap();
        inbox.take(inbox.bytes().len());
        assert_eq!(inbox.bytes.capacity(), 0, "a large room given back");
    }

    /// Taking bytes wipes them where they were: beyond what is kept the
    /// buffer holds zeroes.
    #[test]
    fn taken_bytes_are_wiped() {
        let mut bytes = *b"secretpassword|next";
        assert_eq!(shift_out(&mut bytes, 15), 4);
        assert_eq!(&bytes[..4], b"next");
        assert!(bytes[4..].iter().all(|&b| b == 0), "{bytes:?}");
        assert_eq!(shift_out(&mut bytes[..4], 9), 0, "more than there is");
        assert!(bytes.iter().all(|&b| b == 0));
        let mut inbox = Inbox::default();
        inbox.bytes.extend_from_slice(b"frame|rest");
        inbox.take(6);
        assert_eq!(inbox.bytes(), b"rest");
    }
}
