//! Issue 18: deterministic autorid gives every host the same IDs, whatever
//! the order of the `[[domain]]` tables and of the SIDs met, including
//! domains whose blocks hash to the same slot.

use roster_idmap::murmur::{murmurhash3_x86_32, SSS_SEED};
use roster_idmap::{Backend, DomainSet, IdmapSettings, Sid};

const LOW: u32 = 1_000_000;
const RANGESIZE: u32 = 1000;
const SLOTS: u32 = 64;
const BLOCKS: u32 = 4;

fn sid(s: &str) -> Sid {
    s.parse().unwrap()
}

/// Eight domain SIDs, the first two built so that their primary blocks
/// hash to the same slot.
fn domains() -> Vec<Sid> {
    let mut v: Vec<Sid> = Vec::new();
    let home = |s: &str| murmurhash3_x86_32(s.as_bytes(), SSS_SEED) % SLOTS;
    let first = "S-1-5-21-3926226244-1-1".to_string();
    let target = home(&first);
    v.push(sid(&first));
    let twin = (2..)
        .map(|i| format!("S-1-5-21-3926226244-{i}-1"))
        .find(|s| home(s) == target)
        .unwrap();
    v.push(sid(&twin));
    for i in 0..6 {
        v.push(sid(&format!(
            "S-1-5-21-{}-{}-{}",
            500 + i,
            77 * i + 3,
            991 * i + 7
        )));
    }
    v
}

fn settings(dom: &Sid) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Autorid,
        autorid_low: Some(LOW),
        autorid_high: Some(LOW + SLOTS * RANGESIZE - 1),
        rangesize: Some(RANGESIZE),
        deterministic: Some(true),
        deterministic_blocks: Some(BLOCKS),
        domain_sid: Some(*dom),
        ..Default::default()
    }
}

/// Every object SID the test maps: RIDs in each of the blocks.
fn objects(doms: &[Sid]) -> Vec<Sid> {
    doms.iter()
        .flat_map(|d| {
            [5, 999, 1007, 2500, 3999]
                .into_iter()
                .map(move |r| d.with_rid(r).unwrap())
        })
        .collect()
}

/// A simple deterministic shuffle (no RNG dependency needed).
fn shuffled<T: Clone>(v: &[T], seed: u64) -> Vec<T> {
    let mut out = v.to_vec();
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    for i in (1..out.len()).rev() {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let j = (x >> 33) as usize % (i + 1);
        out.swap(i, j);
    }
    out
}

/// One host: domains configured in `order`, SIDs met in `meet` order, its
/// own state directory. Returns the full dump: every SID with its ID, and
/// every ID with its SID, sorted.
fn host(order: &[usize], meet: &[Sid], state: &std::path::Path) -> Vec<String> {
    let doms = domains();
    let cfg: Vec<(String, IdmapSettings, u32, u32)> = order
        .iter()
        .map(|i| (format!("d{i}"), settings(&doms[*i]), 1000, 0))
        .collect();
    let set = DomainSet::new(&cfg, Some(state)).unwrap();
    let mut dump: Vec<String> = meet
        .iter()
        .map(|s| format!("{s} {}", set.uid_for_sid(s).unwrap()))
        .collect();
    dump.sort();
    let mut ids: Vec<u32> = meet.iter().map(|s| set.uid_for_sid(s).unwrap()).collect();
    ids.sort();
    for id in ids {
        dump.push(format!("{id} {}", set.resolve_id(id).unwrap()));
    }
    dump
}

#[test]
fn three_hosts_in_different_orders_give_identical_dumps() {
    let doms = domains();
    let objs = objects(&doms);
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let a = host(&[0, 1, 2, 3, 4, 5, 6, 7], &objs, dirs[0].path());
    let b = host(
        &[7, 6, 5, 4, 3, 2, 1, 0],
        &shuffled(&objs, 1),
        dirs[1].path(),
    );
    let c = host(
        &[1, 3, 5, 7, 0, 2, 4, 6],
        &shuffled(&objs, 2),
        dirs[2].path(),
    );
    assert_eq!(a, b, "host 1 and host 2 disagree");
    assert_eq!(a, c, "host 1 and host 3 disagree");
    // The two domains built to collide both map, to different slots.
    let id0 = a
        .iter()
        .find(|l| l.starts_with(&format!("{}-5 ", doms[0])))
        .unwrap();
    let id1 = a
        .iter()
        .find(|l| l.starts_with(&format!("{}-5 ", doms[1])))
        .unwrap();
    assert_ne!(id0.split(' ').nth(1), id1.split(' ').nth(1));
    // Restarts, in yet another order, change nothing.
    let again = host(
        &[2, 0, 1, 3, 7, 6, 5, 4],
        &shuffled(&objs, 3),
        dirs[1].path(),
    );
    assert_eq!(a, again);
}
