//! The `netgroup` map: `_nss_roster_setnetgrent`, `_nss_roster_getnetgrent_r`
//! and `_nss_roster_endnetgrent`, which glibc's `setnetgrent(3)`,
//! `getnetgrent_r(3)`, `endnetgrent(3)` and `innetgr(3)` call.
//!
//! The daemon resolves nested netgroups (`memberNisNetgroup`), so the
//! module only ever hands glibc triples (`triple_val`), never a nested
//! group name (`group_val`) for glibc to chase.
//!
//! State between the calls lives where glibc keeps it for every source:
//! in the caller's `struct __netgrent` (`data`, `data_size`, `cursor`),
//! as glibc's own `files` source does. `setnetgrent` asks the daemon once
//! and stores every triple in one `malloc`ed block (`host\0user\0domain\0`
//! per triple); `getnetgrent_r` copies the next triple into the caller's
//! buffer; `endnetgrent` frees the block. No process-wide state of its
//! own (the daemon is asked over the process's kept connection,
//! [`crate::kept`]), nothing shared with a forked child.

use crate::answer::Answer;
use crate::hooks::{
    buffer, guarded, name_arg, with_lookup, Outcome, NOT_FOUND, SUCCESS, UNAVAILABLE,
};
use crate::pack::{CBuf, PackError};
use libc::{c_char, c_int, c_void, size_t};
use libnss::interop::NssStatus;
use roster_proto::Triple;

/// `enum { triple_val, group_val }` of glibc's `struct __netgrent`.
pub const TRIPLE_VAL: c_int = 0;

/// The three strings of a `triple_val` (`val.triple` in glibc).
#[repr(C)]
#[derive(Clone, Copy, Debug)]
pub struct TriplePtrs {
    /// Host, NULL for any.
    pub host: *const c_char,
    /// User, NULL for any.
    pub user: *const c_char,
    /// Domain, NULL for any.
    pub domain: *const c_char,
}

/// glibc's `struct __netgrent` (`inet/netgroup.h`, unchanged in layout
/// since glibc 2.3; nss-pam-ldapd carries the same copy). Only `type`,
/// `val`, `data`, `data_size` and `cursor` are touched here; the rest
/// belongs to glibc.
#[repr(C)]
#[derive(Debug)]
pub struct Netgrent {
    /// `triple_val` or `group_val`.
    pub kind: c_int,
    /// `val.triple` (`val.group` shares its first pointer).
    pub val: TriplePtrs,
    /// The source's private data (here: the packed triples).
    pub data: *mut c_char,
    /// Bytes in `data`.
    pub data_size: size_t,
    /// Where the next triple starts in `data`.
    pub cursor: *mut c_char,
    /// glibc's.
    pub first: c_int,
    /// glibc's nested-group bookkeeping.
    pub known_groups: *mut c_void,
    /// glibc's nested-group bookkeeping.
    pub needed_groups: *mut c_void,
    /// glibc's current service.
    pub nip: *mut c_void,
}

/// Packs triples as `host\0user\0domain\0` each; `None` when a field holds
/// a NUL byte (C cannot carry it).
pub fn pack_triples(triples: &[Triple]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in triples {
        for f in [&t.host, &t.user, &t.domain] {
            if f.as_bytes().contains(&0) {
                return None;
            }
            out.extend_from_slice(f.as_bytes());
            out.push(0);
        }
    }
    Some(out)
}

/// The triple that starts at `at` in `data` and where the next one starts;
/// `None` at the end (or when `data` is not what [`pack_triples`] made).
pub fn triple_at(data: &[u8], at: usize) -> Option<([&[u8]; 3], usize)> {
    let mut rest = data.get(at..)?;
    let mut next = at;
    let mut fields: [&[u8]; 3] = [&[]; 3];
    for f in &mut fields {
        let end = rest.iter().position(|&b| b == 0)?;
        *f = &rest[..end];
        rest = &rest[end + 1..];
        next += end + 1;
    }
    Some((fields, next))
}

/// Copies one field into the caller's buffer: NULL for an empty field
/// (glibc's "any"), else a pointer to the copy.
fn field(buf: &mut CBuf<'_>, f: &[u8]) -> Result<*const c_char, PackError> {
    if f.is_empty() {
        return Ok(std::ptr::null());
    }
    // Made by pack_triples from Strings: UTF-8 without NUL.
    let s = std::str::from_utf8(f).map_err(|_| PackError::Nul)?;
    Ok(buf.str(s)?.cast_const())
}

/// Frees the packed triples of `ng`, if any.
fn release(ng: &mut Netgrent) {
    if !ng.data.is_null() {
        // SAFETY: a non-NULL `data` was set by `_nss_roster_setnetgrent`
        // from libc::malloc and is freed once: it is cleared right after.
        unsafe { libc::free(ng.data.cast()) };
    }
    ng.data = std::ptr::null_mut();
    ng.data_size = 0;
    ng.cursor = std::ptr::null_mut();
}

