//! rosterd internals: configuration, directory access, cache and socket service.
pub mod auth;
pub mod cache;
pub mod clock;
pub mod config;
pub mod directory;
pub mod filter;
pub mod memcache_publish;
pub mod privileges;
pub mod registry;
pub mod resolver;
pub mod server;
pub mod store;
