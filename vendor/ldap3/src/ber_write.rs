//! (roster) BER encoding of an outgoing message straight into the
//! connection's write buffer.
//!
//! `lber::write::encode_into` encoded each constructed tag into a
//! buffer of its own and then copied it into its parent's, one more
//! time at every level, writing every octet through a `dyn Write`: a
//! search request cost some twenty allocations and its octets copied
//! four or five times. Here the contents' length of every value is
//! counted first, in one walk of the message, and every octet is then
//! written once, into the buffer it is sent from. The message is written
//! from the `Tag` the request was built as, without first turning it
//! into a tree of `StructureTag`s (`ASNTag::into_structure`, a vector for
//! each level and each number). The octets are the same as lber's (the
//! tests compare the two on many trees).
//!
//! A search request is not built as a `Tag` at all: `search_request`
//! writes its octets where it is made (into a buffer of its own, copied
//! once into the send buffer by `encode_message`, which writes the
//! message around them), and only its filter is a `Tag`.

use bytes::{BufMut, BytesMut};
use lber::common::TagClass;
use lber::structure::{PL, StructureTag};
use lber::structures::Tag;

/// Appends the BER encoding of `tag` to `buf`: the octets of
/// `lber::write::encode_into(buf, tag.into_structure())`.
pub(crate) fn encode_into(buf: &mut BytesMut, tag: &Tag) {
    let mut lens = Vec::with_capacity(32);
    let total = measure(Node::Tag(tag), &mut lens);
    buf.reserve(total);
    write(buf, Node::Tag(tag), &lens, &mut 0);
}

/// (roster) Appends an LDAPMessage, `SEQUENCE { messageID, protocolOp,
/// controls }`, whose protocolOp is already encoded (`op`, identifier and
/// length included): the octets of `encode_into` of the message built
/// from `Tag`s, without building it.
pub(crate) fn encode_message(buf: &mut BytesMut, id: i32, op: &[u8], controls: Option<&Tag>) {
    let (id_octets, id_len) = integer_octets(i64::from(id));
    let mut lens = Vec::new();
    let controls_len = controls.map_or(0, |c| measure(Node::Tag(c), &mut lens));
    let content = 1 + length_len(id_len) + id_len + op.len() + controls_len;
    buf.reserve(1 + length_len(content) + content);
    write_header(buf, TagClass::Universal, 16, true, content);
    write_header(buf, TagClass::Universal, 2, false, id_len);
    buf.put_slice(&id_octets[id_octets.len() - id_len..]);
    buf.put_slice(op);
    if let Some(c) = controls {
        write(buf, Node::Tag(c), &lens, &mut 0);
    }
}

/// (roster) The octets of a SearchRequest (`[APPLICATION 3]`, RFC 4511
/// 4.5.1) written directly: what `encode_into` writes for the request as
/// `SearchStream` built it from `Tag`s (one vector per attribute name,
/// base and level, each freed again once written), without building it.
/// `filter` is the parsed filter's tag.
#[allow(clippy::too_many_arguments)]
pub(crate) fn search_request<S: AsRef<str>>(
    base: &str,
    scope: i64,
    deref: i64,
    sizelimit: i64,
    timelimit: i64,
    typesonly: bool,
    filter: &Tag,
    attrs: &[S],
) -> BytesMut {
    let tlv = |len: usize| 1 + length_len(len) + len;
    let ints = [scope, deref, sizelimit, timelimit].map(integer_octets);
    let mut lens = Vec::with_capacity(32);
    let filter_len = measure(Node::Tag(filter), &mut lens);
    let attrs_len: usize = attrs.iter().map(|a| tlv(a.as_ref().len())).sum();
    let content = tlv(base.len())
        + ints.iter().map(|(_, n)| tlv(*n)).sum::<usize>()
        + tlv(1)
        + filter_len
        + tlv(attrs_len);
    let mut buf = BytesMut::with_capacity(tlv(content));
    write_header(&mut buf, TagClass::Application, 3, true, content);
    write_header(&mut buf, TagClass::Universal, 4, false, base.len());
    buf.put_slice(base.as_bytes());
    for (i, (octets, n)) in ints.iter().enumerate() {
        // scope and derefAliases are ENUMERATED (10), the limits INTEGER (2).
        let number = if i < 2 { 10 } else { 2 };
        write_header(&mut buf, TagClass::Universal, number, false, *n);
        buf.put_slice(&octets[octets.len() - n..]);
    }
    write_header(&mut buf, TagClass::Universal, 1, false, 1);
    buf.put_u8(if typesonly { 0xff } else { 0x00 });
    write(&mut buf, Node::Tag(filter), &lens, &mut 0);
    write_header(&mut buf, TagClass::Universal, 16, true, attrs_len);
    for a in attrs {
        let a = a.as_ref().as_bytes();
        write_header(&mut buf, TagClass::Universal, 4, false, a.len());
        buf.put_slice(a);
    }
    buf
}

