//! Reading a Kerberos keytab file (MIT's format, versions 0x501 and 0x502,
//! as `adcli`, `ktutil` and Samba write it): the principals, their key
//! version numbers and enctypes. Key bytes are skipped, never kept.
//!
//! The format: two bytes `05 01` or `05 02`, then records, each a signed
//! 32-bit length (negative: a hole of that many bytes) and an entry:
//! number of components (16 bits; in version 1 it counts the realm too),
//! the realm and each component as a 16-bit length and bytes, the name
//! type (32 bits, version 2 only), a timestamp (32 bits), an 8-bit key
//! version, the key (16-bit enctype, 16-bit length, bytes), and, when the
//! record has room, a 32-bit key version that replaces the 8-bit one.
//! Integers are big-endian in version 2, native (little-endian here) in 1.

use std::path::Path;

/// One key of a keytab.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeytabEntry {
    /// `component/component@REALM`.
    pub principal: String,
    /// The realm.
    pub realm: String,
    /// Key version number.
    pub kvno: u32,
    /// Encryption type number (RFC 3961/8009 registry).
    pub enctype: u16,
    /// When the key was written (seconds since the epoch).
    pub timestamp: u32,
}

/// Why a keytab could not be read.
#[derive(Debug, thiserror::Error)]
pub enum KeytabError {
    /// The file could not be read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The bytes are not a keytab.
    #[error("{path}: not a keytab: {reason} (at byte {offset})")]
    Format {
        /// The file.
        path: String,
        /// What is wrong.
        reason: String,
        /// Where.
        offset: usize,
    },
}

/// The name of an enctype number.
pub fn enctype_name(e: u16) -> String {
    match e {
        1 => "des-cbc-crc".into(),
        3 => "des-cbc-md5".into(),
        16 => "des3-cbc-sha1".into(),
        17 => "aes128-cts-hmac-sha1-96".into(),
        18 => "aes256-cts-hmac-sha1-96".into(),
        19 => "aes128-cts-hmac-sha256-128".into(),
        20 => "aes256-cts-hmac-sha384-192".into(),
        23 => "arcfour-hmac".into(),
        24 => "arcfour-hmac-exp".into(),
        n => format!("enctype {n}"),
    }
}

/// True for the AES enctypes (17-20), the only ones AD enables by default
/// on current Windows versions.
pub fn is_strong(e: u16) -> bool {
    (17..=20).contains(&e)
}

/// Reads and parses the keytab at `path`.
pub fn read(path: &Path) -> Result<Vec<KeytabEntry>, KeytabError> {
    let bytes = std::fs::read(path).map_err(|source| KeytabError::Io {
        path: path.display().to_string(),
        source,
    })?;
    parse(&bytes).map_err(|(reason, offset)| KeytabError::Format {
        path: path.display().to_string(),
        reason,
        offset,
    })
}

struct Reader<'a> {
    b: &'a [u8],
    pos: usize,
    big_endian: bool,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], (String, usize)> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.b.len())
            .ok_or_else(|| ("truncated".to_string(), self.pos))?;
        let s = &self.b[self.pos..end];
        self.pos = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, (String, usize)> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, (String, usize)> {
        let big = self.big_endian;
        let s = self.take(2)?;
        let a = [s[0], s[1]];
        Ok(if big {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        })
    }
    fn u32(&mut self) -> Result<u32, (String, usize)> {
        let big = self.big_endian;
        let s = self.take(4)?;
        let a = [s[0], s[1], s[2], s[3]];
        Ok(if big {
            u32::from_be_bytes(a)
        } else {
            u32::from_le_bytes(a)
        })
    }
    fn string(&mut self) -> Result<String, (String, usize)> {
        let at = self.pos;
        let n = self.u16()? as usize;
        let s = self.take(n)?;
        String::from_utf8(s.to_vec()).map_err(|_| ("a name is not UTF-8".into(), at))
    }
}

