//! A reload that inserts a domain before the existing ones (issue 10, "How
//! it is shown"): every ID served before is served for the same account
//! after, and a name changes only where the new domain now owns it.

use super::{colliding_slapd, config, config_after, keys, probe, rid, roster_only, tail};
use roster_e2e::config::{domain_table, DomainOptions};
use roster_e2e::dataset::{BASE_DN, SERVICE_DN};
use roster_e2e::rosterd::Rosterd;
use roster_e2e::slapd::Slapd;

/// The inserted domain's name.
const NEW: &str = "cdom";
/// Its users' and group's IDs (its own range, 200000-299999).
const C_ERIN: u32 = 200_101;
const C_CUSER: u32 = 200_102;
const C_GROUP: u32 = 200_500;

/// The inserted domain's directory: the sample's skeleton (base, OUs, the
/// service account) and three entries of its own. Its only name another
/// domain holds is `erin`, which only AD (listed later) has.
fn new_domain_ldif() -> String {
    let skeleton: String = roster_e2e::dataset::sample_ldif()
        .split("\n\n")
        .filter(|e| {
            let dn = e.lines().next().unwrap_or("");
            dn == format!("dn: {BASE_DN}")
                || dn == format!("dn: {SERVICE_DN}")
                || (dn.starts_with("dn: ou=") && dn.matches("ou=").count() == 1)
        })
        .map(|e| format!("{e}\n\n"))
        .collect();
    let user = |name: &str, uid: u32| {
        format!(
            "dn: uid={name},ou=people,{BASE_DN}\nobjectClass: inetOrgPerson\n\
             objectClass: posixAccount\nuid: {name}\ncn: {name}\nsn: {name}\n\
             uidNumber: {uid}\ngidNumber: {C_GROUP}\nhomeDirectory: /home/{name}\n\
             loginShell: /bin/sh\n\n"
        )
    };
    format!(
        "{skeleton}{}{}dn: cn=cgroup,ou=groups,{BASE_DN}\nobjectClass: posixGroup\ncn: cgroup\n\
         gidNumber: {C_GROUP}\nmemberUid: erin\nmemberUid: cuser\n\n",
        user("erin", C_ERIN),
        user("cuser", C_CUSER),
    )
}

/// The `[[domain]]` table of the inserted domain.
fn new_domain_table(slapd: &Slapd, dir: &std::path::Path) -> String {
    let o = DomainOptions {
        name: NEW.into(),
        extra: vec![
            "[domain.idmap]".into(),
            "backend = \"rfc2307\"".into(),
            "range_low = 200000".into(),
            "range_high = 299999".into(),
        ],
        ..DomainOptions::default()
    };
    domain_table(slapd, dir, &o) + "\n"
}

/// Names as served after the reload: AD's `erin` becomes `erin@ad`
/// wherever it appears (as a user's or a member's name) in `answer` to
/// `key` (`name:uid:gid` or `name:gid:members`).
fn with_erin_qualified(key: &str, answer: &str) -> String {
    let mut f: Vec<String> = answer.split(':').map(str::to_owned).collect();
    if f.len() != 3 {
        return answer.to_string();
    }
    if key.starts_with("pw") && f[0] == "erin" {
        f[0] = "erin@ad".into();
    }
    if key.starts_with("gr") {
        let mut m: Vec<String> = f[2]
            .split(',')
            .filter(|m| !m.is_empty())
            .map(|m| {
                if m == "erin" {
                    "erin@ad".into()
                } else {
                    m.into()
                }
            })
            .collect();
        m.sort();
        f[2] = m.join(",");
    }
    f.join(":")
}

/// The account rosterd names for an ID (`rosterctl lookup`'s request on
/// the root socket): (domain, DN), or `None` when nothing is served.
fn account_of(rd: &Rosterd, kind: &str, id: &str) -> Option<(String, String)> {
    let req = serde_json::json!({"cmd": "lookup", "kind": kind, "key": id}).to_string();
    let reply = rd.admin(&req);
    let j: serde_json::Value = serde_json::from_str(&reply).ok()?;
    let dn = j["dn"].as_str()?.to_ascii_lowercase();
    Some((j["domain"].as_str()?.to_string(), dn))
}

