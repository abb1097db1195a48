//! (roster) BER encoding of an outgoing message straight into the
//! connection's write buffer.
//!
//! `lber::write::encode_into` encoded each constructed tag into a
//! buffer of its own and then copied it into its parent's, one more
//! time at every level, writing every octet through a `dyn Write`: a
//! search request cost some twenty allocations and its octets copied
//! four or five times. Here the length of each constructed tag is
//! counted first and every octet is written once, into the buffer it
//! is sent from. The octets are the same as lber's (the test compares
//! the two on many trees).

use bytes::{BufMut, BytesMut};
use lber::structure::{PL, StructureTag};

/// Appends the BER encoding of `tag` to `buf`.
pub(crate) fn encode_into(buf: &mut BytesMut, tag: &StructureTag) {
    buf.reserve(encoded_len(tag));
    write_tag(buf, tag);
}

/// The octets of `tag`'s contents.
fn content_len(tag: &StructureTag) -> usize {
    match &tag.payload {
        PL::P(octets) => octets.len(),
        PL::C(inner) => inner.iter().map(encoded_len).sum(),
    }
}

/// The octets of `tag` encoded: identifier, length and contents.
fn encoded_len(tag: &StructureTag) -> usize {
    let content = content_len(tag);
    identifier_len(tag.id) + length_len(content) + content
}

/// The octets of the identifier of a tag numbered `id`: one up to 30,
/// else one and `id` in base 128.
fn identifier_len(id: u64) -> usize {
    if id <= 30 {
        1
    } else {
        1 + base128_len(id)
    }
}

/// The base-128 digits of `id` (at least one).
fn base128_len(id: u64) -> usize {
    let bits = 64 - id.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// The octets of a definite length `len`: one below 128, else one and
/// `len` in as few octets as hold it.
fn length_len(len: usize) -> usize {
    if len < 128 {
        1
    } else {
        1 + len_octets(len)
    }
}

/// The octets that hold `len` (at least one).
fn len_octets(len: usize) -> usize {
    let bits = usize::BITS as usize - len.leading_zeros() as usize;
    bits.div_ceil(8).max(1)
}

fn write_tag(buf: &mut BytesMut, tag: &StructureTag) {
    let constructed = matches!(tag.payload, PL::C(_));
    let leading = ((tag.class as u8) << 6) | (u8::from(constructed) << 5);
    if tag.id <= 30 {
        buf.put_u8(leading | tag.id as u8);
    } else {
        buf.put_u8(leading | 0x1f);
        let digits = base128_len(tag.id);
        for d in (0..digits).rev() {
            let digit = ((tag.id >> (7 * d)) & 0x7f) as u8;
            buf.put_u8(if d > 0 { digit | 0x80 } else { digit });
        }
    }
    let content = content_len(tag);
    if content < 128 {
        buf.put_u8(content as u8);
    } else {
        let n = len_octets(content);
        buf.put_u8(0x80 | n as u8);
        buf.put_slice(&content.to_be_bytes()[usize::BITS as usize / 8 - n..]);
    }
    match &tag.payload {
        PL::P(octets) => buf.put_slice(octets),
        PL::C(inner) => {
            for t in inner {
                write_tag(buf, t);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_rng::XorShift as Rng;
    use lber::common::TagClass;

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
            encode_into(&mut got, &tag);
            assert_eq!(&got[..2], b"xy", "round {round}");
            assert_eq!(&got[2..], &want[..], "round {round}: {tag:?}");
            assert_eq!(encoded_len(&tag), want.len(), "round {round}");
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
        encode_into(&mut got, &tag);
        let mut want = vec![0x30, 0x81, 3 + 3 + 2 + 130, 0x02, 0x01, 0x07];
        // [200] primitive, context: 0x9f then 200 in base 128 (0x81 0x48);
        // length 130 in long form (0x81 0x82).
        want.extend_from_slice(&[0x9f, 0x81, 0x48, 0x81, 0x82]);
        want.extend_from_slice(&[0xaa; 130]);
        assert_eq!(&got[..], &want[..]);
        assert_eq!(&got[..], &lber_octets(&tag)[..]);
    }
}
