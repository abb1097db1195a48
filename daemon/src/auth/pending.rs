//! Credential updates that were decided but are not written yet.
//!
//! A login the directory accepted is answered at once; the new password
//! verifier and the account state are written afterwards, in the
//! background. This module orders those updates and lets readers wait for
//! them:
//! - every decision takes a [`ticket`](Pending::ticket), larger than every
//!   ticket taken before it, at the moment the decision is made (before
//!   the reply); the credential cache applies an update only when no later
//!   decision about the same user was applied already (a refusal by the
//!   directory included), so a verifier computed late can never undo a
//!   later refusal;
//! - a background update is [`begin`](Pending::begin)-ed before the reply
//!   and counted as in flight until its [`Work`] is finished or dropped;
//!   an offline check [`settled`](Pending::settled) waits for the updates of
//!   its user that began before it, so it sees the last accepted password;
//! - at shutdown [`drain`](Pending::drain) waits (bounded) for all of them,
//!   and a [`Work`] dropped before it was finished says so in the log.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;

/// The updates in flight, per user key (`domain/name`).
pub struct Pending {
    next: AtomicU64,
    in_flight: Mutex<HashMap<String, BTreeMap<u64, &'static str>>>,
    /// Bumped whenever an update ends (waiters re-check).
    ended: watch::Sender<u64>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            next: AtomicU64::new(0),
            in_flight: Mutex::new(HashMap::new()),
            ended: watch::channel(0).0,
        }
    }
}

impl std::fmt::Debug for Pending {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pending")
            .field("in_flight", &self.count())
            .finish()
    }
}

/// One background update of a user's cached credential, in flight until
/// [`Work::finish`] (or its drop, which logs that the update was lost).
#[must_use = "an update is in flight until it is finished"]
pub struct Work {
    pending: Arc<Pending>,
    key: String,
    ticket: u64,
    what: &'static str,
    finished: bool,
}

