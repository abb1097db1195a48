//! autorid allocations kept in the directory (`idmap_store = "ldap"`):
//! the [`SharedStore`] of a pool, as entries under `idmap_store_dn`.
//!
//! One entry per allocated slot, added by the host that allocates it:
//!
//! ```text
//! dn: cn=autorid-<low>-slot-<slot>,<idmap_store_dn>
//! objectClass: nisObject
//! cn: autorid-<low>-slot-<slot>
//! nisMapName: roster-autorid low <low> rangesize <rangesize>
//! nisMapEntry: <domain SID> <block>
//! ```
//!
//! The DN is unique per slot, so the LDAP add is the compare-and-swap:
//! two hosts that pick one slot at the same moment cannot both add it;
//! the loser gets `entryAlreadyExists` (68) and reads the table again.
//! `nisObject` (RFC 2307, in OpenLDAP's `nis.schema` and in Active
//! Directory's schema since 2003 R2) holds the three values without a
//! custom schema. The service account of the pool's first domain binds;
//! it needs add rights under `idmap_store_dn` and read rights on the
//! entries.
//!
//! The calls go through the domain's connection pool (failover, server
//! backoff, `connect_timeout`) with every operation bounded by
//! `op_timeout`. The ID mapping is synchronous, so the store runs the
//! directory operations on a private one-thread runtime and waits for the
//! answer; this happens only on the first sight of a domain block.

use super::conn::{Lease, Pool};
use super::records::DirectoryError;
use super::search::{self, Query, SearchFail};
use crate::config::{Config, DomainConfig};
use crate::filter;
use ldap3::{LdapError, Scope};
use roster_idmap::store::{Record, SharedStore, SharedStoreError};
use roster_idmap::{AutoridParams, IdmapError, SharedSpec, Sid};
use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// The shared store of one autorid pool in the directory of `domain`.
pub struct LdapIdmapStore {
    domain: String,
    dn: String,
    params: AutoridParams,
    op_timeout: Duration,
    /// Longest wait for one operation, failover included.
    bound: Duration,
    pool: Arc<Pool>,
    rt: Option<tokio::runtime::Runtime>,
}

impl std::fmt::Debug for LdapIdmapStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.describe())
    }
}

