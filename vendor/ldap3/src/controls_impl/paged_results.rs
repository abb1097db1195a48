use super::{ControlParser, MakeCritical, RawControl};

use bytes::BytesMut;

use crate::ber::parse_tag;
use lber::common::TagClass;
use lber::parse::parse_uint;
use lber::structures::{ASNTag, Integer, OctetString, Sequence, Tag};
use lber::universal::Types;
use lber::write;

/// Paged Results control ([RFC 2696](https://tools.ietf.org/html/rfc2696)).
///
/// This struct can be used both for requests and responses, although `size`
/// means different things in each case.
#[derive(Clone, Debug)]
pub struct PagedResults {
    /// For requests, desired page size. For responses, a server's estimate
    /// of the result set size, if non-zero.
    pub size: i32,
    /// Paging cookie.
    pub cookie: Vec<u8>,
}

pub const PAGED_RESULTS_OID: &str = "1.2.840.113556.1.4.319";

impl MakeCritical for PagedResults {}

impl From<PagedResults> for RawControl {
    fn from(pr: PagedResults) -> RawControl {
        let cookie_len = pr.cookie.len();
        let cval = Tag::Sequence(Sequence {
            inner: vec![
                Tag::Integer(Integer {
                    inner: pr.size as i64,
                    ..Default::default()
                }),
                Tag::OctetString(OctetString {
                    inner: pr.cookie,
                    ..Default::default()
                }),
            ],
            ..Default::default()
        })
        .into_structure();
        let mut buf = BytesMut::with_capacity(cookie_len + 16);
        write::encode_into(&mut buf, cval).expect("encoded");
        RawControl {
            ctype: PAGED_RESULTS_OID.to_owned(),
            crit: false,
            val: Some(Vec::from(&buf[..])),
        }
    }
}

impl PagedResults {
    /// (roster) The control's value, or `None` when it is not a sequence of
    /// an INTEGER and an OCTET STRING (`shape::check_controls` turns that
    /// into a decoding error of the message carrying it).
    pub(crate) fn read(val: &[u8]) -> Option<PagedResults> {
        let (_, tag) = parse_tag(val).ok()?;
        let mut comps = tag.expect_constructed()?.into_iter();
        let size = comps
            .next()?
            .match_class(TagClass::Universal)
            .and_then(|t| t.match_id(Types::Integer as u64))
            .and_then(|t| t.expect_primitive())?;
        let (_, size) = parse_uint(size.as_slice()).ok()?;
        let cookie = comps.next()?.expect_primitive()?;
        Some(PagedResults {
            size: size as i32,
            cookie,
        })
    }
}

impl ControlParser for PagedResults {
    /// Panics on a value [`PagedResults::read`] cannot read; a server's
    /// messages are checked before they are handed over (`shape`).
    fn parse(val: &[u8]) -> PagedResults {
        PagedResults::read(val).expect("paged results control value")
    }
}
