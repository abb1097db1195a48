//! The background probe of an offline domain: the one task that connects
//! to the domain's servers while no lookup or login may. It tries every
//! server in URI order (connect, StartTLS, service bind, each bounded as
//! usual) at the outage's `next_probe`; a failure doubles the wait, from
//! `offline_retry_initial` up to `offline_retry_max`. The first server that
//! binds becomes the domain's connection and ends the outage. The task
//! ends with the outage, or when the pool is dropped (a reload that
//! changed the domain).

use super::{Live, Pool, BIND_REFUSED_FOR};
use crate::directory::records::DirectoryError;
use std::sync::Weak;
use std::time::{Instant, SystemTime};

/// The probe task of `pool`'s current outage (started by the pool when it
/// goes offline).
pub(super) async fn run(pool: Weak<Pool>) {
    loop {
        // Not held while sleeping: a dropped pool ends the task.
        let Some(p) = pool.upgrade() else {
            return;
        };
        let Some(at) = p.next_probe() else {
            return;
        };
        if at > Instant::now() {
            drop(p);
            tokio::time::sleep_until(at.into()).await;
            continue;
        }
        p.probe_once().await;
    }
}

impl Pool {
    /// When the probe runs next; `None` (and the probe task ends) once the
    /// domain is online again.
    fn next_probe(&self) -> Option<Instant> {
        let mut h = self.health();
        match &h.outage {
            Some(o) => Some(o.next_probe),
            None => {
                h.probing = false;
                None
            }
        }
    }

    /// One probe: every server in order until one binds.
    async fn probe_once(&self) {
        self.health().probes += 1;
        let mut errors = Vec::new();
        // Discovered servers are looked up again first (due after every
        // server failed).
        if let Err(e) = self.refresh_servers().await {
            errors.push(e.to_string());
        }
        for (i, uri) in self.uris().iter().enumerate() {
            let attempt = async {
                let ldap = self.dial(uri).await?;
                self.bind_service(ldap, uri).await
            };
            match attempt.await {
                Ok(ldap) => {
                    *self.live() = Some(Live {
                        ldap,
                        index: i,
                        uri: uri.clone(),
                        since: Instant::now(),
                    });
                    self.mark_up(uri);
                    tracing::info!(domain = %self.cfg.name, %uri, "domain back online");
                    return;
                }
                Err(DirectoryError::Unavailable { context: msg, .. }) => {
                    tracing::debug!(domain = %self.cfg.name, %uri, error = %msg, "probe: server still unreachable");
                    let mut h = self.health();
                    if let Some(s) = h.servers.iter_mut().find(|s| s.uri == *uri) {
                        s.failures = s.failures.saturating_add(1);
                        s.last_error = Some(msg.clone());
                    }
                    errors.push(format!("{uri}: {msg}"));
                }
                Err(e) => {
                    // The server answers but cannot be used (bind refused,
                    // bad URI): the outage is over, and lookups get this
                    // error as after their own connection attempt.
                    tracing::error!(domain = %self.cfg.name, %uri, error = %e, "cannot use the directory");
                    let mut h = self.health();
                    h.outage = None;
                    h.last_error = Some(e.to_string());
                    h.last_error_at = Some(SystemTime::now());
                    h.config_error = Some((e, Instant::now() + BIND_REFUSED_FOR));
                    return;
                }
            }
        }
        let msg = format!(
            "no server of domain \"{}\" answers ({})",
            self.cfg.name,
            errors.join("; ")
        );
        let mut h = self.health();
        h.last_error = Some(msg);
        h.last_error_at = Some(SystemTime::now());
        // The outage may have ended meanwhile (`retry_now`, and a lookup
        // that reached a server).
        let Some(o) = &mut h.outage else {
            return;
        };
        o.failed_probes = o.failed_probes.saturating_add(1);
        o.next_probe = Instant::now() + self.retry_delay(o.failed_probes.saturating_add(1));
        let next = o.next_probe;
        tracing::debug!(domain = %self.cfg.name, retry_in = ?next.saturating_duration_since(Instant::now()), "probe failed");
        for s in &mut h.servers {
            s.down_until = Some(next);
        }
    }
}
