//! Enumeration (`getent passwd` / `getent group` without a key), served
//! from a snapshot of every domain's users, and one of every domain's
//! groups, each taken on its own: a user page never waits for the group
//! listing, nor a group page for the user listing (but for the user names
//! of earlier domains, which qualify a later domain's members, when there
//! are several domains).
//!
//! Off unless `[cache] enumerate = true` (then every page is empty, as
//! SSSD's `enumerate = false`). As SSSD enumerates at start-up, the
//! daemon takes the first snapshots in the background when it starts
//! ([`Resolver::enumerate_in_background`]); a page asked before its
//! snapshot is taken waits for the listing under way or starts one;
//! later pages are served from it while
//! a snapshot older than `entry_ttl` (or invalidated by a flush) is
//! rebuilt in the background.

use super::local::{LocalSlot, LocalView};
use super::owner::{is_qualified, member_base, Ctx};
use super::{DomainError, Listing, Provider, Resolver, UserEntry, MAX_PAGE};
use crate::census::Census;
use roster_proto::{Group, User};
use std::collections::HashSet;
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

/// Every user, or every group, of the enabled domains at one moment, as
/// it is served: its entries encoded ([`Encoded`]).
#[derive(Debug)]
struct Snapshot<T> {
    /// The entries, first domain first, served as lookups serve them
    /// (names qualified when an earlier domain holds them; local, reserved
    /// and already claimed IDs left out).
    entries: Encoded<T>,
    /// When it was taken (ms since the epoch).
    taken_ms: u64,
    /// The censuses' generation it was built under (user snapshots:
    /// [`Resolver::drop_census_listings`]).
    census_generation: u64,
}

/// A snapshot while it is taken: its entries as values, checked and
/// qualified in place, then encoded into the [`Snapshot`] served.
struct Draft<T> {
    /// The entries, as in [`Snapshot`].
    entries: Vec<T>,
    /// As in [`Snapshot`].
    taken_ms: u64,
    /// The domains whose entries could not be listed (logged when the
    /// snapshot is taken).
    failed: Vec<DomainError>,
    /// As in [`Snapshot`].
    census_generation: u64,
}

impl<T> Draft<T> {
    /// An empty draft taken at `taken_ms`.
    fn begun(taken_ms: u64) -> Self {
        Draft {
            entries: Vec::new(),
            taken_ms,
            failed: Vec::new(),
            census_generation: 0,
        }
    }
}

impl<T: Kind> Draft<T> {
    /// The snapshot served: the entries encoded (each one's strings freed
    /// once it is; the draft's own array at the end, so that while this
    /// runs both forms are held), the other tasks served meanwhile
    /// ([`Pace`]).
    async fn encoded(self) -> Snapshot<T> {
        let mut pace = Pace::default();
        let mut octets = 0;
        for e in &self.entries {
            octets += e.encoded_len();
            pace.step(e.items()).await;
        }
        let mut entries = Encoded::with_room_for(self.entries.len(), octets);
        for e in self.entries {
            entries.push(&e);
            pace.step(e.items()).await;
        }
        Snapshot {
            entries,
            taken_ms: self.taken_ms,
            census_generation: self.census_generation,
        }
    }
}

/// Entries kept as the octets a page sends them in, one after another
/// (`roster_proto::put_user_octets`): a page is sent without encoding
/// it again, and 100,000 users take about 7 MB of the heap, where as
/// values (a `User` and its four strings, each a block of its own) they
/// took about 23 MB.
struct Encoded<T> {
    octets: Vec<u8>,
    /// Where each entry ends in `octets`.
    ends: Vec<usize>,
    kind: std::marker::PhantomData<fn() -> T>,
}

impl<T> std::fmt::Debug for Encoded<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Encoded")
            .field("entries", &self.ends.len())
            .field("octets", &self.octets.len())
            .finish()
    }
}

impl<T: Kind> Encoded<T> {
    /// Nothing yet, with room for `count` entries of `octets` in all.
    fn with_room_for(count: usize, octets: usize) -> Self {
        Encoded {
            octets: Vec::with_capacity(octets),
            ends: Vec::with_capacity(count),
            kind: std::marker::PhantomData,
        }
    }

    /// Appends `entry`.
    fn push(&mut self, entry: &T) {
        entry.put(&mut self.octets);
        self.ends.push(self.octets.len());
    }
}

impl<T> Encoded<T> {
    /// How many entries it holds.
    fn len(&self) -> usize {
        self.ends.len()
    }

    /// Where entry `i` begins (`len()`: the end of the last).
    fn start(&self, i: usize) -> usize {
        i.checked_sub(1).map_or(0, |k| self.ends[k])
    }

    /// The octets of the entries in `range`.
    fn octets(&self, range: std::ops::Range<usize>) -> &[u8] {
        &self.octets[self.start(range.start)..self.start(range.end)]
    }
}

/// Why no enumeration could be served: every domain asked failed (each
/// one's error, in domain order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnumerationError {
    /// The domains that failed, and why.
    pub failed: Vec<DomainError>,
}

impl std::fmt::Display for EnumerationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, e) in self.failed.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for EnumerationError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.failed.first().map(|e| e as _)
    }
}

/// An enumeration no domain could serve is unavailable.
impl From<EnumerationError> for roster_proto::Failure {
    fn from(e: EnumerationError) -> roster_proto::Failure {
        roster_proto::Failure::unavailable(e)
    }
}

/// One kind's snapshot (users or groups) and its refresh state: a page
/// of one kind never waits for the listing of the other.
struct Slot<T> {
    current: tokio::sync::Mutex<Option<Arc<Snapshot<T>>>>,
    refreshing: AtomicBool,
    stale: AtomicBool,
}

impl<T> Default for Slot<T> {
    fn default() -> Self {
        Slot {
            current: tokio::sync::Mutex::new(None),
            refreshing: AtomicBool::new(false),
            stale: AtomicBool::new(false),
        }
    }
}

/// The snapshots of the users and of the groups, taken and refreshed
/// each on its own.
#[derive(Default)]
pub struct Enumeration {
    users: Slot<User>,
    groups: Slot<Group>,
    /// The user listings a user snapshot read, handed to the group
    /// listing that follows it at start.
    handed: Mutex<HandedUsers>,
}

