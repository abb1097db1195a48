//! An in-memory [`Provider`] for unit tests: a directory that can be
//! switched off, counts its calls and can hold calls at a gate.

use super::{BoxFuture, CensusListed, Listing, Provider, ProviderResult};
use crate::backend_error::BackendError;
use crate::cache::{GroupEntry, NetgroupEntry, UserEntry};
use crate::census::Census;
use crate::in_turn::in_turn;
use roster_proto::{Group, Netgroup, Triple, User};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// A fake domain.
pub struct FakeDirectory {
    name: Arc<str>,
    users: Mutex<Vec<UserEntry>>,
    groups: Mutex<Vec<GroupEntry>>,
    memberships: Mutex<HashMap<String, Vec<u32>>>,
    netgroups: Mutex<Vec<NetgroupEntry>>,
    online: AtomicBool,
    /// Number of calls made to this domain.
    pub calls: AtomicUsize,
    /// Number of batch calls answered in one call (users or groups).
    batch_calls: AtomicUsize,
    gated: AtomicBool,
    /// Batch calls ask one key at a time (as a provider without batches).
    per_key: AtomicBool,
    gate: tokio::sync::Semaphore,
    /// Milliseconds (tokio's clock) each call takes.
    latency_ms: AtomicU64,
    /// Names match case-insensitively (like Active Directory); entries
    /// are then named in lower case.
    any_case: bool,
    /// Takes censuses ([`Provider::census`]).
    census: AtomicBool,
    census_panics: AtomicBool,
    /// A users census asked for the listing hands it over
    /// ([`Provider::users_census_with_listing`]).
    census_lists_users: AtomicBool,
    /// Number of censuses taken.
    census_calls: AtomicUsize,
    /// Number of users censuses asked for the user listing too.
    census_listing_calls: AtomicUsize,
    user_listing_calls: AtomicUsize,
    /// Listing every user fails ([`Provider::all_users`]).
    user_listing_fails: AtomicBool,
    user_listing_panics: AtomicBool,
    /// Listing every group fails ([`Provider::all_groups`]).
    group_listing_fails: AtomicBool,
    /// Listing every group waits at `group_gate` until released.
    group_listing_held: AtomicBool,
    group_gate: tokio::sync::Semaphore,
    /// A users census waits at `census_gate` until released.
    users_census_held: AtomicBool,
    census_gate: tokio::sync::Semaphore,
    /// Finds a user's groups by its name alone
    /// ([`Provider::groups_by_name_alone`]).
    by_name_alone: AtomicBool,
    /// Number of [`Provider::groups_of_name`] calls.
    groups_of_name_calls: AtomicUsize,
    /// The calls made before the last [`Provider::groups_of_name`] began.
    calls_before_groups_of_name: AtomicUsize,
    /// [`Provider::groups_of_name`] fails as a server that cannot be
    /// reached.
    groups_of_name_fails: AtomicBool,
    /// Work run as the call of its number (counted from 1) begins.
    on_call: Mutex<Vec<(usize, CallWork)>>,
}

/// Work a test has run as a call begins ([`FakeDirectory::on_call`]).
type CallWork = Box<dyn FnOnce() + Send>;

impl FakeDirectory {
    /// An empty, online domain.
    pub fn new(name: &str) -> Arc<Self> {
        Self::build(name, false)
    }

    /// An empty, online domain matching names case-insensitively.
    pub fn new_any_case(name: &str) -> Arc<Self> {
        Self::build(name, true)
    }

