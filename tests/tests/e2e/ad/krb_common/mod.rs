//! What the Kerberos tests of the AD domain share (`ad_join`, `ad_gssapi`,
//! `ad_ssh`): a simulated host joined to the DC ([`Host`]: a computer
//! account, its keytab, a krb5.conf and a scratch directory, made either
//! with `samba-tool` or with `rosterctl join`), namespaces resolving names
//! through the DC's DNS server, `rosterctl` and a runner of scripts.

use super::{dc, rid_backend};
use roster_e2e::namespace::{Namespace, DEFAULT_NSSWITCH};
use roster_e2e::rosterd::{rosterd_bin, Launch, Rosterd};
use roster_e2e::samba::{AD_ADMIN_PASSWORD, AD_BASE_DN, AD_REALM};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// A `[[domain]]` table like [`roster_e2e::samba::SambaDc::domain_table`]
/// but without `uris` (the DCs come from DNS), with `extra` lines.
pub fn discovery_table(dir: &Path, extra: &str) -> String {
    let table = dc().domain_table(dir, "ad", extra);
    let without: Vec<&str> = table
        .lines()
        .filter(|l| !l.trim_start().starts_with("uris"))
        .collect();
    assert_eq!(without.len() + 1, table.lines().count(), "{table}");
    without.join("\n") + "\n"
}

/// A namespace resolving names through the DC's DNS server.
pub fn dns_namespace() -> Namespace {
    Namespace::new()
        .nsswitch(&DEFAULT_NSSWITCH.replace("hosts: files", "hosts: files dns"))
        .etc_file("resolv.conf", "nameserver 127.0.0.1\n")
}

/// The `rosterctl` of this build.
pub fn rosterctl() -> PathBuf {
    rosterd_bin().with_file_name("rosterctl")
}

