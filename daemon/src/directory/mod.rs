//! Directory access: one [`Directory`] per enabled `[[domain]]`.
//!
//! Lookups of users and groups by name and ID, the groups of a user (nested
//! groups included, in a few searches), paged enumeration, and the
//! operations of a login (password binds, account state, password
//! changes). What differs between an RFC 2307 directory and Active
//! Directory is a type of its own, the domain's flavour (`flavour`:
//! `rfc2307::Rfc2307`, [`ad::Ad`]); [`Directory`] holds what both share
//! and hands each operation to its flavour. Entries are validated before
//! they are served ([`entry_to_user`], [`entry_to_group`], [`ad::ad_user`]);
//! rejected ones are logged once per sighting with their DN and the reason.
//! Connections fail over between the domain's URIs and never wait longer
//! than `connect_timeout` / `op_timeout`; a dead server is remembered.

pub(crate) mod account;
pub mod ad;
pub mod busy_poll;
mod conn;
pub mod discovery;
mod drop_off_path;
mod entry;
mod flavour;
pub(crate) mod idmap_store;
pub(crate) mod krb5;
pub(crate) mod lifecycle;
mod login;
mod nesting;
mod netgroup;
pub(crate) mod ppolicy;
mod records;
mod referral;
mod reset;
pub(crate) mod rfc2307;
mod search;
mod session;
pub mod sshkey;
mod tls;

pub use account::{AccountInfo, BindResult, ChangeResult, PolicyNotice};
/// DN parsing, public for the fuzz targets (fuzz/).
pub use entry::user_name_from_dn;
pub use entry::{
    check_name, entry_to_group, entry_to_user, expand_template, member_dns, member_names,
    EntryRejected,
};
pub use flavour::Verdict;
pub use krb5::login::UserTickets;
pub use krb5::{KrbError, KrbFailure};
pub use login::KrbLogin;
pub use netgroup::{parse_triple, NetgroupRecord, TripleError};
pub use records::{
    DirectoryError, DirectoryStatus, GroupRecord, GroupRef, HeldKeys, Listing, ServerStatus,
    UserRecord,
};
pub use referral::ReferralCounts;
pub use session::{Answered, UserSession};

use crate::census::Census;
use crate::config::{DomainConfig, DomainSet, SearchBase, SearchScope};
use crate::dn;
use crate::filter;
use conn::{Lease, Pool};
use flavour::{by_flavour, Flavour};
use ldap3::{Ldap, Scope, SearchEntry};
pub(crate) use search::EntrySink;
use search::{Entry, KeptEntries, Query, SearchFail};
use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// The hasher of tables that only place names and IDs the directory
/// chooses (keys compared in full; see `unique`).
type FastHash = foldhash::fast::RandomState;

/// Lookups of a batch asked at once where the flavour has no batch search.
const PER_KEY_PARALLEL: usize = 32;

/// Access to one domain's directory. `Send + Sync`; share it in an `Arc`.
pub struct Directory {
    cfg: DomainConfig,
    idmap: Arc<DomainSet>,
    /// Connections and server state; shared with the same domain's
    /// directory in the next configuration generation when its
    /// configuration did not change.
    pool: Arc<Pool>,
    searches: Arc<AtomicU64>,
    referrals: Arc<referral::Referrals>,
    /// What kind of directory it is: its lookup flows and account rules.
    flavour: Flavour,
    /// Password policy values read for logins (lockout durations, AD's
    /// `maxPwdAge`), kept for [`lifecycle::POLICY_TTL`].
    policies: Arc<lifecycle::PolicyCache>,
}

impl std::fmt::Debug for Directory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Directory")
            .field("domain", &self.cfg.name)
            .finish()
    }
}

impl Directory {
    /// Prepares access to the domain `cfg` (reads its TLS files; connects
    /// at the first lookup, or before when [`Directory::connect_in_background`]
    /// is called; a GSSAPI domain acquires its host TGT
    /// in the background from now on). Logs a warning when `tls_verify` is
    /// off.
    pub fn new(cfg: DomainConfig, idmap: Arc<DomainSet>) -> Result<Directory, DirectoryError> {
        if cfg.uris.is_empty() && !cfg.discovers_servers() {
            return Err(DirectoryError::invalid(format!(
                "domain \"{}\" has no URI",
                cfg.name
            )));
        }
        if !cfg.tls_verify && cfg.any_tls() {
            tracing::warn!(domain = %cfg.name, "tls_verify = false: server certificates are NOT checked; anyone on the network path can impersonate the directory");
        }
        let pool = Pool::new(cfg.clone())?;
        // A GSSAPI domain's host TGT is acquired, and renewed, in the
        // background from now on.
        pool.start_renewal();
        Ok(Directory {
            idmap,
            pool,
            searches: Arc::new(AtomicU64::new(0)),
            referrals: Arc::default(),
            flavour: Flavour::of(&cfg),
            policies: Arc::default(),
            cfg,
        })
    }

    /// This domain in the next configuration generation, whose ID mapping
    /// is `idmap` (its configuration unchanged): shares the connections,
    /// the servers' state and the search counter, and registers the domain
    /// SID already learnt with the new mapping.
    pub fn for_generation(&self, idmap: Arc<DomainSet>) -> Directory {
        let flavour = self.flavour.for_generation(&idmap, &self.cfg.name);
        Directory {
            cfg: self.cfg.clone(),
            idmap,
            pool: self.pool.clone(),
            searches: self.searches.clone(),
            referrals: self.referrals.clone(),
            flavour,
            policies: self.policies.clone(),
        }
    }

    /// The ID mapping of this directory's configuration generation.
    pub fn idmap(&self) -> &Arc<DomainSet> {
        &self.idmap
    }

    /// The domain name.
    pub fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The domain configuration.
    pub fn config(&self) -> &DomainConfig {
        &self.cfg
    }

    /// True when names are matched case-insensitively (Active Directory):
    /// `Alice` and `alice` are one account.
    pub fn case_insensitive_names(&self) -> bool {
        by_flavour!(self, f => f.case_insensitive_names())
    }

