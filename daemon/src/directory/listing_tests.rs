//! An enumeration streamed from a server: entries are converted as they
//! arrive, and every entry whose name or ID another entry of the listing
//! shares is left out (logged once), as well as invalid ones; SSH keys
//! are not asked for. A lookup's search for a user's groups is read as
//! its entries arrive too: each entry once however often it comes, and
//! what a search asked again from its start had put taken back.
//!
//! The fake server ([`Lister`]) speaks just enough LDAP (BER) to answer a
//! search with fixed entries (a user search or a group search, told apart
//! by the filter; those under the search base, carrying the key a lookup
//! asks for) and a SearchResultDone; it takes no bind (the domain has no
//! service account).

use super::test_support::{alice, bounded, directory_of};
use super::*;
use crate::config::Config;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// An entry: DN and attributes.
type Entry = (String, Vec<(&'static str, Vec<String>)>);

/// A server on 127.0.0.1 answering every search with those of `users` or
/// `groups` under its base that carry the value of a key term of its
/// filter (all of them for a listing: [`key_terms`]);
/// it keeps the search requests it got. Its threads end when it is dropped.
struct Lister {
    port: u16,
    stop: Arc<AtomicBool>,
    requests: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Lister {
    fn start(users: Vec<Entry>, groups: Vec<Entry>) -> Lister {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (halt, seen) = (stop.clone(), requests.clone());
        let answers = Arc::new((users, groups));
        std::thread::spawn(move || {
            while !halt.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((conn, _)) => {
                        let (answers, seen) = (answers.clone(), seen.clone());
                        std::thread::spawn(move || serve(conn, &answers, &seen));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Lister {
            port,
            stop,
            requests,
        }
    }

    /// The search requests received so far (raw BER).
    fn searches(&self) -> Vec<Vec<u8>> {
        self.requests.lock().unwrap().clone()
    }
}

impl Drop for Lister {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// BER: `tag`, the definite length of `content`, `content`.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut v = vec![tag];
    let n = content.len();
    if n < 0x80 {
        v.push(n as u8);
    } else {
        v.push(0x84);
        v.extend_from_slice(&(n as u32).to_be_bytes());
    }
    v.extend_from_slice(content);
    v
}

/// An LDAPMessage with ID `id` carrying `op`.
fn message(id: &[u8], op: Vec<u8>) -> Vec<u8> {
    tlv(0x30, &[tlv(0x02, id), op].concat())
}

/// A SearchResultEntry.
fn entry_op((dn, attrs): &Entry) -> Vec<u8> {
    let attrs: Vec<u8> = attrs
        .iter()
        .flat_map(|(name, vals)| {
            let vals: Vec<u8> = vals.iter().flat_map(|v| tlv(0x04, v.as_bytes())).collect();
            tlv(
                0x30,
                &[tlv(0x04, name.as_bytes()), tlv(0x31, &vals)].concat(),
            )
        })
        .collect();
    tlv(
        0x64,
        &[tlv(0x04, dn.as_bytes()), tlv(0x30, &attrs)].concat(),
    )
}

/// One BER element read from `conn` (tag and length included).
fn read_element(conn: &mut TcpStream) -> Option<Vec<u8>> {
    let mut head = [0u8; 2];
    conn.read_exact(&mut head).ok()?;
    let mut out = head.to_vec();
    let len = if head[1] & 0x80 == 0 {
        usize::from(head[1])
    } else {
        let mut bytes = vec![0u8; usize::from(head[1] & 0x7f)];
        conn.read_exact(&mut bytes).ok()?;
        out.extend_from_slice(&bytes);
        bytes.iter().fold(0, |n, b| (n << 8) | usize::from(*b))
    };
    let mut content = vec![0u8; len];
    conn.read_exact(&mut content).ok()?;
    out.extend(content);
    Some(out)
}

/// The message ID of LDAPMessage `msg` and where its operation begins.
fn id_and_op(msg: &[u8]) -> (Vec<u8>, usize) {
    // SEQUENCE header (short or long length), then the INTEGER ID.
    let at = 2 + if msg[1] & 0x80 != 0 {
        usize::from(msg[1] & 0x7f)
    } else {
        0
    };
    let id_len = usize::from(msg[at + 1]);
    (msg[at + 2..at + 2 + id_len].to_vec(), at + 2 + id_len)
}

/// Answers the requests of one connection until it is closed or unbound.
fn serve(mut conn: TcpStream, answers: &(Vec<Entry>, Vec<Entry>), seen: &Mutex<Vec<Vec<u8>>>) {
    conn.set_nonblocking(false).unwrap();
    while let Some(msg) = read_element(&mut conn) {
        let (id, op_at) = id_and_op(&msg);
        let op = msg[op_at];
        let mut out = Vec::new();
        match op {
            // SearchRequest: the entries under its base its filter's
            // key terms match, then success.
            0x63 => {
                let groups = msg.windows(10).any(|w| w == b"posixGroup");
                let list = if groups { &answers.1 } else { &answers.0 };
                let base = dn::normalize(&search_base(&msg[op_at..]));
                let terms = key_terms(&msg);
                for e in list
                    .iter()
                    .filter(|e| under(&e.0, &base) && matches(e, &terms))
                {
                    out.extend(message(&id, entry_op(e)));
                }
                let done = [tlv(0x0a, &[0]), tlv(0x04, b""), tlv(0x04, b"")].concat();
                out.extend(message(&id, tlv(0x65, &done)));
                seen.lock().unwrap().push(msg);
            }
            // BindRequest: success.
            0x60 => {
                let ok = [tlv(0x0a, &[0]), tlv(0x04, b""), tlv(0x04, b"")].concat();
                out.extend(message(&id, tlv(0x61, &ok)));
            }
            // UnbindRequest, or anything else: the connection ends.
            _ => return,
        }
        if conn.write_all(&out).is_err() {
            return;
        }
    }
}

/// The start and length of the content of the BER element at `at`.
fn content_of(b: &[u8], at: usize) -> (usize, usize) {
    if b[at + 1] & 0x80 == 0 {
        (at + 2, usize::from(b[at + 1]))
    } else {
        let n = usize::from(b[at + 1] & 0x7f);
        let len = b[at + 2..at + 2 + n]
            .iter()
            .fold(0, |l, x| (l << 8) | usize::from(*x));
        (at + 2 + n, len)
    }
}

/// The base DN of the SearchRequest `op` (its first element).
fn search_base(op: &[u8]) -> String {
    let (inner, _) = content_of(op, 0);
    let (start, len) = content_of(op, inner);
    String::from_utf8_lossy(&op[start..start + len]).into_owned()
}

/// The equality terms of a search filter on the keys lookups ask by
/// (`uid`, `uidNumber`, `cn`, `gidNumber`): found by their encoding,
/// `[3] { attr, value }`, anywhere in the request.
fn key_terms(msg: &[u8]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for at in 0..msg.len().saturating_sub(6) {
        if msg[at] != 0xa3 || msg[at + 2] != 0x04 {
            continue;
        }
        let (len, alen) = (usize::from(msg[at + 1]), usize::from(msg[at + 3]));
        let v = at + 4 + alen;
        if v + 2 > msg.len() || msg[v] != 0x04 || len != 4 + alen + usize::from(msg[v + 1]) {
            continue;
        }
        let attr = String::from_utf8_lossy(&msg[at + 4..v]).into_owned();
        let value = String::from_utf8_lossy(&msg[v + 2..v + 2 + usize::from(msg[v + 1])]);
        if ["uid", "uidNumber", "cn", "gidNumber"].contains(&attr.as_str()) {
            out.push((attr, value.into_owned()));
        }
    }
    out
}

/// True when DN `dn` is `base` or below it (`base` normalized).
fn under(dn: &str, base: &str) -> bool {
    let dn = dn::normalize(dn);
    dn == base || dn.ends_with(&format!(",{base}"))
}

/// True when `e` carries the value of one of `terms` (values compared in
/// any case, as a server compares names), or `terms` is empty (a listing).
fn matches((_, attrs): &Entry, terms: &[(String, String)]) -> bool {
    terms.is_empty()
        || terms.iter().any(|(attr, value)| {
            attrs.iter().any(|(a, vs)| {
                a.eq_ignore_ascii_case(attr) && vs.iter().any(|v| v.eq_ignore_ascii_case(value))
            })
        })
}

fn user(dn: &str, name: &str, uid: u32) -> Entry {
    (
        dn.to_string(),
        vec![
            ("uid", vec![name.to_string()]),
            ("uidNumber", vec![uid.to_string()]),
            ("gidNumber", vec!["10000".to_string()]),
            ("cn", vec![format!("{name} cn")]),
            ("homeDirectory", vec![format!("/home/{name}")]),
            ("loginShell", vec!["/bin/sh".to_string()]),
        ],
    )
}

fn group(dn: &str, name: &str, gid: u32, members: &[&str]) -> Entry {
    (
        dn.to_string(),
        vec![
            ("cn", vec![name.to_string()]),
            ("gidNumber", vec![gid.to_string()]),
            ("memberUid", members.iter().map(|m| m.to_string()).collect()),
        ],
    )
}

/// A domain on the fake server at `port`, no service account, `extra`
/// lines in its table.
fn directory(port: u16, extra: &str) -> Directory {
    let text = format!(
        "[[domain]]\nname = \"ex\"\nuris = [\"ldap://127.0.0.1:{port}\"]\n\
         base_dn = \"dc=example,dc=test\"\nconnect_timeout = 5\nop_timeout = 5\n\
         offline_retry_initial = 30\n{extra}"
    );
    let c = Config::from_str(&text, "t.toml").unwrap().domains.remove(0);
    directory_of(c)
}

/// Checks that the users census of `d` reads with it, in its one pass,
/// the user listing `d` takes on its own (every field of every user, the
/// keys held), or none when `listed` is false; and that the census counts
/// the entries the census taken alone counts.
async fn assert_census_lists_users(d: &Directory, listed: bool) {
    assert_eq!(d.census_reads_users(), listed);
    let own = bounded("user listing", d.user_listing()).await.unwrap();
    let alone = bounded("census", d.census(true)).await.unwrap().unwrap();
    let taken = bounded("census", d.users_census_with_listing()).await;
    let (census, with) = taken.unwrap().expect("an RFC 2307 domain's census");
    assert_eq!(census.entries(), alone.entries());
    match with {
        Some(with) => {
            assert!(listed, "a listing read with the census: {with:?}");
            assert_eq!(with, own);
        }
        None => assert!(!listed, "no listing read with the census"),
    }
}

#[tokio::test]
async fn a_streamed_listing_leaves_out_every_entry_sharing_a_name_or_an_id() {
    let people = "ou=people,dc=example,dc=test";
    let mut broken = user(&format!("uid=eve,{people}"), "eve", 10005);
    broken.1.retain(|(a, _)| *a != "uidNumber");
    let users = vec![
        user(&format!("uid=alice,{people}"), "alice", 10001),
        user(&format!("uid=bob,{people}"), "bob", 10002),
        // alice's name again, bob's UID again.
        user(&format!("uid=alice,ou=more,{people}"), "alice", 10003),
        user(&format!("uid=carol,{people}"), "carol", 10002),
        user(&format!("uid=dave,{people}"), "dave", 10004),
        broken,
        user(&format!("uid=frank,{people}"), "frank", 10006),
    ];
    let grp = "ou=groups,dc=example,dc=test";
    let groups = vec![
        group(
            &format!("cn=staff,{grp}"),
            "staff",
            20001,
            &["alice", "dave"],
        ),
        group(&format!("cn=staff,ou=old,{grp}"), "staff", 20002, &[]),
        group(&format!("cn=ops,{grp}"), "ops", 20003, &["dave"]),
        group(&format!("cn=dev,{grp}"), "dev", 20003, &[]),
        group(&format!("cn=web,{grp}"), "web", 20004, &["frank", "dave"]),
    ];
    let server = Lister::start(users, groups);
    let d = directory(server.port, "");
    let listing = bounded("user listing", d.user_listing()).await.unwrap();
    let listed = &listing.entries;
    let names: Vec<&str> = listed.iter().map(|u| u.user.name.as_str()).collect();
    assert_eq!(names, ["dave", "frank"]);
    assert_eq!(listed[0].user.home, "/home/dave");
    assert_eq!(listed[0].dn, format!("uid=dave,{people}"));
    // The entries left out still hold the key no other entry has, as a
    // lookup of it finds them: each alice her UID, bob and carol their
    // names.
    let held = HeldKeys {
        names: vec!["bob".into(), "carol".into()],
        ids: vec![10001, 10003],
    };
    assert_eq!(listing.also_held, held);
    let listing = bounded("group listing", d.group_listing()).await.unwrap();
    let held = HeldKeys {
        names: vec!["ops".into(), "dev".into()],
        ids: vec![20001, 20002],
    };
    assert_eq!(listing.also_held, held);
    let names: Vec<(&str, &[String])> = listing
        .entries
        .iter()
        .map(|g| (g.group.name.as_str(), g.group.members.as_slice()))
        .collect();
    assert_eq!(
        names,
        [("web", &["frank".to_string(), "dave".to_string()][..])]
    );
    // Each listing was one search; the user search asked for no SSH keys.
    let searches = server.searches();
    assert_eq!(searches.len(), 2);
    let asks = |s: &[u8], what: &[u8]| s.windows(what.len()).any(|w| w == what);
    assert!(asks(&searches[0], b"uidNumber"));
    assert!(!asks(&searches[0], b"sshPublicKey"));
    // The users census's one pass reads the same listing.
    assert_census_lists_users(&d, true).await;
}

#[tokio::test]
async fn keys_left_out_entries_hold_are_those_limit_to_groups_allows() {
    // As a lookup by the key decides it: the entry found alone, then
    // `limit_to_groups` applied to it.
    let people = "ou=people,dc=example,dc=test";
    let users = vec![
        // alice's name twice (each UID alone), bob's and carol's UID.
        user(&format!("uid=alice,{people}"), "alice", 10001),
        user(&format!("uid=alice,ou=more,{people}"), "alice", 10003),
        user(&format!("uid=bob,{people}"), "bob", 10002),
        user(&format!("uid=carol,{people}"), "carol", 10002),
        user(&format!("uid=dave,{people}"), "dave", 10004),
    ];
    let grp = "ou=groups,dc=example,dc=test";
    let groups = vec![group(
        &format!("cn=gate,{grp}"),
        "gate",
        20010,
        &["carol", "dave"],
    )];
    let server = Lister::start(users, groups);
    let d = directory(server.port, "limit_to_groups = [\"gate\"]\n");
    let listing = bounded("user listing", d.user_listing()).await.unwrap();
    let names: Vec<&str> = listing
        .entries
        .iter()
        .map(|u| u.user.name.as_str())
        .collect();
    assert_eq!(names, ["dave"]);
    let held = HeldKeys {
        names: vec!["carol".into()],
        ids: vec![],
    };
    assert_eq!(listing.also_held, held);
    // `limit_to_groups` takes searches of its own: the census's pass
    // does not stand for the listing.
    assert_census_lists_users(&d, false).await;
}

#[tokio::test]
async fn an_entry_found_under_two_search_bases_is_listed_once() {
    let people = "ou=people,dc=example,dc=test";
    let users = vec![
        user(&format!("uid=alice,{people}"), "alice", 10001),
        user(&format!("UID=Bob, {people}"), "bob", 10002),
    ];
    let server = Lister::start(users, Vec::new());
    // Both bases hold both entries (the second lies within the first).
    let bases = format!(
        "user_search_base = [{{ base = \"dc=example,dc=test\" }}, {{ base = \"{people}\" }}]\n"
    );
    let d = directory(server.port, &bases);
    let listed = bounded("user listing", d.all_users()).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.user.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(server.searches().len(), 2);
    // Nor with two bases (the census counts an entry under each).
    assert_census_lists_users(&d, false).await;
}

/// Checks that `listing` serves exactly what lookups serve: every name of
/// `names` and ID of `ids` a lookup answers (`by_name`, `by_id`, the
/// answer's DN) is listed under that key by that entry, or held by a
/// left-out entry ([`HeldKeys`]), a key a lookup does not answer is
/// neither, and every key listed or held is one of those asked (so none
/// escapes the check).
fn assert_lookups_agree(
    what: &str,
    listed: &[(String, u32, String)],
    held: &HeldKeys,
    by_name: &[(&str, Option<String>)],
    by_id: &[(u32, Option<String>)],
) {
    for (n, found) in by_name {
        let entry = listed.iter().find(|(name, _, _)| name == n);
        match found {
            Some(dn) => assert!(
                entry.is_some_and(|(_, _, d)| d == dn) || held.names.iter().any(|h| h == n),
                "{what} {n:?}: a lookup serves {dn}, the listing neither lists nor holds it"
            ),
            None => assert!(
                entry.is_none() && !held.names.iter().any(|h| h == n),
                "{what} {n:?}: a lookup serves nothing, the listing has {entry:?} (held {held:?})"
            ),
        }
    }
    let asked_name = |n: &str| by_name.iter().any(|(a, _)| *a == n);
    let asked_id = |i: u32| by_id.iter().any(|(a, _)| *a == i);
    for (name, id, dn) in listed {
        assert!(
            asked_name(name) && asked_id(*id),
            "{what} {name:?} (ID {id}, {dn}) is listed but its name or ID was not asked"
        );
    }
    for n in &held.names {
        assert!(asked_name(n), "{what} name {n:?} is held but was not asked");
    }
    for i in &held.ids {
        assert!(asked_id(*i), "{what} ID {i} is held but was not asked");
    }
    for (id, found) in by_id {
        let entry = listed.iter().find(|(_, i, _)| i == id);
        match found {
            Some(dn) => assert!(
                entry.is_some_and(|(_, _, d)| d == dn) || held.ids.contains(id),
                "{what} ID {id}: a lookup serves {dn}, the listing neither lists nor holds it"
            ),
            None => assert!(
                entry.is_none() && !held.ids.contains(id),
                "{what} ID {id}: a lookup serves nothing, the listing has {entry:?} (held {held:?})"
            ),
        }
    }
}

#[tokio::test]
async fn a_user_listing_counts_names_as_a_lookup_of_them_does() {
    // A lookup of a name counts every entry carrying it, valid or not, as
    // any value of the name attribute; a lookup of a UID counts the valid
    // entries. The listing leaves out what the lookups refuse.
    let people = "ou=people,dc=example,dc=test";
    // alice's name, also held by a broken entry (no uidNumber): refused by
    // name; her UID, which no other valid entry has, still hers.
    let mut broken = user(&format!("uid=alice,ou=old,{people}"), "alice", 10009);
    broken.1.retain(|(a, _)| *a != "uidNumber");
    // carol's name, also a second value of bob's: refused by name; bob,
    // named bob alone, listed.
    let mut bob = user(&format!("uid=bob,{people}"), "bob", 10002);
    bob.1[0].1.push("carol".into());
    // dave's name twice on his own entry counts once; a broken entry
    // naming only erin (whose name is bad) claims nothing listed.
    let mut dave = user(&format!("uid=dave,{people}"), "dave", 10004);
    dave.1[0].1.push("dave".into());
    let mut erin = user(&format!("uid=erin,{people}"), "-erin", 10005);
    erin.1[0].1.push("zed".into());
    let users = vec![
        user(&format!("uid=alice,{people}"), "alice", 10001),
        broken,
        bob,
        user(&format!("uid=carol,{people}"), "carol", 10003),
        dave,
        erin,
    ];
    let server = Lister::start(users, Vec::new());
    let d = directory(server.port, "");
    let listing = bounded("user listing", d.user_listing()).await.unwrap();
    let listed: Vec<(String, u32, String)> = listing
        .entries
        .iter()
        .map(|u| (u.user.name.clone(), u.user.uid, u.dn.clone()))
        .collect();
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["bob", "dave"]);
    let held = HeldKeys {
        names: vec![],
        ids: vec![10001, 10003],
    };
    assert_eq!(listing.also_held, held);
    assert_census_lists_users(&d, true).await;
    let mut by_name = Vec::new();
    for n in ["alice", "bob", "carol", "dave", "zed"] {
        let found = bounded("lookup", d.user_by_name(n)).await.unwrap();
        by_name.push((n, found.map(|u| u.dn)));
    }
    let mut by_id = Vec::new();
    for uid in 10001..=10009 {
        let found = bounded("lookup", d.user_by_uid(uid)).await.unwrap();
        by_id.push((uid, found.map(|u| u.dn)));
    }
    assert_lookups_agree("user", &listed, &listing.also_held, &by_name, &by_id);
}

#[tokio::test]
async fn a_group_listing_counts_names_as_a_lookup_of_them_does() {
    // A group lookup, by name as by GID, counts the valid entries under
    // the name they are served as (their first value): a broken entry
    // with a group's name, or a further value of another group's name
    // attribute, takes nothing from it, in the listing as in lookups.
    let grp = "ou=groups,dc=example,dc=test";
    let mut broken = group(&format!("cn=staff,ou=old,{grp}"), "staff", 20009, &[]);
    broken.1.retain(|(a, _)| *a != "gidNumber");
    let mut ops = group(&format!("cn=ops,{grp}"), "ops", 20002, &[]);
    ops.1[0].1.push("web".into());
    let groups = vec![
        group(&format!("cn=staff,{grp}"), "staff", 20001, &[]),
        broken,
        ops,
        group(&format!("cn=web,{grp}"), "web", 20003, &[]),
        // Two valid entries with one name: refused, each GID still held.
        group(&format!("cn=dev,{grp}"), "dev", 20004, &[]),
        group(&format!("cn=dev,ou=old,{grp}"), "dev", 20005, &[]),
    ];
    let server = Lister::start(Vec::new(), groups);
    let d = directory(server.port, "");
    let listing = bounded("group listing", d.group_listing()).await.unwrap();
    let listed: Vec<(String, u32, String)> = listing
        .entries
        .iter()
        .map(|g| (g.group.name.clone(), g.group.gid, g.dn.clone()))
        .collect();
    let names: Vec<&str> = listed.iter().map(|(n, _, _)| n.as_str()).collect();
    assert_eq!(names, ["staff", "ops", "web"]);
    let held = HeldKeys {
        names: vec![],
        ids: vec![20004, 20005],
    };
    assert_eq!(listing.also_held, held);
    let mut by_name = Vec::new();
    for n in ["staff", "ops", "web", "dev"] {
        let found = bounded("lookup", d.group_by_name(n)).await.unwrap();
        by_name.push((n, found.map(|g| g.dn)));
    }
    let mut by_id = Vec::new();
    for gid in 20001..=20009 {
        let found = bounded("lookup", d.group_by_gid(gid)).await.unwrap();
        by_id.push((gid, found.map(|g| g.dn)));
    }
    assert_lookups_agree("group", &listed, &listing.also_held, &by_name, &by_id);
}

/// Two user and group search bases, `ou=a` first, then `ou=b`.
const TWO_BASES: &str = "user_search_base = [{ base = \"ou=a,dc=example,dc=test\" }, \
     { base = \"ou=b,dc=example,dc=test\" }]\n\
     group_search_base = [{ base = \"ou=a,dc=example,dc=test\" }, \
     { base = \"ou=b,dc=example,dc=test\" }]\n";

/// The user listing of `users` under [`TWO_BASES`] (name, UID, DN of each
/// listed user; the keys held), checked against the lookups of `names` and
/// of the UIDs `ids` ([`assert_lookups_agree`]).
async fn users_of_two_bases(
    users: Vec<Entry>,
    names: &[&str],
    ids: std::ops::RangeInclusive<u32>,
) -> (Vec<(String, u32, String)>, HeldKeys) {
    of_two_bases(true, users, names, ids).await
}

/// [`users_of_two_bases`] for groups.
async fn groups_of_two_bases(
    groups: Vec<Entry>,
    names: &[&str],
    ids: std::ops::RangeInclusive<u32>,
) -> (Vec<(String, u32, String)>, HeldKeys) {
    of_two_bases(false, groups, names, ids).await
}

/// [`users_of_two_bases`] (`users`) or [`groups_of_two_bases`].
async fn of_two_bases(
    users: bool,
    entries: Vec<Entry>,
    names: &[&str],
    ids: std::ops::RangeInclusive<u32>,
) -> (Vec<(String, u32, String)>, HeldKeys) {
    let server = if users {
        Lister::start(entries, Vec::new())
    } else {
        Lister::start(Vec::new(), entries)
    };
    let d = directory(server.port, TWO_BASES);
    let (listed, held): (Vec<(String, u32, String)>, HeldKeys) = if users {
        let l = bounded("user listing", d.user_listing()).await.unwrap();
        let listed = l
            .entries
            .iter()
            .map(|u| (u.user.name.clone(), u.user.uid, u.dn.clone()));
        (listed.collect(), l.also_held)
    } else {
        let l = bounded("group listing", d.group_listing()).await.unwrap();
        let listed = l
            .entries
            .iter()
            .map(|g| (g.group.name.clone(), g.group.gid, g.dn.clone()));
        (listed.collect(), l.also_held)
    };
    let mut by_name = Vec::new();
    for &n in names {
        let dn = if users {
            bounded("lookup", d.user_by_name(n))
                .await
                .unwrap()
                .map(|u| u.dn)
        } else {
            bounded("lookup", d.group_by_name(n))
                .await
                .unwrap()
                .map(|g| g.dn)
        };
        by_name.push((n, dn));
    }
    let mut by_id = Vec::new();
    for id in ids {
        let dn = if users {
            bounded("lookup", d.user_by_uid(id))
                .await
                .unwrap()
                .map(|u| u.dn)
        } else {
            bounded("lookup", d.group_by_gid(id))
                .await
                .unwrap()
                .map(|g| g.dn)
        };
        by_id.push((id, dn));
    }
    let kind = if users { "user" } else { "group" };
    assert_lookups_agree(kind, &listed, &held, &by_name, &by_id);
    (listed, held)
}

/// The names of `listed`.
fn names_of(listed: &[(String, u32, String)]) -> Vec<&str> {
    listed.iter().map(|(n, _, _)| n.as_str()).collect()
}

#[tokio::test]
async fn a_name_under_two_search_bases_is_served_from_the_first() {
    // A lookup of alice stops at ou=a: its alice is served, ou=b's is
    // never reached (its UID, found alone, still held).
    let users = vec![
        user("uid=alice,ou=a,dc=example,dc=test", "alice", 10001),
        user("uid=alice,ou=b,dc=example,dc=test", "alice", 10011),
    ];
    let (listed, held) = users_of_two_bases(users, &["alice"], 10001..=10011).await;
    assert_eq!(names_of(&listed), ["alice"]);
    assert_eq!(listed[0].2, "uid=alice,ou=a,dc=example,dc=test");
    assert_eq!(
        held,
        HeldKeys {
            names: vec![],
            ids: vec![10011]
        }
    );
    let groups = vec![
        group("cn=staff,ou=a,dc=example,dc=test", "staff", 20001, &[]),
        group("cn=staff,ou=b,dc=example,dc=test", "staff", 20011, &[]),
    ];
    let (listed, held) = groups_of_two_bases(groups, &["staff"], 20001..=20011).await;
    assert_eq!(names_of(&listed), ["staff"]);
    assert_eq!(listed[0].2, "cn=staff,ou=a,dc=example,dc=test");
    assert_eq!(
        held,
        HeldKeys {
            names: vec![],
            ids: vec![20011]
        }
    );
}

#[tokio::test]
async fn a_name_claimed_under_a_later_search_base_takes_nothing_from_the_first() {
    // bob of ou=a is served: a lookup of bob never reaches ou=b's broken
    // entry; nor carol of ou=a, ou=b's further value `carol` of dave.
    let mut broken = user("uid=bob,ou=b,dc=example,dc=test", "bob", 10012);
    broken.1.retain(|(a, _)| *a != "uidNumber");
    let mut dave = user("uid=dave,ou=b,dc=example,dc=test", "dave", 10014);
    dave.1[0].1.push("carol".into());
    let users = vec![
        user("uid=bob,ou=a,dc=example,dc=test", "bob", 10002),
        user("uid=carol,ou=a,dc=example,dc=test", "carol", 10003),
        broken,
        dave,
    ];
    let names = ["bob", "carol", "dave"];
    let (listed, held) = users_of_two_bases(users, &names, 10001..=10014).await;
    assert_eq!(names_of(&listed), ["bob", "carol", "dave"]);
    assert_eq!(held, HeldKeys::default());
}

#[tokio::test]
async fn a_key_carried_under_an_earlier_search_base_stops_its_lookups_there() {
    // Under ou=a: a broken entry named bob, a further value `carol` of
    // erin, an entry `Dave` (a server matches names in any case), a broken
    // entry with UID 10006 (its name is bad). Each stops the lookups of its
    // key at ou=a, where no valid entry has it: ou=b's bob, carol and dave
    // are not served by name (their UIDs are), nor frank by UID (his name
    // is).
    let mut broken = user("uid=bob,ou=a,dc=example,dc=test", "bob", 10009);
    broken.1.retain(|(a, _)| *a != "uidNumber");
    let mut erin = user("uid=erin,ou=a,dc=example,dc=test", "erin", 10005);
    erin.1[0].1.push("carol".into());
    let bad = user("uid=x,ou=a,dc=example,dc=test", "-x", 10006);
    let users = vec![
        broken,
        erin,
        user("uid=Dave,ou=a,dc=example,dc=test", "Dave", 10007),
        bad,
        user("uid=bob,ou=b,dc=example,dc=test", "bob", 10012),
        user("uid=carol,ou=b,dc=example,dc=test", "carol", 10013),
        user("uid=dave,ou=b,dc=example,dc=test", "dave", 10014),
        user("uid=frank,ou=b,dc=example,dc=test", "frank", 10006),
    ];
    let names = ["bob", "carol", "dave", "Dave", "erin", "frank"];
    let (listed, held) = users_of_two_bases(users, &names, 10001..=10014).await;
    assert_eq!(names_of(&listed), ["erin", "Dave"]);
    let held_keys = HeldKeys {
        names: vec!["frank".into()],
        ids: vec![10012, 10013, 10014],
    };
    assert_eq!(held, held_keys);
    // Groups alike: a group entry without a GID named ops, a broken one
    // with GID 20006, under ou=a.
    let mut ops_a = group("cn=ops,ou=a,dc=example,dc=test", "ops", 20009, &[]);
    ops_a.1.retain(|(a, _)| *a != "gidNumber");
    let groups = vec![
        ops_a,
        group("cn=x,ou=a,dc=example,dc=test", "-x", 20006, &[]),
        group("cn=ops,ou=b,dc=example,dc=test", "ops", 20012, &[]),
        group("cn=web,ou=b,dc=example,dc=test", "web", 20006, &[]),
    ];
    let (listed, held) = groups_of_two_bases(groups, &["ops", "web"], 20001..=20012).await;
    assert!(listed.is_empty(), "{listed:?}");
    let held_keys = HeldKeys {
        names: vec!["web".into()],
        ids: vec![20012],
    };
    assert_eq!(held, held_keys);
}

#[tokio::test]
async fn an_id_under_two_search_bases_is_served_from_the_first() {
    // A lookup of UID 10006 stops at ou=a: frank is served; gina of ou=b
    // keeps her name only. Groups alike.
    let users = vec![
        user("uid=frank,ou=a,dc=example,dc=test", "frank", 10006),
        user("uid=gina,ou=b,dc=example,dc=test", "gina", 10006),
    ];
    let (listed, held) = users_of_two_bases(users, &["frank", "gina"], 10006..=10006).await;
    assert_eq!(names_of(&listed), ["frank"]);
    let held_keys = HeldKeys {
        names: vec!["gina".into()],
        ids: vec![],
    };
    assert_eq!(held, held_keys);
    let groups = vec![
        group("cn=dev,ou=a,dc=example,dc=test", "dev", 20006, &[]),
        group("cn=qa,ou=b,dc=example,dc=test", "qa", 20006, &[]),
    ];
    let (listed, held) = groups_of_two_bases(groups, &["dev", "qa"], 20006..=20006).await;
    assert_eq!(names_of(&listed), ["dev"]);
    let held_keys = HeldKeys {
        names: vec!["qa".into()],
        ids: vec![],
    };
    assert_eq!(held, held_keys);
}

/// The ID and operation tag of the next request on `conn` (`None` once
/// it is closed).
fn next_request(conn: &mut TcpStream) -> Option<(Vec<u8>, u8)> {
    let msg = read_element(conn)?;
    let (id, op_at) = id_and_op(&msg);
    Some((id, msg[op_at]))
}

/// A SearchResultDone of success answering request `id`.
fn done_message(id: &[u8]) -> Vec<u8> {
    let done = [tlv(0x0a, &[0]), tlv(0x04, b""), tlv(0x04, b"")].concat();
    message(id, tlv(0x65, &done))
}

/// Log lines, each sent on a channel as it is written: what a test waits
/// for instead of polling.
#[derive(Clone)]
struct LogLines(tokio::sync::mpsc::UnboundedSender<String>);

impl std::io::Write for LogLines {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let _ = self.0.send(String::from_utf8_lossy(buf).into_owned());
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Logs of this thread sent, a line at a time, on the channel returned
/// (until the guard is dropped).
fn capture_logs() -> (
    tracing::subscriber::DefaultGuard,
    tokio::sync::mpsc::UnboundedReceiver<String>,
) {
    // Every thread gets a subscriber that takes every event: tracing
    // caches whether a log statement is wanted for the whole process, and
    // one first reached on a test thread without a subscriber would stay
    // off for this thread's too.
    static EVERY_THREAD: std::sync::Once = std::sync::Once::new();
    EVERY_THREAD.call_once(|| {
        let _ = tracing::subscriber::set_global_default(tracing_subscriber::registry());
    });
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || LogLines(tx.clone()))
        .with_ansi(false)
        .finish();
    (tracing::subscriber::set_default(subscriber), rx)
}

/// How many refused entries the log lines `lines` has received so far
/// tell of.
fn refusals_logged(lines: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> usize {
    let mut refusals = 0;
    while let Ok(line) = lines.try_recv() {
        refusals += usize::from(line.contains("directory entry not served"));
    }
    refusals
}

/// The names and GIDs of `groups`.
fn named(groups: &[GroupRef]) -> Vec<(&str, u32)> {
    groups.iter().map(|g| (g.name.as_str(), g.gid)).collect()
}

#[tokio::test]
async fn a_users_groups_are_read_while_their_search_is_still_out() {
    // The server sends a group it refuses (its GID is no number) and
    // holds back the rest of its answer until the test has seen the
    // refusal logged: read only once the search has ended, the entry
    // never would be, and the test fails at its bound.
    let (_logs, mut lines) = capture_logs();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let (go, went) = std::sync::mpsc::channel::<()>();
    let groups = "ou=groups,dc=example,dc=test";
    let mut refused = group(&format!("cn=bad,{groups}"), "bad", 0, &["alice"]);
    refused.1[1].1 = vec!["many".to_string()];
    let good = group(&format!("cn=good,{groups}"), "good", 20002, &["alice"]);
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        while let Some((id, op)) = next_request(&mut conn) {
            if op != 0x63
                || conn.write_all(&message(&id, entry_op(&refused))).is_err()
                || went.recv_timeout(Duration::from_secs(30)).is_err()
            {
                return;
            }
            let rest = [message(&id, entry_op(&good)), done_message(&id)].concat();
            if conn.write_all(&rest).is_err() {
                return;
            }
        }
    });
    let d = directory(port, "");
    let user = alice();
    let lookup = d.groups_of_user(&user);
    let watch = async {
        let seen = tokio::time::timeout(Duration::from_secs(10), async {
            while let Some(line) = lines.recv().await {
                if line.contains("directory entry not served") && line.contains("cn=bad") {
                    return true;
                }
            }
            false
        })
        .await;
        assert_eq!(
            seen,
            Ok(true),
            "the refused group was not read while the search was out"
        );
        go.send(()).unwrap();
    };
    let (found, ()) = bounded("groups", async { tokio::join!(lookup, watch) }).await;
    // The primary group first (no entry of its own here: no name).
    assert_eq!(named(&found.unwrap()), [("", 10000), ("good", 20002)]);
}

#[tokio::test]
async fn a_gid_two_groups_have_is_given_once_with_the_first_group() {
    // (The fake server answers the user's groups' search with the groups
    // of the user's primary GID, and the name's with every group.)
    let groups = "ou=groups,dc=example,dc=test";
    let server = Lister::start(
        Vec::new(),
        vec![
            group(&format!("cn=first,{groups}"), "first", 10000, &["alice"]),
            group(&format!("cn=third,{groups}"), "third", 20003, &["alice"]),
            group(&format!("cn=second,{groups}"), "second", 10000, &["alice"]),
        ],
    );
    let d = directory(server.port, "");
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("first", 10000)]);
    let gids = bounded("gids", d.groups_of_name("alice")).await.unwrap();
    assert_eq!(gids, [10000, 20003]);
}

#[tokio::test]
async fn a_group_found_under_two_search_bases_is_read_once() {
    let (_logs, mut lines) = capture_logs();
    let groups = "ou=groups,dc=example,dc=test";
    // Both found by the user's primary GID, under both bases (the second
    // lies within the first); the second is refused (no group name has
    // a colon).
    let refused = group(&format!("cn=bad,{groups}"), "bad:name", 10000, &[]);
    let server = Lister::start(
        Vec::new(),
        vec![
            group(&format!("cn=staff,{groups}"), "staff", 10000, &[]),
            refused,
        ],
    );
    let bases = format!(
        "group_search_base = [{{ base = \"dc=example,dc=test\" }}, {{ base = \"{groups}\" }}]\n"
    );
    let d = directory(server.port, &bases);
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("staff", 10000)]);
    assert_eq!(server.searches().len(), 2, "one search a base");
    assert_eq!(
        refusals_logged(&mut lines),
        1,
        "the refused group logged once"
    );
}

