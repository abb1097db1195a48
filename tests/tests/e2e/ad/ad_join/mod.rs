//! Joining the Samba AD DC and finding it in DNS (issue 12, items 1 and
//! 3): `rosterctl join` creates the computer object and a keytab klist
//! reads, `rosterctl test` checks that keytab against the DC (kvno,
//! enctypes, clock) and notices stale keys, `rosterctl leave` deletes the
//! object; rosterd with an AD domain without `uris` finds the DC through
//! the DC's own DNS server (SRV records on 127.0.0.1:53) and resolves users.
//!
//! Every command runs in a private mount namespace whose resolv.conf says
//! `nameserver 127.0.0.1` and whose nsswitch.conf resolves host names with
//! DNS; the joining host has its own name (`unshare --uts`: the DC is
//! named after this machine) and its own krb5.conf (`KRB5_CONFIG`).

use super::krb_common::{discovery_table, dns_namespace, rosterctl, run};
use super::{dc, rid_backend, tail, RID_LOW};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::{Launch, Rosterd};
use roster_e2e::samba::{AD_ADMIN_PASSWORD, AD_BASE_DN, AD_REALM};
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// The DN of the computer account `sam` (e.g. `RJOIN1$`) as the DC's
/// Administrator sees it, if it exists.
fn computer_dn(sam: &str) -> Option<String> {
    let out = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", dc().ca_file())
        .args(["-x", "-LLL", "-o", "ldif-wrap=no", "-H", &dc().ldaps_uri()])
        .args([
            "-D",
            &format!("Administrator@{}", AD_REALM.to_ascii_lowercase()),
        ])
        .args(["-w", AD_ADMIN_PASSWORD, "-b", AD_BASE_DN])
        .arg(format!("(&(objectClass=computer)(sAMAccountName={sam}))"))
        .arg("dn")
        .output()
        .expect("run ldapsearch");
    assert!(
        out.status.success(),
        "ldapsearch: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("dn: "))
        .map(str::to_string)
}

/// The steps of `rosterctl test --json` for the one domain, by name.
fn steps(json: &str) -> Vec<serde_json::Value> {
    let v: serde_json::Value =
        serde_json::from_str(json).unwrap_or_else(|e| panic!("{e}: not JSON: {json}"));
    v["domains"][0]["steps"]
        .as_array()
        .unwrap_or_else(|| panic!("no steps: {json}"))
        .clone()
}

fn step<'a>(steps: &'a [serde_json::Value], name: &str) -> &'a serde_json::Value {
    steps
        .iter()
        .find(|s| s["step"] == name)
        .unwrap_or_else(|| panic!("no {name} step in {steps:?}"))
}

