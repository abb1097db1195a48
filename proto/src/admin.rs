//! Admin and status messages: what `rosterctl` asks rosterd on `pam.sock`
//! ([`AdminRequest`], frame code 31) and the one answer type of admin and
//! `Status` requests ([`AdminAnswer`], reply kind 8).
//!
//! ## Encoding, and why not the lookup codec's
//!
//! The frame is the lookup protocol's (length prefix, frame version, code,
//! limits). Its body is `u16 admin_version` ([`ADMIN_VERSION`]) and one
//! `str`: the message as JSON, written and read with serde derives of the
//! types below. Lookups have fixed, flat bodies on the NSS module's hot
//! path, where a hand-written binary layout is worth its code; admin and
//! status messages are rare, root's, nested (a status report holds domains
//! that hold servers) and grow with every feature, and their JSON form is
//! also what `rosterctl --json` prints ([`AdminAnswer`]'s [`document`]), so
//! one derive keeps the wire and the printed shape in step. The admin
//! version is separate from the frame version so that changing these
//! messages never cuts off NSS modules already loaded in running programs.
//!
//! A peer with another admin version is refused with an error naming both
//! versions ([`crate::DecodeError::AdminVersion`]), on either side. Frame
//! code 30 (untyped JSON commands of older releases) is refused by name.
//!
//! ## Requests (JSON)
//!
//! | request | JSON |
//! |---------|------|
//! | [`AdminRequest::CacheFlush`] | `{"cmd":"cache_flush","user":"NAME"}`, `"group":"NAME"`, `"netgroup":"NAME"` or `"all":true` |
//! | [`AdminRequest::ForgetCredentials`] | `{"cmd":"forget_credentials","user":"NAME[@DOMAIN]"}` or `"all":true` |
//! | [`AdminRequest::CacheUnlock`] | `{"cmd":"cache_unlock","user":"NAME[@DOMAIN]"}` |
//! | [`AdminRequest::CacheStats`] | `{"cmd":"cache_stats"}` |
//! | [`AdminRequest::Lookup`] | `{"cmd":"lookup","kind":"user"\|"group"\|"netgroup"\|"sid","key":"NAME\|ID\|SID"}` |
//! | [`AdminRequest::Reload`] | `{"cmd":"reload"}` |
//! | [`AdminRequest::Status`] | `{"cmd":"status"}` |
//!
//! ## Answers
//!
//! `Ok` with an [`AdminReply`], or `Err` with a [`Failure`] of one kind:
//! not found, unavailable, refused (with a reason) or invalid.

use crate::codec::DecodeError;
use crate::failure::Failure;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{json, Value};

/// Version of the admin messages, carried in every admin frame; each side
/// refuses another.
pub const ADMIN_VERSION: u16 = 1;

/// An admin command (`rosterctl`); served on `pam.sock` only.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "cmd", rename_all = "snake_case", deny_unknown_fields)]
pub enum AdminRequest {
    /// Drop cached answers (memory cache and `nss.mc`).
    CacheFlush(FlushTarget),
    /// Cache counters.
    CacheStats,
    /// Delete cached password hashes (offline logins).
    ForgetCredentials(ForgetTarget),
    /// Clear the offline lockout (and failure count) of a user's cached
    /// credentials, keeping the cached password.
    CacheUnlock {
        /// `NAME` (in every domain) or `NAME@DOMAIN`.
        user: String,
    },
    /// What rosterd answers for a user, group, netgroup or SID, and where
    /// from.
    Lookup {
        /// What `key` names.
        kind: LookupKind,
        /// Name or numeric ID (user, group), name (netgroup), or SID.
        key: String,
    },
    /// Re-read the configuration (as `SIGHUP` does) and say how it went.
    Reload,
    /// The whole status report (as `Status` on `pam.sock`).
    Status,
}

/// What a cache flush drops.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TargetFields", into = "TargetFields")]
pub enum FlushTarget {
    /// One user's entries (by name).
    User(String),
    /// One group's entries (by name).
    Group(String),
    /// A netgroup (by name), and every netgroup held in memory: any may
    /// include it.
    Netgroup(String),
    /// Everything.
    All,
}

/// Whose cached passwords `forget_credentials` deletes.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TargetFields", into = "TargetFields")]
pub enum ForgetTarget {
    /// One user's (`NAME` or `NAME@DOMAIN`).
    User(String),
    /// Every user's.
    All,
}