/// The admin lookups of every ID key: `pwuid U` -> user U, `grgid G` -> group G.
fn accounts(rd: &Rosterd, keys: &[String]) -> Vec<Option<(String, String)>> {
    keys.iter()
        .map(|k| match k.split_once(' ') {
            Some(("pwuid", id)) => account_of(rd, "user", id),
            Some(("grgid", id)) => account_of(rd, "group", id),
            _ => None,
        })
        .collect()
}

#[test]
fn a_reload_inserting_a_domain_first_keeps_every_id() {
    let slapd = colliding_slapd();
    let c_slapd = Slapd::start_with_ldif(&new_domain_ldif());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rd = Rosterd::start(&config(&slapd, dir.path()));
    let mut keys = keys();
    for k in [
        "pwnam erin@ad",
        "pwnam erin@cdom",
        "pwnam cuser",
        "pwnam cuser@cdom",
        "grnam cgroup",
        "grnam unixgroup@ad",
    ] {
        keys.push(k.to_string());
    }
    for id in [C_ERIN, C_CUSER] {
        keys.push(format!("pwuid {id}"));
    }
    keys.push(format!("grgid {C_GROUP}"));
    let dump = |rd: &Rosterd| (probe(&roster_only(rd), &keys), accounts(rd, &keys));

    let (before, before_accounts) = dump(&rd);
    let served_ids = before_accounts.iter().flatten().count();
    assert!(served_ids > 15, "{before_accounts:?}\n{}", tail(&rd.log()));
    let erin_uid = format!("pwuid {}", rid("erin"));
    let a = |answers: &[String], k: &str| super::answer_of(&keys, answers, k).to_string();
    assert_eq!(
        a(&before, &erin_uid),
        format!(
            "erin:{}:{}",
            rid("erin"),
            super::RID_LOW + super::DOMAIN_USERS_RID
        )
    );
    assert_eq!(a(&before, "pwnam cuser"), "-");

    let first = new_domain_table(&c_slapd, dir.path());
    rd.write_config(&config_after(&slapd, dir.path(), &first));
    assert!(rd.reload(), "reload refused:\n{}", tail(&rd.log()));
    let (after, after_accounts) = dump(&rd);

    // The name the inserted domain now owns, and what it holds.
    let changed = ["pwnam erin", "initgroups erin", "pwnam erin@cdom"];
    let c_erin = format!("erin:{C_ERIN}:{C_GROUP}");
    assert_eq!(a(&after, "pwnam erin"), c_erin, "{}", tail(&rd.log()));
    assert_eq!(a(&after, "pwnam erin@cdom"), c_erin);
    assert_eq!(a(&after, &format!("pwuid {C_ERIN}")), c_erin);
    assert_eq!(
        a(&after, "pwnam cuser"),
        format!("cuser:{C_CUSER}:{C_GROUP}")
    );
    assert_eq!(
        a(&after, &format!("grgid {C_GROUP}")),
        format!("cgroup:{C_GROUP}:cuser,erin")
    );
    // AD's erin: qualified everywhere, consistently.
    let ad_erin = format!(
        "erin@ad:{}:{}",
        rid("erin"),
        super::RID_LOW + super::DOMAIN_USERS_RID
    );
    assert_eq!(a(&after, &erin_uid), ad_erin);
    assert_eq!(a(&after, "pwnam erin@ad"), ad_erin);
    assert!(
        a(&after, "grnam unixgroup").contains("erin@ad"),
        "{}",
        a(&after, "grnam unixgroup")
    );

    // Everything else: the same account under the same name (AD's erin
    // qualified), and every ID the same account for rosterctl lookup.
    let mut diff = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        let new_only = ["cuser".to_string(), "cgroup".to_string()]
            .into_iter()
            .chain([C_ERIN, C_CUSER, C_GROUP].map(|id| id.to_string()))
            .any(|s| k.contains(&s));
        if changed.contains(&k.as_str()) || new_only {
            continue;
        }
        let want = with_erin_qualified(k, &before[i]);
        if after[i] != want {
            diff.push(format!("{k}: {} -> {} (want {want})", before[i], after[i]));
        }
        if before_accounts[i] != after_accounts[i] {
            diff.push(format!(
                "{k} (lookup): {:?} -> {:?}",
                before_accounts[i], after_accounts[i]
            ));
        }
    }
    assert!(
        diff.is_empty(),
        "DIFF\n{}\n{}",
        diff.join("\n"),
        tail(&rd.log())
    );
}
