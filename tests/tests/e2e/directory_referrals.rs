//! Directories as administrators lay them out: a subtree delegated to a
//! second server by a referral entry (followed with the service account; a
//! referral to a host not allowed is skipped, a referral loop is cut),
//! users in two subtrees with a filter per subtree, and users whose primary
//! group is a local group (gidNumber 100, /etc/group's `users`). Seen
//! through getent and id, by name, by ID and in the enumeration, each
//! allowed account exactly once, offline too after the referral target
//! stops; `rosterctl test` reports the referral counts.

use crate::nss_common;
use crate::rosterctl_common;

use nss_common::ok;
use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::dataset::{ADMIN_DN, ADMIN_PASSWORD, BASE_DN, SERVICE_DN, SERVICE_PASSWORD};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::fmt::Write as _;

fn ou(out: &mut String, rdn: &str, name: &str) {
    let _ = write!(
        out,
        "dn: {rdn},{BASE_DN}\nobjectClass: organizationalUnit\nou: {name}\n\n"
    );
}

/// The base entry, the service account and the OUs `ous`.
fn skeleton(ous: &[&str]) -> String {
    let mut out = format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
    );
    ou(&mut out, "ou=services", "services");
    let _ = write!(
        out,
        "dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: roster\nuserPassword: {SERVICE_PASSWORD}\n\n"
    );
    for o in ous {
        ou(&mut out, &format!("ou={o}"), o);
    }
    out
}

fn user(out: &mut String, parent: &str, name: &str, uid: u32, gid: u32, description: &str) {
    let _ = write!(
        out,
        "dn: uid={name},{parent},{BASE_DN}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         uid: {name}\ncn: {name}\nsn: {name}\nuidNumber: {uid}\ngidNumber: {gid}\n\
         homeDirectory: /home/{name}\nloginShell: /bin/sh\ndescription: {description}\n\n"
    );
}

fn group(out: &mut String, parent: &str, name: &str, gid: u32, members: &[&str]) {
    let _ = write!(
        out,
        "dn: cn={name},{parent},{BASE_DN}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
    );
    for m in members {
        let _ = writeln!(out, "memberUid: {m}");
    }
    out.push('\n');
}

/// A referral entry (RFC 3296) `rdn` pointing at `url`.
fn referral(out: &mut String, rdn: &str, name: &str, url: &str) {
    let _ = write!(
        out,
        "dn: {rdn},{BASE_DN}\nobjectClass: referral\nobjectClass: extensibleObject\n\
         ou: {name}\nref: {url}\n\n"
    );
}

/// The second server: the delegated `ou=remote` subtree (two users, one of
/// them in the local group 100, and a group) and an `ou=forbidden` subtree
/// only reachable through a host that is not allowed.
fn remote_ldif() -> String {
    let mut out = skeleton(&["remote", "forbidden"]);
    user(&mut out, "ou=remote", "rremote1", 42021, 100, "remote");
    user(&mut out, "ou=remote", "rremote2", 42022, 42000, "remote");
    group(&mut out, "ou=remote", "remotegroup", 42100, &["rremote1"]);
    user(&mut out, "ou=forbidden", "forbid1", 42031, 42000, "remote");
    out
}

/// The first server: staff (one with the local primary group 100, one with
/// a GID below min_id that is not local), students (enrolled and
/// graduated), groups, and the referral entries.
fn main_ldif(remote_port: u16) -> String {
    let mut out = skeleton(&["staff", "students", "groups"]);
    user(&mut out, "ou=staff", "rstaff1", 42001, 100, "staff");
    user(&mut out, "ou=staff", "lowgid", 42002, 50, "staff");
    user(&mut out, "ou=students", "stud1", 42011, 42000, "enrolled");
    user(&mut out, "ou=students", "stud2", 42012, 42000, "graduated");
    group(
        &mut out,
        "ou=groups",
        "refgroup",
        42000,
        &["stud1", "rremote1", "rstaff1"],
    );
    referral(
        &mut out,
        "ou=remote",
        "remote",
        &format!("ldap://127.0.0.1:{remote_port}/ou=remote,{BASE_DN}"),
    );
    referral(
        &mut out,
        "ou=forbidden",
        "forbidden",
        &format!("ldap://localhost:{remote_port}/ou=forbidden,{BASE_DN}"),
    );
    out
}