    /// True when every ID is derived from the object's SID (an AD domain
    /// with the rid, sss or autorid backend): two entries can never share
    /// an ID.
    pub fn ids_from_sids(&self) -> bool {
        by_flavour!(self, f => f.ids_from_sids(&self.cfg))
    }

    /// Connection state: online/offline, server in use, last error.
    pub fn status(&self) -> DirectoryStatus {
        let mut s = self.pool.status();
        s.searches = self.searches.load(Ordering::Relaxed);
        s
    }

    /// The servers of the domain in failover order: its `uris`, or the DCs
    /// found in DNS (an AD domain without `uris`; resolved when due).
    pub async fn servers(&self) -> Result<Vec<String>, DirectoryError> {
        self.pool.servers().await
    }

    /// Forgets every server's backoff: the next operation tries them all.
    pub fn retry_now(&self) {
        self.pool.retry_now()
    }

    /// Begins connecting to the directory in the background (rosterd, once
    /// its sockets answer): the first lookup then finds the connection
    /// made. A failure counts as a lookup's would.
    pub fn connect_in_background(&self) {
        self.pool.connect_in_background()
    }

    /// A connected handle bound as the service account (or anonymous), with
    /// the domain's TLS settings; shares the daemon's connection.
    pub async fn connection(&self) -> Result<Ldap, DirectoryError> {
        Ok(self.pool.get().await?.ldap)
    }

    /// A new, unbound connection to `uri` with the domain's TLS settings and
    /// connect timeout (for user binds on a separate connection).
    pub async fn connect_unbound(&self, uri: &str) -> Result<Ldap, DirectoryError> {
        self.pool.connect_unbound(uri).await
    }

