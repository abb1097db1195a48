//! The reader of server messages in the vendored ldap3
//! (`vendor/ldap3/src/ber.rs`) against lber's `parse_tag`, which it
//! replaced: the same trees from the same octets, and what it does
//! differently with malformed ones.

use ldap3::asn1::{
    message_read_as_response, parse_message, parse_response, parse_tag, response_read_as_message,
    Parsed, StructureTag, TagClass, MAX_DEPTH, PL,
};
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

/// Checks that [`ldap3::asn1::parse_response`] reads `input` as
/// [`parse_message`] does, but for the entries it keeps as their octets
/// (which read back as their trees) and the primitive ones it empties.
fn assert_reads_as_message(input: &[u8]) {
    assert_eq!(
        response_read_as_message(parse_response(input)),
        Some(message_read_as_response(parse_message(input))),
        "{input:02x?}"
    );
}

/// What `SearchEntry::read` made of an entry before it read the
/// entry's octets: the tree's reader, kept here to compare with.
fn read_tree(tag: StructureTag) -> Result<(String, AttrValues, BinValues), String> {
    let mut tags = tag
        .match_id(4)
        .and_then(|t| t.expect_constructed())
        .ok_or("it is not a search result entry")?
        .into_iter();
    let dn = tags
        .next()
        .and_then(|t| t.expect_primitive())
        .ok_or("its object name is missing or constructed")?;
    let dn = String::from_utf8(dn).map_err(|e| {
        format!(
            "its object name is not UTF-8 ({})",
            String::from_utf8_lossy(e.as_bytes())
        )
    })?;
    let wrong = |what: &str| format!("{dn}: {what}");
    let attrs = tags
        .next()
        .and_then(|t| t.expect_constructed())
        .ok_or_else(|| wrong("its attributes are missing or not a sequence"))?;
    let mut attr_vals = AttrValues::default();
    let mut bin_attr_vals = BinValues::default();
    for a_v in attrs {
        let mut part_attr = a_v
            .expect_constructed()
            .ok_or_else(|| wrong("an attribute is not a sequence"))?
            .into_iter();
        let a_type = part_attr
            .next()
            .and_then(|t| t.expect_primitive())
            .ok_or_else(|| wrong("an attribute type is missing or constructed"))?;
        let a_type =
            String::from_utf8(a_type).map_err(|_| wrong("an attribute type is not UTF-8"))?;
        let vals = part_attr
            .next()
            .and_then(|t| t.expect_constructed())
            .ok_or_else(|| wrong(&format!("attribute {a_type} has no set of values")))?;
        let mut any_binary = false;
        let mut values = Vec::new();
        for t in vals {
            let s = t
                .expect_primitive()
                .ok_or_else(|| wrong(&format!("a value of attribute {a_type} is constructed")))?;
            match String::from_utf8(s) {
                Ok(s) => values.push(s),
                Err(e) => {
                    bin_attr_vals
                        .entry(a_type.clone())
                        .or_default()
                        .push(e.into_bytes());
                    any_binary = true;
                }
            }
        }
        if any_binary {
            bin_attr_vals
                .entry(a_type)
                .or_default()
                .extend(values.into_iter().map(String::into_bytes));
        } else {
            attr_vals.insert(a_type, values);
        }
    }
    Ok((dn, attr_vals, bin_attr_vals))
}

type AttrValues = ldap3::AttrMap<Vec<String>>;
type BinValues = ldap3::AttrMap<Vec<Vec<u8>>>;

/// `SearchEntry::read` of `tag` as the connection hands it over: the
/// entry's octets when it is one.
fn read_octets(tag: StructureTag) -> Result<(String, AttrValues, BinValues), String> {
    let e = ldap3::SearchEntry::read(ldap3::ResultEntry::new(handed_over(tag)))?;
    Ok((e.dn, e.attrs, e.bin_attrs))
}