impl Enumeration {
    /// Marks the snapshots as outdated (each rebuilt at its next request).
    pub fn invalidate(&self) {
        self.users.stale.store(true, Ordering::SeqCst);
        self.groups.stale.store(true, Ordering::SeqCst);
    }
}

/// The user listings of the domains before the last one that the
/// start-up user snapshot read, kept for the start-up group listing: its
/// member checks need those domains' users ([`Resolver::listed_users`]),
/// which it would otherwise list again right after.
#[derive(Default)]
struct HandedUsers {
    /// Start-up listings under way ([`Resolver::enumerate_in_background`],
    /// [`HandingOver`]): listings are kept while there is one.
    wanted: usize,
    listings: Vec<Handed>,
}

/// One domain's user listing handed over ([`HandedUsers`]).
struct Handed {
    /// The domain's provider (a reload's are new ones).
    provider: Arc<dyn Provider>,
    listing: Listing<UserEntry>,
    /// When the listing began.
    began: u64,
    /// The censuses' generation it was read under, from its start to its
    /// end (a flush or reload since ends it: not used).
    generation: u64,
}

/// A start-up listing under way, for [`HandedUsers`]: when the last one
/// ends (or its task is dropped or panics), what was not taken is dropped.
struct HandingOver(Resolver);

impl HandingOver {
    fn new(r: &Resolver) -> HandingOver {
        r.handed().wanted += 1;
        HandingOver(r.clone())
    }
}

impl Drop for HandingOver {
    fn drop(&mut self) {
        let mut handed = self.0.handed();
        handed.wanted = handed.wanted.saturating_sub(1);
        if handed.wanted == 0 {
            handed.listings.clear();
        }
    }
}

/// What is enumerated: users or groups.
trait Kind: Clone + Send + Sync + Sized + 'static {
    /// What is listed, for the logs.
    const WHAT: &'static str;
    /// This kind's snapshot.
    fn slot(e: &Enumeration) -> &Slot<Self>;
    /// Lists every entry of this kind.
    fn build(r: &Resolver) -> impl Future<Output = Draft<Self>> + Send;
    /// The octets the entry takes in a page.
    fn encoded_len(&self) -> usize;
    /// Appends the octets the entry takes in a page to `out`.
    fn put(&self, out: &mut Vec<u8>);
    /// The items the entry counts for in a pass over a listing ([`Pace`]).
    fn items(&self) -> usize {
        1
    }
    /// The entry's name, for the logs.
    fn name(&self) -> &str;
    /// True when the entry can be sent in a reply the reader decodes
    /// (`roster_proto::user_sendable`).
    fn sendable(&self) -> bool;
    /// Called once `snap`, a snapshot of this kind, is held.
    fn held(_r: &Resolver, _snap: &Snapshot<Self>) {}
}

impl Kind for User {
    const WHAT: &'static str = "users";
    fn slot(e: &Enumeration) -> &Slot<User> {
        &e.users
    }
    fn build(r: &Resolver) -> impl Future<Output = Draft<User>> + Send {
        r.build_users()
    }
    fn encoded_len(&self) -> usize {
        roster_proto::user_encoded_len(self)
    }
    fn put(&self, out: &mut Vec<u8>) {
        roster_proto::put_user_octets(out, self)
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn sendable(&self) -> bool {
        roster_proto::user_sendable(self)
    }
    fn held(r: &Resolver, snap: &Snapshot<User>) {
        // (A listing the censuses kept and this one did not take.)
        r.drop_census_listings(snap.census_generation);
    }
}

impl Kind for Group {
    const WHAT: &'static str = "groups";
    fn slot(e: &Enumeration) -> &Slot<Group> {
        &e.groups
    }
    fn build(r: &Resolver) -> impl Future<Output = Draft<Group>> + Send {
        r.build_groups()
    }
    fn encoded_len(&self) -> usize {
        roster_proto::group_encoded_len(self)
    }
    fn put(&self, out: &mut Vec<u8>) {
        roster_proto::put_group_octets(out, self)
    }
    fn items(&self) -> usize {
        self.members.len() + 1
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn sendable(&self) -> bool {
        roster_proto::group_sendable(self)
    }
}

/// The names one domain holds (in lower case too when it compares names
/// case-insensitively).
struct Held {
    any_case: bool,
    names: HashSet<String>,
}

impl Held {
    fn new(any_case: bool) -> Self {
        Held {
            any_case,
            names: HashSet::new(),
        }
    }

    fn insert(&mut self, name: &str) {
        if self.any_case {
            self.names.insert(name.to_lowercase());
        } else {
            self.names.insert(name.to_string());
        }
    }

    fn insert_all(&mut self, names: &[String]) {
        for n in names {
            self.insert(n);
        }
    }
}

/// What holds names: a domain's [`Held`] names, or the names of a
/// domain's [`ListedUsers`].
trait Holds {
    /// True when `name` is held.
    fn holds(&self, name: &str) -> bool;
}

impl Holds for Held {
    fn holds(&self, name: &str) -> bool {
        // (A name already in lower case, most of them, is not copied.)
        let lower = |n: &str| n.is_ascii() && !n.bytes().any(|b| b.is_ascii_uppercase());
        if self.any_case && !lower(name) {
            self.names.contains(&name.to_lowercase())
        } else {
            self.names.contains(name)
        }
    }
}

/// The rule lookups judge a user entry by ([`super::owner`]), as far as
/// the user listings tell it: local accounts' names and UIDs, reserved
/// IDs, and the UIDs earlier domains hold are refused. One rule for the
/// user listing and the group listing's member lists. (A UID two entries
/// of one domain hold leaves both out of the domain's listing, and is
/// held by neither; a UID one entry holds is held even when that entry
/// is left out of the listing, its name used twice: [`Listing`].)
struct UserRule {
    view: LocalView,
    /// The UIDs the domains before the one judged hold.
    uids_before: HashSet<u32>,
}

impl UserRule {
    /// The rule of the first domain, judged by the local accounts `view`.
    fn new(view: LocalView) -> Self {
        UserRule {
            view,
            uids_before: HashSet::new(),
        }
    }

