//! A progress line on stderr for long directory reads, shown only when
//! stderr is a terminal (scripts and pipes see nothing).

use std::io::{IsTerminal, Write};

/// Counts entries and redraws `label: N entries` now and then.
pub struct Progress {
    label: String,
    enabled: bool,
    drawn: bool,
    last: usize,
}

/// Entries read before the indicator appears (small directories stay quiet).
const SHOW_AFTER: usize = 1000;
/// Redraw every this many entries.
const EVERY: usize = 250;

impl Progress {
    /// A new indicator; silent unless stderr is a terminal.
    pub fn new(label: impl Into<String>) -> Progress {
        Progress {
            label: label.into(),
            enabled: std::io::stderr().is_terminal(),
            drawn: false,
            last: 0,
        }
    }

    /// Reports that `count` entries have been read so far.
    pub fn tick(&mut self, count: usize) {
        if self.enabled && count >= SHOW_AFTER && count >= self.last + EVERY {
            self.last = count;
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{}: {count} entries...", self.label);
            let _ = err.flush();
            self.drawn = true;
        }
    }

    /// Clears the line.
    pub fn finish(&mut self) {
        if self.drawn {
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r\x1b[K");
            let _ = err.flush();
            self.drawn = false;
        }
    }
}

impl Drop for Progress {
    fn drop(&mut self) {
        self.finish();
    }
}

/// An elapsed-time line on stderr while a long operation runs that cannot
/// report a count; appears after a second, only on a terminal.
pub struct Spinner {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Spinner {
    /// Starts showing `label... Ns` (when stderr is a terminal).
    pub fn start(label: impl Into<String>) -> Spinner {
        use std::sync::atomic::{AtomicBool, Ordering};
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        if !std::io::stderr().is_terminal() {
            return Spinner { stop, thread: None };
        }
        let label = label.into();
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let start = std::time::Instant::now();
            let mut drawn = false;
            while !flag.load(Ordering::Relaxed) {
                std::thread::sleep(std::time::Duration::from_millis(100));
                let secs = start.elapsed().as_secs();
                if secs >= 1 {
                    let mut err = std::io::stderr().lock();
                    let _ = write!(err, "\r{label}... {secs}s");
                    let _ = err.flush();
                    drawn = true;
                }
            }
            if drawn {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "\r\x1b[K");
                let _ = err.flush();
            }
        });
        Spinner {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for Spinner {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
