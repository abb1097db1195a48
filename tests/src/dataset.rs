//! The sample directory used by the tests and by `make demo`, and its facts
//! as constants so tests never retype numbers.
//!
//! Layout under [`BASE_DN`]:
//! - `ou=people`: alice; `ou=eng,ou=people`: bob, dup (10201);
//!   `ou=sales,ou=people`: carol, dup (10202); dave and manygroups in
//!   `ou=people`; `ou=bulk,ou=people`: u00001..u05000.
//! - `ou=broken,ou=people`: entries a POSIX consumer must never see.
//! - `ou=groups`: posixGroups with `memberUid` (RFC 2307).
//! - `ou=bisgroups`: groupOfNames + gidNumber with `member` DNs (RFC 2307bis),
//!   nested, with a cycle.
//! - `ou=netgroup`: nisNetgroups (RFC 2307): flat, nested, cyclic, empty,
//!   with empty fields and a malformed triple.
//! - `ou=services`: the service account roster binds as.

use std::fmt::Write;

/// Base DN of the sample directory.
pub const BASE_DN: &str = "dc=example,dc=test";
/// The rootdn (may write everything).
pub const ADMIN_DN: &str = "cn=admin,dc=example,dc=test";
/// The rootdn's password.
pub const ADMIN_PASSWORD: &str = "admin-secret";
/// A read-only service account for rosterd.
pub const SERVICE_DN: &str = "cn=roster,ou=services,dc=example,dc=test";
/// The service account's password.
pub const SERVICE_PASSWORD: &str = "roster-service-secret";
/// An account the test slapd lets write every `userPassword` (root's
/// password resets, `password_admin_dn`); not in the sample data: added by
/// the tests that use it ([`crate::slapd::Slapd::add_password_admin`]).
pub const PASSWORD_ADMIN_DN: &str = "cn=pwadmin,ou=services,dc=example,dc=test";
/// The password admin's password.
pub const PASSWORD_ADMIN_PASSWORD: &str = "pwadmin-secret";

/// A user of the sample directory with a password.
#[derive(Clone, Copy, Debug)]
pub struct SampleUser {
    /// Login name (`uid`).
    pub name: &'static str,
    /// uidNumber.
    pub uid: u32,
    /// gidNumber (primary group).
    pub gid: u32,
    /// Password (`userPassword`).
    pub password: &'static str,
    /// `cn`.
    pub cn: &'static str,
    /// DN of the entry.
    pub dn: &'static str,
}

/// alice: a plain user in `ou=people`, member of `engineers` and `bis-child`.
pub const ALICE: SampleUser = SampleUser {
    name: "alice",
    uid: 10001,
    gid: USERS_GID,
    password: "alice-pw",
    cn: "Alice Liddell",
    dn: "uid=alice,ou=people,dc=example,dc=test",
};
/// bob: in the nested OU `ou=eng,ou=people`, member of `engineers`.
pub const BOB: SampleUser = SampleUser {
    name: "bob",
    uid: 10002,
    gid: USERS_GID,
    password: "bob-pw",
    cn: "Bob Builder",
    dn: "uid=bob,ou=eng,ou=people,dc=example,dc=test",
};
/// carol: in `ou=sales,ou=people`, member of `bis-parent`.
pub const CAROL: SampleUser = SampleUser {
    name: "carol",
    uid: 10003,
    gid: USERS_GID,
    password: "carol-pw",
    cn: "Carol Danvers",
    dn: "uid=carol,ou=sales,ou=people,dc=example,dc=test",
};
/// dave: no `loginShell` and no `gecos` (default shell, gecos from cn).
pub const DAVE: SampleUser = SampleUser {
    name: "dave",
    uid: 10004,
    gid: USERS_GID,
    password: "dave-pw",
    cn: "Dave Lister",
    dn: "uid=dave,ou=people,dc=example,dc=test",
};
/// manygroups: member (memberUid) of [`MANY_GROUPS_COUNT`] groups.
pub const MANYGROUPS: SampleUser = SampleUser {
    name: "manygroups",
    uid: 10100,
    gid: USERS_GID,
    password: "many-pw",
    cn: "Many Groups",
    dn: "uid=manygroups,ou=people,dc=example,dc=test",
};

