//! TLS to the fixture slapd through each TLS library (`tls_library`
//! rustls and openssl): ldaps and StartTLS verified with ca_file, a server
//! signed by another CA refused (and accepted with tls_verify off), and a
//! TLS client certificate presented.

use crate::directory_common;
use directory_common as common;

use common::directory;
use ldap3::exop::{WhoAmI, WhoAmIResp};
use roster_daemon::directory::DirectoryError;
use roster_e2e::config::{toml_str, DomainOptions, Transport};
use roster_e2e::slapd::Slapd;
use std::os::unix::fs::PermissionsExt;
use std::sync::OnceLock;

fn slapd() -> &'static Slapd {
    static S: OnceLock<Slapd> = OnceLock::new();
    S.get_or_init(Slapd::start)
}

fn opts(transport: Transport, extra: Vec<String>) -> DomainOptions {
    DomainOptions {
        transport,
        extra,
        ..DomainOptions::default()
    }
}

/// The TLS libraries a domain can choose alone.
const LIBRARIES: [&str; 2] = ["rustls", "openssl"];

/// The configuration line choosing `library`.
fn library(library: &str) -> String {
    format!("tls_library = \"{library}\"")
}

/// The TLS library the status shows for the domain's first server (for a
/// library chosen alone it follows the configuration; which library a
/// connection used is shown by the daemon's `conn::connectors` tests, here
/// that each library reaches slapd).
fn library_used(d: &roster_daemon::directory::Directory) -> Option<String> {
    d.status().servers[0].tls_library.clone()
}

#[tokio::test]
async fn ldaps_with_ca_file() {
    for lib in LIBRARIES {
        let t = tempfile::tempdir().unwrap();
        let d = directory(
            slapd(),
            t.path(),
            &opts(Transport::Ldaps, vec![library(lib)]),
        );
        let alice = d.user_by_name("alice").await.unwrap().unwrap();
        assert_eq!(alice.user.uid, 10001);
        assert_eq!(d.status().server, Some(slapd().ldaps_uri()));
        assert_eq!(library_used(&d).as_deref(), Some(lib));
    }
    // The default (auto) reaches slapd through rustls.
    let t = tempfile::tempdir().unwrap();
    let d = directory(slapd(), t.path(), &opts(Transport::Ldaps, vec![]));
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    assert_eq!(library_used(&d).as_deref(), Some("rustls"));
}

#[tokio::test]
async fn start_tls_with_ca_file() {
    for lib in LIBRARIES {
        let t = tempfile::tempdir().unwrap();
        let d = directory(
            slapd(),
            t.path(),
            &opts(Transport::StartTls, vec![library(lib)]),
        );
        assert!(d.user_by_uid(10002).await.unwrap().is_some());
        assert_eq!(d.status().server, Some(slapd().ldap_uri()));
        assert_eq!(library_used(&d).as_deref(), Some(lib));
    }
}

fn wrong_ca() -> String {
    format!(
        "ca_file = {}",
        toml_str(&slapd().wrong_ca_file().display().to_string())
    )
}

#[tokio::test]
async fn server_of_another_ca_is_refused() {
    for (transport, lib) in [Transport::Ldaps, Transport::StartTls]
        .into_iter()
        .flat_map(|t| LIBRARIES.map(|l| (t, l)))
    {
        let t = tempfile::tempdir().unwrap();
        let mut o = opts(transport, vec![]);
        // Render with the right CA, then point ca_file at the wrong one.
        o.transport = Transport::Plain;
        o.extra = vec![
            wrong_ca(),
            library(lib),
            if transport == Transport::StartTls {
                "start_tls = true".into()
            } else {
                String::new()
            },
        ];
        o.uris = Some(vec![roster_e2e::config::uri_for(slapd(), transport)]);
        let d = directory(slapd(), t.path(), &o);
        match d.user_by_name("alice").await {
            Err(DirectoryError::Unavailable { context: m, .. }) => {
                // OpenSSL: "certificate verify failed"; rustls: "invalid
                // peer certificate: UnknownIssuer".
                assert!(
                    m.to_lowercase().contains("certificate"),
                    "{transport:?} {lib}: {m}"
                )
            }
            other => panic!("{transport:?} {lib}: expected Unavailable, got {other:?}"),
        }
        // With verification off the same server is accepted.
        let t2 = tempfile::tempdir().unwrap();
        o.extra.push("tls_verify = false".into());
        let d = directory(slapd(), t2.path(), &o);
        assert!(
            d.user_by_name("alice").await.unwrap().is_some(),
            "{transport:?} {lib} with tls_verify = false"
        );
    }
}

#[tokio::test]
async fn client_certificate_is_presented() {
    for lib in LIBRARIES {
        client_certificate_is_presented_through(lib).await;
    }
}

