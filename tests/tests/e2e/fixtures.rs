//! The fixtures themselves work: slapd serves the sample directory over
//! plain LDAP, StartTLS and ldaps with the test CA, refuses the wrong CA,
//! stops and starts again; the namespace keeps the host's files working.

use roster_e2e::dataset::{self, ALICE, BASE_DN};
use roster_e2e::namespace::Namespace;
use roster_e2e::slapd::Slapd;
use std::path::Path;
use std::process::{Command, Output};

fn ldapsearch(uri: &str, ca: &Path, args: &[&str]) -> Output {
    Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", ca)
        .env("LDAPTLS_REQCERT", "demand")
        .args(["-x", "-LLL", "-H", uri, "-b", BASE_DN])
        .args(args)
        .output()
        .expect("run ldapsearch")
}

#[test]
fn slapd_serves_the_sample_directory_over_every_transport() {
    let mut slapd = Slapd::start();
    let filter = format!("(uid={})", ALICE.name);
    for (uri, extra) in [
        (slapd.ldap_uri(), vec![]),
        (slapd.ldap_uri(), vec!["-ZZ"]),
        (slapd.ldaps_uri(), vec![]),
    ] {
        let mut args = extra.clone();
        args.extend_from_slice(&[filter.as_str(), "uidNumber"]);
        let out = ldapsearch(&uri, slapd.ca_file(), &args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains(&format!("uidNumber: {}", ALICE.uid)),
            "{uri} {extra:?}: {text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let wrong = ldapsearch(&slapd.ldaps_uri(), slapd.wrong_ca_file(), &[&filter]);
    assert!(!wrong.status.success(), "the wrong CA must not verify");

    // The bulk users and the many groups were all loaded (paged search).
    let out = ldapsearch(
        &slapd.ldap_uri(),
        slapd.ca_file(),
        &["-E", "pr=1000/noprompt", "(objectClass=posixGroup)", "dn"],
    );
    let groups = String::from_utf8_lossy(&out.stdout).matches("dn: ").count() as u32;
    assert_eq!(groups, dataset::MANY_GROUPS_COUNT + 3);

    slapd.stop();
    let out = ldapsearch(&slapd.ldap_uri(), slapd.ca_file(), &[&filter]);
    assert!(!out.status.success(), "a stopped slapd must not answer");
    slapd.start_again();
    let out = ldapsearch(&slapd.ldap_uri(), slapd.ca_file(), &[&filter]);
    assert!(out.status.success());
}

#[test]
fn namespace_keeps_files_working_without_a_daemon() {
    let empty = tempfile::tempdir().unwrap();
    let ns = Namespace::new().socket_dir(empty.path());
    let out = ns.run_ok("getent passwd root; cat /etc/nsswitch.conf");
    assert!(out.starts_with("root:x:0:0:"), "{out}");
    assert!(out.contains("passwd: files roster"), "{out}");
    // The host's own file is untouched.
    let host = std::fs::read_to_string("/etc/nsswitch.conf").unwrap();
    assert!(!host.contains("roster"), "host nsswitch.conf names roster");
}
