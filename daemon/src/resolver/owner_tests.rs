//! The ownership rules ([`super::owner`]): answers are a function of the
//! configuration and the directories, never of earlier lookups.

use super::fake::FakeDirectory;
use super::local::LocalAccounts;
use super::owner::EntryKind;
use super::*;
use crate::cache::ManualClock;
use proptest::prelude::*;

const T0: u64 = 1_700_000_000_000;

/// The resolver tests' settings ([`super::tests::settings`]) with room
/// for every key's answer and enumeration on.
fn settings() -> Settings {
    Settings {
        max_entries: 10_000,
        enumerate: true,
        ..super::tests::settings()
    }
}

/// Local files in a temporary directory: `backup` (uid 34), `localu`
/// (uid 5000), groups `sudo` (27) and `localg` (5000).
struct Locals {
    dir: tempfile::TempDir,
}

impl Locals {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("passwd"),
            "root:x:0:0::/root:/bin/sh\nbackup:x:34:34::/var/backups:/usr/sbin/nologin\n\
             nobody:x:65534:65534::/:/usr/sbin/nologin\nlocalu:x:5000:5000::/home/localu:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("group"),
            "root:x:0:\nsudo:x:27:\nlocalg:x:5000:\n",
        )
        .unwrap();
        Locals { dir }
    }

    fn accounts(&self) -> LocalAccounts {
        LocalAccounts::from_paths(
            &self.dir.path().join("passwd"),
            &self.dir.path().join("group"),
        )
    }
}

/// An OpenLDAP-like domain (case-sensitive) listed first and an AD-like
/// one (case-insensitive) second, with colliding names and IDs (and the
/// group of [`add_edge_group`]).
fn domains() -> (Arc<FakeDirectory>, Arc<FakeDirectory>) {
    let ldap = FakeDirectory::new("ldap");
    ldap.add_user("aduser01", 12345, 5000);
    ldap.add_user("Mixed", 12346, 5000);
    ldap.add_user("shared", 12347, 5000);
    ldap.add_user("backup", 12348, 5000); // a local name
    ldap.add_user("nobodyid", 65534, 5000); // a reserved ID
    ldap.add_user("localid", 5000, 5000); // a local UID
    ldap.add_user("dupa", 12350, 5000); // two entries, one UID
    ldap.add_user("dupb", 12350, 5000);
    ldap.add_group("ldapgroup", 15000, &["aduser01", "shared", "backup"]);
    ldap.add_group("sudo", 15001, &["aduser01"]); // a local group name
    ldap.add_group("common", 15002, &["shared"]);
    let ad = FakeDirectory::new_any_case("ad");
    ad.add_user("ADUser01", 924001103, 924000513); // served as aduser01
    ad.add_user("aduser02", 924001104, 924000513);
    ad.add_user("mixed", 924001105, 924000513); // "Mixed" is another name
    ad.add_user("Shared", 924001106, 924000513); // "shared" is taken
    ad.add_user("thief", 12345, 924000513); // ldap's UID
    ad.add_group(
        "domain_users",
        924000513,
        &["aduser01", "aduser02", "backup", "mixed"],
    );
    ad.add_group("COMMON", 924000514, &["aduser02"]); // "common" is taken
    ad.add_group("grabber", 15000, &["aduser02"]); // ldap's GID
    add_edge_group(&ldap);
    (ldap, ad)
}

/// Adds to `ldap` a group whose members are refused
/// for every reason a member can be (a local or reserved UID, a UID two
/// entries hold, a name only a case variant holds) or hold no entry.
fn add_edge_group(ldap: &FakeDirectory) {
    let members = [
        "localid", "nobodyid", "dupa", "Mixed", "mixed", "nosuch", "aduser01",
    ];
    ldap.add_group("edge", 15003, &members);
}

fn resolver(
    ds: &[&Arc<FakeDirectory>],
    locals: &Locals,
    store: Option<Arc<Store>>,
    s: Settings,
) -> Resolver {
    let list = ds
        .iter()
        .map(|d| (*d).clone() as Arc<dyn Provider>)
        .collect();
    Resolver::with_local_accounts(
        list,
        s,
        store,
        Arc::new(ManualClock::new(T0)),
        locals.accounts(),
    )
}

/// [`resolver`] of `ds` in that order, with its clock.
fn clocked_resolver(ds: &[&Arc<FakeDirectory>], locals: &Locals) -> (Resolver, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let r = Resolver::with_local_accounts(
        ds.iter()
            .map(|d| (*d).clone() as Arc<dyn Provider>)
            .collect(),
        settings(),
        None,
        clock.clone(),
        locals.accounts(),
    );
    (r, clock)
}

/// One lookup, as NSS asks it.
#[derive(Clone, Debug)]
enum Q {
    User(String),
    Uid(u32),
    Group(String),
    Gid(u32),
    Init(String),
}

/// The answer in a comparable form.
async fn ask(r: &Resolver, q: &Q) -> String {
    fn user(a: Answer<Arc<UserEntry>>) -> String {
        match a {
            Answer::Found(u, _) => format!("{}:{}:{}", u.user.name, u.user.uid, u.user.gid),
            other => format!("{other:?}"),
        }
    }
    fn group(a: Answer<Arc<GroupEntry>>) -> String {
        match a {
            Answer::Found(g, _) => {
                format!(
                    "{}:{}:{}",
                    g.group.name,
                    g.group.gid,
                    g.group.members.join(",")
                )
            }
            other => format!("{other:?}"),
        }
    }
    match q {
        Q::User(n) => user(r.user_by_name(n).await),
        Q::Uid(u) => user(r.user_by_uid(*u).await),
        Q::Group(n) => group(r.group_by_name(n).await),
        Q::Gid(g) => group(r.group_by_gid(*g).await),
        Q::Init(n) => match r.groups_of_user(n).await {
            Answer::Found(g, _) => format!("{g:?}"),
            other => format!("{other:?}"),
        },
    }
}

fn user_of(a: Answer<Arc<UserEntry>>) -> Option<(String, u32)> {
    match a {
        Answer::Found(u, _) => Some((u.user.name.clone(), u.user.uid)),
        _ => None,
    }
}

#[tokio::test]
async fn a_case_variant_never_displaces_another_domains_name() {
    // The reproduction: `getent passwd ADUSER01` used to answer
    // the AD account, and the memory cache then filed it under
    // "aduser01" for every process.
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    let first = user_of(r.user_by_name("aduser01").await);
    assert_eq!(first, Some(("aduser01".into(), 12345)));
    assert_eq!(r.user_by_name("ADUSER01").await, Answer::NotFound);
    assert_eq!(r.user_by_name("AdUser01").await, Answer::NotFound);
    assert_eq!(user_of(r.user_by_name("aduser01").await), first);
    // The AD account is served under its qualified name only, by name
    // (any spelling) and by UID.
    let qualified = Some(("aduser01@ad".to_string(), 924001103));
    assert_eq!(user_of(r.user_by_name("aduser01@ad").await), qualified);
    assert_eq!(user_of(r.user_by_name("ADUSER01@AD").await), qualified);
    assert_eq!(user_of(r.user_by_uid(924001103).await), qualified);
    // A name the AD domain owns: every spelling, one canonical entry.
    let owned = Some(("aduser02".to_string(), 924001104));
    assert_eq!(user_of(r.user_by_name("ADUSER02").await), owned);
    assert_eq!(user_of(r.user_by_name("aduser02").await), owned);
    assert_eq!(user_of(r.user_by_name("aduser02@ad").await), owned);
    // "Mixed" (ldap) and "mixed" (ad) are two names: both served as is.
    assert_eq!(user_of(r.user_by_name("Mixed").await).unwrap().1, 12346);
    assert_eq!(user_of(r.user_by_name("mixed").await).unwrap().1, 924001105);
    assert_eq!(user_of(r.user_by_name("MIXED").await).unwrap().1, 924001105);
    // The case-insensitive domain's "Shared" is shadowed by ldap's "shared".
    assert_eq!(
        user_of(r.user_by_uid(924001106).await),
        Some(("shared@ad".into(), 924001106))
    );
}

