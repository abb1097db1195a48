//! What a directory lookup returns, and how it fails.

use ldap3::LdapError;
use serde::Serialize;
use std::sync::Arc;

/// A user read from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRecord {
    /// The passwd entry served to NSS.
    pub user: roster_proto::User,
    /// DN of the directory entry.
    pub dn: String,
    /// Name of the domain it came from.
    pub domain: String,
    /// Value of the configured `unique_id` attribute, if any.
    pub unique_id: Option<String>,
    /// SSH public keys (`ssh_public_key` attribute), well-formed ones only
    /// ([`super::sshkey`]).
    pub ssh_keys: Vec<String>,
}

/// A group read from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupRecord {
    /// The group entry served to NSS (members are login names, nested
    /// groups' members included).
    pub group: roster_proto::Group,
    /// DN of the directory entry.
    pub dn: String,
    /// Name of the domain it came from.
    pub domain: String,
}

/// The names and IDs that entries left out of a listing still hold for
/// lookups: an entry whose name several entries use (or whose ID) is left
/// out of the listing whole, but a lookup of its other key, which no other
/// entry has, finds it alone (after `limit_to_groups`, for users). A
/// later domain's entry is judged against these as against the listed
/// entries' keys. Usually empty: only the few left-out entries count.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HeldKeys {
    /// Names held by left-out entries (their ID used by several entries).
    pub names: Vec<String>,
    /// IDs held by left-out entries (their name used by several entries).
    pub ids: Vec<u32>,
}

/// Every user or group of a domain (an enumeration): the entries served,
/// and the keys entries left out of it still hold.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listing<T> {
    /// The entries, each name and ID used once among them.
    pub entries: Vec<T>,
    /// What the entries left out still hold ([`HeldKeys`]).
    pub also_held: HeldKeys,
}

impl<T> Listing<T> {
    /// `entries`, with nothing else held.
    pub fn of(entries: Vec<T>) -> Self {
        Listing {
            entries,
            also_held: HeldKeys::default(),
        }
    }

    /// The same listing with each entry made by `f`.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Listing<U> {
        Listing {
            entries: self.entries.into_iter().map(f).collect(),
            also_held: self.also_held,
        }
    }
}

/// One group of a user: name and GID.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GroupRef {
    /// Group name (empty when the primary group is not in the directory).
    pub name: String,
    /// Group ID.
    pub gid: u32,
}

/// Why a directory could not answer, by kind: the caller decides on the
/// kind (serve offline data, say "no such entry", report a refusal, fix
/// the configuration), the message and the source say what happened.
#[derive(Debug, Clone, thiserror::Error)]
pub enum DirectoryError {
    /// The entry or search base asked for does not exist.
    #[error("directory error: {what}")]
    NotFound {
        /// What does not exist (a DN, with the server's message).
        what: String,
    },
    /// No server reachable, or no answer in time: the cache falls back to
    /// offline data.
    #[error("directory unavailable: {context}")]
    Unavailable {
        /// Which domain, server and operation, and why.
        context: String,
        /// The LDAP library's error, when there is one.
        #[source]
        source: Option<Arc<LdapError>>,
    },
    /// The server answered with a refusal or an error.
    #[error("directory error: {reason}")]
    Refused {
        /// The LDAP result code, when the server sent one.
        rc: Option<u32>,
        /// What was refused and the server's message.
        reason: String,
        /// The LDAP library's error, when there is one.
        #[source]
        source: Option<Arc<LdapError>>,
    },
    /// The domain's configuration cannot work (TLS files, bind
    /// credentials, URIs).
    #[error("directory configuration: {reason}")]
    Invalid {
        /// What is wrong, naming the domain and the setting.
        reason: String,
    },
}

/// Two errors are equal when their kind, result code and message are (the
/// library error behind them is not compared).
impl PartialEq for DirectoryError {
    fn eq(&self, other: &DirectoryError) -> bool {
        use DirectoryError::*;
        match (self, other) {
            (NotFound { what: a }, NotFound { what: b }) => a == b,
            (Unavailable { context: a, .. }, Unavailable { context: b, .. }) => a == b,
            (
                Refused {
                    rc: r1, reason: a, ..
                },
                Refused {
                    rc: r2, reason: b, ..
                },
            ) => r1 == r2 && a == b,
            (Invalid { reason: a }, Invalid { reason: b }) => a == b,
            _ => false,
        }
    }
}

impl Eq for DirectoryError {}

