//! (roster) The queue a connection's task hands one search's items
//! through to the search's stream: unbounded, one receiver, the sender
//! the connection task's (kept in its map of searches; clonable, as the
//! channel's was, and the end seen once every clone is gone).
//!
//! It replaces a tokio unbounded `mpsc` channel, which allocates a block
//! of 32 slots of the item (several kilobytes) for every search, and
//! costs a semaphore, atomic slot bookkeeping and block recycling on
//! every item: about 3,000 instructions a one-entry search in all. Here a
//! search costs one allocation (the shared state) and one more for its
//! first items; an item is a push and a pop under an uncontended lock.
//!
//! As the channel did: `send` fails once the receiver is gone (the search
//! was dropped); `recv` gives `None` once every sender is gone and the
//! items are taken (the connection ended); `recv` spends the task's
//! cooperative budget, so a consumer of a long search still lets other
//! tasks run.

use std::collections::VecDeque;
use std::future::poll_fn;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

/// What the two ends share.
struct Shared<T> {
    /// Items sent and not yet received, oldest first.
    items: VecDeque<T>,
    /// The receiver's task, when it waits for an item.
    waker: Option<Waker>,
    /// Senders alive (the first and its clones).
    senders: usize,
    /// The receiver was dropped: sending fails.
    receiver_gone: bool,
}

/// The sending end (clonable).
pub struct ItemTx<T>(Arc<Mutex<Shared<T>>>);

/// The receiving end.
pub struct ItemRx<T>(Arc<Mutex<Shared<T>>>);

impl<T> std::fmt::Debug for ItemTx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemTx")
    }
}

impl<T> std::fmt::Debug for ItemRx<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ItemRx")
    }
}

/// A new queue's two ends.
pub(crate) fn item_queue<T>() -> (ItemTx<T>, ItemRx<T>) {
    let shared = Arc::new(Mutex::new(Shared {
        items: VecDeque::new(),
        waker: None,
        senders: 1,
        receiver_gone: false,
    }));
    (ItemTx(shared.clone()), ItemRx(shared))
}

/// The shared state, locked. A panic while it is held leaves it as
/// consistent as any step of it (each step is one push, pop or flag), so
/// a poisoned lock is taken as it is.
fn lock<T>(shared: &Mutex<Shared<T>>) -> MutexGuard<'_, Shared<T>> {
    shared.lock().unwrap_or_else(|e| e.into_inner())
}

impl<T> ItemTx<T> {
    /// Queues `item` and wakes the receiver; gives the item back when the
    /// receiver is gone.
    pub(crate) fn send(&self, item: T) -> Result<(), T> {
        let mut shared = lock(&self.0);
        if shared.receiver_gone {
            return Err(item);
        }
        shared.items.push_back(item);
        let waker = shared.waker.take();
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }
}

impl<T> Clone for ItemTx<T> {
    fn clone(&self) -> Self {
        lock(&self.0).senders += 1;
        ItemTx(self.0.clone())
    }
}

impl<T> Drop for ItemTx<T> {
    fn drop(&mut self) {
        let mut shared = lock(&self.0);
        shared.senders -= 1;
        let waker = if shared.senders == 0 {
            shared.waker.take()
        } else {
            None
        };
        drop(shared);
        if let Some(w) = waker {
            w.wake();
        }
    }
}

impl<T> ItemRx<T> {
    /// The next item; `None` once every sender is gone and every item
    /// taken.
    pub(crate) async fn recv(&mut self) -> Option<T> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    fn poll_recv(&mut self, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let budget = std::task::ready!(tokio::task::coop::poll_proceed(cx));
        let mut shared = lock(&self.0);
        if let Some(item) = shared.items.pop_front() {
            budget.made_progress();
            return Poll::Ready(Some(item));
        }
        if shared.senders == 0 {
            budget.made_progress();
            return Poll::Ready(None);
        }
        match &mut shared.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl<T> Drop for ItemRx<T> {
    fn drop(&mut self) {
        let mut shared = lock(&self.0);
        shared.receiver_gone = true;
        // (The items left and this end's waker are dropped here, after
        // the lock is released: not kept until the senders go.)
        let items = std::mem::take(&mut shared.items);
        let waker = shared.waker.take();
        drop(shared);
        drop((items, waker));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    /// A waker counting its wakes.
    struct Count(AtomicUsize);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll<T>(rx: &mut ItemRx<T>, count: &Arc<Count>) -> Poll<Option<T>> {
        let waker = Waker::from(count.clone());
        rx.poll_recv(&mut Context::from_waker(&waker))
    }

    #[test]
    fn items_come_in_order_then_none_once_every_sender_is_gone() {
        let (tx, mut rx) = item_queue();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let other = tx.clone();
        tx.send(1).unwrap();
        other.send(2).unwrap();
        assert_eq!(poll(&mut rx, &count), Poll::Ready(Some(1)));
        assert_eq!(poll(&mut rx, &count), Poll::Ready(Some(2)));
        assert_eq!(poll(&mut rx, &count), Poll::Pending);
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 0, "a sender is left");
        assert_eq!(poll(&mut rx, &count), Poll::Pending);
        other.send(3).unwrap();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken by the item");
        drop(other);
        assert_eq!(poll(&mut rx, &count), Poll::Ready(Some(3)));
        assert_eq!(poll(&mut rx, &count), Poll::Ready(None));
    }

    #[test]
    fn the_last_sender_gone_wakes_a_waiting_receiver() {
        let (tx, mut rx) = item_queue::<u8>();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        assert_eq!(poll(&mut rx, &count), Poll::Pending);
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert_eq!(poll(&mut rx, &count), Poll::Ready(None));
    }

    #[test]
    fn sending_fails_once_the_receiver_is_gone_and_the_items_left_are_dropped() {
        let (tx, rx) = item_queue();
        let item = Arc::new(());
        tx.send(item.clone()).unwrap();
        drop(rx);
        assert_eq!(Arc::strong_count(&item), 1, "the queued item was dropped");
        assert!(tx.send(item).is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_long_queue_still_lets_other_tasks_run() {
        let (tx, mut rx) = item_queue();
        for i in 0..10_000 {
            tx.send(i).unwrap();
        }
        drop(tx);
        let other = tokio::spawn(async {});
        let mut got = 0;
        let mut other_done_at = None;
        while let Some(i) = rx.recv().await {
            assert_eq!(i, got);
            got += 1;
            if other_done_at.is_none() && other.is_finished() {
                other_done_at = Some(got);
            }
        }
        assert_eq!(got, 10_000);
        assert!(
            other_done_at.is_some_and(|at| at < 10_000),
            "the consumer never yielded: {other_done_at:?}"
        );
    }
}
