//! Mapping throughput of roster-idmap: SID parsing, SID → ID for the rid,
//! sss and autorid backends (through `DomainSet`, locks included), ID →
//! SID, and the cost of SSSD's slice choice (MurmurHash3 of the domain
//! SID string plus probing). Run with
//! `cargo run --release -p roster-bench --bin idmap`.

use std::hint::black_box;
use std::time::Instant;

use roster_idmap::backend::sss::SssContext;
use roster_idmap::murmur::{murmurhash3_x86_32, SSS_SEED};
use roster_idmap::{Backend, DomainSet, IdmapSettings, Sid, SssParams};

const BATCH: usize = 1024;

/// Runs `f` over the batch in 5 rounds of about 0.2 s and returns the
/// best round's operations per second (the machine is shared: the best
/// round is the closest to an idle core).
fn measure<T>(name: &str, inputs: &[T], mut f: impl FnMut(&T) -> u64) -> f64 {
    // Warm-up (also creates any secondary slice / autorid range).
    let mut sink = 0u64;
    for x in inputs {
        sink = sink.wrapping_add(f(x));
    }
    let mut best = 0f64;
    for _ in 0..5 {
        let mut ops = 0u64;
        let start = Instant::now();
        loop {
            for x in inputs {
                sink = sink.wrapping_add(f(black_box(x)));
            }
            ops += inputs.len() as u64;
            if start.elapsed().as_secs_f64() > 0.2 {
                break;
            }
        }
        best = best.max(ops as f64 / start.elapsed().as_secs_f64());
    }
    black_box(sink);
    println!(
        "{name:<46} {:>8.1} M/s  ({:>6.1} ns/op)",
        best / 1e6,
        1e9 / best
    );
    best
}

/// A deterministic stream of pseudo-random numbers.
fn rng(seed: u64) -> impl FnMut() -> u32 {
    let mut s = seed;
    move || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        (s >> 16) as u32
    }
}

