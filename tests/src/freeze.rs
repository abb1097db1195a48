//! Freezing a process the test started (SIGSTOP) until dropped (SIGCONT),
//! and making sure the freeze took.
//!
//! A `kill(pid, SIGSTOP)` that returns 0 does not mean the process stopped:
//! on a loaded machine a multi-threaded server (slapd, rosterd) that is
//! creating a worker thread at that moment was seen to keep running and
//! answering (all its threads runnable a minute later, no SIGCONT sent).
//! [`Frozen::new`] therefore waits until every thread of the process is in
//! the stopped state, sending SIGSTOP again while one is not.

use std::time::{Duration, Instant};

/// How long [`Frozen::new`] waits for every thread to stop.
const STOP_DEADLINE: Duration = Duration::from_secs(10);

/// A process stopped with SIGSTOP; continued (SIGCONT) when dropped, so that
/// a failing test never leaves it stopped.
#[derive(Debug)]
pub struct Frozen {
    pid: i32,
}

impl Frozen {
    /// Stops `pid` (a process this test started) and returns once every one
    /// of its threads is stopped. Panics when that does not happen within
    /// 10 s, naming the threads still running.
    pub fn new(pid: i32) -> Frozen {
        let frozen = Frozen { pid };
        let deadline = Instant::now() + STOP_DEADLINE;
        loop {
            signal(pid, libc::SIGSTOP);
            // Give the threads a moment to reach the stop before looking.
            let settle = Instant::now() + Duration::from_millis(50);
            while Instant::now() < settle {
                if running_threads(pid).is_empty() {
                    return frozen;
                }
                std::thread::sleep(Duration::from_millis(2));
            }
            let running = running_threads(pid);
            if running.is_empty() {
                return frozen;
            }
            assert!(
                Instant::now() < deadline,
                "process {pid} did not stop: threads not stopped: {running:?}"
            );
            eprintln!("process {pid} not stopped yet (threads {running:?}): SIGSTOP again");
        }
    }

    /// The frozen process.
    pub fn pid(&self) -> i32 {
        self.pid
    }
}

impl Drop for Frozen {
    fn drop(&mut self) {
        signal(self.pid, libc::SIGCONT);
    }
}

/// Threads of `pid` not in the stopped state (`T`), with their state; empty
/// when all are stopped or the process is gone.
pub fn running_threads(pid: i32) -> Vec<(String, char)> {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue; // the thread ended meanwhile
        };
        // "tid (comm) S ...": the state follows the last ')'.
        let state = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.trim_start().chars().next())
            .unwrap_or('?');
        // Zombie ('Z') and dead ('X') threads run no code.
        if !matches!(state, 'T' | 't' | 'Z' | 'X') {
            out.push((task.file_name().to_string_lossy().into_owned(), state));
        }
    }
    out
}

fn signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) with a PID of a process the test started and a valid
    // signal number; no memory is passed.
    let rc = unsafe { libc::kill(pid, sig) };
    assert_eq!(rc, 0, "kill({pid}, {sig})");
}
