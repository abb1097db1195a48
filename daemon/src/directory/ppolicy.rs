//! The LDAP password policy control (draft-behera-ldap-password-policy,
//! OpenLDAP's ppolicy) on binds: requested with every password check, its
//! answer says why a bind failed (account locked, password expired) or that
//! the password expires soon or is in its grace logins.

use super::account::PolicyNotice;
use ldap3::asn1::{parse_message, Parsed, StructureTag, TagClass, PL};
use ldap3::controls::{Control, RawControl};

/// OID of the password policy control.
pub const OID: &str = "1.3.6.1.4.1.42.2.27.8.5.1";

/// The request control (no value).
pub fn request() -> RawControl {
    RawControl {
        ctype: OID.to_string(),
        crit: false,
        val: None,
    }
}

/// The `error` of a password policy response.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PolicyError {
    /// passwordExpired (0).
    PasswordExpired,
    /// accountLocked (1).
    AccountLocked,
    /// changeAfterReset (2).
    ChangeAfterReset,
    /// Any other error number (password quality and history errors).
    Other(u64),
}

/// What the server said about the password.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PolicyResponse {
    /// Seconds until the password expires.
    pub expires_in: Option<u64>,
    /// Grace logins left after expiry.
    pub grace_left: Option<u64>,
    /// The error, when the server refused or restricted the bind.
    pub error: Option<PolicyError>,
}

impl PolicyResponse {
    /// What the response says about a password the server accepted: its
    /// grace logins left (the password has expired), else the time until
    /// it expires.
    pub fn notice(&self) -> Option<PolicyNotice> {
        if let Some(n) = self.grace_left {
            return Some(PolicyNotice::GraceLogins(n));
        }
        self.expires_in.map(PolicyNotice::ExpiresIn)
    }
}

/// The policy response among a result's controls, if the server sent one.
pub fn from_controls(ctrls: &[Control]) -> Option<PolicyResponse> {
    ctrls
        .iter()
        .find(|c| c.1.ctype == OID)
        .and_then(|c| c.1.val.as_deref())
        .and_then(parse_value)
}

fn uint(bytes: &[u8]) -> Option<u64> {
    if bytes.is_empty() || bytes.len() > 8 {
        return None;
    }
    Some(bytes.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b)))
}

fn primitive(tag: &StructureTag) -> Option<&[u8]> {
    match &tag.payload {
        PL::P(v) => Some(v),
        PL::C(_) => None,
    }
}

/// Parses the BER value of a password policy response control (read by
/// the vendored ldap3's bounded reader: a value nested too deep is refused,
/// not a stack overflow).
pub fn parse_value(val: &[u8]) -> Option<PolicyResponse> {
    let Parsed::Complete(seq, _) = parse_message(val) else {
        return None;
    };
    let PL::C(items) = seq.payload else {
        return None;
    };
    let mut out = PolicyResponse::default();
    for item in items {
        if item.class != TagClass::Context {
            continue;
        }
        match (item.id, &item.payload) {
            (0, PL::C(choice)) => {
                for w in choice {
                    let n = primitive(w).and_then(uint);
                    match w.id {
                        0 => out.expires_in = n,
                        1 => out.grace_left = n,
                        _ => {}
                    }
                }
            }
            (1, PL::P(v)) => {
                out.error = uint(v).map(|e| match e {
                    0 => PolicyError::PasswordExpired,
                    1 => PolicyError::AccountLocked,
                    2 => PolicyError::ChangeAfterReset,
                    n => PolicyError::Other(n),
                });
            }
            _ => {}
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_warnings_and_errors() {
        // SEQUENCE { [0] { [0] 3600 } }
        let r = parse_value(&[0x30, 0x06, 0xa0, 0x04, 0x80, 0x02, 0x0e, 0x10]).unwrap();
        assert_eq!(r.expires_in, Some(3600));
        assert_eq!(r.notice(), Some(PolicyNotice::ExpiresIn(3600)));
        // SEQUENCE { [0] { [1] 2 } }
        let r = parse_value(&[0x30, 0x05, 0xa0, 0x03, 0x81, 0x01, 0x02]).unwrap();
        assert_eq!(r.grace_left, Some(2));
        assert_eq!(r.notice(), Some(PolicyNotice::GraceLogins(2)));
        // SEQUENCE { [1] accountLocked }
        let r = parse_value(&[0x30, 0x03, 0x81, 0x01, 0x01]).unwrap();
        assert_eq!(r.error, Some(PolicyError::AccountLocked));
        assert_eq!(r.notice(), None);
        let r = parse_value(&[0x30, 0x03, 0x81, 0x01, 0x00]).unwrap();
        assert_eq!(r.error, Some(PolicyError::PasswordExpired));
        // Empty sequence, garbage.
        assert_eq!(parse_value(&[0x30, 0x00]), Some(PolicyResponse::default()));
        assert_eq!(parse_value(&[0x04]), None);
        assert_eq!(parse_value(&[]), None);
    }

    #[test]
    fn finds_the_control_among_others() {
        let ctrls = vec![
            Control(
                None,
                RawControl {
                    ctype: "1.2.3".into(),
                    crit: false,
                    val: Some(vec![0x30, 0x03, 0x81, 0x01, 0x01]),
                },
            ),
            Control(
                None,
                RawControl {
                    ctype: OID.into(),
                    crit: false,
                    val: Some(vec![0x30, 0x03, 0x81, 0x01, 0x00]),
                },
            ),
        ];
        assert_eq!(
            from_controls(&ctrls).unwrap().error,
            Some(PolicyError::PasswordExpired)
        );
        assert_eq!(from_controls(&[]), None);
    }
}
