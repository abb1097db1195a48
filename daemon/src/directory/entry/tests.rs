//! Unit tests of entry validation, without a server.

use super::*;
use crate::config::{Config, DomainConfig, IdmapSettings};

fn cfg(extra: &str) -> DomainConfig {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [\"ldap://h\"]\nbase_dn = \"dc=example,dc=test\"\n{extra}\n"
    );
    Config::from_str(&text, "test.toml")
        .unwrap()
        .domains
        .remove(0)
}

fn idmap(c: &DomainConfig) -> DomainSet {
    DomainSet::new(
        &[(c.name.clone(), IdmapSettings::default(), c.min_id, c.max_id)],
        None,
    )
    .unwrap()
}

fn entry(dn: &str, attrs: &[(&str, &[&str])]) -> SearchEntry {
    SearchEntry {
        dn: dn.to_string(),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        bin_attrs: Default::default(),
    }
}

fn alice() -> SearchEntry {
    entry(
        "uid=alice,ou=people,dc=example,dc=test",
        &[
            ("uid", &["alice"]),
            ("uidNumber", &["10001"]),
            ("gidNumber", &["10000"]),
            ("cn", &["Alice Liddell"]),
            ("homeDirectory", &["/home/alice"]),
            ("loginShell", &["/bin/bash"]),
        ],
    )
}

fn reason(c: &DomainConfig, e: &SearchEntry) -> String {
    let r = entry_to_user(c, &idmap(c), e).unwrap_err();
    assert_eq!(r.dn, e.dn);
    r.reason
}

#[test]
fn good_user() {
    let c = cfg("");
    let u = entry_to_user(&c, &idmap(&c), &alice()).unwrap();
    assert_eq!(u.user.name, "alice");
    assert_eq!((u.user.uid, u.user.gid), (10001, 10000));
    assert_eq!(u.user.gecos, "Alice Liddell", "gecos falls back to cn");
    assert_eq!(u.user.home, "/home/alice");
    assert_eq!(u.user.shell, "/bin/bash");
    assert_eq!(u.dn, "uid=alice,ou=people,dc=example,dc=test");
    assert_eq!(u.domain, "ex");
    assert_eq!(u.unique_id, None);
}

#[test]
fn attribute_names_are_case_insensitive_and_configurable() {
    let c = cfg("[domain.attributes]\ngecos = \"displayName\"\nunique_id = \"entryUUID\"\n");
    let mut e = alice();
    let v = e.attrs.remove("uidNumber").unwrap();
    e.attrs.insert("UIDNUMBER".into(), v);
    e.attrs
        .insert("displayname".into(), vec!["Alice L.".into()]);
    e.attrs.insert("entryUUID".into(), vec!["1234-abcd".into()]);
    let u = entry_to_user(&c, &idmap(&c), &e).unwrap();
    assert_eq!(u.user.uid, 10001);
    assert_eq!(u.user.gecos, "Alice L.");
    assert_eq!(u.unique_id.as_deref(), Some("1234-abcd"));
}

#[test]
fn overrides_and_defaults() {
    let c = cfg("home_directory_template = \"/srv/{domain}/{username}-{uid}\"\nshell_override = \"/bin/zsh\"\n");
    let u = entry_to_user(&c, &idmap(&c), &alice()).unwrap();
    assert_eq!(u.user.home, "/srv/ex/alice-10001");
    assert_eq!(u.user.shell, "/bin/zsh");
    // dave: no loginShell, no gecos.
    let c = cfg("default_shell = \"/bin/ksh\"\n");
    let dave = entry(
        "uid=dave,ou=people,dc=example,dc=test",
        &[
            ("uid", &["dave"]),
            ("uidNumber", &["10004"]),
            ("gidNumber", &["10000"]),
            ("cn", &["Dave"]),
            ("homeDirectory", &["/home/dave"]),
        ],
    );
    let u = entry_to_user(&c, &idmap(&c), &dave).unwrap();
    assert_eq!(u.user.shell, "/bin/ksh");
    assert_eq!(u.user.gecos, "Dave");
    let mut e = alice();
    e.attrs.insert("gecos".into(), vec!["A: L\nx".into()]);
    assert_eq!(
        entry_to_user(&c, &idmap(&c), &e).unwrap().user.gecos,
        "A  L x"
    );
}

