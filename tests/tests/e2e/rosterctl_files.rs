//! rosterctl commands that edit or read files, or need no directory:
//! `domain enable|disable|remove` on a temp config (comments kept, atomic,
//! validated), `nsswitch enable|disable` on a temp file (backup,
//! idempotent), `config check`, completions, man pages, and the answers
//! when rosterd is not running.

use crate::rosterctl_common;

use rosterctl_common::{feed, json, rosterctl_bin, text};
use serde_json::Value;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn rosterctl(args: &[&str]) -> Output {
    rosterctl_common::run(None, args)
}

/// A two-domain configuration with comments, and an empty socket dir (no
/// daemon).
fn config_dir() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let text = format!(
        r#"# roster test configuration
[daemon]
socket_dir = "{d}/run" # nobody listens here
state_dir = "{d}/state"

# First directory: the main one.
[[domain]]
name = "corp"
uris = ["ldap://127.0.0.1:1"]   # primary server
base_dn = "dc=corp,dc=test"

[domain.attributes]
username = "uid"

[domain.idmap]
range_low = 300000
range_high = 399999

# Second directory.
[[domain]]
name = "lab"
enabled = true  # switched by rosterctl
uris = ["ldap://127.0.0.1:2"]
base_dn = "dc=lab,dc=test"

[domain.idmap]
range_low = 100000
range_high = 199999
"#,
        d = dir.path().display()
    );
    std::fs::create_dir_all(dir.path().join("run")).unwrap();
    let path = dir.path().join("roster.toml");
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    (dir, path)
}

