//! The exported `_nss_roster_*` functions glibc calls.
//!
//! Written by hand rather than with `libnss`'s macros, whose generated code
//! can unwind into C (no `catch_unwind`; `CString::new(..).expect` on a
//! string with a NUL; `Mutex::lock().unwrap()`), clears the whole buffer on
//! every call, and calls `realloc` in `initgroups_dyn` without checking for
//! NULL. Every body here runs inside `guarded`: a panic answers UNAVAIL.
//!
//! Process-wide state is limited to the configuration cache, the memory
//! cache mapping (read-only, fine to share with a forked child), the two
//! enumeration cursors, the retry stash and the kept connection; all are
//! only ever `try_lock`ed (a lock inherited locked across `fork` cannot
//! hang the child). Only the kept connection holds a descriptor, used only
//! by the process that made it ([`crate::kept`]).

use crate::answer::Answer;
use crate::backoff::{Backoff, DEFAULT_WINDOW};
use crate::config::ConfigCache;
use crate::enumerate::Cursor;
use crate::initgroups::append_gids;
use crate::kept::KeptConnection;
use crate::lookup::Lookup;
use crate::pack::{self, CBuf, PackError};
use crate::retry::RetryStash;
use libc::{c_char, c_int, c_long, gid_t, size_t, uid_t};
use libnss::interop::NssStatus;
use roster_proto::memcache::{GroupView, MemcacheReader, UserView};
use roster_proto::{Group, User};
use std::ffi::CStr;
use std::mem::MaybeUninit;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::{Mutex, MutexGuard, TryLockError};

static CONFIG: ConfigCache = ConfigCache::new();
static MEMCACHE: MemcacheReader = MemcacheReader::new();
static BACKOFF: Backoff = Backoff::new(DEFAULT_WINDOW);
static RETRY: RetryStash = RetryStash::new();
/// The connection this process keeps to rosterd between lookups.
static KEPT: KeptConnection = KeptConnection::new();
static USERS: Mutex<Cursor<User>> = Mutex::new(Cursor::new());
static GROUPS: Mutex<Cursor<Group>> = Mutex::new(Cursor::new());

/// The environment variable rosterd sets in its own process
/// ([`roster_proto::LOOP_GUARD_ENV`]) as a C string.
pub const LOOP_GUARD: &CStr = c"_ROSTER_NSS_LOOP_GUARD";

/// `DEFAULT_SOCKET_DIR/NSS_SOCKET_NAME`, spelled out so that the hot path
/// builds no path (a test checks it against roster_proto's constants).
const SOCKET_PATH: &str = "/run/roster/nss.sock";
/// `DEFAULT_SOCKET_DIR/nss.conf`.
const CONFIG_PATH: &str = "/run/roster/nss.conf";
/// `DEFAULT_SOCKET_DIR/MEMCACHE_FILE_NAME`.
const MEMCACHE_PATH: &str = "/run/roster/nss.mc";

extern "C" {
    /// glibc's `secure_getenv(3)` (not bound by the `libc` crate for
    /// glibc): NULL in a process that runs with more privileges than its
    /// caller (setuid, setgid, file capabilities: `AT_SECURE`).
    fn secure_getenv(name: *const c_char) -> *mut c_char;
}

/// True inside rosterd (or anything started with the guard set): the module
/// must not call the daemon, which could be the caller itself. Read with
/// `secure_getenv`, so that a user cannot set it for a setuid program
/// (`sudo`, `su`) and make directory groups vanish there.
fn loop_guard_set() -> bool {
    // SAFETY: secure_getenv with a valid NUL-terminated name; only the
    // NULL-ness of the result is used. It takes no lock (fork-safe).
    !unsafe { secure_getenv(LOOP_GUARD.as_ptr()) }.is_null()
}