/// LDAP result codes by which a server says it does not offer something
/// (an attribute, a matching rule, a control, the right to read it), as
/// opposed to a failure of the server or of the connection.
const UNSUPPORTED_RCS: [u32; 6] = [
    12, // unavailableCriticalExtension
    16, // noSuchAttribute
    17, // undefinedAttributeType
    18, // inappropriateMatching
    50, // insufficientAccessRights
    53, // unwillingToPerform
];

impl DirectoryError {
    /// [`DirectoryError::Unavailable`] without a library error.
    pub fn unavailable(context: impl Into<String>) -> DirectoryError {
        DirectoryError::Unavailable {
            context: context.into(),
            source: None,
        }
    }

    /// [`DirectoryError::Unavailable`] caused by `source` (whose message
    /// ends the context: logs and status lines show the cause).
    pub fn unavailable_from(context: impl Into<String>, source: LdapError) -> DirectoryError {
        DirectoryError::Unavailable {
            context: format!("{}: {source}", context.into()),
            source: Some(Arc::new(source)),
        }
    }

    /// [`DirectoryError::Refused`] with the server's result code.
    pub fn refused(rc: u32, reason: impl Into<String>) -> DirectoryError {
        DirectoryError::Refused {
            rc: Some(rc),
            reason: reason.into(),
            source: None,
        }
    }

    /// [`DirectoryError::Refused`] caused by `source` (its result code
    /// kept when it is a server's answer).
    pub fn refused_from(context: impl Into<String>, source: LdapError) -> DirectoryError {
        let rc = match &source {
            LdapError::LdapResult { result } => Some(result.rc),
            _ => None,
        };
        DirectoryError::Refused {
            rc,
            reason: format!("{}: {source}", context.into()),
            source: Some(Arc::new(source)),
        }
    }

    /// [`DirectoryError::Invalid`].
    pub fn invalid(reason: impl Into<String>) -> DirectoryError {
        DirectoryError::Invalid {
            reason: reason.into(),
        }
    }

    /// True when no server could answer (offline rules apply).
    pub fn is_unavailable(&self) -> bool {
        matches!(self, DirectoryError::Unavailable { .. })
    }

    /// True when the server said it does not offer what was asked (an
    /// attribute, a matching rule, a control, or the right to read it):
    /// the one case where another way to the same answer is worth trying.
    /// Timeouts, lost connections and other errors are not.
    pub fn is_unsupported(&self) -> bool {
        matches!(self, DirectoryError::Refused { rc: Some(rc), .. } if UNSUPPORTED_RCS.contains(rc))
    }
}

/// State of one server URI.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ServerStatus {
    /// The URI.
    pub uri: String,
    /// Seconds until the server is tried again (0 when not marked down).
    pub down_for_secs: u64,
    /// Consecutive failures.
    pub failures: u32,
    /// Last error of this server.
    pub last_error: Option<String>,
    /// The TLS library its connections use ("rustls", "openssl"; none
    /// without TLS).
    pub tls_library: Option<String>,
}

/// What a directory's connection looks like now (for `rosterctl status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct DirectoryStatus {
    /// Domain name.
    pub domain: String,
    /// True when the last attempt to use the directory succeeded.
    pub online: bool,
    /// URI of the server in use.
    pub server: Option<String>,
    /// Last error (no secrets in it).
    pub last_error: Option<String>,
    /// When the last error happened (Unix seconds).
    pub last_error_at: Option<u64>,
    /// Since when no server answers (Unix seconds).
    pub offline_since: Option<u64>,
    /// Each configured server.
    pub servers: Vec<ServerStatus>,
    /// LDAP searches sent since start (a page of a paged search counts once
    /// per search).
    pub searches: u64,
    /// Connections opened for lookups and logins since start, the one
    /// made once the sockets answer included (the background probe's are
    /// not counted).
    pub connects: u64,
    /// Attempts of the background probe to reach a server since start
    /// (it runs only while the domain is offline).
    pub probes: u64,
    /// Milliseconds until the next probe while the domain is offline.
    pub next_probe_in_ms: Option<u64>,
    /// The host's TGT, for a domain that binds with SASL GSSAPI.
    pub kerberos: Option<roster_proto::admin::KerberosStatus>,
}