#[test]
fn missing_required_attributes() {
    let c = cfg("");
    for attr in ["uid", "uidNumber", "gidNumber"] {
        let mut e = alice();
        e.attrs.remove(attr);
        assert_eq!(reason(&c, &e), format!("missing required attribute {attr}"));
    }
}

#[test]
fn bad_ids() {
    let c = cfg("max_id = 60000");
    let cases = [
        ("uidNumber", "0", "refused"),
        ("uidNumber", "500", "refused"),
        ("uidNumber", "70000", "refused"),
        ("uidNumber", "-5", "not a non-negative decimal"),
        ("uidNumber", "12a", "not a non-negative decimal"),
        ("uidNumber", "99999999999", "does not fit"),
        ("gidNumber", "0", "refused"),
    ];
    for (attr, v, want) in cases {
        let mut e = alice();
        e.attrs.insert(attr.into(), vec![v.into()]);
        let r = reason(&c, &e);
        assert!(r.contains(want) && r.contains(attr), "{attr}={v}: {r}");
    }
}

#[test]
fn bad_names() {
    let c = cfg("");
    for name in [
        "bad:name",
        "-dash",
        "with space",
        "a,b",
        "new\nline",
        "tab\t",
        "",
        "a/b",
        ".",
        "..",
    ] {
        let mut e = alice();
        e.attrs.insert("uid".into(), vec![name.into()]);
        let r = reason(&c, &e);
        assert!(
            r.starts_with("uid:") || r.starts_with("missing"),
            "{name:?}: {r}"
        );
    }
    let mut e = alice();
    e.attrs.remove("uid");
    e.bin_attrs.insert("uid".into(), vec![vec![0xff, 0xfe]]);
    assert!(reason(&c, &e).contains("not UTF-8"));
    assert!(check_name("José").is_ok());
    assert!(check_name(&"x".repeat(300)).is_err());
}

#[test]
fn every_character_is_judged_as_the_rule_says() {
    // Each ASCII character inside a name, and some beyond (no-break
    // space and the line separator are white space): refused exactly
    // when it is ':', ',', '/', white space or a control character.
    let others = ['\u{a0}', '\u{2028}', '\u{85}', 'é', '\u{200b}'];
    for c in (0..=127u8).map(char::from).chain(others) {
        let refused = matches!(c, ':' | ',' | '/') || c.is_whitespace() || c.is_control();
        let name = format!("a{c}b");
        assert_eq!(check_name(&name).is_err(), refused, "{c:?}");
    }
}

#[test]
fn bad_home_or_shell() {
    let c = cfg("");
    let mut e = alice();
    e.attrs
        .insert("homeDirectory".into(), vec!["/home/a:b".into()]);
    assert!(reason(&c, &e).contains("homeDirectory"));
    let mut e = alice();
    e.attrs
        .insert("loginShell".into(), vec!["/bin/sh\n".into()]);
    assert!(reason(&c, &e).contains("loginShell"));
}

#[test]
fn groups_rfc2307() {
    let c = cfg("");
    let g = entry(
        "cn=staff,ou=groups,dc=example,dc=test",
        &[
            ("cn", &["staff"]),
            ("gidNumber", &["10010"]),
            ("memberUid", &["alice", "bob", "bad:x", "alice"]),
        ],
    );
    let r = entry_to_group(&c, &idmap(&c), &g).unwrap();
    assert_eq!(r.group.name, "staff");
    assert_eq!(r.group.gid, 10010);
    assert_eq!(r.group.members, vec!["alice", "bob"]);
    assert!(member_dns(&c, &g).is_empty());
    for (attr, v, want) in [
        ("gidNumber", None, "missing required attribute gidNumber"),
        ("cn", None, "missing required attribute cn"),
        ("gidNumber", Some("0"), "refused"),
        ("cn", Some("x y"), "contains"),
    ] {
        let mut g = g.clone();
        match v {
            None => {
                g.attrs.remove(attr);
            }
            Some(v) => {
                g.attrs.insert(attr.into(), vec![v.into()]);
            }
        }
        let r = entry_to_group(&c, &idmap(&c), &g).unwrap_err();
        assert!(r.reason.contains(want), "{attr}: {}", r.reason);
    }
}