/// Runs `f` with a lookup context for the system daemon, or answers
/// UNAVAIL at once under the loop guard.
pub(crate) fn with_lookup<T>(f: impl FnOnce(&Lookup<'_>) -> Answer<T>) -> Answer<T> {
    if loop_guard_set() {
        return Answer::Unavailable;
    }
    // (From the memory cache, which carries nss.conf's text: a new
    // process's first lookup maps that file anyway.)
    let config = CONFIG.get_carried(Path::new(CONFIG_PATH), &MEMCACHE, Path::new(MEMCACHE_PATH));
    f(&Lookup::new(&config, Path::new(SOCKET_PATH))
        .with_memcache(&MEMCACHE, Path::new(MEMCACHE_PATH))
        .with_backoff(&BACKOFF)
        .with_retry_stash(&RETRY)
        .with_kept_connection(&KEPT))
}

/// A status and the errno value that goes with it.
pub(crate) type Outcome = (NssStatus, c_int);

pub(crate) const NOT_FOUND: Outcome = (NssStatus::NotFound, libc::ENOENT);
pub(crate) const UNAVAILABLE: Outcome = (NssStatus::Unavail, libc::ENOENT);
pub(crate) const SUCCESS: Outcome = (NssStatus::Success, 0);

/// Runs a hook body; a panic becomes UNAVAIL, never an unwind into C.
/// `errnop` is written only when the status is not SUCCESS.
///
/// # Safety
/// `errnop` is NULL or valid for writes.
pub(crate) unsafe fn guarded(errnop: *mut c_int, body: impl FnOnce() -> Outcome) -> c_int {
    let (status, errno) = catch_unwind(AssertUnwindSafe(body)).unwrap_or(UNAVAILABLE);
    if status != NssStatus::Success && !errnop.is_null() {
        // SAFETY: non-NULL errnop is valid for writes (caller).
        unsafe { *errnop = errno };
    }
    status as c_int
}

/// Unwinds once inside `guarded` and returns what the guard made of it
/// (UNAVAIL, `*errnop` = ENOENT). Nothing in glibc calls it: it checks
/// that the module's own unwinder, linked statically (`nss/static_unwind.rs`),
/// catches a panic in a C program that never loaded `libgcc_s`
/// (the end-to-end test `modules_unwind`). `resume_unwind` takes the
/// panic's unwinding path without printing a panic message.
///
/// # Safety
/// `errnop` is NULL or valid for writes.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_unwind_selftest(errnop: *mut c_int) -> c_int {
    // SAFETY: errnop as the caller passes it (see above).
    unsafe { guarded(errnop, || std::panic::resume_unwind(Box::new(()))) }
}

/// The caller's name argument as UTF-8; anything else names no roster entry.
///
/// # Safety
/// `name` is NULL or a valid NUL-terminated string.
pub(crate) unsafe fn name_arg<'a>(name: *const c_char) -> Option<&'a str> {
    if name.is_null() {
        return None;
    }
    // SAFETY: non-NULL `name` is a valid C string (caller).
    unsafe { CStr::from_ptr(name) }.to_str().ok()
}

/// The caller's buffer as uninitialised bytes.
///
/// # Safety
/// `buf` is valid for writes of `buflen` bytes (or `buflen` is 0).
pub(crate) unsafe fn buffer<'a>(buf: *mut c_char, buflen: size_t) -> &'a mut [MaybeUninit<u8>] {
    if buf.is_null() || buflen == 0 {
        return &mut [];
    }
    // SAFETY: glibc passes a buffer of buflen writable bytes (caller).
    unsafe { std::slice::from_raw_parts_mut(buf.cast(), buflen.min(isize::MAX as usize)) }
}

fn pack_outcome(r: Result<(), PackError>) -> Outcome {
    match r {
        Ok(()) => SUCCESS,
        // glibc retries with a larger buffer on TRYAGAIN + ERANGE.
        Err(PackError::Range) => (NssStatus::TryAgain, libc::ERANGE),
        Err(PackError::Nul) => UNAVAILABLE,
    }
}

/// Fills glibc's passwd struct and buffer with `user`.
///
/// # Safety
/// `result` is NULL or valid; `buf`/`buflen` as for [`buffer`].
unsafe fn fill_user(
    user: &UserView<'_>,
    result: *mut libc::passwd,
    buf: *mut c_char,
    buflen: size_t,
) -> Outcome {
    // SAFETY: non-NULL result points to a struct passwd (caller).
    let Some(out) = (unsafe { result.as_mut() }) else {
        return UNAVAILABLE;
    };
    // SAFETY: buf/buflen describe the caller's buffer.
    let mut cbuf = CBuf::new(unsafe { buffer(buf, buflen) });
    pack_outcome(pack::passwd(user, out, &mut cbuf))
}

