//! `rosterctl test`, `users` and `groups` against a real slapd: every
//! failure names its step (bind, tls, tcp, base_dn), the broken entries are
//! listed with their reasons, users with SSH keys are counted, and
//! `--json` parses.

use crate::rosterctl_common;

use roster_e2e::dataset::{self, BROKEN_USERS};
use roster_e2e::ports::closed_port;
use roster_e2e::slapd::Slapd;
use rosterctl_common::{json, text};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::OnceLock;

/// One slapd for the whole test process (its watchdog stops it when the
/// process exits).
fn slapd() -> &'static Slapd {
    static SLAPD: OnceLock<Slapd> = OnceLock::new();
    SLAPD.get_or_init(Slapd::start)
}

/// How the domain reaches the server in one scenario.
struct Domain<'a> {
    uri: String,
    start_tls: bool,
    ca_file: &'a Path,
    password: &'a str,
    base_dn: &'a str,
    extra: &'a str,
}

impl<'a> Domain<'a> {
    fn good(s: &'a Slapd) -> Domain<'a> {
        Domain {
            uri: s.ldap_uri(),
            start_tls: true,
            ca_file: s.ca_file(),
            password: s.service_password(),
            base_dn: s.base_dn(),
            extra: "",
        }
    }
}

/// A temp dir with roster.toml (and the password file) for `d`.
fn config(d: &Domain) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let pw = dir.path().join("bind_password");
    std::fs::write(&pw, d.password).unwrap();
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let text = format!(
        r#"[daemon]
socket_dir = "{dir}/run"
state_dir = "{dir}/state"

[[domain]]
name = "example"
uris = ["{uri}"]
start_tls = {start_tls}
ca_file = "{ca}"
bind_dn = "{bind_dn}"
bind_password_file = "{pw}"
base_dn = "{base}"
connect_timeout = 2
{extra}
"#,
        dir = dir.path().display(),
        uri = d.uri,
        start_tls = d.start_tls,
        ca = d.ca_file.display(),
        bind_dn = slapd().service_dn(),
        pw = pw.display(),
        base = d.base_dn,
        extra = d.extra,
    );
    let path = dir.path().join("roster.toml");
    std::fs::write(&path, text).unwrap();
    (dir, path)
}

fn rosterctl(config: &Path, args: &[&str]) -> Output {
    rosterctl_common::run(Some(config), args)
}

