//! [`DomainSet`]: every configured domain with its backend, validated
//! together, answering SID → ID and ID → SID.

use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use crate::backend::autorid::{AutoridPool, StoreMode};
use crate::backend::rfc2307::PosixBounds;
use crate::backend::rid::RidRange;
use crate::backend::sss::{SharedSss, SssContext};
use crate::blockcache::{BlockCache, SlotCache, CACHED_BLOCKS};
use crate::error::IdmapError;
use crate::export::ExportLine;
use crate::settings::{AutoridParams, IdmapSettings, ResolvedBackend, SssParams, StoreKind};
use crate::sid::Sid;
use crate::store::{SharedStore, SssRecord, SssStore};

/// What the daemon needs to build the shared store of an autorid pool
/// with `idmap_store = "ldap"`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSpec {
    /// The domain of the pool that sets `idmap_store = "ldap"` (whose
    /// directory holds the entries).
    pub domain: String,
    /// `idmap_store_dn`.
    pub dn: String,
    /// The pool.
    pub params: AutoridParams,
}

/// Builds the shared store of a pool (see [`DomainSet::open_with`]).
pub type SharedFactory<'a> = dyn Fn(&SharedSpec) -> Result<Arc<dyn SharedStore>, IdmapError> + 'a;

#[derive(Debug, Clone, Copy)]
enum Kind {
    Rfc2307,
    Rid(RidRange),
    Sss(usize),
    Autorid(usize),
}

#[derive(Debug)]
struct Domain {
    name: String,
    min_id: u32,
    max_id: u32,
    backend: ResolvedBackend,
    kind: Kind,
    /// The domain SID, set once (configuration or run time).
    sid: OnceLock<Sid>,
    /// sss: first ID of each settled RID block's slice; autorid: slot + 1.
    blocks: BlockCache,
}

/// All configured domains and their ID mapping. Shared between threads
/// (`Send + Sync`); lookups take read locks only, except the first sight
/// of an sss secondary slice or of an autorid block.
#[derive(Debug)]
pub struct DomainSet {
    domains: Vec<Domain>,
    sss: Vec<SssPool>,
    pools: Vec<AutoridEntry>,
    /// Where sss slices are recorded.
    sss_rec: Option<SssRecorder>,
    /// Serializes domain SID registration.
    register: Mutex<()>,
}

/// One libsss_idmap-like context, shared by the sss domains with identical
/// parameters.
#[derive(Debug)]
struct SssPool {
    /// First domain using it (names it in errors).
    label: String,
    params: SssParams,
    ctx: SharedSss,
    /// ID → SID cache by slice number.
    rev: SlotCache,
}

/// The recorded sss slices (`sss.map`), when there is a state directory.
#[derive(Debug)]
struct SssRecorder {
    store: SssStore,
    writable: bool,
}

/// One autorid pool, shared by the autorid domains with identical pools.
#[derive(Debug)]
struct AutoridEntry {
    params: AutoridParams,
    pool: AutoridPool,
    /// ID → SID cache by slot.
    rev: SlotCache,
}

/// One claimed ID span, for the overlap check.
struct Claim {
    name: String,
    low: u32,
    high: u32,
}

/// Adds domain `name`'s span to `claims`, refusing an overlap with one
/// already there (the error names both domains and the shared IDs).
fn claim(claims: &mut Vec<Claim>, name: &str, (low, high): (u32, u32)) -> Result<(), IdmapError> {
    if let Some(c) = claims.iter().find(|c| low <= c.high && c.low <= high) {
        return Err(IdmapError::RangeOverlap {
            first: c.name.clone(),
            first_low: c.low,
            first_high: c.high,
            second: name.to_string(),
            second_low: low,
            second_high: high,
            low: low.max(c.low),
            high: high.min(c.high),
        });
    }
    claims.push(Claim {
        name: name.to_string(),
        low,
        high,
    });
    Ok(())
}

