//! (roster) The filters a directory client sends most, read without the
//! general parser.
//!
//! Every search of a lookup parses its filter string, and the general
//! parser (`filter::parse`, built of nom combinators that try each
//! alternative in turn and collect values byte by byte) spent more on a
//! filter like `(&(objectClass=posixAccount)(uid=alice))` than encoding
//! the whole request. This reader takes the plain shapes in one pass:
//! `&`, `|` and `!` of parenthesised filters, equality (`attr=value`,
//! with `\XX` escapes) and presence (`attr=*`), where `attr` is a
//! descriptor (a letter, then letters, digits and hyphens). It answers
//! `None` at the first thing outside that, and the general parser reads
//! the filter from the start: what it gives is the general parser's
//! tag, the same (the tests compare the two), and everything else —
//! substrings, ordering and approximate matches, extensible matches,
//! numeric OIDs, attribute options, errors — is the general parser's
//! alone.

use lber::common::TagClass;
use lber::structures::{ExplicitTag, OctetString, Sequence, Tag};

use crate::filter::{AND_FILT, EQ_MATCH, NOT_FILT, OR_FILT, PRES_MATCH};

/// Deeper nesting is left to the general parser.
const MAX_DEPTH: usize = 32;

/// The tag of `input` when it is a plain filter (see the module's
/// documentation) taking the whole input, else `None`.
pub(crate) fn parse(input: &[u8]) -> Option<Tag> {
    let mut r = Reader { input, at: 0 };
    let tag = r.filter(0)?;
    (r.at == input.len()).then_some(tag)
}

struct Reader<'a> {
    input: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn peek(&self) -> Option<u8> {
        self.input.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    /// `( filtercomp )`.
    fn filter(&mut self, depth: usize) -> Option<Tag> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.expect(b'(')?;
        let tag = match self.peek()? {
            b'&' => self.set(AND_FILT, depth)?,
            b'|' => self.set(OR_FILT, depth)?,
            b'!' => {
                self.at += 1;
                Tag::ExplicitTag(ExplicitTag {
                    class: TagClass::Context,
                    id: NOT_FILT,
                    inner: Box::new(self.filter(depth + 1)?),
                })
            }
            _ => self.item()?,
        };
        self.expect(b')')?;
        Some(tag)
    }

    /// `&` or `|` and any number of filters.
    fn set(&mut self, id: u64, depth: usize) -> Option<Tag> {
        self.at += 1;
        let mut inner = Vec::new();
        while self.peek()? == b'(' {
            inner.push(self.filter(depth + 1)?);
        }
        Some(Tag::Sequence(Sequence {
            class: TagClass::Context,
            id,
            inner,
        }))
    }

    /// `descr=value` or `descr=*`.
    fn item(&mut self) -> Option<Tag> {
        let start = self.at;
        if !self.peek()?.is_ascii_alphabetic() {
            return None;
        }
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'-')
        {
            self.at += 1;
        }
        let attr = self.input[start..self.at].to_vec();
        self.expect(b'=')?;
        if self.input.get(self.at..self.at + 2) == Some(&b"*)"[..]) {
            self.at += 1;
            return Some(Tag::OctetString(OctetString {
                class: TagClass::Context,
                id: PRES_MATCH,
                inner: attr,
            }));
        }
        let value = self.value()?;
        Some(Tag::Sequence(Sequence {
            class: TagClass::Context,
            id: EQ_MATCH,
            inner: vec![
                Tag::OctetString(OctetString {
                    inner: attr,
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    inner: value,
                    ..Default::default()
                }),
            ],
        }))
    }

    /// An assertion value up to the `)` that ends the item, `\XX`
    /// escapes decoded; `None` at a `*` (a substring or presence match),
    /// a NUL, a `(` or a bad escape.
    fn value(&mut self) -> Option<Vec<u8>> {
        let mut value = Vec::new();
        loop {
            match self.peek()? {
                b')' => return Some(value),
                0 | b'(' | b'*' => return None,
                b'\\' => {
                    let hi = hex(*self.input.get(self.at + 1)?)?;
                    let lo = hex(*self.input.get(self.at + 2)?)?;
                    value.push(hi << 4 | lo);
                    self.at += 3;
                }
                c => {
                    value.push(c);
                    self.at += 1;
                }
            }
        }
    }
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
mod tests {
    use super::parse;
    use lber::structures::ASNTag;

    fn general(filter: &[u8]) -> Option<lber::structure::StructureTag> {
        crate::filter::parse_general(filter)
            .ok()
            .map(ASNTag::into_structure)
    }

