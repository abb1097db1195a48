use super::*;
use crate::codec::{decode_request, decode_response, encode_request, encode_response};
use crate::types::{Request, Response};

fn sample_status() -> FullStatus {
    FullStatus {
        version: "0.1.0".into(),
        uptime_s: 65,
        enumerate: true,
        domains: vec![DomainStatus {
            name: "corp".into(),
            domain: Some("corp".into()),
            online: false,
            server: None,
            last_error: Some("connection refused".into()),
            last_error_at: Some(1000),
            offline_since: Some(940),
            servers: vec![ServerStatus {
                uri: "ldap://a".into(),
                down_for_secs: 4,
                failures: 2,
                last_error: Some("connection refused".into()),
                tls_library: Some("rustls".into()),
            }],
            searches: Some(7),
            next_probe_in_ms: Some(1500),
            probes: Some(3),
            connects: Some(1),
            kerberos: Some(KerberosStatus {
                principal: "HOST$@CORP.TEST".into(),
                tgt_end: Some(37_000),
                last_renewal: Some(1000),
                renewals: 2,
                last_renewal_error: Some("no KDC answers".into()),
                last_renewal_error_at: Some(990),
                next_renewal: Some(28_000),
            }),
            census: Some(CensusStatus {
                users: Some(10_000),
                users_taken_at: Some(1000),
                last_error: Some("groups: size limit".into()),
                ..Default::default()
            }),
        }],
        cache: CacheStats {
            entries: 3,
            hits: 2,
            misses: 1,
            hit_rate: HitRate::of(2, 1),
            memory_cache: Some(MemoryCacheStats {
                path: "/run/roster/nss.mc".into(),
                file_bytes: 8 << 20,
                allocated_bytes: 2 << 20,
                size_limit: 32 << 20,
                records_bytes: 1 << 20,
                records_capacity: 7 << 20,
                slots: 1 << 16,
                missing_records_written: 12,
                missing_records_limit: 1 << 12,
            }),
            ..Default::default()
        },
        pid: 42,
        process: ProcessStats {
            rss_kib: Some(18022),
            ..Default::default()
        },
        refused_entries: vec![RefusedEntry {
            domain: "corp".into(),
            dn: "uid=x,dc=corp".into(),
            reason: "uid 0 is reserved".into(),
        }],
        memory_cache: Some("/run/roster/nss.mc".into()),
    }
}

fn requests() -> Vec<AdminRequest> {
    vec![
        AdminRequest::CacheFlush(FlushTarget::User("bob".into())),
        AdminRequest::CacheFlush(FlushTarget::Group("staff".into())),
        AdminRequest::CacheFlush(FlushTarget::Netgroup("admins".into())),
        AdminRequest::CacheFlush(FlushTarget::All),
        AdminRequest::CacheStats,
        AdminRequest::ForgetCredentials(ForgetTarget::User("bob@corp".into())),
        AdminRequest::ForgetCredentials(ForgetTarget::All),
        AdminRequest::CacheUnlock {
            user: "bob@corp".into(),
        },
        AdminRequest::Lookup {
            kind: LookupKind::Sid,
            key: "S-1-5-21-1-2-3-500".into(),
        },
        AdminRequest::Lookup {
            kind: LookupKind::Netgroup,
            key: "admins".into(),
        },
        AdminRequest::Reload,
        AdminRequest::Status,
    ]
}

fn answers() -> Vec<AdminAnswer> {
    vec![
        Ok(AdminReply::Flushed(12)),
        Ok(AdminReply::Forgotten(0)),
        Ok(AdminReply::CacheStats(sample_status().cache)),
        Ok(AdminReply::Lookup(LookupFound {
            source: Source::Offline,
            domain: "corp".into(),
            dn: "uid=alice,dc=corp".into(),
            entry: Entry::User(UserInfo {
                name: "alice".into(),
                uid: 10001,
                gid: 10001,
                gecos: "Alice".into(),
                home: "/home/alice".into(),
                shell: "/bin/sh".into(),
                unique_id: None,
            }),
        })),
        Ok(AdminReply::Reloaded),
        Ok(AdminReply::Status(StatusReport::Full(Box::new(
            sample_status(),
        )))),
        Ok(AdminReply::Status(StatusReport::Public(PublicStatus {
            state: "up".into(),
            domains: vec![PublicDomain {
                name: "corp".into(),
                online: true,
                state: "online".into(),
            }],
            details: "on pam.sock (root only)".into(),
        }))),
        Ok(AdminReply::Unlocked(2)),
        Err(Failure::not_found("user nobody")),
        Err(Failure::unavailable("no server of domain corp answered")),
        Err(Failure::refused("this daemon cannot reload")),
        Err(Failure::invalid("\"x\" is not a SID")),
        Ok(AdminReply::Lookup(LookupFound {
            source: Source::Directory,
            domain: "corp".into(),
            dn: "cn=admins,ou=netgroup,dc=corp".into(),
            entry: Entry::Netgroup(NetgroupInfo {
                name: "admins".into(),
                triples: vec![
                    ["h1".into(), "alice".into(), String::new()],
                    ["-".into(), String::new(), "corp".into()],
                ],
            }),
        })),
    ]
}

