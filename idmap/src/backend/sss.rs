//! SSSD's algorithmic mapping (`ldap_id_mapping = true`), reproducing
//! libsss_idmap 2.x decision for decision, so that roster and SSSD give
//! the same IDs with the same settings.
//!
//! How libsss_idmap works, and so how [`SssContext`] works:
//! - A context holds a list of ranges ("slices" of `range_size` IDs).
//!   Adding a domain picks its primary slice: `murmurhash3(domain SID
//!   string, 0xdeadbeef) % ((range_max - range_min) / range_size)`
//!   (slice 0 with `autorid_compat`); if that slice overlaps a range in
//!   the list it probes the next one, wrapping at the end, and fails with
//!   "out of slices" after a full turn. RIDs `0..range_size` map to the
//!   primary slice.
//! - Right after, `helper_table_size` secondary slices are computed the
//!   same way from the strings `"<domain SID>-<first RID>"` (first RID =
//!   `range_size`, `2*range_size`, ...). They are *not* put in the list,
//!   so they do not reserve their IDs; if one cannot be placed, the domain
//!   gets no secondary slices at all.
//! - A RID beyond the slices in the list gets the slice for
//!   `(rid / range_size) * range_size`: the precomputed one if it exists,
//!   else a new one computed against the list as it is now. That slice is
//!   then added to the list, where a collision with any range already there
//!   refuses it (the RID stays unmapped). So secondary slices beyond the
//!   precomputed ones depend on the order lookups happen in, exactly as in
//!   SSSD.
//! - ID to SID looks in the list first, then in the precomputed slices of
//!   each domain (newest domain first), adding the slice it finds to the
//!   list.
//!
//! `tests/sss_compat.rs` checks all of this against the real library.
//!
//! In a [`crate::DomainSet`], all sss domains with identical parameters
//! share one context, as the domains of one AD forest share one in SSSD;
//! so their slices never overlap. (Two separate SSSD `[domain/...]`
//! sections would each have their own context and could overlap on a hash
//! collision; roster refuses to give one ID to two objects, so it probes
//! instead.) sss domains with different parameters must have disjoint
//! pools: [`crate::DomainSet`] refuses overlapping ones.
//!
//! Primary and precomputed secondary slices depend only on the domain
//! SIDs and the order domains are added (configuration order, then the
//! order [`crate::DomainSet::set_domain_sid`] is called); they could differ
//! between two runs when two domains' hashes collide and are added in a
//! different order, so [`crate::DomainSet`] records them in the state
//! directory at first assignment (as SSSD keeps them in its cache) and
//! restores them with [`SssContext::add_recorded_domain`]. Slices made on demand (RIDs beyond
//! `(helper_table_size + 1) * range_size`, 2.2 million by default) also
//! depend on lookup order, as in libsss_idmap itself. Not supported:
//! SSSD's `ldap_idmap_default_domain_sid` (a domain pinned to slice 0)
//! and its automatic addition of unknown trusted domains on first sight.

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use rustc_hash::FxBuildHasher;

use crate::murmur::{murmurhash3_x86_32, SSS_SEED};
use crate::settings::SssParams;
use crate::sid::Sid;

/// A libsss_idmap error, named after its `idmap_error_code`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SssError {
    /// `IDMAP_OUT_OF_SLICES`: every slice of the pool is in use.
    #[error("no free slice left in the pool (IDMAP_OUT_OF_SLICES)")]
    OutOfSlices,
    /// `IDMAP_COLLISION`: the range or domain collides with one already
    /// in the context.
    #[error("the range collides with a range or domain already in use (IDMAP_COLLISION)")]
    Collision,
    /// `IDMAP_NO_DOMAIN`: no domain of the context holds the SID or ID.
    #[error("no domain of this context holds it (IDMAP_NO_DOMAIN)")]
    NoDomain,
    /// `IDMAP_NO_RANGE`: the RID is beyond the domain's ranges and it has
    /// no secondary slices.
    #[error("the RID is outside the domain's slices and no secondary slice can be made (IDMAP_NO_RANGE)")]
    NoRange,
    /// `IDMAP_SID_INVALID`: not `S-1-5-21-X-Y-Z` (domain) or not
    /// domain + one RID (object).
    #[error(
        "the SID is not a domain SID S-1-5-21-X-Y-Z or an object SID of one (IDMAP_SID_INVALID)"
    )]
    SidInvalid,
    /// `IDMAP_BUILTIN_SID`: `S-1-5-32-*` is never mapped.
    #[error("built-in SIDs S-1-5-32-* are not mapped (IDMAP_BUILTIN_SID)")]
    Builtin,
    /// `IDMAP_ERROR`: inconsistent internal state.
    #[error("internal mapping error (IDMAP_ERROR)")]
    Error,
}