/// Parses keytab bytes; the error is a reason and a byte offset.
pub fn parse(bytes: &[u8]) -> Result<Vec<KeytabEntry>, (String, usize)> {
    let version = match bytes {
        [5, v @ (1 | 2), ..] => *v,
        [] => return Err(("the file is empty".into(), 0)),
        _ => return Err(("no keytab version 0x0501 or 0x0502".into(), 0)),
    };
    let mut r = Reader {
        b: bytes,
        pos: 2,
        big_endian: version == 2,
    };
    let mut out = Vec::new();
    while r.pos < bytes.len() {
        if bytes.len() - r.pos < 4 {
            // Trailing padding some writers leave.
            break;
        }
        let size = r.u32()? as i32;
        if size < 0 {
            r.take(size.unsigned_abs() as usize)?;
            continue;
        }
        if size == 0 {
            break;
        }
        let start = r.pos;
        let record = r.take(size as usize)?;
        let mut e = Reader {
            b: record,
            pos: 0,
            big_endian: r.big_endian,
        };
        let relocate = |(m, off): (String, usize)| (m, start + off);
        let mut count = e.u16().map_err(relocate)?;
        if version == 1 {
            count = count.saturating_sub(1);
        }
        let realm = e.string().map_err(relocate)?;
        let mut parts = Vec::with_capacity(count as usize);
        for _ in 0..count {
            parts.push(e.string().map_err(relocate)?);
        }
        if version == 2 {
            e.u32().map_err(relocate)?; // name type
        }
        let timestamp = e.u32().map_err(relocate)?;
        let vno8 = e.u8().map_err(relocate)?;
        let enctype = e.u16().map_err(relocate)?;
        let keylen = e.u16().map_err(relocate)? as usize;
        e.take(keylen).map_err(relocate)?;
        let mut kvno = u32::from(vno8);
        if record.len() - e.pos >= 4 {
            let v = e.u32().map_err(relocate)?;
            if v != 0 {
                kvno = v;
            }
        }
        out.push(KeytabEntry {
            principal: format!("{}@{realm}", parts.join("/")),
            realm,
            kvno,
            enctype,
            timestamp,
        });
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// One version-2 record for `parts@realm`.
    pub(crate) fn record(
        parts: &[&str],
        realm: &str,
        kvno8: u8,
        kvno32: Option<u32>,
        enctype: u16,
    ) -> Vec<u8> {
        let mut e = Vec::new();
        let s = |e: &mut Vec<u8>, t: &str| {
            e.extend_from_slice(&(t.len() as u16).to_be_bytes());
            e.extend_from_slice(t.as_bytes());
        };
        e.extend_from_slice(&(parts.len() as u16).to_be_bytes());
        s(&mut e, realm);
        for p in parts {
            s(&mut e, p);
        }
        e.extend_from_slice(&1u32.to_be_bytes());
        e.extend_from_slice(&1_700_000_000u32.to_be_bytes());
        e.push(kvno8);
        e.extend_from_slice(&enctype.to_be_bytes());
        e.extend_from_slice(&16u16.to_be_bytes());
        e.extend_from_slice(&[0xAB; 16]);
        if let Some(v) = kvno32 {
            e.extend_from_slice(&v.to_be_bytes());
        }
        let mut out = (e.len() as i32).to_be_bytes().to_vec();
        out.extend(e);
        out
    }

    #[test]
    fn reads_principals_kvno_and_enctypes() {
        let mut k = vec![5, 2];
        k.extend(record(&["HOST1$"], "AD.EXAMPLE.TEST", 2, None, 18));
        // A hole of 8 bytes.
        k.extend((-8i32).to_be_bytes());
        k.extend([0u8; 8]);
        k.extend(record(
            &["host", "host1.ad.example.test"],
            "AD.EXAMPLE.TEST",
            7,
            Some(300),
            17,
        ));
        let e = parse(&k).unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!(e[0].principal, "HOST1$@AD.EXAMPLE.TEST");
        assert_eq!((e[0].kvno, e[0].enctype), (2, 18));
        assert_eq!(e[1].principal, "host/host1.ad.example.test@AD.EXAMPLE.TEST");
        assert_eq!(e[1].kvno, 300, "the 32-bit kvno wins over the 8-bit one");
        assert_eq!(e[1].realm, "AD.EXAMPLE.TEST");
        assert_eq!(enctype_name(e[1].enctype), "aes128-cts-hmac-sha1-96");
        assert!(is_strong(18) && !is_strong(23));
    }

    #[test]
    fn refuses_what_is_not_a_keytab() {
        assert_eq!(parse(b"").unwrap_err().0, "the file is empty");
        assert!(parse(b"hello").unwrap_err().0.contains("version"));
        let mut k = vec![5, 2];
        let r = record(&["x"], "R", 1, None, 18);
        k.extend(&r[..r.len() - 5]);
        let (reason, _) = parse(&k).unwrap_err();
        assert_eq!(reason, "truncated");
        // Only the header: a keytab without keys.
        assert!(parse(&[5, 2]).unwrap().is_empty());
    }
}
