//! Offline logins: with `cache_credentials = true` a password that logged in
//! online is accepted while slapd is stopped (an argon2id hash in a 0600
//! file, never the password), a user without a cached credential gets
//! PAM_AUTHINFO_UNAVAIL, and repeated failures lock offline logins.
//! Cached passwords follow the directory: after a password reset and one
//! login the directory refused, the old password fails offline too;
//! `rosterctl cache forget-credentials` deletes them, and `rosterctl cache
//! unlock` clears an offline lockout.

use crate::pam_common;
use crate::rosterctl_common;

use pam_common::{
    assert_ok, assert_refused, authenticate, namespace, pamtester, rosterd, says, slapd, TestUser,
};
use roster_e2e::config::Transport;
use roster_e2e::dataset::{ALICE, BOB};
use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, Instant};

#[test]
fn offline_login_with_cached_credentials_and_lockout() {
    let mut slapd = slapd();
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &[
            "cache_credentials = true",
            "offline_failed_login_attempts = 2",
            "offline_failed_login_delay = 5",
            "connect_timeout = 1",
            "offline_retry_initial = 0.2",
            "offline_retry_max = 0.5",
        ],
    );
    let ns = namespace(&rd, "");
    assert_ok(&pamtester(
        &ns,
        ALICE.name,
        "authenticate acct_mgmt",
        &[ALICE.password],
    ));

    slapd.stop();
    // alice logged in before: her cached credential works.
    let p = pamtester(&ns, ALICE.name, "authenticate acct_mgmt", &[ALICE.password]);
    assert_ok(&p);
    assert!(p.text.contains("cached credentials"), "{}", p.text);
    // The hash is written after the online login was answered; an offline
    // check waits for it, so it is on disk now.
    let file = rd.state_dir().join("credentials.json");
    let meta = std::fs::metadata(&file).expect("credentials.json written");
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("$argon2id$"), "{text}");
    assert!(
        !text.contains(ALICE.password),
        "the password itself is stored"
    );

    // bob never did: nothing to check against.
    assert_refused(
        &authenticate(&ns, BOB.name, BOB.password),
        says::AUTHINFO_UNAVAIL,
    );
    // Two failures lock offline logins, even with the right password.
    assert_refused(&authenticate(&ns, ALICE.name, "wrong-1"), says::AUTH_ERR);
    assert_refused(&authenticate(&ns, ALICE.name, "wrong-2"), says::AUTH_ERR);
    assert_refused(
        &authenticate(&ns, ALICE.name, ALICE.password),
        says::MAXTRIES,
    );
    assert!(rd.log().contains("locked until"), "{}", rd.log());

    // The directory is back: once rosterd's probe (short backoff here)
    // has reconnected, online logins work again (and clear the lockout).
    slapd.start_again();
    let deadline = Instant::now() + Duration::from_secs(90);
    loop {
        let p = authenticate(&ns, ALICE.name, ALICE.password);
        if p.ok {
            break;
        }
        assert!(p.text.contains(says::MAXTRIES), "{}", p.text);
        assert!(
            Instant::now() < deadline,
            "rosterd never went back online:\n{}",
            rd.log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(rd.log().contains("password accepted by the directory"));
    assert_refused(&authenticate(&ns, ALICE.name, "wrong-3"), says::AUTH_ERR);
}

#[test]
fn offline_without_cache_credentials_is_authinfo_unavail() {
    let mut slapd = slapd();
    let rd = rosterd(&slapd, Transport::StartTls, &["connect_timeout = 1"]);
    let ns = namespace(&rd, "");
    assert_ok(&authenticate(&ns, ALICE.name, ALICE.password));
    slapd.stop();
    assert_refused(
        &authenticate(&ns, ALICE.name, ALICE.password),
        says::AUTHINFO_UNAVAIL,
    );
    assert!(!rd.state_dir().join("credentials.json").exists());
}

#[test]
fn after_a_password_reset_and_one_refused_login_the_old_password_fails_offline() {
    let mut slapd = slapd();
    let user = TestUser {
        name: "preset",
        uid: 10520,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &["cache_credentials = true", "connect_timeout = 1"],
    );
    let ns = namespace(&rd, "");
    let old = user.password();
    let new = "preset-reset-by-the-admin";
    assert_ok(&authenticate(&ns, user.name, &old));
    // The administrator resets the password in the directory.
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nreplace: userPassword\nuserPassword: {new}\n",
        user.dn()
    ));
    // The user tries the old password once while the directory answers.
    assert_refused(&authenticate(&ns, user.name, &old), says::AUTH_ERR);
    assert!(rd.log().contains("cached password deleted"), "{}", rd.log());

    slapd.stop();
    // Offline, the old password has nothing left to match.
    assert_refused(&authenticate(&ns, user.name, &old), says::AUTHINFO_UNAVAIL);
    let text = std::fs::read_to_string(rd.state_dir().join("credentials.json")).unwrap();
    assert!(!text.contains("$argon2id$"), "{text}");
}

