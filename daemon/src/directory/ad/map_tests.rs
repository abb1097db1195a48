//! Autorid blocks are allocated off the event loop.

use super::*;
use crate::config::Config;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

const DOMAIN_SID: &str = "S-1-5-21-389706576-2714730196-1825585166";

fn user_entry(rid: u32) -> SearchEntry {
    let sid: Sid = format!("{DOMAIN_SID}-{rid}").parse().unwrap();
    SearchEntry {
        dn: format!("CN=u{rid},CN=Users,DC=ad,DC=example,DC=test"),
        attrs: ldap3::AttrMap::from_iter([
            ("sAMAccountName".to_string(), vec![format!("u{rid}")]),
            ("primaryGroupID".to_string(), vec!["513".to_string()]),
        ]),
        bin_attrs: ldap3::AttrMap::from_iter([("objectSid".to_string(), vec![sid.to_bytes()])]),
    }
}

/// An AD domain `ad` with an autorid pool from 1,000,000 to `high`, its
/// SID registered (block 0 allocated), its state in the returned
/// directory.
fn setup(high: u32) -> (tempfile::TempDir, Arc<DomainSet>, Directory, Ad, Sid) {
    let state = tempfile::tempdir().unwrap();
    let text = format!(
        "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldaps://dc\"]\n\
         base_dn = \"DC=ad,DC=example,DC=test\"\n[domain.idmap]\nbackend = \"autorid\"\n\
         autorid_low = 1000000\nautorid_high = {high}\n"
    );
    let cfg = Config::from_str(&text, "roster.toml").unwrap();
    let d = cfg.domains[0].clone();
    let idmap = Arc::new(
        DomainSet::new(
            &[(d.name.clone(), d.idmap.settings(), d.min_id, d.max_id)],
            Some(state.path()),
        )
        .unwrap(),
    );
    let sid: Sid = DOMAIN_SID.parse().unwrap();
    idmap.set_domain_sid("ad", sid).unwrap();
    let dir = Directory::new(d, idmap.clone()).unwrap();
    let ad = Ad::default();
    let _ = ad.sid.set(sid);
    (state, idmap, dir, ad, sid)
}

#[tokio::test(flavor = "current_thread")]
async fn a_lookup_goes_on_while_another_one_s_autorid_block_waits_for_the_lock_file() {
    let (state, idmap, dir, ad, sid) = setup(1_999_999);
    let known = user_entry(1103);
    let fresh = user_entry(250_000);
    assert!(idmap.needs_allocation(&format!("{DOMAIN_SID}-250000").parse().unwrap()));

    // Another process holds the pool's lock file until told to let go
    // (or 20 s have passed: then the lookup below waited for it).
    let pool = roster_idmap::store::StateFile::new(state.path(), "autorid-1000000", false).unwrap();
    let (locked_tx, locked_rx) = std::sync::mpsc::channel();
    let (let_go_tx, let_go_rx) = std::sync::mpsc::channel::<()>();
    let timed_out = Arc::new(AtomicBool::new(false));
    let flag = timed_out.clone();
    let holder = std::thread::spawn(move || {
        let held = pool.lock().unwrap();
        locked_tx.send(()).unwrap();
        if let_go_rx.recv_timeout(Duration::from_secs(20)).is_err() {
            flag.store(true, Ordering::SeqCst);
        }
        drop(held);
    });
    locked_rx.recv().unwrap();

    let allocating = ad.users_from(&dir, &sid, std::slice::from_ref(&fresh));
    let meanwhile = async {
        // The user of a mapped block is served while the other lookup's
        // block waits for the lock file; then the lock is let go.
        tokio::task::yield_now().await;
        let served = ad
            .users_from(&dir, &sid, std::slice::from_ref(&known))
            .await;
        let _ = let_go_tx.send(());
        served
    };
    let (allocated, served) = tokio::join!(allocating, meanwhile);
    holder.join().unwrap();
    assert!(
        !timed_out.load(Ordering::SeqCst),
        "the event loop waited for the lock file"
    );
    assert_eq!(served.len(), 1);
    assert_eq!(served[0].user.name, "u1103");
    assert_eq!(
        allocated.len(),
        1,
        "the new block is allocated once the lock is free"
    );
    assert_eq!(
        allocated[0].user.uid,
        idmap
            .mapped_id_for_sid(&format!("{DOMAIN_SID}-250000").parse().unwrap())
            .unwrap()
    );
}

/// A block whose allocation failed is not tried again at once: a lookup
/// meeting it soon after is refused with the same reason without another
/// attempt (here: without waiting for the lock file another process then
/// holds; it would wait for it 20 s and fail).
#[tokio::test(flavor = "current_thread")]
async fn a_block_that_just_failed_is_refused_again_without_another_attempt() {
    let (state, _idmap, dir, ad, sid) = setup(1_099_999);
    let first = ad.user_results(&dir, &sid, &[user_entry(250_000)]).await;
    let why = first[0].as_ref().unwrap_err().clone();
    assert!(why.contains("exhausted"), "{why}");
    assert!(why.contains("not tried again for up to 10 s"), "{why}");

    let pool = roster_idmap::store::StateFile::new(state.path(), "autorid-1000000", false).unwrap();
    let held = pool.lock().unwrap();
    let again = tokio::time::timeout(
        Duration::from_secs(5),
        ad.user_results(&dir, &sid, &[user_entry(250_001)]),
    )
    .await
    .expect("refused without waiting for the lock file");
    drop(held);
    assert_eq!(
        again[0].as_ref().unwrap_err(),
        &why.replace("250000", "250001")
    );
}

/// The memory of failed blocks keeps only the lately failed: an older
/// failure is ignored, and forgotten when another is remembered, whether
/// or not its block is met again.
#[test]
fn remembering_a_failure_forgets_the_older_ones() {
    let sid: Sid = DOMAIN_SID.parse().unwrap();
    let memory = FailedBlocks::default();
    // (A monotonic clock younger than that has no such instant.)
    let Some(long_ago) = Instant::now().checked_sub(FAILED_BLOCK_RETRY + Duration::from_secs(1))
    else {
        return;
    };
    lock_failed(&memory).insert((sid, 1), (long_ago, "old".into()));
    lock_failed(&memory).insert((sid, 2), (Instant::now(), "recent".into()));
    // A block that failed long enough ago is tried again; one that failed
    // lately is not.
    assert_eq!(failed_lately(&memory, &(sid, 1)), None);
    assert_eq!(failed_lately(&memory, &(sid, 2)).as_deref(), Some("recent"));
    let why = remember_failure(&memory, (sid, 3), &"pool exhausted");
    assert_eq!(why, "pool exhausted (not tried again for up to 10 s)");
    let mut left: Vec<u32> = lock_failed(&memory).keys().map(|(_, b)| *b).collect();
    left.sort_unstable();
    assert_eq!(left, [2, 3]);
    assert_eq!(
        failed_lately(&memory, &(sid, 3)).as_deref(),
        Some(why.as_str())
    );
}

#[tokio::test(flavor = "current_thread")]
async fn an_entry_whose_block_cannot_be_allocated_is_refused_with_the_reason() {
    // One range in the pool: block 0 of the domain takes it.
    let (_state, _idmap, dir, ad, sid) = setup(1_099_999);
    let got = ad
        .user_results(&dir, &sid, &[user_entry(1103), user_entry(250_000)])
        .await;
    assert_eq!(got[0].as_ref().unwrap().user.name, "u1103");
    let why = got[1].as_ref().unwrap_err();
    assert!(
        why.contains("its autorid block could not be allocated") && why.contains("exhausted"),
        "{why}"
    );
}
