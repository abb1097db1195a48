//! NFSv4 ID mapping through roster: libnfsidmap's `nsswitch` method (what
//! rpc.idmapd, nfsidmap and the kernel's keyring upcall use) inside the NSS
//! test namespace (`passwd: files roster`, `group: files roster`), against
//! the test slapd and rosterd. Every directory user and group maps
//! `name@DOMAIN` to its ID and back; local accounts map through `files`;
//! unknown, refused and foreign-domain names map to the configured nobody
//! IDs; Kerberos principals of the `Local-Realms` map to a user's IDs and
//! groups.

use crate::nss_common;

use nss_common::Env;
use roster_e2e::dataset::{
    self, BIGGROUP_GID, BIS_CHILD, BIS_CYCLE_A, BIS_CYCLE_B, BIS_PARENT, BROKEN_USERS,
    BULK_UID_BASE, BULK_USERS, MANYGROUPS, MANY_GROUPS_COUNT, MANY_GROUPS_GID_BASE, NAMED_USERS,
    STAFF_GID, USERS_GID,
};
use roster_e2e::nfsidmap::{self, Expect, IdmapdConf};
use std::collections::HashMap;

/// The NFSv4 domain: the DNS domain of the sample directory's base DN.
const DOMAIN: &str = "example.test";
/// -ENOENT, libnfsidmap's "no such name or ID".
const ENOENT: &str = "err -2";
/// -EINVAL, libnfsidmap's "the name is not in the NFSv4 domain".
const EINVAL: &str = "err -22";
/// nobody and nogroup (Debian's /etc/passwd and /etc/group).
const NOBODY: u32 = 65534;

/// `name:x:id:` entries of a local file whose name and ID are both unique
/// there (so `files` answers them unambiguously both ways).
fn local_entries(path: &str) -> Vec<(String, u32)> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    let all: Vec<(String, u32)> = text
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((f.first()?.to_string(), f.get(2)?.parse().ok()?))
        })
        .collect();
    let mut ids: HashMap<u32, usize> = HashMap::new();
    for (_, id) in &all {
        *ids.entry(*id).or_default() += 1;
    }
    all.into_iter().filter(|(_, id)| ids[id] == 1).collect()
}

/// Both directions for one user or group.
fn both_ways(e: &mut Expect, user: bool, name: &str, id: u32) {
    let (to_id, to_name) = if user { ("n2u", "u2n") } else { ("n2g", "g2n") };
    e.add(to_id, format!("{name}@{DOMAIN}"), id.to_string());
    e.add(to_name, id, format!("{name}@{DOMAIN}"));
}

#[test]
fn every_user_and_group_maps_both_ways_through_libnfsidmap() {
    let env = Env::start("");
    let ns = env.ns();
    let harness = nfsidmap::build(env.dir.path());
    let conf = IdmapdConf {
        domain: DOMAIN,
        local_realms: &["EXAMPLE.TEST", "OTHER.TEST"],
        no_strip: "none",
        nobody_user: "nobody",
        nobody_group: "nogroup",
    }
    .write(env.dir.path());
    let mut e = Expect::default();
    e.add("domain", "-", DOMAIN);

    // Every directory user and group of the sample directory.
    for u in NAMED_USERS {
        both_ways(&mut e, true, u.name, u.uid);
    }
    for i in 1..=BULK_USERS {
        both_ways(&mut e, true, &dataset::bulk_user(i), BULK_UID_BASE + i);
    }
    for (name, gid) in [
        ("members", USERS_GID),
        ("engineers", STAFF_GID),
        ("biggroup", BIGGROUP_GID),
        BIS_CHILD,
        BIS_PARENT,
        BIS_CYCLE_A,
        BIS_CYCLE_B,
    ] {
        both_ways(&mut e, false, name, gid);
    }
    for i in 0..MANY_GROUPS_COUNT {
        both_ways(
            &mut e,
            false,
            &dataset::many_group(i),
            MANY_GROUPS_GID_BASE + i,
        );
    }
    let directory = e.len();

    // Local accounts through `files` (root, daemon, nobody, nogroup, ...).
    for (name, uid) in local_entries("/etc/passwd") {
        both_ways(&mut e, true, &name, uid);
    }
    for (name, gid) in local_entries("/etc/group") {
        both_ways(&mut e, false, &name, gid);
    }
    assert!(e.len() > directory + 4, "the local files have entries");

    // Unknown names: an error from the name mapping, the nobody IDs from
    // the owner mapping (what the server stores for an unknown owner).
    // Refused directory entries (ambiguous, uidNumber 0, below min_id) are
    // unknown too, and so is a known name in another NFSv4 domain.
    let mut unknown = vec!["nosuchuser".to_string(), "dup".to_string()];
    unknown.extend(BROKEN_USERS.iter().map(|(n, _)| n.to_string()));
    for name in &unknown {
        e.add("n2u", format!("{name}@{DOMAIN}"), ENOENT);
        e.add("o2u", format!("{name}@{DOMAIN}"), NOBODY.to_string());
    }
    e.add("n2g", format!("nosuchgroup@{DOMAIN}"), ENOENT);
    e.add("o2g", format!("nosuchgroup@{DOMAIN}"), NOBODY.to_string());
    e.add("n2u", "alice@other.test", EINVAL);
    e.add("o2u", "alice@other.test", NOBODY.to_string());
    e.add("o2g", "engineers@other.test", NOBODY.to_string());
    e.add("n2u", "alice", EINVAL);
    // A bare number is taken as the ID itself; an unknown ID goes out as
    // its number.
    e.add("o2u", "10001", "10001");
    e.add("u2n", 19999, ENOENT);
    e.add("u2o", 19999, "19999");
    e.add("u2o", dataset::ALICE.uid, format!("alice@{DOMAIN}"));
    e.add("g2n", 19999, ENOENT);

    // Kerberos principals (sec=krb5): the realms of Local-Realms are
    // local, others are not.
    let alice = dataset::ALICE;
    e.add(
        "p2i",
        "alice@EXAMPLE.TEST",
        format!("{} {}", alice.uid, alice.gid),
    );
    e.add(
        "p2i",
        "bob@OTHER.TEST",
        format!("{} {}", dataset::BOB.uid, dataset::BOB.gid),
    );
    e.add(
        "p2i",
        format!("{}@EXAMPLE.TEST", dataset::bulk_user(BULK_USERS)),
        format!("{} {BIGGROUP_GID}", BULK_UID_BASE + BULK_USERS),
    );
    e.add("p2i", "alice@FOREIGN.TEST", ENOENT);
    e.add("p2i", "nosuchuser@EXAMPLE.TEST", ENOENT);
    // The principal's groups, as a server with `manage-gids` asks them.
    let mut many: Vec<String> = vec![USERS_GID.to_string()];
    many.extend((0..MANY_GROUPS_COUNT).map(|i| (MANY_GROUPS_GID_BASE + i).to_string()));
    e.add(
        "p2g",
        format!("{}@EXAMPLE.TEST", MANYGROUPS.name),
        many.join(" "),
    );
    e.add(
        "p2g",
        "bob@EXAMPLE.TEST",
        format!(
            "{USERS_GID} {STAFF_GID} {} {}",
            BIS_CYCLE_A.1, BIS_CYCLE_B.1
        ),
    );

    e.check(&ns, &harness, &conf);
}
