//! `make demo`: a sample directory on a private slapd, a real rosterd in
//! front of it, and real `getent`, `id`, `ls`, `chown` and a PAM login
//! through libnss_roster.so.2 and pam_roster.so — in a private mount
//! namespace, so the host's own /etc is never touched (rosterd's system
//! user `_roster`, if the machine has none, is seen through bind-mounted
//! copies of passwd and group: `roster_e2e::daemon_user`). Everything it
//! starts is stopped when it ends.

use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{ALICE, BIS_PARENT, MANYGROUPS, STAFF_GID};
use roster_e2e::namespace::Namespace;
use roster_e2e::paths;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::process::ExitCode;

fn step(ns: &Namespace, title: &str, script: &str) -> bool {
    println!("\n# {title}\n$ {script}");
    let out = ns.run(script);
    // Prompts (pamtester's "Password: ") go to stderr before the result.
    let err = String::from_utf8_lossy(&out.stderr);
    if !err.is_empty() {
        println!("{}", err.trim_end());
    }
    print!("{}", String::from_utf8_lossy(&out.stdout));
    if !out.status.success() {
        println!("(exit status {})", out.status.code().unwrap_or(-1));
    }
    out.status.success()
}

fn main() -> ExitCode {
    println!(
        "roster demo: starting a private slapd with the sample directory (dc=example,dc=test) ..."
    );
    let slapd = Slapd::start();
    let work = tempfile::tempdir().expect("temp dir");
    let opts = DomainOptions {
        transport: Transport::StartTls,
        extra: vec!["cache_credentials = true".into()],
        ..DomainOptions::default()
    };
    let config = domain_table(&slapd, work.path(), &opts);
    println!(
        "starting rosterd against {} (StartTLS) with:\n{config}",
        slapd.ldap_uri()
    );
    let mut rosterd = Rosterd::start(&config);
    let pam = paths::module("libpam_roster.so");
    let service = format!(
        "auth required {p}\naccount required {p}\nsession optional {p}\n",
        p = pam.display()
    );
    let ns = Namespace::new()
        .socket_dir(&rosterd.socket_dir())
        .pam_service("roster-demo", &service);
    println!("inside a private mount namespace, /etc/nsswitch.conf says `passwd: files roster`, `group: files roster`");

    let f = ns.scratch().join("report.txt");
    let f = f.display();
    let steps: Vec<(&str, String, bool)> = vec![
        (
            "a directory user by name",
            format!("getent passwd {}", ALICE.name),
            true,
        ),
        (
            "a directory user by UID",
            format!("getent passwd {}", ALICE.uid),
            true,
        ),
        (
            "directory groups with their members, by GID and by name (nested RFC 2307bis)",
            format!("getent group {STAFF_GID}; getent group {}", BIS_PARENT.0),
            true,
        ),
        (
            "id: the user and all of its groups",
            format!("id {}", ALICE.name),
            true,
        ),
        (
            "a user in 1,000 groups (count of groups id reports)",
            format!("id -G {} | wc -w", MANYGROUPS.name),
            true,
        ),
        (
            "files owned by directory accounts",
            format!(
                "touch {f} && chown {}:{STAFF_GID} {f} && ls -l {f} && ls -ln {f}",
                ALICE.name
            ),
            true,
        ),
        (
            "local accounts still come from files",
            "getent passwd root".into(),
            true,
        ),
        (
            "a PAM login with the directory password (pamtester)",
            format!(
                "echo {} | pamtester roster-demo {} authenticate acct_mgmt open_session",
                ALICE.password, ALICE.name
            ),
            true,
        ),
        (
            "the wrong password is refused",
            format!(
                "echo wrong-password | pamtester roster-demo {} authenticate",
                ALICE.name
            ),
            false,
        ),
        (
            "what the daemon says about itself",
            format!(
                "{} --config {} status",
                paths::bin("rosterctl").display(),
                rosterd.config_path().display()
            ),
            true,
        ),
    ];
    let mut failed = 0;
    for (title, script, expect_success) in &steps {
        let ok = step(&ns, title, script);
        if ok != *expect_success {
            failed += 1;
            println!("!! unexpected result for: {title}");
        }
    }
    rosterd.stop();
    drop(slapd);
    if failed == 0 {
        println!("\nroster demo finished: every step gave the expected result; slapd and rosterd are stopped.");
        ExitCode::SUCCESS
    } else {
        println!("\nroster demo: {failed} step(s) gave an unexpected result");
        ExitCode::FAILURE
    }
}