impl SssError {
    /// The numeric `enum idmap_error_code` value libsss_idmap returns.
    pub fn code(self) -> u32 {
        match self {
            SssError::Error => 2,
            SssError::NoDomain => 4,
            SssError::SidInvalid => 6,
            SssError::NoRange => 8,
            SssError::Builtin => 9,
            SssError::OutOfSlices => 10,
            SssError::Collision => 11,
        }
    }
}

/// A slice: IDs `min..=max` hold RIDs from `first_rid` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Slice {
    min: u32,
    max: u32,
    first_rid: u32,
}

impl Slice {
    /// libsss_idmap's `comp_id`.
    fn id_for(&self, rid: u32) -> Option<u32> {
        if rid >= self.first_rid && u32::MAX - self.min > rid - self.first_rid {
            let id = self.min + (rid - self.first_rid);
            (id <= self.max).then_some(id)
        } else {
            None
        }
    }

    /// libsss_idmap's `id_is_in_range`: the RID for `id`.
    fn rid_for(&self, id: u32) -> Option<u32> {
        (id != 0 && id >= self.min && id <= self.max)
            .then(|| self.first_rid.wrapping_add(id - self.min))
    }
}

#[derive(Debug, Clone)]
struct Dom {
    name: String,
    sid: Sid,
    sid_str: String,
    /// Slices in the context's list, primary first.
    slices: Vec<Slice>,
    /// Precomputed secondary slices, by range identifier.
    helpers: Vec<(String, Slice)>,
    auto_add: bool,
}

/// One libsss_idmap context: a pool of slices shared by its domains.
#[derive(Debug, Clone)]
pub struct SssContext {
    params: SssParams,
    doms: Vec<Dom>,
    /// Every slice in the list, by first ID: (min, (dom, slice)).
    by_min: BTreeMap<u32, (usize, Slice)>,
    /// Domain SID → index in `doms`.
    by_sid: HashMap<Sid, usize, FxBuildHasher>,
    /// First ID of a precomputed secondary slice → (dom, helper index), in
    /// the order they were computed.
    helper_at: HashMap<u32, Vec<(usize, usize)>, FxBuildHasher>,
}

/// What a read-only lookup found.
enum Found<T> {
    Done(Result<T, SssError>),
    NeedsSlice,
}

impl SssContext {
    /// An empty context with these parameters (validated by
    /// [`crate::IdmapSettings::validate`]: `range_size > 0`, at least one
    /// slice).
    pub fn new(params: SssParams) -> SssContext {
        SssContext {
            params,
            doms: Vec::new(),
            by_min: BTreeMap::new(),
            by_sid: HashMap::default(),
            helper_at: HashMap::default(),
        }
    }

    /// The parameters.
    pub fn params(&self) -> &SssParams {
        &self.params
    }

    /// `sss_idmap_calculate_range` with an automatic slice: the range the
    /// identifier `range_id` would get now.
    pub fn calculate_range(&self, range_id: &str) -> Result<(u32, u32), SssError> {
        let p = &self.params;
        let max_slices = p.slices();
        let (mut new, orig) = if p.autorid_compat {
            (0, 0)
        } else {
            let h = murmurhash3_x86_32(range_id.as_bytes(), SSS_SEED) % max_slices;
            (h, h)
        };
        loop {
            let min = p.range_size.wrapping_mul(new).wrapping_add(p.range_min);
            let max = min.wrapping_add(p.range_size).wrapping_sub(1);
            if !self.overlaps_any(min, max) {
                return Ok((min, max));
            }
            new += 1;
            if new >= max_slices {
                new = 0;
            }
            if new == orig {
                return Err(SssError::OutOfSlices);
            }
        }
    }

    /// libsss_idmap's `check_overlap` against every range in the list.
    fn overlaps_any(&self, min: u32, max: u32) -> bool {
        // Ranges in the list never overlap each other, so only the last
        // range starting at or before `max` can overlap [min, max], plus
        // one starting inside it.
        if let Some((_, (_, r))) = self.by_min.range(..=max).next_back() {
            if (r.min <= min && r.max >= max)
                || (r.min >= min && r.min <= max)
                || (r.max >= min && r.max <= max)
            {
                return true;
            }
        }
        false
    }