/// Users with passwords, in directory order.
pub const NAMED_USERS: [SampleUser; 5] = [ALICE, BOB, CAROL, DAVE, MANYGROUPS];

/// gidNumber of `members`, every named user's primary group.
pub const USERS_GID: u32 = 10000;
/// gidNumber of `engineers` (memberUid alice, bob). (Not `staff` nor
/// `users`: Debian has local groups of those names, and local accounts win.)
pub const STAFF_GID: u32 = 10010;
/// The group of every bulk user ([`BULK_USERS`] members).
pub const BIGGROUP: &str = "biggroup";
/// gidNumber of `biggroup` (every bulk user).
pub const BIGGROUP_GID: u32 = 10050;
/// Number of bulk users `u00001`..; uidNumber of `uNNNNN` is 20000 + NNNNN.
pub const BULK_USERS: u32 = 5000;
/// First uidNumber of the bulk users minus one.
pub const BULK_UID_BASE: u32 = 20000;
/// Number of groups `mg0000`.. that manygroups belongs to.
pub const MANY_GROUPS_COUNT: u32 = 1000;
/// gidNumber of `mg0000`; `mgNNNN` has 30000 + NNNN.
pub const MANY_GROUPS_GID_BASE: u32 = 30000;
/// RFC 2307bis groups: (name, gid).
pub const BIS_CHILD: (&str, u32) = ("bis-child", 11001);
/// Contains bis-child and carol.
pub const BIS_PARENT: (&str, u32) = ("bis-parent", 11002);
/// Member of bis-cycle-b, which is a member of it.
pub const BIS_CYCLE_A: (&str, u32) = ("bis-cycle-a", 11003);
/// Member of bis-cycle-a; also contains bob.
pub const BIS_CYCLE_B: (&str, u32) = ("bis-cycle-b", 11004);
/// `uid=dup` in ou=eng (uidNumber 10201) and ou=sales (10202).
pub const DUP_UIDS: (u32, u32) = (10201, 10202);

/// nisNetgroup `ng-flat`: triples with empty and `-` fields, and one
/// malformed value ([`NETGROUP_MALFORMED`]) that is never served.
pub const NG_FLAT: (&str, &[&str]) = (
    "ng-flat",
    &[
        "(host1,alice,example)",
        "(host2,,)",
        "(,bob,)",
        "(-,carol,)",
    ],
);
/// The malformed `nisNetgroupTriple` value of `ng-flat`.
pub const NETGROUP_MALFORMED: &str = "(host9,dave)";
/// nisNetgroup `ng-parent`: one triple; includes `ng-flat` and a netgroup
/// that does not exist (`ng-missing`).
pub const NG_PARENT: (&str, &[&str]) = ("ng-parent", &["(host3,dave,)"]);
/// nisNetgroup `ng-cycle-a`: includes `ng-cycle-b`, which includes it.
pub const NG_CYCLE_A: (&str, &[&str]) = ("ng-cycle-a", &["(cyc-a,alice,)"]);
/// nisNetgroup `ng-cycle-b`: includes `ng-cycle-a`.
pub const NG_CYCLE_B: (&str, &[&str]) = ("ng-cycle-b", &["(cyc-b,bob,)"]);
/// nisNetgroup `ng-empty`: no triple, no member.
pub const NG_EMPTY: &str = "ng-empty";

/// Entries that must be rejected, with why: (uid value, reason keyword).
pub const BROKEN_USERS: [(&str, &str); 5] = [
    ("nouid", "uidNumber"),
    ("rootclone", "0"),
    ("lowuid", "min_id"),
    ("bad:name", ":"),
    ("-dash", "-"),
];

/// Name of bulk user number `i` (1-based).
pub fn bulk_user(i: u32) -> String {
    format!("u{i:05}")
}