    fn build(name: &str, any_case: bool) -> Arc<Self> {
        Arc::new(FakeDirectory {
            any_case,
            name: Arc::from(name),
            users: Mutex::default(),
            groups: Mutex::default(),
            memberships: Mutex::default(),
            netgroups: Mutex::default(),
            online: AtomicBool::new(true),
            calls: AtomicUsize::new(0),
            batch_calls: AtomicUsize::new(0),
            gated: AtomicBool::new(false),
            per_key: AtomicBool::new(false),
            gate: tokio::sync::Semaphore::new(0),
            latency_ms: AtomicU64::new(0),
            census: AtomicBool::new(false),
            census_panics: AtomicBool::new(false),
            census_lists_users: AtomicBool::new(false),
            census_calls: AtomicUsize::new(0),
            census_listing_calls: AtomicUsize::new(0),
            user_listing_calls: AtomicUsize::new(0),
            user_listing_fails: AtomicBool::new(false),
            user_listing_panics: AtomicBool::new(false),
            group_listing_fails: AtomicBool::new(false),
            group_listing_held: AtomicBool::new(false),
            group_gate: tokio::sync::Semaphore::new(0),
            users_census_held: AtomicBool::new(false),
            census_gate: tokio::sync::Semaphore::new(0),
            by_name_alone: AtomicBool::new(false),
            groups_of_name_calls: AtomicUsize::new(0),
            calls_before_groups_of_name: AtomicUsize::new(0),
            groups_of_name_fails: AtomicBool::new(false),
            on_call: Mutex::default(),
        })
    }

    /// Adds a user `name` with `uid` (primary group `gid`).
    pub fn add_user(&self, name: &str, uid: u32, gid: u32) {
        let name = &self.canonical(name);
        self.users.lock().unwrap().push(UserEntry {
            user: User {
                name: name.into(),
                uid,
                gid,
                gecos: format!("{name} gecos"),
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
            },
            dn: format!("uid={name},ou=people,dc={}", self.name),
            domain: self.name.clone(),
            unique_id: None,
            ssh_keys: Vec::new(),
        });
    }

    /// Sets user `name`'s GECOS field.
    pub fn set_gecos(&self, name: &str, gecos: &str) {
        for u in self.users.lock().unwrap().iter_mut() {
            if u.user.name == name {
                u.user.gecos = gecos.into();
            }
        }
    }

    /// Adds a group with members; each member gets the GID in its list.
    pub fn add_group(&self, name: &str, gid: u32, members: &[&str]) {
        let name = &self.canonical(name);
        self.groups.lock().unwrap().push(GroupEntry {
            group: Group {
                name: name.into(),
                gid,
                members: members.iter().map(|m| m.to_string()).collect(),
            },
            dn: format!("cn={name},ou=groups,dc={}", self.name),
            domain: self.name.clone(),
        });
        let mut ms = self.memberships.lock().unwrap();
        for m in members {
            ms.entry(m.to_string()).or_default().push(gid);
        }
    }

    /// Adds a netgroup (already expanded) with `(host,user,domain)` triples.
    pub fn add_netgroup(&self, name: &str, triples: &[(&str, &str, &str)]) {
        self.netgroups.lock().unwrap().push(NetgroupEntry {
            netgroup: Netgroup {
                name: name.into(),
                triples: triples
                    .iter()
                    .map(|(h, u, d)| Triple {
                        host: h.to_string(),
                        user: u.to_string(),
                        domain: d.to_string(),
                    })
                    .collect(),
            },
            dn: format!("cn={name},ou=netgroup,dc={}", self.name),
            domain: self.name.clone(),
        });
    }

    /// Removes the netgroup `name`.
    pub fn remove_netgroup(&self, name: &str) {
        self.netgroups
            .lock()
            .unwrap()
            .retain(|n| n.netgroup.name != name);
    }

    fn canonical(&self, name: &str) -> String {
        if self.any_case {
            name.to_lowercase()
        } else {
            name.to_string()
        }
    }

    fn same_name(&self, stored: &str, asked: &str) -> bool {
        if self.any_case {
            stored.eq_ignore_ascii_case(asked)
        } else {
            stored == asked
        }
    }

    /// Replaces the SSH keys of the user `name`.
    pub fn set_ssh_keys(&self, name: &str, keys: &[&str]) {
        for u in self.users.lock().unwrap().iter_mut() {
            if u.user.name == name {
                u.ssh_keys = keys.iter().map(|k| k.to_string()).collect();
            }
        }
    }

    /// Removes the user `name`.
    pub fn remove_user(&self, name: &str) {
        self.users.lock().unwrap().retain(|u| u.user.name != name);
    }

