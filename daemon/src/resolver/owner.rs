//! Who owns a name and an ID: the rules that make every answer a function
//! of the configuration and the directory, never of earlier lookups.
//!
//! * A short name belongs to the first enabled domain, in configuration
//!   order, that holds it (any spelling, for a case-insensitive domain).
//!   An entry of a later domain whose name is taken is served only as
//!   `name@domain`, everywhere (by name, by ID, in member lists).
//! * An ID belongs to the first domain that holds it; within a domain, to
//!   the entry the directory answers for that ID, and only when the same
//!   entry is the one the directory answers for its name (the directory
//!   refuses a name or ID several entries claim, so such entries are all
//!   refused). Any other entry claiming it is refused. (Active Directory
//!   keeps account names unique itself: there the name is not asked again;
//!   nor is the ID when it is derived from the SID.)
//! * Local accounts win ([`super::local`]): directory entries whose name or
//!   ID is local, or whose ID is reserved, are refused.
//!
//! "Holds" is decided on the domains' raw answers (cached per domain and
//! question); a refused entry still holds its name and ID, so refusing it
//! never hands them to a later domain.
//!
//! Refused entries are logged once (domain, DN, reason) and listed by
//! [`Resolver::refused_entries`].

use super::at_odds::{self, AtOdds};
use super::local::{LocalSlot, LocalView};
use super::record_later::LeftKind;
use super::{DomainError, InDomain, Provider, Resolver, Settings, Source};
use crate::cache::{CacheKey, GroupEntry, Key, UserEntry, Value};
use crate::census::Census;
use crate::store::StoredValue;
use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::task::Poll;

/// One lookup's view: the domains and settings it started with, and what
/// its answer depends on.
pub(super) struct Ctx {
    /// The enabled domains, in configuration order.
    pub domains: Arc<Vec<Arc<dyn Provider>>>,
    /// Settings.
    pub settings: Arc<Settings>,
    /// Freshness of the answer: the earliest expiry of what it rests on.
    pub until: u64,
    /// Until when the decided answer may be reused as it is: the earliest
    /// moment one of the answers it rests on is refreshed or expires.
    pub reuse_until: u64,
    /// Some part of the answer came from offline data.
    pub offline: bool,
    /// Every domain asked answered "no such object" to the key the lookup
    /// walked them for (an initgroups: its user's name): a "not found"
    /// then rests on those answers alone (fresh until `until`; offline
    /// data makes that 0), not on a refusal.
    pub absent: bool,
    /// How many domain answers the lookup looked at (what deciding it
    /// again would cost).
    pub probes: usize,
    /// Fresh "no such object" answers the result depends on; persisted
    /// so that a restart with that domain down answers the same.
    negatives: Vec<CacheKey>,
    /// The local accounts the lookup judges by (one version of the files
    /// for the whole lookup, read when first needed).
    pub local: LocalSlot,
    /// Work done after the answers (only the contexts of
    /// [`super::record_later`]): its batch searches are paced
    /// ([`Resolver::paced`]).
    pub paced: bool,
    /// The decisions' clears counted when the context was made
    /// ([`super::decided::Decisions::clears`]): what the lookup decides
    /// is not kept once they were cleared again.
    pub clears: u64,
}

/// A domain's raw answer to one question.
pub(super) enum Probe {
    Holds(Value, Source),
    Free,
    Failed(DomainError),
}

/// How an entry was asked for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Via {
    /// By its name; `qualified` when asked as `name@domain`.
    Name { qualified: bool },
    /// By its ID.
    Id,
}

/// A lookup's outcome: `Err` is "unavailable", `Ok(None)` not found.
pub(super) type Served<T> = Result<Option<T>, DomainError>;

/// What a census decides of one of a user's GIDs
/// ([`Resolver::census_decided_gids`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum GidVerdict {
    /// Served for the domain: no search before the answer.
    Served,
    /// An earlier domain holds it: not served.
    Held,
    /// Not decided: [`Resolver::gid_served_by`] decides.
    Open,
}

