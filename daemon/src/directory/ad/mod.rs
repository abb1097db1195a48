//! `kind = "ad"` domains: users and groups keyed by `objectSid`.
//!
//! The domain SID is read from the base DN's `objectSid` before the first
//! lookup and registered with the idmap [`DomainSet`].
//! A user's groups come from `tokenGroups` (one base search gives every
//! group, nested ones included) and one search for those groups by SID; the
//! in-chain matching rule is the fallback. Group members are read with
//! ranged retrieval (`member;range=…`) to the end and resolved with one
//! `memberOf` search per group, nested groups level by level (an in-chain
//! search for a group's users, or reading member DNs in OR batches, is far
//! slower on Samba: seconds for a few thousand users). Lookups by UID/GID go through the
//! reverse idmap and a search by the escaped binary `objectSid`. Names are
//! matched case-insensitively. Account state comes from
//! `userAccountControl`, `accountExpires` and `pwdLastSet`; password
//! changes replace `unicodePwd` (`password`).

mod entry;
pub mod mapping;
pub(crate) mod password;

use super::flavour::Verdict;
use super::nesting::expand_offline;
use super::records::{DirectoryError, GroupRecord, GroupRef, Listing, UserRecord};
use super::search::Query;
use super::{Claims, Directory};
use crate::config::{DomainConfig, DomainSet};
use crate::dn;
use crate::filter;
use entry::unallocated_sids;
pub use entry::{ad_group, ad_user, group_attrs, user_attrs, SidIds};
use ldap3::{Scope, SearchEntry};
use mapping::{
    account_name_candidates, object_sid, output_name, range_window, short_input_name, text,
    token_group_sids,
};
use roster_idmap::{Backend, Sid};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

/// LDAP_MATCHING_RULE_IN_CHAIN: transitive membership in one search.
pub(crate) const IN_CHAIN: &str = "1.2.840.113556.1.4.1941";
/// Values of `member` asked for per ranged read (AD's MaxValRange).
pub(crate) const RANGE_STEP: u32 = 1500;
/// SIDs per OR filter.
const VALUES_PER_SEARCH: usize = 500;

/// An Active Directory domain, with what it learns at run time.
#[derive(Debug, Default)]
pub struct Ad {
    /// The domain SID (from the base DN's objectSid).
    sid: OnceLock<Sid>,
    /// The NetBIOS domain name (from the partitions container), if found.
    netbios: OnceLock<Option<String>>,
    /// Held by the blocking thread this domain's ID mapping waits on (an
    /// autorid block allocated, the shared store read again, the domain
    /// SID registered): one such thread at a time, whatever holds the lock
    /// file meanwhile.
    mapping: Arc<tokio::sync::Mutex<()>>,
    /// Autorid blocks whose allocation failed lately, when and why: not
    /// tried again for [`FAILED_BLOCK_RETRY`] (a lookup meeting one is
    /// refused at once with that reason instead of queueing behind the
    /// gate for another attempt, each of which may wait for a hung
    /// directory store to its time bound).
    failed_blocks: Arc<FailedBlocks>,
}

/// How long an autorid block whose allocation failed is not tried again.
const FAILED_BLOCK_RETRY: Duration = Duration::from_secs(10);

/// Autorid blocks (domain SID, block number) whose allocation failed: when,
/// and why.
type FailedBlocks = std::sync::Mutex<HashMap<(Sid, u32), (Instant, String)>>;

/// The failed blocks' memory, locked (a poisoned lock is taken as it is:
/// it holds times and reasons only).
fn lock_failed(
    memory: &FailedBlocks,
) -> std::sync::MutexGuard<'_, HashMap<(Sid, u32), (Instant, String)>> {
    memory.lock().unwrap_or_else(|e| e.into_inner())
}

/// Why `block`'s allocation failed, if it did within
/// [`FAILED_BLOCK_RETRY`]; an older failure is ignored (and forgotten by
/// [`remember_failure`]).
fn failed_lately(memory: &FailedBlocks, block: &(Sid, u32)) -> Option<String> {
    lock_failed(memory)
        .get(block)
        .filter(|(at, _)| at.elapsed() < FAILED_BLOCK_RETRY)
        .map(|(_, why)| why.clone())
}

