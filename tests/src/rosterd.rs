//! A real `rosterd` process for one test, with its configuration, sockets,
//! state and log in a private temporary directory.
//!
//! [`Rosterd::start`] takes the text of a `roster.toml`. The fixture fills in
//! where the daemon keeps its files: `@SOCKET_DIR@` and `@STATE_DIR@` in the
//! text are replaced by its own directories; a text without a `[daemon]`
//! table gets one appended (with `log_level = "debug"`). A `[daemon]` table
//! without those placeholders is refused: the daemon must never use the
//! host's `/run/roster` or `/var/lib/roster` in a test.
//!
//! rosterd runs as its system user `_roster`, as installed systems run it:
//! started as root with `--user _roster`, it hands its socket and state
//! directories to that user and drops root before it reads anything (the
//! test thread sees the account in its own mount namespace if the machine
//! has none: [`crate::daemon_user`]). So the
//! fixture's directory is 0711 (traversable, not listable), the
//! configuration root:`_roster` 0640, and the secret files the fixtures
//! write root:`_roster` 0640. A test that needs rosterd to stay root says
//! why in [`Launch::as_root`].
//!
//! rosterd runs under a small watchdog shell (like slapd's): when the test
//! process exits for any reason, the shell's stdin closes and it stops the
//! daemon by PID. Its stderr (the log) goes to `rosterd.log` in the
//! directory; [`Rosterd::log`] returns it and start failures print it.

use crate::daemon_user;
use roster_proto::{Client, Request, Response};
use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long start, restart and reload may take before the fixture gives up.
const STARTUP_LIMIT: Duration = Duration::from_secs(30);
/// Per-request time bound of the helper calls.
const CALL_TIMEOUT: Duration = Duration::from_secs(20);

/// A running (or stopped, restartable) rosterd.
pub struct Rosterd {
    dir: tempfile::TempDir,
    watchdog: Option<Child>,
    pid: Option<i32>,
    launch: Launch,
}

/// How rosterd is started (default: directly, started as root and
/// dropping to `_roster`).
#[derive(Clone, Debug, Default)]
pub struct Launch {
    /// A command rosterd runs under, given rosterd's command line as its
    /// last arguments; it must `exec` it (the PID stays rosterd's), e.g.
    /// `unshare --mount ... sh -c '...; exec "$@"' sh`. If it replaces
    /// `/etc/passwd` or `/etc/group`, those must hold `_roster` (a
    /// [`crate::namespace::Namespace`]'s `etc_file` adds it).
    pub wrapper: Vec<String>,
    /// Extra arguments of rosterd. `--user _roster` is added unless they
    /// name a `--user` already or [`Launch::as_root`] is set.
    pub args: Vec<String>,
    /// Keep rosterd root (no `--user`): the test's reason, e.g. a test of
    /// what a root-run daemon leaves behind. `None` (the default): rosterd
    /// runs as `_roster`.
    pub as_root: Option<&'static str>,
}

impl Launch {
    /// rosterd's arguments: [`Launch::args`], then `--user _roster`
    /// unless the daemon stays root or a user is named already.
    fn rosterd_args(&self) -> Vec<String> {
        let mut args = self.args.clone();
        let named = args
            .iter()
            .any(|a| a == "--user" || a.starts_with("--user="));
        if self.as_root.is_none() && !named {
            args.extend(["--user".to_string(), daemon_user::NAME.to_string()]);
        }
        args
    }
}

/// Substitutes the fixture's directories into a configuration text.
fn render(text: &str, socket_dir: &Path, state_dir: &Path) -> String {
    let has_placeholders = text.contains("@SOCKET_DIR@") || text.contains("@STATE_DIR@");
    let text = text
        .replace("@SOCKET_DIR@", &socket_dir.display().to_string())
        .replace("@STATE_DIR@", &state_dir.display().to_string());
    let has_daemon_table = text.lines().any(|l| l.trim() == "[daemon]");
    if has_daemon_table {
        assert!(
            has_placeholders,
            "a [daemon] table in a test configuration must use @SOCKET_DIR@ and @STATE_DIR@"
        );
        return text;
    }
    format!(
        "{text}\n[daemon]\nsocket_dir = \"{}\"\nstate_dir = \"{}\"\nlog_level = \"debug\"\n",
        socket_dir.display(),
        state_dir.display()
    )
}