fn same_entry(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// True when `name` already carries this domain (`x@domain`).
pub(super) fn is_qualified(name: &str, domain: &str) -> bool {
    // (Shorter than `x@domain`: not qualified, without a search for '@';
    // most member names are.)
    name.len() > domain.len() + 1
        && name
            .rsplit_once('@')
            .is_some_and(|(base, d)| !base.is_empty() && d.eq_ignore_ascii_case(domain))
}

impl Ctx {
    fn domain(&self, i: usize) -> &Arc<dyn Provider> {
        &self.domains[i]
    }

    /// A context over `domains`, `settings` and the local accounts of
    /// `local`, nothing noted yet.
    pub(super) fn new(
        domains: Arc<Vec<Arc<dyn Provider>>>,
        settings: Arc<Settings>,
        local: LocalSlot,
    ) -> Ctx {
        Ctx {
            domains,
            settings,
            until: u64::MAX,
            reuse_until: u64::MAX,
            offline: false,
            absent: false,
            probes: 0,
            negatives: Vec::new(),
            local,
            paced: false,
            clears: 0,
        }
    }

    /// Notes that the answer rests on a domain's answer fresh until
    /// `until`: a positive one (`found`) is refreshed in the background
    /// from the last quarter of its life ([`Resolver::cached`]), a
    /// negative one when it expires.
    pub(super) fn rests_on(&mut self, until: u64, found: bool) {
        self.until = self.until.min(until);
        let ttl = self.settings.entry_ttl_ms;
        let changes = if found {
            until.saturating_sub(ttl - super::refresh_after_ms(ttl))
        } else {
            until
        };
        self.reuse_until = self.reuse_until.min(changes);
    }
}

impl Resolver {
    /// A context over the current domains and settings; the local
    /// accounts are read while the first search of
    /// [`Resolver::walk_domains`] is out, or when first used.
    pub(super) fn ctx(&self) -> Ctx {
        self.ctx_judging_by(None)
    }

    /// [`Resolver::ctx`] for work done after the answers
    /// ([`super::record_later`]): its batch searches are paced.
    pub(super) fn paced_ctx(&self) -> Ctx {
        Ctx {
            paced: true,
            ..self.ctx()
        }
    }

    /// [`Resolver::ctx`] judging by the local accounts `read` (read
    /// already, to check a decided answer), or reading them when first
    /// needed.
    pub(super) fn ctx_judging_by(&self, read: Option<LocalView>) -> Ctx {
        let accounts = self.inner.local.clone();
        let local = match read {
            Some(view) => LocalSlot::with_view(accounts, view),
            None => LocalSlot::new(accounts),
        };
        // (Counted before the domains are read: a flush or a reload from
        // then on keeps what this lookup decides from being kept.)
        let clears = self.inner.decided.clears();
        Ctx {
            clears,
            ..Ctx::new(self.domains(), self.settings(), local)
        }
    }

    /// The answer's source, given where the entry itself came from.
    pub(super) fn source_of(cx: &Ctx, src: Source) -> Source {
        if cx.offline {
            Source::Offline
        } else {
            src
        }
    }

    /// Asks domain `i` (through the cache) and notes what the answer rests on.
    pub(super) async fn probe(&self, cx: &mut Ctx, i: usize, key: Key) -> Probe {
        let d = cx.domain(i).clone();
        let answer = self.in_domain(&d, key.clone(), None).await;
        Self::note(cx, &d, key, answer)
    }

    /// [`Resolver::probe`] for many keys of domain `i` (a large group's
    /// members), in the order of `keys`: the answers each key would get on
    /// its own, but the keys not fresh in the cache are asked
    /// [`super::fetch::BATCH`] at a time in one provider call
    /// ([`Resolver::answers_many`]).
    async fn probe_many(&self, cx: &mut Ctx, i: usize, keys: Vec<Key>) -> Vec<Probe> {
        let d = cx.domain(i).clone();
        let answers = self.answers_many(&d, &keys, cx.paced).await;
        keys.into_iter()
            .zip(answers)
            .map(|(k, a)| Self::note(cx, &d, k, a))
            .collect()
    }

    /// Notes what `answer` (domain `d`'s to `key`) means for the lookup.
    fn note(cx: &mut Ctx, d: &Arc<dyn Provider>, key: Key, answer: InDomain) -> Probe {
        cx.probes += 1;
        match answer {
            InDomain::Found(v, src, until) => {
                cx.rests_on(until, true);
                cx.offline |= src == Source::Offline;
                Probe::Holds(v, src)
            }
            InDomain::Missing(until) => {
                cx.rests_on(until, false);
                if until > 0 {
                    cx.negatives.push(CacheKey::new(Arc::from(d.name()), key));
                } else {
                    cx.offline = true;
                }
                Probe::Free
            }
            InDomain::Failed(e) => Probe::Failed(DomainError::new(d.name(), e)),
        }
    }

    /// Asks domain `only` (or every domain in order) until one holds the
    /// object: its index and raw value.
    pub(super) async fn walk_domains(
        &self,
        cx: &mut Ctx,
        only: Option<usize>,
        key: Key,
    ) -> Served<(usize, Value, Source)> {
        let range = match only {
            Some(i) => i..i + 1,
            None => 0..cx.domains.len(),
        };
        for i in range {
            match self.probe_reading_local(cx, i, key.clone()).await {
                Probe::Holds(v, src) => return Ok(Some((i, v, src))),
                Probe::Free => continue,
                Probe::Failed(r) => return Err(r),
            }
        }
        Ok(None)
    }

    /// [`Resolver::probe`], reading the lookup's local accounts, when they
    /// are not read yet, while the probe waits for the domain: after the
    /// probe's first step, which hands its search to the connection's
    /// task, and after that task's turn, which writes it (the task was
    /// woken first). The two `stat`s then fall in the server's time instead
    /// of before the search. A probe answered at once (from the cache)
    /// leaves them to the next probe's search, or to their first use.
    async fn probe_reading_local(&self, cx: &mut Ctx, i: usize, key: Key) -> Probe {
        // (One probe future for both ways: the lookup's future holds it.)
        let accounts = (!cx.local.is_read()).then(|| cx.local.accounts().clone());
        let mut view = None;
        let probe = {
            let mut probe = std::pin::pin!(self.probe(cx, i, key));
            match accounts {
                None => probe.await,
                Some(accounts) => {
                    match std::future::poll_fn(|c| Poll::Ready(probe.as_mut().poll(c))).await {
                        Poll::Ready(p) => p,
                        Poll::Pending => {
                            tokio::task::yield_now().await;
                            view = Some(accounts.view());
                            probe.await
                        }
                    }
                }
            }
        };
        if let Some(v) = view {
            cx.local.fill(v);
        }
        probe
    }

    /// True when one of the domains before `i` holds `key`.
    async fn held_before(
        &self,
        cx: &mut Ctx,
        i: usize,
        key: &Key,
    ) -> Result<Option<Value>, DomainError> {
        for j in 0..i {
            match self.probe(cx, j, key.clone()).await {
                Probe::Holds(v, _) => return Ok(Some(v)),
                Probe::Free => {}
                Probe::Failed(r) => return Err(r),
            }
        }
        Ok(None)
    }

    /// [`Resolver::held_before`] for many items at once (asked in batches,
    /// [`Resolver::probe_many`]): `items` split into those no domain
    /// before `i` holds the key of (`key_of`), in their order, and those
    /// one holds, with that domain's answer.
    async fn held_before_many<T>(
        &self,
        cx: &mut Ctx,
        i: usize,
        items: Vec<T>,
        key_of: impl Fn(&T) -> Key,
    ) -> Result<(Vec<T>, Vec<(T, Value)>), DomainError> {
        let mut free = items;
        let mut held = Vec::new();
        for j in 0..i {
            if free.is_empty() {
                break;
            }
            let keys = free.iter().map(&key_of).collect();
            let answers = self.probe_many(cx, j, keys).await;
            let mut still = Vec::with_capacity(free.len());
            for (t, a) in free.into_iter().zip(answers) {
                match a {
                    Probe::Free => still.push(t),
                    Probe::Holds(v, _) => held.push((t, v)),
                    Probe::Failed(r) => return Err(r),
                }
            }
            free = still;
        }
        Ok((free, held))
    }

    /// Persists the negative answers a decided answer rests on (see [`Ctx`]).
    pub(super) fn remember_negatives(&self, cx: &mut Ctx) {
        let Some(store) = &self.inner.store else {
            return;
        };
        let now = self.inner.clock.now_ms();
        let ttl = cx.settings.negative_ttl_ms;
        for k in cx.negatives.drain(..) {
            let sk = k.store_key();
            match store.get(&sk) {
                Some((at, StoredValue::Missing)) if now.saturating_sub(at) < ttl => {}
                _ => self.persist(sk, now, Box::new(StoredValue::Missing)),
            }
        }
    }

    /// Logs a refused entry (once per DN and reason) and lists it.
    pub(super) fn refuse(&self, domain: &str, dn: &str, reason: String) {
        let mut refused = self.inner.refused.lock().unwrap_or_else(|e| e.into_inner());
        let key = (domain.to_string(), dn.to_ascii_lowercase());
        if refused.get(&key) != Some(&reason) {
            tracing::warn!(%domain, %dn, %reason, "directory entry not served");
            refused.insert(key, reason);
        }
    }

    /// Entries refused so far: (domain, DN in lower case, reason).
    pub fn refused_entries(&self) -> Vec<(String, String, String)> {
        let refused = self.inner.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused
            .iter()
            .map(|((d, dn), r)| (d.clone(), dn.clone(), r.clone()))
            .collect()
    }

    /// Why the directory user `u` is never served because of local
    /// accounts or reserved IDs (for PAM: a user shadowed by a local one
    /// is refused), `None` when local accounts leave it alone.
    pub fn local_refusal_of_user(&self, u: &UserEntry) -> Option<String> {
        self.local_user_refusal(&u.domain, &u.user.name, u.user.uid)
    }

    /// Why user `name` (short name) with `uid` of `domain` is never served
    /// because of local accounts or reserved IDs; names compare the way
    /// that domain compares them.
    pub fn local_user_refusal(&self, domain: &str, name: &str, uid: u32) -> Option<String> {
        let ci = self
            .domains()
            .iter()
            .find(|d| d.name() == domain)
            .is_some_and(|d| d.case_insensitive());
        self.inner.local.user_refusal(name, uid, ci)
    }

    /// True when `name` is a user in `/etc/passwd`.
    pub fn is_local_user(&self, name: &str) -> bool {
        self.inner.local.users().get(name).is_some()
    }

    /// The served form of domain `i`'s user `raw`, or `None` when it is
    /// not served (see the module docs).
    pub(super) async fn serve_user(
        &self,
        cx: &mut Ctx,
        i: usize,
        raw: Arc<UserEntry>,
        via: Via,
    ) -> Served<Arc<UserEntry>> {
        let entry = Owned {
            kind: EntryKind::User,
            dn: &raw.dn,
            name: &raw.user.name,
            id: raw.user.uid,
        };
        let value = Value::User(raw.clone());
        let Some(name) = self.served_as(cx, i, entry, &value, via).await? else {
            return Ok(None);
        };
        if name == raw.user.name {
            return Ok(Some(raw));
        }
        let mut u = (*raw).clone();
        u.user.name = name;
        Ok(Some(Arc::new(u)))
    }

    /// The name under which domain `i`'s `entry` is served, or `None` when
    /// it is not served (`raw`: the entry as the domain answered it): below
    /// `min_id` or ignored, shadowed by a local
    /// account or a reserved ID, its ID held by an earlier domain or by
    /// another entry, or (asked by ID) its name answering another entry.
    /// Refusals are logged once with the entry's DN.
    async fn served_as(
        &self,
        cx: &mut Ctx,
        i: usize,
        entry: Owned<'_>,
        raw: &Value,
        via: Via,
    ) -> Served<String> {
        let Owned { kind, dn, name, id } = entry;
        let s = cx.settings.clone();
        let ignored = match kind {
            EntryKind::User => s.ignore_users.contains(name),
            EntryKind::Group => s.ignore_groups.contains(name),
        };
        if id < s.min_id || ignored {
            return Ok(None);
        }
        let d = cx.domain(i).clone();
        let ci = d.case_insensitive();
        let local = match kind {
            EntryKind::User => cx.local.get().user_refusal(name, id, ci),
            EntryKind::Group => cx.local.get().group_refusal(name, id, ci),
        };
        if let Some(reason) = local {
            self.refuse(d.name(), dn, reason);
            return Ok(None);
        }
        let word = kind.id_word();
        if via != Via::Id {
            if let Some(v) = self.held_before(cx, i, &kind.id_key(id)).await? {
                let other = owner_desc(&v);
                self.refuse(d.name(), dn, format!("{word} {id} is already {other}"));
                return Ok(None);
            }
            // (IDs derived from SIDs are unique by construction: no search;
            // nor when the census shows the entry as the ID's only holder.)
            if !d.unique_ids() && !self.census_vouches(cx, i, raw, Claim::Id(id)) {
                match self.probe(cx, i, kind.id_key(id)).await {
                    Probe::Holds(v, _) if kind.is_entry(&v, dn) => {}
                    Probe::Holds(v, _) => {
                        let other = owner_desc(&v);
                        self.refuse(d.name(), dn, format!("{word} {id} is already {other}"));
                        return Ok(None);
                    }
                    Probe::Free => {
                        let reason =
                            format!("the directory answers no single entry for {word} {id}");
                        self.refuse(d.name(), dn, reason);
                        return Ok(None);
                    }
                    Probe::Failed(r) => return Err(r),
                }
            }
        } else if !ci && !self.census_vouches(cx, i, raw, Claim::Name(name)) {
            // (Active Directory keeps account names unique: no check.)
            match self.probe(cx, i, kind.name_key(name)).await {
                Probe::Holds(v, _) if kind.is_entry(&v, dn) => {}
                Probe::Holds(..) | Probe::Free => {
                    let reason =
                        format!("the directory answers another or no entry for its name {name:?}");
                    self.refuse(d.name(), dn, reason);
                    return Ok(None);
                }
                Probe::Failed(r) => return Err(r),
            }
        }
        Ok(
            match self
                .served_name(cx, i, name, kind == EntryKind::User)
                .await?
            {
                Some(n) => Some(n),
                None if via == (Via::Name { qualified: false }) => None,
                None => Some(format!("{name}@{}", d.name())),
            },
        )
    }

    /// True when domain `i`'s census ([`crate::census`]) shows `raw` (the
    /// entry found) as the only holder of `claim`: the search that would
    /// check it is not needed, and the answer rests on the census until it
    /// expires. The entry is then recorded as the domain's answer to that
    /// other question too, as the search would have recorded it, so that
    /// asking it next gives the same entry. A fresh cached answer to that
    /// question is used instead of the census (the check then costs a
    /// cache hit).
    fn census_vouches(&self, cx: &mut Ctx, i: usize, raw: &Value, claim: Claim<'_>) -> bool {
        let kind = match raw {
            Value::Group(_) => EntryKind::Group,
            _ => EntryKind::User,
        };
        let census = self.census_for(cx, i, kind);
        self.census_vouches_in(cx, i, census.as_ref(), raw, claim)
    }

    /// [`Resolver::census_vouches`] with domain `i`'s census of the
    /// entry's kind already at hand (many entries checked at once).
    fn census_vouches_in(
        &self,
        cx: &mut Ctx,
        i: usize,
        census: Option<&(Arc<Census>, u64)>,
        raw: &Value,
        claim: Claim<'_>,
    ) -> bool {
        let (kind, dn) = match raw {
            Value::User(u) => (EntryKind::User, u.dn.as_str()),
            Value::Group(g) => (EntryKind::Group, g.dn.as_str()),
            _ => return false,
        };
        if census.is_none() {
            return false;
        }
        let other = match claim {
            Claim::Id(id) => kind.id_key(id),
            Claim::Name(name) => kind.name_key(name),
        };
        let ck = CacheKey::new(Arc::from(cx.domain(i).name()), other);
        if self.is_fresh(&ck) {
            return false;
        }
        let Some(until) = Self::vouched(cx, census, claim, dn) else {
            return false;
        };
        self.record_vouched(&ck, raw.clone(), until);
        self.note_census_answered(cx.domain(i).name(), kind == EntryKind::User, 1);
        true
    }

    /// Domain `i`'s census of `kind`, when one is usable now (see
    /// [`Resolver::census_of`]), and until when.
    pub(super) fn census_for(
        &self,
        cx: &Ctx,
        i: usize,
        kind: EntryKind,
    ) -> Option<(Arc<Census>, u64)> {
        self.census_of(cx.domain(i), kind == EntryKind::User)
    }

    /// When `census` shows the entry at `dn` as the only holder of
    /// `claim`: until when (the answer then rests on it).
    pub(super) fn vouched(
        cx: &mut Ctx,
        census: Option<&(Arc<Census>, u64)>,
        claim: Claim<'_>,
        dn: &str,
    ) -> Option<u64> {
        let (census, until) = census?;
        let sole = match claim {
            Claim::Id(id) => census.sole_holder_of_id(id, dn),
            Claim::Name(name) => census.sole_holder_of_name(name, dn),
        };
        sole.then(|| {
            cx.rests_on(*until, true);
            *until
        })
    }

    /// The served form of domain `i`'s group `raw` (members included), or
    /// `None` when it is not served.
    pub(super) async fn serve_group(
        &self,
        cx: &mut Ctx,
        i: usize,
        raw: Arc<GroupEntry>,
        via: Via,
        with_members: bool,
    ) -> Served<Arc<GroupEntry>> {
        let entry = Owned {
            kind: EntryKind::Group,
            dn: &raw.dn,
            name: &raw.group.name,
            id: raw.group.gid,
        };
        let value = Value::Group(raw.clone());
        let Some(name) = self.served_as(cx, i, entry, &value, via).await? else {
            return Ok(None);
        };
        let members = if with_members {
            self.served_members(cx, i, &raw).await?
        } else {
            None
        };
        if name == raw.group.name && members.is_none() {
            return Ok(Some(raw));
        }
        let mut g = (*raw).clone();
        g.group.name = name;
        if let Some(members) = members {
            g.group.members = members;
        }
        Ok(Some(Arc::new(g)))
    }

    /// `Some(name)` when domain `i` owns the short `name` (no earlier
    /// domain holds it), `None` when it is taken; names that already
    /// carry the domain are their own.
    async fn served_name(
        &self,
        cx: &mut Ctx,
        i: usize,
        name: &str,
        user: bool,
    ) -> Result<Option<String>, DomainError> {
        if is_qualified(name, cx.domain(i).name()) {
            return Ok(Some(name.to_string()));
        }
        let key = if user {
            Key::UserName(name.to_string())
        } else {
            Key::GroupName(name.to_string())
        };
        Ok(match self.held_before(cx, i, &key).await? {
            Some(_) => None,
            None => Some(name.to_string()),
        })
    }

    /// The names under which members (user names of domain `i`) are
    /// served: qualified when an earlier domain holds the short name; left
    /// out when a local user has it (a local account must never become a
    /// directory group's member). `None` when they are `group`'s members
    /// as they are (nothing copied).
    async fn served_members(
        &self,
        cx: &mut Ctx,
        i: usize,
        group: &Arc<GroupEntry>,
    ) -> Result<Option<Vec<String>>, DomainError> {
        let members = &group.group.members;
        let d = cx.domain(i).clone();
        let local = cx.local.get().users.clone();
        // Which members are kept, and those served under another name
        // (qualified), by index.
        let mut out: Vec<bool> = Vec::with_capacity(members.len());
        let mut renamed = HashMap::new();
        // Indices of short names still to check against earlier domains.
        let mut open = Vec::with_capacity(members.len());
        for m in members {
            if is_qualified(m, d.name()) {
                out.push(true);
            } else if local.has_name(m, d.case_insensitive()) {
                out.push(false);
            } else {
                open.push(out.len());
                out.push(true);
            }
        }
        let (_, held) = self
            .held_before_many(cx, i, open, |&k| Key::UserName(members[k].clone()))
            .await?;
        for (k, _) in held {
            renamed.insert(k, format!("{}@{}", members[k], d.name()));
        }
        let shared = Members::OfGroup(group.clone());
        self.drop_refused_members(cx, i, &shared, &mut out).await?;
        if renamed.is_empty() && out.iter().all(|&kept| kept) {
            return Ok(None);
        }
        let served = members.iter().enumerate().filter(|&(k, _)| out[k]);
        Ok(Some(
            served
                .map(|(k, m)| renamed.remove(&k).unwrap_or_else(|| m.clone()))
                .collect(),
        ))
    }

    /// Leaves out (`out[k] = false`) the members of domain `i` whose own
    /// entry is refused: its UID is local or reserved, an earlier domain
    /// holds it, or the directory answers another or no single entry for
    /// it (the rules [`Resolver::serve_user`] applies). A name the domain
    /// does not hold is left as it is.
    ///
    /// A member the domain's census decides ([`Census::sole_served_holder`]:
    /// one valid entry holds the name and its UID) needs no search. Its
    /// entry is still asked after the answer, in the background
    /// ([`Resolver::record_members_later`]), so that the answers the check
    /// rests on are kept for an offline restart as a search would keep
    /// them.
    ///
    /// Domains whose IDs come from SIDs ([`Provider::unique_ids`]) are not
    /// checked: their IDs are unique within the domain and lie in its own
    /// range, which the configuration keeps apart from every other
    /// domain's; asking each member's entry of a group of thousands would
    /// not fit a lookup's time budget.
    async fn drop_refused_members(
        &self,
        cx: &mut Ctx,
        i: usize,
        shared: &Members,
        out: &mut [bool],
    ) -> Result<(), DomainError> {
        let members = shared.names();
        let d = cx.domain(i).clone();
        if d.unique_ids() {
            return Ok(());
        }
        let census = self.census_for(cx, i, EntryKind::User);
        let domain: Arc<str> = Arc::from(d.name());
        let now = self.inner.clock.now_ms();
        // (member index, UID) decided by the census (nearly all: sized
        // for them, not grown a copy at a time); member indices to ask.
        let mut decided = Vec::with_capacity(if census.is_some() { out.len() } else { 0 });
        let mut asked = Vec::new();
        {
            let mut decides = CensusDecides::new(self, cx, i, &domain, now, census.as_ref(), true);
            // (Member index, short name) of the members still kept.
            let mut open: Vec<(usize, &str)> = Vec::with_capacity(out.len());
            open.extend(
                (0..out.len())
                    .filter(|&k| out[k])
                    .map(|k| (k, member_base(&members[k], d.name()))),
            );
            let held = match &census {
                Some((c, _)) => c.sole_served_holders(open.iter().map(|&(_, name)| name)),
                None => vec![None; open.len()],
            };
            for ((k, name), held) in open.into_iter().zip(held) {
                match decides.uid_of(name, held) {
                    Some(uid) => decided.push((k, uid)),
                    None => asked.push(k),
                }
            }
        }
        if let (Some((_, until)), false) = (&census, decided.is_empty()) {
            cx.probes += decided.len();
            cx.rests_on(*until, true);
        }
        // An earlier domain must not hold a decided member's UID; a member
        // whose UID it holds is asked like the others (and refused, with
        // its DN, by that check).
        let (decided, held) = self
            .held_before_many(cx, i, decided, |&(_, uid)| Key::UserId(uid))
            .await?;
        asked.extend(held.into_iter().map(|((k, _), _)| k));
        asked.sort_unstable();
        self.check_members(cx, i, members, asked, out).await?;
        if !decided.is_empty() {
            self.note_census_answered(d.name(), true, decided.len() as u64);
            let decided = decided.into_iter().map(|(k, _)| k).collect();
            self.record_members_later(cx, i, shared.clone(), decided);
        }
        Ok(())
    }

    /// Which of `names` (distinct short member names of domain `i`) the
    /// domain's users census `census` decides as served members, as the
    /// check of a lookup's member list would ([`CensusDecides::uid_of`],
    /// then no earlier domain holding the UID, asked as lookups ask it),
    /// or finds held by no entry (kept as lookups keep them): `true`. The
    /// others (`false`) are for [`Resolver::members_kept`]. For the group
    /// listing, which asks this instead of listing the domain's users.
    /// Fresh cached answers are not consulted: the listing is a snapshot
    /// of the directory (served up to `entry_ttl` old), and the census is
    /// no older than that; after an enumeration and the lookups of most
    /// users, consulting them would send nearly every member to the
    /// slower per-member check.
    pub(super) async fn census_keeps_members(
        &self,
        cx: &mut Ctx,
        i: usize,
        census: &(Arc<Census>, u64),
        names: &[&str],
    ) -> Result<Vec<bool>, DomainError> {
        let domain: Arc<str> = Arc::from(cx.domain(i).name());
        let now = self.inner.clock.now_ms();
        let mut out = vec![false; names.len()];
        // (name index, UID) decided by the census.
        let mut decided = Vec::new();
        // (A chunk at a time, the runtime's other tasks served between
        // two: a listing's members are tens of thousands.)
        let mut pace = super::enumerate::Pace::default();
        for (c, chunk) in names.chunks(super::enumerate::PACE_ITEMS).enumerate() {
            let from = c * super::enumerate::PACE_ITEMS;
            {
                let mut decides =
                    CensusDecides::new(self, cx, i, &domain, now, Some(census), false);
                let held = census.0.sole_served_holders(chunk.iter().copied());
                for ((k, name), held) in (from..).zip(chunk).zip(held) {
                    match decides.uid_of(name, held) {
                        Some(uid) => decided.push((k, uid)),
                        None => out[k] = !census.0.may_hold_name(name),
                    }
                }
            }
            pace.step(chunk.len()).await;
        }
        let (free, _) = self
            .held_before_many(cx, i, decided, |&(_, uid)| Key::UserId(uid))
            .await?;
        for (k, _) in free {
            out[k] = true;
        }
        Ok(out)
    }

    /// Which of `names` (members of domain `i`, none a local user's name)
    /// a lookup keeps in a member list (`true`) and which it leaves out
    /// because their own entry is refused ([`Resolver::drop_refused_members`]):
    /// the enumeration asks this of the members no user listing decides.
    pub(super) async fn members_kept(
        &self,
        cx: &mut Ctx,
        i: usize,
        names: Arc<[String]>,
    ) -> Result<Vec<bool>, DomainError> {
        let mut out = vec![true; names.len()];
        let names = Members::Listed(names);
        self.drop_refused_members(cx, i, &names, &mut out).await?;
        self.remember_negatives(cx);
        Ok(out)
    }

    /// What domain `i`'s census decides of each of `gids` (a user's
    /// groups in domain `i`), in order: served for the domain
    /// ([`Census::sole_served_holder_of_id`]; the group's name not in
    /// `ignore_groups`, no fresh cached answer to the GID or the group's
    /// name telling otherwise ([`FreshAnswers::disagree`]), no local group
    /// with either, and no earlier domain holding the GID), held by an
    /// earlier domain (not served), or left to
    /// [`Resolver::gid_served_by`], which refuses the same. (A verdict
    /// for each GID in place of two sets of them: a user in 1,000 groups
    /// made 1,000 insertions and 2,000 probes before its answer.)
    pub(super) async fn census_decided_gids(
        &self,
        cx: &mut Ctx,
        i: usize,
        gids: &[u32],
    ) -> Result<Vec<GidVerdict>, DomainError> {
        let mut verdicts = vec![GidVerdict::Open; gids.len()];
        // (Indices into `gids`.)
        let mut decided = Vec::new();
        let census = self.census_for(cx, i, EntryKind::Group);
        if let Some((c, until)) = &census {
            let domain: Arc<str> = Arc::from(cx.domain(i).name());
            let now = self.inner.clock.now_ms();
            let min_id = cx.settings.min_id;
            let ci = cx.domain(i).case_insensitive();
            {
                let mut fresh = FreshAnswers::new(self, &domain, EntryKind::Group, now);
                for (k, &gid) in gids.iter().enumerate().filter(|(_, &g)| g >= min_id) {
                    let Some(name) = c.sole_served_holder_of_id(gid) else {
                        continue;
                    };
                    if cx.settings.ignore_groups.contains(name)
                        || fresh.disagree(c, name, gid)
                        || cx.local.get().group_refusal(name, gid, ci).is_some()
                    {
                        continue;
                    }
                    decided.push(k);
                }
            }
            if !decided.is_empty() {
                cx.probes += decided.len();
                cx.rests_on(*until, true);
            }
        }
        let (decided, held) = self
            .held_before_many(cx, i, decided, |&k| Key::GroupId(gids[k]))
            .await?;
        if !decided.is_empty() {
            self.note_census_answered(cx.domain(i).name(), false, decided.len() as u64);
        }
        for k in decided {
            verdicts[k] = GidVerdict::Served;
        }
        for (k, _) in held {
            verdicts[k] = GidVerdict::Held;
        }
        Ok(verdicts)
    }

    /// Leaves GIDs `gids` of domain `i` (served by the census's decision)
    /// to be checked again after the answer ([`super::record_later`]), as
    /// [`Resolver::gid_served_by`] does, so that the answers they rest on
    /// are cached and stored as the searches would have left them (see
    /// [`Resolver::record_members_later`]).
    pub(super) fn record_gids_later(&self, cx: &Ctx, i: usize, gids: Vec<u32>) {
        self.leave_to_record(cx, i, LeftKind::Gids(gids));
    }

    /// Leaves members `decided` (indices into `members`, all served by the
    /// census's decision) of domain `i` to be checked again after the
    /// answer ([`super::record_later`]), on their entries, as
    /// [`Resolver::check_members`] does: their answers are then cached and
    /// stored as the search would have left them. What this finds
    /// refused (the directory changed since the census) is logged; the
    /// next decision sees it.
    fn record_members_later(&self, cx: &Ctx, i: usize, members: Members, decided: Vec<usize>) {
        self.leave_to_record(cx, i, LeftKind::Members { members, decided });
    }

    /// [`Resolver::drop_refused_members`] for members `asked` (indices
    /// into `members`), each asked of the domains.
    pub(super) async fn check_members(
        &self,
        cx: &mut Ctx,
        i: usize,
        members: &[String],
        asked: Vec<usize>,
        out: &mut [bool],
    ) -> Result<(), DomainError> {
        let d = cx.domain(i).clone();
        let ci = d.case_insensitive();
        let keys = asked
            .iter()
            .map(|&k| Key::UserName(member_base(&members[k], d.name()).to_string()))
            .collect();
        // (member index, its raw entry) still to check.
        let mut open = Vec::new();
        for (k, a) in asked.into_iter().zip(self.probe_many(cx, i, keys).await) {
            match a {
                Probe::Holds(Value::User(u), _) => {
                    match cx.local.get().user_refusal(&u.user.name, u.user.uid, ci) {
                        Some(reason) => {
                            self.refuse(d.name(), &u.dn, reason);
                            out[k] = false;
                        }
                        None => open.push((k, u)),
                    }
                }
                Probe::Holds(..) | Probe::Free => {}
                Probe::Failed(r) => return Err(r),
            }
        }
        let uid_keys = |open: &[(usize, Arc<UserEntry>)]| {
            open.iter()
                .map(|(_, u)| Key::UserId(u.user.uid))
                .collect::<Vec<_>>()
        };
        let (mut open, held) = self
            .held_before_many(cx, i, open, |(_, u)| Key::UserId(u.user.uid))
            .await?;
        for ((k, u), v) in held {
            let reason = format!("uid {} is already {}", u.user.uid, owner_desc(&v));
            self.refuse(d.name(), &u.dn, reason);
            out[k] = false;
        }
        if open.is_empty() {
            return Ok(());
        }
        // (Members the census shows as their UID's only holder are served,
        // and recorded as their UID's answer, as the search would have.)
        let census = self.census_for(cx, i, EntryKind::User);
        open.retain(|(_, u)| {
            let raw = Value::User(u.clone());
            !self.census_vouches_in(cx, i, census.as_ref(), &raw, Claim::Id(u.user.uid))
        });
        if open.is_empty() {
            return Ok(());
        }
        let answers = self.probe_many(cx, i, uid_keys(&open)).await;
        for ((k, u), a) in open.into_iter().zip(answers) {
            let uid = u.user.uid;
            let reason = match a {
                Probe::Holds(Value::User(o), _) if same_entry(&o.dn, &u.dn) => continue,
                Probe::Holds(v, _) => format!("uid {uid} is already {}", owner_desc(&v)),
                Probe::Free => format!("the directory answers no single entry for uid {uid}"),
                Probe::Failed(r) => return Err(r),
            };
            self.refuse(d.name(), &u.dn, reason);
            out[k] = false;
        }
        Ok(())
    }
}

/// Member names shared with the check left for after the answer
/// ([`Resolver::record_members_later`]) instead of copied on the
/// answer's path: a group can have many thousand.
#[derive(Clone)]
pub(super) enum Members {
    /// The members of a group entry.
    OfGroup(Arc<GroupEntry>),
    /// Names listed on their own (the enumeration's).
    Listed(Arc<[String]>),
}

impl Members {
    /// The names, as the group or the listing holds them.
    pub(super) fn names(&self) -> &[String] {
        match self {
            Members::OfGroup(g) => &g.group.members,
            Members::Listed(names) => names,
        }
    }
}

/// The short name of member `m` of `domain` (`m` without `@domain`).
pub(super) fn member_base<'a>(m: &'a str, domain: &str) -> &'a str {
    if is_qualified(m, domain) {
        // `base@domain`, the domain spelled in as many bytes.
        &m[..m.len() - domain.len() - 1]
    } else {
        m
    }
}

