//! Asks the C library (and so the NSS modules `nsswitch.conf` names) a
//! sequence of lookups, one per line of stdin, and prints one answer line
//! per lookup, so that one process makes many lookups (the NSS module's
//! memory cache and connection stay warm, as in a long-lived program):
//!
//! - `pwnam NAME`, `pwuid UID`: `name:uid:gid`, or `-` when not found;
//! - `grnam NAME`, `grgid GID`: `name:gid:member,member` (members sorted);
//! - `initgroups NAME`: the sorted GIDs getgrouplist(3) adds.
//!
//! and a few steps that change the process around the NSS module's kept
//! connection:
//!
//! - `fork STEP;STEP…`: a child process takes the steps (`child ANSWER`
//!   each), the parent waits for it (`parent STATUS`);
//! - `closefds`: closes every descriptor from 3 up, as daemons do, and
//!   opens `/dev/null` (`reopened FD`: the lowest number, the module's
//!   socket's old one);
//! - `fd N`: what descriptor N refers to (`fd N TARGET`);
//! - `sockets`: how many sockets the process has open, with each one's
//!   descriptor and inode (`sockets N: FD=socket:[INODE] …`);
//! - `setuid ID`: drops to UID and GID `ID`, no supplementary groups
//!   (`uid ID`).
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

/// Runs a step that changes the process (see the module's doc), or
/// answers a lookup.
fn step(line: &str, out: &mut impl Write) -> String {
    let (op, arg) = line.split_once(' ').unwrap_or((line, ""));
    match op {
        "fork" => {
            out.flush().expect("flush stdout");
            // SAFETY: this program is single-threaded; the child only
            // looks up, writes and leaves with `_exit`.
            match unsafe { libc::fork() } {
                0 => {
                    for child_step in arg.split(';') {
                        let said = step(child_step, out);
                        let _ = writeln!(out, "child {said}");
                    }
                    let _ = out.flush();
                    // SAFETY: ends the child without running the parent's
                    // exit handlers twice.
                    unsafe { libc::_exit(0) }
                }
                pid if pid > 0 => {
                    let mut status = 0;
                    // SAFETY: waits for the child just forked.
                    unsafe { libc::waitpid(pid, &mut status, 0) };
                    format!("parent {status}")
                }
                _ => "error fork".into(),
            }
        }
        "closefds" => {
            for fd in 3..1024 {
                // SAFETY: closes descriptors this program does not use
                // (as a daemon's `closefrom` does); the module's socket
                // among them is what the step is about.
                unsafe { libc::close(fd) };
            }
            match std::fs::File::open("/dev/null") {
                Ok(f) => format!("reopened {}", std::os::fd::IntoRawFd::into_raw_fd(f)),
                Err(e) => format!("error {e}"),
            }
        }
        "fd" => match std::fs::read_link(format!("/proc/self/fd/{arg}")) {
            Ok(target) => format!("fd {arg} {}", target.display()),
            Err(_) => format!("fd {arg} closed"),
        },
        "sockets" => {
            let mut sockets: Vec<(u32, String)> = std::fs::read_dir("/proc/self/fd")
                .map(|d| {
                    d.filter_map(Result::ok)
                        .filter_map(|e| {
                            let target = std::fs::read_link(e.path()).ok()?;
                            let target = target.to_string_lossy().into_owned();
                            let fd = e.file_name().to_str()?.parse().ok()?;
                            target.starts_with("socket:").then_some((fd, target))
                        })
                        .collect()
                })
                .unwrap_or_default();
            sockets.sort_unstable();
            let list: Vec<String> = sockets.iter().map(|(fd, t)| format!("{fd}={t}")).collect();
            format!("sockets {}: {}", sockets.len(), list.join(" "))
        }
        "setuid" => {
            let Ok(id) = arg.parse::<u32>() else {
                return "error bad id".into();
            };
            // SAFETY: plain system calls with valid arguments (no groups).
            let rc = unsafe {
                (
                    libc::setgroups(0, std::ptr::null()),
                    libc::setgid(id),
                    libc::setuid(id),
                )
            };
            if rc == (0, 0, 0) {
                format!("uid {id}")
            } else {
                format!("error setuid {rc:?}")
            }
        }
        _ => answer(line),
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
        let said = step(line, &mut out);
        writeln!(out, "{said}").expect("write stdout");
    }
}
