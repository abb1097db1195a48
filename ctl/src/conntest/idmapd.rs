//! The NFSv4 ID-mapping domain this host uses, found the way libnfsidmap
//! (rpc.idmapd, nfsidmap, the kernel's keyring upcall) finds it: `Domain`
//! in the `[General]` section of idmapd.conf; else the DNS domain of the
//! host name (the part of its canonical name after the first dot); else
//! `localdomain`.

use serde::Serialize;
use std::ffi::{CStr, CString};
use std::path::Path;

/// Where idmapd.conf is read by default.
pub const DEFAULT_PATH: &str = "/etc/idmapd.conf";
/// libnfsidmap's domain when neither idmapd.conf nor DNS gives one.
pub const FALLBACK_DOMAIN: &str = "localdomain";

/// What this host's NFSv4 ID mapping uses.
#[derive(Clone, Debug, Serialize)]
pub struct HostIdmap {
    /// The NFSv4 domain.
    pub domain: String,
    /// Where it comes from (the file and key, or the host name).
    pub source: String,
    /// `[Translation] Method` as written (libnfsidmap's default: `nsswitch`).
    pub method: Option<String>,
    /// `[General] No-Strip` as written (default `none`).
    pub no_strip: Option<String>,
    /// A problem reading idmapd.conf (other than its absence).
    pub error: Option<String>,
}

impl HostIdmap {
    /// True when the `nsswitch` method (the one that asks NSS, so roster)
    /// is among the translation methods.
    pub fn uses_nsswitch(&self) -> bool {
        self.method.as_deref().is_none_or(|m| {
            m.split([',', ' ', '\t'])
                .any(|x| x.trim().eq_ignore_ascii_case("nsswitch"))
        })
    }

    /// True when names that already carry `@` go out as they are
    /// (`No-Strip = user` or `both`).
    pub fn keeps_user_names(&self) -> bool {
        self.no_strip
            .as_deref()
            .is_some_and(|v| v.eq_ignore_ascii_case("user") || v.eq_ignore_ascii_case("both"))
    }
}

/// The settings of idmapd.conf that matter here.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Settings {
    /// `[General] Domain`.
    pub domain: Option<String>,
    /// `[Translation] Method`.
    pub method: Option<String>,
    /// `[General] No-Strip`.
    pub no_strip: Option<String>,
}

/// Reads idmapd.conf's format: `[Section]` headers, `Key = value` lines,
/// `#` and `;` comment lines; sections and keys compare case-insensitively
/// (as libnfsidmap's); a later value of a key replaces an earlier one.
pub fn parse(text: &str) -> Settings {
    let mut s = Settings::default();
    let mut section = String::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(rest) = line.strip_prefix('[') {
            section = rest.trim_end_matches(']').trim().to_ascii_lowercase();
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().to_string();
        match (section.as_str(), key.trim().to_ascii_lowercase().as_str()) {
            ("general", "domain") if !value.is_empty() => s.domain = Some(value),
            ("general", "no-strip") => s.no_strip = Some(value),
            ("translation", "method") => s.method = Some(value),
            _ => {}
        }
    }
    s
}

/// The NFSv4 ID mapping of this host, with idmapd.conf at `path`.
pub fn host(path: &Path) -> HostIdmap {
    let (settings, error) = match std::fs::read_to_string(path) {
        Ok(text) => (parse(&text), None),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => (Settings::default(), None),
        Err(e) => (
            Settings::default(),
            Some(format!("cannot read {}: {e}", path.display())),
        ),
    };
    let (domain, source) = match settings.domain {
        Some(d) => (d, format!("{} [General] Domain", path.display())),
        None => dns_domain(),
    };
    HostIdmap {
        domain,
        source,
        method: settings.method,
        no_strip: settings.no_strip,
        error,
    }
}

/// The DNS domain of the host name as libnfsidmap computes it, and where
/// it comes from.
fn dns_domain() -> (String, String) {
    let Some(host) = host_name() else {
        return (FALLBACK_DOMAIN.into(), "no host name".into());
    };
    let canonical = canonical_name(&host).unwrap_or_else(|| host.clone());
    match canonical.split_once('.') {
        Some((_, d)) if !d.is_empty() => (
            d.to_ascii_lowercase(),
            format!("DNS domain of the host name {canonical} (no Domain in idmapd.conf)"),
        ),
        _ => (
            FALLBACK_DOMAIN.into(),
            format!("the host name {canonical} has no DNS domain (no Domain in idmapd.conf)"),
        ),
    }
}

/// gethostname(2).
fn host_name() -> Option<String> {
    let name = nix::unistd::gethostname().ok()?;
    let name = name.to_string_lossy().into_owned();
    (!name.is_empty()).then_some(name)
}

/// The canonical name of `host` through the resolver (NSS `hosts`, as
/// libnfsidmap's gethostbyname).
fn canonical_name(host: &str) -> Option<String> {
    let c_host = CString::new(host).ok()?;
    // SAFETY: addrinfo is a plain C struct for which all-zero (null
    // pointers, zero flags) is a valid value.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_flags = libc::AI_CANONNAME;
    hints.ai_family = libc::AF_UNSPEC;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: valid NUL-terminated host, null service, initialised hints
    // and a result pointer freed below with freeaddrinfo.
    let rc = unsafe { libc::getaddrinfo(c_host.as_ptr(), std::ptr::null(), &hints, &mut res) };
    if rc != 0 || res.is_null() {
        return None;
    }
    // SAFETY: getaddrinfo succeeded: `res` points to a list it allocated;
    // the first entry's ai_canonname is null or a NUL-terminated string.
    let name = unsafe {
        let p = (*res).ai_canonname;
        (!p.is_null()).then(|| CStr::from_ptr(p).to_string_lossy().into_owned())
    };
    // SAFETY: `res` came from getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_domain_method_and_no_strip_case_insensitively() {
        let s = parse(
            "# comment\n[general]\n  verbosity = 0\n  DOMAIN = example.test\n; x = y\n\
             No-Strip = both\n[Mapping]\nDomain = not.this\n[TRANSLATION]\nmethod = static,nsswitch\n",
        );
        assert_eq!(
            s,
            Settings {
                domain: Some("example.test".into()),
                method: Some("static,nsswitch".into()),
                no_strip: Some("both".into()),
            }
        );
        assert_eq!(parse("[General]\nDomain =\n"), Settings::default());
    }

    #[test]
    fn methods_and_no_strip() {
        let h = |method: Option<&str>, no_strip: Option<&str>| HostIdmap {
            domain: "d".into(),
            source: "s".into(),
            method: method.map(String::from),
            no_strip: no_strip.map(String::from),
            error: None,
        };
        assert!(h(None, None).uses_nsswitch());
        assert!(h(Some("static, nsswitch"), None).uses_nsswitch());
        assert!(!h(Some("umich_ldap"), None).uses_nsswitch());
        assert!(!h(None, None).keeps_user_names());
        assert!(!h(None, Some("group")).keeps_user_names());
        assert!(h(None, Some("Both")).keeps_user_names());
    }

    #[test]
    fn a_missing_file_falls_back_to_the_host_name() {
        let h = host(Path::new("/nonexistent/idmapd.conf"));
        assert!(h.error.is_none());
        assert!(!h.domain.is_empty());
        assert!(
            h.source.contains("host name") || h.source == "no host name",
            "{h:?}"
        );
    }
}