impl DomainSet {
    /// Validates `domains` — (name, settings, `min_id`, `max_id` with 0 =
    /// none) — together and builds the set. With `state_dir`, autorid
    /// allocations are kept there durably; without, in memory.
    pub fn new<N: AsRef<str>>(
        domains: &[(N, IdmapSettings, u32, u32)],
        state_dir: Option<&Path>,
    ) -> Result<DomainSet, IdmapError> {
        let mode = match state_dir {
            Some(d) => StoreMode::Durable(d),
            None => StoreMode::Memory,
        };
        DomainSet::open(domains, mode)
    }

    /// Like [`DomainSet::new`], choosing how autorid allocations are kept.
    pub fn open<N: AsRef<str>>(
        domains: &[(N, IdmapSettings, u32, u32)],
        mode: StoreMode<'_>,
    ) -> Result<DomainSet, IdmapError> {
        DomainSet::open_with(domains, mode, None)
    }

    /// Like [`DomainSet::open`]; autorid pools with `idmap_store = "ldap"`
    /// get their shared store from `shared` (without it they keep their
    /// allocations locally, as for configuration checks). The sss slices
    /// and autorid allocations recorded in the state directory are reused
    /// (whatever order domains answer in); a record that disagrees with
    /// the configuration is an [`IdmapError::Recorded`] naming the domain.
    pub fn open_with<N: AsRef<str>>(
        domains: &[(N, IdmapSettings, u32, u32)],
        mode: StoreMode<'_>,
        shared: Option<&SharedFactory<'_>>,
    ) -> Result<DomainSet, IdmapError> {
        let mut out: Vec<Domain> = Vec::with_capacity(domains.len());
        let mut sss: Vec<(String, SssParams)> = Vec::new();
        let mut pools: Vec<(String, AutoridParams)> = Vec::new();
        // Per pool: the domain that sets idmap_store = "ldap" and its
        // idmap_store_dn, and the configured (SID, name).
        let mut pool_store: Vec<Option<(String, String)>> = Vec::new();
        let mut pool_sids: Vec<Vec<(Sid, String)>> = Vec::new();
        let mut claims: Vec<Claim> = Vec::new();
        for (name, settings, min_id, max_id) in domains {
            let name = name.as_ref();
            if name.is_empty() {
                return Err(IdmapError::Settings {
                    domain: String::new(),
                    reason: "a domain has an empty name".into(),
                });
            }
            if out.iter().any(|d| d.name.eq_ignore_ascii_case(name)) {
                return Err(IdmapError::DuplicateDomain(name.to_string()));
            }
            let backend = settings.validate(name, *min_id, *max_id)?;
            let mut shared_claim = false;
            let kind = match backend {
                ResolvedBackend::Rfc2307 { .. } => Kind::Rfc2307,
                ResolvedBackend::Rid {
                    low,
                    high,
                    base_rid,
                } => Kind::Rid(RidRange {
                    low,
                    high,
                    base_rid,
                }),
                ResolvedBackend::Sss(p) => match sss.iter().position(|(_, q)| *q == p) {
                    Some(i) => {
                        shared_claim = true;
                        Kind::Sss(i)
                    }
                    None => {
                        sss.push((name.to_string(), p));
                        Kind::Sss(sss.len() - 1)
                    }
                },
                ResolvedBackend::Autorid(p) => {
                    let i = match pools.iter().position(|(_, q)| {
                        (q.low, q.high, q.rangesize) == (p.low, p.high, p.rangesize)
                    }) {
                        Some(i) if pools[i].1 != p => {
                            return Err(IdmapError::Settings {
                                domain: name.to_string(),
                                reason: format!(
                                    "shares the autorid pool {}-{} with domain {:?} but not its \
                                     deterministic and deterministic_blocks settings",
                                    p.low, p.high, pools[i].0
                                ),
                            })
                        }
                        Some(i) => {
                            shared_claim = true;
                            i
                        }
                        None => {
                            pools.push((name.to_string(), p));
                            pool_store.push(None);
                            pool_sids.push(Vec::new());
                            pools.len() - 1
                        }
                    };
                    // One domain of the pool says where allocations are
                    // shared (its directory); the others may leave it out.
                    let explicit_local = settings.idmap_store == Some(StoreKind::Local);
                    match (&pool_store[i], &settings.idmap_store_dn) {
                        (Some((other, _)), Some(_)) | (Some((other, _)), None)
                            if explicit_local || settings.idmap_store_dn.is_some() =>
                        {
                            return Err(IdmapError::Settings {
                                domain: name.to_string(),
                                reason: format!(
                                    "the autorid pool {}-{} keeps its allocations in the \
                                     directory of domain {other:?} (idmap_store = \"ldap\"); \
                                     set idmap_store and idmap_store_dn on that domain only",
                                    p.low, p.high
                                ),
                            });
                        }
                        (None, Some(dn)) => {
                            if let Some(j) = (0..out.len()).find(|j| {
                                matches!(out[*j].kind, Kind::Autorid(k) if k == i)
                                    && domains[*j].1.idmap_store == Some(StoreKind::Local)
                            }) {
                                return Err(IdmapError::Settings {
                                    domain: name.to_string(),
                                    reason: format!(
                                        "idmap_store = \"ldap\" for the autorid pool {}-{}, \
                                         which domain {:?} sets to idmap_store = \"local\"",
                                        p.low, p.high, out[j].name
                                    ),
                                });
                            }
                            pool_store[i] = Some((name.to_string(), dn.clone()));
                        }
                        _ => {}
                    }
                    if let Some(sid) = settings.domain_sid {
                        pool_sids[i].push((sid, name.to_string()));
                    }
                    Kind::Autorid(i)
                }
            };
            if let (Some(span), false) = (backend.span(), shared_claim) {
                claim(&mut claims, name, span)?;
            }
            out.push(Domain {
                name: name.to_string(),
                min_id: *min_id,
                max_id: *max_id,
                backend,
                kind,
                sid: OnceLock::new(),
                blocks: BlockCache::default(),
            });
        }
        let mut opened = Vec::with_capacity(pools.len());
        for (i, (first, params)) in pools.into_iter().enumerate() {
            let _ = first;
            let store = match (&pool_store[i], shared) {
                (Some((domain, dn)), Some(make)) => Some(make(&SharedSpec {
                    domain: domain.clone(),
                    dn: dn.clone(),
                    params,
                })?),
                _ => None,
            };
            opened.push(AutoridEntry {
                params,
                pool: AutoridPool::open_with(params, mode, store, &pool_sids[i])?,
                rev: SlotCache::new(params.slots()),
            });
        }
        let sss_rec = match mode {
            _ if sss.is_empty() => None,
            StoreMode::Memory => None,
            StoreMode::Durable(d) => Some(SssRecorder {
                store: SssStore::new(d, true)?,
                writable: true,
            }),
            StoreMode::ReadOnly(d) => Some(SssRecorder {
                store: SssStore::new(d, false)?,
                writable: false,
            }),
        };
        let set = DomainSet {
            sss: sss
                .into_iter()
                .map(|(label, params)| SssPool {
                    label,
                    params,
                    ctx: SharedSss::new(SssContext::new(params)),
                    rev: SlotCache::new(params.slices()),
                })
                .collect(),
            pools: opened,
            domains: out,
            sss_rec,
            register: Mutex::new(()),
        };
        if let StoreMode::Durable(d) | StoreMode::ReadOnly(d) = mode {
            set.check_autorid_records(d, domains)?;
        }
        set.restore_recorded(domains)?;
        // Configured SIDs: config order, except that deterministic autorid
        // pools see their domains sorted by SID so that the order of the
        // configuration file does not matter.
        let mut order: Vec<(usize, Sid)> = domains
            .iter()
            .enumerate()
            .filter_map(|(i, d)| d.1.domain_sid.map(|s| (i, s)))
            .collect();
        order.sort_by_key(|(i, s)| match set.domains[*i].kind {
            Kind::Autorid(p) if set.pools[p].params.deterministic => (1, s.to_string(), 0),
            _ => (0, String::new(), *i),
        });
        for (i, sid) in order {
            let name = set.domains[i].name.clone();
            set.set_domain_sid(&name, sid)?;
        }
        Ok(set)
    }