    /// Why the listed user `name` with `uid` of the domain judged (its
    /// names compared case-insensitively when `ci`) is refused, `None`
    /// when it is served (`min_id` and `ignore_users` aside).
    fn refusal(&self, name: &str, uid: u32, ci: bool) -> Option<String> {
        self.view.user_refusal(name, uid, ci).or_else(|| {
            self.uids_before
                .contains(&uid)
                .then(|| format!("uid {uid} is already claimed by an earlier domain"))
        })
    }

    /// Moves on to the next domain, `ids` the UIDs the one judged holds.
    fn done(&mut self, ids: HashSet<u32>) {
        self.uids_before.extend(ids);
    }
}

/// One domain's users as the group listing needs them
/// ([`Resolver::listed_users`]).
struct ListedUsers {
    /// The names of its listed users (for a later domain's members, and
    /// for the members of its own groups that the listing has).
    names: Held,
    /// The names it holds besides (users left out of the listing, their
    /// UID used twice: [`Listing`]), for a later domain's members.
    also_held: Held,
    /// How its members are checked.
    members: MemberCheck,
}

/// How the group listing checks a domain's members against their own
/// entries ([`Resolver::drop_refused_listed_members`]).
enum MemberCheck {
    /// Not checked: IDs from SIDs (as lookups), or the users could not be
    /// listed.
    Unchecked,
    /// By the domain's user listing: the names of the users lookups refuse
    /// (those `names` does not list are asked).
    Listed(Held),
    /// Every member asked as lookups ask ([`Resolver::members_kept`]): an
    /// earlier domain's users could not be listed, so the UIDs it holds
    /// are not known from the listings.
    Asked,
    /// By the domain's users census (and until when it holds), without
    /// listing (the last domain): the members it decides as a lookup's
    /// check would ([`Resolver::census_keeps_members`]) are kept, the
    /// others asked.
    Census((Arc<Census>, u64)),
}

/// Items of a listing's pass handled between two turns given back to the
/// runtime's other tasks ([`Pace`]).
pub(super) const PACE_ITEMS: usize = 4096;

/// Gives the runtime's thread back to its other tasks (lookups, logins,
/// the pages of a listing) every [`PACE_ITEMS`] items of a long pass over
/// a listing: the checks of 100,000 users or of 10,000 groups' members
/// otherwise held it for tens of milliseconds at a stretch.
#[derive(Default)]
pub(super) struct Pace(usize);

impl Pace {
    /// Counts `n` more items handled; yields when a multiple of
    /// [`PACE_ITEMS`] is passed.
    pub(super) async fn step(&mut self, n: usize) {
        let before = self.0 / PACE_ITEMS;
        self.0 = self.0.saturating_add(n);
        if self.0 / PACE_ITEMS != before {
            tokio::task::yield_now().await;
        }
    }
}

/// The short names of `groups`' members (of `domain`), each once however
/// many groups list it.
async fn distinct_members<'g>(groups: &'g [Group], domain: &str) -> Vec<&'g str> {
    // (Names the directory chooses, placed with foldhash as the other
    // member-name sets. Not sized for every membership: 100,000 users in
    // ten groups each are a million memberships of 100,000 names.)
    let mut seen: HashSet<&str, foldhash::fast::RandomState> = HashSet::default();
    let mut names = Vec::new();
    let mut pace = Pace::default();
    for g in groups {
        for m in &g.members {
            let base = member_base(m, domain);
            if seen.insert(base) {
                names.push(base);
            }
        }
        pace.step(g.members.len() + 1).await;
    }
    names
}

impl Holds for ListedUsers {
    fn holds(&self, name: &str) -> bool {
        self.names.holds(name) || self.also_held.holds(name)
    }
}

/// Turns `name` into `name@domain` when an earlier domain holds it.
fn qualify<H: Holds>(name: &mut String, domain: &str, earlier: &[H]) {
    if earlier.is_empty() || is_qualified(name, domain) {
        return;
    }
    if earlier.iter().any(|h| h.holds(name)) {
        name.push('@');
        name.push_str(domain);
    }
}

/// A page of an enumeration: a range of the snapshot's entries, shared
/// (the server sends their octets from the snapshot; 100,000 users are
/// not copied a page at a time), and whether more follow.
#[derive(Debug)]
pub struct ListedPage<T> {
    snapshot: Option<Arc<Snapshot<T>>>,
    range: std::ops::Range<usize>,
    more: bool,
}

/// The octets of entries a page holds at most (it always holds one): half
/// the frame limit, whatever the entries' size (a page of 2,000 users with
/// long fields, or 256 groups of thousands of members, would not fit in
/// one frame).
const PAGE_BYTES: usize = roster_proto::MAX_FRAME_LEN / 2;

/// Clears a slot's "refreshing" flag when dropped.
struct Refreshing<'a>(&'a AtomicBool);

impl Drop for Refreshing<'_> {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

/// Why `entry` is left out of a listing, when it cannot be sent (a string
/// longer than the reader takes, or too large for a frame even alone on
/// its page: a group of some 400,000 members): the listing would stop at
/// its page. The listings refuse such an entry by its DN
/// ([`Resolver::refuse`]: logged once, shown by the status report).
fn unsendable<T: Kind>(entry: &T) -> Option<String> {
    // (Without its size, which may change: one record, one log line.)
    (!entry.sendable()).then(|| {
        format!(
            "{:?} left out of the {} enumeration: larger than a reply may be",
            entry.name(),
            T::WHAT,
        )
    })
}

/// The page of `snapshot` from `offset`: at most `limit` (and
/// [`MAX_PAGE`]) entries and [`PAGE_BYTES`] octets of them, and at least
/// one entry while entries remain (a `limit` of 0 asks for one: a page
/// of none that says more follow would have the reader ask forever).
fn page_of<T>(snapshot: Arc<Snapshot<T>>, offset: u32, limit: u32) -> ListedPage<T> {
    let entries = &snapshot.entries;
    let all = entries.len();
    let start = (offset as usize).min(all);
    let n = (limit as usize).clamp(1, MAX_PAGE);
    let first = entries.start(start);
    let mut end = start;
    while end < all && end - start < n {
        if entries.ends[end] - first > PAGE_BYTES && end > start {
            break;
        }
        end += 1;
    }
    ListedPage {
        snapshot: Some(snapshot),
        range: start..end,
        more: end < all,
    }
}

