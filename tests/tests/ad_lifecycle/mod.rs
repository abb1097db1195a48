//! Password expiry warnings of AD users: `pwdLastSet` plus the domain's
//! `maxPwdAge` (read from the domain root object), shown by pam_roster as
//! a PAM text message within `pwd_expiration_warning` days. The test sets
//! the shared DC's `maxPwdAge` and restores it when it ends (passed or
//! failed): meanwhile passwords stay valid, other tests' logins only gain
//! a notice.

use super::pam_common::{pamtester, service_file, SERVICE};
use super::{dc, rosterd, tail};
use roster_e2e::namespace::Namespace;
use roster_e2e::samba::{AD_ADMIN_PASSWORD, AD_ALICE, AD_BASE_DN, AD_REALM};
use std::process::Command;

/// An LDAP tool run as Administrator over ldaps against the DC.
fn admin_tool(tool: &str, args: &[&str], stdin: Option<&str>) -> String {
    use std::io::Write;
    let mut child = Command::new(tool)
        .env("LDAPTLS_CACERT", dc().ca_file())
        .args(["-x", "-H", &dc().ldaps_uri(), "-D"])
        .arg(format!("Administrator@{}", AD_REALM.to_ascii_lowercase()))
        .args(["-w", AD_ADMIN_PASSWORD])
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{tool}: {e}"));
    let mut input = child.stdin.take().expect("stdin");
    if let Some(text) = stdin {
        input.write_all(text.as_bytes()).expect("write stdin");
    }
    drop(input);
    let out = child.wait_with_output().expect("wait");
    assert!(
        out.status.success(),
        "{tool} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The domain's `maxPwdAge` as written on the root object.
fn max_pwd_age() -> String {
    let out = admin_tool(
        "ldapsearch",
        &[
            "-LLL",
            "-b",
            AD_BASE_DN,
            "-s",
            "base",
            "(objectClass=*)",
            "maxPwdAge",
        ],
        None,
    );
    out.lines()
        .find_map(|l| l.strip_prefix("maxPwdAge: "))
        .unwrap_or_else(|| panic!("no maxPwdAge on {AD_BASE_DN}: {out}"))
        .trim()
        .to_string()
}

fn set_max_pwd_age(value: &str) {
    admin_tool(
        "ldapmodify",
        &[],
        Some(&format!(
            "dn: {AD_BASE_DN}\nchangetype: modify\nreplace: maxPwdAge\nmaxPwdAge: {value}\n"
        )),
    );
}

/// The domain's `maxPwdAge` changed for one test, put back when dropped.
struct MaxPwdAge {
    before: String,
}

impl MaxPwdAge {
    fn set(value: &str) -> MaxPwdAge {
        let before = max_pwd_age();
        set_max_pwd_age(value);
        assert_eq!(max_pwd_age(), value);
        MaxPwdAge { before }
    }
}

impl Drop for MaxPwdAge {
    fn drop(&mut self) {
        set_max_pwd_age(&self.before);
    }
}

/// Lines of a pamtester run that pam_roster showed about the password.
fn expiry_lines(text: &str) -> Vec<&str> {
    text.lines()
        .filter(|l| l.contains("Your password"))
        .collect()
}

#[test]
fn ad_password_expiry_warning_from_pwd_last_set_and_max_pwd_age() {
    // Five days (in negative 100-ns intervals): alice's password, set
    // when the DC was populated, expires in a little under five days.
    let _restore = MaxPwdAge::set("-4320000000000");
    let (rd, _dir) = rosterd("");
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    let p = pamtester(
        &ns,
        AD_ALICE.name,
        "authenticate acct_mgmt",
        &[AD_ALICE.password],
    );
    assert!(p.ok, "{}\n{}", p.text, tail(&rd.log()));
    assert_eq!(
        expiry_lines(&p.text),
        ["Your password will expire in 4 days."],
        "{}\n{}",
        p.text,
        tail(&rd.log())
    );
    drop(rd);

    // Outside a three-day window: no warning.
    let (rd, _dir) = rosterd("pwd_expiration_warning = 3\n");
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    let p = pamtester(&ns, AD_ALICE.name, "authenticate", &[AD_ALICE.password]);
    assert!(p.ok, "{}\n{}", p.text, tail(&rd.log()));
    assert!(expiry_lines(&p.text).is_empty(), "{}", p.text);
    drop(rd);

    // Passwords that never expire (maxPwdAge 0): no warning either.
    set_max_pwd_age("0");
    let (rd, _dir) = rosterd("");
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(""));
    let p = pamtester(&ns, AD_ALICE.name, "authenticate", &[AD_ALICE.password]);
    assert!(p.ok, "{}\n{}", p.text, tail(&rd.log()));
    assert!(expiry_lines(&p.text).is_empty(), "{}", p.text);
}
