//! Ownership across hosts (issue 13 item 3) for an Active Directory
//! domain, with the rid, sss and deterministic autorid backends: two
//! simulated hosts (see [`hosts_common`](super::hosts_common)) with
//! different local accounts serve the shared DC and a second small LDAP
//! directory; a tree owned by AD users and groups (nested groups, Domain
//! Users, a bulk user), the LDAP directory's user and a local account,
//! made on host A, arrives on host B through `rsync -a` over SSH and a
//! `tar` pipe with the same names, the same SID-mapped IDs, and the local
//! account at B's own ID.
//!
//! What should not matter differs between the hosts: the order of the two
//! domains, the transport to the DC (ldaps on A, StartTLS on B), the cache
//! lifetime, and the cache state (A warm, B cold).

use super::hosts_common::{
    copy_and_compare, other_ldif, Host, TreeSpec, HOST_A_LOCALS, HOST_B_LOCALS, OTHER_GROUP,
    OTHER_RANGE, OTHER_USER, SHARED_LOCAL,
};
use super::{dc, libsss_ids, rid_backend, DOMAIN_USERS_RID, RID_LOW};
use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::samba::bulk_user;
use roster_e2e::slapd::Slapd;
use std::collections::BTreeMap;

/// The AD users owning files.
fn ad_users() -> Vec<String> {
    vec!["alice".into(), "bob".into(), bulk_user(7)]
}

/// The AD groups owning files (`domain_users` is Domain Users).
const AD_GROUPS: [&str; 4] = ["inner", "outer", "unixgroup", "domain_users"];

/// The RID of an AD user or group of the tree.
fn rid(name: &str) -> u32 {
    if name == "domain_users" {
        DOMAIN_USERS_RID
    } else {
        dc().rid_of(name)
    }
}

/// Two hosts serving the DC (with `idmap`, a `[domain.idmap]` table) and
/// a second LDAP directory, in a different order and over a different
/// transport on each; the directory and scratch dirs live as long.
struct TwoHosts {
    a: Host,
    b: Host,
    _other: Slapd,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

fn two_hosts(idmap: &str) -> TwoHosts {
    let dc = dc();
    let other = Slapd::start_with_ldif(&other_ldif());
    let (dir_a, dir_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let other_domain = |dir: &std::path::Path| {
        domain_table(
            &other,
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
    };
    let a = Host::start(
        "roster-host-a",
        HOST_A_LOCALS,
        &format!(
            "{}\n{}",
            dc.domain_table(dir_a.path(), "ad", idmap),
            other_domain(dir_a.path())
        ),
    );
    // ldap:// with kind = "ad": StartTLS.
    let ad_b = dc
        .domain_table(dir_b.path(), "ad", idmap)
        .replace(&dc.ldaps_uri(), &dc.ldap_uri());
    let b = Host::start(
        "roster-host-b",
        HOST_B_LOCALS,
        &format!(
            "{}\n{ad_b}\n[cache]\nentry_ttl = 30\nnegative_ttl = 5\n",
            other_domain(dir_b.path())
        ),
    );
    TwoHosts {
        a,
        b,
        _other: other,
        _dirs: (dir_a, dir_b),
    }
}

/// The tree's owners, with the AD IDs `id_of_rid` gives.
fn spec(id_of_rid: impl Fn(u32) -> u32) -> TreeSpec {
    let bulk = bulk_user(7);
    let owners = [
        ("alice", "inner"),
        ("bob", "outer"),
        (bulk.as_str(), "domain_users"),
        ("alice", "unixgroup"),
        (OTHER_USER.0, OTHER_GROUP.0),
        (SHARED_LOCAL, SHARED_LOCAL),
        ("bob", SHARED_LOCAL),
        (SHARED_LOCAL, "inner"),
    ];
    let mut uids: BTreeMap<String, u32> = ad_users()
        .into_iter()
        .map(|u| {
            let id = id_of_rid(rid(&u));
            (u, id)
        })
        .collect();
    uids.insert(OTHER_USER.0.into(), OTHER_USER.1);
    let mut gids: BTreeMap<String, u32> = AD_GROUPS
        .iter()
        .map(|g| (g.to_string(), id_of_rid(rid(g))))
        .collect();
    gids.insert(OTHER_GROUP.0.into(), OTHER_GROUP.1);
    TreeSpec {
        owners: owners
            .iter()
            .map(|(u, g)| (u.to_string(), g.to_string()))
            .collect(),
        uids,
        gids,
    }
}

#[test]
fn rsync_and_tar_between_two_hosts_keep_owners_with_the_rid_backend() {
    let h = two_hosts(&rid_backend());
    copy_and_compare(&h.a, &h.b, &spec(|rid| RID_LOW + rid));
}

#[test]
fn rsync_and_tar_between_two_hosts_keep_owners_with_the_sss_backend() {
    let h = two_hosts("[domain.idmap]\nbackend = \"sss\"\n");
    // SSSD's own answer (libsss_idmap) for every RID of the tree.
    let sid = dc().domain_sid();
    let rids: Vec<u32> = ad_users()
        .iter()
        .map(|u| rid(u))
        .chain(AD_GROUPS.iter().map(|g| rid(g)))
        .collect();
    let ids = libsss_ids(
        sid,
        &rids
            .iter()
            .map(|r| format!("{sid}-{r}"))
            .collect::<Vec<_>>(),
    );
    let by_rid: BTreeMap<u32, u32> = rids.into_iter().zip(ids).collect();
    copy_and_compare(&h.a, &h.b, &spec(|rid| by_rid[&rid]));
}

#[test]
fn rsync_and_tar_between_two_hosts_keep_owners_with_deterministic_autorid() {
    let (low, size) = (300_000u32, 100_000u32);
    let h = two_hosts(&format!(
        "[domain.idmap]\nbackend = \"autorid\"\nautorid_low = {low}\nautorid_high = 999999\n\
         rangesize = {size}\ndeterministic = true\ndomain_sid = \"{}\"\n",
        dc().domain_sid()
    ));
    // The domain owns one range of `rangesize` IDs, placed at load on
    // each host: id = range start + rid.
    let pw = h.a.run("getent passwd alice");
    let uid: u32 = pw.split(':').nth(2).unwrap().parse().unwrap();
    let start = uid - rid("alice");
    assert_eq!((start - low) % size, 0, "{pw}");
    copy_and_compare(&h.a, &h.b, &spec(|rid| start + rid));
}
