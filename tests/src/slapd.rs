//! A private OpenLDAP slapd on 127.0.0.1 for one test.
//!
//! The database is built offline with `slapadd -q -s` (schema checks off, so
//! the broken edge-case entries of [`crate::dataset`] exist) once per data
//! set: the loaded database is a shared artifact of
//! [`crate::fixture_cache`], and each slapd starts on its own copy of it
//! (a file copy instead of a load of thousands of entries). Then slapd runs
//! in the foreground (`-d 0`) under a tiny watchdog shell: when the test
//! process exits for any reason the shell's stdin closes and it kills slapd
//! by PID, then removes the server's directory (kept when
//! [`Slapd::stop`] stopped it). Listeners: `ldap://` (StartTLS
//! available) and `ldaps://`, with the certificates of
//! [`crate::tls::TestPki::shared`]. Anonymous binds with a DN and
//! an empty password succeed (`allow bind_anon_dn`), so clients must refuse
//! empty passwords themselves. The ppolicy overlay and the openssh-lpk schema
//! (`sshPublicKey`) are loaded. The password admin
//! ([`dataset::PASSWORD_ADMIN_DN`], once [`Slapd::add_password_admin`] added
//! it) may write every `userPassword`. The service
//! account may write under `ou=idmap` (the autorid allocation store of
//! `idmap_store = "ldap"`; tests add that OU when they need it).

use crate::dataset::{
    self, ADMIN_DN, ADMIN_PASSWORD, BASE_DN, PASSWORD_ADMIN_DN, PASSWORD_ADMIN_PASSWORD,
    SERVICE_DN, SERVICE_PASSWORD,
};
use crate::fixture_cache;
use crate::ports::free_port;
use crate::tls::TestPki;
use std::io::Write;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running (or stopped, restartable) private slapd.
pub struct Slapd {
    dir: tempfile::TempDir,
    pki: TestPki,
    ldap_port: u16,
    ldaps_port: u16,
    watchdog: Option<Child>,
}

/// The database file slapd's back_mdb keeps in its `directory`.
const MDB_FILE: &str = "data.mdb";

/// The openssh-lpk schema (`sshPublicKey`, `ldapPublicKey`), which
/// Debian's slapd does not ship: written next to slapd.conf.
pub const OPENSSH_LPK_SCHEMA: &str = include_str!("../fixtures/openssh-lpk.schema");
/// Its file name in the slapd's directory.
const OPENSSH_LPK_FILE: &str = "openssh-lpk.schema";

/// slapd.conf for a slapd whose pid file and database live in `dir` (the
/// openssh-lpk schema is included from there: [`write_schemas`]).
fn slapd_conf(dir: &Path, pki: &TestPki) -> String {
    let d = dir.display();
    format!(
        r#"include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/nis.schema
include /etc/ldap/schema/inetorgperson.schema
include {d}/{OPENSSH_LPK_FILE}
modulepath /usr/lib/ldap
moduleload back_mdb
moduleload ppolicy
pidfile {d}/slapd.pid
argsfile {d}/slapd.args
TLSCACertificateFile {ca}
TLSCertificateFile {cert}
TLSCertificateKeyFile {key}
TLSVerifyClient try
allow bind_anon_dn
sizelimit size.soft=500 size.hard=unlimited size.prtotal=unlimited
database mdb
maxsize 1073741824
suffix "{BASE_DN}"
rootdn "{ADMIN_DN}"
rootpw {ADMIN_PASSWORD}
directory {d}/db
index objectClass,uid,uidNumber,gidNumber,memberUid,member,cn,uniqueMember eq
overlay ppolicy
access to attrs=userPassword
  by self write
  by dn.exact="{PASSWORD_ADMIN_DN}" write
  by anonymous auth
  by * none
access to dn.subtree="ou=idmap,{BASE_DN}"
  by dn.exact="{SERVICE_DN}" write
  by * read
access to *
  by * read
"#,
        ca = pki.ca_cert.display(),
        cert = pki.server_cert.display(),
        key = pki.server_key.display(),
    )
}

/// Writes the schema files slapd.conf includes from `dir`.
fn write_schemas(dir: &Path) {
    std::fs::write(dir.join(OPENSSH_LPK_FILE), OPENSSH_LPK_SCHEMA).expect("write schema");
}

impl Slapd {
    /// Starts a slapd loaded with [`dataset::sample_ldif`].
    pub fn start() -> Slapd {
        Slapd::start_with_ldif(&dataset::sample_ldif())
    }