#[test]
fn every_admin_message_round_trips_through_a_frame() {
    for req in requests() {
        let frame = encode_request(&Request::Admin(req.clone()));
        assert_eq!(decode_request(&frame[4..]), Ok(Request::Admin(req)));
    }
    for answer in answers() {
        let frame = encode_response(&Response::Admin(answer.clone()));
        assert_eq!(decode_response(&frame[4..]), Ok(Response::Admin(answer)));
    }
}

#[test]
fn commands_keep_their_documented_json() {
    let text = |r: &AdminRequest| serde_json::to_value(r).unwrap();
    assert_eq!(
        text(&AdminRequest::CacheFlush(FlushTarget::User("bob".into()))),
        json!({"cmd": "cache_flush", "user": "bob"})
    );
    assert_eq!(
        text(&AdminRequest::ForgetCredentials(ForgetTarget::All)),
        json!({"cmd": "forget_credentials", "all": true})
    );
    assert_eq!(
        text(&AdminRequest::CacheUnlock { user: "bob".into() }),
        json!({"cmd": "cache_unlock", "user": "bob"})
    );
    assert_eq!(
        text(&AdminRequest::Lookup {
            kind: LookupKind::User,
            key: "10001".into()
        }),
        json!({"cmd": "lookup", "kind": "user", "key": "10001"})
    );
    assert_eq!(
        text(&AdminRequest::CacheFlush(FlushTarget::Netgroup(
            "admins".into()
        ))),
        json!({"cmd": "cache_flush", "netgroup": "admins"})
    );
    assert_eq!(
        text(&AdminRequest::Lookup {
            kind: LookupKind::Netgroup,
            key: "admins".into()
        }),
        json!({"cmd": "lookup", "kind": "netgroup", "key": "admins"})
    );
    for req in requests() {
        let back: AdminRequest = serde_json::from_value(text(&req)).unwrap();
        assert_eq!(back, req);
    }
}

