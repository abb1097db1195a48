//! rosterd, the roster cache daemon, as a library for its `main`
//! (`src/main.rs`) and the tests: the socket service ([`server`]: `nss.sock`,
//! `pam.sock`, admin commands), the NSS memory cache it publishes
//! ([`memcache_publish`]) and how it becomes its system user
//! ([`privileges`]). The decisions (configuration, directory, resolver,
//! cache, store, auth) are in the core library, `roster-daemon`.
pub mod memcache_publish;
pub mod privileges;
pub mod server;
