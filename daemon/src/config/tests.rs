//! Unit tests of configuration parsing and validation.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

const MINIMAL: &str = r#"
[[domain]]
name = "example"
uris = ["ldap://127.0.0.1:389"]
base_dn = "dc=example,dc=test"
"#;

/// A throwaway self-signed CA certificate (its key was discarded).
const TEST_CA_PEM: &str = "-----BEGIN CERTIFICATE-----\nMIIBkjCCATmgAwIBAgIUJUXy6hgL68qqzacZJgTKBlWBoWAwCgYIKoZIzj0EAwIw\nHjEcMBoGA1UEAwwTcm9zdGVyLXVuaXQtdGVzdC1jYTAgFw0yNjExMjMxNjQzMTVa\nGA8yMTI2MTAzMDE2NDMxNVowHjEcMBoGA1UEAwwTcm9zdGVyLXVuaXQtdGVzdC1j\nYTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABGuStCsm3Jp4oukt1VQgxUDloE3C\n+6FsV7KOV14Kwi1r/VfaSoTqq3OuvQkqX/VWkmLiMsR4DdDuUDgWMsUU/uOjUzBR\nMB0GA1UdDgQWBBT30g+huKiXo33AK7RRRM10tlAkfzAfBgNVHSMEGDAWgBT30g+h\nuKiXo33AK7RRRM10tlAkfzAPBgNVHRMBAf8EBTADAQH/MAoGCCqGSM49BAMCA0cA\nMEQCIG0M82yHtMDlinsIvTJNbwjGIzHnGxNcERuX/ddLDgO6AiBZVlB954ZJs4/v\nfM4njMrUvP7Xx18vF2rGg50oB8w0CA==\n-----END CERTIFICATE-----\n";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::from_str(text, "/etc/roster/roster.toml")
}

fn password_file(dir: &std::path::Path, mode: u32) -> PathBuf {
    let p = dir.join("bindpw");
    std::fs::write(&p, "secret-pw\n").unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(mode)).unwrap();
    p
}

#[test]
fn defaults() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.cache, CacheSettings::default());
    assert_eq!(c.cache.entry_ttl, 300);
    assert_eq!(c.cache.negative_ttl, 60);
    assert_eq!(c.cache.offline_max_age, 604_800);
    assert_eq!(c.cache.max_entries, 100_000);
    assert!(!c.cache.enumerate);
    assert_eq!(c.cache.credential_hash_memory_kib, 7168);
    assert_eq!(c.cache.credential_hash_iterations, 5);
    assert_eq!(c.daemon.socket_dir, PathBuf::from("/run/roster"));
    assert_eq!(c.daemon.state_dir, PathBuf::from("/var/lib/roster"));
    assert_eq!(c.daemon.log_level, "info");
    assert_eq!(c.nss.timeout_ms, 3000);
    assert_eq!(c.nss.ignore_users, vec!["root"]);
    assert_eq!(c.nss.ignore_groups, vec!["root"]);
    assert_eq!(c.nss.min_id, 1000);
    assert_eq!(c.nss.memcache_size, 32 << 20);
    let d = &c.domains[0];
    assert!(d.enabled);
    assert_eq!(d.kind, DomainKind::Ldap);
    assert_eq!(d.failback_after, Duration::from_secs(300));
    assert!(!d.start_tls);
    assert!(d.tls_verify);
    assert_eq!(d.user_base(), "dc=example,dc=test");
    assert_eq!(d.group_base(), "dc=example,dc=test");
    assert_eq!(d.scope, SearchScope::Sub);
    assert_eq!(d.user_filter, "(objectClass=posixAccount)");
    assert_eq!(d.group_filter(), "(objectClass=posixGroup)");
    assert_eq!(d.schema, Schema::Rfc2307);
    assert_eq!(d.nesting_depth, 8);
    assert_eq!(d.connect_timeout, Duration::from_secs(3));
    assert_eq!(d.op_timeout, Duration::from_secs(5));
    assert_eq!(d.offline_retry_initial, Duration::from_secs(2));
    assert_eq!(d.offline_retry_max, Duration::from_secs(30));
    assert_eq!((d.min_id, d.max_id, d.page_size), (1000, 0, 500));
    assert!(!d.allow_insecure_auth);
    assert_eq!(d.attributes, AttributeMap::default());
    assert_eq!(d.attributes.username, "uid");
    assert_eq!(d.attributes.gecos, "gecos");
    assert_eq!(d.default_shell, "/bin/sh");
    assert!(d.bind_password.is_none());
    assert_eq!(d.netgroup_bases()[0].base, "dc=example,dc=test");
    assert_eq!(d.netgroup_filter, "(objectClass=nisNetgroup)");
    let a = &d.attributes;
    assert_eq!(
        (&*a.netgroup_name, &*a.netgroup_triple, &*a.member_netgroup),
        ("cn", "nisNetgroupTriple", "memberNisNetgroup")
    );
}

#[test]
fn netgroup_keys_are_read_and_checked() {
    let c = parse(&format!(
        "{MINIMAL}netgroup_search_base = \"ou=netgroup,dc=example,dc=test\"\n\
         netgroup_filter = \"(objectClass=nisNetgroup)\"\n\
         [domain.attributes]\nnetgroup_triple = \"triple\"\n"
    ))
    .unwrap();
    let d = &c.domains[0];
    assert_eq!(d.netgroup_bases()[0].base, "ou=netgroup,dc=example,dc=test");
    assert_eq!(d.attributes.netgroup_triple, "triple");
    for (extra, key, what) in [
        (
            "netgroup_search_base = \"ou=x,dc=other\"",
            "netgroup_search_base",
            "not under",
        ),
        (
            "netgroup_filter = \"nisNetgroup\"",
            "netgroup_filter",
            "filter",
        ),
    ] {
        let e = err(&format!("{MINIMAL}{extra}\n"));
        assert!(
            e.contains(&format!("key `{key}`")) && e.contains(what),
            "{extra}: {e}"
        );
    }
    let e = err(&format!(
        "{MINIMAL}[domain.attributes]\nmember_netgroup = \"a b\"\n"
    ));
    assert!(e.contains("key `attributes.member_netgroup`"), "{e}");
}

