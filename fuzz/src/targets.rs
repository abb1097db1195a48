//! The bodies of the fuzz targets, one plain function each. The libFuzzer
//! binaries (fuzz_targets/*.rs, feature `libfuzzer`) are one
//! `fuzz_target!` call each that hands the input to its function here; the
//! smoke test (src/smoke.rs, in the workspace's test run) calls the same
//! functions with the committed corpus, the regression inputs and seeded
//! random bytes.

use crate::{ad_domains, assert_group, assert_user, ldap_domains, FuzzEntry};
use roster_daemon::config::{Config, SecretReader};
use roster_daemon::directory::ad::mapping::{
    account_name_candidates, account_state, output_name, parse_range, range_window,
    short_input_name, token_group_sids,
};
use roster_daemon::directory::ad::{ad_group, ad_user, SidIds};
use roster_daemon::directory::{
    check_name, entry_to_group, entry_to_user, member_dns, member_names, user_name_from_dn,
};
use roster_daemon::dn;
use roster_daemon::store::binary;
use roster_daemon::store::record::{self as store_record, Frame as StoreFrame};
use roster_idmap::Sid;
use roster_proto::memcache::{Key, Mapping, Record, RecordView};
use roster_proto::{
    decode_request, decode_response, encode_request, encode_response, parse_header, Request,
    Response,
};
use std::fs::File;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Arbitrary bytes from a socket: the frame header, then the payload as a
/// request (what rosterd reads) and as a reply (what the modules read).
/// Whatever decodes must encode back to a frame that decodes the same.
pub fn codec_decode(data: &[u8]) {
    if let Some(prefix) = data.get(..4) {
        if let Ok(h) = parse_header(prefix.try_into().unwrap()) {
            assert!(h.len >= 4 && h.len <= roster_proto::MAX_FRAME_LEN);
        }
    }
    if let Ok(req) = decode_request(data) {
        let frame = encode_request(&req);
        assert_eq!(decode_request(&frame[4..]).as_ref(), Ok(&req));
    }
    if let Ok(resp) = decode_response(data) {
        let frame = encode_response(&resp);
        assert_eq!(decode_response(&frame[4..]).as_ref(), Ok(&resp));
    }
}

fn check_prefix(frame: &[u8]) {
    let h = parse_header(frame[..4].try_into().unwrap()).expect("valid length prefix");
    assert_eq!(h.len, frame.len() - 4);
}

/// Structured requests and replies: every value encodes to a frame whose
/// length prefix is right and which decodes to the same value. Inputs are
/// at most a few KiB (libFuzzer's -max_len), far below the string, list
/// and frame limits, so every value must come back.
pub fn codec_roundtrip(msg: (Request, Response)) {
    let (req, resp) = msg;
    let frame = encode_request(&req);
    check_prefix(&frame);
    assert_eq!(decode_request(&frame[4..]), Ok(req));
    let frame = encode_response(&resp);
    check_prefix(&frame);
    assert_eq!(decode_response(&frame[4..]), Ok(resp));
}

/// The scratch memory-cache file (in /dev/shm when there is one), created
/// once and rewritten in place for every input: the reader opens it by
/// path as it would open `nss.mc`. Unlinking and creating a new file per
/// input cost more than the lookups themselves. The mapping of the
/// previous input is gone before the file is rewritten (it is dropped at
/// the end of each run), so cutting the file cannot fault a live mapping.
static MC_SCRATCH: OnceLock<(PathBuf, File)> = OnceLock::new();

fn mc_scratch() -> &'static (PathBuf, File) {
    MC_SCRATCH.get_or_init(|| {
        let dir = if Path::new("/dev/shm").is_dir() {
            PathBuf::from("/dev/shm")
        } else {
            std::env::temp_dir()
        };
        let p = dir.join(format!("roster-fuzz-mc-{}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        let f = File::options()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&p)
            .expect("scratch memory-cache file");
        (p, f)
    })
}

fn mc_write(bytes: &[u8]) -> &'static PathBuf {
    let (p, f) = mc_scratch();
    // Overwrite, then cut the tail: the file's pages are reused, not freed
    // and cleared again for every input.
    f.write_all_at(bytes, 0).expect("write scratch file");
    f.set_len(bytes.len() as u64)
        .expect("truncate scratch file");
    p
}

