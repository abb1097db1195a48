//! SSH single sign-on to a host joined by roster (issue 12, item 5): the
//! host `rssh1.ad.example.test` joins with `rosterctl join` (adcli writes
//! `host/<fqdn>` into its keytab), rosterd serves the AD domain, and a real
//! sshd (`GSSAPIAuthentication yes`, no password, key or keyboard-interactive
//! logins) runs in a namespace with that host name, the joined keytab as
//! its keytab and the NSS module resolving AD users. A client holding
//! alice's TGT (`kinit`, password on standard input) logs in with
//! `ssh -o GSSAPIAuthentication=yes -o GSSAPIDelegateCredentials=yes`
//! without any password and lands as alice with her delegated TGT in a
//! ticket cache; without a TGT, or with another user's, the login is
//! refused.
//!
//! The host's `/etc` has no `krb5.conf` or `krb5.keytab` to bind-mount
//! over (and the tests never create files in it), so sshd is given both
//! through its environment (`KRB5_CONFIG`, `KRB5_KTNAME`), which is
//! exactly what a joined host has at `/etc/krb5.conf` and
//! `/etc/krb5.keytab`. The host name maps to 127.0.0.1 in the
//! namespaces' `/etc/hosts`; krb5.conf takes names as given
//! (`rdns = false`, `dns_canonicalize_hostname = false`), so the client
//! asks for `host/rssh1.ad.example.test` and sshd (strict acceptor check,
//! its UTS host name) accepts with that key.

use super::krb_common::{krb5_conf, Host};
use super::{dc, rid_backend, rosterd, tail, RID_LOW};
use crate::ssh_common::{read, start_sshd_with, Sshd, SSHD_PAM};
use roster_e2e::namespace::Namespace;
use roster_e2e::rosterd::Rosterd;
use roster_e2e::samba::{AdUser, AD_ALICE, AD_BOB, AD_REALM};
use std::io::Write as _;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// sshd's options: GSSAPI only (no Kerberos password, no password, no key,
/// no keyboard-interactive logins), delegated credentials removed at logout.
const GSSAPI_ONLY: &str = "-o GSSAPIAuthentication=yes -o GSSAPICleanupCredentials=yes \
-o KerberosAuthentication=no -o PasswordAuthentication=no -o PubkeyAuthentication=no \
-o KbdInteractiveAuthentication=no";

