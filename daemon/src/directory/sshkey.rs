//! SSH public keys of a user entry: the values of `sshPublicKey` (the
//! openssh-lpk schema) or of the domain's `[domain.attributes]
//! ssh_public_key`, served to sshd through `rosterctl ssh-keys`.
//!
//! A value is served only when it is one `type base64 [comment]` line: a
//! key type OpenSSH knows ([`KEY_TYPES`]), then the key in standard base64
//! whose decoded blob starts with that same type name (the SSH wire form),
//! then an optional comment. Options before the type (`from="..."`), control
//! characters (a newline would smuggle a second line to sshd) and anything
//! else are refused; a refused value is left out and logged once with the
//! entry's DN ([`keys_of`]).

use super::netgroup::first_sighting;
use base64ct::{Base64, Encoding};
use ldap3::SearchEntry;
use thiserror::Error;

/// The key types accepted (OpenSSH's names; certificates included).
pub const KEY_TYPES: &[&str] = &[
    "ssh-ed25519",
    "ssh-rsa",
    "ssh-dss",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
    "sk-ssh-ed25519@openssh.com",
    "sk-ecdsa-sha2-nistp256@openssh.com",
    "ssh-ed25519-cert-v01@openssh.com",
    "ssh-rsa-cert-v01@openssh.com",
    "ssh-dss-cert-v01@openssh.com",
    "ecdsa-sha2-nistp256-cert-v01@openssh.com",
    "ecdsa-sha2-nistp384-cert-v01@openssh.com",
    "ecdsa-sha2-nistp521-cert-v01@openssh.com",
    "sk-ssh-ed25519-cert-v01@openssh.com",
    "sk-ecdsa-sha2-nistp256-cert-v01@openssh.com",
];

/// Longest value accepted (an RSA 16384-bit key is about 2,800 bytes).
pub const MAX_KEY_LEN: usize = 16 * 1024;

/// Why a value is not served as a key.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
pub enum KeyError {
    /// The value is not `type base64 [comment]`.
    #[error("not a `type base64 [comment]` line")]
    Shape,
    /// The value holds a newline or another control character.
    #[error("contains a newline or another control character")]
    ControlCharacter,
    /// The value is longer than [`MAX_KEY_LEN`].
    #[error("is {0} bytes long (at most {MAX_KEY_LEN})")]
    TooLong(usize),
    /// The value is not UTF-8.
    #[error("is not UTF-8 text")]
    NotUtf8,
    /// The first word is not a key type of [`KEY_TYPES`].
    #[error("key type {0:?} is not one OpenSSH knows")]
    UnknownType(String),
    /// The second word is not standard base64.
    #[error("the key data is not valid base64")]
    Base64,
    /// The decoded key does not start with the type of the line.
    #[error("the key data is not a {0} key")]
    TypeMismatch(String),
}

/// Checks one value and returns the line served for it: type, key and the
/// comment (if any) separated by single spaces.
pub fn parse_key(value: &str) -> Result<String, KeyError> {
    if value.len() > MAX_KEY_LEN {
        return Err(KeyError::TooLong(value.len()));
    }
    if value.chars().any(char::is_control) {
        return Err(KeyError::ControlCharacter);
    }
    let mut words = value.trim().splitn(3, ' ');
    let (Some(kind), Some(data)) = (words.next(), words.next()) else {
        return Err(KeyError::Shape);
    };
    let comment = words.next().map(str::trim).unwrap_or("");
    if kind.is_empty() || data.is_empty() {
        return Err(KeyError::Shape);
    }
    if !KEY_TYPES.contains(&kind) {
        return Err(KeyError::UnknownType(kind.to_string()));
    }
    let blob = Base64::decode_vec(data).map_err(|_| KeyError::Base64)?;
    if blob_type(&blob) != Some(kind.as_bytes()) {
        return Err(KeyError::TypeMismatch(kind.to_string()));
    }
    Ok(if comment.is_empty() {
        format!("{kind} {data}")
    } else {
        format!("{kind} {data} {comment}")
    })
}

/// The key type a decoded key names: its first SSH string (u32 big-endian
/// length, then the bytes).
fn blob_type(blob: &[u8]) -> Option<&[u8]> {
    let len = u32::from_be_bytes(blob.get(..4)?.try_into().ok()?) as usize;
    blob.get(4..4usize.checked_add(len)?)
}

