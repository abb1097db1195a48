//! Test programs written in C, compiled with the system's gcc.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Writes `source` to `dir/NAME.c`, compiles it with `gcc -O2 -Wall` into
/// `dir/NAME` with `flags` after the source (so `-lNAME` links), and
/// returns the binary's path; panics with gcc's messages when it fails.
pub fn compile(dir: &Path, name: &str, source: &str, flags: &[&str]) -> PathBuf {
    let src = dir.join(format!("{name}.c"));
    let bin = dir.join(name);
    std::fs::write(&src, source).unwrap_or_else(|e| panic!("write {}: {e}", src.display()));
    let out = Command::new("gcc")
        .args(["-O2", "-Wall"])
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .args(flags)
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc failed on {}: {}",
        src.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    bin
}
