//! roster's end-to-end tests, one test binary (`--test e2e`) for all of
//! them: each file of this directory is one module (one area: `nss_*`,
//! `pam_*`, `directory_*`, …), the `*_common` modules are the fixtures
//! several areas share, and `ad` holds the Active Directory tests, which
//! share one Samba AD DC per process (`make test-e2e` runs them in one
//! `cargo test` process, beside nextest, which runs every other test in a
//! process of its own). One binary instead of one per file: the test code
//! and every dependency are compiled and linked once.
//!
//! A new test file `tests/tests/e2e/NAME.rs` is added to the list below;
//! it reaches a shared module with `use crate::pam_common;` (not `mod`).

mod directory_common;
mod hosts_common;
mod nss_common;
mod pam_common;
mod rosterctl_common;
mod ssh_common;

mod ad;
mod code_layout;
mod daemon_cli;
mod daemon_limits;
mod daemon_lookup;
mod daemon_offline;
mod daemon_reload;
mod daemon_unprivileged;
mod deb;
mod directory_config;
mod directory_failover;
mod directory_lookup;
mod directory_nesting;
mod directory_offline;
mod directory_referrals;
mod directory_tls;
mod fixtures;
mod hosts_ownership;
mod idmap_agreement;
mod install;
mod modules_unwind;
mod nss_daemon_down;
mod nss_functions;
mod nss_guard;
mod nss_lookup;
mod nss_memcache;
mod nss_netgroup;
mod nss_nfsidmap;
mod nss_programs;
mod pam_caller;
mod pam_lifecycle;
mod pam_login;
mod pam_memory;
mod pam_offline;
mod pam_password;
mod pam_stack;
mod rosterctl_daemon;
mod rosterctl_files;
mod rosterctl_test;
mod ssh_login;