/// `setnetgrent` backend: asks the daemon for the netgroup `group` and
/// keeps its triples in `result` for `getnetgrent_r`.
///
/// # Safety
/// Called by glibc: `group` is NULL or a C string, `result` NULL or a
/// valid `struct __netgrent` whose `data` is NULL or ours.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_setnetgrent(
    group: *const c_char,
    result: *mut Netgrent,
) -> c_int {
    let body = || {
        // SAFETY: non-NULL result points to a struct __netgrent (caller).
        let Some(ng) = (unsafe { result.as_mut() }) else {
            return UNAVAILABLE;
        };
        // glibc asserts `data` is NULL here; free a block of ours in
        // case a caller skipped endnetgrent.
        release(ng);
        // SAFETY: group is NULL or a C string (caller).
        let Some(name) = (unsafe { name_arg(group) }) else {
            return NOT_FOUND;
        };
        let netgroup = match with_lookup(|l| l.netgroup(name)) {
            Answer::Found(n) => n,
            Answer::NotFound => return NOT_FOUND,
            Answer::Unavailable => return UNAVAILABLE,
        };
        let Some(packed) = pack_triples(&netgroup.triples) else {
            return UNAVAILABLE;
        };
        // SAFETY: malloc of at least one byte; checked for NULL below.
        let p: *mut c_char = unsafe { libc::malloc(packed.len().max(1)) }.cast();
        if p.is_null() {
            return (NssStatus::TryAgain, libc::ENOMEM);
        }
        // SAFETY: `p` holds at least packed.len() bytes, fresh, not
        // overlapping `packed`.
        unsafe { std::ptr::copy_nonoverlapping(packed.as_ptr().cast(), p, packed.len()) };
        ng.data = p;
        ng.data_size = packed.len();
        ng.cursor = p;
        ng.kind = TRIPLE_VAL;
        SUCCESS
    };
    // SAFETY: no errno to write (NULL is allowed).
    unsafe { guarded(std::ptr::null_mut(), body) }
}

/// `getnetgrent_r` backend: the next triple, its strings copied into
/// `buffer` (TRYAGAIN with `ERANGE` when it does not fit; the same triple
/// comes next time); RETURN after the last one.
///
/// # Safety
/// Called by glibc with the `result` `setnetgrent` filled, `buffer` valid
/// for `buflen` bytes, `errnop` valid.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getnetgrent_r(
    result: *mut Netgrent,
    buffer_ptr: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    let body = || {
        // SAFETY: non-NULL result points to a struct __netgrent (caller).
        let Some(ng) = (unsafe { result.as_mut() }) else {
            return UNAVAILABLE;
        };
        const END: Outcome = (NssStatus::Return, libc::ENOENT);
        if ng.data.is_null() || ng.cursor.is_null() {
            return END;
        }
        // SAFETY: `data` holds `data_size` bytes (set by setnetgrent).
        let data = unsafe { std::slice::from_raw_parts(ng.data.cast::<u8>(), ng.data_size) };
        let at = (ng.cursor as usize).wrapping_sub(ng.data as usize);
        let Some(([host, user, domain], next)) = triple_at(data, at) else {
            return END;
        };
        // SAFETY: buffer_ptr/buflen describe the caller's buffer.
        let mut buf = CBuf::new(unsafe { buffer(buffer_ptr, buflen) });
        let packed = (|| {
            Ok::<_, PackError>(TriplePtrs {
                host: field(&mut buf, host)?,
                user: field(&mut buf, user)?,
                domain: field(&mut buf, domain)?,
            })
        })();
        match packed {
            Ok(ptrs) => {
                ng.kind = TRIPLE_VAL;
                ng.val = ptrs;
                // SAFETY: next <= data_size: inside the block or one
                // past its end.
                ng.cursor = unsafe { ng.data.add(next) };
                SUCCESS
            }
            Err(PackError::Range) => (NssStatus::TryAgain, libc::ERANGE),
            Err(PackError::Nul) => UNAVAILABLE,
        }
    };
    // SAFETY: errnop is NULL or valid for writes (caller).
    unsafe { guarded(errnop, body) }
}