impl<T> ListedPage<T> {
    /// The page of a listing that is off: nothing, and nothing more.
    fn empty() -> Self {
        ListedPage {
            snapshot: None,
            range: 0..0,
            more: false,
        }
    }

    /// How many entries the page holds.
    pub fn count(&self) -> u32 {
        self.range.len() as u32
    }

    /// The page's entries, encoded one after another as a page sends
    /// them (`roster_proto::encode_users_page_octets`,
    /// `encode_groups_page_octets`).
    pub fn octets(&self) -> &[u8] {
        self.snapshot
            .as_ref()
            .map_or(&[], |s| s.entries.octets(self.range.clone()))
    }

    /// True when another page follows.
    pub fn more(&self) -> bool {
        self.more
    }
}

/// Longest wait of the start-up listing for the domains' users censuses,
/// and again for their group censuses, and of a user listing for the user
/// listing a census is reading ([`Resolver::census_listing`]).
const CENSUS_WAIT_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// Ends a start-up listing's wants of the censuses of its generation
/// when dropped ([`Resolver::drop_census_listings`]): the listings they
/// keep for it, and the group censuses' wait for its user listing.
struct UsersListed(Resolver, u64);

impl Drop for UsersListed {
    fn drop(&mut self) {
        self.0.drop_census_listings(self.1);
    }
}

impl Resolver {
    /// With `[cache] enumerate = true`, takes the snapshot of every user
    /// and then that of every group in the background, as SSSD's back end
    /// enumerates at start-up: the first `getent passwd` or `getent group`
    /// is then answered from them instead of waiting for the directory
    /// (a page asked while a listing runs waits for it, never starts
    /// another; one asked while the censuses are taken lists on its own,
    /// but for the users of a domain whose users census reads them too,
    /// which it waits for; the start-up listing then finds it taken). The
    /// domains' users censuses are waited for first (at most
    /// `CENSUS_WAIT_MAX`): the user snapshot takes what they read, and
    /// the group listing checks the last domain's members against the
    /// census instead of listing every user. Their group censuses wait
    /// until the user snapshot is held (so that the users' pass, which a
    /// first `getent passwd` waits for, has the directory and the CPUs to
    /// itself), and the group snapshot for them (at most
    /// `CENSUS_WAIT_MAX` again). A listing that fails is logged; the
    /// first page lists again.
    /// `listed` runs once both are taken (rosterd hands the listing's
    /// free heap back there, as after a listing's last page).
    pub fn enumerate_in_background(&self, listed: impl FnOnce() + Send + 'static) {
        if !self.settings().enumerate {
            return;
        }
        // (The users censuses that start now keep what they read for it;
        // the group censuses wait until it is held.)
        let generation = self.want_census_listings();
        let this = self.clone();
        tokio::spawn(async move {
            // However this task ends before the user listing is held (a
            // panic in it too), what the censuses keep for it is dropped
            // and the group censuses waiting for it go on.
            let users_listed = UsersListed(this.clone(), generation);
            if tokio::time::timeout(CENSUS_WAIT_MAX, this.censuses_settled(true))
                .await
                .is_err()
            {
                tracing::info!(
                    "start-up enumeration: users censuses not taken yet, listing without them"
                );
                // (Nor waiting for their listings.)
                this.drop_census_listings(generation);
            }
            // (A reload meanwhile may have turned it off.)
            if !this.settings().enumerate {
                return;
            }
            let started = std::time::Instant::now();
            let handing = HandingOver::new(&this);
            if let Err(e) = this.list_now::<User>().await {
                tracing::info!(error = %e, "start-up enumeration of users failed: the first page lists again");
            }
            // (What no listing took: the one held was fresh, or this one
            // failed. The group censuses start.)
            drop(users_listed);
            if tokio::time::timeout(CENSUS_WAIT_MAX, this.censuses_settled(false))
                .await
                .is_err()
            {
                tracing::info!(
                    "start-up enumeration: group censuses not taken yet, listing without them"
                );
            }
            if let Err(e) = this.list_now::<Group>().await {
                tracing::info!(error = %e, "start-up enumeration of groups failed: the first page lists again");
            }
            // (What the group listing did not take is dropped.)
            drop(handing);
            tracing::info!(
                ms = started.elapsed().as_millis() as u64,
                "start-up enumeration taken"
            );
            listed();
        });
    }

