//! The reader of server messages in the vendored ldap3
//! (`vendor/ldap3/src/ber.rs`) against lber's `parse_tag`, which it
//! replaced: the same trees from the same octets, and what it does
//! differently with malformed ones.

use ldap3::asn1::{parse_message, parse_tag, Parsed, StructureTag, TagClass, MAX_DEPTH, PL};
use proptest::prelude::*;

/// BER octets of `tag` (definite lengths, short form below 128).
pub(super) fn encode(tag: &StructureTag) -> Vec<u8> {
    let class = match tag.class {
        TagClass::Universal => 0u8,
        TagClass::Application => 1,
        TagClass::Context => 2,
        TagClass::Private => 3,
    };
    let (constructed, contents) = match &tag.payload {
        PL::P(v) => (0u8, v.clone()),
        PL::C(children) => (0x20, children.iter().flat_map(encode).collect()),
    };
    let mut out = vec![class << 6 | constructed | tag.id as u8];
    if contents.len() < 0x80 {
        out.push(contents.len() as u8);
    } else {
        let len = (contents.len() as u64).to_be_bytes();
        let skip = len.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&len[skip..]);
    }
    out.extend(contents);
    out
}

fn tag_class() -> impl Strategy<Value = TagClass> {
    prop_oneof![
        Just(TagClass::Universal),
        Just(TagClass::Application),
        Just(TagClass::Context),
        Just(TagClass::Private),
    ]
}

/// Trees of values as messages hold them (tag numbers of one octet).
fn tree() -> impl Strategy<Value = StructureTag> {
    let leaf = (
        tag_class(),
        0u64..31,
        prop::collection::vec(any::<u8>(), 0..160),
    )
        .prop_map(|(class, id, v)| StructureTag {
            class,
            id,
            payload: PL::P(v),
        });
    leaf.prop_recursive(5, 64, 6, |inner| {
        (tag_class(), 0u64..31, prop::collection::vec(inner, 0..6)).prop_map(
            |(class, id, children)| StructureTag {
                class,
                id,
                payload: PL::C(children),
            },
        )
    })
}

proptest! {
    #[test]
    fn a_whole_value_reads_as_lber_reads_it(tag in tree(), tail in prop::collection::vec(any::<u8>(), 0..8)) {
        let octets = encode(&tag);
        let mut input = octets.clone();
        input.extend(&tail);
        let (rest, theirs) = parse_tag(&input).expect("lber reads it");
        prop_assert_eq!(&theirs, &tag);
        prop_assert_eq!(rest.len(), tail.len());
        prop_assert_eq!(parse_message(&input), Parsed::Complete(tag, octets.len()));
        // Every part of it is the start of a value, for both.
        for cut in [0, 1, octets.len() / 2, octets.len() - 1] {
            prop_assert_eq!(parse_message(&octets[..cut]), Parsed::Incomplete);
            prop_assert!(parse_tag(&octets[..cut]).unwrap_err().is_incomplete());
        }
    }

    #[test]
    fn any_octets_read_as_lber_reads_them_or_fail_for_good(input in prop::collection::vec(any::<u8>(), 0..48)) {
        let ours = parse_message(&input);
        match parse_tag(&input) {
            Ok((rest, theirs)) => {
                prop_assert_eq!(ours, Parsed::Complete(theirs, input.len() - rest.len()));
            }
            Err(e) => {
                // lber never fails otherwise on a 64-bit host.
                prop_assert!(e.is_incomplete());
                prop_assert!(!matches!(ours, Parsed::Complete(..)), "{:?}", ours);
                if ours == Parsed::Invalid {
                    // Octets that cannot mend it: more of them change nothing.
                    let mut more = input.clone();
                    more.extend([0u8; 300]);
                    prop_assert_eq!(parse_message(&more), Parsed::Invalid);
                }
            }
        }
    }
}

#[test]
fn contents_that_do_not_parse_are_invalid_at_once() {
    // A sequence of 4 octets holding an octet string that claims 9.
    let input = [0x30, 0x04, 0x04, 0x09, b'a', b'b'];
    assert_eq!(parse_message(&input), Parsed::Invalid);
    assert!(parse_tag(&input).unwrap_err().is_incomplete());
    // The same sequence while its own octets are still missing.
    assert_eq!(parse_message(&input[..3]), Parsed::Incomplete);
}

#[test]
fn values_nest_at_most_max_depth_deep() {
    let nested = |levels: usize| {
        let mut tag = StructureTag {
            class: TagClass::Universal,
            id: 4,
            payload: PL::P(b"x".to_vec()),
        };
        for _ in 0..levels {
            tag = StructureTag {
                class: TagClass::Universal,
                id: 16,
                payload: PL::C(vec![tag]),
            };
        }
        tag
    };
    let deepest = nested(MAX_DEPTH);
    let octets = encode(&deepest);
    assert_eq!(
        parse_message(&octets),
        Parsed::Complete(deepest, octets.len())
    );
    assert_eq!(
        parse_message(&encode(&nested(MAX_DEPTH + 1))),
        Parsed::Invalid
    );
}

#[test]
fn long_form_lengths_and_the_indefinite_form_read_as_lber_reads_them() {
    // Length in two octets (0x0100 = 256), in one octet with a leading
    // zero octet, and the indefinite form (read as 0, as lber does).
    let mut long = vec![0x04, 0x82, 0x01, 0x00];
    long.extend([7u8; 256]);
    let padded = [0x04, 0x82, 0x00, 0x02, b'h', b'i'];
    let indefinite = [0x04, 0x80, 0xff];
    for input in [&long[..], &padded[..], &indefinite[..]] {
        let (rest, theirs) = parse_tag(input).expect("lber reads it");
        assert_eq!(
            parse_message(input),
            Parsed::Complete(theirs, input.len() - rest.len())
        );
    }
}

/// `levels` sequences nested in one another around an empty octet string,
/// each with a five-octet length (as a hostile server could send them).
fn deeply_nested(levels: u32) -> Vec<u8> {
    let mut value = Vec::with_capacity(levels as usize * 6 + 2);
    for level in 0..levels {
        // The contents of this level: the levels inside it, and the leaf.
        let len = (levels - 1 - level) * 6 + 2;
        value.extend([0x30, 0x84]);
        value.extend(len.to_be_bytes());
    }
    value.extend(b"\x04\x00");
    value
}

#[test]
fn a_deeply_nested_control_value_is_a_panic_of_its_task_not_a_stack_overflow() {
    use ldap3::controls::{PagedResults, RawControl};
    // 100,000 levels: lber's recursive reader overflowed the stack of a
    // 2 MiB test thread (and of rosterd) on far fewer.
    let raw = RawControl {
        ctype: "1.2.840.113556.1.4.319".into(),
        crit: false,
        val: Some(deeply_nested(100_000)),
    };
    let parsed = std::thread::spawn(move || raw.parse::<PagedResults>()).join();
    assert!(parsed.is_err(), "a malformed value is refused");
    // The password policy control of a bind answer is read the same way.
    let value = deeply_nested(100_000);
    let policy = std::thread::spawn(move || super::ppolicy::parse_value(&value).is_none())
        .join()
        .expect("no stack overflow");
    assert!(policy);
}
