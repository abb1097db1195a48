//! Issue 18: first-seen autorid with a shared allocation store gives
//! every host the same IDs, also when hosts race to meet a new domain;
//! a host whose local copy disagrees with the store stops mapping that
//! domain. The store here is in memory with the semantics of the LDAP
//! store (add of a unique slot entry as compare-and-swap).

use roster_idmap::store::{Record, SharedStore, SharedStoreError};
use roster_idmap::{Backend, DomainSet, IdmapError, IdmapSettings, SharedSpec, Sid, StoreKind};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Barrier, Mutex};

#[derive(Debug, Default)]
struct MemStore {
    slots: Mutex<BTreeMap<u32, Record>>,
    down: Mutex<bool>,
    /// When set, the next load waits for a message on it (a slow store).
    slow: Mutex<Option<std::sync::mpsc::Receiver<()>>>,
}

impl SharedStore for MemStore {
    fn describe(&self) -> String {
        "memory store".into()
    }
    fn load(&self) -> Result<Vec<Record>, SharedStoreError> {
        let slow = self.slow.lock().unwrap().take();
        if let Some(go) = slow {
            let _ = go.recv();
        }
        if *self.down.lock().unwrap() {
            return Err(SharedStoreError {
                unavailable: true,
                message: "down".into(),
            });
        }
        Ok(self.slots.lock().unwrap().values().copied().collect())
    }
    fn claim(&self, r: &Record) -> Result<bool, SharedStoreError> {
        let mut s = self.slots.lock().unwrap();
        if s.contains_key(&r.slot) {
            return Ok(false);
        }
        s.insert(r.slot, *r);
        Ok(true)
    }
}

fn sid(i: u32) -> Sid {
    format!("S-1-5-21-{}-{}-{}", 10 + i, 20 + i, 30 + i)
        .parse()
        .unwrap()
}

/// Domain `d<i>`'s settings: `d0` says where the pool is shared.
fn settings(i: u32) -> IdmapSettings {
    IdmapSettings {
        backend: Backend::Autorid,
        autorid_low: Some(1_000_000),
        autorid_high: Some(1_000_000 + 100 * 1000 - 1),
        rangesize: Some(1000),
        idmap_store: (i == 0).then_some(StoreKind::Ldap),
        idmap_store_dn: (i == 0).then(|| "ou=idmap,dc=example,dc=test".into()),
        ..Default::default()
    }
}

/// One host: domains `d0..d5` configured in `order`, its own state dir.
fn host(store: &Arc<MemStore>, order: &[u32], dir: &Path) -> DomainSet {
    let cfg: Vec<(String, IdmapSettings, u32, u32)> = order
        .iter()
        .map(|i| (format!("d{i}"), settings(*i), 1000, 0))
        .collect();
    let s = store.clone();
    let make = move |spec: &SharedSpec| {
        assert_eq!(spec.dn, "ou=idmap,dc=example,dc=test");
        assert_eq!(spec.domain, "d0");
        Ok(s.clone() as Arc<dyn SharedStore>)
    };
    DomainSet::open_with(&cfg, roster_idmap::StoreMode::Durable(dir), Some(&make)).unwrap()
}

fn dump(set: &DomainSet) -> Vec<String> {
    let mut v = Vec::new();
    for i in 0..6 {
        for rid in [1, 1500, 7777] {
            let s = sid(i).with_rid(rid).unwrap();
            let id = set.uid_for_sid(&s).unwrap();
            v.push(format!("{s} {id} {}", set.resolve_id(id).unwrap()));
        }
    }
    v
}

#[test]
fn hosts_meeting_domains_in_different_orders_agree_and_races_are_settled() {
    let store = Arc::new(MemStore::default());
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let orders: [&[u32]; 3] = [
        &[0, 1, 2, 3, 4, 5],
        &[5, 4, 3, 2, 1, 0],
        &[2, 5, 0, 3, 1, 4],
    ];
    let hosts: Vec<DomainSet> = (0..3)
        .map(|h| host(&store, orders[h], dirs[h].path()))
        .collect();
    // Every host meets every domain at the same moment, in its own order.
    let barrier = Arc::new(Barrier::new(3));
    std::thread::scope(|sc| {
        for (h, set) in hosts.iter().enumerate() {
            let b = barrier.clone();
            let order = orders[h];
            sc.spawn(move || {
                b.wait();
                for &i in order {
                    set.set_domain_sid(&format!("d{i}"), sid(i)).unwrap();
                    set.uid_for_sid(&sid(i).with_rid(7777).unwrap()).unwrap();
                }
            });
        }
    });
    let d0 = dump(&hosts[0]);
    assert_eq!(d0, dump(&hosts[1]));
    assert_eq!(d0, dump(&hosts[2]));
    assert_eq!(hosts[0].export(), hosts[1].export());
    // Every block is in the store exactly once.
    let recs = store.load().unwrap();
    assert_eq!(recs.len(), 6 * 3);
    // A fourth host with no history reads the same table.
    let d4 = tempfile::tempdir().unwrap();
    let fresh = host(&store, &[3, 1, 4, 0, 5, 2], d4.path());
    for i in 0..6 {
        fresh.set_domain_sid(&format!("d{i}"), sid(i)).unwrap();
    }
    assert_eq!(d0, dump(&fresh));
    // With the store down, what is known still maps, a new block is not
    // allocated; a host starting then says the store is unreachable.
    *store.down.lock().unwrap() = true;
    let restarted = host(&store, &[0, 1, 2, 3, 4, 5], dirs[0].path());
    assert_eq!(restarted.shared_offline().len(), 1);
    assert!(hosts[0].shared_offline().is_empty());
    assert!(hosts[0].uid_for_sid(&sid(0).with_rid(1).unwrap()).is_ok());
    let e = hosts[0]
        .uid_for_sid(&sid(0).with_rid(50_000).unwrap())
        .unwrap_err();
    assert!(matches!(e, IdmapError::Shared { .. }), "{e}");
}