    /// Starts a slapd loaded with the given LDIF (must contain the base entry).
    pub fn start_with_ldif(ldif: &str) -> Slapd {
        let dir = tempfile::Builder::new()
            .prefix("roster-slapd-")
            .tempdir()
            .expect("temp dir");
        let pki = TestPki::shared();
        let loaded = loaded_database(ldif, &pki);
        std::fs::create_dir_all(dir.path().join("db")).expect("db dir");
        copy_sparse(
            &loaded.join(MDB_FILE),
            &dir.path().join("db").join(MDB_FILE),
        );
        let conf = dir.path().join("slapd.conf");
        std::fs::write(&conf, slapd_conf(dir.path(), &pki)).expect("write slapd.conf");
        write_schemas(dir.path());
        let mut slapd = Slapd {
            dir,
            pki,
            ldap_port: free_port(),
            ldaps_port: free_port(),
            watchdog: None,
        };
        slapd.start_again();
        slapd
    }

    /// (Re)starts slapd with the same ports and data after [`Slapd::stop`].
    pub fn start_again(&mut self) {
        assert!(self.watchdog.is_none(), "slapd is already running");
        let conf = self.dir.path().join("slapd.conf");
        let log = self.dir.path().join("slapd.log");
        let urls = format!(
            "ldap://127.0.0.1:{}/ ldaps://127.0.0.1:{}/",
            self.ldap_port, self.ldaps_port
        );
        // The shell starts slapd, then blocks reading stdin; a line or EOF
        // (stop(), which drop calls, or the test process dying) makes it
        // kill slapd by PID and wait until it has exited. Unless told to
        // keep it (stop() writes `keep`: the data is started again, or
        // the directory removed with the `TempDir`), it then removes the
        // server's directory: a server held in a static for a whole test
        // process, or one whose test was killed, is never dropped, and
        // each left its directory behind (some 5 MB each, a hundred and
        // more a `make test`). The shell ignores SIGINT (a Ctrl-C sent to
        // the test's process group): it is left to see its stdin close.
        let child = Command::new("sh")
            .arg("-c")
            .arg(r#"trap '' INT; slapd -d 0 -f "$1" -h "$2" 2>>"$3" & pid=$!; read cmd; kill $pid 2>/dev/null; wait $pid; [ "$cmd" = keep ] || rm -rf "$4""#)
            .arg("roster-slapd-watchdog")
            .arg(&conf)
            .arg(&urls)
            .arg(&log)
            .arg(self.dir.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            // Not the test's stderr: the test runner waits for whoever
            // holds it open (slapd's own output goes to slapd.log).
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn slapd watchdog");
        self.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.ldap_port)).is_err() {
            if Instant::now() > deadline {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                panic!("slapd did not start listening on {}: {log}", self.ldap_port);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops slapd (SIGTERM by PID) and waits until it has exited; its
    /// data is kept for [`Slapd::start_again`].
    pub fn stop(&mut self) {
        if let Some(mut child) = self.watchdog.take() {
            if let Some(mut stdin) = child.stdin.take() {
                // (The write fails only when the shell is gone, and slapd
                // with it.)
                let _ = stdin.write_all(b"keep\n");
            }
            let _ = child.wait();
        }
    }

    /// slapd's PID (from its pid file) while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.watchdog.as_ref()?;
        let text = std::fs::read_to_string(self.dir.path().join("slapd.pid")).ok()?;
        text.trim().parse().ok()
    }

    /// True while slapd runs.
    pub fn is_running(&self) -> bool {
        self.watchdog.is_some()
    }

    /// `ldap://127.0.0.1:PORT` (plain; StartTLS available).
    pub fn ldap_uri(&self) -> String {
        format!("ldap://127.0.0.1:{}", self.ldap_port)
    }

    /// `ldaps://127.0.0.1:PORT`.
    pub fn ldaps_uri(&self) -> String {
        format!("ldaps://127.0.0.1:{}", self.ldaps_port)
    }

    /// `ldaps://localhost:PORT` (matches the certificate's DNS name).
    pub fn ldaps_uri_localhost(&self) -> String {
        format!("ldaps://localhost:{}", self.ldaps_port)
    }

    /// Port of the plain/StartTLS listener.
    pub fn ldap_port(&self) -> u16 {
        self.ldap_port
    }

    /// Port of the ldaps listener.
    pub fn ldaps_port(&self) -> u16 {
        self.ldaps_port
    }

    /// The CA certificate that signed the server certificate.
    pub fn ca_file(&self) -> &Path {
        &self.pki.ca_cert
    }

    /// A CA certificate that did not sign the server certificate.
    pub fn wrong_ca_file(&self) -> &Path {
        &self.pki.wrong_ca_cert
    }

    /// A client certificate signed by [`Slapd::ca_file`].
    pub fn client_cert(&self) -> &Path {
        &self.pki.client_cert
    }

    /// The private key of [`Slapd::client_cert`].
    pub fn client_key(&self) -> &Path {
        &self.pki.client_key
    }

    /// The base DN.
    pub fn base_dn(&self) -> &'static str {
        BASE_DN
    }

    /// The rootdn.
    pub fn admin_dn(&self) -> &'static str {
        ADMIN_DN
    }