    /// Removes the group `name` (and its GID from its members' lists).
    pub fn remove_group(&self, name: &str) {
        let mut groups = self.groups.lock().unwrap();
        let gone: Vec<u32> = groups
            .iter()
            .filter(|g| g.group.name == name)
            .map(|g| g.group.gid)
            .collect();
        groups.retain(|g| g.group.name != name);
        for gids in self.memberships.lock().unwrap().values_mut() {
            gids.retain(|g| !gone.contains(g));
        }
    }

    /// Switches the domain on or off (off: every call is Unavailable).
    pub fn set_online(&self, on: bool) {
        self.online.store(on, Ordering::SeqCst);
    }

    /// Batch calls ([`Provider::users_by_names`], [`Provider::users_by_uids`],
    /// [`Provider::groups_by_names`], [`Provider::groups_by_gids`]) ask
    /// each key on its own (`true`) or answer all in one call.
    pub fn set_per_key(&self, on: bool) {
        self.per_key.store(on, Ordering::SeqCst);
    }

    fn uid_answer(&self, uid: u32) -> Option<UserEntry> {
        // Like the directory: a UID held by several entries is refused.
        let users = self.users.lock().unwrap();
        let mut found = users.iter().filter(|u| u.user.uid == uid);
        match (found.next(), found.next()) {
            (Some(u), None) => Some(u.clone()),
            _ => None,
        }
    }

    fn gid_answer(&self, gid: u32) -> Option<GroupEntry> {
        // Like the directory: a GID held by several entries is refused.
        let groups = self.groups.lock().unwrap();
        let mut found = groups.iter().filter(|g| g.group.gid == gid);
        match (found.next(), found.next()) {
            (Some(g), None) => Some(g.clone()),
            _ => None,
        }
    }

    /// The domain takes censuses ([`Provider::census`]; off by default).
    pub fn set_census(&self, on: bool) {
        self.census.store(on, Ordering::SeqCst);
    }

    /// Taking a census panics (`true`): a fault in the listing's own code.
    pub fn set_census_panics(&self, on: bool) {
        self.census_panics.store(on, Ordering::SeqCst);
    }

    /// A users census asked for the user listing hands it over (`true`),
    /// as an LDAP domain's census of one search does.
    pub fn set_census_lists_users(&self, on: bool) {
        self.census_lists_users.store(on, Ordering::SeqCst);
    }

    /// Listing every user fails (`true`) while lookups still answer.
    pub fn set_user_listing_fails(&self, on: bool) {
        self.user_listing_fails.store(on, Ordering::SeqCst);
    }

    /// Listing every user panics (`true`): a fault in the listing's own
    /// code, as a malformed value's parser could raise.
    pub fn set_user_listing_panics(&self, on: bool) {
        self.user_listing_panics.store(on, Ordering::SeqCst);
    }

    /// Listing every group fails (`true`) while lookups still answer.
    pub fn set_group_listing_fails(&self, on: bool) {
        self.group_listing_fails.store(on, Ordering::SeqCst);
    }

    /// From now on, users censuses wait until
    /// [`FakeDirectory::release_users_census`] (other calls answer).
    pub fn hold_users_census(&self) {
        self.users_census_held.store(true, Ordering::SeqCst);
    }

    /// Lets one held users census proceed.
    pub fn release_users_census(&self) {
        self.census_gate.add_permits(1);
    }

    /// From now on, listings of every group wait until
    /// [`FakeDirectory::release_group_listing`] (other calls answer).
    pub fn hold_group_listing(&self) {
        self.group_listing_held.store(true, Ordering::SeqCst);
    }

    /// Lets one held group listing proceed.
    pub fn release_group_listing(&self) {
        self.group_gate.add_permits(1);
    }

    /// Number of user listings asked so far (each also counts as one call
    /// in [`FakeDirectory::call_count`]).
    pub fn user_listing_count(&self) -> usize {
        self.user_listing_calls.load(Ordering::SeqCst)
    }

