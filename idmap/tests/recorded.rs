//! Issue 10 item 5: sss slices and autorid allocations are recorded in the
//! state directory and reused after a restart whatever order domains
//! answer in; a recorded table that disagrees with the configuration is
//! refused naming the domain and `rosterctl idmap reset`; the reset works.

use roster_idmap::murmur::{murmurhash3_x86_32, SSS_SEED};
use roster_idmap::store::reset_domain;
use roster_idmap::{Backend, DomainSet, IdmapError, IdmapSettings, Sid};
use std::path::Path;

const SLICES: u32 = 100;

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

/// Two domain SIDs whose primary slices hash to the same slice, and a
/// third one.
fn colliding() -> [Sid; 3] {
    let home = |s: &str| murmurhash3_x86_32(s.as_bytes(), SSS_SEED) % SLICES;
    let a = "S-1-5-21-100-200-300".to_string();
    let b = (301..)
        .map(|i| format!("S-1-5-21-100-200-{i}"))
        .find(|s| home(s) == home(&a))
        .unwrap();
    [sid(&a), sid(&b), sid("S-1-5-21-7-8-9")]
}

fn sss(range_size: u32) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Sss,
        range_min: Some(200_000),
        range_max: Some(200_000 + SLICES * range_size),
        range_size: Some(range_size),
        helper_table_size: Some(2),
        ..Default::default()
    }
}

fn autorid(rangesize: u32) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Autorid,
        autorid_low: Some(50_000_000),
        autorid_high: Some(50_000_000 + 20 * rangesize - 1),
        rangesize: Some(rangesize),
        ..Default::default()
    }
}

/// Domains `s0..s2` (sss) and `a0..a2` (autorid), SIDs learnt at run time
/// in `order`; returns the dump of every mapped object SID and ID.
fn run(dir: &Path, order: &[usize], size: u32) -> Result<Vec<String>, IdmapError> {
    let sids = colliding();
    let auto: Vec<Sid> = sids
        .iter()
        .map(|s| sid(&format!("{s}").replace("S-1-5-21-", "S-1-5-21-9")))
        .collect();
    let mut cfg = Vec::new();
    for i in 0..3 {
        cfg.push((format!("s{i}"), sss(size), 1000, 0));
    }
    for i in 0..3 {
        cfg.push((format!("a{i}"), autorid(100_000), 1000, 0));
    }
    let set = DomainSet::new(&cfg, Some(dir))?;
    let mut dump = Vec::new();
    for &i in order {
        set.set_domain_sid(&format!("s{i}"), sids[i])?;
        set.set_domain_sid(&format!("a{i}"), auto[i])?;
    }
    for i in 0..3 {
        for rid in [0, 513, size + 5, 2 * size + 9] {
            for s in [sids[i].with_rid(rid)?, auto[i].with_rid(rid)?] {
                let id = set.uid_for_sid(&s)?;
                dump.push(format!("{s} {id} {}", set.resolve_id(id)?));
            }
        }
    }
    Ok(dump)
}

#[test]
fn restart_in_another_order_gives_identical_dumps() {
    let dir = tempfile::tempdir().unwrap();
    let before = run(dir.path(), &[0, 1, 2], 200_000).unwrap();
    let after = run(dir.path(), &[2, 1, 0], 200_000).unwrap();
    assert_eq!(before, after);
    // Without the record, the second order gives other IDs (the colliding
    // domains swap slices): the test can fail.
    let fresh = tempfile::tempdir().unwrap();
    let other = run(fresh.path(), &[2, 1, 0], 200_000).unwrap();
    assert_ne!(before, other);
    // A restart where the domains' servers are down: recorded SIDs still map.
    let cfg: Vec<(String, IdmapSettings, u32, u32)> = vec![
        ("s1".into(), sss(200_000), 1000, 0),
        ("s0".into(), sss(200_000), 1000, 0),
    ];
    let set = DomainSet::new(&cfg, Some(dir.path())).unwrap();
    let x = colliding()[1].with_rid(513).unwrap();
    let line = before
        .iter()
        .find(|l| l.starts_with(&format!("{x} ")))
        .unwrap();
    assert_eq!(
        set.uid_for_sid(&x).unwrap().to_string(),
        line.split(' ').nth(1).unwrap()
    );
}

#[test]
fn changed_ranges_are_refused_naming_the_domain_and_reset_forgets_it() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[0, 1, 2], 200_000).unwrap();
    let e = run(dir.path(), &[0, 1, 2], 100_000).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, IdmapError::Recorded { .. }), "{msg}");
    assert!(msg.contains("domain \"s0\""), "{msg}");
    assert!(msg.contains("rosterctl idmap reset s0"), "{msg}");
    assert!(msg.contains("range_size 200000"), "{msg}");
    for d in ["s0", "s1", "s2"] {
        let done = reset_domain(dir.path(), d, None).unwrap();
        assert_eq!(done.len(), 1, "{done:?}");
    }
    run(dir.path(), &[0, 1, 2], 100_000).unwrap();

    // autorid: a changed rangesize names the domain too.
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[0, 1, 2], 200_000).unwrap();
    let mut cfg = Vec::new();
    for i in 0..3 {
        cfg.push((format!("a{i}"), autorid(50_000), 1000, 0));
    }
    let e = DomainSet::new(&cfg, Some(dir.path())).unwrap_err();
    let msg = e.to_string();
    assert!(msg.contains("rosterctl idmap reset a0"), "{msg}");
    for d in ["a0", "a1", "a2"] {
        assert!(!reset_domain(dir.path(), d, None).unwrap().is_empty());
    }
    DomainSet::new(&cfg, Some(dir.path())).unwrap();
}

#[test]
fn a_configured_sid_that_differs_from_the_recorded_one_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[0, 1, 2], 200_000).unwrap();
    let mut s = sss(200_000);
    s.domain_sid = Some(sid("S-1-5-21-4-4-4"));
    let e = DomainSet::new(&[("s1", s, 1000, 0)], Some(dir.path())).unwrap_err();
    assert!(e.to_string().contains("domain \"s1\""), "{e}");
    assert!(e.to_string().contains("idmap reset s1"), "{e}");
}

#[test]
fn a_moved_autorid_pool_is_refused_naming_the_domain() {
    let dir = tempfile::tempdir().unwrap();
    run(dir.path(), &[0, 1, 2], 200_000).unwrap();
    let mut moved = autorid(100_000);
    moved.autorid_low = Some(60_000_000);
    moved.autorid_high = Some(60_000_000 + 20 * 100_000 - 1);
    let e = DomainSet::new(&[("a1", moved, 1000, 0)], Some(dir.path())).unwrap_err();
    let msg = e.to_string();
    assert!(
        msg.contains("domain \"a1\"") && msg.contains("autorid_low 60000000"),
        "{msg}"
    );
    assert!(msg.contains("rosterctl idmap reset a1"), "{msg}");
    let e = DomainSet::new(&[("a2", sss(200_000), 1000, 0)], Some(dir.path())).unwrap_err();
    assert!(e.to_string().contains("backend \"sss\""), "{e}");
    reset_domain(dir.path(), "a1", None).unwrap();
    let mut moved = autorid(100_000);
    moved.autorid_low = Some(60_000_000);
    moved.autorid_high = Some(60_000_000 + 20 * 100_000 - 1);
    DomainSet::new(&[("a1", moved, 1000, 0)], Some(dir.path())).unwrap();
}