#[test]
fn the_ssh_key_attribute_is_read_and_checked() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(c.domains[0].attributes.ssh_public_key, "sshPublicKey");
    let c = parse(&format!(
        "{MINIMAL}[domain.attributes]\nssh_public_key = \"altSecurityIdentities\"\n"
    ))
    .unwrap();
    assert_eq!(
        c.domains[0].attributes.ssh_public_key,
        "altSecurityIdentities"
    );
    let e = err(&format!(
        "{MINIMAL}[domain.attributes]\nssh_public_key = \"ssh key\"\n"
    ));
    assert!(e.contains("key `attributes.ssh_public_key`"), "{e}");
}

#[test]
fn rfc2307bis_group_filter_default() {
    let c = parse(&format!("{MINIMAL}schema = \"rfc2307bis\"\n")).unwrap();
    assert_eq!(
        c.domains[0].group_filter(),
        "(|(objectClass=posixGroup)(objectClass=groupOfNames)(objectClass=groupOfUniqueNames))"
    );
}

#[test]
fn full_domain() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), 0o600);
    let ca = dir.path().join("ca.pem");
    std::fs::write(&ca, TEST_CA_PEM).unwrap();
    let text = format!(
        r#"
[cache]
entry_ttl = 10
enumerate = true
[daemon]
socket_dir = "/tmp/r"
log_level = "debug"
[nss]
ignore_users = []
[[domain]]
name = "corp"
uris = ["ldaps://a.example.test", "ldap://b.example.test:1389"]
failback_after = 1.5
tls_verify = false
ca_file = "{ca}"
bind_dn = "cn=svc,dc=corp,dc=test"
bind_password_file = "{pw}"
allow_insecure_bind = true
base_dn = "dc=corp,dc=test"
user_search_base = "ou=People,dc=corp,dc=test"
scope = "one"
limit_to_groups = ["admins"]
connect_timeout = 0.25
op_timeout = 2
offline_retry_initial = 0.1
offline_retry_max = 1.5
max_id = 99999
home_directory_template = "/home/{{domain}}/{{username}}"
shell_override = "/bin/zsh"
[domain.attributes]
gecos = "displayName"
unique_id = "entryUUID"
[domain.idmap]
[[domain]]
name = "off"
enabled = false
uris = []
base_dn = "dc=off"
"#,
        ca = ca.display(),
        pw = pw.display()
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.cache.entry_ttl, 10);
    assert!(c.cache.enumerate);
    assert!(c.nss.ignore_users.is_empty());
    let d = &c.domains[0];
    assert_eq!(d.uris.len(), 2);
    assert_eq!(d.failback_after, Duration::from_millis(1500));
    assert_eq!(d.connect_timeout, Duration::from_millis(250));
    assert_eq!(d.op_timeout, Duration::from_secs(2));
    assert_eq!(d.offline_retry_initial, Duration::from_millis(100));
    assert_eq!(d.offline_retry_max, Duration::from_millis(1500));
    assert_eq!(d.bind_password.as_ref().unwrap().expose(), b"secret-pw");
    assert_eq!(d.user_base(), "ou=People,dc=corp,dc=test");
    assert_eq!(d.group_base(), "dc=corp,dc=test");
    assert_eq!(d.scope, SearchScope::One);
    assert_eq!(d.attributes.gecos, "displayName");
    assert_eq!(d.attributes.unique_id.as_deref(), Some("entryUUID"));
    assert_eq!(c.enabled_domains().count(), 1);
    assert!(c.domain("OFF").is_some());
    // Debug output never shows the password.
    assert!(!format!("{c:?}").contains("secret-pw"));
}

fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

