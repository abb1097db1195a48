//! The LDAP steps: bind with the service account, check that the bases
//! exist, and read the entries the filters select (paged). The connection
//! is the daemon's own session to one server ([`Directory::session_to`]:
//! same TLS settings, CA, client certificate and timeouts as rosterd), and
//! every operation runs through the directory layer's bounded calls.

use ldap3::{LdapError, Scope, SearchEntry, SearchResult};
use roster_daemon::directory::{Directory, UserSession};
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
/// single-threaded runtime; every operation goes through the daemon's
/// directory layer (bounded by `op_timeout`, guarded against panics of the
/// LDAP library).
pub struct Session<'a> {
    rt: Runtime,
    session: UserSession,
    dir: &'a Directory,
}

impl<'a> Session<'a> {
    /// Connects to `uri` the way rosterd does (StartTLS / ldaps as
    /// configured), without binding.
    pub fn open(dir: &'a Directory, uri: &str) -> Result<Session<'a>, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| format!("cannot start the async runtime: {e}"))?;
        let session = rt
            .block_on(dir.session_to(uri))
            .map_err(|e| format!("cannot connect to {uri}: {e}"))?;
        Ok(Session { rt, session, dir })
    }

    /// Binds with the service account (anonymous without `bind_dn`). The
    /// password is never part of any message.
    pub fn bind(&mut self) -> Result<String, String> {
        let cfg = self.dir.config();
        let Some(dn) = &cfg.bind_dn else {
            return Ok("anonymous (no bind_dn configured)".into());
        };
        let Some(pw) = &cfg.bind_password else {
            return Err(format!("bind_dn {dn} is set but no bind_password_file is"));
        };
        if std::str::from_utf8(pw.expose()).is_err() {
            return Err("the bind password is not UTF-8".into());
        }
        if pw.is_empty() {
            return Err("the bind password is empty (that would be an anonymous bind)".into());
        }
        match self.rt.block_on(self.dir.service_bind(&self.session)) {
            Ok(Ok(())) => Ok(format!("bound as {dn}")),
            Ok(Err(result)) => Err(format!(
                "the server refused the bind as {dn}: {}",
                describe(&LdapError::LdapResult { result })
            )),
            Err(e) => Err(format!("the bind as {dn} failed: {e}")),
        }
    }

    /// Checks that `dn` exists (a base-scope search).
    pub fn base_exists(&mut self, dn: &str) -> Result<(), String> {
        let base = dn.to_string();
        let res = self.rt.block_on(self.dir.on_session(
            &self.session,
            "base search",
            move |mut ldap| async move {
                ldap.search(&base, Scope::Base, "(objectClass=*)", vec!["1.1"])
                    .await
            },
        ));
        let failed = |e: &LdapError| format!("searching {dn} failed: {}", describe(e));
        match res {
            Ok(Ok(SearchResult(entries, result))) if result.rc == 0 => {
                if entries.is_empty() {
                    Err(format!("{dn} is not visible to this account"))
                } else {
                    Ok(())
                }
            }
            Ok(Ok(SearchResult(_, result)) | Err(result)) if result.rc == 32 => {
                let matched = if result.matched.is_empty() {
                    String::new()
                } else {
                    format!(" (the closest existing entry is {})", result.matched)
                };
                Err(format!(
                    "{dn} does not exist on the server: noSuchObject (32){matched}"
                ))
            }
            Ok(Ok(SearchResult(_, result)) | Err(result)) => {
                Err(failed(&LdapError::LdapResult { result }))
            }
            Err(e) => Err(format!("searching {dn} failed: {e}")),
        }
    }

    /// The entries a search finds (one page, for small reads: the rootDSE,
    /// one object), through the directory layer's bounded session calls.
    pub fn read(
        &mut self,
        base: &str,
        scope: Scope,
        filter: &str,
        attrs: &[&str],
    ) -> Result<Vec<SearchEntry>, String> {
        let (b, f) = (base.to_string(), filter.to_string());
        let attrs: Vec<String> = attrs.iter().map(|a| a.to_string()).collect();
        let res = self.rt.block_on(self.dir.on_session(
            &self.session,
            "search",
            move |mut ldap| async move { ldap.search(&b, scope, &f, attrs).await },
        ));
        match res {
            Ok(Ok(SearchResult(entries, result))) if result.rc == 0 => {
                Ok(entries.into_iter().map(SearchEntry::construct).collect())
            }
            Ok(Ok(SearchResult(_, result)) | Err(result)) => Err(format!(
                "searching {base} for {filter} failed: {}",
                describe(&LdapError::LdapResult { result })
            )),
            Err(e) => Err(format!("searching {base} for {filter} failed: {e}")),
        }
    }

    /// Reads every user (`users`) or group entry of the domain's search
    /// bases through the daemon's directory layer (paged, every base in
    /// order, referrals followed as rosterd follows them).
    pub fn scan(&mut self, users: bool) -> Result<Vec<SearchEntry>, String> {
        self.rt
            .block_on(self.dir.scan(users))
            .map_err(|e| e.to_string())
    }
}