/// Remembers that `block`'s allocation failed with `error`, forgetting the
/// failures older than [`FAILED_BLOCK_RETRY`] (so that the memory holds
/// only the blocks that failed lately). Returns the reason the lookups
/// meeting the block are given until then: the same for each of them,
/// this one included.
fn remember_failure(
    memory: &FailedBlocks,
    block: (Sid, u32),
    error: &impl std::fmt::Display,
) -> String {
    let why = format!(
        "{error} (not tried again for up to {} s)",
        FAILED_BLOCK_RETRY.as_secs()
    );
    let mut failed = lock_failed(memory);
    failed.retain(|_, (at, _)| at.elapsed() < FAILED_BLOCK_RETRY);
    failed.insert(block, (Instant::now(), why.clone()));
    why
}

/// A user search of an AD domain: its one search base (validation refuses
/// several), with that base's scope and filter.
fn user_query(cfg: &DomainConfig, extra: &str) -> Query {
    super::queries(cfg.user_bases(), &cfg.user_filter, extra, user_attrs(cfg)).swap_remove(0)
}

/// A group search of an AD domain (its one search base); with
/// `with_members`, the first window of `member` is read too.
fn group_query(cfg: &DomainConfig, extra: &str, with_members: bool) -> Query {
    let mut attrs = group_attrs(cfg);
    if with_members {
        attrs.push(cfg.attributes.member.clone());
    }
    super::queries(cfg.group_bases(), cfg.group_filter(), extra, attrs).swap_remove(0)
}

impl Ad {
    /// The same domain in a new configuration generation: the NetBIOS name
    /// is kept, the domain SID registered with `idmap` (when that fails it
    /// is discovered again at first use).
    pub(crate) fn carried_to(&self, idmap: &DomainSet, domain: &str) -> Ad {
        let next = Ad::default();
        if let Some(n) = self.netbios.get() {
            let _ = next.netbios.set(n.clone());
        }
        if let Some(sid) = self.sid.get() {
            match idmap.set_domain_sid(domain, *sid) {
                Ok(()) => {
                    let _ = next.sid.set(*sid);
                }
                Err(e) => {
                    tracing::warn!(%domain, %sid, error = %e, "domain SID not carried to the reloaded ID mapping")
                }
            }
        }
        next
    }
}

impl Ad {
    /// Names are matched case-insensitively (`Alice` is `alice`).
    pub(crate) fn case_insensitive_names(&self) -> bool {
        true
    }

    /// A user's groups are found from its entry (its SID's token groups
    /// or its DN), never by its name alone.
    pub(crate) fn groups_by_name_alone(&self, _cfg: &DomainConfig) -> bool {
        false
    }

    /// Refused: see [`Ad::groups_by_name_alone`].
    pub(crate) async fn groups_of_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Vec<u32>, DirectoryError> {
        Err(DirectoryError::invalid(format!(
            "domain \"{}\": the groups of {name:?} are found from the user's entry",
            dir.cfg.name
        )))
    }

    /// True when every ID is derived from the object's SID (the rid, sss
    /// or autorid backend): two entries can never share an ID.
    pub(crate) fn ids_from_sids(&self, cfg: &DomainConfig) -> bool {
        cfg.idmap.backend() != Backend::Rfc2307
    }

    /// The user (`users`) or group search of the search base, unfiltered
    /// (groups with the first window of their members).
    pub(crate) fn scan_queries(&self, dir: &Directory, users: bool) -> Vec<Query> {
        if users {
            vec![user_query(&dir.cfg, "")]
        } else {
            vec![group_query(&dir.cfg, "", true)]
        }
    }

    /// The domain SID: discovered from the base DN's `objectSid` on first
    /// use and registered with the idmap domain set.
    pub(crate) async fn domain_sid(&self, dir: &Directory) -> Result<Sid, DirectoryError> {
        if let Some(s) = self.sid.get() {
            return Ok(*s);
        }
        let q = Query {
            base: dir.cfg.base_dn.clone(),
            scope: Scope::Base,
            filter: "(objectClass=*)".into(),
            attrs: vec!["objectSid".into()].into(),
        };
        let entries = dir.search(&q, true).await?;
        let sid = entries
            .first()
            .ok_or_else(|| format!("base DN {} not found", dir.cfg.base_dn))
            .and_then(|e| object_sid(e).map_err(|m| format!("base DN {}: {m}", dir.cfg.base_dn)))
            .map_err(|m| {
                DirectoryError::invalid(format!(
                    "domain \"{}\": {m} (is it an Active Directory domain?)",
                    dir.cfg.name
                ))
            })?;
        if dir.idmap.domain_sid(&dir.cfg.name).ok().flatten() != Some(sid) {
            // (Registering may allocate the domain's first autorid block
            // and record its name: the lock file, maybe the shared store.)
            let (idmap, name) = (dir.idmap.clone(), dir.cfg.name.clone());
            let registered = self
                .off_loop(dir, move || {
                    idmap.set_domain_sid(&name, sid).map_err(|e| e.to_string())
                })
                .await
                .unwrap_or_else(|| Err("ID mapping task failed".into()));
            registered.map_err(|e| {
                DirectoryError::invalid(format!("domain \"{}\": {e}", dir.cfg.name))
            })?;
        }
        tracing::info!(domain = %dir.cfg.name, %sid, "Active Directory domain SID registered");
        let _ = self.sid.set(sid);
        Ok(sid)
    }

