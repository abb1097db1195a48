//! Configuration errors as an administrator meets them: a rendered
//! roster.toml with one fault, checked like `rosterd --check-config`; the
//! error names the file, the line and the key.

use crate::directory_common;
use directory_common as common;

use common::tiny_ldif;
use roster_daemon::config::check;
use roster_e2e::config::{domain_table, roster_toml, write_roster_toml, DomainOptions};
use roster_e2e::slapd::Slapd;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::OnceLock;

fn slapd() -> &'static Slapd {
    static S: OnceLock<Slapd> = OnceLock::new();
    S.get_or_init(|| Slapd::start_with_ldif(&tiny_ldif()))
}

/// 1-based line of the first line of `path` starting with `prefix`.
fn line_of(path: &Path, prefix: &str) -> usize {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .position(|l| l.starts_with(prefix))
        .unwrap_or_else(|| panic!("no line starting with {prefix:?}"))
        + 1
}

#[test]
fn rendered_configuration_is_valid() {
    let t = tempfile::tempdir().unwrap();
    let path = write_roster_toml(slapd(), t.path(), &DomainOptions::default());
    let cfg = check(&path).unwrap();
    assert_eq!(
        cfg.domains[0].bind_dn.as_deref(),
        Some(slapd().service_dn())
    );
}

#[test]
fn group_readable_password_file() {
    let t = tempfile::tempdir().unwrap();
    let path = write_roster_toml(slapd(), t.path(), &DomainOptions::default());
    let pw = t.path().join("bind_password");
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Readable through a group that is not rosterd's (nogroup).
    std::os::unix::fs::chown(&pw, None, Some(65534)).unwrap();
    let e = check(&path).unwrap_err().to_string();
    let line = line_of(&path, "bind_password_file");
    assert!(
        e.starts_with(&format!(
            "{}:{line}: domain \"example\" key `bind_password_file`",
            path.display()
        )),
        "{e}"
    );
    assert!(e.contains("0640"), "{e}");
    assert!(!e.contains(slapd().service_password()), "{e}");
}

#[test]
fn unknown_key_and_bad_type() {
    let t = tempfile::tempdir().unwrap();
    for (extra, key) in [
        ("user_filterr = \"(uid=*)\"", "user_filterr"),
        ("page_size = \"many\"", "page_size"),
        ("uris = \"ldap://one\"", "uris"),
    ] {
        let mut o = DomainOptions {
            extra: vec![extra.to_string()],
            ..DomainOptions::default()
        };
        if key == "uris" {
            // Replace the rendered list by a string.
            o.extra.clear();
        }
        let mut text = roster_toml(slapd(), t.path(), &o);
        if key == "uris" {
            let start = text.find("uris = [").unwrap();
            let end = start + text[start..].find('\n').unwrap();
            text.replace_range(start..end, extra);
        }
        let path = t.path().join("roster.toml");
        std::fs::write(&path, &text).unwrap();
        let e = check(&path).unwrap_err().to_string();
        let line = line_of(&path, key);
        assert!(e.starts_with(&format!("{}:{line}:", path.display())), "{e}");
        assert!(e.contains(key), "{e}");
    }
}

#[test]
fn overlapping_idmap_ranges() {
    let t = tempfile::tempdir().unwrap();
    let one = DomainOptions {
        name: "one".into(),
        extra: vec![
            "[domain.idmap]".into(),
            "range_low = 10000".into(),
            "range_high = 20000".into(),
        ],
        ..DomainOptions::default()
    };
    let two = DomainOptions {
        name: "two".into(),
        extra: vec![
            "[domain.idmap]".into(),
            "range_low = 19000".into(),
            "range_high = 29000".into(),
        ],
        ..DomainOptions::default()
    };
    let text = format!(
        "{}\n{}",
        roster_toml(slapd(), t.path(), &one),
        domain_table(slapd(), t.path(), &two)
    );
    let path = t.path().join("roster.toml");
    std::fs::write(&path, &text).unwrap();
    let e = check(&path).unwrap_err().to_string();
    // The second domain's range_low.
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.trim().starts_with("range_low"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert!(
        e.starts_with(&format!(
            "{}:{line}: domain \"two\" key `idmap.range_low`",
            path.display()
        )),
        "{e}"
    );
    assert!(e.contains("overlap") && e.contains("19000-20000"), "{e}");
}

#[test]
fn password_bind_over_plain_ldap_is_refused_unless_allowed() {
    let t = tempfile::tempdir().unwrap();
    let refused = DomainOptions {
        extra: vec!["allow_insecure_bind = false".into()],
        ..DomainOptions::default()
    };
    let path = write_roster_toml(slapd(), t.path(), &refused);
    let e = check(&path).unwrap_err().to_string();
    let line = line_of(&path, "bind_dn");
    assert!(
        e.starts_with(&format!(
            "{}:{line}: domain \"example\" key `bind_dn`",
            path.display()
        )),
        "{e}"
    );
    assert!(
        e.contains(&slapd().ldap_uri()) && e.contains("allow_insecure_bind"),
        "{e}"
    );
    // StartTLS, or the explicit opt-in: accepted.
    for o in [
        DomainOptions {
            transport: roster_e2e::config::Transport::StartTls,
            ..DomainOptions::default()
        },
        DomainOptions {
            extra: vec!["allow_insecure_bind = true".into()],
            ..DomainOptions::default()
        },
    ] {
        let t = tempfile::tempdir().unwrap();
        let path = write_roster_toml(slapd(), t.path(), &o);
        check(&path).unwrap_or_else(|e| panic!("{o:?}: {e}"));
    }
}

#[test]
fn password_file_owned_by_another_user_is_refused() {
    let t = tempfile::tempdir().unwrap();
    let path = write_roster_toml(slapd(), t.path(), &DomainOptions::default());
    let pw = t.path().join("bind_password");
    // The tests run as root: give the file to an ordinary UID.
    std::os::unix::fs::chown(&pw, Some(64014), None).unwrap();
    let e = check(&path).unwrap_err().to_string();
    let line = line_of(&path, "bind_password_file");
    assert!(
        e.starts_with(&format!(
            "{}:{line}: domain \"example\" key `bind_password_file`",
            path.display()
        )),
        "{e}"
    );
    assert!(e.contains("owned by uid 64014"), "{e}");
    assert!(!e.contains(slapd().service_password()), "{e}");
}