fn main() {
    let mut r = rng(0x1d_3a7);
    let rid_dom: Sid = "S-1-5-21-1004336348-1177238915-682003330".parse().unwrap();
    let sss_dom: Sid = "S-1-5-21-3623811015-3361044348-30300820".parse().unwrap();
    let auto_dom: Sid = "S-1-5-21-2127521184-1604012920-1887927527".parse().unwrap();
    let cfg = vec![
        (
            "rid",
            IdmapSettings {
                backend: Backend::Rid,
                domain_sid: Some(rid_dom),
                range_low: Some(2_100_000_000),
                range_high: Some(2_199_999_999),
                ..Default::default()
            },
            1000,
            0,
        ),
        (
            "sss",
            IdmapSettings {
                backend: Backend::Sss,
                domain_sid: Some(sss_dom),
                ..Default::default()
            },
            1000,
            0,
        ),
        (
            "autorid",
            IdmapSettings {
                backend: Backend::Autorid,
                domain_sid: Some(auto_dom),
                autorid_low: Some(3_000_000_000),
                autorid_high: Some(3_999_999_999),
                ..Default::default()
            },
            1000,
            0,
        ),
    ];
    let set = DomainSet::new(&cfg, None).expect("benchmark config");

    let sids = |dom: Sid, max_rid: u32, r: &mut dyn FnMut() -> u32| -> Vec<Sid> {
        (0..BATCH)
            .map(|_| dom.with_rid(r() % max_rid).unwrap())
            .collect()
    };
    let rid_sids = sids(rid_dom, 100_000_000, &mut r);
    let sss_sids = sids(sss_dom, 200_000, &mut r);
    let sss_sec_sids = sids(sss_dom, 2_000_000, &mut r);
    let auto_sids = sids(auto_dom, 1_000_000, &mut r);
    let strings: Vec<String> = sss_sids.iter().map(|s| s.to_string()).collect();

    println!("roster-idmap throughput, one thread (release build expected)");
    measure("parse SID string (S-1-5-21-X-Y-Z-RID)", &strings, |s| {
        s.parse::<Sid>()
            .map(|x| u64::from(x.rid().unwrap()))
            .unwrap_or(0)
    });
    measure(
        "parse binary objectSid",
        &sss_sids.iter().map(|s| s.to_bytes()).collect::<Vec<_>>(),
        |b| {
            Sid::from_bytes(b)
                .map(|x| u64::from(x.rid().unwrap()))
                .unwrap_or(0)
        },
    );
    measure("rid: SID -> ID", &rid_sids, |s| {
        u64::from(set.uid_for_sid(s).unwrap())
    });
    measure("sss: SID -> ID (primary slice)", &sss_sids, |s| {
        u64::from(set.uid_for_sid(s).unwrap())
    });
    measure(
        "sss: SID -> ID (RIDs < 2M, secondary slices)",
        &sss_sec_sids,
        |s| u64::from(set.uid_for_sid(s).unwrap()),
    );
    measure(
        "autorid: SID -> ID (10 ranges allocated)",
        &auto_sids,
        |s| u64::from(set.uid_for_sid(s).unwrap()),
    );
    measure("string -> parse -> sss ID (end to end)", &strings, |s| {
        u64::from(set.uid_for_sid(&s.parse().unwrap()).unwrap())
    });
    let ids = |v: &[Sid]| -> Vec<u32> { v.iter().map(|s| set.uid_for_sid(s).unwrap()).collect() };
    measure("rid: ID -> SID", &ids(&rid_sids), |id| {
        u64::from(set.sid_for_id(*id).unwrap().rid().unwrap())
    });
    measure("sss: ID -> SID", &ids(&sss_sec_sids), |id| {
        u64::from(set.sid_for_id(*id).unwrap().rid().unwrap())
    });
    measure("autorid: ID -> SID", &ids(&auto_sids), |id| {
        u64::from(set.sid_for_id(*id).unwrap().rid().unwrap())
    });

    // The hash that picks a slice: paid once per domain (or secondary
    // slice), never per lookup; measured on its own and as a whole
    // sss_idmap_calculate_range against a context with 100 domains.
    let dom_strings: Vec<String> = (0..BATCH)
        .map(|_| format!("S-1-5-21-{}-{}-{}", r(), r(), r()))
        .collect();
    measure("murmurhash3 of a domain SID string", &dom_strings, |s| {
        u64::from(murmurhash3_x86_32(s.as_bytes(), SSS_SEED))
    });
    let mut ctx = SssContext::new(SssParams::default());
    for (i, d) in dom_strings.iter().take(100).enumerate() {
        let _ = ctx.add_domain(&format!("d{i}"), &d.parse().unwrap());
    }
    measure(
        "sss: slice choice (hash + probe, 100 domains)",
        &dom_strings,
        |s| u64::from(ctx.calculate_range(s).map(|r| r.0).unwrap_or(0)),
    );
    let fresh: Vec<(String, Sid)> = dom_strings
        .iter()
        .map(|s| (s.clone(), s.parse::<Sid>().unwrap().with_rid(1234).unwrap()))
        .collect();
    measure(
        "sss: new domain + first lookup (fresh context)",
        &fresh,
        |(d, sid)| {
            let mut c = SssContext::new(SssParams {
                helper_table_size: 0,
                ..SssParams::default()
            });
            c.add_domain("x", &d.parse().unwrap()).unwrap();
            u64::from(c.sid_to_id(sid).unwrap())
        },
    );

    // Two threads sharing one DomainSet (the daemon's situation).
    let start = Instant::now();
    let per_thread = 20_000_000u64;
    std::thread::scope(|sc| {
        for _ in 0..2 {
            sc.spawn(|| {
                let mut sink = 0u64;
                let mut n = 0;
                while n < per_thread {
                    for s in &sss_sids {
                        sink = sink.wrapping_add(u64::from(set.uid_for_sid(black_box(s)).unwrap()));
                    }
                    n += BATCH as u64;
                }
                black_box(sink);
            });
        }
    });
    let rate = 2.0 * per_thread as f64 / start.elapsed().as_secs_f64();
    println!(
        "{:<46} {:>8.1} M/s  (total of 2 threads)",
        "sss: SID -> ID, 2 threads, shared DomainSet",
        rate / 1e6
    );
}