    /// The NetBIOS name of the domain (for `DOMAIN\user` input), read once
    /// from the partitions container; `None` when it cannot be read.
    async fn netbios_name(&self, dir: &Directory) -> Option<String> {
        if let Some(n) = self.netbios.get() {
            return n.clone();
        }
        let found = self.read_netbios(dir).await;
        match &found {
            Ok(n) => {
                let _ = self.netbios.set(n.clone());
                n.clone()
            }
            Err(e) => {
                tracing::debug!(domain = %dir.cfg.name, error = %e, "NetBIOS name not read (retried later)");
                None
            }
        }
    }

    async fn read_netbios(&self, dir: &Directory) -> Result<Option<String>, DirectoryError> {
        let root = dir
            .search(
                &Query {
                    base: String::new(),
                    scope: Scope::Base,
                    filter: "(objectClass=*)".into(),
                    attrs: vec!["configurationNamingContext".into()].into(),
                },
                true,
            )
            .await?;
        let Some(config_nc) = root
            .first()
            .and_then(|e| text(e, "configurationNamingContext"))
        else {
            return Ok(None);
        };
        let q = Query {
            base: format!("CN=Partitions,{config_nc}"),
            scope: Scope::OneLevel,
            filter: format!(
                "(&(objectClass=crossRef){})",
                filter::eq("nCName", &dir.cfg.base_dn)
            ),
            attrs: vec!["nETBIOSName".into()].into(),
        };
        let found = dir.search(&q, true).await?;
        Ok(found
            .first()
            .and_then(|e| text(e, "nETBIOSName"))
            .map(str::to_string))
    }

    /// Converts `entries` with `convert`, from what is mapped
    /// ([`SidIds::Mapped`]): the entries refused because an autorid block
    /// of theirs has no slot yet ([`unallocated_sids`]; `users`: the
    /// domain SID, for their primary groups) get those blocks allocated
    /// on a blocking thread, the event loop serving other lookups
    /// meanwhile, and are converted again; an entry refused still because
    /// its allocation failed says why.
    async fn convert_mapped<T>(
        &self,
        dir: &Directory,
        users: Option<&Sid>,
        entries: &[SearchEntry],
        convert: impl Fn(&SearchEntry) -> Result<T, String>,
    ) -> Vec<Result<T, String>> {
        let mut out: Vec<Result<T, String>> = entries.iter().map(&convert).collect();
        let pending: Vec<(usize, Vec<Sid>)> = out
            .iter()
            .enumerate()
            .filter(|(_, r)| r.is_err())
            .map(|(i, _)| {
                (
                    i,
                    unallocated_sids(&dir.cfg, &dir.idmap, users, &entries[i]),
                )
            })
            .filter(|(_, sids)| !sids.is_empty())
            .collect();
        if pending.is_empty() {
            return out;
        }
        let failed = self
            .allocate(dir, pending.iter().map(|(_, sids)| sids.clone()).collect())
            .await;
        for (i, sids) in pending {
            out[i] = convert(&entries[i]).map_err(|reason| {
                sids.iter()
                    .find_map(|s| {
                        let why = failed.get(&dir.idmap.block_of(s)?)?;
                        Some(format!(
                            "{s}: its autorid block could not be allocated: {why}"
                        ))
                    })
                    .unwrap_or(reason)
            });
        }
        out
    }

