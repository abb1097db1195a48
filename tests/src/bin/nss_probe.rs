//! Asks the C library (and so the NSS modules `nsswitch.conf` names) a
//! sequence of lookups, one per line of stdin, and prints one answer line
//! per lookup, so that one process makes many lookups (the NSS module's
//! memory cache and connection stay warm, as in a long-lived program):
//!
//! - `pwnam NAME`, `pwuid UID`: `name:uid:gid`, or `-` when not found;
//! - `grnam NAME`, `grgid GID`: `name:gid:member,member` (members sorted);
//! - `initgroups NAME`: the sorted GIDs getgrouplist(3) adds.
//!
//! A failed lookup prints `error ERRNO`.

use std::ffi::{CStr, CString};
use std::io::{BufRead, Write};

const BUF: usize = 1 << 20;

fn cstr(p: *const libc::c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: a non-null, NUL-terminated string inside the buffer the C
    // library filled for this call.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

fn passwd(by: impl FnOnce(&mut libc::passwd, &mut [u8], &mut *mut libc::passwd) -> i32) -> String {
    // SAFETY: passwd is plain old data; all-zero is a valid value.
    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; BUF];
    let mut out: *mut libc::passwd = std::ptr::null_mut();
    let rc = by(&mut pw, &mut buf, &mut out);
    if rc != 0 {
        return format!("error {rc}");
    }
    if out.is_null() {
        return "-".into();
    }
    format!("{}:{}:{}", cstr(pw.pw_name), pw.pw_uid, pw.pw_gid)
}

fn group(by: impl FnOnce(&mut libc::group, &mut [u8], &mut *mut libc::group) -> i32) -> String {
    // SAFETY: group is plain old data; all-zero is a valid value.
    let mut gr: libc::group = unsafe { std::mem::zeroed() };
    let mut buf = vec![0u8; BUF];
    let mut out: *mut libc::group = std::ptr::null_mut();
    let rc = by(&mut gr, &mut buf, &mut out);
    if rc != 0 {
        return format!("error {rc}");
    }
    if out.is_null() {
        return "-".into();
    }
    let mut members = Vec::new();
    let mut p = gr.gr_mem;
    // SAFETY: gr_mem is a NULL-terminated array of strings in `buf`.
    unsafe {
        while !p.is_null() && !(*p).is_null() {
            members.push(cstr(*p));
            p = p.add(1);
        }
    }
    members.sort();
    format!("{}:{}:{}", cstr(gr.gr_name), gr.gr_gid, members.join(","))
}

/// GID no user has, given to getgrouplist as the base group and left out.
const NO_GID: u32 = 4_294_967_294;

fn initgroups(name: &CStr) -> String {
    let mut n: libc::c_int = 64;
    loop {
        let mut gids = vec![0 as libc::gid_t; n as usize];
        let asked = n;
        // SAFETY: `gids` holds `n` entries; getgrouplist writes at most `n`
        // and sets `n` to the number it needs.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), NO_GID, gids.as_mut_ptr(), &mut n) };
        if rc < 0 && n > asked {
            continue;
        }
        if rc < 0 {
            return "error getgrouplist".into();
        }
        gids.truncate(n as usize);
        gids.retain(|g| *g != NO_GID);
        gids.sort_unstable();
        gids.dedup();
        let list: Vec<String> = gids.iter().map(u32::to_string).collect();
        return list.join(",");
    }
}

fn answer(line: &str) -> String {
    let (op, arg) = line.split_once(' ').unwrap_or((line, ""));
    let Ok(name) = CString::new(arg) else {
        return "error nul".into();
    };
    let id = arg.parse::<u32>().ok();
    match (op, id) {
        // SAFETY (each call below): the record and buffer are ours and
        // live across the call; the length passed is the buffer's.
        ("pwnam", _) => passwd(|pw, buf, out| unsafe {
            libc::getpwnam_r(name.as_ptr(), pw, buf.as_mut_ptr().cast(), buf.len(), out)
        }),
        ("pwuid", Some(uid)) => passwd(|pw, buf, out| unsafe {
            libc::getpwuid_r(uid, pw, buf.as_mut_ptr().cast(), buf.len(), out)
        }),
        ("grnam", _) => group(|gr, buf, out| unsafe {
            libc::getgrnam_r(name.as_ptr(), gr, buf.as_mut_ptr().cast(), buf.len(), out)
        }),
        ("grgid", Some(gid)) => group(|gr, buf, out| unsafe {
            libc::getgrgid_r(gid, gr, buf.as_mut_ptr().cast(), buf.len(), out)
        }),
        ("initgroups", _) => initgroups(&name),
        _ => format!("error bad line {line:?}"),
    }
}

fn main() {
    let stdin = std::io::stdin();
    let mut out = std::io::stdout().lock();
    for line in stdin.lock().lines() {
        let line = line.expect("read stdin");
        let line = line.trim_end();
        if line.is_empty() {
            continue;
        }
        writeln!(out, "{}", answer(line)).expect("write stdout");
    }
}
