//! The seed corpus of the byte-level targets, made from the same values the
//! unit tests use: `make fuzz-seeds` (an ignored test) writes it under
//! `fuzz/corpus/<target>/`. The structured targets (codec_roundtrip,
//! ldap_entry, ad_entry, dn_range) start from the merged corpus of earlier
//! runs instead: their input is arbitrary's encoding, not a file format.

use roster_proto::memcache::{MemcacheWriter, OwnedKey, Record};
use roster_proto::{
    encode_request, encode_response, Group, Netgroup, PamCode, PamReply, Request, Response, Secret,
    Triple, User,
};
use std::path::{Path, PathBuf};

fn corpus(target: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    std::fs::create_dir_all(&dir).expect("corpus directory");
    dir
}

fn put(target: &str, name: &str, bytes: &[u8]) {
    std::fs::write(corpus(target).join(name), bytes).expect("write seed");
}

fn alice() -> User {
    User {
        name: "alice".into(),
        uid: 10001,
        gid: 10000,
        gecos: "Alice Liddell".into(),
        home: "/home/alice".into(),
        shell: "/bin/bash".into(),
    }
}

fn staff() -> Group {
    Group {
        name: "staff".into(),
        gid: 10010,
        members: vec!["alice".into(), "bob".into()],
    }
}

fn codec() {
    let s = String::from;
    let requests = [
        Request::UserByName(s("alice")),
        Request::UserByUid(10001),
        Request::GroupByName(s("staff")),
        Request::GroupByGid(10010),
        Request::GroupsOfUser(s("alice@example")),
        Request::ListUsers {
            offset: 0,
            limit: 100,
        },
        Request::ListGroups {
            offset: 100,
            limit: 100,
        },
        Request::Status,
        Request::PamAuthenticate {
            user: s("alice"),
            service: s("sshd"),
            rhost: s("::1"),
            password: Secret::from("secret"),
        },
        Request::PamAccount {
            user: s("alice"),
            service: s("login"),
            rhost: s(""),
        },
        Request::PamChangePassword {
            user: s("alice"),
            service: s("passwd"),
            old_password: Secret::from("old"),
            new_password: Secret::from("new"),
        },
        Request::PamOpenSession {
            user: s("alice"),
            service: s("sshd"),
            rhost: s("h"),
        },
        Request::Admin(roster_proto::AdminRequest::Status),
        Request::Admin(roster_proto::AdminRequest::CacheFlush(
            roster_proto::FlushTarget::User(s("alice")),
        )),
        Request::NetgroupByName(s("admins")),
        Request::Admin(roster_proto::AdminRequest::CacheFlush(
            roster_proto::FlushTarget::Netgroup(s("admins")),
        )),
        Request::SshKeys(s("alice")),
        Request::Admin(roster_proto::AdminRequest::CacheUnlock { user: s("alice") }),
        Request::PamResetPassword {
            user: s("alice"),
            service: s("passwd"),
            new_password: Secret::from("new"),
        },
    ];
    for (i, r) in requests.iter().enumerate() {
        put(
            "codec_decode",
            &format!("request-{i:02}"),
            &encode_request(r)[4..],
        );
    }
    let responses = [
        Response::User(alice()),
        Response::Group(staff()),
        Response::Gids(vec![10000, 10010]),
        Response::Users {
            entries: vec![alice(), alice()],
            more: true,
        },
        Response::Groups {
            entries: vec![staff()],
            more: false,
        },
        Response::Admin(Ok(roster_proto::AdminReply::Flushed(3))),
        Response::Admin(Err(roster_proto::Failure::refused("no reload channel"))),
        Response::Pam(PamReply::new(PamCode::NewAuthtokReqd, s("expired"))),
        Response::Pam(PamReply {
            code: PamCode::Success,
            message: String::new(),
            notices: vec![s("Your password will expire in 3 days.")],
        }),
        Response::NotFound,
        Response::Unavailable(s("no server")),
        Response::Error(s("bad frame")),
        Response::Netgroup(Netgroup {
            name: s("admins"),
            triples: vec![
                Triple {
                    host: s("host1"),
                    user: s("alice"),
                    domain: s(""),
                },
                Triple {
                    host: s("-"),
                    user: s(""),
                    domain: s("example"),
                },
            ],
        }),
        Response::SshKeys(vec![
            s("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIE9dC1tqd5cQ7j0vCdfJZtNQOqzGJ5zHcOtt4jYbD8Wq alice@laptop"),
            s("ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTY="),
        ]),
        Response::SshKeys(Vec::new()),
        Response::Admin(Ok(roster_proto::AdminReply::Unlocked(1))),
    ];
    for (i, r) in responses.iter().enumerate() {
        put(
            "codec_decode",
            &format!("response-{i:02}"),
            &encode_response(r)[4..],
        );
    }
}