    /// Runs every query of `qs` ([`Directory::search`]); an entry found
    /// under several bases is kept once.
    async fn search_all<E: Entry>(
        &self,
        qs: &[Query],
        bounded: bool,
    ) -> Result<Vec<E>, DirectoryError> {
        // One base needs no sorting out: a search answers an entry once
        // (`search_paged` already drops referred entries it had).
        if let [q] = qs {
            return self.search(q, bounded).await;
        }
        let mut seen = HashSet::new();
        let mut out = Vec::new();
        for q in qs {
            for e in self.search::<E>(q, bounded).await? {
                if seen.insert(dn::normalize(e.dn())) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// The entries every query of `qs` finds for a lookup (bounded, paged,
    /// as [`Directory::search_all`] runs them), put into `sink` as they
    /// arrive ([`Directory::search_into`]), for a reader that takes what
    /// it needs from each entry at once instead of keeping the entries: an
    /// entry found under several bases, or again through a referral,
    /// reaches it once for each. A part of the directory a referral led to
    /// that could not be searched fails it.
    pub(crate) async fn search_all_into<E: Entry>(
        &self,
        qs: &[Query],
        sink: &mut dyn EntrySink<E>,
    ) -> Result<(), DirectoryError> {
        for q in qs {
            if let Some(e) = self.search_into(q, true, true, sink).await? {
                return Err(e);
            }
        }
        Ok(())
    }

    /// A lookup of one name or ID over the search bases `qs`, in order:
    /// stops at the first base that answers with an entry.
    async fn search_first(&self, qs: &[Query]) -> Result<Vec<SearchEntry>, DirectoryError> {
        for q in qs {
            let found = self.search_one(q).await?;
            if !found.is_empty() {
                return Ok(found);
            }
        }
        Ok(Vec::new())
    }

    /// Every user entry (`users`) or group entry of the search bases, with
    /// referrals followed (for `rosterctl test`; not validated).
    pub async fn scan(&self, users: bool) -> Result<Vec<SearchEntry>, DirectoryError> {
        let qs = by_flavour!(self, f => f.scan_queries(self, users));
        self.search_all(&qs, false).await
    }

    /// Runs a search with the domain's connection: a broken reused
    /// connection is replaced once; a timeout marks the server down.
    /// `bounded` applies `op_timeout` to the whole search (lookups); without
    /// it each reply is bounded (enumeration).
    async fn search<E: Entry>(&self, q: &Query, bounded: bool) -> Result<Vec<E>, DirectoryError> {
        self.search_paged(q, bounded, true, false).await
    }

    /// [`Directory::search`] for a lookup of one name or ID (bounded):
    /// without the paging control, unless the server's size limit says
    /// otherwise.
    pub(crate) async fn search_one(&self, q: &Query) -> Result<Vec<SearchEntry>, DirectoryError> {
        self.search_paged(q, true, false, true).await
    }

    /// [`Directory::search_one`] for a lookup of many names or IDs at
    /// once: a referral that cannot be followed fails the search even when
    /// entries were found (another key's entry may lie behind it).
    pub(crate) async fn search_many(&self, q: &Query) -> Result<Vec<SearchEntry>, DirectoryError> {
        self.search_paged(q, true, false, false).await
    }

    /// A new connection of its own to the server in use, bound as the
    /// service account (for a listing, or a paged search that must not
    /// share the connection); unbind it when done.
    async fn own_connection(&self) -> Result<Lease, DirectoryError> {
        let uri = self.pool.get().await?.uri;
        let ldap = self.pool.connect_and_bind(&uri).await?;
        Ok(Lease {
            ldap,
            uri,
            fresh: true,
        })
    }

    /// Every entry `q` finds, handed to `each` as it arrives (paged, each
    /// reply bounded by `op_timeout`): a listing too large to hold at once
    /// (the census). It runs on a connection of its own to the server in
    /// use, bound as the service account, so that its pages never meet a
    /// lookup's paged search on the shared connection (a server keeps one
    /// paged search per connection); it is not retried and follows no
    /// referral: a search that meets one fails, since entries behind it
    /// would be missing.
    pub(crate) async fn search_each(
        &self,
        q: &Query,
        each: &mut (dyn FnMut(SearchEntry) + Send),
    ) -> Result<(), DirectoryError> {
        let op = self.cfg.op_timeout;
        let Lease { ldap, uri, .. } = self.own_connection().await?;
        self.searches.fetch_add(1, Ordering::Relaxed);
        let page = Some(self.cfg.page_size);
        let unavailable =
            |msg: &str| DirectoryError::unavailable(format!("domain \"{}\": {msg}", self.cfg.name));
        let mut closer = ldap.clone();
        let listed = search::run_each(ldap, q, page, Some(op), each).await;
        let _ = closer.unbind().await;
        match listed {
            Ok(refs) => match refs.first() {
                None => Ok(()),
                Some(r) => Err(DirectoryError::refused(
                    10,
                    format!(
                        "search under {} with {} refers to {r}: not followed for a listing",
                        q.base, q.filter
                    ),
                )),
            },
            Err(SearchFail::Timeout) => Err(unavailable(&format!(
                "{uri}: no answer within op_timeout {op:?}"
            ))),
            Err(SearchFail::Connection(msg)) => Err(unavailable(&format!("{uri}: {msg}"))),
            Err(SearchFail::Server(e)) => Err(e),
            Err(SearchFail::SizeLimit) => Err(unavailable("size limit of a paged search")),
            Err(SearchFail::PagedCookie(msg)) => Err(DirectoryError::refused(
                53,
                format!("search under {} with {}: {msg}", q.base, q.filter),
            )),
        }
    }

    /// Every entry the queries `qs` find, handed to `each` as it arrives
    /// (an enumeration: nothing but what `each` keeps is held). Each query
    /// runs as [`Directory::search`] runs a listing: paged, each reply
    /// bounded by `op_timeout`, on a connection of its own to the server
    /// in use (a timeout or a broken connection marks the server down), the
    /// referrals it meets followed; an entry found under several bases is
    /// handed over once. True when entries behind referrals of a single
    /// query were handed over: they may repeat one of the query's own
    /// entries (the caller drops an entry whose DN came already). Each
    /// entry comes with the index of its query in `qs`, the search base
    /// that returned it first.
    async fn list_each(
        &self,
        qs: &[Query],
        each: &mut (dyn FnMut(SearchEntry, u16) + Send),
    ) -> Result<bool, DirectoryError> {
        // Several bases can overlap: the DNs seen are kept (as
        // `search_all` does); a single base lists each entry once.
        let mut seen: Option<HashSet<String>> = (qs.len() > 1).then(HashSet::new);
        let single = seen.is_none();
        let mut repeats = false;
        for (i, q) in qs.iter().enumerate() {
            let base = u16::try_from(i).unwrap_or(u16::MAX);
            let mut keep = |e: SearchEntry| {
                if seen.as_mut().is_none_or(|s| s.insert(dn::normalize(&e.dn))) {
                    each(e, base)
                }
            };
            let (refs, uri) = self.list_one(q, &mut keep).await?;
            if refs.is_empty() {
                continue;
            }
            let page = Some(self.cfg.page_size);
            let (more, failure) = self.chase(q, refs, page, &uri).await;
            if let Some(e) = failure {
                return Err(e);
            }
            repeats |= single && !more.is_empty();
            more.into_iter().for_each(&mut keep);
        }
        Ok(repeats)
    }

    /// One query of [`Directory::list_each`]: its entries to `each`; the
    /// referral URLs it met and the server that answered.
    async fn list_one(
        &self,
        q: &Query,
        each: &mut (dyn FnMut(SearchEntry) + Send),
    ) -> Result<(Vec<String>, String), DirectoryError> {
        let op = self.cfg.op_timeout;
        let Lease { ldap, uri, .. } = self.own_connection().await?;
        self.searches.fetch_add(1, Ordering::Relaxed);
        let mut closer = ldap.clone();
        let res = search::run_each(ldap, q, Some(self.cfg.page_size), Some(op), each).await;
        let _ = closer.unbind().await;
        let unavailable =
            |msg: &str| DirectoryError::unavailable(format!("domain \"{}\": {msg}", self.cfg.name));
        match res {
            Ok(refs) => {
                self.pool.note_success(&uri);
                Ok((refs, uri))
            }
            Err(SearchFail::Timeout) => {
                let msg = format!("no answer within op_timeout {op:?}");
                self.pool.discard(&uri, &msg, true);
                Err(unavailable(&msg))
            }
            Err(SearchFail::Connection(msg)) => {
                tracing::debug!(domain = %self.cfg.name, error = %msg, "listing failed on the connection");
                self.pool.discard(&uri, &msg, true);
                Err(unavailable(&msg))
            }
            Err(SearchFail::Server(e)) => Err(e),
            Err(SearchFail::SizeLimit) => Err(unavailable("size limit of a paged search")),
            Err(SearchFail::PagedCookie(msg)) => Err(DirectoryError::refused(
                53,
                format!("search under {} with {}: {msg}", q.base, q.filter),
            )),
        }
    }

    /// [`Directory::search_into`] keeping the entries (`paged`: with the
    /// paging control; `lookup`: a lookup of one name or ID, which answers
    /// the entry it found though a referral could not be followed).
    async fn search_paged<E: Entry>(
        &self,
        q: &Query,
        bounded: bool,
        paged: bool,
        lookup: bool,
    ) -> Result<Vec<E>, DirectoryError> {
        let mut kept = KeptEntries::new();
        match self.search_into(q, bounded, paged, &mut kept).await? {
            // A lookup of one name or ID that found its entry does without
            // the part of the directory that cannot be reached; an empty
            // answer, a list of groups or an enumeration would be wrong.
            Some(e) if !lookup || kept.entries.is_empty() => Err(e),
            _ => Ok(kept.entries),
        }
    }

    /// Runs query `q` with the domain's connection, putting its entries
    /// into `sink` as they arrive ([`EntrySink`]), referrals followed: a
    /// broken reused connection is replaced once (the query asked again
    /// from its start), a timeout marks the server down, a size limit of
    /// an unpaged search has it asked again paged, and a paged search whose
    /// cookie another one on the shared connection broke is asked again on
    /// a connection of its own. `bounded` applies `op_timeout` to the
    /// whole search (lookups); without it each reply is bounded
    /// (enumeration). Gives the error of a part of the directory a referral
    /// led to that could not be searched, if any (the caller decides
    /// whether its answer does without it); after an error, what `sink`
    /// holds is no answer.
    async fn search_into<E: Entry>(
        &self,
        q: &Query,
        bounded: bool,
        mut paged: bool,
        sink: &mut dyn EntrySink<E>,
    ) -> Result<Option<DirectoryError>, DirectoryError> {
        let op = self.cfg.op_timeout;
        let mut attempt = 0;
        // A listing (unbounded) runs on a connection of its own, and so
        // does a paged search another paged search broke on the shared
        // one (a server keeps one per connection).
        let mut dedicated = !bounded;
        let mut asked = false;
        sink.begin();
        while attempt < 2 {
            let Lease { ldap, uri, fresh } = if dedicated {
                // (Boxed: a listing's, or a paged search's after another
                // broke it; its connecting kept out of a lookup's poll.)
                crate::boxed_apart(|| self.own_connection()).await?
            } else {
                self.pool.get().await?
            };
            self.searches.fetch_add(1, Ordering::Relaxed);
            let page = paged.then_some(self.cfg.page_size);
            let mut own = dedicated.then(|| ldap.clone());
            // (Each run after the first asks the search again from its
            // start.)
            if asked {
                sink.restart();
            }
            asked = true;
            // A bounded search has one timer, around it all.
            let mut put = |e| sink.put(e);
            let fut = search::run_each(ldap, q, page, (!bounded).then_some(op), &mut put);
            let res = if bounded {
                tokio::time::timeout(op, fut)
                    .await
                    .unwrap_or(Err(SearchFail::Timeout))
            } else {
                fut.await
            };
            if let Some(l) = own.as_mut() {
                let _ = l.unbind().await;
            }
            match res {
                Ok(refs) => {
                    self.pool.note_success(&uri);
                    if refs.is_empty() {
                        return Ok(None);
                    }
                    // (Boxed: referrals are rare, and following them
                    // made every search's future kilobytes larger.)
                    let (more, failure) =
                        crate::boxed_apart(|| self.chase::<E>(q, refs, page, &uri)).await;
                    sink.referred(more);
                    return Ok(failure);
                }
                Err(SearchFail::Timeout) => {
                    let msg = format!("no answer within op_timeout {op:?}");
                    self.pool.discard(&uri, &msg, true);
                    return Err(DirectoryError::unavailable(format!(
                        "domain \"{}\": {msg}",
                        self.cfg.name
                    )));
                }
                Err(SearchFail::Connection(msg)) => {
                    tracing::debug!(domain = %self.cfg.name, error = %msg, fresh, "search failed on the connection");
                    self.pool.discard(&uri, &msg, fresh);
                    if fresh {
                        return Err(DirectoryError::unavailable(format!(
                            "domain \"{}\": {msg}",
                            self.cfg.name
                        )));
                    }
                }
                Err(SearchFail::Server(e)) => return Err(e),
                Err(SearchFail::SizeLimit) => {
                    self.pool.note_success(&uri);
                    paged = true;
                    continue;
                }
                Err(SearchFail::PagedCookie(msg)) if !dedicated => {
                    tracing::debug!(domain = %self.cfg.name, error = %msg, "paged search broken by another one on the shared connection: asked again on a connection of its own");
                    self.pool.note_success(&uri);
                    dedicated = true;
                    continue;
                }
                Err(SearchFail::PagedCookie(msg)) => {
                    return Err(DirectoryError::refused(
                        53,
                        format!("search under {} with {}: {msg}", q.base, q.filter),
                    ))
                }
            }
            attempt += 1;
        }
        Err(DirectoryError::unavailable(format!(
            "domain \"{}\": connection lost twice",
            self.cfg.name
        )))
    }

    fn reject(&self, r: &EntryRejected) {
        tracing::warn!(domain = %self.cfg.name, dn = %r.dn, reason = %r.reason, "directory entry not served");
    }

    /// The user with UID `uid` among `users` (a flavour's reading of the
    /// directory's answer to a search for that UID): none when several
    /// entries claim it ([`Directory::single_user`]), then
    /// `limit_to_groups` applied ([`Directory::allowed`]).
    async fn user_with_uid(
        &self,
        uid: u32,
        users: Vec<UserRecord>,
    ) -> Result<Option<UserRecord>, DirectoryError> {
        let users = users.into_iter().filter(|u| u.user.uid == uid).collect();
        let Some(u) = self.single_user(format_args!("uid {uid}"), users) else {
            return Ok(None);
        };
        self.allowed(u).await
    }

    /// The one user of `users`, the entries answering `what`; none when
    /// several do (logged with their DNs, `what` formatted only then), so
    /// that a name or ID never maps to two objects.
    fn single_user(
        &self,
        what: std::fmt::Arguments<'_>,
        users: Vec<UserRecord>,
    ) -> Option<UserRecord> {
        if users.len() > 1 {
            let dns: Vec<&str> = users.iter().map(|u| u.dn.as_str()).collect();
            tracing::warn!(domain = %self.cfg.name, dns = %dns.join(" | "), "{what} matches several entries: refused");
            return None;
        }
        users.into_iter().next()
    }

    /// The user called `name`, if it exists for this host (an RFC 2307
    /// directory matches the name exactly; AD also takes `name@realm` and
    /// `DOMAIN\\name`, case-insensitively).
    pub async fn user_by_name(&self, name: &str) -> Result<Option<UserRecord>, DirectoryError> {
        by_flavour!(self, f => f.user_by_name(self, name).await)
    }

    /// The user with UID `uid`, if it exists for this host.
    pub async fn user_by_uid(&self, uid: u32) -> Result<Option<UserRecord>, DirectoryError> {
        by_flavour!(self, f => f.user_by_uid(self, uid).await)
    }

    /// The users called `names`, each as [`Directory::user_by_name`]
    /// answers it, in the order asked: an RFC 2307 domain asks one search
    /// per search base for all of them (keep `names` to a few hundred);
    /// Active Directory asks each name on its own, `PER_KEY_PARALLEL`
    /// at a time.
    pub async fn users_by_names(
        self: &Arc<Self>,
        names: &[String],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        if let Flavour::Rfc2307(f) = &self.flavour {
            return f.users_by_names(self, names).await;
        }
        self.each_key(names.to_vec(), |dir, n| async move {
            dir.user_by_name(&n).await
        })
        .await
    }

    /// The users with UIDs `uids`, each as [`Directory::user_by_uid`]
    /// answers it, in the order asked (batched like
    /// [`Directory::users_by_names`]).
    pub async fn users_by_uids(
        self: &Arc<Self>,
        uids: &[u32],
    ) -> Result<Vec<Option<UserRecord>>, DirectoryError> {
        if let Flavour::Rfc2307(f) = &self.flavour {
            return f.users_by_uids(self, uids).await;
        }
        self.each_key(
            uids.to_vec(),
            |dir, u| async move { dir.user_by_uid(u).await },
        )
        .await
    }

    /// The groups called `names`, each as [`Directory::group_by_name`]
    /// answers it (members of nested groups included), in the order asked
    /// (batched like [`Directory::users_by_names`]).
    pub async fn groups_by_names(
        self: &Arc<Self>,
        names: &[String],
    ) -> Result<Vec<Option<GroupRecord>>, DirectoryError> {
        if let Flavour::Rfc2307(f) = &self.flavour {
            return f.groups_by_names(self, names).await;
        }
        self.each_key(names.to_vec(), |dir, n| async move {
            dir.group_by_name(&n).await
        })
        .await
    }

    /// The groups with GIDs `gids`, each as [`Directory::group_by_gid`]
    /// answers it, in the order asked (batched like
    /// [`Directory::users_by_names`]).
    pub async fn groups_by_gids(
        self: &Arc<Self>,
        gids: &[u32],
    ) -> Result<Vec<Option<GroupRecord>>, DirectoryError> {
        if let Flavour::Rfc2307(f) = &self.flavour {
            return f.groups_by_gids(self, gids).await;
        }
        self.each_key(
            gids.to_vec(),
            |dir, g| async move { dir.group_by_gid(g).await },
        )
        .await
    }

    /// The census of the domain's users (`users`) or groups
    /// ([`crate::census`]); `None` for a flavour that takes none (Active
    /// Directory: its names are unique, and so are IDs from SIDs).
    pub async fn census(&self, users: bool) -> Result<Option<Census>, DirectoryError> {
        match &self.flavour {
            Flavour::Rfc2307(f) => Ok(Some(f.census(self, users, false).await?.0)),
            Flavour::Ad(_) => Ok(None),
        }
    }

    /// True when [`Directory::users_census_with_listing`] reads the user
    /// listing with the census (an RFC 2307 domain with one user search
    /// base and no `limit_to_groups`).
    pub fn census_reads_users(&self) -> bool {
        match &self.flavour {
            Flavour::Rfc2307(f) => f.census_reads_users(&self.cfg),
            Flavour::Ad(_) => false,
        }
    }

    /// The census of the domain's users, and with it the user listing
    /// [`Directory::user_listing`] would give when the census's pass read
    /// it whole (one search, no `limit_to_groups`; `None` otherwise):
    /// the first listing of a domain that enumerates then takes no pass
    /// of its own. `None` for a flavour that takes no census.
    pub async fn users_census_with_listing(
        &self,
    ) -> Result<Option<(Census, Option<Listing<UserRecord>>)>, DirectoryError> {
        match &self.flavour {
            Flavour::Rfc2307(f) => Ok(Some(f.census(self, true, true).await?)),
            Flavour::Ad(_) => Ok(None),
        }
    }

    /// `lookup` for every key, [`PER_KEY_PARALLEL`] at a time, answers in
    /// the order of `keys`; the first error fails them all.
    async fn each_key<K, T, F, Fut>(
        self: &Arc<Self>,
        keys: Vec<K>,
        lookup: F,
    ) -> Result<Vec<Option<T>>, DirectoryError>
    where
        K: Send + 'static,
        T: Send + 'static,
        F: Fn(Arc<Directory>, K) -> Fut,
        Fut: std::future::Future<Output = Result<Option<T>, DirectoryError>> + Send + 'static,
    {
        let mut out: Vec<Option<T>> = (0..keys.len()).map(|_| None).collect();
        let mut keys = keys.into_iter().enumerate().peekable();
        while keys.peek().is_some() {
            let mut set = tokio::task::JoinSet::new();
            for (idx, k) in keys.by_ref().take(PER_KEY_PARALLEL) {
                let fut = lookup(self.clone(), k);
                set.spawn(async move { (idx, fut.await) });
            }
            while let Some(joined) = set.join_next().await {
                let (idx, found) = joined.map_err(|e| {
                    DirectoryError::unavailable(format!(
                        "domain \"{}\": lookup task failed: {e}",
                        self.cfg.name
                    ))
                })?;
                out[idx] = found?;
            }
        }
        Ok(out)
    }

    /// The group called `name`, members of nested groups included.
    pub async fn group_by_name(&self, name: &str) -> Result<Option<GroupRecord>, DirectoryError> {
        by_flavour!(self, f => f.group_by_name(self, name).await)
    }

    /// The group with GID `gid`, members of nested groups included.
    pub async fn group_by_gid(&self, gid: u32) -> Result<Option<GroupRecord>, DirectoryError> {
        by_flavour!(self, f => f.group_by_gid(self, gid).await)
    }

    /// Every group of `user`, its primary group first (even when the
    /// directory has no group entry for it: then the name is empty),
    /// nested groups included; a few searches, never one per group.
    pub async fn groups_of_user(&self, user: &UserRecord) -> Result<Vec<GroupRef>, DirectoryError> {
        by_flavour!(self, f => f.groups_of_user(self, user).await)
    }

    /// True when a user's groups are found by its login name alone
    /// ([`Directory::groups_of_name`]: RFC 2307's `memberUid`), before its
    /// entry is read.
    pub fn groups_by_name_alone(&self) -> bool {
        by_flavour!(self, f => f.groups_by_name_alone(&self.cfg))
    }

    /// The GIDs of [`Directory::groups_of_user`] of the user called `name`
    /// but for its primary group, in no order, found by the name alone
    /// where [`Directory::groups_by_name_alone`] (refused elsewhere).
    pub async fn groups_of_name(&self, name: &str) -> Result<Vec<u32>, DirectoryError> {
        by_flavour!(self, f => f.groups_of_name(self, name).await)
    }

    /// Every user of the domain (paged), validated, without names or UIDs
    /// that occur twice, restricted by `limit_to_groups` (an enumeration:
    /// an RFC 2307 domain reads no SSH keys for it).
    pub async fn all_users(&self) -> Result<Vec<UserRecord>, DirectoryError> {
        Ok(self.user_listing().await?.entries)
    }

    /// [`Directory::all_users`], with the names and UIDs the users left
    /// out still hold for lookups ([`HeldKeys`]).
    pub async fn user_listing(&self) -> Result<Listing<UserRecord>, DirectoryError> {
        by_flavour!(self, f => f.all_users(self).await)
    }

    /// Every group of the domain (paged), validated, without names or GIDs
    /// that occur twice; members of nested groups included.
    pub async fn all_groups(&self) -> Result<Vec<GroupRecord>, DirectoryError> {
        Ok(self.group_listing().await?.entries)
    }

    /// [`Directory::all_groups`], with the names and GIDs the groups left
    /// out still hold for lookups ([`HeldKeys`]).
    pub async fn group_listing(&self) -> Result<Listing<GroupRecord>, DirectoryError> {
        by_flavour!(self, f => f.all_groups(self).await)
    }

    /// How this domain judges user entries read by [`Directory::scan`]
    /// (for `rosterctl test`): served, refused with the reason, or ignored.
    pub fn judge_users(&self, entries: &[SearchEntry]) -> Vec<Verdict<UserRecord>> {
        by_flavour!(self, f => f.judge_users(self, entries))
    }

    /// How this domain judges group entries read by [`Directory::scan`].
    pub fn judge_groups(&self, entries: &[SearchEntry]) -> Vec<Verdict<GroupRecord>> {
        by_flavour!(self, f => f.judge_groups(self, entries))
    }

    /// The user or group whose SID is `sid`, or `None` when `sid` is not an
    /// object of this domain (an RFC 2307 directory has no SIDs).
    pub async fn ad_lookup_sid(
        &self,
        sid: &roster_idmap::Sid,
    ) -> Result<Option<ad::SidObject>, DirectoryError> {
        by_flavour!(self, f => f.lookup_sid(self, sid).await)
    }

    /// Keeps `u` only when `limit_to_groups` allows it on this host.
    async fn allowed(&self, u: UserRecord) -> Result<Option<UserRecord>, DirectoryError> {
        if self.cfg.limit_to_groups.is_empty() {
            return Ok(Some(u));
        }
        // (Boxed: only with `limit_to_groups`, whose searches' state
        // every user lookup's future would otherwise hold.)
        let groups = crate::boxed_apart(|| self.groups_of_user(&u)).await?;
        if groups
            .iter()
            .any(|g| self.cfg.limit_to_groups.contains(&g.name))
        {
            Ok(Some(u))
        } else {
            tracing::debug!(domain = %self.cfg.name, user = %u.user.name, "not a member of limit_to_groups: hidden");
            Ok(None)
        }
    }

    /// `users` without names or UIDs that occur twice, restricted by
    /// `limit_to_groups`; with the keys the users left out still hold
    /// (as [`Directory::single_user`] and [`Directory::allowed`] decide
    /// a lookup: a name or UID of one valid entry, that entry allowed).
    /// `bases` and `claims` as [`Directory::unique`] takes them.
    async fn unique_allowed_users(
        &self,
        users: Vec<UserRecord>,
        bases: &[u16],
        claims: &Claims,
    ) -> Result<Listing<UserRecord>, DirectoryError> {
        let (users, left_out) = self.unique(
            users,
            bases,
            claims,
            |u| &u.user.name,
            |u| u.user.uid,
            |u| &u.dn,
            "user",
        );
        let limit = if self.cfg.limit_to_groups.is_empty() {
            None
        } else {
            Some(self.limit_members().await?)
        };
        let allowed = |u: &UserRecord| {
            limit.as_ref().is_none_or(|(names, gids)| {
                names.contains(&u.user.name) || gids.contains(&u.user.gid)
            })
        };
        let also_held = held_keys(left_out.into_iter().filter(|(u, _)| allowed(u)), |u| {
            (u.user.name, u.user.uid)
        });
        let entries = match &limit {
            None => users,
            Some(_) => users.into_iter().filter(|u| allowed(u)).collect(),
        };
        Ok(Listing { entries, also_held })
    }

    /// `groups` without names or GIDs that occur twice; with the keys the
    /// groups left out still hold (a name or GID of one valid entry).
    /// `bases` and `claims` as [`Directory::unique`] takes them.
    fn unique_groups(
        &self,
        groups: Vec<GroupRecord>,
        bases: &[u16],
        claims: &Claims,
    ) -> Listing<GroupRecord> {
        let (entries, left_out) = self.unique(
            groups,
            bases,
            claims,
            |g| &g.group.name,
            |g| g.group.gid,
            |g| &g.dn,
            "group",
        );
        let also_held = held_keys(left_out, |g| (g.group.name, g.group.gid));
        Listing { entries, also_held }
    }

    /// Drops every item a lookup of its name or of its ID does not find
    /// alone, as the lookup counts: the items with that name or ID (logged
    /// once per name or ID, with the DNs of its entries), a name of
    /// `claims.names` counting as one more entry carrying it (an ID counts
    /// the items only, as an ID lookup counts the valid entries).
    ///
    /// With several search bases, `bases` holds each item's base (the
    /// index of the query that listed it; items come in the order of
    /// their bases), and the claims theirs: a lookup stops at the first
    /// base where an entry carries the key (names compared as the server
    /// matches them, [`match_form`]; any claim counts there), so only the
    /// items and claims of that base count for it, and an item of a later
    /// base is not found by it. With one base `bases` is empty.
    ///
    /// Names and DNs are borrowed from the items, never copied (a listing
    /// has 100,000s). Returns the items kept, and the items dropped whose
    /// other key (the one [`OneKey`] names) a lookup of it finds alone:
    /// the item still holds it.
    #[allow(clippy::too_many_arguments)]
    fn unique<T>(
        &self,
        items: Vec<T>,
        bases: &[u16],
        claims: &Claims,
        name: impl Fn(&T) -> &str,
        id: impl Fn(&T) -> u32,
        dn: impl Fn(&T) -> &str,
        kind: &str,
    ) -> (Vec<T>, Vec<(T, OneKey)>) {
        let several = !bases.is_empty();
        // One base per item, in the order of the bases (list_each hands
        // the entries over base after base): what the passes below rest on.
        debug_assert!(!several || bases.len() == items.len());
        debug_assert!(bases.windows(2).all(|w| w[0] <= w[1]));
        let base = |k: usize| bases.get(k).copied().unwrap_or(0);
        // The first item under each name and ID a lookup of it reaches.
        // (Names the directory chooses, placed with foldhash as the
        // member checks' tables are: keys are compared in full, the hash
        // only places them.)
        let mut by_name: HashMap<&str, usize, FastHash> =
            HashMap::with_capacity_and_hasher(items.len(), FastHash::default());
        let mut by_id: HashMap<u32, usize, FastHash> =
            HashMap::with_capacity_and_hasher(items.len(), FastHash::default());
        // The names and IDs used more than once, with their DNs.
        let mut twice_names: HashMap<&str, Vec<&str>> = HashMap::new();
        let mut twice_ids: HashMap<u32, Vec<&str>> = HashMap::new();
        // Several bases: the first base where an entry carries each name
        // (folded) and ID, and for each item whether a lookup of its name
        // or of its ID stops at an earlier base than its own.
        let mut first_name: HashMap<Cow<'_, str>, u16, FastHash> = HashMap::default();
        let mut first_id: HashMap<u32, u16, FastHash> = HashMap::default();
        let mut passed: Vec<(bool, bool)> = Vec::new();
        if several {
            passed.reserve_exact(items.len());
            first_name.reserve(items.len());
            first_id.reserve(items.len());
            for c in claims.names.iter().chain(&claims.other_names) {
                first_name
                    .entry(match_form(&c.name))
                    .and_modify(|b| *b = (*b).min(c.base))
                    .or_insert(c.base);
            }
            for c in &claims.ids {
                first_id
                    .entry(c.id)
                    .and_modify(|b| *b = (*b).min(c.base))
                    .or_insert(c.base);
            }
        }
        for (k, i) in items.iter().enumerate() {
            let (n, d) = (name(i), dn(i));
            let (mut name_passed, mut id_passed) = (false, false);
            if several {
                // (Items come in the order of their bases: an earlier
                // item's base is at most this one's; a claim's may be
                // later.)
                let b = base(k);
                let low = first_name.entry(match_form(n)).or_insert(b);
                *low = (*low).min(b);
                name_passed = *low < b;
                let low = first_id.entry(id(i)).or_insert(b);
                *low = (*low).min(b);
                id_passed = *low < b;
                passed.push((name_passed, id_passed));
                if name_passed {
                    tracing::debug!(domain = %self.cfg.name, dn = %d, "{kind} name {n:?} is found under an earlier search base: not served from this entry");
                }
                if id_passed {
                    tracing::debug!(domain = %self.cfg.name, dn = %d, "{kind} ID {} is found under an earlier search base: not served from this entry", id(i));
                }
            }
            if !name_passed {
                if let Some(&first) = by_name.get(n) {
                    twice_names
                        .entry(n)
                        .or_insert_with(|| vec![dn(&items[first])])
                        .push(d);
                } else {
                    by_name.insert(n, k);
                }
            }
            if !id_passed {
                if let Some(&first) = by_id.get(&id(i)) {
                    twice_ids
                        .entry(id(i))
                        .or_insert_with(|| vec![dn(&items[first])])
                        .push(d);
                } else {
                    by_id.insert(id(i), k);
                }
            }
        }
        // A name another entry carries too (not valid, or as a further
        // value) is used twice when an item is listed under it, in the
        // base a lookup of it stops at.
        for c in &claims.names {
            let Some(&first) = by_name.get(c.name.as_str()) else {
                continue;
            };
            // (That item's base is the one a lookup of the name stops
            // at: it was not passed.)
            if c.base == base(first) {
                twice_names
                    .entry(c.name.as_str())
                    .or_insert_with(|| vec![dn(&items[first])])
                    .push(&c.dn);
            }
        }
        drop((by_name, by_id, first_name, first_id));
        let any_passed = passed.iter().any(|&(n, i)| n || i);
        if twice_names.is_empty() && twice_ids.is_empty() && !any_passed {
            return (items, Vec::new());
        }
        for (n, dns) in &twice_names {
            tracing::warn!(domain = %self.cfg.name, dns = %dns.join(" | "), "{kind} name {n:?} used by several entries: refused");
        }
        for (n, dns) in &twice_ids {
            tracing::warn!(domain = %self.cfg.name, dns = %dns.join(" | "), "{kind} ID {n} used by several entries: refused");
        }
        // For each item: kept (`None`), or dropped and the key it alone
        // still holds, if any.
        let fate: Vec<Option<Option<OneKey>>> = items
            .iter()
            .enumerate()
            .map(|(k, i)| {
                let (name_passed, id_passed) = passed.get(k).copied().unwrap_or_default();
                match (
                    name_passed || twice_names.contains_key(name(i)),
                    id_passed || twice_ids.contains_key(&id(i)),
                ) {
                    (false, false) => None,
                    (true, false) => Some(Some(OneKey::Id)),
                    (false, true) => Some(Some(OneKey::Name)),
                    (true, true) => Some(None),
                }
            })
            .collect();
        drop((twice_names, twice_ids, passed));
        let mut left_out = Vec::new();
        // (Collected in place: the kept items reuse the listing's buffer.)
        let kept = items
            .into_iter()
            .zip(fate)
            .filter_map(|(i, fate)| match fate {
                None => Some(i),
                Some(Some(key)) => {
                    left_out.push((i, key));
                    None
                }
                Some(None) => None,
            })
            .collect();
        (kept, left_out)
    }

    /// Names of the members of the `limit_to_groups` groups (nested
    /// included) and their GIDs (whose primary members are allowed too).
    async fn limit_members(&self) -> Result<(HashSet<String>, HashSet<u32>), DirectoryError> {
        let mut names = HashSet::new();
        let mut gids = HashSet::new();
        for l in &self.cfg.limit_to_groups {
            if let Some(g) = self.group_by_name(l).await? {
                gids.insert(g.group.gid);
                names.extend(g.group.members);
            }
        }
        Ok((names, gids))
    }
}

/// A name an entry of a listing carries that it is not listed under:
/// every value of the name attribute of an entry that is not valid, and
/// the values of a valid entry's name attribute after its first (its
/// name), each once per entry. An RFC 2307 lookup of a user name counts
/// every entry carrying it, valid or not, as any value: a listed user
/// with that name is left out as that lookup refuses it. Few: entries are
/// valid and their names single-valued, as a rule.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct NameClaim {
    /// DN of the entry carrying the name.
    pub(crate) dn: String,
    /// The name.
    pub(crate) name: String,
    /// The search base the entry was listed under (the index of its
    /// query; 0 with one base).
    pub(crate) base: u16,
}

/// An ID an entry of a listing carries that it is not listed under (every
/// parseable value of the ID attribute of an entry that is not valid, a
/// valid entry's further values), read with several search bases only:
/// a lookup of the ID stops at the first base where an entry carries it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct IdClaim {
    /// The ID.
    pub(crate) id: u32,
    /// The search base the entry was listed under.
    pub(crate) base: u16,
}

/// The keys the entries of a listing carry besides the ones they are
/// listed under, as lookups meet them ([`Directory::unique`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Claims {
    /// Names a lookup of them counts as entries carrying them (RFC 2307
    /// users).
    pub(crate) names: Vec<NameClaim>,
    /// Names that only decide the search base a lookup of them stops at
    /// (RFC 2307 groups, several search bases only).
    pub(crate) other_names: Vec<NameClaim>,
    /// IDs that only decide the search base a lookup of them stops at
    /// (several search bases only).
    pub(crate) ids: Vec<IdClaim>,
}

