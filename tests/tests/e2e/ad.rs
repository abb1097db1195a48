//! Active Directory end to end: a real Samba AD DC (started once per
//! process, on a copy of the provisioned one: `roster_e2e::samba`), rosterd
//! with `kind = "ad"` domains using the rid, sss and rfc2307 idmap
//! backends, the NSS module (getent, id) in a private mount namespace,
//! pamtester for account state and password expiry warnings
//! (`ad_lifecycle`), an LDAP domain (slapd) served next to the AD one, and
//! files copied between two simulated hosts (`ad_hosts`).

mod ad_gssapi;
mod ad_hosts;
mod ad_join;
mod ad_lifecycle;
mod ad_names;
mod ad_nfs;
mod ad_ssh;
mod krb_common;
use crate::hosts_common;
use crate::pam_common;

use pam_common::{account, as_setuid_from, pamtester, pamtester_via, says, service_file, SERVICE};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::samba::{
    bulk_user, SambaDc, AD_ALICE, AD_BOB, AD_BULK_USERS, AD_DAVE, AD_ERIN, AD_FRANK, AD_INNER_GID,
    AD_OUTER_GID, AD_UNIXGROUP_GID,
};
use roster_e2e::slapd::Slapd;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// The DC, started once for every AD test of this process.
fn dc() -> &'static SambaDc {
    static DC: OnceLock<SambaDc> = OnceLock::new();
    DC.get_or_init(SambaDc::start)
}

/// First ID of the rid backend's range.
const RID_LOW: u32 = 100_000;
/// RID of the Domain Users group.
const DOMAIN_USERS_RID: u32 = 513;

fn rid_backend() -> String {
    format!("[domain.idmap]\nbackend = \"rid\"\nrange_low = {RID_LOW}\nrange_high = 199999\n")
}

/// A rosterd serving the DC as domain `ad` with `extra` domain lines.
fn rosterd(extra: &str) -> (Rosterd, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rd = Rosterd::start(&dc().domain_table(dir.path(), "ad", extra));
    (rd, dir)
}

fn ns(rd: &Rosterd) -> Namespace {
    Namespace::new().socket_dir(&rd.socket_dir())
}

