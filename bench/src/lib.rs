//! What the benchmark binaries in `src/bin` share: the libc lookups as
//! closures ([`lookup`]), an NSS module's functions called straight
//! ([`nss_fn`]), medians and timed batches ([`stats`]), the measurements
//! the inner processes run ([`inner`]), the set-up both outer processes
//! do ([`setup`]), the peers' namespaces, daemons and memory
//! ([`peer`]), `perf` recordings ([`profile`]) and a lookup's path
//! through the scheduler ([`sched`]).

/// The libc lookups a benchmark measures, each as a closure.
pub mod lookup {
    use std::ffi::{CStr, CString};

    /// One lookup, called again and again; returns "found" (for
    /// `pwnam-none`, "not found").
    pub type Lookup = Box<dyn FnMut() -> bool>;

    /// Turns `kind` (`pwnam`, `pwnam-none`, `pwuid`, `grnam`, `grgid`,
    /// `grouplist`, `idgroups`) and its `key` (`name:gid` for `grouplist`
    /// and `idgroups`) into a closure calling
    /// getpwnam_r/getpwuid_r/getgrnam_r/getgrgid_r/getgrouplist (and for
    /// `idgroups` getgrgid_r of each group getgrouplist gives, as `id`
    /// does; `pwnam-none` is getpwnam_r of a name nobody has, which
    /// succeeds when it answers "no such user"); None for an unknown kind
    /// or a key that does not parse.
    pub fn parse_op(kind: &str, key: &str) -> Option<Lookup> {
        Some(match kind {
            "pwnam" | "pwnam-none" => {
                let name = CString::new(key).ok()?;
                let mut buf = vec![0u8; 4096];
                let want_found = kind == "pwnam";
                Box::new(move || {
                    // SAFETY: zeroed passwd is valid; buf outlives the call.
                    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid name, struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getpwnam_r(
                            name.as_ptr(),
                            &mut pw,
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            &mut res,
                        )
                    };
                    rc == 0 && res.is_null() != want_found
                })
            }
            "pwuid" => {
                let uid: u32 = key.parse().ok()?;
                let mut buf = vec![0u8; 4096];
                Box::new(move || {
                    // SAFETY: zeroed passwd is valid; buf outlives the call.
                    let mut pw: libc::passwd = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getpwuid_r(uid, &mut pw, buf.as_mut_ptr().cast(), buf.len(), &mut res)
                    };
                    rc == 0 && !res.is_null()
                })
            }
            "grnam" => {
                let name = CString::new(key).ok()?;
                let mut buf = vec![0u8; 1 << 20];
                Box::new(move || {
                    // SAFETY: zeroed group is valid; buf outlives the call.
                    let mut gr: libc::group = unsafe { std::mem::zeroed() };
                    let mut res = std::ptr::null_mut();
                    // SAFETY: valid name, struct, buffer and result pointers.
                    let rc = unsafe {
                        libc::getgrnam_r(
                            name.as_ptr(),
                            &mut gr,
                            buf.as_mut_ptr().cast(),
                            buf.len(),
                            &mut res,
                        )
                    };
                    rc == 0 && !res.is_null()
                })
            }
            "grgid" => {
                let gid: u32 = key.parse().ok()?;
                let mut buf = vec![0u8; 1 << 20];
                Box::new(move || group_by_gid(gid, &mut buf))
            }
            // `id NAME`'s group lookups: the user's groups, then each
            // group by GID (for its name; `id` also looks the user up,
            // not done here); true when every one is found.
            "idgroups" => {
                let (name, gid) = key.split_once(':')?;
                let name = CString::new(name).ok()?;
                let gid: u32 = gid.parse().ok()?;
                let mut groups = vec![0 as libc::gid_t; 4096];
                let mut buf = vec![0u8; 1 << 20];
                Box::new(move || {
                    group_list(&name, gid, &mut groups)
                        .is_some_and(|n| groups[..n].iter().all(|&g| group_by_gid(g, &mut buf)))
                })
            }
            "grouplist" => {
                let (name, gid) = key.split_once(':')?;
                let name = CString::new(name).ok()?;
                let gid: u32 = gid.parse().ok()?;
                let mut groups = vec![0 as libc::gid_t; 4096];
                Box::new(move || group_list(&name, gid, &mut groups).is_some())
            }
            _ => return None,
        })
    }

    /// getgrouplist of `name`, primary group `gid`, into `groups`: how
    /// many groups it gave, or None when it failed (or they did not fit).
    pub fn group_list(name: &CStr, gid: u32, groups: &mut [libc::gid_t]) -> Option<usize> {
        let mut n = libc::c_int::try_from(groups.len()).unwrap_or(libc::c_int::MAX);
        // SAFETY: valid name; groups has room for n entries.
        let rc = unsafe { libc::getgrouplist(name.as_ptr(), gid, groups.as_mut_ptr(), &mut n) };
        if rc >= 1 {
            usize::try_from(n).ok()
        } else {
            None
        }
    }

    /// getgrgid_r of `gid` with `buf` for the group's strings: true when
    /// found.
    fn group_by_gid(gid: u32, buf: &mut [u8]) -> bool {
        // SAFETY: zeroed group is valid; buf outlives the call.
        let mut gr: libc::group = unsafe { std::mem::zeroed() };
        let mut res = std::ptr::null_mut();
        // SAFETY: valid struct, buffer and result pointers.
        let rc =
            unsafe { libc::getgrgid_r(gid, &mut gr, buf.as_mut_ptr().cast(), buf.len(), &mut res) };
        rc == 0 && !res.is_null()
    }

    /// The fields of the last entry (not blank, not a comment) of a colon
    /// separated database such as /etc/passwd or /etc/group.
    pub fn last_entry_fields(path: &str) -> Vec<String> {
        let text = std::fs::read_to_string(path).expect("read local database");
        let line = text
            .lines()
            .rfind(|l| !l.trim().is_empty() && !l.starts_with('#'))
            .expect("a local entry");
        line.split(':').map(str::to_string).collect()
    }
}

/// An NSS module `dlopen`ed and its functions found by name, to be called
/// as glibc calls them (the `nssmod` and `paired` benchmarks).
pub mod nss_fn {
    use std::ffi::{c_void, CStr, CString};

    /// `_nss_*_initgroups_dyn`.
    pub type InitgroupsDyn = unsafe extern "C" fn(
        *const libc::c_char,
        libc::gid_t,
        *mut libc::c_long,
        *mut libc::c_long,
        *mut *mut libc::gid_t,
        libc::c_long,
        *mut libc::c_int,
    ) -> libc::c_int;
    /// A `_nss_*_get*_r` function: key `K`, the entry `T` to fill, its
    /// buffer and length, errno; 1 when found.
    pub type LookupR<K, T> = unsafe extern "C" fn(
        K,
        *mut T,
        *mut libc::c_char,
        libc::size_t,
        *mut libc::c_int,
    ) -> libc::c_int;
    /// `_nss_*_getgrnam_r`.
    pub type GetGrNam = LookupR<*const libc::c_char, libc::group>;
    /// `_nss_*_getpwnam_r`.
    pub type GetPwNam = LookupR<*const libc::c_char, libc::passwd>;
    /// `_nss_*_getpwuid_r`.
    pub type GetPwUid = LookupR<libc::uid_t, libc::passwd>;

    /// An entry struct a lookup fills, valid when all zeros.
    ///
    /// # Safety
    /// All-zero bytes must be a valid value of the type.
    unsafe trait Zeroed {}
    // SAFETY: C structs of integers and pointers (null when zero).
    unsafe impl Zeroed for libc::passwd {}
    // SAFETY: as for passwd.
    unsafe impl Zeroed for libc::group {}