#[tokio::test]
async fn each_id_is_owned_once() {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    // uid 12345: ldap's aduser01; AD's "thief" claiming it is refused,
    // whichever question comes first.
    assert_eq!(r.user_by_name("thief").await, Answer::NotFound);
    assert_eq!(user_of(r.user_by_uid(12345).await).unwrap().0, "aduser01");
    assert_eq!(r.user_by_name("thief@ad").await, Answer::NotFound);
    assert!(r
        .refused_entries()
        .iter()
        .any(|(d, dn, why)| d == "ad" && dn.starts_with("uid=thief") && why.contains("12345")));
    // Two entries of one domain with one UID: the directory answers
    // neither for the UID, and both are refused by name too.
    assert_eq!(user_of(r.user_by_name("dupb").await), None);
    assert_eq!(user_of(r.user_by_uid(12350).await), None);
    assert_eq!(user_of(r.user_by_name("dupa").await), None);
    // gid 15000: ldap's group; AD's "grabber" is refused.
    assert!(matches!(r.group_by_name("grabber").await, Answer::NotFound));
    match r.group_by_gid(15000).await {
        Answer::Found(g, _) => assert_eq!(g.group.name, "ldapgroup"),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn local_accounts_and_reserved_ids_win() {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    assert_eq!(r.user_by_name("backup").await, Answer::NotFound);
    assert_eq!(r.user_by_uid(12348).await, Answer::NotFound);
    assert_eq!(r.user_by_name("nobodyid").await, Answer::NotFound);
    assert_eq!(r.user_by_uid(65534).await, Answer::NotFound);
    assert_eq!(r.user_by_name("localid").await, Answer::NotFound);
    assert_eq!(r.user_by_uid(5000).await, Answer::NotFound);
    assert!(matches!(r.group_by_name("sudo").await, Answer::NotFound));
    assert!(matches!(r.group_by_gid(15001).await, Answer::NotFound));
    let refused = r.refused_entries();
    for dn in ["uid=backup,", "uid=nobodyid,", "uid=localid,", "cn=sudo,"] {
        assert!(
            refused.iter().any(|(_, d, _)| d.starts_with(dn)),
            "{dn}: {refused:?}"
        );
    }
    // A local account never becomes a directory group's member.
    match r.group_by_name("ldapgroup").await {
        Answer::Found(g, _) => assert_eq!(g.group.members, ["aduser01", "shared"]),
        other => panic!("{other:?}"),
    }
    // initgroups of a local user adds no directory group (an answer as
    // fresh as a "no such object": the memory cache may hold it)...
    assert_eq!(r.groups_of_user("localu").await, Answer::NotFound);
    let ttl = settings().negative_ttl_ms;
    assert_eq!(
        r.groups_of_user_timed("backup").await,
        (Answer::NotFound, T0 + ttl)
    );
    // (root, also local, is a name the settings leave out: not fresh.)
    assert_eq!(r.groups_of_user_timed("root").await, (Answer::NotFound, 0));
    // ...unless configured to: then the served groups that list it.
    let mut s = settings();
    s.initgroups_for_local_users = true;
    ldap.add_group("withlocal", 15010, &["localu"]);
    let r = resolver(&[&ldap, &ad], &locals, None, s);
    assert_eq!(
        r.groups_of_user("localu").await,
        Answer::Found(vec![5000, 15010], Source::Directory)
    );
    let shadowed = UserEntry {
        user: roster_proto::User {
            name: "backup".into(),
            uid: 12348,
            gid: 5000,
            gecos: String::new(),
            home: String::new(),
            shell: String::new(),
        },
        dn: "uid=backup".into(),
        domain: Arc::from("ldap"),
        unique_id: None,
        ssh_keys: Vec::new(),
    };
    assert!(r.local_refusal_of_user(&shadowed).is_some());
    assert!(r.is_local_user("backup"));
}

#[tokio::test]
async fn members_and_group_lists_follow_the_owners() {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    match r.group_by_name("domain_users").await {
        // aduser01 is ldap's: AD's member is qualified; "backup" is local.
        Answer::Found(g, _) => {
            assert_eq!(g.group.members, ["aduser01@ad", "aduser02", "mixed"])
        }
        other => panic!("{other:?}"),
    }
    match r.group_by_gid(924000514).await {
        Answer::Found(g, _) => assert_eq!(g.group.name, "common@ad"),
        other => panic!("{other:?}"),
    }
    assert!(matches!(r.group_by_name("COMMON").await, Answer::NotFound));
    // initgroups: only groups whose GID is served for the user's domain
    // (AD's "grabber" claims ldap's GID 15000).
    assert_eq!(
        r.groups_of_user("aduser02").await,
        Answer::Found(vec![924000513, 924000514], Source::Directory)
    );
    assert_eq!(
        r.groups_of_user("aduser01@ad").await,
        Answer::Found(vec![924000513], Source::Directory)
    );
    let Answer::Found(g, _) = r.groups_of_user("aduser01").await else {
        panic!()
    };
    assert_eq!(g, [5000, 15000, 15003]);
}

#[tokio::test]
async fn members_whose_entry_is_refused_are_left_out() {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    // Members whose entries are never served: AD's "thief" (ldap's UID),
    // ldap's "dupa"/"dupb" (one UID, two entries), "localid" (a local
    // UID) and "nobodyid" (a reserved UID).
    ad.add_group("thieves", 924000520, &["thief", "aduser02"]);
    ldap.add_group(
        "refusedmembers",
        15020,
        &["dupa", "shared", "dupb", "localid", "nobodyid"],
    );
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    for q in [Q::Group("thieves".into()), Q::Gid(924000520)] {
        assert_eq!(ask(&r, &q).await, "thieves:924000520:aduser02", "{q:?}");
    }
    for q in [Q::Group("refusedmembers".into()), Q::Gid(15020)] {
        assert_eq!(ask(&r, &q).await, "refusedmembers:15020:shared", "{q:?}");
    }
    // Refused whichever question met them first, and listed.
    let refused = r.refused_entries();
    for dn in [
        "uid=thief,",
        "uid=dupa,",
        "uid=dupb,",
        "uid=localid,",
        "uid=nobodyid,",
    ] {
        assert!(
            refused.iter().any(|(_, d, _)| d.starts_with(dn)),
            "{dn}: {refused:?}"
        );
    }
    // The same answer in a fresh resolver asked by ID first.
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    assert_eq!(ask(&r, &Q::Gid(15020)).await, "refusedmembers:15020:shared");
}

/// Every key the data set can be asked with.
fn all_keys() -> Vec<Q> {
    let mut q = Vec::new();
    for n in [
        "aduser01",
        "ADUSER01",
        "AdUser01",
        "aduser01@ad",
        "aduser01@ldap",
        "aduser02",
        "ADUSER02",
        "aduser02@ad",
        "Mixed",
        "mixed",
        "MIXED",
        "mixed@ad",
        "shared",
        "Shared",
        "shared@ad",
        "backup",
        "BACKUP",
        "backup@ad",
        "nobodyid",
        "localid",
        "dupa",
        "dupb",
        "thief",
        "thief@ad",
        "ghost",
        "localu",
    ] {
        q.push(Q::User(n.into()));
        q.push(Q::Init(n.into()));
    }
    for u in [
        12345, 12346, 12347, 12348, 12350, 65534, 5000, 924001103, 924001104, 924001105, 924001106,
        999999,
    ] {
        q.push(Q::Uid(u));
    }
    for n in [
        "ldapgroup",
        "sudo",
        "SUDO",
        "common",
        "COMMON",
        "common@ad",
        "domain_users",
        "Domain_Users",
        "grabber",
        "grabber@ad",
        "edge",
        "nogroup",
    ] {
        q.push(Q::Group(n.into()));
    }
    for g in [
        15000, 15001, 15002, 15003, 924000513, 924000514, 27, 5000, 424242,
    ] {
        q.push(Q::Gid(g));
    }
    q
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// Asks `r` the keys `seq` picks, in turn: each answer must be the one
/// a fresh resolver over `domains` (no census) gives that key first.
async fn fresh_answers(
    r: &Resolver,
    (ldap, ad): (&Arc<FakeDirectory>, &Arc<FakeDirectory>),
    locals: &Locals,
    keys: &[Q],
    seq: &[usize],
) -> Result<(), TestCaseError> {
    for &i in seq {
        let fresh = resolver(&[ldap, ad], locals, None, settings());
        let expected = ask(&fresh, &keys[i]).await;
        let got = ask(r, &keys[i]).await;
        prop_assert_eq!(got, expected, "key {:?} after {:?}", keys[i], seq);
        // (The answer sent: what it left to record is added, and taken
        // by the lookups that follow or recorded once the replies pause.)
        r.answers_sent();
        settle().await;
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    /// Any sequence of lookups gets, for every key, the answer that key
    /// gets first in a fresh resolver.
    #[test]
    fn answers_do_not_depend_on_earlier_lookups(seq in proptest::collection::vec(0..all_keys().len(), 1..40)) {
        let keys = all_keys();
        let locals = Locals::new();
        let (ldap, ad) = domains();
        let rt = runtime();
        rt.block_on(async {
            let shared = resolver(&[&ldap, &ad], &locals, None, settings());
            fresh_answers(&shared, (&ldap, &ad), &locals, &keys, &seq).await
        })?;
    }
}

#[tokio::test]
async fn every_served_entry_passes_the_round_trip() {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    let (users, _) = r.list_users(0, 1000).await.unwrap();
    let mut served = 0;
    for q in all_keys() {
        if let Q::Uid(u) = q {
            if let Answer::Found(e, _) = r.user_by_uid(u).await {
                let back = user_of(r.user_by_name(&e.user.name).await);
                assert_eq!(back.map(|b| b.1), Some(u), "{}", e.user.name);
                assert!(users.iter().any(|x| x.name == e.user.name && x.uid == u));
                served += 1;
            }
        }
        if let Q::Gid(g) = q {
            if let Answer::Found(e, _) = r.group_by_gid(g).await {
                match r.group_by_name(&e.group.name).await {
                    Answer::Found(b, _) => assert_eq!(b.group.gid, g),
                    other => panic!("{}: {other:?}", e.group.name),
                }
            }
        }
    }
    assert_eq!(served, 7);
    // Enumeration serves what lookups serve, nothing more.
    assert_eq!(users.len(), served);
    for u in &users {
        assert_eq!(user_of(r.user_by_uid(u.uid).await).unwrap().0, u.name);
    }
    let (groups, _) = r.list_groups(0, 1000).await.unwrap();
    for g in &groups {
        match r.group_by_gid(g.gid).await {
            Answer::Found(b, _) => assert_eq!(&b.group, g),
            other => panic!("{}: {other:?}", g.name),
        }
    }
}

/// The users (name, UID) and groups (as [`ask`] shows them) lookups
/// serve for the UIDs `uids` and GIDs `gids`, asked of a resolver that
/// listed nothing.
async fn served_by_lookups(
    ds: &[&Arc<FakeDirectory>],
    locals: &Locals,
    uids: &[u32],
    gids: &[u32],
) -> (Vec<(String, u32)>, Vec<String>) {
    let fresh = resolver(ds, locals, None, settings());
    let mut users = Vec::new();
    for &u in uids {
        if let Some(found) = user_of(fresh.user_by_uid(u).await) {
            // Its name leads back to it.
            assert_eq!(
                user_of(fresh.user_by_name(&found.0).await),
                Some(found.clone())
            );
            users.push(found);
        }
    }
    let mut groups = Vec::new();
    for &g in gids {
        let answer = ask(&fresh, &Q::Gid(g)).await;
        if !answer.starts_with("NotFound") {
            groups.push(answer);
        }
    }
    (users, groups)
}

/// The enumeration of `ds` (users, groups as [`ask`] shows them), of the
/// UIDs `uids` and GIDs `gids`.
async fn enumerated(
    ds: &[&Arc<FakeDirectory>],
    locals: &Locals,
    uids: &[u32],
    gids: &[u32],
) -> (Vec<(String, u32)>, Vec<String>) {
    let r = resolver(ds, locals, None, settings());
    let (users, _) = r.list_users(0, 1000).await.unwrap();
    let (groups, _) = r.list_groups(0, 1000).await.unwrap();
    let users = uids
        .iter()
        .filter_map(|&u| users.iter().find(|x| x.uid == u))
        .map(|u| (u.name.clone(), u.uid))
        .collect();
    let groups = gids
        .iter()
        .filter_map(|&g| groups.iter().find(|x| x.gid == g))
        .map(|g| format!("{}:{}:{}", g.name, g.gid, g.members.join(",")))
        .collect();
    (users, groups)
}

#[tokio::test]
async fn a_uid_whose_entrys_name_is_used_twice_is_still_held_in_the_enumeration() {
    // In "a", two entries are named "twin" (each refused by name, so left
    // out of a's listing) but each holds its UID alone: a lookup by UID
    // 20001 finds "twin" in "a", so b's "later" with that UID is refused
    // by lookups, in its own entry and as a member.
    let locals = Locals::new();
    let a = FakeDirectory::new("a");
    a.add_user("twin", 20001, 5000);
    a.add_user("twin", 20002, 5000);
    a.add_user("plain", 20003, 5000);
    let b = FakeDirectory::new("b");
    b.add_user("later", 20001, 5000);
    b.add_user("fine", 20004, 5000);
    b.add_group("bgroup", 25001, &["later", "fine"]);
    let uids = [20001, 20002, 20003, 20004];
    let ds = [&a, &b];
    let lookups = served_by_lookups(&ds, &locals, &uids, &[25001]).await;
    assert_eq!(
        lookups,
        (
            vec![("plain".to_string(), 20003), ("fine".to_string(), 20004)],
            vec!["bgroup:25001:fine".to_string()]
        )
    );
    assert_eq!(enumerated(&ds, &locals, &uids, &[25001]).await, lookups);
}

#[tokio::test]
async fn a_name_whose_entrys_uid_is_used_twice_is_still_held_in_the_enumeration() {
    // In "a", two entries share UID 20010 (each refused, so left out of
    // a's listing) but "solo" is one entry's name alone: a lookup of
    // "solo" finds it in "a", so b's "solo" is served as "solo@b" by
    // lookups, in its own entry and as a member.
    let locals = Locals::new();
    let a = FakeDirectory::new("a");
    a.add_user("solo", 20010, 5000);
    a.add_user("other", 20010, 5000);
    let b = FakeDirectory::new("b");
    b.add_user("solo", 20011, 5000);
    b.add_group("bgroup", 25002, &["solo"]);
    let uids = [20010, 20011];
    let ds = [&a, &b];
    let lookups = served_by_lookups(&ds, &locals, &uids, &[25002]).await;
    assert_eq!(
        lookups,
        (
            vec![("solo@b".to_string(), 20011)],
            vec!["bgroup:25002:solo@b".to_string()]
        )
    );
    assert_eq!(
        user_of(
            resolver(&ds, &locals, None, settings())
                .user_by_name("solo")
                .await
        ),
        None
    );
    assert_eq!(enumerated(&ds, &locals, &uids, &[25002]).await, lookups);
}

#[tokio::test]
async fn group_keys_left_out_entries_hold_are_still_held_in_the_enumeration() {
    // In "a", two groups are named "twins" (GIDs 26001 and 26002, each
    // its own), and two groups share GID 26003 ("lone" and "mate"): b's
    // group with GID 26001 is refused by lookups, and b's "lone" is
    // served as "lone@b".
    let locals = Locals::new();
    let a = FakeDirectory::new("a");
    a.add_group("twins", 26001, &[]);
    a.add_group("twins", 26002, &[]);
    a.add_group("lone", 26003, &[]);
    a.add_group("mate", 26003, &[]);
    let b = FakeDirectory::new("b");
    b.add_group("taker", 26001, &[]);
    b.add_group("lone", 26004, &[]);
    let gids = [26001, 26002, 26003, 26004];
    let ds = [&a, &b];
    let lookups = served_by_lookups(&ds, &locals, &[], &gids).await;
    assert_eq!(lookups, (vec![], vec!["lone@b:26004:".to_string()]));
    assert_eq!(enumerated(&ds, &locals, &[], &gids).await, lookups);
}

#[tokio::test]
async fn enumerated_member_lists_leave_out_the_members_lookups_refuse() {
    enumerated_member_lists(false).await;
}

#[tokio::test]
async fn enumerated_member_lists_rest_on_the_last_domains_census() {
    enumerated_member_lists(true).await;
}

/// The group listing's member lists are those lookups serve; with
/// `census`, the last domain's members are checked by its users census
/// (taken first), without listing its users: they are checked even when
/// that listing fails.
async fn enumerated_member_lists(census: bool) {
    let locals = Locals::new();
    let (ldap, ad) = domains();
    ldap.set_census(census);
    ad.set_census(census);
    // ldap's members: a local UID, a UID two entries hold (by either
    // name, one qualified), a reserved UID, a name without entry (kept)
    // and a served user.
    let reasons = [
        "localid",
        "dupa",
        "dupb@ldap",
        "nobodyid",
        "nosuch",
        "shared",
    ];
    ldap.add_group("reasons", 15030, &reasons);
    // AD's: ldap's UID (in two spellings, one qualified), a served user,
    // a name ldap holds (qualified) and a name without entry (kept).
    let ad_reasons = ["THIEF", "thief@ad", "aduser02", "aduser01", "ghost"];
    ad.add_group("adreasons", 924000530, &ad_reasons);
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    if census {
        ask(&r, &Q::User("aduser02".into())).await;
        settle().await;
        assert_eq!(ad.census_count(), 2);
        ad.set_user_listing_fails(true);
    }
    let (groups, _) = r.list_groups(0, 1000).await.unwrap();
    let members = |groups: &[roster_proto::Group], name: &str| {
        let g = groups.iter().find(|g| g.name == name);
        g.unwrap_or_else(|| panic!("{name}: {groups:?}"))
            .members
            .clone()
    };
    assert_eq!(members(&groups, "reasons"), ["nosuch", "shared"]);
    assert_eq!(
        members(&groups, "adreasons"),
        ["aduser02", "aduser01@ad", "ghost"]
    );
    // What lookups answer, in a resolver that listed nothing.
    ad.set_user_listing_fails(false);
    let fresh = resolver(&[&ldap, &ad], &locals, None, settings());
    for (listed, gid) in [("reasons", 15030), ("adreasons", 924000530)] {
        let expected = format!("{listed}:{gid}:{}", members(&groups, listed).join(","));
        assert_eq!(ask(&fresh, &Q::Group(listed.into())).await, expected);
    }
    let refused = r.refused_entries();
    for dn in ["uid=localid,", "uid=nobodyid,", "uid=thief,"] {
        assert!(
            refused.iter().any(|(_, d, _)| d.starts_with(dn)),
            "{dn}: {refused:?}"
        );
    }
    // A domain whose users cannot be listed: its members are served as it
    // names them (as before the users were listed for them).
    ldap.set_user_listing_fails(true);
    let r = resolver(&[&ldap, &ad], &locals, None, settings());
    if census {
        ask(&r, &Q::User("aduser02".into())).await;
        settle().await;
    }
    let (groups, _) = r.list_groups(0, 1000).await.unwrap();
    assert_eq!(members(&groups, "reasons"), reasons);
    // The later domain's members are still checked against the earlier
    // domain's UIDs, asked as lookups ask them (the census decides them,
    // or, without one, each is asked): its listing is not needed for that.
    let ad_members = members(&groups, "adreasons");
    assert!(
        !ad_members
            .iter()
            .any(|m| m.eq_ignore_ascii_case("thief") || m.eq_ignore_ascii_case("thief@ad")),
        "{ad_members:?}"
    );
    assert!(ad_members.iter().any(|m| m == "aduser02"), "{ad_members:?}");
}

#[tokio::test]
async fn a_restart_with_the_first_domain_down_keeps_the_owners() {
    restart_with_the_first_domain_down(false).await;
}

#[tokio::test]
async fn a_restart_with_the_first_domain_down_keeps_what_a_census_vouched_for() {
    restart_with_the_first_domain_down(true).await;
}

/// A resolver over `domains` (the first one `ldap`) and `locals` keeping
/// its answers in a store in `dir`; with `census`, the domains take
/// censuses, both taken (begun by one lookup) before it is returned.
async fn stored_resolver(
    dir: &std::path::Path,
    domains: [&Arc<FakeDirectory>; 2],
    locals: &Locals,
    census: bool,
) -> (Arc<Store>, Resolver) {
    for d in domains {
        d.set_census(census);
    }
    let store = Arc::new(Store::open(dir, u64::MAX).unwrap());
    let r = resolver(&domains, locals, Some(store.clone()), settings());
    if census {
        ask(&r, &Q::Uid(12_346)).await;
        settle().await;
        assert_eq!(domains[0].census_count(), 2);
    }
    (store, r)
}

/// Every key's answer before a restart and after it with `ldap` down, the
/// censuses (`census`) taken before the answers.
async fn restart_with_the_first_domain_down(census: bool) {
    let dir = tempfile::tempdir().unwrap();
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let dump = |r: Resolver| async move {
        let mut out = Vec::new();
        // (With censuses, groups only: a member's UID must be kept for
        // the offline answer though nobody asked it.)
        let mut keys = all_keys();
        if census {
            keys.retain(|q| matches!(q, Q::Group(_) | Q::Gid(_)));
        }
        for q in keys {
            out.push(format!("{q:?} => {}", ask(&r, &q).await));
        }
        out
    };
    let before = {
        let (store, r) = stored_resolver(dir.path(), [&ldap, &ad], &locals, census).await;
        let d = dump(r.clone()).await;
        // Twice: the second pass comes from the cache and must agree.
        assert_eq!(dump(r.clone()).await, d);
        // (Members the census decided are asked after the answers.)
        r.answers_sent();
        r.after_answers_done().await;
        store.close();
        d
    };
    ldap.set_online(false);
    let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
    let r = resolver(&[&ldap, &ad], &locals, Some(store), settings());
    let after = dump(r).await;
    // Served entries and refusals are the same; only names nobody holds
    // cannot be told apart from "ldap holds it" while ldap is down.
    let mut diff = Vec::new();
    for (b, a) in before.iter().zip(&after) {
        if b != a && !(b.ends_with("NotFound") && a.contains("Unavailable")) {
            diff.push((b, a));
        }
    }
    assert!(diff.is_empty(), "{diff:#?}");
    let served = before.iter().filter(|l| !l.ends_with("NotFound")).count();
    assert!(served > if census { 5 } else { 20 }, "{before:#?}");
}

#[tokio::test]
async fn initgroups_alone_keeps_its_answers_across_an_offline_restart() {
    initgroups_alone_across_an_offline_restart(false).await;
}

#[tokio::test]
async fn initgroups_the_census_decided_keeps_its_answers_across_an_offline_restart() {
    initgroups_alone_across_an_offline_restart(true).await;
}

/// initgroups asked alone (the censuses, `census`, taken first), then
/// asked again after a restart with `ldap` down: the same answers.
async fn initgroups_alone_across_an_offline_restart(census: bool) {
    let dir = tempfile::tempdir().unwrap();
    let locals = Locals::new();
    let (ldap, ad) = domains();
    let users = ["aduser01", "aduser02", "aduser01@ad", "mixed", "shared@ad"];
    let mut before = Vec::new();
    {
        let (store, r) = stored_resolver(dir.path(), [&ldap, &ad], &locals, census).await;
        let n = ldap.call_count();
        for u in users {
            before.push(ask(&r, &Q::Init(u.into())).await);
            if u == "aduser01" && census {
                // The user, its groups, and the entries of those the
                // census does not decide (its primary group and "sudo",
                // a local group's name) in one batch.
                assert_eq!(ldap.call_count() - n, 3);
            }
        }
        // (What the census decided is asked after the answers.)
        r.answers_sent();
        r.after_answers_done().await;
        store.close();
    }
    ldap.set_online(false);
    let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
    let r = resolver(&[&ldap, &ad], &locals, Some(store), settings());
    let mut after = Vec::new();
    for u in users {
        after.push(ask(&r, &Q::Init(u.into())).await);
    }
    assert_eq!(after, before);
    assert!(before.iter().all(|a| a.starts_with('[')), "{before:?}");
}

/// [`domains`] with groups whose members' own entries are refused for
/// every reason, and names no domain holds; batch calls asked per key
/// when `per_key`.
fn member_domains(per_key: bool) -> (Arc<FakeDirectory>, Arc<FakeDirectory>) {
    let (ldap, ad) = domains();
    ad.add_group(
        "thieves",
        924000520,
        &["thief", "aduser02", "ghost", "Shared", "aduser01@ad"],
    );
    ldap.add_group(
        "refusedmembers",
        15020,
        &[
            "dupa", "shared", "dupb", "localid", "nobodyid", "ghost", "Mixed",
        ],
    );
    ldap.set_per_key(per_key);
    ad.set_per_key(per_key);
    (ldap, ad)
}

#[tokio::test]
async fn batched_member_checks_answer_like_single_lookups() {
    let locals = Locals::new();
    let groups = [
        Q::Group("thieves".into()),
        Q::Gid(924000520),
        Q::Group("refusedmembers".into()),
        Q::Gid(15020),
        Q::Group("domain_users".into()),
        Q::Group("ldapgroup".into()),
    ];
    let mut seen = Vec::new();
    for per_key in [false, true] {
        let (ldap, ad) = member_domains(per_key);
        let r = resolver(&[&ldap, &ad], &locals, None, settings());
        let mut answers = Vec::new();
        // Cold, then with some members' answers already cached.
        for q in &groups {
            answers.push(ask(&r, q).await);
        }
        let r2 = resolver(&[&ldap, &ad], &locals, None, settings());
        for q in [
            Q::User("dupa".into()),
            Q::Uid(12345),
            Q::User("shared".into()),
        ] {
            ask(&r2, &q).await;
        }
        for q in &groups {
            answers.push(ask(&r2, q).await);
        }
        // A domain that cannot answer makes the lookup unavailable.
        ldap.set_online(false);
        let r3 = resolver(&[&ldap, &ad], &locals, None, settings());
        answers.push(ask(&r3, &Q::Group("thieves".into())).await);
        let mut refused = r.refused_entries();
        refused.sort();
        seen.push((answers, refused));
    }
    let (batched, per_key) = (&seen[0], &seen[1]);
    assert_eq!(batched, per_key);
    let answers = &batched.0;
    // (A name the domain does not hold, or holds only in another
    // spelling, is left as it is.)
    assert_eq!(
        answers[0],
        "thieves:924000520:aduser02,ghost,Shared,aduser01@ad"
    );
    assert_eq!(answers[2], "refusedmembers:15020:shared,ghost,Mixed");
    assert!(
        answers.last().unwrap().contains("Unavailable"),
        "{answers:?}"
    );
    for dn in [
        "uid=thief,",
        "uid=dupa,",
        "uid=dupb,",
        "uid=localid,",
        "uid=nobodyid,",
    ] {
        assert!(
            batched.1.iter().any(|(_, d, _)| d.starts_with(dn)),
            "{dn}: {:?}",
            batched.1
        );
    }
}

#[tokio::test]
async fn a_big_group_costs_a_bounded_number_of_searches() {
    let locals = Locals::new();
    let build = |per_key: bool| {
        // An earlier domain holding a few of the names and UIDs.
        let first = FakeDirectory::new("first");
        first.add_user("m00007", 600_000, 5000); // name taken: qualified
        first.add_user("early", 20_011, 5000); // m00011's UID: refused
        let ldap = FakeDirectory::new("ldap");
        let names: Vec<String> = (0..5000).map(|k| format!("m{k:05}")).collect();
        for (k, n) in names.iter().enumerate() {
            ldap.add_user(n, 20_000 + k as u32, 5000);
        }
        ldap.add_user("twin", 20_013, 5000); // shares m00013's UID
        ldap.add_user("m05000", 5000, 5000); // a local UID
        let mut members: Vec<&str> = names.iter().map(String::as_str).collect();
        members.extend(["m05000", "nosuchuser"]);
        ldap.add_group("biggroup", 30_000, &members);
        first.set_per_key(per_key);
        ldap.set_per_key(per_key);
        (first, ldap)
    };
    let (first, ldap) = build(false);
    let r = resolver(&[&first, &ldap], &locals, None, settings());
    let batched = ask(&r, &Q::Group("biggroup".into())).await;
    // A batch call per BATCH keys and question, not one per member.
    let bound = 2 * 5002usize.div_ceil(super::fetch::BATCH) + 5;
    assert!(first.call_count() <= bound, "{}", first.call_count());
    assert!(ldap.call_count() <= bound, "{}", ldap.call_count());
    let members: Vec<&str> = batched.rsplit(':').next().unwrap().split(',').collect();
    // m00011 and m00013 refused, m05000 too, "nosuchuser" left as it is.
    assert_eq!(members.len(), 5000 - 2 + 1, "{}", &batched[..80]);
    assert!(members.contains(&"m00007@ldap") && members.contains(&"nosuchuser"));
    for gone in ["m00011", "m00013", "m05000", "m00007"] {
        assert!(!members.contains(&gone), "{gone}");
    }
    // The same answer, asked one key at a time.
    let (first, ldap) = build(true);
    let r = resolver(&[&first, &ldap], &locals, None, settings());
    assert_eq!(ask(&r, &Q::Group("biggroup".into())).await, batched);
    assert!(ldap.call_count() > 5000);
}

#[tokio::test]
async fn initgroups_of_a_user_in_many_groups_asks_in_batches() {
    let locals = Locals::new();
    let build = |per_key: bool| {
        // An earlier domain holding one of the GIDs and one of the names.
        let first = FakeDirectory::new("first");
        first.add_group("taker", 40_007, &[]); // mg0007's GID: not listed
        first.add_group("mg0003", 600_003, &[]); // name taken: still listed
        let ldap = FakeDirectory::new("ldap");
        ldap.add_user("many", 20_000, 10_000);
        ldap.add_group("primary", 10_000, &[]);
        for k in 0..1000u32 {
            ldap.add_group(&format!("mg{k:04}"), 40_000 + k, &["many"]);
        }
        // Two entries claiming one GID: the directory answers neither.
        ldap.add_group("twin-a", 41_000, &["many"]);
        ldap.add_group("twin-b", 41_000, &[]);
        first.set_per_key(per_key);
        ldap.set_per_key(per_key);
        (first, ldap)
    };
    let (first, ldap) = build(false);
    let r = resolver(&[&first, &ldap], &locals, None, settings());
    let batched = ask(&r, &Q::Init("many".into())).await;
    // A batch call per BATCH keys, question and domain (GIDs, then
    // names), not one call per group.
    // (1,001 GIDs, 1,000 names: the twins' GID answers no group.)
    let batches = 1001usize.div_ceil(super::fetch::BATCH);
    assert!(first.batch_call_count() >= 2 * batches - 1);
    assert!(ldap.batch_call_count() >= 2 * batches - 1);
    let (f, l) = (first.call_count(), ldap.call_count());
    assert!(f <= 2 * batches + 5 && l <= 2 * batches + 5, "{f} {l}");
    let gids: Vec<u32> = batched
        .trim_matches(['[', ']'])
        .split(", ")
        .map(|g| g.parse().unwrap())
        .collect();
    assert_eq!(gids[0], 10_000, "primary first");
    assert_eq!(gids.len(), 1 + 1000 - 1, "{batched}");
    assert!(gids.contains(&40_003));
    for gone in [40_007, 41_000] {
        assert!(!gids.contains(&gone), "{gone}");
    }
    // The same answer, asked one key at a time; the groups themselves
    // answer as before the prefetch.
    let (first, ldap) = build(true);
    let r2 = resolver(&[&first, &ldap], &locals, None, settings());
    assert_eq!(ask(&r2, &Q::Init("many".into())).await, batched);
    assert!(ldap.call_count() > 1000);
    assert_eq!(first.batch_call_count() + ldap.batch_call_count(), 0);
    for q in [
        Q::Gid(41_000),
        Q::Group("twin-a".into()),
        Q::Gid(40_007),
        Q::Group("mg0007".into()),
        Q::Gid(40_003),
    ] {
        assert_eq!(ask(&r, &q).await, ask(&r2, &q).await, "{q:?}");
    }
    assert_eq!(ask(&r, &Q::Gid(41_000)).await, "NotFound");
    assert!(ask(&r, &Q::Gid(40_003)).await.starts_with("mg0003@ldap:"));
}

// The census ([`crate::census`]): the same answers with one search fewer.

/// Lets the censuses begun in the background be taken.
async fn settle() {
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(100))]

    /// With the censuses taken, any sequence of lookups gets, for every
    /// key, the answer a fresh resolver without a census gives.
    #[test]
    fn a_census_changes_no_answer(seq in proptest::collection::vec(0..all_keys().len(), 1..30)) {
        let keys = all_keys();
        let locals = Locals::new();
        let (ldap, ad) = domains();
        let (cl, ca) = domains();
        cl.set_census(true);
        ca.set_census(true);
        let rt = runtime();
        rt.block_on(async {
            let with = resolver(&[&cl, &ca], &locals, None, settings());
            ask(&with, &Q::User("aduser01".into())).await;
            ask(&with, &Q::Group("ldapgroup".into())).await;
            settle().await;
            prop_assert_eq!(cl.census_count(), 2);
            fresh_answers(&with, (&ldap, &ad), &locals, &keys, &seq).await
        })?;
    }
}

#[tokio::test]
async fn a_cold_lookup_the_census_vouches_for_asks_once() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    for (k, n) in ["alice", "bob", "carol", "dave"].iter().enumerate() {
        ldap.add_user(n, 10_000 + k as u32, 5000);
    }
    ldap.add_user("twin", 10_003, 5000); // shares dave's UID
    ldap.add_group("staff", 20_000, &["alice", "bob"]);
    ldap.add_group("ops", 20_001, &["alice"]);
    ldap.set_census(true);
    let (r, clock) = clocked_resolver(&[&ldap], &locals);
    // Before the census: the name, then the UID.
    let calls = |before: usize| ldap.call_count() - before;
    let n = ldap.call_count();
    assert_eq!(user_of(r.user_by_name("alice").await).unwrap().1, 10_000);
    assert_eq!(calls(n), 2);
    settle().await;
    assert_eq!(ldap.census_count(), 2, "users, and groups with them");
    // With it: one search by name, one by UID.
    let n = ldap.call_count();
    assert_eq!(user_of(r.user_by_name("bob").await).unwrap().1, 10_001);
    assert_eq!(calls(n), 1);
    // ... and bob is then the recorded answer for his UID.
    assert_eq!(user_of(r.user_by_uid(10_001).await).unwrap().0, "bob");
    assert_eq!(calls(n), 1);
    let n = ldap.call_count();
    assert_eq!(user_of(r.user_by_uid(10_002).await).unwrap().0, "carol");
    assert_eq!(calls(n), 1);
    // A shared UID is still refused, both ways, after the search the
    // census could not spare.
    let n = ldap.call_count();
    assert_eq!(r.user_by_name("dave").await, Answer::NotFound);
    assert_eq!(r.user_by_name("twin").await, Answer::NotFound);
    assert_eq!(calls(n), 3, "dave, the UID, twin");
    // A group: its GID needs no search, nor do its members' UIDs.
    let n = ldap.call_count();
    assert_eq!(
        ask(&r, &Q::Group("staff".into())).await,
        "staff:20000:alice,bob"
    );
    assert_eq!(calls(n), 1, "the group; its members are cached");
    let n = ldap.call_count();
    assert_eq!(ask(&r, &Q::Gid(20_001)).await, "ops:20001:alice");
    assert_eq!(calls(n), 1);

    // Past the last quarter of entry_ttl a new census is taken in the
    // background while the old one serves; past entry_ttl it serves no
    // more.
    let ttl = settings().entry_ttl_ms;
    clock.advance(ttl / 4 * 3 + 1);
    ldap.add_user("erin", 10_004, 5000);
    let n = ldap.call_count();
    assert_eq!(user_of(r.user_by_name("erin").await).unwrap().1, 10_004);
    assert_eq!(calls(n), 2, "erin is new to the old census");
    settle().await;
    assert_eq!(ldap.census_count(), 3);
    ldap.add_user("fred", 10_005, 5000);
    clock.advance(ttl / 4 + 1);
    let n = ldap.call_count();
    assert_eq!(user_of(r.user_by_name("fred").await).unwrap().1, 10_005);
    assert_eq!(calls(n), 2, "the census expired");

    // A flush drops it: the next one lists what changed.
    settle().await;
    let before = ldap.census_count();
    r.flush_all();
    ldap.add_user("gina", 10_000, 5000); // alice's UID now
    assert_eq!(r.user_by_name("alice").await, Answer::NotFound);
    settle().await;
    assert_eq!(ldap.census_count(), before + 2);
    assert_eq!(r.user_by_name("alice").await, Answer::NotFound);
}

#[tokio::test]
async fn a_census_a_lookup_begins_waits_for_the_answer_the_server_sends() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    ldap.add_user("alice", 10_000, 5000);
    ldap.set_census(true);
    let r = Resolver::with_local_accounts(
        vec![ldap.clone() as Arc<dyn Provider>],
        settings(),
        None,
        Arc::new(ManualClock::new(T0)),
        locals.accounts(),
    );
    // A lookup the server answers: the census it begins (its own
    // connection and a listing of the domain) waits for the answer...
    let answer = super::answering(r.user_by_name("alice")).await;
    assert_eq!(user_of(answer).unwrap().1, 10_000);
    settle().await;
    assert_eq!(ldap.census_count(), 0, "a census began before the answer");
    // ... and starts once it is sent.
    r.answers_sent();
    settle().await;
    assert_eq!(ldap.census_count(), 2, "users, and groups with them");

    // A flush while a census waits for the answer: it no longer lists
    // (its result would not be kept); the next lookup begins another.
    r.flush_all();
    let answer = super::answering(r.user_by_name("alice")).await;
    assert_eq!(user_of(answer).unwrap().1, 10_000);
    r.flush_all();
    r.answers_sent();
    settle().await;
    assert_eq!(
        ldap.census_count(),
        2,
        "a census of the flushed generation listed"
    );
    let answer = super::answering(r.user_by_name("alice")).await;
    assert_eq!(user_of(answer).unwrap().1, 10_000);
    r.answers_sent();
    settle().await;
    assert_eq!(ldap.census_count(), 4);
}