    /// Number of users censuses asked for the user listing too so far
    /// (counted in [`FakeDirectory::census_count`] as well).
    pub fn census_listing_count(&self) -> usize {
        self.census_listing_calls.load(Ordering::SeqCst)
    }

    /// Number of censuses taken so far (not counted as calls).
    pub fn census_count(&self) -> usize {
        self.census_calls.load(Ordering::SeqCst)
    }

    /// From now on, calls wait until [`FakeDirectory::release`].
    pub fn hold(&self) {
        self.gated.store(true, Ordering::SeqCst);
    }

    /// Finds a user's groups by its name alone (as an RFC 2307 domain
    /// does), or only from the user's entry (the default).
    pub fn set_groups_by_name_alone(&self, on: bool) {
        self.by_name_alone.store(on, Ordering::SeqCst);
    }

    /// From now on, asking a user's groups by its name alone fails as a
    /// server that cannot be reached (the other calls answer).
    pub fn set_groups_of_name_fails(&self, on: bool) {
        self.groups_of_name_fails.store(on, Ordering::SeqCst);
    }

    /// Number of calls asking a user's groups by its name alone so far.
    pub fn groups_of_name_calls(&self) -> usize {
        self.groups_of_name_calls.load(Ordering::SeqCst)
    }

    /// The calls made to this domain before the last call asking a user's
    /// groups by its name alone began (the order of the lookups the
    /// resolver starts together).
    pub fn calls_before_groups_of_name(&self) -> usize {
        self.calls_before_groups_of_name.load(Ordering::SeqCst)
    }

    /// From now on, each call takes `ms` milliseconds of tokio's clock.
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::SeqCst);
    }

    /// Runs `work` as call number `n` (counted from 1, over the domain's
    /// life, whatever task makes it) begins, before it waits at the gate
    /// or answers. Panics for a call already made.
    pub fn on_call(&self, n: usize, work: impl FnOnce() + Send + 'static) {
        assert!(n > self.call_count(), "call {n} was made already");
        self.on_call.lock().unwrap().push((n, Box::new(work)));
    }

    /// Work of [`FakeDirectory::on_call`] not run yet.
    pub fn calls_hooked_left(&self) -> usize {
        self.on_call.lock().unwrap().len()
    }

    /// Lets `n` held calls proceed.
    pub fn release(&self, n: usize) {
        self.gate.add_permits(n);
    }

    /// Number of calls so far.
    pub fn call_count(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }

    /// Number of batch calls answered in one call so far (each also
    /// counts as one call in [`FakeDirectory::call_count`]).
    pub fn batch_call_count(&self) -> usize {
        self.batch_calls.load(Ordering::SeqCst)
    }

    async fn enter(&self) -> ProviderResult<()> {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        let due: Vec<_> = {
            let mut hooks = self.on_call.lock().unwrap();
            let (due, later) = hooks.drain(..).partition(|(at, _)| *at == n);
            *hooks = later;
            due
        };
        for (_, work) in due {
            work();
        }
        if self.gated.load(Ordering::SeqCst) {
            self.gate.acquire().await.expect("gate open").forget();
        }
        let ms = self.latency_ms.load(Ordering::SeqCst);
        if ms > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
        }
        if self.online.load(Ordering::SeqCst) {
            Ok(())
        } else {
            Err(BackendError::unavailable("fake server down"))
        }
    }

    /// [`FakeDirectory::enter`] for a batch call (counted as one).
    async fn enter_batch(&self) -> ProviderResult<()> {
        self.enter().await?;
        self.batch_calls.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    fn name_answer(&self, name: &str) -> Option<UserEntry> {
        self.sole_named(&self.users.lock().unwrap(), |u| &u.user.name, name)
    }

    fn group_name_answer(&self, name: &str) -> Option<GroupEntry> {
        self.sole_named(&self.groups.lock().unwrap(), |g| &g.group.name, name)
    }

    /// The one item of `items` named `name` ([`FakeDirectory::same_name`]):
    /// like the directory, a name several items use is refused.
    fn sole_named<T: Clone>(&self, items: &[T], of: impl Fn(&T) -> &str, name: &str) -> Option<T> {
        let mut found = items.iter().filter(|i| self.same_name(of(i), name));
        match (found.next(), found.next()) {
            (Some(i), None) => Some(i.clone()),
            _ => None,
        }
    }

    /// Like the directory's listing: `items` without those whose name or ID
    /// several of them use (names compared as lookups compare them,
    /// [`FakeDirectory::same_name`]), and the key such an item still holds
    /// alone (the one no other item uses), as lookups find it.
    fn listing<T: Clone>(
        &self,
        items: &[T],
        name: impl Fn(&T) -> &str,
        id: impl Fn(&T) -> u32,
    ) -> Listing<T> {
        let key = |i: &T| {
            if self.any_case {
                name(i).to_ascii_lowercase()
            } else {
                name(i).to_string()
            }
        };
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut ids: HashMap<u32, usize> = HashMap::new();
        for i in items {
            *names.entry(key(i)).or_default() += 1;
            *ids.entry(id(i)).or_default() += 1;
        }
        let mut out = Listing::of(Vec::new());
        for i in items {
            match (names[&key(i)] == 1, ids[&id(i)] == 1) {
                (true, true) => out.entries.push(i.clone()),
                (true, false) => out.also_held.names.push(name(i).to_string()),
                (false, true) => out.also_held.ids.push(id(i)),
                (false, false) => {}
            }
        }
        out
    }
}

