//! A private Samba Active Directory domain controller for one test process.
//!
//! `samba-tool domain provision --use-rfc2307` into a scratch
//! `--targetdir` (nothing under the host's `/etc` is touched), then the
//! sample AD data of [`ad_ldif`] is added offline in ONE transaction (Samba's
//! own python bindings, as the system account): that provisioned DC is
//! built once and shared read-only ([`provisioned`], under
//! `target/e2e-fixtures`, see [`crate::fixture_cache`]); each [`SambaDc`]
//! runs on a copy of it (only its `smb.conf` names absolute paths, which
//! the copy rewrites). `samba -i` runs in the
//! foreground with its LDAP, CLDAP, KDC and DNS services, under a watchdog shell that kills
//! it by PID when the test process goes away. Samba's LDAP answers on
//! 127.0.0.1:389 (StartTLS) and 636 (ldaps) with the certificate of a
//! [`TestPki::shared`] (issued to 127.0.0.1 and localhost), so clients verify TLS
//! without any name resolution. Those two ports must be free.
//! Its KDC answers on 127.0.0.1:88 (and kpasswd on 464), its CLDAP
//! (NetLogon ping, for adcli) on UDP 389, its DNS on 127.0.0.1:53: the zone
//! `ad.example.test` with the SRV records of the DC and an A record
//! `<host>.ad.example.test` -> 127.0.0.1 (the DC is named after this
//! machine, [`SambaDc::dc_fqdn`]). Those ports must be free.

use crate::fixture_cache;
use crate::tls::TestPki;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kerberos realm of the test domain.
pub const AD_REALM: &str = "AD.EXAMPLE.TEST";
/// NetBIOS name of the test domain.
pub const AD_NETBIOS: &str = "ADEXAMPLE";
/// Base DN of the test domain.
pub const AD_BASE_DN: &str = "DC=ad,DC=example,DC=test";
/// The Administrator's password.
pub const AD_ADMIN_PASSWORD: &str = "Adm1n!Passw0rd-roster";
/// The service account rosterd binds as (its UPN is `svc-roster@ad.example.test`).
pub const AD_SERVICE_USER: &str = "svc-roster";
/// The service account's password.
pub const AD_SERVICE_PASSWORD: &str = "Svc!Passw0rd-roster";
/// Members of the big group `big` (`bulk0000` …).
pub const AD_BULK_USERS: u32 = 3000;

/// A user of the sample AD data.
#[derive(Clone, Copy, Debug)]
pub struct AdUser {
    /// sAMAccountName.
    pub name: &'static str,
    /// Password.
    pub password: &'static str,
    /// uidNumber (RFC 2307), if the user has one.
    pub uid_number: Option<u32>,
}

/// Enabled user with RFC 2307 attributes (uid 10001, gid 10000), home
/// /home/alice, shell /bin/bash; member of `unixgroup` and `inner`.
pub const AD_ALICE: AdUser = AdUser {
    name: "alice",
    password: "Alice!Passw0rd",
    uid_number: Some(10001),
};
/// Enabled user without RFC 2307 attributes; member of `inner`.
pub const AD_BOB: AdUser = AdUser {
    name: "bob",
    password: "Bob!Passw0rd",
    uid_number: None,
};
/// Disabled user (userAccountControl 514), uid 10003.
pub const AD_DAVE: AdUser = AdUser {
    name: "dave",
    password: "Dave!Passw0rd",
    uid_number: Some(10003),
};
/// Expired user (accountExpires in 2010), uid 10004.
pub const AD_ERIN: AdUser = AdUser {
    name: "erin",
    password: "Erin!Passw0rd",
    uid_number: Some(10004),
};
/// User who must change the password (pwdLastSet 0), uid 10005.
pub const AD_FRANK: AdUser = AdUser {
    name: "frank",
    password: "Frank!Passw0rd",
    uid_number: Some(10005),
};
/// gidNumber of `unixgroup` (alice's RFC 2307 primary group).
pub const AD_UNIXGROUP_GID: u32 = 10000;
/// gidNumber of `inner` (members alice, bob).
pub const AD_INNER_GID: u32 = 10010;
/// gidNumber of `outer` (member: the group `inner`).
pub const AD_OUTER_GID: u32 = 10011;