    fn index_of(&self, name: &str) -> Result<usize, IdmapError> {
        // (Asked as configured nearly always, and for every ID an answer
        // holds: a byte compare first, then ASCII case ignored.)
        let domains = || self.domains.iter();
        domains()
            .position(|d| d.name == name)
            .or_else(|| domains().position(|d| d.name.eq_ignore_ascii_case(name)))
            .ok_or_else(|| IdmapError::UnknownDomain(name.to_string()))
    }

    /// Registers the SID of domain `name`, learnt at run time (AD) or from
    /// configuration. sss: adds the domain to its libsss_idmap-like
    /// context (nothing persisted); autorid: allocates its first range
    /// (durably); rid: remembers it. Setting the same SID again is a no-op;
    /// a different one is an error.
    pub fn set_domain_sid(&self, name: &str, sid: Sid) -> Result<(), IdmapError> {
        let idx = self.index_of(name)?;
        let dom = &self.domains[idx];
        let _guard = self.register.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(current) = dom.sid.get() {
            if *current == sid {
                return Ok(());
            }
            return Err(IdmapError::DomainSidConflict {
                domain: dom.name.clone(),
                current: current.to_string(),
                new: sid.to_string(),
            });
        }
        if let Some(other) = self.domains.iter().find(|d| d.sid.get() == Some(&sid)) {
            return Err(IdmapError::SidInUse {
                sid: sid.to_string(),
                domain: dom.name.clone(),
                other: other.name.clone(),
            });
        }
        match dom.kind {
            Kind::Rfc2307 | Kind::Rid(_) => {}
            Kind::Sss(c) => {
                let ctx = &self.sss[c].ctx;
                if !ctx.has_domain(&sid) {
                    ctx.add_domain(&dom.name, &sid)
                        .map_err(|source| IdmapError::Sss {
                            domain: dom.name.clone(),
                            source,
                        })?;
                    self.record_sss(c, &dom.name, &sid)?;
                }
            }
            Kind::Autorid(p) => {
                let pool = &self.pools[p].pool;
                let new_name = pool.name_domain(&sid, &dom.name);
                pool.allocate(&sid, 0)?;
                if new_name {
                    pool.save_names()?;
                }
            }
        }
        // Cannot fail: set only here, under the registration lock.
        let _ = dom.sid.set(sid);
        Ok(())
    }