/// The JSON fields of a flush or forget target: exactly one is set.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TargetFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    user: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    netgroup: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    all: bool,
}

impl TryFrom<TargetFields> for FlushTarget {
    type Error = String;
    fn try_from(f: TargetFields) -> Result<Self, String> {
        match (f.user, f.group, f.netgroup, f.all) {
            (Some(u), None, None, false) => Ok(FlushTarget::User(u)),
            (None, Some(g), None, false) => Ok(FlushTarget::Group(g)),
            (None, None, Some(n), false) => Ok(FlushTarget::Netgroup(n)),
            (None, None, None, true) => Ok(FlushTarget::All),
            _ => Err(
                "cache_flush takes exactly one of \"user\", \"group\", \"netgroup\", \"all\": true"
                    .into(),
            ),
        }
    }
}

impl From<FlushTarget> for TargetFields {
    fn from(t: FlushTarget) -> Self {
        let (user, group, netgroup, all) = match t {
            FlushTarget::User(u) => (Some(u), None, None, false),
            FlushTarget::Group(g) => (None, Some(g), None, false),
            FlushTarget::Netgroup(n) => (None, None, Some(n), false),
            FlushTarget::All => (None, None, None, true),
        };
        TargetFields {
            user,
            group,
            netgroup,
            all,
        }
    }
}

impl TryFrom<TargetFields> for ForgetTarget {
    type Error = String;
    fn try_from(f: TargetFields) -> Result<Self, String> {
        match (f.user, f.group, f.netgroup, f.all) {
            (Some(u), None, None, false) => Ok(ForgetTarget::User(u)),
            (None, None, None, true) => Ok(ForgetTarget::All),
            _ => Err("forget_credentials takes exactly one of \"user\" or \"all\": true".into()),
        }
    }
}

impl From<ForgetTarget> for TargetFields {
    fn from(t: ForgetTarget) -> Self {
        let (user, all) = match t {
            ForgetTarget::User(u) => (Some(u), false),
            ForgetTarget::All => (None, true),
        };
        TargetFields {
            user,
            group: None,
            netgroup: None,
            all,
        }
    }
}

/// What an admin `lookup` key names.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LookupKind {
    /// A user, by name or UID.
    User,
    /// A group, by name or GID.
    Group,
    /// A netgroup, by name.
    Netgroup,
    /// A user or group of an AD domain, by SID.
    Sid,
}

impl LookupKind {
    /// `user`, `group`, `netgroup` or `sid`.
    pub fn as_str(self) -> &'static str {
        match self {
            LookupKind::User => "user",
            LookupKind::Group => "group",
            LookupKind::Netgroup => "netgroup",
            LookupKind::Sid => "sid",
        }
    }
}

/// The answer to an admin or `Status` request.
pub type AdminAnswer = Result<AdminReply, Failure>;

/// A successful admin or status answer.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AdminReply {
    /// `cache_flush`: the number of memory entries dropped.
    Flushed(u64),
    /// `forget_credentials`: the number of cached passwords deleted.
    Forgotten(u64),
    /// `cache_unlock`: the number of cached credentials whose lockout or
    /// failure count was cleared.
    Unlocked(u64),
    /// `cache_stats`.
    CacheStats(CacheStats),
    /// `lookup` of an object that exists.
    Lookup(LookupFound),
    /// `reload` took the new configuration.
    Reloaded,
    /// `Status`, or the admin `status` command.
    Status(StatusReport),
}

/// Where a looked-up answer came from.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A fresh cached answer.
    Cache,
    /// The directory, just now.
    Directory,
    /// An expired cached or stored answer, served because no directory
    /// answered.
    Offline,
}

/// A found object, where it came from and where it lives.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LookupFound {
    /// Cache, directory or offline store.
    pub source: Source,
    /// The domain that serves it.
    pub domain: String,
    /// Its DN in that domain's directory.
    pub dn: String,
    /// The entry as served.
    pub entry: Entry,
}

/// A served user, group or netgroup.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Entry {
    /// A passwd entry.
    User(UserInfo),
    /// A group entry.
    Group(GroupInfo),
    /// A netgroup, nested netgroups resolved.
    Netgroup(NetgroupInfo),
}