#[tokio::test]
async fn a_census_that_cannot_be_taken_leaves_the_searches() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    ldap.add_user("alice", 10_000, 5000);
    ldap.add_user("bob", 10_001, 5000);
    let (r, clock) = clocked_resolver(&[&ldap], &locals);
    // A domain without censuses: asked again only after a reload.
    user_of(r.user_by_name("alice").await).unwrap();
    settle().await;
    ldap.set_census(true);
    let n = ldap.call_count();
    user_of(r.user_by_name("bob").await).unwrap();
    assert_eq!(ldap.call_count() - n, 2);
    settle().await;
    assert_eq!(ldap.census_count(), 0);
    // Censuses switched off: none is taken.
    let mut off = settings();
    off.census = false;
    let r = Resolver::with_local_accounts(
        vec![ldap.clone() as Arc<dyn Provider>],
        off,
        None,
        clock.clone(),
        locals.accounts(),
    );
    user_of(r.user_by_name("alice").await).unwrap();
    settle().await;
    assert_eq!(ldap.census_count(), 0);
}

#[tokio::test]
async fn a_big_group_with_a_census_asks_only_the_members_it_cannot_decide() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    let names: Vec<String> = (0..2000).map(|k| format!("m{k:05}")).collect();
    for (k, n) in names.iter().enumerate() {
        ldap.add_user(n, 20_000 + k as u32, 5000);
    }
    ldap.add_user("twin", 20_013, 5000); // shares m00013's UID
    let members: Vec<&str> = names.iter().map(String::as_str).collect();
    ldap.add_group("biggroup", 30_000, &members);
    ldap.add_group("other", 30_001, &[]);
    ldap.set_census(true);
    let r = resolver(&[&ldap], &locals, None, settings());
    ask(&r, &Q::Group("other".into())).await;
    settle().await;
    let n = ldap.call_count();
    let answer = ask(&r, &Q::Group("biggroup".into())).await;
    // The group, then m00013 (whose UID another entry holds) by name and
    // by UID: the census decides every other member.
    assert_eq!(ldap.call_count() - n, 3);
    let served: Vec<&str> = answer.rsplit(':').next().unwrap().split(',').collect();
    assert_eq!(served.len(), 1999);
    assert!(!served.contains(&"m00013"));
    // After the answer, the decided members are asked by name in batches
    // (their UIDs vouched for by the census): their answers are cached
    // as the check would have left them.
    settle().await;
    assert_eq!(
        ldap.call_count() - n,
        3,
        "nothing before the answer is sent"
    );
    r.answers_sent();
    r.after_answers_done().await;
    let batches = 1999usize.div_ceil(super::fetch::BATCH);
    assert_eq!(ldap.call_count() - n, 3 + batches);
    let n = ldap.call_count();
    for q in [Q::User("m00001".into()), Q::Uid(20_001)] {
        assert!(ask(&r, &q).await.starts_with("m00001:"));
    }
    assert_eq!(ldap.call_count(), n);
}

