//! rosterd against the real slapd: lookups by name and ID, qualified
//! names, initgroups (also for a user in 1,000 groups), hidden entries,
//! status, nss.conf, admin commands, and the nss.sock/pam.sock split.

use roster_e2e::dataset::{self, ALICE, BOB, CAROL, DAVE, MANYGROUPS, STAFF_GID, USERS_GID};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;
use roster_proto::{Request, Response};
use std::time::Duration;

fn config(slapd: &Slapd) -> String {
    let pw = slapd.write_bind_password_file(slapd.dir());
    format!(
        r#"
[cache]
entry_ttl = 300
negative_ttl = 60

[[domain]]
name = "example"
uris = ["{uri}"]
base_dn = "{base}"
bind_dn = "{svc}"
bind_password_file = "{pw}"
allow_insecure_bind = true
connect_timeout = 2
op_timeout = 5
"#,
        uri = slapd.ldap_uri(),
        base = dataset::BASE_DN,
        svc = slapd.service_dn(),
        pw = pw.display(),
    )
}

fn user(r: Response) -> roster_proto::User {
    match r {
        Response::User(u) => u,
        other => panic!("expected a user, got {other:?}"),
    }
}

/// rosterd connects and binds once its sockets answer, before any lookup
/// asks (as SSSD goes online at start): a first lookup finds the
/// connection made instead of making it.
#[test]
fn the_directory_is_connected_once_the_sockets_answer_before_a_lookup() {
    let slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    let st = rd.wait_for_domain(
        "the connection made at start",
        Duration::from_secs(30),
        |d| d["server"].is_string(),
    );
    assert_eq!(st["server"], slapd.ldap_uri(), "{st}");
    assert_eq!(st["online"], true, "{st}");
    assert_eq!(st["connects"], 1, "{st}");
    assert_eq!(st["searches"], 0, "no lookup asked: {st}");
    let a = user(rd.nss(&Request::UserByName(ALICE.name.into())));
    assert_eq!(a.uid, ALICE.uid);
}

#[test]
fn lookups_by_name_id_and_qualified_name() {
    let slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    let a = user(rd.nss(&Request::UserByName(ALICE.name.into())));
    assert_eq!(
        (a.name.as_str(), a.uid, a.gid),
        (ALICE.name, ALICE.uid, ALICE.gid)
    );
    assert_eq!(a.gecos, ALICE.cn);
    let b = user(rd.nss(&Request::UserByUid(BOB.uid)));
    assert_eq!(b.name, BOB.name);
    let q = user(rd.nss(&Request::UserByName(format!("{}@example", ALICE.name))));
    assert_eq!(q.uid, ALICE.uid);
    assert_eq!(
        rd.nss(&Request::UserByName("nosuchuser".into())),
        Response::NotFound
    );
    assert_eq!(
        rd.nss(&Request::UserByName("alice@nosuchdomain".into())),
        Response::NotFound
    );
    assert_eq!(rd.nss(&Request::UserByUid(4_000_000)), Response::NotFound);
    // A second root and a UID below min_id are never served.
    assert_eq!(
        rd.nss(&Request::UserByName("rootclone".into())),
        Response::NotFound
    );
    assert_eq!(rd.nss(&Request::UserByUid(0)), Response::NotFound);
    assert_eq!(
        rd.nss(&Request::UserByName("lowuid".into())),
        Response::NotFound
    );
}

