//! Memory and speed of the resolver's cache, without a directory:
//! `cargo run -p roster-daemon --release --example cache_memory [USERS]`.
//!
//! A synthetic domain answers every `uNNNNNN` name; the example resolves
//! USERS of them (100,000 by default: cold, each written behind to a
//! persistent store in a temporary directory), then resolves them all
//! again (warm), and prints the resident memory growth and the time per
//! lookup. `NO_STORE=1` leaves the persistent store out.

use roster_daemon::cache::{GroupEntry, NetgroupEntry, SystemClock, UserEntry};
use roster_daemon::resolver::{
    Answer, BoxFuture, Listing, Provider, ProviderResult, Resolver, Settings,
};
use roster_daemon::store::Store;
use roster_proto::User;
use std::sync::Arc;
use std::time::Instant;

const UID_BASE: u32 = 100_000;

struct Synthetic {
    name: Arc<str>,
}

impl Synthetic {
    fn user(&self, i: u32) -> UserEntry {
        let name = format!("u{i:06}");
        UserEntry {
            user: User {
                gecos: format!("User Number {i}"),
                home: format!("/home/{name}"),
                shell: "/bin/bash".into(),
                uid: UID_BASE + i,
                gid: 10_000,
                name: name.clone(),
            },
            dn: format!("uid={name},ou=people,dc=example,dc=test"),
            domain: self.name.clone(),
            unique_id: None,
            ssh_keys: Vec::new(),
        }
    }
}

impl Provider for Synthetic {
    fn name(&self) -> &str {
        &self.name
    }
    fn user_by_name<'a>(
        &'a self,
        name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<UserEntry>>> {
        let i = name.strip_prefix('u').and_then(|n| n.parse::<u32>().ok());
        Box::pin(async move { Ok(i.map(|i| self.user(i))) })
    }
    fn user_by_uid(&self, uid: u32) -> BoxFuture<'_, ProviderResult<Option<UserEntry>>> {
        Box::pin(async move { Ok(uid.checked_sub(UID_BASE).map(|i| self.user(i))) })
    }
    fn group_by_name<'a>(
        &'a self,
        _: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async { Ok(None) })
    }
    fn group_by_gid(&self, _: u32) -> BoxFuture<'_, ProviderResult<Option<GroupEntry>>> {
        Box::pin(async { Ok(None) })
    }
    fn groups_of_user<'a>(&'a self, _: &'a UserEntry) -> BoxFuture<'a, ProviderResult<Vec<u32>>> {
        Box::pin(async { Ok(Vec::new()) })
    }
    fn netgroup_by_name<'a>(
        &'a self,
        _name: &'a str,
    ) -> BoxFuture<'a, ProviderResult<Option<NetgroupEntry>>> {
        Box::pin(async { Ok(None) })
    }
    fn all_users(&self) -> BoxFuture<'_, ProviderResult<Listing<UserEntry>>> {
        Box::pin(async { Ok(Listing::of(Vec::new())) })
    }
    fn all_groups(&self) -> BoxFuture<'_, ProviderResult<Listing<GroupEntry>>> {
        Box::pin(async { Ok(Listing::of(Vec::new())) })
    }
    fn status(&self) -> roster_proto::admin::DomainStatus {
        roster_proto::admin::DomainStatus {
            name: self.name().to_string(),
            online: true,
            ..Default::default()
        }
    }
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            let line = s.lines().find(|l| l.starts_with("VmRSS:"))?.to_owned();
            line.split_whitespace().nth(1)?.parse().ok()
        })
        .unwrap_or(0)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let users: u32 = match std::env::args().nth(1) {
        Some(n) => n.parse()?,
        None => 100_000,
    };
    let dir = tempfile::tempdir()?;
    let store = Arc::new(Store::open(dir.path(), u64::MAX)?);
    let settings = Settings {
        max_entries: users as usize * 2, // by name and by UID
        ..Settings::default()
    };
    let domain: Arc<dyn Provider> = Arc::new(Synthetic {
        name: Arc::from("example"),
    });
    // NO_STORE=1: memory cache only.
    let persist = std::env::var_os("NO_STORE")
        .is_none()
        .then(|| store.clone());
    let resolver = Resolver::new(vec![domain], settings, persist, Arc::new(SystemClock));
    let before = rss_kb();
    let start = Instant::now();
    for i in 0..users {
        let name = format!("u{i:06}");
        if !matches!(resolver.user_by_name(&name).await, Answer::Found(..)) {
            anyhow::bail!("{name} not resolved");
        }
        if i % 4096 == 4095 {
            store.flush(); // keep the write-behind queue from overflowing
        }
    }
    store.flush();
    let cold = start.elapsed();
    let after = rss_kb();
    let start = Instant::now();
    for i in 0..users {
        let name = format!("u{i:06}");
        if !matches!(resolver.user_by_name(&name).await, Answer::Found(..)) {
            anyhow::bail!("{name} not resolved");
        }
    }
    let warm = start.elapsed();
    let stats = resolver.cache_stats();
    println!(
        "{users} users: cache entries {}, persistent entries {}, resident memory +{:.1} MB ({} bytes per user)",
        stats.entries,
        stats.persistent_entries,
        (after.saturating_sub(before)) as f64 / 1024.0,
        after.saturating_sub(before) * 1024 / users.max(1) as u64
    );
    println!(
        "cold lookup (cache miss + write-behind): {:.2} µs; warm lookup: {:.2} µs",
        cold.as_secs_f64() * 1e6 / users.max(1) as f64,
        warm.as_secs_f64() * 1e6 / users.max(1) as f64
    );
    Ok(())
}
