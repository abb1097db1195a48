//! `roster.toml` from arbitrary text: loading either succeeds or returns an
//! error naming file:line:key — never a panic — and a loaded configuration
//! builds its ID mapping (in memory) or refuses it with an error. The
//! target runs in an empty scratch directory and skips texts with a string
//! value naming a device, kernel or runtime file, so that the file keys
//! (ca_file, bind_password_file, ...) can never open /dev/zero or a FIFO
//! and hang the run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::config::Config;
use std::sync::Once;

fn scratch_cwd() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let dir = std::env::temp_dir().join(format!("roster-fuzz-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        std::env::set_current_dir(&dir).expect("enter scratch directory");
    });
}

fn names_special_file(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(s) => ["/dev", "/proc", "/sys", "/run", "/var"]
            .iter()
            .any(|p| s.contains(p)),
        toml::Value::Array(a) => a.iter().any(names_special_file),
        toml::Value::Table(t) => t.values().any(names_special_file),
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    scratch_cwd();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(value) = text.parse::<toml::Table>() {
        if names_special_file(&toml::Value::Table(value)) {
            return;
        }
    }
    match Config::from_str(text, "fuzz.toml") {
        Ok(cfg) => {
            let _ = cfg.build_idmap(None);
            for d in cfg.enabled_domains() {
                let _ = (d.user_base(), d.group_base());
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.toml"), "error without origin: {msg}");
        }
    }
});
