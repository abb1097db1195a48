//! `roster.toml` from arbitrary text: loading either succeeds or returns an
//! error naming file:line:key — never a panic — and a loaded configuration
//! builds its ID mapping (in memory) or refuses it with an error. The
//! target runs in an empty scratch directory and skips texts with a string
//! value naming a device, kernel or runtime file, so that the file keys
//! (ca_file, bind_password_file, ...) can never open /dev/zero or a FIFO
//! and hang the run.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster_daemon::config::{Config, SecretReader};
use std::sync::OnceLock;

const SPECIAL: [&str; 5] = ["/dev", "/proc", "/sys", "/run", "/var"];

/// The reader `Config::from_str` would use (this process), looked up once:
/// `SecretReader::current` asks NSS for the `_roster` group (through
/// /etc/group and systemd's userdb on this host), which cost more than
/// the whole parse when done for every input.
fn reader() -> SecretReader {
    static R: OnceLock<SecretReader> = OnceLock::new();
    *R.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("roster-fuzz-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("scratch directory");
        std::env::set_current_dir(&dir).expect("enter scratch directory");
        SecretReader::current()
    })
}

fn names_special_file(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(s) => SPECIAL.iter().any(|p| s.contains(p)),
        toml::Value::Array(a) => a.iter().any(names_special_file),
        toml::Value::Table(t) => t.values().any(names_special_file),
        _ => false,
    }
}

/// Whether some string value of `text` may name a special file. Without a
/// backslash (escapes) a string can only hold such a path if the text holds
/// it literally, so most texts skip the second TOML parse.
fn may_name_special_file(text: &str) -> bool {
    if !text.contains('\\') && !SPECIAL.iter().any(|p| text.contains(p)) {
        return false;
    }
    match text.parse::<toml::Table>() {
        Ok(value) => names_special_file(&toml::Value::Table(value)),
        Err(_) => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let reader = reader();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if may_name_special_file(text) {
        return;
    }
    match Config::from_str_as(text, "fuzz.toml", reader) {
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
