//! NFSv4 ID mapping of the AD domain through libnfsidmap's `nsswitch`
//! method and roster (issue 13): short names, qualified names (`alice@ad`
//! and `alice@ad.example.test`), `No-Strip`, and Kerberos principals of the
//! realm listed in `Local-Realms`.

use super::{dc, rid_backend, tail, DOMAIN_USERS_RID, RID_LOW};
use roster_e2e::namespace::Namespace;
use roster_e2e::nfsidmap::{self, Expect, IdmapdConf};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::samba::{bulk_user, AD_BULK_USERS, AD_REALM};
use std::path::{Path, PathBuf};

/// The NFSv4 domain: the AD domain's DNS name.
const DOMAIN: &str = "ad.example.test";
/// nobody and nogroup (Debian's /etc/passwd and /etc/group).
const NOBODY: u32 = 65534;

/// Names with their IDs.
type Named = Vec<(String, u32)>;

/// The sample data's users (every one served by NSS, whatever its account
/// state) and groups, with the IDs of the rid backend.
fn accounts() -> (Named, Named) {
    let rids = dc().rids();
    let id = |sam: &str| {
        RID_LOW
            + rids
                .get(sam)
                .unwrap_or_else(|| panic!("{sam} has no RID: {rids:?}"))
    };
    let mut users: Vec<String> = ["alice", "bob", "dave", "erin", "frank"]
        .map(String::from)
        .to_vec();
    users.extend((0..AD_BULK_USERS).map(bulk_user));
    let users = users
        .into_iter()
        .map(|u| {
            let uid = id(&u);
            (u, uid)
        })
        .collect();
    let mut groups: Vec<(String, u32)> = ["unixgroup", "inner", "outer"]
        .iter()
        .map(|g| (g.to_string(), id(g)))
        .collect();
    groups.push(("domain_users".into(), RID_LOW + DOMAIN_USERS_RID));
    (users, groups)
}

/// rosterd serving the DC as domain `name` (rid backend) with `extra`.
fn rosterd(name: &str, extra: &str) -> (Rosterd, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let rd = Rosterd::start(&dc().domain_table(
        dir.path(),
        name,
        &format!("{extra}\n{}", rid_backend()),
    ));
    (rd, dir)
}

/// idmapd.conf for the AD domain with `no_strip`, in `dir`.
fn conf(dir: &Path, no_strip: &str) -> PathBuf {
    let file = dir.join(format!("idmapd-{no_strip}"));
    std::fs::create_dir_all(&file).expect("conf dir");
    IdmapdConf {
        domain: DOMAIN,
        local_realms: &[AD_REALM],
        no_strip,
        nobody_user: "nobody",
        nobody_group: "nogroup",
    }
    .write(&file)
}

/// Runs `e` and adds rosterd's log to a failure.
fn check(e: &Expect, rd: &Rosterd, dir: &Path, conf: &Path) {
    let ns = Namespace::new().socket_dir(&rd.socket_dir());
    let harness = nfsidmap::build(dir);
    let run = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        e.check(&ns, &harness, conf)
    }));
    if let Err(p) = run {
        eprintln!("rosterd log:\n{}", tail(&rd.log()));
        std::panic::resume_unwind(p);
    }
}

#[test]
fn nfs_idmap_maps_ad_users_and_groups_short_and_qualified() {
    let (users, groups) = accounts();
    let alice = users[0].1;
    let domain_users = RID_LOW + DOMAIN_USERS_RID;

    // Short names: `name@ad.example.test` both ways, like an LDAP domain;
    // AD's case-insensitive names map whatever the spelling; principals
    // of the local realm map to the user's IDs.
    let (rd, dir) = rosterd("ad", "");
    let mut e = Expect::default();
    for (u, uid) in &users {
        e.add("n2u", format!("{u}@{DOMAIN}"), uid.to_string());
        e.add("u2n", uid, format!("{u}@{DOMAIN}"));
    }
    for (g, gid) in &groups {
        e.add("n2g", format!("{g}@{DOMAIN}"), gid.to_string());
        e.add("g2n", gid, format!("{g}@{DOMAIN}"));
    }
    e.add(
        "n2u",
        format!("ALICE@{}", DOMAIN.to_uppercase()),
        alice.to_string(),
    );
    e.add(
        "p2i",
        format!("alice@{AD_REALM}"),
        format!("{alice} {domain_users}"),
    );
    e.add("p2i", "alice@FOREIGN.TEST", "err -2");
    e.add("o2u", format!("nosuchuser@{DOMAIN}"), NOBODY.to_string());
    e.add("o2g", format!("nosuchgroup@{DOMAIN}"), NOBODY.to_string());
    e.add("o2u", "alice@other.test", NOBODY.to_string());
    check(&e, &rd, dir.path(), &conf(dir.path(), "none"));
    drop(rd);

    // Qualified names named after the domain (`alice@ad`). libnfsidmap
    // strips `@ad.example.test` and asks for `alice`, which roster answers
    // (the short input of a qualified domain); outgoing names get the
    // NFSv4 domain appended to the served name, and that comes back.
    let (rd, dir) = rosterd("ad", "qualified_names = true");
    let mut e = Expect::default();
    for (u, uid) in users.iter().take(8) {
        e.add("n2u", format!("{u}@{DOMAIN}"), uid.to_string());
        e.add("u2n", uid, format!("{u}@ad@{DOMAIN}"));
        e.add("n2u", format!("{u}@ad@{DOMAIN}"), uid.to_string());
    }
    for (g, gid) in &groups {
        e.add("n2g", format!("{g}@{DOMAIN}"), gid.to_string());
        e.add("g2n", gid, format!("{g}@ad@{DOMAIN}"));
        e.add("n2g", format!("{g}@ad@{DOMAIN}"), gid.to_string());
    }
    e.add(
        "p2i",
        format!("alice@{AD_REALM}"),
        format!("{alice} {domain_users}"),
    );
    check(&e, &rd, dir.path(), &conf(dir.path(), "none"));
    // With No-Strip the served name goes out as it is: `alice@ad`, which
    // is not in the NFSv4 domain (a host without roster's `ad` cannot map
    // it back); a plain `alice@ad.example.test` still maps.
    let mut e = Expect::default();
    e.add("u2n", alice, "alice@ad");
    e.add("n2u", "alice@ad", alice.to_string());
    e.add("n2u", format!("alice@{DOMAIN}"), alice.to_string());
    e.add("g2n", domain_users, "domain_users@ad");
    check(&e, &rd, dir.path(), &conf(dir.path(), "both"));
    drop(rd);

    // Qualified names with the domain named after its DNS domain and
    // `No-Strip = both`: the NFSv4 name is the served name, the same
    // `alice@ad.example.test` a host with short names sends and accepts.
    let (rd, dir) = rosterd(DOMAIN, "qualified_names = true");
    let mut e = Expect::default();
    for (u, uid) in &users {
        e.add("u2n", uid, format!("{u}@{DOMAIN}"));
        e.add("n2u", format!("{u}@{DOMAIN}"), uid.to_string());
    }
    for (g, gid) in &groups {
        e.add("g2n", gid, format!("{g}@{DOMAIN}"));
        e.add("n2g", format!("{g}@{DOMAIN}"), gid.to_string());
    }
    e.add(
        "p2i",
        format!("alice@{AD_REALM}"),
        format!("{alice} {domain_users}"),
    );
    e.add("o2u", format!("nosuchuser@{DOMAIN}"), NOBODY.to_string());
    check(&e, &rd, dir.path(), &conf(dir.path(), "both"));
}
