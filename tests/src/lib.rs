//! Fixtures for roster's end-to-end tests: a private slapd with a generated
//! sample directory and throwaway certificates, a private mount namespace for
//! NSS/PAM tests, and paths to the built binaries and modules.
//!
//! Every process a fixture starts is stopped by PID when the fixture is
//! dropped (or when the test process dies: the watchdog shell sees its
//! stdin close). Nothing here writes to the host's `/etc`: the `_roster`
//! system user rosterd runs as is, if the machine has none, seen in each
//! test thread's own mount namespace ([`daemon_user`]).

pub mod cc;
pub mod config;
pub mod daemon_user;
pub mod dataset;
pub mod fixture_cache;
pub mod freeze;
pub mod memcache_file;
pub mod namespace;
pub mod nfsidmap;
pub mod paths;
pub mod ports;
pub mod rosterd;
pub mod samba;
pub mod slapd;
pub mod tls;
