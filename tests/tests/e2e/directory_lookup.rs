//! Directory lookups against the fixture slapd: users, groups, initgroups
//! (memberUid, member DNs, nesting, cycles), broken entries, duplicates,
//! overrides, limit_to_groups, enumeration.

use crate::directory_common;
use directory_common as common;

use common::{directory, directory_with};
use ldap3::{Scope, SearchEntry};
use roster_daemon::directory::{entry_to_user, Directory, GroupRef};
use roster_e2e::config::DomainOptions;
use roster_e2e::dataset::*;
use roster_e2e::slapd::Slapd;
use std::collections::BTreeSet;
use std::sync::OnceLock;

/// One slapd for every test of this file (the sample directory is only read).
fn slapd() -> &'static Slapd {
    static S: OnceLock<Slapd> = OnceLock::new();
    S.get_or_init(Slapd::start)
}

fn dir() -> tempfile::TempDir {
    tempfile::tempdir().expect("tempdir")
}

fn default_directory(d: &std::path::Path) -> Directory {
    directory(slapd(), d, &DomainOptions::default())
}

fn gids(groups: &[GroupRef]) -> BTreeSet<u32> {
    groups.iter().map(|g| g.gid).collect()
}

#[tokio::test]
async fn users_by_name_and_uid() {
    let t = dir();
    let d = default_directory(t.path());
    let alice = d.user_by_name("alice").await.unwrap().expect("alice");
    assert_eq!(alice.user.name, "alice");
    assert_eq!((alice.user.uid, alice.user.gid), (ALICE.uid, ALICE.gid));
    assert_eq!(alice.user.gecos, ALICE.cn);
    assert_eq!(alice.user.home, "/home/alice");
    assert_eq!(alice.user.shell, "/bin/bash");
    assert_eq!(alice.dn, ALICE.dn);
    assert_eq!(alice.domain, "example");
    // bob and carol live in deeper OUs.
    for u in [BOB, CAROL, MANYGROUPS] {
        let r = d.user_by_name(u.name).await.unwrap().expect(u.name);
        assert_eq!((r.user.uid, r.dn.as_str()), (u.uid, u.dn));
        let r = d.user_by_uid(u.uid).await.unwrap().expect(u.name);
        assert_eq!(r.user.name, u.name);
    }
    let bulk = d.user_by_uid(BULK_UID_BASE + 4321).await.unwrap().unwrap();
    assert_eq!(bulk.user.name, bulk_user(4321));
    assert_eq!(bulk.user.gecos, "Bulk User 4321", "gecos falls back to cn");
    assert_eq!(d.user_by_name("nosuchuser").await, Ok(None));
    assert_eq!(d.user_by_uid(19999).await, Ok(None));
    // LDAP matching is case-insensitive; NSS names are not.
    assert_eq!(d.user_by_name("ALICE").await, Ok(None));
    // Filter metacharacters are escaped: no wildcard match, no injection.
    for evil in ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "\\2a"] {
        assert_eq!(d.user_by_name(evil).await, Ok(None), "{evil}");
    }
    assert!(d.status().online);
    assert_eq!(d.status().server, Some(slapd().ldap_uri()));
}

#[tokio::test]
async fn dave_gets_default_shell_and_gecos_from_cn() {
    let t = dir();
    let d = default_directory(t.path());
    let dave = d.user_by_name("dave").await.unwrap().unwrap();
    assert_eq!(dave.user.shell, "/bin/sh");
    assert_eq!(dave.user.gecos, DAVE.cn);
}

#[tokio::test]
async fn overrides() {
    let t = dir();
    let d = directory_with(
        slapd(),
        t.path(),
        &[
            "home_directory_template = \"/srv/{domain}/{username}/{uid}\"",
            "default_shell = \"/bin/dash\"",
            "[domain.attributes]",
            "unique_id = \"entryUUID\"",
        ],
    );
    let alice = d.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(alice.user.home, "/srv/example/alice/10001");
    assert_eq!(
        alice.user.shell, "/bin/bash",
        "the entry's shell wins over default_shell"
    );
    let uuid = alice.unique_id.expect("entryUUID read");
    assert_eq!(uuid.len(), 36, "{uuid}");
    let dave = d.user_by_name("dave").await.unwrap().unwrap();
    assert_eq!(dave.user.shell, "/bin/dash");
    let t2 = dir();
    let d = directory_with(slapd(), t2.path(), &["shell_override = \"/usr/bin/zsh\""]);
    assert_eq!(
        d.user_by_name("alice").await.unwrap().unwrap().user.shell,
        "/usr/bin/zsh"
    );
}