#[test]
fn a_local_copy_that_disagrees_with_the_store_stops_that_domain() {
    let store = Arc::new(MemStore::default());
    let dir = tempfile::tempdir().unwrap();
    {
        let set = host(&store, &[0, 1], dir.path());
        set.set_domain_sid("d0", sid(0)).unwrap();
        set.set_domain_sid("d1", sid(1)).unwrap();
    }
    // The directory's table is replaced (e.g. restored from another
    // site): d0 now holds slot 1 and d1 slot 0.
    {
        let mut s = store.slots.lock().unwrap();
        let a = s[&0];
        let b = s[&1];
        s.insert(0, Record { slot: 0, ..b });
        s.insert(1, Record { slot: 1, ..a });
    }
    let set = host(&store, &[0, 1], dir.path());
    let disputes = set.disputes();
    assert_eq!(disputes.len(), 2, "{disputes:?}");
    let e = set.uid_for_sid(&sid(0).with_rid(5).unwrap()).unwrap_err();
    let msg = e.to_string();
    assert!(matches!(e, IdmapError::Disputed { .. }), "{msg}");
    assert!(
        msg.contains("\"d0\"") && msg.contains("memory store"),
        "{msg}"
    );
    assert!(set.resolve_id(1_000_005).is_err());
}

#[test]
fn the_store_is_set_on_one_domain_of_the_pool() {
    let mut other = settings(1);
    other.idmap_store = Some(StoreKind::Ldap);
    other.idmap_store_dn = Some("ou=elsewhere,dc=example,dc=test".into());
    let e = DomainSet::new(
        &[("d0", settings(0), 1000, 0), ("d1", other, 1000, 0)],
        None,
    )
    .unwrap_err();
    assert!(e.to_string().contains("directory of domain \"d0\""), "{e}");
    let mut local = settings(1);
    local.idmap_store = Some(StoreKind::Local);
    let e = DomainSet::new(
        &[("d1", local, 1000, 0), ("d0", settings(0), 1000, 0)],
        None,
    )
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("\"d1\" sets to idmap_store = \"local\""),
        "{e}"
    );
}

#[test]
fn an_id_of_a_slot_another_host_took_waits_for_the_store_reading_under_way() {
    let store = Arc::new(MemStore::default());
    let (d1, d2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, b) = (
        Arc::new(host(&store, &[0, 1], d1.path())),
        host(&store, &[0, 1], d2.path()),
    );
    for (i, set) in [(0, &*a), (1, &b)] {
        set.set_domain_sid(&format!("d{i}"), sid(i)).unwrap();
    }
    a.set_domain_sid("d1", sid(1)).unwrap();
    // Host b meets a new block of d1; host a has not seen it.
    let obj = sid(1).with_rid(55_000).unwrap();
    let id = b.uid_for_sid(&obj).unwrap();
    assert!(a.resolve_needs_io(id));
    assert!(matches!(
        a.mapped_resolve_id(id),
        Err(IdmapError::SlotUnallocated { .. })
    ));
    // Host a reads the store again, slowly: meanwhile the ID still
    // needs that reading (it is waited for, not answered "unallocated").
    let (go, wait) = std::sync::mpsc::channel();
    *store.slow.lock().unwrap() = Some(wait);
    let first = {
        let a = a.clone();
        std::thread::spawn(move || a.resolve_id(id))
    };
    while store.slow.lock().unwrap().is_some() {
        std::thread::yield_now();
    }
    assert!(a.resolve_needs_io(id), "a reading under way is waited for");
    let second = {
        let a = a.clone();
        std::thread::spawn(move || a.resolve_id(id))
    };
    go.send(()).unwrap();
    assert_eq!(first.join().unwrap().unwrap(), obj);
    assert_eq!(second.join().unwrap().unwrap(), obj);
    assert!(!a.resolve_needs_io(id));
    assert_eq!(a.mapped_resolve_id(id).unwrap(), obj);
}