/// The steps of the only domain in a `test --json` report.
fn steps(v: &Value) -> Vec<(String, String, String)> {
    v["domains"][0]["steps"]
        .as_array()
        .expect("steps")
        .iter()
        .map(|s| {
            (
                s["step"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
                s["message"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// The step that failed (there must be exactly one, and it is the last).
fn failed_step(o: &Output) -> (String, String) {
    assert_eq!(o.status.code(), Some(1), "{}", text(o));
    let v = json(o);
    assert_eq!(v["ok"], Value::Bool(false));
    let s = steps(&v);
    let failed: Vec<_> = s.iter().filter(|(_, st, _)| st == "fail").collect();
    assert_eq!(failed.len(), 1, "{s:?}");
    assert_eq!(
        s.last().unwrap().1,
        "fail",
        "the test stops at the failure: {s:?}"
    );
    (failed[0].0.clone(), failed[0].2.clone())
}

#[test]
fn a_good_configuration_passes_every_step_and_lists_the_broken_entries() {
    let s = slapd();
    let (_dir, cfg) = config(&Domain::good(s));
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let names: Vec<String> = steps(&v).into_iter().map(|(n, _, _)| n).collect();
    for step in [
        "dns", "tcp", "starttls", "tls", "bind", "base_dn", "users", "groups", "entries", "mapping",
    ] {
        assert!(
            names.iter().any(|n| n == step),
            "step {step} missing: {names:?}"
        );
    }
    let tls = steps(&v).into_iter().find(|(n, _, _)| n == "tls").unwrap();
    // The test PKI's certificates are short-lived: "warn" (expires soon) is fine.
    assert_ne!(tls.1, "fail", "{tls:?}");
    assert!(tls.2.contains("the certificate verifies"), "{tls:?}");
    // rosterd's own connection went through rustls (tls_library = "auto").
    let library = steps(&v)
        .into_iter()
        .find(|(n, _, _)| n == "tls_library")
        .unwrap();
    assert_eq!((library.1.as_str(), library.2.as_str()), ("ok", "rustls"));
    let d = &v["domains"][0];
    // Every user entry of the directory is counted; the broken ones refused.
    let found = d["users_found"].as_u64().unwrap();
    assert!(found >= u64::from(dataset::BULK_USERS) + 5, "{found}");
    let rejected = d["rejected_users"].as_array().unwrap();
    for (name, keyword) in BROKEN_USERS {
        let hit = rejected
            .iter()
            .find(|r| {
                r["dn"].as_str().unwrap().contains(&format!("uid={name},"))
                    || r["dn"]
                        .as_str()
                        .unwrap()
                        .contains(&format!("uid={},", name.replace(':', "\\3A")))
            })
            .unwrap_or_else(|| panic!("{name} not reported: {rejected:?}"));
        let reason = hit["reason"].as_str().unwrap();
        assert!(reason.contains(keyword), "{name}: {reason}");
    }
    assert!(
        !rejected.iter().any(|r| r["dn"] == dataset::ALICE.dn),
        "alice is fine: {rejected:?}"
    );
    let sample = d["sample"].as_array().unwrap();
    assert!(!sample.is_empty());
    for u in sample {
        assert!(u["uid"].as_u64().unwrap() >= 1000, "{u}");
    }

    // The text form names the same things.
    let out = rosterctl(&cfg, &["test", "example"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    for (name, keyword) in [
        ("nouid", "uidNumber"),
        ("rootclone", "uidNumber 0"),
        ("lowuid", "uidNumber 500"),
    ] {
        let line = t
            .lines()
            .find(|l| {
                l.contains(&format!(
                    "user  uid={name},ou=broken,ou=people,dc=example,dc=test: "
                ))
            })
            .unwrap_or_else(|| panic!("{name} not listed:\n{t}"));
        assert!(line.contains(keyword), "{line}");
    }
    assert!(t.contains("issuer:") && t.contains("expires:"), "{t}");
    assert!(
        t.contains("name \"dup\" is also used by uid=dup,ou="),
        "{t}"
    );
}

#[test]
fn ldaps_shows_the_certificate() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.uri = s.ldaps_uri();
    d.start_tls = false;
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let tls = &v["domains"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "tls")
        .unwrap()
        .clone();
    let details = tls["details"].as_array().unwrap();
    assert!(
        details
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("subject:")),
        "{tls}"
    );
    assert!(
        !steps(&v).iter().any(|(n, _, _)| n == "starttls"),
        "no StartTLS on ldaps"
    );
}

#[test]
fn a_wrong_password_fails_at_bind_without_showing_it() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.password = "definitely-not-the-password";
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    let (step, message) = failed_step(&out);
    assert_eq!(step, "bind", "{message}");
    assert!(message.contains("invalidCredentials"), "{message}");
    let all = text(&out);
    assert!(!all.contains("definitely-not-the-password"), "{all}");
    let human = rosterctl(&cfg, &["test"]);
    assert_eq!(human.status.code(), Some(1));
    let t = text(&human);
    assert!(t.contains("[FAIL] bind"), "{t}");
    assert!(!t.contains("definitely-not-the-password"), "{t}");
}

#[test]
fn a_wrong_ca_fails_at_tls_and_still_describes_the_certificate() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.ca_file = s.wrong_ca_file();
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    let (step, message) = failed_step(&out);
    assert_eq!(step, "tls", "{message}");
    assert!(message.contains("does not verify"), "{message}");
    assert!(
        message.contains(&s.wrong_ca_file().display().to_string()),
        "{message}"
    );
    let v = json(&out);
    let tls = v["domains"][0]["steps"]
        .as_array()
        .unwrap()
        .last()
        .unwrap()
        .clone();
    assert!(
        tls["details"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l.as_str().unwrap().starts_with("issuer:")),
        "{tls}"
    );
}

#[test]
fn tls_verify_off_accepts_the_wrong_ca_with_a_warning() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.ca_file = s.wrong_ca_file();
    d.extra = "tls_verify = false";
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let tls = steps(&v).into_iter().find(|(n, _, _)| n == "tls").unwrap();
    assert_eq!(tls.1, "warn", "{tls:?}");
    assert!(
        tls.2.contains("does not verify") && tls.2.contains("tls_verify = false"),
        "{tls:?}"
    );
    assert!(steps(&v).iter().any(|(n, st, _)| n == "bind" && st == "ok"));
}

#[test]
fn a_closed_port_fails_at_tcp() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.uri = format!("ldap://127.0.0.1:{}", closed_port());
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    let (step, message) = failed_step(&out);
    assert_eq!(step, "tcp", "{message}");
    assert!(message.contains("refused"), "{message}");
}

#[test]
fn an_unknown_host_fails_at_dns() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.uri = "ldap://no-such-host.invalid:389".into();
    let (_dir, cfg) = config(&d);
    let (step, message) = failed_step(&rosterctl(&cfg, &["test", "--json"]));
    assert_eq!(step, "dns", "{message}");
    assert!(message.contains("no-such-host.invalid"), "{message}");
}

#[test]
fn a_wrong_base_dn_fails_at_base_dn() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.base_dn = "dc=wrong,dc=test";
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    let (step, message) = failed_step(&out);
    assert_eq!(step, "base_dn", "{message}");
    assert!(
        message.contains("dc=wrong,dc=test") && message.contains("noSuchObject"),
        "{message}"
    );
}

