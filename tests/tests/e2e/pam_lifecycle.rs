//! Password lifecycle with pam_roster, pamtester, a real rosterd and a
//! slapd with the ppolicy overlay: expiry warnings shown as PAM text
//! messages within `pwd_expiration_warning` days (from the ppolicy control
//! and from shadow attributes), grace logins counted down, and a ppolicy
//! lock released after the policy's `pwdLockoutDuration` (from the user's
//! `pwdPolicySubentry` or `ppolicy_default_dn`).

use crate::pam_common;

use pam_common::{
    account, assert_ok, assert_refused, authenticate, namespace, rosterd, says, slapd, Pam,
    TestUser,
};
use roster_e2e::config::Transport;
use roster_e2e::dataset::BASE_DN;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Today, in days since 1970-01-01 (shadow attributes count days).
fn today() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs();
    (secs / 86_400) as i64
}

/// `date -u` shifted by `offset` (e.g. "-60 seconds") as an LDAP
/// GeneralizedTime.
fn generalized_time(offset: &str) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", offset, "+%Y%m%d%H%M%SZ"])
        .output()
        .expect("date");
    assert!(out.status.success(), "date -d {offset}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// The notice lines of a pamtester run that pam_roster showed.
fn expiry_lines(p: &Pam) -> Vec<&str> {
    p.text
        .lines()
        .filter(|l| l.contains("Your password"))
        .collect()
}

/// Adds a ppolicy policy entry `cn=NAME,BASE` with `attrs` (LDIF lines);
/// returns its DN.
fn add_policy(slapd: &roster_e2e::slapd::Slapd, name: &str, attrs: &str) -> String {
    let dn = format!("cn={name},{BASE_DN}");
    slapd.ldapadd(&format!(
        "dn: {dn}\nobjectClass: device\nobjectClass: pwdPolicy\ncn: {name}\n\
         pwdAttribute: userPassword\n{attrs}\n"
    ));
    dn
}

/// `user`'s entry with `pwdPolicySubentry: policy`.
fn with_policy(user: &TestUser, policy: &str) -> String {
    format!("{}\npwdPolicySubentry: {policy}\n", user.ldif().trim_end())
}

#[test]
fn expiry_warnings_within_the_window_from_ppolicy_and_shadow() {
    let slapd = slapd();
    // The server warns from 950000 s before expiry on: every login of a
    // password valid for ten and a half days gets timeBeforeExpiration
    // (half a day off a whole count of days, so that the days shown do not
    // depend on how many seconds the test took).
    let ten_days = add_policy(
        &slapd,
        "ten-days",
        "pwdMaxAge: 907200\npwdExpireWarning: 950000\n",
    );
    let ppolicy_user = TestUser {
        name: "lcppolicy",
        uid: 10601,
        extra: "",
    };
    let in3 = format!("shadowLastChange: {}\nshadowMax: 90\n", today() - 87);
    let shadow3 = TestUser {
        name: "lcshadow3",
        uid: 10602,
        extra: Box::leak(in3.clone().into_boxed_str()),
    };
    let own_window = TestUser {
        name: "lcshadoww",
        uid: 10603,
        extra: Box::leak(format!("{in3}shadowWarning: 2\n").into_boxed_str()),
    };
    let in20 = TestUser {
        name: "lcshadow20",
        uid: 10604,
        extra: Box::leak(
            format!("shadowLastChange: {}\nshadowMax: 90\n", today() - 70).into_boxed_str(),
        ),
    };
    slapd.ldapadd(&format!(
        "{}\n{}{}{}",
        with_policy(&ppolicy_user, &ten_days),
        shadow3.ldif(),
        own_window.ldif(),
        in20.ldif()
    ));

    // Default window, 7 days.
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    let p = authenticate(&ns, shadow3.name, &shadow3.password());
    assert_ok(&p);
    assert_eq!(
        expiry_lines(&p),
        ["Your password will expire in 3 days."],
        "{}",
        p.text
    );
    // Ten and a half days left: outside the window, the server's warning is not shown.
    let p = authenticate(&ns, ppolicy_user.name, &ppolicy_user.password());
    assert_ok(&p);
    assert!(expiry_lines(&p).is_empty(), "{}", p.text);
    // shadowWarning: 2 is that account's own window.
    let p = authenticate(&ns, own_window.name, &own_window.password());
    assert_ok(&p);
    assert!(expiry_lines(&p).is_empty(), "{}", p.text);
    let p = authenticate(&ns, in20.name, &in20.password());
    assert_ok(&p);
    assert!(expiry_lines(&p).is_empty(), "{}", p.text);
    // The account step still allows them all.
    assert_ok(&account(&ns, shadow3.name));
    drop(rd);

    // A 14-day window shows the server's warning (10 days and some hours
    // left), with pamtester printing the PAM text message.
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &["pwd_expiration_warning = 14"],
    );
    let ns = namespace(&rd, "");
    let p = authenticate(&ns, ppolicy_user.name, &ppolicy_user.password());
    assert_ok(&p);
    assert_eq!(
        expiry_lines(&p),
        ["Your password will expire in 10 days."],
        "{}\n{}",
        p.text,
        rd.log()
    );
    let p = authenticate(&ns, in20.name, &in20.password());
    assert!(expiry_lines(&p).is_empty(), "{}", p.text);
    drop(rd);

    // 0: never warn.
    let rd = rosterd(&slapd, Transport::StartTls, &["pwd_expiration_warning = 0"]);
    let ns = namespace(&rd, "");
    for u in [&shadow3, &ppolicy_user] {
        let p = authenticate(&ns, u.name, &u.password());
        assert_ok(&p);
        assert!(expiry_lines(&p).is_empty(), "{}", p.text);
    }
}

