use super::fake::FakeDirectory;
use super::*;
use crate::cache::ManualClock;

const T0: u64 = 1_700_000_000_000;

struct Setup {
    resolver: Resolver,
    clock: Arc<ManualClock>,
}

/// Settings of the resolver tests (here and in `owner_tests`).
pub(super) fn settings() -> Settings {
    Settings {
        entry_ttl_ms: 300_000,
        negative_ttl_ms: 60_000,
        offline_max_age_ms: 3_600_000,
        max_entries: 1000,
        enumerate: false,
        census: true,
        min_id: 1000,
        ignore_users: ["root".to_string()].into_iter().collect(),
        ignore_groups: ["root".to_string()].into_iter().collect(),
        stale_grace_ms: 0,
        initgroups_for_local_users: false,
    }
}

/// Local accounts that hide nothing the tests use.
fn no_locals() -> local::LocalAccounts {
    let p = std::path::Path::new("/nonexistent/roster-test");
    local::LocalAccounts::from_paths(&p.join("passwd"), &p.join("group"))
}

fn setup_with(domains: &[&Arc<FakeDirectory>], s: Settings, store: Option<Arc<Store>>) -> Setup {
    let clock = Arc::new(ManualClock::new(T0));
    let domains = domains
        .iter()
        .map(|d| (*d).clone() as Arc<dyn Provider>)
        .collect();
    Setup {
        resolver: Resolver::with_local_accounts(domains, s, store, clock.clone(), no_locals()),
        clock,
    }
}

fn example() -> Arc<FakeDirectory> {
    let d = FakeDirectory::new("example");
    d.add_user("alice", 10001, 10000);
    d.add_user("bob", 10002, 10000);
    d.add_user("rootclone", 0, 0);
    d.add_group("users", 10000, &[]);
    d.add_group("staff", 10010, &["alice", "bob"]);
    d.add_group("mg1", 30001, &["alice"]);
    d
}

/// The example directory behind a resolver with a persistent store (in
/// the returned temporary directory).
fn stored_example() -> (tempfile::TempDir, Arc<FakeDirectory>, Arc<Store>, Setup) {
    let dir = tempfile::tempdir().unwrap();
    let d = example();
    let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
    let s = setup_with(&[&d], settings(), Some(store.clone()));
    (dir, d, store, s)
}

fn uid(a: Answer<Arc<UserEntry>>) -> (u32, Source) {
    match a {
        Answer::Found(u, s) => (u.user.uid, s),
        other => panic!("expected a user, got {other:?}"),
    }
}

#[tokio::test]
async fn positive_entries_live_entry_ttl() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Directory)
    );
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Cache)
    );
    // Found by name, and checked by UID (the directory's answer for the
    // UID must be the same entry): cached by UID too.
    assert_eq!(
        uid(s.resolver.user_by_uid(10001).await),
        (10001, Source::Cache)
    );
    assert_eq!(d.call_count(), 2);
    s.clock.advance(300_000);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Directory)
    );
    assert_eq!(d.call_count(), 4);
}

#[tokio::test]
async fn negative_entries_live_negative_ttl() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    assert_eq!(s.resolver.user_by_name("ghost").await, Answer::NotFound);
    assert_eq!(s.resolver.user_by_name("ghost").await, Answer::NotFound);
    assert_eq!(d.call_count(), 1);
    s.clock.advance(59_999);
    assert_eq!(s.resolver.user_by_name("ghost").await, Answer::NotFound);
    assert_eq!(d.call_count(), 1);
    s.clock.advance(1);
    d.add_user("ghost", 10099, 10000);
    assert_eq!(
        uid(s.resolver.user_by_name("ghost").await),
        (10099, Source::Directory)
    );
    assert_eq!(d.call_count(), 3);
}

#[tokio::test]
async fn a_not_found_is_fresh_while_every_domains_no_is() {
    let d = example();
    let other = FakeDirectory::new("other");
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
    let s = setup_with(&[&d, &other], settings(), Some(store.clone()));
    let r = &s.resolver;
    let ttl = settings().negative_ttl_ms;
    assert_eq!(
        r.user_by_name_timed("ghost").await,
        (Answer::NotFound, T0 + ttl)
    );
    // Asked of one domain by a qualified name, then of both: the earliest
    // of the two answers' expiries.
    assert_eq!(
        r.user_by_name_timed("ghost2@other").await,
        (Answer::NotFound, T0 + ttl)
    );
    s.clock.advance(10_000);
    assert_eq!(
        r.user_by_name_timed("ghost2").await,
        (Answer::NotFound, T0 + ttl)
    );
    // From the cache: still fresh until the first answer expires.
    assert_eq!(
        r.user_by_name_timed("ghost").await,
        (Answer::NotFound, T0 + ttl)
    );
    let later = T0 + 10_000 + ttl;
    assert_eq!(r.user_by_uid_timed(10099).await, (Answer::NotFound, later));
    assert_eq!(
        r.group_by_name_timed("ghosts").await,
        (Answer::NotFound, later)
    );
    assert_eq!(r.group_by_gid_timed(4242).await, (Answer::NotFound, later));
    // The wall clock stepped back 30 s: still no more than `negative_ttl`
    // from now.
    s.clock.set(T0 - 20_000);
    assert_eq!(
        r.user_by_name_timed("ghost").await,
        (Answer::NotFound, T0 - 20_000 + ttl)
    );
    s.clock.set(T0 + 10_000);
    // Decided by a refusal (UID 0, a GID below `min_id`) or by the
    // settings: not fresh at all.
    d.add_group("lowgroup", 5, &[]);
    assert_eq!(
        r.user_by_name_timed("rootclone").await,
        (Answer::NotFound, 0)
    );
    assert_eq!(
        r.group_by_name_timed("lowgroup").await,
        (Answer::NotFound, 0)
    );
    assert_eq!(r.user_by_name_timed("root").await, (Answer::NotFound, 0));
    assert_eq!(r.user_by_uid_timed(5).await, (Answer::NotFound, 0));
    assert_eq!(r.group_by_gid_timed(5).await, (Answer::NotFound, 0));
    // Resting on offline data: not fresh either. carol, of the second
    // domain, leaves the first's "no such object" on disk; then she is
    // gone, and the first domain down answers from that.
    other.add_user("carol", 20001, 20000);
    uid(r.user_by_name("carol").await);
    r.answers_sent();
    store.flush();
    other.remove_user("carol");
    s.clock.advance(settings().entry_ttl_ms);
    d.set_online(false);
    assert_eq!(r.user_by_name_timed("carol").await, (Answer::NotFound, 0));
}

#[tokio::test]
async fn lru_eviction_sends_the_question_again() {
    let d = example();
    let mut st = settings();
    st.max_entries = 2; // alice by name + by uid fill it
    let s = setup_with(&[&d], st, None);
    uid(s.resolver.user_by_name("alice").await);
    uid(s.resolver.user_by_name("bob").await); // evicts alice
    assert_eq!(d.call_count(), 4);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Directory)
    );
    assert_eq!(d.call_count(), 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_misses_make_one_directory_call() {
    let d = example();
    d.hold();
    let s = setup_with(&[&d], settings(), None);
    let mut tasks = Vec::new();
    for _ in 0..25 {
        let r = s.resolver.clone();
        tasks.push(tokio::spawn(async move { r.user_by_name("ghost").await }));
    }
    let ck = CacheKey::new(Arc::from("example"), Key::UserName("ghost".into()));
    while s.resolver.inner.flights.waiters(&ck) < 25 {
        tokio::task::yield_now().await;
    }
    d.release(1);
    for t in tasks {
        assert_eq!(t.await.unwrap(), Answer::NotFound);
    }
    assert_eq!(d.call_count(), 1);
}

#[tokio::test]
async fn offline_serves_expired_entries_up_to_offline_max_age() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    uid(s.resolver.user_by_name("alice").await);
    s.clock.advance(400_000); // past entry_ttl
    d.set_online(false);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Offline)
    );
    assert_eq!(
        uid(s.resolver.user_by_uid(10001).await),
        (10001, Source::Offline)
    );
    match s.resolver.user_by_name("bob").await {
        Answer::Unavailable(e) => {
            // The failed domain and its provider's error, kind kept.
            assert_eq!(e.domain, "example");
            assert!(e.is_unavailable(), "{e:?}");
            assert_eq!(
                e.to_string(),
                "domain example: directory unavailable: fake server down"
            );
        }
        other => panic!("uncached user while offline: {other:?}"),
    }
    s.clock.advance(3_600_000); // past offline_max_age
    assert!(matches!(
        s.resolver.user_by_name("alice").await,
        Answer::Unavailable(_)
    ));
    d.set_online(true);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Directory)
    );
}