#[tokio::test(start_paused = true)]
async fn members_asked_after_the_answer_are_asked_a_batch_at_a_time_with_rests() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    // Users and a group the census has not seen: their lookup searches.
    ldap.add_user("loner", 19_999, 5000);
    let newer: Vec<String> = (0..800).map(|k| format!("n{k:05}")).collect();
    for (k, n) in newer.iter().enumerate() {
        ldap.add_user(n, 40_000 + k as u32, 5000);
    }
    let members: Vec<&str> = newer.iter().map(String::as_str).collect();
    ldap.add_group("newgroup", 30_003, &members);
    // Every call to the directory now takes 10 ms.
    ldap.set_latency_ms(10);
    let answer = ask(&r, &Q::Group("biggroup".into())).await;
    assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
    let n = ldap.batch_call_count();
    let began = tokio::time::Instant::now();
    r.answers_sent();
    // A lookup made meanwhile waits for its own calls only (by name, then
    // by UID: newer than the census).
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let asked = tokio::time::Instant::now();
    assert!(ask(&r, &Q::User("loner".into()))
        .await
        .starts_with("loner:"));
    assert_eq!(asked.elapsed(), std::time::Duration::from_millis(20));
    // ... and a lookup whose own check asks batches is not paced (nearly
    // 0.5 s when it was): the group by name, then by GID (newer than the
    // census), its 800 members by name (4 batches at once), then by UID.
    let asked = tokio::time::Instant::now();
    let answer = ask(&r, &Q::Group("newgroup".into())).await;
    assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 800);
    assert_eq!(asked.elapsed(), std::time::Duration::from_millis(40));
    r.after_answers_done().await;
    // The members by name, 200 a batch, one batch at a time, each
    // followed by a rest three times as long (4 at a time without);
    // besides newgroup's 8 (its members by name and by UID).
    let batches = 1000usize.div_ceil(super::fetch::BATCH);
    assert_eq!(ldap.batch_call_count() - n, batches + 8);
    assert!(
        began.elapsed() >= std::time::Duration::from_millis(40 * batches as u64),
        "{:?}",
        began.elapsed()
    );
    let n = ldap.call_count();
    assert!(ask(&r, &Q::User("m00999".into()))
        .await
        .starts_with("m00999:"));
    assert_eq!(ldap.call_count(), n, "recorded");
}

