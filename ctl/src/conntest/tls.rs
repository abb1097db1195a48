//! The TLS steps, done with OpenSSL directly so that the peer certificate
//! can be shown even when it does not verify: the StartTLS extended
//! operation (hand-encoded, RFC 4511 §4.14) and the handshake.

use openssl::asn1::Asn1Time;
use openssl::ssl::{SslConnector, SslFiletype, SslMethod, SslVerifyMode};
use openssl::x509::{X509NameRef, X509Ref, X509VerifyResult};
use roster_daemon::config::DomainConfig;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};

/// OID of the StartTLS extended operation.
const STARTTLS_OID: &[u8] = b"1.3.6.1.4.1.1466.20037";

/// What the handshake showed.
#[derive(Debug)]
pub struct TlsInfo {
    /// Negotiated protocol (`TLSv1.3`).
    pub protocol: String,
    /// Negotiated cipher.
    pub cipher: String,
    /// Subject of the server certificate.
    pub subject: String,
    /// Issuer of the server certificate.
    pub issuer: String,
    /// `notAfter` of the server certificate.
    pub not_after: String,
    /// Days until it expires (negative: expired).
    pub days_left: i32,
    /// `Ok` when the chain and the host name verify against the trusted
    /// CAs (`ca_file` only, plus the system's with `ca_system = true`; the
    /// system's without `ca_file`), else why not.
    pub verified: Result<(), String>,
}

/// Sends the StartTLS request on a fresh LDAP connection and checks the
/// server's answer.
pub fn starttls(stream: &mut TcpStream) -> Result<(), String> {
    let mut req = vec![
        0x30,
        0x1d,
        0x02,
        0x01,
        0x01,
        0x77,
        0x18,
        0x80,
        STARTTLS_OID.len() as u8,
    ];
    req.extend_from_slice(STARTTLS_OID);
    stream
        .write_all(&req)
        .map_err(|e| format!("cannot send the StartTLS request: {e}"))?;
    let body =
        read_message(stream).map_err(|e| format!("no StartTLS answer from the server: {e}"))?;
    let (rc, message) = parse_extended_response(&body).ok_or_else(|| {
        "the server's StartTLS answer is not an LDAP extended response".to_string()
    })?;
    if rc == 0 {
        Ok(())
    } else {
        let msg = if message.is_empty() {
            String::new()
        } else {
            format!(": {message}")
        };
        Err(format!(
            "the server refused StartTLS: {} ({rc}){msg}",
            super::ldap::rc_name(rc)
        ))
    }
}

/// Reads one BER-encoded LDAP message (SEQUENCE) and returns its contents.
fn read_message(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
    let mut head = [0u8; 2];
    stream.read_exact(&mut head)?;
    if head[0] != 0x30 {
        return Err(std::io::Error::other("not an LDAP message"));
    }
    let len = if head[1] & 0x80 == 0 {
        usize::from(head[1])
    } else {
        let n = usize::from(head[1] & 0x7f);
        if n == 0 || n > 3 {
            return Err(std::io::Error::other("bad length"));
        }
        let mut b = vec![0u8; n];
        stream.read_exact(&mut b)?;
        b.iter().fold(0usize, |acc, x| (acc << 8) | usize::from(*x))
    };
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body)?;
    Ok(body)
}

/// One BER element at the start of `buf`: (tag, contents, rest).
fn element(buf: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let tag = *buf.first()?;
    let first = *buf.get(1)?;
    let (len, hdr) = if first & 0x80 == 0 {
        (usize::from(first), 2)
    } else {
        let n = usize::from(first & 0x7f);
        let bytes = buf.get(2..2 + n)?;
        (
            bytes.iter().fold(0usize, |a, x| (a << 8) | usize::from(*x)),
            2 + n,
        )
    };
    let contents = buf.get(hdr..hdr + len)?;
    Some((tag, contents, &buf[hdr + len..]))
}

/// (resultCode, diagnosticMessage) of an ExtendedResponse message body.
fn parse_extended_response(body: &[u8]) -> Option<(u32, String)> {
    let (tag, _id, rest) = element(body)?;
    if tag != 0x02 {
        return None;
    }
    let (tag, resp, _) = element(rest)?;
    if tag != 0x78 {
        return None;
    }
    let (tag, code, rest) = element(resp)?;
    if tag != 0x0a {
        return None;
    }
    let rc = code.iter().fold(0u32, |a, x| (a << 8) | u32::from(*x));
    let (_, _matched, rest) = element(rest)?;
    let (_, diag, _) = element(rest)?;
    Some((rc, String::from_utf8_lossy(diag).into_owned()))
}