/// The built `rosterd`: next to the test executable's profile directory
/// (`target/<profile>/rosterd`), else where [`crate::paths::bin`] says.
/// The calling thread enters its namespace with `_roster` first
/// ([`daemon_user::enter`]): the rosterd it runs may drop to that user.
pub fn rosterd_bin() -> PathBuf {
    daemon_user::enter();
    rosterd_path()
}

/// Where [`rosterd_bin`] finds rosterd, without entering anything: beside
/// the running executable or in one of its parent directories, else the
/// workspace's debug build.
pub fn rosterd_path() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        for dir in exe.ancestors().skip(1) {
            let candidate = dir.join("rosterd");
            if candidate.is_file() {
                return candidate;
            }
        }
    }
    crate::paths::bin("rosterd")
}

/// True while `pid` exists and is not a zombie.
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3, after the parenthesised command name, is the state.
        Ok(stat) => stat
            .rsplit_once(") ")
            .map(|(_, rest)| !rest.starts_with('Z') && !rest.starts_with('X'))
            .unwrap_or(false),
        Err(_) => false,
    }
}

fn send_signal(pid: i32, sig: libc::c_int) {
    // SAFETY: kill(2) with a PID we started and a valid signal number.
    unsafe {
        libc::kill(pid, sig);
    }
}

impl Rosterd {
    /// Writes `config_text` (see the module docs) and starts rosterd,
    /// returning once `nss.sock` answers `Status`.
    pub fn start(config_text: &str) -> Rosterd {
        Rosterd::start_with(config_text, Launch::default())
    }

