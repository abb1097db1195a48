//! Connections waiting for their next request, whose places a new
//! connection may take.
//!
//! The NSS module keeps its connection between lookups (`nss/src/kept.rs`),
//! so an open connection is no longer a request in flight: each process
//! that looked something up within the idle timeout holds one. When a new
//! connection finds a limit reached (its UID's, or the total), the
//! connection that has waited longest for its next request (of the same
//! UID for the UID's limit) is closed and its place given to the new one:
//! its process connects anew at its next lookup (the module asks once more
//! over a new connection when its kept one was closed). A place waits
//! here from the end of a reply until the next request has arrived whole,
//! so a request that was arriving when its place was given away is not
//! answered (the module asks it again). A connection waiting for its first
//! request keeps its place as before, so a peer that connects and sends
//! nothing gains nothing.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// The places (`T`) of the connections waiting for their next request.
pub struct Waiting<T> {
    inner: Mutex<Inner<T>>,
}

struct Inner<T> {
    /// Parks are numbered in the order they came: the lowest number has
    /// waited longest.
    next_id: u64,
    parked: HashMap<u64, Parked<T>>,
}

struct Parked<T> {
    uid: u32,
    place: T,
    given_away: Arc<Notify>,
}

/// A waiting connection's claim to its place; a claim dropped unresumed
/// (its connection's task ended) frees the place.
pub struct Ticket<'a, T> {
    waiting: &'a Waiting<T>,
    id: u64,
    given_away: Arc<Notify>,
}

impl<T> Ticket<'_, T> {
    /// Resolves once the place was given to another connection (the
    /// connection then closes).
    pub async fn given_away(&self) {
        self.given_away.notified().await;
    }

    /// The place, taken back when the next request has arrived; None when
    /// it was given away meanwhile.
    pub fn resume(self) -> Option<T> {
        self.waiting.lock().parked.remove(&self.id).map(|p| p.place)
    }
}

impl<T> Drop for Ticket<'_, T> {
    fn drop(&mut self) {
        let place = self.waiting.lock().parked.remove(&self.id);
        // Dropped with the lock released: a place's drop takes other locks.
        drop(place);
    }
}

impl<T> Default for Waiting<T> {
    fn default() -> Self {
        Waiting {
            inner: Mutex::new(Inner {
                next_id: 0,
                parked: HashMap::new(),
            }),
        }
    }
}

impl<T> Waiting<T> {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<T>> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Leaves `place`, a connection of peer `uid`, here while the
    /// connection waits for its next request.
    pub fn park(&self, uid: u32, place: T) -> Ticket<'_, T> {
        let mut inner = self.lock();
        let id = inner.next_id;
        inner.next_id += 1;
        let given_away = Arc::new(Notify::new());
        inner.parked.insert(
            id,
            Parked {
                uid,
                place,
                given_away: given_away.clone(),
            },
        );
        Ticket {
            waiting: self,
            id,
            given_away,
        }
    }

    /// The place of the connection that has waited longest of those
    /// `wanted` takes (by peer UID and place), taken from it: that
    /// connection is told to close.
    pub fn give_away(&self, wanted: impl Fn(u32, &T) -> bool) -> Option<T> {
        let mut inner = self.lock();
        let id = inner
            .parked
            .iter()
            .filter(|(_, p)| wanted(p.uid, &p.place))
            .map(|(id, _)| *id)
            .min()?;
        let parked = inner.parked.remove(&id)?;
        drop(inner);
        parked.given_away.notify_one();
        Some(parked.place)
    }

    /// Whether no connection is waiting (tests).
    #[cfg(test)]
    pub fn is_empty(&self) -> bool {
        self.lock().parked.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_longest_waiting_wanted_place_is_given_away_and_its_connection_told() {
        let w = Waiting::default();
        let a = w.park(1000, "a");
        let b = w.park(1001, "b");
        let c = w.park(1000, "c");
        assert_eq!(w.give_away(|uid, _| uid == 1001), Some("b"));
        b.given_away().await;
        assert_eq!(b.resume(), None, "b's place was given away");
        assert_eq!(w.give_away(|uid, _| uid == 1001), None);
        assert_eq!(c.resume(), Some("c"), "c took its place back");
        assert_eq!(w.give_away(|_, p| *p != "a"), None);
        assert_eq!(w.give_away(|_, _| true), Some("a"));
        a.given_away().await;
        assert!(w.is_empty());
    }

    #[test]
    fn a_claim_dropped_unresumed_frees_its_place() {
        let w = Waiting::default();
        let place = std::sync::Arc::new(());
        let ticket = w.park(1000, place.clone());
        assert_eq!(std::sync::Arc::strong_count(&place), 2);
        drop(ticket);
        assert!(w.is_empty());
        assert_eq!(
            std::sync::Arc::strong_count(&place),
            1,
            "the place was dropped"
        );
    }
}
