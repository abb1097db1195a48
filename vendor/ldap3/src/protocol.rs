use std::io;
#[cfg(feature = "gssapi")]
use std::sync::RwLock;
#[cfg(feature = "gssapi")]
use std::sync::{Arc, Mutex};

use crate::RequestId;
use crate::controls::{Control, RawControl};
use crate::controls_impl::{build_tag, parse_controls};
use crate::search::SearchItem;

use lber::common::TagClass;
use lber::parse::parse_uint;
use lber::structure::{PL, StructureTag};
use lber::structures::{Integer, Sequence, Tag};
use lber::universal::Types;

use bytes::{Buf, BytesMut};
#[cfg(feature = "gssapi")]
use cross_krb5::{ClientCtx, K5Ctx};
use tokio::sync::oneshot;
use tokio_util::codec::{Decoder, Encoder};

pub(crate) struct LdapCodec {
    /// Unwrapped octets of the SASL security layer not decoded yet.
    #[cfg(feature = "gssapi")]
    pub(crate) sasl_plain: BytesMut,
    #[cfg(feature = "gssapi")]
    pub(crate) sasl_param: Arc<RwLock<(bool, u32)>>, // sasl_wrap, sasl_max_send
    #[cfg(feature = "gssapi")]
    pub(crate) client_ctx: Arc<Mutex<Option<ClientCtx>>>,
}

pub(crate) type MaybeControls = Option<Vec<RawControl>>;
/// (roster) Operations by message ID, placed with foldhash: the IDs are
/// the connection's own, and each operation inserts, finds and removes
/// its own (SipHash was about 600 instructions a search).
pub(crate) type IdMap<V> = std::collections::HashMap<RequestId, V, foldhash::fast::RandomState>;

/// (roster) The message IDs in use, placed as [`IdMap`]'s.
pub(crate) type IdSet = std::collections::HashSet<RequestId, foldhash::fast::RandomState>;

pub(crate) type ItemSender = crate::item_queue::ItemTx<(SearchItem, Vec<Control>)>;
pub(crate) type ResultSender = oneshot::Sender<(Tag, Vec<Control>)>;

#[derive(Debug)]
pub enum MiscSender {
    #[cfg(any(feature = "tls-native", feature = "tls-rustls"))]
    Cert(oneshot::Sender<Option<Vec<u8>>>),
}

#[derive(Debug)]
pub enum LdapOp {
    Single,
    Search(ItemSender),
    Abandon(RequestId),
    Unbind,
}

#[allow(clippy::type_complexity)]
fn decode_inner(buf: &mut BytesMut) -> Result<Option<(RequestId, (Tag, Vec<Control>))>, io::Error> {
    // (roster) A search entry alone in its message, most messages of a
    // search's answer, read without the message's tree; any other
    // message, and one that entry_message does not read, as below.
    if let Some((msgid, entry, used)) = crate::ber::entry_message(buf) {
        let op = StructureTag {
            class: TagClass::Application,
            id: 4,
            payload: PL::P(entry.to_vec()),
        };
        buf.advance(used);
        return Ok(Some((msgid, (Tag::StructureTag(op), vec![]))));
    }
    decode_tree(buf)
}

