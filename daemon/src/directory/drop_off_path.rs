//! Freeing a search's entries off a lookup's answer path.

/// Entries below this many are freed where they are (handing them over
/// costs more than it saves).
const MANY: usize = 64;

/// Drops `entries` in a task of their own when there are [`MANY`] or
/// more (where they are otherwise, and outside a runtime): the runtime
/// thread frees them when it next has nothing else to run, while the
/// lookup waits for the directory or once its answer is sent, not before
/// it. Freeing the thousand entries of a user's groups (some 8,000
/// blocks: each entry's DN, attribute map, names and values; 1.6M
/// instructions, callgrind) held the first initgroups' answer back. (An
/// AD domain's search for them; an RFC 2307 domain's reads each entry as
/// it arrives and frees it there, `rfc2307::groups`.) (On
/// the same thread: freed on another, the blocks would take the heap's
/// lock against the runtime thread's allocations, one by one.)
pub(crate) fn drop_entries<T: Send + 'static>(entries: Vec<T>) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if entries.len() >= MANY => {
            rt.spawn(async move { drop(entries) });
        }
        _ => drop(entries),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc::{channel, Sender};
    use std::thread::{current, ThreadId};
    use std::time::Duration;

    /// Sends the thread it is dropped on.
    struct Noted(Sender<ThreadId>);

    impl Drop for Noted {
        fn drop(&mut self) {
            let _ = self.0.send(current().id());
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn many_entries_are_freed_once_the_caller_yields_few_at_once() {
        let (tx, rx) = channel();
        drop_entries((0..MANY).map(|_| Noted(tx.clone())).collect());
        assert!(rx.try_recv().is_err(), "freed before the caller yielded");
        tokio::task::yield_now().await;
        for _ in 0..MANY {
            assert_eq!(
                rx.recv_timeout(Duration::from_secs(30)).unwrap(),
                current().id()
            );
        }
        drop_entries(vec![Noted(tx.clone())]);
        assert!(rx.try_recv().is_ok());
    }

    #[test]
    fn outside_a_runtime_entries_are_freed_at_once() {
        let (tx, rx) = channel();
        drop_entries((0..MANY).map(|_| Noted(tx.clone())).collect());
        assert_eq!(rx.try_iter().count(), MANY);
    }
}
