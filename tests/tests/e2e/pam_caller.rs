//! Callers other than a root login: a program running as a directory user
//! (a screen locker; pamtester dropped to the user's UID with `setpriv`)
//! authenticates that user over `pam-user.sock`, is refused for another
//! user and for a wrong password, and is slowed after failures; root's
//! `passwd USER` resets a password without the old one, as the domain's
//! password admin, after which the user logs in with the new password.

use crate::pam_common;

use pam_common::{
    as_user, assert_ok, assert_refused, authenticate, namespace, pamtester, pamtester_via, rosterd,
    says, service_file, slapd, Pam, TestUser,
};
use roster_e2e::config::Transport;
use roster_e2e::dataset::{PASSWORD_ADMIN_DN, PASSWORD_ADMIN_PASSWORD};
use roster_e2e::slapd::Slapd;
use std::process::Command;
use std::time::{Duration, Instant};

/// What rosterd tells an unprivileged caller about a name that is not its
/// own account.
const NOT_YOURS: &str = "Only the password of the account running this program can be checked here";
/// What it tells a throttled caller.
const THROTTLED: &str = "Too many failed attempts: try again later";

fn whoami(slapd: &Slapd, dn: &str, pw: &str) -> bool {
    Command::new("ldapwhoami")
        .env("LDAPTLS_CACERT", slapd.ca_file())
        .args(["-x", "-ZZ", "-H", &slapd.ldap_uri(), "-D", dn, "-w", pw])
        .output()
        .expect("ldapwhoami")
        .status
        .success()
}

/// pamtester `authenticate` of `user` run as the user of UID `uid`.
fn authenticate_as(ns: &roster_e2e::namespace::Namespace, uid: u32, user: &str, pw: &str) -> Pam {
    pamtester_via(ns, &as_user(uid), user, "authenticate", &[pw])
}

#[test]
fn a_user_authenticates_itself_only_and_failures_are_slowed() {
    let slapd = slapd();
    let me = TestUser {
        name: "pcaller",
        uid: 10530,
        extra: "",
    };
    let other = TestUser {
        name: "pcallee",
        uid: 10531,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&me, &other]);
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    let mine = me.password();

    // Its own account, with its own password.
    let p = authenticate_as(&ns, me.uid, me.name, &mine);
    assert_ok(&p);
    // Another directory user, even with the right password: the answer of
    // an unknown user, with the same message as for a name no one has.
    let p = authenticate_as(&ns, me.uid, other.name, &other.password());
    assert_refused(&p, says::USER_UNKNOWN);
    assert!(p.text.contains(NOT_YOURS), "{}", p.text);
    let p = authenticate_as(&ns, me.uid, "no-such-user-here", "whatever");
    assert_refused(&p, says::USER_UNKNOWN);
    assert!(p.text.contains(NOT_YOURS), "{}", p.text);
    let log = rd.log();
    assert!(
        log.contains("caller uid 10530 may authenticate only its own account")
            && log.contains("pcallee is uid 10531"),
        "{log}"
    );
    // A wrong password.
    let p = authenticate_as(&ns, me.uid, me.name, "wrong-pw");
    assert_refused(&p, says::AUTH_ERR);

    // Repeated failures are slowed: each failure closes a window that
    // doubles, inside which an attempt is refused unchecked. Failing on,
    // an attempt meets a closed window before long.
    let deadline = Instant::now() + Duration::from_secs(120);
    let throttled = loop {
        let p = authenticate_as(&ns, me.uid, me.name, "wrong-pw");
        assert_refused(&p, says::AUTH_ERR);
        if p.text.contains(THROTTLED) {
            break p;
        }
        assert!(Instant::now() < deadline, "never throttled:\n{}", rd.log());
    };
    assert!(!throttled.ok);
    let log = rd.log();
    assert!(
        log.contains("unprivileged authentication throttled: password not checked")
            && log.contains("peer_uid=10530")
            && log.contains("failed attempt(s)"),
        "{log}"
    );
    assert!(
        log.contains("unprivileged authentication failed: the uid's next attempt is throttled"),
        "{log}"
    );
    // Another user is not slowed by it.
    assert_ok(&authenticate_as(
        &ns,
        other.uid,
        other.name,
        &other.password(),
    ));
    // Root's logins (pam.sock) are not throttled either.
    assert_ok(&authenticate(&ns, me.name, &mine));
    // Account checks, sessions and password changes are root's: a user's
    // process does not even ask rosterd (account: ignored by the module).
    let p = pamtester_via(&ns, &as_user(me.uid), me.name, "chauthtok", &[&mine]);
    assert!(!p.ok, "{}", p.text);
    assert!(
        !rd.log().contains(&mine) && !rd.log().contains(&other.password()),
        "rosterd logged a password"
    );
}

/// Writes the password admin's password file (root:_roster, 0640) in `dir`.
fn admin_password_file(dir: &std::path::Path) -> std::path::PathBuf {
    let path = dir.join("password_admin");
    std::fs::write(&path, PASSWORD_ADMIN_PASSWORD).expect("write password file");
    roster_e2e::daemon_user::give_secret(&path);
    path
}

#[test]
fn root_resets_a_password_with_passwd_and_the_user_logs_in_with_it() {
    let slapd = slapd();
    slapd.add_password_admin();
    let user = TestUser {
        name: "preset",
        uid: 10532,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    let secrets = tempfile::tempdir().expect("temp dir");
    let file = admin_password_file(secrets.path());
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &[
            "cache_credentials = true",
            &format!("password_admin_dn = \"{PASSWORD_ADMIN_DN}\""),
            &format!("password_admin_password_file = \"{}\"", file.display()),
        ],
    );
    // passwd(1) itself, through its PAM service, as root.
    let ns = namespace(&rd, "").pam_service("passwd", &service_file(""));
    let old = user.password();
    let new = "reset-by-root-pw-1";
    let input = ns.scratch().join("passwd.in");
    std::fs::write(&input, format!("{new}\n{new}\n")).expect("write passwd input");
    let out = ns.run(&format!("passwd {} < '{}'", user.name, input.display()));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "passwd:\n{text}\n{}", rd.log());
    // Root was not asked for the current password.
    assert!(
        text.contains("New password:") && !text.contains("Current password:"),
        "{text}"
    );
    assert!(
        whoami(&slapd, &user.dn(), new),
        "the directory has the new password"
    );
    assert!(!whoami(&slapd, &user.dn(), &old));
    // The user logs in with the new password (a login, and its own screen
    // locker), not with the old one.
    assert_ok(&pamtester(&ns, user.name, "authenticate acct_mgmt", &[new]));
    assert_ok(&authenticate_as(&ns, user.uid, user.name, new));
    assert_refused(&authenticate(&ns, user.name, &old), says::AUTH_ERR);
    let log = rd.log();
    assert!(log.contains("password reset by root"), "{log}");
    assert!(
        !log.contains(new) && !log.contains(&old) && !log.contains(PASSWORD_ADMIN_PASSWORD),
        "rosterd logged a password"
    );
}

#[test]
fn without_a_password_admin_root_is_told_which_keys_are_missing() {
    let slapd = slapd();
    let user = TestUser {
        name: "pnoreset",
        uid: 10533,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    let p = pamtester(
        &ns,
        user.name,
        "chauthtok",
        &["another-pw-1", "another-pw-1"],
    );
    assert_refused(
        &p,
        "has no password_admin_dn / password_admin_password_file: root cannot reset passwords",
    );
    assert!(whoami(&slapd, &user.dn(), &user.password()), "unchanged");
}