/// Name of many-group number `i` (0-based).
pub fn many_group(i: u32) -> String {
    format!("mg{i:04}")
}

fn ou(out: &mut String, dn: &str, name: &str) {
    let _ = write!(
        out,
        "dn: {dn}\nobjectClass: organizationalUnit\nou: {name}\n\n"
    );
}

/// Writes one posixAccount entry. `uid_number` None leaves it out.
#[allow(clippy::too_many_arguments)]
pub fn user(
    out: &mut String,
    dn: &str,
    name: &str,
    uid_number: Option<u32>,
    gid: u32,
    cn: &str,
    gecos: Option<&str>,
    shell: Option<&str>,
    password: Option<&str>,
) {
    let _ = write!(
        out,
        "dn: {dn}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         objectClass: shadowAccount\nuid: {name}\ncn: {cn}\nsn: {cn}\n"
    );
    if let Some(n) = uid_number {
        let _ = writeln!(out, "uidNumber: {n}");
    }
    let _ = writeln!(out, "gidNumber: {gid}\nhomeDirectory: /home/{name}");
    if let Some(g) = gecos {
        let _ = writeln!(out, "gecos: {g}");
    }
    if let Some(s) = shell {
        let _ = writeln!(out, "loginShell: {s}");
    }
    if let Some(p) = password {
        let _ = writeln!(out, "userPassword: {p}");
    }
    out.push('\n');
}

/// Writes one posixGroup entry under `ou=groups`, its members by
/// `memberUid`.
pub fn posix_group(out: &mut String, name: &str, gid: u32, members: &[String]) {
    let _ = write!(
        out,
        "dn: cn={name},ou=groups,{BASE_DN}\nobjectClass: posixGroup\ncn: {name}\ngidNumber: {gid}\n"
    );
    for m in members {
        let _ = writeln!(out, "memberUid: {m}");
    }
    out.push('\n');
}

fn netgroup(out: &mut String, name: &str, triples: &[&str], members: &[&str]) {
    let _ = write!(
        out,
        "dn: cn={name},ou=netgroup,{BASE_DN}\nobjectClass: nisNetgroup\ncn: {name}\n"
    );
    for t in triples {
        let _ = writeln!(out, "nisNetgroupTriple: {t}");
    }
    for m in members {
        let _ = writeln!(out, "memberNisNetgroup: {m}");
    }
    out.push('\n');
}

fn bis_group(out: &mut String, name: &str, gid: u32, member_dns: &[String]) {
    let _ = write!(
        out,
        "dn: cn={name},ou=bisgroups,{BASE_DN}\nobjectClass: groupOfNames\n\
         objectClass: extensibleObject\ncn: {name}\ngidNumber: {gid}\n"
    );
    for m in member_dns {
        let _ = writeln!(out, "member: {m}");
    }
    out.push('\n');
}