/// "claimed by DN (domain D)" for a raw value holding an ID.
/// Users or groups, for the ownership checks both share.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum EntryKind {
    User,
    Group,
}

impl EntryKind {
    /// "uid" or "gid", as refusal reasons say it.
    fn id_word(self) -> &'static str {
        match self {
            EntryKind::User => "uid",
            EntryKind::Group => "gid",
        }
    }

    /// The cache key of an ID of this kind.
    fn id_key(self, id: u32) -> Key {
        match self {
            EntryKind::User => Key::UserId(id),
            EntryKind::Group => Key::GroupId(id),
        }
    }

    /// The cache key of a name of this kind.
    fn name_key(self, name: &str) -> Key {
        match self {
            EntryKind::User => Key::UserName(name.to_string()),
            EntryKind::Group => Key::GroupName(name.to_string()),
        }
    }

    /// True when `v` is the entry of this kind at `dn`.
    fn is_entry(self, v: &Value, dn: &str) -> bool {
        match (self, v) {
            (EntryKind::User, Value::User(o)) => same_entry(&o.dn, dn),
            (EntryKind::Group, Value::Group(o)) => same_entry(&o.dn, dn),
            _ => false,
        }
    }
}

/// What an entry claims, as a census is asked about it.
#[derive(Clone, Copy)]
pub(super) enum Claim<'a> {
    /// Its ID.
    Id(u32),
    /// Its name.
    Name(&'a str),
}

