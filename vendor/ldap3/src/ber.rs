//! (roster) The reader of the BER-encoded LDAP messages a server sends:
//! the same tree as lber's `parse_tag`, read without nom's bit parsers
//! and with each constructed value's children counted before they are
//! read (one allocation for their list). A listing of 100,000 entries is
//! about 3.5 million values; their reading was a fifth of rosterd's time
//! over such a listing.
//!
//! It differs from `parse_tag` in two ways, both about malformed input:
//! a value whose outer length is complete but whose contents do not parse
//! is [`Parsed::Invalid`] at once (`parse_tag` answers "incomplete",
//! and the connection then waits for octets that can never mend it), and
//! values nest at most [`MAX_DEPTH`] deep (`parse_tag` recurses as deep
//! as the input nests: two octets a level, a stack overflow for a
//! hostile server's message of a few hundred kilobytes). Control and
//! extended-operation values are read by it too ([`parse_tag`]).

use lber::common::TagClass;
use lber::structure::{PL, StructureTag};

/// How deep values may nest in a message (an LDAP response nests a few
/// levels: a search entry's values are at the fifth).
pub const MAX_DEPTH: usize = 64;

/// What the start of a buffer holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Parsed {
    /// One whole value, and the octets it took.
    Complete(StructureTag, usize),
    /// The start of a value: more octets are needed.
    Incomplete,
    /// A value whose octets are all there but do not parse.
    Invalid,
}

/// `lber::parse::parse_tag` for the value of a control or an extended
/// operation's response (`controls_impl`, `exop_impl`), read by
/// [`parse_message`]: nesting is bounded, and a value that is incomplete
/// or does not parse is an error (the callers panic on it, as on any
/// other malformed value: a task's panic, where a deeply nested value
/// overflowed the stack and aborted the process).
pub(crate) fn parse_tag(input: &[u8]) -> Result<(&[u8], StructureTag), Parsed> {
    match parse_message(input) {
        Parsed::Complete(tag, used) => Ok((&input[used..], tag)),
        other => Err(other),
    }
}

/// Reads the BER value at the start of `input`.
pub fn parse_message(input: &[u8]) -> Parsed {
    let Some(h) = header(input) else {
        return Parsed::Incomplete;
    };
    match h.start.checked_add(h.len) {
        Some(end) if end <= input.len() => match value(input, &h, 0) {
            Ok(tag) => Parsed::Complete(tag, end),
            Err(Malformed) => Parsed::Invalid,
        },
        Some(_) => Parsed::Incomplete,
        None => Parsed::Invalid,
    }
}

/// [`parse_message`] for a message a connection reads: the same tree,
/// but a search result entry's value (`[APPLICATION 4]`, constructed,
/// one level down) is checked for the same well-formedness and kept as
/// its octets, header included (`PL::P`), which
/// [`crate::SearchEntry::read`] reads straight into the entry's strings
/// (its some thirty values are not each made a node of a tree first,
/// then taken apart).
pub fn parse_response(input: &[u8]) -> Parsed {
    let Some(h) = header(input) else {
        return Parsed::Incomplete;
    };
    match h.start.checked_add(h.len) {
        Some(end) if end <= input.len() => match response(input, &h) {
            Ok(tag) => Parsed::Complete(tag, end),
            Err(Malformed) => Parsed::Invalid,
        },
        Some(_) => Parsed::Incomplete,
        None => Parsed::Invalid,
    }
}

/// (roster) A message that is one search result entry and nothing more
/// (its message ID, the entry, no controls): the bulk of a search's
/// answer. Its message ID, the entry's octets (header included) and the
/// octets the message took, as [`parse_response`] and the connection's
/// checks of the message read them, without the message's tree (a list
/// of its two values and its ID's octets, allocated and freed for every
/// entry). `None` for any other message, and for one not whole yet: the
/// general reader reads it, and says what is wrong with it.
pub(crate) fn entry_message(input: &[u8]) -> Option<(i32, &[u8], usize)> {
    let h = header(input)?;
    if h.class != TagClass::Universal || h.id != 16 || !h.constructed {
        return None;
    }
    let end = h.start.checked_add(h.len)?;
    let mut parts = Elements(input.get(h.start..end)?);
    let id = parts.next()?;
    // (An ID of one to four octets, as the connection's check of a
    // message's ID wants it.)
    if id.class != TagClass::Universal
        || id.id != 2
        || id.constructed
        || !(1..=4).contains(&id.contents.len())
    {
        return None;
    }
    let msgid = id
        .contents
        .iter()
        .fold(0u64, |n, &o| (n << 8) | u64::from(o)) as i32;
    let from = parts.rest();
    let entry = parts.next()?;
    if !parts.rest().is_empty()
        || entry.class != TagClass::Application
        || entry.id != 4
        || !entry.constructed
    {
        return None;
    }
    // (The entry's values are at depth 2 of the message, as there.)
    well_formed(entry.contents, 2).ok()?;
    Some((msgid, &from[..from.len() - parts.rest().len()], end))
}