#[tokio::test]
async fn persistent_store_answers_after_restart_while_offline() {
    let dir = tempfile::tempdir().unwrap();
    let d = example();
    {
        let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
        let s = setup_with(&[&d], settings(), Some(store.clone()));
        uid(s.resolver.user_by_name("alice").await);
        assert_eq!(
            s.resolver.groups_of_user("alice").await,
            Answer::Found(vec![10000, 10010, 30001], Source::Directory)
        );
        // (checked by name when alice's group list was built)
        let g = s.resolver.group_by_name("staff").await;
        assert!(matches!(g, Answer::Found(_, Source::Cache)));
        store.close();
    }
    d.set_online(false);
    let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
    let s = setup_with(&[&d], settings(), Some(store));
    s.clock.advance(1000);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Offline)
    );
    assert_eq!(
        uid(s.resolver.user_by_uid(10001).await),
        (10001, Source::Offline)
    );
    assert_eq!(
        s.resolver.groups_of_user("alice").await,
        Answer::Found(vec![10000, 10010, 30001], Source::Offline)
    );
    match s.resolver.group_by_gid(10010).await {
        Answer::Found(g, Source::Offline) => {
            assert_eq!(g.group.members, vec!["alice", "bob"]);
            assert_eq!(g.dn, "cn=staff,ou=groups,dc=example");
        }
        other => panic!("{other:?}"),
    }
    // bob was looked up as a member of staff (members whose entry is
    // refused are left out), so it is in the store too; a name never
    // asked is unavailable.
    assert_eq!(
        uid(s.resolver.user_by_name("bob").await),
        (10002, Source::Offline)
    );
    assert!(matches!(
        s.resolver.user_by_name("nosuchuser").await,
        Answer::Unavailable(_)
    ));
}

/// What a lookup the server answers leaves for the store waits until the
/// answer is sent (waking the store's writer is not on the answer's
/// path), then is written; a lookup no server answers queues it at once.
#[tokio::test]
async fn an_answered_lookups_writes_wait_for_the_answer() {
    let (dir, d, store, s) = stored_example();
    uid(super::answering(s.resolver.user_by_name("alice")).await);
    assert_ne!(store.deferred_ops(), 0, "alice queued before the answer");
    s.resolver.answers_sent();
    assert_eq!(store.deferred_ops(), 0);
    uid(s.resolver.user_by_name("bob").await);
    assert_eq!(
        store.deferred_ops(),
        0,
        "bob deferred without an answer to wait for"
    );
    // A user found gone: its removal waits as the puts do.
    d.remove_user("bob");
    s.clock.advance(300_000);
    let gone = super::answering(s.resolver.user_by_name("bob"));
    assert_eq!(gone.await, Answer::NotFound);
    assert_ne!(
        store.deferred_ops(),
        0,
        "bob's removal queued before the answer"
    );
    s.resolver.answers_sent();
    assert_eq!(store.deferred_ops(), 0);
    // Written to the log: read back by the store of a restart.
    store.close();
    let store = Store::open(dir.path(), u64::MAX).unwrap();
    let stored = |name: &str| {
        let key = CacheKey::new("example".into(), Key::UserName(name.into()));
        store.get(&key.store_key()).map(|(_, v)| v)
    };
    assert!(matches!(
        stored("alice"),
        Some(crate::store::StoredValue::User(_))
    ));
    assert!(!matches!(
        stored("bob"),
        Some(crate::store::StoredValue::User(_))
    ));
}

/// The groups a first initgroups asks in one batch (a task of its own,
/// which the lookup waits for) are deferred with the lookup's own writes.
#[tokio::test]
async fn a_lookups_batch_defers_its_writes_as_the_lookup_does() {
    let (_dir, d, store, s) = stored_example();
    uid(s.resolver.user_by_name("alice").await);
    assert_eq!(store.deferred_ops(), 0);
    let batches = d.batch_call_count();
    let gids = super::answering(s.resolver.groups_of_user("alice")).await;
    assert!(d.batch_call_count() > batches, "no batch was asked");
    assert_eq!(
        gids,
        Answer::Found(vec![10000, 10010, 30001], Source::Directory)
    );
    assert!(
        store.deferred_ops() >= 3,
        "the batch's groups queued before the answer ({} deferred)",
        store.deferred_ops()
    );
    s.resolver.answers_sent();
    assert_eq!(store.deferred_ops(), 0);
}

/// A lookup dropped while its batch waits for the directory ends the
/// batch with it: nothing the batch would have recorded is left waiting
/// for some later answer.
#[tokio::test]
async fn a_dropped_lookups_batch_ends_with_it() {
    let (_dir, d, store, s) = stored_example();
    uid(s.resolver.user_by_name("alice").await);
    d.hold();
    let calls = d.call_count();
    let entered = |n: usize| {
        let d = d.clone();
        async move {
            while d.call_count() < calls + n {
                tokio::task::yield_now().await;
            }
        }
    };
    let r = s.resolver.clone();
    let lookup = tokio::spawn(super::answering(
        async move { r.groups_of_user("alice").await },
    ));
    // Alice's groups are asked, then (the gate opened for that call)
    // the batch of their entries, which waits at the gate.
    entered(1).await;
    d.release(1);
    entered(2).await;
    let (batches, deferred) = (d.batch_call_count(), store.deferred_ops());
    lookup.abort();
    assert!(lookup.await.unwrap_err().is_cancelled());
    d.release(100);
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(d.batch_call_count(), batches, "the batch went on");
    assert_eq!(
        store.deferred_ops(),
        deferred,
        "the batch recorded its groups"
    );
}

#[tokio::test]
async fn deleted_users_leave_the_store() {
    let (_dir, d, store, s) = stored_example();
    uid(s.resolver.user_by_name("bob").await);
    d.remove_user("bob");
    s.clock.advance(300_000);
    assert_eq!(s.resolver.user_by_name("bob").await, Answer::NotFound);
    s.clock.advance(60_000);
    d.set_online(false);
    assert!(matches!(
        s.resolver.user_by_name("bob").await,
        Answer::Unavailable(_)
    ));
    // Nor is bob served by UID, in memory or from the store.
    assert!(matches!(
        s.resolver.user_by_uid(10002).await,
        Answer::Unavailable(_)
    ));
    store.flush();
    assert_eq!(store.len(), 0);
}

#[tokio::test]
async fn resolution_order_and_qualified_names() {
    let d1 = FakeDirectory::new("one");
    d1.add_user("alice", 10001, 10000);
    let d2 = FakeDirectory::new("two");
    d2.add_user("alice", 50001, 50000);
    d2.add_user("zed", 50002, 50000);
    let s = setup_with(&[&d1, &d2], settings(), None);
    assert_eq!(uid(s.resolver.user_by_name("alice").await).0, 10001);
    assert_eq!(uid(s.resolver.user_by_name("alice@two").await).0, 50001);
    assert_eq!(uid(s.resolver.user_by_name("alice@TWO").await).0, 50001);
    assert_eq!(uid(s.resolver.user_by_name("zed").await).0, 50002);
    assert_eq!(s.resolver.user_by_name("zed@one").await, Answer::NotFound);
    assert_eq!(uid(s.resolver.user_by_uid(50001).await).0, 50001);
    assert_eq!(
        s.resolver.user_by_name("nobody@two").await,
        Answer::NotFound
    );
    // An unknown domain suffix is part of the name.
    assert_eq!(
        s.resolver.user_by_name("alice@three").await,
        Answer::NotFound
    );
    // A failing first domain stops the walk for what it has not answered.
    d1.set_online(false);
    assert!(matches!(
        s.resolver.user_by_name("newname").await,
        Answer::Unavailable(_)
    ));
    assert_eq!(uid(s.resolver.user_by_name("zed@two").await).0, 50002);
}

#[tokio::test]
async fn initgroups_lists_primary_first_once() {
    let d = example();
    d.add_group("users-again", 10000, &["bob"]);
    let s = setup_with(&[&d], settings(), None);
    let Answer::Found(g, _) = s.resolver.groups_of_user("bob").await else {
        panic!()
    };
    assert_eq!(g, vec![10000, 10010]);
    // A directory "wheel" is not a local group membership.
    d.add_group("wheel", 10, &["alice"]);
    s.resolver.flush_all();
    let Answer::Found(g, _) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    assert_eq!(g, vec![10000, 10010, 30001]);
    assert_eq!(s.resolver.groups_of_user("ghost").await, Answer::NotFound);
}

