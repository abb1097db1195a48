//! The fuzz targets of roster's parsers ([`targets`], one function each)
//! and their shared pieces: directory entries built from fuzzer input, the
//! domain configurations they are converted with, and the properties every
//! served passwd/group entry must have. The library needs no libFuzzer: the
//! libFuzzer binaries (fuzz_targets/, feature `libfuzzer`, `make fuzz`)
//! and the smoke test of the workspace's test run (src/smoke.rs) both call
//! [`targets`].

use arbitrary::{Arbitrary, Unstructured};
use ldap3::SearchEntry;
use roster_daemon::config::{Config, DomainConfig, DomainSet};
use roster_daemon::directory::{check_name, GroupRecord, UserRecord};
use roster_idmap::Sid;
use std::sync::OnceLock;

/// Attribute names the converters read (LDAP and AD), so that the fuzzer
/// reaches past "missing required attribute" without guessing names.
pub const KNOWN_ATTRS: &[&str] = &[
    "uid",
    "uidNumber",
    "gidNumber",
    "cn",
    "gecos",
    "homeDirectory",
    "loginShell",
    "memberUid",
    "member",
    "uniqueMember",
    "entryUUID",
    "sAMAccountName",
    "objectSid",
    "primaryGroupID",
    "displayName",
    "userAccountControl",
    "accountExpires",
    "pwdLastSet",
    "tokenGroups",
    "member;range=0-1499",
    "member;range=1500-*",
    "UIDNUMBER",
];

/// Values that broke or nearly broke parsers elsewhere: huge, negative and
/// non-numeric IDs, separators, control characters, long values.
pub const EDGE_VALUES: &[&str] = &[
    "0",
    "-1",
    "-0",
    "+5",
    "4294967295",
    "4294967296",
    "18446744073709551616",
    "99999999999999999999999999999999",
    " 10001",
    "10001 ",
    "1e5",
    "0x10",
    "",
    "alice",
    "a:b",
    "a\nb",
    "a\0b",
    "..",
    "-rf",
    "uid=alice,ou=people,dc=example,dc=test",
    "uid=a\\2cb,ou=people,dc=example,dc=test",
    "uid=a+cn=b,ou=people,dc=example,dc=test",
    "cn=g\\,x,ou=groups,dc=example,dc=test",
    "uid=alice,ou=people,dc=example,dc=test#'0101'B",
    "/home/{username}",
    "/bin/sh",
    "513",
    "-2147483648",
    "9223372036854775807",
    "133000000000000000",
];

/// One attribute name: a known one (most of the time) or any string.
#[derive(Debug)]
pub struct AttrName(pub String);

impl<'a> Arbitrary<'a> for AttrName {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        if u.ratio(7, 8)? {
            Ok(AttrName(u.choose(KNOWN_ATTRS)?.to_string()))
        } else {
            Ok(AttrName(String::arbitrary(u)?))
        }
    }
}

/// One attribute value: an edge value, an edge value repeated (oversized)
/// or any string.
#[derive(Debug)]
pub struct Value(pub String);

impl<'a> Arbitrary<'a> for Value {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(Value(match u.int_in_range(0u8..=3)? {
            0 => u.choose(EDGE_VALUES)?.to_string(),
            1 => u.choose(EDGE_VALUES)?.repeat(u.int_in_range(1..=400)?),
            _ => String::arbitrary(u)?,
        }))
    }
}

/// The SID of the AD test domains.
pub const DOMAIN_SID: &str = "S-1-5-21-389706576-2714730196-1825585166";

/// One binary value: a SID of the test domain with any RID (so that the
/// ID mapping is reached), a SID with any sub-authorities, or any bytes.
#[derive(Debug)]
pub struct BinValue(pub Vec<u8>);

impl<'a> Arbitrary<'a> for BinValue {
    fn arbitrary(u: &mut Unstructured<'a>) -> arbitrary::Result<Self> {
        Ok(BinValue(match u.int_in_range(0u8..=2)? {
            0 => {
                let sid: Sid = DOMAIN_SID.parse().expect("domain SID");
                let mut b = sid.to_bytes();
                b[1] += 1;
                b.extend_from_slice(&u32::arbitrary(u)?.to_le_bytes());
                b
            }
            1 => {
                let n = u.int_in_range(0u8..=16)?;
                let mut b = vec![1, n];
                b.extend_from_slice(&<[u8; 6]>::arbitrary(u)?);
                for _ in 0..n {
                    b.extend_from_slice(&u32::arbitrary(u)?.to_le_bytes());
                }
                b
            }
            _ => Vec::arbitrary(u)?,
        }))
    }
}

/// A directory entry as ldap3 hands it over: text attributes, and binary
/// ones (values that are not UTF-8, and AD's objectSid/tokenGroups).
#[derive(Debug, Arbitrary)]
pub struct FuzzEntry {
    /// Index into [`EDGE_VALUES`]-style DNs or a free DN.
    pub dn: Value,
    /// Text attributes.
    pub attrs: Vec<(AttrName, Vec<Value>)>,
    /// Binary attributes.
    pub bin_attrs: Vec<(AttrName, Vec<BinValue>)>,
}