/// The message whose header `h` starts `i` ([`parse_response`]).
fn response(i: &[u8], h: &Header) -> Result<StructureTag, Malformed> {
    if !h.constructed {
        return value(i, h, 0);
    }
    let end = h.start.checked_add(h.len).ok_or(Malformed)?;
    let contents = i.get(h.start..end).ok_or(Malformed)?;
    let mut children = Vec::with_capacity(count(contents));
    let mut rest = contents;
    while !rest.is_empty() {
        let child = header(rest).ok_or(Malformed)?;
        let used = child.start.checked_add(child.len).ok_or(Malformed)?;
        let tag = if child.class == TagClass::Application && child.id == 4 && !child.constructed {
            // A primitive "entry": its octets are dropped, so that it
            // reads as no entry at all ("not a search result entry", as
            // the tree's reader said), never as the entry they might
            // encode.
            if used > rest.len() {
                return Err(Malformed);
            }
            StructureTag {
                class: child.class,
                id: child.id,
                payload: PL::P(Vec::new()),
            }
        } else if is_entry(&child) {
            // (The entry itself is at depth 1, below `MAX_DEPTH`; its
            // values are read from depth 2, as `value` reads them.)
            well_formed(rest.get(child.start..used).ok_or(Malformed)?, 2)?;
            StructureTag {
                class: child.class,
                id: child.id,
                payload: PL::P(rest.get(..used).ok_or(Malformed)?.to_vec()),
            }
        } else {
            value(rest, &child, 1)?
        };
        children.push(tag);
        rest = &rest[used..];
    }
    Ok(StructureTag {
        class: h.class,
        id: h.id,
        payload: PL::C(children),
    })
}

/// (For the tests and the fuzz target.) What [`parse_response`] read,
/// as [`parse_message`] reads the same octets: each entry it kept as its
/// octets read back as a tree, which they must be exactly (`None` when
/// they are not), and the primitive entries it emptied as they are.
#[doc(hidden)]
pub fn response_read_as_message(read: Parsed) -> Option<Parsed> {
    let Parsed::Complete(tag, used) = read else {
        return Some(read);
    };
    let PL::C(children) = tag.payload else {
        return Some(Parsed::Complete(tag, used));
    };
    let mut trees = Vec::with_capacity(children.len());
    for c in children {
        match &c.payload {
            PL::P(octets)
                if c.class == TagClass::Application && c.id == 4 && !octets.is_empty() =>
            {
                match parse_message(octets) {
                    Parsed::Complete(tree, n) if n == octets.len() && is_entry_tree(&tree) => {
                        trees.push(tree)
                    }
                    _ => return None,
                }
            }
            _ => trees.push(c),
        }
    }
    Some(Parsed::Complete(
        StructureTag {
            class: tag.class,
            id: tag.id,
            payload: PL::C(trees),
        },
        used,
    ))
}

/// (For the tests and the fuzz target.) [`parse_message`]'s reading with
/// the contents of each primitive `[APPLICATION 4]` one level down
/// dropped, as [`parse_response`] drops them.
#[doc(hidden)]
pub fn message_read_as_response(read: Parsed) -> Parsed {
    let Parsed::Complete(tag, used) = read else {
        return read;
    };
    let payload = match tag.payload {
        PL::C(children) => PL::C(
            children
                .into_iter()
                .map(|c| match c.payload {
                    PL::P(_) if c.class == TagClass::Application && c.id == 4 => StructureTag {
                        payload: PL::P(Vec::new()),
                        ..c
                    },
                    _ => c,
                })
                .collect(),
        ),
        p => p,
    };
    Parsed::Complete(
        StructureTag {
            class: tag.class,
            id: tag.id,
            payload,
        },
        used,
    )
}