/// A memory-cache file with arbitrary contents, as a hostile or corrupt
/// `nss.mc` would be mapped by every process: the reader must refuse it or
/// answer lookups without reading outside the file. The first byte picks
/// the key and the next bytes its value; the rest is the file. Each record
/// found is parsed again from its bytes; the settings it carries are read
/// whole.
pub fn memcache_file(data: &[u8]) {
    // Record parsing on its own, from any bytes.
    if let Some((view, _)) = RecordView::parse(data) {
        let _ = view.to_owned();
    }
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let klen = (sel >> 3) as usize % 16;
    if rest.len() < klen {
        return;
    }
    let (kbytes, file) = rest.split_at(klen);
    let name = String::from_utf8_lossy(kbytes);
    let id = kbytes
        .iter()
        .take(4)
        .fold(0u32, |a, b| (a << 8) | u32::from(*b));
    let key = match sel & 7 {
        0 => Key::UserName(&name),
        1 => Key::Uid(id),
        2 => Key::GroupName(&name),
        3 => Key::Gid(id),
        _ => Key::GroupsOf(&name),
    };
    let path = mc_write(file);
    let Ok(map) = Mapping::open(path) else {
        return;
    };
    let _ = map.retired();
    // The settings lie inside the file: every byte of them is read.
    let settings = map.settings().unwrap_or_default();
    std::hint::black_box(settings.iter().fold(0u8, |a, b| a ^ b));
    for now in [0, u64::MAX / 2] {
        if let Some(rec) = map.get(&key, now) {
            assert!(key.matches(&rec), "{key:?} answered with {rec:?}");
            let again = Record::decode(&rec.encode(u64::MAX)).map(|(r, _)| r);
            assert_eq!(again.as_ref(), Some(&rec));
        }
    }
}

const SPECIAL: [&str; 5] = ["/dev", "/proc", "/sys", "/run", "/var"];

/// The empty scratch directory config_parse runs in.
static CFG_SCRATCH: OnceLock<(PathBuf, SecretReader)> = OnceLock::new();