/// `endnetgrent` backend: frees what `setnetgrent` kept.
///
/// # Safety
/// Called by glibc with NULL or the `result` given to `setnetgrent`.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_endnetgrent(result: *mut Netgrent) -> c_int {
    let body = || {
        // SAFETY: non-NULL result points to a struct __netgrent (caller).
        if let Some(ng) = unsafe { result.as_mut() } {
            release(ng);
        }
        SUCCESS
    };
    // SAFETY: no errno to write (NULL is allowed).
    unsafe { guarded(std::ptr::null_mut(), body) }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(h: &str, u: &str, d: &str) -> Triple {
        Triple {
            host: h.into(),
            user: u.into(),
            domain: d.into(),
        }
    }

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn the_struct_has_glibcs_layout() {
        // x86_64 / aarch64 glibc: type@0, val@8, data@32, data_size@40,
        // cursor@48, first@56, known_groups@64, needed_groups@72, nip@80.
        assert_eq!(std::mem::offset_of!(Netgrent, val), 8);
        assert_eq!(std::mem::offset_of!(Netgrent, data), 32);
        assert_eq!(std::mem::offset_of!(Netgrent, data_size), 40);
        assert_eq!(std::mem::offset_of!(Netgrent, cursor), 48);
        assert_eq!(std::mem::offset_of!(Netgrent, nip), 80);
        assert_eq!(std::mem::size_of::<Netgrent>(), 88);
    }

    #[test]
    fn packed_triples_read_back_in_order() {
        let ts = [t("h1", "", "d"), t("", "", ""), t("-", "bob", "")];
        let data = pack_triples(&ts).unwrap();
        let mut at = 0;
        let mut got = Vec::new();
        while let Some((f, next)) = triple_at(&data, at) {
            got.push(f.map(|b| String::from_utf8(b.to_vec()).unwrap()));
            at = next;
        }
        assert_eq!(at, data.len());
        let want: Vec<[String; 3]> = ts
            .iter()
            .map(|t| [t.host.clone(), t.user.clone(), t.domain.clone()])
            .collect();
        assert_eq!(got, want);
        assert!(triple_at(&data, data.len() + 5).is_none());
        assert!(triple_at(b"h\0u", 0).is_none());
        assert_eq!(pack_triples(&[t("a\0b", "", "")]), None);
    }

    fn empty() -> Netgrent {
        Netgrent {
            kind: 1,
            val: TriplePtrs {
                host: std::ptr::null(),
                user: std::ptr::null(),
                domain: std::ptr::null(),
            },
            data: std::ptr::null_mut(),
            data_size: 0,
            cursor: std::ptr::null_mut(),
            first: 0,
            known_groups: std::ptr::null_mut(),
            needed_groups: std::ptr::null_mut(),
            nip: std::ptr::null_mut(),
        }
    }

    fn cstr(p: *const c_char) -> Option<String> {
        // SAFETY: test pointers are NULL or point into the test's buffer.
        (!p.is_null()).then(|| {
            unsafe { std::ffi::CStr::from_ptr(p) }
                .to_str()
                .unwrap()
                .into()
        })
    }

    #[test]
    fn getnetgrent_walks_the_block_and_endnetgrent_frees_it() {
        let packed = pack_triples(&[t("h1", "", "x"), t("", "alice", "")]).unwrap();
        let mut ng = empty();
        // SAFETY: malloc'd like setnetgrent does; freed by endnetgrent.
        unsafe {
            let p: *mut c_char = libc::malloc(packed.len()).cast();
            std::ptr::copy_nonoverlapping(packed.as_ptr().cast(), p, packed.len());
            ng.data = p;
            ng.cursor = p;
            ng.data_size = packed.len();
        }
        let mut errno = 0;
        let mut small = [0 as c_char; 3];
        // SAFETY: valid struct, buffer and errno.
        let st = unsafe { _nss_roster_getnetgrent_r(&mut ng, small.as_mut_ptr(), 3, &mut errno) };
        assert_eq!((st, errno), (NssStatus::TryAgain as c_int, libc::ERANGE));
        let mut buf = [0 as c_char; 64];
        let mut got = Vec::new();
        loop {
            // SAFETY: as above.
            let st =
                unsafe { _nss_roster_getnetgrent_r(&mut ng, buf.as_mut_ptr(), 64, &mut errno) };
            if st != NssStatus::Success as c_int {
                assert_eq!(st, NssStatus::Return as c_int);
                break;
            }
            assert_eq!(ng.kind, TRIPLE_VAL);
            got.push((cstr(ng.val.host), cstr(ng.val.user), cstr(ng.val.domain)));
        }
        assert_eq!(
            got,
            vec![
                (Some("h1".into()), None, Some("x".into())),
                (None, Some("alice".into()), None)
            ]
        );
        // SAFETY: valid struct.
        assert_eq!(
            unsafe { _nss_roster_endnetgrent(&mut ng) },
            NssStatus::Success as c_int
        );
        assert!(ng.data.is_null() && ng.cursor.is_null() && ng.data_size == 0);
        // Twice, and on NULL: harmless.
        // SAFETY: valid struct / NULL.
        unsafe {
            _nss_roster_endnetgrent(&mut ng);
            _nss_roster_endnetgrent(std::ptr::null_mut());
        }
        // Without setnetgrent: the end at once.
        // SAFETY: valid struct and buffer.
        let st = unsafe { _nss_roster_getnetgrent_r(&mut ng, buf.as_mut_ptr(), 64, &mut errno) };
        assert_eq!(st, NssStatus::Return as c_int);
    }
}