/// The keys of entry `e` in attribute `attr` (any case), each checked by
/// [`parse_key`], duplicates dropped, in the directory's order. A refused
/// value is left out and logged once (domain, DN, value).
pub fn keys_of(domain: &str, e: &SearchEntry, attr: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let refuse = |value: &str, why: KeyError| {
        if first_sighting(domain, &e.dn, value) {
            let shown: String = value.chars().take(60).collect();
            tracing::warn!(domain = %domain, dn = %e.dn, attribute = %attr, value = ?shown, reason = %why, "SSH public key not served");
        }
    };
    for (_, values) in e.attrs.iter().filter(|(k, _)| k.eq_ignore_ascii_case(attr)) {
        for v in values {
            match parse_key(v) {
                Ok(line) if !out.contains(&line) => out.push(line),
                Ok(_) => {}
                Err(why) => refuse(v, why),
            }
        }
    }
    for (_, values) in e
        .bin_attrs
        .iter()
        .filter(|(k, _)| k.eq_ignore_ascii_case(attr))
    {
        for v in values {
            refuse(&String::from_utf8_lossy(v), KeyError::NotUtf8);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A well-formed ed25519 public key (32 bytes of key material).
    pub(crate) fn ed25519(comment: &str) -> String {
        let mut blob = Vec::new();
        blob.extend_from_slice(&11u32.to_be_bytes());
        blob.extend_from_slice(b"ssh-ed25519");
        blob.extend_from_slice(&32u32.to_be_bytes());
        blob.extend_from_slice(&[7u8; 32]);
        let line = format!("ssh-ed25519 {}", Base64::encode_string(&blob));
        if comment.is_empty() {
            line
        } else {
            format!("{line} {comment}")
        }
    }

    #[test]
    fn a_well_formed_key_is_served_as_one_line() {
        let k = ed25519("alice@laptop");
        assert_eq!(parse_key(&k), Ok(k.clone()));
        assert_eq!(parse_key(&format!("  {k}  ")), Ok(k.clone()));
        let bare = ed25519("");
        assert_eq!(parse_key(&bare), Ok(bare.clone()));
        // A comment may hold spaces.
        let spaced = ed25519("Alice A. (work laptop)");
        assert_eq!(parse_key(&spaced), Ok(spaced.clone()));
    }

    #[test]
    fn malformed_values_name_their_fault() {
        let k = ed25519("c");
        let data = k.split(' ').nth(1).unwrap();
        assert_eq!(parse_key(""), Err(KeyError::Shape));
        assert_eq!(parse_key("ssh-ed25519"), Err(KeyError::Shape));
        assert_eq!(
            parse_key(&format!("ssh-foo {data}")),
            Err(KeyError::UnknownType("ssh-foo".into()))
        );
        // authorized_keys options are not a key type.
        assert_eq!(
            parse_key(&format!("from=\"10.0.0.1\" {k}")),
            Err(KeyError::UnknownType("from=\"10.0.0.1\"".into()))
        );
        assert_eq!(parse_key("ssh-ed25519 not*base64"), Err(KeyError::Base64));
        assert_eq!(
            parse_key(&format!("ssh-rsa {data}")),
            Err(KeyError::TypeMismatch("ssh-rsa".into()))
        );
        // Valid base64 that is too short to name a type.
        assert_eq!(
            parse_key("ssh-ed25519 AAAA"),
            Err(KeyError::TypeMismatch("ssh-ed25519".into()))
        );
        assert_eq!(
            parse_key(&format!("{k}\nssh-ed25519 {data} injected")),
            Err(KeyError::ControlCharacter)
        );
        let long = format!("{k} {}", "x".repeat(MAX_KEY_LEN));
        assert!(matches!(parse_key(&long), Err(KeyError::TooLong(_))));
    }

    #[test]
    fn an_entry_yields_its_good_keys_once_in_order() {
        let good = ed25519("one");
        let other = ed25519("two");
        let e = SearchEntry {
            dn: "uid=k,ou=people,dc=example,dc=test".into(),
            attrs: ldap3::AttrMap::from_iter([(
                "SSHPublicKey".to_string(),
                vec![good.clone(), "garbage".into(), other.clone(), good.clone()],
            )]),
            bin_attrs: ldap3::AttrMap::from_iter([(
                "sshPublicKey".to_string(),
                vec![vec![0xff, 0xfe]],
            )]),
        };
        assert_eq!(keys_of("d", &e, "sshPublicKey"), vec![good, other]);
        assert!(keys_of("d", &e, "altSecurityIdentities").is_empty());
    }
}
