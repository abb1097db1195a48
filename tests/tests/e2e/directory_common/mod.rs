//! Shared set-up of the `directory_*` tests: a [`Directory`] built from a
//! roster.toml rendered for a fixture slapd, loaded like rosterd loads it.

#![allow(dead_code)]

use roster_daemon::config::Config;
use roster_daemon::directory::Directory;
use roster_e2e::config::{write_roster_toml, DomainOptions};
use roster_e2e::slapd::Slapd;
use std::path::Path;
use std::sync::Arc;

/// Loads the configuration rendered for `slapd` and builds its directory.
pub fn directory(slapd: &Slapd, dir: &Path, o: &DomainOptions) -> Directory {
    let path = write_roster_toml(slapd, dir, o);
    let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let idmap = Arc::new(cfg.build_idmap(None).expect("idmap"));
    Directory::new(cfg.domains[0].clone(), idmap).expect("directory")
}

/// A directory with default options plus `extra` lines in its table.
pub fn directory_with(slapd: &Slapd, dir: &Path, extra: &[&str]) -> Directory {
    let o = DomainOptions {
        extra: extra.iter().map(|s| s.to_string()).collect(),
        ..DomainOptions::default()
    };
    directory(slapd, dir, &o)
}

/// A small LDIF (base, one OU, alice): a slapd that starts in a blink.
pub fn tiny_ldif() -> String {
    use roster_e2e::dataset::{ALICE, BASE_DN};
    format!(
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n\
         dn: ou=people,{BASE_DN}\nobjectClass: organizationalUnit\nou: people\n\n\
         dn: ou=services,{BASE_DN}\nobjectClass: organizationalUnit\nou: services\n\n\
         dn: {svc}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\ncn: roster\nuserPassword: {svcpw}\n\n\
         dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: {name}\ncn: {cn}\nsn: {cn}\n\
         uidNumber: {uid}\ngidNumber: {gid}\nhomeDirectory: /home/{name}\nloginShell: /bin/bash\n\n",
        svc = roster_e2e::dataset::SERVICE_DN,
        svcpw = roster_e2e::dataset::SERVICE_PASSWORD,
        dn = ALICE.dn,
        name = ALICE.name,
        cn = ALICE.cn,
        uid = ALICE.uid,
        gid = ALICE.gid,
    )
}

/// A current-thread tokio runtime for one test.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}
