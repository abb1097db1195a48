//! libnss_roster.so.2 end to end: real programs (getent, id, ls, chown,
//! stat) in a private mount namespace whose nsswitch.conf says
//! `files roster`, against the real rosterd and slapd.

use crate::nss_common;

use nss_common::{code, ok, stdout, Env, PATIENT_NSS};
use roster_e2e::dataset::{
    self, ALICE, BIGGROUP_GID, BOB, BULK_USERS, MANYGROUPS, MANY_GROUPS_COUNT,
    MANY_GROUPS_GID_BASE, STAFF_GID, USERS_GID,
};

/// The fields of a `getent` line.
fn fields(line: &str) -> Vec<String> {
    line.trim_end().split(':').map(str::to_owned).collect()
}

#[test]
fn getent_id_ls_chown_and_stat_see_directory_entries() {
    let env = Env::start(PATIENT_NSS);
    let ns = env.ns();

    let pw = fields(&ok(&ns, "getent passwd alice"));
    assert_eq!(
        pw,
        [
            "alice",
            "*",
            &ALICE.uid.to_string(),
            &USERS_GID.to_string(),
            ALICE.cn,
            "/home/alice",
            "/bin/bash"
        ]
    );
    let pw = fields(&ok(&ns, &format!("getent passwd {}", BOB.uid)));
    assert_eq!((pw[0].as_str(), pw[2].as_str()), ("bob", "10002"));

    // By GID: engineers.
    let gr = fields(&ok(&ns, &format!("getent group {STAFF_GID}")));
    assert_eq!(gr[0], "engineers");
    let mut members: Vec<&str> = gr[3].split(',').collect();
    members.sort_unstable();
    assert_eq!(members, ["alice", "bob"]);

    let gr = fields(&ok(&ns, "getent group biggroup"));
    assert_eq!(gr[2], BIGGROUP_GID.to_string());
    assert_eq!(gr[3].split(',').count(), BULK_USERS as usize, "all members");
    let gr = fields(&ok(
        &ns,
        &format!("getent group {}", dataset::many_group(7)),
    ));
    assert_eq!(gr[2], (MANY_GROUPS_GID_BASE + 7).to_string());

    // initgroups: what every login uses for supplementary groups.
    let ig = ok(&ns, "getent initgroups alice");
    assert!(
        ig.split_whitespace().any(|g| g == STAFF_GID.to_string()),
        "{ig}"
    );
    let id = ok(&ns, "id alice");
    assert!(
        id.starts_with("uid=10001(alice) gid=10000(members)"),
        "{id}"
    );
    assert!(id.contains(&format!("{STAFF_GID}(engineers)")), "{id}");

    // A user in 1,000 groups gets all of them, with names.
    let id = ok(&ns, &format!("id {}", MANYGROUPS.name));
    for i in 0..MANY_GROUPS_COUNT {
        let entry = format!("{}({})", MANY_GROUPS_GID_BASE + i, dataset::many_group(i));
        assert!(id.contains(&entry), "{entry} missing from id output");
    }
    let groups = ok(&ns, &format!("id -G {}", MANYGROUPS.name));
    assert_eq!(
        groups.split_whitespace().count(),
        MANY_GROUPS_COUNT as usize + 1,
        "1,000 groups + the primary one"
    );

    // Files owned by directory IDs show directory names; chown by name works.
    let scratch = env.dir.path().display().to_string();
    let out = ok(
        &ns,
        &format!(
            "cd {scratch} && touch f1 f2 && chown {uid}:{gid} f1 && ls -ln f1 && ls -l f1 && \
             chown bob:{mg} f2 && stat -c '%U %G %u %g' f2 && stat -c %U f1",
            uid = ALICE.uid,
            gid = BIGGROUP_GID,
            mg = dataset::many_group(1),
        ),
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let numeric: Vec<&str> = lines[0].split_whitespace().collect();
    let named: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!((numeric[2], numeric[3]), ("10001", "10050"), "{out}");
    assert_eq!((named[2], named[3]), ("alice", "biggroup"), "{out}");
    assert_eq!(
        lines[2],
        format!("bob {} 10002 30001", dataset::many_group(1))
    );
    assert_eq!(lines[3], "alice");

    // Local accounts still come from files; unknown names are "not found".
    assert!(ok(&ns, "getent passwd root").starts_with("root:x:0:0:"));
    let out = ns.run("getent passwd nosuchuser; echo rc=$?");
    assert!(stdout(&out).contains("rc=2"), "{}", stdout(&out));
    let out = ns.run("getent group nosuchgroup; echo rc=$?");
    assert!(stdout(&out).contains("rc=2"), "{}", stdout(&out));

    // Enumeration is off by default: no directory entries in the listing.
    let all = ok(&ns, "getent passwd");
    assert!(all.contains("root:x:0:0"));
    assert!(!all.contains("alice:"), "{all}");
}

#[test]
fn enumeration_lists_directory_users_and_groups_when_enabled() {
    let env = Env::start("[cache]\nenumerate = true\n");
    let ns = env.ns();
    let users = ok(&ns, "getent passwd");
    assert!(users.starts_with("root:x:0:0"), "files first");
    let bulk = users.lines().filter(|l| l.starts_with("u0")).count();
    assert_eq!(bulk, BULK_USERS as usize);
    assert!(users.lines().any(|l| l.starts_with("alice:*:10001:")));
    let groups = ok(&ns, "getent group");
    let many = groups.lines().filter(|l| l.starts_with("mg")).count();
    assert_eq!(many, MANY_GROUPS_COUNT as usize);
    assert!(groups
        .lines()
        .any(|l| l.starts_with(&format!("biggroup:*:{BIGGROUP_GID}:u00001,"))));
}

#[test]
fn ignored_names_low_ids_and_the_loop_guard_are_never_asked() {
    let env = Env::start("[nss]\nignore_users = [\"root\", \"alice\"]\nmin_id = 10002\n");
    let ns = env.ns();
    for (script, why) in [
        ("getent passwd alice", "ignored name"),
        ("getent passwd 10001", "below min_id"),
        ("getent group 10000", "below min_id"),
        (
            "_ROSTER_NSS_LOOP_GUARD=1 getent passwd bob",
            "loop guard set",
        ),
    ] {
        let out = ns.run(&format!("{script}; echo rc=$?"));
        assert!(stdout(&out).contains("rc=2"), "{why}: {}", stdout(&out));
    }
    // initgroups for an ignored user adds nothing from the directory.
    let ig = ok(&ns, "getent initgroups alice");
    assert_eq!(ig.split_whitespace().collect::<Vec<_>>(), ["alice"], "{ig}");
    let ig = ok(&ns, "getent initgroups bob");
    assert!(ig.contains(&STAFF_GID.to_string()), "{ig}");
    assert!(ok(&ns, "getent passwd bob").starts_with("bob:*:10002:"));
    assert_eq!(code(&ns.run("getent passwd 10002")), 0);
}

/// The module keeps one connection a process between lookups, and that
/// connection never outlives what made it its own: a forked child asks
/// over a connection of its own, a process that closed its descriptors
/// and got the socket's number for a file keeps that file (the module
/// neither writes to nor closes it), and a process that dropped its
/// privileges is answered over a new connection. Every lookup is of a
/// user nobody asked for before, so that the daemon answers it, not its
/// memory cache; which connection is which is told by the socket's inode.
#[test]
fn a_process_s_kept_connection_survives_fork_closed_descriptors_and_dropped_privileges() {
    let env = Env::start(PATIENT_NSS);
    let ns = env.ns();
    let user = |i: u32| {
        let name = dataset::bulk_user(i);
        let uid = dataset::BULK_UID_BASE + i;
        (name.clone(), uid, format!("{name}:{uid}:{BIGGROUP_GID}"))
    };
    let (u1, _, a1) = user(4001);
    let (_, uid2, a2) = user(4002);
    let (u3, _, a3) = user(4003);
    let (_, uid4, a4) = user(4004);
    let (u5, _, a5) = user(4005);
    let (u6, _, a6) = user(4006);
    let lines = [
        format!("pwnam {u1}"),
        "sockets".into(),
        format!("pwuid {uid2}"),
        "sockets".into(),
        format!("fork pwnam {u3};sockets"),
        format!("pwuid {uid4}"),
        "sockets".into(),
        "closefds".into(),
        format!("pwnam {u5}"),
        "fd 3".into(),
        "sockets".into(),
        "setuid 65534".into(),
        format!("pwnam {u6}"),
        "sockets".into(),
    ];
    let input = ns.scratch().join("steps");
    std::fs::write(&input, lines.join("\n") + "\n").expect("write steps");
    let bin = env!("CARGO_BIN_EXE_nss_probe");
    let out = ok(&ns, &format!("{bin} < {}", input.display()));
    let said: Vec<&str> = out.lines().collect();
    // The one socket a `sockets` line shows: its descriptor and inode.
    let socket = |line: &str| -> (String, String) {
        let list = line
            .strip_prefix("sockets 1: ")
            .or_else(|| line.strip_prefix("child sockets 1: "))
            .unwrap_or_else(|| panic!("not one socket: {line:?} in {said:?}"));
        let (fd, inode) = list.split_once('=').expect("FD=socket:[INODE]");
        (fd.to_string(), inode.to_string())
    };
    assert_eq!(said.len(), 16, "{said:?}");
    assert_eq!(
        [said[0], said[2], said[4], said[6], said[7]],
        [
            a1.as_str(),
            a2.as_str(),
            &format!("child {a3}"),
            "parent 0",
            a4.as_str(),
        ]
    );
    let first = socket(said[1]);
    assert_eq!(first.0, "3", "the first free number: {said:?}");
    // One connection for the process's lookups...
    assert_eq!(socket(said[3]), first, "{said:?}");
    // ...another one for its child, and its own kept after the child's.
    assert_ne!(
        socket(said[5]).1,
        first.1,
        "the child used its parent's: {said:?}"
    );
    assert_eq!(socket(said[8]), first, "{said:?}");
    // The socket's number now holds /dev/null, which the module leaves
    // alone: a new connection on the next number.
    assert_eq!(
        [said[9], said[10], said[11]],
        ["reopened 3", a5.as_str(), "fd 3 /dev/null"]
    );
    let after_close = socket(said[12]);
    assert_eq!(after_close.0, "4", "{said:?}");
    assert_ne!(after_close.1, first.1);
    // Privileges dropped: a new connection (the daemon sees the new UID).
    assert_eq!([said[13], said[14]], ["uid 65534", a6.as_str()]);
    assert_ne!(
        socket(said[15]).1,
        after_close.1,
        "kept across setuid: {said:?}"
    );
}