#[test]
fn groups_rfc2307bis_member_dns() {
    let c = cfg("schema = \"rfc2307bis\"\n");
    let g = entry(
        "cn=bis-parent,ou=bisgroups,dc=example,dc=test",
        &[
            ("cn", &["bis-parent"]),
            ("gidNumber", &["11002"]),
            (
                "member",
                &[
                    "cn=bis-child,ou=bisgroups,dc=example,dc=test",
                    "uid=carol,ou=sales,ou=people,dc=example,dc=test",
                ],
            ),
            (
                "uniqueMember",
                &[
                    "uid=al\\2cice,ou=people,dc=example,dc=test#'0101'B",
                    "uid=x,dc=elsewhere",
                ],
            ),
        ],
    );
    let r = entry_to_group(&c, &idmap(&c), &g).unwrap();
    // carol from her DN; `al,ice` is not a valid name; a DN outside the user
    // base is not taken as a user.
    assert_eq!(r.group.members, vec!["carol"]);
    assert_eq!(
        member_dns(&c, &g),
        vec![
            "cn=bis-child,ou=bisgroups,dc=example,dc=test",
            "uid=carol,ou=sales,ou=people,dc=example,dc=test",
            "uid=al\\2cice,ou=people,dc=example,dc=test",
            "uid=x,dc=elsewhere",
        ]
    );
    assert_eq!(
        user_name_from_dn(&c, "UID=bob , ou=eng,ou=people,dc=example,dc=test").as_deref(),
        Some("bob")
    );
    assert_eq!(
        user_name_from_dn(&c, "cn=bob,ou=people,dc=example,dc=test"),
        None
    );
    assert_eq!(
        user_name_from_dn(&c, "uid=b\\+o,dc=example,dc=test").as_deref(),
        Some("b+o")
    );
}

#[test]
fn template_expansion() {
    assert_eq!(
        expand_template("/h/{username}/{uid}/{domain}/{username}", "a", 7, "d"),
        "/h/a/7/d/a"
    );
}

#[test]
fn local_primary_groups_are_served_below_min_id() {
    let with_gid = |gid: &str| {
        let mut e = alice();
        e.attrs.insert("gidNumber".into(), vec![gid.to_string()]);
        e
    };
    // Default [100]: Debian's `users`.
    let c = cfg("");
    let u = entry_to_user(&c, &idmap(&c), &with_gid("100")).unwrap();
    assert_eq!(u.user.gid, 100);
    assert!(reason(&c, &with_gid("50")).contains("gidNumber 50 refused"));
    assert!(reason(&c, &with_gid("0")).contains("gidNumber 0 refused"));
    // Configured: only the listed GIDs, also outside an rfc2307 range.
    let c = cfg("local_primary_gids = [50]\n[domain.idmap]\nrange_low = 10000\nrange_high = 20000");
    let ranged = DomainSet::new(
        &[(c.name.clone(), c.idmap.settings(), c.min_id, c.max_id)],
        None,
    )
    .unwrap();
    let u = entry_to_user(&c, &ranged, &with_gid("50")).unwrap();
    assert_eq!((u.user.uid, u.user.gid), (10001, 50));
    let r = entry_to_user(&c, &ranged, &with_gid("100")).unwrap_err();
    assert!(r.reason.contains("gidNumber 100 refused"), "{}", r.reason);
}

#[test]
fn ssh_keys_are_read_from_the_configured_attribute() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILRIa+vFP2j+a/LVLtIGdmVPcDOsV7lmR3FT7aR3D4TB test@roster";
    let mut e = alice();
    e.attrs.insert(
        "sshPublicKey".into(),
        vec![key.into(), "ssh-rsa broken".into()],
    );
    let c = cfg("");
    let u = entry_to_user(&c, &idmap(&c), &e).unwrap();
    assert_eq!(
        u.ssh_keys,
        vec![key.to_string()],
        "the malformed one is left out"
    );
    // Another attribute: sshPublicKey is no longer read.
    let other = cfg("[domain.attributes]\nssh_public_key = \"altSecurityIdentities\"");
    assert!(entry_to_user(&other, &idmap(&other), &e)
        .unwrap()
        .ssh_keys
        .is_empty());
    e.attrs
        .insert("altSecurityIdentities".into(), vec![key.into()]);
    assert_eq!(
        entry_to_user(&other, &idmap(&other), &e).unwrap().ssh_keys,
        vec![key.to_string()]
    );
    assert!(crate::directory::rfc2307::user_attrs(&other)
        .contains(&"altSecurityIdentities".to_string()));
}