impl FuzzEntry {
    /// The ldap3 entry (a later duplicate attribute name replaces an
    /// earlier one, as in ldap3's map). Consumes the input: the values move
    /// into the entry instead of being copied.
    pub fn into_search_entry(self) -> SearchEntry {
        let attrs = self
            .attrs
            .into_iter()
            .map(|(k, v)| (k.0, v.into_iter().map(|v| v.0).collect()))
            .collect::<ldap3::AttrMap<_>>();
        let bin_attrs = self
            .bin_attrs
            .into_iter()
            .map(|(k, v)| (k.0, v.into_iter().map(|v| v.0).collect()))
            .collect::<ldap3::AttrMap<_>>();
        SearchEntry {
            dn: self.dn.0,
            attrs,
            bin_attrs,
        }
    }
}

/// A domain configuration and its ID mapping.
pub struct Domain {
    /// The domain.
    pub cfg: DomainConfig,
    /// Its ID mapping.
    pub idmap: DomainSet,
    /// Its SID (AD domains; set in the ID mapping).
    pub sid: Sid,
}

fn domain(text: &str) -> Domain {
    let cfg = Config::from_str(text, "fuzz.toml").expect("fuzz domain configuration");
    let idmap = cfg.build_idmap(None).expect("fuzz idmap");
    let cfg = cfg.domains.into_iter().next().expect("one domain");
    let sid: Sid = DOMAIN_SID.parse().expect("domain SID");
    if cfg.kind == roster_daemon::config::DomainKind::Ad {
        idmap
            .set_domain_sid(&cfg.name, sid)
            .expect("domain SID set");
    }
    Domain { cfg, idmap, sid }
}

/// LDAP domains: rfc2307, rfc2307bis with a home template and shell
/// override, and one with a narrow ID range.
pub fn ldap_domains() -> &'static [Domain] {
    static D: OnceLock<Vec<Domain>> = OnceLock::new();
    D.get_or_init(|| {
        let head = "[[domain]]\nname = \"ex\"\nuris = [\"ldap://h\"]\nbase_dn = \"dc=example,dc=test\"\n";
        vec![
            domain(head),
            domain(&format!(
                "{head}schema = \"rfc2307bis\"\nhome_directory_template = \"/home/{{domain}}/{{username}}/{{uid}}\"\nshell_override = \"/bin/zsh\"\nuser_search_base = \"ou=people,dc=example,dc=test\"\n[domain.attributes]\nunique_id = \"entryUUID\"\n"
            )),
            domain(&format!("{head}min_id = 10000\nmax_id = 20000\n")),
        ]
    })
}

/// AD domains: rid, rfc2307 and qualified names with sss.
pub fn ad_domains() -> &'static [Domain] {
    static D: OnceLock<Vec<Domain>> = OnceLock::new();
    D.get_or_init(|| {
        let head = "[[domain]]\nname = \"ad\"\nkind = \"ad\"\nuris = [\"ldaps://dc\"]\nbase_dn = \"dc=ad,dc=test\"\n";
        vec![
            domain(&format!(
                "{head}[domain.idmap]\nbackend = \"rid\"\nrange_low = 200000\nrange_high = 2200000\n"
            )),
            domain(&format!("{head}[domain.idmap]\nbackend = \"rfc2307\"\n")),
            domain(&format!(
                "{head}qualified_names = true\nhome_directory_template = \"/home/{{domain}}/{{username}}\"\n[domain.idmap]\nbackend = \"sss\"\n"
            )),
        ]
    })
}

/// A passwd field must never hold `:`, a newline or NUL.
pub fn assert_field(what: &str, v: &str) {
    assert!(
        !v.contains([':', '\n', '\0']),
        "{what} {v:?} would break a passwd/group line"
    );
}

/// What every served user must satisfy.
pub fn assert_user(d: &Domain, r: &UserRecord) {
    let u = &r.user;
    check_name(&u.name).unwrap_or_else(|m| panic!("served user name refused: {m}"));
    assert_field("gecos", &u.gecos);
    assert_field("home", &u.home);
    assert_field("shell", &u.shell);
    for id in [u.uid, u.gid] {
        assert!(
            d.idmap.check_posix_id(&d.cfg.name, id).is_ok(),
            "ID {id} served"
        );
    }
}

/// What every served group must satisfy.
pub fn assert_group(d: &Domain, r: &GroupRecord) {
    let g = &r.group;
    check_name(&g.name).unwrap_or_else(|m| panic!("served group name refused: {m}"));
    for m in &g.members {
        check_name(m).unwrap_or_else(|e| panic!("served member name refused: {e}"));
    }
    assert!(
        d.idmap.check_posix_id(&d.cfg.name, g.gid).is_ok(),
        "GID {} served",
        g.gid
    );
}

pub mod targets;

#[cfg(test)]
mod seeds;
#[cfg(test)]
mod smoke;
