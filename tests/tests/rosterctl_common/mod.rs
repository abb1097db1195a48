//! Shared helpers of the rosterctl end-to-end tests (`rosterctl_test`,
//! `rosterctl_files`, `rosterctl_daemon`): finding and running the built
//! rosterctl, and reading what it printed.

#![allow(dead_code)]

use roster_e2e::paths;
use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

/// The built rosterctl. `paths::bin` can stop at `target/debug/deps`
/// (which holds `libnss_roster.so` too), so look one level up as well.
/// The calling thread enters its namespace with `_roster` first: a root
/// `rosterctl config check` checks secret files as that user.
pub fn rosterctl_bin() -> PathBuf {
    roster_e2e::daemon_user::enter();
    let dir = paths::profile_dir();
    [
        dir.join("rosterctl"),
        dir.parent()
            .map(|p| p.join("rosterctl"))
            .unwrap_or_default(),
    ]
    .into_iter()
    .find(|p| p.is_file())
    .unwrap_or_else(|| paths::bin("rosterctl"))
}

/// rosterctl with `--config CONFIG` when given, then `args`.
fn command(config: Option<&Path>, args: &[&str]) -> Command {
    let mut cmd = Command::new(rosterctl_bin());
    if let Some(c) = config {
        cmd.arg("--config").arg(c);
    }
    cmd.args(args);
    cmd
}

/// Runs rosterctl (`--config CONFIG` when given, then `args`) with no
/// input and returns what it printed.
pub fn run(config: Option<&Path>, args: &[&str]) -> Output {
    command(config, args)
        .stdin(Stdio::null())
        .output()
        .expect("run rosterctl")
}

/// Runs rosterctl (`--config CONFIG` when given, then `args`) with `input`
/// on its stdin and returns what it printed.
pub fn run_with_input(config: Option<&Path>, args: &[&str], input: &str) -> Output {
    let mut cmd = command(config, args);
    cmd.stdin(Stdio::piped());
    let child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    feed(child.expect("run rosterctl"), input)
}

/// Writes `input` to the stdin of `child` (spawned with piped stdio),
/// closes it and waits for the output.
pub fn feed(mut child: std::process::Child, input: &str) -> Output {
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

/// Exit status, stdout and stderr of `o`, for assertion messages.
pub fn text(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The stdout of `o` as JSON; panics with [`text`] when it is not.
pub fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}", text(o)))
}