    /// `sss_idmap_add_domain_ex`'s collision check of a new range `n` for
    /// the domain (name, sid string), `dom` when it is already in the
    /// context. libsss_idmap compares with every range in its list; the
    /// same answer comes faster from these facts: ranges in the list are
    /// disjoint (so only the ranges holding `n.min` or `n.max` matter),
    /// and no two domains share a name or a SID (the check refused it), so
    /// name/SID consistency only needs checking for a new domain and RID
    /// overlap only against the domain's own ranges.
    fn check_collision(
        &self,
        dom: Option<usize>,
        name: &str,
        sid_str: &str,
        n: &Slice,
    ) -> Result<(), SssError> {
        for probe in [n.min, n.max] {
            if let Some((_, (_, o))) = self.by_min.range(..=probe).next_back() {
                if probe >= o.min && probe <= o.max {
                    return Err(SssError::Collision);
                }
            }
        }
        let rid_overlap = |d: &Dom| {
            d.slices.iter().any(|o| {
                n.first_rid >= o.first_rid && n.first_rid <= o.first_rid.wrapping_add(o.max - o.min)
            })
        };
        match dom {
            Some(d) => {
                if rid_overlap(&self.doms[d]) {
                    return Err(SssError::Collision);
                }
            }
            None => {
                for od in &self.doms {
                    let names_equal = name.eq_ignore_ascii_case(&od.name);
                    let sids_equal = sid_str.eq_ignore_ascii_case(&od.sid_str);
                    if names_equal != sids_equal || (names_equal && rid_overlap(od)) {
                        return Err(SssError::Collision);
                    }
                }
            }
        }
        Ok(())
    }

    fn push_slice(&mut self, dom: usize, s: Slice) {
        self.doms[dom].slices.push(s);
        self.by_min.insert(s.min, (dom, s));
    }

    /// What SSSD does for a new domain: `sss_idmap_calculate_range` then
    /// `sss_idmap_add_auto_domain_ex` (first RID 0, algorithmic). Returns
    /// the primary slice.
    pub fn add_domain(&mut self, name: &str, sid: &Sid) -> Result<(u32, u32), SssError> {
        if !sid.is_nt_domain_sid() {
            return Err(SssError::SidInvalid);
        }
        let sid_str = sid.to_string();
        let (min, max) = self.calculate_range(&sid_str)?;
        let primary = Slice {
            min,
            max,
            first_rid: 0,
        };
        self.check_collision(None, name, &sid_str, &primary)?;
        self.doms.push(Dom {
            name: name.to_string(),
            sid: *sid,
            sid_str: sid_str.clone(),
            slices: Vec::new(),
            helpers: Vec::new(),
            auto_add: false,
        });
        let dom = self.doms.len() - 1;
        self.by_sid.insert(*sid, dom);
        self.push_slice(dom, primary);
        let size = self.params.range_size;
        let mut helpers = Vec::with_capacity(self.params.helper_table_size as usize);
        let mut first_rid = size;
        for _ in 0..self.params.helper_table_size {
            let id = format!("{sid_str}-{first_rid}");
            match self.calculate_range(&id) {
                Ok((min, max)) => helpers.push((
                    id,
                    Slice {
                        min,
                        max,
                        first_rid,
                    },
                )),
                // Running out of slices for helpers is not fatal: the
                // domain simply gets no secondary slices.
                Err(_) => return Ok((min, max)),
            }
            first_rid = first_rid.wrapping_add(size);
        }
        for (i, (_, h)) in helpers.iter().enumerate() {
            self.helper_at.entry(h.min).or_default().push((dom, i));
        }
        let d = &mut self.doms[dom];
        d.auto_add = !helpers.is_empty();
        d.helpers = helpers;
        Ok((min, max))
    }

    /// The slices domain `sid` got when it was added: the first ID of its
    /// primary slice and of each precomputed secondary slice (what
    /// `state_dir` records so that a restart gives the same ones).
    pub fn domain_slices(&self, sid: &Sid) -> Option<(u32, Vec<u32>)> {
        let d = &self.doms[*self.by_sid.get(sid)?];
        let primary = d.slices.iter().find(|s| s.first_rid == 0)?.min;
        Some((primary, d.helpers.iter().map(|(_, h)| h.min).collect()))
    }