#[test]
fn grace_logins_succeed_and_are_counted_down() {
    let slapd = slapd();
    // The password expires one second after it was set; three grace
    // logins follow.
    let grace = add_policy(&slapd, "grace", "pwdMaxAge: 1\npwdGraceAuthNLimit: 3\n");
    let user = TestUser {
        name: "lcgrace",
        uid: 10611,
        extra: "",
    };
    slapd.ldapadd(&with_policy(&user, &grace));
    let rd = rosterd(&slapd, Transport::StartTls, &[]);
    let ns = namespace(&rd, "");
    // The expiry itself (pwdMaxAge, counted in whole seconds of
    // pwdChangedTime) is the only wait.
    std::thread::sleep(Duration::from_secs(2));

    let mut left = Vec::new();
    let mut refused = None;
    for _ in 0..6 {
        let p = authenticate(&ns, user.name, &user.password());
        if !p.ok {
            refused = Some(p);
            break;
        }
        let line = expiry_lines(&p)
            .into_iter()
            .find(|l| l.contains("grace logins remaining"))
            .unwrap_or_else(|| panic!("a grace login without its count:\n{}", p.text))
            .to_string();
        let n: u32 = line
            .split("remaining: ")
            .nth(1)
            .and_then(|r| r.split('.').next())
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no count in {line:?}"));
        left.push(n);
    }
    // Counted down to 0, one login each, then refused as expired.
    assert!(left.len() >= 2, "grace logins {left:?}");
    assert_eq!(left.last(), Some(&0), "{left:?}");
    for w in left.windows(2) {
        assert_eq!(w[0], w[1] + 1, "{left:?}");
    }
    let refused = refused.expect("the login after the last grace login is refused");
    assert_refused(&refused, says::AUTH_ERR);
    assert!(
        refused.text.contains("Your password has expired"),
        "{}",
        refused.text
    );
}

/// Polls `acct_mgmt` of `user` until it succeeds, for at most `limit`.
fn account_allowed_within(
    ns: &roster_e2e::namespace::Namespace,
    user: &str,
    limit: Duration,
) -> Pam {
    let deadline = Instant::now() + limit;
    loop {
        let p = account(ns, user);
        if p.ok || Instant::now() > deadline {
            return p;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
}

#[test]
fn a_lockout_ends_after_the_policy_duration() {
    let slapd = slapd();
    let short = add_policy(
        &slapd,
        "short-lockout",
        "pwdLockout: TRUE\npwdMaxFailure: 2\npwdLockoutDuration: 12\n",
    );
    // Locked by slapd after two failures, under its own policy.
    let failing = TestUser {
        name: "lcfailing",
        uid: 10621,
        extra: "",
    };
    // Locked a minute ago, under the default policy (ppolicy_default_dn):
    // the lock is already over.
    let past = TestUser {
        name: "lcpast",
        uid: 10622,
        extra: Box::leak(
            format!(
                "pwdAccountLockedTime: {}\n",
                generalized_time("-60 seconds")
            )
            .into_boxed_str(),
        ),
    };
    // Locked by an administrator: forever, whatever the duration.
    let admin = TestUser {
        name: "lcadmin",
        uid: 10623,
        extra: "pwdAccountLockedTime: 000001010000Z\n",
    };
    slapd.ldapadd(&format!(
        "{}\n{}{}",
        with_policy(&failing, &short),
        past.ldif(),
        admin.ldif()
    ));
    let default_dn = format!("ppolicy_default_dn = \"{short}\"");
    let rd = rosterd(&slapd, Transport::StartTls, &[&default_dn]);
    let ns = namespace(&rd, "");

    assert_ok(&account(&ns, past.name));
    let p = account(&ns, admin.name);
    assert_refused(&p, says::PERM_DENIED);
    assert!(p.text.contains("Your account is locked"), "{}", p.text);

    assert_refused(&authenticate(&ns, failing.name, "wrong-1"), says::AUTH_ERR);
    assert_refused(&authenticate(&ns, failing.name, "wrong-2"), says::AUTH_ERR);
    let p = account(&ns, failing.name);
    assert_refused(&p, says::PERM_DENIED);
    assert!(p.text.contains("try again later"), "{}", p.text);
    // Released once the twelve seconds are over (long enough that a loaded
    // machine still sees the lock above; without a login in
    // between: slapd still has pwdAccountLockedTime).
    let p = account_allowed_within(&ns, failing.name, Duration::from_secs(30));
    assert_ok(&p);
    assert_ok(&authenticate(&ns, failing.name, &failing.password()));
    // The administrative lock stays.
    assert_refused(&account(&ns, admin.name), says::PERM_DENIED);
}