#[tokio::test]
async fn a_group_a_referral_brings_again_is_read_once() {
    // The first server answers the groups' search with a group it refuses
    // and a reference to the second, which has that group again (its DN
    // spelled in other case) beside the user's primary group: the group
    // is read, and its refusal logged, once.
    let (_logs, mut lines) = capture_logs();
    let groups = "ou=groups,dc=example,dc=test";
    let refused = group(&format!("cn=bad,{groups}"), "bad:name", 10000, &[]);
    let mut again = refused.clone();
    again.0 = "CN=Bad,OU=Groups,DC=example,DC=test".to_string();
    let second = Lister::start(
        Vec::new(),
        vec![
            group(&format!("cn=staff,{groups}"), "staff", 10000, &[]),
            again,
        ],
    );
    let url = format!("ldap://127.0.0.1:{}/{groups}", second.port);
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let Ok((mut conn, _)) = listener.accept() else {
            return;
        };
        while let Some((id, op)) = next_request(&mut conn) {
            if op != 0x63 {
                return;
            }
            let reference = message(&id, tlv(0x73, &tlv(0x04, url.as_bytes())));
            let answer = [
                message(&id, entry_op(&refused)),
                reference,
                done_message(&id),
            ];
            if conn.write_all(&answer.concat()).is_err() {
                return;
            }
        }
    });
    let d = directory(port, "");
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("staff", 10000)]);
    assert_eq!(second.searches().len(), 1, "the reference followed");
    assert_eq!(
        refusals_logged(&mut lines),
        1,
        "the refused group logged once"
    );
}