/// What the ownership checks look at in one directory entry.
#[derive(Clone, Copy)]
struct Owned<'a> {
    kind: EntryKind,
    dn: &'a str,
    name: &'a str,
    id: u32,
}

fn owner_desc(v: &Value) -> String {
    match v {
        Value::User(u) => format!("claimed by {} (domain {})", u.dn, u.domain),
        Value::Group(g) => format!("claimed by {} (domain {})", g.dn, g.domain),
        _ => "claimed by another entry".to_string(),
    }
}

/// Whether the cache's fresh answers to a name and an ID of one domain and
/// kind tell other than its census ([`FreshAnswers::disagree`]): the
/// cache locked once for many questions, its two keys reused (a group of
/// thousands of members, or a user in thousands of groups, costs no
/// allocation per question).
struct FreshAnswers<'a> {
    cache: crate::cache::Locked<'a, CacheKey, crate::cache::Slot, AtOdds>,
    /// Where the domain's disputes with its census of that kind are kept
    /// ([`AtOdds::position`]).
    disputes_at: Option<usize>,
    now: u64,
    name_key: CacheKey,
    id_key: CacheKey,
}

impl<'a> FreshAnswers<'a> {
    /// For the users (`kind`) or groups of `domain`, at `now`.
    fn new(r: &'a Resolver, domain: &Arc<str>, kind: EntryKind, now: u64) -> Self {
        let (name, id) = match kind {
            EntryKind::User => (Key::UserName(String::new()), Key::UserId(0)),
            EntryKind::Group => (Key::GroupName(String::new()), Key::GroupId(0)),
        };
        let cache = r.inner.cache.locked();
        FreshAnswers {
            disputes_at: cache.watch().position(domain, kind),
            cache,
            now,
            name_key: CacheKey::new(domain.clone(), name),
            id_key: CacheKey::new(domain.clone(), id),
        }
    }