impl Provider for FakeDirectory {
    fn name(&self) -> &str {
        &self.name
    }
    fn case_insensitive(&self) -> bool {
        self.any_case
    }
    fn user_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<UserEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            Ok(self.name_answer(name))
        })
    }
    fn user_by_uid(&self, uid: u32) -> BoxFuture<'_, ProviderResult<Option<UserEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            Ok(self.uid_answer(uid))
        })
    }
    fn users_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            if self.per_key.load(Ordering::SeqCst) {
                return in_turn(names, |n| self.user_by_name(n)).await;
            }
            self.enter_batch().await?;
            Ok(names.iter().map(|n| self.name_answer(n)).collect())
        })
    }
    fn users_by_uids<'a>(
        &'a self,
        uids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            if self.per_key.load(Ordering::SeqCst) {
                return in_turn(uids, |&u| self.user_by_uid(u)).await;
            }
            self.enter_batch().await?;
            Ok(uids.iter().map(|&u| self.uid_answer(u)).collect())
        })
    }
    fn group_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            Ok(self.group_name_answer(name))
        })
    }
    fn group_by_gid(&self, gid: u32) -> BoxFuture<'_, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            Ok(self.gid_answer(gid))
        })
    }
    fn groups_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(async move {
            if self.per_key.load(Ordering::SeqCst) {
                return in_turn(names, |n| self.group_by_name(n)).await;
            }
            self.enter_batch().await?;
            Ok(names.iter().map(|n| self.group_name_answer(n)).collect())
        })
    }
    fn groups_by_gids<'a>(
        &'a self,
        gids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(async move {
            if self.per_key.load(Ordering::SeqCst) {
                return in_turn(gids, |&g| self.group_by_gid(g)).await;
            }
            self.enter_batch().await?;
            Ok(gids.iter().map(|&g| self.gid_answer(g)).collect())
        })
    }
    fn groups_of_user<'a>(
        &'a self,
        user: &'a UserEntry,
    ) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async move {
            self.enter().await?;
            let ms = self.memberships.lock().unwrap();
            Ok(ms.get(&user.user.name).cloned().unwrap_or_default())
        })
    }
    fn groups_by_name_alone(&self) -> bool {
        self.by_name_alone.load(Ordering::SeqCst)
    }
    fn groups_of_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async move {
            self.groups_of_name_calls.fetch_add(1, Ordering::SeqCst);
            self.calls_before_groups_of_name
                .store(self.calls.load(Ordering::SeqCst), Ordering::SeqCst);
            if !self.groups_by_name_alone() {
                return Err(BackendError::invalid(format!(
                    "groups of {name} asked without the user"
                )));
            }
            self.enter().await?;
            if self.groups_of_name_fails.load(Ordering::SeqCst) {
                return Err(BackendError::unavailable("fake groups search failed"));
            }
            let ms = self.memberships.lock().unwrap();
            Ok(ms.get(name).cloned().unwrap_or_default())
        })
    }
    fn netgroup_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<NetgroupEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            let all = self.netgroups.lock().unwrap();
            Ok(all.iter().find(|n| n.netgroup.name == name).cloned())
        })
    }
    fn all_users(&self) -> BoxFuture<'_, ProviderResult<Listing<UserEntry>>> {
        Box::pin(async move {
            self.user_listing_calls.fetch_add(1, Ordering::SeqCst);
            self.enter().await?;
            if self.user_listing_fails.load(Ordering::SeqCst) {
                return Err(BackendError::unavailable("fake listing failed"));
            }
            if self.user_listing_panics.load(Ordering::SeqCst) {
                panic!("fake listing panicked");
            }
            let users = self.users.lock().unwrap();
            Ok(self.listing(&users, |u| &u.user.name, |u| u.user.uid))
        })
    }
    fn all_groups(&self) -> BoxFuture<'_, ProviderResult<Listing<GroupEntry>>> {
        Box::pin(async move {
            self.enter().await?;
            if self.group_listing_held.load(Ordering::SeqCst) {
                self.group_gate.acquire().await.expect("gate open").forget();
            }
            if self.group_listing_fails.load(Ordering::SeqCst) {
                return Err(BackendError::unavailable("fake group listing failed"));
            }
            let groups = self.groups.lock().unwrap();
            Ok(self.listing(&groups, |g| &g.group.name, |g| g.group.gid))
        })
    }
    fn census(&self, users: bool) -> BoxFuture<'_, ProviderResult<Option<Census>>> {
        Box::pin(async move {
            if !self.census.load(Ordering::SeqCst) {
                return Ok(None);
            }
            if !self.online.load(Ordering::SeqCst) {
                return Err(BackendError::unavailable("fake server down"));
            }
            self.census_calls.fetch_add(1, Ordering::SeqCst);
            if users && self.users_census_held.load(Ordering::SeqCst) {
                self.census_gate
                    .acquire()
                    .await
                    .expect("gate open")
                    .forget();
            }
            if self.census_panics.load(Ordering::SeqCst) {
                panic!("fake census panicked");
            }
            let mut c = Census::builder();
            if users {
                for u in self.users.lock().unwrap().iter() {
                    c.add(
                        &u.dn,
                        [u.user.name.as_str()],
                        [u.user.uid.to_string().as_str()],
                    );
                    // (Every fake entry is valid.)
                    c.served(&u.dn, &u.user.name, u.user.uid);
                }
            } else {
                for g in self.groups.lock().unwrap().iter() {
                    c.add(
                        &g.dn,
                        [g.group.name.as_str()],
                        [g.group.gid.to_string().as_str()],
                    );
                    c.served_named(&g.dn, &g.group.name, g.group.gid);
                }
            }
            Ok(Some(c.finish()))
        })
    }
    fn census_reads_users(&self) -> bool {
        self.census_lists_users.load(Ordering::SeqCst)
    }
    fn users_census_with_listing(&self) -> BoxFuture<'_, ProviderResult<Option<CensusListed>>> {
        Box::pin(async move {
            self.census_listing_calls.fetch_add(1, Ordering::SeqCst);
            let Some(census) = self.census(true).await? else {
                return Ok(None);
            };
            let users = self.census_lists_users.load(Ordering::SeqCst).then(|| {
                let users = self.users.lock().unwrap();
                self.listing(&users, |u| &u.user.name, |u| u.user.uid)
            });
            Ok(Some(CensusListed { census, users }))
        })
    }
    fn status(&self) -> roster_proto::admin::DomainStatus {
        roster_proto::admin::DomainStatus {
            name: self.name().to_string(),
            online: self.online.load(Ordering::SeqCst),
            ..Default::default()
        }
    }
}
