//! Windows security identifiers (SIDs): string form, binary `objectSid`
//! form, domain/RID split and the RFC 4515 escaped filter form.

use std::fmt;
use std::str::FromStr;

/// Most sub-authorities a SID may carry (MS-DTYP 2.4.2).
pub const MAX_SUB_AUTHORITIES: usize = 15;

/// Largest identifier authority: it is a 48-bit number.
const MAX_AUTHORITY: u64 = (1 << 48) - 1;

/// Longest excerpt of bad input quoted in an error message.
const QUOTE_MAX: usize = 80;

/// Why a SID could not be parsed or built.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SidError {
    /// The input was empty.
    #[error("empty SID")]
    Empty,
    /// The string form does not start with `S-`.
    #[error("SID {input:?} does not start with \"S-\"")]
    MissingPrefix {
        /// The input (shortened).
        input: String,
    },
    /// The revision is not 1.
    #[error("SID {input:?}: revision {revision} is not supported (only revision 1 exists)")]
    BadRevision {
        /// The input (shortened; empty for the binary form).
        input: String,
        /// The revision found.
        revision: u64,
    },
    /// The string form lacks the identifier authority (`S-1`).
    #[error("SID {input:?} has no identifier authority")]
    MissingAuthority {
        /// The input (shortened).
        input: String,
    },
    /// A part of the string form is empty or holds a non-digit.
    #[error("SID {input:?}: part {index} ({part:?}) is not a number")]
    NotNumeric {
        /// The input (shortened).
        input: String,
        /// 0-based index of the dash-separated part (0 is `S`).
        index: usize,
        /// The offending part (shortened).
        part: String,
    },
    /// A part of the string form is larger than its field allows.
    #[error("SID {input:?}: part {index} ({part:?}) is larger than {max}")]
    Overflow {
        /// The input (shortened).
        input: String,
        /// 0-based index of the dash-separated part.
        index: usize,
        /// The offending part (shortened).
        part: String,
        /// The largest value the field holds.
        max: u64,
    },
    /// More than 15 sub-authorities.
    #[error("SID {input:?} has {count} sub-authorities; at most 15 are allowed")]
    TooManySubAuthorities {
        /// The input (shortened; empty for the binary form).
        input: String,
        /// How many were given or declared.
        count: usize,
    },
    /// The binary form is shorter than its header says.
    #[error("binary SID truncated: {needed} bytes needed, {got} given")]
    Truncated {
        /// Bytes the header calls for.
        needed: usize,
        /// Bytes present.
        got: usize,
    },
    /// The binary form is longer than its header says.
    #[error("binary SID has {extra} bytes after its declared end at {len} bytes")]
    TrailingBytes {
        /// Length the header calls for.
        len: usize,
        /// Surplus bytes.
        extra: usize,
    },
    /// A RID was appended to a SID that already has 15 sub-authorities.
    #[error("SID {sid} already has 15 sub-authorities: no room for a RID")]
    Full {
        /// The SID that is full.
        sid: String,
    },
}

fn quote(s: &str) -> String {
    if s.len() <= QUOTE_MAX {
        return s.to_string();
    }
    let mut end = QUOTE_MAX;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &s[..end])
}

/// A security identifier: revision 1, a 48-bit identifier authority and up
/// to 15 32-bit sub-authorities. It is `Copy` and never allocates.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sid {
    authority: u64,
    count: u8,
    subs: [u32; MAX_SUB_AUTHORITIES],
}

impl std::hash::Hash for Sid {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        state.write_u64(self.authority | (u64::from(self.count) << 56));
        for s in self.sub_authorities() {
            state.write_u32(*s);
        }
    }
}

impl Sid {
    /// Builds a SID from its identifier authority and sub-authorities.
    pub fn new(authority: u64, sub_authorities: &[u32]) -> Result<Sid, SidError> {
        if sub_authorities.len() > MAX_SUB_AUTHORITIES {
            return Err(SidError::TooManySubAuthorities {
                input: String::new(),
                count: sub_authorities.len(),
            });
        }
        if authority > MAX_AUTHORITY {
            return Err(SidError::Overflow {
                input: String::new(),
                index: 2,
                part: authority.to_string(),
                max: MAX_AUTHORITY,
            });
        }
        let mut subs = [0u32; MAX_SUB_AUTHORITIES];
        subs[..sub_authorities.len()].copy_from_slice(sub_authorities);
        Ok(Sid {
            authority,
            count: sub_authorities.len() as u8,
            subs,
        })
    }

