//! An enumeration streamed from a server: entries are converted as they
//! arrive, and every entry whose name or ID another entry of the listing
//! shares is left out (logged once), as well as invalid ones; SSH keys
//! are not asked for.
//!
//! The fake server ([`Lister`]) speaks just enough LDAP (BER) to answer a
//! search with fixed entries (a user search or a group search, told apart
//! by the filter) and a SearchResultDone; it takes no bind (the domain has
//! no service account).

use super::test_support::{bounded, directory_of};
use super::*;
use crate::config::Config;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Duration;

/// An entry: DN and attributes.
type Entry = (String, Vec<(&'static str, Vec<String>)>);

/// A server on 127.0.0.1 answering every search with `users` or `groups`;
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

/// Answers the requests of one connection until it is closed or unbound.
fn serve(mut conn: TcpStream, answers: &(Vec<Entry>, Vec<Entry>), seen: &Mutex<Vec<Vec<u8>>>) {
    conn.set_nonblocking(false).unwrap();
    while let Some(msg) = read_element(&mut conn) {
        // SEQUENCE header (short or long length), then the INTEGER ID.
        let at = 2 + if msg[1] & 0x80 != 0 {
            usize::from(msg[1] & 0x7f)
        } else {
            0
        };
        let id_len = usize::from(msg[at + 1]);
        let id = msg[at + 2..at + 2 + id_len].to_vec();
        let op = msg[at + 2 + id_len];
        let mut out = Vec::new();
        match op {
            // SearchRequest: the entries, then success.
            0x63 => {
                let groups = msg.windows(10).any(|w| w == b"posixGroup");
                let list = if groups { &answers.1 } else { &answers.0 };
                for e in list {
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
}

#[tokio::test]
async fn an_entry_found_under_two_search_bases_is_listed_once() {
    let people = "ou=people,dc=example,dc=test";
    let users = vec![
        user(&format!("uid=alice,{people}"), "alice", 10001),
        user(&format!("UID=Bob, {people}"), "bob", 10002),
    ];
    let server = Lister::start(users, Vec::new());
    // Both bases hold both entries (the server answers each search alike).
    let bases = format!(
        "user_search_base = [{{ base = \"dc=example,dc=test\" }}, {{ base = \"{people}\" }}]\n"
    );
    let d = directory(server.port, &bases);
    let listed = bounded("user listing", d.all_users()).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|u| u.user.name.as_str()).collect();
    assert_eq!(names, ["alice", "bob"]);
    assert_eq!(server.searches().len(), 2);
}

/// Checks that `listing` serves exactly what lookups serve: every name of
/// `names` and ID of `ids` a lookup answers (`by_name`, `by_id`, the
/// answer's DN) is listed under that key by that entry, or held by a
/// left-out entry ([`HeldKeys`]), and nothing else is listed or held.
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
