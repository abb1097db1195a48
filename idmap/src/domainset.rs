//! [`DomainSet`]: every configured domain with its backend, validated
//! together, answering SID → ID and ID → SID.

use std::path::Path;
use std::sync::{Mutex, OnceLock};

use crate::backend::autorid::{AutoridPool, StoreMode};
use crate::backend::rfc2307::PosixBounds;
use crate::backend::rid::RidRange;
use crate::backend::sss::{SharedSss, SssContext};
use crate::blockcache::{BlockCache, SlotCache, CACHED_BLOCKS};
use crate::error::IdmapError;
use crate::settings::{AutoridParams, IdmapSettings, ResolvedBackend, SssParams};
use crate::sid::Sid;

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
        let mut out: Vec<Domain> = Vec::with_capacity(domains.len());
        let mut sss: Vec<(String, SssParams)> = Vec::new();
        let mut pools: Vec<(String, AutoridParams)> = Vec::new();
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
                    match pools.iter().position(|(_, q)| {
                        (q.low, q.high, q.rangesize) == (p.low, p.high, p.rangesize)
                    }) {
                        Some(i) if pools[i].1.deterministic != p.deterministic => {
                            return Err(IdmapError::Settings {
                                domain: name.to_string(),
                                reason: format!(
                                    "shares the autorid pool {}-{} with domain {:?} but not its \
                                     deterministic setting",
                                    p.low, p.high, pools[i].0
                                ),
                            })
                        }
                        Some(i) => {
                            shared_claim = true;
                            Kind::Autorid(i)
                        }
                        None => {
                            pools.push((name.to_string(), p));
                            Kind::Autorid(pools.len() - 1)
                        }
                    }
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
        for (_, params) in pools {
            opened.push(AutoridEntry {
                params,
                pool: AutoridPool::open(params, mode)?,
                rev: SlotCache::new(params.slots()),
            });
        }
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
            register: Mutex::new(()),
        };
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
        self.domains
            .iter()
            .position(|d| d.name.eq_ignore_ascii_case(name))
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
                self.sss[c]
                    .ctx
                    .add_domain(&dom.name, &sid)
                    .map_err(|source| IdmapError::Sss {
                        domain: dom.name.clone(),
                        source,
                    })?;
            }
            Kind::Autorid(p) => {
                self.pools[p].pool.allocate(&sid, 0)?;
            }
        }
        // Cannot fail: set only here, under the registration lock.
        let _ = dom.sid.set(sid);
        Ok(())
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
                let id = pool.id_for(dom_sid, rid)?;
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
            if let Some(r) = ap.pool.sid_for(id) {
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

fn same_pool(a: Kind, b: Kind) -> bool {
    matches!((a, b), (Kind::Sss(x), Kind::Sss(y)) if x == y)
        || matches!((a, b), (Kind::Autorid(x), Kind::Autorid(y)) if x == y)
}
