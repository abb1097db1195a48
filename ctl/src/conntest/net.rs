//! The network steps: DNS resolution and TCP connect.

use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Resolves `host:port` to its addresses.
pub fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = (host, port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {host}: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} resolves to no address"));
    }
    Ok(addrs)
}

/// Connects to the first address that accepts within `timeout`; returns the
/// stream, the address and how long it took. On failure names every
/// address tried with its error.
pub fn connect(
    addrs: &[SocketAddr],
    timeout: Duration,
) -> Result<(TcpStream, SocketAddr, Duration), String> {
    let mut errors = Vec::new();
    for addr in addrs {
        let start = Instant::now();
        match TcpStream::connect_timeout(addr, timeout) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(timeout));
                let _ = s.set_write_timeout(Some(timeout));
                return Ok((s, *addr, start.elapsed()));
            }
            Err(e)
                if e.kind() == std::io::ErrorKind::TimedOut
                    || e.kind() == std::io::ErrorKind::WouldBlock =>
            {
                errors.push(format!(
                    "{addr}: no answer within {timeout:?} (connect_timeout)"
                ))
            }
            Err(e) => errors.push(format!("{addr}: {e}")),
        }
    }
    Err(format!("cannot connect: {}", errors.join("; ")))
}