impl Drop for LdapIdmapStore {
    fn drop(&mut self) {
        // May be dropped inside rosterd's runtime: never block there.
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

/// What went wrong in one directory operation.
enum OpFail {
    /// Connection broke: another connection may work.
    Connection(String),
    /// The server answered with an error code.
    Server(String),
}

impl LdapIdmapStore {
    /// A store under `dn` in the directory of domain `cfg`, for the pool
    /// `params`. Connects lazily.
    pub fn new(
        cfg: &DomainConfig,
        dn: &str,
        params: AutoridParams,
    ) -> Result<LdapIdmapStore, DirectoryError> {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("roster-idmap-store")
            .enable_all()
            .build()
            .map_err(|e| DirectoryError::invalid(format!("idmap store runtime: {e}")))?;
        let tries = u32::try_from(cfg.uris.len()).unwrap_or(u32::MAX).max(1) + 1;
        Ok(LdapIdmapStore {
            domain: cfg.name.clone(),
            dn: dn.to_string(),
            params,
            op_timeout: cfg.op_timeout,
            bound: (cfg.connect_timeout + cfg.op_timeout * 2) * tries + Duration::from_secs(1),
            pool: Pool::new(cfg.clone())?,
            rt: Some(rt),
        })
    }

    fn map_name(&self) -> String {
        format!(
            "roster-autorid low {} rangesize {}",
            self.params.low, self.params.rangesize
        )
    }

    fn rdn_prefix(&self) -> String {
        format!("autorid-{}-slot-", self.params.low)
    }

    fn entry_dn(&self, slot: u32) -> String {
        format!("cn={}{slot},{}", self.rdn_prefix(), self.dn)
    }

    /// Runs `op` with a connection of the pool on the private runtime:
    /// a broken reused connection is replaced once, a timeout marks the
    /// server down.
    fn run<T, F, Fut>(&self, what: &str, op: F) -> Result<T, SharedStoreError>
    where
        T: Send + 'static,
        F: Fn(ldap3::Ldap) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, OpFail>> + Send,
    {
        let Some(rt) = &self.rt else {
            return Err(unavailable("the store is shut down".into()));
        };
        let pool = self.pool.clone();
        let op_timeout = self.op_timeout;
        let domain = self.domain.clone();
        let (tx, rx) = std::sync::mpsc::channel();
        rt.spawn(async move {
            let mut result = Err(unavailable(format!(
                "domain \"{domain}\": connection lost twice"
            )));
            for _ in 0..2 {
                let Lease { ldap, uri, fresh } = match pool.get().await {
                    Ok(l) => l,
                    Err(e) => {
                        result = Err(unavailable(e.to_string()));
                        break;
                    }
                };
                match tokio::time::timeout(op_timeout, op(ldap)).await {
                    Ok(Ok(v)) => {
                        pool.note_success(&uri);
                        result = Ok(v);
                        break;
                    }
                    Ok(Err(OpFail::Server(m))) => {
                        pool.note_success(&uri);
                        result = Err(SharedStoreError {
                            unavailable: false,
                            message: m,
                        });
                        break;
                    }
                    Ok(Err(OpFail::Connection(m))) => {
                        pool.discard(&uri, &m, fresh);
                        result = Err(unavailable(format!("domain \"{domain}\": {m}")));
                        if fresh {
                            break;
                        }
                    }
                    Err(_) => {
                        let m = format!("no answer within op_timeout {op_timeout:?}");
                        pool.discard(&uri, &m, true);
                        result = Err(unavailable(format!("domain \"{domain}\": {m}")));
                        break;
                    }
                }
            }
            let _ = tx.send(result);
        });
        match rx.recv_timeout(self.bound) {
            Ok(r) => r.map_err(|e| SharedStoreError {
                message: format!("{what}: {}", e.message),
                ..e
            }),
            Err(_) => Err(unavailable(format!(
                "{what}: no answer within {:?}",
                self.bound
            ))),
        }
    }
}

fn unavailable(message: String) -> SharedStoreError {
    SharedStoreError {
        unavailable: true,
        message,
    }
}

fn op_fail(e: LdapError) -> OpFail {
    if super::conn::is_connection_error(&e) {
        return OpFail::Connection(e.to_string());
    }
    match e {
        LdapError::LdapResult { result } if matches!(result.rc, 51 | 52 | 80) => {
            OpFail::Connection(format!("rc={} {}", result.rc, result.text))
        }
        e => OpFail::Server(e.to_string()),
    }
}

impl SharedStore for LdapIdmapStore {
    fn describe(&self) -> String {
        format!("directory store {} (domain \"{}\")", self.dn, self.domain)
    }

    fn load(&self) -> Result<Vec<Record>, SharedStoreError> {
        let q = Query {
            base: self.dn.clone(),
            scope: Scope::OneLevel,
            filter: filter::and(
                "(objectClass=nisObject)",
                &format!("(cn={}*)", filter::escape(&self.rdn_prefix())),
            ),
            attrs: vec!["cn".into(), "nisMapName".into(), "nisMapEntry".into()].into(),
        };
        let op_timeout = self.op_timeout;
        let entries = self.run(&format!("reading {}", self.dn), move |ldap| {
            let q = q.clone();
            async move {
                search::run::<ldap3::SearchEntry>(ldap, &q, None, Some(op_timeout))
                    .await
                    .map(|found| found.entries)
                    .map_err(|f| match f {
                        SearchFail::Connection(m) => OpFail::Connection(m),
                        SearchFail::Timeout => OpFail::Connection("search timed out".into()),
                        SearchFail::SizeLimit => OpFail::Server("size limit exceeded".into()),
                        SearchFail::Server(e) => OpFail::Server(e.to_string()),
                        SearchFail::PagedCookie(m) => OpFail::Server(m),
                    })
            }
        })?;
        let prefix = self.rdn_prefix();
        let want = self.map_name();
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        for e in entries {
            let get = |a: &str| {
                e.attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case(a))
                    .and_then(|(_, v)| v.first().cloned())
            };
            let bad = |why: String| SharedStoreError {
                unavailable: false,
                message: format!("entry {}: {why}", e.dn),
            };
            let Some(slot) = get("cn")
                .and_then(|c| c.strip_prefix(&prefix).map(str::to_string))
                .and_then(|s| s.parse::<u32>().ok())
            else {
                continue;
            };
            match get("nisMapName") {
                Some(n) if n == want => {}
                other => {
                    return Err(bad(format!(
                        "nisMapName {other:?} is not {want:?}: the pool's allocations were made \
                         with other parameters"
                    )))
                }
            }
            let entry = get("nisMapEntry").unwrap_or_default();
            let mut f = entry.split_whitespace();
            let (Some(sid), Some(index), None) = (f.next(), f.next(), f.next()) else {
                return Err(bad(format!(
                    "nisMapEntry {entry:?} is not \"DOMAIN-SID BLOCK\""
                )));
            };
            let domain: Sid = sid
                .parse()
                .map_err(|e| bad(format!("bad domain SID {sid:?}: {e}")))?;
            let index: u32 = index
                .parse()
                .map_err(|_| bad(format!("bad block {index:?}")))?;
            if slot >= self.params.slots() {
                return Err(bad(format!(
                    "slot {slot} lies beyond autorid_high {}",
                    self.params.high
                )));
            }
            if seen.insert(slot) {
                out.push(Record {
                    slot,
                    domain,
                    index,
                });
            }
        }
        Ok(out)
    }

    fn claim(&self, r: &Record) -> Result<bool, SharedStoreError> {
        let dn = self.entry_dn(r.slot);
        let cn = format!("{}{}", self.rdn_prefix(), r.slot);
        let attrs: Vec<(String, HashSet<String>)> = vec![
            (
                "objectClass".into(),
                HashSet::from(["nisObject".to_string()]),
            ),
            ("cn".into(), HashSet::from([cn])),
            ("nisMapName".into(), HashSet::from([self.map_name()])),
            (
                "nisMapEntry".into(),
                HashSet::from([format!("{} {}", r.domain, r.index)]),
            ),
        ];
        let what = format!("adding {dn}");
        self.run(&what, move |mut ldap| {
            let dn = dn.clone();
            let attrs = attrs.clone();
            async move {
                let res = ldap.add(&dn, attrs).await.map_err(op_fail)?;
                match res.rc {
                    0 => Ok(true),
                    68 => Ok(false),
                    51 | 52 | 80 => Err(OpFail::Connection(format!("rc={} {}", res.rc, res.text))),
                    50 => Err(OpFail::Server(format!(
                        "rc=50 insufficient access: the service account may not add entries under \
                         the idmap_store_dn ({})",
                        res.text
                    ))),
                    rc => Err(OpFail::Server(format!("rc={rc} {}", res.text))),
                }
            }
        })
    }
}

/// Builds the directory store of a pool for [`roster_idmap::DomainSet::open_with`]:
/// the pool's first domain's directory and service account.
pub fn shared_store(cfg: &Config, spec: &SharedSpec) -> Result<Arc<dyn SharedStore>, IdmapError> {
    let settings_err = |reason: String| IdmapError::Settings {
        domain: spec.domain.clone(),
        reason,
    };
    let d = cfg
        .domain(&spec.domain)
        .ok_or_else(|| settings_err("not configured".into()))?;
    let store = LdapIdmapStore::new(d, &spec.dn, spec.params)
        .map_err(|e| settings_err(format!("idmap_store = \"ldap\": {e}")))?;
    Ok(Arc::new(store))
}