/// True when `t` is a search result entry's tree: `[APPLICATION 4]`,
/// constructed.
fn is_entry_tree(t: &StructureTag) -> bool {
    t.class == TagClass::Application && t.id == 4 && matches!(t.payload, PL::C(_))
}

/// A search result entry's header: `[APPLICATION 4]`, constructed.
fn is_entry(h: &Header) -> bool {
    h.class == TagClass::Application && h.id == 4 && h.constructed
}

/// Checks that the values `contents` holds, nested `depth` levels deep,
/// read as [`value`] would read them, without building them (walked as
/// [`Elements`], which [`crate::SearchEntry::read`] walks them with).
fn well_formed(contents: &[u8], depth: usize) -> Result<(), Malformed> {
    let mut values = Elements(contents);
    for v in values.by_ref() {
        if v.constructed {
            if depth >= MAX_DEPTH {
                return Err(Malformed);
            }
            well_formed(v.contents, depth + 1)?;
        }
    }
    // (Octets that do not read as a value: a header cut short, or a
    // length past the end.)
    if values.rest().is_empty() {
        Ok(())
    } else {
        Err(Malformed)
    }
}

/// One value of a search result entry kept as octets
/// ([`parse_response`]), as [`crate::SearchEntry::read`] takes it apart.
pub(crate) struct Element<'a> {
    pub(crate) class: TagClass,
    pub(crate) id: u64,
    pub(crate) constructed: bool,
    /// Its contents (a constructed value's: its children's octets).
    pub(crate) contents: &'a [u8],
}

impl<'a> Element<'a> {
    /// The one value `i` holds, `None` when its octets are not all there
    /// or more follow.
    pub(crate) fn whole(i: &'a [u8]) -> Option<Element<'a>> {
        let mut all = Elements(i);
        let e = all.next()?;
        all.rest().is_empty().then_some(e)
    }

    /// The values a constructed value's contents hold, in order.
    pub(crate) fn children(&self) -> Elements<'a> {
        Elements(self.contents)
    }
}

/// The values that follow one another in some octets (up to anything
/// that does not read as one).
pub(crate) struct Elements<'a>(&'a [u8]);

impl<'a> Iterator for Elements<'a> {
    type Item = Element<'a>;

    fn next(&mut self) -> Option<Element<'a>> {
        let h = header(self.0)?;
        let end = h.start.checked_add(h.len)?;
        let contents = self.0.get(h.start..end)?;
        self.0 = &self.0[end..];
        Some(Element {
            class: h.class,
            id: h.id,
            constructed: h.constructed,
            contents,
        })
    }
}

impl<'a> Elements<'a> {
    /// How many values follow ([`count`]).
    pub(crate) fn len(&self) -> usize {
        count(self.0)
    }

    /// The octets not read yet: after the last value, anything that did
    /// not read as one (empty when every value was read).
    pub(crate) fn rest(&self) -> &'a [u8] {
        self.0
    }
}

/// The octets of `tag` as [`Element`] reads them back: its class, whether
/// it is constructed and its tag number in one identifier octet (a number
/// above 30 written as 31, which [`header`] reads as 31, as `parse_tag`
/// reads such an octet), then a definite length.
pub(crate) fn tree_octets(tag: &StructureTag, out: &mut Vec<u8>) {
    let class = match tag.class {
        TagClass::Universal => 0u8,
        TagClass::Application => 1,
        TagClass::Context => 2,
        TagClass::Private => 3,
    };
    let id = tag.id.min(31) as u8;
    let mut contents = Vec::new();
    let constructed = match &tag.payload {
        PL::P(v) => {
            contents.extend_from_slice(v);
            0
        }
        PL::C(children) => {
            for c in children {
                tree_octets(c, &mut contents);
            }
            0x20
        }
    };
    out.push(class << 6 | constructed | id);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let octets = (len as u64).to_be_bytes();
        let skip = octets.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&octets[skip..]);
    }
    out.extend(contents);
}

/// The contents of a complete value do not parse.
struct Malformed;

/// A value's identifier and length octets.
struct Header {
    class: TagClass,
    constructed: bool,
    id: u64,
    /// Where the contents start.
    start: usize,
    /// The length of the contents.
    len: usize,
}

