//! DomainSet: validation across domains, the four backends behind one
//! API, reverse mapping, autorid ordering, and `map_lines`.

use proptest::prelude::*;
use roster_idmap::backend::sss::{SssContext, SssError};
use roster_idmap::{map_lines, Backend, DomainSet, IdmapError, IdmapSettings, Sid, SssParams};

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

fn rid(low: u32, high: u32, base: u32, dom: Option<&str>) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Rid,
        range_low: Some(low),
        range_high: Some(high),
        base_rid: Some(base),
        domain_sid: dom.map(sid),
        ..Default::default()
    }
}

fn sss(dom: Option<&str>) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Sss,
        domain_sid: dom.map(sid),
        ..Default::default()
    }
}

fn autorid(low: u32, high: u32, rangesize: u32, det: bool, dom: Option<&str>) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Autorid,
        autorid_low: Some(low),
        autorid_high: Some(high),
        rangesize: Some(rangesize),
        deterministic: Some(det),
        domain_sid: dom.map(sid),
        ..Default::default()
    }
}

fn rfc2307(low: Option<u32>, high: Option<u32>) -> IdmapSettings {
    IdmapSettings {
        range_low: low,
        range_high: high,
        ..Default::default()
    }
}

#[test]
fn overlapping_ranges_name_both_domains_and_the_span() {
    let e = DomainSet::new(
        &[
            ("corp", rid(10_000, 19_999, 0, None), 1000, 0),
            ("lab", rid(15_000, 30_000, 0, None), 1000, 0),
        ],
        None,
    )
    .unwrap_err();
    let msg = e.to_string();
    assert!(
        matches!(
            e,
            IdmapError::RangeOverlap {
                low: 15_000,
                high: 19_999,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("\"corp\"") && msg.contains("\"lab\"") && msg.contains("15000-19999"),
        "{msg}"
    );

    // rid against the default sss pool.
    let e = DomainSet::new(
        &[
            ("ad", sss(None), 1000, 0),
            ("old", rid(1_000_000, 1_099_999, 0, None), 1000, 0),
        ],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("share IDs 1000000-1099999"), "{e}");

    // rfc2307 bounds count too; an rfc2307 domain without range claims nothing.
    assert!(DomainSet::new(
        &[
            ("a", rfc2307(Some(5000), Some(9000)), 1000, 0),
            ("b", rid(9000, 9999, 0, None), 1000, 0)
        ],
        None
    )
    .is_err());
    assert!(DomainSet::new(
        &[
            ("a", rfc2307(None, None), 1000, 0),
            ("b", rid(9000, 9999, 0, None), 1000, 0)
        ],
        None
    )
    .is_ok());

    // Touching ranges are fine.
    assert!(DomainSet::new(
        &[
            ("a", rid(10_000, 19_999, 0, None), 1000, 0),
            ("b", rid(20_000, 29_999, 0, None), 1000, 0)
        ],
        None
    )
    .is_ok());
}

#[test]
fn ranges_below_min_id_and_bad_settings_are_refused() {
    let e = DomainSet::new(&[("corp", rid(500, 19_999, 0, None), 1000, 0)], None).unwrap_err();
    assert!(
        e.to_string().contains("corp") && e.to_string().contains("below min_id 1000"),
        "{e}"
    );
    let e = DomainSet::new(&[("corp", rid(20_000, 19_999, 0, None), 1000, 0)], None).unwrap_err();
    assert!(e.to_string().contains("above range_high"), "{e}");
    let e = DomainSet::new(&[("corp", rid(10_000, 19_999, 0, None), 50_000, 0)], None).unwrap_err();
    assert!(e.to_string().contains("below min_id 50000"), "{e}");
    let e = DomainSet::new(
        &[
            ("a", rid(10_000, 19_999, 0, None), 1000, 0),
            ("A", rid(20_000, 29_999, 0, None), 1000, 0),
        ],
        None,
    )
    .unwrap_err();
    assert!(matches!(e, IdmapError::DuplicateDomain(_)), "{e}");
    let e = DomainSet::new(
        &[("a", autorid(10_000, 10_099, 1000, false, None), 1000, 0)],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("does not hold one range"), "{e}");
}

#[test]
fn rid_domain_maps_both_ways_once_its_sid_is_known() {
    let set = DomainSet::new(&[("corp", rid(10_000, 19_999, 1000, None), 1000, 0)], None).unwrap();
    let d = sid("S-1-5-21-1-2-3");
    assert!(matches!(
        set.uid_for_sid(&d.with_rid(1500).unwrap()),
        Err(IdmapError::NoDomainForSid(_))
    ));
    assert!(matches!(
        set.resolve_id(10_500),
        Err(IdmapError::DomainSidUnknown { .. })
    ));
    set.set_domain_sid("CORP", d).unwrap();
    set.set_domain_sid("corp", d).unwrap();
    assert_eq!(set.uid_for_sid(&d.with_rid(1500).unwrap()).unwrap(), 10_500);
    assert_eq!(set.gid_for_sid(&d.with_rid(1000).unwrap()).unwrap(), 10_000);
    assert!(matches!(
        set.uid_for_sid(&d.with_rid(999).unwrap()),
        Err(IdmapError::RidOutOfRange { rid: 999, .. })
    ));
    assert!(set.uid_for_sid(&d.with_rid(11_000).unwrap()).is_err());
    assert_eq!(set.sid_for_id(10_500), Some(d.with_rid(1500).unwrap()));
    assert_eq!(set.sid_for_id(9_999), None);
    assert!(matches!(
        set.resolve_id(20_000),
        Err(IdmapError::IdNotInAnyRange(20_000))
    ));
    assert_eq!(set.domain_of_sid(&d.with_rid(5).unwrap()), Some("corp"));
    let e = set
        .set_domain_sid("corp", sid("S-1-5-21-9-9-9"))
        .unwrap_err();
    assert!(matches!(e, IdmapError::DomainSidConflict { .. }), "{e}");
    assert!(matches!(
        set.set_domain_sid("nope", d),
        Err(IdmapError::UnknownDomain(_))
    ));
    assert!(matches!(
        set.uid_for_sid(&sid("S-1-5")),
        Err(IdmapError::NoRid(_))
    ));
}

#[test]
fn one_sid_is_never_two_domains() {
    let d = "S-1-5-21-1-2-3";
    let e = DomainSet::new(
        &[
            ("a", rid(10_000, 19_999, 0, Some(d)), 1000, 0),
            ("b", rid(20_000, 29_999, 0, Some(d)), 1000, 0),
        ],
        None,
    )
    .unwrap_err();
    assert!(matches!(e, IdmapError::SidInUse { .. }), "{e}");
}

#[test]
fn rfc2307_ids_are_checked_never_root() {
    let set = DomainSet::new(
        &[
            ("ldap", rfc2307(None, None), 1000, 60_000),
            (
                "ad",
                rid(100_000, 199_999, 0, Some("S-1-5-21-1-2-3")),
                1000,
                0,
            ),
        ],
        None,
    )
    .unwrap();
    let e = set.check_posix_id("ldap", 0).unwrap_err();
    assert!(e.to_string().contains("root"), "{e}");
    assert!(set.check_posix_id("ldap", 999).is_err());
    assert!(set.check_posix_id("ldap", 60_001).is_err());
    assert_eq!(set.check_posix_id("ldap", 5000).unwrap(), 5000);
    assert!(set.check_posix_id("nope", 5000).is_err());
    let set = DomainSet::new(
        &[
            ("ldap", rfc2307(None, None), 1000, 0),
            (
                "ad",
                rid(100_000, 199_999, 0, Some("S-1-5-21-1-2-3")),
                1000,
                0,
            ),
        ],
        None,
    )
    .unwrap();
    let e = set.check_posix_id("ldap", 150_000).unwrap_err();
    assert!(e.to_string().contains("\"ad\""), "{e}");
    let e = set.uid_for_sid(&sid("S-1-5-21-7-7-7-1000")).unwrap_err();
    assert!(matches!(e, IdmapError::NoDomainForSid(_)));
    set.set_domain_sid("ldap", sid("S-1-5-21-7-7-7")).unwrap();
    let e = set.uid_for_sid(&sid("S-1-5-21-7-7-7-1000")).unwrap_err();
    assert!(matches!(e, IdmapError::NotAlgorithmic { .. }), "{e}");
}

#[test]
fn sss_domains_share_one_context_like_sssd() {
    let a = sid("S-1-5-21-3623811015-3361044348-30300820");
    let b = sid("S-1-5-21-1004336348-1177238915-682003330");
    let set = DomainSet::new(
        &[
            ("a", sss(Some(&a.to_string())), 1000, 0),
            ("b", sss(None), 1000, 0),
        ],
        None,
    )
    .unwrap();
    set.set_domain_sid("b", b).unwrap();
    let mut ctx = SssContext::new(SssParams::default());
    ctx.add_domain("a", &a).unwrap();
    ctx.add_domain("b", &b).unwrap();
    for d in [a, b] {
        for r in [0u32, 500, 199_999, 200_000, 1_000_000, 4_000_000] {
            let s = d.with_rid(r).unwrap();
            let id = set.uid_for_sid(&s).unwrap();
            assert_eq!(id, ctx.sid_to_id(&s).unwrap());
            assert_eq!(set.sid_for_id(id), Some(s));
        }
    }
    let e = set.set_domain_sid("a", b).unwrap_err();
    assert!(matches!(e, IdmapError::DomainSidConflict { .. }), "{e}");
}

#[test]
fn sss_secondary_slices_can_collide_as_in_libsss_idmap() {
    // Two precomputed secondary slices of this domain hash to the same
    // slice; libsss_idmap 2.8 answers IDMAP_COLLISION for the second one
    // used (checked with tests/sss_harness.c), and so does roster.
    let d = sid("S-1-5-21-2771841865-139231593-272897327");
    let set = DomainSet::new(&[("sss", sss(Some(&d.to_string())), 1000, 0)], None).unwrap();
    assert_eq!(
        set.uid_for_sid(&d.with_rid(1_800_000).unwrap()).unwrap(),
        1_786_600_000
    );
    let e = set
        .uid_for_sid(&d.with_rid(1_600_000).unwrap())
        .unwrap_err();
    assert!(
        matches!(
            e,
            IdmapError::Sss {
                source: SssError::Collision,
                ..
            }
        ),
        "{e}"
    );
    assert!(e.to_string().contains("IDMAP_COLLISION"), "{e}");
}

fn det_sids(n: u32) -> Vec<Sid> {
    (0..n)
        .map(|i| {
            sid(&format!(
                "S-1-5-21-{}-{}-{}",
                1000 + i,
                77 * i + 3,
                99_991 * i + 7
            ))
        })
        .collect()
}

fn autorid_set(det: bool, order: &[Sid], dir: Option<&std::path::Path>) -> (DomainSet, Vec<u32>) {
    let names: Vec<String> = (0..order.len()).map(|i| format!("d{i}")).collect();
    let cfg: Vec<(String, IdmapSettings, u32, u32)> = names
        .iter()
        .map(|n| {
            (
                n.clone(),
                autorid(
                    1_000_000,
                    1_000_000 + 10_000 * 100_000 - 1,
                    100_000,
                    det,
                    None,
                ),
                1000,
                0,
            )
        })
        .collect();
    let set = DomainSet::new(&cfg, dir).unwrap();
    // Each domain keeps its SID (its name follows from the SID); only
    // the order they are met in changes.
    let mut sorted = order.to_vec();
    sorted.sort();
    for s in order {
        let i = sorted.iter().position(|x| x == s).unwrap();
        set.set_domain_sid(&names[i], *s).unwrap();
    }
    let ids = sorted
        .iter()
        .flat_map(|s| [s.with_rid(500).unwrap(), s.with_rid(250_000).unwrap()])
        .map(|s| set.uid_for_sid(&s).unwrap())
        .collect();
    (set, ids)
}

#[test]
fn deterministic_autorid_ignores_order_first_seen_does_not() {
    let sids = det_sids(20);
    let mut rev = sids.clone();
    rev.reverse();
    let d1 = tempfile::tempdir().unwrap();
    let d2 = tempfile::tempdir().unwrap();
    let (_, fwd) = autorid_set(true, &sids, Some(d1.path()));
    let (_, bwd) = autorid_set(true, &rev, Some(d2.path()));
    assert_eq!(fwd, bwd, "deterministic mode must not depend on order");
    let (_, fwd) = autorid_set(false, &sids, None);
    let (_, bwd) = autorid_set(false, &rev, None);
    assert_ne!(
        fwd, bwd,
        "first-seen mode depends on order (the documented trade-off)"
    );
    // And a store reopened gives the same answers.
    let (set, before) = autorid_set(true, &sids, Some(d1.path()));
    drop(set);
    let (_, after) = autorid_set(true, &sids, Some(d1.path()));
    assert_eq!(before, after);
}

#[test]
fn deterministic_autorid_config_order_does_not_matter_even_on_collisions() {
    // Three ranges for three domains: hash collisions are all but certain.
    let sids = det_sids(3);
    let cfg = |order: &[usize]| -> Vec<(String, IdmapSettings, u32, u32)> {
        order
            .iter()
            .map(|i| {
                (
                    format!("d{i}"),
                    autorid(10_000, 12_999, 1000, true, Some(&sids[*i].to_string())),
                    1000,
                    0,
                )
            })
            .collect()
    };
    let a = DomainSet::new(&cfg(&[0, 1, 2]), None).unwrap();
    let b = DomainSet::new(&cfg(&[2, 0, 1]), None).unwrap();
    for s in &sids {
        let x = s.with_rid(7).unwrap();
        assert_eq!(a.uid_for_sid(&x).unwrap(), b.uid_for_sid(&x).unwrap());
    }
}

#[test]
fn map_lines_answers_each_line() {
    let d = "S-1-5-21-1-2-3";
    let set = DomainSet::new(&[("corp", rid(10_000, 19_999, 0, Some(d)), 1000, 0)], None).unwrap();
    let input =
        format!("{d}-500\n10007\n\nhello\n{d}-20000\nS-1-5-21-x\n99999999999\n  {d}-1  \r\n5\n");
    let mut out = Vec::new();
    let sum = map_lines(&set, input.as_bytes(), &mut out).unwrap();
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], format!("{d}-500\t10500"));
    assert_eq!(lines[1], format!("10007\t{d}-7"));
    assert!(
        lines[2].starts_with("hello\t-\tneither a SID"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with(&format!("{d}-20000\t-\tdomain \"corp\": RID 20000")),
        "{}",
        lines[3]
    );
    assert!(lines[4].starts_with("S-1-5-21-x\t-\tSID"), "{}", lines[4]);
    assert!(lines[5].starts_with("99999999999\t-\t"), "{}", lines[5]);
    assert_eq!(lines[6], format!("{d}-1\t10001"));
    assert_eq!(lines[7], "5\t-\tID 5 is in no domain's range");
    assert_eq!(lines.len(), 8);
    for l in &lines[2..6] {
        assert_eq!(l.split('\t').count(), 3, "{l}");
    }
    assert_eq!((sum.mapped, sum.unmapped, sum.invalid), (3, 2, 3));
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn map_lines_answers_every_line_whatever_it_holds(lines in proptest::collection::vec("[ -~\t]{0,40}|S-1-5-21-[0-9-]{0,30}|[0-9]{1,12}", 0..30)) {
        let set = DomainSet::new(&[("corp", rid(10_000, 19_999, 0, Some("S-1-5-21-1-2-3")), 1000, 0)], None).unwrap();
        let input = lines.join("\n");
        let mut out = Vec::new();
        let sum = map_lines(&set, input.as_bytes(), &mut out).unwrap();
        let out = String::from_utf8(out).unwrap();
        let expected = lines.iter().filter(|l| !l.trim().is_empty()).count();
        prop_assert_eq!(out.lines().count(), expected);
        prop_assert_eq!((sum.mapped + sum.unmapped + sum.invalid) as usize, expected);
        for l in out.lines() {
            let n = l.split('\t').count();
            prop_assert!(n == 2 || (n == 3 && l.split('\t').nth(1) == Some("-")), "{:?}", l);
        }
    }

    #[test]
    fn sid_string_and_binary_round_trip(auth in 0u64..(1 << 48), subs in proptest::collection::vec(any::<u32>(), 0..=15)) {
        let s = Sid::new(auth, &subs).unwrap();
        let text = s.to_string();
        prop_assert_eq!(text.parse::<Sid>().unwrap(), s);
        prop_assert_eq!(Sid::from_bytes(&s.to_bytes()).unwrap(), s);
        prop_assert_eq!(s.to_bytes().len(), 8 + 4 * subs.len());
        if let Some((d, r)) = s.split() {
            prop_assert_eq!(d.with_rid(r).unwrap(), s);
        }
    }

    #[test]
    fn garbage_never_panics(text in ".{0,80}", bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
        let _ = text.parse::<Sid>();
        let _ = Sid::from_bytes(&bytes);
    }

    #[test]
    fn sid_id_sid_round_trips(a in any::<u32>(), b in any::<u32>(), c in any::<u32>(), rids in proptest::collection::vec(0u32..3_000_000, 1..20)) {
        let d = Sid::new(5, &[21, a, b, c]).unwrap();
        let other = Sid::new(5, &[21, b, c, a ^ 1]).unwrap();
        prop_assume!(d != other);
        let set = DomainSet::new(
            &[
                ("rid", rid(2_100_000_000, 2_105_000_000, 0, Some(&d.to_string())), 1000, 0),
                ("sss", sss(Some(&other.to_string())), 1000, 0),
            ],
            None,
        ).unwrap();
        let third = Sid::new(5, &[21, c, a, b ^ 2]).unwrap();
        prop_assume!(third != d && third != other);
        let auto = DomainSet::new(
            &[("auto", autorid(3_000_000_000, 3_999_999_999, 100_000, false, Some(&third.to_string())), 1000, 0)],
            None,
        ).unwrap();
        for r in rids {
            for (set, dom) in [(&set, d), (&set, other), (&auto, third)] {
                let s = dom.with_rid(r).unwrap();
                let id = match set.uid_for_sid(&s) {
                    Ok(id) => id,
                    // libsss_idmap refuses a secondary slice that collides
                    // with one already in use (see
                    // sss_secondary_slices_can_collide_as_in_libsss_idmap).
                    Err(IdmapError::Sss { source: SssError::Collision, .. }) if dom == other => continue,
                    Err(e) => return Err(TestCaseError::fail(format!("{s}: {e}"))),
                };
                prop_assert_eq!(set.gid_for_sid(&s).unwrap(), id);
                prop_assert_eq!(set.sid_for_id(id), Some(s));
            }
        }
    }
}

#[test]
fn cached_answers_equal_uncached_ones() {
    // DomainSet caches settled blocks and slots without locks; its answers,
    // asked twice, must equal a bare SssContext's and each other.
    let a = sid("S-1-5-21-11-22-33");
    let b = sid("S-1-5-21-44-55-66");
    let small = IdmapSettings {
        backend: Backend::Sss,
        range_min: Some(100_000),
        range_max: Some(100_000 + 300 * 10_000),
        range_size: Some(10_000),
        helper_table_size: Some(4),
        ..Default::default()
    };
    let set = DomainSet::new(
        &[("a", small.clone(), 1000, 0), ("b", small, 1000, 0)],
        None,
    )
    .unwrap();
    set.set_domain_sid("a", a).unwrap();
    set.set_domain_sid("b", b).unwrap();
    let mut ctx = SssContext::new(SssParams {
        range_min: 100_000,
        range_max: 100_000 + 300 * 10_000,
        range_size: 10_000,
        autorid_compat: false,
        helper_table_size: 4,
    });
    ctx.add_domain("a", &a).unwrap();
    ctx.add_domain("b", &b).unwrap();
    let mut x: u64 = 12345;
    for round in 0..2 {
        for i in 0..3000u32 {
            x = x
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let d = if i % 2 == 0 { a } else { b };
            let rid = ((x >> 33) as u32) % 1_500_000;
            let s = d.with_rid(rid).unwrap();
            let want = if round == 0 {
                ctx.sid_to_id(&s).ok()
            } else {
                ctx.lookup_id(&s).and_then(|r| r.ok())
            };
            let got = set.uid_for_sid(&s).ok();
            assert_eq!(got, want, "round {round}, {s}");
            if let Some(id) = got {
                assert_eq!(set.sid_for_id(id), Some(s), "round {round}, id {id}");
            }
        }
    }
    let autos = DomainSet::new(
        &[(
            "x",
            autorid(5_000_000, 5_999_999, 1000, false, Some("S-1-5-21-9-8-7")),
            1000,
            0,
        )],
        None,
    )
    .unwrap();
    let d = sid("S-1-5-21-9-8-7");
    let first: Vec<u32> = (0..200u32)
        .map(|r| autos.uid_for_sid(&d.with_rid(r * 997).unwrap()).unwrap())
        .collect();
    let second: Vec<u32> = (0..200u32)
        .map(|r| autos.uid_for_sid(&d.with_rid(r * 997).unwrap()).unwrap())
        .collect();
    assert_eq!(first, second);
    for (r, id) in first.iter().enumerate() {
        assert_eq!(
            autos.sid_for_id(*id),
            Some(d.with_rid(r as u32 * 997).unwrap())
        );
        assert_eq!(
            autos.sid_for_id(*id),
            Some(d.with_rid(r as u32 * 997).unwrap())
        );
    }
}

#[test]
fn first_seen_autorid_is_stable_across_restarts_in_any_order() {
    let dir = tempfile::tempdir().unwrap();
    let sids = det_sids(4);
    let (_, before) = autorid_set(false, &sids, Some(dir.path()));
    // After a restart the domains show up in another order: the recorded
    // ranges win, nothing moves.
    let mut other = sids.clone();
    other.rotate_left(2);
    let (_, after) = autorid_set(false, &other, Some(dir.path()));
    assert_eq!(before, after);
    // Without the store, that order would have given other IDs.
    let (_, fresh) = autorid_set(false, &other, None);
    assert_ne!(before, fresh);
}

#[test]
fn mapped_ids_never_allocate_nor_wait_for_the_lock_file() {
    let dir = tempfile::tempdir().unwrap();
    let dom = det_sids(1)[0];
    let (set, _) = autorid_set(false, &[dom], Some(dir.path()));
    let set = std::sync::Arc::new(set);
    let known = dom.with_rid(500).unwrap();
    let new = dom.with_rid(750_000).unwrap();
    assert!(!set.needs_allocation(&known));
    assert_eq!(
        set.mapped_id_for_sid(&known).unwrap(),
        set.uid_for_sid(&known).unwrap()
    );
    assert!(set.needs_allocation(&new));
    assert!(matches!(
        set.mapped_id_for_sid(&new),
        Err(roster_idmap::IdmapError::BlockUnallocated { sid }) if sid == new
    ));
    // Another process holds the pool's lock file: what is mapped is
    // still answered, and asking about the new block allocates nothing.
    let held = roster_idmap::store::StateFile::new(dir.path(), "autorid-1000000", false)
        .unwrap()
        .lock()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let s = set.clone();
    std::thread::spawn(move || {
        let _ = tx.send((
            s.mapped_id_for_sid(&known).ok(),
            s.needs_allocation(&new),
            s.mapped_resolve_id(s.mapped_id_for_sid(&known).unwrap())
                .ok(),
        ));
    });
    let (id, pending, back) = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("mapped lookups waited for the lock file");
    assert_eq!(id, Some(set.uid_for_sid(&known).unwrap()));
    assert!(pending);
    assert_eq!(back, Some(known));
    // Once the lock is let go, the allocation maps the block.
    let (tx, rx) = std::sync::mpsc::channel();
    let s = set.clone();
    std::thread::spawn(move || {
        let _ = tx.send(s.uid_for_sid(&new).map_err(|e| e.to_string()));
    });
    drop(held);
    let id = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the allocation ended")
        .unwrap();
    assert!(!set.needs_allocation(&new));
    assert_eq!(set.mapped_id_for_sid(&new).unwrap(), id);
}