/// A resolver of `d` alone, which finds a user's groups by its name
/// alone; each call then takes 10 ms of tokio's clock, so that the
/// groups' search goes out while the user's lookup waits.
fn asking_early(d: &Arc<FakeDirectory>) -> Setup {
    d.set_groups_by_name_alone(true);
    let s = setup_with(&[d], settings(), None);
    d.set_latency_ms(10);
    s
}

/// The groups of a user neither cached nor asked before, in a domain that
/// finds them by the name alone (RFC 2307's memberUid), are asked while
/// the user is looked up: the initgroups waits for one call less than
/// when they are asked after it, and answers the same. The groups' search
/// goes out first: a server reads one connection's requests in turn, and
/// it is the longer one.
#[tokio::test(start_paused = true)]
async fn the_groups_of_an_uncached_user_are_asked_while_it_is_looked_up() {
    let mut took = Vec::new();
    let mut answers = Vec::new();
    for by_name in [false, true] {
        let d = example();
        d.set_groups_by_name_alone(by_name);
        let s = setup_with(&[&d], settings(), None);
        d.set_latency_ms(10);
        let began = tokio::time::Instant::now();
        answers.push(s.resolver.groups_of_user("alice").await);
        took.push(began.elapsed());
        assert_eq!(d.groups_of_name_calls(), usize::from(by_name));
        if by_name {
            assert_eq!(d.calls_before_groups_of_name(), 0, "the user asked first");
        }
    }
    assert_eq!(answers[0], answers[1]);
    assert!(matches!(&answers[1], Answer::Found(g, _) if g == &[10000, 10010, 30001]));
    assert_eq!(took[0] - took[1], std::time::Duration::from_millis(10));
}

/// Groups are not asked early when the user's answer or its groups' are
/// cached (a cached "no such user" included), for a name qualified with
/// its domain, or when there are several domains.
#[tokio::test(start_paused = true)]
async fn the_groups_are_not_asked_early_after_a_cached_answer_or_among_domains() {
    let d = example();
    let s = asking_early(&d);
    uid(s.resolver.user_by_name("alice").await);
    let found = |a: Answer<Vec<u32>>| match a {
        Answer::Found(g, _) => g,
        other => panic!("expected groups, got {other:?}"),
    };
    assert_eq!(
        found(s.resolver.groups_of_user("alice").await),
        [10000, 10010, 30001]
    );
    assert_eq!(
        found(s.resolver.groups_of_user("alice@example").await),
        [10000, 10010, 30001]
    );
    assert_eq!(d.groups_of_name_calls(), 0);
    // Bob's groups are asked with him; then both are cached.
    assert_eq!(
        found(s.resolver.groups_of_user("bob").await),
        [10000, 10010]
    );
    assert_eq!(d.groups_of_name_calls(), 1);
    s.resolver.flush_all();
    assert_eq!(
        found(s.resolver.groups_of_user("bob").await),
        [10000, 10010]
    );
    assert_eq!(d.groups_of_name_calls(), 2);
    // No such user: asked once; its cached answer asks nothing more.
    assert_eq!(s.resolver.groups_of_user("ghost").await, Answer::NotFound);
    assert_eq!(s.resolver.groups_of_user("ghost").await, Answer::NotFound);
    assert_eq!(d.groups_of_name_calls(), 3);
    // A user known from expired answers (which a slow domain would be
    // answered from) is not asked early either.
    s.clock.advance(settings().entry_ttl_ms + 1);
    assert_eq!(
        found(s.resolver.groups_of_user("bob").await),
        [10000, 10010]
    );
    assert_eq!(d.groups_of_name_calls(), 3);
    let other = FakeDirectory::new("other");
    other.set_groups_by_name_alone(true);
    let s = setup_with(&[&d, &other], settings(), None);
    assert_eq!(
        found(s.resolver.groups_of_user("alice").await),
        [10000, 10010, 30001]
    );
    assert_eq!(d.groups_of_name_calls() + other.groups_of_name_calls(), 3);
}

/// Lookups of one user at once (sshd, PAM and logind after a login)
/// share one early search of its groups, as they share the user's.
#[tokio::test(start_paused = true)]
async fn lookups_of_a_user_at_once_share_its_groups_search() {
    let d = example();
    let s = asking_early(&d);
    let (a, b, c) = tokio::join!(
        s.resolver.groups_of_user("alice"),
        s.resolver.groups_of_user("alice"),
        s.resolver.groups_of_user("alice")
    );
    for answer in [a, b, c] {
        assert!(matches!(&answer, Answer::Found(g, _) if g == &[10000, 10010, 30001]));
    }
    assert_eq!(d.groups_of_name_calls(), 1);
}

/// An early search no server answered is the initgroups' failure, as
/// the search after the user would have been: it is not asked again
/// (which would wait as long again in an outage).
#[tokio::test(start_paused = true)]
async fn an_early_search_no_server_answered_is_not_asked_again() {
    let d = example();
    let s = asking_early(&d);
    d.set_groups_of_name_fails(true);
    assert!(matches!(
        s.resolver.groups_of_user("alice").await,
        Answer::Unavailable(_)
    ));
    assert_eq!(d.groups_of_name_calls(), 1);
}

/// Groups asked early for a name that is no user are not kept: once the
/// user exists (its "no such user" expired, before the groups' answer
/// would have), its groups are those the directory now lists.
#[tokio::test(start_paused = true)]
async fn groups_asked_early_for_a_name_that_is_no_user_are_not_kept() {
    let d = example();
    let s = asking_early(&d);
    assert_eq!(s.resolver.groups_of_user("ghost").await, Answer::NotFound);
    assert_eq!(d.groups_of_name_calls(), 1);
    d.add_user("ghost", 10003, 10000);
    d.add_group("ghosts", 10020, &["ghost"]);
    s.clock.advance(settings().negative_ttl_ms + 1);
    let Answer::Found(g, _) = s.resolver.groups_of_user("ghost").await else {
        panic!()
    };
    assert_eq!(g, vec![10000, 10020]);
    // (Its expired "no such user" is known: asked after the user.)
    assert_eq!(d.groups_of_name_calls(), 1);
}

/// Groups asked early for a name the user found does not carry exactly
/// (a domain matching names in any case found `alice` for `ALICE`) are
/// not the user's: its groups are asked for the user found.
#[tokio::test(start_paused = true)]
async fn groups_asked_early_for_another_spelling_are_not_taken() {
    let d = FakeDirectory::new_any_case("example");
    d.add_user("alice", 10001, 10000);
    d.add_group("staff", 10010, &["alice"]);
    let s = asking_early(&d);
    let Answer::Found(g, _) = s.resolver.groups_of_user("ALICE").await else {
        panic!()
    };
    assert_eq!(g, vec![10000, 10010]);
    assert_eq!(d.groups_of_name_calls(), 1);
}

#[tokio::test]
async fn low_ids_and_ignored_names_are_hidden() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    assert_eq!(s.resolver.user_by_name("rootclone").await, Answer::NotFound);
    assert_eq!(s.resolver.user_by_uid(0).await, Answer::NotFound);
    let calls = d.call_count();
    assert_eq!(s.resolver.user_by_name("root").await, Answer::NotFound);
    assert_eq!(s.resolver.group_by_name("root").await, Answer::NotFound);
    assert_eq!(s.resolver.group_by_gid(5).await, Answer::NotFound);
    assert_eq!(d.call_count(), calls);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn entries_near_expiry_are_refreshed_in_the_background() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    uid(s.resolver.user_by_name("alice").await);
    s.clock.advance(250_000); // past 3/4 of the 300 s TTL
    d.add_user("newcomer", 1, 1); // (the directory changes; alice does not)
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Cache)
    );
    // Both questions the answer rests on (name and UID) are refreshed.
    while d.call_count() < 4 {
        tokio::task::yield_now().await;
    }
    let ck = CacheKey::new(Arc::from("example"), Key::UserName("alice".into()));
    loop {
        let slot = s.resolver.inner.cache.peek(&ck).unwrap();
        if slot.fetched_ms == T0 + 250_000 {
            assert_eq!(slot.expires_ms, T0 + 550_000);
            break;
        }
        tokio::task::yield_now().await;
    }
    let by_uid = CacheKey::new(Arc::from("example"), Key::UserId(10001));
    while s.resolver.inner.cache.peek(&by_uid).unwrap().fetched_ms != T0 + 250_000 {
        tokio::task::yield_now().await;
    }
    s.clock.advance(100_000); // past the first TTL, within the refreshed one
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Cache)
    );
    assert_eq!(d.call_count(), 4);
}

