//! Free loopback ports for test servers.

use std::net::TcpListener;

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// A port on 127.0.0.1 where nothing listens (for failover tests).
pub fn closed_port() -> u16 {
    free_port()
}