/// `tag` as the connection hands it over: the entry's octets when it is
/// one.
fn handed_over(tag: StructureTag) -> StructureTag {
    match parse_response(&encode(&StructureTag {
        class: TagClass::Universal,
        id: 16,
        payload: PL::C(vec![tag]),
    })) {
        Parsed::Complete(
            StructureTag {
                payload: PL::C(mut c),
                ..
            },
            _,
        ) => c.pop().expect("the one value"),
        other => panic!("not read: {other:?}"),
    }
}

/// A primitive value: text, or octets that are not UTF-8.
fn octets() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => "[a-z0-9=,]{0,12}".prop_map(String::into_bytes),
        1 => prop::collection::vec(any::<u8>(), 0..6),
    ]
}

fn prim_of(class: TagClass, id: u64, v: Vec<u8>) -> StructureTag {
    StructureTag {
        class,
        id,
        payload: PL::P(v),
    }
}

fn cons_of(class: TagClass, id: u64, c: Vec<StructureTag>) -> StructureTag {
    StructureTag {
        class,
        id,
        payload: PL::C(c),
    }
}

/// Search result entries as servers send them, and now and then one
/// part of the wrong kind, missing, or a random tree in its place.
fn entry_tree() -> impl Strategy<Value = StructureTag> {
    let value = prop_oneof![
        8 => octets().prop_map(|v| prim_of(TagClass::Universal, 4, v)),
        1 => tree(),
    ];
    let attribute = (
        prop_oneof![8 => octets().prop_map(|v| prim_of(TagClass::Universal, 4, v)), 1 => tree()],
        prop::collection::vec(value, 0..4),
        0u8..10,
    )
        .prop_map(|(ty, values, shape)| match shape {
            0 => cons_of(TagClass::Universal, 16, vec![ty]),
            1 => prim_of(TagClass::Universal, 16, b"x".to_vec()),
            2 => cons_of(
                TagClass::Universal,
                16,
                vec![ty, prim_of(TagClass::Universal, 17, vec![])],
            ),
            _ => cons_of(
                TagClass::Universal,
                16,
                vec![ty, cons_of(TagClass::Universal, 17, values)],
            ),
        });
    (
        octets(),
        prop::collection::vec(attribute, 0..5),
        0u8..12,
        tree(),
    )
        .prop_map(|(dn, attrs, shape, wild)| {
            let dn = prim_of(TagClass::Universal, 4, dn);
            let attrs = cons_of(TagClass::Universal, 16, attrs);
            match shape {
                0 => cons_of(TagClass::Application, 4, vec![dn]),
                1 => cons_of(TagClass::Application, 4, vec![]),
                2 => cons_of(TagClass::Application, 4, vec![wild, attrs]),
                3 => cons_of(TagClass::Application, 4, vec![dn, wild]),
                4 => cons_of(TagClass::Application, 4, vec![dn, attrs, wild]),
                5 => prim_of(TagClass::Application, 4, b"uid=x".to_vec()),
                _ => cons_of(TagClass::Application, 4, vec![dn, attrs]),
            }
        })
}

