//! The LDAP steps with ldap3: bind with the service account, check that the
//! bases exist, and read the entries the filters select (paged).

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{LdapConn, LdapConnSettings, LdapError, Scope, SearchEntry};
use native_tls::{Certificate, Identity, TlsConnector};
use roster_daemon::config::{DomainConfig, SearchScope};
use zeroize::Zeroizing;

/// The name of an LDAP result code (RFC 4511 Appendix A).
pub fn rc_name(rc: u32) -> &'static str {
    match rc {
        0 => "success",
        1 => "operationsError",
        2 => "protocolError",
        3 => "timeLimitExceeded",
        4 => "sizeLimitExceeded",
        7 => "authMethodNotSupported",
        8 => "strongerAuthRequired",
        10 => "referral",
        11 => "adminLimitExceeded",
        13 => "confidentialityRequired",
        14 => "saslBindInProgress",
        16 => "noSuchAttribute",
        32 => "noSuchObject",
        34 => "invalidDNSyntax",
        48 => "inappropriateAuthentication",
        49 => "invalidCredentials",
        50 => "insufficientAccessRights",
        51 => "busy",
        52 => "unavailable",
        53 => "unwillingToPerform",
        80 => "other",
        _ => "unknown result code",
    }
}

/// Describes an ldap3 error without anything secret in it.
pub fn describe(e: &LdapError) -> String {
    match e {
        LdapError::LdapResult { result } => {
            let text = if result.text.is_empty() {
                String::new()
            } else {
                format!(": {}", result.text)
            };
            format!("{} ({}){text}", rc_name(result.rc), result.rc)
        }
        other => other.to_string(),
    }
}

/// The native-tls connector rosterd would use: `ca_file` added to the
/// system roots, the client identity, and the verification switch.
fn connector(cfg: &DomainConfig) -> Result<TlsConnector, String> {
    let mut b = TlsConnector::builder();
    if let Some(ca) = &cfg.ca_file {
        let pem = std::fs::read(ca).map_err(|e| format!("ca_file {}: {e}", ca.display()))?;
        for c in Certificate::stack_from_pem(&pem)
            .map_err(|e| format!("ca_file {}: {e}", ca.display()))?
        {
            b.add_root_certificate(c);
        }
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert, &cfg.client_key) {
        let c = std::fs::read(cert).map_err(|e| format!("client_cert {}: {e}", cert.display()))?;
        let k = Zeroizing::new(
            std::fs::read(key).map_err(|e| format!("client_key {}: {e}", key.display()))?,
        );
        b.identity(
            Identity::from_pkcs8(&c, &k).map_err(|e| format!("client_cert/client_key: {e}"))?,
        );
    }
    if !cfg.tls_verify {
        b.danger_accept_invalid_certs(true);
        b.danger_accept_invalid_hostnames(true);
    }
    b.build().map_err(|e| format!("TLS setup failed: {e}"))
}

/// Connects to `uri` the way rosterd does (StartTLS / ldaps as configured).
pub fn connect(cfg: &DomainConfig, uri: &str) -> Result<LdapConn, String> {
    let mut s = LdapConnSettings::new().set_conn_timeout(cfg.connect_timeout);
    if cfg.uses_tls(uri) {
        s = s
            .set_starttls(cfg.start_tls && !uri.to_ascii_lowercase().starts_with("ldaps://"))
            .set_connector(connector(cfg)?)
            .set_no_tls_verify(!cfg.tls_verify);
    }
    LdapConn::with_settings(s, uri)
        .map_err(|e| format!("cannot connect to {uri}: {}", describe(&e)))
}

/// Binds with the service account (anonymous without `bind_dn`). The
/// password is never part of any message.
pub fn bind(conn: &mut LdapConn, cfg: &DomainConfig) -> Result<String, String> {
    let Some(dn) = &cfg.bind_dn else {
        return Ok("anonymous (no bind_dn configured)".into());
    };
    let Some(pw) = &cfg.bind_password else {
        return Err(format!("bind_dn {dn} is set but no bind_password_file is"));
    };
    let pw = std::str::from_utf8(pw.expose())
        .map_err(|_| "the bind password is not UTF-8".to_string())?;
    if pw.is_empty() {
        return Err("the bind password is empty (that would be an anonymous bind)".into());
    }
    let res = conn
        .with_timeout(cfg.op_timeout)
        .simple_bind(dn, pw)
        .and_then(|r| r.success());
    match res {
        Ok(_) => Ok(format!("bound as {dn}")),
        Err(e) => Err(format!(
            "the server refused the bind as {dn}: {}",
            describe(&e)
        )),
    }
}

/// Checks that `dn` exists (a base-scope search).
pub fn base_exists(conn: &mut LdapConn, cfg: &DomainConfig, dn: &str) -> Result<(), String> {
    let res =
        conn.with_timeout(cfg.op_timeout)
            .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"]);
    match res {
        Ok(r) => match r.success() {
            Ok((entries, _)) if !entries.is_empty() => Ok(()),
            Ok(_) => Err(format!("{dn} is not visible to this account")),
            Err(LdapError::LdapResult { result }) if result.rc == 32 => {
                let matched = if result.matched.is_empty() {
                    String::new()
                } else {
                    format!(" (the closest existing entry is {})", result.matched)
                };
                Err(format!(
                    "{dn} does not exist on the server: noSuchObject (32){matched}"
                ))
            }
            Err(e) => Err(format!("searching {dn} failed: {}", describe(&e))),
        },
        Err(e) => Err(format!("searching {dn} failed: {}", describe(&e))),
    }
}

/// Reads every entry under `base` matching `filter` (paged) with the
/// attributes `attrs`. `progress` is called with the running count.
pub fn fetch(
    conn: &mut LdapConn,
    cfg: &DomainConfig,
    base: &str,
    filter: &str,
    attrs: Vec<String>,
    mut progress: impl FnMut(usize),
) -> Result<Vec<SearchEntry>, String> {
    let scope = match cfg.scope {
        SearchScope::Sub => Scope::Subtree,
        SearchScope::One => Scope::OneLevel,
    };
    let page = i32::try_from(cfg.page_size.max(1)).unwrap_or(500);
    let adapters: Vec<Box<dyn Adapter<_, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(page)),
    ];
    let failed = |e: &LdapError| format!("search of {filter} under {base} failed: {}", describe(e));
    let mut stream = conn
        .with_timeout(cfg.op_timeout)
        .streaming_search_with(adapters, base, scope, filter, attrs)
        .map_err(|e| failed(&e))?;
    let mut out = Vec::new();
    loop {
        match stream.next() {
            Ok(Some(e)) => {
                out.push(SearchEntry::construct(e));
                progress(out.len());
            }
            Ok(None) => break,
            Err(e) => return Err(failed(&e)),
        }
    }
    let res = stream.result();
    if res.rc != 0 {
        return Err(format!(
            "search of {filter} under {base} ended with {} ({}){}",
            rc_name(res.rc),
            res.rc,
            if res.text.is_empty() {
                String::new()
            } else {
                format!(": {}", res.text)
            }
        ));
    }
    Ok(out)
}