    /// [`Rosterd::start`] under `launch`. The fixture's directory is made
    /// 0711, so that the daemon's user reaches the files in it (and the
    /// NSS module trusts the socket directory `_roster` gets inside it:
    /// its parent is root's and not writable by others).
    pub fn start_with(config_text: &str, launch: Launch) -> Rosterd {
        daemon_user::enter();
        let dir = tempfile::Builder::new()
            .prefix("roster-rosterd-")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))
            .expect("chmod the rosterd fixture directory");
        let mut rd = Rosterd {
            dir,
            watchdog: None,
            pid: None,
            launch,
        };
        rd.write_config(config_text);
        rd.launch();
        rd
    }

    /// Replaces the configuration file (same substitutions as `start`);
    /// takes effect at the next [`Rosterd::reload`] or restart. The file
    /// is root:`_roster` 0640, as an installed system keeps it.
    pub fn write_config(&self, config_text: &str) {
        let text = render(config_text, &self.socket_dir(), &self.state_dir());
        let path = self.config_path();
        std::fs::write(&path, text).expect("write roster.toml");
        std::os::unix::fs::chown(&path, Some(0), Some(daemon_user::daemon_user().gid))
            .expect("chown root:_roster roster.toml");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640))
            .expect("chmod 0640 roster.toml");
    }

    /// The user the daemon runs as: `_roster`'s UID and GID, or root's
    /// (0, 0) under [`Launch::as_root`].
    pub fn user(&self) -> (u32, u32) {
        if self.launch.as_root.is_some() {
            (0, 0)
        } else {
            let u = daemon_user::daemon_user();
            (u.uid, u.gid)
        }
    }

    /// The fixture's directory (config, log, sockets, state).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The configuration file.
    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("roster.toml")
    }

    /// `[daemon] socket_dir`.
    pub fn socket_dir(&self) -> PathBuf {
        self.dir.path().join("run")
    }

    /// `[daemon] state_dir`.
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// Path of `nss.sock`.
    pub fn nss_socket(&self) -> PathBuf {
        self.socket_dir().join(roster_proto::NSS_SOCKET_NAME)
    }

    /// Path of `pam.sock`.
    pub fn pam_socket(&self) -> PathBuf {
        self.socket_dir().join(roster_proto::PAM_SOCKET_NAME)
    }

    /// The daemon's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("rosterd.log")).unwrap_or_default()
    }

    /// PID of the running daemon.
    pub fn pid(&self) -> Option<i32> {
        self.pid
    }

    /// True while the daemon process runs.
    pub fn is_running(&self) -> bool {
        self.pid.is_some_and(alive)
    }

    fn launch(&mut self) {
        assert!(self.watchdog.is_none(), "rosterd is already running");
        let log = self.dir.path().join("rosterd.log");
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"log=$1; shift; "$@" 2>>"$log" & pid=$!; echo $pid; read _ ; kill $pid 2>/dev/null; wait $pid"#)
            .arg("roster-rosterd-watchdog")
            .arg(&log)
            .args(&self.launch.wrapper)
            .arg(rosterd_bin())
            .arg("--foreground")
            .arg("--config")
            .arg(self.config_path())
            .args(self.launch.rosterd_args())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null()) // the shell's own "Killed" notices
            .spawn()
            .expect("spawn rosterd watchdog");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("watchdog stdout"))
            .read_line(&mut line)
            .expect("read rosterd pid");
        let pid: i32 = line.trim().parse().expect("watchdog printed the pid");
        self.watchdog = Some(child);
        self.pid = Some(pid);
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            let answer =
                Client::request_once(&self.nss_socket(), &Request::Status, Duration::from_secs(2));
            if let Ok(Response::Admin(Ok(_))) = answer {
                self.assert_user(pid);
                return;
            }
            if !alive(pid) {
                let log = self.log();
                self.stop();
                panic!("rosterd exited during start-up; its log:\n{log}");
            }
            if Instant::now() > deadline {
                let log = self.log();
                self.kill9();
                panic!(
                    "rosterd did not answer on nss.sock within {STARTUP_LIMIT:?}; its log:\n{log}"
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Checks that the serving daemon runs as [`Rosterd::user`]: real,
    /// effective, saved and file-system UID (it binds its sockets after
    /// the drop, so a daemon that answers has dropped).
    fn assert_user(&mut self, pid: i32) {
        let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
        let uids: Vec<u32> = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .map(|v| {
                v.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let want = self.user().0;
        if uids != [want; 4] {
            let log = self.log();
            self.kill9();
            panic!("rosterd runs with UIDs {uids:?}, not {want}; its log:\n{log}");
        }
    }

    /// SIGTERM, then waits until the daemon has exited.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.watchdog.take() {
            drop(child.stdin.take()); // the shell sends SIGTERM and waits
            let _ = child.wait();
        }
        self.pid = None;
    }

    /// SIGKILL (a crash): no clean-up by the daemon.
    pub fn kill9(&mut self) {
        if let Some(pid) = self.pid {
            send_signal(pid, libc::SIGKILL);
        }
        self.stop();
    }

    /// Stops the daemon (if running) and starts it again on the same
    /// configuration, sockets and state.
    pub fn restart(&mut self) {
        self.stop();
        self.launch();
    }

    /// Sends `sig` to the running daemon (a reload begun without waiting
    /// for it: [`Rosterd::reload`] waits).
    pub fn signal(&self, sig: libc::c_int) {
        send_signal(self.pid.expect("rosterd is running"), sig);
    }

    /// Sends SIGHUP and waits until the daemon logged the outcome (reloaded,
    /// or refused and kept the old configuration). Returns true if the new
    /// configuration was taken.
    pub fn reload(&mut self) -> bool {
        let count = |log: &str| {
            (
                log.matches("configuration reloaded").count(),
                log.matches("reload refused").count(),
            )
        };
        let before = count(&self.log());
        self.signal(libc::SIGHUP);
        let deadline = Instant::now() + STARTUP_LIMIT;
        loop {
            let now = count(&self.log());
            if now.0 > before.0 {
                return true;
            }
            if now.1 > before.1 {
                return false;
            }
            assert!(
                Instant::now() < deadline,
                "rosterd did not log the outcome of SIGHUP; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// One request on `nss.sock`.
    pub fn nss(&self, req: &Request) -> Response {
        Client::request_once(&self.nss_socket(), req, CALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("nss.sock call {req:?} failed: {e}"))
    }

    /// One request on `pam.sock`.
    pub fn pam(&self, req: &Request) -> Response {
        Client::request_once(&self.pam_socket(), req, CALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("pam.sock call failed: {e}"))
    }

    /// An admin command (its JSON, e.g. `{"cmd":"cache_stats"}`) on
    /// `pam.sock`; returns the answer as `rosterctl --json` prints it.
    pub fn admin(&self, json: &str) -> String {
        let cmd: roster_proto::AdminRequest = serde_json::from_str(json)
            .unwrap_or_else(|e| panic!("{json} is not an admin command: {e}"));
        match self.pam(&Request::Admin(cmd)) {
            Response::Admin(answer) => roster_proto::admin::document(&answer).to_string(),
            other => panic!("admin command {json} got {other:?}"),
        }
    }

    /// `Status` on `socket` (nss.sock or pam.sock): the report as
    /// `rosterctl status --json` prints it.
    pub fn status(&self, socket: &Path) -> serde_json::Value {
        let reply = Client::request_once(socket, &Request::Status, CALL_TIMEOUT)
            .unwrap_or_else(|e| panic!("Status on {} failed: {e}", socket.display()));
        match reply {
            Response::Admin(Ok(roster_proto::AdminReply::Status(report))) => report.document(),
            other => panic!("Status on {} got {other:?}", socket.display()),
        }
    }

    /// The status of the first (or only) domain, from pam.sock's full
    /// report (nss.sock answers a redacted one).
    pub fn domain_status(&self) -> serde_json::Value {
        self.status(&self.pam_socket())["domains"][0].clone()
    }

    /// Polls [`Rosterd::domain_status`] every 20 ms until `done` holds,
    /// for at most `within` (then panics with `what`, the status and the
    /// tail of the log); returns the status that satisfied it.
    pub fn wait_for_domain(
        &self,
        what: &str,
        within: std::time::Duration,
        done: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let st = self.domain_status();
            if done(&st) {
                return st;
            }
            if std::time::Instant::now() >= deadline {
                let log = self.log();
                let lines: Vec<&str> = log.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
                panic!(
                    "{what}: not within {within:?}: {st}\nrosterd log (tail):\n{}",
                    tail.join("\n")
                );
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

/// How many of the log's last lines a failing test shows.
const LOG_LINES_ON_FAILURE: usize = 60;

impl Drop for Rosterd {
    fn drop(&mut self) {
        if let Some(pid) = self.pid {
            send_signal(pid, libc::SIGKILL);
        }
        // A test that failed (is unwinding) shows the daemon's side of it:
        // the test harness prints stderr of failed tests only.
        if std::thread::panicking() {
            let log = self.log();
            let lines: Vec<&str> = log.lines().collect();
            let tail = &lines[lines.len().saturating_sub(LOG_LINES_ON_FAILURE)..];
            eprintln!(
                "--- the last {} lines of rosterd's log ({}):\n{}",
                tail.len(),
                self.dir.path().join("rosterd.log").display(),
                tail.join("\n")
            );
        }
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::render;
    use std::path::Path;

    #[test]
    fn render_fills_in_the_fixture_directories() {
        let (run, state) = (Path::new("/t/run"), Path::new("/t/state"));
        let appended = render("[[domain]]\nname = \"x\"\n", run, state);
        assert!(appended.contains("[daemon]\nsocket_dir = \"/t/run\"\nstate_dir = \"/t/state\""));
        let placed = render(
            "[daemon]\nsocket_dir = \"@SOCKET_DIR@\"\nstate_dir = \"@STATE_DIR@\"\n",
            run,
            state,
        );
        assert_eq!(
            placed,
            "[daemon]\nsocket_dir = \"/t/run\"\nstate_dir = \"/t/state\"\n"
        );
    }

    #[test]
    #[should_panic(expected = "@SOCKET_DIR@")]
    fn a_daemon_table_without_placeholders_is_refused() {
        render(
            "[daemon]\nsocket_dir = \"/run/roster\"\n",
            Path::new("/a"),
            Path::new("/b"),
        );
    }
}