#[tokio::test]
async fn enumeration_is_off_by_default_and_paged_when_on() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    assert_eq!(s.resolver.list_users(0, 10).await.unwrap(), (vec![], false));
    assert_eq!(d.call_count(), 0);
    let mut st = settings();
    st.enumerate = true;
    let s = setup_with(&[&d], st, None);
    let (page1, more) = s.resolver.list_users(0, 1).await.unwrap();
    assert_eq!((page1.len(), more), (1, true));
    let (page2, more) = s.resolver.list_users(1, 10).await.unwrap();
    // rootclone (uid 0) is hidden by min_id.
    assert_eq!(
        page2.iter().map(|u| u.name.as_str()).collect::<Vec<_>>(),
        ["bob"]
    );
    assert!(!more);
    let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
    assert_eq!(groups.len(), 3);
}

#[tokio::test]
async fn reconfigure_keeps_the_cache_of_unchanged_domains_only() {
    let d1 = example();
    let d2 = FakeDirectory::new("other");
    d2.add_user("zed", 50002, 50000);
    let s = setup_with(&[&d1, &d2], settings(), None);
    uid(s.resolver.user_by_name("alice").await);
    uid(s.resolver.user_by_name("zed").await);
    let calls = (d1.call_count(), d2.call_count());
    let domains: Vec<Arc<dyn Provider>> = vec![d1.clone(), d2.clone()];
    s.resolver
        .reconfigure(domains, settings(), &["example".to_string()].into());
    uid(s.resolver.user_by_name("alice").await);
    uid(s.resolver.user_by_name("zed@other").await);
    assert_eq!(d1.call_count(), calls.0);
    // zed by name and by UID (the check that both lead to one entry).
    assert_eq!(d2.call_count(), calls.1 + 2);
}

#[tokio::test]
async fn flush_forgets_users_groups_and_everything() {
    let (_dir, _d, store, s) = stored_example();
    uid(s.resolver.user_by_name("alice").await);
    s.resolver.groups_of_user("alice").await;
    assert!(s.resolver.flush_user("alice") >= 3);
    store.flush();
    // The groups checked for alice's group list stay; alice is gone.
    let dom: Arc<str> = Arc::from("example");
    for k in [
        Key::UserName("alice".into()),
        Key::UserId(10001),
        Key::GroupsOf("alice".into()),
    ] {
        assert_eq!(store.get(&CacheKey::new(dom.clone(), k).store_key()), None);
    }
    assert_eq!(
        uid(s.resolver.user_by_uid(10001).await).1,
        Source::Directory
    );
    s.resolver.group_by_name("staff").await;
    assert!(s.resolver.flush_group("staff") >= 2);
    assert!(matches!(
        s.resolver.group_by_gid(10010).await,
        Answer::Found(_, Source::Directory)
    ));
    assert!(s.resolver.flush_all() > 0);
    assert_eq!(s.resolver.cache_stats().entries, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_domain_gets_the_expired_entry_after_a_grace() {
    let d = example();
    let mut st = settings();
    st.stale_grace_ms = 20;
    let s = setup_with(&[&d], st, None);
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Directory)
    );
    s.clock.advance(300_000);
    d.hold(); // every search now waits until released
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Offline)
    );
    // The searches (by name, and by UID for the check) went on; once they
    // end the cache is fresh again.
    d.release(2);
    for key in [Key::UserName("alice".into()), Key::UserId(10001)] {
        let ck = CacheKey::new(Arc::from("example"), key);
        while s.resolver.inner.cache.peek(&ck).unwrap().fetched_ms != T0 + 300_000 {
            tokio::task::yield_now().await;
        }
    }
    assert_eq!(
        uid(s.resolver.user_by_name("alice").await),
        (10001, Source::Cache)
    );
    assert_eq!(d.call_count(), 4);
}

#[tokio::test]
async fn the_status_is_typed_and_reaches_the_full_report_as_is() {
    let d = example();
    let other = FakeDirectory::new("other");
    let s = setup_with(&[&d, &other], settings(), None);
    other.set_online(false);
    uid(s.resolver.user_by_name("alice").await);
    uid(s.resolver.user_by_name("alice").await);
    let st = s.resolver.status();
    let states: Vec<(&str, bool)> = st
        .domains
        .iter()
        .map(|d| (d.name.as_str(), d.online))
        .collect();
    assert_eq!(states, [("example", true), ("other", false)]);
    // The first lookup missed, the second was a hit.
    assert!(st.cache.hits > 0 && st.cache.misses > 0, "{:?}", st.cache);
    let rate = roster_proto::admin::HitRate::of(st.cache.hits, st.cache.misses);
    assert_eq!(st.cache.hit_rate, rate);
    // `--json` prints it as the protocol's types serialize.
    let v = serde_json::to_value(&st).unwrap();
    assert_eq!(v["domains"][1]["name"], "other");
    assert_eq!(v["domains"][1]["online"], false);
    assert_eq!(v["cache"]["hit_rate"], rate.ratio());
    let full = roster_proto::admin::FullStatus::from(st.clone());
    assert_eq!(full.domains, st.domains);
    assert_eq!(full.cache, st.cache);
    assert_eq!(full.version, env!("CARGO_PKG_VERSION"));
}

#[tokio::test]
async fn an_answer_becomes_a_reply_or_a_failure_of_its_kind() {
    let d = example();
    let s = setup_with(&[&d], settings(), None);
    let found = s.resolver.user_by_name("alice").await.found(String::new);
    assert!(matches!(found, Ok((ref u, Source::Directory)) if u.user.uid == 10001));
    let missing = s.resolver.user_by_name("nobody").await;
    assert_eq!(
        missing.found(|| "user nobody".into()).unwrap_err(),
        roster_proto::Failure::not_found("user nobody")
    );
    d.set_online(false);
    let down = s.resolver.user_by_name("bob").await.found(String::new);
    let f = down.unwrap_err();
    assert_eq!(f.kind(), "unavailable");
    assert_eq!(
        f.to_string(),
        "unavailable: domain example: directory unavailable: fake server down"
    );
}

/// The hit counter of the answers cache (decided answers count one hit).
fn hits(s: &Setup) -> u64 {
    s.resolver.cache_stats().hits
}

#[tokio::test]
async fn a_decided_group_list_is_reused_until_what_it_rests_on_is_refreshed() {
    let d = example();
    for k in 0..50 {
        d.add_group(&format!("g{k}"), 40000 + k, &["alice"]);
    }
    let s = setup_with(&[&d], settings(), None);
    let Answer::Found(first, Source::Directory) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    assert_eq!(first.len(), 53);
    // Asked again: one decided answer, not the ownership checks of its
    // 52 groups against the cache again.
    let (h, calls) = (hits(&s), d.call_count());
    let (again, until) = s.resolver.groups_of_user_timed("alice").await;
    assert_eq!(again, Answer::Found(first.clone(), Source::Cache));
    assert_eq!(until, T0 + 300_000);
    assert_eq!(hits(&s), h + 1);
    assert_eq!(d.call_count(), calls);
    // In the last quarter of the answers' life the decision is made again
    // (which starts their refresh in the background); a group added in
    // the meantime shows once the refreshed answers are in.
    s.clock.advance(250_000);
    d.add_group("late", 49999, &["alice"]);
    let Answer::Found(g, Source::Cache) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    assert_eq!(g, first);
    assert!(hits(&s) > h + 2, "decided again from the cached answers");
    loop {
        tokio::task::yield_now().await;
        let Answer::Found(g, _) = s.resolver.groups_of_user("alice").await else {
            panic!()
        };
        if g.contains(&49999) {
            break;
        }
    }
}

