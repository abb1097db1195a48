//! The Debian PAM stack that `pam-auth-update --enable roster` builds from
//! `packaging/pam-configs/roster` (pam_unix first, pam_roster after it):
//! directory users log in, are checked, change their password and get a
//! home directory (pam_mkhomedir); local users are still pam_unix's.

mod pam_common;

use pam_common::{pam_auth_update_script, rosterd, slapd, TestUser};
use roster_e2e::config::Transport;
use roster_e2e::dataset::ALICE;
use roster_e2e::namespace::Namespace;

const STACK: &str = "@include common-auth\n@include common-account\n\
@include common-password\n@include common-session\n";

#[test]
fn pam_auth_update_profile_drives_every_phase() {
    let slapd = slapd();
    let user = TestUser {
        name: "pstack",
        uid: 10520,
        extra: "",
    };
    pam_common::add_users(&slapd, &[&user]);
    let rd = rosterd(
        &slapd,
        Transport::StartTls,
        &["allow_groups = [\"members\"]"],
    );
    let ns = Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service("roster-stack", STACK);
    let scratch = ns.scratch().to_path_buf();
    let s = scratch.display();
    let old = user.password();
    let new = "pstack-new-pw-1";
    let script = format!(
        r#"{setup}
run() {{ echo "== $1"; shift; "$@" 2>&1; echo "rc=$?"; }}
run login pamtester roster-stack {alice} authenticate acct_mgmt open_session close_session <<< '{alice_pw}'
run wrong pamtester roster-stack {alice} authenticate <<< 'wrong-pw'
run home test -d /home/{alice}
run passwd setpriv --ruid {uid} pamtester roster-stack {u} chauthtok <<< $'{old}\n{new}\n{new}'
run newpw pamtester roster-stack {u} authenticate <<< '{new}'
run oldpw pamtester roster-stack {u} authenticate <<< '{old}'
run root pamtester roster-stack root acct_mgmt
"#,
        setup = pam_auth_update_script(&scratch),
        alice = ALICE.name,
        alice_pw = ALICE.password,
        u = user.name,
        uid = user.uid,
    );
    let out = ns.run(&script);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let stack = std::fs::read_to_string(format!("{s}/pam-stack.txt")).unwrap_or_default();
    let diag = format!(
        "{text}\nstderr: {}\nstack:\n{stack}\nrosterd:\n{}",
        String::from_utf8_lossy(&out.stderr),
        rd.log()
    );
    let section = |name: &str| -> String {
        let start = text
            .find(&format!("== {name}\n"))
            .unwrap_or_else(|| panic!("no {name} section:\n{diag}"));
        let rest = &text[start..];
        let end = rest.find("rc=").map(|i| i + 4).unwrap_or(rest.len());
        rest[..end].to_string()
    };
    let login = section("login");
    assert!(login.contains("rc=0"), "{diag}");
    // pam_unix asked once; pam_roster took the same password.
    assert_eq!(login.matches("Password:").count(), 1, "{diag}");
    assert!(login.contains("Creating directory '/home/alice'"), "{diag}");
    assert!(section("wrong").contains("rc=1"), "{diag}");
    assert!(section("home").contains("rc=0"), "pam_mkhomedir: {diag}");
    assert!(section("passwd").contains("rc=0"), "{diag}");
    assert!(section("newpw").contains("rc=0"), "{diag}");
    assert!(section("oldpw").contains("rc=1"), "{diag}");
    // root is local: pam_unix decides, pam_roster steps aside.
    assert!(section("root").contains("rc=0"), "{diag}");
    assert!(stack.contains("pam_mkhomedir.so"), "{stack}");
}
