//! The rosterd command line and its contract with systemd: `--check-config`
//! exit codes, readiness notification, enumeration when enabled.

use roster_e2e::dataset::{self, BULK_USERS, MANY_GROUPS_COUNT};
use roster_e2e::rosterd::{rosterd_bin, Rosterd};
use roster_e2e::slapd::Slapd;
use roster_proto::{Request, Response};
use std::collections::HashSet;
use std::os::unix::net::UnixDatagram;
use std::process::{Command, Stdio};
use std::time::Duration;

fn domain(slapd: &Slapd) -> String {
    let pw = slapd.write_bind_password_file(slapd.dir());
    format!(
        "[[domain]]\nname = \"example\"\nuris = [\"{}\"]\nbase_dn = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\nallow_insecure_bind = true\n",
        slapd.ldap_uri(),
        dataset::BASE_DN,
        slapd.service_dn(),
        pw.display()
    )
}

#[test]
fn check_config_exit_codes_name_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.toml");
    std::fs::write(
        &good,
        "[[domain]]\nname = \"example\"\nuris = [\"ldap://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\n",
    )
    .unwrap();
    let out = Command::new(rosterd_bin())
        .args(["--check-config", "--config"])
        .arg(&good)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let bad = dir.path().join("bad.toml");
    std::fs::write(&bad, "[cache]\nentry_ttl = \"soon\"\n").unwrap();
    let out = Command::new(rosterd_bin())
        .args(["--check-config", "--config"])
        .arg(&bad)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("bad.toml") && err.contains("entry_ttl"),
        "{err}"
    );

    let missing = dir.path().join("missing.toml");
    let out = Command::new(rosterd_bin())
        .args(["--check-config", "--config"])
        .arg(&missing)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("missing.toml"));
}