    /// Adds a domain with the slices recorded for it earlier (see
    /// [`SssContext::domain_slices`]) instead of computing them: the
    /// primary slice starting at `primary` and the precomputed secondary
    /// slices starting at `helpers` (first RIDs `range_size`,
    /// `2*range_size`, ...). Refuses slices outside the pool, not aligned
    /// on a slice, or colliding with a range already in the context.
    pub fn add_recorded_domain(
        &mut self,
        name: &str,
        sid: &Sid,
        primary: u32,
        helpers: &[u32],
    ) -> Result<(), SssError> {
        if !sid.is_nt_domain_sid() {
            return Err(SssError::SidInvalid);
        }
        let p = self.params;
        let (low, high) = p.span();
        let slice_at = |min: u32, first_rid: u32| -> Result<Slice, SssError> {
            if min < low || min > high || !(min - p.range_min).is_multiple_of(p.range_size) {
                return Err(SssError::Collision);
            }
            Ok(Slice {
                min,
                max: min + (p.range_size - 1),
                first_rid,
            })
        };
        let sid_str = sid.to_string();
        let prim = slice_at(primary, 0)?;
        self.check_collision(None, name, &sid_str, &prim)?;
        let mut hs = Vec::with_capacity(helpers.len());
        let mut first_rid = p.range_size;
        for h in helpers {
            hs.push((format!("{sid_str}-{first_rid}"), slice_at(*h, first_rid)?));
            first_rid = first_rid.wrapping_add(p.range_size);
        }
        self.doms.push(Dom {
            name: name.to_string(),
            sid: *sid,
            sid_str,
            slices: Vec::new(),
            helpers: Vec::new(),
            auto_add: false,
        });
        let dom = self.doms.len() - 1;
        self.by_sid.insert(*sid, dom);
        self.push_slice(dom, prim);
        for (i, (_, h)) in hs.iter().enumerate() {
            self.helper_at.entry(h.min).or_default().push((dom, i));
        }
        let d = &mut self.doms[dom];
        d.auto_add = !hs.is_empty();
        d.helpers = hs;
        Ok(())
    }

    /// Every slice of every domain, in the list or precomputed:
    /// (domain SID, first RID, first ID, last ID), sorted.
    pub fn all_slices(&self) -> Vec<(Sid, u32, u32, u32)> {
        let mut v: Vec<(Sid, u32, u32, u32)> = Vec::new();
        for d in &self.doms {
            for s in d.slices.iter().chain(d.helpers.iter().map(|(_, h)| h)) {
                let row = (d.sid, s.first_rid, s.min, s.max);
                if !v.contains(&row) {
                    v.push(row);
                }
            }
        }
        v.sort();
        v
    }

    /// The domains of the context, in the order they were added:
    /// (name, SID).
    pub fn domains(&self) -> impl Iterator<Item = (&str, &Sid)> {
        self.doms.iter().map(|d| (d.name.as_str(), &d.sid))
    }

    /// The first ID of the slice holding RID block `k` (RIDs
    /// `k*range_size ..`) of domain `domain`, when every slice of that
    /// domain is aligned on such blocks (so the slice is the only one that
    /// can answer for them). Used to cache answers without a lock.
    pub fn aligned_block_min(&self, domain: &Sid, k: u32) -> Option<u32> {
        let size = u64::from(self.params.range_size);
        let d = self.doms.iter().find(|d| d.sid == *domain)?;
        if d.slices.iter().any(|s| u64::from(s.first_rid) % size != 0) {
            return None;
        }
        d.slices
            .iter()
            .find(|s| u64::from(s.first_rid) == u64::from(k) * size)
            .map(|s| s.min)
    }

    fn find_id(&self, sid: &Sid) -> (Option<usize>, Found<u32>) {
        let subs = sid.sub_authorities();
        if sid.authority() == 5 && subs.len() >= 2 && subs[0] == 32 {
            return (None, Found::Done(Err(SssError::Builtin)));
        }
        // Every domain SID here is S-1-5-21-X-Y-Z: the only domain that can
        // prefix `sid` is the one made of its first four sub-authorities.
        if sid.authority() != 5 || subs.len() < 5 || subs[0] != 21 {
            return (None, Found::Done(Err(SssError::NoDomain)));
        }
        let Ok(dom_sid) = Sid::new(5, &subs[..4]) else {
            return (None, Found::Done(Err(SssError::NoDomain)));
        };
        let Some(&i) = self.by_sid.get(&dom_sid) else {
            return (None, Found::Done(Err(SssError::NoDomain)));
        };
        if subs.len() != 5 {
            return (None, Found::Done(Err(SssError::SidInvalid)));
        }
        let d = &self.doms[i];
        let rid = subs[4];
        for s in &d.slices {
            if let Some(id) = s.id_for(rid) {
                return (Some(i), Found::Done(Ok(id)));
            }
        }
        if d.auto_add {
            (Some(i), Found::NeedsSlice)
        } else {
            (Some(i), Found::Done(Err(SssError::NoRange)))
        }
    }