/// One value of the message: a `Tag`, or a value inside a `StructureTag`.
#[derive(Clone, Copy)]
enum Node<'a> {
    Tag(&'a Tag),
    Structure(&'a StructureTag),
}

/// A value's contents, as `into_structure` would make them.
enum Contents<'a> {
    /// Primitive: these octets.
    Octets(&'a [u8]),
    /// Primitive: an integer's octets, the last `.1` of `.0`.
    Integer([u8; 9], usize),
    /// Constructed: these tags.
    Tags(&'a [Tag]),
    /// Constructed: this one tag (an explicit tag).
    One(&'a Tag),
    /// Constructed: these values of a `StructureTag`.
    Structures(&'a [StructureTag]),
}

impl Contents<'_> {
    fn constructed(&self) -> bool {
        !matches!(self, Contents::Octets(_) | Contents::Integer(..))
    }
}

/// `node`'s class, number and contents.
fn parts(node: Node<'_>) -> (TagClass, u64, Contents<'_>) {
    const FALSE: &[u8] = &[0x00];
    const TRUE: &[u8] = &[0xff];
    let tag = match node {
        Node::Structure(s) => return structure_parts(s),
        Node::Tag(tag) => tag,
    };
    match tag {
        Tag::StructureTag(s) => structure_parts(s),
        Tag::Integer(i) => (i.class, i.id, integer(i.inner)),
        Tag::Enumerated(e) => (e.class, e.id, integer(e.inner)),
        Tag::Sequence(s) => (s.class, s.id, Contents::Tags(&s.inner)),
        Tag::Set(s) => (s.class, s.id, Contents::Tags(&s.inner)),
        Tag::OctetString(o) => (o.class, o.id, Contents::Octets(&o.inner)),
        Tag::Boolean(b) => (
            b.class,
            b.id,
            Contents::Octets(if b.inner { TRUE } else { FALSE }),
        ),
        Tag::Null(n) => (n.class, n.id, Contents::Octets(&[])),
        Tag::ExplicitTag(e) => (e.class, e.id, Contents::One(&e.inner)),
    }
}

fn structure_parts(s: &StructureTag) -> (TagClass, u64, Contents<'_>) {
    let contents = match &s.payload {
        PL::P(octets) => Contents::Octets(octets),
        PL::C(inner) => Contents::Structures(inner),
    };
    (s.class, s.id, contents)
}

fn integer(value: i64) -> Contents<'static> {
    let (octets, n) = integer_octets(value);
    Contents::Integer(octets, n)
}

/// The octets of the BER INTEGER `value` as lber writes them
/// (`i_e_into_structure`, its sizing of negative numbers included):
/// `(octets, n)`, the encoding being the last `n` of `octets`.
fn integer_octets(value: i64) -> ([u8; 9], usize) {
    let mut count = 0usize;
    let mut rem = value.wrapping_abs();
    loop {
        count += 1;
        rem >>= 8;
        if rem <= 0 {
            break;
        }
    }
    if value > 0 && value >> (8 * count - 1) == 1 {
        count += 1;
    }
    let mut octets = [0u8; 9];
    octets[1..].copy_from_slice(&value.to_be_bytes());
    (octets, count)
}

/// The octets of `node` encoded (identifier, length and contents); the
/// contents' length of `node` and of each value inside it is pushed to
/// `lens`, in the order [`write`] meets them.
fn measure(node: Node<'_>, lens: &mut Vec<usize>) -> usize {
    let (_, id, contents) = parts(node);
    let slot = lens.len();
    lens.push(0);
    let len = match contents {
        Contents::Octets(o) => o.len(),
        Contents::Integer(_, n) => n,
        Contents::Tags(tags) => tags.iter().map(|t| measure(Node::Tag(t), lens)).sum(),
        Contents::One(t) => measure(Node::Tag(t), lens),
        Contents::Structures(ss) => ss.iter().map(|s| measure(Node::Structure(s), lens)).sum(),
    };
    lens[slot] = len;
    identifier_len(id) + length_len(len) + len
}

/// Writes `node`, the contents' lengths taken from `lens` from `next` on
/// (as [`measure`] pushed them).
fn write(buf: &mut BytesMut, node: Node<'_>, lens: &[usize], next: &mut usize) {
    let (class, id, contents) = parts(node);
    let len = lens[*next];
    *next += 1;
    write_header(buf, class, id, contents.constructed(), len);
    match contents {
        Contents::Octets(o) => buf.put_slice(o),
        Contents::Integer(octets, n) => buf.put_slice(&octets[octets.len() - n..]),
        Contents::Tags(tags) => {
            for t in tags {
                write(buf, Node::Tag(t), lens, next);
            }
        }
        Contents::One(t) => write(buf, Node::Tag(t), lens, next),
        Contents::Structures(ss) => {
            for s in ss {
                write(buf, Node::Structure(s), lens, next);
            }
        }
    }
}

/// The octets of the identifier of a tag numbered `id`: one up to 30,
/// else one and `id` in base 128.
fn identifier_len(id: u64) -> usize {
    if id <= 30 { 1 } else { 1 + base128_len(id) }
}

/// The base-128 digits of `id` (at least one).
fn base128_len(id: u64) -> usize {
    let bits = 64 - id.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// The octets of a definite length `len`: one below 128, else one and
/// `len` in as few octets as hold it.
fn length_len(len: usize) -> usize {
    if len < 128 { 1 } else { 1 + len_octets(len) }
}

/// The octets that hold `len` (at least one).
fn len_octets(len: usize) -> usize {
    let bits = usize::BITS as usize - len.leading_zeros() as usize;
    bits.div_ceil(8).max(1)
}

/// Writes a value's identifier and the length of its `content` octets.
fn write_header(buf: &mut BytesMut, class: TagClass, id: u64, constructed: bool, content: usize) {
    let leading = ((class as u8) << 6) | (u8::from(constructed) << 5);
    if id <= 30 {
        buf.put_u8(leading | id as u8);
    } else {
        buf.put_u8(leading | 0x1f);
        let digits = base128_len(id);
        for d in (0..digits).rev() {
            let digit = ((id >> (7 * d)) & 0x7f) as u8;
            buf.put_u8(if d > 0 { digit | 0x80 } else { digit });
        }
    }
    if content < 128 {
        buf.put_u8(content as u8);
    } else {
        let n = len_octets(content);
        buf.put_u8(0x80 | n as u8);
        buf.put_slice(&content.to_be_bytes()[usize::BITS as usize / 8 - n..]);
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::test_rng::XorShift as Rng;
    use lber::structures::{
        ASNTag, Boolean, Enumerated, ExplicitTag, Integer, Null, OctetString, Sequence, Set,
    };

    /// Tag numbers and lengths at every boundary of their encodings.
    const IDS: &[u64] = &[
        0,
        1,
        3,
        16,
        30,
        31,
        127,
        128,
        16_383,
        16_384,
        1 << 35,
        u64::MAX,
    ];
    const LENS: &[usize] = &[0, 1, 5, 127, 128, 255, 256, 300, 65_535, 65_536];
    const CLASSES: &[TagClass] = &[
        TagClass::Universal,
        TagClass::Application,
        TagClass::Context,
        TagClass::Private,
    ];

    fn tree(rng: &mut Rng, depth: u32) -> StructureTag {
        let class = rng.pick(CLASSES);
        let id = rng.pick(IDS);
        let payload = if depth == 0 || rng.next() % 3 == 0 {
            let len = rng.pick(LENS);
            PL::P((0..len).map(|i| (i as u8) ^ (id as u8)).collect())
        } else {
            let n = (rng.next() % 5) as usize;
            PL::C((0..n).map(|_| tree(rng, depth - 1)).collect())
        };
        StructureTag { class, id, payload }
    }

    fn lber_octets(tag: &StructureTag) -> BytesMut {
        let mut want = BytesMut::new();
        lber::write::encode_into(&mut want, tag.clone()).unwrap();
        want
    }

    #[test]
    fn same_octets_as_lber() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        for round in 0..600 {
            let tag = tree(&mut rng, 4);
            let want = lber_octets(&tag);
            // Appended after what the buffer already holds.
            let mut got = BytesMut::from(&b"xy"[..]);
            encode_into(&mut got, &Tag::StructureTag(tag.clone()));
            assert_eq!(&got[..2], b"xy", "round {round}");
            assert_eq!(&got[2..], &want[..], "round {round}: {tag:?}");
            assert_eq!(
                measure(Node::Structure(&tag), &mut Vec::new()),
                want.len(),
                "round {round}"
            );
        }
    }

    /// One tree's octets spelled out (a long identifier, and long-form
    /// lengths inside and out): fixed here, not only compared with
    /// lber's.
    #[test]
    fn known_octets() {
        let tag = StructureTag {
            class: TagClass::Universal,
            id: 16,
            payload: PL::C(vec![
                StructureTag {
                    class: TagClass::Universal,
                    id: 2,
                    payload: PL::P(vec![7]),
                },
                StructureTag {
                    class: TagClass::Context,
                    id: 200,
                    payload: PL::P(vec![0xaa; 130]),
                },
            ]),
        };
        let mut got = BytesMut::new();
        encode_into(&mut got, &Tag::StructureTag(tag.clone()));
        let mut want = vec![0x30, 0x81, 3 + 3 + 2 + 130, 0x02, 0x01, 0x07];
        // [200] primitive, context: 0x9f then 200 in base 128 (0x81 0x48);
        // length 130 in long form (0x81 0x82).
        want.extend_from_slice(&[0x9f, 0x81, 0x48, 0x81, 0x82]);
        want.extend_from_slice(&[0xaa; 130]);
        assert_eq!(&got[..], &want[..]);
        assert_eq!(&got[..], &lber_octets(&tag)[..]);
    }

    /// Integers at the boundaries of their octet counts, of one to eight
    /// octets and both signs (`i64::MIN` left out: lber's own sizing
    /// negates it, which overflows).
    const INTEGERS: &[i64] = &[
        0,
        1,
        -1,
        127,
        128,
        -128,
        -129,
        255,
        256,
        -256,
        -257,
        32_767,
        32_768,
        -32_768,
        -32_769,
        1 << 23,
        (1 << 31) - 1,
        1 << 31,
        -(1 << 31),
        -(1 << 23),
        1 << 39,
        -(1 << 39),
        1 << 47,
        -(1 << 47),
        (1 << 55) - 1,
        1 << 55,
        -(1 << 55),
        i64::MAX,
        i64::MIN + 1,
    ];

    /// A random `Tag` of every kind, `depth` levels at most.
    fn request(rng: &mut Rng, depth: u32) -> Tag {
        let class = rng.pick(CLASSES);
        let id = rng.pick(IDS);
        let leaf = depth == 0 || rng.next() % 3 == 0;
        match rng.next() % if leaf { 6 } else { 9 } {
            0 => Tag::Integer(Integer {
                id,
                class,
                inner: rng.pick(INTEGERS),
            }),
            1 => Tag::Enumerated(Enumerated {
                id,
                class,
                inner: rng.pick(INTEGERS),
            }),
            2 => {
                let len = rng.pick(LENS);
                let inner = (0..len).map(|i| (i as u8) ^ (id as u8)).collect();
                Tag::OctetString(OctetString { id, class, inner })
            }
            3 => Tag::Boolean(Boolean {
                id,
                class,
                inner: rng.next() % 2 == 0,
            }),
            4 => Tag::Null(Null {
                id,
                class,
                inner: (),
            }),
            5 => Tag::StructureTag(tree(rng, depth.min(2))),
            6 => Tag::ExplicitTag(ExplicitTag {
                id,
                class,
                inner: Box::new(request(rng, depth - 1)),
            }),
            kind => {
                let n = (rng.next() % 5) as usize;
                let inner = (0..n).map(|_| request(rng, depth - 1)).collect();
                if kind == 7 {
                    Tag::Sequence(Sequence { id, class, inner })
                } else {
                    Tag::Set(Set { id, class, inner })
                }
            }
        }
    }

    #[test]
    fn tags_written_as_lber_writes_their_structure() {
        let mut rng = Rng(0x2545_f491_4f6c_dd1d);
        let mut kinds = std::collections::HashSet::new();
        for round in 0..2_000 {
            let tag = request(&mut rng, 4);
            kinds.insert(std::mem::discriminant(&tag));
            let want = lber_octets(&tag.clone().into_structure());
            let mut got = BytesMut::from(&b"xy"[..]);
            encode_into(&mut got, &tag);
            assert_eq!(&got[..2], b"xy", "round {round}");
            assert_eq!(&got[2..], &want[..], "round {round}: {tag:?}");
            assert_eq!(
                measure(Node::Tag(&tag), &mut Vec::new()),
                want.len(),
                "round {round}"
            );
        }
        assert_eq!(kinds.len(), 9, "every kind of tag at the top");
    }

    /// Integers spelled out: a positive one in the shortest two's
    /// complement (a leading zero octet where the top bit would read as a
    /// sign); a negative one sized as lber sizes it, by its magnitude,
    /// which is wrong past -128 (-129 is 0x7f, read back as 127: lber's,
    /// kept; no request carries a negative integer).
    #[test]
    fn integer_octets_known() {
        for (value, want) in [
            (0i64, &[0x00][..]),
            (127, &[0x7f]),
            (128, &[0x00, 0x80]),
            (256, &[0x01, 0x00]),
            (-1, &[0xff]),
            (-128, &[0x80]),
            (-129, &[0x7f]),
            (i64::MAX, &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
        ] {
            let (octets, n) = integer_octets(value);
            assert_eq!(&octets[octets.len() - n..], want, "{value}");
        }
    }

    /// The SearchRequest as `SearchStream` built it from `Tag`s before
    /// `search_request` wrote it directly (the released ldap3's code).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn search_request_tag(
        base: &str,
        scope: i64,
        deref: i64,
        sizelimit: i64,
        timelimit: i64,
        typesonly: bool,
        filter: Tag,
        attrs: &[String],
    ) -> Tag {
        Tag::Sequence(Sequence {
            id: 3,
            class: TagClass::Application,
            inner: vec![
                Tag::OctetString(OctetString {
                    inner: Vec::from(base.as_bytes()),
                    ..Default::default()
                }),
                Tag::Enumerated(Enumerated {
                    inner: scope,
                    ..Default::default()
                }),
                Tag::Enumerated(Enumerated {
                    inner: deref,
                    ..Default::default()
                }),
                Tag::Integer(Integer {
                    inner: sizelimit,
                    ..Default::default()
                }),
                Tag::Integer(Integer {
                    inner: timelimit,
                    ..Default::default()
                }),
                Tag::Boolean(Boolean {
                    inner: typesonly,
                    ..Default::default()
                }),
                filter,
                Tag::Sequence(Sequence {
                    inner: attrs
                        .iter()
                        .map(|s| {
                            Tag::OctetString(OctetString {
                                inner: Vec::from(s.as_bytes()),
                                ..Default::default()
                            })
                        })
                        .collect(),
                    ..Default::default()
                }),
            ],
        })
    }

    const FILTERS: &[&str] = &[
        "(objectClass=*)",
        "(&(objectClass=posixAccount)(uidNumber=10001))",
        "(|(cn=a*b*c)(!(uid=x))(memberUid>=m)(sn~=y))",
        "(&(objectClass=group)(member:1.2.840.113556.1.4.1941:=cn=x\\2cdc=y))",
    ];

    /// A search request written directly is the request built from tags
    /// and encoded, over bases, limits and attribute lists of every length
    /// class (short and long forms of the lengths).
    #[test]
    fn a_search_request_is_written_as_its_tags_encode() {
        let mut rng = Rng(0x51ed_2701_a3b4_c5d6);
        for round in 0..1_000 {
            let base: String = "dc=x,".repeat(rng.pick(&[0usize, 1, 30, 60]));
            let scope = rng.pick(&[0i64, 1, 2]);
            let deref = rng.pick(&[0i64, 1, 2, 3]);
            let sizelimit = rng.pick(INTEGERS);
            let timelimit = rng.pick(INTEGERS);
            let typesonly = rng.next() % 2 == 0;
            let filter = crate::parse_filter(rng.pick(FILTERS)).unwrap();
            let n = rng.pick(&[0usize, 1, 7, 40]);
            let attrs: Vec<String> = (0..n)
                .map(|i| "a".repeat(rng.pick(&[1usize, 10, 130])) + &i.to_string())
                .collect();
            let got = search_request(
                &base, scope, deref, sizelimit, timelimit, typesonly, &filter, &attrs,
            );
            let tag = search_request_tag(
                &base, scope, deref, sizelimit, timelimit, typesonly, filter, &attrs,
            );
            let mut want = BytesMut::new();
            encode_into(&mut want, &tag);
            assert_eq!(&got[..], &want[..], "round {round}");
        }
    }

    /// A message around an encoded protocolOp is the message built from
    /// tags, with and without controls, for message IDs of every size.
    #[test]
    fn a_message_around_encoded_octets_is_the_message_of_its_tags() {
        let filter = crate::parse_filter(FILTERS[1]).unwrap();
        let attrs = vec!["uid".to_string(), "cn".to_string()];
        let op = || search_request_tag("dc=x", 2, 0, 0, 0, false, filter.clone(), &attrs);
        let control = Tag::StructureTag(StructureTag {
            class: TagClass::Context,
            id: 0,
            payload: PL::C(vec![StructureTag {
                class: TagClass::Universal,
                id: 16,
                payload: PL::C(vec![StructureTag {
                    class: TagClass::Universal,
                    id: 4,
                    payload: PL::P(b"1.2.840.113556.1.4.319".to_vec()),
                }]),
            }]),
        });
        for id in [0, 1, 127, 128, 255, 256, 65_535, i32::MAX] {
            for controls in [None, Some(&control)] {
                let mut inner = vec![
                    Tag::Integer(Integer {
                        inner: i64::from(id),
                        ..Default::default()
                    }),
                    op(),
                ];
                inner.extend(controls.cloned());
                let mut want = BytesMut::new();
                encode_into(
                    &mut want,
                    &Tag::Sequence(Sequence {
                        inner,
                        ..Default::default()
                    }),
                );
                let mut encoded_op = BytesMut::new();
                encode_into(&mut encoded_op, &op());
                let mut got = BytesMut::from(&b"xy"[..]);
                encode_message(&mut got, id, &encoded_op, controls);
                assert_eq!(&got[..2], b"xy");
                assert_eq!(
                    &got[2..],
                    &want[..],
                    "id {id}, controls {}",
                    controls.is_some()
                );
            }
        }
    }
}