#[tokio::test]
async fn groups_by_name_and_gid() {
    let t = dir();
    let d = default_directory(t.path());
    let staff = d.group_by_name("engineers").await.unwrap().unwrap();
    assert_eq!(staff.group.gid, STAFF_GID);
    assert_eq!(staff.group.members, vec!["alice", "bob"]);
    let users = d.group_by_gid(USERS_GID).await.unwrap().unwrap();
    assert_eq!(users.group.name, "members");
    let big = d.group_by_gid(BIGGROUP_GID).await.unwrap().unwrap();
    assert_eq!(big.group.members.len(), BULK_USERS as usize);
    let mg = d
        .group_by_gid(MANY_GROUPS_GID_BASE + 999)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(mg.group.name, many_group(999));
    assert_eq!(d.group_by_name("nosuchgroup").await, Ok(None));
    assert_eq!(d.group_by_gid(4242).await, Ok(None));
    assert_eq!(d.group_by_name("*").await, Ok(None));
}

#[tokio::test]
async fn rfc2307bis_groups_include_nested_members_and_survive_cycles() {
    let t = dir();
    let d = default_directory(t.path());
    let child = d.group_by_name(BIS_CHILD.0).await.unwrap().unwrap();
    assert_eq!(child.group.members, vec!["alice"]);
    let parent = d.group_by_gid(BIS_PARENT.1).await.unwrap().unwrap();
    let members: BTreeSet<&str> = parent.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "carol"]));
    for (name, _) in [BIS_CYCLE_A, BIS_CYCLE_B] {
        let g = d.group_by_name(name).await.unwrap().unwrap();
        assert_eq!(g.group.members, vec!["bob"], "{name}");
    }
}

#[tokio::test]
async fn initgroups_of_alice_bob_carol() {
    let t = dir();
    let d = default_directory(t.path());
    let alice = d.user_by_name("alice").await.unwrap().unwrap();
    let before = d.status().searches;
    let groups = d.groups_of_user(&alice).await.unwrap();
    // One search for the direct groups, one per nesting level
    // (bis-child's parent, then bis-parent's: none).
    assert_eq!(d.status().searches - before, 3);
    assert_eq!(
        groups[0],
        GroupRef {
            name: "members".into(),
            gid: USERS_GID
        },
        "primary first"
    );
    assert_eq!(
        gids(&groups),
        BTreeSet::from([USERS_GID, STAFF_GID, BIS_CHILD.1, BIS_PARENT.1])
    );
    assert_eq!(groups.len(), 4, "no duplicates: {groups:?}");
    let bob = d.user_by_name("bob").await.unwrap().unwrap();
    assert_eq!(
        gids(&d.groups_of_user(&bob).await.unwrap()),
        BTreeSet::from([USERS_GID, STAFF_GID, BIS_CYCLE_A.1, BIS_CYCLE_B.1])
    );
    let carol = d.user_by_name("carol").await.unwrap().unwrap();
    assert_eq!(
        gids(&d.groups_of_user(&carol).await.unwrap()),
        BTreeSet::from([USERS_GID, BIS_PARENT.1])
    );
    // With nesting off, only direct groups.
    let t2 = dir();
    let flat = directory_with(slapd(), t2.path(), &["nesting_depth = 0"]);
    assert_eq!(
        gids(&flat.groups_of_user(&alice).await.unwrap()),
        BTreeSet::from([USERS_GID, STAFF_GID, BIS_CHILD.1])
    );
}

#[tokio::test]
async fn initgroups_of_manygroups() {
    let t = dir();
    let d = default_directory(t.path());
    let u = d.user_by_name("manygroups").await.unwrap().unwrap();
    let before = d.status().searches;
    let groups = d.groups_of_user(&u).await.unwrap();
    // One search for the 1,001 direct groups, then one nesting level asked
    // for them in chunks of 500 DNs.
    assert_eq!(d.status().searches - before, 1 + 3);
    assert_eq!(groups.len(), MANY_GROUPS_COUNT as usize + 1);
    let expected: BTreeSet<u32> = (0..MANY_GROUPS_COUNT)
        .map(|i| MANY_GROUPS_GID_BASE + i)
        .chain([USERS_GID])
        .collect();
    assert_eq!(gids(&groups), expected);
    assert!(groups.iter().any(|g| g.name == many_group(500)));
}