/// Runs `script` in `ns`; returns (exit code, stdout).
fn sh(ns: &Namespace, script: &str) -> (i32, String) {
    let out = ns.run(script);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[track_caller]
fn ok(ns: &Namespace, script: &str, rd: &Rosterd) -> String {
    let (code, out) = sh(ns, script);
    assert_eq!(
        code,
        0,
        "`{script}` failed ({code}): {out}\nrosterd log:\n{}",
        tail(&rd.log())
    );
    out
}

fn tail(log: &str) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

fn fields(line: &str) -> Vec<String> {
    line.trim_end().split(':').map(str::to_owned).collect()
}

fn members(line: &str) -> Vec<String> {
    let f = fields(line);
    let mut m: Vec<String> = f[3]
        .split(',')
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    m.sort();
    m
}

#[test]
fn smoke_dc_answers_ldaps_with_its_sid_and_rids() {
    let dc = dc();
    assert!(
        dc.domain_sid().starts_with("S-1-5-21-"),
        "{}",
        dc.domain_sid()
    );
    // Objects created after provisioning get RIDs above 1000.
    assert!(dc.rid_of(AD_ALICE.name) > 1000);
    assert_ne!(dc.rid_of(AD_ALICE.name), dc.rid_of(AD_BOB.name));
}

#[test]
fn rid_backend_users_groups_and_nesting_through_nss() {
    let dc = dc();
    let (rd, _dir) = rosterd(&rid_backend());
    let ns = ns(&rd);
    let alice_uid = RID_LOW + dc.rid_of("alice");
    let users_gid = RID_LOW + DOMAIN_USERS_RID;

    // idmap_rid: id = range_low + rid - base_rid; primary group from
    // primaryGroupID (Domain Users, 513); RFC 2307 home/shell kept.
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(
        pw,
        [
            "alice",
            "*",
            &alice_uid.to_string(),
            &users_gid.to_string(),
            "Alice Adams",
            "/home/alice",
            "/bin/bash"
        ]
    );
    // No unixHomeDirectory/loginShell: the template and the default shell.
    let pw = fields(&ok(&ns, "getent passwd bob", &rd));
    let bob_uid = RID_LOW + dc.rid_of("bob");
    assert_eq!(pw[2], bob_uid.to_string());
    assert_eq!(pw[5], "/home/ad/bob");
    assert_eq!(pw[6], "/bin/sh");

    // Input names: case-insensitive, UPN and down-level forms; by UID
    // (reverse idmap, then a search by binary objectSid).
    for name in [
        "ALICE",
        "alice@AD.EXAMPLE.TEST",
        "'ADEXAMPLE\\alice'",
        &alice_uid.to_string(),
    ] {
        let pw = fields(&ok(&ns, &format!("getent passwd {name}"), &rd));
        assert_eq!(
            (pw[0].as_str(), pw[2].as_str()),
            ("alice", alice_uid.to_string().as_str()),
            "{name}"
        );
    }
    let (code, _) = sh(&ns, "getent passwd alice@other.test");
    assert_eq!(code, 2, "another realm is not this domain");

    // Groups by SID-mapped GID and by name ("Domain Users" is served as
    // domain_users).
    let gr = fields(&ok(&ns, &format!("getent group {users_gid}"), &rd));
    assert_eq!(gr[0], "domain_users");
    let outer_gid = RID_LOW + dc.rid_of("outer");
    let gr = ok(&ns, "getent group outer", &rd);
    assert_eq!(fields(&gr)[2], outer_gid.to_string());
    assert_eq!(
        members(&gr),
        ["alice", "bob"],
        "members of the nested group"
    );

    // The 3,000-member group is complete (ranged retrieval of member).
    let gr = ok(&ns, "getent group big", &rd);
    let m = members(&gr);
    assert_eq!(m.len(), AD_BULK_USERS as usize, "every member of big");
    assert!(m.contains(&bulk_user(0)) && m.contains(&bulk_user(AD_BULK_USERS - 1)));

    // initgroups/id: tokenGroups gives nested groups.
    let ig = ok(&ns, "getent initgroups alice", &rd);
    for g in [
        users_gid,
        outer_gid,
        RID_LOW + dc.rid_of("inner"),
        RID_LOW + dc.rid_of("unixgroup"),
    ] {
        assert!(
            ig.split_whitespace().any(|x| x == g.to_string()),
            "{g} in {ig}"
        );
    }
    let id = ok(&ns, "id alice", &rd);
    assert!(
        id.starts_with(&format!(
            "uid={alice_uid}(alice) gid={users_gid}(domain_users)"
        )),
        "{id}"
    );
    assert!(id.contains(&format!("{outer_gid}(outer)")), "{id}");
}

/// Builds libsss_idmap's answer for `sids` with the idmap crate's C
/// harness (default sss parameters, one domain).
fn libsss_ids(domain_sid: &str, sids: &[String]) -> Vec<u32> {
    let src = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../idmap/tests/sss_harness.c");
    let bin = std::env::temp_dir().join(format!("roster_ad_sss_harness_{}", std::process::id()));
    let st = Command::new("gcc")
        .args(["-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .arg("-lsss_idmap")
        .status()
        .expect("run gcc (install gcc and libsss-idmap-dev)");
    assert!(st.success(), "building the libsss_idmap harness failed");
    let mut script = format!("init 200000 2000200000 200000 0 10\nadd ad {domain_sid}\n");
    for s in sids {
        script += &format!("s2u {s}\n");
    }
    let mut child = Command::new(&bin)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("run harness");
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(script.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let _ = std::fs::remove_file(&bin);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[1].starts_with("add 0 "), "{text}");
    lines[2..]
        .iter()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f[..2], ["s2u", "0"], "{l}");
            f[2].parse().unwrap()
        })
        .collect()
}

#[test]
fn sss_backend_agrees_with_libsss_idmap() {
    let dc = dc();
    let (rd, _dir) = rosterd("[domain.idmap]\nbackend = \"sss\"\n");
    let ns = ns(&rd);
    let sid = dc.domain_sid();
    let rids = [
        dc.rid_of("alice"),
        dc.rid_of("bob"),
        DOMAIN_USERS_RID,
        dc.rid_of("outer"),
    ];
    let want = libsss_ids(
        sid,
        &rids
            .iter()
            .map(|r| format!("{sid}-{r}"))
            .collect::<Vec<_>>(),
    );
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(pw[2], want[0].to_string(), "alice's UID");
    assert_eq!(pw[3], want[2].to_string(), "Domain Users' GID");
    let pw = fields(&ok(&ns, "getent passwd bob", &rd));
    assert_eq!(pw[2], want[1].to_string(), "bob's UID");
    let ig = ok(&ns, "getent initgroups bob", &rd);
    assert!(
        ig.split_whitespace().any(|g| g == want[3].to_string()),
        "outer in {ig}"
    );
    let gr = fields(&ok(&ns, &format!("getent group {}", want[3]), &rd));
    assert_eq!(gr[0], "outer");
}