    /// True when a fresh cached answer to user (or group) `name` or to
    /// `id` tells other than census `c`, which holds `name` and `id` as
    /// one entry ([`Census::sole_served_holder`],
    /// [`Census::sole_served_holder_of_id`]): either answer another ID,
    /// name or entry, or none (the name's answer may be a spelling the
    /// directory matched; [`at_odds::agrees`]). Answers that agree lead
    /// the check (a member's, or an initgroups' GID's) to the census's
    /// decision (that entry is the ID's only holder), so the census
    /// decides it as well, and the decision rests on it alone (those
    /// answers tell nothing it does not). The cache is looked into only
    /// for a name or ID the domain's disputes with that census may hold
    /// ([`at_odds::Disputes::may_dispute`]), or for every one while they
    /// are not complete (a census being installed).
    fn disagree(&mut self, c: &Census, name: &str, id: u32) -> bool {
        if let Some(disputes) = self.disputes_at.and_then(|k| self.cache.watch().at(k)) {
            if !disputes.may_dispute(c, name, id, self.now) {
                return false;
            }
        }
        self.aim(name, id);
        [false, true].into_iter().any(|by_name| {
            self.fresh(by_name)
                .is_some_and(|slot| !at_odds::agrees(c, &slot.value, name, id))
        })
    }

