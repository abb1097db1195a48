//! `roster-peer`: a local client of rosterd running as an unprivileged
//! user, for the end-to-end tests of the daemon's limits. Started as root;
//! drops to the given UID/GID (no supplementary groups) before touching
//! the socket.
//!
//! ```text
//! roster-peer flood UID SOCKET COUNT   # opens COUNT connections, each sends
//!                                      # half a frame; prints "open N", then
//!                                      # holds them until stdin closes
//! roster-peer lookup UID SOCKET NAME   # asks UserByName once; prints the reply
//! ```

use roster_proto::{Client, Request};
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

/// Raises this process's descriptor limit to `n` (root may), then becomes
/// `uid` (primary group the same number, no supplementary groups).
fn become_user(uid: u32, descriptors: u64) -> Result<(), String> {
    let lim = libc::rlimit {
        rlim_cur: descriptors,
        rlim_max: descriptors,
    };
    // SAFETY: plain system calls with valid arguments; results checked.
    unsafe {
        if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
            return Err(format!("setrlimit: {}", std::io::Error::last_os_error()));
        }
        if libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(uid) != 0
            || libc::setuid(uid) != 0
        {
            return Err(format!(
                "drop to uid {uid}: {}",
                std::io::Error::last_os_error()
            ));
        }
    }
    Ok(())
}

fn flood(socket: &Path, count: usize) -> ExitCode {
    let mut held = Vec::with_capacity(count);
    for i in 0..count {
        match UnixStream::connect(socket) {
            Ok(mut s) => {
                // Half of a length prefix: a frame begun and never ended.
                let _ = s.write(&[0, 0]);
                held.push(s);
            }
            Err(e) => {
                eprintln!("connection {i}: {e}");
                return ExitCode::FAILURE;
            }
        }
    }
    println!("open {}", held.len());
    let _ = std::io::stdout().flush();
    // Hold every connection until the test closes our stdin.
    let mut sink = Vec::new();
    let _ = std::io::stdin().read_to_end(&mut sink);
    drop(held);
    ExitCode::SUCCESS
}

fn lookup(socket: &Path, name: &str) -> ExitCode {
    match Client::request_once(
        socket,
        &Request::UserByName(name.into()),
        Duration::from_secs(10),
    ) {
        Ok(r) => {
            println!("{r:?}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    let usage = || {
        eprintln!("usage: roster-peer flood|lookup UID SOCKET COUNT|NAME");
        ExitCode::from(2)
    };
    if args.len() != 5 {
        return usage();
    }
    let Ok(uid) = args[2].parse::<u32>() else {
        return usage();
    };
    let socket = Path::new(&args[3]);
    let descriptors = match args[1].as_str() {
        "flood" => args[4].parse::<u64>().unwrap_or(0) + 64,
        _ => 1024,
    };
    if let Err(e) = become_user(uid, descriptors) {
        eprintln!("roster-peer: {e}");
        return ExitCode::FAILURE;
    }
    match args[1].as_str() {
        "flood" => match args[4].parse() {
            Ok(n) => flood(socket, n),
            Err(_) => usage(),
        },
        "lookup" => lookup(socket, &args[4]),
        _ => usage(),
    }
}