#[test]
fn rfc2307_backend_takes_ids_from_ad_attributes() {
    let (rd, _dir) = rosterd("");
    let ns = ns(&rd);
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(
        pw[2..4],
        ["10001".to_string(), AD_UNIXGROUP_GID.to_string()]
    );
    let pw = fields(&ok(&ns, "getent passwd 10001", &rd));
    assert_eq!(pw[0], "alice");
    // bob has no uidNumber: not served.
    let (code, out) = sh(&ns, "getent passwd bob");
    assert_eq!(code, 2, "{out}");
    let gr = ok(&ns, &format!("getent group {AD_UNIXGROUP_GID}"), &rd);
    assert_eq!(fields(&gr)[0], "unixgroup");
    assert_eq!(members(&gr), ["alice", "dave", "erin", "frank"]);
    // inner lists only the served member.
    assert_eq!(members(&ok(&ns, "getent group inner", &rd)), ["alice"]);
    let id = ok(&ns, "id alice", &rd);
    assert!(
        id.starts_with(&format!(
            "uid=10001(alice) gid={AD_UNIXGROUP_GID}(unixgroup)"
        )),
        "{id}"
    );
    assert!(id.contains(&format!("{AD_INNER_GID}(inner)")), "{id}");
    assert!(id.contains(&format!("{AD_OUTER_GID}(outer)")), "{id}");
    // big has no gidNumber: not served with rfc2307.
    assert_eq!(sh(&ns, "getent group big").0, 2);
}