    /// Reuses what the state directory recorded: the sss slices of every
    /// recorded domain are put back in their context (so a domain that
    /// answers first cannot take another's slice), and a configured
    /// domain recorded earlier gets its SID back (so it maps while its
    /// server is down). A record that disagrees with the configuration is
    /// refused, naming the domain.
    fn restore_recorded<N: AsRef<str>>(
        &self,
        cfg: &[(N, IdmapSettings, u32, u32)],
    ) -> Result<(), IdmapError> {
        if let Some(rec) = &self.sss_rec {
            let path = rec.store.path().to_path_buf();
            let recorded = |domain: &str, reason: String| IdmapError::Recorded {
                domain: domain.to_string(),
                path: path.clone(),
                reason,
            };
            for r in rec.store.load()? {
                let idx = self
                    .domains
                    .iter()
                    .position(|d| d.name.eq_ignore_ascii_case(&r.name));
                let ctx_index = match idx.map(|i| (i, self.domains[i].kind)) {
                    Some((i, Kind::Sss(c))) => {
                        let p = self.sss[c].params;
                        if p != r.params {
                            return Err(recorded(
                                &r.name,
                                format!(
                                    "its sss slices were computed with range_min {} range_max {} \
                                     range_size {} autorid_compat {} helper_table_size {}; the \
                                     configuration now says range_min {} range_max {} range_size \
                                     {} autorid_compat {} helper_table_size {}, which would move \
                                     its IDs",
                                    r.params.range_min,
                                    r.params.range_max,
                                    r.params.range_size,
                                    r.params.autorid_compat,
                                    r.params.helper_table_size,
                                    p.range_min,
                                    p.range_max,
                                    p.range_size,
                                    p.autorid_compat,
                                    p.helper_table_size
                                ),
                            ));
                        }
                        if let Some(s) = cfg[i].1.domain_sid {
                            if s != r.sid {
                                return Err(recorded(
                                    &r.name,
                                    format!(
                                        "its slices are recorded for SID {}, the configuration \
                                         says domain_sid {s}",
                                        r.sid
                                    ),
                                ));
                            }
                        }
                        Some(c)
                    }
                    Some((i, _)) => {
                        return Err(recorded(
                            &r.name,
                            format!(
                                "sss slices are recorded for it, but it now uses backend {:?}",
                                cfg[i].1.backend.name()
                            ),
                        ))
                    }
                    // A domain no longer configured keeps its slices
                    // reserved until it is reset.
                    None => self.sss.iter().position(|sp| sp.params == r.params),
                };
                let Some(c) = ctx_index else { continue };
                self.sss[c]
                    .ctx
                    .add_recorded_domain(&r.name, &r.sid, r.primary, &r.helpers)
                    .map_err(|e| {
                        recorded(
                            &r.name,
                            format!("its recorded slices cannot be put back: {e}"),
                        )
                    })?;
                if let Some(i) = idx {
                    let _ = self.domains[i].sid.set(r.sid);
                }
            }
        }
        for (i, d) in self.domains.iter().enumerate() {
            let Kind::Autorid(p) = d.kind else { continue };
            let pool = &self.pools[p].pool;
            let known: Vec<Sid> = pool
                .names()
                .into_iter()
                .filter(|(_, n)| n.eq_ignore_ascii_case(&d.name))
                .map(|(s, _)| s)
                .collect();
            let Some(sid) = known.first() else { continue };
            if let Some(c) = cfg[i].1.domain_sid {
                if !known.contains(&c) {
                    return Err(IdmapError::Recorded {
                        domain: d.name.clone(),
                        path: Default::default(),
                        reason: format!(
                            "its autorid ranges are recorded for SID {sid}, the configuration \
                             says domain_sid {c}"
                        ),
                    });
                }
                continue;
            }
            if pool.slot(sid, 0).is_some() && known.len() == 1 {
                let _ = d.sid.set(*sid);
            }
        }
        Ok(())
    }

