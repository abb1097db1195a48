//! Copies entries into the caller's buffer the way glibc expects: every
//! string NUL-terminated inside `buf`, the `struct passwd`/`struct group`
//! pointing into it. The struct is written only after everything fits, so a
//! too-small buffer (ERANGE) never leaves a half-filled entry.

use libc::c_char;
use roster_proto::memcache::{GroupView, UserView};
use std::mem::{align_of, size_of, MaybeUninit};

/// Why an entry could not be packed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PackError {
    /// The buffer is too small: answer TRYAGAIN with `ERANGE`.
    Range,
    /// A string holds a NUL byte and cannot be represented in C.
    Nul,
}

/// The password field roster serves: passwords never travel through NSS.
/// `*`, not `x`: pam_unix treats `x` as "look in /etc/shadow" and refuses
/// the account management of a user it cannot find there (as SSSD, roster
/// serves `*`).
const NO_PASSWORD: &str = "*";

/// A bump allocator over the caller's buffer.
pub struct CBuf<'a> {
    mem: &'a mut [MaybeUninit<u8>],
    used: usize,
}

impl<'a> CBuf<'a> {
    /// Wraps a caller-provided buffer.
    pub fn new(mem: &'a mut [MaybeUninit<u8>]) -> Self {
        CBuf { mem, used: 0 }
    }

    fn addr(&self, offset: usize) -> usize {
        self.mem.as_ptr() as usize + offset
    }

    /// Copies `s` and a terminating NUL; returns the C string's address.
    pub fn str(&mut self, s: &str) -> Result<*mut c_char, PackError> {
        let bytes = s.as_bytes();
        if bytes.contains(&0) {
            return Err(PackError::Nul);
        }
        self.cstr(bytes)
    }

    /// Copies `bytes`, which hold no NUL, and a terminating NUL; returns the
    /// C string's address.
    fn cstr(&mut self, bytes: &[u8]) -> Result<*mut c_char, PackError> {
        let start = self.used;
        let dst = self
            .mem
            .get_mut(start..)
            .and_then(|m| m.get_mut(..=bytes.len()))
            .ok_or(PackError::Range)?;
        let (body, nul) = dst.split_at_mut(bytes.len());
        // Slices of one length: a plain copy.
        for (d, s) in body.iter_mut().zip(bytes) {
            d.write(*s);
        }
        if let [nul] = nul {
            nul.write(0);
        }
        self.used = start + bytes.len() + 1;
        Ok(self.addr(start) as *mut c_char)
    }

    /// Writes a NULL-terminated array of pointers to copies of `group`'s
    /// members; returns the array's address (aligned for pointers). Whether
    /// the array and every name fit is known before anything is copied
    /// (glibc retries with a larger buffer after ERANGE: a miss costs no
    /// copying).
    pub fn member_array(&mut self, group: &GroupView<'_>) -> Result<*mut *mut c_char, PackError> {
        if group.has_nul_member() {
            return Err(PackError::Nul);
        }
        let count = group.member_count();
        let pad = self
            .addr(self.used)
            .next_multiple_of(align_of::<*mut c_char>())
            - self.addr(self.used);
        let start = self.used.checked_add(pad).ok_or(PackError::Range)?;
        let slots = count.checked_add(1).ok_or(PackError::Range)?;
        let end = slots
            .checked_mul(size_of::<*mut c_char>())
            .and_then(|n| n.checked_add(start))
            .ok_or(PackError::Range)?;
        // The names and their NULs follow the array.
        end.checked_add(group.members_len())
            .and_then(|n| n.checked_add(count))
            .filter(|&e| e <= self.mem.len())
            .ok_or(PackError::Range)?;
        if let Some((block, ends)) = group.member_block() {
            // A parsed record: its NUL-terminated names in one copy; the
            // first starts the block, each other where the one before ends.
            let names_addr = self.addr(end);
            let (head, tail) = self.mem.split_at_mut(end);
            let dst = tail.get_mut(..block.len()).ok_or(PackError::Range)?;
            for (d, s) in dst.iter_mut().zip(block) {
                d.write(*s);
            }
            let mut slots = head[start..].chunks_exact_mut(size_of::<usize>());
            let mut at = 0;
            if let Some(first) = slots.next() {
                put_ptr(first, names_addr);
            }
            // The last name's end lands in the slot after it, which then
            // becomes the NULL.
            for (e, slot) in ends.take(count).zip(&mut slots) {
                put_ptr(slot, names_addr + e);
                at += 1;
            }
            let null = start + at * size_of::<usize>();
            put_ptr(&mut head[null..null + size_of::<usize>()], 0);
            self.used = end + block.len();
            return Ok(self.addr(start) as *mut *mut c_char);
        }
        self.used = end;
        let mut slot = start;
        for name in group.member_bytes().take(count) {
            let ptr = self.cstr(name)? as usize;
            self.put_ptr(slot, ptr);
            slot += size_of::<usize>();
        }
        // Should there be fewer than `count`, the NULL follows the last.
        self.put_ptr(slot, 0);
        Ok(self.addr(start) as *mut *mut c_char)
    }