    /// Points the two keys at `name` and `id`.
    fn aim(&mut self, name: &str, id: u32) {
        if let Key::UserName(n) | Key::GroupName(n) = &mut self.name_key.key {
            n.clear();
            n.push_str(name);
        }
        if let Key::UserId(i) | Key::GroupId(i) = &mut self.id_key.key {
            *i = id;
        }
    }

    /// The fresh cached answer to the name (`by_name`) or the ID aimed at.
    fn fresh(&self, by_name: bool) -> Option<&crate::cache::Slot> {
        let ck = if by_name {
            &self.name_key
        } else {
            &self.id_key
        };
        self.cache.peek(ck).filter(|s| s.expires_ms > self.now)
    }
}

/// Which members of domain `i` its users census decides, for
/// [`Resolver::drop_refused_members`]: [`CensusDecides::uid_of`].
struct CensusDecides<'a> {
    census: Option<&'a Census>,
    /// Fresh cached answers; `None` when they are not consulted (the
    /// group listing, see [`Resolver::census_keeps_members`]).
    fresh: Option<FreshAnswers<'a>>,
    local: &'a LocalView,
    case_insensitive: bool,
}

impl<'a> CensusDecides<'a> {
    fn new(
        r: &'a Resolver,
        cx: &'a Ctx,
        i: usize,
        domain: &Arc<str>,
        now: u64,
        census: Option<&'a (Arc<Census>, u64)>,
        consult_cache: bool,
    ) -> Self {
        CensusDecides {
            census: census.map(|(c, _)| &**c),
            fresh: (consult_cache && census.is_some())
                .then(|| FreshAnswers::new(r, domain, EntryKind::User, now)),
            local: cx.local.get(),
            case_insensitive: cx.domain(i).case_insensitive(),
        }
    }

    /// The UID of member `name` when the census decides it (`held`: its
    /// [`Census::sole_served_holder`], asked of many members at once with
    /// [`Census::sole_served_holders`]), no fresh cached answer to its
    /// name or that UID tells otherwise (which the check would use
    /// instead: a cache hit; when the cache is consulted,
    /// [`FreshAnswers::disagree`]), and no local account has either.
    /// The answer then rests on the census.
    fn uid_of(&mut self, name: &str, held: Option<u32>) -> Option<u32> {
        let census = self.census?;
        let uid = held?;
        if self
            .fresh
            .as_mut()
            .is_some_and(|f| f.disagree(census, name, uid))
        {
            return None;
        }
        if self
            .local
            .user_refusal(name, uid, self.case_insensitive)
            .is_some()
        {
            return None;
        }
        Some(uid)
    }
}
