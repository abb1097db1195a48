//! The host's Kerberos credentials, for `auth = "gssapi"`: a TGT for the
//! host principal from the keytab, kept in a memory credential cache of
//! rosterd's own (`MEMORY:`, never a file), acquired again once three
//! quarters of its lifetime have passed; and the SASL GSSAPI bind made
//! with it.
//!
//! A background task per domain ([`renew_in_background`], started with the
//! domain's connections) acquires the first TGT at start and each next one
//! when the held one is due, so that a lookup or a login does not wait on
//! the KDC for it; a failure (no KDC answers) is retried with backoff
//! ([`RETRY_INITIAL`] doubling up to [`RETRY_MAX`]), the last retry before
//! the held ticket ends. A bind still acquires a TGT itself when none is
//! held or the held one is due, and keeps using a held one that has not
//! ended when that fails.

use super::{gss_cred, Context, KrbError, KrbFailure};
use crate::config::DomainConfig;
use crate::directory::DirectoryError;
use roster_proto::admin::KerberosStatus;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

/// The background renewal's wait after its first failure; doubled at each
/// further one, up to [`RETRY_MAX`].
pub(crate) const RETRY_INITIAL: Duration = Duration::from_secs(5);

/// The longest wait between two attempts of the background renewal.
pub(crate) const RETRY_MAX: Duration = Duration::from_secs(300);

/// The longest single sleep of the renewal task: it reads the wall clock
/// (which ticket times are in) again at least this often, so that a
/// suspended machine or a clock set forward does not delay a renewal.
const MAX_SLEEP: Duration = Duration::from_secs(60);

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

/// When a ticket issued at `start` and ending at `end` should be replaced
/// (Unix seconds): once three quarters of its lifetime have passed.
pub(crate) fn renew_at(start: i64, end: i64) -> i64 {
    let life = (end - start).max(0);
    (start + life * 3 / 4).min(end)
}

/// True when a ticket issued at `start` and ending at `end` should be
/// replaced at `now`: three quarters of its lifetime have passed (or it
/// has ended).
pub(crate) fn due(start: i64, end: i64, now: i64) -> bool {
    now >= renew_at(start, end)
}

/// When the background renewal tries again after its `failures`-th
/// consecutive failure (1 or more) at `now` (Unix seconds): after the
/// backoff ([`RETRY_INITIAL`] doubling up to [`RETRY_MAX`]), but never
/// past the end of the ticket held (`end`), while one is: its last retry
/// comes a second before it ends.
pub(crate) fn retry_at(now: i64, failures: u32, end: Option<i64>) -> i64 {
    let wait = crate::directory::conn::backoff(RETRY_INITIAL, RETRY_MAX, failures);
    let at = now.saturating_add(i64::try_from(wait.as_secs()).unwrap_or(i64::MAX));
    match end {
        Some(end) if end > now => at.min(end - 1).max(now + 1),
        _ => at,
    }
}

/// When the background renewal acquires a TGT next (Unix seconds): at the
/// retry set by a failure, else when the held ticket (`start`, `end`) is
/// due, else (none held) at once.
pub(crate) fn next_renewal(held: Option<(i64, i64)>, retry: Option<i64>, now: i64) -> i64 {
    match (retry, held) {
        (Some(at), _) => at,
        (None, Some((start, end))) => renew_at(start, end),
        (None, None) => now,
    }
}

/// What the renewal of the TGT has done (for `rosterctl status`).
#[derive(Debug, Default)]
struct Renewal {
    /// TGTs acquired since start.
    acquired: u64,
    /// When the last one was (Unix seconds).
    last: Option<i64>,
    /// Consecutive failures of the background renewal.
    failures: u32,
    /// Its last failure and when (kept after a later success).
    last_error: Option<(String, i64)>,
    /// After a failure: when it tries again (Unix seconds).
    retry: Option<i64>,
    /// True once the background task runs.
    background: bool,
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
    /// Held while a TGT is acquired: one acquisition at a time (the
    /// background renewal's and a bind's), the next one finds the TGT
    /// the first one got.
    acquiring: Mutex<()>,
    renewal: Mutex<Renewal>,
}