#[test]
fn member_dns_of_a_large_group_drop_case_variants_in_order() {
    // Found by the ldap_entry fuzz target: duplicates were found by a
    // pairwise scan, quadratic in the number of members.
    let c = cfg("schema = \"rfc2307bis\"\n");
    let n = 20_000;
    let dns: Vec<String> = (0..n)
        .map(|i| format!("uid=u{i:05},ou=people,dc=example,dc=test"))
        .collect();
    let upper: Vec<String> = dns.iter().rev().map(|d| d.to_ascii_uppercase()).collect();
    let mut member: Vec<&str> = dns.iter().map(String::as_str).collect();
    member.extend(upper.iter().map(String::as_str));
    let unique = [
        "UID=u00007,ou=people,dc=example,dc=test#'0101'B",
        "uid=extra,dc=x",
    ];
    let g = entry(
        "cn=big,dc=example,dc=test",
        &[("member", &member), ("uniqueMember", &unique)],
    );
    let mut want = dns.clone();
    want.push("uid=extra,dc=x".to_string());
    assert_eq!(member_dns(&c, &g), want);
}

#[test]
fn a_group_converted_by_value_is_the_group_converted_by_reference() {
    let plain = cfg("");
    let bis = cfg("schema = \"rfc2307bis\"\n");
    let people = "ou=people,dc=example,dc=test";
    let member = format!("uid=carol,{people}");
    let twice = format!("uid=alice,{people}");
    let mut binary = entry(
        "cn=bin,ou=groups,dc=example,dc=test",
        &[("cn", &["bin"]), ("gidNumber", &["20005"])],
    );
    binary
        .bin_attrs
        .insert("memberUid".into(), vec![b"alice".to_vec(), vec![0xff]]);
    let cases = [
        entry(
            "cn=staff,ou=groups,dc=example,dc=test",
            &[
                ("cn", &["staff"]),
                ("gidNumber", &["20001"]),
                (
                    "MemberUid",
                    &["bob", "alice", "bob", "bad name", "-x", "carol"],
                ),
                (
                    "member",
                    &[&member, &twice, "cn=sub,ou=groups,dc=example,dc=test"],
                ),
            ],
        ),
        entry(
            "cn=empty,ou=groups,dc=example,dc=test",
            &[
                ("cn", &["empty"]),
                ("gidNumber", &["20002"]),
                ("memberUid", &[]),
            ],
        ),
        entry(
            "cn=nogid,ou=groups,dc=example,dc=test",
            &[("cn", &["nogid"]), ("memberUid", &["alice"])],
        ),
        entry(
            "cn=bad,ou=groups,dc=example,dc=test",
            &[("cn", &["bad:name"]), ("gidNumber", &["20003"])],
        ),
        // Members under two spellings: neither list is read.
        entry(
            "cn=twice,ou=groups,dc=example,dc=test",
            &[
                ("cn", &["twice"]),
                ("gidNumber", &["20004"]),
                ("memberUid", &["alice"]),
                ("memberuid", &["bob"]),
            ],
        ),
        binary,
    ];
    for c in [&plain, &bis] {
        let map = idmap(c);
        for e in &cases {
            let by_ref = entry_to_group(c, &map, e);
            assert_eq!(entry_into_group(c, &map, e.clone()), by_ref, "{}", e.dn);
        }
    }
    let staff = entry_into_group(&bis, &idmap(&bis), cases[0].clone()).unwrap();
    assert_eq!(staff.group.members, ["bob", "alice", "carol"]);
}

/// The group head of the entry `tag` read both ways (as the octets a
/// connection hands over): [`entry_to_group_head`] of the
/// [`SearchEntry`], [`octets_to_group_head`] of the [`EntryOctets`] (each
/// the name and GID, or the refused DN and reason), or the readers' error.
fn heads_both_ways(
    cfg: &DomainConfig,
    tag: ldap3::asn1::StructureTag,
) -> [Result<(String, u32), String>; 2] {
    use ldap3::asn1::{StructureTag, TagClass, PL};
    use ldap3::ResultEntry;
    let as_read = || {
        ResultEntry::new(StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(crate::directory::ber_tests::encode(&tag)),
        })
    };
    let idmap = idmap(cfg);
    let refused = |r: EntryRejected| format!("{}: {}", r.dn, r.reason);
    let full = SearchEntry::read(as_read()).and_then(|e| {
        entry_to_group_head(cfg, &idmap, &e)
            .map(|(n, g)| (n.to_string(), g))
            .map_err(refused)
    });
    let octets = EntryOctets::read(as_read()).and_then(|e| {
        octets_to_group_head(cfg, &idmap, &e)
            .map(|(n, g)| (n.to_string(), g))
            .map_err(refused)
    });
    [full, octets]
}