    /// The rootdn's password.
    pub fn admin_password(&self) -> &'static str {
        ADMIN_PASSWORD
    }

    /// The read-only service account's DN.
    pub fn service_dn(&self) -> &'static str {
        SERVICE_DN
    }

    /// The service account's password.
    pub fn service_password(&self) -> &'static str {
        SERVICE_PASSWORD
    }

    /// Writes the service account's password to `dir/bind_password`
    /// and returns its path: root:`_roster` 0640, as an installed system
    /// keeps it, with `dir` made traversable, so that rosterd running as
    /// `_roster` reads it ([`crate::daemon_user::give_secret`]).
    pub fn write_bind_password_file(&self, dir: &Path) -> PathBuf {
        let path = dir.join("bind_password");
        std::fs::write(&path, SERVICE_PASSWORD).expect("write password file");
        crate::daemon_user::give_secret(&path);
        path
    }

    /// The fixture's own scratch directory (removed on drop).
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn ldap_tool(&self, tool: &str, extra: &[&str], ldif: &str) {
        let mut child = Command::new(tool)
            .args([
                "-x",
                "-H",
                &self.ldap_uri(),
                "-D",
                ADMIN_DN,
                "-w",
                ADMIN_PASSWORD,
            ])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("run {tool}: {e}"));
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(ldif.as_bytes())
            .expect("write ldif");
        let out = child.wait_with_output().expect("wait");
        assert!(
            out.status.success(),
            "{tool} failed: {}\n{ldif}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Adds the password admin entry ([`dataset::PASSWORD_ADMIN_DN`], whose
    /// password is [`dataset::PASSWORD_ADMIN_PASSWORD`]): the slapd's ACLs
    /// let it write every `userPassword`.
    pub fn add_password_admin(&self) {
        self.ldapadd(&format!(
            "dn: {PASSWORD_ADMIN_DN}\nobjectClass: organizationalRole\nobjectClass: simpleSecurityObject\n\
             cn: pwadmin\nuserPassword: {PASSWORD_ADMIN_PASSWORD}\n"
        ));
    }

    /// Applies an LDIF change set as the rootdn (`ldapmodify`).
    pub fn ldapmodify(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", &[], ldif);
    }

    /// Adds entries as the rootdn (`ldapadd`).
    pub fn ldapadd(&self, ldif: &str) {
        self.ldap_tool("ldapmodify", &["-a"], ldif);
    }
}

/// Copies a database file keeping its holes: `data.mdb` is a sparse file
/// of `maxsize` (1 GiB) holding a few MiB; a plain copy would write it all.
fn copy_sparse(from: &Path, to: &Path) {
    let out = Command::new("cp")
        .arg("--sparse=always")
        .arg(from)
        .arg(to)
        .output()
        .expect("run cp");
    assert!(
        out.status.success(),
        "cp {} {}: {}",
        from.display(),
        to.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The directory holding `data.mdb` loaded with `ldif` by `slapadd`: made
/// once per data set (and slapd build) and shared by every test process.
fn loaded_database(ldif: &str, pki: &TestPki) -> PathBuf {
    let slapd_build = ["/usr/sbin/slapd", "/usr/sbin/slapadd"].map(|p| {
        std::fs::metadata(p)
            .ok()
            .map(|m| (m.len(), m.modified().ok()))
    });
    let key = fixture_cache::digest(&(
        ldif,
        slapd_conf(Path::new("/dir"), &TestPki::in_dir(Path::new("/pki"))),
        OPENSSH_LPK_SCHEMA,
        slapd_build,
    ));
    fixture_cache::shared_dir(&format!("slapd-db-{key}"), |build| {
        std::fs::create_dir_all(build.join("db")).expect("db dir");
        let conf = build.join("slapd.conf");
        std::fs::write(&conf, slapd_conf(build, pki)).expect("write slapd.conf");
        write_schemas(build);
        let ldif_path = build.join("data.ldif");
        std::fs::write(&ldif_path, ldif).expect("write ldif");
        let out = Command::new("slapadd")
            .args(["-q", "-s", "-f"])
            .arg(&conf)
            .arg("-l")
            .arg(&ldif_path)
            .output()
            .expect("run slapadd (is the slapd package installed?)");
        assert!(
            out.status.success(),
            "slapadd failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::rename(build.join("db").join(MDB_FILE), build.join(MDB_FILE))
            .expect("keep the loaded database");
        for leftover in ["db", "slapd.conf", "data.ldif", OPENSSH_LPK_FILE] {
            let p = build.join(leftover);
            let _ = std::fs::remove_dir_all(&p).or_else(|_| std::fs::remove_file(&p));
        }
    })
}

impl Drop for Slapd {
    fn drop(&mut self) {
        self.stop();
    }
}