    /// The NSS module at `path`, `dlopen`ed by that path (so that a
    /// profile names it) and never closed (the functions found in it stay
    /// valid for the process's life); panics when it cannot be loaded.
    ///
    /// # Safety
    /// Loading runs the library's constructors: `path` must be an NSS
    /// module, which glibc would load into any process the same way.
    pub unsafe fn dlopen_module(path: &str) -> *mut c_void {
        let c = CString::new(path).expect("path");
        // SAFETY: the caller vouches for the library (see above).
        let lib = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW) };
        assert!(!lib.is_null(), "dlopen {path}");
        lib
    }

    /// `f` called as glibc calls it, for `key`, the entry's strings
    /// written to `buf`: the entry when found.
    ///
    /// # Safety
    /// `f` must be of its type (see [`sym`]) and `key` valid for it (a
    /// name: a live C string).
    unsafe fn lookup_r<K, T: Zeroed>(f: LookupR<K, T>, key: K, buf: &mut [u8]) -> Option<T> {
        // SAFETY: T is valid all zeros (`Zeroed`).
        let mut entry: T = unsafe { std::mem::zeroed() };
        let mut errno = 0;
        // SAFETY: the caller vouches for f and key; a valid struct,
        // buffer and its length, as glibc passes them.
        let rc = unsafe {
            f(
                key,
                &mut entry,
                buf.as_mut_ptr().cast(),
                buf.len(),
                &mut errno,
            )
        };
        (rc == 1).then_some(entry)
    }

    /// `f` (a module's `_nss_*_getpwnam_r`, found by [`sym`]) for
    /// `name`, its strings written to `buf`: the entry when found.
    pub fn getpwnam(f: GetPwNam, name: &CStr, buf: &mut [u8]) -> Option<libc::passwd> {
        // SAFETY: f's type was vouched for by `sym`'s caller; name is a
        // live C string.
        unsafe { lookup_r(f, name.as_ptr(), buf) }
    }

    /// [`getpwnam`] by UID, `f` a module's `_nss_*_getpwuid_r`.
    pub fn getpwuid(f: GetPwUid, uid: libc::uid_t, buf: &mut [u8]) -> Option<libc::passwd> {
        // SAFETY: as in `getpwnam`.
        unsafe { lookup_r(f, uid, buf) }
    }

    /// [`getpwnam`] of a group, `f` a module's `_nss_*_getgrnam_r`.
    pub fn getgrnam(f: GetGrNam, name: &CStr, buf: &mut [u8]) -> Option<libc::group> {
        // SAFETY: as in `getpwnam`.
        unsafe { lookup_r(f, name.as_ptr(), buf) }
    }

    /// The GID array glibc hands `_nss_*_initgroups_dyn`: `malloc`ed (the
    /// module may grow it with `realloc`), freed when dropped.
    pub struct GidArray {
        gids: *mut libc::gid_t,
        size: libc::c_long,
    }

    impl GidArray {
        /// An array of room for `size` GIDs (at least one).
        pub fn new(size: usize) -> GidArray {
            let size = size.max(1);
            // SAFETY: malloc of `size` GIDs; checked below.
            let gids = unsafe { libc::malloc(size * std::mem::size_of::<libc::gid_t>()) }
                .cast::<libc::gid_t>();
            assert!(!gids.is_null(), "malloc");
            GidArray {
                gids,
                size: size as libc::c_long,
            }
        }
    }

    impl Drop for GidArray {
        fn drop(&mut self) {
            // SAFETY: the array malloc'ed in `new`, or a module's realloc
            // of it (`initgroups_dyn` keeps the pointer it was given back).
            unsafe { libc::free(self.gids.cast()) };
        }
    }

    /// What a module's `_nss_*_initgroups_dyn` answered: its status, its
    /// errno and the GIDs set in the array (the group passed first),
    /// whatever the status.
    #[derive(Clone, Copy, Debug)]
    pub struct InitgroupsAnswer<'g> {
        /// The status (1 success, 0 not found, -1 unavailable, -2 try
        /// again).
        pub status: libc::c_int,
        /// The errno the module set.
        pub errno: libc::c_int,
        /// The GIDs set, the group passed first.
        pub gids: &'g [libc::gid_t],
    }

    impl<'g> InitgroupsAnswer<'g> {
        /// The GIDs, when the module answered success.
        pub fn found(self) -> Option<&'g [libc::gid_t]> {
            (self.status == 1).then_some(self.gids)
        }

        /// What came back, in a line (for a lookup that did not answer
        /// as expected): the status, the errno, and the GIDs after the
        /// first: how many, how many distinct, their range.
        pub fn describe(&self) -> String {
            let mut rest = self.gids.get(1..).unwrap_or_default().to_vec();
            let after_first = rest.len();
            rest.sort_unstable();
            rest.dedup();
            let range = match (rest.first(), rest.last()) {
                (Some(lo), Some(hi)) => format!(" in {lo}..={hi}"),
                _ => String::new(),
            };
            format!(
                "status {} (errno {}), {} GIDs set: first {:?}, then {after_first} ({} distinct{range})",
                self.status,
                self.errno,
                self.gids.len(),
                self.gids.first(),
                rest.len(),
            )
        }
    }

    /// `f` (a module's `_nss_*_initgroups_dyn`) called as glibc's
    /// `getgrouplist` calls it for `user` whose group `group` glibc has
    /// put first (and the module leaves out), no limit: what it answered,
    /// the GIDs in `groups` after the call (`group` first). (Nothing
    /// allocated but what the module does: the `nssmod` benchmark times
    /// this call.)
    pub fn initgroups_answer<'g>(
        f: InitgroupsDyn,
        user: &CStr,
        group: libc::gid_t,
        groups: &'g mut GidArray,
    ) -> InitgroupsAnswer<'g> {
        // SAFETY: the first of the array's `size` (at least one) slots.
        unsafe { *groups.gids = group };
        let (mut start, mut errno): (libc::c_long, libc::c_int) = (1, 0);
        // SAFETY: f's type was vouched for by `sym`'s caller; a
        // NUL-terminated name, live counters, a malloc'ed array of `size`
        // GIDs whose first `start` are set, as glibc passes them.
        let status = unsafe {
            f(
                user.as_ptr(),
                group,
                &mut start,
                &mut groups.size,
                &mut groups.gids,
                -1,
                &mut errno,
            )
        };
        let set = usize::try_from(start)
            .unwrap_or(0)
            .min(usize::try_from(groups.size).unwrap_or(0));
        // SAFETY: the module set the first `start` GIDs of the array of
        // `size` it left in `groups`.
        let gids = unsafe { std::slice::from_raw_parts(groups.gids, set) };
        InitgroupsAnswer {
            status,
            errno,
            gids,
        }
    }

    /// [`initgroups_answer`]'s GIDs when the module answered success,
    /// else `None`.
    pub fn initgroups_dyn<'g>(
        f: InitgroupsDyn,
        user: &CStr,
        group: libc::gid_t,
        groups: &'g mut GidArray,
    ) -> Option<&'g [libc::gid_t]> {
        initgroups_answer(f, user, group, groups).found()
    }

    /// `dlsym` of `name` in `lib`, as a function pointer of type `F`;
    /// panics when it is missing.
    ///
    /// # Safety
    /// `lib` must be a live handle of [`dlopen_module`], and `F` the
    /// symbol's real type (a function pointer).
    pub unsafe fn sym<F: Copy>(lib: *mut c_void, name: &CStr) -> F {
        const { assert!(std::mem::size_of::<F>() == std::mem::size_of::<*mut c_void>()) };
        // SAFETY: lib is a live handle; name a C string.
        let p = unsafe { libc::dlsym(lib, name.as_ptr()) };
        assert!(!p.is_null(), "{name:?} missing");
        // SAFETY: the caller names the right type, a pointer-sized fn
        // pointer (checked above).
        unsafe { std::mem::transmute_copy(&p) }
    }
    #[cfg(test)]
    mod tests {
        use super::*;

        /// A module's `initgroups_dyn`: adds 100 GIDs after the one
        /// passed, growing the array with `realloc` as glibc lets it.
        unsafe extern "C" fn hundred_groups(
            _user: *const libc::c_char,
            _group: libc::gid_t,
            start: *mut libc::c_long,
            size: *mut libc::c_long,
            groupsp: *mut *mut libc::gid_t,
            _limit: libc::c_long,
            _errno: *mut libc::c_int,
        ) -> libc::c_int {
            // SAFETY: the pointers glibc (here `initgroups_dyn`) passes:
            // live counters and a malloc'ed array of `*size` GIDs.
            unsafe {
                for gid in 1000..1100 {
                    if *start == *size {
                        *size *= 2;
                        let grown = libc::realloc((*groupsp).cast(), *size as usize * 4);
                        assert!(!grown.is_null());
                        *groupsp = grown.cast();
                    }
                    *(*groupsp).add(*start as usize) = gid;
                    *start += 1;
                }
            }
            1
        }

        /// A module's `initgroups_dyn` that fails after setting some
        /// GIDs, as nslcd's does when its second page is refused: 1001
        /// twice and 1002, then unavailable (ENOENT).
        unsafe extern "C" fn unavailable_after_three(
            _user: *const libc::c_char,
            _group: libc::gid_t,
            start: *mut libc::c_long,
            _size: *mut libc::c_long,
            groupsp: *mut *mut libc::gid_t,
            _limit: libc::c_long,
            errnop: *mut libc::c_int,
        ) -> libc::c_int {
            // SAFETY: as in `hundred_groups`; the test's array has room
            // for four GIDs.
            unsafe {
                for gid in [1001, 1001, 1002] {
                    *(*groupsp).add(*start as usize) = gid;
                    *start += 1;
                }
                *errnop = libc::ENOENT;
            }
            -1
        }

        /// A failed answer keeps what the module set, and says so.
        #[test]
        fn a_failed_initgroups_answer_tells_what_came_back() {
            let mut groups = GidArray::new(4);
            let answer = initgroups_answer(unavailable_after_three, c"u", 7, &mut groups);
            assert_eq!((answer.status, answer.errno), (-1, libc::ENOENT));
            assert_eq!(answer.gids, [7, 1001, 1001, 1002]);
            assert_eq!(
                answer.describe(),
                "status -1 (errno 2), 4 GIDs set: first Some(7), then 3 (2 distinct in 1001..=1002)"
            );
            assert!(answer.found().is_none());
            assert!(initgroups_dyn(unavailable_after_three, c"u", 7, &mut groups).is_none());
        }

        /// The GIDs a module writes come back whole, the group passed
        /// first, from the array it grew (and that array is the one
        /// freed: no double free under the test's allocator).
        #[test]
        fn initgroups_dyn_reads_the_array_the_module_grew() {
            let mut groups = GidArray::new(2);
            let got = initgroups_dyn(hundred_groups, c"u", 7, &mut groups).unwrap();
            assert_eq!(got.len(), 101);
            assert_eq!(got[0], 7);
            assert!(got[1..].iter().copied().eq(1000..1100));
            let again = initgroups_dyn(hundred_groups, c"u", 8, &mut groups).unwrap();
            assert_eq!((again.len(), again[0], again[100]), (101, 8, 1099));
        }
    }
}