/// The whole sample directory as LDIF (for `slapadd -s`).
pub fn sample_ldif() -> String {
    let mut out = String::with_capacity(2 << 20);
    let _ = write!(
        out,
        "dn: {BASE_DN}\nobjectClass: dcObject\nobjectClass: organization\ndc: example\no: Example\n\n"
    );
    for (dn, name) in [
        ("ou=people", "people"),
        ("ou=eng,ou=people", "eng"),
        ("ou=sales,ou=people", "sales"),
        ("ou=bulk,ou=people", "bulk"),
        ("ou=broken,ou=people", "broken"),
        ("ou=groups", "groups"),
        ("ou=bisgroups", "bisgroups"),
        ("ou=netgroup", "netgroup"),
        ("ou=services", "services"),
    ] {
        ou(&mut out, &format!("{dn},{BASE_DN}"), name);
    }
    let _ = write!(
        out,
        "dn: {SERVICE_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
         cn: roster\nuserPassword: {SERVICE_PASSWORD}\n\n"
    );
    for u in NAMED_USERS {
        let is_dave = u.name == DAVE.name;
        user(
            &mut out,
            u.dn,
            u.name,
            Some(u.uid),
            u.gid,
            u.cn,
            (!is_dave).then_some(u.cn),
            (!is_dave).then_some("/bin/bash"),
            Some(u.password),
        );
    }
    for i in 1..=BULK_USERS {
        let name = bulk_user(i);
        user(
            &mut out,
            &format!("uid={name},ou=bulk,ou=people,{BASE_DN}"),
            &name,
            Some(BULK_UID_BASE + i),
            BIGGROUP_GID,
            &format!("Bulk User {i}"),
            None,
            Some("/bin/bash"),
            None,
        );
    }
    for (ou_name, uid) in [("eng", DUP_UIDS.0), ("sales", DUP_UIDS.1)] {
        user(
            &mut out,
            &format!("uid=dup,ou={ou_name},ou=people,{BASE_DN}"),
            "dup",
            Some(uid),
            USERS_GID,
            "Dup Licate",
            None,
            Some("/bin/bash"),
            Some("dup-pw"),
        );
    }
    let broken: [(&str, Option<u32>); 5] = [
        ("nouid", None),
        ("rootclone", Some(0)),
        ("lowuid", Some(500)),
        ("bad:name", Some(10301)),
        ("-dash", Some(10302)),
    ];
    for (name, uid) in broken {
        let rdn = name.replace(':', "\\3A");
        user(
            &mut out,
            &format!("uid={rdn},ou=broken,ou=people,{BASE_DN}"),
            name,
            uid,
            if uid == Some(0) { 0 } else { USERS_GID },
            "Broken Entry",
            None,
            Some("/bin/bash"),
            Some("broken-pw"),
        );
    }
    let named: Vec<String> = NAMED_USERS.iter().map(|u| u.name.to_string()).collect();
    posix_group(&mut out, "members", USERS_GID, &named);
    posix_group(
        &mut out,
        "engineers",
        STAFF_GID,
        &[ALICE.name.to_string(), BOB.name.to_string()],
    );
    let bulk: Vec<String> = (1..=BULK_USERS).map(bulk_user).collect();
    posix_group(&mut out, BIGGROUP, BIGGROUP_GID, &bulk);
    for i in 0..MANY_GROUPS_COUNT {
        posix_group(
            &mut out,
            &many_group(i),
            MANY_GROUPS_GID_BASE + i,
            &[MANYGROUPS.name.to_string()],
        );
    }
    let bis_dn = |name: &str| format!("cn={name},ou=bisgroups,{BASE_DN}");
    bis_group(&mut out, BIS_CHILD.0, BIS_CHILD.1, &[ALICE.dn.to_string()]);
    bis_group(
        &mut out,
        BIS_PARENT.0,
        BIS_PARENT.1,
        &[bis_dn(BIS_CHILD.0), CAROL.dn.to_string()],
    );
    bis_group(
        &mut out,
        BIS_CYCLE_A.0,
        BIS_CYCLE_A.1,
        &[bis_dn(BIS_CYCLE_B.0)],
    );
    bis_group(
        &mut out,
        BIS_CYCLE_B.0,
        BIS_CYCLE_B.1,
        &[bis_dn(BIS_CYCLE_A.0), BOB.dn.to_string()],
    );
    let flat: Vec<&str> = NG_FLAT
        .1
        .iter()
        .copied()
        .chain([NETGROUP_MALFORMED])
        .collect();
    netgroup(&mut out, NG_FLAT.0, &flat, &[]);
    netgroup(
        &mut out,
        NG_PARENT.0,
        NG_PARENT.1,
        &[NG_FLAT.0, "ng-missing"],
    );
    netgroup(&mut out, NG_CYCLE_A.0, NG_CYCLE_A.1, &[NG_CYCLE_B.0]);
    netgroup(&mut out, NG_CYCLE_B.0, NG_CYCLE_B.1, &[NG_CYCLE_A.0]);
    netgroup(&mut out, NG_EMPTY, &[], &[]);
    out
}
