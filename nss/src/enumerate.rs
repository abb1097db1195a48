//! setXXent/getXXent_r/endXXent: a cursor over the daemon's paged listing.
//! Only the current page is held; it carries no descriptor, so a forked
//! child may keep iterating safely.

use crate::answer::Answer;
use crate::lookup::Page;

/// Position in an enumeration.
#[derive(Debug)]
pub struct Cursor<T> {
    page: Vec<T>,
    next: usize,
    offset: u32,
    more: bool,
}

impl<T> Default for Cursor<T> {
    fn default() -> Self {
        Cursor::new()
    }
}

impl<T> Cursor<T> {
    /// A cursor at the beginning (usable in a `static`).
    pub const fn new() -> Self {
        Cursor {
            page: Vec::new(),
            next: 0,
            offset: 0,
            more: true,
        }
    }

    /// Back to the beginning, dropping the held page (`setXXent`, `endXXent`).
    pub fn rewind(&mut self) {
        *self = Cursor::new();
    }

    /// The current entry, fetching pages with `fetch(offset)` as needed. The
    /// cursor does not move: call [`Cursor::advance`] once the entry was
    /// handed out (so an ERANGE retry gets the same entry again).
    pub fn current(&mut self, mut fetch: impl FnMut(u32) -> Answer<Page<T>>) -> Answer<&T> {
        while self.next >= self.page.len() {
            if !self.more {
                return Answer::NotFound;
            }
            match fetch(self.offset) {
                Answer::Found(page) => {
                    self.offset = self.offset.saturating_add(page.received);
                    self.more = page.more && page.received > 0;
                    self.page = page.entries;
                    self.next = 0;
                }
                Answer::NotFound => {
                    self.more = false;
                    self.page.clear();
                    self.next = 0;
                }
                Answer::Unavailable => return Answer::Unavailable,
            }
        }
        Answer::Found(&self.page[self.next])
    }

    /// Moves past the current entry.
    pub fn advance(&mut self) {
        self.next += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pages(total: u32, size: u32, skip: u32) -> impl FnMut(u32) -> Answer<Page<u32>> {
        move |offset| {
            let end = (offset + size).min(total);
            Answer::Found(Page {
                // Entries divisible by `skip` are "invalid": filtered out.
                entries: (offset..end)
                    .filter(|i| skip == 0 || i % skip != 0)
                    .collect(),
                received: end - offset,
                more: end < total,
            })
        }
    }

    fn drain(
        cursor: &mut Cursor<u32>,
        mut fetch: impl FnMut(u32) -> Answer<Page<u32>>,
    ) -> Vec<u32> {
        let mut out = Vec::new();
        while let Answer::Found(v) = cursor.current(&mut fetch) {
            out.push(*v);
            cursor.advance();
        }
        out
    }

    #[test]
    fn walks_all_pages_including_filtered_ones() {
        let mut c = Cursor::new();
        assert_eq!(drain(&mut c, pages(10, 3, 0)), (0..10).collect::<Vec<_>>());
        let mut c = Cursor::new();
        // The page [0,1,2] loses 0; a page with nothing valid is skipped.
        assert_eq!(drain(&mut c, pages(7, 1, 2)), vec![1, 3, 5]);
        c.rewind();
        assert_eq!(drain(&mut c, pages(4, 2, 0)), vec![0, 1, 2, 3]);
    }

    #[test]
    fn current_does_not_move_until_advanced() {
        let mut c = Cursor::new();
        let mut fetch = pages(3, 10, 0);
        assert_eq!(c.current(&mut fetch), Answer::Found(&0));
        assert_eq!(c.current(&mut fetch), Answer::Found(&0));
        c.advance();
        assert_eq!(c.current(&mut fetch), Answer::Found(&1));
    }

    #[test]
    fn disabled_or_failing_listing() {
        let mut c: Cursor<u32> = Cursor::new();
        assert_eq!(c.current(|_| Answer::NotFound), Answer::NotFound);
        let mut c: Cursor<u32> = Cursor::new();
        assert_eq!(c.current(|_| Answer::Unavailable), Answer::Unavailable);
        let empty = |_| {
            Answer::Found(Page {
                entries: vec![],
                received: 0,
                more: true,
            })
        };
        assert_eq!(c.current(empty), Answer::NotFound, "an empty page ends it");
    }
}