#[tokio::test(start_paused = true)]
async fn members_recorded_by_earlier_work_are_not_asked_again_when_the_turn_comes() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    ldap.set_latency_ms(10);
    // Two groups of the same members, both answered before either's
    // members are recorded: the members are held, and asked, once.
    for g in ["biggroup", "second"] {
        let answer = ask(&r, &Q::Group(g.into())).await;
        assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
    }
    let n = ldap.batch_call_count();
    r.answers_sent();
    r.after_answers_done().await;
    assert_eq!(
        ldap.batch_call_count() - n,
        1000usize.div_ceil(super::fetch::BATCH),
        "the members were asked twice"
    );
}

#[tokio::test(start_paused = true)]
async fn members_many_groups_left_to_record_are_held_once() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    let names: Vec<String> = (0..1000).map(|k| format!("m{k:05}")).collect();
    let members: Vec<&str> = names.iter().map(String::as_str).collect();
    for g in 0..17 {
        ldap.add_group(&format!("copy{g:02}"), 31_000 + g, &members);
    }
    // The same members spelled with their domain.
    let qualified: Vec<String> = names.iter().map(|m| format!("{m}@ldap")).collect();
    let qualified: Vec<&str> = qualified.iter().map(String::as_str).collect();
    ldap.add_group("spelled", 31_100, &qualified);
    ldap.set_latency_ms(10);
    // Twenty first lookups of groups of the same 1,000 members, all
    // answered before any of their members is recorded.
    let mut groups = vec!["biggroup".to_string(), "second".to_string()];
    groups.extend((0..17).map(|g| format!("copy{g:02}")));
    groups.push("spelled".into());
    for g in &groups {
        let answer = ask(&r, &Q::Group(g.clone())).await;
        assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
    }
    record_left_once(&r, &ldap, 20 * 1000, 1000).await;
    let n = ldap.call_count();
    assert!(ask(&r, &Q::Uid(20_999)).await.starts_with("m00999:"));
    assert_eq!(ldap.call_count(), n, "recorded");
}

/// A domain of `users` (UIDs from 20,001, primary group `staff`), all in
/// `groups` groups `g000`.. (GIDs from 40,000), and group `other`, its
/// censuses taken; the resolver's clock.
async fn users_in_groups(
    users: &[&str],
    groups: u32,
    locals: &Locals,
) -> (Arc<FakeDirectory>, Resolver, Arc<ManualClock>) {
    let ldap = FakeDirectory::new("ldap");
    for (k, u) in (1..).zip(users) {
        ldap.add_user(u, 20_000 + k, 5000);
    }
    ldap.add_group("staff", 5000, &[]);
    ldap.add_group("other", 30_001, &[]);
    for g in 0..groups {
        ldap.add_group(&format!("g{g:03}"), 40_000 + g, users);
    }
    ldap.set_census(true);
    let (r, clock) = clocked_resolver(&[&ldap], locals);
    take_members_census(&ldap, &r).await;
    (ldap, r, clock)
}

/// How many GIDs the initgroups of `user` answers.
async fn gids_of(r: &Resolver, user: &str) -> usize {
    ask(r, &Q::Init(user.into())).await.split(',').count()
}

#[tokio::test(start_paused = true)]
async fn groups_many_users_left_to_record_are_held_once() {
    let locals = Locals::new();
    let (ldap, r, _) = users_in_groups(&["u1", "u2"], 500, &locals).await;
    ldap.set_latency_ms(10);
    // Two users in the same 500 groups, the census deciding them all.
    for u in ["u1", "u2"] {
        assert_eq!(gids_of(&r, u).await, 501, "{u}");
    }
    // (By GID, and no names: the census vouches for them.)
    record_left_once(&r, &ldap, 2 * 500, 500).await;
    let n = ldap.call_count();
    assert!(ask(&r, &Q::Gid(40_499)).await.starts_with("g499:"));
    assert_eq!(ldap.call_count(), n, "recorded");
}

/// Sends the answers of lookups that left entries to record, lets
/// the work after them end, and returns how many cached answers that
/// work looked at (each check of an entry looks at one or more).
async fn looked_at_by_the_recording(r: &Resolver) -> u64 {
    let hits = r.cache_stats().hits;
    r.answers_sent();
    r.after_answers_done().await;
    assert_eq!(r.left_to_record(), 0);
    r.cache_stats().hits - hits
}

#[tokio::test(start_paused = true)]
async fn groups_checked_after_an_answer_are_not_checked_again_while_their_answers_hold() {
    let locals = Locals::new();
    let (_, r, clock) = users_in_groups(&["u1", "u2", "u3", "u4"], 300, &locals).await;
    // The census decides the first user's 300 groups; they are checked
    // after the answer.
    assert_eq!(gids_of(&r, "u1").await, 301);
    assert_eq!(r.left_to_record(), 300);
    assert!(looked_at_by_the_recording(&r).await >= 300);
    // A user of the same groups leaves them too; checked again they
    // would ask nothing: they are not.
    assert_eq!(gids_of(&r, "u2").await, 301);
    assert_eq!(r.left_to_record(), 300, "the lookup's own list");
    assert_eq!(looked_at_by_the_recording(&r).await, 0);
    // Other local files: they are checked again.
    let group = locals.dir.path().join("group");
    let mut text = std::fs::read_to_string(&group).unwrap();
    text.push_str("another:x:5001:\n");
    std::fs::write(&group, text).unwrap();
    assert_eq!(gids_of(&r, "u3").await, 301);
    assert!(looked_at_by_the_recording(&r).await >= 300);
    // So they are once the answers they rested on are due a refresh.
    clock.advance(settings().entry_ttl_ms / 4 * 3 + 1);
    assert_eq!(gids_of(&r, "u4").await, 301);
    assert!(looked_at_by_the_recording(&r).await >= 300);
}