/// Fills glibc's group struct and buffer with `group`.
///
/// # Safety
/// `result` is NULL or valid; `buf`/`buflen` as for [`buffer`].
unsafe fn fill_group(
    group: &GroupView<'_>,
    result: *mut libc::group,
    buf: *mut c_char,
    buflen: size_t,
) -> Outcome {
    // SAFETY: non-NULL result points to a struct group (caller).
    let Some(out) = (unsafe { result.as_mut() }) else {
        return UNAVAILABLE;
    };
    // SAFETY: buf/buflen describe the caller's buffer.
    let mut cbuf = CBuf::new(unsafe { buffer(buf, buflen) });
    pack_outcome(pack::group(group, out, &mut cbuf))
}

/// True when the entry did not fit the caller's buffer (glibc retries
/// with a larger one).
fn too_small(o: &Outcome) -> bool {
    *o == (NssStatus::TryAgain, libc::ERANGE)
}

/// The outcome of a lookup whose found entry was already packed.
fn outcome(answer: Answer<Outcome>) -> Outcome {
    match answer {
        Answer::Found(o) => o,
        Answer::NotFound => NOT_FOUND,
        Answer::Unavailable => UNAVAILABLE,
    }
}

/// Takes an enumeration cursor without ever blocking.
fn cursor<T>(m: &Mutex<Cursor<T>>) -> Option<MutexGuard<'_, Cursor<T>>> {
    match m.try_lock() {
        Ok(g) => Some(g),
        Err(TryLockError::Poisoned(p)) => Some(p.into_inner()),
        Err(TryLockError::WouldBlock) => None,
    }
}

/// `getpwnam_r` backend.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getpwnam_r(
    name: *const c_char,
    result: *mut libc::passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            let Some(name) = name_arg(name) else {
                return NOT_FOUND;
            };
            outcome(with_lookup(|l| {
                l.user_by_name_with(name, |u| fill_user(u, result, buf, buflen))
            }))
        })
    }
}

/// `getpwuid_r` backend.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getpwuid_r(
    uid: uid_t,
    result: *mut libc::passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            outcome(with_lookup(|l| {
                l.user_by_uid_with(uid, |u| fill_user(u, result, buf, buflen))
            }))
        })
    }
}

/// `getgrnam_r` backend.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getgrnam_r(
    name: *const c_char,
    result: *mut libc::group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            let Some(name) = name_arg(name) else {
                return NOT_FOUND;
            };
            outcome(with_lookup(|l| {
                l.group_by_name_with(name, |g| fill_group(g, result, buf, buflen), too_small)
            }))
        })
    }
}

/// `getgrgid_r` backend.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getgrgid_r(
    gid: gid_t,
    result: *mut libc::group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            outcome(with_lookup(|l| {
                l.group_by_gid_with(gid, |g| fill_group(g, result, buf, buflen), too_small)
            }))
        })
    }
}

/// `initgroups`/`getgrouplist` backend: appends the user's supplementary
/// GIDs to glibc's array (`*groupsp`, `*start` used of `*size`), never
/// `skipgroup`, and at most `limit` in total when `limit > 0`.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_initgroups_dyn(
    user: *const c_char,
    skipgroup: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            let Some(name) = name_arg(user) else {
                return NOT_FOUND;
            };
            if start.is_null() || size.is_null() || groupsp.is_null() {
                return UNAVAILABLE;
            }
            let appended = with_lookup(|l| {
                l.groups_of_user_with(name, |gids| {
                    append_gids(&gids, skipgroup, start, size, groupsp, limit)
                })
            });
            match appended {
                Answer::Found(Ok(())) => SUCCESS,
                Answer::Found(Err(_)) => (NssStatus::TryAgain, libc::ENOMEM),
                Answer::NotFound => NOT_FOUND,
                Answer::Unavailable => UNAVAILABLE,
            }
        })
    }
}