proptest! {
    #[test]
    fn a_response_reads_as_the_message_with_its_entries_kept_as_octets(
        children in prop::collection::vec(prop_oneof![2 => tree(), 1 => entry_tree()], 0..4),
        top in prop_oneof![Just(true), Just(false)],
        tail in prop::collection::vec(any::<u8>(), 0..8),
    ) {
        let message = if top {
            cons_of(TagClass::Universal, 16, children)
        } else {
            children.into_iter().next().unwrap_or_else(|| prim_of(TagClass::Universal, 4, vec![]))
        };
        let octets = encode(&message);
        let mut input = octets.clone();
        input.extend(&tail);
        assert_reads_as_message(&input);
        prop_assert!(matches!(parse_response(&input), Parsed::Complete(_, n) if n == octets.len()));
        for cut in [0, 1, octets.len() / 2, octets.len() - 1] {
            prop_assert_eq!(parse_response(&octets[..cut]), Parsed::Incomplete);
        }
    }

    #[test]
    fn any_octets_read_as_a_message_or_fail_as_it_does(input in prop::collection::vec(any::<u8>(), 0..48)) {
        assert_reads_as_message(&input);
    }

    #[test]
    fn a_damaged_message_of_entries_reads_as_it_does_and_so_do_its_entries(
        entries in prop::collection::vec(entry_tree(), 1..3),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
    ) {
        let mut children = vec![prim_of(TagClass::Universal, 2, vec![1])];
        children.extend(entries);
        let mut input = encode(&cons_of(TagClass::Universal, 16, children));
        for (at, byte) in damage {
            let k = at.index(input.len());
            input[k] = byte;
        }
        assert_reads_as_message(&input);
        // Every entry of what still reads: the same from its octets as
        // from its tree.
        if let (Parsed::Complete(ours, _), Parsed::Complete(theirs, _)) =
            (parse_response(&input), parse_message(&input))
        {
            if let (PL::C(ours), PL::C(theirs)) = (ours.payload, theirs.payload) {
                for (o, t) in ours.into_iter().zip(theirs) {
                    if o.class == TagClass::Application && o.id == 4 {
                        let from_octets = ldap3::SearchEntry::read(ldap3::ResultEntry::new(o))
                            .map(|e| (e.dn, e.attrs, e.bin_attrs));
                        prop_assert_eq!(from_octets, read_tree(t));
                    }
                }
            }
        }
    }

    #[test]
    fn an_entry_read_from_its_octets_is_the_entry_its_tree_gave(e in entry_tree()) {
        prop_assert_eq!(read_octets(e.clone()), read_tree(e));
    }

    #[test]
    fn an_entry_kept_as_its_octets_reads_as_the_whole_entry(e in entry_tree()) {
        kept_reads_as_whole(e)?;
    }

    #[test]
    fn attributes_listed_twice_read_the_same_both_ways(
        attrs in prop::collection::vec(
            (
                prop::sample::select(vec!["cn", "CN", "gidNumber", "gidnumber"]),
                prop::collection::vec(prop::sample::select(vec![&b"g"[..], b"5001", b"\xff"]), 0..3),
            ),
            0..5,
        )
    ) {
        let attrs = attrs
            .into_iter()
            .map(|(ty, values)| {
                let values = values.into_iter().map(|v| prim_of(TagClass::Universal, 4, v.to_vec())).collect();
                cons_of(
                    TagClass::Universal,
                    16,
                    vec![prim_of(TagClass::Universal, 4, ty.as_bytes().to_vec()), cons_of(TagClass::Universal, 17, values)],
                )
            })
            .collect();
        let dn = prim_of(TagClass::Universal, 4, b"cn=g,dc=example,dc=test".to_vec());
        kept_reads_as_whole(cons_of(TagClass::Application, 4, vec![dn, cons_of(TagClass::Universal, 16, attrs)]))?;
    }
}

/// `e` read as a [`ldap3::SearchEntry`] and as [`ldap3::EntryOctets`]
/// (as the connection hands it over): the same refusals, the same DN,
/// and each attribute's first value as the entry checks read it
/// (`entry::values`) or no value from either; the first values of every
/// two attributes read in one walk (`first_texts`, with an attribute the
/// entry lacks) as each alone.
fn kept_reads_as_whole(e: StructureTag) -> Result<(), TestCaseError> {
    let e = handed_over(e);
    let whole = ldap3::SearchEntry::read(ldap3::ResultEntry::new(e.clone()));
    let kept = ldap3::EntryOctets::read(ldap3::ResultEntry::new(e));
    match (whole, kept) {
        (Err(w), Err(k)) => prop_assert_eq!(w, k),
        (Ok(w), Ok(k)) => {
            prop_assert_eq!(w.dn.as_str(), k.dn());
            for attr in w.attrs.keys().chain(w.bin_attrs.keys()) {
                let first =
                    crate::directory::entry::values(&w, attr).map(|v| v.map(|v| v[0].as_str()));
                // (The same value, or the same fault in the same words.)
                let kept = k
                    .first_text(attr)
                    .map_err(|e| crate::directory::entry::text_error(attr, e));
                prop_assert_eq!(first, kept, "attribute {:?}", attr);
            }
            let names: Vec<&str> = w
                .attrs
                .keys()
                .chain(w.bin_attrs.keys())
                .map(String::as_str)
                .collect();
            // (Each also asked in capitals, and beside one the entry
            // lacks, first and second.)
            let capitals: Vec<String> = names.iter().map(|n| n.to_ascii_uppercase()).collect();
            let asked: Vec<&str> = names
                .iter()
                .copied()
                .chain(capitals.iter().map(String::as_str))
                .chain(["absent"])
                .collect();
            for a in &asked {
                for b in &asked {
                    prop_assert_eq!(
                        k.first_texts([a, b]),
                        [k.first_text(a), k.first_text(b)],
                        "{} and {}",
                        a,
                        b
                    );
                }
            }
        }
        (w, k) => prop_assert!(
            false,
            "{:?} against {:?}",
            w.map(|e| e.dn),
            k.map(|e| e.dn().to_string())
        ),
    }
    Ok(())
}