    /// `sss_idmap_sid_to_unix` without changing the context: `None` when
    /// the answer needs a new secondary slice (use
    /// [`SssContext::sid_to_id`]).
    pub fn lookup_id(&self, sid: &Sid) -> Option<Result<u32, SssError>> {
        match self.find_id(sid).1 {
            Found::Done(r) => Some(r),
            Found::NeedsSlice => None,
        }
    }

    /// `sss_idmap_sid_to_unix`: the UID/GID of an object SID, adding a
    /// secondary slice when the RID needs one.
    pub fn sid_to_id(&mut self, sid: &Sid) -> Result<u32, SssError> {
        match self.find_id(sid) {
            (_, Found::Done(r)) => r,
            (Some(dom), Found::NeedsSlice) => {
                let rid = sid.rid().ok_or(SssError::SidInvalid)?;
                self.add_slice_for_rid(dom, rid)
            }
            (None, Found::NeedsSlice) => Err(SssError::Error),
        }
    }

    /// libsss_idmap's `add_dom_for_sid`.
    fn add_slice_for_rid(&mut self, dom: usize, rid: u32) -> Result<u32, SssError> {
        let size = u64::from(self.params.range_size);
        let first_rid = ((u64::from(rid) / size) * size) as u32;
        let d = &self.doms[dom];
        let id = format!("{}-{}", d.sid_str, first_rid);
        let slice = match d.helpers.iter().find(|(h, _)| *h == id) {
            Some((_, s)) => *s,
            None => {
                let (min, max) = self.calculate_range(&id)?;
                Slice {
                    min,
                    max,
                    first_rid,
                }
            }
        };
        self.spawn(dom, slice)?;
        slice.id_for(rid).ok_or(SssError::Error)
    }

    /// libsss_idmap's `spawn_dom`: put a domain's secondary slice in the list.
    fn spawn(&mut self, dom: usize, slice: Slice) -> Result<(), SssError> {
        self.check_collision(Some(dom), "", "", &slice)?;
        self.push_slice(dom, slice);
        Ok(())
    }

    fn find_sid(&self, id: u32) -> Found<(usize, u32)> {
        if let Some((_, (dom, s))) = self.by_min.range(..=id).next_back() {
            if let Some(rid) = s.rid_for(id) {
                return Found::Done(Ok((*dom, rid)));
            }
        }
        if self.helper_for(id).is_some() {
            return Found::NeedsSlice;
        }
        Found::Done(Err(SssError::NoDomain))
    }

    /// libsss_idmap's second pass of `sss_idmap_unix_to_sid`: the first
    /// precomputed slice holding `id`, newest domain first, each domain's
    /// slices in order. Slices are aligned on `range_min + k*range_size`,
    /// so the candidates are those starting where `id`'s slice starts.
    fn helper_for(&self, id: u32) -> Option<(usize, Slice)> {
        let p = &self.params;
        if id < p.range_min {
            return None;
        }
        let start = p.range_min + (id - p.range_min) / p.range_size * p.range_size;
        let cands = self.helper_at.get(&start)?;
        let (dom, idx) = cands
            .iter()
            .copied()
            .max_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)))?;
        let h = self.doms[dom].helpers[idx].1;
        h.rid_for(id).map(|_| (dom, h))
    }

    /// `sss_idmap_unix_to_sid` without changing the context: `None` when
    /// the answer needs a precomputed secondary slice put in the list (use
    /// [`SssContext::id_to_sid`]).
    pub fn lookup_sid(&self, id: u32) -> Option<Result<Sid, SssError>> {
        match self.find_sid(id) {
            Found::Done(r) => Some(r.and_then(|(d, rid)| self.make_sid(d, rid))),
            Found::NeedsSlice => None,
        }
    }

    fn make_sid(&self, dom: usize, rid: u32) -> Result<Sid, SssError> {
        self.doms[dom]
            .sid
            .with_rid(rid)
            .map_err(|_| SssError::Error)
    }

    /// `sss_idmap_unix_to_sid`: the SID of a UID/GID, putting a
    /// precomputed secondary slice in the list when that is where it lies.
    pub fn id_to_sid(&mut self, id: u32) -> Result<Sid, SssError> {
        match self.find_sid(id) {
            Found::Done(r) => r.and_then(|(d, rid)| self.make_sid(d, rid)),
            Found::NeedsSlice => match self.helper_for(id) {
                Some((dom, slice)) => {
                    let rid = slice.rid_for(id).ok_or(SssError::Error)?;
                    self.spawn(dom, slice)?;
                    self.make_sid(dom, rid)
                }
                None => Err(SssError::NoDomain),
            },
        }
    }
}