/// A passwd entry as served, with its unique ID.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserInfo {
    /// Login name.
    pub name: String,
    /// UID.
    pub uid: u32,
    /// Primary GID.
    pub gid: u32,
    /// GECOS.
    pub gecos: String,
    /// Home directory.
    pub home: String,
    /// Login shell.
    pub shell: String,
    /// Value of the domain's `unique_id` attribute, if any.
    pub unique_id: Option<String>,
}

/// A group entry as served.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupInfo {
    /// Group name.
    pub name: String,
    /// GID.
    pub gid: u32,
    /// Login names of the members.
    pub members: Vec<String>,
}

/// A netgroup entry as served.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetgroupInfo {
    /// Netgroup name.
    pub name: String,
    /// Its `(host, user, domain)` triples, those of nested netgroups
    /// included; an empty field matches anything.
    pub triples: Vec<[String; 3]>,
}

/// A status report: the whole one (`pam.sock`, root) or the public one
/// (`nss.sock`: up, and each domain online or offline).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StatusReport {
    /// Everything: servers, errors, counters, memory.
    Full(Box<FullStatus>),
    /// What any local user may see.
    Public(PublicStatus),
}

/// The whole status report.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FullStatus {
    /// rosterd's version.
    pub version: String,
    /// Seconds since rosterd started.
    pub uptime_s: u64,
    /// `[nss] enumerate`.
    pub enumerate: bool,
    /// Each enabled domain, in order.
    pub domains: Vec<DomainStatus>,
    /// Cache counters.
    pub cache: CacheStats,
    /// rosterd's process ID.
    pub pid: u32,
    /// rosterd's memory, threads and descriptors.
    pub process: ProcessStats,
    /// Directory entries never served (ID collisions, local accounts,
    /// reserved IDs), sorted.
    pub refused_entries: Vec<RefusedEntry>,
    /// Path of the NSS memory cache, if there is one.
    pub memory_cache: Option<String>,
}

/// One domain's connection state. A field the daemon's directory layer
/// reports reaches `rosterctl` once it is added here.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DomainStatus {
    /// Domain name (as configured).
    pub name: String,
    /// Domain name as its directory reports it.
    pub domain: Option<String>,
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
    /// LDAP searches sent since start.
    pub searches: Option<u64>,
    /// While offline: milliseconds until the background probe tries the
    /// directory again (absent when online).
    pub next_probe_in_ms: Option<u64>,
    /// Probe attempts since start.
    pub probes: Option<u64>,
    /// Connections opened for lookups and logins since start, the one made
    /// once the sockets answer included (the probe's not counted).
    pub connects: Option<u64>,
    /// The host's Kerberos ticket, for a domain that binds with SASL
    /// GSSAPI (`auth = "gssapi"`).
    pub kerberos: Option<KerberosStatus>,
    /// The census of names and IDs the ownership checks use (`[cache]
    /// census`), once one was tried.
    pub census: Option<CensusStatus>,
}

/// A domain's census of user and group names and IDs (rosterd lists them
/// once per `entry_ttl`, so that a cold lookup needs one search).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CensusStatus {
    /// User entries counted by the census in use.
    pub users: Option<u64>,
    /// When its listing began (Unix seconds).
    pub users_taken_at: Option<u64>,
    /// Group entries counted by the census in use.
    pub groups: Option<u64>,
    /// When its listing began (Unix seconds).
    pub groups_taken_at: Option<u64>,
    /// Why the last listing failed, if it did (no secrets in it).
    pub last_error: Option<String>,
    /// Questions the censuses answered without a search before the reply
    /// (since the last flush): ownership checks and group members. (A
    /// group's members are still asked after its answer, to be kept for
    /// offline use.)
    pub checks_answered: u64,
    /// Entries the censuses decided that are still to be asked after the
    /// answers, to be kept for offline use (group members, initgroups'
    /// GIDs; the batch being asked included): 0 once that work is done or
    /// given up (a failed batch, a reload).
    pub left_to_record: u64,
}

