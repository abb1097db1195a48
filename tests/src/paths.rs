//! Where the built binaries and modules are.

use std::path::PathBuf;

/// The cargo target directory of the running build (`target/`).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .join("target")
}

/// The profile directory the running test was built in (`target/debug` or
/// `target/release`), found from the test executable's own path.
pub fn profile_dir() -> PathBuf {
    if let Ok(exe) = std::env::current_exe() {
        // target/<profile>/deps/<test-binary> or target/<profile>/<binary>
        // `deps/` holds copies of the cdylibs too: the profile directory is
        // the first ancestor that is not `deps` and holds a built binary.
        for dir in exe.ancestors().skip(1) {
            if dir.file_name().is_some_and(|n| n == "deps") {
                continue;
            }
            if dir.join("rosterd").is_file() || dir.join("rosterctl").is_file() {
                return dir.to_path_buf();
            }
        }
    }
    target_dir().join("debug")
}

/// Path of a workspace binary (`rosterd`, `rosterctl`, ...).
pub fn bin(name: &str) -> PathBuf {
    let path = profile_dir().join(name);
    assert!(
        path.exists(),
        "{} is not built: run `cargo build --workspace` first",
        path.display()
    );
    path
}

/// Path of a built cdylib (`libnss_roster.so`, `libpam_roster.so`).
pub fn module(file: &str) -> PathBuf {
    bin(file)
}

/// The multiarch triplet of the host (`x86_64-linux-gnu`).
pub fn multiarch() -> String {
    let out = std::process::Command::new("gcc")
        .arg("-print-multiarch")
        .output()
        .ok()
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    match out {
        Some(s) if !s.is_empty() => s,
        _ => format!("{}-linux-gnu", std::env::consts::ARCH),
    }
}