    /// Refuses autorid allocations recorded for a configured domain in a
    /// pool it is no longer in (`autorid_low` changed, or another backend).
    fn check_autorid_records<N: AsRef<str>>(
        &self,
        dir: &Path,
        cfg: &[(N, IdmapSettings, u32, u32)],
    ) -> Result<(), IdmapError> {
        for r in crate::store::recorded_autorid_domains(dir)? {
            let (path, low, sid, name) = (r.path, r.low, r.sid, r.name);
            let idx = self.domains.iter().enumerate().position(|(i, d)| {
                name.as_deref()
                    .is_some_and(|n| n.eq_ignore_ascii_case(&d.name))
                    || cfg[i].1.domain_sid == Some(sid)
            });
            let Some(i) = idx else { continue };
            let d = &self.domains[i];
            let now = match d.kind {
                Kind::Autorid(p) if self.pools[p].params.low == low => continue,
                Kind::Autorid(p) => format!("autorid_low {}", self.pools[p].params.low),
                _ => format!("backend {:?}", d.backend_name()),
            };
            return Err(IdmapError::Recorded {
                domain: d.name.clone(),
                path,
                reason: format!(
                    "autorid ranges of {sid} are recorded in the pool starting at {low}, the \
                     configuration now says {now}, which would move its IDs"
                ),
            });
        }
        Ok(())
    }

    /// Records the slices domain `name` just got in sss context `c`.
    fn record_sss(&self, c: usize, name: &str, sid: &Sid) -> Result<(), IdmapError> {
        let Some(rec) = self.sss_rec.as_ref().filter(|r| r.writable) else {
            return Ok(());
        };
        let ctx = &self.sss[c].ctx;
        let Some((primary, helpers)) = ctx.domain_slices(sid) else {
            return Ok(());
        };
        let _lock = rec.store.lock()?;
        let mut all = rec.store.load()?;
        if all
            .iter()
            .any(|r| r.name.eq_ignore_ascii_case(name) || r.sid == *sid)
        {
            return Ok(());
        }
        all.push(SssRecord {
            name: name.to_string(),
            sid: *sid,
            params: self.sss[c].params,
            primary,
            helpers,
        });
        rec.store.commit(&all)
    }