    /// The identifier authority (5 for `S-1-5-...`).
    pub fn authority(&self) -> u64 {
        self.authority
    }

    /// The sub-authorities, in order.
    pub fn sub_authorities(&self) -> &[u32] {
        &self.subs[..self.count as usize]
    }

    /// The last sub-authority (the RID of an account SID), if any.
    pub fn rid(&self) -> Option<u32> {
        self.sub_authorities().last().copied()
    }

    /// The SID without its last sub-authority (the domain SID of an account
    /// SID), if it has any sub-authority.
    pub fn domain(&self) -> Option<Sid> {
        self.split().map(|(d, _)| d)
    }

    /// Splits an account SID into its domain SID and RID.
    pub fn split(&self) -> Option<(Sid, u32)> {
        if self.count == 0 {
            return None;
        }
        let mut d = *self;
        d.count -= 1;
        let rid = d.subs[d.count as usize];
        d.subs[d.count as usize] = 0;
        Some((d, rid))
    }

    /// Appends a RID: the account SID `self-rid`.
    pub fn with_rid(&self, rid: u32) -> Result<Sid, SidError> {
        if self.count as usize >= MAX_SUB_AUTHORITIES {
            return Err(SidError::Full {
                sid: self.to_string(),
            });
        }
        let mut s = *self;
        s.subs[s.count as usize] = rid;
        s.count += 1;
        Ok(s)
    }

    /// True when `self` is `domain` followed by exactly one more
    /// sub-authority; returns that RID.
    pub fn rid_in(&self, domain: &Sid) -> Option<u32> {
        if self.count != domain.count + 1 || self.authority != domain.authority {
            return None;
        }
        let n = domain.count as usize;
        let same = self.subs[..n]
            .iter()
            .zip(&domain.subs[..n])
            .all(|(a, b)| a == b);
        same.then_some(self.subs[n])
    }

    /// True for `S-1-5-21-X-Y-Z`: the form of an Active Directory domain
    /// SID (what SSSD's `is_domain_sid` accepts).
    pub fn is_nt_domain_sid(&self) -> bool {
        self.authority == 5 && self.count == 4 && self.subs[0] == 21
    }

    /// Parses the binary form (`objectSid` as AD returns it). The slice
    /// must hold exactly one SID.
    pub fn from_bytes(bytes: &[u8]) -> Result<Sid, SidError> {
        if bytes.is_empty() {
            return Err(SidError::Empty);
        }
        if bytes.len() < 8 {
            return Err(SidError::Truncated {
                needed: 8,
                got: bytes.len(),
            });
        }
        if bytes[0] != 1 {
            return Err(SidError::BadRevision {
                input: String::new(),
                revision: u64::from(bytes[0]),
            });
        }
        let count = bytes[1] as usize;
        if count > MAX_SUB_AUTHORITIES {
            return Err(SidError::TooManySubAuthorities {
                input: String::new(),
                count,
            });
        }
        let len = 8 + 4 * count;
        if bytes.len() < len {
            return Err(SidError::Truncated {
                needed: len,
                got: bytes.len(),
            });
        }
        if bytes.len() > len {
            return Err(SidError::TrailingBytes {
                len,
                extra: bytes.len() - len,
            });
        }
        let mut authority = 0u64;
        for b in &bytes[2..8] {
            authority = (authority << 8) | u64::from(*b);
        }
        let mut subs = [0u32; MAX_SUB_AUTHORITIES];
        for (i, chunk) in bytes[8..len].chunks_exact(4).enumerate() {
            subs[i] = u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]);
        }
        Ok(Sid {
            authority,
            count: count as u8,
            subs,
        })
    }

    /// Length of the binary form in bytes.
    pub fn binary_len(&self) -> usize {
        8 + 4 * self.count as usize
    }

    /// The binary form: revision, count, 48-bit big-endian authority,
    /// little-endian sub-authorities.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut v = Vec::with_capacity(self.binary_len());
        v.push(1);
        v.push(self.count);
        v.extend_from_slice(&self.authority.to_be_bytes()[2..]);
        for s in self.sub_authorities() {
            v.extend_from_slice(&s.to_le_bytes());
        }
        v
    }

    /// The binary form escaped for an LDAP search filter (RFC 4515), e.g.
    /// `\01\05\00\00\00\00\00\05\15\00\00\00...`: use as
    /// `(objectSid=<this>)`.
    pub fn to_ldap_filter_value(&self) -> String {
        use std::fmt::Write;
        let bytes = self.to_bytes();
        let mut s = String::with_capacity(bytes.len() * 3);
        for b in bytes {
            let _ = write!(s, "\\{b:02x}");
        }
        s
    }
}

