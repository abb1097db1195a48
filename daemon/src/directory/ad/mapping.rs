//! Active Directory attribute rules as pure functions: names, SIDs
//! (`objectSid`, `primaryGroupID`, `tokenGroups`), `userAccountControl`,
//! FILETIME values and ranged attribute retrieval (`member;range=0-1499`).

use ldap3::SearchEntry;
use roster_idmap::Sid;

/// `userAccountControl` flag: the account is disabled.
pub(crate) const UF_ACCOUNTDISABLE: u32 = 0x2;
/// `userAccountControl` flag: the account is locked out.
pub(crate) const UF_LOCKOUT: u32 = 0x10;
/// `userAccountControl` flag: the password never expires.
pub(crate) const UF_DONT_EXPIRE_PASSWD: u32 = 0x10000;
/// Seconds between 1601-01-01 (FILETIME epoch) and 1970-01-01.
const FILETIME_EPOCH_OFFSET: i64 = 11_644_473_600;

/// The raw bytes of the first value of `attr` (case-insensitive): binary
/// values, or text values that happened to be valid UTF-8.
pub(crate) fn first_bytes<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a [u8]> {
    all_bytes(e, attr).into_iter().next()
}

/// The raw bytes of every value of `attr` (case-insensitive), binary or
/// text (ldap3 files a binary value that is valid UTF-8 under `attrs`).
pub(crate) fn all_bytes<'a>(e: &'a SearchEntry, attr: &str) -> Vec<&'a [u8]> {
    let mut out: Vec<&[u8]> = Vec::new();
    for (k, v) in &e.bin_attrs {
        if k.eq_ignore_ascii_case(attr) {
            out.extend(v.iter().map(|x| x.as_slice()));
        }
    }
    for (k, v) in &e.attrs {
        if k.eq_ignore_ascii_case(attr) {
            out.extend(v.iter().map(|x| x.as_bytes()));
        }
    }
    out
}

/// The first text value of `attr` (case-insensitive), if any.
pub fn text<'a>(e: &'a SearchEntry, attr: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(attr))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// The entry's `objectSid`.
pub(crate) fn object_sid(e: &SearchEntry) -> Result<Sid, String> {
    let raw = first_bytes(e, "objectSid").ok_or("missing required attribute objectSid")?;
    Sid::from_bytes(raw).map_err(|err| format!("objectSid is not a valid SID: {err}"))
}

/// The SIDs of a `tokenGroups` value list; invalid values are left out.
pub fn token_group_sids(e: &SearchEntry) -> Vec<Sid> {
    all_bytes(e, "tokenGroups")
        .into_iter()
        .filter_map(|b| Sid::from_bytes(b).ok())
        .collect()
}

/// The SID of a user's primary group: the domain SID with the RID from
/// `primaryGroupID`.
pub(crate) fn primary_group_sid(domain_sid: &Sid, primary_group_id: &str) -> Result<Sid, String> {
    let rid: u32 = primary_group_id
        .trim()
        .parse()
        .map_err(|_| format!("primaryGroupID {primary_group_id:?} is not a RID"))?;
    domain_sid
        .with_rid(rid)
        .map_err(|err| format!("primaryGroupID {rid}: {err}"))
}

/// `userAccountControl` as flags (AD writes it as a signed 32-bit number).
pub(crate) fn uac_flags(v: &str) -> Option<u32> {
    v.trim().parse::<i64>().ok().map(|n| n as u32)
}

/// A FILETIME (100 ns since 1601-01-01) as Unix seconds; `None` for 0 and
/// 0x7FFFFFFFFFFFFFFF, which mean "never" in `accountExpires`.
pub(crate) fn filetime_to_unix(ft: i64) -> Option<i64> {
    if ft <= 0 || ft == i64::MAX {
        return None;
    }
    Some(ft / 10_000_000 - FILETIME_EPOCH_OFFSET)
}

/// The account state of an AD user entry, for PAM account management.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AdAccountState {
    /// `userAccountControl` has ACCOUNTDISABLE.
    pub disabled: bool,
    /// `userAccountControl` has LOCKOUT.
    pub locked: bool,
    /// `accountExpires` as Unix seconds (`None`: never).
    pub expires_at: Option<i64>,
    /// `pwdLastSet` is 0: the password must be changed at next logon.
    pub must_change: bool,
}

