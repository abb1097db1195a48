//! Shared set-up of the `pam_*` and `ssh_*` tests: a slapd with the sample
//! directory (without the bulk entries, so it starts fast), a real rosterd
//! for it, and pamtester inside a private mount namespace whose
//! `/etc/pam.d/roster-test` stacks `pam_roster.so`.

#![allow(dead_code)]

use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset;
use roster_e2e::namespace::Namespace;
use roster_e2e::paths;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use std::process::Output;

/// Name of the PAM service file the tests install.
pub const SERVICE: &str = "roster-test";

/// The sample directory without `ou=bulk` users and the many `mg*` groups.
pub fn small_ldif() -> String {
    dataset::sample_ldif()
        .split("\n\n")
        .filter(|e| {
            let dn = e.lines().next().unwrap_or("");
            !(dn.contains("ou=bulk,")
                || dn.starts_with("dn: cn=mg")
                || dn.starts_with("dn: cn=biggroup,"))
        })
        .map(|e| format!("{e}\n\n"))
        .collect()
}

/// A slapd serving [`small_ldif`].
pub fn slapd() -> Slapd {
    Slapd::start_with_ldif(&small_ldif())
}

/// A rosterd for `slapd` over `transport`, with `extra` lines in the
/// `[[domain]]` table.
pub fn rosterd(slapd: &Slapd, transport: Transport, extra: &[&str]) -> Rosterd {
    let o = DomainOptions {
        transport,
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..DomainOptions::default()
    };
    Rosterd::start(&domain_table(slapd, slapd.dir(), &o))
}

/// A PAM service file using the built module for every management group.
pub fn service_file(args: &str) -> String {
    let m = paths::module("libpam_roster.so");
    let m = m.display();
    format!(
        "auth required {m} {args}\naccount required {m} {args}\n\
         password required {m} {args}\nsession required {m} {args}\n"
    )
}

/// A namespace where `/run/roster` is `rd`'s socket directory and
/// `/etc/pam.d/roster-test` uses pam_roster with `args`.
pub fn namespace(rd: &Rosterd, args: &str) -> Namespace {
    Namespace::new()
        .socket_dir(&rd.socket_dir())
        .pam_service(SERVICE, &service_file(args))
}

/// The result of one pamtester run.
pub struct Pam {
    /// Exit status was 0.
    pub ok: bool,
    /// stdout and stderr together (prompts, messages, pamtester's verdict).
    pub text: String,
}

fn pam_result(out: Output) -> Pam {
    Pam {
        ok: out.status.success(),
        text: format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    }
}

/// Runs `pamtester roster-test USER OPS` inside `ns`, feeding `lines` (one
/// answer per prompt) on stdin.
pub fn pamtester(ns: &Namespace, user: &str, ops: &str, lines: &[&str]) -> Pam {
    pamtester_via(ns, "", user, ops, lines)
}

/// [`pamtester`] started through the command `prefix` (e.g. `setpriv ...`
/// to run it as another user; empty: as root).
pub fn pamtester_via(ns: &Namespace, prefix: &str, user: &str, ops: &str, lines: &[&str]) -> Pam {
    let input = ns.scratch().join("pamtester.in");
    let mut text = lines.join("\n");
    text.push('\n');
    std::fs::write(&input, text).expect("write pamtester input");
    pam_result(ns.run(&format!(
        "{prefix}pamtester {SERVICE} '{user}' {ops} < '{}'",
        input.display()
    )))
}

/// The prefix that runs a program as the user of UID `uid` (a screen
/// locker): real and effective UID and GID that user's, no other group.
pub fn as_user(uid: u32) -> String {
    format!(
        "setpriv --reuid {uid} --regid {} --clear-groups ",
        dataset::USERS_GID
    )
}

/// The prefix that runs a program as a user's setuid-root `passwd` runs:
/// real UID `uid`, effective UID 0. (Root's own `passwd USER`, real UID 0,
/// resets a password without the current one.)
pub fn as_setuid_from(uid: u32) -> String {
    format!("setpriv --ruid {uid} ")
}

/// `pamtester chauthtok` for `user` as that user's `passwd` runs it
/// ([`as_setuid_from`]): current password, new, retype from `lines`.
pub fn passwd_by_user(ns: &Namespace, user: &TestUser, lines: &[&str]) -> Pam {
    pamtester_via(ns, &as_setuid_from(user.uid), user.name, "chauthtok", lines)
}

/// `pamtester authenticate` with `password`.
pub fn authenticate(ns: &Namespace, user: &str, password: &str) -> Pam {
    pamtester(ns, user, "authenticate", &[password])
}

/// `pamtester acct_mgmt`.
pub fn account(ns: &Namespace, user: &str) -> Pam {
    pamtester(ns, user, "acct_mgmt", &[])
}