    /// The user listings handed over ([`HandedUsers`]), locked.
    fn handed(&self) -> std::sync::MutexGuard<'_, HandedUsers> {
        self.inner
            .enumeration
            .handed
            .lock()
            .unwrap_or_else(|e| e.into_inner())
    }

    /// True while a start-up listing wants the user listings kept
    /// ([`HandedUsers`]).
    fn handing(&self) -> bool {
        self.handed().wanted > 0
    }

    /// Keeps a copy of domain `d`'s user listing `listing`, begun at
    /// `began` under the censuses' generation `generation`, while a
    /// start-up listing wants it and no flush or reload came since.
    fn hand_over(
        &self,
        d: &Arc<dyn Provider>,
        listing: &Listing<UserEntry>,
        began: u64,
        generation: u64,
    ) {
        if !self.handing() || self.census_generation() != generation {
            return;
        }
        // (Copied outside the lock: thousands of entries.)
        let listing = listing.clone();
        let mut handed = self.handed();
        if handed.wanted > 0 {
            handed.listings.retain(|h| !Arc::ptr_eq(&h.provider, d));
            handed.listings.push(Handed {
                provider: d.clone(),
                listing,
                began,
                generation,
            });
        }
    }

    /// The user listing of domain `d` the start-up user snapshot read
    /// (taken: used once), unless `d` was replaced by a reload, a flush
    /// came since, or the listing is older than a census is trusted
    /// unrenewed.
    fn handed_user_listing(&self, d: &Arc<dyn Provider>) -> Option<(Listing<UserEntry>, u64)> {
        let h = {
            let mut handed = self.handed();
            let k = handed
                .listings
                .iter()
                .position(|h| Arc::ptr_eq(&h.provider, d))?;
            handed.listings.swap_remove(k)
        };
        (h.generation == self.census_generation() && self.listing_trusted(h.began))
            .then_some((h.listing, h.began))
    }

    /// A page of the user enumeration.
    pub async fn users_page(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<ListedPage<User>, EnumerationError> {
        self.page(offset, limit).await
    }

    /// A page of the group enumeration.
    pub async fn groups_page(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<ListedPage<Group>, EnumerationError> {
        self.page(offset, limit).await
    }

    /// A copy of a page of the user enumeration, and whether more follow.
    #[cfg(test)]
    pub async fn list_users(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<User>, bool), EnumerationError> {
        let page = self.users_page(offset, limit).await?;
        Ok((tests::users_of(&page), page.more()))
    }

    /// A copy of a page of the group enumeration, and whether more follow.
    #[cfg(test)]
    pub async fn list_groups(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<Group>, bool), EnumerationError> {
        let page = self.groups_page(offset, limit).await?;
        Ok((tests::groups_of(&page), page.more()))
    }

    async fn page<T: Kind>(
        &self,
        offset: u32,
        limit: u32,
    ) -> Result<ListedPage<T>, EnumerationError> {
        if !self.settings().enumerate {
            return Ok(ListedPage::empty());
        }
        let snap = self.snapshot::<T>().await?;
        Ok(page_of(snap, offset, limit))
    }

    /// The current snapshot of `T`; the first request waits for it, and
    /// one older than `entry_ttl` (or invalidated) is served while a new
    /// one is taken in the background. A listing with nothing because
    /// domains failed is not kept: the next request lists again.
    async fn snapshot<T: Kind>(&self) -> Result<Arc<Snapshot<T>>, EnumerationError> {
        let slot = T::slot(&self.inner.enumeration);
        let mut current = slot.current.lock().await;
        let now = self.inner.clock.now_ms();
        let ttl = self.settings().entry_ttl_ms;
        if let Some(snap) = current.as_ref() {
            let old = now.saturating_sub(snap.taken_ms) >= ttl || slot.stale.load(Ordering::SeqCst);
            if old && !slot.refreshing.swap(true, Ordering::SeqCst) {
                let this = self.clone();
                tokio::spawn(async move {
                    let _ = this.refresh::<T>().await;
                });
            }
            return Ok(snap.clone());
        }
        let snap = Arc::new(self.take::<T>().await?);
        *current = Some(snap.clone());
        T::held(self, &snap);
        Ok(snap)
    }

    /// Takes the snapshot of `T` now and waits for it, when none is held
    /// (pages wait for it, as for [`Resolver::snapshot`]'s first) or the
    /// one held was invalidated by a flush or reload (pages are served
    /// from the old one meanwhile, as by a background refresh; nothing
    /// when a refresh is already under way).
    async fn list_now<T: Kind>(&self) -> Result<(), EnumerationError> {
        let slot = T::slot(&self.inner.enumeration);
        let held = slot.current.lock().await.is_some();
        if !held {
            return self.snapshot::<T>().await.map(drop);
        }
        if slot.stale.load(Ordering::SeqCst) && !slot.refreshing.swap(true, Ordering::SeqCst) {
            self.refresh::<T>().await?;
        }
        Ok(())
    }

    /// Takes a new snapshot of `T` in place of the one held, which pages
    /// are served from meanwhile; the caller has set the slot's
    /// `refreshing` flag, cleared here however this ends (a panic in the
    /// listing too: otherwise no refresh would start again).
    async fn refresh<T: Kind>(&self) -> Result<(), EnumerationError> {
        let slot = T::slot(&self.inner.enumeration);
        let _refreshing = Refreshing(&slot.refreshing);
        let taken = Arc::new(self.take::<T>().await?);
        *slot.current.lock().await = Some(taken.clone());
        T::held(self, &taken);
        Ok(())
    }

    /// A new snapshot of `T`; unavailable when nothing was listed because
    /// domains failed.
    async fn take<T: Kind>(&self) -> Result<Snapshot<T>, EnumerationError> {
        T::slot(&self.inner.enumeration)
            .stale
            .store(false, Ordering::SeqCst);
        let started = std::time::Instant::now();
        let draft = T::build(self).await;
        if !draft.failed.is_empty() {
            let failed = EnumerationError {
                failed: draft.failed.clone(),
            };
            tracing::warn!(what = T::WHAT, errors = %failed, "enumeration incomplete");
            if draft.entries.is_empty() {
                return Err(failed);
            }
        }
        let snap = draft.encoded().await;
        tracing::debug!(
            what = T::WHAT,
            entries = snap.entries.len(),
            octets = snap.entries.octets.len(),
            ms = started.elapsed().as_millis() as u64,
            "enumeration listed"
        );
        Ok(snap)
    }

    /// Every user of every domain, as lookups serve them.
    async fn build_users(&self) -> Draft<User> {
        let settings = self.settings();
        let domains = self.domains();
        let mut snap = Draft::begun(self.inner.clock.now_ms());
        snap.census_generation = self.user_listing_begins();
        // One wait for the censuses' listings, whatever the domains.
        let deadline = tokio::time::Instant::now() + CENSUS_WAIT_MAX;
        // The names each domain holds, valid for this host or not: a later
        // domain's entry is judged against them (and their UIDs, `rule`)
        // as lookups judge it (see `owner`): its listed users' and those
        // its listing leaves out still hold ([`Listing`]); the last
        // domain's are never needed.
        let mut earlier: Vec<Held> = Vec::new();
        // One version of the local files for the whole snapshot.
        let mut rule = UserRule::new(self.inner.local.view());
        for (i, d) in domains.iter().enumerate() {
            // The first listing: what the census read, when it did (a
            // page asked while it reads waits for it, as the start-up
            // listing does, rather than take a second pass meanwhile).
            let later = i + 1 < domains.len();
            let (listed, began) = match self
                .census_listing(d.name(), deadline, snap.census_generation)
                .await
            {
                Some((list, began)) => {
                    snap.taken_ms = snap.taken_ms.min(began);
                    (Ok(list), began)
                }
                None => {
                    let began = self.inner.clock.now_ms();
                    (d.all_users().await, began)
                }
            };
            if let (true, Ok(listing)) = (later, &listed) {
                // (Not kept when read across a flush or reload.)
                self.hand_over(d, listing, began, snap.census_generation);
            }
            let Listing {
                entries: list,
                also_held,
            } = match listed {
                Ok(list) => list,
                Err(err) => {
                    snap.failed.push(DomainError::new(d.name(), err));
                    Listing::of(Vec::new())
                }
            };
            let ci = d.case_insensitive();
            let mut held = Held::new(ci);
            let mut ids = HashSet::new();
            if later {
                held.insert_all(&also_held.names);
                ids.extend(&also_held.ids);
            }
            snap.entries.reserve(list.len());
            let mut pace = Pace::default();
            for u in list {
                pace.step(1).await;
                if later {
                    held.insert(&u.user.name);
                    ids.insert(u.user.uid);
                }
                let name = &u.user.name;
                if u.user.uid < settings.min_id || settings.ignore_users.contains(name) {
                    continue;
                }
                if let Some(reason) = rule.refusal(name, u.user.uid, ci) {
                    self.refuse(d.name(), &u.dn, reason);
                    continue;
                }
                let mut user = u.user;
                qualify(&mut user.name, d.name(), &earlier);
                if let Some(reason) = unsendable(&user) {
                    self.refuse(d.name(), &u.dn, reason);
                    continue;
                }
                snap.entries.push(user);
            }
            if later {
                earlier.push(held);
                rule.done(ids);
            }
        }
        snap
    }

    /// What the member lists of the group listing need from the user
    /// listings of `domains` (in order; `view` the local accounts): each
    /// domain's user names, and those it holds besides ([`Listing`]; both
    /// empty when its listing failed: its members are then served as the
    /// domain names them), and the names of those
    /// users lookups refuse ([`UserRule`]), for the domains whose members
    /// lookups check (not for the others: IDs from SIDs, see
    /// [`Resolver::drop_refused_members`], or users not listed). The last
    /// domain's users are not listed when its census decides names
    /// ([`MemberCheck::Census`]): only its members are needed, and the
    /// census has them. At start, the listings the user snapshot just
    /// read are taken instead of listing again ([`HandedUsers`]); the
    /// group snapshot's age, `snap_taken_ms`, then counts from theirs.
    async fn listed_users(
        &self,
        domains: &[Arc<dyn Provider>],
        view: &LocalView,
        snap_taken_ms: &mut u64,
    ) -> Vec<ListedUsers> {
        let mut rule = UserRule::new(view.clone());
        let mut out = Vec::with_capacity(domains.len());
        // True once a domain's users could not be listed.
        let mut earlier_unlisted = false;
        for (i, d) in domains.iter().enumerate() {
            let later = i + 1 < domains.len();
            let ci = d.case_insensitive();
            let checked = !d.unique_ids();
            let mut listed = ListedUsers {
                names: Held::new(ci),
                also_held: Held::new(ci),
                members: MemberCheck::Unchecked,
            };
            if !later && !checked {
                // (Neither a later domain's names nor these members need it.)
                out.push(listed);
                continue;
            }
            if !later {
                // The last domain's names are not needed: its census, when
                // it decides names, spares listing its users.
                if let Some(census) = self.census_of(d, true).filter(|(c, _)| c.decides_names()) {
                    listed.members = MemberCheck::Census(census);
                    out.push(listed);
                    continue;
                }
            }
            let users = match self.handed_user_listing(d) {
                Some((list, began)) => {
                    // (The snapshot is as old as what it rests on.)
                    *snap_taken_ms = (*snap_taken_ms).min(began);
                    Ok(list)
                }
                None => d.all_users().await,
            };
            let Listing {
                entries: list,
                also_held,
            } = match users {
                Ok(list) => list,
                Err(err) => {
                    let e = DomainError::new(d.name(), err);
                    tracing::warn!(error = %e, "enumeration of groups: users not listed, members served as the domain names them");
                    earlier_unlisted = true;
                    out.push(listed);
                    continue;
                }
            };
            let mut refused = Held::new(ci);
            let mut ids = HashSet::new();
            if later {
                listed.also_held.insert_all(&also_held.names);
                ids.extend(&also_held.ids);
            }
            for u in &list {
                let (name, uid) = (&u.user.name, u.user.uid);
                listed.names.insert(name);
                if later {
                    ids.insert(uid);
                }
                if checked {
                    if let Some(reason) = rule.refusal(name, uid, ci) {
                        self.refuse(d.name(), &u.dn, reason);
                        refused.insert(name);
                    }
                }
            }
            if checked {
                listed.members = if earlier_unlisted {
                    MemberCheck::Asked
                } else {
                    MemberCheck::Listed(refused)
                };
            }
            out.push(listed);
            rule.done(ids);
        }
        out
    }

    /// Leaves out of `groups` (domain `i`'s, members of local users' names
    /// already left out) the members lookups leave out because their own
    /// entry is refused: those `users` (of [`Resolver::listed_users`])
    /// shows refused, and those it does not list whose entry the domains
    /// refuse when asked (a UID two entries hold: the listing leaves both
    /// out). When those cannot be asked, they are kept (logged).
    async fn drop_refused_listed_members(
        &self,
        cx: &mut Ctx,
        i: usize,
        users: &ListedUsers,
        groups: &mut [Group],
    ) {
        let domain = cx.domains[i].name().to_string();
        // The short names of members neither the listing nor the census
        // decides.
        let mut unlisted: HashSet<String> = HashSet::new();
        match &users.members {
            MemberCheck::Unchecked => return,
            MemberCheck::Listed(refused) => {
                let mut pace = Pace::default();
                for g in groups.iter_mut() {
                    pace.step(g.members.len() + 1).await;
                    g.members.retain(|m| {
                        let base = member_base(m, &domain);
                        if refused.holds(base) {
                            return false;
                        }
                        if !users.names.holds(base) && !unlisted.contains(base) {
                            unlisted.insert(base.to_string());
                        }
                        true
                    });
                }
            }
            MemberCheck::Asked => unlisted.extend(
                distinct_members(groups, &domain)
                    .await
                    .into_iter()
                    .map(str::to_string),
            ),
            MemberCheck::Census(census) => {
                let names = distinct_members(groups, &domain).await;
                match self.census_keeps_members(cx, i, census, &names).await {
                    Ok(kept) => {
                        for (name, kept) in names.iter().zip(kept) {
                            if !kept {
                                unlisted.insert(name.to_string());
                            }
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "enumeration of groups: members could not be checked, served as the domain names them");
                        return;
                    }
                }
            }
        }
        if unlisted.is_empty() {
            return;
        }
        let names: Arc<[String]> = unlisted.into_iter().collect();
        let kept = match self.members_kept(cx, i, names.clone()).await {
            Ok(kept) => kept,
            Err(e) => {
                tracing::warn!(error = %e, "enumeration of groups: members not listed as users could not be checked, served as the domain names them");
                return;
            }
        };
        let dropped: HashSet<&str> = names
            .iter()
            .zip(kept)
            .filter(|(_, k)| !k)
            .map(|(n, _)| n.as_str())
            .collect();
        if dropped.is_empty() {
            return;
        }
        let mut pace = Pace::default();
        for g in groups.iter_mut() {
            pace.step(g.members.len() + 1).await;
            g.members
                .retain(|m| !dropped.contains(member_base(m, &domain)));
        }
    }

    /// Every group of every domain, as lookups serve them: a domain's
    /// members left out when a lookup leaves them out (a local user's
    /// name, or their own entry refused), qualified by the user names of
    /// earlier domains; the users of every domain are listed for it.
    async fn build_groups(&self) -> Draft<Group> {
        let settings = self.settings();
        let domains = self.domains();
        let mut snap = Draft::begun(self.inner.clock.now_ms());
        // One version of the local files for the whole snapshot.
        let view = self.inner.local.view();
        let users = self.listed_users(&domains, &view, &mut snap.taken_ms).await;
        let slot = LocalSlot::with_view(self.inner.local.clone(), view.clone());
        let mut cx = Ctx::new(domains.clone(), settings.clone(), slot);
        let local = &view.users;
        let mut group_names: Vec<Held> = Vec::new();
        let mut gids = HashSet::new();
        for (i, d) in domains.iter().enumerate() {
            let Listing {
                entries: list,
                also_held,
            } = match d.all_groups().await {
                Ok(list) => list,
                Err(err) => {
                    snap.failed.push(DomainError::new(d.name(), err));
                    Listing::of(Vec::new())
                }
            };
            let later = i + 1 < domains.len();
            let ci = d.case_insensitive();
            // The names and GIDs this domain holds: its listed groups' and
            // those the groups left out of its listing still hold.
            let mut held = Held::new(ci);
            let mut ids = HashSet::new();
            if later {
                held.insert_all(&also_held.names);
                ids.extend(&also_held.ids);
            }
            let first = snap.entries.len();
            snap.entries.reserve(list.len());
            // The DNs of this domain's groups in `snap.entries[first..]`.
            let mut dns = Vec::new();
            let mut pace = Pace::default();
            for g in list {
                pace.step(g.group.members.len() + 1).await;
                if later {
                    held.insert(&g.group.name);
                    ids.insert(g.group.gid);
                }
                let name = &g.group.name;
                if g.group.gid < settings.min_id || settings.ignore_groups.contains(name) {
                    continue;
                }
                let refusal = view.group_refusal(name, g.group.gid, ci).or_else(|| {
                    gids.contains(&g.group.gid).then(|| {
                        format!(
                            "gid {} is already claimed by an earlier domain",
                            g.group.gid
                        )
                    })
                });
                if let Some(reason) = refusal {
                    self.refuse(d.name(), &g.dn, reason);
                    continue;
                }
                let mut group = g.group;
                qualify(&mut group.name, d.name(), &group_names);
                group
                    .members
                    .retain(|m| is_qualified(m, d.name()) || !local.has_name(m, ci));
                snap.entries.push(group);
                dns.push(g.dn);
            }
            let served = &mut snap.entries[first..];
            self.drop_refused_listed_members(&mut cx, i, &users[i], served)
                .await;
            if i > 0 {
                let mut pace = Pace::default();
                for group in served.iter_mut() {
                    pace.step(group.members.len() + 1).await;
                    for m in &mut group.members {
                        qualify(m, d.name(), &users[..i]);
                    }
                }
            }
            // (Known once the member lists are final.)
            let served = snap.entries.split_off(first);
            for (group, dn) in served.into_iter().zip(dns) {
                match unsendable(&group) {
                    Some(reason) => self.refuse(d.name(), &dn, reason),
                    None => snap.entries.push(group),
                }
            }
            if later {
                group_names.push(held);
                gids.extend(ids);
            }
        }
        snap
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use roster_proto::Response;

    /// The users of `page`, read back as the module reads them.
    pub(in crate::resolver) fn users_of(page: &ListedPage<User>) -> Vec<User> {
        let frame =
            roster_proto::encode_users_page_octets(page.count(), page.octets(), page.more());
        match roster_proto::decode_response(&frame[4..]) {
            Ok(Response::Users { entries, .. }) => entries,
            other => panic!("a page of users reads back as {other:?}"),
        }
    }

    /// The groups of `page`, read back as the module reads them.
    pub(in crate::resolver) fn groups_of(page: &ListedPage<Group>) -> Vec<Group> {
        let frame =
            roster_proto::encode_groups_page_octets(page.count(), page.octets(), page.more());
        match roster_proto::decode_response(&frame[4..]) {
            Ok(Response::Groups { entries, .. }) => entries,
            other => panic!("a page of groups reads back as {other:?}"),
        }
    }

    /// A snapshot of `users`.
    fn snapshot_of(users: &[User]) -> Arc<Snapshot<User>> {
        let octets = users.iter().map(User::encoded_len).sum();
        let mut entries = Encoded::with_room_for(users.len(), octets);
        for u in users {
            entries.push(u);
        }
        Arc::new(Snapshot {
            entries,
            taken_ms: 0,
            census_generation: 0,
        })
    }

    /// The frame of `page`, as the server sends it.
    fn frame_of(page: &ListedPage<User>) -> Vec<u8> {
        roster_proto::encode_users_page_octets(page.count(), page.octets(), page.more())
    }

    #[tokio::test]
    async fn a_long_pass_lets_the_other_tasks_run_between_its_chunks() {
        let ran = Arc::new(AtomicBool::new(false));
        let other = ran.clone();
        tokio::spawn(async move { other.store(true, Ordering::SeqCst) });
        // The other task runs once the pass has handled PACE_ITEMS items,
        // not before and not only at its end.
        let mut pace = Pace::default();
        let mut seen_after = None;
        for k in 0..2 * PACE_ITEMS {
            if seen_after.is_none() && ran.load(Ordering::SeqCst) {
                seen_after = Some(k);
            }
            pace.step(1).await;
        }
        assert_eq!(seen_after, Some(PACE_ITEMS));
        // Items counted in bulk (a group's members) pace the same way.
        let mut pace = Pace::default();
        let started = Arc::new(AtomicBool::new(false));
        let other = started.clone();
        tokio::spawn(async move { other.store(true, Ordering::SeqCst) });
        pace.step(PACE_ITEMS - 1).await;
        assert!(!started.load(Ordering::SeqCst));
        pace.step(2).await;
        assert!(started.load(Ordering::SeqCst));
    }

    fn user(gecos_len: usize) -> User {
        User {
            name: "u".into(),
            uid: 20000,
            gid: 20000,
            gecos: "g".repeat(gecos_len),
            home: "/home/u".into(),
            shell: "/bin/sh".into(),
        }
    }

    #[test]
    fn a_page_holds_at_most_half_a_frame_of_entries_and_always_one() {
        // 700 KiB each: two fit in half a frame, a third does not; then
        // one entry larger than that on its own.
        let mut users = vec![user(700 << 10); 5];
        users.push(user(3 << 20));
        let snap = snapshot_of(&users);
        let mut ranges = Vec::new();
        let mut offset = 0;
        loop {
            let page = page_of(snap.clone(), offset, 2000);
            let frame = frame_of(&page);
            assert!(frame.len() - 4 <= roster_proto::MAX_FRAME_LEN);
            // (The octets of those entries: 3 MiB strings do not read back.)
            let those = &users[offset as usize..][..page.count() as usize];
            assert_eq!(frame, roster_proto::encode_users_page(those, page.more()));
            ranges.push(page.count());
            offset += page.count();
            if !page.more() {
                break;
            }
        }
        assert_eq!(ranges, [2, 2, 1, 1]);
        // Small entries: as many as asked.
        let small = snapshot_of(&vec![user(10); 3000]);
        let page = page_of(small.clone(), 0, 2000);
        assert_eq!((page.count(), page.more()), (2000, true));
        let page = page_of(small, 2000, 2000);
        assert_eq!((page.count(), page.more()), (1000, false));
        assert_eq!(users_of(&page), vec![user(10); 1000]);
    }

    #[test]
    fn an_entry_too_large_for_any_reply_is_left_out_and_the_listing_goes_on() {
        use roster_proto::{MAX_FRAME_LEN, MAX_STRING_LEN};
        let with = |gecos: usize, home: usize| User {
            home: "h".repeat(home),
            ..user(gecos)
        };
        // The largest strings a reply may hold; one octet more; and an
        // entry of strings each within the limit but too large for a
        // frame together.
        let big = MAX_STRING_LEN;
        let mut users = vec![
            user(10),
            with(big, big),
            user(big + 1),
            User {
                name: "n".repeat(big),
                shell: "s".repeat(big),
                ..with(big, big)
            },
            user(20),
        ];
        users.retain(|u| unsendable(u).is_none());
        let kept: Vec<usize> = users.iter().map(|u| u.gecos.len()).collect();
        assert_eq!(kept, [10, big, 20]);
        // Every page of what is left is read back by the module's decoder.
        let snap = snapshot_of(&users);
        let mut offset = 0;
        let mut read = Vec::new();
        loop {
            let page = page_of(snap.clone(), offset, 2000);
            let frame = frame_of(&page);
            assert!(frame.len() - 4 <= MAX_FRAME_LEN);
            match roster_proto::decode_response(&frame[4..]) {
                Ok(roster_proto::Response::Users { entries, .. }) => {
                    read.extend(entries.into_iter().map(|u| u.gecos.len()))
                }
                other => panic!("page at {offset}: {other:?}"),
            }
            offset += page.count();
            if !page.more() {
                break;
            }
        }
        assert_eq!(read, [10, big, 20]);
    }

    #[test]
    fn a_limit_of_zero_still_moves_the_listing_on() {
        let snap = snapshot_of(&vec![user(10); 3]);
        let page = page_of(snap.clone(), 0, 0);
        assert_eq!((page.count(), page.more()), (1, true));
        let page = page_of(snap, 3, 0);
        assert_eq!((page.count(), page.more()), (0, false));
        assert!(page.octets().is_empty());
    }

    #[test]
    fn encoded_lengths_are_the_octets_a_page_takes() {
        let u = user(33);
        let one = roster_proto::encode_users_page(std::slice::from_ref(&u), false);
        let none = roster_proto::encode_users_page(&[], false);
        assert_eq!(one.len() - none.len(), u.encoded_len());
        let g = Group {
            name: "staff".into(),
            gid: 5000,
            members: vec!["alice".into(), "bob".into()],
        };
        let one = roster_proto::encode_groups_page(std::slice::from_ref(&g), false);
        let none = roster_proto::encode_groups_page(&[], false);
        assert_eq!(one.len() - none.len(), g.encoded_len());
    }
}