/// Reads [`AdAccountState`] from `userAccountControl`, `accountExpires`
/// and `pwdLastSet`; absent or malformed values count as "not set".
pub fn account_state(e: &SearchEntry) -> AdAccountState {
    let uac = text(e, "userAccountControl")
        .and_then(uac_flags)
        .unwrap_or(0);
    let expires_at = text(e, "accountExpires")
        .and_then(|v| v.trim().parse::<i64>().ok())
        .and_then(filetime_to_unix);
    let must_change = text(e, "pwdLastSet").map(str::trim) == Some("0");
    AdAccountState {
        disabled: uac & UF_ACCOUNTDISABLE != 0,
        locked: uac & UF_LOCKOUT != 0,
        expires_at,
        must_change,
    }
}

/// A ranged attribute description: `member;range=LOW-HIGH` or
/// `member;range=LOW-*` (`high` is `None` for the last window).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Range {
    /// First value index of the window.
    pub low: u32,
    /// Last value index, `None` when this window is the last one.
    pub high: Option<u32>,
}

/// Parses the attribute description `desc` when it is `base;range=L-H`
/// (case-insensitive); `None` for anything else.
pub fn parse_range(desc: &str, base: &str) -> Option<Range> {
    let (name, opts) = desc.split_once(';')?;
    if !name.eq_ignore_ascii_case(base) {
        return None;
    }
    let spec = opts.split(';').find_map(|o| {
        o.get(..6)
            .filter(|p| p.eq_ignore_ascii_case("range="))
            .map(|_| &o[6..])
    })?;
    let (low, high) = spec.split_once('-')?;
    let low = low.parse().ok()?;
    let high = match high {
        "*" => None,
        h => Some(h.parse().ok()?),
    };
    Some(Range { low, high })
}

/// One window of a ranged read of attribute `base`: its values and the
/// next window to ask for (`None` when complete). A plain `base`
/// attribute (the server sent everything) is complete.
pub fn range_window(e: &SearchEntry, base: &str) -> (Vec<String>, Option<u32>) {
    for (k, v) in &e.attrs {
        if k.eq_ignore_ascii_case(base) {
            return (v.clone(), None);
        }
        if let Some(r) = parse_range(k, base) {
            let next = r.high.and_then(|h| h.checked_add(1));
            return (v.clone(), next);
        }
    }
    (Vec::new(), None)
}

/// The account name in an input name: `name`, `name@realm` (UPN style,
/// `realm` or the domain's name) or `NETBIOS\name`. `None` when the input
/// is qualified with another domain.
pub fn short_input_name<'a>(
    input: &'a str,
    realm: &str,
    domain: &str,
    netbios: Option<&str>,
) -> Option<&'a str> {
    if let Some((dom, name)) = input.split_once('\\') {
        let ok = netbios.is_some_and(|n| n.eq_ignore_ascii_case(dom))
            || dom.eq_ignore_ascii_case(domain)
            || dom.eq_ignore_ascii_case(realm);
        return (ok && !name.is_empty()).then_some(name);
    }
    if let Some((name, dom)) = input.rsplit_once('@') {
        let ok = dom.eq_ignore_ascii_case(realm) || dom.eq_ignore_ascii_case(domain);
        return (ok && !name.is_empty()).then_some(name);
    }
    Some(input)
}

/// The name served for an AD account name: lower case (AD compares names
/// case-insensitively), whitespace replaced by `_` (`Domain Users` →
/// `domain_users`), and `@domain` appended when `qualified`.
pub fn output_name(sam: &str, qualified: bool, domain: &str) -> String {
    let short: String = sam
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .flat_map(char::to_lowercase)
        .collect();
    if qualified {
        format!("{short}@{domain}")
    } else {
        short
    }
}

/// The `sAMAccountName` values an input name may stand for: itself, and
/// with `_` read as a space (the reverse of [`output_name`]).
pub fn account_name_candidates(short: &str) -> Vec<String> {
    let mut v = vec![short.to_string()];
    if short.contains('_') {
        v.push(short.replace('_', " "));
    }
    v
}

#[cfg(test)]
mod tests;