/// The directory's state as the status report shows it: `name` and
/// `domain` are the domain's name, the counters always present.
impl From<DirectoryStatus> for roster_proto::admin::DomainStatus {
    fn from(s: DirectoryStatus) -> roster_proto::admin::DomainStatus {
        roster_proto::admin::DomainStatus {
            name: s.domain.clone(),
            domain: Some(s.domain),
            online: s.online,
            server: s.server,
            last_error: s.last_error,
            last_error_at: s.last_error_at,
            offline_since: s.offline_since,
            servers: s.servers.into_iter().map(Into::into).collect(),
            searches: Some(s.searches),
            next_probe_in_ms: s.next_probe_in_ms,
            probes: Some(s.probes),
            connects: Some(s.connects),
            kerberos: s.kerberos,
            census: None,
        }
    }
}

impl From<ServerStatus> for roster_proto::admin::ServerStatus {
    fn from(s: ServerStatus) -> roster_proto::admin::ServerStatus {
        roster_proto::admin::ServerStatus {
            uri: s.uri,
            down_for_secs: s.down_for_secs,
            failures: s.failures,
            last_error: s.last_error,
            tls_library: s.tls_library,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_refusals_meaning_not_offered_are_unsupported() {
        for rc in [12, 16, 17, 18, 50, 53] {
            assert!(DirectoryError::refused(rc, "x").is_unsupported(), "rc={rc}");
        }
        // Other refusals, a missing entry, an outage, a configuration
        // mistake or a library error without a result code are not.
        assert!(!DirectoryError::refused(1, "operationsError").is_unsupported());
        assert!(!DirectoryError::refused(3, "timeLimitExceeded").is_unsupported());
        assert!(!DirectoryError::NotFound { what: "x".into() }.is_unsupported());
        assert!(!DirectoryError::unavailable("no answer within op_timeout").is_unsupported());
        assert!(!DirectoryError::invalid("bad URI").is_unsupported());
        let decode = LdapError::FilterParsing;
        assert!(!DirectoryError::refused_from("search", decode).is_unsupported());
    }

    #[test]
    fn a_server_refusal_keeps_its_result_code_and_source() {
        let e = DirectoryError::refused_from(
            "bind as cn=x",
            LdapError::LdapResult {
                result: ldap3::LdapResult {
                    rc: 50,
                    matched: String::new(),
                    text: "no rights".into(),
                    refs: Vec::new(),
                    ctrls: Vec::new(),
                },
            },
        );
        assert!(matches!(e, DirectoryError::Refused { rc: Some(50), .. }));
        assert!(e.is_unsupported());
        assert!(std::error::Error::source(&e).is_some());
        assert!(e.to_string().contains("bind as cn=x"), "{e}");
        let u = DirectoryError::unavailable_from("connect to ldap://h", LdapError::FilterParsing);
        assert!(u.is_unavailable());
        assert!(std::error::Error::source(&u).is_some());
        assert!(u.to_string().contains("connect to ldap://h: "), "{u}");
    }

    #[test]
    fn a_directory_status_becomes_the_reports_domain_status_field_by_field() {
        let s = DirectoryStatus {
            domain: "ex".into(),
            online: false,
            server: Some("ldap://a".into()),
            last_error: Some("no answer".into()),
            last_error_at: Some(7),
            offline_since: Some(5),
            servers: vec![ServerStatus {
                uri: "ldap://a".into(),
                down_for_secs: 30,
                failures: 2,
                last_error: Some("no answer".into()),
                tls_library: None,
            }],
            searches: 11,
            connects: 3,
            probes: 4,
            next_probe_in_ms: Some(900),
            kerberos: Some(roster_proto::admin::KerberosStatus {
                principal: "HOST$@EX.TEST".into(),
                tgt_end: Some(40),
                renewals: 1,
                ..Default::default()
            }),
        };
        let d = roster_proto::admin::DomainStatus::from(s);
        assert_eq!((d.name.as_str(), d.domain.as_deref()), ("ex", Some("ex")));
        assert!(!d.online);
        assert_eq!(d.server.as_deref(), Some("ldap://a"));
        assert_eq!((d.last_error_at, d.offline_since), (Some(7), Some(5)));
        assert_eq!(
            (d.searches, d.connects, d.probes),
            (Some(11), Some(3), Some(4))
        );
        assert_eq!(d.next_probe_in_ms, Some(900));
        assert_eq!(d.servers[0].uri, "ldap://a");
        assert_eq!((d.servers[0].down_for_secs, d.servers[0].failures), (30, 2));
        assert_eq!(d.servers[0].last_error.as_deref(), Some("no answer"));
        let k = d.kerberos.expect("the TGT's state");
        assert_eq!(
            (k.principal.as_str(), k.tgt_end, k.renewals),
            ("HOST$@EX.TEST", Some(40), 1)
        );
    }
}