#[test]
fn pam_refuses_disabled_and_expired_accounts_and_asks_for_a_new_password() {
    let (rd, _dir) = rosterd("");
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    let good = pamtester(
        &ns,
        AD_ALICE.name,
        "authenticate acct_mgmt",
        &[AD_ALICE.password],
    );
    assert!(
        good.ok,
        "alice must log in:\n{}\n{}",
        good.text,
        tail(&rd.log())
    );
    let wrong = pamtester(&ns, AD_ALICE.name, "authenticate", &["wrong"]);
    assert!(!wrong.ok, "{}", wrong.text);
    for u in [AD_DAVE, AD_ERIN] {
        let p = pamtester(&ns, u.name, "authenticate acct_mgmt", &[u.password]);
        assert!(!p.ok, "{} must be refused:\n{}", u.name, p.text);
        // The account step refuses them too, with the AD reason.
        let a = account(&ns, u.name);
        assert!(!a.ok, "{}: {}", u.name, a.text);
    }
    assert!(account(&ns, AD_ERIN.name).text.contains(says::ACCT_EXPIRED));
    assert!(account(&ns, AD_DAVE.name).text.contains(says::PERM_DENIED));
    // pwdLastSet = 0: the password is right, a new one is required.
    let f = pamtester(
        &ns,
        AD_FRANK.name,
        "authenticate acct_mgmt",
        &[AD_FRANK.password],
    );
    assert!(
        !f.ok && f.text.contains(says::NEW_AUTHTOK_REQD),
        "{}\n{}",
        f.text,
        tail(&rd.log())
    );

    // The change that follows goes through unicodePwd (delete old, add
    // new) over TLS; then the new password logs in and the old one not.
    // Run as a user's setuid passwd runs (root's own is a reset).
    let users_passwd = as_setuid_from(65534);
    let new = "Frank!N3w-passw0rd";
    let wrong = pamtester_via(
        &ns,
        &users_passwd,
        AD_FRANK.name,
        "chauthtok",
        &["wrong-current", new, new],
    );
    assert!(!wrong.ok, "{}", wrong.text);
    let c = pamtester_via(
        &ns,
        &users_passwd,
        AD_FRANK.name,
        "chauthtok",
        &[AD_FRANK.password, new, new],
    );
    assert!(c.ok, "frank's change:\n{}\n{}", c.text, tail(&rd.log()));
    let f = pamtester(&ns, AD_FRANK.name, "authenticate acct_mgmt", &[new]);
    assert!(
        f.ok,
        "frank with the new password:\n{}\n{}",
        f.text,
        tail(&rd.log())
    );
    let old = pamtester(&ns, AD_FRANK.name, "authenticate", &[AD_FRANK.password]);
    assert!(!old.ok, "{}", old.text);

    // A user changing a valid password (bound as itself); AD's policy
    // refuses a too short one.
    let short = pamtester_via(
        &ns,
        &users_passwd,
        AD_ALICE.name,
        "chauthtok",
        &[AD_ALICE.password, "x", "x"],
    );
    assert!(!short.ok, "{}", short.text);
    let new = "Alice!N3w-passw0rd";
    let c = pamtester_via(
        &ns,
        &users_passwd,
        AD_ALICE.name,
        "chauthtok",
        &[AD_ALICE.password, new, new],
    );
    assert!(c.ok, "alice's change:\n{}\n{}", c.text, tail(&rd.log()));
    assert!(pamtester(&ns, AD_ALICE.name, "authenticate", &[new]).ok);

    // Root's `passwd frank` (pamtester as root: no current password):
    // refused without a password admin, naming the keys; with the
    // Administrator as password admin, unicodePwd is replaced and frank
    // logs in with the new password.
    let reset = "Frank!R3set-by-root";
    let refused = pamtester(&ns, AD_FRANK.name, "chauthtok", &[reset, reset]);
    assert!(
        !refused.ok
            && refused.text.contains(
                "domain ad has no password_admin_dn / password_admin_password_file: root cannot reset passwords"
            ),
        "{}",
        refused.text
    );
    let secrets = tempfile::tempdir().expect("temp dir");
    let admin_pw = secrets.path().join("password_admin");
    std::fs::write(&admin_pw, roster_e2e::samba::AD_ADMIN_PASSWORD).expect("write");
    roster_e2e::daemon_user::give_secret(&admin_pw);
    let (rd2, _dir2) = rosterd(&format!(
        "password_admin_dn = \"Administrator@{}\"\npassword_admin_password_file = \"{}\"\n",
        roster_e2e::samba::AD_REALM.to_ascii_lowercase(),
        admin_pw.display()
    ));
    let ns2 = Namespace::new()
        .socket_dir(&rd2.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    let r = pamtester(&ns2, AD_FRANK.name, "chauthtok", &[reset, reset]);
    assert!(r.ok, "root's reset:\n{}\n{}", r.text, tail(&rd2.log()));
    assert!(!r.text.contains("Current password:"), "{}", r.text);
    let f = pamtester(&ns2, AD_FRANK.name, "authenticate acct_mgmt", &[reset]);
    assert!(
        f.ok,
        "frank after the reset:\n{}\n{}",
        f.text,
        tail(&rd2.log())
    );
    assert!(!rd2.log().contains(roster_e2e::samba::AD_ADMIN_PASSWORD));
}

#[test]
fn ldap_and_ad_domains_side_by_side() {
    let dc = dc();
    let slapd = Slapd::start_with_ldif(&pam_common::small_ldif());
    let dir = tempfile::tempdir().expect("temp dir");
    // Two domains: each needs its own ID range (the LDAP one below the rid
    // range).
    let ldap = roster_e2e::config::domain_table(
        &slapd,
        dir.path(),
        &roster_e2e::config::DomainOptions {
            extra: vec![format!(
                "[domain.idmap]\nrange_low = 10000\nrange_high = {}",
                RID_LOW - 1
            )],
            ..roster_e2e::config::DomainOptions::default()
        },
    );
    let ad = dc.domain_table(dir.path(), "ad", &rid_backend());
    let rd = Rosterd::start(&format!("{ldap}\n{ad}"));
    let ns = ns(&rd);
    // The LDAP domain comes first: plain `alice` is the LDAP user.
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(pw[2], "10001");
    let alice_uid = RID_LOW + dc.rid_of("alice");
    let pw = fields(&ok(&ns, "getent passwd alice@ad", &rd));
    assert_eq!(pw[2], alice_uid.to_string());
    // LDAP owns the short name: AD's alice is served as alice@ad, by UID too.
    let pw = fields(&ok(&ns, &format!("getent passwd {alice_uid}"), &rd));
    assert_eq!(pw[0], "alice@ad");
    assert_eq!(pw[3], (RID_LOW + DOMAIN_USERS_RID).to_string());
    let pw = fields(&ok(&ns, &format!("getent passwd {}", bulk_user(7)), &rd));
    assert_eq!(pw[2], (RID_LOW + dc.rid_of(&bulk_user(7))).to_string());
    let gr = fields(&ok(&ns, "getent group outer", &rd));
    assert_eq!(gr[2], (RID_LOW + dc.rid_of("outer")).to_string());
}

#[test]
fn rosterctl_test_lists_ad_users_without_uid_number() {
    let dc = dc();
    let dir = tempfile::tempdir().expect("temp dir");
    let cfg = dir.path().join("roster.toml");
    std::fs::write(&cfg, dc.domain_table(dir.path(), "ad", "")).expect("write config");
    let bin = roster_e2e::rosterd::rosterd_bin().with_file_name("rosterctl");
    let out = Command::new(&bin)
        .arg("--config")
        .arg(&cfg)
        .args(["test", "--json"])
        .output()
        .expect("run rosterctl");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_str(&text).expect("JSON report");
    let d = &v["domains"][0];
    let rejected = d["rejected_users"].as_array().expect("rejected users");
    let reason_of = |cn: &str| {
        rejected
            .iter()
            .find(|r| {
                r["dn"]
                    .as_str()
                    .unwrap_or("")
                    .starts_with(&format!("CN={cn},"))
            })
            .map(|r| r["reason"].as_str().unwrap_or("").to_string())
    };
    let bob = reason_of("bob").unwrap_or_else(|| panic!("bob not listed: {text}"));
    assert!(bob.contains("no uidNumber"), "{bob}");
    assert!(
        reason_of(&bulk_user(0)).is_some(),
        "bulk users have no uidNumber either"
    );
    assert!(reason_of("alice").is_none(), "alice is served: {text}");
    // AD's referral default: off, the DC's references counted, not
    // followed, not a warning.
    let refs = d["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["step"] == "referrals")
        .unwrap_or_else(|| panic!("no referrals step: {text}"));
    assert_eq!(refs["target"], "referrals = false", "{text}");
    assert_eq!(refs["status"], "ok", "{text}");
    assert!(
        refs["message"].as_str().unwrap().contains(" 0 followed"),
        "{text}"
    );
    // Every user entry is counted: 3,000 bulk users and the named ones.
    assert!(
        d["users_found"].as_u64().unwrap() > u64::from(AD_BULK_USERS),
        "{text}"
    );

    // rosterctl users/groups read the DC with the daemon's AD code.
    let list = |what: &str| {
        let out = Command::new(&bin)
            .arg("--config")
            .arg(&cfg)
            .args(["--json", what])
            .output()
            .expect("run rosterctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert_eq!(out.status.code(), Some(0), "{what}: {text}");
        text
    };
    let users = list("users");
    assert!(
        users.contains("\"alice\"") && users.contains("10001"),
        "{users}"
    );
    assert!(!users.contains("\"bob\""), "bob has no uidNumber: {users}");
    let groups = list("groups");
    assert!(
        groups.contains("\"unixgroup\"") && groups.contains("\"inner\""),
        "{groups}"
    );
}

#[test]
fn rosterctl_lookup_sid_finds_users_and_groups_never_seen() {
    let dc = dc();
    let (rd, _dir) = rosterd(&rid_backend());
    let bin = roster_e2e::rosterd::rosterd_bin().with_file_name("rosterctl");
    let lookup = |sid: &str| {
        let out = Command::new(&bin)
            .arg("--config")
            .arg(rd.config_path())
            .args(["--json", "lookup", "sid", sid])
            .output()
            .expect("run rosterctl");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let v: serde_json::Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("{e}: {text} {}", String::from_utf8_lossy(&out.stderr)));
        (out.status.code(), v)
    };
    let sid = dc.domain_sid();
    let (code, v) = lookup(&format!("{sid}-{}", dc.rid_of("bob")));
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["entry"]["type"], "user");
    assert_eq!(v["entry"]["name"], "bob");
    assert_eq!(v["entry"]["uid"], RID_LOW + dc.rid_of("bob"));
    let (code, v) = lookup(&format!("{sid}-{}", dc.rid_of("outer")));
    assert_eq!(code, Some(0), "{v}");
    assert_eq!(v["entry"]["type"], "group");
    assert_eq!(v["entry"]["name"], "outer");
    assert_eq!(
        v["entry"]["members"].as_array().map(Vec::len),
        Some(2),
        "{v}"
    );
    // A RID nobody has, and a SID of another domain: not found.
    assert_eq!(lookup(&format!("{sid}-99999")).0, Some(1));
    assert_eq!(lookup("S-1-5-21-1-2-3-1103").0, Some(1));
}

#[test]
fn enumeration_lists_every_ad_user_and_group_with_members() {
    let dc = dc();
    let (rd, _dir) = rosterd(&format!("{}\n[cache]\nenumerate = true\n", rid_backend()));
    let ns = ns(&rd);
    let pw = ok(&ns, "getent passwd", &rd);
    let bulk = pw.lines().filter(|l| l.starts_with("bulk")).count();
    assert_eq!(bulk, AD_BULK_USERS as usize, "every bulk user enumerated");
    let alice = pw
        .lines()
        .find(|l| l.starts_with("alice:"))
        .expect("alice enumerated");
    assert_eq!(fields(alice)[2], (RID_LOW + dc.rid_of("alice")).to_string());
    let gr = ok(&ns, "getent group", &rd);
    let line = |name: &str| {
        gr.lines()
            .find(|l| l.starts_with(&format!("{name}:")))
            .unwrap_or_else(|| panic!("{name} not enumerated"))
            .to_string()
    };
    assert_eq!(members(&line("big")).len(), AD_BULK_USERS as usize);
    assert_eq!(members(&line("outer")), ["alice", "bob"], "nested members");
    let users = line("domain_users");
    assert_eq!(fields(&users)[2], (RID_LOW + DOMAIN_USERS_RID).to_string());
}

#[test]
fn a_plain_ldap_bind_refused_for_strong_auth_says_so() {
    let dc = dc();
    let dir = tempfile::tempdir().expect("temp dir");
    // kind = "ldap" does not force StartTLS: the DC refuses the simple bind.
    let table = dc
        .domain_table(dir.path(), "plain", "allow_insecure_bind = true")
        .replace("kind = \"ad\"", "kind = \"ldap\"")
        .replace(&dc.ldaps_uri(), &dc.ldap_uri());
    let rd = Rosterd::start(&table);
    let bin = roster_e2e::rosterd::rosterd_bin().with_file_name("rosterctl");
    let out = Command::new(&bin)
        .arg("--config")
        .arg(rd.config_path())
        .args(["--json", "lookup", "user", "alice"])
        .output()
        .expect("run rosterctl");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains("requires strong authentication") && text.contains("ldaps:// or start_tls"),
        "{text}\n{}",
        tail(&rd.log())
    );

    // The same ldap:// URI with kind = "ad": StartTLS by default, served.
    let table = dc
        .domain_table(dir.path(), "ad", "")
        .replace(&dc.ldaps_uri(), &dc.ldap_uri());
    let rd = Rosterd::start(&table);
    let ns = ns(&rd);
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(pw[2], "10001");
}