#[tokio::test(start_paused = true)]
async fn a_batch_checked_across_a_flush_is_checked_again() {
    let locals = Locals::new();
    let (ldap, r, _) = users_in_groups(&["u1", "u2"], 300, &locals).await;
    assert_eq!(gids_of(&r, "u1").await, 301);
    // A flush comes while the first batch (200 GIDs) waits for the
    // directory.
    ldap.hold();
    let n = ldap.call_count();
    r.answers_sent();
    while ldap.call_count() == n {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert_eq!(r.left_to_record(), 100, "the first batch taken");
    r.flush_all();
    ldap.release(1_000);
    r.after_answers_done().await;
    // (The censuses, which the flush dropped, taken again.)
    ask(&r, &Q::Group("other".into())).await;
    settle().await;
    // What that batch checked is checked again, not what the second
    // batch checked (begun after the flush): some of the 300 GIDs, not all
    // (a GID's check looks at three cached answers here).
    assert_eq!(gids_of(&r, "u2").await, 301);
    let looked_at = looked_at_by_the_recording(&r).await;
    assert!(looked_at > 0 && looked_at < 3 * 300, "{looked_at}");
}

#[tokio::test(start_paused = true)]
async fn members_checked_after_an_answer_are_not_checked_again_while_their_answers_hold() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    let size = |answer: String| answer.rsplit(':').next().unwrap().split(',').count();
    assert_eq!(size(ask(&r, &Q::Group("biggroup".into())).await), 1000);
    let n = ldap.call_count();
    looked_at_by_the_recording(&r).await;
    assert!(ldap.call_count() > n, "recorded");
    // A group of the same members, all checked: nothing is left.
    assert_eq!(size(ask(&r, &Q::Group("second".into())).await), 1000);
    assert_eq!(looked_at_by_the_recording(&r).await, 0);
    // Once one is flushed, they are checked (and it is asked) again
    // (the censuses, which a flush drops, taken again first).
    r.flush_user("m00000");
    ask(&r, &Q::Group("other".into())).await;
    settle().await;
    assert_eq!(size(ask(&r, &Q::Group("biggroup".into())).await), 1000);
    let n = ldap.call_count();
    assert!(looked_at_by_the_recording(&r).await >= 1000);
    assert!(ldap.call_count() > n, "recorded again");
}

/// A flush of the domain, or of everything, drops what its lookups left
/// to record: nothing is searched after it to fill the cache it emptied
/// (the censuses that decided those entries are gone too); the next
/// lookups decide again.
#[tokio::test(start_paused = true)]
async fn a_flush_drops_what_is_left_to_record() {
    for flush_all in [false, true] {
        let locals = Locals::new();
        let (ldap, r, _) = users_in_groups(&["u1"], 300, &locals).await;
        assert_eq!(gids_of(&r, "u1").await, 301);
        r.answers_sent();
        settle().await;
        assert_eq!(r.left_to_record_of("ldap"), 300);
        if flush_all {
            r.flush_all();
        } else {
            r.flush_domain("ldap");
        }
        assert_eq!(r.left_to_record_of("ldap"), 0, "flush_all: {flush_all}");
        let n = ldap.call_count();
        r.after_answers_done().await;
        assert_eq!(ldap.call_count(), n, "searched after the flush");
    }
}

#[tokio::test(start_paused = true)]
async fn a_group_left_to_record_is_recorded_with_the_next_ones_when_asked() {
    let locals = Locals::new();
    let (ldap, r, _) = users_in_groups(&["u1"], 300, &locals).await;
    assert_eq!(gids_of(&r, "u1").await, 301);
    r.answers_sent();
    settle().await;
    assert_eq!(r.left_to_record(), 300, "waiting for the replies to pause");
    // Group `g` (GID 40,000 + g) asked by GID: `g000:`...
    let resolver = &r;
    let group = |g: u32| async move {
        let answer = ask(resolver, &Q::Gid(40_000 + g)).await;
        assert!(answer.starts_with(&format!("g{g:03}:")), "{answer}");
    };
    // `id` right after the login asks the groups one by one. The first
    // is asked alone at once while the 200 from it are recorded in one
    // search: the batch, held at the directory's gate behind it, does not
    // hold it.
    let (b, n) = (ldap.batch_call_count(), ldap.call_count());
    let lone = ask_starting_its_batch(&r, &ldap, 40_000).await;
    // The same GID asked again meanwhile shares that search, not held by
    // the batch either.
    let again = spawn_ask(&r, 40_000);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    ldap.release(1);
    for task in [lone, again] {
        assert!(answer_of(task, "not held by the batch")
            .await
            .starts_with("g000:"));
    }
    assert_eq!(ldap.batch_call_count(), b, "the batch is still held");
    // (The status counts the batch's 200 GIDs, the GID that asked for it
    // included, the 100 still left, and what the two answers of g000
    // left of its member.)
    assert_eq!(r.left_to_record_of("ldap"), 200 + 100 + 2);
    assert_eq!(
        ldap.call_count() - n,
        2,
        "the second shared the first's search"
    );
    // The next wait for that batch (not asked alone), then find their
    // groups cached; the last has fewer than a batch after it: those
    // before it come with it.
    let next = ask_waiting_for_the_batch(&r, &ldap, 40_001, n + 2).await;
    ldap.release(1_000_000);
    let answer = answer_of(next, "woken once its batch is recorded").await;
    assert!(answer.starts_with("g001:"));
    for g in 2..200 {
        group(g).await;
    }
    group(299).await;
    for g in 200..299 {
        group(g).await;
    }
    assert_eq!(ldap.batch_call_count() - b, 2, "two batches");
    assert_eq!(ldap.call_count() - n, 4, "two alone, two batches");
    // Nothing is left of the groups (what the groups' lookups left of
    // their members is recorded after their answers).
    r.answers_sent();
    r.after_answers_done().await;
    assert_eq!(r.left_to_record(), 0);
    // (The batches asked at once uncounted from the status too.)
    assert_eq!(r.left_to_record_of("ldap"), 0);
    // A GID nothing left is asked alone, as before.
    let n = ldap.call_count();
    assert_eq!(ask(&r, &Q::Gid(49_999)).await, "NotFound");
    assert_eq!(ldap.call_count() - n, 1);
}

/// Two domains that both left the same GIDs to record: the second's
/// initgroups had its census decide them while the first domain held none
/// of them, the first's once it did. A lookup of one of them starts the
/// batch of the first domain, the one the lookup asks first (and whose
/// group it answers): the second domain is not asked, and what it left
/// waits for the recording after the answers.
#[tokio::test(start_paused = true)]
async fn a_gid_two_domains_left_is_recorded_by_the_first() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    ldap.add_user("u1", 20_001, 8000);
    ldap.add_group("staff", 8000, &[]);
    ldap.add_group("other", 30_001, &[]);
    let ad = FakeDirectory::new("ad");
    ad.add_user("u2", 60_001, 8001);
    ad.add_group("adstaff", 8001, &[]);
    let gids = 40_000..40_005;
    let add_ldap_groups = || {
        for g in gids.clone() {
            ldap.add_group(&format!("lg{g}"), g, &["u1"]);
        }
    };
    add_ldap_groups();
    for g in gids.clone() {
        ad.add_group(&format!("ag{g}"), g, &["u2"]);
    }
    ldap.set_census(true);
    ad.set_census(true);
    let (r, clock) = clocked_resolver(&[&ldap, &ad], &locals);
    // Both domains' censuses taken, ldap's listing its groups.
    ask(&r, &Q::Group("other".into())).await;
    ask(&r, &Q::Group("adstaff".into())).await;
    settle().await;
    assert_eq!((ldap.census_count(), ad.census_count()), (2, 2));
    // ldap's groups gone for a while: ad's census decides u2's groups, no
    // earlier domain holding their GIDs.
    for g in gids.clone() {
        ldap.remove_group(&format!("lg{g}"));
    }
    assert_eq!(gids_of(&r, "u2").await, 6);
    // Back, and ldap's "no such group" expired: its census decides u1's.
    add_ldap_groups();
    clock.advance(settings().negative_ttl_ms + 1);
    assert_eq!(gids_of(&r, "u1").await, 6);
    r.answers_sent();
    settle().await;
    assert_eq!(r.left_to_record_of("ldap"), 5);
    assert_eq!(r.left_to_record_of("ad"), 5);
    // A lookup of one starts ldap's batch; the next waits for it (or
    // finds it cached).
    let (batches, ad_calls) = (ldap.batch_call_count(), ad.call_count());
    let answer = ask(&r, &Q::Gid(40_000)).await;
    assert!(answer.starts_with("lg40000:40000:"), "{answer}");
    let answer = ask(&r, &Q::Gid(40_001)).await;
    assert!(answer.starts_with("lg40001:40001:"), "{answer}");
    assert_eq!(ad.call_count(), ad_calls, "the second domain's batch taken");
    assert_eq!(ldap.batch_call_count() - batches, 1, "the first's");
    // (ldap's GIDs all recorded: what is left of it is what the two
    // answers left of their member.)
    assert_eq!(r.left_to_record_of("ldap"), 2);
    assert_eq!(r.left_to_record_of("ad"), 5, "left for after the answers");
}

/// A lookup of a GID in a batch being recorded waits for that batch
/// before it makes its context: a flush (after the directory changed)
/// while it waits is behind it. It answers what the directory holds after
/// the flush, and its decision, made after the flush, is kept; those of
/// the lookup that started the batch and of the batch's checks, begun
/// before the flush, are not.
#[tokio::test(start_paused = true)]
async fn a_lookup_waiting_for_a_batch_across_a_flush_decides_after_it() {
    let locals = Locals::new();
    // (Groups of 20 members: a decision of one rests on enough answers
    // to be kept, `MIN_PROBES`. 150 of them: one batch takes them all.)
    let names: Vec<String> = (1..=20).map(|k| format!("u{k:02}")).collect();
    let users: Vec<&str> = names.iter().map(String::as_str).collect();
    let (ldap, r, _) = users_in_groups(&users, 150, &locals).await;
    assert_eq!(gids_of(&r, "u01").await, 151);
    r.answers_sent();
    settle().await;
    assert_eq!(r.left_to_record(), 150);
    // g000 asked: it and its batch (the 150 GIDs) held at the gate.
    let n = ldap.call_count();
    let lone = ask_starting_its_batch(&r, &ldap, 40_000).await;
    // g001 waits for that batch.
    let waiting = ask_waiting_for_the_batch(&r, &ldap, 40_001, n + 2).await;
    // Meanwhile g001 is renamed and the cache flushed.
    ldap.remove_group("g001");
    ldap.add_group("renamed", 40_001, &users);
    r.flush_all();
    ldap.release(1_000_000);
    let answer = answer_of(waiting, "woken").await;
    assert_eq!(answer, format!("renamed:40001:{}", users.join(",")));
    assert!(answer_of(lone, "answered").await.starts_with("g000:"));
    // Asked again: answered by that decision (one cache hit). Not g000,
    // whose lookup made its context before the flush (its search held
    // across it): decided again.
    let hits = r.cache_stats().hits;
    assert_eq!(ask(&r, &Q::Gid(40_001)).await, answer);
    assert_eq!(r.cache_stats().hits, hits + 1, "its decision was not kept");
    let hits = r.cache_stats().hits;
    assert!(ask(&r, &Q::Gid(40_000)).await.starts_with("g000:"));
    assert!(r.cache_stats().hits > hits + 1, "g000's decision was kept");
    // What the batch checked is not: another user of the same groups
    // leaves them all, and they are checked again (the censuses, which
    // the flush dropped, taken again first).
    r.answers_sent();
    r.after_answers_done().await;
    assert_eq!(r.left_to_record(), 0);
    ask(&r, &Q::Group("other".into())).await;
    settle().await;
    assert_eq!(gids_of(&r, "u02").await, 151);
    assert_eq!(r.left_to_record(), 150);
    let looked_at = looked_at_by_the_recording(&r).await;
    assert!(
        looked_at >= 150,
        "the batch's checks were kept: {looked_at}"
    );
}

/// `gid` asked by a task of its own.
fn spawn_ask(r: &Resolver, gid: u32) -> tokio::task::JoinHandle<String> {
    let r = r.clone();
    tokio::spawn(async move { ask(&r, &Q::Gid(gid)).await })
}

