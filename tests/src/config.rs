//! `roster.toml` for a test [`Slapd`]: one `[[domain]]` pointing at it, with
//! the transport (plain, StartTLS, ldaps), the service-account bind and any
//! extra keys a test needs. Paths (sockets, state, password file) live in a
//! directory the test owns.

use crate::slapd::Slapd;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// How the domain reaches slapd.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// `ldap://` without TLS.
    Plain,
    /// `ldap://` with StartTLS, verified against the fixture CA.
    StartTls,
    /// `ldaps://`, verified against the fixture CA.
    Ldaps,
}

/// Options of the rendered `[[domain]]`.
#[derive(Clone, Debug)]
pub struct DomainOptions {
    /// Domain name (`example`).
    pub name: String,
    /// Transport (plain).
    pub transport: Transport,
    /// Bind as the fixture's service account (true); false = anonymous.
    pub bind: bool,
    /// `schema` (`rfc2307bis`, which also reads memberUid groups).
    pub schema: String,
    /// URIs to use instead of the fixture's (e.g. a closed port first).
    pub uris: Option<Vec<String>>,
    /// Raw lines added at the end of the `[[domain]]` table: `key = value`
    /// (a `connect_timeout` or `op_timeout` here replaces the rendered
    /// one), or a sub-table header such as `[domain.attributes]` followed
    /// by its keys (put those last).
    pub extra: Vec<String>,
}

impl Default for DomainOptions {
    fn default() -> Self {
        DomainOptions {
            name: "example".into(),
            transport: Transport::Plain,
            bind: true,
            schema: "rfc2307bis".into(),
            uris: None,
            extra: Vec::new(),
        }
    }
}

/// TOML string literal (basic string, escaped).
pub fn toml_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The URI of `slapd` for a transport.
pub fn uri_for(slapd: &Slapd, transport: Transport) -> String {
    match transport {
        Transport::Plain | Transport::StartTls => slapd.ldap_uri(),
        Transport::Ldaps => slapd.ldaps_uri(),
    }
}

/// Renders one `[[domain]]` table for `slapd`; the bind password file (if
/// any) is written into `dir` with mode 0600.
pub fn domain_table(slapd: &Slapd, dir: &Path, o: &DomainOptions) -> String {
    let uris = o
        .uris
        .clone()
        .unwrap_or_else(|| vec![uri_for(slapd, o.transport)]);
    let uris: Vec<String> = uris.iter().map(|u| toml_str(u)).collect();
    let mut t = String::new();
    let _ = writeln!(t, "[[domain]]");
    let _ = writeln!(t, "name = {}", toml_str(&o.name));
    let _ = writeln!(t, "uris = [{}]", uris.join(", "));
    let _ = writeln!(t, "base_dn = {}", toml_str(slapd.base_dn()));
    let _ = writeln!(t, "schema = {}", toml_str(&o.schema));
    let overridden = |key: &str| {
        o.extra.iter().any(|l| {
            l.trim_start()
                .strip_prefix(key)
                .is_some_and(|r| r.trim_start().starts_with('='))
        })
    };
    for (key, default) in [("connect_timeout", "3"), ("op_timeout", "5")] {
        if !overridden(key) {
            let _ = writeln!(t, "{key} = {default}");
        }
    }
    if o.transport != Transport::Plain {
        let _ = writeln!(
            t,
            "ca_file = {}",
            toml_str(&slapd.ca_file().display().to_string())
        );
    }
    if o.transport == Transport::StartTls {
        let _ = writeln!(t, "start_tls = true");
    }
    if o.bind {
        let pw = slapd.write_bind_password_file(dir);
        let _ = writeln!(t, "bind_dn = {}", toml_str(slapd.service_dn()));
        let _ = writeln!(
            t,
            "bind_password_file = {}",
            toml_str(&pw.display().to_string())
        );
        // The fixture's service password over plain ldap:// is a test's
        // choice: say so, as the configuration requires.
        if o.transport == Transport::Plain && !overridden("allow_insecure_bind") {
            let _ = writeln!(t, "allow_insecure_bind = true");
        }
    }
    for l in &o.extra {
        let _ = writeln!(t, "{l}");
    }
    t
}

/// A whole `roster.toml`: `[daemon]` with `socket_dir = dir/run` and
/// `state_dir = dir/state` (both created), and one domain.
pub fn roster_toml(slapd: &Slapd, dir: &Path, o: &DomainOptions) -> String {
    let run = dir.join("run");
    let state = dir.join("state");
    std::fs::create_dir_all(&run).expect("create socket dir");
    std::fs::create_dir_all(&state).expect("create state dir");
    format!(
        "[daemon]\nsocket_dir = {}\nstate_dir = {}\nlog_level = \"debug\"\n\n{}",
        toml_str(&run.display().to_string()),
        toml_str(&state.display().to_string()),
        domain_table(slapd, dir, o)
    )
}

/// Writes [`roster_toml`] to `dir/roster.toml` and returns its path.
pub fn write_roster_toml(slapd: &Slapd, dir: &Path, o: &DomainOptions) -> PathBuf {
    let path = dir.join("roster.toml");
    std::fs::write(&path, roster_toml(slapd, dir, o)).expect("write roster.toml");
    path
}