impl Pending {
    /// A ticket later than every ticket given before.
    pub fn ticket(&self) -> u64 {
        self.next.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Starts an update of `key` (`what` names it in the log): takes its
    /// ticket and counts it in flight.
    pub fn begin(self: &Arc<Self>, key: &str, what: &'static str) -> Work {
        let ticket = self.ticket();
        self.lock()
            .entry(key.to_string())
            .or_default()
            .insert(ticket, what);
        Work {
            pending: self.clone(),
            key: key.to_string(),
            ticket,
            what,
            finished: false,
        }
    }

    /// Waits until every update of `key` begun before this call has ended.
    pub async fn settled(&self, key: &str) {
        self.settled_where(Some(key)).await
    }

    /// Waits until every update (of any key) begun before this call has
    /// ended.
    pub async fn settled_all(&self) {
        self.settled_where(None).await
    }

    async fn settled_where(&self, key: Option<&str>) {
        let before = self.next.load(Ordering::SeqCst);
        let mut ended = self.ended.subscribe();
        loop {
            let first = {
                let map = self.lock();
                match key {
                    Some(k) => map.get(k).and_then(|t| t.keys().next().copied()),
                    None => map.values().filter_map(|t| t.keys().next().copied()).min(),
                }
            };
            let waiting = first.is_some_and(|first| first <= before);
            if !waiting || ended.changed().await.is_err() {
                return;
            }
        }
    }

    /// Waits up to `bound` until no update is in flight; returns the ones
    /// still in flight then (key and what), empty when all ended.
    pub async fn drain(&self, bound: Duration) -> Vec<(String, &'static str)> {
        let mut ended = self.ended.subscribe();
        let all_ended = async {
            while self.count() > 0 {
                if ended.changed().await.is_err() {
                    return;
                }
            }
        };
        let _ = tokio::time::timeout(bound, all_ended).await;
        let mut left: Vec<_> = self
            .lock()
            .iter()
            .flat_map(|(k, t)| t.values().map(move |w| (k.clone(), *w)))
            .collect();
        left.sort();
        left
    }

    /// True while an update of `key` named `what` is in flight.
    pub fn has(&self, key: &str, what: &str) -> bool {
        self.lock()
            .get(key)
            .is_some_and(|t| t.values().any(|w| *w == what))
    }

    /// Updates in flight.
    pub fn count(&self) -> usize {
        self.lock().values().map(BTreeMap::len).sum()
    }

    fn end(&self, key: &str, ticket: u64) {
        let mut map = self.lock();
        if let Some(tickets) = map.get_mut(key) {
            tickets.remove(&ticket);
            if tickets.is_empty() {
                map.remove(key);
            }
        }
        drop(map);
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<u64, &'static str>>> {
        self.in_flight.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Work {
    /// The ticket of the decision this update carries out.
    pub fn ticket(&self) -> u64 {
        self.ticket
    }

    /// The user key (`domain/name`).
    pub fn key(&self) -> &str {
        &self.key
    }

    /// The update ended (written, found current, or failed and logged).
    pub fn finish(mut self) {
        self.finished = true;
    }
}

impl Drop for Work {
    fn drop(&mut self) {
        if !self.finished {
            tracing::warn!(
                key = %self.key,
                update = self.what,
                "cached credential not updated: the update was dropped before it ran (daemon stopping or hashing worker gone)"
            );
        }
        self.pending.end(&self.key, self.ticket);
    }
}

/// The keys of `left` (as returned by [`Pending::drain`]), deduplicated,
/// for a log line.
pub fn keys_of(left: &[(String, &'static str)]) -> Vec<String> {
    left.iter()
        .map(|(k, _)| k.clone())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tickets_grow() {
        let p = Pending::default();
        let a = p.ticket();
        assert!(p.ticket() > a);
    }

    #[tokio::test]
    async fn settled_waits_for_earlier_updates_of_the_same_key_only() {
        let p = Arc::new(Pending::default());
        let alice = p.begin("d/alice", "verifier");
        let bob = p.begin("d/bob", "verifier");
        // Nothing of carol's in flight: at once.
        p.settled("d/carol").await;
        assert!(p.has("d/alice", "verifier") && !p.has("d/alice", "account state"));
        assert!(!p.has("d/carol", "verifier"));
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.settled("d/alice").await })
        };
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "alice's update is still in flight");
        let all = {
            let p = p.clone();
            tokio::spawn(async move { p.settled_all().await })
        };
        bob.finish();
        tokio::task::yield_now().await;
        assert!(!waiter.is_finished(), "bob's update is not alice's");
        assert!(!all.is_finished(), "alice's update is still in flight");
        alice.finish();
        waiter.await.unwrap();
        all.await.unwrap();
        assert_eq!(p.count(), 0);
    }

    #[tokio::test]
    async fn settled_does_not_wait_for_later_updates() {
        let p = Arc::new(Pending::default());
        let first = p.begin("d/alice", "verifier");
        let waiter = {
            let p = p.clone();
            tokio::spawn(async move { p.settled("d/alice").await })
        };
        tokio::task::yield_now().await;
        let later = p.begin("d/alice", "verifier");
        first.finish();
        waiter.await.unwrap();
        assert_eq!(p.count(), 1);
        later.finish();
    }

    #[tokio::test]
    async fn drain_reports_what_is_still_in_flight_and_a_dropped_update_ends() {
        let p = Arc::new(Pending::default());
        let stuck = p.begin("d/alice", "password verifier");
        let done = p.begin("d/bob", "account state");
        done.finish();
        let left = p.drain(Duration::from_millis(1)).await;
        assert_eq!(left, vec![("d/alice".to_string(), "password verifier")]);
        assert_eq!(keys_of(&left), vec!["d/alice".to_string()]);
        drop(stuck);
        assert!(p.drain(Duration::from_secs(60)).await.is_empty());
    }
}