/// The host's ticket-granting ticket of a GSSAPI domain, which rosterd
/// acquires from the keytab and renews in the background.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct KerberosStatus {
    /// The host principal (`NAME$@REALM`).
    pub principal: String,
    /// When the TGT held now ends (Unix seconds); absent before the first
    /// one is acquired.
    pub tgt_end: Option<u64>,
    /// When the TGT was last acquired from the keytab (Unix seconds).
    pub last_renewal: Option<u64>,
    /// TGTs acquired from the keytab since start (by the background
    /// renewal, or by a bind that found none valid).
    pub renewals: u64,
    /// The last failure of the background renewal, kept after a later
    /// success (compare its time with `last_renewal`).
    pub last_renewal_error: Option<String>,
    /// When it happened (Unix seconds).
    pub last_renewal_error_at: Option<u64>,
    /// When the background renewal tries next (Unix seconds).
    pub next_renewal: Option<u64>,
}

/// One configured server of a domain.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

/// Cache counters.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CacheStats {
    /// Entries in memory.
    pub entries: u64,
    /// `[cache] max_entries`.
    pub max_entries: u64,
    /// Entries in the offline store.
    pub persistent_entries: u64,
    /// Writes to the offline store dropped: its queue was full, its log
    /// could not be begun, or the record was too large to be read back.
    pub persistent_writes_dropped: u64,
    /// Answers served from the cache.
    pub hits: u64,
    /// Lookups the cache could not answer.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 before the first lookup.
    pub hit_rate: HitRate,
    /// Answers served from expired entries while no directory answered.
    pub offline_answers: u64,
    /// Directory lookups running now.
    pub lookups_in_flight: u64,
    /// The NSS memory cache (`nss.mc`), when rosterd publishes one.
    pub memory_cache: Option<MemoryCacheStats>,
}

/// Size and fill of the NSS memory-cache file (`<socket_dir>/nss.mc`).
/// The file holds a slot table and a record area that records are
/// appended to; when the area is full rosterd writes a new file with the
/// live records, doubling the area up to `size_limit`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MemoryCacheStats {
    /// Path of the file.
    pub path: String,
    /// Size of the file in bytes (slot table and record area).
    pub file_bytes: u64,
    /// Bytes of the file backed by storage (the record area is allocated
    /// as it fills; on tmpfs this is RAM).
    pub allocated_bytes: u64,
    /// `[nss] memcache_size`: the file never grows past it.
    pub size_limit: u64,
    /// Bytes of the record area in use (live and replaced records).
    pub records_bytes: u64,
    /// Capacity of the record area in bytes.
    pub records_capacity: u64,
    /// Slots in the table (each user or group takes two, each initgroups
    /// list one; the table counts as full at 70 %).
    pub slots: u64,
    /// "No such entry" records written to the file (live, replaced or
    /// expired; none carried over when it is written anew).
    pub missing_records_written: u64,
    /// At most this many of them a file (a sixteenth of the slots; their
    /// bytes at most a sixteenth of the record area too).
    pub missing_records_limit: u64,
}

/// A ratio in 0..=1 kept in millionths, so that it compares and
/// round-trips exactly; written as a JSON number (`0.75`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HitRate(u32);

impl HitRate {
    /// `hits / (hits + misses)`, 0 when both are 0.
    pub fn of(hits: u64, misses: u64) -> HitRate {
        let total = u128::from(hits) + u128::from(misses);
        if total == 0 {
            return HitRate(0);
        }
        HitRate((u128::from(hits) * 1_000_000 / total) as u32)
    }
    /// The ratio as a number in 0..=1.
    pub fn ratio(self) -> f64 {
        f64::from(self.0) / 1e6
    }
}

#[cfg(feature = "arbitrary")]
impl<'a> arbitrary::Arbitrary<'a> for HitRate {
    fn arbitrary(u: &mut arbitrary::Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(HitRate(u.int_in_range(0..=1_000_000)?))
    }
}

impl Serialize for HitRate {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(self.ratio())
    }
}

impl<'de> Deserialize<'de> for HitRate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let r = f64::deserialize(d)?;
        if !(0.0..=1.0).contains(&r) {
            return Err(serde::de::Error::custom(format!(
                "hit_rate {r} is outside 0..=1"
            )));
        }
        Ok(HitRate((r * 1e6).round() as u32))
    }
}

/// rosterd's resource use (from `/proc/self`); a value that cannot be read
/// is absent (`null`).
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProcessStats {
    /// Resident memory (`VmRSS`), KiB.
    pub rss_kib: Option<u64>,
    /// Resident anonymous memory (`RssAnon`: the heap), KiB.
    pub rss_anon_kib: Option<u64>,
    /// Resident file pages (`RssFile`: mostly `nss.mc`), KiB.
    pub rss_file_kib: Option<u64>,
    /// Peak resident memory (`VmHWM`), KiB.
    pub rss_peak_kib: Option<u64>,
    /// Threads.
    pub threads: Option<u64>,
    /// Open descriptors.
    pub fds: Option<u64>,
}

