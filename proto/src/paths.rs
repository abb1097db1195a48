//! Default locations and names shared by the daemon and its clients.

/// Default configuration file read by `rosterd` and `rosterctl`.
pub const DEFAULT_CONFIG_PATH: &str = "/etc/roster/roster.toml";
/// Default directory holding `nss.sock`, `pam.sock` and `pam-user.sock`.
pub const DEFAULT_SOCKET_DIR: &str = "/run/roster";
/// Default directory for persistent state (cache, idmap allocations).
pub const DEFAULT_STATE_DIR: &str = "/var/lib/roster";
/// File name of the lookup socket inside the socket directory.
pub const NSS_SOCKET_NAME: &str = "nss.sock";
/// The most of `nss.conf` the NSS module reads (whole lines within it):
/// rosterd refuses an `[nss]` table whose file would be longer, so every
/// process sees the whole of it.
pub const NSS_CONF_MAX_LEN: u64 = 64 * 1024;
/// File name of the root-only PAM/admin socket inside the socket directory.
pub const PAM_SOCKET_NAME: &str = "pam.sock";
/// File name of the PAM socket for unprivileged callers (mode 0666): a
/// caller whose peer UID is U may only authenticate the account whose UID
/// is U (screen lockers); every other request is refused there.
pub const PAM_USER_SOCKET_NAME: &str = "pam-user.sock";
/// Environment variable set by `rosterd` in its own process; when present the
/// NSS module answers "unavailable" at once, so the daemon never resolves a
/// name through its own module (no deadlock, no recursion).
pub const LOOP_GUARD_ENV: &str = "_ROSTER_NSS_LOOP_GUARD";
/// The system user rosterd is meant to run as (created by the Debian
/// package and by `make install`); a secret file may be group-readable
/// through its group.
pub const DAEMON_USER: &str = "_roster";