    /// Allocates the autorid blocks of `sids` (each entry's, in the order
    /// its conversion maps them: its later ones are left once one fails)
    /// off the event loop ([`Ad::off_loop`]). Returns the blocks that
    /// failed, and why.
    async fn allocate(&self, dir: &Directory, sids: Vec<Vec<Sid>>) -> BTreeMap<(Sid, u32), String> {
        // Blocks that failed lately are not tried again: checked before the
        // gate (a lookup need not wait for it) and again behind it (one
        // that waited meanwhile for the attempt that failed).
        // (An entry's conversion stops at its first block: when each
        // entry's first block failed lately, there is nothing to try.)
        let mut recent = BTreeMap::new();
        let settled = sids.iter().all(|entry| {
            let Some(block) = entry.iter().find_map(|s| dir.idmap.block_of(s)) else {
                return true;
            };
            let why = failed_lately(&self.failed_blocks, &block);
            why.map(|why| recent.insert(block, why)).is_some()
        });
        if settled {
            return recent;
        }
        let idmap = dir.idmap.clone();
        let memory = self.failed_blocks.clone();
        let allocated = self
            .off_loop(dir, move || {
                let mut failed = BTreeMap::new();
                for entry in sids {
                    for sid in entry {
                        let Some(block) = idmap.block_of(&sid) else {
                            continue;
                        };
                        if failed.contains_key(&block) {
                            break;
                        }
                        if let Some(why) = failed_lately(&memory, &block) {
                            failed.insert(block, why);
                            break;
                        }
                        // (Another lookup may have allocated it meanwhile.)
                        if !idmap.needs_allocation(&sid) {
                            continue;
                        }
                        if let Err(e) = idmap.gid_for_sid(&sid) {
                            let why = remember_failure(&memory, block, &e);
                            failed.insert(block, why);
                            break;
                        }
                    }
                }
                failed
            })
            .await;
        allocated.unwrap_or_default()
    }