/// The header at the start of `i`; `None` when `i` ends first. As
/// `parse_tag` reads it: the tag number is the low five bits of the first
/// octet, and a long-form length is its octets as a big-endian number
/// (zero of them, the indefinite form, is length 0).
fn header(i: &[u8]) -> Option<Header> {
    let first = *i.first()?;
    let second = *i.get(1)?;
    let (len, start) = if second < 0x80 {
        (u64::from(second), 2)
    } else {
        let n = usize::from(second - 0x80);
        let octets = i.get(2..2 + n)?;
        let len = octets
            .iter()
            .fold(0u64, |len, &o| (len << 8) | u64::from(o));
        (len, 2 + n)
    };
    let class = match first >> 6 {
        0 => TagClass::Universal,
        1 => TagClass::Application,
        2 => TagClass::Context,
        _ => TagClass::Private,
    };
    Some(Header {
        class,
        constructed: first & 0x20 != 0,
        id: u64::from(first & 0x1f),
        start,
        len: usize::try_from(len).unwrap_or(usize::MAX),
    })
}

/// The value whose header `h` starts `i` (its contents are within `i`),
/// nested `depth` levels deep.
fn value(i: &[u8], h: &Header, depth: usize) -> Result<StructureTag, Malformed> {
    let end = h.start.checked_add(h.len).ok_or(Malformed)?;
    let contents = i.get(h.start..end).ok_or(Malformed)?;
    let payload = if h.constructed {
        if depth >= MAX_DEPTH {
            return Err(Malformed);
        }
        let mut children = Vec::with_capacity(count(contents));
        let mut rest = contents;
        while !rest.is_empty() {
            let child = header(rest).ok_or(Malformed)?;
            let used = child.start.checked_add(child.len).ok_or(Malformed)?;
            children.push(value(rest, &child, depth + 1)?);
            rest = &rest[used..];
        }
        PL::C(children)
    } else {
        PL::P(contents.to_vec())
    };
    Ok(StructureTag {
        class: h.class,
        id: h.id,
        payload,
    })
}

/// How many values follow one another in `contents` (those before
/// anything that does not read as one).
fn count(mut contents: &[u8]) -> usize {
    let mut n = 0;
    while let Some(h) = header(contents) {
        match h.start.checked_add(h.len) {
            Some(end) if end <= contents.len() => {
                n += 1;
                contents = &contents[end..];
            }
            _ => break,
        }
    }
    n
}

#[cfg(test)]
mod entry_message_tests {
    use super::entry_message;

    /// The entry `cn=g` without attributes.
    const ENTRY: &[u8] = &[0x64, 0x08, 0x04, 0x04, b'c', b'n', b'=', b'g', 0x30, 0x00];

    /// A message with ID `id` around [`ENTRY`], then `after` (inside the
    /// message).
    fn message(id: &[u8], after: &[u8]) -> Vec<u8> {
        let inner = [&[0x02, id.len() as u8][..], id, ENTRY, after].concat();
        [&[0x30, inner.len() as u8][..], &inner].concat()
    }

    #[test]
    fn a_lone_entry_is_read_with_its_id_and_octets() {
        let m = message(&[0x01, 0x02], &[]);
        let with_more = [&m[..], &[0x30, 0x00]].concat();
        assert_eq!(entry_message(&with_more), Some((0x0102, ENTRY, m.len())));
        // An ID of four octets with the high bit set: folded, then cast.
        let m = message(&[0xff, 0xff, 0xff, 0xfe], &[]);
        assert_eq!(entry_message(&m).map(|r| r.0), Some(-2));
    }

    #[test]
    fn any_other_message_is_left_to_the_general_reader() {
        for (id, after) in [
            (&[][..], &[][..]),
            (&[1, 2, 3, 4, 5][..], &[][..]),
            (&[1][..], &[0xa0, 0x00][..]),
        ] {
            let m = message(id, after);
            assert_eq!(entry_message(&m), None, "{m:02x?}");
        }
        let m = message(&[1], &[]);
        assert_eq!(entry_message(&m[..m.len() - 1]), None, "cut short");
        let mut set = m.clone();
        set[0] = 0x31;
        assert_eq!(entry_message(&set), None, "a SET");
    }
}