#[tokio::test]
async fn rfc2307_schema_reads_member_uid_only() {
    let t = dir();
    let o = DomainOptions {
        schema: "rfc2307".into(),
        ..DomainOptions::default()
    };
    let d = directory(slapd(), t.path(), &o);
    let alice = d.user_by_name("alice").await.unwrap().unwrap();
    assert_eq!(
        gids(&d.groups_of_user(&alice).await.unwrap()),
        BTreeSet::from([USERS_GID, STAFF_GID])
    );
    // rfc2307: initgroups of a user in 1,001 groups is one search.
    let many = d.user_by_name("manygroups").await.unwrap().unwrap();
    let before = d.status().searches;
    assert_eq!(
        d.groups_of_user(&many).await.unwrap().len(),
        MANY_GROUPS_COUNT as usize + 1
    );
    assert_eq!(d.status().searches - before, 1);
    // By the name alone (before the user's entry is read): the same
    // groups, the primary only when it lists the name, in one search; a
    // name no user can have asks nothing.
    assert!(d.groups_by_name_alone());
    for (user, name) in [(&alice, "alice"), (&many, "manygroups")] {
        let before = d.status().searches;
        let by_name = d.groups_of_name(name).await.unwrap();
        assert_eq!(d.status().searches - before, 1);
        // (The primary group is among them when it lists the name.)
        let mut with_primary: BTreeSet<u32> = by_name.iter().copied().collect();
        with_primary.insert(USERS_GID);
        assert_eq!(
            with_primary,
            gids(&d.groups_of_user(user).await.unwrap()),
            "{name}"
        );
    }
    let before = d.status().searches;
    assert_eq!(d.groups_of_name("no:such").await, Ok(Vec::new()));
    assert_eq!(d.status().searches, before);
    // rfc2307bis reads the user's entry for its DN: refused.
    let bis = default_directory(t.path());
    assert!(!bis.groups_by_name_alone());
    assert!(bis.groups_of_name("alice").await.is_err());
    // groupOfNames groups are not posixGroups: not served by this filter.
    assert_eq!(d.group_by_name(BIS_CHILD.0).await, Ok(None));
}

/// Reads the raw entries of ou=broken with the directory's own connection.
async fn broken_entries(d: &Directory) -> Vec<SearchEntry> {
    let mut ldap = d.connection().await.unwrap();
    let (entries, _) = ldap
        .search(
            &format!("ou=broken,ou=people,{BASE_DN}"),
            Scope::OneLevel,
            "(objectClass=posixAccount)",
            vec!["*"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    entries.into_iter().map(SearchEntry::construct).collect()
}

#[tokio::test]
async fn broken_entries_are_rejected_with_their_reason() {
    let t = dir();
    let d = default_directory(t.path());
    let entries = broken_entries(&d).await;
    assert_eq!(entries.len(), BROKEN_USERS.len());
    let idmap = slapd_idmap(&d);
    for (name, keyword) in BROKEN_USERS {
        let e = entries
            .iter()
            .find(|e| e.attrs["uid"][0] == name)
            .unwrap_or_else(|| panic!("{name} not in the sample"));
        let r = entry_to_user(d.config(), &idmap, e).unwrap_err();
        assert_eq!(r.dn, e.dn);
        assert!(r.reason.contains(keyword), "{name}: {}", r.reason);
        assert_eq!(d.user_by_name(name).await, Ok(None), "{name} served");
    }
    assert_eq!(d.user_by_uid(0).await, Ok(None));
    assert_eq!(d.user_by_uid(500).await, Ok(None));
    // bad:name and -dash have valid uidNumbers: still not served by UID.
    assert_eq!(d.user_by_uid(10301).await, Ok(None));
    assert_eq!(d.user_by_uid(10302).await, Ok(None));
}

fn slapd_idmap(d: &Directory) -> roster_daemon::config::DomainSet {
    let c = d.config();
    roster_daemon::config::DomainSet::new(
        &[(c.name.clone(), c.idmap.settings(), c.min_id, c.max_id)],
        None,
    )
    .unwrap()
}

#[tokio::test]
async fn duplicate_names_are_refused_but_never_crash() {
    let t = dir();
    let d = default_directory(t.path());
    assert_eq!(d.user_by_name("dup").await, Ok(None));
    // Each UID is one object: served by UID, deterministically the same.
    let a = d.user_by_uid(DUP_UIDS.0).await.unwrap();
    let b = d.user_by_uid(DUP_UIDS.1).await.unwrap();
    assert_eq!(a.map(|u| u.user.uid), Some(DUP_UIDS.0));
    assert_eq!(b.map(|u| u.user.uid), Some(DUP_UIDS.1));
    // Enumeration leaves the name out altogether.
    let all = d.all_users().await.unwrap();
    assert!(!all.iter().any(|u| u.user.name == "dup"));
}

#[tokio::test]
async fn enumeration_is_paged_and_validated() {
    let t = dir();
    let d = directory_with(slapd(), t.path(), &["page_size = 700"]);
    let users = d.all_users().await.unwrap();
    let names: BTreeSet<&str> = users.iter().map(|u| u.user.name.as_str()).collect();
    assert_eq!(names.len(), users.len(), "no name twice");
    // 5 named + 5000 bulk; broken and dup entries left out.
    assert_eq!(users.len(), 5 + BULK_USERS as usize, "{}", users.len());
    for (name, _) in BROKEN_USERS {
        assert!(!names.contains(name), "{name} served");
    }
    let groups = d.all_groups().await.unwrap();
    // members, engineers, biggroup, 1000 mg groups, 4 bis groups.
    assert_eq!(groups.len(), 3 + MANY_GROUPS_COUNT as usize + 4);
    let parent = groups
        .iter()
        .find(|g| g.group.name == BIS_PARENT.0)
        .unwrap();
    let members: BTreeSet<&str> = parent.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "carol"]));
    let a = groups
        .iter()
        .find(|g| g.group.name == BIS_CYCLE_A.0)
        .unwrap();
    assert_eq!(a.group.members, vec!["bob"]);
}