async fn client_certificate_is_presented_through(lib: &str) {
    let t = tempfile::tempdir().unwrap();
    let s = slapd();
    // A private key must be private (mode 0600) for roster to use it.
    let key = t.path().join("client.key");
    std::fs::copy(s.client_key(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let o = DomainOptions {
        transport: Transport::Ldaps,
        bind: false,
        extra: vec![
            format!(
                "client_cert = {}",
                toml_str(&s.client_cert().display().to_string())
            ),
            format!(
                "client_key = {}",
                toml_str(&s.client_key().display().to_string())
            ),
            library(lib),
        ],
        ..DomainOptions::default()
    };
    let d = directory(s, t.path(), &o);
    assert!(d.user_by_name("alice").await.unwrap().is_some());
    assert_eq!(library_used(&d).as_deref(), Some(lib));
    // SASL EXTERNAL on a separate connection: slapd authenticates the
    // certificate's subject, which it only knows if the client sent it.
    let mut ldap = d.connect_unbound(&s.ldaps_uri()).await.unwrap();
    ldap.sasl_external_bind().await.unwrap().success().unwrap();
    let (exop, _) = ldap.extended(WhoAmI).await.unwrap().success().unwrap();
    let who: WhoAmIResp = exop.parse();
    assert!(
        who.authzid.to_lowercase().starts_with("dn:"),
        "{}",
        who.authzid
    );
    assert!(
        who.authzid.to_lowercase().contains("cn="),
        "{lib}: {}",
        who.authzid
    );
    // Without the certificate, EXTERNAL fails.
    let t2 = tempfile::tempdir().unwrap();
    let plain = directory(
        s,
        t2.path(),
        &DomainOptions {
            transport: Transport::Ldaps,
            bind: false,
            extra: vec![library(lib)],
            ..DomainOptions::default()
        },
    );
    let mut ldap = plain.connect_unbound(&s.ldaps_uri()).await.unwrap();
    let res = ldap.sasl_external_bind().await.unwrap();
    assert_ne!(
        res.rc, 0,
        "{lib}: EXTERNAL without a client certificate succeeded"
    );
}

#[test]
fn group_readable_client_key_is_refused_by_the_configuration() {
    let t = tempfile::tempdir().unwrap();
    let s = slapd();
    let key = t.path().join("client.key");
    std::fs::copy(s.client_key(), &key).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    // Readable through a group that is not rosterd's (nogroup).
    std::os::unix::fs::chown(&key, None, Some(65534)).unwrap();
    let o = DomainOptions {
        transport: Transport::Ldaps,
        extra: vec![
            format!(
                "client_cert = {}",
                toml_str(&s.client_cert().display().to_string())
            ),
            format!("client_key = {}", toml_str(&key.display().to_string())),
        ],
        ..DomainOptions::default()
    };
    let path = roster_e2e::config::write_roster_toml(s, t.path(), &o);
    let e = roster_daemon::config::check(&path).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:", path.display())), "{e}");
    assert!(e.contains("key `client_key`") && e.contains("0640"), "{e}");
}

/// Set in the child run of [`ca_file_alone_does_not_trust_the_system_store`].
const SYSTEM_CA_CHILD: &str = "ROSTER_TEST_SYSTEM_CA_CHILD";

/// The fixture CA stands in for the system's CA store (`SSL_CERT_FILE`,
/// which OpenSSL reads once per process: hence a child process running
/// only this test). `ca_file` naming another CA replaces that store, so
/// the server is refused; `ca_system = true` trusts both.
#[tokio::test]
async fn ca_file_alone_does_not_trust_the_system_store() {
    if std::env::var_os(SYSTEM_CA_CHILD).is_none() {
        // The test's full name in the e2e binary: its module path without
        // the crate (`directory_tls::…`).
        let module = module_path!().split_once("::").map_or("", |(_, m)| m);
        let name = format!("{module}::ca_file_alone_does_not_trust_the_system_store");
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["--exact", &name, "--nocapture"])
            .env(SYSTEM_CA_CHILD, "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("system-ca-child: checked"), "{text}");
        return;
    }
    // Before any TLS is set up in this process.
    std::env::set_var("SSL_CERT_FILE", slapd().ca_file());
    for transport in [Transport::Ldaps, Transport::StartTls] {
        let mut o = opts(Transport::Plain, vec![wrong_ca()]);
        if transport == Transport::StartTls {
            o.extra.push("start_tls = true".into());
        }
        o.uris = Some(vec![roster_e2e::config::uri_for(slapd(), transport)]);
        let t = tempfile::tempdir().unwrap();
        let d = directory(slapd(), t.path(), &o);
        match d.user_by_name("alice").await {
            Err(DirectoryError::Unavailable { context: m, .. }) => {
                assert!(
                    m.to_lowercase().contains("certificate"),
                    "{transport:?}: {m}"
                )
            }
            other => panic!("{transport:?}: expected Unavailable, got {other:?}"),
        }
        o.extra.push("ca_system = true".into());
        let t = tempfile::tempdir().unwrap();
        let d = directory(slapd(), t.path(), &o);
        assert!(
            d.user_by_name("alice").await.unwrap().is_some(),
            "{transport:?} with ca_system = true"
        );
    }
    println!("system-ca-child: checked");
}