/// Both servers and a daemon: user bases staff (one level), students
/// (enrolled only) and the whole tree for remote accounts and rstaff1
/// again (one entry under two bases).
struct Env {
    main: Slapd,
    remote: Slapd,
    rd: Rosterd,
    _dir: tempfile::TempDir,
}

fn start(extra: &[&str]) -> Env {
    let remote = Slapd::start_with_ldif(&remote_ldif());
    let main = Slapd::start_with_ldif(&main_ldif(remote.ldap_port()));
    // A referral back to the main server's referral (a loop), added the
    // way an administrator does: ldapadd with the ManageDsaIT control.
    let mut loop_entry = String::new();
    referral(
        &mut loop_entry,
        "ou=loop,ou=remote",
        "loop",
        &format!("ldap://127.0.0.1:{}/ou=remote,{BASE_DN}", main.ldap_port()),
    );
    let mut child = std::process::Command::new("ldapadd")
        .args([
            "-x",
            "-M",
            "-H",
            &remote.ldap_uri(),
            "-D",
            ADMIN_DN,
            "-w",
            ADMIN_PASSWORD,
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("ldapadd (ldap-utils)");
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), loop_entry.as_bytes()).unwrap();
    drop(child.stdin.take());
    assert!(
        child.wait().unwrap().success(),
        "ldapadd -M of the loop referral"
    );
    let dir = tempfile::Builder::new()
        .prefix("roster-referrals-")
        .tempdir()
        .unwrap();
    let opts = DomainOptions {
        schema: "rfc2307".into(),
        extra: vec![
            format!(
                "user_search_base = [\n  {{ base = \"ou=staff,{BASE_DN}\", scope = \"one\" }},\n  \
                 {{ base = \"ou=students,{BASE_DN}\", filter = \"(description=enrolled)\" }},\n  \
                 {{ base = \"{BASE_DN}\", filter = \"(|(description=remote)(uid=rstaff1))\" }},\n]"
            ),
            "connect_timeout = 1".into(),
            "op_timeout = 2".into(),
        ]
        .into_iter()
        .chain(extra.iter().map(|l| l.to_string()))
        .collect(),
        ..DomainOptions::default()
    };
    let text = format!(
        "[cache]\nenumerate = true\nentry_ttl = 0\nnegative_ttl = 0\noffline_max_age = 86400\n\n{}",
        domain_table(&main, dir.path(), &opts)
    );
    let rd = Rosterd::start(&text);
    Env {
        main,
        remote,
        rd,
        _dir: dir,
    }
}

/// Our test accounts in a `getent passwd` listing (UIDs 42000-42099).
fn ours(listing: &str) -> Vec<String> {
    let mut v: Vec<String> = listing
        .lines()
        .filter(|l| {
            l.split(':')
                .nth(2)
                .and_then(|u| u.parse::<u32>().ok())
                .is_some_and(|u| (42000..42100).contains(&u))
        })
        .map(|l| l.split(':').next().unwrap().to_string())
        .collect();
    v.sort();
    v
}

const ALLOWED: [&str; 4] = ["rremote1", "rremote2", "rstaff1", "stud1"];

