//! Freeing a search's entries off a lookup's answer path.

/// Entries below this many are freed where they are (handing them over
/// costs more than it saves).
const MANY: usize = 64;

/// Drops `entries` on one of the runtime's blocking threads when there
/// are [`MANY`] or more, where they are otherwise (outside a runtime,
/// too). Freeing the thousand entries of a user's groups (some 8,000
/// blocks: each entry's DN, attribute map, names and values; 1.6M
/// instructions, callgrind) held the first initgroups' answer back.
pub(crate) fn drop_entries<T: Send + 'static>(entries: Vec<T>) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) if entries.len() >= MANY => {
            rt.spawn_blocking(move || drop(entries));
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
    async fn many_entries_are_freed_on_another_thread_few_where_they_are() {
        let (tx, rx) = channel();
        let here = current().id();
        drop_entries((0..MANY).map(|_| Noted(tx.clone())).collect());
        for _ in 0..MANY {
            let on = rx.recv_timeout(Duration::from_secs(30)).unwrap();
            assert_ne!(on, here);
        }
        drop_entries(vec![Noted(tx.clone())]);
        assert_eq!(rx.try_recv().unwrap(), here);
    }
}