/// Medians and timed batches.
pub mod stats {
    use std::hint::black_box;
    use std::time::Instant;

    /// Calls per timed batch (per-call time = batch time / BATCH).
    pub const BATCH: usize = 100;

    /// Sorts `values` and returns the middle one (the upper middle for an
    /// even count). Panics when `values` is empty.
    pub fn median(values: &mut [f64]) -> f64 {
        values.sort_by(f64::total_cmp);
        values[values.len() / 2]
    }

    /// The `pct`th percentile of `values` (sorted in place): the value at
    /// `len · pct / 100`, the last for 100 and above. Panics when
    /// `values` is empty.
    pub fn percentile(values: &mut [f64], pct: usize) -> f64 {
        values.sort_by(f64::total_cmp);
        values[(values.len() * pct / 100).min(values.len() - 1)]
    }

    /// The arithmetic mean of `values` (NaN when empty).
    pub fn mean(values: &[f64]) -> f64 {
        values.iter().sum::<f64>() / values.len() as f64
    }

    /// Runs `f` [`BATCH`] times and returns the time per call in ns.
    pub fn batch_ns<R>(f: &mut impl FnMut() -> R) -> f64 {
        batch_ns_of(f, BATCH)
    }

    /// Runs `f` `calls` times (at least once) and returns the time per
    /// call in ns.
    pub fn batch_ns_of<R>(f: &mut impl FnMut() -> R, calls: usize) -> f64 {
        let calls = calls.max(1);
        let start = Instant::now();
        for _ in 0..calls {
            black_box(f());
        }
        start.elapsed().as_nanos() as f64 / calls as f64
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// The percentile is the sorted value at len · pct / 100: the
        /// 99th of 300 is the 298th smallest (two above it), whatever the
        /// order given; the 100th and past it the largest.
        #[test]
        fn the_percentile_is_the_value_at_its_rank() {
            let mut v: Vec<f64> = (1..=300).rev().map(f64::from).collect();
            assert_eq!(percentile(&mut v, 99), 298.0);
            assert_eq!(percentile(&mut v, 50), median(&mut v));
            assert_eq!(percentile(&mut v, 100), 300.0);
            assert_eq!(percentile(&mut v, 150), 300.0);
            assert_eq!(percentile(&mut [7.0], 99), 7.0);
        }
    }
}

/// Measurements an inner process (`--inner …`) runs and prints.
pub mod inner {
    use crate::lookup::Lookup;
    use std::time::Instant;

    /// How an inner process turns a kind and key into a lookup.
    pub type ParseOp = fn(&str, &str) -> Option<Lookup>;