#[tokio::test]
async fn decided_answers_follow_the_local_files_and_flushes_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = (dir.path().join("passwd"), dir.path().join("group"));
    std::fs::write(&p, "root:x:0:0::/root:/bin/sh\n").unwrap();
    std::fs::write(&g, "root:x:0:\n").unwrap();
    let d = example();
    // Enough groups and members that the decisions are kept
    // (decided::MIN_PROBES).
    let many: Vec<String> = (0..20).map(|k| format!("m{k}")).collect();
    for (k, m) in many.iter().enumerate() {
        d.add_user(m, 50000 + k as u32, 10000);
        d.add_group(&format!("ag{k}"), 41000 + k as u32, &["alice"]);
    }
    let mut members: Vec<&str> = many.iter().map(String::as_str).collect();
    members.push("alice");
    d.add_group("big", 30002, &members);
    let clock = Arc::new(ManualClock::new(T0));
    let resolver = Resolver::with_local_accounts(
        vec![d.clone() as Arc<dyn Provider>],
        settings(),
        None,
        clock,
        local::LocalAccounts::from_paths(&p, &g),
    );
    let gids = |a: Answer<Vec<u32>>| match a {
        Answer::Found(g, _) => g,
        other => panic!("expected groups, got {other:?}"),
    };
    let all: Vec<u32> = [10000, 10010, 30001, 30002]
        .into_iter()
        .chain(41000..41020)
        .collect();
    assert_eq!(gids(resolver.groups_of_user("alice").await), all);
    let hits = resolver.cache_stats().hits;
    assert_eq!(gids(resolver.groups_of_user("alice").await), all);
    assert_eq!(resolver.cache_stats().hits, hits + 1, "a decided answer");
    assert!(matches!(
        resolver.group_by_gid(30002).await,
        Answer::Found(..)
    ));
    let hits = resolver.cache_stats().hits;
    assert!(matches!(
        resolver.group_by_gid(30002).await,
        Answer::Found(..)
    ));
    assert_eq!(resolver.cache_stats().hits, hits + 1, "a decided answer");
    // A local group takes GID 30002: neither decided answer holds it any
    // more, though the directory's answers are still fresh in the cache.
    std::fs::write(&g, "root:x:0:\nlocalbig:x:30002:\n").unwrap();
    let without: Vec<u32> = all.iter().copied().filter(|&g| g != 30002).collect();
    assert_eq!(gids(resolver.groups_of_user("alice").await), without);
    assert_eq!(resolver.group_by_gid(30002).await, Answer::NotFound);
    // A flushed group is asked again, not answered from a decision.
    assert!(matches!(
        resolver.group_by_name("staff").await,
        Answer::Found(..)
    ));
    d.add_group("staff2", 10011, &[]);
    resolver.flush_group("staff");
    assert!(matches!(
        resolver.group_by_name("staff").await,
        Answer::Found(_, Source::Directory)
    ));
}

#[tokio::test]
async fn a_decision_made_across_a_flush_is_not_kept() {
    let d = example();
    // Enough members that the decision would be kept (MIN_PROBES).
    let many: Vec<String> = (0..20).map(|k| format!("m{k}")).collect();
    for (k, m) in many.iter().enumerate() {
        d.add_user(m, 50000 + k as u32, 10000);
    }
    let members: Vec<&str> = many.iter().map(String::as_str).collect();
    d.add_group("big", 30002, &members);
    let s = setup_with(&[&d], settings(), None);
    let found = |a: Answer<Arc<GroupEntry>>| matches!(a, Answer::Found(..));
    // Everything is flushed as the lookup's first call begins.
    let r = s.resolver.clone();
    d.on_call(d.call_count() + 1, move || {
        r.flush_all();
    });
    assert!(found(s.resolver.group_by_name("big").await));
    // Asked again: decided again from the cached answers, not answered
    // by the decision made across the flush; that one is kept.
    let h = hits(&s);
    assert!(found(s.resolver.group_by_name("big").await));
    assert!(
        hits(&s) > h + 1,
        "answered by the decision made across the flush"
    );
    let h = hits(&s);
    assert!(found(s.resolver.group_by_name("big").await));
    assert_eq!(hits(&s), h + 1, "a decided answer");
}

#[tokio::test]
async fn initgroups_gives_the_primary_group_then_increasing_gids() {
    let d = example();
    d.add_group("late-low", 20005, &["alice"]);
    d.add_group("late-high", 40005, &["alice"]);
    d.add_group("late-lower", 10005, &["alice"]);
    let s = setup_with(&[&d], settings(), None);
    let Answer::Found(g, _) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    assert_eq!(g, vec![10000, 10005, 10010, 20005, 30001, 40005]);
}

#[tokio::test]
async fn a_decision_the_census_took_part_in_is_reused_too() {
    let d = example();
    for k in 0..50 {
        d.add_group(&format!("g{k}"), 40000 + k, &["alice"]);
    }
    d.set_census(true);
    let s = setup_with(&[&d], settings(), None);
    let Answer::Found(first, _) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    for _ in 0..8 {
        tokio::task::yield_now().await;
    }
    assert_eq!(d.census_count(), 2);
    // Decided once more with the censuses (the first decision rested on
    // searches made without them), then reused: one cache hit, no call.
    s.resolver.flush_group("g0");
    let Answer::Found(again, _) = s.resolver.groups_of_user("alice").await else {
        panic!()
    };
    assert_eq!(again, first);
    let (h, calls) = (hits(&s), d.call_count());
    let (third, _) = s.resolver.groups_of_user_timed("alice").await;
    assert_eq!(third, Answer::Found(first, Source::Cache));
    assert_eq!(hits(&s), h + 1);
    assert_eq!(d.call_count(), calls);
}

#[tokio::test]
async fn an_enumeration_whose_listing_failed_is_unavailable_not_empty() {
    let d = example();
    d.set_user_listing_fails(true);
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d], on, None);
    let err = s.resolver.list_users(0, 100).await.unwrap_err();
    assert_eq!(err.failed.len(), 1);
    assert!(err.to_string().contains("fake listing failed"), "{err}");
    // The groups were listed: served as they are.
    let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
    assert!(groups.iter().any(|g| g.name == "staff"));
}

/// A resolver over `d` with `enumerate = true` whose start-up listing
/// has begun in the background, once `reached` holds (within 30 s, else
/// `failure`).
async fn enumerating(d: &Arc<FakeDirectory>, reached: impl Fn() -> bool, failure: &str) -> Setup {
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[d], on, None);
    s.resolver.enumerate_in_background(|| ());
    until(reached, failure).await;
    s
}

/// Gives the runtime's other tasks turns until `reached` holds (within
/// 30 s, else `failure`).
async fn until(reached: impl Fn() -> bool, failure: &str) {
    tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while !reached() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect(failure);
}

/// A resolver over `d` with `enumerate = true` whose start-up listing
/// has been taken: `d` answered a listing of the users and one of the
/// groups within 30 s (else `failure`).
async fn start_up_listing(d: &Arc<FakeDirectory>, failure: &str) -> Setup {
    enumerating(d, || d.call_count() >= 2, failure).await
}

#[tokio::test]
async fn with_enumerate_the_listings_are_taken_at_start_after_the_censuses() {
    let d = example();
    d.set_census(true);
    // Off: nothing is listed in the background.
    let s = setup_with(&[&d], settings(), None);
    s.resolver.enumerate_in_background(|| ());
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!((d.call_count(), d.census_count()), (0, 0));
    // One listing of the users and one of the groups, before any page is
    // asked; the censuses first, so that the group listing checks the
    // members against the users census instead of listing every user
    // again.
    let s = start_up_listing(&d, "no listing taken in the background").await;
    assert_eq!(d.census_count(), 2);
    // Pages are answered from those listings (asked while the last one
    // is still being built, they wait for it): no further call.
    let (users, more) = s.resolver.list_users(0, 100).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!((names, more), (vec!["alice", "bob"], false));
    let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
    assert_eq!(groups.len(), 3);
    assert_eq!(d.call_count(), 2);
}

#[tokio::test]
async fn after_a_flush_the_background_listing_is_taken_again_before_it_reports() {
    let d = example();
    // (With censuses: one listing of the users and one of the groups.)
    d.set_census(true);
    let s = start_up_listing(&d, "no listing taken in the background").await;
    let calls = d.call_count();
    // What a reload does: the listings are invalidated, then taken again
    // at once; `listed` runs once both new ones are in place.
    d.add_user("carol", 10003, 10000);
    s.resolver.flush_all();
    d.hold_group_listing();
    let (tx, mut rx) = tokio::sync::oneshot::channel();
    s.resolver.enumerate_in_background(move || {
        let _ = tx.send(());
    });
    // Not reported while the new group listing is held...
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert!(
        rx.try_recv().is_err(),
        "reported before the new listings were taken"
    );
    // ...and reported once it is taken.
    d.release_group_listing();
    tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the background listing never reported")
        .unwrap();
    assert_eq!(d.call_count(), calls + 2);
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

/// A directory whose users census keeps the user listing, held, and a
/// resolver over it with `enumerate = true` whose start-up listing has
/// begun (its users census asked, within 30 s); the receiver is told
/// when that listing reports both snapshots taken.
async fn users_census_held_at_start() -> (
    Arc<FakeDirectory>,
    Setup,
    tokio::sync::oneshot::Receiver<()>,
) {
    let d = example();
    d.set_census(true);
    d.set_census_lists_users(true);
    d.hold_users_census();
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d], on, None);
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.resolver.enumerate_in_background(move || {
        let _ = tx.send(());
    });
    until(|| d.census_count() >= 1, "the users census never started").await;
    (d, s, rx)
}