/// `setpwent` backend: restarts the user enumeration.
#[no_mangle]
pub extern "C" fn _nss_roster_setpwent() -> c_int {
    // SAFETY: no errno pointer is written (NULL).
    unsafe { guarded(std::ptr::null_mut(), || rewind(&USERS)) }
}

/// `endpwent` backend: drops the enumeration state.
#[no_mangle]
pub extern "C" fn _nss_roster_endpwent() -> c_int {
    // SAFETY: as above.
    unsafe { guarded(std::ptr::null_mut(), || rewind(&USERS)) }
}

/// `setgrent` backend: restarts the group enumeration.
#[no_mangle]
pub extern "C" fn _nss_roster_setgrent() -> c_int {
    // SAFETY: as above.
    unsafe { guarded(std::ptr::null_mut(), || rewind(&GROUPS)) }
}

/// `endgrent` backend: drops the enumeration state.
#[no_mangle]
pub extern "C" fn _nss_roster_endgrent() -> c_int {
    // SAFETY: as above.
    unsafe { guarded(std::ptr::null_mut(), || rewind(&GROUPS)) }
}

fn rewind<T>(m: &Mutex<Cursor<T>>) -> Outcome {
    match cursor(m) {
        Some(mut c) => {
            c.rewind();
            SUCCESS
        }
        None => UNAVAILABLE,
    }
}

/// `getpwent_r` backend: the next user of the daemon's listing (empty when
/// the daemon has enumeration disabled).
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getpwent_r(
    result: *mut libc::passwd,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            let Some(mut c) = cursor(&USERS) else {
                return UNAVAILABLE;
            };
            let outcome = {
                let answer = c.current(|offset| with_lookup(|l| l.list_users(offset)));
                outcome(answer.map(|u| fill_user(&u.view(), result, buf, buflen)))
            };
            if outcome.0 == NssStatus::Success {
                c.advance();
            }
            outcome
        })
    }
}

/// `getgrent_r` backend: the next group of the daemon's listing.
///
/// # Safety
/// Called by glibc with valid arguments.
#[no_mangle]
pub unsafe extern "C" fn _nss_roster_getgrent_r(
    result: *mut libc::group,
    buf: *mut c_char,
    buflen: size_t,
    errnop: *mut c_int,
) -> c_int {
    // SAFETY: arguments as glibc passes them (caller).
    unsafe {
        guarded(errnop, || {
            let Some(mut c) = cursor(&GROUPS) else {
                return UNAVAILABLE;
            };
            let outcome = {
                let answer = c.current(|offset| with_lookup(|l| l.list_groups(offset)));
                outcome(answer.map(|g| fill_group(&g.view(), result, buf, buflen)))
            };
            if outcome.0 == NssStatus::Success {
                c.advance();
            }
            outcome
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loop_guard_name_matches_the_protocol_crate() {
        assert_eq!(LOOP_GUARD.to_str().unwrap(), roster_proto::LOOP_GUARD_ENV);
    }

    #[test]
    fn fixed_paths_match_the_protocol_crate() {
        use crate::config::CONFIG_FILE_NAME;
        use roster_proto::memcache::MEMCACHE_FILE_NAME;
        use roster_proto::{DEFAULT_SOCKET_DIR, NSS_SOCKET_NAME};
        let dir = Path::new(DEFAULT_SOCKET_DIR);
        assert_eq!(dir.join(NSS_SOCKET_NAME), Path::new(SOCKET_PATH));
        assert_eq!(dir.join(CONFIG_FILE_NAME), Path::new(CONFIG_PATH));
        assert_eq!(dir.join(MEMCACHE_FILE_NAME), Path::new(MEMCACHE_PATH));
    }

    #[test]
    fn a_panic_becomes_unavail_with_errno() {
        let mut errno = 0;
        // SAFETY: errno is a live local.
        let rc = unsafe { guarded(&mut errno, || panic!("boom")) };
        assert_eq!(rc, NssStatus::Unavail as c_int);
        assert_eq!(errno, libc::ENOENT);
    }

    #[test]
    fn erange_maps_to_tryagain() {
        assert_eq!(
            pack_outcome(Err(PackError::Range)),
            (NssStatus::TryAgain, libc::ERANGE)
        );
    }
}
