use super::*;
use crate::config::Config;

const DOMAIN_SID: &str = "S-1-5-21-389706576-2714730196-1825585166";

fn setup(idmap: &str) -> (DomainConfig, DomainSet, Sid) {
    let text = format!(
        "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldaps://dc\"]\nbase_dn = \"DC=ad,DC=example,DC=test\"\n{idmap}\n"
    );
    let cfg = Config::from_str(&text, "roster.toml").unwrap();
    let d = cfg.domains[0].clone();
    let set = DomainSet::new(
        &[(d.name.clone(), d.idmap.settings(), d.min_id, d.max_id)],
        None,
    )
    .unwrap();
    let sid: Sid = DOMAIN_SID.parse().unwrap();
    set.set_domain_sid("ad", sid).unwrap();
    (d, set, sid)
}

fn entry(rid: u32, attrs: &[(&str, &str)]) -> SearchEntry {
    let sid: Sid = format!("{DOMAIN_SID}-{rid}").parse().unwrap();
    SearchEntry {
        dn: format!("CN=u{rid},CN=Users,DC=ad,DC=example,DC=test"),
        attrs: attrs
            .iter()
            .map(|(k, v)| (k.to_string(), vec![v.to_string()]))
            .collect(),
        bin_attrs: ldap3::AttrMap::from_iter([("objectSid".to_string(), vec![sid.to_bytes()])]),
    }
}

const RID: &str = "[domain.idmap]\nbackend = \"rid\"\nrange_low = 100000\nrange_high = 199999";

#[test]
fn rid_backend_maps_object_sid_and_primary_group() {
    let (d, set, sid) = setup(RID);
    let e = entry(
        1103,
        &[
            ("sAMAccountName", "Alice"),
            ("primaryGroupID", "513"),
            ("displayName", "Alice Adams"),
            ("loginShell", "/bin/bash"),
        ],
    );
    let u = ad_user(&d, &set, &sid, &e, SidIds::Allocating).unwrap();
    assert_eq!(u.user.name, "alice");
    assert_eq!((u.user.uid, u.user.gid), (101_103, 100_513));
    assert_eq!(u.user.gecos, "Alice Adams");
    assert_eq!(u.user.home, "/home/ad/alice");
    assert_eq!(u.user.shell, "/bin/bash");
    assert_eq!(u.unique_id.as_deref(), Some(&*format!("{DOMAIN_SID}-1103")));
    // uidNumber is ignored by the rid backend.
    let e = entry(
        1104,
        &[
            ("sAMAccountName", "b"),
            ("primaryGroupID", "513"),
            ("uidNumber", "5"),
        ],
    );
    assert_eq!(
        ad_user(&d, &set, &sid, &e, SidIds::Allocating)
            .unwrap()
            .user
            .uid,
        101_104
    );
    let g = ad_group(
        &d,
        &set,
        &entry(513, &[("sAMAccountName", "Domain Users")]),
        SidIds::Allocating,
    )
    .unwrap();
    assert_eq!(
        (g.group.name.as_str(), g.group.gid),
        ("domain_users", 100_513)
    );
}

#[test]
fn rid_backend_refuses_what_it_cannot_map() {
    let (d, set, sid) = setup(RID);
    let no_pg = entry(1103, &[("sAMAccountName", "a")]);
    assert!(ad_user(&d, &set, &sid, &no_pg, SidIds::Allocating)
        .unwrap_err()
        .contains("primaryGroupID"));
    let out_of_range = entry(
        200_000,
        &[("sAMAccountName", "a"), ("primaryGroupID", "513")],
    );
    assert!(ad_user(&d, &set, &sid, &out_of_range, SidIds::Allocating).is_err());
    let foreign: Sid = "S-1-5-21-1-2-3".parse().unwrap();
    let mut e = entry(1103, &[("sAMAccountName", "a"), ("primaryGroupID", "513")]);
    e.bin_attrs.insert(
        "objectSid".into(),
        vec![foreign.with_rid(1103).unwrap().to_bytes()],
    );
    assert!(
        ad_user(&d, &set, &sid, &e, SidIds::Allocating).is_err(),
        "a SID of another domain"
    );
}