/// A server on 127.0.0.1 whose first connection answers its searches
/// with `answers` in turn (each then done: it is a reused connection
/// after the first), sends the search after them the entries `cut` and
/// breaks, and whose second connection answers every search with
/// `then`. Returns its port.
fn breaking_server(answers: Vec<Vec<Entry>>, cut: Vec<Entry>, then: Vec<Entry>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let answer = |id: &[u8], entries: &[Entry]| -> Vec<u8> {
        let mut out: Vec<u8> = entries
            .iter()
            .flat_map(|e| message(id, entry_op(e)))
            .collect();
        out.extend(done_message(id));
        out
    };
    std::thread::spawn(move || {
        let Ok((mut first, _)) = listener.accept() else {
            return;
        };
        for entries in &answers {
            let Some((id, 0x63)) = next_request(&mut first) else {
                return;
            };
            if first.write_all(&answer(&id, entries)).is_err() {
                return;
            }
        }
        let Some((id, 0x63)) = next_request(&mut first) else {
            return;
        };
        let cut: Vec<u8> = cut.iter().flat_map(|e| message(&id, entry_op(e))).collect();
        let _ = first.write_all(&cut);
        let _ = first.shutdown(std::net::Shutdown::Both);
        drop(first);
        let Ok((mut second, _)) = listener.accept() else {
            return;
        };
        while let Some((id, 0x63)) = next_request(&mut second) {
            if second.write_all(&answer(&id, &then)).is_err() {
                return;
            }
        }
    });
    port
}