#[tokio::test]
async fn limit_to_groups_hides_everyone_else() {
    let t = dir();
    let d = directory_with(
        slapd(),
        t.path(),
        &["limit_to_groups = [\"engineers\", \"bis-parent\"]"],
    );
    for name in ["alice", "bob", "carol"] {
        assert!(
            d.user_by_name(name).await.unwrap().is_some(),
            "{name} hidden"
        );
    }
    assert_eq!(d.user_by_name("dave").await, Ok(None));
    assert_eq!(d.user_by_uid(DAVE.uid).await, Ok(None));
    assert_eq!(d.user_by_name(&bulk_user(1)).await, Ok(None));
    let all: BTreeSet<String> = d
        .all_users()
        .await
        .unwrap()
        .into_iter()
        .map(|u| u.user.name)
        .collect();
    assert_eq!(
        all,
        BTreeSet::from(["alice".to_string(), "bob".to_string(), "carol".to_string()])
    );
}

#[tokio::test]
async fn anonymous_access_works_too() {
    let t = dir();
    let o = DomainOptions {
        bind: false,
        ..DomainOptions::default()
    };
    let d = directory(slapd(), t.path(), &o);
    assert!(d.user_by_name("alice").await.unwrap().is_some());
}

#[tokio::test]
async fn wrong_service_password_is_a_config_error() {
    let t = dir();
    let path = roster_e2e::config::write_roster_toml(slapd(), t.path(), &DomainOptions::default());
    // The helper wrote the right password; replace it (still mode 0600).
    std::fs::write(t.path().join("bind_password"), "wrong-password").unwrap();
    let cfg = roster_daemon::config::Config::load(&path).unwrap();
    let idmap = std::sync::Arc::new(cfg.build_idmap(None).unwrap());
    let d = Directory::new(cfg.domains[0].clone(), idmap).unwrap();
    match d.user_by_name("alice").await {
        Err(roster_daemon::directory::DirectoryError::Invalid { reason: m }) => {
            assert!(m.contains("invalid credentials"), "{m}");
            assert!(!m.contains("wrong-password"), "password leaked: {m}");
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
    // Remembered: answered again without marking the server down (it is
    // reachable) and without binding again (no account lockout).
    assert!(matches!(
        d.user_by_uid(10001).await,
        Err(roster_daemon::directory::DirectoryError::Invalid { .. })
    ));
    let st = d.status();
    assert_eq!(st.servers[0].failures, 0);
    assert!(st.last_error.unwrap().contains("invalid credentials"));
}

#[tokio::test]
async fn empty_service_password_is_refused_before_any_bind() {
    // The configuration never yields an empty password (an empty file is
    // refused); a DomainConfig built in code is checked again before the
    // bind, because this slapd treats DN + empty password as anonymous.
    let t = dir();
    let path = roster_e2e::config::write_roster_toml(slapd(), t.path(), &DomainOptions::default());
    let cfg = roster_daemon::config::Config::load(&path).unwrap();
    let mut domain = cfg.domains[0].clone();
    domain.bind_password = Some(roster_proto::Secret::new(Vec::new()));
    let idmap = std::sync::Arc::new(cfg.build_idmap(None).unwrap());
    let d = Directory::new(domain, idmap).unwrap();
    match d.user_by_name("alice").await {
        Err(roster_daemon::directory::DirectoryError::Invalid { reason: m }) => {
            assert!(m.contains("empty bind password"), "{m}")
        }
        other => panic!("expected a Config error, got {other:?}"),
    }
    // And the file form: an empty password file is a configuration error.
    std::fs::write(t.path().join("bind_password"), "").unwrap();
    let e = roster_daemon::config::check(&path).unwrap_err().to_string();
    assert!(
        e.contains("bind_password_file") && e.contains("empty"),
        "{e}"
    );
}

#[tokio::test]
async fn batched_user_lookups_answer_like_single_ones() {
    let t = dir();
    let d = std::sync::Arc::new(default_directory(t.path()));
    let mut names: Vec<String> = ["alice", "ALICE", "dup", "nosuchuser", "", "a*)(uid=*"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    names.extend(BROKEN_USERS.iter().map(|(n, _)| n.to_string()));
    names.extend((1..=300).map(bulk_user));
    let mut uids: Vec<u32> = vec![ALICE.uid, DUP_UIDS.0, DUP_UIDS.1, 19999, 0, 10302];
    uids.extend((1..=300).map(|i| BULK_UID_BASE + i));
    // Asked twice: each answer gets the entry (one of them a copy).
    names.push("alice".into());
    uids.push(ALICE.uid);
    let before = d.status().searches;
    let batched = d.users_by_names(&names).await.unwrap();
    let by_uid = d.users_by_uids(&uids).await.unwrap();
    let cost = d.status().searches - before;
    // One search per search base and question, not one per key.
    assert!(cost <= 2 * d.config().user_bases().len() as u64, "{cost}");
    for (n, got) in names.iter().zip(&batched) {
        assert_eq!(got, &d.user_by_name(n).await.unwrap(), "{n:?}");
    }
    for (u, got) in uids.iter().zip(&by_uid) {
        assert_eq!(got, &d.user_by_uid(*u).await.unwrap(), "{u}");
    }
    assert!(batched[0].is_some() && batched[1].is_none() && batched[2].is_none());
    assert_eq!(batched.iter().flatten().count(), 2 + 300);
    assert_eq!(by_uid.iter().flatten().count(), 4 + 300);
}

#[tokio::test]
async fn batched_group_lookups_answer_like_single_ones() {
    let t = dir();
    let d = std::sync::Arc::new(default_directory(t.path()));
    let mut names: Vec<String> = [
        "engineers",
        "ENGINEERS",
        "members",
        "biggroup",
        BIS_CHILD.0,
        BIS_PARENT.0,
        BIS_CYCLE_A.0,
        BIS_CYCLE_B.0,
        "nosuchgroup",
        "",
        "*",
        "a*)(cn=*",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    names.extend((0..300).map(many_group));
    let mut gids: Vec<u32> = vec![
        USERS_GID,
        STAFF_GID,
        BIGGROUP_GID,
        BIS_CHILD.1,
        BIS_PARENT.1,
        BIS_CYCLE_A.1,
        BIS_CYCLE_B.1,
        4242,
        0,
        USERS_GID,
    ];
    gids.extend((0..300).map(|i| MANY_GROUPS_GID_BASE + i));
    let before = d.status().searches;
    let by_name = d.groups_by_names(&names).await.unwrap();
    let by_gid = d.groups_by_gids(&gids).await.unwrap();
    let cost = d.status().searches - before;
    // One search per search base and question, plus the nested groups'
    // reads (rfc2307bis: a few per bis group), not one per key.
    assert!(
        cost <= 2 * d.config().group_bases().len() as u64 + 20,
        "{cost}"
    );
    for (n, got) in names.iter().zip(&by_name) {
        assert_eq!(got, &d.group_by_name(n).await.unwrap(), "{n:?}");
    }
    for (g, got) in gids.iter().zip(&by_gid) {
        assert_eq!(got, &d.group_by_gid(*g).await.unwrap(), "{g}");
    }
    // "ENGINEERS" is another name (matched exactly), the others not found.
    assert_eq!(by_name.iter().flatten().count(), 7 + 300);
    assert_eq!(by_gid.iter().flatten().count(), 8 + 300);
    let parent = by_gid[4].as_ref().unwrap();
    let members: BTreeSet<&str> = parent.group.members.iter().map(|s| s.as_str()).collect();
    assert_eq!(members, BTreeSet::from(["alice", "carol"]));
}