/// Waits (at most 30 s) until `d` was asked `n` censuses, then gives the
/// runtime's other tasks 200 turns and checks that it was asked no more
/// (`failure` when it was).
async fn censuses_stay_at(d: &FakeDirectory, n: usize, failure: &str) {
    until(|| d.census_count() >= n, "the censuses were not asked").await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert_eq!(d.census_count(), n, "{failure}");
}

#[tokio::test]
async fn at_start_the_group_census_waits_until_the_user_snapshot_is_held() {
    let (d, s, rx) = users_census_held_at_start().await;
    // The users census reads alone: the group census has not begun.
    censuses_stay_at(&d, 1, "the group census did not wait").await;
    // Once the user snapshot is held, the group census is taken, then the
    // group listing.
    d.release_users_census();
    tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the background listing never reported")
        .unwrap();
    assert_eq!(d.census_count(), 2);
    assert_eq!((d.census_listing_count(), d.call_count()), (1, 1));
    let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
    assert_eq!(groups.len(), 3);
    // A reload's start-up listing holds the new group census back the
    // same way; a flush while it waits lets it go, not kept.
    d.hold_users_census();
    s.resolver.flush_all();
    s.resolver.enumerate_in_background(|| ());
    censuses_stay_at(&d, 3, "the new group census did not wait").await;
    s.resolver.flush_all();
    // The start-up listing starts the censuses of the flushed state (its
    // group census does not wait: no start-up listing wants the users
    // first now; its users census waits at the gate behind the one
    // before the flush), and the group census that waited ends without
    // asking.
    censuses_stay_at(&d, 5, "the waiting group census ran after the flush").await;
    d.release_users_census();
}

#[tokio::test(start_paused = true)]
async fn at_start_the_group_census_waits_for_the_first_listing_s_pages_to_pause() {
    let (d, s, _listed) = users_census_held_at_start().await;
    // A first `getent passwd` waiting for the census's listing...
    let resolver = s.resolver.clone();
    let page = tokio::spawn(async move { resolver.list_users(0, 100).await });
    d.release_users_census();
    assert_eq!(page_names(page).await, ["alice", "bob"]);
    // ...whose pages go on (a reply every 2 ms, 400 ms in all): the group
    // census waits for them to pause.
    for _ in 0..200 {
        s.resolver.answers_sent();
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    assert_eq!(
        d.census_count(),
        1,
        "the group census did not wait for a pause"
    );
    // They pause: it is taken.
    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    until(|| d.census_count() >= 2, "the group census never started").await;
}

/// Runs the start-up listing of `s` and waits (at most 30 s) until it
/// reports both listings taken.
async fn listed_at_start(s: &Setup) {
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.resolver.enumerate_in_background(move || {
        let _ = tx.send(());
    });
    tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the background listing never reported")
        .unwrap();
}

#[tokio::test]
async fn the_first_user_listing_is_the_one_the_users_census_read() {
    let d = example();
    d.set_census(true);
    d.set_census_lists_users(true);
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d], on, None);
    listed_at_start(&s).await;
    // Two censuses, and one listing: the groups'. The users census's pass
    // read the users: no second pass over them.
    assert_eq!((d.census_count(), d.call_count()), (2, 1));
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    // A census renewed while that listing is held keeps none (nothing
    // would take it): it is the census alone.
    s.clock.advance(400_000); // past entry_ttl
    let _ = s.resolver.groups_of_user("alice").await;
    until(|| d.census_count() >= 3, "the users census was not renewed").await;
    assert_eq!(d.census_listing_count(), 1);
    // After a reload the next listing is again the one the new census
    // read: one pass over the users, again.
    d.add_user("carol", 10003, 10000);
    s.resolver.flush_all();
    let (calls, censuses) = (d.call_count(), d.census_count());
    listed_at_start(&s).await;
    assert_eq!(d.census_listing_count(), 2);
    assert_eq!(d.census_count(), censuses + 2);
    // (The group listing's call only.)
    assert_eq!(d.call_count(), calls + 1);
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob", "carol"]);
}

#[tokio::test]
async fn with_two_domains_each_first_user_listing_is_its_census_s_when_it_read_one() {
    let d = example();
    d.set_census(true);
    d.set_census_lists_users(true);
    d.hold_users_census();
    // A domain whose census reads no listing (several search bases, or
    // `limit_to_groups`): its users are listed on their own.
    let other = FakeDirectory::new("other");
    other.add_user("carol", 20001, 20000);
    other.add_group("others", 20000, &[]);
    other.set_census(true);
    // (Held: the page must not wait for it.)
    other.hold_users_census();
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d, &other], on, None);
    s.resolver.enumerate_in_background(|| ());
    // (The users censuses: the group censuses wait for the user
    // snapshot.)
    until(
        || d.census_count() >= 1 && other.census_count() >= 1,
        "the censuses never started",
    )
    .await;
    let resolver = s.resolver.clone();
    let page = tokio::spawn(async move { resolver.list_users(0, 100).await });
    // Every call to the first domain held: its users can come only from
    // its census's listing.
    d.hold();
    d.release_users_census();
    // (Answered while those calls wait: none of them was the page's.)
    let mut names = page_names(page).await;
    names.sort_unstable();
    assert_eq!(names, ["alice", "bob", "carol"]);
    assert_eq!(d.census_listing_count(), 1);
    // The other domain's users, listed on their own while its census was
    // held; its census was asked to keep nothing.
    assert_eq!((other.census_listing_count(), other.call_count()), (0, 1));
    other.release_users_census();
    // (The group listing lists the first domain's users for the second's
    // members, and each domain's groups.)
    d.release(2);
}

#[tokio::test]
async fn a_lookup_begun_before_a_reload_starts_no_census_of_the_replaced_domain() {
    let old = example();
    old.set_census(true);
    let s = setup_with(&[&old], settings(), None);
    // The provider a lookup begun now holds, then a reload replacing it
    // by another domain of the same name.
    let held: Arc<dyn Provider> = s.resolver.domains()[0].clone();
    let new = example();
    new.set_census(true);
    let domains: Vec<Arc<dyn Provider>> = vec![new.clone()];
    s.resolver.reconfigure(domains, settings(), &HashSet::new());
    // That lookup, going on after the reload, asks the census of the
    // domain it began with: none, and none is started (it would be
    // recorded under the new domain's name).
    assert!(s.resolver.census_of(&held, true).is_none());
    for _ in 0..50 {
        tokio::task::yield_now().await;
    }
    assert_eq!(old.census_count(), 0);
    // The new domain's census is taken.
    let current = s.resolver.domains()[0].clone();
    let _ = s.resolver.census_of(&current, true);
    until(
        || new.census_count() >= 2,
        "the new domain's censuses never started",
    )
    .await;
    assert_eq!(old.census_count(), 0);
}

/// Two domains with `enumerate = true`, the first's users census keeping
/// its listing when `kept`: the resolver once its start-up listing is
/// taken, and each domain.
async fn two_domains_listed_at_start(
    kept: bool,
) -> (Setup, Arc<FakeDirectory>, Arc<FakeDirectory>) {
    let d = example();
    d.set_census(true);
    d.set_census_lists_users(kept);
    let other = FakeDirectory::new("other");
    other.add_user("carol", 20001, 20000);
    other.add_user("dave", 20002, 20000);
    // Members of the second domain's groups: its own users, a name the
    // first domain holds, and a name nobody holds.
    other.add_group("others", 20000, &["carol", "alice", "nobody"]);
    other.add_group("pair", 20010, &["carol", "dave"]);
    other.set_census(true);
    // A member of the first domain whose entry lookups refuse (UID 0).
    d.add_group("withroot", 10020, &["alice", "rootclone"]);
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d, &other], on, None);
    listed_at_start(&s).await;
    (s, d, other)
}