#[test]
fn rosterctl_cache_forget_credentials_deletes_cached_passwords() {
    let mut slapd = slapd();
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &["cache_credentials = true", "connect_timeout = 1"],
    );
    let ns = namespace(&rd, "");
    assert_ok(&authenticate(&ns, ALICE.name, ALICE.password));
    assert_ok(&authenticate(&ns, BOB.name, BOB.password));
    let forget = |args: &[&str]| {
        let mut full = vec!["cache", "forget-credentials"];
        full.extend_from_slice(args);
        let out = rosterctl_common::run(Some(&rd.config_path()), &full);
        let t = rosterctl_common::text(&out);
        assert_eq!(out.status.code(), Some(0), "{t}");
        t
    };
    // alice's hash may still be computing: the command waits for it.
    let t = forget(&["alice"]);
    assert!(
        t.contains("deleted the cached passwords of alice") && t.contains("forgotten: 1"),
        "{t}"
    );
    let t = forget(&["alice@example"]);
    assert!(t.contains("forgotten: 0"), "{t}");
    let out = rosterctl_common::run(Some(&rd.config_path()), &["cache", "forget-credentials"]);
    assert_ne!(out.status.code(), Some(0), "USER or --all is required");

    slapd.stop();
    assert_refused(
        &authenticate(&ns, ALICE.name, ALICE.password),
        says::AUTHINFO_UNAVAIL,
    );
    assert_ok(&authenticate(&ns, BOB.name, BOB.password));
    let t = forget(&["--all"]);
    assert!(t.contains("forgotten: 1"), "{t}");
    assert_refused(
        &authenticate(&ns, BOB.name, BOB.password),
        says::AUTHINFO_UNAVAIL,
    );
}

#[test]
fn rosterctl_cache_unlock_clears_an_offline_lockout() {
    let mut slapd = slapd();
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &[
            "cache_credentials = true",
            "offline_failed_login_attempts = 2",
            // Long enough that only the unlock can end it in this test.
            "offline_failed_login_delay = 3600",
            "connect_timeout = 1",
        ],
    );
    let ns = namespace(&rd, "");
    assert_ok(&authenticate(&ns, ALICE.name, ALICE.password));
    slapd.stop();
    assert_refused(&authenticate(&ns, ALICE.name, "wrong-1"), says::AUTH_ERR);
    assert_refused(&authenticate(&ns, ALICE.name, "wrong-2"), says::AUTH_ERR);
    assert_refused(
        &authenticate(&ns, ALICE.name, ALICE.password),
        says::MAXTRIES,
    );
    let unlock = |user: &str| {
        let out = rosterctl_common::run(Some(&rd.config_path()), &["cache", "unlock", user]);
        let t = rosterctl_common::text(&out);
        assert_eq!(out.status.code(), Some(0), "{t}");
        t
    };
    // Another domain's alice: nothing to clear.
    assert!(unlock("alice@elsewhere").contains("unlocked: 0"));
    let t = unlock("alice");
    assert!(
        t.contains("cleared the offline lockout of alice") && t.contains("unlocked: 1"),
        "{t}"
    );
    assert!(
        rd.log()
            .contains("offline lockout cleared by admin command"),
        "{}",
        rd.log()
    );
    // The cached password was kept: alice logs in offline again.
    let p = authenticate(&ns, ALICE.name, ALICE.password);
    assert_ok(&p);
    assert!(p.text.contains("cached credentials"), "{}", p.text);
    assert!(unlock("alice").contains("unlocked: 0"), "nothing left");
    // Not for anyone but root: pam.sock is out of reach of nobody.
    let out = std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups"])
        .arg(rosterctl_common::rosterctl_bin())
        .arg("--socket-dir")
        .arg(rd.socket_dir())
        .args(["cache", "unlock", "alice"])
        .output()
        .expect("run setpriv");
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        rosterctl_common::text(&out)
    );
}