#[test]
fn an_unknown_domain_is_an_error() {
    let (_dir, cfg) = config(&Domain::good(slapd()));
    let out = rosterctl(&cfg, &["test", "nosuchdomain"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no domain \"nosuchdomain\""),
        "{}",
        text(&out)
    );
}

#[test]
fn users_and_groups_list_what_the_host_would_see() {
    let (_dir, cfg) = config(&Domain::good(slapd()));
    let out = rosterctl(&cfg, &["users", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let entries = v["domains"][0]["entries"].as_array().unwrap();
    let names: Vec<&str> = entries
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for u in dataset::NAMED_USERS {
        assert!(names.contains(&u.name), "{} missing", u.name);
    }
    assert!(names.contains(&dataset::bulk_user(dataset::BULK_USERS).as_str()));
    for (broken, _) in BROKEN_USERS {
        assert!(!names.contains(&broken), "{broken} listed");
    }
    assert!(!names.contains(&"dup"), "ambiguous names are not served");
    let alice = entries.iter().find(|e| e["name"] == "alice").unwrap();
    assert_eq!(alice["uid"], dataset::ALICE.uid);
    assert_eq!(alice["dn"], dataset::ALICE.dn);

    let out = rosterctl(&cfg, &["users"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let t = String::from_utf8_lossy(&out.stdout);
    assert!(
        t.lines()
            .any(|l| l.starts_with("alice ") && l.contains(" 10001 ")),
        "{t}"
    );

    let out = rosterctl(&cfg, &["groups", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let groups = v["domains"][0]["entries"].as_array().unwrap();
    let staff = groups
        .iter()
        .find(|g| g["name"] == "engineers")
        .expect("engineers");
    assert_eq!(staff["gid"], dataset::STAFF_GID);
    assert_eq!(groups.len() as u32, dataset::MANY_GROUPS_COUNT + 3);
}

#[test]
fn users_with_an_unreachable_directory_fails() {
    let mut d = Domain::good(slapd());
    d.uri = format!("ldap://127.0.0.1:{}", closed_port());
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["users"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("rosterctl test example"),
        "{}",
        text(&out)
    );
}

#[test]
fn limit_to_groups_is_checked_and_applied() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.extra = r#"limit_to_groups = ["engineers", "nosuchgroup"]"#;
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let step = steps(&json(&out))
        .into_iter()
        .find(|(n, _, _)| n == "limit_to_groups")
        .expect("limit_to_groups step");
    assert_eq!(step.1, "warn", "{step:?}");
    assert!(
        step.2.contains("nosuchgroup") && !step.2.contains("engineers,"),
        "{step:?}"
    );

    let out = rosterctl(&cfg, &["users", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let mut names: Vec<&str> = v["domains"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    names.sort();
    assert_eq!(names, vec!["alice", "bob"], "only members of engineers");
}

#[test]
fn rfc2307bis_counts_both_kinds_of_groups() {
    let s = slapd();
    let mut d = Domain::good(s);
    d.extra = r#"schema = "rfc2307bis""#;
    let (_dir, cfg) = config(&d);
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let dom = &v["domains"][0];
    let found = dom["groups_found"].as_u64().unwrap();
    assert!(
        found >= u64::from(dataset::MANY_GROUPS_COUNT) + 3 + 4,
        "posixGroups and groupOfNames: {found}"
    );
    assert_eq!(dom["rejected_groups"], serde_json::json!([]), "{dom}");
}

/// `rosterctl test` with the fixture CA standing in for the system's CA
/// store (`SSL_CERT_FILE`, honoured by OpenSSL) and `ca_file` naming
/// another CA.
fn test_with_system_ca(extra: &str) -> Output {
    let s = slapd();
    let mut d = Domain::good(s);
    d.ca_file = s.wrong_ca_file();
    d.extra = extra;
    let (_dir, cfg) = config(&d);
    std::process::Command::new(rosterctl_common::rosterctl_bin())
        .arg("--config")
        .arg(&cfg)
        .args(["test", "--json"])
        .env("SSL_CERT_FILE", s.ca_file())
        .stdin(std::process::Stdio::null())
        .output()
        .expect("run rosterctl")
}

#[test]
fn ca_file_replaces_the_system_cas_unless_ca_system() {
    // The server's CA is only in the "system" store: ca_file alone (the
    // wrong CA) does not trust it.
    let out = test_with_system_ca("");
    let (step, message) = failed_step(&out);
    assert_eq!(step, "tls", "{message}");
    assert!(message.contains("only (ca_system = false)"), "{message}");
    // With ca_system = true the system store is trusted too.
    let out = test_with_system_ca("ca_system = true");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    assert!(
        steps(&v).iter().any(|(n, st, _)| n == "bind" && st == "ok"),
        "{v}"
    );
}

/// The `nfs` step of a `test --json` report, and the report.
fn nfs_step(o: &Output) -> ((String, String, String), Value) {
    let v = json(o);
    let step = steps(&v)
        .into_iter()
        .find(|(n, _, _)| n == "nfs")
        .unwrap_or_else(|| panic!("no nfs step: {}", text(o)));
    (step, v)
}

#[test]
fn the_nfs_domain_of_idmapd_conf_is_compared_with_the_directorys() {
    let (dir, cfg) = config(&Domain::good(slapd()));
    let conf = dir.path().join("idmapd.conf");
    let conf_arg = conf.display().to_string();
    let args = ["test", "--json", "--idmapd-conf", &conf_arg];

    std::fs::write(
        &conf,
        "[General]\nVerbosity = 0\nDomain = Example.Test\n[Translation]\nMethod = nsswitch\n",
    )
    .unwrap();
    let out = rosterctl(&cfg, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ((_, status, message), v) = nfs_step(&out);
    assert_eq!(status, "ok", "{message}");
    assert!(
        message.contains("is the directory's DNS domain"),
        "{message}"
    );
    assert_eq!(v["nfs"]["domain"], "Example.Test");
    assert!(
        v["nfs"]["source"]
            .as_str()
            .unwrap()
            .contains(&format!("{conf_arg} [General] Domain")),
        "{v}"
    );

    // Another domain: a warning naming both and the cure; the test passes.
    std::fs::write(&conf, "[General]\nDomain = other.test\n").unwrap();
    let out = rosterctl(&cfg, &args);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let ((_, status, message), _) = nfs_step(&out);
    assert_eq!(status, "warn", "{message}");
    assert!(
        message.contains("\"other.test\"")
            && message.contains("\"example.test\"")
            && message.contains("the most common cause of files owned by nobody"),
        "{message}"
    );
    let human = rosterctl(&cfg, &["test", "--idmapd-conf", &conf_arg]);
    let t = text(&human);
    assert!(t.contains("[WARN] nfs"), "{t}");
    assert!(
        t.contains(&format!(
            "set Domain = example.test in [General] of {conf_arg}"
        )),
        "{t}"
    );

    // A method that does not ask NSS never reaches roster.
    std::fs::write(
        &conf,
        "[General]\nDomain = example.test\n[Translation]\nMethod = static\n",
    )
    .unwrap();
    let ((_, status, message), v) = nfs_step(&rosterctl(&cfg, &args));
    assert_eq!(status, "warn", "{message}");
    assert!(v.to_string().contains("has no nsswitch"), "{v}");
}

/// `rosterctl test --json --idmapd-conf CONF` on a host called `hostname`
/// whose /etc/hosts is `hosts` (a UTS and mount namespace of its own).
fn test_on_host(cfg: &Path, conf: &Path, hostname: &str, hosts: &str) -> Output {
    let ns = roster_e2e::namespace::Namespace::new().hosts(hosts);
    ns.run(&format!(
        "unshare --uts sh -c 'hostname {hostname} && exec {} --config {} test --json --idmapd-conf {}'",
        rosterctl_common::rosterctl_bin().display(),
        cfg.display(),
        conf.display()
    ))
}

#[test]
fn without_a_domain_in_idmapd_conf_the_nfs_domain_is_the_host_names() {
    let (dir, cfg) = config(&Domain::good(slapd()));
    let conf = dir.path().join("idmapd.conf");
    std::fs::write(&conf, "[General]\nVerbosity = 0\n").unwrap();

    // The canonical name of the short host name, from /etc/hosts.
    let hosts = "127.0.0.1 localhost\n127.0.1.1 nfs1.example.test nfs1\n";
    let out = test_on_host(&cfg, &conf, "nfs1", hosts);
    let ((_, status, message), v) = nfs_step(&out);
    assert_eq!(status, "ok", "{message}");
    assert_eq!(v["nfs"]["domain"], "example.test");
    assert!(
        v["nfs"]["source"]
            .as_str()
            .unwrap()
            .contains("nfs1.example.test"),
        "{v}"
    );

    // No DNS domain at all: libnfsidmap's "localdomain", and a warning.
    let hosts = "127.0.0.1 localhost\n127.0.1.1 nfs2\n";
    let out = test_on_host(&cfg, &conf, "nfs2", hosts);
    let ((_, status, message), v) = nfs_step(&out);
    assert_eq!(status, "warn", "{message}");
    assert_eq!(v["nfs"]["domain"], "localdomain");
    assert!(message.contains("files owned by nobody"), "{message}");
}

#[test]
fn users_with_ssh_keys_are_counted_and_malformed_keys_named() {
    // A slapd of its own: the shared one's users are counted elsewhere.
    let s = Slapd::start();
    let dn = format!("uid=keyed,ou=people,{}", dataset::BASE_DN);
    s.ldapadd(&format!(
        "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: ldapPublicKey\nuid: keyed\ncn: keyed\nsn: keyed\n\
         uidNumber: 10610\ngidNumber: 10000\nhomeDirectory: /home/keyed\n\
         sshPublicKey: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILRIa+vFP2j+a/LVLtIGdmVPcDOsV7lmR3FT7aR3D4TB test@roster\nsshPublicKey: ssh-rsa not-a-key\n"
    ));
    let (_dir, cfg) = config(&Domain::good(&s));
    let out = rosterctl(&cfg, &["test", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v = json(&out);
    let step = v["domains"][0]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "ssh keys")
        .unwrap_or_else(|| panic!("no ssh keys step: {v}"))
        .clone();
    assert_eq!(step["status"], "warn", "{step}");
    assert_eq!(step["target"], "attribute sshPublicKey", "{step}");
    let message = step["message"].as_str().unwrap();
    assert!(
        message.starts_with("1 of ") && message.contains("(1 keys), 1 malformed values not served"),
        "{message}"
    );
    let details = step["details"].as_array().unwrap();
    assert_eq!(details.len(), 1, "{step}");
    assert!(
        details[0].as_str().unwrap().starts_with(&format!("{dn}: ")),
        "{step}"
    );
}
