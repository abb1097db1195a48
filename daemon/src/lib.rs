//! rosterd internals: configuration, directory access, cache and socket service.
pub mod config;
pub mod directory;
pub mod filter;
