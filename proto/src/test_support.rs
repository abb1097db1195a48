//! Helpers for the tests of roster's crates (feature `test-support`).

/// Runs the ignored test `test` (its path in the calling test binary) in a
/// private mount namespace whose `TMPDIR` is a tmpfs of `size` (`mount`'s
/// form: `4m`), and fails unless it passed: for a test of what a full file
/// system does. Needs root (`unshare`, `mount`), as the suite runs.
#[track_caller]
pub fn run_ignored_on_small_tmpfs(test: &str, size: &str) {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = tempfile::tempdir().expect("a directory for the tmpfs");
    let script = format!(
        "mount -t tmpfs -o size={size} tmpfs '{d}' && TMPDIR='{d}' '{exe}' --ignored --exact {test}",
        d = dir.path().display(),
        exe = exe.display()
    );
    let out = std::process::Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .output()
        .expect("run unshare");
    assert_one_test_passed(&out);
}

/// Fails unless `out`, of a test binary run on one test (`--exact NAME`),
/// says that test passed (exit status 0 and "1 passed"), showing all it
/// wrote.
#[track_caller]
pub fn assert_one_test_passed(out: &std::process::Output) {
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("1 passed"),
        "{}\n{text}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
}