/// (roster) [`decode_inner`] of any message: read as a tree, then its
/// parts checked and taken.
fn decode_tree(buf: &mut BytesMut) -> Result<Option<(RequestId, (Tag, Vec<Control>))>, io::Error> {
    // (roster) What is wrong with a message, and its ID once it is read.
    let malformed = |msgid: Option<i32>, wrong: String| {
        crate::result::MalformedMessage::error(match msgid {
            Some(id) => format!("LDAP message {id} from the server: {wrong}"),
            None => format!("an LDAP message from the server: {wrong}"),
        })
    };
    // (roster: read by `crate::ber`, see there why not lber's parser; a
    // search entry kept as its octets, `parse_response`.)
    let (tag, consumed) = match crate::ber::parse_response(buf) {
        crate::ber::Parsed::Complete(tag, consumed) => (tag, consumed),
        crate::ber::Parsed::Incomplete => return Ok(None),
        crate::ber::Parsed::Invalid => {
            return Err(malformed(
                None,
                "it is not valid BER, or nests too deep".into(),
            ));
        }
    };
    buf.advance(consumed);
    let mut tags = match tag
        .match_id(Types::Sequence as u64)
        .and_then(|t| t.expect_constructed())
    {
        Some(tags) => tags,
        None => return Err(malformed(None, "it is not a SEQUENCE".into())),
    };
    // (roster: every element is checked before it is taken: a message the
    // readers below or the result and entry readers could not read is a
    // decoding error saying what is wrong, not a panic; see `shape`.)
    if tags.len() < 2 {
        return Err(malformed(None, "it has no protocol operation".into()));
    }
    let msgid = match tags[0]
        .clone()
        .match_class(TagClass::Universal)
        .and_then(|t| t.match_id(Types::Integer as u64))
        .and_then(|t| t.expect_primitive())
    {
        // (At most four octets: a message ID is below 2^31.)
        Some(id) if id.is_empty() || id.len() > 4 => {
            return Err(malformed(None, "its message ID is out of range".into()));
        }
        Some(id) => match parse_uint(id.as_slice()) {
            Ok((_, id)) => id as i32,
            _ => return Err(malformed(None, "its message ID cannot be read".into())),
        },
        None => return Err(malformed(None, "its message ID is not an INTEGER".into())),
    };
    let mut maybe_controls = tags.pop().expect("two elements");
    let has_controls = match maybe_controls {
        StructureTag {
            id,
            class,
            ref payload,
        } if class == TagClass::Context && id == 0 => match *payload {
            PL::C(_) => true,
            PL::P(_) => {
                return Err(malformed(
                    Some(msgid),
                    "its controls are not constructed".into(),
                ));
            }
        },
        StructureTag { id, class, .. } if class == TagClass::Context && id == 10 => {
            // Active Directory bug workaround
            //
            // AD incorrectly encodes Notice of Disconnection messages. The OID of the
            // Unsolicited Notification should be part of the ExtendedResponse sequence
            // but AD puts it outside, where the optional controls belong. This confuses
            // our parser, which doesn't expect the extra sequence element at the end
            // and crashes. This match arm thus ignores the element.
            if tags.len() < 2 {
                return Err(malformed(
                    Some(msgid),
                    "it has no protocol operation".into(),
                ));
            }
            maybe_controls = tags.pop().expect("two elements");
            false
        }
        _ => false,
    };
    let (protoop, controls) = if has_controls {
        if tags.len() < 2 {
            return Err(malformed(
                Some(msgid),
                "it has no protocol operation".into(),
            ));
        }
        (tags.pop().expect("two elements"), Some(maybe_controls))
    } else {
        (maybe_controls, None)
    };
    if let Err(wrong) = crate::shape::check_op(&protoop) {
        return Err(malformed(Some(msgid), wrong));
    }
    let controls = match controls {
        Some(controls) => {
            if let Err(wrong) = crate::shape::check_controls(&controls) {
                return Err(malformed(Some(msgid), wrong));
            }
            parse_controls(controls)
        }
        None => vec![],
    };
    Ok(Some((msgid, (Tag::StructureTag(protoop), controls))))
}

/// (roster) What the connection makes of the message at the start of
/// `octets` (its ID, operation and controls, and the octets it took, or
/// why it is refused), in words; read the general way when `as_tree`
/// ([`decode_tree`]), else as the connection reads it ([`decode_inner`]:
/// a lone search entry without the message's tree). For the tests that
/// compare the two.
#[doc(hidden)]
pub fn decoded_in_words(octets: &[u8], as_tree: bool) -> String {
    let mut buf = BytesMut::from(octets);
    let read = if as_tree {
        decode_tree(&mut buf)
    } else {
        decode_inner(&mut buf)
    };
    match read {
        Ok(Some(message)) => format!("{message:?}, {} octets", octets.len() - buf.len()),
        Ok(None) => "incomplete".into(),
        Err(e) => format!("refused: {e}"),
    }
}