    /// The complete allocation table of this host (sss slices and autorid
    /// ranges), for `rosterctl idmap export`.
    pub fn export(&self) -> Vec<ExportLine> {
        let mut v = Vec::new();
        for sp in &self.sss {
            for (domain, first_rid, first, last) in sp.ctx.all_slices() {
                v.push(ExportLine {
                    domain,
                    block: first_rid / sp.params.range_size,
                    first,
                    last,
                });
            }
        }
        for ap in &self.pools {
            let rs = ap.params.rangesize;
            for r in ap.pool.records() {
                let first = ap.params.low + r.slot * rs;
                v.push(ExportLine {
                    domain: r.domain,
                    block: r.index,
                    first,
                    last: first + (rs - 1),
                });
            }
        }
        v.sort();
        v
    }

    /// Shared autorid stores that could not be read when the set was
    /// built (their pools use the local copy meanwhile).
    pub fn shared_offline(&self) -> Vec<String> {
        self.pools
            .iter()
            .filter_map(|p| p.pool.shared_offline())
            .collect()
    }

    /// Domains not mapped because this host's autorid allocations and the
    /// shared store disagree: (domain, reason).
    pub fn disputes(&self) -> Vec<(String, String)> {
        self.pools.iter().flat_map(|p| p.pool.disputes()).collect()
    }

    /// The SID of domain `name`, if known.
    pub fn domain_sid(&self, name: &str) -> Result<Option<Sid>, IdmapError> {
        let idx = self.index_of(name)?;
        Ok(self.domains[idx].sid.get().copied())
    }

    /// The names of the configured domains, in configuration order.
    pub fn domain_names(&self) -> impl Iterator<Item = &str> {
        self.domains.iter().map(|d| d.name.as_str())
    }

    /// The name of the domain an object SID belongs to, if any.
    pub fn domain_of_sid(&self, sid: &Sid) -> Option<&str> {
        self.find(sid).map(|(d, _)| d.name.as_str())
    }

    /// The domain whose SID is `sid` minus its RID, and that RID.
    #[inline]
    fn find(&self, sid: &Sid) -> Option<(&Domain, u32)> {
        self.domains.iter().find_map(|d| {
            d.sid
                .get()
                .and_then(|ds| sid.rid_in(ds))
                .map(|rid| (d, rid))
        })
    }

    /// The UID of an object SID (for rid, sss and autorid the same number
    /// as its GID, as Samba and SSSD do).
    #[inline]
    pub fn uid_for_sid(&self, sid: &Sid) -> Result<u32, IdmapError> {
        self.id_for_sid(sid)
    }

    /// The GID of an object SID (the same number as [`Self::uid_for_sid`]).
    #[inline]
    pub fn gid_for_sid(&self, sid: &Sid) -> Result<u32, IdmapError> {
        self.id_for_sid(sid)
    }

    #[inline]
    fn id_for_sid(&self, sid: &Sid) -> Result<u32, IdmapError> {
        self.id_for_sid_with(sid, true)
    }

    /// The ID of an object SID (as [`Self::uid_for_sid`], the same number
    /// as UID and GID) without allocating: when its autorid block has no
    /// slot yet this is [`IdmapError::BlockUnallocated`], and nothing
    /// waits for the lock file or the shared store. What a daemon's
    /// event loop may call; [`Self::needs_allocation`] tells it first
    /// which SIDs to map (allocating) on a thread that may wait.
    #[inline]
    pub fn mapped_id_for_sid(&self, sid: &Sid) -> Result<u32, IdmapError> {
        self.id_for_sid_with(sid, false)
    }

    /// The autorid block `sid` lies in: its domain's SID and the block's
    /// number (`None` outside autorid domains, or for an unknown domain).
    pub fn block_of(&self, sid: &Sid) -> Option<(Sid, u32)> {
        let (dom, rid) = self.find(sid)?;
        match dom.kind {
            Kind::Autorid(p) => Some((*dom.sid.get()?, rid / self.pools[p].params.rangesize)),
            _ => None,
        }
    }

    /// True when mapping `sid` would allocate its autorid block's slot
    /// (taking the lock file, maybe asking the shared store).
    pub fn needs_allocation(&self, sid: &Sid) -> bool {
        matches!(
            self.id_for_sid_with(sid, false),
            Err(IdmapError::BlockUnallocated { .. })
        )
    }