/// A name as a directory server compares it in a lookup's filter
/// (caseIgnoreMatch with RFC 4518's insignificant space handling, as
/// OpenLDAP and 389-ds apply it): lower case (a final sigma as any
/// sigma, as the census folds it), whitespace at the ends dropped and
/// inner runs made one space. To tell which search base a lookup of a
/// name stops at, and which entries a batch lookup's answer holds for it.
/// A plain lower-case ASCII name without whitespace is returned as it is.
pub(crate) fn match_form(name: &str) -> Cow<'_, str> {
    let plain = name.is_ascii()
        && !name
            .bytes()
            .any(|b| b.is_ascii_uppercase() || b.is_ascii_whitespace());
    if plain {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len());
    for (k, word) in name.split_whitespace().enumerate() {
        if k > 0 {
            out.push(' ');
        }
        for c in word.chars().flat_map(char::to_lowercase) {
            out.push(if c == 'ς' { 'σ' } else { c });
        }
    }
    Cow::Owned(out)
}

/// The keys `left_out` (items [`Directory::unique`] left out, each with
/// the key it still holds) hold: `keys` gives an item's name and ID.
fn held_keys<T>(
    left_out: impl IntoIterator<Item = (T, OneKey)>,
    keys: impl Fn(T) -> (String, u32),
) -> HeldKeys {
    let mut held = HeldKeys::default();
    for (item, key) in left_out {
        let (name, id) = keys(item);
        match key {
            OneKey::Name => held.names.push(name),
            OneKey::Id => held.ids.push(id),
        }
    }
    held
}