#[test]
fn a_target_is_exactly_one_field() {
    let bad = |s: &str| {
        serde_json::from_str::<AdminRequest>(s)
            .unwrap_err()
            .to_string()
    };
    assert!(bad(r#"{"cmd":"cache_flush"}"#).contains("exactly one"));
    assert!(bad(r#"{"cmd":"cache_flush","user":"a","all":true}"#).contains("exactly one"));
    assert!(bad(r#"{"cmd":"forget_credentials","group":"g"}"#).contains("exactly one"));
    assert!(bad(r#"{"cmd":"cache_flush","netgroup":"n","group":"g"}"#).contains("exactly one"));
    assert!(bad(r#"{"cmd":"forget_credentials","netgroup":"n"}"#).contains("exactly one"));
    assert!(bad(r#"{"cmd":"cache_flush","usr":"a"}"#).contains("unknown field `usr`"));
    assert!(bad(r#"{"cmd":"explode"}"#).contains("unknown variant `explode`"));
}

#[test]
fn another_admin_version_is_refused_on_both_sides() {
    let mut frame = encode_request(&Request::Admin(AdminRequest::Reload));
    // Bytes 8..10 are the admin version (after len, frame version, code).
    frame[8..10].copy_from_slice(&2u16.to_be_bytes());
    let err = decode_request(&frame[4..]).unwrap_err();
    assert_eq!(err, DecodeError::AdminVersion(2));
    let text = err.to_string();
    assert!(
        text.contains("version 2") && text.contains(&format!("version {ADMIN_VERSION}")),
        "{text}"
    );
    let mut frame = encode_response(&Response::Admin(Ok(AdminReply::Reloaded)));
    // len, frame version, status, kind byte, then the admin version.
    frame[9..11].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(
        decode_response(&frame[4..]),
        Err(DecodeError::AdminVersion(0))
    );
}

#[test]
fn a_malformed_admin_body_is_named() {
    let mut payload = vec![0, 1, 0, 31];
    payload.extend_from_slice(&ADMIN_VERSION.to_be_bytes());
    let json = br#"{"cmd":"lookup","kind":"host","key":"a"}"#;
    payload.extend_from_slice(&(json.len() as u32).to_be_bytes());
    payload.extend_from_slice(json);
    let err = decode_request(&payload).unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("admin request is malformed: "), "{text}");
    assert!(text.contains("unknown variant `host`"), "{text}");
    // Broken JSON: the parser's line and column.
    let mut payload = vec![0, 1, 0, 31];
    payload.extend_from_slice(&ADMIN_VERSION.to_be_bytes());
    payload.extend_from_slice(&9u32.to_be_bytes());
    payload.extend_from_slice(br#"{"cmd": }"#);
    let text = decode_request(&payload).unwrap_err().to_string();
    assert!(text.contains("line 1 column 9"), "{text}");
    // The version field itself cut short.
    assert_eq!(
        decode_request(&[0, 1, 0, 31, 0]),
        Err(DecodeError::Truncated("admin.version"))
    );
    // A reply whose body is not an answer.
    let mut payload = vec![0, 1, 0, 0, 8];
    payload.extend_from_slice(&ADMIN_VERSION.to_be_bytes());
    payload.extend_from_slice(&2u32.to_be_bytes());
    payload.extend_from_slice(b"{}");
    let text = decode_response(&payload).unwrap_err().to_string();
    assert!(text.starts_with("admin answer is malformed: "), "{text}");
}

#[test]
fn the_untyped_admin_code_of_older_releases_is_refused_by_name() {
    let mut payload = vec![0, 1, 0, 30];
    payload.extend_from_slice(&2u32.to_be_bytes());
    payload.extend_from_slice(b"{}");
    let err = decode_request(&payload).unwrap_err();
    assert_eq!(err, DecodeError::RetiredRequest(30));
    assert!(err.to_string().contains("older rosterctl"), "{err}");
}

#[test]
fn documents_keep_rosterctls_json_shape() {
    assert_eq!(
        document(&Ok(AdminReply::Flushed(3))),
        json!({"ok": true, "flushed": 3})
    );
    assert_eq!(document(&Ok(AdminReply::Reloaded)), json!({"ok": true}));
    assert_eq!(
        document(&Ok(AdminReply::Unlocked(1))),
        json!({"ok": true, "unlocked": 1})
    );
    let stats = document(&Ok(AdminReply::CacheStats(sample_status().cache)));
    assert_eq!(stats["stats"]["entries"], 3);
    assert_eq!(stats["stats"]["hit_rate"], 0.666666);
    assert_eq!(stats["stats"]["memory_cache"]["size_limit"], 32 << 20);
    assert_eq!(stats["stats"]["memory_cache"]["file_bytes"], 8 << 20);
    // A daemon without a memory cache (or of a release before it) says so.
    let none = document(&Ok(AdminReply::CacheStats(CacheStats::default())));
    assert_eq!(none["stats"]["memory_cache"], Value::Null);
    let found = document(&answers()[3]);
    assert_eq!(found["ok"], true);
    assert_eq!(found["found"], true);
    assert_eq!(found["source"], "offline");
    assert_eq!(found["dn"], "uid=alice,dc=corp");
    assert_eq!(found["entry"]["type"], "user");
    assert_eq!(found["entry"]["uid"], 10001);
    let netgroup = document(answers().last().unwrap());
    assert_eq!(netgroup["entry"]["type"], "netgroup");
    assert_eq!(
        netgroup["entry"]["triples"],
        json!([["h1", "alice", ""], ["-", "", "corp"]])
    );
    let status = document(&answers()[5]);
    assert_eq!(status["status"]["domains"][0]["name"], "corp");
    assert_eq!(status["status"]["domains"][0]["server"], Value::Null);
    assert_eq!(status["status"]["process"]["rss_kib"], 18022);
    assert_eq!(status["status"]["process"]["fds"], Value::Null);
    let failed = document(&Err(Failure::refused("the configuration does not load")));
    assert_eq!(
        failed,
        json!({"ok": false, "kind": "refused", "reason": "the configuration does not load",
               "error": "refused: the configuration does not load"})
    );
    let public = StatusReport::Public(PublicStatus {
        state: "up".into(),
        domains: vec![],
        details: "x".into(),
    });
    assert_eq!(
        public.document(),
        json!({"state": "up", "domains": [], "details": "x"})
    );
}

#[test]
fn hit_rates_are_kept_in_millionths() {
    assert_eq!(HitRate::of(0, 0).ratio(), 0.0);
    assert_eq!(HitRate::of(3, 1).ratio(), 0.75);
    assert_eq!(HitRate::of(u64::MAX, 0).ratio(), 1.0);
    let back: HitRate = serde_json::from_str("0.25").unwrap();
    assert_eq!(back, HitRate::of(1, 3));
    assert!(serde_json::from_str::<HitRate>("1.5").is_err());
}

#[test]
fn cache_stats_without_a_memory_cache_still_decode() {
    // The counters of a daemon without nss.mc (or of an older release).
    let s: CacheStats = serde_json::from_str(r#"{"entries": 4, "hits": 1}"#).unwrap();
    assert_eq!(s.entries, 4);
    assert_eq!(s.memory_cache, None);
    let s: CacheStats =
        serde_json::from_str(r#"{"memory_cache": {"file_bytes": 4096, "size_limit": 1048576}}"#)
            .unwrap();
    let mc = s.memory_cache.unwrap();
    assert_eq!((mc.file_bytes, mc.size_limit, mc.slots), (4096, 1 << 20, 0));
}