    /// Filters a directory client sends: each is read here, and gives
    /// what the general parser gives.
    #[test]
    fn plain_filters_read_as_the_general_parser_reads_them() {
        for f in [
            "(uid=alice)",
            "(&(objectClass=posixAccount)(uid=alice))",
            "(&(objectClass=posixAccount)(uidNumber=10001))",
            "(|(memberUid=alice)(member=uid=alice,ou=people,dc=example,dc=com))",
            "(&(objectClass=posixGroup)(!(gidNumber=0))(cn=a\\28b\\29\\2a\\5c))",
            "(objectClass=*)",
            "(&(objectClass=user)(objectSid=\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00))",
            "(cn=)",
            "(&)",
            "(|)",
            "(!(x-y-1=caf\u{e9}))",
        ] {
            let fast = parse(f.as_bytes()).map(ASNTag::into_structure);
            assert!(fast.is_some(), "{f} not read here");
            assert_eq!(fast, general(f.as_bytes()), "{f}");
        }
    }

    /// Nesting past `MAX_DEPTH` is left to the general parser, which
    /// reads it; up to there it is read here.
    #[test]
    fn deep_nesting_is_left_to_the_general_parser() {
        let nested = |levels: usize| {
            format!("{}(a=b){}", "(!".repeat(levels), ")".repeat(levels)).into_bytes()
        };
        let shallow = nested(super::MAX_DEPTH);
        assert_eq!(
            parse(&shallow).map(ASNTag::into_structure),
            general(&shallow)
        );
        assert!(general(&shallow).is_some());
        let deep = nested(super::MAX_DEPTH + 1);
        assert_eq!(parse(&deep), None);
        assert!(general(&deep).is_some());
    }

    /// Shapes this reader leaves to the general parser, good or bad.
    #[test]
    fn other_shapes_are_left_to_the_general_parser() {
        for f in [
            "uid=alice",
            "(cn=a*)",
            "(cn=*a)",
            "(cn=a*b*c)",
            "(uidNumber>=5)",
            "(cn~=x)",
            "(cn:dn:2.5.13.5:=x)",
            "(2.5.4.3=x)",
            "(cn;lang-en=x)",
            "(cn=\\2)",
            "(cn=\\zz)",
            "(cn=a",
            "(cn=a))",
            "(&(cn=a)x)",
            "(cn=a\0)",
            "",
        ] {
            assert_eq!(parse(f.as_bytes()), None, "{f}");
        }
    }

    /// Random filters, half of them with a byte changed, inserted or
    /// removed: whenever this reader answers, the general parser
    /// answers the same.
    #[test]
    fn never_differs_from_the_general_parser() {
        let mut rng = crate::test_rng::XorShift(0x2545_f491_4f6c_dd1d);
        let mut next = move || rng.next();
        let (mut read, mut mutated_read) = (0, 0);
        for _ in 0..50_000 {
            let mut f = Vec::new();
            random_filter(&mut next, 3, &mut f);
            let mutated = next() % 2 == 0;
            if mutated {
                const BYTES: &[u8] = b"()&|!=*\\a0-;:.<>~ \x00\xc3";
                let at = (next() % (f.len() as u64 + 1)) as usize;
                let byte = BYTES[(next() % BYTES.len() as u64) as usize];
                match next() % 3 {
                    0 if at < f.len() => f[at] = byte,
                    1 if at < f.len() => {
                        f.remove(at);
                    }
                    _ => f.insert(at, byte),
                }
            }
            if let Some(tag) = parse(&f) {
                read += 1;
                mutated_read += usize::from(mutated);
                assert_eq!(Some(tag.into_structure()), general(&f), "{f:?}");
            }
        }
        assert!(read > 5_000 && mutated_read > 1_000, "{read} {mutated_read}");
    }

    fn random_filter(next: &mut impl FnMut() -> u64, depth: u32, out: &mut Vec<u8>) {
        const ATTRS: &[&[u8]] = &[b"uid", b"cn", b"x-y-1", b"objectClass", b"2.5.4.3", b"cn;x"];
        const VALUES: &[&[u8]] = &[
            b"alice", b"", b"*", b"a*", b"\\2a", b"\\5C\\00", b"\\2", b"caf\xc3\xa9", b"a b",
        ];
        const OPS: &[&[u8]] = &[b"=", b"=", b"=", b">=", b"~=", b":="];
        out.push(b'(');
        match if depth == 0 { 3 } else { next() % 4 } {
            0 | 1 => {
                out.push(if next() % 2 == 0 { b'&' } else { b'|' });
                for _ in 0..next() % 4 {
                    random_filter(next, depth - 1, out);
                }
            }
            2 => {
                out.push(b'!');
                random_filter(next, depth - 1, out);
            }
            _ => {
                out.extend_from_slice(ATTRS[(next() % ATTRS.len() as u64) as usize]);
                out.extend_from_slice(OPS[(next() % OPS.len() as u64) as usize]);
                out.extend_from_slice(VALUES[(next() % VALUES.len() as u64) as usize]);
            }
        }
        out.push(b')');
    }
}
