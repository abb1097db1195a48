//! Loopback ports for test servers, unique among every test process running
//! at the same time.
//!
//! The end-to-end tests run in parallel, one process per test under
//! cargo-nextest, so "free a moment ago" is not enough: two processes could
//! pick the same port before either server binds it. A port is handed out
//! only while this process holds an exclusive `flock` on
//! `$TMPDIR/roster-e2e-ports/PORT.lock` (kept until the process exits, when
//! the kernel releases it, also after a crash), and only from below the
//! kernel's ephemeral range (`ip_local_port_range`), so it is never the
//! source port of some client's connection either.

use std::fs::File;
use std::net::TcpListener;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

/// Lowest port handed out.
const FIRST_PORT: u16 = 20000;
/// Locks of the ports this process reserved; never released before exit.
static HELD: Mutex<Vec<File>> = Mutex::new(Vec::new());
/// Moves each call's starting point, so that one process's calls rarely
/// test the same candidates twice.
static CALLS: AtomicU32 = AtomicU32::new(0);

/// The first port of the kernel's ephemeral range (32768 when unreadable).
fn ephemeral_low() -> u16 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768)
}

fn lock_dir() -> PathBuf {
    let dir = std::env::temp_dir().join("roster-e2e-ports");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("create {}: {e}", dir.display()));
    dir
}

/// Takes `port`'s lock without waiting; the open file holds it.
fn try_lock(dir: &std::path::Path, port: u16) -> Option<File> {
    let path = dir.join(format!("{port}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    // SAFETY: flock(2) on a descriptor owned by `file`, which outlives the call.
    let rc = unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) };
    (rc == 0).then_some(file)
}

/// A TCP port on 127.0.0.1 that no other test process holds and where
/// nothing listened when it was reserved. It stays reserved for this
/// process until it exits.
pub fn free_port() -> u16 {
    let high = ephemeral_low();
    if high <= FIRST_PORT + 100 {
        // An unusual ephemeral range: no private range below it.
        return TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("no free loopback port");
    }
    let span = u32::from(high - FIRST_PORT);
    let start = std::process::id()
        .wrapping_mul(7919)
        .wrapping_add(CALLS.fetch_add(1, Ordering::Relaxed).wrapping_mul(104_729));
    let dir = lock_dir();
    for i in 0..span {
        let port = FIRST_PORT + ((start.wrapping_add(i)) % span) as u16;
        let Some(lock) = try_lock(&dir, port) else {
            continue;
        };
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(lock);
            return port;
        }
    }
    panic!("no free loopback port in {FIRST_PORT}..{high}");
}

/// A port on 127.0.0.1 where nothing listens (for failover tests): reserved
/// like [`free_port`], so no other test's server takes it.
pub fn closed_port() -> u16 {
    free_port()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_are_distinct_bindable_and_below_the_ephemeral_range() {
        let ports: Vec<u16> = (0..20).map(|_| free_port()).collect();
        let mut unique = ports.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), ports.len(), "{ports:?}");
        for p in ports {
            assert!(p < ephemeral_low(), "{p}");
            TcpListener::bind(("127.0.0.1", p)).expect("a reserved port is bindable");
        }
    }

    #[test]
    fn a_reserved_port_cannot_be_locked_again() {
        let port = free_port();
        // flock locks belong to the open file description: a second open
        // of the same lock file, even in this process, is refused.
        assert!(try_lock(&lock_dir(), port).is_none());
    }
}
