//! Connections to a domain's servers: failover in URI order, a remembered
//! dead server (backoff), failback to the first URI, one reused bound
//! connection, and every step bounded in time.
//!
//! The servers are the domain's `uris`, or, for an AD domain without them,
//! the DCs found in DNS ([`super::discovery`]): that list is resolved
//! before the first connection, again once its TTL has expired (at the
//! next connection or failback check) and after every server failed (by
//! the background probe); a server keeps its state (backoff) across
//! resolutions while it stays in the list.
//!
//! When no server is usable any more (each refused, timed out or is marked
//! down) the domain is *offline*: from then on no lookup or login connects
//! or waits; each is answered `Unavailable` at once (the resolver and PAM
//! then answer from the cache and cached credentials) while a background
//! probe ([`probe`]) retries the servers with backoff
//! (`offline_retry_initial`, doubling up to `offline_retry_max`) and brings
//! the domain back online when one of them binds. One timeout per outage.

mod connectors;
mod probe;

use super::discovery::{self, SrvResolver, SystemResolver};
use super::krb5::host::HostCreds;
use super::records::{DirectoryError, DirectoryStatus, ServerStatus};
use super::tls::{self, Connector};
use crate::clock::secs_since_epoch as unix;
use crate::config::DomainConfig;
use ldap3::{Ldap, LdapConnAsync, LdapError};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant, SystemTime};

/// How long a refused service bind (wrong password) is answered from memory
/// instead of binding again: repeated failing binds could lock the account.
const BIND_REFUSED_FOR: Duration = Duration::from_secs(30);

/// Backoff after `failures` consecutive failures (1 or more): `initial`,
/// doubled at each further failure, at most `max`.
pub(crate) fn backoff(initial: Duration, max: Duration, failures: u32) -> Duration {
    let exp = failures.saturating_sub(1).min(20);
    initial.saturating_mul(1u32 << exp).min(max)
}

#[derive(Debug, Default, Clone)]
struct Server {
    uri: String,
    down_until: Option<Instant>,
    failures: u32,
    last_error: Option<String>,
}

/// An outage of the whole domain: no server usable.
#[derive(Debug)]
struct Outage {
    /// When it began.
    since: SystemTime,
    /// Probes that failed during it.
    failed_probes: u32,
    /// When the background probe tries the servers next.
    next_probe: Instant,
}

#[derive(Debug, Default)]
struct Health {
    /// The servers in failover order (configured, or discovered).
    servers: Vec<Server>,
    /// Discovered servers: when the list must be resolved again (`None`
    /// for configured `uris`).
    dns_due: Option<Instant>,
    current: Option<usize>,
    last_error: Option<String>,
    last_error_at: Option<SystemTime>,
    /// Set while the domain is offline: no lookup or login connects then.
    outage: Option<Outage>,
    /// True while a probe task exists (it ends once no outage is left).
    probing: bool,
    /// A configuration error (bind refused, bad URI) and until when it is
    /// answered without trying again.
    config_error: Option<(DirectoryError, Instant)>,
    /// Connections opened for lookups and logins, the one made once the
    /// sockets answer included (the probe's not counted).
    connects: u64,
    /// Attempts of the background probe to reach a server.
    probes: u64,
}

/// The connection in use.
struct Live {
    ldap: Ldap,
    /// Index of its server in `Health::servers`.
    index: usize,
    /// Its server's URI.
    uri: String,
    /// When this connection was made, or failback last tried.
    since: Instant,
}

/// A bound connection lent to one operation.
pub(crate) struct Lease {
    /// The handle (a clone sharing the connection).
    pub ldap: Ldap,
    /// The server's URI.
    pub uri: String,
    /// True when the connection was made for this operation.
    pub fresh: bool,
}

/// Connection management of one domain.
pub(crate) struct Pool {
    /// This pool, for the probe task it starts (which ends when the pool
    /// is dropped).
    me: Weak<Pool>,
    cfg: DomainConfig,
    /// The TLS connectors, their settings checked when the pool is made
    /// and built off the runtime thread, and the library each server is
    /// reached through.
    connectors: connectors::Connectors,
    /// Where the servers of a domain without `uris` come from.
    discovery: Option<Arc<dyn SrvResolver>>,
    health: Mutex<Health>,
    /// The connection in use; never locked across an await.
    live: Mutex<Option<Live>>,
    /// Held while a new connection is made (one attempt at a time).
    connecting: tokio::sync::Mutex<()>,
    /// The host's Kerberos credentials (`auth = "gssapi"`).
    host: Option<Arc<HostCreds>>,
    /// Stops the background renewal of the host's TGT when sent, or
    /// dropped with the pool ([`Pool::start_renewal`]).
    renewal: Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

/// Is this ldap3 error about the connection (server gone, TLS, timeout)
/// rather than an answer of the server?
pub(crate) fn is_connection_error(e: &LdapError) -> bool {
    !matches!(
        e,
        LdapError::LdapResult { .. }
            | LdapError::FilterParsing
            | LdapError::AdapterInit(_)
            | LdapError::DecodingUTF8
            | LdapError::AddNoValues
    )
}

/// Why [`Pool::open`] made no connection.
enum Opening {
    /// ldap3's error (the TCP connection, StartTLS or the TLS handshake).
    Refused(LdapError),
    /// A timeout or a bad URI.
    Failed(DirectoryError),
}

impl Pool {
    /// A pool for `cfg`; reads and checks the CA and client certificate
    /// files, and begins building the TLS connector in the background
    /// (`connectors::Connectors::new`).
    pub(crate) fn new(cfg: DomainConfig) -> Result<Arc<Pool>, DirectoryError> {
        Pool::with_resolver(cfg, Arc::new(SystemResolver))
    }