/// Asks `gid`, left to record, with `ldap`'s calls held at its gate,
/// until the lookup's own search and the batch it starts
/// (`record_gid_now`) are both asked; the lookup's task.
async fn ask_starting_its_batch(
    r: &Resolver,
    ldap: &FakeDirectory,
    gid: u32,
) -> tokio::task::JoinHandle<String> {
    ldap.hold();
    let n = ldap.call_count();
    let lone = spawn_ask(r, gid);
    for _ in 0..100 {
        if ldap.call_count() - n >= 2 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(ldap.call_count() - n, 2, "the group and its batch asked");
    lone
}

/// Asks `gid`, in a batch being recorded, and checks that the lookup
/// waits for it without a search of its own (`ldap` has had `calls`
/// calls); the lookup's task.
async fn ask_waiting_for_the_batch(
    r: &Resolver,
    ldap: &FakeDirectory,
    gid: u32,
    calls: usize,
) -> tokio::task::JoinHandle<String> {
    let task = spawn_ask(r, gid);
    for _ in 0..10 {
        tokio::task::yield_now().await;
    }
    assert!(!task.is_finished(), "waits for the batch");
    assert_eq!(ldap.call_count(), calls, "not asked alone");
    task
}

/// The answer of a lookup's `task` within a minute (of paused time: a
/// lookup held by a batch would wait for ever); `expect` says why it
/// must come.
async fn answer_of(task: tokio::task::JoinHandle<String>, expect: &str) -> String {
    tokio::time::timeout(std::time::Duration::from_secs(60), task)
        .await
        .expect(expect)
        .unwrap()
}

/// Sends the answers of the lookups that left `left` entries to record,
/// `distinct` of them distinct, and checks that each is held once and
/// asked in full batches (each directory call taking 10 ms, paused time).
async fn record_left_once(r: &Resolver, ldap: &FakeDirectory, left: usize, distinct: usize) {
    assert_eq!(r.left_to_record(), left, "each lookup's own list");
    let n = ldap.batch_call_count();
    r.answers_sent();
    // Once added to what is left, each is held once; the first batch is
    // taken once the replies pause, and then asked.
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    assert_eq!(r.left_to_record(), distinct);
    tokio::time::sleep(super::after::QUIET).await;
    assert_eq!(r.left_to_record(), distinct - super::fetch::BATCH);
    r.after_answers_done().await;
    assert_eq!(r.left_to_record(), 0);
    assert_eq!(
        ldap.batch_call_count() - n,
        distinct.div_ceil(super::fetch::BATCH)
    );
}

#[tokio::test(start_paused = true)]
async fn members_left_to_record_are_dropped_when_a_reload_replaces_their_domain() {
    // (Replaced by a domain of the same name, its cache flushed; or
    // removed, its cache kept. Before the task adds the names, or once
    // it has and asks the first batch.)
    for (replaced, added) in [(true, false), (true, true), (false, false), (false, true)] {
        let locals = Locals::new();
        let (ldap, r) = members_domain(1000, &locals).await;
        ldap.set_latency_ms(10);
        let answer = ask(&r, &Q::Group("biggroup".into())).await;
        assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
        assert_eq!(r.left_to_record(), 1000);
        r.answers_sent();
        if added {
            // (The first batch under way: asked once the replies pause,
            // 10 ms.)
            tokio::time::sleep(super::after::QUIET + std::time::Duration::from_millis(5)).await;
            assert_eq!(r.left_to_record(), 1000 - super::fetch::BATCH);
        }
        let new = FakeDirectory::new(if replaced { "ldap" } else { "other" });
        let kept: HashSet<String> = if replaced {
            HashSet::new()
        } else {
            ["ldap".to_string()].into()
        };
        let n = ldap.call_count();
        r.reconfigure(vec![new.clone() as Arc<dyn Provider>], settings(), &kept);
        r.after_answers_done().await;
        let case = format!("replaced {replaced}, added {added}");
        assert_eq!(new.call_count(), 0, "{case}");
        // (At most the batch under way.)
        assert!(ldap.call_count() - n <= 1, "{case}");
        assert_eq!(r.left_to_record(), 0, "{case}");
    }
}

#[tokio::test(start_paused = true)]
async fn members_left_to_record_wait_for_the_replies_to_pause() {
    use super::after::{MAX_QUIET_WAIT, QUIET};
    use std::time::Duration;
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    ldap.set_latency_ms(10);
    ask(&r, &Q::Group("biggroup".into())).await;
    let n = ldap.call_count();
    // A burst: a reply every 2 ms for 100 ms. Nothing is recorded during
    // it, and the first batch is asked once the replies have paused
    // (calls counted as they begin; each takes 10 ms).
    let began = tokio::time::Instant::now();
    while began.elapsed() < Duration::from_millis(100) {
        r.answers_sent();
        tokio::time::sleep(Duration::from_millis(2)).await;
        assert_eq!(ldap.call_count(), n, "asked during the burst");
    }
    tokio::time::sleep(QUIET + Duration::from_millis(1)).await;
    assert_eq!(ldap.call_count(), n + 1, "asked after the pause");
    r.after_answers_done().await;
    assert_eq!(r.left_to_record(), 0);
    // Replies that never pause hold a batch back at most MAX_QUIET_WAIT.
    let (ldap, r) = members_domain(1000, &locals).await;
    ask(&r, &Q::Group("biggroup".into())).await;
    let n = ldap.call_count();
    let began = tokio::time::Instant::now();
    r.answers_sent();
    while ldap.call_count() == n {
        assert!(began.elapsed() <= MAX_QUIET_WAIT + QUIET, "never asked");
        tokio::time::sleep(Duration::from_millis(2)).await;
        r.answers_sent();
    }
    assert!(began.elapsed() >= MAX_QUIET_WAIT, "{:?}", began.elapsed());
}

#[tokio::test(start_paused = true)]
async fn the_status_counts_what_is_left_to_record_until_it_is_done() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    ldap.set_latency_ms(10);
    let left = || r.census_status("ldap").unwrap().left_to_record;
    assert_eq!(left(), 0);
    ask(&r, &Q::Group("biggroup".into())).await;
    // Left by the answer not yet sent; then taken to be added to what is
    // left, which the task doing it has not begun yet.
    assert_eq!(left(), 1000);
    r.answers_sent();
    assert_eq!(left(), 1000);
    // Once added and the first batch taken (asked once the replies
    // pause): the batch under way counts.
    tokio::time::sleep(super::after::QUIET + std::time::Duration::from_millis(5)).await;
    assert_eq!(r.left_to_record(), 1000 - super::fetch::BATCH);
    assert_eq!(left(), 1000);
    r.after_answers_done().await;
    assert_eq!(left(), 0);
}

#[tokio::test(start_paused = true)]
async fn what_a_burst_cached_is_not_asked_again_after_it() {
    use std::time::Duration;
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    ldap.set_latency_ms(10);
    ask(&r, &Q::Group("biggroup".into())).await;
    let d = r.domains()[0].clone();
    let members: Vec<Key> = (0..1000u32)
        .map(|k| Key::UserName(format!("m{k:05}")))
        .collect();
    r.answers_sent();
    // A burst in which the foreground asks all the members.
    let began = tokio::time::Instant::now();
    let (this, fd) = (r.clone(), d.clone());
    let fg = tokio::spawn(async move { this.answers_many(&fd, &members, false).await });
    while began.elapsed() < Duration::from_millis(100) {
        r.answers_sent();
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let fg = fg.await.unwrap();
    assert!(fg.iter().all(|a| matches!(a, InDomain::Found(..))));
    let n = ldap.call_count();
    r.after_answers_done().await;
    // The recording's batches, made once the burst ended, find them all.
    assert_eq!(ldap.call_count(), n);
    assert_eq!(r.left_to_record(), 0);
}

#[tokio::test(start_paused = true)]
async fn paced_batches_look_each_key_up_once_and_are_filled_with_open_keys() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    ldap.set_latency_ms(10);
    let d = r.domains()[0].clone();
    let names = |ks: std::ops::Range<u32>| -> Vec<Key> {
        ks.map(|k| Key::UserName(format!("m{k:05}"))).collect()
    };
    let (s0, n) = (r.cache_stats(), ldap.batch_call_count());
    let (this, pd, keys) = (r.clone(), d.clone(), names(0..1000));
    let paced = tokio::spawn(async move { this.answers_many(&pd, &keys, true).await });
    // During the first batch's rest, half the keys the second and the
    // third batch would have held are answered in the foreground (one
    // batch).
    tokio::time::sleep(std::time::Duration::from_millis(15)).await;
    let mut halves = names(300..400);
    halves.extend(names(500..600));
    let fg = r.answers_many(&d, &halves, false).await;
    assert!(fg.iter().all(|a| matches!(a, InDomain::Found(..))));
    let answers = paced.await.unwrap();
    assert!(answers.iter().all(|a| matches!(a, InDomain::Found(..))));
    // The paced keys are looked up once each (200 found, 800 asked: four
    // full batches, not two full and two half), besides the foreground's
    // 200 misses.
    let s1 = r.cache_stats();
    assert_eq!((s1.hits - s0.hits, s1.misses - s0.misses), (200, 1000));
    assert_eq!(ldap.batch_call_count() - n, 1 + 4);
}

#[tokio::test]
async fn members_left_to_record_are_dropped_when_their_domain_fails() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(1000, &locals).await;
    let answer = ask(&r, &Q::Group("biggroup".into())).await;
    assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
    ldap.set_online(false);
    let n = ldap.call_count();
    r.answers_sent();
    r.after_answers_done().await;
    // The first batch fails; the other four are not asked.
    assert_eq!(ldap.call_count() - n, 1);
    assert_eq!(r.left_to_record(), 0);
    // Back online, the next lookup's members are recorded.
    ldap.set_online(true);
    let answer = ask(&r, &Q::Group("second".into())).await;
    assert_eq!(answer.rsplit(':').next().unwrap().split(',').count(), 1000);
    r.answers_sent();
    r.after_answers_done().await;
    let n = ldap.call_count();
    assert!(ask(&r, &Q::User("m00999".into()))
        .await
        .starts_with("m00999:"));
    assert_eq!(ldap.call_count(), n, "recorded");
}

/// A domain taking censuses with users `m00000`… (`users` of them, UIDs
/// from 20,000), all members of `biggroup` (GID 30,000) and `second`
/// (30,002), and the empty `other` (30,001); and a resolver over it and
/// `locals`, its censuses taken.
async fn members_domain(users: u32, locals: &Locals) -> (Arc<FakeDirectory>, Resolver) {
    let (ldap, r) = members_directory(users, locals);
    take_members_census(&ldap, &r).await;
    (ldap, r)
}

/// [`members_domain`] before its censuses are taken.
fn members_directory(users: u32, locals: &Locals) -> (Arc<FakeDirectory>, Resolver) {
    let ldap = FakeDirectory::new("ldap");
    let names: Vec<String> = (0..users).map(|k| format!("m{k:05}")).collect();
    for (k, n) in (0..).zip(&names) {
        ldap.add_user(n, 20_000 + k, 5000);
    }
    let members: Vec<&str> = names.iter().map(String::as_str).collect();
    ldap.add_group("biggroup", 30_000, &members);
    ldap.add_group("other", 30_001, &[]);
    ldap.add_group("second", 30_002, &members);
    ldap.set_census(true);
    let r = resolver(&[&ldap], locals, None, settings());
    (ldap, r)
}