fn memcache() {
    let dir = std::env::temp_dir().join(format!("roster-seeds-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("nss.mc");
    let settings = b"timeout_ms=1500\nmin_id=1000\nignore_users=root,daemon\n";
    let mut w =
        MemcacheWriter::create_with_settings(&path, 4, 512, Some(settings)).expect("memory cache");
    let records = [
        Record::User(alice()),
        Record::Group(staff()),
        Record::Initgroups {
            user: "alice".into(),
            gids: vec![10000, 10010],
        },
        Record::Missing(OwnedKey::UserName("ghost".into())),
        Record::Missing(OwnedKey::Gid(4242)),
    ];
    for r in &records {
        w.put(r, u64::MAX).expect("record");
    }
    let file = std::fs::read(&path).unwrap();
    drop(w);
    let _ = std::fs::remove_dir_all(&dir);
    // The selector byte: key length << 3 | key kind (see the target).
    let keys: [(&str, u8, &[u8]); 7] = [
        ("kind-0", 0, b"alice"),
        ("kind-1", 1, &10001u32.to_be_bytes()),
        ("kind-2", 2, b"staff"),
        ("kind-3", 3, &10010u32.to_be_bytes()),
        ("kind-4", 4, b"alice"),
        ("missing-0", 0, b"ghost"),
        ("missing-3", 3, &4242u32.to_be_bytes()),
    ];
    for (name, kind, key) in keys {
        let mut seed = vec![(key.len() as u8) << 3 | kind];
        seed.extend_from_slice(key);
        seed.extend_from_slice(&file);
        put("memcache_file", name, &seed);
    }
    for (i, r) in records.iter().enumerate() {
        put("memcache_file", &format!("record-{i}"), &r.encode(u64::MAX));
    }
}

fn config() {
    let example = include_str!("../../packaging/roster.toml.example");
    put("config_parse", "example", example.as_bytes());
    put(
        "config_parse",
        "ad-rid",
        b"[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldaps://dc\"]\nbase_dn = \"DC=ad,DC=test\"\n[domain.idmap]\nbackend = \"rid\"\nrange_low = 100000\nrange_high = 199999\n",
    );
    put(
        "config_parse",
        "two-ldap",
        b"[cache]\nentry_ttl = 60\n[[domain]]\nname = \"one\"\nuris = [\"ldap://a\"]\nbase_dn = \"dc=a\"\nmin_id = 10000\nmax_id = 19999\n[[domain]]\nname = \"two\"\nuris = [\"ldap://b\"]\nbase_dn = \"dc=b\"\nschema = \"rfc2307bis\"\nmin_id = 20000\n[domain.attributes]\nusername = \"cn\"\n",
    );
}

fn sids() {
    for s in [
        "S-1-5-21-389706576-2714730196-1825585166-1104",
        "S-1-5-32-544",
        "S-1-0x123456789ABC-1",
        "S-1-5-21-1-2-3-4-5-6-7-8-9-10-11-12-13-14",
    ] {
        put("sid", &format!("text-{}", s.len()), s.as_bytes());
        let sid: roster_idmap::Sid = s.parse().expect("seed SID");
        put("sid", &format!("binary-{}", s.len()), &sid.to_bytes());
    }
}

/// Records of the persistent cache, each kind: payloads and frames.
fn store_records() {
    use roster_daemon::store::binary::write_record;
    use roster_daemon::store::record::{encode, Record, StoredGroup, StoredUser, StoredValue};
    let user = StoredValue::User(StoredUser {
        name: "alice".into(),
        uid: 10001,
        gid: 10000,
        gecos: "Alice".into(),
        home: "/home/alice".into(),
        shell: "/bin/sh".into(),
        dn: "uid=alice,dc=example,dc=test".into(),
        unique_id: Some("u-1".into()),
        ssh_keys: vec!["ssh-ed25519 AAAA a".into()],
    });
    let group = StoredValue::Group(StoredGroup {
        name: "eng".into(),
        gid: 4000,
        members: vec!["alice".into(), "bob".into()],
        dn: "cn=eng,dc=example,dc=test".into(),
    });
    let put_of = |value| Record::Put {
        key: "d\u{1f}k".into(),
        at_ms: 1,
        value,
    };
    for (name, rec) in [
        ("user", put_of(user)),
        ("group", put_of(group)),
        ("gids", put_of(StoredValue::Gids(vec![1, 2]))),
        ("missing", put_of(StoredValue::Missing)),
        ("del", Record::Del { key: "k".into() }),
        ("clear", Record::Clear),
    ] {
        let mut payload = Vec::new();
        write_record(&mut payload, &rec);
        put("store_record", &format!("payload-{name}"), &payload);
        put(
            "store_record",
            &format!("frame-{name}"),
            &encode(&rec).expect("small"),
        );
    }
}

/// BER octets of one value: identifier octet `id`, then a definite
/// length (short form below 128, else long form) and `contents`.
fn tlv(id: u8, contents: &[u8]) -> Vec<u8> {
    let mut out = vec![id];
    if contents.len() < 0x80 {
        out.push(contents.len() as u8);
    } else {
        let len = (contents.len() as u32).to_be_bytes();
        let skip = len.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (4 - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend_from_slice(contents);
    out
}

/// LDAP messages as a server sends them: a search entry, the result
/// that ends a search, and a search entry with a value long enough for a
/// long-form length.
fn ber_messages() {
    let attr = |name: &str, values: &[&str]| {
        let vals: Vec<u8> = values
            .iter()
            .flat_map(|v| tlv(0x04, v.as_bytes()))
            .collect();
        tlv(
            0x30,
            &[tlv(0x04, name.as_bytes()), tlv(0x31, &vals)].concat(),
        )
    };
    let entry = |dn: &str, attrs: &[Vec<u8>]| {
        let body = [tlv(0x04, dn.as_bytes()), tlv(0x30, &attrs.concat())].concat();
        tlv(0x30, &[tlv(0x02, &[2]), tlv(0x64, &body)].concat())
    };
    put(
        "ber_message",
        "entry",
        &entry(
            "uid=alice,ou=people,dc=example,dc=com",
            &[attr("uid", &["alice"]), attr("uidNumber", &["10001"])],
        ),
    );
    let done = [tlv(0x0a, &[0]), tlv(0x04, b""), tlv(0x04, b"")].concat();
    put(
        "ber_message",
        "done",
        &tlv(0x30, &[tlv(0x02, &[2]), tlv(0x65, &done)].concat()),
    );
    let members: Vec<String> = (1..=40).map(|i| format!("u{i:05}")).collect();
    let members: Vec<&str> = members.iter().map(String::as_str).collect();
    put(
        "ber_message",
        "group",
        &entry(
            "cn=biggroup,ou=groups,dc=example,dc=com",
            &[attr("cn", &["biggroup"]), attr("memberUid", &members)],
        ),
    );
    // A page's end: the result with a paged-results control (size 0, a
    // cookie), a continuation reference, a referral result, and a result
    // whose code is of the wrong type (refused at the frame).
    let paged = tlv(
        0xa0,
        &tlv(
            0x30,
            &[
                tlv(0x04, b"1.2.840.113556.1.4.319"),
                tlv(
                    0x04,
                    &tlv(0x30, &[tlv(0x02, &[0]), tlv(0x04, b"cookie")].concat()),
                ),
            ]
            .concat(),
        ),
    );
    put(
        "ber_message",
        "done-paged",
        &tlv(0x30, &[tlv(0x02, &[2]), tlv(0x65, &done), paged].concat()),
    );
    put(
        "ber_message",
        "reference",
        &tlv(
            0x30,
            &[
                tlv(0x02, &[2]),
                tlv(
                    0x73,
                    &tlv(0x04, b"ldap://other.example.com/dc=example,dc=com"),
                ),
            ]
            .concat(),
        ),
    );
    let referral = [
        tlv(0x0a, &[10]),
        tlv(0x04, b""),
        tlv(0x04, b""),
        tlv(0xa3, &tlv(0x04, b"ldap://other.example.com/")),
    ]
    .concat();
    put(
        "ber_message",
        "referral",
        &tlv(0x30, &[tlv(0x02, &[2]), tlv(0x65, &referral)].concat()),
    );
    let wrong_code = [tlv(0x04, &[0]), tlv(0x04, b""), tlv(0x04, b"")].concat();
    put(
        "ber_message",
        "done-wrong-code",
        &tlv(0x30, &[tlv(0x02, &[2]), tlv(0x65, &wrong_code)].concat()),
    );
    // Sequences nested as deep as the reader reads them, and one deeper.
    for levels in [64, 65] {
        let nested = (0..levels).fold(tlv(0x04, b"x"), |inner, _| tlv(0x30, &inner));
        put("ber_message", &format!("nested-{levels}"), &nested);
    }
}

#[test]
#[ignore = "writes the seed corpus: make fuzz-seeds"]
fn write_seeds() {
    codec();
    memcache();
    config();
    sids();
    store_records();
    ber_messages();
}