#[test]
fn join_writes_a_keytab_test_checks_it_and_leave_deletes_the_computer() {
    let dc = dc();
    let dir = tempfile::tempdir().expect("temp dir");
    let keytab = dir.path().join("krb5.keytab");
    let cfg = dir.path().join("roster.toml");
    std::fs::write(
        &cfg,
        discovery_table(
            dir.path(),
            &format!("keytab = \"{}\"\n{}", keytab.display(), rid_backend()),
        ),
    )
    .expect("write config");
    let admin_pw = dir.path().join("admin_pw");
    std::fs::write(&admin_pw, format!("{AD_ADMIN_PASSWORD}\n")).expect("password file");
    std::fs::set_permissions(&admin_pw, std::fs::Permissions::from_mode(0o600)).unwrap();
    let wrong_pw = dir.path().join("wrong_pw");
    std::fs::write(&wrong_pw, "Not-The-Password-42\n").expect("password file");
    let krb5 = dc.write_krb5_conf(dir.path());
    let ns = dns_namespace().hostname("rjoin1");
    let ctl = |args: &str| {
        format!(
            "export KRB5_CONFIG={}; {} --config {} {args}",
            krb5.display(),
            rosterctl().display(),
            cfg.display()
        )
    };
    assert_eq!(computer_dn("RJOIN1$"), None, "a left-over computer object");

    // A wrong password: the error names the domain, the DC and adcli's
    // reason, never the password.
    let (code, out, err) = run(
        &ns,
        &ctl(&format!("join ad --password-file {}", wrong_pw.display())),
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        err.contains("domain \"ad\": join through domain controller")
            && err.contains(&dc.dc_fqdn()),
        "{err}"
    );
    assert!(!err.contains("Not-The-Password-42"), "{err}");
    assert!(!keytab.exists());
    assert_eq!(computer_dn("RJOIN1$"), None);

    // The join: computer object, keytab 0600 that klist reads.
    let (code, out, err) = run(
        &ns,
        &ctl(&format!("join ad --password-file {}", admin_pw.display())),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("joined ad.example.test"), "{out}");
    let dn = computer_dn("RJOIN1$").expect("the computer object exists after the join");
    assert!(dn.starts_with("CN=RJOIN1,"), "{dn}");
    let mode = std::fs::metadata(&keytab)
        .expect("keytab")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let klist = Command::new("klist")
        .env("KRB5_CONFIG", &krb5)
        .arg("-k")
        .arg(&keytab)
        .output()
        .expect("run klist");
    let listed = String::from_utf8_lossy(&klist.stdout);
    assert!(klist.status.success(), "{listed}");
    for p in ["RJOIN1$@AD.EXAMPLE.TEST", "host/RJOIN1@AD.EXAMPLE.TEST"] {
        assert!(listed.contains(p), "{p} in {listed}");
    }

    // rosterctl test: the DC from DNS, the keytab against the DC.
    let (code, out, err) = run(&ns, &ctl("--json test ad"));
    let s = steps(&out);
    assert_eq!(code, 0, "{out}{err}");
    for name in ["discovery", "kdc", "keytab", "enctypes", "kvno", "clock"] {
        assert_eq!(step(&s, name)["status"], "ok", "{name}: {out}");
    }
    assert!(
        step(&s, "discovery")["message"]
            .as_str()
            .unwrap()
            .contains(&format!("{}:389", dc.dc_fqdn())),
        "{out}"
    );
    assert!(
        step(&s, "kvno")["message"]
            .as_str()
            .unwrap()
            .contains("in the keytab and on the DC"),
        "{out}"
    );

    // A keytab whose keys the DC no longer has (the account's password
    // changed by a second join): the kvno step fails and says so.
    let old = dir.path().join("old.keytab");
    std::fs::copy(&keytab, &old).expect("copy keytab");
    let (code, out, err) = run(
        &ns,
        &ctl(&format!("join ad --password-file {}", admin_pw.display())),
    );
    assert_eq!(code, 0, "second join: {out}{err}");
    std::fs::copy(&old, &keytab).expect("restore the old keytab");
    let (code, out, _) = run(&ns, &ctl("--json test ad"));
    assert_eq!(code, 1, "{out}");
    let kvno = step(&steps(&out), "kvno").clone();
    assert_eq!(kvno["status"], "fail", "{out}");
    assert!(
        kvno["message"].as_str().unwrap().contains("stale"),
        "{kvno}"
    );

    // leave: the object is gone, and so is the keytab (only this realm's
    // keys in it).
    let (code, out, err) = run(
        &ns,
        &ctl(&format!("leave ad --password-file {}", admin_pw.display())),
    );
    assert_eq!(code, 0, "{out}{err}");
    assert_eq!(computer_dn("RJOIN1$"), None, "deleted by leave");
    assert!(!keytab.exists(), "{out}");
}

#[test]
fn rosterd_without_uris_finds_the_dc_in_dns() {
    let dc = dc();
    let dir = tempfile::tempdir().expect("temp dir");
    let ns = dns_namespace();
    let rd = Rosterd::start_with(
        &discovery_table(dir.path(), &rid_backend()),
        Launch {
            wrapper: ns.wrapper(),
            ..Launch::default()
        },
    );
    let client = Namespace::new().socket_dir(&rd.socket_dir());
    let out = client.run("getent passwd alice");
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "getent passwd alice: {line}\nrosterd log:\n{}",
        tail(&rd.log())
    );
    let uid = RID_LOW + dc.rid_of("alice");
    assert!(line.starts_with(&format!("alice:*:{uid}:")), "{line}");
    let uri = format!("ldap://{}:389", dc.dc_fqdn());
    let status = rd.status(&rd.pam_socket());
    let text = status.to_string();
    assert!(
        text.contains(&uri),
        "status names the discovered DC: {text}"
    );
    assert!(
        rd.log().contains("domain controllers found in DNS"),
        "{}",
        tail(&rd.log())
    );
}