/// Runs `script` in `ns`: (exit code, stdout, stderr).
pub fn run(ns: &Namespace, script: &str) -> (i32, String, String) {
    let out = ns.run(script);
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The krb5.conf of the tests: the DC's KDC on 127.0.0.1, no DNS, host
/// names taken as given (no forward or reverse canonicalization: a
/// service's principal is `service/<the name the client used>`).
pub fn krb5_conf() -> String {
    format!(
        "[libdefaults]\n default_realm = {AD_REALM}\n dns_lookup_kdc = false\n\
         dns_lookup_realm = false\n rdns = false\n dns_canonicalize_hostname = false\n\
         [realms]\n {AD_REALM} = {{\n  kdc = 127.0.0.1\n  admin_server = 127.0.0.1\n\
         kpasswd_server = 127.0.0.1\n }}\n[domain_realm]\n .{} = {AD_REALM}\n",
        AD_REALM.to_ascii_lowercase()
    )
}

/// A simulated host joined to the DC: a computer account, its keytab, a
/// krb5.conf and a scratch directory.
pub struct Host {
    /// The scratch directory (keytab, krb5.conf, caches).
    pub dir: tempfile::TempDir,
    /// The computer account's name (`NAME`, principal `NAME$`).
    name: String,
    /// The host's DNS name, for a host joined with `rosterctl join` (its
    /// UTS host name, the name of its `host/` principal).
    fqdn: Option<String>,
    /// The namespaces rosterd runs in (their files must outlive it).
    daemon_namespaces: std::cell::RefCell<Vec<Namespace>>,
}

impl Host {
    /// A scratch directory others may traverse, with the krb5.conf and
    /// the caches directory.
    fn new(name: &str, fqdn: Option<String>) -> Host {
        let dir = tempfile::Builder::new()
            .prefix("roster-krb-")
            .tempdir()
            .expect("temp dir");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))
            .expect("chmod");
        let host = Host {
            dir,
            name: name.to_string(),
            fqdn,
            daemon_namespaces: Default::default(),
        };
        std::fs::write(host.krb5_conf(), krb5_conf()).expect("write krb5.conf");
        std::fs::create_dir_all(host.caches()).expect("ccache dir");
        host
    }

    /// Creates the computer account `name` on the DC and exports its key.
    pub fn join(name: &str) -> Host {
        let host = Host::new(name, None);
        dc().samba_tool(&["computer", "create", name]);
        host.set_password("Kr6!Host-Passw0rd-one");
        host.export_keytab();
        host
    }

    /// Joins the host `short.ad.example.test` as an administrator would:
    /// `rosterctl join ad` (adcli) run in a namespace with that host name
    /// and the DC's DNS server, writing the keytab of the domain's `keytab`
    /// key (this host's [`Host::keytab`]); rosterctl's output.
    pub fn join_with_rosterctl(short: &str) -> (Host, String) {
        let fqdn = format!("{short}.{}", AD_REALM.to_ascii_lowercase());
        let host = Host::new(&short.to_ascii_uppercase(), Some(fqdn.clone()));
        let cfg = host.dir.path().join("roster.toml");
        let table = discovery_table(
            host.dir.path(),
            &format!(
                "keytab = \"{}\"\n{}",
                host.keytab().display(),
                rid_backend()
            ),
        );
        std::fs::write(&cfg, table).expect("write config");
        let admin_pw = host.dir.path().join("admin_pw");
        std::fs::write(&admin_pw, format!("{AD_ADMIN_PASSWORD}\n")).expect("password file");
        std::fs::set_permissions(&admin_pw, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        let (code, out, err) = run(
            &dns_namespace().hostname(&fqdn),
            &format!(
                "export KRB5_CONFIG={}; {} --config {} join ad --password-file {}",
                host.krb5_conf().display(),
                rosterctl().display(),
                cfg.display(),
                admin_pw.display()
            ),
        );
        std::fs::remove_file(&admin_pw).expect("remove the password file");
        assert_eq!(code, 0, "rosterctl join: {out}{err}");
        (host, out)
    }

    /// Sets the computer account's password (its keys), as a join does.
    pub fn set_password(&self, password: &str) {
        dc().samba_tool(&[
            "user",
            "setpassword",
            &self.principal(),
            &format!("--newpassword={password}"),
        ]);
    }

    fn export_keytab(&self) {
        let _ = std::fs::remove_file(self.keytab());
        let principal = format!("--principal={}", self.principal());
        dc().samba_tool(&[
            "domain",
            "exportkeytab",
            &self.keytab().display().to_string(),
            &principal,
        ]);
        // Readable by rosterd's user (it runs as `_roster`), as a keytab
        // handed to the daemon through its group would be.
        roster_e2e::daemon_user::give_secret(&self.keytab());
    }

    /// The host keytab.
    pub fn keytab(&self) -> PathBuf {
        self.dir.path().join("krb5.keytab")
    }

    /// The host's krb5.conf ([`krb5_conf`]).
    pub fn krb5_conf(&self) -> PathBuf {
        self.dir.path().join("krb5.conf")
    }

    /// Where logins' ticket caches go (`krb5_ccache_template`).
    pub fn caches(&self) -> PathBuf {
        self.dir.path().join("caches")
    }

    /// The computer account's principal name as the keytab holds it
    /// (Samba exports `name$`, lower case; adcli writes `NAME$`).
    pub fn principal(&self) -> String {
        format!("{}$", self.name)
    }

    /// The host's DNS name (a host joined with `rosterctl join`).
    pub fn fqdn(&self) -> &str {
        self.fqdn.as_deref().expect("a host joined with rosterctl")
    }

    /// A namespace with the DC's name, and this host's when it has one,
    /// in `/etc/hosts` (all 127.0.0.1).
    pub fn namespace(&self) -> Namespace {
        let short = |name: &str| name.split('.').next().unwrap_or_default().to_string();
        let dc_host = dc().dc_host();
        let mut names = format!("{dc_host} {}", short(&dc_host));
        if let Some(fqdn) = &self.fqdn {
            names += &format!(" {fqdn} {}", short(fqdn));
        }
        Namespace::new().hosts(&format!("127.0.0.1 localhost {names}\n::1 localhost\n"))
    }

    /// The `[[domain]]` table of a GSSAPI domain over plain `ldap://` to
    /// the DC (sealed by Kerberos), rid backend, with `extra` lines.
    pub fn gssapi_domain(&self, extra: &str) -> String {
        format!(
            "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldap://{}\"]\n\
             base_dn = \"{AD_BASE_DN}\"\nkeytab = \"{}\"\nkrb5_principal = \"{}\"\n\
             krb5_ccache_template = \"FILE:{}/krb5cc_%U\"\n\
             connect_timeout = 5\nop_timeout = 30\n{extra}\n{}",
            dc().dc_host(),
            self.keytab().display(),
            self.principal(),
            self.caches().display(),
            rid_backend()
        )
    }

    /// rosterd with `config`, in a namespace of this host, with its
    /// krb5.conf.
    pub fn rosterd(&self, config: &str) -> Rosterd {
        let mut wrapper = vec![
            "env".to_string(),
            format!("KRB5_CONFIG={}", self.krb5_conf().display()),
        ];
        let ns = self.namespace();
        wrapper.extend(ns.wrapper());
        self.daemon_namespaces.borrow_mut().push(ns);
        Rosterd::start_with(
            config,
            Launch {
                wrapper,
                ..Launch::default()
            },
        )
    }

    /// Runs `script` with this host's krb5.conf in `ns`; (exit code, output).
    pub fn sh(&self, ns: &Namespace, script: &str) -> (i32, String) {
        let out = ns.run(&format!(
            "export KRB5_CONFIG={}\n{script}",
            self.krb5_conf().display()
        ));
        (
            out.status.code().unwrap_or(-1),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}
