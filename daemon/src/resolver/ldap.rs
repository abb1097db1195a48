//! [`Provider`] over a directory domain ([`Directory`], either flavour).

use super::{BoxFuture, CensusListed, Provider, ProviderResult};
use crate::cache::{GroupEntry, NetgroupEntry, UserEntry};
use crate::census::Census;
use crate::directory::{Directory, GroupRecord, Listing, UserRecord};
use roster_proto::admin::DomainStatus;
use std::sync::Arc;

/// A directory domain as a resolver provider.
pub struct DirectoryProvider {
    dir: Arc<Directory>,
    name: Arc<str>,
}

impl DirectoryProvider {
    /// Wraps `dir`.
    pub fn new(dir: Arc<Directory>) -> Self {
        let name = Arc::from(dir.name());
        DirectoryProvider { dir, name }
    }

    fn user(&self, r: UserRecord) -> UserEntry {
        UserEntry {
            user: r.user,
            dn: r.dn,
            domain: self.name.clone(),
            unique_id: r.unique_id,
            ssh_keys: r.ssh_keys,
        }
    }

    fn group(&self, r: GroupRecord) -> GroupEntry {
        GroupEntry {
            group: r.group,
            dn: r.dn,
            domain: self.name.clone(),
        }
    }
}

impl Provider for DirectoryProvider {
    fn name(&self) -> &str {
        &self.name
    }
    fn case_insensitive(&self) -> bool {
        self.dir.case_insensitive_names()
    }
    fn unique_ids(&self) -> bool {
        self.dir.ids_from_sids()
    }
    fn user_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<UserEntry>>> {
        Box::pin(async move { Ok(self.dir.user_by_name(name).await?.map(|r| self.user(r))) })
    }
    fn user_by_uid(&self, uid: u32) -> BoxFuture<'_, ProviderResult<Option<UserEntry>>> {
        Box::pin(async move { Ok(self.dir.user_by_uid(uid).await?.map(|r| self.user(r))) })
    }
    fn users_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            let found = self.dir.users_by_names(names).await?;
            Ok(found.into_iter().map(|r| r.map(|r| self.user(r))).collect())
        })
    }
    fn users_by_uids<'a>(
        &'a self,
        uids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<UserEntry>>>> {
        Box::pin(async move {
            let found = self.dir.users_by_uids(uids).await?;
            Ok(found.into_iter().map(|r| r.map(|r| self.user(r))).collect())
        })
    }
    fn group_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async move { Ok(self.dir.group_by_name(name).await?.map(|r| self.group(r))) })
    }
    fn group_by_gid(&self, gid: u32) -> BoxFuture<'_, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async move { Ok(self.dir.group_by_gid(gid).await?.map(|r| self.group(r))) })
    }
    fn groups_by_names<'a>(
        &'a self,
        names: &'a [String],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(async move {
            let found = self.dir.groups_by_names(names).await?;
            Ok(found
                .into_iter()
                .map(|r| r.map(|r| self.group(r)))
                .collect())
        })
    }
    fn groups_by_gids<'a>(
        &'a self,
        gids: &'a [u32],
    ) -> BoxFuture<'a, ProviderResult<Vec<Option<GroupEntry>>>> {
        Box::pin(async move {
            let found = self.dir.groups_by_gids(gids).await?;
            Ok(found
                .into_iter()
                .map(|r| r.map(|r| self.group(r)))
                .collect())
        })
    }
    fn groups_of_user<'a>(
        &'a self,
        user: &'a UserEntry,
    ) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async move {
            let record = UserRecord {
                user: user.user.clone(),
                dn: user.dn.clone(),
                domain: user.domain.to_string(),
                unique_id: user.unique_id.clone(),
                ssh_keys: Vec::new(),
            };
            let groups = self.dir.groups_of_user(&record).await?;
            Ok(groups.into_iter().map(|g| g.gid).collect())
        })
    }
    fn groups_by_name_alone(&self) -> bool {
        self.dir.groups_by_name_alone()
    }
    fn groups_of_name<'a>(&'a self, name: &'a str) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async move { Ok(self.dir.groups_of_name(name).await?) })
    }
    fn netgroup_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<NetgroupEntry>>> {
        Box::pin(async move {
            Ok(self
                .dir
                .netgroup_by_name(name)
                .await?
                .map(|r| NetgroupEntry {
                    netgroup: r.netgroup,
                    dn: r.dn,
                    domain: self.name.clone(),
                }))
        })
    }
    fn all_users(&self) -> BoxFuture<'_, ProviderResult<Listing<UserEntry>>> {
        Box::pin(async move {
            let all = self.dir.user_listing().await?;
            // (As for the census's listing: the conversion after the
            // runtime's other tasks.)
            tokio::task::yield_now().await;
            Ok(all.map(|r| self.user(r)))
        })
    }
    fn all_groups(&self) -> BoxFuture<'_, ProviderResult<Listing<GroupEntry>>> {
        Box::pin(async move {
            let all = self.dir.group_listing().await?;
            tokio::task::yield_now().await;
            Ok(all.map(|r| self.group(r)))
        })
    }
    fn census(&self, users: bool) -> BoxFuture<'_, ProviderResult<Option<Census>>> {
        Box::pin(async move { Ok(self.dir.census(users).await?) })
    }
    fn census_reads_users(&self) -> bool {
        self.dir.census_reads_users()
    }
    fn users_census_with_listing(&self) -> BoxFuture<'_, ProviderResult<Option<CensusListed>>> {
        Box::pin(async move {
            let taken = self.dir.users_census_with_listing().await?;
            // (The listing's conversion, 100,000 users in some 10 ms, after
            // the runtime's other tasks.)
            tokio::task::yield_now().await;
            Ok(taken.map(|(census, users)| CensusListed {
                census,
                users: users.map(|l| l.map(|r| self.user(r))),
            }))
        })
    }
    fn status(&self) -> DomainStatus {
        self.dir.status().into()
    }
    fn directory(&self) -> Option<&Arc<Directory>> {
        Some(&self.dir)
    }
}