fn domains(path: &Path) -> Vec<(String, bool)> {
    let t: toml::Table = toml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    t.get("domain")
        .and_then(|d| d.as_array())
        .map(|a| {
            a.iter()
                .map(|d| {
                    (
                        d["name"].as_str().unwrap().to_string(),
                        d.get("enabled").and_then(|e| e.as_bool()).unwrap_or(true),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn domain_disable_enable_remove_round_trip_keeps_comments() {
    let (_dir, cfg) = config_dir();
    let c = cfg.to_str().unwrap();
    let original = std::fs::read_to_string(&cfg).unwrap();

    let out = rosterctl(&["--config", c, "domain", "disable", "corp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("rosterd is not running"),
        "{}",
        text(&out)
    );
    assert_eq!(
        domains(&cfg),
        vec![("corp".into(), false), ("lab".into(), true)]
    );
    let after = std::fs::read_to_string(&cfg).unwrap();
    for kept in [
        "# roster test configuration",
        "# nobody listens here",
        "# First directory: the main one.",
        "# primary server",
        "# Second directory.",
        "# switched by rosterctl",
    ] {
        assert!(after.contains(kept), "{kept} lost:\n{after}");
    }
    assert_eq!(
        std::fs::metadata(&cfg).unwrap().permissions().mode() & 0o777,
        0o640,
        "mode kept"
    );

    // Disabling again changes nothing.
    let out = rosterctl(&["--config", c, "--json", "domain", "disable", "corp"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["changed"], Value::Bool(false));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), after);

    // An existing `enabled` keeps its comment.
    let out = rosterctl(&["--config", c, "domain", "disable", "lab"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(std::fs::read_to_string(&cfg)
        .unwrap()
        .contains("enabled = false  # switched by rosterctl"));
    for name in ["corp", "lab"] {
        let out = rosterctl(&["--config", c, "domain", "enable", name]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    }
    assert_eq!(
        domains(&cfg),
        vec![("corp".into(), true), ("lab".into(), true)]
    );

    // Remove needs a terminal or --yes.
    let out = rosterctl(&["--config", c, "domain", "remove", "corp"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("--yes"), "{}", text(&out));
    assert_eq!(domains(&cfg).len(), 2);

    let out = rosterctl(&["--config", c, "--json", "domain", "remove", "corp", "--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["action"], "removed");
    assert_eq!(domains(&cfg), vec![("lab".into(), true)]);
    let last = std::fs::read_to_string(&cfg).unwrap();
    assert!(
        !last.contains("First directory") && !last.contains("username"),
        "{last}"
    );
    assert!(
        last.contains("# Second directory.") && last.contains("# nobody listens here"),
        "{last}"
    );
    assert_ne!(last, original);

    // An unknown domain is an error that names the known ones.
    let out = rosterctl(&["--config", c, "domain", "disable", "nope"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out).contains("domains: lab"), "{}", text(&out));
}

#[test]
fn domain_edit_that_would_not_load_is_refused() {
    let (_dir, cfg) = config_dir();
    // Two domains whose names collide after the edit cannot happen, but a
    // file that is already invalid elsewhere must not be rewritten.
    let broken = std::fs::read_to_string(&cfg)
        .unwrap()
        .replace("state_dir = ", "state_dir_typo = ");
    std::fs::write(&cfg, &broken).unwrap();
    let out = rosterctl(&[
        "--config",
        cfg.to_str().unwrap(),
        "domain",
        "disable",
        "corp",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("left unchanged"), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), broken);
}

#[test]
fn nsswitch_enable_disable_makes_a_backup_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("nsswitch.conf");
    let original = "# test copy\npasswd:         files systemd\ngroup:          files systemd\nshadow:         files\nhosts:          files dns\n";
    std::fs::write(&file, original).unwrap();
    let f = file.to_str().unwrap();
    let backup = dir.path().join("nsswitch.conf.roster-backup");

    let out = rosterctl(&["nsswitch", "enable", "--file", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let on = std::fs::read_to_string(&file).unwrap();
    assert_eq!(
        on,
        "# test copy\npasswd:         files roster systemd\ngroup:          files roster systemd\nshadow:         files\nhosts:          files dns\n"
    );
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), original);

    let out = rosterctl(&["--json", "nsswitch", "enable", "--file", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(json(&out)["changed"].as_array().unwrap().len(), 0);
    assert_eq!(std::fs::read_to_string(&file).unwrap(), on);

    let out = rosterctl(&["nsswitch", "disable", "--file", f]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);
    assert_eq!(std::fs::read_to_string(&backup).unwrap(), on);
    let out = rosterctl(&["nsswitch", "disable", "--file", f]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(std::fs::read_to_string(&file).unwrap(), original);

    let out = rosterctl(&[
        "nsswitch",
        "enable",
        "--file",
        dir.path().join("missing").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn config_check_names_the_line_of_a_bad_key() {
    let (_dir, cfg) = config_dir();
    let c = cfg.to_str().unwrap();
    let out = rosterctl(&["--config", c, "config", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("OK: "),
        "{}",
        text(&out)
    );

    let bad = std::fs::read_to_string(&cfg).unwrap().replace(
        "base_dn = \"dc=lab,dc=test\"",
        "base_dn = \"dc=lab,dc=test\"\npage_size = \"big\"",
    );
    std::fs::write(&cfg, bad).unwrap();
    let line = std::fs::read_to_string(&cfg)
        .unwrap()
        .lines()
        .position(|l| l.starts_with("page_size"))
        .unwrap()
        + 1;
    let out = rosterctl(&["--config", c, "config", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    let expected = format!("{c}:{line}: domain \"lab\" key `page_size`: invalid type");
    assert!(t.starts_with(&expected), "expected {expected} in {t}");
    let out = rosterctl(&["--config", c, "--json", "config", "check"]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["ok"], Value::Bool(false));
    assert!(
        v["error"].as_str().unwrap().contains(&format!(":{line}:")),
        "{v}"
    );
}

#[test]
fn config_check_names_the_backend_of_a_misplaced_idmap_key() {
    let (_dir, cfg) = config_dir();
    let c = cfg.to_str().unwrap();
    let bad = std::fs::read_to_string(&cfg).unwrap().replace(
        "range_low = 100000",
        "range_low = 100000\nautorid_low = 5000000",
    );
    std::fs::write(&cfg, &bad).unwrap();
    let line = bad
        .lines()
        .position(|l| l.starts_with("autorid_low"))
        .unwrap()
        + 1;
    let out = rosterctl(&["--config", c, "config", "check"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    let expected = format!(
        "{c}:{line}: domain \"lab\" key `idmap.autorid_low`: does not apply to backend \"rfc2307\": it is a key of backend \"autorid\""
    );
    assert!(t.starts_with(&expected), "expected {expected} in {t}");
}

#[test]
fn daemon_commands_say_when_rosterd_is_not_running() {
    let (dir, cfg) = config_dir();
    let c = cfg.to_str().unwrap();
    let out = rosterctl(&["--config", c, "status"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("rosterd is not running"),
        "{}",
        text(&out)
    );
    // --socket-dir overrides the configuration.
    let other = dir.path().join("elsewhere");
    let out = rosterctl(&[
        "--config",
        c,
        "--json",
        "status",
        "--socket-dir",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let v = json(&out);
    assert_eq!(v["running"], Value::Bool(false));
    assert!(
        v["socket"]
            .as_str()
            .unwrap()
            .starts_with(other.to_str().unwrap()),
        "{v}"
    );
    for args in [
        vec!["cache", "stats"],
        vec!["cache", "flush", "--all"],
        vec!["lookup", "user", "alice"],
    ] {
        let mut full = vec!["--config", c];
        full.extend(args.iter());
        let out = rosterctl(&full);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {}", text(&out));
        assert!(
            text(&out).contains("rosterd is not running"),
            "{args:?}: {}",
            text(&out)
        );
    }
}

#[test]
fn completions_and_man_pages_come_from_the_cli() {
    for shell in ["bash", "zsh", "fish"] {
        let out = rosterctl(&["completions", shell]);
        assert_eq!(out.status.code(), Some(0), "{}", text(&out));
        let t = String::from_utf8_lossy(&out.stdout);
        assert!(
            t.contains("rosterctl") && t.contains("nsswitch") && t.contains("flush"),
            "{shell}: {t}"
        );
    }
    if Command::new("bash").arg("--version").output().is_ok() {
        let out = rosterctl(&["completions", "bash"]);
        let mut child = Command::new("bash")
            .arg("-n")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(&out.stdout).unwrap();
        assert!(child.wait().unwrap().success(), "the bash script parses");
    }
    let dir = tempfile::tempdir().unwrap();
    let out = rosterctl(&["manpage", "--dir", dir.path().to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    for page in [
        "rosterctl.1",
        "rosterctl-test.1",
        "rosterctl-status.1",
        "rosterctl-domain-remove.1",
        "rosterctl-nsswitch-enable.1",
    ] {
        let t = std::fs::read_to_string(dir.path().join(page))
            .unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(t.starts_with(".ie") || t.contains(".TH"), "{page}");
    }
    let out = rosterctl(&["manpage"]);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(".TH rosterctl"),
        "{}",
        text(&out)
    );
    let out = rosterctl(&["--help"]);
    assert_eq!(out.status.code(), Some(0));
    let out = rosterctl(&["cache", "flush", "--help"]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("--group"));
    let out = rosterctl(&["cache", "flush"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", text(&out));
}

/// Runs rosterctl on a pseudo-terminal (util-linux `script`), typing `input`.
fn on_a_terminal(args: &[&str], input: &str) -> Output {
    let mut cmd = rosterctl_bin().display().to_string();
    for a in args {
        cmd.push_str(&format!(" '{a}'"));
    }
    let child = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run script(1) from util-linux");
    feed(child, input)
}

#[test]
fn domain_remove_asks_on_a_terminal() {
    let (_dir, cfg) = config_dir();
    let c = cfg.to_str().unwrap();
    let out = on_a_terminal(&["--config", c, "domain", "remove", "corp"], "n\n");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("[y/N]"), "{}", text(&out));
    assert_eq!(domains(&cfg).len(), 2, "answer no keeps the domain");
    let out = on_a_terminal(&["--config", c, "domain", "remove", "corp"], "y\n");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(domains(&cfg), vec![("lab".into(), true)]);
}
