//! The `netgroup` map end to end: real `getent netgroup` and `innetgr(3)`
//! from C, through glibc and libnss_roster, against the test slapd's flat,
//! nested, cyclic and empty nisNetgroups, in a private mount namespace
//! whose nsswitch.conf says `netgroup: files roster`; then again with
//! slapd stopped and rosterd restarted (answers from the persistent cache).

use crate::nss_common;

use nss_common::{stdout, Env};
use roster_e2e::dataset::{
    NETGROUP_MALFORMED, NG_CYCLE_A, NG_CYCLE_B, NG_EMPTY, NG_FLAT, NG_PARENT,
};
use roster_e2e::namespace::Namespace;
use std::collections::BTreeSet;

const NSSWITCH: &str = "passwd: files roster\ngroup: files roster\nshadow: files\n\
hosts: files\nnetgroup: files roster\n";

/// `innetgr` for each `NETGROUP HOST USER DOMAIN EXPECTED` group of
/// arguments (`*` passes NULL); prints every mismatch, exits with their
/// number.
const INNETGR_C: &str = r#"
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *arg(const char *s) { return strcmp(s, "*") == 0 ? NULL : s; }

int main(int argc, char **argv) {
    int bad = 0, n = 0;
    for (int i = 1; i + 4 < argc; i += 5, n++) {
        int got = innetgr(argv[i], arg(argv[i + 1]), arg(argv[i + 2]), arg(argv[i + 3]));
        int want = atoi(argv[i + 4]);
        if (got != want) {
            printf("innetgr(%s, %s, %s, %s) = %d, expected %d\n", argv[i], argv[i + 1],
                   argv[i + 2], argv[i + 3], got, want);
            bad++;
        }
    }
    printf("checked %d\n", n);
    return bad;
}
"#;

/// Every `(host,user,domain)` of a `getent netgroup` line.
fn triples(line: &str) -> BTreeSet<String> {
    line.split('(')
        .skip(1)
        // getent prints an empty (NULL) host as a blank.
        .filter_map(|t| {
            t.split_once(')')
                .map(|(inner, _)| format!("({})", inner.trim()))
        })
        .collect()
}

fn set(items: &[&[&str]]) -> BTreeSet<String> {
    items
        .iter()
        .flat_map(|l| l.iter().map(|s| s.to_string()))
        .collect()
}

/// The innetgr cases: (netgroup, host, user, domain, expected).
const CASES: &[(&str, &str, &str, &str, u8)] = &[
    ("ng-flat", "host1", "alice", "example", 1),
    ("ng-flat", "host1", "bob", "*", 1), // (,bob,)
    ("ng-flat", "host1", "dave", "*", 0),
    ("ng-flat", "host2", "zed", "other", 1),  // (host2,,)
    ("ng-flat", "*", "carol", "*", 1),        // (-,carol,) with any host
    ("ng-flat", "somehost", "carol", "*", 0), // `-` matches no host
    ("ng-flat", "host9", "dave", "*", 0),     // only in the malformed value
    ("ng-parent", "host3", "dave", "*", 1),
    ("ng-parent", "host1", "alice", "example", 1), // from ng-flat
    ("ng-parent", "nohost", "nobody", "*", 0),
    ("ng-cycle-a", "cyc-b", "bob", "*", 1),
    ("ng-cycle-b", "cyc-a", "alice", "*", 1),
    ("ng-cycle-a", "nohost", "nobody", "*", 0),
    ("ng-empty", "host1", "alice", "*", 0),
    ("ng-nonexistent", "host1", "alice", "*", 0),
];

fn innetgr_args() -> String {
    CASES
        .iter()
        .map(|(g, h, u, d, e)| format!("{g} '{h}' {u} '{d}' {e}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the getent and innetgr checks in `ns`.
fn check_everything(ns: &Namespace, probe: &std::path::Path) {
    let flat = ns.run_ok(&format!("getent netgroup {}", NG_FLAT.0));
    assert!(flat.starts_with(NG_FLAT.0), "{flat}");
    assert_eq!(triples(&flat), set(&[NG_FLAT.1]), "{flat}");
    assert!(!flat.contains("host9"), "malformed triple served: {flat}");

    let parent = ns.run_ok(&format!("getent netgroup {}", NG_PARENT.0));
    assert_eq!(triples(&parent), set(&[NG_PARENT.1, NG_FLAT.1]), "{parent}");

    for g in [NG_CYCLE_A.0, NG_CYCLE_B.0] {
        let cyc = ns.run_ok(&format!("getent netgroup {g}"));
        assert_eq!(triples(&cyc), set(&[NG_CYCLE_A.1, NG_CYCLE_B.1]), "{cyc}");
    }

    let missing = ns.run("getent netgroup ng-nonexistent");
    assert_eq!(missing.status.code(), Some(2), "{missing:?}");

    let out = ns.run(&format!("{} {}", probe.display(), innetgr_args()));
    assert!(
        out.status.success(),
        "innetgr: {}{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), format!("checked {}", CASES.len()));
}

#[test]
fn getent_and_innetgr_serve_flat_nested_and_cyclic_netgroups_online_and_offline() {
    let mut env = Env::start("");
    let ns = env.ns().nsswitch(NSSWITCH);
    let probe = roster_e2e::cc::compile(env.dir.path(), "innetgr", INNETGR_C, &[]);

    check_everything(&ns, &probe);
    // An empty netgroup exists, with no triple.
    let empty = ns.run_ok(&format!("getent netgroup {NG_EMPTY}"));
    assert!(empty.starts_with(NG_EMPTY), "{empty}");
    assert!(triples(&empty).is_empty(), "{empty}");

    // The malformed value is logged once, with the entry's DN, although
    // ng-flat was read for itself and for ng-parent.
    let log = env.rd.log();
    let lines: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("netgroup triple not served"))
        .collect();
    assert_eq!(lines.len(), 1, "{log}");
    assert!(
        lines[0].contains("cn=ng-flat,ou=netgroup,dc=example,dc=test")
            && lines[0].contains(NETGROUP_MALFORMED),
        "{}",
        lines[0]
    );

    // The directory goes away and rosterd restarts: the persistent cache
    // answers the same.
    env.slapd.stop();
    env.rd.restart();
    check_everything(&ns, &probe);
    let reply = env
        .rd
        .admin(r#"{"cmd":"lookup","kind":"netgroup","key":"ng-parent"}"#);
    assert!(reply.contains(r#""source":"offline""#), "{reply}");
    assert!(reply.contains("cn=ng-parent,ou=netgroup"), "{reply}");
}

#[test]
fn a_flushed_netgroup_is_read_again() {
    let env = Env::start("");
    let ns = env.ns().nsswitch(NSSWITCH);
    // Not there yet: the negative answer is cached.
    assert_eq!(ns.run("getent netgroup ng-late").status.code(), Some(2));
    env.slapd.ldapadd(
        "dn: cn=ng-late,ou=netgroup,dc=example,dc=test\nobjectClass: nisNetgroup\n\
         cn: ng-late\nnisNetgroupTriple: (late-host,,)\nmemberNisNetgroup: ng-cycle-b\n",
    );
    assert_eq!(ns.run("getent netgroup ng-late").status.code(), Some(2));
    let reply = env
        .rd
        .admin(r#"{"cmd":"cache_flush","netgroup":"ng-late"}"#);
    assert!(reply.contains(r#""ok":true"#), "{reply}");
    let after = ns.run_ok("getent netgroup ng-late");
    assert_eq!(
        triples(&after),
        set(&[&["(late-host,,)"], NG_CYCLE_A.1, NG_CYCLE_B.1]),
        "{after}"
    );
}