/// (roster) Reads the message at the start of `octets` as a connection
/// reads a server's message, then hands it to every reader the library
/// would hand it to: the result reader for a result, `parse_refs` for a
/// reference, `SearchEntry::read` for an entry, the paged-results
/// parser for that control. `Ok(None)`: more octets are needed;
/// `Ok(Some(octets taken))`: read, by every reader; `Err`: refused, with
/// what is wrong. For the fuzz target that checks no reader panics on a
/// message the frame's checks let through (`shape`).
#[doc(hidden)]
pub fn read_server_message(octets: &[u8]) -> Result<Option<usize>, String> {
    let mut buf = BytesMut::from(octets);
    let Some((_, (tag, controls))) = decode_inner(&mut buf).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let taken = octets.len() - buf.len();
    for ctrl in &controls {
        if let Control(Some(crate::controls::ControlType::PagedResults), raw) = ctrl {
            let _: crate::controls::PagedResults = raw.parse();
        }
    }
    let Tag::StructureTag(op) = tag else {
        return Err("not a structure".into());
    };
    match op.id {
        4 | 25 => {
            let _ = crate::search::SearchEntry::read(crate::search::ResultEntry::new(op));
        }
        19 => {
            let _ = crate::search::parse_refs(op);
        }
        _ => {
            let _ = crate::result::LdapResultExt::from(Tag::StructureTag(op));
        }
    }
    Ok(Some(taken))
}

impl Decoder for LdapCodec {
    type Item = (RequestId, (Tag, Vec<Control>));
    type Error = io::Error;

    #[cfg(not(feature = "gssapi"))]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        decode_inner(buf)
    }

    #[cfg(feature = "gssapi")]
    fn decode(&mut self, buf: &mut BytesMut) -> Result<Option<Self::Item>, Self::Error> {
        let sasl_wrap = { self.sasl_param.read().expect("sasl param").0 };
        if !sasl_wrap {
            return decode_inner(buf);
        }
        let client_ctx = &self.client_ctx;
        decode_sasl(&mut self.sasl_plain, buf, |len, buf| {
            let client_opt = &mut *client_ctx.lock().expect("client ctx lock");
            let client_ctx = client_opt.as_mut().expect("client Option mut ref");
            client_ctx.unwrap_iov(len, buf).map_err(|e| {
                io::Error::new(io::ErrorKind::Other, format!("gss_unwrap error: {:#}", e))
            })
        })
    }
}

/// Decodes the next LDAP message of a connection with a SASL security
/// layer (RFC 4422 §3.7): `buf` holds what was read from the socket, a
/// sequence of wrapped buffers, each a four-octet big-endian length and
/// that many octets; `plain` holds unwrapped octets not decoded yet.
///
/// A wrapped buffer may carry several LDAP messages, and a message may
/// span buffers (the server wraps a stream of octets, e.g. Samba packs
/// a search entry and its result into one buffer): messages are decoded
/// from `plain` first, and the next buffer is unwrapped (`unwrap` is
/// given its length and `buf` starting at it, and splits it off) only
/// when `plain` holds no complete message. Nothing unwrapped is ever
/// dropped, whatever else the same read brought.
#[cfg(feature = "gssapi")]
#[allow(clippy::type_complexity)]
fn decode_sasl<F>(
    plain: &mut BytesMut,
    buf: &mut BytesMut,
    mut unwrap: F,
) -> Result<Option<(RequestId, (Tag, Vec<Control>))>, io::Error>
where
    F: FnMut(usize, &mut BytesMut) -> Result<BytesMut, io::Error>,
{
    const U32_SIZE: usize = std::mem::size_of::<u32>();

    loop {
        if !plain.is_empty() {
            if let Some(item) = decode_inner(plain)? {
                return Ok(Some(item));
            }
        }
        if buf.len() < U32_SIZE {
            return Ok(None);
        }
        let sasl_len = u32::from_be_bytes(buf[0..U32_SIZE].try_into().unwrap()) as usize;
        if buf.len() - U32_SIZE < sasl_len {
            return Ok(None);
        }
        buf.advance(U32_SIZE);
        let decoded = unwrap(sasl_len, buf)?;
        plain.extend_from_slice(&decoded);
    }
}

#[cfg(not(feature = "gssapi"))]
#[inline]
fn maybe_wrap(
    _codec: &mut LdapCodec,
    message: impl FnOnce(&mut BytesMut),
    into: &mut BytesMut,
) -> io::Result<()> {
    message(into);
    Ok(())
}

