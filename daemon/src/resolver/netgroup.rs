//! Netgroups: a name belongs to the first enabled domain, in configuration
//! order, that holds it (as user names do); a later domain's netgroup of
//! the same name is reached only as `name@domain`. Netgroups carry host,
//! user and domain strings, no IDs, so no ID ownership rule applies. The
//! answer (nested netgroups already resolved by the domain) is cached,
//! served offline and flushed like users and groups.

use super::{Answer, Resolver, Timed};
use crate::cache::{Key, NetgroupEntry, Value};
use std::sync::Arc;

impl Resolver {
    /// A netgroup by name (plain or `name@domain`), every triple of the
    /// netgroups it includes resolved.
    pub async fn netgroup_by_name(&self, name: &str) -> Answer<Arc<NetgroupEntry>> {
        self.netgroup_by_name_timed(name).await.0
    }

    /// [`Resolver::netgroup_by_name`] with its freshness (see [`Timed`]).
    pub async fn netgroup_by_name_timed(&self, name: &str) -> Timed<Arc<NetgroupEntry>> {
        let mut cx = self.ctx();
        if name.is_empty() {
            return (Answer::NotFound, 0);
        }
        let (base, only) = Self::split_qualified(&cx, name);
        let r = match self
            .walk_domains(&mut cx, only, Key::NetgroupName(base))
            .await
        {
            Ok(Some((_, Value::Netgroup(raw), src))) => {
                self.remember_negatives(&mut cx);
                let served = if only.is_some() {
                    // Asked as `name@domain`: answered under that name.
                    let mut n = (*raw).clone();
                    n.netgroup.name = format!("{}@{}", raw.netgroup.name, raw.domain);
                    Arc::new(n)
                } else {
                    raw
                };
                Ok(Some((served, src)))
            }
            Ok(_) => Ok(None),
            Err(e) => Err(e),
        };
        self.timed(&mut cx, r)
    }

    /// Forgets the netgroup `name` (plain or `name@domain`) and every
    /// other cached netgroup in memory (any of them may include it).
    /// Returns the number of memory entries dropped.
    pub fn flush_netgroup(&self, name: &str) -> usize {
        let cx = self.ctx();
        let (base, only) = Self::split_qualified(&cx, name);
        let before = self.inner.cache.len();
        let domains = only.map_or_else(
            || cx.domains.clone(),
            |i| Arc::new(vec![cx.domains[i].clone()]),
        );
        let keys: Vec<_> = domains
            .iter()
            .map(|d| {
                crate::cache::CacheKey::new(Arc::from(d.name()), Key::NetgroupName(base.clone()))
            })
            .collect();
        self.flush_keys(&keys);
        self.inner
            .cache
            .remove_where(|k, _| matches!(k.key, Key::NetgroupName(_)));
        before.saturating_sub(self.inner.cache.len())
    }
}

#[cfg(test)]
mod tests {
    use super::super::fake::FakeDirectory;
    use super::super::{Provider, Resolver, Settings, Source};
    use super::*;
    use crate::cache::ManualClock;
    use crate::store::Store;

    fn resolver(
        domains: &[Arc<FakeDirectory>],
        store: Option<Arc<Store>>,
        clock: Arc<ManualClock>,
    ) -> Resolver {
        let ds: Vec<Arc<dyn Provider>> = domains
            .iter()
            .map(|d| d.clone() as Arc<dyn Provider>)
            .collect();
        Resolver::new(ds, Settings::default(), store, clock)
    }

    fn hosts(a: &Answer<Arc<NetgroupEntry>>) -> Vec<String> {
        match a {
            Answer::Found(n, _) => n.netgroup.triples.iter().map(|t| t.host.clone()).collect(),
            other => panic!("not found: {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_first_domain_owns_a_name_and_the_later_one_is_qualified() {
        let a = FakeDirectory::new("a");
        let b = FakeDirectory::new("b");
        a.add_netgroup("ops", &[("ha", "", "")]);
        b.add_netgroup("ops", &[("hb", "", "")]);
        b.add_netgroup("only-b", &[("hb2", "bob", "")]);
        let r = resolver(&[a, b], None, Arc::new(ManualClock::new(1_000_000)));
        assert_eq!(hosts(&r.netgroup_by_name("ops").await), ["ha"]);
        let q = r.netgroup_by_name("ops@b").await;
        assert_eq!(hosts(&q), ["hb"]);
        let Answer::Found(n, _) = q else {
            unreachable!()
        };
        assert_eq!(n.netgroup.name, "ops@b");
        assert_eq!(hosts(&r.netgroup_by_name("only-b").await), ["hb2"]);
        assert_eq!(r.netgroup_by_name("ghost").await, Answer::NotFound);
        assert_eq!(r.netgroup_by_name("").await, Answer::NotFound);
    }

    #[tokio::test]
    async fn an_earlier_domain_down_makes_the_answer_unavailable() {
        let a = FakeDirectory::new("a");
        let b = FakeDirectory::new("b");
        b.add_netgroup("ops", &[("hb", "", "")]);
        a.set_online(false);
        let r = resolver(&[a, b], None, Arc::new(ManualClock::new(1_000_000)));
        assert!(matches!(
            r.netgroup_by_name("ops").await,
            Answer::Unavailable(_)
        ));
    }

    #[tokio::test]
    async fn cached_served_offline_from_the_store_and_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let clock = Arc::new(ManualClock::new(1_000_000));
        let a = FakeDirectory::new("a");
        a.add_netgroup("ops", &[("h1", "alice", ""), ("h2", "", "-")]);
        {
            let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
            let r = resolver(std::slice::from_ref(&a), Some(store.clone()), clock.clone());
            let first = r.netgroup_by_name("ops").await;
            assert!(matches!(first, Answer::Found(_, Source::Directory)));
            let calls = a.call_count();
            assert!(matches!(
                r.netgroup_by_name("ops").await,
                Answer::Found(_, Source::Cache)
            ));
            assert_eq!(a.call_count(), calls);
            store.flush();
        }
        // A restart with the directory down: the persisted answer is served.
        a.set_online(false);
        clock.advance(Settings::default().entry_ttl_ms + 1);
        let store = Arc::new(Store::open(dir.path(), u64::MAX).unwrap());
        let r = resolver(std::slice::from_ref(&a), Some(store), clock.clone());
        let off = r.netgroup_by_name("ops").await;
        assert!(matches!(off, Answer::Found(_, Source::Offline)), "{off:?}");
        let Answer::Found(n, _) = off else {
            unreachable!()
        };
        assert_eq!(n.netgroup.triples[0].user, "alice");
        assert_eq!(n.netgroup.triples[1].domain, "-");
        // Back online, the netgroup removed: the flush makes it gone at once.
        a.set_online(true);
        a.remove_netgroup("ops");
        r.flush_netgroup("ops");
        assert_eq!(r.netgroup_by_name("ops").await, Answer::NotFound);
    }
}