#[test]
fn a_malformed_entry_inside_a_message_is_invalid_as_before() {
    // An entry whose attribute sequence claims more octets than it holds,
    // and one nested past MAX_DEPTH: the message is invalid at once.
    let bad = [
        0x30, 0x09, 0x02, 0x01, 0x01, 0x64, 0x04, 0x04, 0x00, 0x30, 0x05,
    ];
    assert_eq!(parse_message(&bad), Parsed::Invalid);
    assert_eq!(parse_response(&bad), Parsed::Invalid);
    // Values nested in an entry: read up to the same depth as
    // `parse_message` reads them, invalid past it.
    for levels in MAX_DEPTH as u32 - 4..=MAX_DEPTH as u32 + 2 {
        let deep = deeply_nested(levels);
        let mut entry = vec![0x64];
        push_len(&mut entry, deep.len());
        entry.extend(&deep);
        let mut message = vec![0x30];
        push_len(&mut message, entry.len() + 3);
        message.extend([0x02, 0x01, 0x01]);
        message.extend(&entry);
        // (The entry kept as the octets it came in: long-form lengths.)
        let expected = match parse_message(&message) {
            Parsed::Complete(_, used) => Parsed::Complete(
                cons_of(
                    TagClass::Universal,
                    16,
                    vec![
                        prim_of(TagClass::Universal, 2, vec![1]),
                        prim_of(TagClass::Application, 4, entry.clone()),
                    ],
                ),
                used,
            ),
            other => other,
        };
        assert_eq!(parse_response(&message), expected, "{levels} levels");
        if levels > MAX_DEPTH as u32 {
            assert_eq!(expected, Parsed::Invalid, "{levels} levels");
        }
    }
}

/// Appends a BER length (long form from 128).
fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let octets = (len as u64).to_be_bytes();
        let skip = octets.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (8 - skip) as u8);
        out.extend_from_slice(&octets[skip..]);
    }
}