#[tokio::test]
async fn a_users_groups_asked_again_are_those_of_the_second_answer() {
    // The first connection answers a search (it is then a reused one),
    // sends the next a group and breaks; the search is asked again on a
    // new connection, whose answer lacks that group: it is not one of
    // the user's groups.
    let groups = "ou=groups,dc=example,dc=test";
    let gone = group(&format!("cn=gone,{groups}"), "gone", 20001, &["alice"]);
    let kept = group(&format!("cn=kept,{groups}"), "kept", 20002, &["alice"]);
    let port = breaking_server(vec![vec![]], vec![gone], vec![kept]);
    let d = directory(port, "");
    // (Nobody of that name: the connection answered one search.)
    let none = bounded("user", d.user_by_name("nobody")).await.unwrap();
    assert!(none.is_none());
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("", 10000), ("kept", 20002)]);
}

#[tokio::test]
async fn a_nesting_level_asked_again_takes_back_only_its_own_groups() {
    // rfc2307bis: alice is in g1 and g2, and g1 is a member of g2. The
    // first connection answers a search (it is then a reused one) and the
    // user's groups, then breaks on the first nesting level's search,
    // which is asked again on a new connection and finds g2 (met at the
    // level before: read once, as before the break).
    let groups = "ou=groups,dc=example,dc=test";
    let (g1, g2) = (
        group(&format!("cn=g1,{groups}"), "g1", 20001, &["alice"]),
        group(&format!("cn=g2,{groups}"), "g2", 20002, &["alice"]),
    );
    let port = breaking_server(vec![vec![], vec![g1, g2.clone()]], vec![], vec![g2]);
    let d = directory(port, "schema = \"rfc2307bis\"\n");
    let none = bounded("user", d.user_by_name("nobody")).await.unwrap();
    assert!(none.is_none());
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("", 10000), ("g1", 20001), ("g2", 20002)]);
}

#[tokio::test]
async fn a_search_base_asked_again_takes_back_only_its_own_groups() {
    // Two search bases: the first connection answers a search (it is then
    // a reused one) and the first base's query (ga), then sends gb for
    // the second base's and breaks; asked again on a new connection, the
    // second base's query finds gb again: read then, and ga kept.
    let (one, two) = ("ou=one,dc=example,dc=test", "ou=two,dc=example,dc=test");
    let ga = group(&format!("cn=ga,{one}"), "ga", 20001, &["alice"]);
    let gb = group(&format!("cn=gb,{two}"), "gb", 20002, &["alice"]);
    let port = breaking_server(vec![vec![], vec![ga]], vec![gb.clone()], vec![gb]);
    let bases = format!("group_search_base = [{{ base = \"{one}\" }}, {{ base = \"{two}\" }}]\n");
    let d = directory(port, &bases);
    let none = bounded("user", d.user_by_name("nobody")).await.unwrap();
    assert!(none.is_none());
    let found = bounded("groups", d.groups_of_user(&alice())).await.unwrap();
    assert_eq!(named(&found), [("", 10000), ("ga", 20001), ("gb", 20002)]);
}