/// A lock of plain data, kept after a panic of its holder.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Now, in Unix seconds.
fn now() -> i64 {
    i64::try_from(crate::clock::unix_secs()).unwrap_or(i64::MAX)
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
            acquiring: Mutex::new(()),
            renewal: Mutex::default(),
        }
    }

    /// The TGT held now.
    fn held(&self) -> Option<Tgt> {
        lock(&self.current).clone()
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
        let ctx = Context::new()?;
        let client = ctx.principal(&self.principal)?;
        let tgt = self.tgt_for_bind(&ctx, &client)?;
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

    /// Blocking: the TGT a bind uses: the one held while it is not due,
    /// else a new one from the keytab; when that fails, the one held while
    /// it has not ended (the background renewal keeps trying).
    fn tgt_for_bind(&self, ctx: &Context, client: &super::Principal<'_>) -> Result<Tgt, KrbError> {
        let fresh = |t: &Tgt| !due(t.start, t.end, now());
        if let Some(t) = self.held().filter(fresh) {
            return Ok(t);
        }
        let _turn = lock(&self.acquiring);
        // Another acquisition (the background renewal's) may have ended
        // while this waited for its turn.
        let held = self.held();
        if let Some(t) = held.clone().filter(fresh) {
            return Ok(t);
        }
        match self.acquire(ctx, client) {
            Ok(t) => Ok(t),
            Err(e) => match held.filter(|t| now() < t.end) {
                Some(t) => {
                    tracing::debug!(domain = %self.domain, principal = %self.principal, error = %e, ends = t.end, "no new host TGT; the bind uses the one held");
                    Ok(t)
                }
                None => Err(e),
            },
        }
    }

    /// Blocking: the background renewal's acquisition: a new TGT from the
    /// keytab, unless the one held is not due (another acquisition got it
    /// meanwhile).
    pub(crate) fn renew(&self) -> Result<(), KrbError> {
        let _turn = lock(&self.acquiring);
        if self.held().is_some_and(|t| !due(t.start, t.end, now())) {
            return Ok(());
        }
        let ctx = Context::new()?;
        let client = ctx.principal(&self.principal)?;
        self.acquire(&ctx, &client).map(|_| ())
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
        {
            let mut r = lock(&self.renewal);
            if r.failures > 0 {
                tracing::info!(domain = %self.domain, principal = %self.principal, failures = r.failures, "host TGT renewed again after failures");
            }
            r.acquired += 1;
            r.last = Some(now());
            r.failures = 0;
            r.retry = None;
        }
        let replaced = lock(&self.current).replace(tgt.clone());
        let stale = std::mem::replace(&mut *lock(&self.previous), replaced.map(|t| t.ccache));
        if let Some(old) = stale {
            if let Ok(cc) = ctx.ccache(&old) {
                cc.destroy();
            }
        }
        Ok(tgt)
    }

    /// When the background renewal acquires a TGT next (Unix seconds).
    pub(crate) fn next_renewal(&self, now: i64) -> i64 {
        let held = self.held().map(|t| (t.start, t.end));
        next_renewal(held, lock(&self.renewal).retry, now)
    }

    /// Records a failure of the background renewal at `now` and sets its
    /// next attempt; the first of an outage is logged as a warning, the
    /// next ones at debug level.
    pub(crate) fn renewal_failed(&self, error: &str, now: i64) {
        let end = self.held().map(|t| t.end);
        let mut r = lock(&self.renewal);
        r.failures = r.failures.saturating_add(1);
        let at = retry_at(now, r.failures, end);
        r.retry = Some(at);
        r.last_error = Some((error.to_string(), now));
        let retry_in = at - now;
        if r.failures == 1 {
            tracing::warn!(domain = %self.domain, principal = %self.principal, error, retry_in, ends = ?end, "host TGT renewal failed; retrying in the background");
        } else {
            tracing::debug!(domain = %self.domain, principal = %self.principal, error, failures = r.failures, retry_in, "host TGT renewal failed again");
        }
    }

    /// The TGT's state for `rosterctl status`.
    pub(crate) fn status(&self) -> KerberosStatus {
        let held = self.held();
        let secs = |t: i64| u64::try_from(t).ok();
        let next = self.next_renewal(now());
        let r = lock(&self.renewal);
        KerberosStatus {
            principal: self.principal.clone(),
            tgt_end: held.as_ref().and_then(|t| secs(t.end)),
            last_renewal: r.last.and_then(secs),
            renewals: r.acquired,
            last_renewal_error: r.last_error.as_ref().map(|(e, _)| e.clone()),
            last_renewal_error_at: r.last_error.as_ref().and_then(|(_, t)| secs(*t)),
            next_renewal: if r.background { secs(next) } else { None },
        }
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

impl Drop for HostCreds {
    /// Destroys the memory caches (no bind uses them any more: each holds
    /// the credentials while it binds).
    fn drop(&mut self) {
        let names: Vec<String> = [
            self.current
                .get_mut()
                .ok()
                .and_then(|c| c.take())
                .map(|t| t.ccache),
            self.previous.get_mut().ok().and_then(Option::take),
        ]
        .into_iter()
        .flatten()
        .collect();
        if names.is_empty() {
            return;
        }
        if let Ok(ctx) = Context::new() {
            for name in names {
                if let Ok(cc) = ctx.ccache(&name) {
                    cc.destroy();
                }
            }
        }
    }
}

/// The background renewal of `host`'s TGT: acquires it from the keytab at
/// start and whenever the held one is due, on a blocking thread bounded by
/// `op_timeout`, and retries a failure with backoff. Ends when `stop` is
/// sent or dropped (by the domain's connection pool, when a reload drops
/// it).
pub(crate) async fn renew_in_background(
    host: Arc<HostCreds>,
    op_timeout: Duration,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    lock(&host.renewal).background = true;
    loop {
        let now_ms = i64::try_from(crate::clock::unix_ms()).unwrap_or(i64::MAX);
        let next_ms = host.next_renewal(now_ms / 1000).saturating_mul(1000);
        let wait = Duration::from_millis(u64::try_from(next_ms - now_ms).unwrap_or(0));
        if !wait.is_zero() {
            tokio::select! {
                _ = &mut stop => return,
                () = tokio::time::sleep(wait.min(MAX_SLEEP)) => {}
            }
            continue;
        }
        let h = host.clone();
        let mut job = tokio::task::spawn_blocking(move || h.renew());
        let outcome = tokio::select! {
            _ = &mut stop => return,
            r = tokio::time::timeout(op_timeout, &mut job) => r,
        };
        match outcome {
            Ok(Ok(Ok(()))) => {
                let held = host.held();
                if let Some(t) = held.filter(|t| due(t.start, t.end, now())) {
                    // A ticket due at once would be renewed without pause.
                    host.renewal_failed(
                        &format!(
                            "the KDC issued a TGT already due for renewal (from {} to {})",
                            t.start, t.end
                        ),
                        now(),
                    );
                }
            }
            Ok(Ok(Err(e))) => host.renewal_failed(&e.to_string(), now()),
            Ok(Err(e)) => host.renewal_failed(&format!("Kerberos task failed: {e}"), now()),
            Err(_) => {
                host.renewal_failed(
                    &format!("no TGT from the KDC within op_timeout {op_timeout:?}"),
                    now(),
                );
                // The attempt goes on in its thread: no second one starts
                // before it ends (a late success counts).
                tokio::select! {
                    _ = &mut stop => return,
                    _ = job => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{due, next_renewal, retry_at};

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

    #[test]
    fn the_background_renewal_wakes_when_the_ticket_is_due_or_at_once_without_one() {
        let now = 5000;
        // No ticket yet: at once.
        assert_eq!(next_renewal(None, None, now), now);
        // A ten-hour ticket from t=1000: at three quarters of its life.
        let held = Some((1000, 1000 + 36_000));
        assert_eq!(next_renewal(held, None, now), 1000 + 27_000);
        // A one-minute ticket: after 45 s.
        assert_eq!(next_renewal(Some((now, now + 60)), None, now), now + 45);
        // A retry after a failure comes first, even before the ticket is due.
        assert_eq!(next_renewal(held, Some(now + 5), now), now + 5);
        assert_eq!(next_renewal(None, Some(now + 80), now), now + 80);
        // A ticket without lifetime is due at its end.
        assert_eq!(next_renewal(Some((now, now)), None, now), now);
        assert_eq!(next_renewal(Some((now, now - 10)), None, now), now - 10);
    }

    #[test]
    fn a_failed_renewal_backs_off_from_5s_to_5min_but_retries_before_the_ticket_ends() {
        let now = 100_000;
        // No ticket held (or it has ended): 5 s doubling up to 5 min.
        let waits: Vec<i64> = (1..=9).map(|n| retry_at(now, n, None) - now).collect();
        assert_eq!(waits, [5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(retry_at(now, u32::MAX, None) - now, 300);
        let ended = Some(now - 1);
        assert_eq!(retry_at(now, 7, ended) - now, 300);
        // A ticket ending in an hour does not shorten the backoff.
        assert_eq!(retry_at(now, 7, Some(now + 3600)) - now, 300);
        // One ending in 30 s: the retry after 40 s is moved to a second
        // before its end; then one more right at its end, then the backoff.
        let end = Some(now + 30);
        assert_eq!(retry_at(now, 4, end), now + 29);
        assert_eq!(retry_at(now + 29, 5, end), now + 30);
        assert_eq!(retry_at(now + 30, 6, end), now + 30 + 160);
        // The short waits stay as they are.
        assert_eq!(retry_at(now, 1, end), now + 5);
    }
}