#[test]
fn check_config_refuses_overlapping_id_ranges_and_warns_about_reserved_ids() {
    let dir = tempfile::tempdir().unwrap();
    let domain = |name: &str, port: u16, idmap: &str| {
        format!(
            "[[domain]]\nname = \"{name}\"\nuris = [\"ldap://127.0.0.1:{port}\"]\n\
             base_dn = \"dc={name},dc=test\"\n[domain.idmap]\n{idmap}\n\n"
        )
    };
    let check = |text: &str| {
        let path = dir.path().join("roster.toml");
        std::fs::write(&path, text).unwrap();
        let out = Command::new(rosterd_bin())
            .args(["--check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // An LDAP domain and an AD-like rid domain whose ranges overlap.
    let text = format!(
        "{}{}",
        domain("ldap", 1, "range_low = 10000\nrange_high = 99999"),
        domain(
            "ad",
            2,
            "backend = \"rid\"\nrange_low = 90000\nrange_high = 199999"
        )
    );
    let (ok, err) = check(&text);
    let line = text
        .lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with("range_low"))
        .nth(1)
        .unwrap()
        .0
        + 1;
    assert!(!ok, "overlapping ranges were accepted");
    assert!(
        err.contains(&format!(
            "roster.toml:{line}: domain \"ad\" key `idmap.range_low`"
        )) && err.contains("overlaps"),
        "{err}"
    );
    // Two domains, one rfc2307 without a range.
    let (ok, err) = check(&format!(
        "{}{}",
        domain("ldap", 1, "backend = \"rfc2307\""),
        domain(
            "ad",
            2,
            "backend = \"rid\"\nrange_low = 100000\nrange_high = 199999"
        )
    ));
    assert!(
        !ok && err.contains("domain \"ldap\" key `idmap.range_low`"),
        "{err}"
    );
    // Apart: valid; the range holding 65534 is reported, not refused.
    let (ok, err) = check(&format!(
        "{}{}",
        domain("ldap", 1, "range_low = 10000\nrange_high = 99999"),
        domain(
            "ad",
            2,
            "backend = \"rid\"\nrange_low = 100000\nrange_high = 199999"
        )
    ));
    assert!(ok, "{err}");
    assert!(err.contains("warning:") && err.contains("65534"), "{err}");
}

#[test]
fn readiness_is_reported_to_systemd_and_sockets_answer() {
    let slapd = Slapd::start();
    let dir = tempfile::tempdir().unwrap();
    // rosterd runs as its user, as every test's does: it reaches its
    // configuration and the notification socket (systemd's is writable
    // by the service) through the directory.
    let user = roster_e2e::daemon_user::daemon_user();
    roster_e2e::daemon_user::share_dir(dir.path());
    let notify = dir.path().join("notify.sock");
    let listener = UnixDatagram::bind(&notify).unwrap();
    std::os::unix::fs::chown(&notify, Some(user.uid), Some(user.gid)).unwrap();
    listener
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let config = dir.path().join("roster.toml");
    std::fs::write(
        &config,
        format!(
            "{}\n[daemon]\nsocket_dir = \"{}\"\nstate_dir = \"{}\"\n",
            domain(&slapd),
            dir.path().join("run").display(),
            dir.path().join("state").display()
        ),
    )
    .unwrap();
    let mut child = Command::new(rosterd_bin())
        .arg("--config")
        .arg(&config)
        .args(["--user", roster_e2e::daemon_user::NAME])
        .env("NOTIFY_SOCKET", &notify)
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let got = listener.recv(&mut buf);
    // Ready means serving: the socket answers at once.
    let status = roster_proto::Client::request_once(
        &dir.path().join("run/nss.sock"),
        &Request::Status,
        Duration::from_secs(10),
    );
    let _ = child.kill();
    let _ = child.wait();
    let n = got.expect("READY=1 datagram");
    assert_eq!(&buf[..n], b"READY=1");
    assert!(matches!(status, Ok(Response::Admin(Ok(_)))), "{status:?}");
    // State and socket directories were created with safe modes.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &str| {
        std::fs::metadata(dir.path().join(p))
            .unwrap()
            .permissions()
            .mode()
            & 0o777
    };
    assert_eq!(mode("run"), 0o755);
    assert_eq!(mode("state"), 0o700);
    // ... and given to the daemon's user.
    use std::os::unix::fs::MetadataExt;
    for d in ["run", "state"] {
        let m = std::fs::metadata(dir.path().join(d)).unwrap();
        assert_eq!((m.uid(), m.gid()), (user.uid, user.gid), "{d}");
    }
}

#[test]
fn enumeration_pages_through_every_user_and_group_when_enabled() {
    let slapd = Slapd::start();
    let off = Rosterd::start(&domain(&slapd));
    assert_eq!(
        off.nss(&Request::ListUsers {
            offset: 0,
            limit: 100
        }),
        Response::Users {
            entries: vec![],
            more: false
        },
        "enumeration is off by default"
    );
    drop(off);
    let rd = Rosterd::start(&format!("[cache]\nenumerate = true\n\n{}", domain(&slapd)));
    let mut names = HashSet::new();
    let mut offset = 0;
    loop {
        match rd.nss(&Request::ListUsers {
            offset,
            limit: 1000,
        }) {
            Response::Users { entries, more } => {
                assert!(!entries.is_empty() || !more);
                for u in &entries {
                    assert!(u.uid >= 1000, "{u:?}");
                    assert!(names.insert(u.name.clone()), "{} listed twice", u.name);
                }
                offset += entries.len() as u32;
                if !more {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        names.len() >= BULK_USERS as usize + 4,
        "{} users",
        names.len()
    );
    assert!(names.contains("alice") && names.contains(&dataset::bulk_user(1)));
    assert!(!names.contains("rootclone") && !names.contains("lowuid"));
    let mut groups = HashSet::new();
    let mut offset = 0;
    loop {
        match rd.nss(&Request::ListGroups { offset, limit: 300 }) {
            Response::Groups { entries, more } => {
                for g in &entries {
                    assert!(groups.insert(g.name.clone()), "{} listed twice", g.name);
                }
                offset += entries.len() as u32;
                if !more {
                    break;
                }
            }
            other => panic!("{other:?}"),
        }
    }
    assert!(
        groups.len() >= MANY_GROUPS_COUNT as usize + 3,
        "{} groups",
        groups.len()
    );
    assert!(groups.contains("engineers") && groups.contains(&dataset::many_group(0)));
}