/// An [`SssContext`] behind a lock: lookups that need no new slice share a
/// read lock.
#[derive(Debug)]
pub struct SharedSss(RwLock<SssContext>);

impl SharedSss {
    /// Wraps a context.
    pub fn new(ctx: SssContext) -> SharedSss {
        SharedSss(RwLock::new(ctx))
    }

    /// See [`SssContext::sid_to_id`].
    pub fn sid_to_id(&self, sid: &Sid) -> Result<u32, SssError> {
        if let Some(r) = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .lookup_id(sid)
        {
            return r;
        }
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .sid_to_id(sid)
    }

    /// See [`SssContext::id_to_sid`].
    pub fn id_to_sid(&self, id: u32) -> Result<Sid, SssError> {
        if let Some(r) = self
            .0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .lookup_sid(id)
        {
            return r;
        }
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .id_to_sid(id)
    }

    /// See [`SssContext::aligned_block_min`].
    pub fn aligned_block_min(&self, domain: &Sid, k: u32) -> Option<u32> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .aligned_block_min(domain, k)
    }

    /// The context's parameters.
    pub fn params(&self) -> SssParams {
        *self.0.read().unwrap_or_else(|e| e.into_inner()).params()
    }

    /// See [`SssContext::add_recorded_domain`].
    pub fn add_recorded_domain(
        &self,
        name: &str,
        sid: &Sid,
        primary: u32,
        helpers: &[u32],
    ) -> Result<(), SssError> {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_recorded_domain(name, sid, primary, helpers)
    }

    /// See [`SssContext::all_slices`].
    pub fn all_slices(&self) -> Vec<(Sid, u32, u32, u32)> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .all_slices()
    }

    /// See [`SssContext::domain_slices`].
    pub fn domain_slices(&self, sid: &Sid) -> Option<(u32, Vec<u32>)> {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .domain_slices(sid)
    }

    /// Whether domain `sid` is in the context.
    pub fn has_domain(&self, sid: &Sid) -> bool {
        self.0
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .by_sid
            .contains_key(sid)
    }

    /// See [`SssContext::add_domain`].
    pub fn add_domain(&self, name: &str, sid: &Sid) -> Result<(u32, u32), SssError> {
        self.0
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .add_domain(name, sid)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid(s: &str) -> Sid {
        s.parse().unwrap()
    }

    #[test]
    fn primary_slice_from_hash() {
        let mut c = SssContext::new(SssParams::default());
        let d = sid("S-1-5-21-1-2-3");
        let (min, max) = c.add_domain("a", &d).unwrap();
        let h = murmurhash3_x86_32(b"S-1-5-21-1-2-3", SSS_SEED) % 10_000;
        assert_eq!(min, 200_000 + h * 200_000);
        assert_eq!(max, min + 199_999);
        assert_eq!(c.sid_to_id(&d.with_rid(0).unwrap()), Ok(min));
        assert_eq!(c.sid_to_id(&d.with_rid(199_999).unwrap()), Ok(max));
        assert_eq!(c.id_to_sid(min + 500), Ok(d.with_rid(500).unwrap()));
        assert_eq!(c.id_to_sid(0), Err(SssError::NoDomain));
    }

    #[test]
    fn same_hash_probes_next_slice() {
        let p = SssParams {
            autorid_compat: true,
            helper_table_size: 0,
            ..SssParams::default()
        };
        let mut c = SssContext::new(p);
        assert_eq!(
            c.add_domain("a", &sid("S-1-5-21-1-2-3")).unwrap().0,
            200_000
        );
        assert_eq!(
            c.add_domain("b", &sid("S-1-5-21-1-2-4")).unwrap().0,
            400_000
        );
        assert_eq!(
            c.sid_to_id(&sid("S-1-5-21-1-2-4-200000")),
            Err(SssError::NoRange)
        );
        assert_eq!(
            c.add_domain("b", &sid("S-1-5-21-1-2-5")),
            Err(SssError::Collision)
        );
    }
}
