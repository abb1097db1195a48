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
