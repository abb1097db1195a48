use super::*;

fn entry(text: &[(&str, &[&str])], bin: &[(&str, Vec<Vec<u8>>)]) -> SearchEntry {
    SearchEntry {
        dn: "CN=x,CN=Users,DC=ad,DC=example,DC=test".into(),
        attrs: text
            .iter()
            .map(|(k, v)| (k.to_string(), v.iter().map(|s| s.to_string()).collect()))
            .collect(),
        bin_attrs: bin
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    }
}

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

#[test]
fn object_sid_is_read_from_binary_or_utf8_values() {
    // A SID whose bytes are not UTF-8 arrives in bin_attrs ...
    let dom = sid("S-1-5-21-389706576-2714730196-1825585166-1103");
    let e = entry(&[], &[("objectSid", vec![dom.to_bytes()])]);
    assert_eq!(object_sid(&e).unwrap(), dom);
    // ... one that is valid UTF-8 (all bytes < 0x80) arrives as text.
    let builtin = sid("S-1-5-32-545");
    let as_text = String::from_utf8(builtin.to_bytes()).unwrap();
    let e = entry(&[("objectsid", &[as_text.as_str()])], &[]);
    assert_eq!(object_sid(&e).unwrap(), builtin);
    let e = entry(&[], &[("objectSid", vec![vec![1, 2, 3]])]);
    assert!(object_sid(&e).unwrap_err().contains("not a valid SID"));
    assert!(object_sid(&entry(&[], &[]))
        .unwrap_err()
        .contains("missing"));
}

#[test]
fn token_groups_decode_every_valid_sid() {
    let a = sid("S-1-5-21-1-2-3-513");
    let b = sid("S-1-5-21-1-2-3-4107");
    let builtin = sid("S-1-5-32-545");
    let e = entry(
        &[(
            "tokenGroups",
            &[&String::from_utf8(builtin.to_bytes()).unwrap()],
        )],
        &[("tokenGroups", vec![a.to_bytes(), vec![9, 9], b.to_bytes()])],
    );
    let mut got = token_group_sids(&e);
    got.sort_by_key(|s| s.to_string());
    let mut want = vec![a, b, builtin];
    want.sort_by_key(|s| s.to_string());
    assert_eq!(got, want);
}

#[test]
fn primary_group_is_domain_sid_plus_rid() {
    let dom = sid("S-1-5-21-1-2-3");
    assert_eq!(
        primary_group_sid(&dom, "513").unwrap(),
        sid("S-1-5-21-1-2-3-513")
    );
    assert!(primary_group_sid(&dom, "x").is_err());
    assert!(primary_group_sid(&dom, "-1").is_err());
}

#[test]
fn user_account_control_flags_and_signed_values() {
    assert_eq!(uac_flags("514"), Some(514));
    assert_eq!(uac_flags("-2147483646"), Some(0x8000_0002));
    assert_eq!(uac_flags("nope"), None);
    let s = account_state(&entry(&[("userAccountControl", &["514"])], &[]));
    assert!(s.disabled && !s.locked);
    let s = account_state(&entry(&[("userAccountControl", &["528"])], &[]));
    assert!(!s.disabled && s.locked);
    let s = account_state(&entry(&[("userAccountControl", &["512"])], &[]));
    assert_eq!(s, AdAccountState::default());
}

#[test]
fn filetime_never_values_and_conversion() {
    assert_eq!(filetime_to_unix(0), None);
    assert_eq!(filetime_to_unix(i64::MAX), None);
    assert_eq!(filetime_to_unix(116_444_736_000_000_000), Some(0));
    // 2010-11-13 ... : 129000000000000000 / 1e7 - 11644473600
    assert_eq!(
        filetime_to_unix(129_000_000_000_000_000),
        Some(1_255_526_400)
    );
    let s = account_state(&entry(
        &[
            ("accountExpires", &["129000000000000000"]),
            ("pwdLastSet", &["0"]),
        ],
        &[],
    ));
    assert_eq!(s.expires_at, Some(1_255_526_400));
    assert!(s.must_change);
    let s = account_state(&entry(
        &[
            ("accountExpires", &["9223372036854775807"]),
            ("pwdLastSet", &["134399263325538160"]),
        ],
        &[],
    ));
    assert_eq!(s.expires_at, None);
    assert!(!s.must_change);
}

#[test]
fn ranged_attribute_descriptions() {
    assert_eq!(
        parse_range("member;range=0-1499", "member"),
        Some(Range {
            low: 0,
            high: Some(1499)
        })
    );
    assert_eq!(
        parse_range("MEMBER;Range=1500-*", "member"),
        Some(Range {
            low: 1500,
            high: None
        })
    );
    assert_eq!(parse_range("member", "member"), None);
    assert_eq!(parse_range("memberOf;range=0-1", "member"), None);
    assert_eq!(parse_range("member;range=a-1", "member"), None);

    let e = entry(&[("member;range=0-1", &["a", "b"])], &[]);
    assert_eq!(
        range_window(&e, "member"),
        (vec!["a".into(), "b".into()], Some(2))
    );
    let e = entry(&[("member;range=2-*", &["c"])], &[]);
    assert_eq!(range_window(&e, "member"), (vec!["c".into()], None));
    let e = entry(&[("member", &["a"])], &[]);
    assert_eq!(range_window(&e, "member"), (vec!["a".into()], None));
    assert_eq!(range_window(&entry(&[], &[]), "member"), (vec![], None));
}

#[test]
fn input_names_upn_and_down_level() {
    let f = |i| short_input_name(i, "ad.example.test", "ad", Some("ADEXAMPLE"));
    assert_eq!(f("alice"), Some("alice"));
    assert_eq!(f("alice@AD.EXAMPLE.TEST"), Some("alice"));
    assert_eq!(f("alice@ad"), Some("alice"));
    assert_eq!(f("adexample\\Alice"), Some("Alice"));
    assert_eq!(f("alice@other.test"), None);
    assert_eq!(f("OTHER\\alice"), None);
    assert_eq!(f("ADEXAMPLE\\"), None);
}

#[test]
fn output_names_are_lower_case_without_spaces() {
    assert_eq!(output_name("Alice", false, "ad"), "alice");
    assert_eq!(output_name("Domain Users", false, "ad"), "domain_users");
    assert_eq!(
        output_name("Alice", true, "ad.example.test"),
        "alice@ad.example.test"
    );
    assert_eq!(
        account_name_candidates("domain_users"),
        ["domain_users", "domain users"]
    );
    assert_eq!(account_name_candidates("alice"), ["alice"]);
}
