//! The host's Kerberos credentials, for `auth = "gssapi"`: a TGT for the
//! host principal from the keytab, kept in a memory credential cache of
//! rosterd's own (`MEMORY:`, never a file), acquired again once three
//! quarters of its lifetime have passed; and the SASL GSSAPI bind made
//! with it.

use super::{gss_cred, Context, KrbError, KrbFailure};
use crate::config::DomainConfig;
use crate::directory::DirectoryError;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Numbers the memory caches of the process (one per acquisition).
static CACHE_SERIAL: AtomicU64 = AtomicU64::new(0);

/// A TGT in a memory cache.
#[derive(Clone, Debug)]
struct Tgt {
    /// `MEMORY:roster-<domain>-<n>`.
    ccache: String,
    /// Issued and ends (Unix seconds).
    start: i64,
    end: i64,
}

/// True when a ticket issued at `start` and ending at `end` should be
/// replaced at `now`: three quarters of its lifetime have passed (or it
/// has ended).
pub(crate) fn due(start: i64, end: i64, now: i64) -> bool {
    let life = (end - start).max(0);
    now >= start + life * 3 / 4 || now >= end
}

/// The host credentials of one domain.
pub(crate) struct HostCreds {
    domain: String,
    keytab: PathBuf,
    principal: String,
    realm: String,
    current: Mutex<Option<Tgt>>,
    /// The cache replaced last, destroyed at the next replacement (a bind
    /// may still be using it).
    previous: Mutex<Option<String>>,
}

/// The short host name, upper case, with `$`: the computer account name
/// `adcli join` writes into the keytab.
fn computer_account() -> String {
    // The UTS namespace's name, as gethostname(2) gives it.
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let host = host.trim();
    let short = host.split('.').next().unwrap_or("").to_ascii_uppercase();
    format!("{short}$")
}

impl HostCreds {
    /// The host credentials of `cfg` (its keytab, principal and realm);
    /// nothing is read until the first bind.
    pub(crate) fn new(cfg: &DomainConfig) -> HostCreds {
        let realm = cfg.krb5.realm.clone();
        let principal = match &cfg.krb5.principal {
            Some(p) if p.contains('@') => p.clone(),
            Some(p) => format!("{p}@{realm}"),
            None => format!("{}@{realm}", computer_account()),
        };
        HostCreds {
            domain: cfg.name.clone(),
            keytab: cfg.keytab_path(),
            principal,
            realm,
            current: Mutex::new(None),
            previous: Mutex::new(None),
        }
    }

    /// The host principal.
    pub(crate) fn principal(&self) -> &str {
        &self.principal
    }

    /// The service principal of the LDAP server `host` in this realm.
    pub(crate) fn ldap_service(&self, host: &str) -> String {
        format!("ldap/{host}@{}", self.realm)
    }

    /// Blocking: a cache holding a valid TGT of the host (acquired from
    /// the keytab when there is none or it is due) and a service ticket
    /// for `service`. Returns the cache name.
    pub(crate) fn prepare(&self, service: &str) -> Result<String, KrbError> {
        let now = crate::clock::unix_secs() as i64;
        let held = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let ctx = Context::new()?;
        let client = ctx.principal(&self.principal)?;
        let tgt = match held {
            Some(t) if !due(t.start, t.end, now) => t,
            _ => self.acquire(&ctx, &client)?,
        };
        let cc = ctx.ccache(&tgt.ccache)?;
        let server = ctx.principal(service)?;
        ctx.service_ticket(
            &cc,
            &client,
            &server,
            &format!("service ticket for {service} as {}", self.principal),
        )?;
        Ok(tgt.ccache)
    }

    /// A new TGT from the keytab into a new memory cache, which becomes
    /// the current one.
    fn acquire(&self, ctx: &Context, client: &super::Principal<'_>) -> Result<Tgt, KrbError> {
        let kt = ctx.keytab(&self.keytab)?;
        let mut creds = ctx.init_creds_keytab(
            client,
            &kt,
            &format!(
                "TGT of {} from keytab {}",
                self.principal,
                self.keytab.display()
            ),
        )?;
        let n = CACHE_SERIAL.fetch_add(1, Ordering::Relaxed);
        let name = format!("MEMORY:roster-{}-{n}", self.domain);
        let cc = ctx.ccache(&name)?;
        cc.store(client, &mut creds)?;
        let (start, end) = creds.times();
        let tgt = Tgt {
            ccache: name,
            start,
            end,
        };
        tracing::info!(domain = %self.domain, principal = %self.principal, ends = end, "host TGT acquired from the keytab");
        let replaced = self
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(tgt.clone());
        let stale = std::mem::replace(
            &mut *self.previous.lock().unwrap_or_else(|p| p.into_inner()),
            replaced.map(|t| t.ccache),
        );
        if let Some(old) = stale {
            if let Ok(cc) = ctx.ccache(&old) {
                cc.destroy();
            }
        }
        Ok(tgt)
    }

    /// The directory error of a failure to get the host's tickets.
    pub(crate) fn error(&self, e: KrbError) -> DirectoryError {
        match e.failure() {
            KrbFailure::Unreachable => DirectoryError::unavailable(format!(
                "domain \"{}\": no KDC of realm {} answers: {e}",
                self.domain, self.realm
            )),
            KrbFailure::UnknownService => DirectoryError::invalid(format!(
                "domain \"{}\": the KDC has no such LDAP service principal (the URI must name the DC by a host name it has an ldap/ principal for): {e}",
                self.domain
            )),
            KrbFailure::WrongKey | KrbFailure::NotVerified => {
                DirectoryError::invalid(format!(
                    "domain \"{}\": the KDC refuses the key of {} in {} (the computer account's password changed? join again): {e}",
                    self.domain,
                    self.principal,
                    self.keytab.display()
                ))
            }
            _ => DirectoryError::invalid(format!(
                "domain \"{}\": Kerberos for the GSSAPI bind as {}: {e}",
                self.domain, self.principal
            )),
        }
    }

    /// A GSSAPI initiator credential for the cache `ccache`.
    pub(crate) fn credential(&self, ccache: &str) -> Result<cross_krb5::Cred, DirectoryError> {
        gss_cred(ccache).map_err(|e| self.error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::due;

    #[test]
    fn a_ticket_is_replaced_after_three_quarters_of_its_life() {
        // A ten-hour ticket from t=1000.
        let (start, end) = (1000, 1000 + 36_000);
        assert!(!due(start, end, 1000));
        assert!(!due(start, end, 1000 + 26_999));
        assert!(due(start, end, 1000 + 27_000));
        assert!(due(start, end, end + 5));
        // A ticket without lifetime is always due.
        assert!(due(start, start, start));
    }
}