/// True when domain `ldap`'s answers were judged against its census of
/// `kind` (its disputes are kept, [`super::at_odds`]).
fn disputes_kept(r: &Resolver, kind: EntryKind) -> bool {
    r.inner.cache.locked().watch().of("ldap", kind).is_some()
}

/// Takes the censuses of [`members_directory`]'s domain.
async fn take_members_census(ldap: &FakeDirectory, r: &Resolver) {
    ask(r, &Q::Group("other".into())).await;
    settle().await;
    assert_eq!(ldap.census_count(), 2);
}

/// Caches, as fetched at `fetched_ms`, the answer to user `m00005` of
/// [`members_domain`]: its entry (DN, UID 20,005) spelled `spelled`.
fn cache_member_answer(r: &Resolver, spelled: &str, fetched_ms: u64) {
    let entry = UserEntry {
        user: roster_proto::User {
            name: spelled.into(),
            uid: 20_005,
            gid: 5000,
            ..Default::default()
        },
        dn: "uid=m00005,ou=people,dc=ldap".into(),
        domain: Arc::from("ldap"),
        unique_id: None,
        ssh_keys: Vec::new(),
    };
    let slot = crate::cache::Slot {
        value: Value::User(Arc::new(entry)),
        fetched_ms,
        expires_ms: fetched_ms + settings().entry_ttl_ms,
    };
    let key = CacheKey::new(Arc::from("ldap"), Key::UserName("m00005".into()));
    r.inner.cache.insert(key, slot);
}

#[tokio::test]
async fn a_member_whose_fresh_answer_agrees_with_the_census_is_decided_by_it() {
    let locals = Locals::new();
    let (ldap, r) = members_domain(100, &locals).await;
    // The answers cached are judged against the census before it serves.
    assert!(disputes_kept(&r, EntryKind::User));
    // Fresh answers that agree with the census: m00001 by name, m00002
    // by UID.
    assert!(ask(&r, &Q::User("m00001".into()))
        .await
        .starts_with("m00001:20001:"));
    assert!(ask(&r, &Q::Uid(20_002)).await.starts_with("m00002:20002:"));
    // One that does not: m00003 has another UID since the census.
    ldap.remove_user("m00003");
    ldap.add_user("m00003", 29_999, 5000);
    assert!(ask(&r, &Q::User("m00003".into()))
        .await
        .starts_with("m00003:29999:"));
    let answered = || r.census_status("ldap").unwrap().checks_answered;
    let (n, before) = (ldap.call_count(), answered());
    let answer = ask(&r, &Q::Group("biggroup".into())).await;
    // The group alone: m00003 is checked on its fresh answers (its new
    // UID, which the census knows no holder of, was asked with it), and
    // m00001 and m00002 are decided by the census as the others are: 99
    // members and the group's GID answered by the census (97 and the GID
    // when a fresh answer sent its member to the check, agreeing or not).
    assert_eq!(ldap.call_count() - n, 1);
    assert_eq!(answered() - before, 100);
    let served: Vec<&str> = answer.rsplit(':').next().unwrap().split(',').collect();
    assert_eq!(served.len(), 100);
    assert!(served.contains(&"m00003"));

    // A fresh answer that disagrees the other way: m00004's UID now
    // names another entry, and m00004 holds no UID of its own.
    ldap.remove_user("m00004");
    ldap.add_user("newbie", 20_004, 5000);
    assert!(ask(&r, &Q::Uid(20_004)).await.starts_with("newbie:20004:"));
    let n = ldap.call_count();
    let answer = ask(&r, &Q::Group("second".into())).await;
    // The group and m00004 by name, which the directory no longer holds
    // (a member no entry holds is kept as it is).
    assert_eq!(ldap.call_count() - n, 2);
    let served: Vec<&str> = answer.rsplit(':').next().unwrap().split(',').collect();
    assert_eq!(served.len(), 100);
}

#[tokio::test]
async fn an_initgroups_group_whose_fresh_answers_agree_with_the_census_is_decided_by_it() {
    let locals = Locals::new();
    let ldap = FakeDirectory::new("ldap");
    ldap.add_user("many", 20_000, 10_000);
    ldap.add_group("primary", 10_000, &[]);
    for k in 0..10u32 {
        ldap.add_group(&format!("g{k}"), 40_000 + k, &["many"]);
    }
    ldap.set_census(true);
    let r = resolver(&[&ldap], &locals, None, settings());
    ask(&r, &Q::User("many".into())).await;
    settle().await;
    assert_eq!(ldap.census_count(), 2);
    // The answers cached are judged against the groups census too.
    assert!(disputes_kept(&r, EntryKind::Group));
    // Fresh answers that agree with the census: g1 by name, g2 by GID.
    assert!(ask(&r, &Q::Group("g1".into()))
        .await
        .starts_with("g1:40001:"));
    assert!(ask(&r, &Q::Gid(40_002)).await.starts_with("g2:40002:"));
    // Two that do not: g3 has another GID since the census (which knows
    // no holder of it), and g4's GID is now another group's, g4b.
    ldap.remove_group("g3");
    ldap.add_group("g3", 49_999, &["many"]);
    assert!(ask(&r, &Q::Group("g3".into()))
        .await
        .starts_with("g3:49999:"));
    ldap.remove_group("g4");
    ldap.add_group("g4b", 40_004, &["many"]);
    assert!(ask(&r, &Q::Gid(40_004)).await.starts_with("g4b:40004:"));
    // And one by name only: g5 was renamed g5r.
    ldap.remove_group("g5");
    ldap.add_group("g5r", 40_005, &["many"]);
    assert_eq!(ask(&r, &Q::Group("g5".into())).await, "NotFound");
    let answered = || r.census_status("ldap").unwrap().checks_answered;
    let (n, before) = (ldap.call_count(), answered());
    let gids = ask(&r, &Q::Init("many".into())).await;
    assert_eq!(
        gids,
        "[10000, 40000, 40001, 40002, 40004, 40005, 40006, 40007, 40008, 40009, 49999]"
    );
    // The user's groups search, the entries of the primary group and of
    // GID 40005 (one batch) and g5r by name: g1 and g2 are decided by the
    // census as the other five are (seven GIDs answered by it; five when
    // a fresh answer sent its GID to the check, agreeing or not); g4b's
    // GID, whose fresh answer the census does not agree with, g3's new
    // one, and g5r's, whose census name's fresh answer is "no such
    // group", are checked.
    assert_eq!(ldap.call_count() - n, 3);
    assert_eq!(answered() - before, 7);
}

#[tokio::test]
async fn an_ignored_group_is_left_out_of_an_initgroups_the_census_decides() {
    // With a fresh answer to the ignored group's GID (which the census
    // agrees with) or without, as a lookup of the group.
    for gid_first in [false, true] {
        let locals = Locals::new();
        let ldap = FakeDirectory::new("ldap");
        ldap.add_user("many", 20_000, 10_000);
        ldap.add_group("primary", 10_000, &[]);
        for k in 0..3u32 {
            ldap.add_group(&format!("g{k}"), 40_000 + k, &["many"]);
        }
        ldap.set_census(true);
        let mut with_g1_ignored = settings();
        with_g1_ignored.ignore_groups.insert("g1".into());
        let r = resolver(&[&ldap], &locals, None, with_g1_ignored);
        ask(&r, &Q::User("many".into())).await;
        settle().await;
        assert_eq!(ldap.census_count(), 2);
        if gid_first {
            assert_eq!(ask(&r, &Q::Gid(40_001)).await, "NotFound");
        }
        let gids = ask(&r, &Q::Init("many".into())).await;
        assert_eq!(gids, "[10000, 40000, 40002]", "gid first: {gid_first}");
        assert_eq!(ask(&r, &Q::Gid(40_001)).await, "NotFound");
    }
}

/// Adds the local user `M00005` (spelled as a case variant of the member
/// `m00005` of [`members_domain`]) to `locals`.
fn add_local_m00005(locals: &Locals) {
    let passwd = locals.dir.path().join("passwd");
    let mut text = std::fs::read_to_string(&passwd).unwrap();
    text.push_str("M00005:x:7000:7000::/:/bin/sh\n");
    std::fs::write(&passwd, text).unwrap();
}

/// Asserts that `biggroup` of a 10-user [`members_domain`] is served
/// without `m00005` (sent to the check, which refuses it).
async fn biggroup_serves_all_but_m00005(r: &Resolver) {
    let answer = ask(r, &Q::Group("biggroup".into())).await;
    let served: Vec<&str> = answer.rsplit(':').next().unwrap().split(',').collect();
    assert_eq!(served.len(), 9, "{answer}");
    assert!(!served.contains(&"m00005"));
}

#[tokio::test]
async fn a_fresh_answer_naming_the_member_otherwise_sends_it_to_the_check() {
    let locals = Locals::new();
    // A local user spelled as the member's entry now is.
    add_local_m00005(&locals);
    let (_ldap, r) = members_domain(10, &locals).await;
    // The name's fresh answer: the census's entry, with the census's UID,
    // but spelled `M00005` (as a directory matching names in any case
    // may answer): the check judges that name, a local user's.
    cache_member_answer(&r, "M00005", T0);
    biggroup_serves_all_but_m00005(&r).await;
}

#[tokio::test]
async fn a_decision_rests_on_the_census_not_on_the_answers_that_agree_with_it() {
    let locals = Locals::new();
    // (Enough members for a decision to be kept for reuse.)
    let (_ldap, r) = members_domain(100, &locals).await;
    let answered = || r.census_status("ldap").unwrap().checks_answered;
    ask(&r, &Q::Group("biggroup".into())).await;
    let before = answered();
    ask(&r, &Q::Group("biggroup".into())).await;
    assert_eq!(answered(), before, "reused");
    // m00005's fresh answer agrees with the census and is due for its
    // refresh: it tells nothing the census does not, and a decision made
    // with it is reused as one made without.
    cache_member_answer(&r, "m00005", T0 + 1 - settings().entry_ttl_ms);
    ask(&r, &Q::Group("second".into())).await;
    let before = answered();
    ask(&r, &Q::Group("second".into())).await;
    assert_eq!(answered(), before, "reused");
}

#[tokio::test]
async fn an_answer_at_odds_cached_before_the_census_sends_its_member_to_the_check() {
    let locals = Locals::new();
    add_local_m00005(&locals);
    let (ldap, r) = members_directory(10, &locals);
    // Cached before the census is taken (it is judged when the census
    // is installed, not when stored): as in
    // `a_fresh_answer_naming_the_member_otherwise_sends_it_to_the_check`.
    cache_member_answer(&r, "M00005", T0);
    take_members_census(&ldap, &r).await;
    biggroup_serves_all_but_m00005(&r).await;
}

#[tokio::test]
async fn answers_judged_on_a_blocking_thread_are_all_judged() {
    let locals = Locals::new();
    add_local_m00005(&locals);
    let (ldap, r) = members_directory(10, &locals);
    // More answers than are judged on the runtime's thread, one of them
    // at odds with the census to come.
    for k in 0..super::census::JUDGED_IN_PLACE {
        let key = CacheKey::new(Arc::from("ldap"), Key::UserName(format!("x{k:05}")));
        let slot = crate::cache::Slot {
            value: Value::Missing,
            fetched_ms: T0,
            expires_ms: T0 + settings().negative_ttl_ms,
        };
        r.inner.cache.insert(key, slot);
    }
    cache_member_answer(&r, "M00005", T0);
    ask(&r, &Q::Group("other".into())).await;
    // The census is installed once the answers are judged.
    for _ in 0..5000 {
        if disputes_kept(&r, EntryKind::User) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    assert!(disputes_kept(&r, EntryKind::User));
    settle().await;
    assert_eq!(ldap.census_count(), 2);
    biggroup_serves_all_but_m00005(&r).await;
}