#[test]
fn a_group_kept_as_its_octets_reads_as_a_whole_entry_does() {
    use crate::directory::malformed_tests::{attribute, cons, entry, octet_string};
    use ldap3::asn1::TagClass;
    let c = cfg("");
    let dn = b"cn=g,ou=groups,dc=example,dc=test";
    let group = |attrs| entry(dn, attrs);
    // A group of these `cn` and `gidNumber` values.
    let cn_gid =
        |cn: &[&[u8]], gid: &[&[u8]]| group(vec![attribute("cn", cn), attribute("gidNumber", gid)]);
    let cases = [
        // Plain, and types spelled in another case.
        cn_gid(&[b"g"], &[b"5001"]),
        group(vec![
            attribute("CN", &[b"g"]),
            attribute("GIDNUMBER", &[b"5001"]),
        ]),
        // Several values: the first; other attributes passed over.
        group(vec![
            attribute("memberUid", &[b"alice", b"bob"]),
            attribute("cn", &[b"g", b"h"]),
            attribute("gidNumber", &[b"5001"]),
        ]),
        // Missing, no value, not UTF-8, not a number, out of range.
        group(vec![attribute("cn", &[b"g"])]),
        cn_gid(&[], &[b"5001"]),
        cn_gid(&[b"g"], &[b"50\xff1"]),
        cn_gid(&[b"g", b"\xff"], &[b"5001"]),
        cn_gid(&[b"g"], &[b"five"]),
        cn_gid(&[b"g"], &[b"0"]),
        cn_gid(&[b"bad:name"], &[b"5001"]),
        // Two spellings of one attribute: neither is taken.
        group(vec![
            attribute("cn", &[b"g"]),
            attribute("CN", &[b"h"]),
            attribute("gidNumber", &[b"5001"]),
        ]),
        // Unreadable: a DN that is not UTF-8, a constructed value, an
        // attribute without values.
        entry(b"cn=\xff", vec![attribute("cn", &[b"g"])]),
        group(vec![cons(
            TagClass::Universal,
            16,
            vec![
                octet_string(b"cn"),
                cons(
                    TagClass::Universal,
                    17,
                    vec![cons(TagClass::Universal, 16, vec![])],
                ),
            ],
        )]),
        group(vec![cons(
            TagClass::Universal,
            16,
            vec![octet_string(b"cn")],
        )]),
    ];
    let mut outcomes = Vec::new();
    for tag in cases {
        let [full, octets] = heads_both_ways(&c, tag);
        assert_eq!(full, octets);
        outcomes.push(full);
    }
    // (The cases do differ: served, refused for each reason, unreadable.)
    let g = "cn=g,ou=groups,dc=example,dc=test";
    assert_eq!(outcomes[0], Ok(("g".to_string(), 5001)));
    assert_eq!(outcomes[1], outcomes[0]);
    assert_eq!(outcomes[2], outcomes[0]);
    assert_eq!(
        outcomes[3],
        Err(format!("{g}: missing required attribute gidNumber"))
    );
    assert_eq!(
        outcomes[4],
        Err(format!("{g}: missing required attribute cn"))
    );
    assert_eq!(
        outcomes[5],
        Err(format!(
            "{g}: attribute gidNumber has a value that is not UTF-8"
        ))
    );
    assert_eq!(
        outcomes[6],
        Err(format!("{g}: attribute cn has a value that is not UTF-8"))
    );
    for (k, outcome) in outcomes.iter().enumerate().skip(7) {
        assert!(outcome.is_err(), "case {k}: {outcome:?}");
    }
    assert_eq!(
        outcomes[10],
        Err(format!("{g}: attribute cn is listed under two spellings"))
    );
    assert!(outcomes[11].as_ref().unwrap_err().contains("not UTF-8"));
}
