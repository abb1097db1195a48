//! Ownership across hosts (issue 13 item 3) for rfc2307 LDAP domains: two
//! simulated hosts (see [`hosts_common`]) with different local accounts
//! serve the test slapd and a second small directory; a tree owned by
//! directory users and groups and by a local account, made on host A,
//! arrives on host B through `rsync -a` over SSH and through a `tar`
//! pipe with the same owner and group names, the directory IDs unchanged
//! and the local account's entries at B's own ID for that name.
//!
//! What should not matter differs between the hosts: the order of the two
//! domains, the transport to slapd (StartTLS on A, ldaps on B), the cache
//! lifetime, and the cache state (A warm from making the tree, B cold).

use crate::hosts_common;
use crate::pam_common;

use hosts_common::{
    copy_and_compare, other_ldif, Host, TreeSpec, HOST_A_LOCALS, HOST_B_LOCALS, OTHER_GROUP,
    OTHER_RANGE, OTHER_USER, SHARED_LOCAL,
};
use roster_e2e::config::{domain_table, DomainOptions, Transport};
use roster_e2e::dataset::{ALICE, BIS_CHILD, BIS_PARENT, BOB, CAROL, DAVE, STAFF_GID, USERS_GID};
use roster_e2e::slapd::Slapd;
use std::path::Path;

/// `[[domain]]` `example` (the sample directory, IDs 10000-39999) over
/// `transport`.
fn example_domain(slapd: &Slapd, dir: &Path, transport: Transport) -> String {
    domain_table(
        slapd,
        dir,
        &DomainOptions {
            transport,
            extra: vec![
                "[domain.idmap]".into(),
                "range_low = 10000".into(),
                "range_high = 39999".into(),
            ],
            ..DomainOptions::default()
        },
    )
}

/// `[[domain]]` `other` (the second directory), read anonymously.
fn other_domain(slapd: &Slapd, dir: &Path) -> String {
    domain_table(
        slapd,
        dir,
        &DomainOptions {
            name: "other".into(),
            bind: false,
            schema: "rfc2307".into(),
            extra: vec![
                "[domain.idmap]".into(),
                format!("range_low = {}", OTHER_RANGE.0),
                format!("range_high = {}", OTHER_RANGE.1),
            ],
            ..DomainOptions::default()
        },
    )
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(u, g)| (u.to_string(), g.to_string()))
        .collect()
}

#[test]
fn rsync_and_tar_between_two_hosts_keep_owners_for_ldap_domains() {
    let slapd = pam_common::slapd();
    let other = Slapd::start_with_ldif(&other_ldif());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = Host::start(
        "roster-host-a",
        HOST_A_LOCALS,
        &format!(
            "{}\n{}",
            example_domain(&slapd, dir_a.path(), Transport::StartTls),
            other_domain(&other, dir_a.path())
        ),
    );
    let b = Host::start(
        "roster-host-b",
        HOST_B_LOCALS,
        &format!(
            "{}\n{}\n[cache]\nentry_ttl = 30\nnegative_ttl = 5\n",
            other_domain(&other, dir_b.path()),
            example_domain(&slapd, dir_b.path(), Transport::Ldaps)
        ),
    );
    let spec = TreeSpec {
        owners: pairs(&[
            ("alice", "engineers"),
            ("bob", "members"),
            ("carol", BIS_PARENT.0),
            ("dave", BIS_CHILD.0),
            (OTHER_USER.0, OTHER_GROUP.0),
            (SHARED_LOCAL, SHARED_LOCAL),
            ("alice", SHARED_LOCAL),
            (SHARED_LOCAL, "engineers"),
        ]),
        uids: [ALICE, BOB, CAROL, DAVE]
            .iter()
            .map(|u| (u.name.to_string(), u.uid))
            .chain([(OTHER_USER.0.to_string(), OTHER_USER.1)])
            .collect(),
        gids: [
            ("engineers", STAFF_GID),
            ("members", USERS_GID),
            BIS_PARENT,
            BIS_CHILD,
            OTHER_GROUP,
        ]
        .iter()
        .map(|(g, id)| (g.to_string(), *id))
        .collect(),
    };
    copy_and_compare(&a, &b, &spec);
}