/// `kinit -f` of `user` into the FILE cache `cache`, the password on
/// kinit's standard input (never on a command line); (exit code, output).
fn kinit(host: &Host, ns: &Namespace, cache: &Path, user: &AdUser) -> (i32, String) {
    let mut child = ns
        .command(&format!(
            "export KRB5_CONFIG={}; kinit -f -c FILE:{} {}@{AD_REALM}",
            host.krb5_conf().display(),
            cache.display(),
            user.name
        ))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kinit");
    {
        let mut stdin = child.stdin.take().expect("kinit stdin");
        let _ = stdin.write_all(format!("{}\n", user.password).as_bytes());
    }
    let out = child.wait_with_output().expect("wait for kinit");
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

/// `ssh -o GSSAPIAuthentication=yes -o GSSAPIDelegateCredentials=yes -o
/// BatchMode=yes -p PORT LOGIN@FQDN COMMAND` with `KRB5CCNAME=ccache`;
/// (exit code, stdout, stderr).
fn ssh(
    host: &Host,
    ns: &Namespace,
    ccache: &str,
    port: u16,
    login: &str,
    command: &str,
) -> (i32, String, String) {
    let out = ns.run(&format!(
        "export KRB5_CONFIG={} KRB5CCNAME='{ccache}'\n\
         exec timeout 60 ssh -F /dev/null -p {port} -o GSSAPIAuthentication=yes \
         -o GSSAPIDelegateCredentials=yes -o BatchMode=yes -o StrictHostKeyChecking=no \
         -o UserKnownHostsFile=/dev/null -o ConnectTimeout=10 {login}@{} '{command}'",
        host.krb5_conf().display(),
        host.fqdn()
    ));
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A host joined with `rosterctl join`, rosterd serving the domain and a
/// GSSAPI-only sshd in a namespace named like the host, with the joined
/// keytab and the NSS module.
struct SsoHost {
    /// Stopped (by PID) first.
    _sshd: Sshd,
    port: u16,
    sshd_ns: Namespace,
    rd: Rosterd,
    _rd_dir: tempfile::TempDir,
    host: Host,
}

impl SsoHost {
    /// Joins `short.ad.example.test`, starts rosterd with the domain's
    /// `extra` lines and sshd with `krb5_conf` as its krb5.conf.
    fn start(short: &str, extra: &str, krb5_conf: &str) -> SsoHost {
        let (host, joined) = Host::join_with_rosterctl(short);
        let fqdn = host.fqdn().to_string();
        // The join wrote the key sshd accepts with: host/<fqdn>.
        let (code, keys) = host.sh(
            &Namespace::new(),
            &format!("klist -k {}", host.keytab().display()),
        );
        assert_eq!(code, 0, "{keys}");
        assert!(
            keys.contains(&format!("host/{fqdn}@{AD_REALM}")),
            "{joined}\n{keys}"
        );
        let (rd, rd_dir) = rosterd(&format!("{extra}\n{}", rid_backend()));
        let sshd_ns = host
            .namespace()
            .hostname(&fqdn)
            .socket_dir(&rd.socket_dir())
            .pam_service("sshd", SSHD_PAM);
        let conf = sshd_ns.scratch().join("krb5.conf");
        std::fs::write(&conf, krb5_conf).expect("write sshd's krb5.conf");
        let (sshd, port) = start_sshd_with(
            &sshd_ns,
            &format!(
                "export KRB5_CONFIG={} KRB5_KTNAME=FILE:{}",
                conf.display(),
                host.keytab().display()
            ),
            GSSAPI_ONLY,
        );
        SsoHost {
            _sshd: sshd,
            port,
            sshd_ns,
            rd,
            _rd_dir: rd_dir,
            host,
        }
    }

    fn sshd_log(&self) -> String {
        read(&self.sshd_ns.scratch().join("sshd.log"))
    }

    /// An ssh client's output with sshd's log and rosterd's.
    fn diag(&self, out: &str, err: &str) -> String {
        format!(
            "stdout: {out}\nstderr: {err}\nsshd: {}\nrosterd: {}",
            self.sshd_log(),
            tail(
                &self
                    .rd
                    .log()
                    .lines()
                    .filter(|l| !l.contains("referrals not followed"))
                    .collect::<Vec<_>>()
                    .join("\n")
            )
        )
    }
}

#[test]
fn ssh_gssapi_login_with_a_kinit_tgt_lands_with_the_delegated_ticket() {
    let dc = dc();
    let sso = SsoHost::start("rssh1", "", &krb5_conf());
    let (host, port) = (&sso.host, sso.port);
    let diag = |out: &str, err: &str| sso.diag(out, err);

    // The client: alice's TGT from kinit, nothing else.
    let client = host.namespace();
    let cache = host.caches().join("alice-client");
    let (code, out) = kinit(host, &client, &cache, &AD_ALICE);
    assert_eq!(code, 0, "kinit alice: {out}");
    assert!(!out.contains(AD_ALICE.password), "{out}");

    let alice_uid = RID_LOW + dc.rid_of(AD_ALICE.name);
    let (code, out, err) = ssh(
        host,
        &client,
        &format!("FILE:{}", cache.display()),
        port,
        AD_ALICE.name,
        "id -un; id -u; klist -f",
    );
    assert_eq!(code, 0, "{}", diag(&out, &err));
    let mut lines = out.lines();
    assert_eq!(lines.next(), Some(AD_ALICE.name), "{}", diag(&out, &err));
    assert_eq!(
        lines.next(),
        Some(alice_uid.to_string().as_str()),
        "{}",
        diag(&out, &err)
    );
    // The session has alice's delegated (forwarded: flag f) TGT, in a
    // cache sshd made for her UID.
    assert!(
        out.contains(&format!("Ticket cache: FILE:/tmp/krb5cc_{alice_uid}_")),
        "{}",
        diag(&out, &err)
    );
    assert!(
        out.contains(&format!("Default principal: alice@{AD_REALM}")),
        "{}",
        diag(&out, &err)
    );
    let tgt = format!("krbtgt/{AD_REALM}@{AD_REALM}");
    let flags = out
        .lines()
        .skip_while(|l| !l.contains(&tgt))
        .nth(1)
        .unwrap_or_else(|| panic!("no TGT in the session: {}", diag(&out, &err)));
    assert!(
        flags
            .split("Flags: ")
            .nth(1)
            .is_some_and(|f| f.contains('f')),
        "the TGT is not a forwarded one: {flags}\n{}",
        diag(&out, &err)
    );
    let log = sso.sshd_log();
    assert!(
        log.contains(&format!(
            "Accepted gssapi-with-mic for {} from 127.0.0.1",
            AD_ALICE.name
        )),
        "{log}"
    );
    // GSSAPICleanupCredentials: sshd removes the cache when the session
    // ends (in its own process, after the client has gone).
    let session_cache = out
        .lines()
        .find_map(|l| l.strip_prefix("Ticket cache: FILE:"))
        .map(std::path::PathBuf::from)
        .expect("the session's cache");
    let deadline = Instant::now() + Duration::from_secs(30);
    while session_cache.exists() {
        assert!(
            Instant::now() < deadline,
            "{} left after logout: {}",
            session_cache.display(),
            diag(&out, &err)
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // No TGT (KRB5CCNAME names a cache that does not exist): refused, no
    // password asked (BatchMode).
    let none = host.caches().join("none");
    let (code, out, err) = ssh(
        host,
        &client,
        &format!("FILE:{}", none.display()),
        port,
        AD_ALICE.name,
        "id -un",
    );
    assert_eq!(code, 255, "{}", diag(&out, &err));
    assert!(out.is_empty(), "{}", diag(&out, &err));
    assert!(err.contains("Permission denied"), "{}", diag(&out, &err));

    // bob's TGT does not open alice's account (krb5_kuserok: bob@REALM
    // maps to bob).
    let bob_cache = host.caches().join("bob-client");
    let (code, kout) = kinit(host, &client, &bob_cache, &AD_BOB);
    assert_eq!(code, 0, "kinit bob: {kout}");
    let (code, out, err) = ssh(
        host,
        &client,
        &format!("FILE:{}", bob_cache.display()),
        port,
        AD_ALICE.name,
        "id -un",
    );
    assert_eq!(code, 255, "{}", diag(&out, &err));
    assert!(err.contains("Permission denied"), "{}", diag(&out, &err));
    let log = sso.sshd_log();
    assert_eq!(log.matches("Accepted ").count(), 1, "one login only: {log}");
}

/// The realm stanza's `auth_to_local` rules that map `user@AD.EXAMPLE.TEST`
/// (that realm only) to `user@ad`, the qualified name rosterd serves with
/// `qualified_names = true`; other principals keep the default mapping.
fn qualified_auth_to_local() -> String {
    let escaped = AD_REALM.replace('.', "\\.");
    format!(
        "  auth_to_local = RULE:[1:$1@$0](^.*@{escaped}$)s/@{escaped}$/@ad/\n  auth_to_local = DEFAULT\n"
    )
}

#[test]
fn qualified_names_log_in_with_an_auth_to_local_rule() {
    let conf = krb5_conf().replace(
        "  kdc = 127.0.0.1\n",
        &format!("  kdc = 127.0.0.1\n{}", qualified_auth_to_local()),
    );
    assert!(conf.contains("auth_to_local = RULE"), "{conf}");
    let sso = SsoHost::start("rssh2", "qualified_names = true", &conf);
    let host = &sso.host;
    let client = host.namespace();
    let cache = host.caches().join("alice-client");
    let (code, out) = kinit(host, &client, &cache, &AD_ALICE);
    assert_eq!(code, 0, "kinit alice: {out}");
    let ccache = format!("FILE:{}", cache.display());

    // alice@AD.EXAMPLE.TEST maps to alice@ad, the name NSS serves.
    let (code, out, err) = ssh(
        host,
        &client,
        &ccache,
        sso.port,
        "alice@ad",
        "id -un; klist",
    );
    assert_eq!(code, 0, "{}", sso.diag(&out, &err));
    assert_eq!(
        out.lines().next(),
        Some("alice@ad"),
        "{}",
        sso.diag(&out, &err)
    );
    assert!(
        out.contains(&format!("Default principal: alice@{AD_REALM}")),
        "{}",
        sso.diag(&out, &err)
    );
    // The short name is not what the principal maps to: refused.
    let (code, out, err) = ssh(host, &client, &ccache, sso.port, "alice", "id -un");
    assert_eq!(code, 255, "{}", sso.diag(&out, &err));
}
