//! rfc2307bis nesting beyond the sample: a member user named by `cn`, a
//! nested group, a cycle through three groups, a dangling member DN,
//! `uniqueMember`, a primary group that
//! is not in the directory, and the depth limit.

use crate::directory_common;
use directory_common as common;

use common::{directory, directory_with, tiny_ldif};
use roster_daemon::directory::GroupRef;
use roster_e2e::config::DomainOptions;
use roster_e2e::dataset::{ALICE, BASE_DN};
use roster_e2e::slapd::Slapd;
use std::collections::BTreeSet;
use std::sync::OnceLock;

const ZED_DN: &str = "cn=Zed Person,ou=people,dc=example,dc=test";

fn group(name: &str, gid: u32, class: &str, attr: &str, members: &[String]) -> String {
    let mut s = format!(
        "dn: cn={name},ou=groups,{BASE_DN}\nobjectClass: {class}\nobjectClass: extensibleObject\ncn: {name}\ngidNumber: {gid}\n"
    );
    for m in members {
        s.push_str(&format!("{attr}: {m}\n"));
    }
    s.push('\n');
    s
}

fn gdn(name: &str) -> String {
    format!("cn={name},ou=groups,{BASE_DN}")
}

fn slapd() -> &'static Slapd {
    static S: OnceLock<Slapd> = OnceLock::new();
    S.get_or_init(|| {
        let mut ldif = tiny_ldif();
        ldif.push_str(&format!(
            "dn: ou=groups,{BASE_DN}\nobjectClass: organizationalUnit\nou: groups\n\n\
             dn: {ZED_DN}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\nuid: zed\ncn: Zed Person\nsn: Person\n\
             uidNumber: 10500\ngidNumber: 10000\nhomeDirectory: /home/zed\n\n"
        ));
        // The cycle: g-top contains g-mid contains g-loop contains g-top.
        let gon = "groupOfNames";
        ldif.push_str(&group("g-top", 12001, gon, "member", &[gdn("g-mid"), ZED_DN.into(), gdn("ghost")]));
        ldif.push_str(&group("g-mid", 12002, gon, "member", &[ALICE.dn.into(), gdn("g-loop")]));
        ldif.push_str(&group("g-loop", 12003, gon, "member", &[gdn("g-top")]));
        ldif.push_str(&group(
            "g-uniq",
            12004,
            "groupOfUniqueNames",
            "uniqueMember",
            &[ALICE.dn.to_string(), gdn("g-loop")],
        ));
        // No gidNumber: never served, but followed.
        ldif.push_str(&format!(
            "dn: cn=g-link,ou=groups,{BASE_DN}\nobjectClass: groupOfNames\ncn: g-link\nmember: {}\n\n",
            gdn("g-loop")
        ));
        ldif.push_str(&group("g-outer", 12005, gon, "member", &[gdn("g-link")]));
        Slapd::start_with_ldif(&ldif)
    })
}

fn gids(groups: &[GroupRef]) -> BTreeSet<u32> {
    groups.iter().map(|g| g.gid).collect()
}

#[tokio::test]
async fn group_members_through_nesting() {
    let t = tempfile::tempdir().unwrap();
    let d = directory(slapd(), t.path(), &DomainOptions::default());
    let top = d.group_by_name("g-top").await.unwrap().unwrap();
    let members: BTreeSet<&str> = top.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "zed"]));
    for gid in [12002, 12003, 12005] {
        let g = d.group_by_gid(gid).await.unwrap().unwrap();
        let members: BTreeSet<&str> = g.group.members.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            members,
            BTreeSet::from(["alice", "zed"]),
            "{}",
            g.group.name
        );
    }
    let uniq = d.group_by_name("g-uniq").await.unwrap().unwrap();
    let members: BTreeSet<&str> = uniq.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "zed"]));
    // A group without gidNumber is not served, but links others.
    assert_eq!(d.group_by_name("g-link").await, Ok(None));
}

#[tokio::test]
async fn groups_of_users_through_nesting() {
    let t = tempfile::tempdir().unwrap();
    let d = directory(slapd(), t.path(), &DomainOptions::default());
    let alice = d.user_by_name("alice").await.unwrap().unwrap();
    let groups = d.groups_of_user(&alice).await.unwrap();
    // No group has gid 10000 here: the primary GID is still first.
    assert_eq!(
        groups[0],
        GroupRef {
            name: String::new(),
            gid: 10000
        }
    );
    let all = BTreeSet::from([10000, 12001, 12002, 12003, 12004, 12005]);
    assert_eq!(gids(&groups), all);
    assert_eq!(groups.len(), all.len());
    let zed = d.user_by_name("zed").await.unwrap().unwrap();
    assert_eq!(zed.dn, ZED_DN);
    assert_eq!(gids(&d.groups_of_user(&zed).await.unwrap()), all);
    let t2 = tempfile::tempdir().unwrap();
    let shallow = directory_with(slapd(), t2.path(), &["nesting_depth = 1"]);
    assert_eq!(
        gids(&shallow.groups_of_user(&alice).await.unwrap()),
        BTreeSet::from([10000, 12002, 12004, 12001])
    );
    let top = shallow.group_by_name("g-top").await.unwrap().unwrap();
    let members: BTreeSet<&str> = top.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "zed"]));
    let t3 = tempfile::tempdir().unwrap();
    let flat = directory_with(slapd(), t3.path(), &["nesting_depth = 0"]);
    let top = flat.group_by_name("g-top").await.unwrap().unwrap();
    assert_eq!(
        top.group.members,
        vec!["zed"],
        "only the direct user member"
    );
}

#[tokio::test]
async fn enumeration_expands_nesting_without_extra_lookups() {
    let t = tempfile::tempdir().unwrap();
    let d = directory(slapd(), t.path(), &DomainOptions::default());
    let groups = d.all_groups().await.unwrap();
    let names: BTreeSet<&str> = groups.iter().map(|g| g.group.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from(["g-loop", "g-mid", "g-outer", "g-top", "g-uniq"])
    );
    for g in &groups {
        let members: BTreeSet<&str> = g.group.members.iter().map(|s| s.as_str()).collect();
        assert_eq!(
            members,
            BTreeSet::from(["alice", "zed"]),
            "{}",
            g.group.name
        );
    }
}