#[cfg(feature = "gssapi")]
fn maybe_wrap(
    codec: &mut LdapCodec,
    message: impl FnOnce(&mut BytesMut),
    into: &mut BytesMut,
) -> io::Result<()> {
    let (sasl_wrap, sasl_send_max) = {
        let sasl_param = codec.sasl_param.read().expect("sasl param");
        (sasl_param.0, sasl_param.1)
    };
    // (roster) Written straight into the send buffer unless it is to be
    // wrapped (one buffer and one copy less a request).
    if !sasl_wrap {
        message(into);
        return Ok(());
    }
    let mut out_buf = BytesMut::new();
    message(&mut out_buf);
    {
        let client_opt = &mut *codec.client_ctx.lock().expect("client_ctx lock");
        let client_ctx = client_opt.as_mut().expect("client Option mut ref");
        if sasl_send_max > 0 && out_buf.len() > sasl_send_max as usize {
            return Err(io::Error::new(
                io::ErrorKind::Other,
                format!(
                    "buffer too large for GSSAPI: {} > {}",
                    out_buf.len(),
                    sasl_send_max
                ),
            ));
        }
        let sasl_buf = client_ctx.wrap(true, &out_buf).map_err(|e| {
            io::Error::new(io::ErrorKind::Other, format!("gss_wrap error: {:#}", e))
        })?;
        let sasl_len = (sasl_buf.len() as u32).to_be_bytes();
        into.extend(&sasl_len);
        into.extend(&*sasl_buf);
    }
    Ok(())
}

/// (roster) An operation's request as handed to the connection's task:
/// a `Tag` to encode, or the protocolOp already encoded (a search request,
/// written directly by `ber_write::search_request`).
#[derive(Debug)]
pub enum Outgoing {
    /// The protocolOp as a tag.
    Tag(Tag),
    /// The protocolOp's octets, identifier and length included.
    Encoded(BytesMut),
}

impl Encoder<(RequestId, Outgoing, MaybeControls)> for LdapCodec {
    type Error = io::Error;

    fn encode(
        &mut self,
        msg: (RequestId, Outgoing, MaybeControls),
        into: &mut BytesMut,
    ) -> io::Result<()> {
        let (id, op, controls) = msg;
        let tag = match op {
            Outgoing::Tag(tag) => tag,
            Outgoing::Encoded(op) => {
                let controls = controls.map(controls_tag);
                return maybe_wrap(
                    self,
                    |buf| crate::ber_write::encode_message(buf, id, &op, controls.as_ref()),
                    into,
                );
            }
        };
        let outstruct = {
            let mut msg = vec![
                Tag::Integer(Integer {
                    inner: id as i64,
                    ..Default::default()
                }),
                tag,
            ];
            if let Some(controls) = controls {
                msg.push(controls_tag(controls));
            }
            Tag::Sequence(Sequence {
                inner: msg,
                ..Default::default()
            })
        };
        maybe_wrap(
            self,
            |buf| crate::ber_write::encode_into(buf, &outstruct),
            into,
        )
    }
}

/// The `[0] Controls` of a message.
fn controls_tag(controls: Vec<RawControl>) -> Tag {
    Tag::StructureTag(StructureTag {
        id: 0,
        class: TagClass::Context,
        payload: PL::C(controls.into_iter().map(build_tag).collect()),
    })
}

#[cfg(test)]
mod encoder_tests {
    use super::*;
    use crate::controls::{MakeCritical, PagedResults};

    fn codec() -> LdapCodec {
        LdapCodec {
            #[cfg(feature = "gssapi")]
            sasl_plain: BytesMut::new(),
            #[cfg(feature = "gssapi")]
            sasl_param: Arc::new(RwLock::new((false, 0))),
            #[cfg(feature = "gssapi")]
            client_ctx: Arc::new(Mutex::new(None)),
        }
    }

    /// (roster) A search request handed over as its octets is sent as the
    /// same message as when handed over as a `Tag`, its controls (the
    /// paged-results control every roster search carries) included, with
    /// and without them and at message IDs of every size.
    #[test]
    fn a_request_sent_as_octets_is_the_message_sent_as_a_tag() {
        let filter = crate::parse_filter("(&(objectClass=posixAccount)(uid=alice))").unwrap();
        let attrs: Vec<String> = (0..40).map(|i| format!("attribute{i}")).collect();
        let tag = crate::ber_write::tests::search_request_tag(
            "ou=people,dc=example,dc=test",
            2,
            0,
            0,
            0,
            false,
            filter.clone(),
            &attrs,
        );
        let octets = crate::ber_write::search_request(
            "ou=people,dc=example,dc=test",
            2,
            0,
            0,
            0,
            false,
            &filter,
            &attrs,
        );
        let controls = || {
            Some(vec![RawControl::from(
                PagedResults {
                    size: 500,
                    cookie: b"cookie".to_vec(),
                }
                .critical(),
            )])
        };
        for id in [1, 127, 128, 70_000, i32::MAX] {
            for with_controls in [false, true] {
                let ctrl = || if with_controls { controls() } else { None };
                let mut want = BytesMut::new();
                codec()
                    .encode((id, Outgoing::Tag(tag.clone()), ctrl()), &mut want)
                    .unwrap();
                let mut got = BytesMut::new();
                codec()
                    .encode((id, Outgoing::Encoded(octets.clone()), ctrl()), &mut got)
                    .unwrap();
                assert!(want.len() > 300, "a message of long-form lengths");
                assert_eq!(got, want, "id {id}, controls {with_controls}");
            }
        }
    }
}