#[tokio::test]
async fn the_start_up_group_listing_takes_the_earlier_domains_users_from_the_user_listing() {
    for kept in [true, false] {
        let (s, d, _other) = two_domains_listed_at_start(kept).await;
        // The first domain's users listed once (by its census, or by the
        // user listing), not again for the group listing's member checks;
        // and its groups.
        assert_eq!(d.user_listing_count(), usize::from(!kept), "kept: {kept}");
        let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
        let mut listed: Vec<String> = groups
            .iter()
            .map(|g| format!("{}:{}", g.name, g.members.join(",")))
            .collect();
        listed.sort_unstable();
        // As when the group listing listed them itself (the same before
        // the hand-over): the first domain's names qualify the second's
        // member of that name.
        assert_eq!(
            listed,
            [
                "mg1:alice",
                "others:carol,alice@other,nobody",
                "pair:carol,dave",
                "staff:alice,bob",
                "users:",
                "withroot:alice"
            ],
            "kept: {kept}"
        );
        // A group listing after the start-up one lists them again.
        s.clock.advance(400_000); // past entry_ttl
        let listed = d.user_listing_count();
        let _ = s.resolver.list_groups(0, 100).await.unwrap();
        until(
            || d.user_listing_count() > listed,
            "the refreshed group listing did not list the users",
        )
        .await;
    }
}

#[tokio::test]
async fn a_user_listing_read_across_a_flush_is_not_handed_to_the_group_listing() {
    let d = example();
    d.set_census(true);
    let other = FakeDirectory::new("other");
    other.add_user("carol", 20001, 20000);
    other.set_census(true);
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d, &other], on, None);
    // The first domain's calls held: its user listing is read across the
    // flush below.
    d.hold();
    let (tx, rx) = tokio::sync::oneshot::channel();
    s.resolver.enumerate_in_background(move || {
        let _ = tx.send(());
    });
    until(
        || d.user_listing_count() == 1,
        "the user listing never began",
    )
    .await;
    s.resolver.flush_all();
    d.release(100);
    tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the start-up listing never reported")
        .unwrap();
    // The group listing listed the users again.
    assert_eq!(d.user_listing_count(), 2);
}

/// A page of the user enumeration being answered.
type Page =
    tokio::task::JoinHandle<Result<(Vec<roster_proto::User>, bool), enumerate::EnumerationError>>;

/// A resolver over `d` with `enumerate = true` whose start-up censuses
/// have begun, its users census held (and handing over the user listing
/// when `lists`), and a page of the user enumeration asked meanwhile.
async fn page_asked_while_the_users_census_is_held(
    d: &Arc<FakeDirectory>,
    lists: bool,
) -> (Setup, Page) {
    d.set_census(true);
    d.set_census_lists_users(lists);
    d.hold_users_census();
    // (The users census: the group census waits for the user snapshot.)
    let s = enumerating(d, || d.census_count() >= 1, "the census never started").await;
    let resolver = s.resolver.clone();
    let page = tokio::spawn(async move { resolver.list_users(0, 100).await });
    (s, page)
}

/// [`page_asked_while_the_users_census_is_held`] with a census that hands
/// over the user listing: the page waits for it.
async fn page_waiting_for_the_census(d: &Arc<FakeDirectory>) -> (Setup, Page) {
    let (s, page) = page_asked_while_the_users_census_is_held(d, true).await;
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert!(!page.is_finished(), "the page did not wait for the census");
    (s, page)
}

/// The names of the page `page` answers within 30 s.
async fn page_names(page: Page) -> Vec<String> {
    let (users, _) = tokio::time::timeout(std::time::Duration::from_secs(30), page)
        .await
        .expect("the page never answered")
        .unwrap()
        .unwrap();
    users.into_iter().map(|u| u.name).collect()
}

#[tokio::test]
async fn a_page_does_not_wait_for_a_census_that_reads_no_listing() {
    // (A domain whose census reads the users apart from the listing: two
    // search bases, `limit_to_groups`, or no census of that kind.)
    let d = example();
    let (_s, page) = page_asked_while_the_users_census_is_held(&d, false).await;
    // Answered while the census is still held.
    assert_eq!(page_names(page).await, ["alice", "bob"]);
    assert_eq!(d.census_listing_count(), 0);
    d.release_users_census();
}

#[tokio::test]
async fn a_listing_that_gave_up_waiting_leaves_the_census_nothing_to_keep() {
    let (d, s, rx) = users_census_held_at_start().await;
    // A build that gives up on the held census's listing...
    let generation = s.resolver.user_listing_begins();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_millis(20);
    let found = s
        .resolver
        .census_listing("example", deadline, generation)
        .await;
    assert!(found.is_none());
    // ...leaves it nothing to keep: the start-up listing, once the census
    // ends, lists the users on its own (and the groups).
    d.release_users_census();
    tokio::time::timeout(std::time::Duration::from_secs(30), rx)
        .await
        .expect("the background listing never reported")
        .unwrap();
    assert_eq!((d.census_listing_count(), d.call_count()), (1, 2));
}

#[tokio::test]
async fn a_page_waiting_for_a_census_that_fails_lists_on_its_own() {
    let d = example();
    let (_s, page) = page_waiting_for_the_census(&d).await;
    d.set_census_panics(true);
    d.release_users_census();
    // (Its own listing: the census read none.)
    assert_eq!(page_names(page).await, ["alice", "bob"]);
}

#[tokio::test]
async fn a_flush_wakes_a_page_waiting_for_a_census_and_it_lists_on_its_own() {
    let d = example();
    let (s, page) = page_waiting_for_the_census(&d).await;
    let calls = d.call_count();
    // The census stays held: the page does not wait for it after the
    // flush, whose listing would not be kept.
    s.resolver.flush_all();
    assert_eq!(page_names(page).await, ["alice", "bob"]);
    assert!(d.call_count() > calls);
    d.release_users_census();
}

#[tokio::test]
async fn a_page_asked_while_the_users_census_reads_the_listing_waits_for_it() {
    let d = example();
    // Waiting for the census's listing, not taking a pass of its own.
    let (_s, page) = page_waiting_for_the_census(&d).await;
    assert_eq!(d.call_count(), 0);
    d.release_users_census();
    assert_eq!(page_names(page).await, ["alice", "bob"]);
    // No user listing: at most the start-up listing's of the groups.
    assert!(d.call_count() <= 1, "{} calls", d.call_count());
}

#[tokio::test]
async fn a_listing_the_census_kept_longer_than_it_is_trusted_is_not_used() {
    let d = example();
    let (s, page) = page_waiting_for_the_census(&d).await;
    // The census's listing began now; it ends past three quarters of
    // entry_ttl (300 s), when a census is renewed, not trusted as it is.
    s.clock.advance(230_000);
    // Every call to the directory held: the page can answer only from the
    // census's listing or by a listing of its own.
    d.hold();
    let calls = d.call_count();
    d.release_users_census();
    for _ in 0..200 {
        tokio::task::yield_now().await;
    }
    assert!(
        !page.is_finished(),
        "the page was answered from a listing kept too long"
    );
    assert!(
        d.call_count() > calls,
        "the page took no listing of its own"
    );
    // What its own listing reads: the directory now.
    d.add_user("carol", 10003, 10000);
    // (Its own listing, and the start-up listing's of the groups.)
    d.release(2);
    assert_eq!(page_names(page).await, ["alice", "bob", "carol"]);
}

#[tokio::test]
async fn a_census_that_panicked_ends_and_the_start_up_listing_goes_on() {
    let d = example();
    d.set_census(true);
    d.set_census_panics(true);
    // Not "under way" for good: the start-up listing does not wait for
    // it (its bound is 60 s) and the status shows why there is none.
    let s = start_up_listing(
        &d,
        "the start-up listing waited for a census that had panicked",
    )
    .await;
    let status = s.resolver.census_status("example").expect("census status");
    assert!(status.users.is_none());
    let error = status.last_error.expect("the census's error");
    assert!(error.contains("ended without a result"), "{error}");
}

#[tokio::test]
async fn an_entry_too_large_to_send_is_refused_by_its_dn_once_and_left_out() {
    let d = example();
    let big = "g".repeat(roster_proto::MAX_STRING_LEN + 1);
    d.set_gecos("bob", &big);
    d.add_group("huge", 10020, &[big.as_str()]);
    let mut on = settings();
    on.enumerate = true;
    let ttl = on.entry_ttl_ms;
    let s = setup_with(&[&d], on, None);
    for _ in 0..2 {
        let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
        let names: Vec<&str> = users.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["alice"]);
        let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
        assert!(groups.iter().all(|g| g.name != "huge"));
        assert_eq!(groups.len(), 3);
        // Listed again: recorded (and logged) once, by its DN.
        s.clock.advance(ttl);
        s.resolver.flush_all();
    }
    let refused = s.resolver.refused_entries();
    let mut dns: Vec<&str> = refused
        .iter()
        .filter(|(_, _, why)| why.contains("larger than a reply may be"))
        .map(|(_, dn, _)| dn.as_str())
        .collect();
    dns.sort();
    assert_eq!(
        dns,
        [
            "cn=huge,ou=groups,dc=example",
            "uid=bob,ou=people,dc=example"
        ]
    );
}

