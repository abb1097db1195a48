//! The daemon's own resource use, for the status answer: resident memory
//! (`VmRSS`, split into `RssAnon` — the daemon's own heap — and `RssFile` —
//! mostly the pages of the shared `nss.mc` table it writes — and the
//! high-water mark `VmHWM`, from `/proc/self/status`), threads and open
//! descriptors.

use serde_json::{json, Value};

/// `{"rss_kib", "rss_anon_kib", "rss_file_kib", "rss_peak_kib", "threads",
/// "fds"}`; a value that cannot be read is `null`.
pub fn snapshot() -> Value {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let fds = std::fs::read_dir("/proc/self/fd")
        .ok()
        .map(|d| d.count().saturating_sub(1)); // the directory being read
    json!({
        "rss_kib": status_field(&status, "VmRSS"),
        "rss_anon_kib": status_field(&status, "RssAnon"),
        "rss_file_kib": status_field(&status, "RssFile"),
        "rss_peak_kib": status_field(&status, "VmHWM"),
        "threads": status_field(&status, "Threads"),
        "fds": fds,
    })
}

/// Hands the heap's free pages back to the system (glibc `malloc_trim`):
/// after a cache flush the freed entries would otherwise stay resident.
pub fn trim_heap() {
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

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
        assert!(s["rss_kib"].as_u64().unwrap() > 0, "{s}");
        assert!(s["rss_peak_kib"].as_u64().unwrap() >= s["rss_kib"].as_u64().unwrap());
        assert!(s["rss_anon_kib"].as_u64().unwrap() <= s["rss_kib"].as_u64().unwrap());
        assert!(s["threads"].as_u64().unwrap() >= 1);
        assert!(s["fds"].as_u64().unwrap() >= 3);
        assert_eq!(
            status_field("Name:\tx\nVmRSS:\t  1234 kB\nThreads:\t7\n", "VmRSS"),
            Some(1234)
        );
        assert_eq!(status_field("VmRSS:\t1 kB\n", "VmHWM"), None);
    }
}