    /// [`Pool::new`] with the DNS resolver a domain without `uris` finds
    /// its DCs with.
    pub(crate) fn with_resolver(
        cfg: DomainConfig,
        resolver: Arc<dyn SrvResolver>,
    ) -> Result<Arc<Pool>, DirectoryError> {
        let connectors = connectors::Connectors::new(&cfg)?;
        let servers = cfg
            .uris
            .iter()
            .map(|u| Server {
                uri: u.clone(),
                ..Server::default()
            })
            .collect();
        let discovery = cfg.discovers_servers().then_some(resolver);
        let host = cfg.krb5.gssapi().then(|| Arc::new(HostCreds::new(&cfg)));
        let pool = Arc::new_cyclic(|me| Pool {
            host,
            me: me.clone(),
            cfg,
            connectors,
            health: Mutex::new(Health {
                servers,
                dns_due: discovery.as_ref().map(|_| Instant::now()),
                ..Health::default()
            }),
            discovery,
            live: Mutex::new(None),
            connecting: tokio::sync::Mutex::new(()),
            renewal: Mutex::new(None),
        });
        Ok(pool)
    }

    /// Starts the background renewal of the host's TGT of a GSSAPI
    /// domain ([`krb5::host::renew_in_background`]), which ends when the
    /// pool is dropped (a reload that changed or removed the domain).
    /// Nothing without GSSAPI, outside a Tokio runtime, or when it runs
    /// already.
    ///
    /// [`krb5::host::renew_in_background`]: super::krb5::host::renew_in_background
    pub(crate) fn start_renewal(&self) {
        let Some(host) = &self.host else {
            return;
        };
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let mut slot = self.renewal.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_some() {
            return;
        }
        let (stop, stopped) = tokio::sync::oneshot::channel();
        *slot = Some(stop);
        runtime.spawn(super::krb5::host::renew_in_background(
            host.clone(),
            self.cfg.op_timeout,
            stopped,
        ));
    }

    /// Connects and binds in the background, as a lookup would
    /// ([`Pool::get`]): called once the sockets answer, so that the first
    /// lookup finds the connection made (its TCP, StartTLS and TLS
    /// handshakes and its bind, most of a first answer's time) instead of
    /// making it. A failure is what the same failure of a lookup is: the
    /// server marked down, the domain offline when none answers (then the
    /// probe takes over). Nothing outside a Tokio runtime or with a
    /// connection live already.
    pub(crate) fn connect_in_background(&self) {
        if self.live().is_some() {
            return;
        }
        let (Ok(runtime), Some(me)) = (tokio::runtime::Handle::try_current(), self.me.upgrade())
        else {
            return;
        };
        runtime.spawn(async move {
            match me.get().await {
                Ok(_) => tracing::debug!(domain = %me.cfg.name, "connected at start"),
                Err(e) => {
                    tracing::debug!(domain = %me.cfg.name, error = %e, "no connection at start")
                }
            }
        });
    }

    fn health(&self) -> std::sync::MutexGuard<'_, Health> {
        // A panic while holding this lock leaves plain data behind: keep going.
        self.health.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn live(&self) -> std::sync::MutexGuard<'_, Option<Live>> {
        // Never held across an await: plain data, kept on a panic.
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A bound connection: the live one, or a new one to the first server
    /// that is not marked down. When all are down, or the domain is
    /// offline, `Unavailable` at once.
    ///
    /// Only the making of a new connection is serialized (one attempt at a
    /// time, each bounded by `connect_timeout` and `op_timeout` per
    /// server); handing out or forgetting the live connection never waits
    /// on the network.
    pub(crate) async fn get(&self) -> Result<Lease, DirectoryError> {
        self.check_online()?;
        if let Some(lease) = self.reuse().await {
            return Ok(lease);
        }
        // (Boxed: connecting — a DNS query, TCP, StartTLS, the bind — is
        // rare, and its state held inline made every search's future,
        // and every lookup's, kilobytes larger (the test
        // `a_lookups_future_holds_its_search_not_the_rare_paths`).)
        crate::boxed_apart(|| self.connect_live()).await
    }

    /// [`Pool::get`] without a live connection to reuse: connects one (or
    /// takes the one another operation connected meanwhile).
    async fn connect_live(&self) -> Result<Lease, DirectoryError> {
        let _turn = self.connecting.lock().await;
        // The domain may have gone offline, or another operation may have
        // connected, while this waited for its turn.
        self.check_online()?;
        if let Some(lease) = self.current_lease() {
            return Ok(lease);
        }
        let remembered = {
            let h = self.health();
            h.config_error
                .as_ref()
                .filter(|(_, until)| *until > Instant::now())
                .map(|(e, _)| e.clone())
        };
        if let Some(e) = remembered {
            return Err(e);
        }
        if let Err(e) = self.refresh_servers().await {
            self.mark_offline(&e.to_string());
            return Err(e);
        }
        let (ldap, index, uri) = self.connect_bound(None).await?;
        *self.live() = Some(Live {
            ldap: ldap.clone(),
            index,
            uri: uri.clone(),
            since: Instant::now(),
        });
        Ok(Lease {
            ldap,
            uri,
            fresh: true,
        })
    }