/// Parses an unsigned decimal number no larger than `max`.
fn parse_num(part: &str, max: u64) -> Result<u64, bool> {
    if part.is_empty() {
        return Err(false);
    }
    let mut v: u64 = 0;
    for b in part.bytes() {
        let d = b.wrapping_sub(b'0');
        if d > 9 {
            return Err(false);
        }
        v = match v.checked_mul(10).and_then(|v| v.checked_add(u64::from(d))) {
            Some(v) if v <= max => v,
            _ => return Err(true),
        };
    }
    Ok(v)
}

/// Parses a `0x`-prefixed hexadecimal authority no larger than 48 bits.
fn parse_hex(part: &str) -> Result<u64, bool> {
    let digits = &part[2..];
    if digits.is_empty() {
        return Err(false);
    }
    let mut v: u64 = 0;
    for b in digits.bytes() {
        let d = match b {
            b'0'..=b'9' => b - b'0',
            b'a'..=b'f' => b - b'a' + 10,
            b'A'..=b'F' => b - b'A' + 10,
            _ => return Err(false),
        };
        v = (v << 4) | u64::from(d);
        if v > MAX_AUTHORITY {
            return Err(true);
        }
    }
    Ok(v)
}

impl FromStr for Sid {
    type Err = SidError;

    fn from_str(input: &str) -> Result<Sid, SidError> {
        match parse_fast(input.as_bytes()) {
            Some(s) => Ok(s),
            None => parse_slow(input),
        }
    }
}

/// Reads a run of decimal digits at `b[i..]` no larger than `max`;
/// returns the value and the index after it.
#[inline]
fn digits(b: &[u8], mut i: usize, max: u64) -> Option<(u64, usize)> {
    let start = i;
    let mut v: u64 = 0;
    while i < b.len() {
        let d = b[i].wrapping_sub(b'0');
        if d > 9 {
            break;
        }
        if i - start >= 15 {
            return None;
        }
        v = v * 10 + u64::from(d);
        i += 1;
    }
    (i > start && v <= max).then_some((v, i))
}

/// One pass over well-formed input (`S-1-<decimal>-<u32>...`); `None`
/// sends anything unusual to [`parse_slow`], which names the fault.
#[inline]
fn parse_fast(b: &[u8]) -> Option<Sid> {
    if b.len() < 5 || (b[0] != b'S' && b[0] != b's') || b[1] != b'-' || b[2] != b'1' || b[3] != b'-'
    {
        return None;
    }
    let (authority, mut i) = digits(b, 4, MAX_AUTHORITY)?;
    let mut subs = [0u32; MAX_SUB_AUTHORITIES];
    let mut count = 0usize;
    while i < b.len() {
        if b[i] != b'-' || count == MAX_SUB_AUTHORITIES {
            return None;
        }
        let (v, next) = digits(b, i + 1, u64::from(u32::MAX))?;
        subs[count] = v as u32;
        count += 1;
        i = next;
    }
    Some(Sid {
        authority,
        count: count as u8,
        subs,
    })
}