    /// Runs this binary again as `--inner ARGS` (space-separated), as a
    /// fresh process (glibc loads the NSS module as any program would):
    /// what it printed, trimmed, or an error with all it wrote.
    pub fn again(args: &str) -> Result<String, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let out = std::process::Command::new(exe)
            .arg("--inner")
            .args(args.split(' '))
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| e.to_string())?;
        if out.status.success() {
            Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
        } else {
            Err(format!(
                "{args}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    }

    /// Prints the lookup `times` (µs) as `MEDIAN MEAN P99 CPU`, CPU
    /// being `own_cpu_ns` (the process's time on a CPU over them) per
    /// lookup in µs; the exit code (`times`' own on failure).
    pub fn print_cold(times: Result<Vec<f64>, i32>, own_cpu_ns: u64) -> i32 {
        match times {
            Ok(mut times) if !times.is_empty() => {
                let p99 = crate::stats::percentile(&mut times, 99);
                let median = crate::stats::median(&mut times);
                let own_cpu = own_cpu_ns as f64 / 1000.0 / times.len() as f64;
                println!(
                    "{median:.0} {:.0} {p99:.0} {own_cpu:.1}",
                    crate::stats::mean(&times)
                );
                0
            }
            Ok(_) => 2,
            Err(code) => code,
        }
    }

    /// `cold KIND PREFIX WIDTH FIRST COUNT` ([`cold`]) in an inner
    /// process: prints its times ([`print_cold`]); the exit code.
    pub fn cold_printed(parse_op: ParseOp, args: [&str; 5]) -> i32 {
        let [kind, prefix, width, first, count] = args;
        let before = crate::peer::own_on_cpu_ns();
        let times = cold(parse_op, kind, prefix, width, first, count);
        print_cold(times, crate::peer::own_on_cpu_ns().saturating_sub(before))
    }

    /// `coldid FIRST COUNT` ([`cold_ids`]) in an inner process: prints
    /// its times ([`print_cold`]); the exit code.
    pub fn cold_ids_printed(parse_op: ParseOp, first: &str, count: &str) -> i32 {
        let before = crate::peer::own_on_cpu_ns();
        let times = cold_ids(parse_op, first, count);
        print_cold(times, crate::peer::own_on_cpu_ns().saturating_sub(before))
    }

    /// `once KIND KEY`: one lookup, prints its time in µs; the exit code.
    pub fn once(parse_op: ParseOp, kind: &str, key: &str) -> i32 {
        let Some(mut f) = parse_op(kind, key) else {
            return 2;
        };
        let start = Instant::now();
        let ok = f();
        println!("{:.0}", start.elapsed().as_nanos() as f64 / 1000.0);
        i32::from(!ok)
    }

    /// `oncecost KIND KEY`: one lookup, the first thing this process
    /// asks (glibc loading the NSS module for it); prints its time in µs,
    /// the process's own time on a CPU meanwhile in µs (the module's
    /// loading and set-up included, the daemon's not;
    /// `CLOCK_PROCESS_CPUTIME_ID`, as `schedstat`'s figure for the running
    /// thread lags by up to a tick) and the minor page faults it took; the
    /// exit code.
    pub fn once_with_cost(parse_op: ParseOp, kind: &str, key: &str) -> i32 {
        let Some(mut f) = parse_op(kind, key) else {
            return 2;
        };
        let on_cpu = roster_proto::clock::process_on_cpu_ns();
        let faults = minor_faults();
        let start = Instant::now();
        let ok = f();
        let elapsed = start.elapsed();
        let faults = minor_faults().saturating_sub(faults);
        let on_cpu = roster_proto::clock::process_on_cpu_ns().saturating_sub(on_cpu);
        println!(
            "{:.0} {:.0} {faults}",
            elapsed.as_nanos() as f64 / 1000.0,
            on_cpu as f64 / 1000.0
        );
        i32::from(!ok)
    }

    /// Minor page faults this process has taken so far.
    fn minor_faults() -> u64 {
        // SAFETY: a zeroed `rusage` is valid, and getrusage only writes it.
        let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: `usage` is a valid, writable rusage.
        let rc = unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
        if rc == 0 {
            u64::try_from(usage.ru_minflt).unwrap_or(0)
        } else {
            0
        }
    }

    /// `cold KIND PREFIX WIDTH FIRST COUNT`: the `KIND` lookup (`pwnam`,
    /// `grnam`) of the names `PREFIX` + FIRST.. (the number zero-padded
    /// to `WIDTH` digits: `u00001`, `mg0002`) once each; their times in
    /// µs, sorted, or the exit code on failure.
    pub fn cold(
        parse_op: ParseOp,
        kind: &str,
        prefix: &str,
        width: &str,
        first: &str,
        count: &str,
    ) -> Result<Vec<f64>, i32> {
        let (Ok(width), Ok(first), Ok(count)) = (
            width.parse::<usize>(),
            first.parse::<u32>(),
            count.parse::<u32>(),
        ) else {
            return Err(2);
        };
        let names = (first..first + count).map(|i| format!("{prefix}{i:0width$}"));
        cold_keys(parse_op, kind, names)
    }

    /// `coldid FIRST COUNT`: getpwuid of the UIDs FIRST.. once each, the
    /// sorted times in µs.
    pub fn cold_ids(parse_op: ParseOp, first: &str, count: &str) -> Result<Vec<f64>, i32> {
        let (Ok(first), Ok(count)) = (first.parse::<u32>(), count.parse::<u32>()) else {
            return Err(2);
        };
        cold_keys(
            parse_op,
            "pwuid",
            (first..first + count).map(|u| u.to_string()),
        )
    }

    /// One `kind` lookup of each key, the sorted times in µs.
    fn cold_keys(
        parse_op: ParseOp,
        kind: &str,
        keys: impl Iterator<Item = String>,
    ) -> Result<Vec<f64>, i32> {
        let mut times: Vec<f64> = Vec::new();
        for key in keys {
            let Some(mut f) = parse_op(kind, &key) else {
                return Err(2);
            };
            let start = Instant::now();
            if !f() {
                eprintln!("{kind} {key}: lookup failed");
                return Err(1);
            }
            times.push(start.elapsed().as_nanos() as f64 / 1000.0);
        }
        times.sort_by(f64::total_cmp);
        Ok(times)
    }

    /// `parallel PROCS CALLS KIND KEY`: PROCS forked processes doing CALLS
    /// lookups each; prints the calls per second of all; the exit code.
    pub fn parallel(parse_op: ParseOp, procs: &str, calls: &str, kind: &str, key: &str) -> i32 {
        let (Ok(procs), Ok(calls)) = (procs.parse::<usize>(), calls.parse::<usize>()) else {
            return 2;
        };
        let start = Instant::now();
        let mut pids = Vec::new();
        for _ in 0..procs {
            // SAFETY: fork in a single-threaded process; the child
            // only runs lookups and exits with _exit.
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                let code = match parse_op(kind, key) {
                    Some(mut f) => i32::from((0..calls).any(|_| !f())),
                    None => 2,
                };
                // SAFETY: leaving the child without running the
                // parent's exit handlers.
                unsafe { libc::_exit(code) };
            }
            pids.push(pid);
        }
        let mut failed = false;
        for pid in pids {
            let mut status = 0;
            // SAFETY: waiting for our own child.
            unsafe { libc::waitpid(pid, &mut status, 0) };
            failed |= !(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0);
        }
        let secs = start.elapsed().as_secs_f64();
        println!("{}", (procs * calls) as f64 / secs);
        i32::from(failed)
    }
}

/// What the outer processes do before measuring.
pub mod setup {
    /// Builds the release binaries the benchmark loads (rosterd, the
    /// modules) with `make release`, which `make install` and the package
    /// build with: the same selections of packages (other selections
    /// unify the dependencies' features otherwise, which changes the
    /// symbols' hashes that the `hot-code.ld` files name) and the same
    /// flags (rosterd's profile, `RELEASE_RUSTFLAGS`). Panics with
    /// `failure` when the build fails.
    pub fn build_release(failure: &str) {
        let status = std::process::Command::new("make")
            .args(["-s", "--no-print-directory", "release"])
            .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
            .status()
            .expect("run make release");
        assert!(status.success(), "{failure}");
        // A benchmark binary copied away from target/release finds no
        // rosterd beside it and falls back to another build's.
        let daemon = roster_e2e::rosterd::rosterd_path();
        if !daemon.components().any(|c| c.as_os_str() == "release") {
            eprintln!(
                "warning: the rosterd measured is {}, not a release build",
                daemon.display()
            );
        }
    }

    /// The first three fields of /proc/loadavg, space separated.
    pub fn load_average() -> String {
        std::fs::read_to_string("/proc/loadavg")
            .unwrap_or_default()
            .split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[cfg(test)]
    mod tests {
        use std::os::unix::fs::PermissionsExt;
        use std::path::PathBuf;

        /// A stand-in `rustc` whose `-V` prints `version`, removed when
        /// dropped.
        struct StandInRustc(PathBuf);

        impl StandInRustc {
            fn new(version: &str) -> StandInRustc {
                // (Beside the test binary: a directory it can run from.)
                let exe = std::env::current_exe().unwrap();
                let name = format!("roster-bench-rustc-{}", std::process::id());
                let path = exe.parent().unwrap().join(name);
                let script = format!("#!/bin/sh\necho '{version}'\n");
                std::fs::write(&path, script).unwrap();
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
                StandInRustc(path)
            }
        }

        impl Drop for StandInRustc {
            fn drop(&mut self) {
                let _ = std::fs::remove_file(&self.0);
            }
        }

        /// The commands `make release` would run (`make -n`) when `rustc
        /// -V` prints `version`, with `rustflags` in the environment.
        fn release_command_for(version: &str, rustflags: Option<&str>) -> String {
            let rustc = StandInRustc::new(version);
            let mut make = std::process::Command::new("make");
            make.args(["-s", "-n", "--no-print-directory", "release"])
                .current_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
                .env("RUSTC", &rustc.0)
                .env_remove("RUSTFLAGS")
                .env_remove("MAKEFLAGS")
                .env_remove("MAKELEVEL");
            if let Some(flags) = rustflags {
                make.env("RUSTFLAGS", flags);
            }
            let out = make.output().expect("run make -n release");
            assert!(out.status.success(), "make -n release failed");
            String::from_utf8(out.stdout).unwrap()
        }

        /// The release build of rosterd takes rosterd/pgo.profdata (with its
        /// checksum, and LLVM's warnings of changed functions silenced) when
        /// rustc is the one that wrote it (rosterd/pgo.rustc), and builds
        /// without any flags for another rustc, saying so; the modules never
        /// take it, and each is built as its cdylib alone (with LTO).
        #[test]
        fn the_release_build_takes_the_profile_for_its_rustc_only() {
            let root = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
            let wrote = std::fs::read_to_string(format!("{root}/rosterd/pgo.rustc")).unwrap();
            let wrote = wrote.trim();
            assert!(wrote.starts_with("rustc 1."), "rosterd/pgo.rustc: {wrote}");
            let profile = std::fs::canonicalize(format!("{root}/rosterd/pgo.profdata")).unwrap();
            let command = release_command_for(wrote, None);
            let flags = [
                format!("-Cprofile-use={}", profile.display()),
                "-Cllvm-args=-no-pgo-warn-mismatch".to_string(),
                "--cfg=roster_pgo_".to_string(),
            ];
            let rosterd = |command: &str| {
                let line = command.lines().find(|l| l.contains("-p rosterd"));
                line.expect("make release builds rosterd").to_string()
            };
            let modules = |command: &str| {
                let line = command.lines().find(|l| l.contains("-p nss_roster"));
                line.expect("make release builds the NSS module")
                    .to_string()
            };
            for flag in &flags {
                assert!(rosterd(&command).contains(flag), "{flag} not in {command}");
            }
            assert!(!modules(&command).contains("-Cprofile-use"), "{command}");
            // Each module built as its cdylib alone, which takes the
            // profile's LTO (with an rlib among its crate types cargo
            // leaves LTO out).
            for module in ["nss_roster", "pam_roster"] {
                let alone = format!("rustc --release -p {module} --crate-type cdylib");
                assert!(
                    modules(&command).contains(&alone),
                    "{alone} not in {command}"
                );
            }
            // Another rustc (of the same LLVM and release, even).
            let other = release_command_for(&format!("{wrote} other"), None);
            assert!(!other.contains("RUSTFLAGS="), "{other}");
            assert!(!other.contains("-Cprofile-use"), "{other}");
            assert!(other.contains("build --release -p rosterd"), "{other}");
            assert!(other.contains("rosterd builds without it"), "{other}");
            // The environment's flags are kept, the profile's given once,
            // and the modules get the environment's alone.
            let line = rosterd(&command);
            let release_flags = line
                .split("RUSTFLAGS=\"")
                .nth(1)
                .and_then(|f| f.split('"').next());
            let given = format!(
                "-Cdebuginfo=1 {}",
                release_flags.unwrap_or_else(|| panic!("no RUSTFLAGS in {line}"))
            );
            let command = release_command_for(wrote, Some(&given));
            let rosterd = rosterd(&command);
            assert!(rosterd.contains("-Cdebuginfo=1"), "{rosterd}");
            assert_eq!(rosterd.matches("-Cprofile-use").count(), 1, "{rosterd}");
            let modules = modules(&command);
            assert!(modules.contains("RUSTFLAGS=\"-Cdebuginfo=1\""), "{modules}");
        }
    }
}

pub mod pages;
pub mod sched;

/// Profiles of a daemon over one measured step, for the benchmarks'
/// `ROSTER_BENCH_PERF*` hooks.
pub mod profile {
    use std::process::{Child, Command, Stdio};
    use std::time::Duration;

    /// `perf record` (of one process, or as asked), stopped when dropped
    /// (SIGINT, so it writes its file; the drop waits for it).
    pub struct Recording(Child);

    impl Recording {
        /// `perf record GRAPH -o OUT -p PID`, given time to attach; `None`
        /// when perf cannot be started or has exited within that time.
        pub fn start(pid: u32, out: &str, graph: &[&str]) -> Option<Recording> {
            let pid = pid.to_string();
            let mut args = graph.to_vec();
            args.extend(["-o", out, "-p", &pid]);
            Recording::with_args(&args)
        }

        /// `perf record ARGS`, given time to start; `None` when perf
        /// cannot be started or has exited within that time.
        pub fn with_args(args: &[&str]) -> Option<Recording> {
            let mut child = Command::new("perf")
                .arg("record")
                .args(args)
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .ok()?;
            // perf attaches in the background: give it a moment; one
            // that has exited by then records nothing.
            std::thread::sleep(Duration::from_millis(500));
            match child.try_wait() {
                Ok(None) => Some(Recording(child)),
                _ => None,
            }
        }
    }

    impl Drop for Recording {
        fn drop(&mut self) {
            // SAFETY: signalling our own child by its PID.
            unsafe { libc::kill(self.0.id() as libc::pid_t, libc::SIGINT) };
            let _ = self.0.wait();
        }
    }

    /// `ROSTER_BENCH_CALLGRIND=DIR`: rosterd runs under valgrind's
    /// callgrind, writing its counts into `DIR` (which its user may
    /// write), so that a step's cost is also counted in instructions.
    /// Those repeat from run to run whatever else the machine does (the
    /// times of such a run mean nothing: valgrind slows rosterd down
    /// several times); they are user space only.
    pub fn callgrind_dir() -> Option<std::path::PathBuf> {
        std::env::var_os("ROSTER_BENCH_CALLGRIND").map(Into::into)
    }

    /// rosterd's instructions over one step: callgrind's counts of the
    /// process zeroed at [`Instructions::start`] and dumped at
    /// [`Instructions::finish`].
    pub struct Instructions {
        pid: u32,
        dir: std::path::PathBuf,
        /// The number of the last dump of this PID already in `dir`
        /// (an earlier step's, or an earlier process's of the same PID).
        dumps_before: u32,
    }

    impl Instructions {
        /// Zeroes the counts of `pid` (running under callgrind, writing
        /// into `dir`); `None` unless callgrind says it did.
        pub fn start(pid: u32, dir: &std::path::Path) -> Option<Instructions> {
            let dumps_before = last_dump(dir, pid).map_or(0, |(n, _)| n);
            control(&["-z", &pid.to_string()])?;
            Some(Instructions {
                pid,
                dir: dir.to_path_buf(),
                dumps_before,
            })
        }

        /// The instructions counted since [`Instructions::start`]: the
        /// first figure of the `summary:` of the dump this asks for
        /// (`callgrind.out.PID.N`); `None` unless that dump is new.
        pub fn finish(self) -> Option<u64> {
            control(&["-d", &self.pid.to_string()])?;
            let (n, path) = last_dump(&self.dir, self.pid)?;
            if n <= self.dumps_before {
                return None;
            }
            let text = std::fs::read_to_string(path).ok()?;
            text.lines()
                .find_map(|l| l.strip_prefix("summary:"))
                .and_then(|n| n.split_whitespace().next()?.parse().ok())
        }
    }

    /// Removes the callgrind files (`callgrind.out.*`) in `dir`.
    pub fn remove_callgrind_dumps(dir: &std::path::Path) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.file_name()
                .to_string_lossy()
                .starts_with("callgrind.out.")
            {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }

    /// The highest-numbered dump of `pid` in `dir` (`callgrind.out.PID.N`;
    /// the dump at the process's end has no number).
    fn last_dump(dir: &std::path::Path, pid: u32) -> Option<(u32, std::path::PathBuf)> {
        let prefix = format!("callgrind.out.{pid}.");
        std::fs::read_dir(dir)
            .ok()?
            .filter_map(|e| {
                let e = e.ok()?;
                let name = e.file_name().into_string().ok()?;
                let n: u32 = name.strip_prefix(&prefix)?.parse().ok()?;
                Some((n, e.path()))
            })
            .max()
    }

    /// Runs `callgrind_control ARGS`; `None` unless it reports the
    /// request done (it exits 0 whatever happens, saying "OK." when the
    /// process took the request).
    fn control(args: &[&str]) -> Option<()> {
        let out = Command::new("callgrind_control")
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .any(|l| l.trim() == "OK.")
            .then_some(())
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        /// A step reads only its own dump: the highest number of its PID,
        /// never the unnumbered final dump or another PID's.
        #[test]
        fn the_last_dump_is_the_highest_numbered_of_that_pid() {
            let dir = tempfile::tempdir().unwrap();
            for name in [
                "callgrind.out.5",
                "callgrind.out.5.1",
                "callgrind.out.5.3",
                "callgrind.out.5.x",
                "callgrind.out.52.7",
                "callgrind.out.6.9",
            ] {
                std::fs::write(dir.path().join(name), "summary: 1\n").unwrap();
            }
            let (n, path) = last_dump(dir.path(), 5).unwrap();
            assert_eq!((n, path), (3, dir.path().join("callgrind.out.5.3")));
            assert_eq!(last_dump(dir.path(), 7), None);
            remove_callgrind_dumps(dir.path());
            assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        }
    }
}

/// SSSD (`sssd-ldap`, `libnss-sss`, `pam_sss`), nslcd (`nslcd`,
/// `libnss-ldapd`, `pam_ldap`) and rosterd, each inside its own private
/// mount namespace against the same slapd: the scratch files bind-mounted
/// over `/etc/sssd`, `/etc/nslcd.conf`, `/etc/nsswitch.conf`, `/etc/pam.d`,
/// `/var/lib/sss`, `/var/log/sssd` and a tmpfs `/run` (used by the `peers`
/// and `soak` binaries). Nothing on the host's `/etc` is touched.
pub mod peer {
    use roster_e2e::config::toml_str;
    use roster_e2e::dataset::ALICE;
    use roster_e2e::slapd::Slapd;
    use std::os::unix::fs::PermissionsExt;
    use std::path::{Path, PathBuf};
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};

    /// The PAM service that authenticates with the peer's own module.
    pub const PAM_SERVICE: &str = "roster-bench";
    /// The PAM service that permits everything (pamtester's own cost).
    pub const PAM_FLOOR_SERVICE: &str = "roster-bench-permit";

    /// The systems compared.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    pub enum Peer {
        /// rosterd with `libnss_roster` and `pam_roster`.
        Roster,
        /// sssd (sssd-ldap) with `libnss_sss` and `pam_sss`.
        Sssd,
        /// nslcd with `libnss_ldap` and `pam_ldap`.
        Nslcd,
    }

    impl Peer {
        /// The name used on command lines and in result keys.
        pub fn name(self) -> &'static str {
            match self {
                Peer::Roster => "roster",
                Peer::Sssd => "sssd",
                Peer::Nslcd => "nslcd",
            }
        }

        /// The peer called `s` ([`Peer::name`]).
        pub fn parse(s: &str) -> Option<Peer> {
            [Peer::Roster, Peer::Sssd, Peer::Nslcd]
                .into_iter()
                .find(|p| p.name() == s)
        }

        /// NSS source lists measured: (label, `nsswitch.conf` sources).
        pub fn sources(self) -> Vec<(&'static str, &'static str)> {
            match self {
                Peer::Roster => vec![
                    ("files", "files"),
                    ("files roster", "files roster"),
                    ("roster", "roster"),
                ],
                Peer::Sssd => vec![("files sss", "files sss"), ("sss", "sss")],
                Peer::Nslcd => vec![("files ldap", "files ldap")],
            }
        }

        /// The daemon's executable, when it is installed (rosterd always is:
        /// it is this workspace's build).
        pub fn installed(self) -> bool {
            match self {
                Peer::Roster => true,
                Peer::Sssd => Path::new("/usr/sbin/sssd").exists(),
                Peer::Nslcd => Path::new("/usr/sbin/nslcd").exists(),
            }
        }
    }

    /// A run's scratch directory (readable by the peers' users), the CA
    /// copied into it for nslcd (which drops to its own user), and
    /// rosterd's `[[domain]]` table for `slapd` (StartTLS, RFC 2307: the
    /// peers' default schema, posixGroup/memberUid), its secrets under
    /// the scratch directory.
    pub fn scratch(slapd: &Slapd, prefix: &str) -> (tempfile::TempDir, PathBuf, String) {
        use roster_e2e::config::{domain_table, DomainOptions, Transport};
        let scratch = tempfile::Builder::new()
            .prefix(prefix)
            .tempdir()
            .expect("temp dir");
        mkdir_mode(scratch.path(), 0o755);
        let ca = scratch.path().join("ca.pem");
        std::fs::copy(slapd.ca_file(), &ca).expect("copy CA");
        std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).expect("chmod CA");
        let secrets = scratch.path().join("roster-secrets");
        mkdir_mode(&secrets, 0o700);
        let o = DomainOptions {
            transport: Transport::StartTls,
            schema: "rfc2307".into(),
            ..DomainOptions::default()
        };
        let roster_domain = domain_table(slapd, &secrets, &o);
        (scratch, ca, roster_domain)
    }

    /// Prints a row of a roster / SSSD / nslcd table: `label`, then each
    /// peer's figure for `key` (`figure("roster.KEY")`, …) divided by
    /// `scale` and followed by `unit` (a whole number without one), or
    /// `missing` where the peer has none.
    pub fn table_row(
        label: &str,
        key: &str,
        (scale, unit): (f64, &str),
        missing: &str,
        figure: impl Fn(&str) -> Option<f64>,
    ) {
        let cells: Vec<String> = ["roster", "sssd", "nslcd"]
            .iter()
            .map(|p| match figure(&format!("{p}.{key}")) {
                Some(v) if unit.is_empty() => format!("{v:.0}"),
                Some(v) => format!("{:.1} {unit}", v / scale),
                None => missing.to_string(),
            })
            .collect();
        println!("| {label} | {} |", cells.join(" | "));
    }

    /// What the waits below read of rosterd's first domain in its status.
    struct FirstDomain {
        /// Its census of users and of groups are both taken.
        censuses_taken: bool,
        /// Its census of users is taken.
        users_census_taken: bool,
        /// What its lookups left to record and it has not yet (the
        /// census's `left_to_record`).
        left_to_record: Option<u64>,
    }

    /// [`FirstDomain`] from rosterd's status (on `/run/roster/pam.sock`),
    /// if it answers.
    fn first_domain_status() -> Option<FirstDomain> {
        let reply = roster_proto::Client::request_once(
            Path::new("/run/roster/pam.sock"),
            &roster_proto::Request::Status,
            Duration::from_secs(2),
        );
        match reply {
            Ok(roster_proto::Response::Admin(Ok(roster_proto::AdminReply::Status(r)))) => {
                let d = &r.document()["domains"][0];
                Some(FirstDomain {
                    censuses_taken: d["census"]["users"].is_u64() && d["census"]["groups"].is_u64(),
                    users_census_taken: d["census"]["users"].is_u64(),
                    left_to_record: d["census"]["left_to_record"].as_u64(),
                })
            }
            _ => None,
        }
    }

    /// Waits until rosterd's status (on `/run/roster/pam.sock`) shows the
    /// first domain's census of users and of groups; the milliseconds
    /// waited, `None` past `limit`.
    pub fn wait_for_census(limit: Duration) -> Option<f64> {
        wait_for_status(limit, |d| d.censuses_taken)
    }

    /// Waits until rosterd's status shows the first domain's census of
    /// users (with `enumerate = true` its group census waits for the
    /// start-up user listing); as [`wait_for_census`].
    pub fn wait_for_users_census(limit: Duration) -> Option<f64> {
        wait_for_status(limit, |d| d.users_census_taken)
    }

    /// Polls rosterd's status every 5 ms until `reached` holds for its
    /// first domain; the milliseconds waited, `None` past `limit`.
    fn wait_for_status(limit: Duration, reached: impl Fn(&FirstDomain) -> bool) -> Option<f64> {
        let start = Instant::now();
        loop {
            if first_domain_status().is_some_and(|d| reached(&d)) {
                return Some(start.elapsed().as_secs_f64() * 1000.0);
            }
            if start.elapsed() > limit {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Waits until rosterd has recorded what its lookups left (its first
    /// domain's `left_to_record` in the status is 0), at most `limit`; how
    /// long it waited, in ms, or `None` at the limit.
    pub fn wait_for_recording(limit: Duration) -> Option<f64> {
        let start = Instant::now();
        loop {
            if first_domain_status().and_then(|d| d.left_to_record) == Some(0) {
                return Some(start.elapsed().as_secs_f64() * 1000.0);
            }
            if start.elapsed() > limit {
                return None;
            }
            // (Not more often: rosterd's work after the answers waits for
            // its replies to pause 10 ms, these included.)
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs a driver's `script` in a private mount namespace and adds the
    /// numbers it prints (`key=value` lines) to `runs` under
    /// `prefix.key`; prints `label`, how many results and how long it
    /// took, and the driver's stderr when it failed (or always, with
    /// `ROSTER_BENCH_STDERR=1`). True when the driver succeeded.
    pub fn run_driver(
        script: &str,
        prefix: &str,
        label: &str,
        runs: &mut std::collections::BTreeMap<String, Vec<f64>>,
    ) -> bool {
        let t = Instant::now();
        let out = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "bash", "-c"])
            .arg(script)
            .stdin(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("run unshare");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let mut n = 0;
        for line in stdout.lines() {
            if let Some((key, v)) = line.split_once('=') {
                if let Ok(v) = v.trim().parse::<f64>() {
                    runs.entry(format!("{prefix}.{key}")).or_default().push(v);
                    n += 1;
                }
            }
        }
        let failed = !out.status.success();
        eprintln!(
            "{label}: {n} results in {:.1} s{}",
            t.elapsed().as_secs_f64(),
            if failed || std::env::var_os("ROSTER_BENCH_STDERR").is_some() {
                format!(
                    " (driver {}: {}): {}",
                    if failed { "failed" } else { "ended" },
                    out.status,
                    String::from_utf8_lossy(&out.stderr)
                )
            } else {
                String::new()
            }
        );
        !failed
    }

    /// An `nsswitch.conf` with `sources` for passwd and group.
    pub fn nsswitch(sources: &str) -> String {
        format!(
            "passwd: {sources}\ngroup: {sources}\nshadow: files\nhosts: files\nnetworks: files\n\
             protocols: files\nservices: files\nethers: files\nrpc: files\nnetgroup: files\n"
        )
    }

    /// Writes `text` to `path` with `mode`; panics naming the file.
    pub fn write_mode(path: &Path, text: &str, mode: u32) {
        std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// Creates `path` (and its parents) and gives it `mode`.
    pub fn mkdir_mode(path: &Path, mode: u32) {
        std::fs::create_dir_all(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
    }

    /// The scratch `nsswitch.conf` of `sources` in `dir`.
    fn nsswitch_file(dir: &Path, sources: &str) -> PathBuf {
        dir.join(format!("nsswitch.{}", sources.replace(' ', "-")))
    }

    /// Writes the scratch `nsswitch.conf` of `sources` into `dir`, for
    /// [`use_nsswitch`].
    pub fn write_nsswitch(dir: &Path, sources: &str) {
        write_mode(&nsswitch_file(dir, sources), &nsswitch(sources), 0o644);
    }

    /// Inside the namespace: bind-mounts the scratch file of `sources`
    /// (see [`write_nsswitch`]) over `/etc/nsswitch.conf`.
    pub fn use_nsswitch(dir: &Path, sources: &str) {
        let file = nsswitch_file(dir, sources);
        let ok = Command::new("mount")
            .arg("--bind")
            .arg(&file)
            .arg("/etc/nsswitch.conf")
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "bind-mount {}", file.display());
    }

    /// What the outer process knows that a peer's namespace needs.
    pub struct Setup<'a> {
        /// The slapd every peer asks.
        pub slapd: &'a Slapd,
        /// The CA file, readable by nslcd's user.
        pub ca: PathBuf,
        /// The `pam_roster.so` to load.
        pub pam_roster: PathBuf,
        /// rosterd's `[[domain]]` table.
        pub roster_domain: String,
        /// SSSD's `enumerate` (roster's is in `roster_domain`'s config).
        pub sssd_enumerate: bool,
    }

    impl<'a> Setup<'a> {
        /// The set-up of peers asking `slapd` (CA file `ca`, rosterd's
        /// `[[domain]]` table `roster_domain`), with this workspace's
        /// `pam_roster.so`.
        pub fn new(
            slapd: &'a Slapd,
            ca: PathBuf,
            roster_domain: String,
            sssd_enumerate: bool,
        ) -> Self {
            Setup {
                slapd,
                ca,
                pam_roster: roster_e2e::paths::module("libpam_roster.so"),
                roster_domain,
                sssd_enumerate,
            }
        }
    }

    /// Writes the peer's files under `dir` and returns the bash lines that
    /// bind-mount them inside the namespace (`/etc/nsswitch.conf` starts as
    /// `files`; the sources of [`Peer::sources`] are written for
    /// [`use_nsswitch`]).
    pub fn prepare(peer: Peer, dir: &Path, s: &Setup) -> String {
        mkdir_mode(dir, 0o755);
        let d = dir.display();
        let mut mounts = String::from("set -e\n");
        // /run: a private tmpfs (pid files, nslcd's socket, roster's socket
        // directory mount point).
        mounts += "mount -t tmpfs -o mode=0755 roster-bench-run /run\n";
        for (_, sources) in peer.sources() {
            write_nsswitch(dir, sources);
        }
        write_nsswitch(dir, "files");
        mounts += &format!("mount --bind {d}/nsswitch.files /etc/nsswitch.conf\n");

        // PAM: a copy of the host's /etc/pam.d plus our two services.
        let pam_dir = dir.join("pam.d");
        mkdir_mode(&pam_dir, 0o755);
        for e in std::fs::read_dir("/etc/pam.d")
            .expect("read /etc/pam.d")
            .flatten()
        {
            if e.path().is_file() {
                let _ = std::fs::copy(e.path(), pam_dir.join(e.file_name()));
            }
        }
        let module = match peer {
            Peer::Roster => s.pam_roster.display().to_string(),
            Peer::Sssd => "pam_sss.so".into(),
            Peer::Nslcd => "pam_ldap.so".into(),
        };
        write_mode(
            &pam_dir.join(PAM_SERVICE),
            &format!("auth required {module}\naccount required pam_permit.so\n"),
            0o644,
        );
        write_mode(
            &pam_dir.join(PAM_FLOOR_SERVICE),
            "auth required pam_permit.so\naccount required pam_permit.so\n",
            0o644,
        );
        mounts += &format!("mount --bind {d}/pam.d /etc/pam.d\n");

        let uri = s.slapd.ldap_uri();
        let base = s.slapd.base_dn();
        let bind_dn = s.slapd.service_dn();
        let bind_pw = s.slapd.service_password();
        let ca = s.ca.display();
        match peer {
            Peer::Roster => {
                // rosterd's sockets and nss.mc go to /run/roster (the tmpfs),
                // its persistent cache to the scratch directory.
                // rosterd runs as `_roster`, as installed (`roster_command`:
                // `--user`; as root under callgrind): its configuration is
                // root:_roster 0640, and it makes its state and socket
                // directories its own.
                mkdir_mode(&dir.join("state"), 0o700);
                let config = dir.join("roster.toml");
                write_mode(
                    &config,
                    &format!(
                        "[daemon]\nsocket_dir = \"/run/roster\"\nstate_dir = {}\nlog_level = \"info\"\n\n\
                         [cache]\nentry_ttl = 3600\n\n{}",
                        toml_str(&dir.join("state").display().to_string()),
                        s.roster_domain
                    ),
                    0o600,
                );
                roster_e2e::daemon_user::give_secret(&config);
                mounts += "mkdir -p -m 0755 /run/roster\n";
            }
            Peer::Sssd => {
                let etc = dir.join("etc-sssd");
                mkdir_mode(&etc.join("conf.d"), 0o711);
                mkdir_mode(&etc, 0o711);
                let enumerate = s.sssd_enumerate;
                write_mode(
                    &etc.join("sssd.conf"),
                    &format!(
                        "[sssd]\nservices = nss, pam\ndomains = bench\n\n\
                         [nss]\n\n[pam]\n\n\
                         [domain/bench]\nid_provider = ldap\nauth_provider = ldap\n\
                         access_provider = permit\nldap_uri = {uri}\nldap_search_base = {base}\n\
                         ldap_schema = rfc2307\nldap_default_bind_dn = {bind_dn}\n\
                         ldap_default_authtok_type = password\nldap_default_authtok = {bind_pw}\n\
                         ldap_id_use_start_tls = true\nldap_tls_reqcert = demand\n\
                         ldap_tls_cacert = {ca}\ncache_credentials = true\nenumerate = {enumerate}\n"
                    ),
                    0o600,
                );
                let state = dir.join("var-lib-sss");
                for (sub, mode) in [
                    ("", 0o755),
                    ("db", 0o700),
                    ("pipes", 0o755),
                    ("pipes/private", 0o700),
                    ("mc", 0o775),
                    ("pubconf", 0o755),
                    ("pubconf/krb5.include.d", 0o755),
                    ("gpo_cache", 0o755),
                    ("secrets", 0o700),
                    ("deskprofile", 0o711),
                ] {
                    mkdir_mode(&state.join(sub), mode);
                }
                mkdir_mode(&dir.join("var-log-sssd"), 0o750);
                mounts += &format!(
                    "mount --bind {d}/etc-sssd /etc/sssd\nmount --bind {d}/var-lib-sss /var/lib/sss\n\
                     mkdir -p /var/log/sssd\nmount --bind {d}/var-log-sssd /var/log/sssd\n"
                );
            }
            Peer::Nslcd => {
                write_mode(
                    &dir.join("nslcd.conf"),
                    &format!(
                        "uid nslcd\ngid nslcd\nuri {uri}\nbase {base}\nbinddn {bind_dn}\n\
                         bindpw {bind_pw}\npagesize 500\nssl start_tls\ntls_reqcert demand\ntls_cacertfile {ca}\n"
                    ),
                    0o640,
                );
                let _ = Command::new("chgrp")
                    .args(["nslcd"])
                    .arg(dir.join("nslcd.conf"))
                    .status();
                mounts += &format!(
                    "mount --bind {d}/nslcd.conf /etc/nslcd.conf\n\
                     mkdir -p /run/nslcd && chown nslcd:nslcd /run/nslcd\n"
                );
            }
        }
        mounts += "set +e\n";
        mounts
    }

    /// The peer's daemon, started inside this namespace (stopped by PID
    /// when dropped: SIGTERM, SIGKILL after 10 s).
    pub struct Daemon {
        child: Option<std::process::Child>,
    }

    /// rosterd with `dir/roster.toml` in the foreground, as its own user
    /// `_roster` (as installed), or valgrind running it under callgrind
    /// when [`crate::profile::callgrind_dir`] is set: then as root, since
    /// valgrind makes the FIFOs `callgrind_control` talks through (vgdb's)
    /// as the user it starts as, and a rosterd that drops to `_roster`
    /// can no longer open them (valgrind then ends the process).
    fn roster_command(dir: &Path) -> Command {
        let rosterd = roster_e2e::rosterd::rosterd_bin();
        let mut c = match crate::profile::callgrind_dir() {
            None => {
                let mut c = Command::new(rosterd);
                c.args(["--user", roster_e2e::daemon_user::NAME]);
                c
            }
            Some(out) => {
                let mut c = Command::new("valgrind");
                c.arg("--tool=callgrind")
                    .arg(format!(
                        "--callgrind-out-file={}/callgrind.out.%p",
                        out.display()
                    ))
                    .arg(rosterd);
                c
            }
        };
        c.arg("--foreground")
            .arg("--config")
            .arg(dir.join("roster.toml"));
        c
    }

    impl Daemon {
        /// Starts the peer's daemon in the foreground (rosterd with
        /// `dir/roster.toml`, as `_roster`, or as root under callgrind).
        pub fn start(peer: Peer, dir: &Path) -> Daemon {
            let child = match peer {
                Peer::Roster => roster_command(dir)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start rosterd"),
                Peer::Sssd => Command::new("sssd")
                    .args(["-i", "--logger=stderr", "-d", "0"])
                    .env("DEBUG_LOGGER", "stderr")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start sssd"),
                Peer::Nslcd => Command::new("nslcd")
                    .arg("-n")
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::inherit())
                    .spawn()
                    .expect("start nslcd"),
            };
            Daemon { child: Some(child) }
        }

        /// The daemon's PID (sssd's monitor; its responders and back end
        /// are its children).
        pub fn pid(&self) -> Option<u32> {
            self.child.as_ref().map(std::process::Child::id)
        }

        /// Waits until `getent passwd alice` answers (at most `limit`);
        /// false when it never did.
        pub fn wait_ready(&self, limit: Duration) -> bool {
            let deadline = Instant::now() + limit;
            loop {
                let ok = Command::new("getent")
                    .args(["passwd", ALICE.name])
                    .stdout(Stdio::null())
                    .status()
                    .is_ok_and(|s| s.success());
                if ok {
                    return true;
                }
                if Instant::now() > deadline {
                    return false;
                }
                // (Polled often: the start-up row would otherwise be
                // counted in steps of the wait.)
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    impl Drop for Daemon {
        fn drop(&mut self) {
            if let Some(mut c) = self.child.take() {
                // SAFETY: signalling our own child by its PID.
                unsafe { libc::kill(c.id() as libc::pid_t, libc::SIGTERM) };
                let deadline = Instant::now() + Duration::from_secs(10);
                loop {
                    match c.try_wait() {
                        Ok(Some(_)) | Err(_) => break,
                        Ok(None) if Instant::now() > deadline => {
                            let _ = c.kill();
                            let _ = c.wait();
                            break;
                        }
                        Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                    }
                }
            }
        }
    }

    /// The PIDs of `pid` and all its descendants.
    pub fn process_tree(pid: u32) -> Vec<u32> {
        let mut parent_of: Vec<(u32, u32)> = Vec::new();
        for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(p) = e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else {
                continue;
            };
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            // Field 4, after the parenthesised command name, is the parent.
            if let Some(pp) = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.split(' ').nth(1))
                .and_then(|v| v.parse().ok())
            {
                parent_of.push((p, pp));
            }
        }
        let mut tree = vec![pid];
        let mut i = 0;
        while i < tree.len() {
            let p = tree[i];
            tree.extend(parent_of.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
            i += 1;
        }
        tree
    }

    /// What the scheduler counted so far for every thread of some
    /// processes, in ns ([`sched_ns`]).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct SchedNs {
        /// Time on a CPU (user and kernel).
        pub on_cpu: u64,
        /// Time runnable but waiting for a CPU (in a run queue).
        pub waiting: u64,
    }

    /// [`SchedNs`] of every thread of the processes `pids`
    /// (`/proc/PID/task/TID/schedstat`: counted by the scheduler, not
    /// sampled by ticks); threads gone are not counted.
    pub fn sched_ns(pids: &[u32]) -> SchedNs {
        let mut total = SchedNs::default();
        for p in pids {
            let tasks = std::fs::read_dir(format!("/proc/{p}/task"));
            for t in tasks.into_iter().flatten().flatten() {
                let stat = std::fs::read_to_string(t.path().join("schedstat")).unwrap_or_default();
                let t = parse_schedstat(&stat);
                total.on_cpu += t.on_cpu;
                total.waiting += t.waiting;
            }
        }
        total
    }

    /// Runs the cold row `args` in a fresh process (an inner command of
    /// `count` lookups printing `MEDIAN MEAN P99 CPU`,
    /// [`crate::inner::print_cold`]) and prints its `key=value` lines:
    /// `KEY.median_us`, `KEY.mean_us`, `KEY.p99_us`, `KEY.caller_cpu_us`,
    /// and per lookup the time on a CPU and waiting for one of the
    /// daemon's processes `daemon_tree` and of `slapd` over it
    /// (`KEY.daemon_cpu_us`, `KEY.daemon_wait_us`, `KEY.slapd_cpu_us`,
    /// `KEY.slapd_wait_us`; none where the kernel keeps no scheduler
    /// statistics). The inner process's error when it failed.
    pub fn cold_row(
        key: &str,
        args: &str,
        count: u32,
        daemon_tree: &[u32],
        slapd: &[u32],
    ) -> Result<(), String> {
        let before = (sched_ns(daemon_tree), sched_ns(slapd));
        let printed = crate::inner::again(args)?;
        let after = (sched_ns(daemon_tree), sched_ns(slapd));
        let per_lookup = |a: u64, b: u64| a.saturating_sub(b) as f64 / 1000.0 / f64::from(count);
        for (who, a, b) in [("daemon", after.0, before.0), ("slapd", after.1, before.1)] {
            if a.on_cpu > 0 {
                println!("{key}.{who}_cpu_us={:.1}", per_lookup(a.on_cpu, b.on_cpu));
                println!(
                    "{key}.{who}_wait_us={:.1}",
                    per_lookup(a.waiting, b.waiting)
                );
            }
        }
        let mut it = printed.split_whitespace();
        for stat in ["median_us", "mean_us", "p99_us", "caller_cpu_us"] {
            println!("{key}.{stat}={}", it.next().unwrap_or(""));
        }
        Ok(())
    }

    /// The test slapd's PID, from `ROSTER_BENCH_SLAPD_PID` (the outer
    /// process exports it to each driver), as a list for [`sched_ns`].
    pub fn slapd_from_env() -> Vec<u32> {
        std::env::var("ROSTER_BENCH_SLAPD_PID")
            .ok()
            .and_then(|p| p.parse().ok())
            .into_iter()
            .collect()
    }

    /// The calling thread's time on a CPU so far, in ns
    /// (`/proc/thread-self/schedstat`; 0 where it cannot be read).
    pub fn own_on_cpu_ns() -> u64 {
        let line = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
        parse_schedstat(&line).on_cpu
    }

    /// The first two fields of a `schedstat` line (time on a CPU, time
    /// waiting in a run queue); zero for a field that cannot be read.
    fn parse_schedstat(line: &str) -> SchedNs {
        let mut fields = line
            .split_whitespace()
            .map(|v| v.parse::<u64>().unwrap_or(0));
        SchedNs {
            on_cpu: fields.next().unwrap_or(0),
            waiting: fields.next().unwrap_or(0),
        }
    }

    /// Resident memory of `pid` and all its descendants, in kB, and how
    /// many processes that is.
    pub fn rss_tree_kb(pid: u32) -> (u64, usize) {
        let rss: Vec<u64> = process_tree(pid)
            .iter()
            .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/status")).ok())
            .filter_map(|s| {
                s.lines()
                    .find(|l| l.starts_with("VmRSS:"))
                    .and_then(|l| l.split_whitespace().nth(1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .collect();
        (rss.iter().sum(), rss.len())
    }

    /// One `pamtester SERVICE USER authenticate` with `password` on stdin:
    /// whether it succeeded, how long it took in µs and what pamtester
    /// printed; Err when pamtester could not run.
    pub fn pamtester(
        service: &str,
        user: &str,
        password: &str,
    ) -> Result<(bool, f64, String), String> {
        let start = Instant::now();
        let mut child = Command::new("pamtester")
            .args([service, user, "authenticate"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("pamtester: {e}"))?;
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().ok_or("stdin")?;
            let _ = writeln!(stdin, "{password}");
        }
        let out = child.wait_with_output().map_err(|e| e.to_string())?;
        let us = start.elapsed().as_nanos() as f64 / 1000.0;
        let printed = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), us, printed))
    }

    #[cfg(test)]
    mod schedstat_tests {
        use super::*;

        #[test]
        fn schedstat_gives_time_on_a_cpu_then_time_waiting() {
            assert_eq!(
                parse_schedstat("123456 7890 42\n"),
                SchedNs {
                    on_cpu: 123456,
                    waiting: 7890
                }
            );
            assert_eq!(parse_schedstat(""), SchedNs::default());
        }
    }
}