/// pam_strerror texts as pamtester prints them.
pub mod says {
    /// PAM_AUTH_ERR.
    pub const AUTH_ERR: &str = "Authentication failure";
    /// PAM_USER_UNKNOWN.
    pub const USER_UNKNOWN: &str = "User not known to the underlying authentication module";
    /// PAM_AUTHINFO_UNAVAIL.
    pub const AUTHINFO_UNAVAIL: &str = "Authentication service cannot retrieve authentication info";
    /// PAM_ACCT_EXPIRED.
    pub const ACCT_EXPIRED: &str = "User account has expired";
    /// PAM_PERM_DENIED.
    pub const PERM_DENIED: &str = "Permission denied";
    /// PAM_NEW_AUTHTOK_REQD.
    pub const NEW_AUTHTOK_REQD: &str = "Authentication token is no longer valid; new one required";
    /// PAM_AUTHTOK_ERR.
    pub const AUTHTOK_ERR: &str = "Authentication token manipulation error";
    /// PAM_MAXTRIES.
    pub const MAXTRIES: &str = "Have exhausted maximum number of retries for service";
}

/// Asserts a failed run whose output contains `expected`.
#[track_caller]
pub fn assert_refused(p: &Pam, expected: &str) {
    assert!(
        !p.ok,
        "expected a refusal ({expected}), got success:\n{}",
        p.text
    );
    assert!(
        p.text.contains(expected),
        "expected {expected:?} in:\n{}",
        p.text
    );
}

/// Asserts a successful run.
#[track_caller]
pub fn assert_ok(p: &Pam) {
    assert!(p.ok, "expected success:\n{}", p.text);
}

/// A test user added at run time (entries loaded by the fixture's
/// `slapadd -s` cannot be modified: they lack `structuralObjectClass`).
pub struct TestUser {
    /// Login name.
    pub name: &'static str,
    /// uidNumber.
    pub uid: u32,
    /// Extra LDIF attribute lines.
    pub extra: &'static str,
}

impl TestUser {
    /// The entry's DN.
    pub fn dn(&self) -> String {
        format!("uid={},ou=people,{}", self.name, dataset::BASE_DN)
    }
    /// The user's password (`NAME-pw`).
    pub fn password(&self) -> String {
        format!("{}-pw", self.name)
    }
    /// The LDIF of the entry.
    pub fn ldif(&self) -> String {
        format!(
            "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nobjectClass: shadowAccount\n\
             uid: {n}\ncn: {n}\nsn: {n}\nuidNumber: {uid}\ngidNumber: {gid}\nhomeDirectory: /home/{n}\n\
             loginShell: /bin/bash\nuserPassword: {pw}\n{extra}\n",
            dn = self.dn(),
            n = self.name,
            uid = self.uid,
            gid = dataset::USERS_GID,
            pw = self.password(),
            extra = self.extra,
        )
    }
}

/// Adds `users` to `slapd` (as the rootdn).
pub fn add_users(slapd: &Slapd, users: &[&TestUser]) {
    let ldif: String = users
        .iter()
        .map(|u| u.ldif())
        .collect::<Vec<_>>()
        .join("\n");
    slapd.ldapadd(&ldif);
}

/// Shell lines (for a namespace script) that build the host's PAM stack
/// with `pam-auth-update --enable roster` from `packaging/pam-configs/roster`
/// on private copies of `/usr/share/pam-configs`, `/var/lib/pam`,
/// `/var/cache/debconf` (and the namespace's `/etc/pam.d` copy), point
/// `pam_roster.so` at the built module, give `/home` a private directory
/// (`scratch/home`, for pam_mkhomedir), and
/// save the resulting common-* files to `scratch/pam-stack.txt`.
pub fn pam_auth_update_script(scratch: &std::path::Path) -> String {
    let s = scratch.display();
    let module = paths::module("libpam_roster.so");
    let profile =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/pam-configs/roster");
    format!(
        r#"set -e
mkdir -p {s}/pam-configs {s}/varlibpam {s}/home
# Only Debian's base profile (pam_unix) and ours: profiles that other
# packages installed on this host (sss, ldap, winbind, ...) stay out, so the
# stack is the same on every machine.
cp /usr/share/pam-configs/unix {s}/pam-configs/
cp {profile} {s}/pam-configs/roster
cp -a /var/lib/pam/. {s}/varlibpam/
# debconf's database too: pam-auth-update writes it, and two tests running
# at once would wait on each other's lock (or one would fail).
mkdir -p {s}/debconf
cp -a /var/cache/debconf/. {s}/debconf/
mount --bind {s}/pam-configs /usr/share/pam-configs
mount --bind {s}/varlibpam /var/lib/pam
mount --bind {s}/debconf /var/cache/debconf
mount --bind {s}/home /home
DEBIAN_FRONTEND=noninteractive pam-auth-update --force --enable roster
for f in auth account session password; do
  sed -i 's#pam_roster\.so#{module}#' /etc/pam.d/common-$f
  cat /etc/pam.d/common-$f
done > {s}/pam-stack.txt
set +e
"#,
        profile = profile.display(),
        module = module.display(),
    )
}
