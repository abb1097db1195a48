//! The LDAP steps with ldap3: bind with the service account, check that the
//! bases exist, and read the entries the filters select (paged). The
//! connection is opened by the daemon's own [`Directory::connect_unbound`]
//! (same TLS settings, CA, client certificate and timeouts as rosterd).

use ldap3::{Ldap, LdapError, Scope, SearchEntry};
use roster_daemon::config::DomainConfig;
use roster_daemon::directory::Directory;
use tokio::runtime::Runtime;

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

/// One connection to one server of a domain, driven by a private
/// single-threaded runtime.
pub struct Session<'a> {
    rt: Runtime,
    ldap: Ldap,
    cfg: &'a DomainConfig,
}

impl<'a> Session<'a> {
    /// Connects to `uri` the way rosterd does (StartTLS / ldaps as
    /// configured), without binding.
    pub fn open(dir: &'a Directory, uri: &str) -> Result<Session<'a>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let ldap = rt
            .block_on(dir.connect_unbound(uri))
            .map_err(|e| format!("cannot connect to {uri}: {e}"))?;
        Ok(Session {
            rt,
            ldap,
            cfg: dir.config(),
        })
    }

    /// Binds with the service account (anonymous without `bind_dn`). The
    /// password is never part of any message.
    pub fn bind(&mut self) -> Result<String, String> {
        let cfg = self.cfg;
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
        let ldap = &mut self.ldap;
        let res = self
            .rt
            .block_on(async { ldap.with_timeout(cfg.op_timeout).simple_bind(dn, pw).await })
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
    pub fn base_exists(&mut self, dn: &str) -> Result<(), String> {
        let timeout = self.cfg.op_timeout;
        let ldap = &mut self.ldap;
        let res = self.rt.block_on(async {
            ldap.with_timeout(timeout)
                .search(dn, Scope::Base, "(objectClass=*)", vec!["1.1"])
                .await
        });
        let failed = |e: &LdapError| format!("searching {dn} failed: {}", describe(e));
        match res.map(|r| r.success()) {
            Ok(Ok((entries, _))) if !entries.is_empty() => Ok(()),
            Ok(Ok(_)) => Err(format!("{dn} is not visible to this account")),
            Ok(Err(LdapError::LdapResult { result })) if result.rc == 32 => {
                let matched = if result.matched.is_empty() {
                    String::new()
                } else {
                    format!(" (the closest existing entry is {})", result.matched)
                };
                Err(format!(
                    "{dn} does not exist on the server: noSuchObject (32){matched}"
                ))
            }
            Ok(Err(e)) | Err(e) => Err(failed(&e)),
        }
    }

    /// Reads every user (`users`) or group entry of the domain's search
    /// bases through the daemon's directory layer (paged, every base in
    /// order, referrals followed as rosterd follows them).
    pub fn scan(&mut self, dir: &Directory, users: bool) -> Result<Vec<SearchEntry>, String> {
        self.rt.block_on(dir.scan(users)).map_err(|e| e.to_string())
    }
}