/// Name lists that would make nss.conf longer than the NSS module reads
/// are refused, naming the longer list; lists that fit are taken.
#[test]
fn nss_name_lists_must_fit_what_the_module_reads() {
    let names = |count: usize| {
        (0..count)
            .map(|i| format!("\"user{i:05}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    // 10 octets a name and its comma.
    let fits = names(6000);
    let c = parse(&format!(
        "[nss]\nignore_users = [{fits}]\nignore_groups = [\"g\"]\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(c.nss.ignore_users.len(), 6000);
    let e = assert_at(
        &format!(
            "[nss]\nignore_groups = [\"g\"]\nignore_users = [{}]\n{MINIMAL}",
            names(7000)
        ),
        3,
        "key `nss.ignore_users`",
    );
    assert!(e.contains("the NSS module reads"), "{e}");
    // A name nss.conf cannot carry as it is.
    for bad in ["ab#c", "a,b", " padded", "line\\nbreak"] {
        let e = assert_at(
            &format!(
                "[nss]\nignore_users = [\"root\"]\nignore_groups = [\"ok\", \"{bad}\"]\n{MINIMAL}"
            ),
            3,
            "key `nss.ignore_groups`",
        );
        assert!(e.contains("cannot be a name here"), "{e}");
    }
}

#[test]
fn memcache_size_is_bounded_with_file_line_and_key() {
    let c = parse(&format!("[nss]\nmemcache_size = 4194304\n{MINIMAL}")).unwrap();
    assert_eq!(c.nss.memcache_size, 4 << 20);
    for bad in ["1000", "0", "2147483648"] {
        let e = err(&format!(
            "[nss]\ntimeout_ms = 100\nmemcache_size = {bad}\n{MINIMAL}"
        ));
        assert!(e.starts_with("/etc/roster/roster.toml:3:"), "{e}");
        assert!(
            e.contains("nss.memcache_size") && e.contains("out of range"),
            "{e}"
        );
    }
}

/// Asserts that `text`'s error starts with `roster.toml:LINE: KEY:`.
fn assert_at(text: &str, line: usize, key: &str) -> String {
    let e = err(text);
    assert!(
        e.starts_with(&format!("/etc/roster/roster.toml:{line}: {key}: ")),
        "expected line {line}, {key}: {e}"
    );
    e
}

#[test]
fn unknown_key_names_file_line_and_key() {
    let e = assert_at(
        &format!("{MINIMAL}colour = \"blue\"\n"),
        6,
        "domain \"example\" key `colour`",
    );
    assert!(e.contains("unknown field `colour`"), "{e}");
    assert_at("[cache]\nentry_ttl = 5\nttl = 3\n", 3, "key `cache.ttl`");
    assert_at(
        &format!("{MINIMAL}[domain.attributes]\nusername = \"uid\"\nuidnumber = \"x\"\n"),
        8,
        "domain \"example\" key `attributes.uidnumber`",
    );
    assert_at("[cachee]\nentry_ttl = 5\n", 1, "key `cachee`");
}

#[test]
fn bad_type_names_file_line_and_key() {
    assert_at(
        "[cache]\nentry_ttl = \"five\"\n",
        2,
        "key `cache.entry_ttl`",
    );
    let domain = "domain \"example\" key";
    for (extra, key) in [
        ("connect_timeout = \"3s\"", "connect_timeout"),
        ("scope = \"subtree\"", "scope"),
        ("op_timeout = -1", "op_timeout"),
        ("page_size = \"many\"", "page_size"),
        ("limit_to_groups = [\"a\", 3]", "limit_to_groups[1]"),
        (
            "idmap = { backend = \"rid\", range_low = \"q\" }",
            "idmap.range_low",
        ),
    ] {
        assert_at(
            &format!("{MINIMAL}{extra}\n"),
            6,
            &format!("{domain} `{key}`"),
        );
    }
}

#[test]
fn syntax_error_has_position() {
    let e = err("[cache\nentry_ttl = 1\n");
    assert!(e.starts_with("/etc/roster/roster.toml:1:"), "{e}");
}

#[test]
fn missing_required_key_points_at_the_table_header() {
    let e = assert_at(
        "[cache]\nentry_ttl = 1\n\n[[domain]]\nname = \"x\"\nuris = [\"ldap://h\"]\n",
        4,
        "domain \"x\" key `base_dn`",
    );
    assert!(e.ends_with("is required but missing"), "{e}");
    // Without a name, the domain is named by its position.
    assert_at(
        &format!("{MINIMAL}\n[[domain]]\nuris = [\"ldap://h\"]\nbase_dn = \"dc=x\"\n"),
        7,
        "domain #2 key `name`",
    );
    // rid without its range: at the [domain.idmap] header.
    assert_at(
        &format!("{MINIMAL}[domain.idmap]\nbackend = \"rid\"\nrange_low = 5000\n"),
        6,
        "domain \"example\" key `idmap.range_high`",
    );
}

#[test]
fn idmap_keys_of_another_backend_are_refused_with_the_backend() {
    let e = assert_at(
        &format!("{MINIMAL}[domain.idmap]\nbackend = \"rid\"\nrange_low = 5000\nrange_high = 9000\nrange_size = 100\n"),
        10,
        "domain \"example\" key `idmap.range_size`",
    );
    assert!(
        e.contains("does not apply to backend \"rid\"") && e.contains("backend \"sss\""),
        "{e}"
    );
    // The backend defaults to rfc2307: autorid keys are refused.
    let e = assert_at(
        &format!("{MINIMAL}[domain.idmap]\ndeterministic = true\n"),
        7,
        "domain \"example\" key `idmap.deterministic`",
    );
    assert!(
        e.contains("backend \"rfc2307\"") && e.contains("\"autorid\""),
        "{e}"
    );
    let e = assert_at(
        &format!("{MINIMAL}[domain.idmap]\ndomain_sid = \"S-1-5-21-1-2-3\"\n"),
        7,
        "domain \"example\" key `idmap.domain_sid`",
    );
    assert!(e.contains("\"rid\" or \"sss\" or \"autorid\""), "{e}");
    let e = assert_at(
        &format!("{MINIMAL}[domain.idmap]\nbackend = \"autorid\"\nautorid_low = 100000\nautorid_high = 999999\ndeterministic_blocks = 2\n"),
        10,
        "domain \"example\" key `idmap.deterministic_blocks`",
    );
    assert!(e.contains("needs deterministic = true"), "{e}");
}

#[test]
fn idmap_settings_are_one_variant_per_backend() {
    let idmap = |t: &str| {
        parse(&format!("{MINIMAL}[domain.idmap]\n{t}\n"))
            .unwrap()
            .domains[0]
            .idmap
            .clone()
    };
    assert_eq!(
        parse(MINIMAL).unwrap().domains[0].idmap,
        IdmapConfig::Rfc2307 {
            range_low: None,
            range_high: None
        }
    );
    assert_eq!(
        idmap("backend = \"rid\"\nrange_low = 5000\nrange_high = 9000"),
        IdmapConfig::Rid {
            domain_sid: None,
            range_low: 5000,
            range_high: 9000,
            base_rid: 0
        }
    );
    let a = idmap(
        "backend = \"autorid\"\nautorid_low = 100000\nautorid_high = 999999\n\
         deterministic = true\nidmap_store = \"ldap\"\nidmap_store_dn = \"ou=idmap,dc=example,dc=test\"",
    );
    assert_eq!(
        a,
        IdmapConfig::Autorid {
            domain_sid: None,
            low: 100_000,
            high: 999_999,
            rangesize: None,
            order: AutoridOrder::Deterministic { blocks: None },
            store: Some(AutoridStore::Ldap {
                dn: "ou=idmap,dc=example,dc=test".into()
            }),
        }
    );
    let s = a.settings();
    assert_eq!(
        (s.backend, s.deterministic, s.idmap_store),
        (
            roster_idmap::Backend::Autorid,
            Some(true),
            Some(roster_idmap::StoreKind::Ldap)
        )
    );
    assert_eq!(
        idmap("backend = \"sss\"").backend(),
        roster_idmap::Backend::Sss
    );
}

#[test]
fn semantic_errors_name_line_and_key() {
    let cases: &[(&str, &str, &str)] = &[
        ("uris = [\"http://h\"]", "uris", "scheme"),
        ("uris = [\"ldapi://%2Frun%2Fldapi\"]", "uris", "scheme"),
        ("uris = [\"ldap://h:notaport\"]", "uris", "port"),
        ("uris = [\"ldap:///dc=x\"]", "uris", "no host"),
        (
            "start_tls = true\nuris = [\"ldaps://h\"]",
            "start_tls",
            "ldaps",
        ),
        (
            "client_cert = \"/etc/hostname\"",
            "client_cert",
            "client_key",
        ),
        (
            "client_key = \"/etc/hostname\"",
            "client_key",
            "client_cert",
        ),
        (
            "ca_file = \"/nonexistent/ca.pem\"",
            "ca_file",
            "cannot read",
        ),
        ("bind_dn = \"cn=svc\"", "bind_dn", "bind_password_file"),
        (
            "bind_password_file = \"/nonexistent\"",
            "bind_password_file",
            "without bind_dn",
        ),
        (
            "user_search_base = \"ou=x,dc=other\"",
            "user_search_base",
            "not under",
        ),
        (
            "group_search_base = \"nonsense\"",
            "group_search_base",
            "not a DN",
        ),
        ("user_filter = \"objectClass=x\"", "user_filter", "filter"),
        ("group_filter = \"(&(a=b)\"", "group_filter", "filter"),
        ("min_id = 0", "min_id", "root"),
        ("min_id = 5000\nmax_id = 10", "max_id", "below min_id"),
        ("page_size = 0", "page_size", "between"),
        ("connect_timeout = 0", "connect_timeout", "greater than 0"),
        (
            "offline_retry_initial = 0",
            "offline_retry_initial",
            "greater than 0",
        ),
        (
            "offline_retry_initial = 10\noffline_retry_max = 5",
            "offline_retry_max",
            "at least offline_retry_initial",
        ),
        (
            "home_directory_template = \"/home/{user}\"",
            "home_directory_template",
            "placeholder",
        ),
        ("default_shell = \"bash\"", "default_shell", "absolute"),
        ("user_search_base = []", "user_search_base", "empty list"),
        (
            "user_search_base = [{ base = \"ou=a,dc=example,dc=test\" }, { base = \"ou=b,dc=other\" }]",
            "user_search_base",
            "entry 2: \"ou=b,dc=other\" is not under base_dn",
        ),
        (
            "group_search_base = [{ base = \"dc=example,dc=test\", filter = \"x=y\" }]",
            "group_search_base",
            "filter \"x=y\" is not a valid",
        ),
        ("scope = \"base\"", "scope", "search base list"),
        ("referral_hops = 0", "referral_hops", "between 1 and 32"),
        (
            "referral_hosts = [\"ldap://x\"]",
            "referral_hosts",
            "not a host name",
        ),
        ("referral_hosts = [\"*.\"]", "referral_hosts", "pattern"),
        ("local_primary_gids = [100, 0]", "local_primary_gids", "root"),
    ];
    for (extra, key, what) in cases {
        // `uris` given twice would be a TOML error: rebuild the domain.
        let text = if extra.contains("uris") {
            format!("[[domain]]\nname = \"example\"\nbase_dn = \"dc=example,dc=test\"\n{extra}\n")
        } else {
            format!("{MINIMAL}{extra}\n")
        };
        let e = err(&text);
        let line = text
            .lines()
            .position(|l| l.starts_with(&format!("{key} =")))
            .unwrap()
            + 1;
        assert!(
            e.starts_with(&format!(
                "/etc/roster/roster.toml:{line}: domain \"example\" key `{key}`"
            )),
            "{extra}: {e}"
        );
        assert!(e.contains(what), "{extra}: {e}");
    }
}

#[test]
fn attribute_errors_name_the_subtable() {
    let e = err(&format!(
        "{MINIMAL}[domain.attributes]\nuid_number = \"uid)(x\"\n"
    ));
    assert!(
        e.starts_with("/etc/roster/roster.toml:7: domain \"example\" key `attributes.uid_number`"),
        "{e}"
    );
}

#[test]
fn domain_names() {
    let e = err(&format!(
        "{MINIMAL}{}",
        MINIMAL.replace("example\"", "EXAMPLE\"")
    ));
    assert!(e.contains(":8:") && e.contains("unique"), "{e}");
    let e = err(&MINIMAL.replace("\"example\"", "\"ex@mple\""));
    assert!(e.contains("key `name`") && e.contains("'@'"), "{e}");
}

#[test]
fn enabled_domain_needs_uris() {
    let text = "[[domain]]\nname = \"a\"\nuris = []\nbase_dn = \"dc=a\"\n";
    assert!(err(text).contains("at least one URI"));
    assert!(parse(&text.replace("uris", "enabled = false\nuris")).is_ok());
}

#[test]
fn password_file_permissions() {
    let dir = tempfile::tempdir().unwrap();
    for (mode, ok) in [
        (0o600, true),
        (0o400, true),
        // Group-readable through the daemon's own group (the file's
        // group is this process's): readable by rosterd, nobody else.
        (0o640, true),
        (0o660, false),
        (0o644, false),
        (0o602, false),
    ] {
        let pw = password_file(dir.path(), mode);
        let text = format!(
            "{MINIMAL}bind_dn = \"cn=svc,dc=example,dc=test\"\nbind_password_file = \"{}\"\nallow_insecure_bind = true\n",
            pw.display()
        );
        match parse(&text) {
            Ok(c) => {
                assert!(ok, "mode {mode:o} accepted");
                assert_eq!(
                    c.domains[0].bind_password.as_ref().unwrap().expose(),
                    b"secret-pw"
                );
            }
            Err(e) => {
                assert!(!ok, "mode {mode:o} refused: {e}");
                let e = e.to_string();
                assert!(
                    e.starts_with(
                        "/etc/roster/roster.toml:7: domain \"example\" key `bind_password_file`"
                    ),
                    "{e}"
                );
                assert!(e.contains("group or others"), "{e}");
                assert!(!e.contains("secret-pw"), "{e}");
            }
        }
    }
}

#[test]
fn top_level_validation() {
    let e = err("[daemon]\nlog_level = \"loud=[\"\n");
    assert!(
        e.starts_with("/etc/roster/roster.toml:2: key `daemon.log_level`"),
        "{e}"
    );
    let e = err("[daemon]\nstate_dir = \"var/lib\"\n");
    assert!(
        e.contains("daemon.state_dir") && e.contains("absolute"),
        "{e}"
    );
    let e = err("[cache]\nentry_ttl = 10\ncredential_hash_memory_kib = 512\n");
    assert!(
        e.starts_with("/etc/roster/roster.toml:3: key `cache.credential_hash_memory_kib`")
            && e.contains("512 is out of range"),
        "{e}"
    );
    let e = err("[cache]\ncredential_hash_memory_kib = 300000\n");
    assert!(e.contains("cache.credential_hash_memory_kib"), "{e}");
    let e = err("[cache]\ncredential_hash_iterations = 0\n");
    assert!(
        e.starts_with("/etc/roster/roster.toml:2: key `cache.credential_hash_iterations`"),
        "{e}"
    );
    let c = parse(&format!(
        "[cache]\ncredential_hash_memory_kib = 19456\ncredential_hash_iterations = 2\n{MINIMAL}"
    ))
    .unwrap();
    assert_eq!(
        (
            c.cache.credential_hash_memory_kib,
            c.cache.credential_hash_iterations
        ),
        (19456, 2)
    );
}

#[test]
fn busy_poll_is_a_window_in_microseconds_that_zero_turns_off() {
    let window = |text: &str| {
        parse(&format!("{text}{MINIMAL}"))
            .unwrap()
            .daemon
            .busy_poll_window
    };
    assert_eq!(window(""), Duration::from_micros(50), "the default");
    assert_eq!(window("[daemon]\n"), Duration::from_micros(50));
    assert_eq!(window("[daemon]\nbusy_poll_us = 0\n"), Duration::ZERO);
    assert_eq!(
        window("[daemon]\nbusy_poll_us = 1000\n"),
        Duration::from_millis(1)
    );
    let e = assert_at(
        "[daemon]\nbusy_poll_us = 1001\n",
        2,
        "key `daemon.busy_poll_us`",
    );
    assert!(
        e.contains("1001 is out of range: from 0 (never) to 1000 microseconds"),
        "{e}"
    );
    assert_at(
        "[daemon]\nbusy_poll_us = -1\n",
        2,
        "key `daemon.busy_poll_us`",
    );
}

#[test]
fn reload_comparison_sees_changes() {
    let a = parse(MINIMAL).unwrap();
    let b = parse(MINIMAL).unwrap();
    assert_eq!(a.domains[0], b.domains[0]);
    let c = parse(&format!("{MINIMAL}op_timeout = 9\n")).unwrap();
    assert_ne!(a.domains[0], c.domains[0]);
}

#[test]
fn load_reads_files_and_reports_missing() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("roster.toml");
    std::fs::write(&p, MINIMAL).unwrap();
    assert_eq!(check(&p).unwrap().domains.len(), 1);
    std::fs::write(&p, "[cache]\nbogus = 1\n").unwrap();
    let e = check(&p).unwrap_err().to_string();
    assert!(e.starts_with(&format!("{}:2:", p.display())), "{e}");
    let e = Config::load(dir.path().join("nope.toml"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("nope.toml") && e.contains("cannot read"), "{e}");
}

/// Two domains, `one` and `two`, with `idmap` tables `a` and `b`.
fn two_domains(a: &str, b: &str) -> String {
    format!(
        "[[domain]]\nname = \"one\"\nuris = [\"ldap://a\"]\nbase_dn = \"dc=one\"\n[domain.idmap]\n{a}\n\n\
         [[domain]]\nname = \"two\"\nuris = [\"ldap://b\"]\nbase_dn = \"dc=two\"\n[domain.idmap]\n{b}\n"
    )
}

/// The 1-based line of the `n`-th (0-based) line of `text` starting with `prefix`.
fn line_of(text: &str, prefix: &str, n: usize) -> usize {
    text.lines()
        .enumerate()
        .filter(|(_, l)| l.starts_with(prefix))
        .nth(n)
        .map(|(i, _)| i + 1)
        .unwrap()
}

#[test]
fn overlapping_idmap_ranges_are_refused_with_the_key() {
    let text = two_domains(
        "range_low = 10000\nrange_high = 20000",
        "range_low = 15000\nrange_high = 30000",
    );
    let e = err(&text);
    let line = line_of(&text, "range_low", 1);
    assert!(
        e.starts_with(&format!(
            "/etc/roster/roster.toml:{line}: domain \"two\" key `idmap.range_low`"
        )),
        "{e}"
    );
    assert!(
        e.contains("overlaps the range 10000-20000 of domain \"one\"") && e.contains("15000-20000"),
        "{e}"
    );
    let ok = text.replace("range_low = 15000", "range_low = 20001");
    let c = parse(&ok).unwrap();
    assert!(c.warnings.is_empty(), "{:?}", c.warnings);
    let set = c.build_idmap(None).unwrap();
    assert!(set.check_posix_id("one", 12000).is_ok());
    assert!(set.check_posix_id("two", 12000).is_err());
}

#[test]
fn every_backend_range_takes_part_in_the_overlap_check() {
    // rid inside an sss slice pool (default 200000-2000199999).
    let text = two_domains(
        "backend = \"sss\"",
        "backend = \"rid\"\nrange_low = 300000\nrange_high = 399999",
    );
    let e = err(&text);
    assert!(
        e.starts_with(&format!(
            "/etc/roster/roster.toml:{}: domain \"two\" key `idmap.range_low`",
            line_of(&text, "range_low", 0)
        )) && e.contains("domain \"one\"")
            && e.contains("idmap.range_min"),
        "{e}"
    );
    // An autorid pool over an rfc2307 range: named by autorid_low.
    let text = two_domains(
        "range_low = 10000\nrange_high = 99999",
        "backend = \"autorid\"\nautorid_low = 50000\nautorid_high = 1049999",
    );
    let e = err(&text);
    assert!(
        e.starts_with(&format!(
            "/etc/roster/roster.toml:{}: domain \"two\" key `idmap.autorid_low`",
            line_of(&text, "autorid_low", 0)
        )),
        "{e}"
    );
    // Two sss domains with the same parameters share one slice pool, two
    // autorid domains one pool: not an overlap.
    assert!(parse(&two_domains("backend = \"sss\"", "backend = \"sss\"")).is_ok());
    let pool = "backend = \"autorid\"\nautorid_low = 1000000\nautorid_high = 2999999";
    assert!(parse(&two_domains(pool, pool)).is_ok());
    // Different sss parameters over the same IDs are two pools.
    let e = err(&two_domains(
        "backend = \"sss\"",
        "backend = \"sss\"\nrange_size = 100000",
    ));
    assert!(
        e.contains("key `idmap.range_min`") && e.contains("overlaps"),
        "{e}"
    );
}

#[test]
fn several_domains_need_rfc2307_ranges() {
    let text = two_domains(
        "backend = \"rfc2307\"",
        "range_low = 20000\nrange_high = 30000",
    );
    let e = err(&text);
    assert!(
        e.starts_with(&format!(
            "/etc/roster/roster.toml:{}: domain \"one\" key `idmap.range_low`",
            line_of(&text, "[domain.idmap]", 0)
        )) && e.contains("more than one domain"),
        "{e}"
    );
    let e = err(&two_domains(
        "range_low = 10000",
        "range_low = 20000\nrange_high = 30000",
    ));
    assert!(e.contains("domain \"one\" key `idmap.range_high`"), "{e}");
    // One enabled domain needs no range; a disabled second one does not
    // count.
    assert!(parse(MINIMAL).is_ok());
    let text = two_domains(
        "backend = \"rfc2307\"",
        "range_low = 20000\nrange_high = 30000",
    )
    .replace("name = \"two\"", "name = \"two\"\nenabled = false");
    assert!(parse(&text).is_ok());
}

#[test]
fn ranges_reaching_below_min_id_are_refused_with_the_key() {
    let text =
        format!("{MINIMAL}min_id = 5000\n[domain.idmap]\nrange_low = 4000\nrange_high = 9000\n");
    let e = err(&text);
    assert!(
        e.starts_with(&format!(
            "/etc/roster/roster.toml:{}: domain \"example\" key `idmap.range_low`",
            line_of(&text, "range_low", 0)
        )) && e.contains("below min_id 5000"),
        "{e}"
    );
    // [nss] min_id counts too: the NSS module never asks about lower IDs.
    let text = format!(
        "[nss]\nmin_id = 20000\n{MINIMAL}[domain.idmap]\nbackend = \"rid\"\nrange_low = 10000\nrange_high = 90000\n"
    );
    let e = err(&text);
    assert!(
        e.contains("key `idmap.range_low`") && e.contains("below [nss] min_id 20000"),
        "{e}"
    );
}

#[test]
fn ranges_holding_reserved_ids_load_with_a_warning() {
    // Samba's own example range: accepted (as winbind does), with a
    // warning naming the key and the reserved IDs.
    let text = format!(
        "{MINIMAL}[domain.idmap]\nbackend = \"rid\"\nrange_low = 10000\nrange_high = 999999\n"
    );
    let c = parse(&text).unwrap();
    assert_eq!(c.warnings.len(), 1, "{:?}", c.warnings);
    let w = &c.warnings[0];
    assert!(
        w.starts_with(&format!(
            "/etc/roster/roster.toml:{}: domain \"example\" key `idmap.range_low`",
            line_of(&text, "range_low", 0)
        )) && w.contains("65534, 65535")
            && !w.contains("4294967295"),
        "{w}"
    );
    let c = parse(&format!(
        "{MINIMAL}[domain.idmap]\nrange_low = 4294900000\nrange_high = 4294967295\n"
    ))
    .unwrap();
    assert!(c.warnings[0].contains("4294967295"), "{:?}", c.warnings);
    assert!(parse(MINIMAL).unwrap().warnings.is_empty());
}

#[test]
fn unknown_idmap_key_names_line() {
    let e = err(&format!(
        "{MINIMAL}[domain.idmap]\nbackend = \"rfc2307\"\nrangee = 5\n"
    ));
    assert!(e.starts_with("/etc/roster/roster.toml:8:"), "{e}");
    assert!(
        e.contains("domain.idmap.rangee") || e.contains("rangee"),
        "{e}"
    );
}

#[test]
fn tls_files_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let junk = dir.path().join("junk.pem");
    std::fs::write(&junk, "not a certificate").unwrap();
    let e = err(&format!("{MINIMAL}ca_file = \"{}\"\n", junk.display()));
    assert!(
        e.starts_with("/etc/roster/roster.toml:6: domain \"example\" key `ca_file`"),
        "{e}"
    );
    assert!(e.contains("PEM"), "{e}");
    // A client key readable by others is refused before it is even parsed.
    let key = dir.path().join("client.key");
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\n").unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let text = format!(
        "{MINIMAL}client_cert = \"{}\"\nclient_key = \"{}\"\n",
        junk.display(),
        key.display()
    );
    let e = err(&text);
    assert!(
        e.starts_with("/etc/roster/roster.toml:7: domain \"example\" key `client_key`"),
        "{e}"
    );
    assert!(e.contains("group or others"), "{e}");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = err(&text);
    assert!(
        e.contains("key `client_key`") && e.contains("PKCS#8"),
        "{e}"
    );
}

#[test]
fn password_bind_over_plain_ldap_needs_allow_insecure_bind() {
    let dir = tempfile::tempdir().unwrap();
    let pw = password_file(dir.path(), 0o600);
    let bind = format!(
        "bind_dn = \"cn=svc,dc=example,dc=test\"\nbind_password_file = \"{}\"\n",
        pw.display()
    );
    // Plain ldap:// without StartTLS: refused, naming file, line and key.
    let e = err(&format!("{MINIMAL}{bind}"));
    assert!(
        e.starts_with("/etc/roster/roster.toml:6: domain \"example\" key `bind_dn`"),
        "{e}"
    );
    assert!(
        e.contains("ldap://127.0.0.1:389") && e.contains("allow_insecure_bind"),
        "{e}"
    );
    // One plain URI among TLS ones is enough to refuse.
    let mixed = format!(
        "[[domain]]\nname = \"example\"\nuris = [\"ldaps://a\", \"ldap://b\"]\nbase_dn = \"dc=example,dc=test\"\n{bind}"
    );
    assert!(err(&mixed).contains("\"ldap://b\""));
    // Accepted: StartTLS, ldaps only, the explicit opt-in, or no password.
    for ok in [
        format!("{MINIMAL}{bind}start_tls = true\n"),
        format!("[[domain]]\nname = \"example\"\nuris = [\"ldaps://a\"]\nbase_dn = \"dc=example,dc=test\"\n{bind}"),
        format!("{MINIMAL}{bind}allow_insecure_bind = true\n"),
        MINIMAL.to_string(),
    ] {
        let c = parse(&ok).unwrap_or_else(|e| panic!("{ok}: {e}"));
        assert_eq!(c.domains.len(), 1);
    }
}

#[test]
fn ca_system_defaults_to_off() {
    let c = parse(MINIMAL).unwrap();
    assert!(!c.domains[0].ca_system);
    assert!(!c.domains[0].allow_insecure_bind);
    let c = parse(&format!("{MINIMAL}ca_system = true\n")).unwrap();
    assert!(c.domains[0].ca_system);
}

#[test]
fn search_base_lists_referrals_and_local_primary_gids() {
    let d = parse(MINIMAL).unwrap().domains.remove(0);
    assert!(d.follows_referrals());
    assert_eq!(d.referral_hops, 5);
    assert!(d.referral_hosts.is_empty());
    assert_eq!(d.local_primary_gids, vec![100]);
    assert_eq!(
        d.user_bases(),
        vec![SearchBase {
            base: "dc=example,dc=test".into(),
            scope: SearchScope::Sub,
            filter: None,
        }]
    );
    let text = format!(
        "{MINIMAL}scope = \"one\"\nreferrals = false\nreferral_hosts = [\"*.example.test\", \"ldap2\"]\n\
         local_primary_gids = [100, 500]\nuser_search_base = [\n  \
         {{ base = \"ou=staff,dc=example,dc=test\" }},\n  \
         {{ base = \"ou=students,dc=example,dc=test\", scope = \"sub\", filter = \"(description=enrolled)\" }},\n  \
         {{ base = \"uid=svc,dc=example,dc=test\", scope = \"base\" }},\n]\n\
         group_search_base = \"ou=groups,dc=example,dc=test\"\n"
    );
    let d = parse(&text).unwrap().domains.remove(0);
    assert!(!d.follows_referrals());
    assert_eq!(d.local_primary_gids, vec![100, 500]);
    let bases = d.user_bases();
    assert_eq!(bases.len(), 3);
    assert_eq!(
        (bases[0].base.as_str(), bases[0].scope, &bases[0].filter),
        ("ou=staff,dc=example,dc=test", SearchScope::One, &None)
    );
    assert_eq!(bases[1].scope, SearchScope::Sub);
    assert_eq!(bases[1].filter.as_deref(), Some("(description=enrolled)"));
    assert_eq!(bases[2].scope, SearchScope::Base);
    assert_eq!(d.user_base(), "ou=staff,dc=example,dc=test");
    assert_eq!(
        d.group_bases(),
        vec![SearchBase {
            base: "ou=groups,dc=example,dc=test".into(),
            scope: SearchScope::One,
            filter: None,
        }]
    );
}

#[test]
fn ad_domains_do_not_follow_referrals_unless_asked() {
    let ad = MINIMAL.replace("[[domain]]", "[[domain]]\nkind = \"ad\"");
    let d = parse(&ad).unwrap().domains.remove(0);
    assert_eq!((d.referrals, d.follows_referrals()), (Some(false), false));
    let d = parse(&format!("{ad}referrals = true\n"))
        .unwrap()
        .domains
        .remove(0);
    assert!(d.follows_referrals());
    let two = format!(
        "{ad}user_search_base = [{{ base = \"ou=a,dc=example,dc=test\" }}, {{ base = \"ou=b,dc=example,dc=test\" }}]\n"
    );
    let e = err(&two);
    assert!(
        e.contains("key `user_search_base`") && e.contains("one search base"),
        "{e}"
    );
}

#[test]
fn the_packaged_example_loads() {
    let text = include_str!("../../../packaging/roster.toml.example");
    let c = Config::from_str(text, "roster.toml.example").unwrap();
    assert_eq!(c.domains[0].name, "example");
    assert!(c.domains[0].start_tls);
}

#[test]
fn daemon_table_alone() {
    let d = DaemonSettings::of_text(&format!(
        "[daemon]\nsocket_dir = \"/run/r\"\n{MINIMAL}colour = 1\n"
    ))
    .unwrap();
    assert_eq!(d.socket_dir, PathBuf::from("/run/r"));
    assert_eq!(d.state_dir, PathBuf::from("/var/lib/roster"));
    assert_eq!(
        DaemonSettings::of_text("").unwrap(),
        DaemonSettings::default()
    );
    let e = DaemonSettings::of_text("[daemon]\nstate_dir = \"rel\"\n")
        .unwrap_err()
        .to_string();
    assert!(e.contains(":2: key `daemon.state_dir`"), "{e}");
}

#[test]
fn password_admin_keys_go_together_and_the_file_is_checked() {
    let dir = tempfile::tempdir().unwrap();
    let tls = "start_tls = true\n";
    // Neither: no password admin.
    let c = parse(&format!("{MINIMAL}{tls}")).unwrap();
    assert!(c.domains[0].password_admin_dn.is_none());
    assert!(c.domains[0].password_admin_password.is_none());
    // One without the other, an empty DN: refused at the key.
    for (extra, key, says) in [
        (
            "password_admin_dn = \"cn=pwadmin,dc=example,dc=test\"\n",
            "password_admin_dn",
            "needs password_admin_password_file",
        ),
        (
            "password_admin_password_file = \"/nonexistent\"\n",
            "password_admin_password_file",
            "without password_admin_dn",
        ),
    ] {
        let e = err(&format!("{MINIMAL}{tls}{extra}"));
        assert!(
            e.contains(&format!("key `{key}`")) && e.contains(says),
            "{e}"
        );
    }
    let pw = password_file(dir.path(), 0o600);
    let both = format!(
        "password_admin_dn = \"cn=pwadmin,dc=example,dc=test\"\npassword_admin_password_file = \"{}\"\n",
        pw.display()
    );
    let c = parse(&format!("{MINIMAL}{tls}{both}")).unwrap();
    let d = &c.domains[0];
    assert_eq!(
        d.password_admin_dn.as_deref(),
        Some("cn=pwadmin,dc=example,dc=test")
    );
    assert_eq!(
        d.password_admin_password.as_ref().unwrap().expose(),
        b"secret-pw"
    );
    assert!(!format!("{d:?}").contains("secret-pw"), "never shown");
    // Its password never crosses plain ldap:// unless allowed.
    let e = err(&format!("{MINIMAL}{both}"));
    assert!(
        e.contains("key `password_admin_dn`") && e.contains("clear text"),
        "{e}"
    );
    parse(&format!("{MINIMAL}{both}allow_insecure_bind = true\n")).unwrap();
    // The file is checked like the bind password file.
    std::fs::set_permissions(&pw, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = err(&format!("{MINIMAL}{tls}{both}"));
    assert!(
        e.contains("key `password_admin_password_file`") && e.contains("group or others"),
        "{e}"
    );
}

const AD_DOMAIN: &str = r#"
[[domain]]
name = "ad"
kind = "ad"
uris = ["ldap://dc1.ad.example.test"]
base_dn = "DC=ad,DC=example,DC=test"
"#;

#[test]
fn kerberos_keys_defaults_and_gssapi_when_the_keytab_exists() {
    // No keytab at the default path on a test host: simple binds.
    let c = parse(AD_DOMAIN).unwrap();
    let d = &c.domains[0];
    assert_eq!(d.keytab_path(), PathBuf::from("/etc/krb5.keytab"));
    assert_eq!(d.krb5.realm, "AD.EXAMPLE.TEST");
    if !std::path::Path::new("/etc/krb5.keytab").exists() {
        assert_eq!(d.krb5.auth, BindMethod::Simple);
        assert!(!d.krb5.login);
        assert!(d.start_tls, "a simple-bind AD domain gets StartTLS");
    }
    assert_eq!(d.krb5.ccache_template, "FILE:/tmp/krb5cc_%U");
    assert!(!d.krb5.keep_ccache);

    // A keytab that exists, no bind_dn: GSSAPI, Kerberos logins, and
    // no StartTLS (the SASL layer seals plain ldap://).
    let dir = tempfile::tempdir().unwrap();
    let kt = dir.path().join("krb5.keytab");
    std::fs::write(&kt, [5u8, 2]).unwrap();
    let c = parse(&format!("{AD_DOMAIN}keytab = \"{}\"\n", kt.display())).unwrap();
    let d = &c.domains[0];
    assert_eq!(d.krb5.auth, BindMethod::Gssapi);
    assert!(d.krb5.login);
    assert!(!d.start_tls);
    assert_eq!(d.krb5.principal, None);

    // Every key set.
    let c = parse(&format!(
        "{AD_DOMAIN}keytab = \"{}\"\nauth = \"gssapi\"\nkrb5_realm = \"CORP.TEST\"\n\
         krb5_principal = \"WEB1$\"\nkrb5_auth = false\n\
         krb5_ccache_template = \"FILE:/run/user/%U/krb5cc\"\nkrb5_keep_ccache = true\n",
        kt.display()
    ))
    .unwrap();
    let k = &c.domains[0].krb5;
    assert_eq!(
        (
            k.realm.as_str(),
            k.principal.as_deref(),
            k.login,
            k.keep_ccache
        ),
        ("CORP.TEST", Some("WEB1$"), false, true)
    );
    assert_eq!(k.ccache_template, "FILE:/run/user/%U/krb5cc");
}

#[test]
fn kerberos_keys_refused_with_their_key() {
    let e = parse(&format!(
        "{AD_DOMAIN}auth = \"gssapi\"\nbind_dn = \"svc@ad.example.test\"\n\
         bind_password_file = \"/nonexistent\"\nallow_insecure_bind = true\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("key `auth`") && e.contains("remove bind_dn"),
        "{e}"
    );
    let e = parse(&format!(
        "{AD_DOMAIN}krb5_ccache_template = \"KEYRING:persistent:%U\"\n"
    ))
    .unwrap_err()
    .to_string();
    assert!(
        e.contains("krb5_ccache_template") && e.contains("only FILE:"),
        "{e}"
    );
    let e = parse(&format!("{AD_DOMAIN}auth = \"kerberos\"\n"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("auth"), "{e}");
}