#[test]
fn rfc2307_backend_needs_uid_and_gid_numbers() {
    let (d, set, sid) = setup("");
    let e = entry(
        1103,
        &[
            ("sAMAccountName", "alice"),
            ("uidNumber", "10001"),
            ("gidNumber", "10000"),
            ("unixHomeDirectory", "/srv/alice"),
        ],
    );
    let u = ad_user(&d, &set, &sid, &e, SidIds::Allocating).unwrap();
    assert_eq!((u.user.uid, u.user.gid), (10_001, 10_000));
    assert_eq!(u.user.home, "/srv/alice");
    assert_eq!(u.user.shell, "/bin/sh");
    let bob = entry(
        1104,
        &[("sAMAccountName", "bob"), ("primaryGroupID", "513")],
    );
    let why = ad_user(&d, &set, &sid, &bob, SidIds::Allocating).unwrap_err();
    assert!(why.contains("no uidNumber"), "{why}");
    let g = entry(1105, &[("sAMAccountName", "big")]);
    assert!(ad_group(&d, &set, &g, SidIds::Allocating)
        .unwrap_err()
        .contains("gidNumber"));
    let root = entry(
        1106,
        &[
            ("sAMAccountName", "r"),
            ("uidNumber", "0"),
            ("gidNumber", "0"),
        ],
    );
    assert!(
        ad_user(&d, &set, &sid, &root, SidIds::Allocating).is_err(),
        "uid 0 is refused"
    );
}

#[test]
fn qualified_names_and_templates() {
    let (mut d, set, sid) = setup(RID);
    d.qualified_names = true;
    d.home_directory_template = Some("/home/{domain}/{username}-{uid}".into());
    let e = entry(
        1103,
        &[
            ("sAMAccountName", "Alice"),
            ("primaryGroupID", "513"),
            ("unixHomeDirectory", "/x"),
        ],
    );
    let u = ad_user(&d, &set, &sid, &e, SidIds::Allocating).unwrap();
    assert_eq!(u.user.name, "alice@ad");
    assert_eq!(u.user.home, "/home/ad/alice-101103");
}

#[test]
fn ssh_keys_of_an_ad_user() {
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILRIa+vFP2j+a/LVLtIGdmVPcDOsV7lmR3FT7aR3D4TB test@roster";
    let (d, set, sid) = setup(RID);
    let e = entry(
        1104,
        &[
            ("sAMAccountName", "Kim"),
            ("primaryGroupID", "513"),
            ("sshPublicKey", key),
        ],
    );
    assert_eq!(
        ad_user(&d, &set, &sid, &e, SidIds::Allocating)
            .unwrap()
            .ssh_keys,
        vec![key.to_string()]
    );
    assert!(user_attrs(&d).contains(&"sshPublicKey".to_string()));
}

#[test]
fn overlong_account_names_are_refused_before_conversion() {
    let (d, _, _) = setup(RID);
    let named = |sam: &str| {
        served_name(
            &d,
            &entry(1103, &[("sAMAccountName", sam)]),
            "sAMAccountName",
        )
    };
    // 256 KELVIN SIGNs (3 bytes each, 768 bytes) lower-case to 256 `k`s:
    // the longest value that can still give a name is converted and served.
    assert_eq!(named(&"\u{212A}".repeat(256)).unwrap(), "k".repeat(256));
    // One byte more cannot give a name of at most 256 bytes.
    let err = named(&format!("{}a", "\u{212A}".repeat(256))).unwrap_err();
    assert!(err.contains("769 bytes long"), "{err}");
    // A huge value is refused with its length, not quoted.
    let err = named(&"A".repeat(1 << 20)).unwrap_err();
    assert!(
        err.starts_with("sAMAccountName: ") && err.len() < 100,
        "{err}"
    );
    // Below the bound, check_name decides as before.
    let err = named(&"A".repeat(300)).unwrap_err();
    assert!(err.contains("300 bytes long (at most 256)"), "{err}");
}