/// A bulk user's name.
pub fn bulk_user(i: u32) -> String {
    format!("bulk{i:04}")
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

fn unicode_pwd(p: &str) -> String {
    let q = format!("\"{p}\"");
    let bytes: Vec<u8> = q.encode_utf16().flat_map(|u| u.to_le_bytes()).collect();
    b64(&bytes)
}

fn user_entry(name: &str, extra: &str) -> String {
    format!(
        "dn: CN={name},CN=Users,{AD_BASE_DN}\nobjectClass: user\nsAMAccountName: {name}\n\
         userPrincipalName: {name}@ad.example.test\n{extra}\n"
    )
}

fn posix(u: &AdUser, gid: u32) -> String {
    format!(
        "uidNumber: {}\ngidNumber: {gid}\n",
        u.uid_number.expect("a POSIX user")
    )
}

/// The sample AD data (LDIF, one add per entry).
pub fn ad_ldif() -> String {
    let mut out = Vec::new();
    let pw = |u: &AdUser| format!("unicodePwd:: {}\n", unicode_pwd(u.password));
    out.push(user_entry(
        AD_SERVICE_USER,
        &format!(
            "unicodePwd:: {}\nuserAccountControl: 66048\n",
            unicode_pwd(AD_SERVICE_PASSWORD)
        ),
    ));
    out.push(user_entry(
        AD_ALICE.name,
        &format!(
            "{}userAccountControl: 512\n{}unixHomeDirectory: /home/alice\nloginShell: /bin/bash\n\
             displayName: Alice Adams\n",
            pw(&AD_ALICE),
            posix(&AD_ALICE, AD_UNIXGROUP_GID)
        ),
    ));
    out.push(user_entry(
        AD_BOB.name,
        &format!(
            "{}userAccountControl: 512\ndisplayName: Bob Brown\n",
            pw(&AD_BOB)
        ),
    ));
    out.push(user_entry(
        AD_DAVE.name,
        &format!(
            "{}userAccountControl: 514\n{}",
            pw(&AD_DAVE),
            posix(&AD_DAVE, AD_UNIXGROUP_GID)
        ),
    ));
    out.push(user_entry(
        AD_ERIN.name,
        &format!(
            "{}userAccountControl: 512\naccountExpires: 129000000000000000\n{}",
            pw(&AD_ERIN),
            posix(&AD_ERIN, AD_UNIXGROUP_GID)
        ),
    ));
    out.push(user_entry(
        AD_FRANK.name,
        &format!(
            "{}userAccountControl: 512\npwdLastSet: 0\n{}",
            pw(&AD_FRANK),
            posix(&AD_FRANK, AD_UNIXGROUP_GID)
        ),
    ));
    for i in 0..AD_BULK_USERS {
        out.push(user_entry(&bulk_user(i), ""));
    }
    let dn = |n: &str| format!("CN={n},CN=Users,{AD_BASE_DN}");
    let group = |name: &str, gid: Option<u32>, members: &[String]| {
        let mut s = format!(
            "dn: CN={name},CN=Users,{AD_BASE_DN}\nobjectClass: group\nsAMAccountName: {name}\n"
        );
        if let Some(g) = gid {
            s += &format!("gidNumber: {g}\n");
        }
        for m in members {
            s += &format!("member: {m}\n");
        }
        s
    };
    out.push(group(
        "unixgroup",
        Some(AD_UNIXGROUP_GID),
        &[dn("alice"), dn("dave"), dn("erin"), dn("frank")],
    ));
    out.push(group(
        "inner",
        Some(AD_INNER_GID),
        &[dn("alice"), dn("bob")],
    ));
    out.push(group("outer", Some(AD_OUTER_GID), &[dn("inner")]));
    let bulk: Vec<String> = (0..AD_BULK_USERS).map(|i| dn(&bulk_user(i))).collect();
    out.push(group("big", None, &bulk));
    out.join("\n")
}

/// Adds an LDIF to a stopped DC's sam.ldb in one transaction.
const ADD_SCRIPT: &str = r#"
import socket
import sys
from samba.provision.sambadns import add_host_record
from samba.samdb import SamDB
from samba.auth import system_session
from samba.param import LoadParm
lp = LoadParm()
lp.load(sys.argv[1])
db = SamDB(url=sys.argv[2], session_info=system_session(), lp=lp)
db.transaction_start()
try:
    db.add_ldif(open(sys.argv[3]).read())
    # Passwords may be changed right after they are set (tests change them).
    db.modify_ldif("dn: %s\nchangetype: modify\nreplace: minPwdAge\nminPwdAge: 0\n" % db.domain_dn())
    # The DC's host name in its DNS zone (provisioning leaves 127.0.0.1
    # out), and the ldap/ SPNs samba_spnupdate would add (Kerberos clients
    # of LDAP: adcli, GSSAPI binds).
    host = socket.gethostname().split('.')[0].lower()
    dns = lp.get("realm").lower()
    zone = "DC=%s,CN=MicrosoftDNS,DC=DomainDnsZones,%s" % (dns, db.domain_dn())
    add_host_record(db, zone, "DC=%s" % host, "127.0.0.1", None)
    fqdn = "%s.%s" % (host, dns)
    spns = ["ldap/%s" % fqdn, "ldap/%s" % host.upper(), "ldap/%s/%s" % (fqdn, dns),
            "ldap/%s/%s" % (fqdn, lp.get("workgroup"))]
    db.modify_ldif("dn: CN=%s,OU=Domain Controllers,%s\nchangetype: modify\nadd: servicePrincipalName\n%s"
                   % (host.upper(), db.domain_dn(), "".join("servicePrincipalName: %s\n" % s for s in spns)))
except Exception:
    db.transaction_cancel()
    raise
db.transaction_commit()
"#;

/// A running private Samba AD DC.
pub struct SambaDc {
    dir: tempfile::TempDir,
    pki: TestPki,
    domain_sid: String,
    watchdog: Option<Child>,
    _lock: DcLock,
}

/// How long a DC waits for another one to release ports 389/636.
const PORT_WAIT: Duration = Duration::from_secs(600);

/// An exclusive lock on `$TMPDIR/roster-samba-dc-NETNS.lock`, held while a
/// DC of this process runs (released by the kernel when the process
/// exits). One per network namespace (NETNS: the inode of
/// `/proc/self/ns/net`): the fixed ports are a namespace's, so test
/// processes in namespaces of their own (`make e2e-ad`'s shards) each run
/// a DC at the same time.
struct DcLock {
    _file: std::fs::File,
}

/// The inode number of this process's network namespace (`net:[N]`).
fn network_namespace() -> String {
    let link = std::fs::read_link("/proc/self/ns/net")
        .unwrap_or_else(|e| panic!("read /proc/self/ns/net: {e}"));
    link.to_string_lossy()
        .chars()
        .filter(char::is_ascii_digit)
        .collect()
}

impl DcLock {
    fn acquire() -> DcLock {
        use std::os::fd::AsRawFd;
        let path =
            std::env::temp_dir().join(format!("roster-samba-dc-{}.lock", network_namespace()));
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
        // SAFETY: flock(2) on a descriptor owned by `f`, which outlives the call.
        let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
        assert_eq!(rc, 0, "flock {}", path.display());
        DcLock { _file: f }
    }
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: {e} (are samba and samba-ad-dc installed?)"));
    assert!(
        out.status.success(),
        "{what} failed: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn port_busy(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// What [`provisioned`] passes to `samba-tool domain provision` besides
/// `--targetdir`.
fn provision_args() -> Vec<String> {
    vec![
        "domain".into(),
        "provision".into(),
        "--use-rfc2307".into(),
        format!("--realm={AD_REALM}"),
        format!("--domain={AD_NETBIOS}"),
        "--server-role=dc".into(),
        "--dns-backend=SAMBA_INTERNAL".into(),
        format!("--adminpass={AD_ADMIN_PASSWORD}"),
        "--option=interfaces=lo".into(),
        "--option=bind interfaces only=yes".into(),
        "--option=dns forwarder=127.0.0.1".into(),
    ]
}

/// In a [`provisioned`] directory: the DC (`samba-tool`'s `--targetdir`).
const PROVISIONED_DC: &str = "dc";
/// In a [`provisioned`] directory: the absolute path the DC was provisioned
/// at, which its `etc/smb.conf` names.
const PROVISIONED_AT: &str = "provisioned-at";
/// In a [`provisioned`] directory: the domain SID.
const PROVISIONED_SID: &str = "domain-sid";

/// The provisioned DC, filled with [`ad_ldif`], that every [`SambaDc`]
/// starts a copy of: built once (about a minute and a half) by the first
/// process that needs it, under `target/e2e-fixtures`, named by a digest of
/// the provisioning arguments, the data, the loader and Samba's version.
/// `make test` builds it ahead of the tests, beside the build
/// (`roster-e2e-fixtures`).
pub fn provisioned() -> PathBuf {
    let version = run(Command::new("samba").arg("-V"), "samba -V");
    let ldif = ad_ldif();
    let key = fixture_cache::digest(&(provision_args(), &ldif, ADD_SCRIPT, version.trim()));
    fixture_cache::shared_dir(&format!("samba-dc-{key}"), |build| {
        let target = build.join(PROVISIONED_DC);
        let out = run(
            Command::new("samba-tool")
                .args(provision_args())
                .arg(format!("--targetdir={}", target.display())),
            "samba-tool domain provision",
        );
        let domain_sid = out
            .lines()
            .find_map(|l| l.split("DOMAIN SID:").nth(1))
            .map(|s| s.trim().to_string())
            .expect("provision prints the domain SID");
        let data = build.join("data.ldif");
        std::fs::write(&data, &ldif).expect("write ldif");
        let script = build.join("add.py");
        std::fs::write(&script, ADD_SCRIPT).expect("write add.py");
        run(
            Command::new("/usr/bin/python3")
                .arg(&script)
                .arg(target.join("etc/smb.conf"))
                .arg(target.join("private/sam.ldb"))
                .arg(&data),
            "adding the sample AD data",
        );
        for leftover in [data, script] {
            std::fs::remove_file(&leftover)
                .unwrap_or_else(|e| panic!("remove {}: {e}", leftover.display()));
        }
        let at = target.to_str().expect("a UTF-8 fixture path");
        std::fs::write(build.join(PROVISIONED_AT), at).expect("write provisioned-at");
        std::fs::write(build.join(PROVISIONED_SID), domain_sid).expect("write domain-sid");
    })
}

impl SambaDc {
    /// Starts a DC on a copy of the [`provisioned`] one (provisioning it
    /// first when no process has yet: about a minute and a half).
    pub fn start() -> SambaDc {
        let provisioned = provisioned();
        // Ports 389/636 are fixed: test processes that start a DC take
        // turns (the lock is released when the holder exits), and a DC of a
        // process that is just exiting is waited for.
        let lock = DcLock::acquire();
        let deadline = Instant::now() + PORT_WAIT;
        while port_busy(389) || port_busy(636) {
            assert!(
                Instant::now() < deadline,
                "127.0.0.1:389 or 636 stays in use: the Samba AD DC of the tests needs both ports"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let dir = tempfile::Builder::new()
            .prefix("roster-samba-")
            .tempdir()
            .expect("temp dir");
        let target = dir.path().join(PROVISIONED_DC);
        run(
            Command::new("cp")
                .args(["-a", "--sparse=always"])
                .arg(provisioned.join(PROVISIONED_DC))
                .arg(&target),
            "copying the provisioned DC",
        );
        let read = |name: &str| {
            let path = provisioned.join(name);
            std::fs::read_to_string(&path)
                .unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
        };
        let (at, domain_sid) = (read(PROVISIONED_AT), read(PROVISIONED_SID));
        let conf = target.join("etc/smb.conf");
        let text = std::fs::read_to_string(&conf)
            .unwrap_or_else(|e| panic!("read {}: {e}", conf.display()));
        assert!(
            text.contains(&at),
            "{} does not name {at}, where the DC was provisioned",
            conf.display()
        );
        let here = target.to_str().expect("a UTF-8 temp path");
        std::fs::write(&conf, text.replace(&at, here))
            .unwrap_or_else(|e| panic!("write {}: {e}", conf.display()));
        // Its server key is mode 0600, as samba requires.
        let pki = TestPki::shared();
        let mut dc = SambaDc {
            dir,
            pki,
            domain_sid,
            watchdog: None,
            _lock: lock,
        };
        dc.launch();
        dc
    }

    fn launch(&mut self) {
        let target = self.target();
        let d = target.display();
        let opts = [
            format!("--option=log file={d}/samba.log"),
            format!("--option=pid directory={d}"),
            // cldap: adcli's NetLogon ping; kdc: Kerberos and kpasswd;
            // dns: SRV discovery of the DC.
            "--option=server services=ldap cldap kdc dns".to_string(),
            // Authorization audit lines in its output (the JSON ones carry
            // a bind's transport protection: SEAL, SIGN, TLS, NONE).
            "--option=log level=1 auth_audit:5 auth_json_audit:5".to_string(),
            // A changed password stops working at once (Samba accepts the
            // previous one for 60 minutes by default).
            "--option=old password allowed period=0".to_string(),
            "--option=tls enabled=yes".to_string(),
            format!("--option=tls keyfile={}", self.pki.server_key.display()),
            format!("--option=tls certfile={}", self.pki.server_cert.display()),
            format!("--option=tls cafile={}", self.pki.ca_cert.display()),
        ];
        // The shell starts samba, then blocks reading stdin; EOF (drop, or
        // the test process dying: a fixture in a static is never dropped)
        // makes it kill samba by PID, wait, and remove the scratch dir.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"conf="$1"; log="$2"; scratch="$3"; shift 3; samba -i --no-process-group -s "$conf" "$@" >>"$log" 2>&1 & pid=$!; read _ ; kill $pid 2>/dev/null; wait $pid; for i in 1 2 3 4 5; do rm -rf "$scratch" 2>/dev/null && break; sleep 1; done"#)
            .arg("roster-samba-watchdog")
            .arg(target.join("etc/smb.conf"))
            .arg(target.join("samba.out"))
            .arg(self.dir.path())
            .args(&opts)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .expect("spawn samba watchdog");
        self.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(120);
        while !(port_busy(636) && port_busy(389)) {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(target.join("samba.out")).unwrap_or_default();
                panic!("samba did not start listening on 389/636: {log}");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn target(&self) -> PathBuf {
        self.dir.path().join("dc")
    }

    /// `ldaps://127.0.0.1` (the certificate names 127.0.0.1).
    pub fn ldaps_uri(&self) -> String {
        "ldaps://127.0.0.1".into()
    }

    /// `ldap://127.0.0.1` (StartTLS available).
    pub fn ldap_uri(&self) -> String {
        "ldap://127.0.0.1".into()
    }

    /// The CA certificate of the DC's TLS certificate.
    pub fn ca_file(&self) -> &Path {
        &self.pki.ca_cert
    }

    /// The domain SID (`S-1-5-21-…`), as printed by the provisioning.
    pub fn domain_sid(&self) -> &str {
        &self.domain_sid
    }

    /// The service account's UPN (a bind DN AD accepts).
    pub fn service_upn(&self) -> String {
        format!("{AD_SERVICE_USER}@{}", AD_REALM.to_ascii_lowercase())
    }

    /// Writes the service account's password to `dir/ad_bind_password`
    /// and returns its path: root:`_roster` 0640, as an installed system
    /// keeps it, with `dir` made traversable, so that rosterd running as
    /// `_roster` reads it ([`crate::daemon_user::give_secret`]).
    pub fn write_bind_password_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("ad_bind_password");
        std::fs::write(&path, AD_SERVICE_PASSWORD).expect("write password file");
        crate::daemon_user::give_secret(&path);
        path
    }

    /// The RID of the object called `sam` (its objectSid's last
    /// sub-authority), read with ldapsearch as Administrator.
    pub fn rid_of(&self, sam: &str) -> u32 {
        let rids = self.search_rids(&format!("(sAMAccountName={sam})"));
        *rids
            .get(sam)
            .unwrap_or_else(|| panic!("no objectSid for {sam}: {rids:?}"))
    }

    /// The RID of every user and group (by `sAMAccountName`), in one paged
    /// search as Administrator.
    pub fn rids(&self) -> std::collections::HashMap<String, u32> {
        self.search_rids("(|(objectClass=user)(objectClass=group))")
    }

    /// `sAMAccountName` -> RID of the entries `filter` finds.
    fn search_rids(&self, filter: &str) -> std::collections::HashMap<String, u32> {
        let out = run(
            Command::new("ldapsearch")
                .env("LDAPTLS_CACERT", self.ca_file())
                .args([
                    "-x",
                    "-LLL",
                    "-o",
                    "ldif-wrap=no",
                    "-E",
                    "pr=500/noprompt",
                    "-H",
                    &self.ldaps_uri(),
                    "-D",
                    &format!("Administrator@{}", AD_REALM.to_ascii_lowercase()),
                    "-w",
                    AD_ADMIN_PASSWORD,
                    "-b",
                    AD_BASE_DN,
                    filter,
                    "sAMAccountName",
                    "objectSid",
                ]),
            "ldapsearch objectSid",
        );
        let mut rids = std::collections::HashMap::new();
        for entry in out.split("\n\n") {
            let value = |key: &str| entry.lines().find_map(|l| l.strip_prefix(key));
            if let (Some(name), Some(sid)) = (value("sAMAccountName: "), value("objectSid:: ")) {
                let bytes = b64_decode(sid.trim());
                let n = bytes.len();
                let rid =
                    u32::from_le_bytes([bytes[n - 4], bytes[n - 3], bytes[n - 2], bytes[n - 1]]);
                rids.insert(name.trim().to_string(), rid);
            }
        }
        rids
    }

    /// A `[[domain]]` table of `kind = "ad"` named `name` for this DC over
    /// ldaps (verified against [`SambaDc::ca_file`]), bound as the service
    /// account's UPN (password file in `dir`), with `extra` lines at the end
    /// (e.g. `[domain.idmap]` and its keys).
    pub fn domain_table(&self, dir: &Path, name: &str, extra: &str) -> String {
        let pw = self.write_bind_password_file(dir);
        format!(
            "[[domain]]\nname = \"{name}\"\nkind = \"ad\"\nuris = [\"{}\"]\nbase_dn = \"{AD_BASE_DN}\"\n\
             ca_file = \"{}\"\nbind_dn = \"{}\"\nbind_password_file = \"{}\"\n\
             connect_timeout = 5\nop_timeout = 30\n{extra}\n",
            self.ldaps_uri(),
            self.ca_file().display(),
            self.service_upn(),
            pw.display()
        )
    }

    /// The DC's DNS name, `<this host's short name>.ad.example.test` (SRV
    /// records point to it; its A record is 127.0.0.1).
    pub fn dc_fqdn(&self) -> String {
        dc_fqdn()
    }

    /// A krb5.conf for the realm with the KDC on 127.0.0.1 (no DNS
    /// lookups, no reverse DNS), written to `dir/krb5.conf`; its path.
    pub fn write_krb5_conf(&self, dir: &Path) -> PathBuf {
        let path = dir.join("krb5.conf");
        std::fs::write(
            &path,
            format!(
                "[libdefaults]\n default_realm = {AD_REALM}\n dns_lookup_kdc = false\n dns_lookup_realm = false\n rdns = false\n\n\
                 [realms]\n {AD_REALM} = {{\n  kdc = 127.0.0.1\n  admin_server = 127.0.0.1\n  kpasswd_server = 127.0.0.1\n }}\n"
            ),
        )
        .expect("write krb5.conf");
        path
    }

    /// The DC's smb.conf (for `samba-tool -s`).
    pub fn smb_conf(&self) -> PathBuf {
        self.target().join("etc/smb.conf")
    }

    /// Runs `samba-tool ARGS -s <the DC's smb.conf>` on the DC's own
    /// database; panics with its output when it fails.
    pub fn samba_tool(&self, args: &[&str]) -> String {
        let conf = self.smb_conf();
        run(
            Command::new("samba-tool").args(args).arg("-s").arg(&conf),
            &format!("samba-tool {}", args.join(" ")),
        )
    }

    /// The DC's host name in the domain (`<host>.ad.example.test`: it is
    /// named after this machine), the name its `ldap/` service principal has.
    pub fn dc_host(&self) -> String {
        let conf = std::fs::read_to_string(self.smb_conf()).unwrap_or_default();
        let netbios = conf
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once('=')?;
                (k.trim().eq_ignore_ascii_case("netbios name")).then(|| v.trim().to_string())
            })
            .expect("netbios name in smb.conf");
        format!(
            "{}.{}",
            netbios.to_ascii_lowercase(),
            AD_REALM.to_ascii_lowercase()
        )
    }

    /// Samba's own log: what `samba -i` writes to its output
    /// (`samba.out` in the scratch directory).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.target().join("samba.out")).unwrap_or_default()
    }

    /// The DC's scratch directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// `<this host's short name>.ad.example.test`, lower case.
pub fn dc_fqdn() -> String {
    let mut buf = [0u8; 256];
    // SAFETY: gethostname writes at most buf.len() bytes into our buffer.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    assert_eq!(rc, 0, "gethostname");
    let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
    let host = String::from_utf8_lossy(&buf[..end]).to_string();
    let short = host.split('.').next().unwrap_or("").to_ascii_lowercase();
    format!("{short}.{}", AD_REALM.to_ascii_lowercase())
}

fn b64_decode(s: &str) -> Vec<u8> {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = Vec::new();
    let mut acc = 0u32;
    let mut bits = 0;
    for c in s.bytes().filter(|c| *c != b'=') {
        let v = T.iter().position(|t| *t == c).expect("base64") as u32;
        acc = acc << 6 | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

impl Drop for SambaDc {
    fn drop(&mut self) {
        if let Some(mut child) = self.watchdog.take() {
            drop(child.stdin.take());
            let _ = child.wait();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_unicode_pwd() {
        for s in [
            &b""[..],
            b"a",
            b"ab",
            b"abc",
            b"abcd",
            &[0, 255, 17, 3, 200],
        ] {
            assert_eq!(b64_decode(&b64(s)), s);
        }
        assert_eq!(b64(b"\"\0"), "IgA=");
        assert_eq!(unicode_pwd("a"), b64(&[b'"', 0, b'a', 0, b'"', 0]));
    }
}
