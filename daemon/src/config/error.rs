//! Configuration errors: each names the file, and when the fault is in
//! the text, the line and the key (`FILE:LINE: KEY: what is wrong`).
//! Lines are found from spans by [`super::source`].

use std::path::PathBuf;

/// Why a configuration could not be used. Every variant names the file, and
/// when the fault is in the text, the line and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("{}: cannot read configuration: {source}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The text is not valid TOML (a syntax error, with its column).
    #[error("{origin}:{line}:{column}: {message}")]
    Parse {
        /// Name of the configuration (file path).
        origin: String,
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What is wrong, naming the key.
        message: String,
    },
    /// A key is unknown, missing, of the wrong type, or its value is not
    /// acceptable.
    #[error("{}: {key}: {message}", location(origin, *line))]
    Invalid {
        /// Name of the configuration (file path).
        origin: String,
        /// 1-based line of the key, when it could be found.
        line: Option<usize>,
        /// The key at fault, e.g. `domain "corp" bind_password_file`.
        key: String,
        /// What is wrong.
        message: String,
    },
}

fn location(origin: &str, line: Option<usize>) -> String {
    match line {
        Some(l) => format!("{origin}:{l}"),
        None => origin.to_string(),
    }
}