/// The careful parser: slower, and says exactly what is wrong.
fn parse_slow(input: &str) -> Result<Sid, SidError> {
    {
        if input.is_empty() {
            return Err(SidError::Empty);
        }
        let b = input.as_bytes();
        if b.len() < 2 || !(b[0] == b'S' || b[0] == b's') || b[1] != b'-' {
            return Err(SidError::MissingPrefix {
                input: quote(input),
            });
        }
        let bad = |index: usize, part: &str, overflow: bool, max: u64| {
            if overflow {
                SidError::Overflow {
                    input: quote(input),
                    index,
                    part: quote(part),
                    max,
                }
            } else {
                SidError::NotNumeric {
                    input: quote(input),
                    index,
                    part: quote(part),
                }
            }
        };
        let mut parts = input[2..].split('-');
        let rev_part = parts.next().unwrap_or("");
        let revision = parse_num(rev_part, u64::from(u8::MAX))
            .map_err(|o| bad(1, rev_part, o, u64::from(u8::MAX)))?;
        if revision != 1 {
            return Err(SidError::BadRevision {
                input: quote(input),
                revision,
            });
        }
        let auth_part = parts.next().ok_or_else(|| SidError::MissingAuthority {
            input: quote(input),
        })?;
        let authority = if auth_part.starts_with("0x") || auth_part.starts_with("0X") {
            parse_hex(auth_part)
        } else {
            parse_num(auth_part, MAX_AUTHORITY)
        }
        .map_err(|o| bad(2, auth_part, o, MAX_AUTHORITY))?;
        let mut subs = [0u32; MAX_SUB_AUTHORITIES];
        let mut count = 0usize;
        for (i, part) in parts.enumerate() {
            if count == MAX_SUB_AUTHORITIES {
                return Err(SidError::TooManySubAuthorities {
                    input: quote(input),
                    count: count + 1 + input.split('-').skip(3 + i + 1).count(),
                });
            }
            let v = parse_num(part, u64::from(u32::MAX))
                .map_err(|o| bad(3 + i, part, o, u64::from(u32::MAX)))?;
            subs[count] = v as u32;
            count += 1;
        }
        Ok(Sid {
            authority,
            count: count as u8,
            subs,
        })
    }
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.authority >> 32 == 0 {
            write!(f, "S-1-{}", self.authority)?;
        } else {
            write!(f, "S-1-0x{:012X}", self.authority)?;
        }
        for s in self.sub_authorities() {
            write!(f, "-{s}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Sid({self})")
    }
}