    /// Stores the pointer `value` at `offset` (in bounds: checked by the
    /// caller).
    fn put_ptr(&mut self, offset: usize, value: usize) {
        put_ptr(&mut self.mem[offset..offset + size_of::<usize>()], value);
    }
}

/// Stores the pointer `value` in `slot` (pointer-sized).
fn put_ptr(slot: &mut [MaybeUninit<u8>], value: usize) {
    for (d, s) in slot.iter_mut().zip(&value.to_ne_bytes()) {
        d.write(*s);
    }
}

/// Fills `out` with `user`, its strings in `buf`.
pub fn passwd(
    user: &UserView<'_>,
    out: &mut libc::passwd,
    buf: &mut CBuf<'_>,
) -> Result<(), PackError> {
    let entry = libc::passwd {
        pw_name: buf.str(user.name)?,
        pw_passwd: buf.str(NO_PASSWORD)?,
        pw_uid: user.uid,
        pw_gid: user.gid,
        pw_gecos: buf.str(user.gecos)?,
        pw_dir: buf.str(user.home)?,
        pw_shell: buf.str(user.shell)?,
    };
    *out = entry;
    Ok(())
}

/// Fills `out` with `group`, its strings and member array in `buf`.
pub fn group(
    group: &GroupView<'_>,
    out: &mut libc::group,
    buf: &mut CBuf<'_>,
) -> Result<(), PackError> {
    let entry = libc::group {
        gr_mem: buf.member_array(group)?,
        gr_name: buf.str(group.name)?,
        gr_passwd: buf.str(NO_PASSWORD)?,
        gr_gid: group.gid,
    };
    *out = entry;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_proto::{Group, User};
    use std::ffi::CStr;

    fn alice() -> User {
        User {
            name: "alice".into(),
            uid: 10001,
            gid: 10000,
            gecos: "Alice Liddell".into(),
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
        }
    }

    fn cstr<'a>(p: *const c_char) -> &'a str {
        // SAFETY: test helper on pointers produced by CBuf, which point to
        // NUL-terminated bytes inside a buffer that outlives the assertion.
        unsafe { CStr::from_ptr(p) }.to_str().unwrap()
    }

    fn zeroed_passwd() -> libc::passwd {
        // SAFETY: libc::passwd is a plain C struct; all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    fn zeroed_group() -> libc::group {
        // SAFETY: libc::group is a plain C struct; all-zero is valid.
        unsafe { std::mem::zeroed() }
    }

    #[test]
    fn passwd_round_trips_through_the_buffer() {
        let mut mem = [MaybeUninit::<u8>::uninit(); 128];
        let mut out = zeroed_passwd();
        passwd(&alice().view(), &mut out, &mut CBuf::new(&mut mem)).unwrap();
        assert_eq!(cstr(out.pw_name), "alice");
        assert_eq!(cstr(out.pw_passwd), "*");
        assert_eq!((out.pw_uid, out.pw_gid), (10001, 10000));
        assert_eq!(cstr(out.pw_gecos), "Alice Liddell");
        assert_eq!(cstr(out.pw_dir), "/home/alice");
        assert_eq!(cstr(out.pw_shell), "/bin/bash");
    }

    #[test]
    fn exact_fit_works_and_one_byte_less_is_erange_without_touching_out() {
        let u = alice();
        let need = [&u.name, NO_PASSWORD, &u.gecos, &u.home, &u.shell]
            .iter()
            .map(|s| s.len() + 1)
            .sum::<usize>();
        let mut mem = vec![MaybeUninit::<u8>::uninit(); need];
        let mut out = zeroed_passwd();
        passwd(&u.view(), &mut out, &mut CBuf::new(&mut mem)).unwrap();
        assert_eq!(cstr(out.pw_shell), "/bin/bash");

        let mut small = vec![MaybeUninit::<u8>::uninit(); need - 1];
        let mut out = zeroed_passwd();
        assert_eq!(
            passwd(&u.view(), &mut out, &mut CBuf::new(&mut small)),
            Err(PackError::Range)
        );
        assert!(out.pw_name.is_null() && out.pw_uid == 0, "untouched");
    }

    #[test]
    fn interior_nul_is_refused() {
        let mut u = alice();
        u.gecos = "evil\0gecos".into();
        let mut mem = [MaybeUninit::<u8>::uninit(); 128];
        let mut out = zeroed_passwd();
        assert_eq!(
            passwd(&u.view(), &mut out, &mut CBuf::new(&mut mem)),
            Err(PackError::Nul)
        );
    }

    #[test]
    fn group_members_are_an_aligned_null_terminated_array() {
        let g = Group {
            name: "staff".into(),
            gid: 10010,
            members: vec!["alice".into(), "bob".into()],
        };
        // Start at an odd offset to exercise the alignment padding.
        let mut mem = [MaybeUninit::<u8>::uninit(); 129];
        let mut out = zeroed_group();
        group(&g.view(), &mut out, &mut CBuf::new(&mut mem[1..])).unwrap();
        assert_eq!(cstr(out.gr_name), "staff");
        assert_eq!(cstr(out.gr_passwd), "*");
        assert_eq!(out.gr_gid, 10010);
        assert_eq!(out.gr_mem as usize % align_of::<*mut c_char>(), 0);
        let mut members = Vec::new();
        for i in 0.. {
            // SAFETY: gr_mem is a NULL-terminated array inside `mem`.
            let p = unsafe { *out.gr_mem.add(i) };
            if p.is_null() {
                break;
            }
            members.push(cstr(p).to_owned());
        }
        assert_eq!(members, ["alice", "bob"]);
    }

    #[test]
    fn group_exact_fit_and_nul_members() {
        let g = Group {
            name: "staff".into(),
            gid: 10010,
            members: vec!["alice".into(), "".into(), "bob".into()],
        };
        let encoded = roster_proto::memcache::Record::Group(g.clone()).encode(1);
        let Some((roster_proto::memcache::RecordView::Group(v), _)) =
            roster_proto::memcache::RecordView::parse(&encoded)
        else {
            panic!("not a group")
        };
        // Array of 4 pointers, then "alice\0" "\0" "bob\0", "staff\0" "*\0".
        let need = 4 * size_of::<usize>() + 6 + 1 + 4 + 6 + 2;
        for view in [v, g.view()] {
            let mut mem = vec![MaybeUninit::<u8>::uninit(); need + size_of::<usize>()];
            // Aligned start: no padding.
            let skip = mem.as_ptr().align_offset(align_of::<usize>());
            let mut out = zeroed_group();
            let exact = &mut mem[skip..skip + need];
            group(&view, &mut out, &mut CBuf::new(exact)).unwrap();
            assert_eq!(cstr(out.gr_name), "staff");
            let mut out = zeroed_group();
            let short = &mut mem[skip..skip + need - 1];
            assert_eq!(
                group(&view, &mut out, &mut CBuf::new(short)),
                Err(PackError::Range)
            );
            assert!(out.gr_name.is_null() && out.gr_mem.is_null());
        }
        // A parsed record without members: the array is the NULL alone.
        let empty = roster_proto::memcache::Record::Group(Group {
            members: vec![],
            ..g.clone()
        })
        .encode(1);
        let Some((roster_proto::memcache::RecordView::Group(v), _)) =
            roster_proto::memcache::RecordView::parse(&empty)
        else {
            panic!("not a group")
        };
        let mut mem = [MaybeUninit::<u8>::uninit(); 64];
        let mut out = zeroed_group();
        group(&v, &mut out, &mut CBuf::new(&mut mem)).unwrap();
        // SAFETY: gr_mem points to at least one (NULL) slot.
        assert!(unsafe { *out.gr_mem }.is_null());
        assert_eq!(cstr(out.gr_name), "staff");
        let evil = Group {
            members: vec!["a".into(), "b\0".into()],
            ..g
        };
        let mut mem = [MaybeUninit::<u8>::uninit(); 256];
        let mut out = zeroed_group();
        assert_eq!(
            group(&evil.view(), &mut out, &mut CBuf::new(&mut mem)),
            Err(PackError::Nul)
        );
    }

    #[test]
    fn group_with_no_members_and_tiny_buffers() {
        let g = Group {
            name: "empty".into(),
            gid: 10020,
            members: vec![],
        };
        for len in 0..40 {
            let mut mem = vec![MaybeUninit::<u8>::uninit(); len];
            let mut out = zeroed_group();
            match group(&g.view(), &mut out, &mut CBuf::new(&mut mem)) {
                Ok(()) => {
                    assert_eq!(cstr(out.gr_name), "empty");
                    // SAFETY: gr_mem points to at least one (NULL) slot.
                    assert!(unsafe { *out.gr_mem }.is_null());
                }
                Err(e) => {
                    assert_eq!(e, PackError::Range);
                    assert!(out.gr_name.is_null(), "untouched on ERANGE");
                }
            }
        }
    }
}