#[test]
fn groups_and_initgroups() {
    let slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    match rd.nss(&Request::GroupByName("engineers".into())) {
        Response::Group(g) => {
            assert_eq!(g.gid, STAFF_GID);
            let mut m = g.members.clone();
            m.sort();
            assert_eq!(m, vec![ALICE.name.to_string(), BOB.name.to_string()]);
        }
        other => panic!("{other:?}"),
    }
    assert!(
        matches!(rd.nss(&Request::GroupByGid(USERS_GID)), Response::Group(g) if g.name == "members")
    );
    match rd.nss(&Request::GroupsOfUser(ALICE.name.into())) {
        Response::Gids(g) => {
            assert_eq!(g[0], ALICE.gid, "primary group first");
            assert!(g.contains(&STAFF_GID), "{g:?}");
        }
        other => panic!("{other:?}"),
    }
    let before = searches(&rd);
    match rd.nss(&Request::GroupsOfUser(MANYGROUPS.name.into())) {
        Response::Gids(g) => {
            // The ownership checks' lookups of the 1,000 groups (by GID,
            // then by name) are asked 200 per search, not one by one.
            let cost = searches(&rd) - before;
            assert!(cost <= 20, "{cost} searches");
            assert_eq!(g[0], MANYGROUPS.gid);
            let many = g
                .iter()
                .filter(|gid| {
                    (dataset::MANY_GROUPS_GID_BASE..dataset::MANY_GROUPS_GID_BASE + 1000)
                        .contains(*gid)
                })
                .count();
            assert_eq!(many, dataset::MANY_GROUPS_COUNT as usize);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        rd.nss(&Request::GroupsOfUser("nosuchuser".into())),
        Response::NotFound
    );
}

/// The census of names and IDs: once it is taken, a cold lookup by name
/// or by ID asks the directory once; an entry added afterwards that shares
/// an ID changes nothing that was served, and is itself refused.
#[test]
fn a_census_spares_the_second_search_of_a_cold_lookup() {
    let slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    user(rd.nss(&Request::UserByName(ALICE.name.into())));
    let st = rd.wait_for_domain("the censuses", Duration::from_secs(60), |d| {
        d["census"]["users"].is_u64() && d["census"]["groups"].is_u64()
    });
    let counted = st["census"]["users"].as_u64().unwrap();
    assert!(counted > u64::from(dataset::BULK_USERS), "{st}");
    let before = searches(&rd);
    assert_eq!(
        user(rd.nss(&Request::UserByName(BOB.name.into()))).uid,
        BOB.uid
    );
    assert_eq!(searches(&rd) - before, 1);
    // The census's answer is kept for the UID too.
    assert_eq!(user(rd.nss(&Request::UserByUid(BOB.uid))).name, BOB.name);
    assert_eq!(searches(&rd) - before, 1);
    let before = searches(&rd);
    assert_eq!(
        user(rd.nss(&Request::UserByUid(CAROL.uid))).name,
        CAROL.name
    );
    assert_eq!(searches(&rd) - before, 1);
    // The directory's two entries called "dup" are refused as before.
    assert_eq!(
        rd.nss(&Request::UserByName("dup".into())),
        Response::NotFound
    );
    // The big group's members are decided by the census, before the
    // answer. (Their entries are asked after it, to be kept for an
    // offline restart: the searches may have begun already.)
    let answered = |rd: &Rosterd| {
        let st = rd.domain_status();
        st["census"]["checks_answered"].as_u64().unwrap()
    };
    let before = answered(&rd);
    let searched = searches(&rd);
    match rd.nss(&Request::GroupByName(dataset::BIGGROUP.into())) {
        Response::Group(g) => assert_eq!(g.members.len(), dataset::BULK_USERS as usize),
        other => panic!("{other:?}"),
    }
    // Every member and the group's GID.
    assert_eq!(answered(&rd) - before, u64::from(dataset::BULK_USERS) + 1);
    // Once the reply is sent, rosterd asks the members' entries, 200 names
    // per search, for the cache and the offline store.
    let batches = u64::from(dataset::BULK_USERS).div_ceil(200);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while searches(&rd) - searched < 1 + batches {
        assert!(
            std::time::Instant::now() < deadline,
            "the members were not asked after the reply: {} searches",
            searches(&rd) - searched
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // The groups of a user in 1,000 groups are decided by the census too.
    let before = answered(&rd);
    match rd.nss(&Request::GroupsOfUser(MANYGROUPS.name.into())) {
        Response::Gids(g) => assert_eq!(g.len(), dataset::MANY_GROUPS_COUNT as usize + 1),
        other => panic!("{other:?}"),
    }
    let decided = answered(&rd) - before;
    assert!(
        decided >= u64::from(dataset::MANY_GROUPS_COUNT),
        "{decided}"
    );

    // A newcomer claiming dave's UID after the census: dave is served as
    // the census saw him, by name and by UID; the newcomer is refused.
    slapd.ldapadd(&format!(
        "dn: uid=davetwin,ou=people,{base}\nobjectClass: inetOrgPerson\nobjectClass: posixAccount\n\
         uid: davetwin\ncn: davetwin\nsn: davetwin\nuidNumber: {uid}\ngidNumber: {gid}\n\
         homeDirectory: /home/davetwin\n",
        base = dataset::BASE_DN,
        uid = DAVE.uid,
        gid = USERS_GID,
    ));
    assert_eq!(
        user(rd.nss(&Request::UserByName(DAVE.name.into()))).uid,
        DAVE.uid
    );
    assert_eq!(
        rd.nss(&Request::UserByName("davetwin".into())),
        Response::NotFound
    );
    assert_eq!(user(rd.nss(&Request::UserByUid(DAVE.uid))).name, DAVE.name);
    // A flush forgets the census with the rest: the UID both claim is
    // nobody's now.
    rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
    assert_eq!(
        rd.nss(&Request::UserByName(DAVE.name.into())),
        Response::NotFound
    );
    assert_eq!(rd.nss(&Request::UserByUid(DAVE.uid)), Response::NotFound);
}

/// With `enumerate = true` rosterd lists every user and group at start,
/// once its users censuses are taken (the groups once their census is),
/// without being asked: the first `getent
/// passwd` and `getent group` are then answered from those listings, even
/// with the directory gone.
#[test]
fn with_enumerate_the_listings_are_taken_at_start_and_serve_the_first_pages() {
    let mut slapd = Slapd::start();
    let text = config(&slapd).replace("[cache]\n", "[cache]\nenumerate = true\n");
    let rd = &Rosterd::start(&text);
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !rd.log().contains("start-up enumeration taken") {
        assert!(
            std::time::Instant::now() < deadline,
            "no start-up listing within 60 s:\n{}",
            rd.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    slapd.stop();
    match rd.nss(&Request::ListUsers {
        offset: 0,
        limit: 100_000,
    }) {
        Response::Users { entries, .. } => {
            assert!(entries.iter().any(|u| u.name == ALICE.name), "{entries:?}")
        }
        other => panic!("user page with the directory gone: {other:?}"),
    }
    match rd.nss(&Request::ListGroups {
        offset: 0,
        limit: 100_000,
    }) {
        Response::Groups { entries, .. } => {
            assert!(entries.iter().any(|g| g.gid == USERS_GID), "{entries:?}")
        }
        other => panic!("group page with the directory gone: {other:?}"),
    }
}

/// A server keeps one paged search per connection: paged searches that
/// span several pages (an enumeration; the groups of a user, with a
/// `page_size` of 2) all succeed however the requests meet.
#[test]
fn paged_searches_at_once_do_not_break_each_other() {
    let slapd = Slapd::start();
    let text = config(&slapd).replace("[cache]\n", "[cache]\nenumerate = true\ncensus = false\n");
    let rd = &Rosterd::start(&format!("{text}page_size = 2\n"));
    for round in 0..3 {
        rd.admin(r#"{"cmd":"cache_flush","all":true}"#);
        std::thread::scope(|s| {
            let lists = s.spawn(|| {
                rd.nss(&Request::ListUsers {
                    offset: 0,
                    limit: 10,
                })
            });
            let groups: Vec<_> = [MANYGROUPS.name, ALICE.name, BOB.name, CAROL.name]
                .map(|n| (n, s.spawn(move || rd.nss(&Request::GroupsOfUser(n.into())))))
                .into_iter()
                .collect();
            for (n, g) in groups {
                match g.join().unwrap() {
                    Response::Gids(g) if n == MANYGROUPS.name => {
                        assert!(g.len() > 1000, "round {round}: {}", g.len())
                    }
                    Response::Gids(g) => assert_eq!(g[0], USERS_GID, "round {round}: {n}: {g:?}"),
                    other => panic!("round {round}: initgroups of {n}: {other:?}"),
                }
            }
            match lists.join().unwrap() {
                Response::Users { entries, .. } => assert_eq!(entries.len(), 10, "round {round}"),
                other => panic!("round {round}: enumeration: {other:?}"),
            }
        });
    }
}

/// The domain's search counter, from the status report.
fn searches(rd: &Rosterd) -> u64 {
    let Response::Admin(Ok(roster_proto::AdminReply::Status(report))) = rd.pam(&Request::Status)
    else {
        panic!("Status is not a status report");
    };
    let st = &report.document()["domains"][0];
    st["searches"]
        .as_u64()
        .unwrap_or_else(|| panic!("searches in {st}"))
}

#[test]
fn status_nss_conf_admin_and_socket_split() {
    let slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    user(rd.nss(&Request::UserByName(ALICE.name.into())));
    user(rd.nss(&Request::UserByName(ALICE.name.into())));
    let st = rd.status(&rd.pam_socket());
    assert_eq!(st["domains"][0]["name"], "example");
    assert_eq!(st["domains"][0]["online"], true);
    assert!(st["cache"]["hits"].as_u64().unwrap() >= 1, "{st}");
    assert!(st["cache"]["misses"].as_u64().unwrap() >= 1, "{st}");
    assert!(st["version"].is_string());

    let conf = std::fs::read_to_string(rd.socket_dir().join("nss.conf")).unwrap();
    assert!(conf.lines().any(|l| l == "min_id=1000"), "{conf}");
    assert!(conf.lines().any(|l| l == "ignore_users=root"), "{conf}");

    let j: serde_json::Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"lookup","kind":"user","key":"alice"}"#)).unwrap();
    assert_eq!(j["source"], "cache");
    assert_eq!(j["dn"], ALICE.dn);
    let j: serde_json::Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"lookup","kind":"group","key":"10010"}"#))
            .unwrap();
    assert_eq!(j["source"], "directory");
    assert_eq!(j["entry"]["name"], "engineers");
    let j: serde_json::Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"cache_flush","user":"alice"}"#)).unwrap();
    assert_eq!(j["ok"], true);
    let j: serde_json::Value =
        serde_json::from_str(&rd.admin(r#"{"cmd":"lookup","kind":"user","key":"alice"}"#)).unwrap();
    assert_eq!(j["source"], "directory", "flush really flushed");

    match rd.nss(&Request::Admin(roster_proto::AdminRequest::CacheStats)) {
        Response::Admin(Err(roster_proto::Failure::Refused { reason })) => {
            assert!(reason.contains("pam.sock"), "{reason}")
        }
        other => panic!("admin on nss.sock: {other:?}"),
    }
    let mode = |p: &std::path::Path| {
        use std::os::unix::fs::PermissionsExt;
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    };
    assert_eq!(mode(&rd.nss_socket()), 0o666);
    assert_eq!(mode(&rd.pam_socket()), 0o600);
}

#[test]
fn status_on_nss_sock_holds_no_uri_or_dn() {
    let mut slapd = Slapd::start();
    let rd = Rosterd::start(&config(&slapd));
    user(rd.nss(&Request::UserByName(ALICE.name.into())));
    let json = |socket: &std::path::Path| rd.status(socket).to_string();
    // The whole document, on the root-only socket, names the server.
    let full = json(&rd.pam_socket());
    assert!(full.contains(&slapd.ldap_uri()), "{full}");
    // The world-accessible socket says up, and online or offline.
    let public = json(&rd.nss_socket());
    let v: serde_json::Value = serde_json::from_str(&public).unwrap();
    assert_eq!(v["state"], "up", "{public}");
    assert_eq!(v["domains"][0]["state"], "online", "{public}");
    for secret in ["ldap://", "ldaps://", "dc=", "cn=", "127.0.0.1", "error"] {
        assert!(
            !public.to_lowercase().contains(secret),
            "{secret}: {public}"
        );
    }
    // Stopped directory: still only "offline" (the full document has the
    // error).
    slapd.stop();
    let _ = rd.nss(&Request::UserByName("someone-new".into()));
    let public = json(&rd.nss_socket());
    let v: serde_json::Value = serde_json::from_str(&public).unwrap();
    assert_eq!(v["domains"][0]["state"], "offline", "{public}");
    for secret in ["ldap://", "dc=", "cn=", "127.0.0.1", "error"] {
        assert!(
            !public.to_lowercase().contains(secret),
            "{secret}: {public}"
        );
    }
    let full = json(&rd.pam_socket());
    assert!(full.contains("last_error"), "{full}");
}