impl serde::Serialize for Sid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for Sid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Sid, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_domain_account_sid() {
        let s: Sid = "S-1-5-21-3623811015-3361044348-30300820-1013"
            .parse()
            .unwrap();
        assert_eq!(s.authority(), 5);
        assert_eq!(
            s.sub_authorities(),
            &[21, 3623811015, 3361044348, 30300820, 1013]
        );
        assert_eq!(
            s.to_string(),
            "S-1-5-21-3623811015-3361044348-30300820-1013"
        );
        let (d, rid) = s.split().unwrap();
        assert_eq!(rid, 1013);
        assert_eq!(d.to_string(), "S-1-5-21-3623811015-3361044348-30300820");
        assert!(d.is_nt_domain_sid());
        assert_eq!(s.rid_in(&d), Some(1013));
        assert_eq!(d.with_rid(1013).unwrap(), s);
    }

    #[test]
    fn binary_form_matches_known_bytes() {
        let s: Sid = "S-1-5-21-1-2-3-500".parse().unwrap();
        let b = s.to_bytes();
        assert_eq!(
            b,
            vec![
                1, 5, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 0, 0xf4, 1,
                0, 0
            ]
        );
        assert_eq!(Sid::from_bytes(&b).unwrap(), s);
        assert_eq!(
            s.to_ldap_filter_value(),
            "\\01\\05\\00\\00\\00\\00\\00\\05\\15\\00\\00\\00\\01\\00\\00\\00\\02\\00\\00\\00\\03\\00\\00\\00\\f4\\01\\00\\00"
        );
    }

    #[test]
    fn large_authority_uses_hex() {
        let s = Sid::new(0x1234_5678_9abc, &[7]).unwrap();
        assert_eq!(s.to_string(), "S-1-0x123456789ABC-7");
        assert_eq!("S-1-0x123456789abc-7".parse::<Sid>().unwrap(), s);
        assert_eq!(
            format!("S-1-{}-7", 0x1234_5678_9abcu64)
                .parse::<Sid>()
                .unwrap(),
            s
        );
    }

    #[test]
    fn well_known_sids_without_rid_domain() {
        let s: Sid = "S-1-5".parse().unwrap();
        assert_eq!(s.sub_authorities(), &[] as &[u32]);
        assert_eq!(s.split(), None);
        assert_eq!(s.rid(), None);
        assert_eq!("S-1-1-0".parse::<Sid>().unwrap().rid(), Some(0));
    }

    #[test]
    fn string_errors_are_typed() {
        use SidError::*;
        let e = |s: &str| s.parse::<Sid>().unwrap_err();
        assert_eq!(e(""), Empty);
        assert!(matches!(e("X-1-5"), MissingPrefix { .. }));
        assert!(matches!(e("S-2-5-21"), BadRevision { revision: 2, .. }));
        assert!(matches!(e("S-1"), MissingAuthority { .. }));
        assert!(matches!(e("S-1-5-21-abc"), NotNumeric { index: 4, .. }));
        assert!(matches!(e("S-1-5-21-"), NotNumeric { index: 4, .. }));
        assert!(matches!(e("S-1-5--21"), NotNumeric { index: 3, .. }));
        assert!(matches!(e("S-1-5-21-+1"), NotNumeric { .. }));
        assert!(matches!(
            e("S-1-5-21-4294967296"),
            Overflow { index: 4, .. }
        ));
        assert!(matches!(
            e("S-1-5-21-99999999999999999999999"),
            Overflow { .. }
        ));
        assert!(matches!(
            e("S-1-281474976710656-1"),
            Overflow { index: 2, .. }
        ));
        assert!(matches!(
            e("S-1-0x1000000000000-1"),
            Overflow { index: 2, .. }
        ));
        assert!(matches!(e("S-1-0x-1"), NotNumeric { index: 2, .. }));
        assert!("S-1-999-1".parse::<Sid>().is_ok());
        let sixteen = format!("S-1-5{}", "-1".repeat(16));
        assert!(matches!(
            e(&sixteen),
            TooManySubAuthorities { count: 16, .. }
        ));
        let fifteen = format!("S-1-5{}", "-1".repeat(15));
        assert_eq!(fifteen.parse::<Sid>().unwrap().sub_authorities().len(), 15);
        let msg = e("S-1-5-21-abc").to_string();
        assert!(msg.contains("\"abc\""), "{msg}");
    }

    #[test]
    fn binary_errors_are_typed() {
        use SidError::*;
        assert_eq!(Sid::from_bytes(&[]), Err(Empty));
        assert!(matches!(
            Sid::from_bytes(&[1, 1, 0, 0]),
            Err(Truncated { needed: 8, got: 4 })
        ));
        assert!(matches!(
            Sid::from_bytes(&[2, 0, 0, 0, 0, 0, 0, 5]),
            Err(BadRevision { revision: 2, .. })
        ));
        assert!(matches!(
            Sid::from_bytes(&[1, 16, 0, 0, 0, 0, 0, 5]),
            Err(TooManySubAuthorities { count: 16, .. })
        ));
        assert!(matches!(
            Sid::from_bytes(&[1, 2, 0, 0, 0, 0, 0, 5, 21, 0, 0, 0, 1]),
            Err(Truncated {
                needed: 16,
                got: 13
            })
        ));
        assert!(matches!(
            Sid::from_bytes(&[1, 0, 0, 0, 0, 0, 0, 5, 9]),
            Err(TrailingBytes { len: 8, extra: 1 })
        ));
    }

    #[test]
    fn full_sid_has_no_room_for_rid() {
        let s = Sid::new(5, &[1; 15]).unwrap();
        assert!(matches!(s.with_rid(1), Err(SidError::Full { .. })));
        assert!(Sid::new(5, &[1; 16]).is_err());
    }
}