    #[inline]
    fn id_for_sid_with(&self, sid: &Sid, allocate: bool) -> Result<u32, IdmapError> {
        let Some((dom, rid)) = self.find(sid) else {
            return Err(match sid.rid() {
                None => IdmapError::NoRid(*sid),
                Some(_) => IdmapError::NoDomainForSid(*sid),
            });
        };
        match dom.kind {
            Kind::Rfc2307 => Err(IdmapError::NotAlgorithmic {
                domain: dom.name.clone(),
            }),
            Kind::Rid(r) => r.id_for(rid).ok_or_else(|| IdmapError::RidOutOfRange {
                domain: dom.name.clone(),
                rid,
                low: r.low,
                high: r.high,
                base_rid: r.base_rid,
            }),
            Kind::Sss(c) => {
                let ctx = &self.sss[c].ctx;
                let size = self.sss[c].params.range_size;
                let k = rid / size;
                if let Some(min) = dom.blocks.get(k) {
                    return Ok(min + (rid - k * size));
                }
                let id = ctx.sid_to_id(sid).map_err(|source| IdmapError::Sss {
                    domain: dom.name.clone(),
                    source,
                })?;
                if (k as usize) < CACHED_BLOCKS {
                    if let Some(min) =
                        ctx.aligned_block_min(dom.sid.get().expect("found by SID"), k)
                    {
                        dom.blocks.set(k, min);
                    }
                }
                Ok(id)
            }
            Kind::Autorid(p) => {
                let AutoridEntry { pool, params, .. } = &self.pools[p];
                let rs = params.rangesize;
                let k = rid / rs;
                if let Some(slot1) = dom.blocks.get(k) {
                    return Ok(params.low + (slot1 - 1) * rs + rid % rs);
                }
                let dom_sid = dom.sid.get().expect("found by SID");
                let id = if allocate {
                    pool.id_for(dom_sid, rid)?
                } else {
                    pool.mapped_id(dom_sid, rid)
                        .ok_or(IdmapError::BlockUnallocated { sid: *sid })??
                };
                if (k as usize) < CACHED_BLOCKS {
                    if let Some(slot) = pool.slot(dom_sid, k) {
                        dom.blocks.set(k, slot + 1);
                    }
                }
                Ok(id)
            }
        }
    }

    /// The SID of a UID/GID, for rid, sss and autorid domains; the error
    /// says why there is none.
    pub fn resolve_id(&self, id: u32) -> Result<Sid, IdmapError> {
        self.resolve_id_with(id, true)
    }

    /// [`Self::resolve_id`] without reading an autorid pool's shared store
    /// again: an ID of a slot unknown here is
    /// [`IdmapError::SlotUnallocated`]. What a daemon's event loop may
    /// call; [`Self::resolve_needs_io`] tells it first when to call
    /// [`Self::resolve_id`] on a thread that may wait.
    pub fn mapped_resolve_id(&self, id: u32) -> Result<Sid, IdmapError> {
        self.resolve_id_with(id, false)
    }

    /// True when [`Self::resolve_id`] of `id` would read a shared store
    /// again (an autorid slot unknown here, its refresh due).
    pub fn resolve_needs_io(&self, id: u32) -> bool {
        self.pools.iter().any(|ap| {
            let (low, high) = ap.params.span();
            (low..=high).contains(&id)
                && ap.rev.get((id - low) / ap.params.rangesize).is_none()
                && ap.pool.sid_for_would_refresh(id)
        })
    }