fn check_everything(ns: &Namespace) {
    for (name, uid) in [
        ("rstaff1", 42001),
        ("stud1", 42011),
        ("rremote1", 42021),
        ("rremote2", 42022),
    ] {
        let by_name = ok(ns, &format!("getent passwd {name}"));
        assert!(
            by_name.starts_with(&format!("{name}:*:{uid}:")),
            "{by_name}"
        );
        let by_uid = ok(ns, &format!("getent passwd {uid}"));
        assert_eq!(by_name, by_uid);
    }
    // Local primary group 100: served, the group from /etc/group, once.
    let rstaff = ok(ns, "getent passwd rstaff1");
    assert!(rstaff.starts_with("rstaff1:*:42001:100:"), "{rstaff}");
    let groups = ok(ns, "id -G rremote1");
    let gids: Vec<&str> = groups.split_whitespace().collect();
    assert_eq!(gids.iter().filter(|g| **g == "100").count(), 1, "{groups}");
    assert_eq!(gids[0], "100", "{groups}");
    assert!(gids.contains(&"42000"), "{groups}");
    assert!(
        gids.contains(&"42100"),
        "the group behind the referral: {groups}"
    );
    let id = ok(ns, "id rremote1");
    assert!(id.contains("gid=100(users)"), "{id}");
    // Filtered out, behind a host not allowed, or a primary GID below
    // min_id that is not local: not served.
    for name in ["stud2", "forbid1", "lowgid"] {
        let out = ns.run(&format!("getent passwd {name}"));
        assert_eq!(out.status.code(), Some(2), "{name} must not exist");
    }
    assert_eq!(ours(&ok(ns, "getent passwd")), ALLOWED);
}

#[test]
fn referrals_bases_and_local_primary_groups() {
    let mut env = start(&[]);
    let ns = Namespace::new().socket_dir(&env.rd.socket_dir());
    check_everything(&ns);
    let group = ok(&ns, "getent group remotegroup");
    assert!(group.starts_with("remotegroup:*:42100:rremote1"), "{group}");

    let log = env.rd.log();
    let url = format!("ldap://localhost:{}/ou=forbidden", env.remote.ldap_port());
    assert!(
        log.contains(&url) && log.contains("referral not followed"),
        "the skipped referral is logged with its URL: {log}"
    );
    assert_eq!(
        log.matches(&url).count(),
        1,
        "logged once although seen many times: {log}"
    );
    assert!(log.contains("lowgid"), "the refused user is logged: {log}");

    // rosterctl test: referral counts, the skipped URL, the refused user.
    let out = rosterctl_common::run(Some(&env.rd.config_path()), &["test"]);
    let text = rosterctl_common::text(&out);
    let line = text
        .lines()
        .find(|l| l.contains("referrals") && l.contains("followed up to 5 deep"))
        .unwrap_or_else(|| panic!("no referrals step: {text}"));
    // "... : 8 seen, 4 followed, 4 skipped"
    let counts = line.rsplit(": ").next().unwrap();
    let num = |what: &str| -> u64 {
        counts
            .split(", ")
            .find_map(|c| c.strip_suffix(&format!(" {what}")))
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {what} count in {line:?}"))
    };
    assert!(num("followed") >= 2, "{text}");
    // The forbidden host (users and groups) and the loop.
    assert!(num("skipped") >= 3, "{text}");
    assert!(num("seen") == num("followed") + num("skipped"), "{text}");
    assert!(text.contains(&url), "{text}");
    assert!(text.contains("gidNumber 50 refused"), "{text}");

    // The referral target stops: everything is still served from the cache.
    env.remote.stop();
    check_everything(&ns);
    // And the main server too.
    env.main.stop();
    check_everything(&ns);
}

#[test]
fn referrals_false_leaves_the_delegated_subtree_out() {
    let env = start(&["referrals = false"]);
    let ns = Namespace::new().socket_dir(&env.rd.socket_dir());
    assert!(ok(&ns, "getent passwd stud1").starts_with("stud1:*:42011:"));
    for name in ["rremote1", "rremote2", "forbid1"] {
        let out = ns.run(&format!("getent passwd {name}"));
        assert_eq!(out.status.code(), Some(2), "{name} must not exist");
    }
    assert_eq!(ours(&ok(&ns, "getent passwd")), ["rstaff1", "stud1"]);
    assert!(
        !env.rd.log().contains("referral not followed"),
        "turned off: nothing to warn about"
    );
}