#[cfg(all(test, feature = "gssapi"))]
mod sasl_tests {
    use super::*;

    /// A SearchResultEntry of message `id` (DN `c=x`, no attributes).
    fn entry(id: u8) -> Vec<u8> {
        vec![
            0x30, 0x0c, 0x02, 0x01, id, 0x64, 0x07, 0x04, 0x03, b'c', b'=', b'x', 0x30, 0x00,
        ]
    }

    /// A SearchResultDone (success) of message `id`.
    fn done(id: u8) -> Vec<u8> {
        vec![
            0x30, 0x0c, 0x02, 0x01, id, 0x65, 0x07, 0x0a, 0x01, 0x00, 0x04, 0x00, 0x04, 0x00,
        ]
    }

    /// `payload` as one wrapped buffer of an identity security layer.
    fn wrapped(payload: &[u8]) -> Vec<u8> {
        let mut out = (payload.len() as u32).to_be_bytes().to_vec();
        out.extend_from_slice(payload);
        out
    }

    /// The identity security layer: the buffer's octets as they are.
    fn identity(len: usize, buf: &mut BytesMut) -> Result<BytesMut, io::Error> {
        Ok(buf.split_to(len))
    }

    /// Every message decodable from `plain` and `buf`: (message ID, op tag).
    fn drain(plain: &mut BytesMut, buf: &mut BytesMut) -> Vec<(i32, u64)> {
        let mut out = Vec::new();
        while let Some((id, (tag, _))) = decode_sasl(plain, buf, identity).expect("decodes") {
            match tag {
                Tag::StructureTag(t) => out.push((id, t.id)),
                _ => panic!("not a structure"),
            }
        }
        out
    }

    #[test]
    fn several_messages_in_a_buffer_followed_by_another_buffer_are_all_decoded() {
        // One read: a buffer with an entry and the result of search 2 (as
        // Samba sends them), then a buffer with search 3's entry and result.
        let mut first = entry(2);
        first.extend(done(2));
        let mut second = entry(3);
        second.extend(done(3));
        let mut buf = BytesMut::from(&wrapped(&first)[..]);
        buf.extend_from_slice(&wrapped(&second));
        let mut plain = BytesMut::new();
        assert_eq!(
            drain(&mut plain, &mut buf),
            vec![(2, 4), (2, 5), (3, 4), (3, 5)]
        );
        assert!(buf.is_empty() && plain.is_empty());
    }

    #[test]
    fn a_message_split_across_buffers_and_reads_is_decoded_once_complete() {
        let mut stream = entry(4);
        stream.extend(done(4));
        let (a, b) = stream.split_at(20);
        let (wa, wb) = (wrapped(a), wrapped(b));
        let mut plain = BytesMut::new();
        // The first buffer and half of the second's length: the entry only.
        let mut buf = BytesMut::from(&wa[..]);
        buf.extend_from_slice(&wb[..2]);
        assert_eq!(drain(&mut plain, &mut buf), vec![(4, 4)]);
        // The rest of the second buffer but its last octet: nothing yet.
        buf.extend_from_slice(&wb[2..wb.len() - 1]);
        assert_eq!(drain(&mut plain, &mut buf), vec![]);
        buf.extend_from_slice(&wb[wb.len() - 1..]);
        assert_eq!(drain(&mut plain, &mut buf), vec![(4, 5)]);
        assert!(buf.is_empty() && plain.is_empty());
    }

    #[test]
    fn an_unwrap_failure_is_an_error() {
        let mut buf = BytesMut::from(&wrapped(&done(5))[..]);
        let mut plain = BytesMut::new();
        let res = decode_sasl(&mut plain, &mut buf, |_, _| {
            Err(io::Error::new(io::ErrorKind::Other, "bad token"))
        });
        assert!(res.is_err());
    }
}