    fn resolve_id_with(&self, id: u32, refresh: bool) -> Result<Sid, IdmapError> {
        for d in &self.domains {
            if let Kind::Rid(r) = d.kind {
                if let Some(rid) = r.rid_for(id) {
                    return match d.sid.get() {
                        Some(s) => Ok(s.with_rid(rid)?),
                        None => Err(IdmapError::DomainSidUnknown {
                            id,
                            domain: d.name.clone(),
                        }),
                    };
                }
            }
        }
        for sp in &self.sss {
            let (low, high) = sp.params.span();
            if id < low || id > high {
                continue;
            }
            let size = sp.params.range_size;
            let slice = (id - low) / size;
            let off = id - low - slice * size;
            if let Some((d, first_rid)) = sp.rev.get(slice) {
                return self.domain_rid_sid(d, first_rid.wrapping_add(off), id);
            }
            let sid = sp.ctx.id_to_sid(id).map_err(|source| IdmapError::Sss {
                domain: sp.label.clone(),
                source,
            })?;
            self.remember(&sp.rev, slice, &sid, off);
            return Ok(sid);
        }
        for ap in &self.pools {
            let (low, high) = ap.params.span();
            if id < low || id > high {
                continue;
            }
            let rs = ap.params.rangesize;
            let slot = (id - low) / rs;
            let off = id - low - slot * rs;
            if let Some((d, first_rid)) = ap.rev.get(slot) {
                return self.domain_rid_sid(d, first_rid.wrapping_add(off), id);
            }
            let found = if refresh {
                ap.pool.sid_for(id)
            } else {
                ap.pool.mapped_sid_for(id)
            };
            if let Some(r) = found {
                let sid = r?;
                self.remember(&ap.rev, slot, &sid, off);
                return Ok(sid);
            }
        }
        Err(IdmapError::IdNotInAnyRange(id))
    }

    /// `rid` of domain number `d` (a cache hit: the domain SID is set).
    #[inline]
    fn domain_rid_sid(&self, d: usize, rid: u32, id: u32) -> Result<Sid, IdmapError> {
        let dom = &self.domains[d];
        match dom.sid.get() {
            Some(s) => Ok(s.with_rid(rid)?),
            None => Err(IdmapError::DomainSidUnknown {
                id,
                domain: dom.name.clone(),
            }),
        }
    }

    /// Caches slot `slot` of a reverse cache from a found `sid`, `off` IDs
    /// into the slot, when its domain is a configured one.
    fn remember(&self, cache: &SlotCache, slot: u32, sid: &Sid, off: u32) {
        if let Some((dom_sid, rid)) = sid.split() {
            if let Some(d) = self
                .domains
                .iter()
                .position(|d| d.sid.get() == Some(&dom_sid))
            {
                cache.set(slot, d, rid.wrapping_sub(off));
            }
        }
    }

    /// The SID of a UID/GID, if one can be computed.
    #[inline]
    pub fn sid_for_id(&self, id: u32) -> Option<Sid> {
        self.resolve_id(id).ok()
    }

    /// Checks a `uidNumber`/`gidNumber` read from domain `domain`: refuses
    /// 0, IDs below `min_id` or above `max_id`, outside the domain's range,
    /// or inside another domain's range.
    pub fn check_posix_id(&self, domain: &str, id: u32) -> Result<u32, IdmapError> {
        let idx = self.index_of(domain)?;
        let d = &self.domains[idx];
        let range = match d.backend {
            ResolvedBackend::Rfc2307 { low, high } => Some((low, high)),
            ref b => b.span().map(|(l, h)| (Some(l), Some(h))),
        };
        let refuse = |reason: String| IdmapError::IdRefused {
            domain: d.name.clone(),
            id,
            reason,
        };
        PosixBounds {
            min_id: d.min_id,
            max_id: d.max_id,
            range,
        }
        .check(id)
        .map_err(refuse)?;
        for (j, o) in self.domains.iter().enumerate() {
            if j == idx {
                continue;
            }
            if let Some((l, h)) = o.backend.span() {
                if id >= l && id <= h && !same_pool(d.kind, o.kind) {
                    return Err(refuse(format!(
                        "it lies in the range {l}-{h} of domain {:?}",
                        o.name
                    )));
                }
            }
        }
        Ok(id)
    }
}

impl Domain {
    fn backend_name(&self) -> &'static str {
        match self.backend {
            ResolvedBackend::Rfc2307 { .. } => "rfc2307",
            ResolvedBackend::Rid { .. } => "rid",
            ResolvedBackend::Sss(_) => "sss",
            ResolvedBackend::Autorid(_) => "autorid",
        }
    }
}

fn same_pool(a: Kind, b: Kind) -> bool {
    matches!((a, b), (Kind::Sss(x), Kind::Sss(y)) if x == y)
        || matches!((a, b), (Kind::Autorid(x), Kind::Autorid(y)) if x == y)
}