#[test]
fn autorid_backend_and_qualified_names() {
    let dc = dc();
    let (low, size) = (300_000u32, 100_000u32);
    let (rd, _dir) = rosterd(&format!(
        "qualified_names = true\n[domain.idmap]\nbackend = \"autorid\"\nautorid_low = {low}\nautorid_high = 999999\nrangesize = {size}\n"
    ));
    let ns = ns(&rd);
    // Names are served as name@domain; plain and qualified input work.
    let pw = fields(&ok(&ns, "getent passwd alice", &rd));
    assert_eq!(pw[0], "alice@ad");
    let uid: u32 = pw[2].parse().unwrap();
    let pw = fields(&ok(&ns, "getent passwd bob@ad", &rd));
    assert_eq!(pw[0], "bob@ad");
    let bob: u32 = pw[2].parse().unwrap();
    // autorid: the domain owns one range of `rangesize` IDs; id = range
    // start + rid.
    let start = uid - dc.rid_of("alice");
    assert_eq!((start - low) % size, 0, "{uid}");
    assert_eq!(bob, start + dc.rid_of("bob"));
    assert_eq!(pw[3], (start + DOMAIN_USERS_RID).to_string());
    let id = ok(&ns, "id bob@ad", &rd);
    assert!(
        id.contains(&format!("{}(outer@ad)", start + dc.rid_of("outer"))),
        "{id}"
    );
    let gr = ok(&ns, "getent group inner@ad", &rd);
    assert_eq!(members(&gr), ["alice@ad", "bob@ad"]);
}

