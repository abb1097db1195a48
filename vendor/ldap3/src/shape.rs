//! (roster) The shape of a message a server sends, checked where its frame
//! is read (`protocol::decode_tree`; a lone search entry, which it would
//! let through, is read by `ber::entry_message`), before anything else
//! reads it.
//!
//! The library's readers of results (`LdapResultExt::from`), references
//! (`parse_refs`) and controls (`parse_controls`, the paged-results
//! value) take what they expect out of the tree with `expect`. A message
//! they could not read made the connection's task, or the caller's,
//! panic. Checked here, such a message is a decoding error that says what
//! is wrong with it; the connection ends as it ends for any other
//! unreadable frame, and nothing that follows meets a shape it cannot
//! read. Search entries are not checked here: their reader
//! (`SearchEntry::read`) says what is wrong with one it cannot read, and
//! the caller decides (roster fails that search).

use lber::common::TagClass;
use lber::structure::{PL, StructureTag};
use lber::universal::Types;

use crate::controls_impl::PagedResults;
use crate::controls_impl::paged_results::PAGED_RESULTS_OID;

/// Why a message cannot be read.
pub(crate) type Wrong = String;

/// The protocol operations a server answers with: their application tag
/// and name (RFC 4511, 4.2 to 4.12).
const RESPONSES: &[(u64, &str)] = &[
    (1, "bind response"),
    (4, "search result entry"),
    (5, "search result done"),
    (7, "modify response"),
    (9, "add response"),
    (11, "delete response"),
    (13, "modify DN response"),
    (15, "compare response"),
    (19, "search result reference"),
    (24, "extended response"),
    (25, "intermediate response"),
];

/// The name of the response with application tag `id`, if a server may
/// send it.
pub(crate) fn response_name(id: u64) -> Option<&'static str> {
    RESPONSES
        .iter()
        .find(|(n, _)| *n == id)
        .map(|(_, name)| *name)
}

/// The part of a message a check is about, named in its error only (the
/// name is made when something is wrong: a message read correctly, as
/// every search's result is, costs no formatting).
#[derive(Clone, Copy)]
struct Part<'a> {
    /// The response it belongs to, when it names one.
    response: Option<&'a str>,
    /// The part itself.
    what: &'a str,
}

impl<'a> Part<'a> {
    /// `what`, on its own.
    fn plain(what: &'a str) -> Self {
        Part {
            response: None,
            what,
        }
    }

    /// `what` of the response called `response`.
    fn of(response: &'a str, what: &'a str) -> Self {
        Part {
            response: Some(response),
            what,
        }
    }
}

impl std::fmt::Display for Part<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.response {
            Some(r) => write!(f, "{r}: {}", self.what),
            None => f.write_str(self.what),
        }
    }
}

/// The children of a constructed value.
fn children<'a>(t: &'a StructureTag, what: Part<'_>) -> Result<&'a [StructureTag], Wrong> {
    match &t.payload {
        PL::C(c) => Ok(c),
        PL::P(_) => Err(format!("{what} is not constructed")),
    }
}

/// The octets of a primitive value.
fn octets<'a>(t: &'a StructureTag, what: Part<'_>) -> Result<&'a [u8], Wrong> {
    match &t.payload {
        PL::P(p) => Ok(p),
        PL::C(_) => Err(format!("{what} is not a primitive value")),
    }
}

/// A primitive value holding UTF-8 text.
fn text(t: &StructureTag, what: Part<'_>) -> Result<(), Wrong> {
    std::str::from_utf8(octets(t, what)?)
        .map(drop)
        .map_err(|_| format!("{what} is not UTF-8"))
}

/// A primitive universal value of type `ty`.
fn universal<'a>(t: &'a StructureTag, ty: Types, what: Part<'_>) -> Result<&'a [u8], Wrong> {
    if t.class != TagClass::Universal || t.id != ty as u64 {
        return Err(format!("{what} has the wrong type"));
    }
    octets(t, what)
}

/// The `n`th child, which must be there.
fn nth<'a>(c: &'a [StructureTag], n: usize, what: Part<'_>) -> Result<&'a StructureTag, Wrong> {
    c.get(n).ok_or_else(|| format!("{what} is missing"))
}

/// An LDAP message's protocol operation, as its readers take it apart.
pub(crate) fn check_op(op: &StructureTag) -> Result<(), Wrong> {
    if op.class != TagClass::Application {
        return Err("the protocol operation is not an application value".into());
    }
    let Some(name) = response_name(op.id) else {
        return Err(format!("protocol operation {} is not a response", op.id));
    };
    let at = |what| Part::of(name, what);
    match op.id {
        // An entry is read by `SearchEntry::read`, which says what is
        // wrong with one it cannot read; the caller decides what that
        // means for its search. (An intermediate response arrives as an
        // entry too.)
        4 | 25 => Ok(()),
        19 => {
            for uri in children(op, Part::plain(name))? {
                text(uri, at("a referral URI"))?;
            }
            Ok(())
        }
        _ => check_result(op, name),
    }
}

/// An LDAPResult (RFC 4511, 4.1.9), with the bind and extended responses'
/// own trailing values.
fn check_result(op: &StructureTag, name: &str) -> Result<(), Wrong> {
    let at = |what| Part::of(name, what);
    let c = children(op, Part::plain(name))?;
    let code = universal(
        nth(c, 0, at("result code"))?,
        Types::Enumerated,
        at("result code"),
    )?;
    // (The reader folds the octets into a number: no more than four.)
    if code.is_empty() || code.len() > 4 {
        return Err(at("result code is out of range").to_string());
    }
    text(nth(c, 1, at("matched DN"))?, at("matched DN"))?;
    text(nth(c, 2, at("diagnostic message"))?, at("diagnostic message"))?;
    for t in &c[3..] {
        match t.id {
            3 => {
                for uri in children(t, at("referral"))? {
                    text(uri, at("a referral URI"))?;
                }
            }
            7 => drop(octets(t, at("server SASL credentials"))?),
            10 => text(t, at("response name"))?,
            11 => drop(octets(t, at("response value"))?),
            _ => (),
        }
    }
    Ok(())
}

/// A message's controls (RFC 4511, 4.1.11), and the value of each
/// control the library reads itself (paged results).
pub(crate) fn check_controls(t: &StructureTag) -> Result<(), Wrong> {
    for ctrl in children(t, Part::plain("controls"))? {
        let c = children(ctrl, Part::plain("a control"))?;
        let oid = nth(c, 0, Part::plain("a control's type"))?;
        text(oid, Part::plain("a control's type"))?;
        let mut rest = c[1..].iter();
        let mut value = None;
        if let Some(next) = rest.next() {
            if next.class == TagClass::Universal && next.id == Types::Boolean as u64 {
                if octets(next, Part::plain("a control's criticality"))?.is_empty() {
                    return Err("a control's criticality is empty".into());
                }
                value = rest.next();
            } else if next.class == TagClass::Universal && next.id == Types::OctetString as u64 {
                value = Some(next);
            } else {
                return Err(
                    "a control has an element that is neither criticality nor value".into(),
                );
            }
        }
        let value = value.map(|v| octets(v, Part::plain("a control's value"))).transpose()?;
        if octets(oid, Part::plain("a control's type"))? == PAGED_RESULTS_OID.as_bytes() {
            let v = value.ok_or("the paged results control has no value")?;
            PagedResults::read(v).ok_or("the paged results control's value cannot be read")?;
        }
    }
    Ok(())
}
