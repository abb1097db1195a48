//! Password change through pamtester `chauthtok` (current, new, retype on
//! stdin), run as the user's setuid `passwd` runs (real UID the user's,
//! effective UID 0; root's own `passwd USER` is a reset, see
//! `pam_caller.rs`): the LDAP Password Modify operation bound as the user;
//! then the new password logs in and the old one does not. The server's
//! policy message reaches the user.

mod pam_common;

use pam_common::{
    assert_ok, assert_refused, authenticate, namespace, pamtester, passwd_by_user, rosterd, says,
    slapd, TestUser,
};
use roster_e2e::config::Transport;
use roster_e2e::dataset::BASE_DN;
use std::process::Command;

fn whoami(slapd: &roster_e2e::slapd::Slapd, dn: &str, pw: &str) -> bool {
    Command::new("ldapwhoami")
        .env("LDAPTLS_CACERT", slapd.ca_file())
        .args(["-x", "-ZZ", "-H", &slapd.ldap_uri(), "-D", dn, "-w", pw])
        .output()
        .expect("ldapwhoami")
        .status
        .success()
}

#[test]
fn password_change_then_login_with_the_new_password_only() {
    let slapd = slapd();
    let user = TestUser {
        name: "pchange",
        uid: 10510,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    let rd = rosterd(&slapd, Transport::StartTls, &["cache_credentials = true"]);
    let ns = namespace(&rd, "");
    let old = user.password();
    let new = "a-new-pchange-pw-1";

    // A wrong current password changes nothing.
    let p = passwd_by_user(&ns, &user, &["wrong-current", new, new]);
    assert_refused(&p, "Authentication failure");
    // Mismatched new passwords are refused before the directory is asked.
    let p = passwd_by_user(&ns, &user, &[&old, new, "something-else"]);
    assert!(!p.ok && p.text.contains("do not match"), "{}", p.text);
    assert!(whoami(&slapd, &user.dn(), &old));

    let p = passwd_by_user(&ns, &user, &[&old, new, new]);
    assert_ok(&p);
    assert!(
        p.text.contains("Current password:") && p.text.contains("Retype new password:"),
        "{}",
        p.text
    );
    assert!(
        whoami(&slapd, &user.dn(), new),
        "the directory has the new password"
    );
    assert!(!whoami(&slapd, &user.dn(), &old));

    assert_ok(&authenticate(&ns, user.name, new));
    assert_refused(&authenticate(&ns, user.name, &old), says::AUTH_ERR);
    let log = rd.log();
    assert!(log.contains("password changed"), "{log}");
    assert!(
        !log.contains(new) && !log.contains(&old),
        "rosterd logged a password"
    );
}

#[test]
fn the_servers_password_policy_message_is_shown() {
    let slapd = slapd();
    let policy_dn = format!("cn=strict-policy,{BASE_DN}");
    slapd.ldapadd(&format!(
        "dn: {policy_dn}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: strict-policy\n\
         pwdAttribute: userPassword\npwdMinLength: 12\npwdCheckQuality: 2\n"
    ));
    let user = TestUser {
        name: "pstrict",
        uid: 10511,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    slapd.ldapmodify(&format!(
        "dn: {}\nchangetype: modify\nadd: pwdPolicySubentry\npwdPolicySubentry: {policy_dn}\n",
        user.dn()
    ));
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    let old = user.password();
    let p = passwd_by_user(&ns, &user, &[&old, "short", "short"]);
    assert!(!p.ok, "{}", p.text);
    // slapd's ppolicy text, passed through the conversation.
    assert!(
        p.text
            .contains("Password change refused: Password fails quality checking policy"),
        "{}",
        p.text
    );
    assert!(
        p.text.contains("Authentication token manipulation error"),
        "{}",
        p.text
    );
    assert!(
        whoami(&slapd, &user.dn(), &old),
        "the old password still works"
    );
}

#[test]
fn an_expired_password_must_be_changed_and_then_the_account_is_allowed() {
    let slapd = slapd();
    let user = TestUser {
        name: "pmustchange",
        uid: 10512,
        extra: "pwdReset: TRUE\n",
    };
    pam_common::add_users(&slapd, &[&user]);
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    let old = user.password();
    let new = "changed-after-reset-1";
    let p = pamtester(&ns, user.name, "authenticate acct_mgmt", &[&old]);
    assert_refused(&p, says::NEW_AUTHTOK_REQD);
    // The usual flow after PAM_NEW_AUTHTOK_REQD: change it, then log in.
    assert_ok(&passwd_by_user(&ns, &user, &[&old, new, new]));
    assert_ok(&pamtester(&ns, user.name, "authenticate acct_mgmt", &[new]));
}