#[test]
fn limit_to_groups_restricts_ad_users_to_members() {
    let (rd, _dir) = rosterd(&format!("limit_to_groups = [\"Inner\"]\n{}", rid_backend()));
    let ns = ns(&rd);
    assert_eq!(fields(&ok(&ns, "getent passwd bob", &rd))[0], "bob");
    assert_eq!(fields(&ok(&ns, "getent passwd ALICE", &rd))[0], "alice");
    let (code, out) = sh(&ns, "getent passwd dave");
    assert_eq!(code, 2, "dave is not in inner: {out}");
    let (code, out) = sh(&ns, &format!("getent passwd {}", bulk_user(1)));
    assert_eq!(code, 2, "{out}");
}

#[test]
fn pam_allow_groups_use_the_groups_of_the_qualified_users_domain() {
    // alice and bob exist in both domains. `engineers` (alice, bob) exists in
    // the LDAP domain only, `inner` (alice, bob) in the AD domain only.
    let dc = dc();
    let slapd = Slapd::start_with_ldif(&pam_common::small_ldif());
    let dir = tempfile::tempdir().expect("temp dir");
    let config = |ldap_allow: &str, ad_allow: &str| {
        let ldap = roster_e2e::config::domain_table(
            &slapd,
            dir.path(),
            &roster_e2e::config::DomainOptions {
                transport: roster_e2e::config::Transport::StartTls,
                extra: vec![
                    format!("allow_groups = [\"{ldap_allow}\"]"),
                    format!(
                        "[domain.idmap]\nrange_low = 10000\nrange_high = {}",
                        RID_LOW - 1
                    ),
                ],
                ..roster_e2e::config::DomainOptions::default()
            },
        );
        let ad = dc.domain_table(
            dir.path(),
            "ad",
            &format!("allow_groups = [\"{ad_allow}\"]\n{}", rid_backend()),
        );
        format!("{ldap}\n{ad}")
    };
    // Each domain allows a group it does not have: nobody may log in,
    // whatever the other domain's account of the same name belongs to.
    let mut rd = Rosterd::start(&config("inner", "engineers"));
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    for user in ["alice", "alice@ad", "bob@ad", "bob@example"] {
        let p = account(&ns, user);
        assert!(
            !p.ok && p.text.contains(says::PERM_DENIED),
            "{user} must be refused:\n{}\n{}",
            p.text,
            tail(&rd.log())
        );
    }
    let log = rd.log();
    assert!(
        log.contains("not a member of allow_groups [\"engineers\"]"),
        "the AD account is judged by the AD domain's allow_groups:\n{}",
        tail(&log)
    );

    // Each domain allows its own group: both accounts may log in, right
    // after the reload, each checked in its own domain.
    rd.write_config(&config("engineers", "inner"));
    assert!(rd.reload(), "{}", tail(&rd.log()));
    for user in ["alice", "alice@ad", "bob@ad", "bob@example"] {
        let p = account(&ns, user);
        assert!(
            p.ok,
            "{user} must be allowed:\n{}\n{}",
            p.text,
            tail(&rd.log())
        );
    }
    // The password is checked in the domain the name resolves to.
    let p = pamtester(&ns, "bob@ad", "authenticate acct_mgmt", &[AD_BOB.password]);
    assert!(p.ok, "{}\n{}", p.text, tail(&rd.log()));
    let p = pamtester(
        &ns,
        "bob@ad",
        "authenticate",
        &[roster_e2e::dataset::BOB.password],
    );
    assert!(!p.ok, "the LDAP bob's password opened the AD bob's account");
    let p = pamtester(
        &ns,
        "bob",
        "authenticate acct_mgmt",
        &[roster_e2e::dataset::BOB.password],
    );
    assert!(p.ok, "{}\n{}", p.text, tail(&rd.log()));
}
