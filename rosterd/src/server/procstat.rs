//! The daemon's own resource use, for the status answer: resident memory
//! (`VmRSS`, split into `RssAnon` — the daemon's own heap — and `RssFile` —
//! mostly the pages of the shared `nss.mc` table it writes — and the
//! high-water mark `VmHWM`, from `/proc/self/status`), threads and open
//! descriptors.

use roster_proto::admin::ProcessStats;

/// This process's memory, threads and descriptors; a value that cannot be
/// read is `None`.
pub fn snapshot() -> ProcessStats {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1) as u64); // the directory being read
    ProcessStats {
        rss_kib: status_field(&status, "VmRSS"),
        rss_anon_kib: status_field(&status, "RssAnon"),
        rss_file_kib: status_field(&status, "RssFile"),
        rss_peak_kib: status_field(&status, "VmHWM"),
        threads: status_field(&status, "Threads"),
        fds,
    }
}

/// Hands the heap's free pages back to the system (glibc `malloc_trim`):
/// after a cache flush the freed entries would otherwise stay resident.
/// It walks the whole heap (milliseconds for a large one), so it runs on a
/// blocking thread, never on the runtime's.
pub fn trim_heap() {
    let trim = || {
        // SAFETY: malloc_trim only walks the allocator's own free lists.
        unsafe {
            libc::malloc_trim(0);
        }
    };
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn_blocking(trim)),
        Err(_) => trim(),
    }
}

/// Sets glibc's allocator up for the daemon's whole life. Called first in
/// `main`, before any thread exists.
///
/// - Blocks of at least `MMAP_THRESHOLD` octets are mapped on their own
///   and unmapped when freed. glibc otherwise raises that threshold to the
///   largest block freed so far (up to 32 MiB): after a listing freed its
///   buffers of megabytes, such blocks were carved from the heap instead,
///   and the heap then held tens of megabytes free that only a trim handed
///   back.
/// - No fast bins (`M_MXFAST` 0): a small block freed when its thread
///   cache is full is merged with its free neighbours at once. With fast
///   bins it was set aside unmerged, and every request of 1 KiB or more (a
///   connection's task, a search's result channel, an LDAP lookup's
///   future: several in each lookup) first merged all of those set aside
///   since the last such request. Without them a first lookup runs about
///   2% fewer instructions (callgrind, the peers benchmark).
pub fn tune_allocator() {
    // SAFETY: mallopt only sets the allocator's parameters; called before
    // any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD as libc::c_int);
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// glibc's own initial mmap threshold (128 KiB), kept fixed.
const MMAP_THRESHOLD: usize = 128 * 1024;

/// The number of `field` in a `/proc/PID/status` text (`VmRSS:  1234 kB`
/// gives 1234).
pub fn status_field(status: &str, field: &str) -> Option<u64> {
    status.lines().find_map(|line| {
        let (name, rest) = line.split_once(':')?;
        (name == field).then(|| rest.split_whitespace().next()?.parse().ok())?
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process() {
        let s = snapshot();
        let rss = s.rss_kib.unwrap();
        assert!(rss > 0, "{s:?}");
        assert!(s.rss_peak_kib.unwrap() >= rss, "{s:?}");
        assert!(s.rss_anon_kib.unwrap() <= rss, "{s:?}");
        assert!(s.threads.unwrap() >= 1, "{s:?}");
        assert!(s.fds.unwrap() >= 3, "{s:?}");
        assert_eq!(
            status_field("Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t7\n", "VmRSS"),
            Some(1234)
        );
        assert_eq!(status_field("VmRSS:\t1 kB\n", "VmHWM"), None);
    }
}