/// The reader `Config::from_str` would use (this process), made once (with
/// its scratch directory; `SecretReader::current` asks NSS for the
/// `_roster` group only when a group-readable secret file needs it).
fn cfg_reader() -> SecretReader {
    CFG_SCRATCH
        .get_or_init(|| {
            let dir = std::env::temp_dir().join(format!("roster-fuzz-cfg-{}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("scratch directory");
            std::env::set_current_dir(&dir).expect("enter scratch directory");
            (dir, SecretReader::current())
        })
        .1
}

fn names_special_file(v: &toml::Value) -> bool {
    match v {
        toml::Value::String(s) => SPECIAL.iter().any(|p| s.contains(p)),
        toml::Value::Array(a) => a.iter().any(names_special_file),
        toml::Value::Table(t) => t.values().any(names_special_file),
        _ => false,
    }
}

/// Whether some string value of `text` may name a special file. Without a
/// backslash (escapes) a string can only hold such a path if the text holds
/// it literally, so most texts skip the second TOML parse.
fn may_name_special_file(text: &str) -> bool {
    if !text.contains('\\') && !SPECIAL.iter().any(|p| text.contains(p)) {
        return false;
    }
    match text.parse::<toml::Table>() {
        Ok(value) => names_special_file(&toml::Value::Table(value)),
        Err(_) => false,
    }
}

/// `roster.toml` from arbitrary text: loading either succeeds or returns an
/// error naming file:line:key — never a panic — and a loaded configuration
/// builds its ID mapping (in memory) or refuses it with an error. The
/// target runs in an empty scratch directory (its first call enters it)
/// and skips texts with a string value naming a device, kernel or runtime
/// file, so that the file keys (ca_file, bind_password_file, ...) can never
/// open /dev/zero or a FIFO and hang the run.
pub fn config_parse(data: &[u8]) {
    let reader = cfg_reader();
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if may_name_special_file(text) {
        return;
    }
    match Config::from_str_as(text, "fuzz.toml", reader) {
        Ok(cfg) => {
            let _ = cfg.build_idmap(None);
            for d in cfg.enabled_domains() {
                let _ = (d.user_base(), d.group_base());
            }
        }
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.toml"), "error without origin: {msg}");
        }
    }
}

/// LDAP (RFC 2307 / 2307bis) entries with arbitrary attributes and values
/// converted into passwd and group records: an entry is served only when
/// every field is usable, and then never with a bad name, a separator in a
/// field or an ID outside the domain's range.
pub fn ldap_entry(input: (u8, FuzzEntry)) {
    let (which, entry) = input;
    let domains = ldap_domains();
    let d = &domains[which as usize % domains.len()];
    let e = entry.into_search_entry();
    match entry_to_user(&d.cfg, &d.idmap, &e) {
        Ok(u) => assert_user(d, &u),
        Err(r) => assert_eq!(r.dn, e.dn),
    }
    // A served group's members are `member_names` of the entry (each one
    // taken from a member DN by `user_name_from_dn`), checked by
    // `assert_group`; the member list of a refused group is checked here.
    // Member values may be thousands of 16 KB DNs: the member list is
    // worked out once per input, not again for every check.
    match entry_to_group(&d.cfg, &d.idmap, &e) {
        Ok(g) => assert_group(d, &g),
        Err(r) => {
            assert_eq!(r.dn, e.dn);
            for m in member_names(&d.cfg, &e) {
                check_name(&m).expect("member name served");
            }
        }
    }
    for dn in member_dns(&d.cfg, &e) {
        assert!(!dn.is_empty());
        let _ = dn::rdn_assertion(&dn);
    }
}

/// Active Directory entries with arbitrary attributes, objectSid and
/// tokenGroups values converted into passwd and group records through the
/// rid, rfc2307 and sss mappings, plus account state and ranged member
/// windows: served entries keep the same invariants as LDAP ones.
pub fn ad_entry(input: (u8, FuzzEntry)) {
    let (which, entry) = input;
    let domains = ad_domains();
    let d = &domains[which as usize % domains.len()];
    let e = entry.into_search_entry();
    if let Ok(u) = ad_user(&d.cfg, &d.idmap, &d.sid, &e, SidIds::Allocating) {
        assert_user(d, &u);
        assert!(u.unique_id.is_some(), "AD user without its SID");
    }
    if let Ok(g) = ad_group(&d.cfg, &d.idmap, &e, SidIds::Allocating) {
        assert_group(d, &g);
    }
    let _ = account_state(&e);
    let _ = token_group_sids(&e);
    let (_, next) = range_window(&e, "member");
    if let Some(n) = next {
        assert!(n > 0, "a next window that starts at 0 would loop");
    }
}

/// SIDs in string (`S-1-5-21-...`) and binary (objectSid) form: whatever
/// parses prints and encodes back to an equal SID, and the binary form
/// round-trips byte for byte.
pub fn sid(data: &[u8]) {
    if let Ok(sid) = Sid::from_bytes(data) {
        assert_eq!(sid.to_bytes(), data);
        check_sid(&sid);
    }
    if let Ok(text) = std::str::from_utf8(data) {
        if let Ok(sid) = text.parse::<Sid>() {
            check_sid(&sid);
        }
    }
}

fn check_sid(sid: &Sid) {
    let text = sid.to_string();
    assert_eq!(text.parse::<Sid>().as_ref(), Ok(sid), "{text}");
    assert_eq!(Sid::from_bytes(&sid.to_bytes()).as_ref(), Ok(sid));
    assert_eq!(sid.binary_len(), sid.to_bytes().len());
    assert_eq!(sid.to_ldap_filter_value().len(), 3 * sid.binary_len());
    if let Some((dom, rid)) = sid.split() {
        assert_eq!(dom.with_rid(rid).as_ref(), Ok(sid));
        assert_eq!(sid.rid_in(&dom), Some(rid));
    }
}

/// A server's message octets read by the vendored ldap3's reader
/// (`ldap3::asn1::parse_message`) and by lber's `parse_tag`, which it
/// replaced: a whole value reads the same with both and takes the same
/// octets; where lber wants more octets, the reader does too or calls the
/// value invalid, and then more octets change nothing (they cannot mend
/// it). A value nesting deeper than the reader's bound is never whole for
/// it (and not given to lber).
///
/// The same octets then go through what a connection does with a
/// server's message (`ldap3::asn1::read_server_message`): the checks at
/// the frame, and every reader the message would meet (result, reference,
/// entry, paged-results control). Whatever the octets, that is an answer
/// or an error, never a panic; and the connection reads them as it does
/// when it reads every message as a tree (it reads a lone search entry
/// without the message's tree).
pub fn ber_message(data: &[u8]) {
    use ldap3::asn1::{
        decoded_in_words, message_read_as_response, parse_message, parse_response, parse_tag,
        read_server_message, response_read_as_message, Parsed, MAX_DEPTH,
    };
    if let Ok(Some(taken)) = read_server_message(data) {
        assert!(taken <= data.len());
    }
    assert_eq!(decoded_in_words(data, false), decoded_in_words(data, true));
    let ours = parse_message(data);
    // The connection's reader: the same, but for the search entries it
    // keeps as their octets (which read back as their trees) and the
    // primitive ones it empties.
    assert_eq!(
        response_read_as_message(parse_response(data)),
        Some(message_read_as_response(ours.clone())),
    );
    if nesting(data) > MAX_DEPTH {
        // (lber recurses once per level: not asked, its stack is not
        // what is tested.)
        assert!(!matches!(ours, Parsed::Complete(..)), "{ours:?}");
        return;
    }
    match parse_tag(data) {
        Ok((rest, theirs)) => {
            assert_eq!(ours, Parsed::Complete(theirs, data.len() - rest.len()));
        }
        Err(e) => {
            assert!(e.is_incomplete(), "lber: {e:?}");
            assert!(!matches!(ours, Parsed::Complete(..)), "{ours:?}");
            if ours == Parsed::Invalid {
                let mut more = data.to_vec();
                more.extend([0u8; 64]);
                assert_eq!(parse_message(&more), Parsed::Invalid);
            }
        }
    }
}

/// How deep constructed values nest in the value at the start of `data`
/// (read as lber reads headers: one identifier octet, then a short or
/// long-form length), without recursion.
fn nesting(data: &[u8]) -> usize {
    // The ends of the constructed values the position is inside.
    let mut open: Vec<usize> = Vec::new();
    let (mut at, mut deepest) = (0usize, 0usize);
    loop {
        while open.last() == Some(&at) {
            open.pop();
        }
        if at > 0 && open.is_empty() {
            return deepest;
        }
        let (Some(&id), Some(&first)) = (data.get(at), data.get(at + 1)) else {
            return deepest;
        };
        let (len, start) = if first < 0x80 {
            (usize::from(first), at + 2)
        } else {
            let n = usize::from(first - 0x80);
            let Some(octets) = data.get(at + 2..at + 2 + n) else {
                return deepest;
            };
            let len = octets.iter().fold(0u64, |l, &o| (l << 8) | u64::from(o));
            (usize::try_from(len).unwrap_or(usize::MAX), at + 2 + n)
        };
        let Some(end) = start.checked_add(len).filter(|&e| e <= data.len()) else {
            return deepest;
        };
        if id & 0x20 != 0 && len > 0 {
            open.push(end);
            deepest = deepest.max(open.len());
            at = start;
        } else {
            if id & 0x20 != 0 {
                deepest = deepest.max(open.len() + 1);
            }
            at = end;
        }
    }
}

/// DN and attribute-description parsing: ranged attributes
/// (`member;range=L-H`), RDN assertions and escapes, DN containment, the
/// realm of a base DN, and AD input names.
pub fn dn_range(input: (&str, &str)) {
    let (a, b) = input;
    if let Some(r) = parse_range(a, "member") {
        if let Some(h) = r.high {
            let _ = h.checked_add(1);
        }
    }
    if let Some((attr, value)) = dn::rdn_assertion(a) {
        assert!(!attr.is_empty());
        let _ = value;
    }
    let _ = dn::unescape_value(a);
    assert!(dn::is_under(a, a), "{a:?} is not under itself");
    let _ = dn::is_under(a, b);
    let _ = dn::dns_domain(a);
    for d in ldap_domains() {
        if let Some(n) = user_name_from_dn(&d.cfg, a) {
            check_name(&n).expect("name from a DN served");
        }
    }
    let _ = short_input_name(a, "ad.test", "ad", Some(b));
    let out = output_name(a, true, "ad");
    assert!(out.ends_with("@ad"));
    let c = account_name_candidates(a);
    assert_eq!(c[0], a);
}

/// Removes memcache_file's scratch file (made by its first call in this
/// process). The libFuzzer binaries never call it (their process ends with
/// the run); the smoke test does, at its end.
pub fn remove_memcache_scratch() {
    if let Some((p, _)) = MC_SCRATCH.get() {
        let _ = std::fs::remove_file(p);
    }
}

/// Removes config_parse's scratch directory (made and entered by its first
/// call in this process), after leaving it for the temporary directory.
/// The libFuzzer binaries never call it; the smoke test does, at its end.
pub fn remove_config_scratch() {
    if let Some((dir, _)) = CFG_SCRATCH.get() {
        let _ = std::env::set_current_dir(std::env::temp_dir());
        let _ = std::fs::remove_dir_all(dir);
    }
}

/// Any octets as the payload of a persistent cache record and as a whole
/// frame (`roster_daemon::store`): read or refused, never a panic;
/// whatever reads is written back to the same octets (the form is
/// canonical: one encoding a record).
pub fn store_record(data: &[u8]) {
    if let Ok(rec) = binary::read_record(data) {
        let mut again = Vec::new();
        binary::write_record(&mut again, &rec);
        assert_eq!(again, data, "{rec:?}");
    }
    if let StoreFrame::Valid(rec, len) = store_record::parse(data) {
        assert!(len <= data.len());
        if data[0] == store_record::RECORD_MAGIC {
            assert_eq!(store_record::encode(&rec).as_deref(), Some(&data[..len]));
        }
    }
}