    /// Runs `work` (ID mapping that may wait for the lock file or the
    /// shared store) on a blocking thread, one at a time for this domain:
    /// the gate goes with the thread, whatever becomes of the lookup that
    /// started it. `None` when the thread failed (logged).
    async fn off_loop<T: Send + 'static>(
        &self,
        dir: &Directory,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let gate = self.mapping.clone().lock_owned().await;
        let done = tokio::task::spawn_blocking(move || {
            let _gate = gate;
            work()
        })
        .await;
        done.inspect_err(|e| {
            tracing::warn!(domain = %dir.cfg.name, error = %e, "ID mapping task failed");
        })
        .ok()
    }

    /// The users of `entries`, or why each is not served.
    async fn user_results(
        &self,
        dir: &Directory,
        sid: &Sid,
        entries: &[SearchEntry],
    ) -> Vec<Result<UserRecord, String>> {
        self.convert_mapped(dir, Some(sid), entries, |e| {
            ad_user(&dir.cfg, &dir.idmap, sid, e, SidIds::Mapped)
        })
        .await
    }

    async fn users_from(
        &self,
        dir: &Directory,
        sid: &Sid,
        entries: &[SearchEntry],
    ) -> Vec<UserRecord> {
        let results = self.user_results(dir, sid, entries).await;
        entries
            .iter()
            .zip(results)
            .filter_map(|(e, r)| match r {
                Ok(u) => Some(u),
                Err(reason) => {
                    // Debug: enumerations and member lists meet many such
                    // entries (e.g. no uidNumber under rfc2307).
                    tracing::debug!(domain = %dir.cfg.name, dn = %e.dn, %reason, "AD user not served");
                    None
                }
            })
            .collect()
    }

    /// The groups of `entries` (without members), or why each is not
    /// served.
    async fn group_results(
        &self,
        dir: &Directory,
        entries: &[SearchEntry],
    ) -> Vec<Result<GroupRecord, String>> {
        self.convert_mapped(dir, None, entries, |e| {
            ad_group(&dir.cfg, &dir.idmap, e, SidIds::Mapped)
        })
        .await
    }

    /// A user by `name`, `name@realm` or `DOMAIN\name`, matched
    /// case-insensitively.
    pub(crate) async fn user_by_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Option<UserRecord>, DirectoryError> {
        let sid = self.domain_sid(dir).await?;
        let netbios = if name.contains('\\') {
            self.netbios_name(dir).await
        } else {
            None
        };
        let realm = dn::dns_domain(&dir.cfg.base_dn);
        let Some(short) = short_input_name(name, &realm, &dir.cfg.name, netbios.as_deref()) else {
            return Ok(None);
        };
        if crate::directory::check_name(short).is_err() || short.contains(['\\', '@']) {
            return Ok(None);
        }
        let attr = &dir.cfg.attributes.username;
        let f = filter::or(
            account_name_candidates(short)
                .iter()
                .map(|c| filter::eq(attr, c)),
        );
        let entries = dir.search(&user_query(&dir.cfg, &f), true).await?;
        let want = output_name(short, dir.cfg.qualified_names, &dir.cfg.name);
        let results = self.user_results(dir, &sid, &entries).await;
        let mut users: Vec<UserRecord> = Vec::new();
        let mut refused = Vec::new();
        for (e, r) in entries.iter().zip(results) {
            match r {
                Ok(u) if u.user.name == want => users.push(u),
                Ok(_) => {}
                Err(reason) => refused.push((e, reason)),
            }
        }
        if users.is_empty() {
            for (e, reason) in refused {
                tracing::info!(domain = %dir.cfg.name, dn = %e.dn, %reason, "AD user not served");
            }
        }
        let Some(u) = dir.single_user(format_args!("user name {name:?}"), users) else {
            return Ok(None);
        };
        dir.allowed(u).await
    }

    /// The filter term selecting the object whose ID is `id`: `uidNumber`
    /// or `gidNumber` (rfc2307) or the binary objectSid from the reverse
    /// idmap; `None` when the ID belongs to no object of this domain.
    async fn id_term(&self, dir: &Directory, id: u32, posix_attr: &str) -> Option<String> {
        if dir.idmap.check_posix_id(&dir.cfg.name, id).is_err() {
            return None;
        }
        if dir.cfg.idmap.backend() == Backend::Rfc2307 {
            return Some(filter::eq(posix_attr, &id.to_string()));
        }
        let sid = if dir.idmap.resolve_needs_io(id) {
            // (An autorid slot unknown here: the shared store is read
            // again, on a thread that may wait for it.)
            let idmap = dir.idmap.clone();
            self.off_loop(dir, move || idmap.resolve_id(id)).await?
        } else {
            dir.idmap.mapped_resolve_id(id)
        }
        .ok()?;
        let ours = dir
            .idmap
            .domain_of_sid(&sid)
            .is_some_and(|d| d.eq_ignore_ascii_case(&dir.cfg.name));
        ours.then(|| format!("(objectSid={})", sid.to_ldap_filter_value()))
    }

    /// The user with UID `uid`.
    pub(crate) async fn user_by_uid(
        &self,
        dir: &Directory,
        uid: u32,
    ) -> Result<Option<UserRecord>, DirectoryError> {
        let sid = self.domain_sid(dir).await?;
        let Some(term) = self.id_term(dir, uid, &dir.cfg.attributes.uid_number).await else {
            return Ok(None);
        };
        let entries = dir.search(&user_query(&dir.cfg, &term), true).await?;
        let users = self.users_from(dir, &sid, &entries).await;
        dir.user_with_uid(uid, users).await
    }

    /// The group called `name` (case-insensitive), with its members.
    pub(crate) async fn group_by_name(
        &self,
        dir: &Directory,
        name: &str,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        self.domain_sid(dir).await?;
        let realm = dn::dns_domain(&dir.cfg.base_dn);
        let netbios = if name.contains('\\') {
            self.netbios_name(dir).await
        } else {
            None
        };
        let Some(short) = short_input_name(name, &realm, &dir.cfg.name, netbios.as_deref()) else {
            return Ok(None);
        };
        if crate::directory::check_name(short).is_err() || short.contains(['\\', '@']) {
            return Ok(None);
        }
        let attr = &dir.cfg.attributes.group_name;
        let f = filter::or(
            account_name_candidates(short)
                .iter()
                .map(|c| filter::eq(attr, c)),
        );
        let want = output_name(short, dir.cfg.qualified_names, &dir.cfg.name);
        let entries = dir.search(&group_query(&dir.cfg, &f, false), true).await?;
        self.single_group(
            dir,
            || format!("group name {name:?}"),
            &entries,
            |g| g.group.name == want,
        )
        .await
    }

    /// The group with GID `gid`, with its members.
    pub(crate) async fn group_by_gid(
        &self,
        dir: &Directory,
        gid: u32,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        self.domain_sid(dir).await?;
        let Some(term) = self.id_term(dir, gid, &dir.cfg.attributes.gid_number).await else {
            return Ok(None);
        };
        let entries = dir
            .search(&group_query(&dir.cfg, &term, false), true)
            .await?;
        self.single_group(
            dir,
            || format!("gid {gid}"),
            &entries,
            |g| g.group.gid == gid,
        )
        .await
    }

    /// The group among `entries` that `keep` accepts, when exactly one
    /// is; several are refused, logged as matches of what the search was
    /// for (`what`, formatted only then).
    async fn single_group(
        &self,
        dir: &Directory,
        what: impl FnOnce() -> String,
        entries: &[SearchEntry],
        keep: impl Fn(&GroupRecord) -> bool,
    ) -> Result<Option<GroupRecord>, DirectoryError> {
        let results = self.group_results(dir, entries).await;
        let mut found = Vec::new();
        for (e, r) in entries.iter().zip(results) {
            match r {
                Ok(g) if keep(&g) => found.push(g),
                Ok(_) => {}
                Err(reason) => {
                    tracing::info!(domain = %dir.cfg.name, dn = %e.dn, %reason, "AD group not served")
                }
            }
        }
        if found.len() > 1 {
            let dns: Vec<&str> = found.iter().map(|g| g.dn.as_str()).collect();
            let what = what();
            tracing::warn!(domain = %dir.cfg.name, dns = %dns.join(" | "), "{what} matches several entries: refused");
            return Ok(None);
        }
        let Some(mut g) = found.pop() else {
            return Ok(None);
        };
        g.group.members = self.members(dir, &g.dn).await?;
        Ok(Some(g))
    }

    /// Every value of `member` of the group `dn`, read in windows of
    /// [`RANGE_STEP`] values (`member;range=0-1499`, …) until the server
    /// marks the last one (`…-*`).
    pub(crate) async fn member_dns(
        &self,
        dir: &Directory,
        dn: &str,
    ) -> Result<Vec<String>, DirectoryError> {
        let member = &dir.cfg.attributes.member;
        let mut out = Vec::new();
        let mut low: u32 = 0;
        loop {
            let q = Query {
                base: dn.to_string(),
                scope: Scope::Base,
                filter: "(objectClass=*)".into(),
                attrs: vec![format!(
                    "{member};range={low}-{}",
                    low.saturating_add(RANGE_STEP - 1)
                )]
                .into(),
            };
            let entries = dir.search(&q, true).await?;
            let Some(e) = entries.first() else {
                break;
            };
            let (values, next) = range_window(e, member);
            let got = values.len();
            out.extend(values);
            match next {
                Some(n) if n > low && got > 0 => low = n,
                _ => break,
            }
        }
        Ok(out)
    }

    /// The direct members of the group `dn` given its member DNs: the
    /// served users' names in the order of `dns` (one paged search for the
    /// users whose `memberOf` is `dn`: much faster on AD than reading the
    /// DNs), and, when some member is not such a user, the DNs of the
    /// groups among them (one search).
    async fn direct_members(
        &self,
        dir: &Directory,
        sid: &Sid,
        dn: &str,
        dns: &[String],
    ) -> Result<(Vec<String>, Vec<String>), DirectoryError> {
        let f = filter::eq("memberOf", dn);
        let entries = dir.search(&user_query(&dir.cfg, &f), true).await?;
        let user_at: HashMap<String, String> = self
            .users_from(dir, sid, &entries)
            .await
            .into_iter()
            .map(|u| (dn::normalize(&u.dn), u.user.name))
            .collect();
        let names = dns
            .iter()
            .filter_map(|d| user_at.get(&dn::normalize(d)).cloned())
            .collect();
        let users: HashSet<String> = entries.iter().map(|e| dn::normalize(&e.dn)).collect();
        if dns.iter().all(|d| users.contains(&dn::normalize(d))) {
            return Ok((names, Vec::new()));
        }
        let groups = dir
            .search::<SearchEntry>(&group_query(&dir.cfg, &f, false), true)
            .await?
            .into_iter()
            .map(|e| e.dn)
            .collect();
        Ok((names, groups))
    }

    /// Members of the group `dn`: the served users among its members
    /// (ranged retrieval of `member`), and those of its nested groups, level
    /// by level up to `nesting_depth`, each group once.
    async fn members(&self, dir: &Directory, dn: &str) -> Result<Vec<String>, DirectoryError> {
        let sid = self.domain_sid(dir).await?;
        let mut visited = HashSet::from([dn::normalize(dn)]);
        let mut frontier = vec![dn.to_string()];
        let mut names = Vec::new();
        let mut depth = 0;
        while !frontier.is_empty() && depth <= dir.cfg.nesting_depth {
            let mut next = Vec::new();
            for g in &frontier {
                let dns = self.member_dns(dir, g).await?;
                if dns.is_empty() {
                    continue;
                }
                let (users, groups) = self.direct_members(dir, &sid, g, &dns).await?;
                names.extend(users);
                next.extend(
                    groups
                        .into_iter()
                        .filter(|g| visited.insert(dn::normalize(g))),
                );
            }
            frontier = next;
            depth += 1;
        }
        let mut seen = HashSet::new();
        names.retain(|n| seen.insert(n.clone()));
        Ok(names)
    }

    /// The groups of `user`, primary group first: the user's
    /// `tokenGroups` (every group, transitively, in one base search) read
    /// by SID in one search; without tokenGroups, the in-chain rule.
    pub(crate) async fn groups_of_user(
        &self,
        dir: &Directory,
        user: &UserRecord,
    ) -> Result<Vec<GroupRef>, DirectoryError> {
        let dsid = self.domain_sid(dir).await?;
        let q = Query {
            base: user.dn.clone(),
            scope: Scope::Base,
            filter: "(objectClass=*)".into(),
            attrs: vec!["tokenGroups".into()].into(),
        };
        // A DC that does not offer tokenGroups (rights, old servers: no
        // value, or a refusal saying so) gets the in-chain search instead;
        // any other failure (timeout, lost connection, missing entry) is an
        // error, not a reason to ask again another way.
        let token = match dir.search(&q, true).await {
            Ok(t) => t,
            Err(e) if e.is_unsupported() => {
                tracing::debug!(domain = %dir.cfg.name, dn = %user.dn, error = %e, "tokenGroups not readable");
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        let sids: Vec<Sid> = token
            .first()
            .map(token_group_sids)
            .unwrap_or_default()
            .into_iter()
            .filter(|s| s.rid_in(&dsid).is_some())
            .collect();
        let mut entries = Vec::new();
        if sids.is_empty() {
            tracing::debug!(domain = %dir.cfg.name, dn = %user.dn, "no tokenGroups: in-chain search");
            let f = format!("(member:{IN_CHAIN}:={})", filter::escape(&user.dn));
            entries = dir.search(&group_query(&dir.cfg, &f, false), true).await?;
        } else {
            for chunk in sids.chunks(VALUES_PER_SEARCH) {
                let f = filter::or(
                    chunk
                        .iter()
                        .map(|s| format!("(objectSid={})", s.to_ldap_filter_value())),
                );
                entries.extend(dir.search(&group_query(&dir.cfg, &f, false), true).await?);
            }
        }
        let primary = user.user.gid;
        let mut out = vec![GroupRef {
            name: String::new(),
            gid: primary,
        }];
        let mut gids = HashSet::from([primary]);
        let results = self.group_results(dir, &entries).await;
        for (e, r) in entries.iter().zip(results) {
            match r {
                Ok(g) if g.group.gid == primary => out[0].name = g.group.name,
                Ok(g) => {
                    if gids.insert(g.group.gid) {
                        out.push(GroupRef {
                            name: g.group.name,
                            gid: g.group.gid,
                        });
                    }
                }
                Err(reason) => {
                    tracing::debug!(domain = %dir.cfg.name, dn = %e.dn, %reason, "group of a user not served")
                }
            }
        }
        crate::directory::drop_off_path::drop_entries(entries);
        Ok(out)
    }

    /// Every user (paged at the domain's page size), without names or
    /// UIDs used twice, restricted by `limit_to_groups`; with the keys the
    /// users left out still hold.
    pub(crate) async fn all_users(
        &self,
        dir: &Directory,
    ) -> Result<Listing<UserRecord>, DirectoryError> {
        let sid = self.domain_sid(dir).await?;
        let entries = dir.search(&user_query(&dir.cfg, ""), false).await?;
        // An AD lookup of a name counts the valid entries served under it
        // only: no other entry claims a name.
        let users = self.users_from(dir, &sid, &entries).await;
        dir.unique_allowed_users(users, &[], &Claims::default())
            .await
    }

    /// Every group with its members (nested ones included), from one
    /// paged group search and one paged user search; groups whose `member`
    /// came back ranged are read to the end.
    pub(crate) async fn all_groups(
        &self,
        dir: &Directory,
    ) -> Result<Listing<GroupRecord>, DirectoryError> {
        let sid = self.domain_sid(dir).await?;
        let member = dir.cfg.attributes.member.clone();
        let entries = dir.search(&group_query(&dir.cfg, "", true), false).await?;
        let user_entries = dir.search(&user_query(&dir.cfg, ""), false).await?;
        let user_at: HashMap<String, String> = self
            .users_from(dir, &sid, &user_entries)
            .await
            .into_iter()
            .map(|u| (dn::normalize(&u.dn), u.user.name))
            .collect();
        let mut dns_of: HashMap<String, Vec<String>> = HashMap::new();
        for e in &entries {
            let (mut values, next) = range_window(e, &member);
            if next.is_some() {
                values = self.member_dns(dir, &e.dn).await?;
            }
            dns_of.insert(dn::normalize(&e.dn), values);
        }
        let direct: HashMap<String, Vec<String>> = dns_of
            .iter()
            .map(|(g, dns)| {
                let names = dns
                    .iter()
                    .filter_map(|d| user_at.get(&dn::normalize(d)).cloned())
                    .collect();
                (g.clone(), names)
            })
            .collect();
        let mut groups = Vec::new();
        let results = self.group_results(dir, &entries).await;
        for (e, r) in entries.iter().zip(results) {
            match r {
                Ok(mut g) => {
                    let key = dn::normalize(&g.dn);
                    let nested = expand_offline(&g.dn, &dns_of, &direct, dir.cfg.nesting_depth);
                    let mut seen = HashSet::new();
                    g.group.members = direct
                        .get(&key)
                        .cloned()
                        .unwrap_or_default()
                        .into_iter()
                        .chain(nested)
                        .filter(|m| seen.insert(m.clone()))
                        .collect();
                    groups.push(g);
                }
                Err(reason) => {
                    tracing::debug!(domain = %dir.cfg.name, dn = %e.dn, %reason, "AD group not served")
                }
            }
        }
        Ok(dir.unique_groups(groups, &[], &Claims::default()))
    }
}

impl Ad {
    /// The domain SID for judging entries without asking the server: the
    /// one learnt or registered, else the domain part of the first entry's
    /// objectSid (registered, as the base DN's would be).
    fn sid_of_entries(&self, dir: &Directory, entries: &[SearchEntry]) -> Option<Sid> {
        if let Some(s) = self.sid.get() {
            return Some(*s);
        }
        if let Ok(Some(s)) = dir.idmap.domain_sid(&dir.cfg.name) {
            return Some(s);
        }
        let sid = entries
            .iter()
            .find_map(|e| object_sid(e).ok().and_then(|s| s.domain()))?;
        dir.idmap.set_domain_sid(&dir.cfg.name, sid).ok()?;
        Some(sid)
    }

    /// Users as `rosterctl test` shows them: the daemon's AD mapping (e.g.
    /// a user without `uidNumber` under the rfc2307 idmap backend is
    /// refused).
    pub(crate) fn judge_users(
        &self,
        dir: &Directory,
        entries: &[SearchEntry],
    ) -> Vec<Verdict<UserRecord>> {
        let sid = self.sid_of_entries(dir, entries);
        entries
            .iter()
            .map(|e| match &sid {
                Some(s) => match ad_user(&dir.cfg, &dir.idmap, s, e, SidIds::Allocating) {
                    Ok(u) => Verdict::Served(u),
                    Err(reason) => Verdict::Refused(reason),
                },
                None => Verdict::Refused(
                    "the domain SID is unknown (no user has an objectSid)".to_string(),
                ),
            })
            .collect()
    }

    /// Groups as `rosterctl test` shows them.
    pub(crate) fn judge_groups(
        &self,
        dir: &Directory,
        entries: &[SearchEntry],
    ) -> Vec<Verdict<GroupRecord>> {
        entries
            .iter()
            .map(
                |e| match ad_group(&dir.cfg, &dir.idmap, e, SidIds::Allocating) {
                    Ok(g) => Verdict::Served(g),
                    Err(reason) => Verdict::Refused(reason),
                },
            )
            .collect()
    }
}

/// The object an AD SID names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SidObject {
    /// A user.
    User(UserRecord),
    /// A group (with its members).
    Group(GroupRecord),
}

impl Ad {
    /// The user or group whose `objectSid` is `sid` (searched in its
    /// escaped binary form), or `None` when `sid` is not an object of this
    /// domain.
    pub(crate) async fn lookup_sid(
        &self,
        dir: &Directory,
        sid: &Sid,
    ) -> Result<Option<SidObject>, DirectoryError> {
        let dsid = self.domain_sid(dir).await?;
        if sid.rid_in(&dsid).is_none() {
            return Ok(None);
        }
        let term = format!("(objectSid={})", sid.to_ldap_filter_value());
        let entries = dir.search(&user_query(&dir.cfg, &term), true).await?;
        let users = self.users_from(dir, &dsid, &entries).await;
        // (Bound first: the formatting arguments must not live across
        // the awaits below.)
        let user = dir.single_user(format_args!("SID {sid}"), users);
        if let Some(u) = user {
            return Ok(dir.allowed(u).await?.map(SidObject::User));
        }
        let entries = dir
            .search(&group_query(&dir.cfg, &term, false), true)
            .await?;
        Ok(self
            .single_group(dir, || format!("SID {sid}"), &entries, |_| true)
            .await?
            .map(SidObject::Group))
    }
}

#[cfg(test)]
mod map_tests;