/// A directory entry rosterd never serves, and why.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct RefusedEntry {
    /// The domain it is in.
    pub domain: String,
    /// Its DN.
    pub dn: String,
    /// Why it is refused.
    pub reason: String,
}

/// The public status report of `nss.sock`.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicStatus {
    /// `up`.
    pub state: String,
    /// Each enabled domain: name, online or offline.
    pub domains: Vec<PublicDomain>,
    /// Where the details are.
    pub details: String,
}

/// One domain in the public status report.
#[cfg_attr(feature = "arbitrary", derive(arbitrary::Arbitrary))]
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublicDomain {
    /// Domain name.
    pub name: String,
    /// True when online.
    pub online: bool,
    /// `online` or `offline`.
    pub state: String,
}

impl StatusReport {
    /// The report as printed by `rosterctl status --json`: the full or
    /// public document itself.
    pub fn document(&self) -> Value {
        let v = match self {
            StatusReport::Full(s) => serde_json::to_value(s),
            StatusReport::Public(s) => serde_json::to_value(s),
        };
        v.unwrap_or_else(|e| json!({ "error": e.to_string() }))
    }
}

/// The JSON document `rosterctl --json` prints for an admin answer (and
/// the tests read): `{"ok": true, ...}` with the reply's fields (`flushed`,
/// `forgotten`, `unlocked`, `stats`, `found` and the lookup's fields, `status`), or
/// `{"ok": false, "error": TEXT, "kind": KIND, ...}` with the failure's
/// fields.
pub fn document(answer: &AdminAnswer) -> Value {
    let mut doc = match answer {
        Ok(AdminReply::Flushed(n)) => json!({ "flushed": n }),
        Ok(AdminReply::Forgotten(n)) => json!({ "forgotten": n }),
        Ok(AdminReply::Unlocked(n)) => json!({ "unlocked": n }),
        Ok(AdminReply::CacheStats(s)) => json!({ "stats": s }),
        Ok(AdminReply::Lookup(found)) => {
            let mut v = serde_json::to_value(found).unwrap_or_else(|_| json!({}));
            v["found"] = true.into();
            v
        }
        Ok(AdminReply::Reloaded) => json!({}),
        Ok(AdminReply::Status(report)) => json!({ "status": report.document() }),
        Err(failure) => {
            let mut v = serde_json::to_value(failure).unwrap_or_else(|_| json!({}));
            v["error"] = failure.to_string().into();
            v
        }
    };
    doc["ok"] = answer.is_ok().into();
    doc
}

/// Refuses an admin message of another version.
fn check_version(version: u16) -> Result<(), DecodeError> {
    if version == ADMIN_VERSION {
        Ok(())
    } else {
        Err(DecodeError::AdminVersion(version))
    }
}

fn to_json<T: Serialize>(value: &T) -> String {
    // The types above serialize without fail: no maps with non-string
    // keys, no floats outside HitRate's finite range.
    serde_json::to_string(value).unwrap_or_else(|e| format!("\"{e}\""))
}

fn from_json<'a, T: Deserialize<'a>>(what: &'static str, text: &'a str) -> Result<T, DecodeError> {
    serde_json::from_str(text).map_err(|e| DecodeError::AdminBody {
        what,
        message: e.to_string(),
    })
}

/// The JSON body of a request frame.
pub(crate) fn request_json(req: &AdminRequest) -> String {
    to_json(req)
}

/// Reads the body of a request frame (version already read).
pub(crate) fn parse_request(version: u16, json: &str) -> Result<AdminRequest, DecodeError> {
    check_version(version)?;
    from_json("admin request", json)
}

/// The JSON body of an answer frame.
pub(crate) fn answer_json(answer: &AdminAnswer) -> String {
    to_json(answer)
}

/// Reads the body of an answer frame (version already read).
pub(crate) fn parse_answer(version: u16, json: &str) -> Result<AdminAnswer, DecodeError> {
    check_version(version)?;
    from_json("admin answer", json)
}

#[cfg(test)]
mod tests;