#[test]
fn an_entry_whose_octets_do_not_read_whole_is_refused_not_cut_short() {
    let read = |octets: &[u8]| {
        let tag = prim_of(TagClass::Application, 4, octets.to_vec());
        ldap3::SearchEntry::read(ldap3::ResultEntry::new(tag)).map(|e| e.dn)
    };
    // dn "x", attributes holding one octet that is no value.
    assert_eq!(
        read(&[0x64, 0x06, 0x04, 0x01, b'x', 0x30, 0x01, 0xff]),
        Err("x: its attributes are not valid BER".into())
    );
    // One attribute "a" with the value "v"; then the same with a stray
    // octet at the end of its set of values.
    let tlv = |tag: u8, contents: &[u8]| {
        let mut out = vec![tag];
        push_len(&mut out, contents.len());
        out.extend(contents);
        out
    };
    let entry_of = |values: &[u8]| {
        let set = tlv(0x31, values);
        let attr = tlv(0x30, &[tlv(0x04, b"a"), set].concat());
        tlv(0x64, &[tlv(0x04, b"x"), tlv(0x30, &attr)].concat())
    };
    let entry = entry_of(&tlv(0x04, b"v"));
    assert_eq!(read(&entry), Ok("x".to_string()));
    let bad = entry_of(&[tlv(0x04, b"v"), vec![0xff]].concat());
    assert_eq!(
        read(&bad),
        Err("x: the values of attribute a are not valid BER".into())
    );
    // Octets after the entry, or none at all: not an entry.
    let mut after = entry.clone();
    after.push(0x00);
    assert_eq!(read(&after), Err("it is not a search result entry".into()));
    assert_eq!(read(&[]), Err("it is not a search result entry".into()));
    // From the wire, a primitive [APPLICATION 4] whose contents are a
    // whole entry's octets is still no entry.
    let message = [
        0x30, 0x0d, 0x02, 0x01, 0x01, 0x44, 0x08, 0x64, 0x06, 0x04, 0x01, b'x', 0x30, 0x01, 0xff,
    ];
    let Parsed::Complete(
        StructureTag {
            payload: PL::C(mut parts),
            ..
        },
        _,
    ) = parse_response(&message)
    else {
        panic!("the message reads");
    };
    let op = parts.pop().unwrap();
    assert_eq!(
        ldap3::SearchEntry::read(ldap3::ResultEntry::new(op)).map(|e| e.dn),
        Err("it is not a search result entry".into())
    );
}

/// Messages as servers send them around an entry: an ID of zero to six
/// octets (or of the wrong kind), the entry (or another value), and now
/// and then controls or a value more after it.
fn entry_message() -> impl Strategy<Value = StructureTag> {
    (
        prop::collection::vec(any::<u8>(), 0..7),
        0u8..8,
        prop_oneof![4 => entry_tree(), 1 => tree()],
        0u8..6,
        tree(),
    )
        .prop_map(|(id, id_kind, op, after, more)| {
            let id = match id_kind {
                0 => prim_of(TagClass::Universal, 4, id),
                1 => cons_of(TagClass::Universal, 2, vec![]),
                _ => prim_of(TagClass::Universal, 2, id),
            };
            let mut children = vec![id, op];
            match after {
                0 => children.push(cons_of(TagClass::Context, 0, vec![])),
                1 => children.push(more),
                _ => {}
            }
            cons_of(TagClass::Universal, 16, children)
        })
}

proptest! {
    #[test]
    fn a_message_reads_the_same_with_a_lone_entry_read_without_its_tree(
        message in entry_message(),
        damage in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..3),
        tail in prop::collection::vec(any::<u8>(), 0..4),
    ) {
        let mut input = encode(&message);
        for (at, byte) in damage {
            let k = at.index(input.len());
            input[k] = byte;
        }
        let whole = input.len();
        input.extend(&tail);
        for cut in [whole, whole.saturating_sub(1), whole / 2, input.len()] {
            let octets = &input[..cut];
            prop_assert_eq!(
                ldap3::asn1::decoded_in_words(octets, false),
                ldap3::asn1::decoded_in_words(octets, true)
            );
        }
    }
}

#[test]
fn a_lone_entry_is_read_whole_with_its_id() {
    let entry = cons_of(
        TagClass::Application,
        4,
        vec![
            prim_of(TagClass::Universal, 4, b"cn=g,dc=x".to_vec()),
            cons_of(TagClass::Universal, 16, vec![]),
        ],
    );
    let message = cons_of(
        TagClass::Universal,
        16,
        vec![
            prim_of(TagClass::Universal, 2, vec![0x01, 0x02]),
            entry.clone(),
        ],
    );
    let mut octets = encode(&message);
    let len = octets.len();
    octets.extend([0x30, 0x00]);
    let words = ldap3::asn1::decoded_in_words(&octets, false);
    assert!(
        words.starts_with(
            "(258, (StructureTag(StructureTag { class: Application, id: 4, payload: P(["
        ),
        "{words}"
    );
    assert!(
        words.ends_with(&format!("]) }}), [])), {len} octets")),
        "{words}"
    );
    assert!(
        words.contains(&format!("{:?}", encode(&entry))[1..]),
        "{words}"
    );
}