#[tokio::test]
async fn a_user_page_does_not_wait_for_the_group_listing() {
    let d = example();
    d.hold_group_listing();
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d], on, None);
    // A group page waits for the group listing, held at the gate...
    let r = s.resolver.clone();
    let groups = tokio::spawn(async move { r.list_groups(0, 100).await });
    while d.call_count() == 0 {
        tokio::task::yield_now().await;
    }
    // ...while user pages are answered from a listing of the users alone.
    let users = tokio::time::timeout(
        std::time::Duration::from_secs(30),
        s.resolver.list_users(0, 100),
    )
    .await
    .expect("a user page waited for the group listing")
    .unwrap();
    let names: Vec<&str> = users.0.iter().map(|u| u.name.as_str()).collect();
    assert_eq!((names, users.1), (vec!["alice", "bob"], false));
    assert!(!groups.is_finished());
    d.release_group_listing();
    let (groups, more) = groups.await.unwrap().unwrap();
    assert_eq!((groups.len(), more), (3, false));
}

#[tokio::test]
async fn a_refresh_whose_listing_panicked_does_not_stop_later_refreshes() {
    let d = example();
    let mut on = settings();
    on.enumerate = true;
    let ttl = on.entry_ttl_ms;
    let s = setup_with(&[&d], on, None);
    let names = |users: Vec<roster_proto::User>| -> Vec<String> {
        users.into_iter().map(|u| u.name).collect()
    };
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    assert_eq!(names(users), ["alice", "bob"]);
    // The snapshot grows old; the refresh it starts panics in the listing.
    d.add_user("carol", 10003, 10000);
    d.set_user_listing_panics(true);
    s.clock.advance(ttl);
    let calls = d.call_count();
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    assert_eq!(
        names(users),
        ["alice", "bob"],
        "served from the old snapshot"
    );
    let listed = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while d.call_count() == calls {
            tokio::task::yield_now().await;
        }
        // Later refreshes still start: carol is listed once the listing
        // works.
        d.set_user_listing_panics(false);
        loop {
            let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
            if users.len() == 3 {
                return names(users);
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("no refresh started after the one that panicked");
    assert_eq!(listed, ["alice", "bob", "carol"]);
}

#[tokio::test]
async fn a_failing_group_listing_leaves_the_user_enumeration_alone() {
    let d = example();
    d.set_group_listing_fails(true);
    let mut on = settings();
    on.enumerate = true;
    let s = setup_with(&[&d], on, None);
    let err = s.resolver.list_groups(0, 100).await.unwrap_err();
    assert_eq!(err.failed.len(), 1);
    assert!(
        err.to_string().contains("fake group listing failed"),
        "{err}"
    );
    let (users, _) = s.resolver.list_users(0, 100).await.unwrap();
    assert_eq!(users.len(), 2);
    // Nothing listed is kept: the next group page lists again, and serves
    // the groups once the directory lists them.
    d.set_group_listing_fails(false);
    let (groups, _) = s.resolver.list_groups(0, 100).await.unwrap();
    assert!(groups.iter().any(|g| g.name == "staff"));
}

/// The local files of [`with_local_files`]: `root` alone in each.
const ROOT_ONLY: (&str, &str) = ("root:x:0:0::/root:/bin/sh\n", "root:x:0:\n");

/// The example directory behind a resolver that judges by local files of
/// its own, [`ROOT_ONLY`] (in the returned temporary directory): the
/// directory, the paths of the passwd and group files, and the resolver.
fn with_local_files() -> (
    tempfile::TempDir,
    Arc<FakeDirectory>,
    std::path::PathBuf,
    std::path::PathBuf,
    Resolver,
) {
    let dir = tempfile::tempdir().unwrap();
    let (p, g) = (dir.path().join("passwd"), dir.path().join("group"));
    std::fs::write(&p, ROOT_ONLY.0).unwrap();
    std::fs::write(&g, ROOT_ONLY.1).unwrap();
    let d = example();
    let resolver = Resolver::with_local_accounts(
        vec![d.clone() as Arc<dyn Provider>],
        settings(),
        None,
        Arc::new(ManualClock::new(T0)),
        local::LocalAccounts::from_paths(&p, &g),
    );
    (dir, d, p, g, resolver)
}

#[tokio::test]
async fn a_lookup_judges_by_one_version_of_the_local_files() {
    let (_dir, d, p, _, resolver) = with_local_files();
    let members = |a: Answer<Arc<GroupEntry>>| match a {
        Answer::Found(g, _) => g.group.members.clone(),
        other => panic!("expected a group, got {other:?}"),
    };
    // bob becomes a local user as the lookup asks the directory again
    // after the group's search (the group's GID, its members): the lookup
    // still judges by the files as they were at that first search.
    let local_bob = "root:x:0:0::/root:/bin/sh\nbob:x:5000:5000::/:/bin/sh\n";
    let written = p.clone();
    d.on_call(2, move || std::fs::write(&written, local_bob).unwrap());
    assert_eq!(
        members(resolver.group_by_name("staff").await),
        ["alice", "bob"]
    );
    assert!(
        d.call_count() >= 2,
        "the members were asked after the group"
    );
    // The next lookup reads the new version: a local bob is no member.
    assert_eq!(members(resolver.group_by_name("staff").await), ["alice"]);
}

/// Runs `lookup` with `file` holding `before` when it begins, `during`
/// from the start of its first call to the directory (its search out),
/// and `before` again while that call still waits (5 of its 10 ms,
/// paused time): its answer. (The fake answers no call before it is
/// made, so a read without the yield behind the connection's task would
/// pass too; the benchmark's timestamps show that one.)
async fn judged_while_out<T>(
    d: &FakeDirectory,
    file: &std::path::Path,
    before: &str,
    during: &'static str,
    lookup: impl std::future::Future<Output = T>,
) -> T {
    // (Each version a new file renamed over the old, as the tools that
    // edit them do: a new inode, whatever the contents' length.)
    fn replace(file: &std::path::Path, text: &str) {
        let new = file.with_extension("new");
        std::fs::write(&new, text).unwrap();
        std::fs::rename(&new, file).unwrap();
    }
    d.set_latency_ms(10);
    replace(file, before);
    let written = file.to_path_buf();
    d.on_call(d.call_count() + 1, move || replace(&written, during));
    let (answer, ()) = tokio::join!(lookup, async {
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        replace(file, before);
    });
    assert_eq!(d.calls_hooked_left(), 0, "the lookup asked the directory");
    answer
}

#[tokio::test(start_paused = true)]
async fn a_lookup_reads_the_local_files_once_its_search_is_out() {
    let (_dir, d, p, g, resolver) = with_local_files();
    let (passwd, group) = ROOT_ONLY;
    // Their two `stat`s come once the lookup's search is out, not before
    // it (the files it began with) nor after the answer (the files as they
    // are then): the entry, local in that version only, is refused. By
    // name, by UID, and for a group by name and by GID.
    let bob = "root:x:0:0::/root:/bin/sh\nbob:x:5000:5000::/:/bin/sh\n";
    let asked = judged_while_out(&d, &p, passwd, bob, resolver.user_by_name("bob")).await;
    assert!(matches!(asked, Answer::NotFound), "{asked:?}");
    let uid_10001 = "root:x:0:0::/root:/bin/sh\nlocalu:x:10001:5000::/:/bin/sh\n";
    let asked = judged_while_out(&d, &p, passwd, uid_10001, resolver.user_by_uid(10001)).await;
    assert!(matches!(asked, Answer::NotFound), "{asked:?}");
    let staff = "root:x:0:\nstaff:x:5000:\n";
    let asked = judged_while_out(&d, &g, group, staff, resolver.group_by_name("staff")).await;
    assert!(matches!(asked, Answer::NotFound), "{asked:?}");
    let gid_30001 = "root:x:0:\nlocalg:x:30001:\n";
    let asked = judged_while_out(&d, &g, group, gid_30001, resolver.group_by_gid(30001)).await;
    assert!(matches!(asked, Answer::NotFound), "{asked:?}");
    // Asked again, with the files as they began: served.
    assert!(matches!(
        resolver.user_by_name("bob").await,
        Answer::Found(..)
    ));
}