/// Performs the TLS handshake on `stream` for `host`, completing it even
/// when the certificate does not verify so that it can be described.
pub fn handshake(stream: TcpStream, host: &str, cfg: &DomainConfig) -> Result<TlsInfo, String> {
    let mut b = SslConnector::builder(SslMethod::tls_client())
        .map_err(|e| format!("OpenSSL setup failed: {e}"))?;
    if let Some(ca) = &cfg.ca_file {
        // As the daemon does: ca_file replaces the system CAs unless
        // ca_system = true.
        if !cfg.ca_system {
            let empty = openssl::x509::store::X509StoreBuilder::new()
                .map_err(|e| format!("OpenSSL setup failed: {e}"))?;
            b.set_cert_store(empty.build());
        }
        b.set_ca_file(ca)
            .map_err(|e| format!("ca_file {} cannot be loaded: {e}", ca.display()))?;
    }
    if let (Some(cert), Some(key)) = (&cfg.client_cert, &cfg.client_key) {
        b.set_certificate_chain_file(cert)
            .map_err(|e| format!("client_cert {} cannot be loaded: {e}", cert.display()))?;
        b.set_private_key_file(key, SslFiletype::PEM)
            .map_err(|e| format!("client_key {} cannot be loaded: {e}", key.display()))?;
    }
    let problems: Arc<Mutex<Vec<String>>> = Arc::default();
    let seen = Arc::clone(&problems);
    b.set_verify_callback(SslVerifyMode::PEER, move |ok, store| {
        if !ok {
            let subject = store
                .current_cert()
                .map(|c| name_text(c.subject_name()))
                .unwrap_or_default();
            if let Ok(mut v) = seen.lock() {
                v.push(format!(
                    "{} (depth {}, {subject})",
                    store.error().error_string(),
                    store.error_depth()
                ));
            }
        }
        // Finish the handshake anyway: the verdict is reported, not enforced
        // here (nothing is sent over this connection).
        true
    });
    let connector = b.build();
    let tls = connector
        .connect(host, stream)
        .map_err(|e| format!("TLS handshake failed: {e}"))?;
    let ssl = tls.ssl();
    let cert = ssl
        .peer_certificate()
        .ok_or_else(|| "the server sent no certificate".to_string())?;
    let mut problems = problems.lock().map(|v| v.clone()).unwrap_or_default();
    if problems.is_empty() && ssl.verify_result() != X509VerifyResult::OK {
        problems.push(ssl.verify_result().error_string().to_string());
    }
    problems.dedup();
    let trusted = match &cfg.ca_file {
        Some(ca) if cfg.ca_system => format!("ca_file {} and the system CAs", ca.display()),
        Some(ca) => format!("ca_file {} only (ca_system = false)", ca.display()),
        None => "the system CAs (no ca_file)".to_string(),
    };
    let verified = if problems.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "does not verify against {trusted}: {}",
            problems.join("; ")
        ))
    };
    Ok(TlsInfo {
        protocol: ssl.version_str().to_string(),
        cipher: ssl
            .current_cipher()
            .map(|c| c.name().to_string())
            .unwrap_or_default(),
        subject: name_text(cert.subject_name()),
        issuer: name_text(cert.issuer_name()),
        not_after: cert.not_after().to_string(),
        days_left: days_left(&cert),
        verified,
    })
}

fn days_left(cert: &X509Ref) -> i32 {
    Asn1Time::days_from_now(0)
        .and_then(|now| now.diff(cert.not_after()))
        .map(|d| d.days)
        .unwrap_or(0)
}

/// `CN=x, O=y` form of a certificate name.
fn name_text(name: &X509NameRef) -> String {
    name.entries()
        .map(|e| {
            let key = e.object().nid().short_name().unwrap_or("?");
            let val = e.data().to_string().unwrap_or_else(|_| "?".into());
            format!("{key}={val}")
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_an_extended_response() {
        // messageID 1, ExtendedResponse { resultCode 2, matchedDN "", diag "no" }
        let body = [
            0x02, 0x01, 0x01, 0x78, 0x09, 0x0a, 0x01, 0x02, 0x04, 0x00, 0x04, 0x02, b'n', b'o',
        ];
        assert_eq!(parse_extended_response(&body), Some((2, "no".into())));
        assert_eq!(parse_extended_response(&[0x02, 0x01]), None);
    }
}