    /// Resolves the discovered servers again when their TTL has expired
    /// (or every server failed); nothing for configured `uris`. A failed
    /// resolution keeps the servers found before (retried after
    /// `offline_retry_initial`); with none known it is `Unavailable`.
    async fn refresh_servers(&self) -> Result<(), DirectoryError> {
        let Some(resolver) = &self.discovery else {
            return Ok(());
        };
        let due = self.health().dns_due.is_none_or(|t| t <= Instant::now());
        if !due {
            return Ok(());
        }
        let name = &self.cfg.name;
        let Some(domain) = self.cfg.dns_domain() else {
            return Err(DirectoryError::invalid(format!(
                "domain \"{name}\": no uris and no DNS domain to find the DCs in"
            )));
        };
        let bound = self.cfg.connect_timeout + self.cfg.op_timeout;
        let found = tokio::time::timeout(
            bound,
            discovery::domain_controllers(
                resolver.as_ref(),
                &domain,
                self.cfg.ad_site.as_deref(),
                discovery::random_pick,
            ),
        )
        .await;
        let error = match found {
            Ok(Ok(found)) => {
                let uris: Vec<String> = found.servers.iter().map(|s| s.ldap_uri()).collect();
                tracing::info!(domain = %name, servers = ?uris, from = ?found.names, ttl = ?found.ttl, "domain controllers found in DNS");
                self.set_servers(uris, Instant::now() + found.ttl);
                return Ok(());
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {bound:?}"),
        };
        let msg = format!("domain \"{name}\": no domain controller found in DNS ({error})");
        let mut h = self.health();
        h.dns_due = Some(Instant::now() + self.cfg.offline_retry_initial);
        if h.servers.is_empty() {
            h.dns_due = Some(Instant::now());
            return Err(DirectoryError::unavailable(msg));
        }
        tracing::warn!(domain = %name, error = %msg, "keeping the domain controllers found before");
        Ok(())
    }

    /// Replaces the server list by `uris` (discovered), keeping the state
    /// of servers that stay; the live connection stays when its server
    /// does.
    fn set_servers(&self, uris: Vec<String>, due: Instant) {
        {
            let mut h = self.health();
            let old = std::mem::take(&mut h.servers);
            let current = h.current.and_then(|i| old.get(i)).map(|s| s.uri.clone());
            h.servers = uris
                .iter()
                .map(|u| {
                    old.iter()
                        .find(|s| s.uri == *u)
                        .cloned()
                        .unwrap_or_else(|| Server {
                            uri: u.clone(),
                            ..Server::default()
                        })
                })
                .collect();
            h.current = current.and_then(|c| uris.iter().position(|u| *u == c));
            h.dns_due = Some(due);
        }
        let mut live = self.live();
        if let Some(l) = live.as_mut() {
            match uris.iter().position(|u| *u == l.uri) {
                Some(i) => l.index = i,
                None => *live = None,
            }
        }
    }

    /// The index of the server `uri`, if it is in the list.
    fn index_of(h: &Health, uri: &str) -> Option<usize> {
        h.servers.iter().position(|s| s.uri == uri)
    }

    /// The servers' URIs, in failover order (for a domain without `uris`:
    /// resolved first when due).
    pub(crate) async fn servers(&self) -> Result<Vec<String>, DirectoryError> {
        self.refresh_servers().await?;
        Ok(self.uris())
    }

    /// The servers' URIs as known now.
    pub(crate) fn uris(&self) -> Vec<String> {
        self.health()
            .servers
            .iter()
            .map(|s| s.uri.clone())
            .collect()
    }

    /// The live connection, if open (a closed one is forgotten).
    fn current_lease(&self) -> Option<Lease> {
        let mut live = self.live();
        let l = live.as_mut()?;
        if l.ldap.is_closed() {
            tracing::debug!(domain = %self.cfg.name, uri = %l.uri, "connection closed, reconnecting");
            *live = None;
            return None;
        }
        Some(Lease {
            ldap: l.ldap.clone(),
            uri: l.uri.clone(),
            fresh: false,
        })
    }

    /// The live connection, after a failback attempt when it is due: a
    /// connection to a later server tries the preferred ones again every
    /// `failback_after` (skipped while another connection attempt runs;
    /// other operations keep using the live connection meanwhile).
    async fn reuse(&self) -> Option<Lease> {
        self.current_lease()?;
        if self.discovery.is_some() && self.health().dns_due.is_some_and(|t| t <= Instant::now()) {
            // The discovered list expired: resolve again (one operation
            // does it, the others keep the live connection meanwhile); a
            // connection to a DC no longer listed is dropped.
            if let Ok(_turn) = self.connecting.try_lock() {
                // (Boxed: a DNS query's state, rare, kept out of every
                // search's future.)
                let _ = crate::boxed_apart(|| self.refresh_servers()).await;
            }
        }
        let lease = self.current_lease()?;
        let due = {
            let mut live = self.live();
            match live.as_mut() {
                Some(l) if l.uri == lease.uri && l.index > 0 => {
                    let due = l.since.elapsed() >= self.cfg.failback_after;
                    if due {
                        l.since = Instant::now();
                    }
                    due
                }
                _ => false,
            }
        };
        if !due {
            return Some(lease);
        }
        let Ok(_turn) = self.connecting.try_lock() else {
            return Some(lease);
        };
        let Some(upto) = self.live().as_ref().map(|l| l.index) else {
            return Some(lease);
        };
        // (Boxed as `Pool::get`'s connecting.)
        match crate::boxed_apart(|| self.connect_bound(Some(upto))).await {
            Ok((ldap, index, uri)) => {
                tracing::info!(domain = %self.cfg.name, %uri, "failed back to a preferred server");
                *self.live() = Some(Live {
                    ldap: ldap.clone(),
                    index,
                    uri: uri.clone(),
                    since: Instant::now(),
                });
                Some(Lease {
                    ldap,
                    uri,
                    fresh: false,
                })
            }
            Err(_) => Some(lease),
        }
    }

    /// Tries the servers in order, skipping those marked down: every
    /// server (`None`), or those before index `upto` (a failback attempt).
    async fn connect_bound(
        &self,
        upto: Option<usize>,
    ) -> Result<(Ldap, usize, String), DirectoryError> {
        let mut skipped = Vec::new();
        let mut failed = Vec::new();
        let all = upto.is_none();
        let candidates: Vec<(String, Option<Instant>)> = {
            let h = self.health();
            let n = upto.unwrap_or(h.servers.len()).min(h.servers.len());
            h.servers[..n]
                .iter()
                .map(|s| (s.uri.clone(), s.down_until))
                .collect()
        };
        for (i, (uri, down_until)) in candidates.iter().enumerate() {
            let uri = uri.as_str();
            let down = down_until.filter(|t| *t > Instant::now());
            if let Some(t) = down {
                skipped.push(format!(
                    "{uri}: down, retried in {}s",
                    t.saturating_duration_since(Instant::now()).as_secs() + 1
                ));
                continue;
            }
            match self.connect_and_bind(uri).await {
                Ok(ldap) => {
                    self.mark_up(uri);
                    return Ok((ldap, i, uri.to_string()));
                }
                Err(DirectoryError::Unavailable { context: msg, .. }) => {
                    tracing::warn!(domain = %self.cfg.name, %uri, error = %msg, "server unreachable, trying the next");
                    self.mark_down(uri, &msg);
                    failed.push(format!("{uri}: {msg}"));
                }
                Err(e) => {
                    tracing::error!(domain = %self.cfg.name, %uri, error = %e, "cannot use the directory");
                    self.record_error(&e.to_string());
                    // Remembered only when no connection is in use (not
                    // during a failback attempt).
                    if all {
                        self.health().config_error =
                            Some((e.clone(), Instant::now() + BIND_REFUSED_FOR));
                    }
                    return Err(e);
                }
            }
        }
        let mut reasons = failed;
        reasons.extend(skipped);
        let msg = format!(
            "no server of domain \"{}\" answers ({})",
            self.cfg.name,
            reasons.join("; ")
        );
        // A failed failback attempt (a subset of the servers) leaves the
        // domain online on its current connection.
        if all {
            // Discovered servers are looked up again before the next try.
            if self.discovery.is_some() {
                self.health().dns_due = Some(Instant::now());
            }
            self.mark_offline(&msg);
        }
        Err(DirectoryError::unavailable(msg))
    }

    /// `Unavailable` at once while the domain is offline: no lookup or
    /// login waits on a directory that did not answer; the background
    /// probe alone tries the servers until one of them binds.
    pub(crate) fn check_online(&self) -> Result<(), DirectoryError> {
        let h = self.health();
        let Some(o) = &h.outage else {
            return Ok(());
        };
        let now = Instant::now();
        let retry = o.next_probe.saturating_duration_since(now).as_secs() + 1;
        let servers: Vec<String> = h
            .servers
            .iter()
            .map(|s| format!("{}: down, retried in {retry}s", s.uri))
            .collect();
        let since = SystemTime::now()
            .duration_since(o.since)
            .unwrap_or_default()
            .as_secs();
        Err(DirectoryError::unavailable(format!(
            "domain \"{}\" offline for {since}s: no server answers ({}), a background probe reconnects; last error: {}",
            self.cfg.name,
            servers.join("; "),
            h.last_error.as_deref().unwrap_or("none"),
        )))
    }

    /// A new connection to `uri` with the domain's TLS settings, not bound
    /// (for a lookup, a login, a listing or the connection made at start:
    /// counted in the status).
    pub(crate) async fn connect_unbound(&self, uri: &str) -> Result<Ldap, DirectoryError> {
        self.health().connects += 1;
        self.dial(uri).await
    }

    /// A new connection to `uri` with the domain's TLS settings, not bound:
    /// through the server's TLS library, and under `tls_library = "auto"`
    /// through OpenSSL when rustls refuses the handshake; both attempts
    /// within one `connect_timeout`.
    async fn dial(&self, uri: &str) -> Result<Ldap, DirectoryError> {
        let deadline = tokio::time::Instant::now() + self.cfg.connect_timeout;
        let connector = tokio::time::timeout_at(deadline, self.connectors.for_server(uri))
            .await
            .map_err(|_| self.connect_timed_out())??;
        let refused = match self.open(uri, connector.as_ref(), deadline).await {
            Ok(pair) => return Ok(self.drive(pair, uri)),
            Err(Opening::Failed(e)) => return Err(e),
            Err(Opening::Refused(e)) => e,
        };
        let instead = tokio::time::timeout_at(
            deadline,
            self.connectors.instead_of(connector.as_ref(), &refused),
        )
        .await
        .map_err(|_| self.connect_timed_out())?;
        let Some((refusal, openssl)) = instead else {
            return Err(self.open_error(uri, refused));
        };
        let context = format!(
            "connect to {uri} through OpenSSL (rustls refused the handshake: {})",
            refusal.why
        );
        let openssl =
            openssl.map_err(|e| DirectoryError::unavailable(format!("{context}: {e}")))?;
        match self.open(uri, Some(&openssl), deadline).await {
            Ok(pair) => {
                self.connectors.through_openssl(uri, &refusal);
                Ok(self.drive(pair, uri))
            }
            Err(Opening::Failed(DirectoryError::Unavailable { context: c, source })) => {
                Err(DirectoryError::Unavailable {
                    context: format!("{context}: {c}"),
                    source,
                })
            }
            Err(Opening::Failed(e)) => Err(e),
            Err(Opening::Refused(e)) => Err(DirectoryError::unavailable_from(context, e)),
        }
    }

    /// Opens a connection to `uri` through `connector` by `deadline`: the
    /// error of the TCP connection or the TLS handshake (from ldap3) left
    /// as it came, for [`Pool::dial`] to try another library; a timeout or
    /// a bad URI as a [`DirectoryError`].
    async fn open(
        &self,
        uri: &str,
        connector: Option<&Connector>,
        deadline: tokio::time::Instant,
    ) -> Result<(LdapConnAsync, Ldap), Opening> {
        let settings = tls::settings(&self.cfg, connector, uri);
        // ldap3 bounds TCP connect, StartTLS and the TLS handshake by the
        // settings' timeout; the deadline is a second guard, and bounds a
        // second attempt together with the first.
        let fut = async {
            let settings = match nodelay_stream(uri).await {
                Some(stream) => settings.set_std_stream(stream),
                None => settings,
            };
            LdapConnAsync::with_settings(settings, uri).await
        };
        match tokio::time::timeout_at(deadline, fut).await {
            Err(_) | Ok(Err(LdapError::Timeout { .. })) => {
                Err(Opening::Failed(self.connect_timed_out()))
            }
            Ok(Err(LdapError::UrlParsing { source })) => Err(Opening::Failed(
                DirectoryError::invalid(format!("bad URI {uri}: {source}")),
            )),
            Ok(Err(e)) => Err(Opening::Refused(e)),
            Ok(Ok(pair)) => Ok(pair),
        }
    }

    /// The error of a connection not made within `connect_timeout`.
    fn connect_timed_out(&self) -> DirectoryError {
        DirectoryError::unavailable(format!(
            "connect timeout after {:?}",
            self.cfg.connect_timeout
        ))
    }

    /// The error of a connection to `uri` that failed with `e`.
    fn open_error(&self, uri: &str, e: LdapError) -> DirectoryError {
        if is_connection_error(&e) {
            DirectoryError::unavailable_from(format!("connect to {uri}"), e)
        } else {
            DirectoryError::refused_from(format!("connect to {uri}"), e)
        }
    }

    /// Spawns the task that drives the connection `pair` to `uri`, and
    /// returns its handle.
    fn drive(&self, (conn, ldap): (LdapConnAsync, Ldap), uri: &str) -> Ldap {
        let domain = self.cfg.name.clone();
        let uri_owned = uri.to_string();
        tokio::spawn(async move {
            if let Err(e) = conn.drive().await {
                // A message the server sent that cannot be read is the
                // server's fault, worth a warning (`ldap3`'s `shape`); a
                // closed or reset connection is routine.
                let text = e.to_string();
                if ldap3::MalformedMessage::is_cause_of(&e) {
                    tracing::warn!(%domain, uri = %uri_owned, error = %text, "LDAP connection ended: the server sent a message that cannot be read");
                } else {
                    tracing::debug!(%domain, uri = %uri_owned, error = %text, "LDAP connection ended");
                }
            }
        });
        ldap
    }

    /// Connects to `uri` and binds as the service account (or stays
    /// anonymous).
    pub(crate) async fn connect_and_bind(&self, uri: &str) -> Result<Ldap, DirectoryError> {
        let ldap = self.connect_unbound(uri).await?;
        self.bind_service(ldap, uri).await
    }

    /// Binds `ldap`, connected to `uri`, as the service account (or leaves
    /// it anonymous).
    async fn bind_service(&self, mut ldap: Ldap, uri: &str) -> Result<Ldap, DirectoryError> {
        if let Some(host) = &self.host {
            return self.bind_gssapi(ldap, uri, host.clone()).await;
        }
        let (Some(dn), Some(pw)) = (&self.cfg.bind_dn, &self.cfg.bind_password) else {
            return Ok(ldap);
        };
        if pw.is_empty() {
            return Err(DirectoryError::invalid(format!(
                "domain \"{}\": empty bind password refused",
                self.cfg.name
            )));
        }
        let pw = std::str::from_utf8(pw.expose()).map_err(|_| {
            DirectoryError::invalid(format!(
                "domain \"{}\": bind password is not UTF-8",
                self.cfg.name
            ))
        })?;
        let op = self.cfg.op_timeout;
        let res = tokio::time::timeout(op, ldap.with_timeout(op).simple_bind(dn, pw)).await;
        match res {
            Err(_) | Ok(Err(LdapError::Timeout { .. })) => Err(DirectoryError::unavailable(
                format!("bind timeout after {op:?}"),
            )),
            Ok(Err(e)) if is_connection_error(&e) => {
                Err(DirectoryError::unavailable_from("bind failed", e))
            }
            Ok(Err(e)) => Err(DirectoryError::refused_from(format!("bind as {dn}"), e)),
            Ok(Ok(r)) if r.rc == 0 => Ok(ldap),
            Ok(Ok(r)) if r.rc == 49 => Err(DirectoryError::invalid(format!(
                "domain \"{}\": bind as {dn} refused by {uri}: invalid credentials",
                self.cfg.name
            ))),
            // strongerAuthRequired: e.g. AD refusing simple binds on plain
            // LDAP ("ldap server require strong auth").
            Ok(Ok(r)) if r.rc == 8 => Err(DirectoryError::invalid(format!(
                "domain \"{}\": bind as {dn} refused by {uri}: the server requires strong authentication (rc=8 {}): use ldaps:// or start_tls = true",
                self.cfg.name, r.text
            ))),
            Ok(Ok(r)) if matches!(r.rc, 51 | 52) => Err(DirectoryError::unavailable(format!(
                "bind as {dn}: server busy or unavailable (rc={})",
                r.rc
            ))),
            Ok(Ok(r)) => Err(DirectoryError::refused(
                r.rc,
                format!("bind as {dn} refused by {uri}: rc={} {}", r.rc, r.text),
            )),
        }
    }

    /// Binds `ldap`, connected to `uri`, with SASL GSSAPI as the host
    /// principal: the host's TGT and a ticket for `ldap/HOST@REALM` are
    /// made ready on a blocking thread (the KDC's answers bounded by
    /// `op_timeout`), then ldap3 runs the SASL exchange, which on a plain
    /// `ldap://` connection installs Kerberos sealing (confidentiality and
    /// integrity) of every later message.
    async fn bind_gssapi(
        &self,
        mut ldap: Ldap,
        uri: &str,
        host: Arc<HostCreds>,
    ) -> Result<Ldap, DirectoryError> {
        let Some((server, _)) = crate::uri::parse(uri).ok().and_then(|u| u.tcp_addr()) else {
            return Err(DirectoryError::invalid(format!(
                "domain \"{}\": no host name in {uri} for the GSSAPI bind",
                self.cfg.name
            )));
        };
        let service = host.ldap_service(&server);
        let op = self.cfg.op_timeout;
        let (h, svc) = (host.clone(), service.clone());
        let prepared =
            tokio::time::timeout(op, tokio::task::spawn_blocking(move || h.prepare(&svc))).await;
        let ccache = match prepared {
            Err(_) => {
                return Err(DirectoryError::unavailable(format!(
                    "Kerberos: no ticket for {service} within op_timeout {op:?}"
                )))
            }
            Ok(Err(e)) => {
                return Err(DirectoryError::unavailable(format!(
                    "Kerberos task failed: {e}"
                )))
            }
            Ok(Ok(Err(e))) => return Err(host.error(e)),
            Ok(Ok(Ok(cc))) => cc,
        };
        let cred = host.credential(&ccache)?;
        // ldap3 asks for "ldap/" + this: the service principal with its realm.
        let target = service.trim_start_matches("ldap/").to_string();
        let who = host.principal();
        let res = tokio::time::timeout(
            op,
            ldap.with_timeout(op).sasl_gssapi_cred_bind(cred, &target),
        )
        .await;
        match res {
            Err(_) | Ok(Err(LdapError::Timeout { .. })) => Err(DirectoryError::unavailable(
                format!("GSSAPI bind timeout after {op:?}"),
            )),
            Ok(Err(e @ (LdapError::GssapiOperationError(_) | LdapError::NoGssapiToken))) => {
                Err(DirectoryError::invalid(format!(
                    "domain \"{}\": GSSAPI bind as {who} to {uri} ({service}) failed: {e}",
                    self.cfg.name
                )))
            }
            Ok(Err(e)) if is_connection_error(&e) => {
                Err(DirectoryError::unavailable_from("GSSAPI bind failed", e))
            }
            Ok(Err(e)) => Err(DirectoryError::refused_from(
                format!("GSSAPI bind as {who}"),
                e,
            )),
            Ok(Ok(r)) if r.rc == 0 => {
                tracing::debug!(domain = %self.cfg.name, %uri, principal = %who, "bound with SASL GSSAPI");
                Ok(ldap)
            }
            Ok(Ok(r)) if matches!(r.rc, 51 | 52) => Err(DirectoryError::unavailable(format!(
                "GSSAPI bind as {who}: server busy or unavailable (rc={})",
                r.rc
            ))),
            Ok(Ok(r)) => Err(DirectoryError::invalid(format!(
                "domain \"{}\": GSSAPI bind as {who} refused by {uri}: rc={} {}",
                self.cfg.name, r.rc, r.text
            ))),
        }
    }

    /// The host's Kerberos credentials, when the domain binds with GSSAPI.
    pub(crate) fn host_creds(&self) -> Option<&Arc<HostCreds>> {
        self.host.as_ref()
    }

    /// Forgets the live connection of server `index` after it failed; with
    /// `mark_down` the server is also avoided for a backoff period. Never
    /// waits: the connection is dropped, not closed gracefully (no unbind
    /// or TLS close_notify exchange with a server that stopped answering).
    pub(crate) fn discard(&self, uri: &str, error: &str, mark_down: bool) {
        {
            let mut live = self.live();
            if live.as_ref().is_some_and(|l| l.uri == uri) {
                *live = None;
            }
        }
        if mark_down {
            self.mark_down(uri, error);
        } else {
            self.record_error(error);
        }
    }

    fn mark_up(&self, uri: &str) {
        let mut h = self.health();
        let Some(i) = Self::index_of(&h, uri) else {
            return;
        };
        let s = &mut h.servers[i];
        s.down_until = None;
        s.failures = 0;
        h.current = Some(i);
        h.outage = None;
        h.config_error = None;
    }

    /// Records a successful operation on server `uri`.
    pub(crate) fn note_success(&self, uri: &str) {
        let mut h = self.health();
        let Some(i) = Self::index_of(&h, uri) else {
            return;
        };
        if h.outage.is_some() || h.current != Some(i) {
            h.current = Some(i);
            h.outage = None;
        }
    }

    /// The backoff after `failures` consecutive failures, by the domain's
    /// `offline_retry_initial` and `offline_retry_max`.
    fn retry_delay(&self, failures: u32) -> Duration {
        backoff(
            self.cfg.offline_retry_initial,
            self.cfg.offline_retry_max,
            failures,
        )
    }

    /// Marks server `uri` down after `error` (backoff doubles per
    /// failure). When no server is usable any more, the domain goes
    /// offline.
    pub(crate) fn mark_down(&self, uri: &str, error: &str) {
        let mut h = self.health();
        let Some(i) = Self::index_of(&h, uri) else {
            h.last_error = Some(error.to_string());
            h.last_error_at = Some(SystemTime::now());
            return;
        };
        let now = Instant::now();
        let failures = h.servers[i].failures.saturating_add(1);
        let delay = self.retry_delay(failures);
        let s = &mut h.servers[i];
        s.failures = failures;
        s.down_until = Some(now + delay);
        s.last_error = Some(error.to_string());
        if h.current == Some(i) {
            h.current = None;
        }
        h.last_error = Some(error.to_string());
        h.last_error_at = Some(SystemTime::now());
        if h.servers
            .iter()
            .all(|s| s.down_until.is_some_and(|t| t > now))
        {
            if self.discovery.is_some() {
                h.dns_due = Some(now);
            }
            self.go_offline(&mut h);
        }
    }

    /// Starts an outage (when none is under way): lookups and logins are
    /// answered `Unavailable` at once from now on, and a probe task retries
    /// the servers in the background.
    fn go_offline(&self, h: &mut Health) {
        // The probe needs a runtime; every caller runs on one.
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let next = match &h.outage {
            Some(o) => o.next_probe,
            None => {
                let next = Instant::now() + self.retry_delay(1);
                h.outage = Some(Outage {
                    since: SystemTime::now(),
                    failed_probes: 0,
                    next_probe: next,
                });
                tracing::warn!(domain = %self.cfg.name, error = h.last_error.as_deref().unwrap_or(""), retry_in = ?self.retry_delay(1), "domain offline: lookups and logins are answered from the cache until a background probe reaches a server");
                next
            }
        };
        h.current = None;
        for s in &mut h.servers {
            s.down_until = Some(next);
        }
        if !h.probing {
            h.probing = true;
            runtime.spawn(probe::run(self.me.clone()));
        }
    }

    fn record_error(&self, error: &str) {
        let mut h = self.health();
        h.last_error = Some(error.to_string());
        h.last_error_at = Some(SystemTime::now());
    }

    fn mark_offline(&self, msg: &str) {
        let mut h = self.health();
        h.last_error = Some(msg.to_string());
        h.last_error_at = Some(SystemTime::now());
        self.go_offline(&mut h);
    }

    /// Clears every backoff and ends the outage, if any, so that the next
    /// operation tries all servers again (used by tests).
    pub(crate) fn retry_now(&self) {
        let mut h = self.health();
        for s in &mut h.servers {
            s.down_until = None;
        }
        h.config_error = None;
        h.outage = None;
    }

    /// URI of the server in use, if any.
    pub(crate) fn current_uri(&self) -> Option<String> {
        let h = self.health();
        h.current.map(|i| h.servers[i].uri.clone())
    }

    /// The URIs of servers not marked down, in order (none while the
    /// domain is offline).
    pub(crate) fn usable_uris(&self) -> Vec<String> {
        let h = self.health();
        if h.outage.is_some() {
            return Vec::new();
        }
        let now = Instant::now();
        h.servers
            .iter()
            .filter(|s| s.down_until.is_none_or(|t| t <= now))
            .map(|s| s.uri.clone())
            .collect()
    }

    /// Status for `rosterctl status`.
    pub(crate) fn status(&self) -> DirectoryStatus {
        let h = self.health();
        let now = Instant::now();
        DirectoryStatus {
            domain: self.cfg.name.clone(),
            online: h.outage.is_none(),
            server: h.current.map(|i| h.servers[i].uri.clone()),
            last_error: h.last_error.clone(),
            last_error_at: h.last_error_at.map(unix),
            offline_since: h.outage.as_ref().map(|o| unix(o.since)),
            next_probe_in_ms: h.outage.as_ref().map(|o| {
                let wait = o.next_probe.saturating_duration_since(now);
                u64::try_from(wait.as_millis()).unwrap_or(u64::MAX)
            }),
            connects: h.connects,
            probes: h.probes,
            servers: h
                .servers
                .iter()
                .map(|s| ServerStatus {
                    uri: s.uri.clone(),
                    down_for_secs: match s.down_until {
                        // Rounded up: a server still down shows at least 1.
                        Some(t) if t > now => t.duration_since(now).as_secs() + 1,
                        _ => 0,
                    },
                    failures: s.failures,
                    last_error: s.last_error.clone(),
                    tls_library: self.connectors.library_of(&s.uri).map(String::from),
                })
                .collect(),
            searches: 0,
            kerberos: self.host.as_ref().map(|h| h.status()),
        }
    }
}

/// A TCP connection to `uri`'s host and port with `TCP_NODELAY` set: without
/// it the first request after the TLS handshake (a bind) waits about 40 ms
/// for a delayed ACK (Nagle). `None` lets ldap3 connect, and report any
/// error, itself.
async fn nodelay_stream(uri: &str) -> Option<ldap3::StdStream> {
    let (host, port) = crate::uri::parse(uri).ok()?.tcp_addr()?;
    let tcp = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .ok()?;
    tcp.set_nodelay(true).ok()?;
    Some(ldap3::StdStream::Tcp(tcp.into_std().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::discovery::{DiscoveryError, SrvAnswer, SrvFuture, SrvTarget};
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Answers every SRV query with `hosts` (port 1, priority = position),
    /// or fails when `hosts` is empty; counts the queries.
    struct CountingResolver {
        hosts: Mutex<Vec<&'static str>>,
        asked: AtomicUsize,
    }

    impl SrvResolver for CountingResolver {
        fn srv<'a>(&'a self, name: &'a str) -> SrvFuture<'a> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            let hosts = self.hosts.lock().unwrap().clone();
            Box::pin(async move {
                if hosts.is_empty() {
                    return Err(DiscoveryError::Failed {
                        name: name.to_string(),
                        reason: "SERVFAIL".into(),
                    });
                }
                Ok(SrvAnswer {
                    targets: hosts
                        .iter()
                        .enumerate()
                        .map(|(i, h)| SrvTarget {
                            priority: i as u16,
                            weight: 0,
                            port: 1,
                            host: h.to_string(),
                        })
                        .collect(),
                    ttl: Duration::from_secs(3600),
                })
            })
        }
    }

    fn discovering_pool(hosts: Vec<&'static str>) -> (Arc<Pool>, Arc<CountingResolver>) {
        let cfg = crate::config::Config::from_str(
            "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nbase_dn = \"DC=ad,DC=example,DC=test\"\n",
            "roster.toml",
        )
        .unwrap()
        .domains
        .remove(0);
        let resolver = Arc::new(CountingResolver {
            hosts: Mutex::new(hosts),
            asked: AtomicUsize::new(0),
        });
        let pool = Pool::with_resolver(cfg, resolver.clone()).unwrap();
        (pool, resolver)
    }

    #[tokio::test]
    async fn discovered_servers_are_kept_for_their_ttl_and_resolved_again_after_failures() {
        let (pool, dns) = discovering_pool(vec!["dc1.ad.example.test", "dc2.ad.example.test"]);
        assert!(
            pool.uris().is_empty(),
            "nothing resolved before it is needed"
        );
        let uris = pool.servers().await.unwrap();
        assert_eq!(
            uris,
            [
                "ldap://dc1.ad.example.test:1",
                "ldap://dc2.ad.example.test:1"
            ]
        );
        let asked = dns.asked.load(Ordering::SeqCst);
        assert!(asked >= 1);
        // Within the TTL: no new query.
        pool.servers().await.unwrap();
        assert_eq!(dns.asked.load(Ordering::SeqCst), asked);
        // dc1 fails: still no query; the other DC is usable.
        pool.mark_down("ldap://dc1.ad.example.test:1", "refused");
        assert_eq!(pool.usable_uris(), ["ldap://dc2.ad.example.test:1"]);
        // Every DC failed: the next resolution asks DNS again, and a DC
        // that stays keeps its state (dc2 is still down).
        pool.mark_down("ldap://dc2.ad.example.test:1", "refused");
        *dns.hosts.lock().unwrap() = vec!["dc2.ad.example.test", "dc3.ad.example.test"];
        let uris = pool.servers().await.unwrap();
        assert!(dns.asked.load(Ordering::SeqCst) > asked, "asked again");
        assert_eq!(
            uris,
            [
                "ldap://dc2.ad.example.test:1",
                "ldap://dc3.ad.example.test:1"
            ]
        );
        let status = pool.status();
        assert_eq!(status.servers[0].failures, 1, "dc2 kept its failure count");
        assert_eq!(status.servers[1].failures, 0, "dc3 is new");
    }

    #[tokio::test]
    async fn a_dns_failure_keeps_the_known_dcs_and_without_any_is_unavailable() {
        let (pool, dns) = discovering_pool(Vec::new());
        let e = pool.servers().await.unwrap_err();
        assert!(
            e.to_string().contains("no domain controller found in DNS")
                && e.to_string().contains("SERVFAIL"),
            "{e}"
        );
        // A lookup gets the same answer, and the domain goes offline.
        let e = match pool.get().await {
            Err(e) => e,
            Ok(_) => panic!("a lease without any server"),
        };
        assert!(matches!(e, DirectoryError::Unavailable { .. }), "{e}");
        assert!(!pool.status().online);
        // Once found, a later DNS failure keeps them.
        pool.retry_now();
        *dns.hosts.lock().unwrap() = vec!["dc1.ad.example.test"];
        assert_eq!(pool.servers().await.unwrap().len(), 1);
        dns.hosts.lock().unwrap().clear();
        pool.health().dns_due = Some(Instant::now());
        assert_eq!(
            pool.servers().await.unwrap(),
            ["ldap://dc1.ad.example.test:1"]
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_maximum() {
        let (two, thirty) = (Duration::from_secs(2), Duration::from_secs(30));
        assert_eq!(backoff(two, thirty, 1), Duration::from_secs(2));
        assert_eq!(backoff(two, thirty, 2), Duration::from_secs(4));
        assert_eq!(backoff(two, thirty, 3), Duration::from_secs(8));
        assert_eq!(backoff(two, thirty, 4), Duration::from_secs(16));
        assert_eq!(backoff(two, thirty, 5), Duration::from_secs(30));
        assert_eq!(backoff(two, thirty, 1000), Duration::from_secs(30));
        let tenth = Duration::from_millis(100);
        assert_eq!(backoff(tenth, thirty, 3), Duration::from_millis(400));
        // Huge settings saturate instead of overflowing.
        let big = Duration::from_secs(1_000_000_000);
        assert_eq!(backoff(big, big, 1000), big);
    }
}