/// Which key an entry left out of a listing still holds alone
/// ([`Directory::unique`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OneKey {
    /// Its name (its ID is used by several entries).
    Name,
    /// Its ID (its name is used by several entries).
    Id,
}

/// Keeps the first of the items with one DN (compared normalized): a
/// listing's entries behind a referral may repeat its own.
fn once_per_dn<T>(items: &mut Vec<T>, dn_of: impl Fn(&T) -> &str) {
    let mut seen = HashSet::new();
    items.retain(|i| seen.insert(dn::normalize(dn_of(i))));
}

/// The search scope of ldap3 for a configured scope.
pub(crate) fn ldap_scope(s: SearchScope) -> Scope {
    match s {
        SearchScope::Sub => Scope::Subtree,
        SearchScope::One => Scope::OneLevel,
        SearchScope::Base => Scope::Base,
    }
}

/// One query per search base: the base's scope, `kind_filter` ANDed with
/// the base's filter and `extra`.
fn queries(
    bases: Vec<SearchBase>,
    kind_filter: &str,
    extra: &str,
    attrs: impl Into<Arc<[String]>>,
) -> Vec<Query> {
    let attrs = attrs.into();
    bases
        .into_iter()
        .map(|b| Query {
            filter: match &b.filter {
                Some(f) => filter::and(kind_filter, &format!("{f}{extra}")),
                None => filter::and(kind_filter, extra),
            },
            base: b.base,
            scope: ldap_scope(b.scope),
            attrs: attrs.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod ber_tests;

#[cfg(test)]
mod silent_tests;

#[cfg(test)]
mod malformed_tests;

#[cfg(test)]
mod paging_tests;

#[cfg(test)]
mod listing_tests;

#[cfg(test)]
mod test_support;
