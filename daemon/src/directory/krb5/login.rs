//! A Kerberos login (`krb5_auth`): the password gets a TGT from the KDC,
//! which is verified with the host keytab (a service ticket for the host
//! principal, decrypted with the keytab's key: a KDC that does not hold
//! that key — a spoofed one — cannot pass), then written into a private
//! `FILE:` credential cache whose bytes are handed to the PAM module.

use super::{Context, KrbError};
use std::path::Path;
use zeroize::Zeroizing;

/// A user's verified tickets.
pub struct UserTickets {
    /// The credential cache file's bytes (they hold the TGT's session key).
    pub ccache: Zeroizing<Vec<u8>>,
    /// When the TGT ends (Unix seconds).
    pub end: i64,
}

impl std::fmt::Debug for UserTickets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserTickets")
            .field("end", &self.end)
            .finish_non_exhaustive()
    }
}

/// Blocking: a TGT for `user` (a principal name) with `password`,
/// verified with `host` (the host principal) from `keytab`.
pub(crate) fn login(
    user: &str,
    password: &[u8],
    host: &str,
    keytab: &Path,
) -> Result<UserTickets, KrbError> {
    let ctx = Context::new()?;
    let client = ctx.principal(user)?;
    let mut creds = ctx.init_creds_password(&client, password, None, &format!("TGT of {user}"))?;
    let kt = ctx.keytab(keytab)?;
    let server = ctx.principal(host)?;
    ctx.verify(
        &mut creds,
        &server,
        &kt,
        &format!(
            "verifying the TGT of {user} with the key of {host} in {}",
            keytab.display()
        ),
    )?;
    let (_, end) = creds.times();
    let io = |e: std::io::Error| KrbError {
        context: "writing the user's credential cache".into(),
        message: e.to_string(),
        code: 0,
    };
    // A directory of rosterd's own (mode 0700), removed with the file.
    let dir = tempfile::Builder::new()
        .prefix("roster-krb5-")
        .tempdir()
        .map_err(io)?;
    let path = dir.path().join("ccache");
    {
        let cc = ctx.ccache(&format!("FILE:{}", path.display()))?;
        cc.store(&client, &mut creds)?;
    }
    let bytes = Zeroizing::new(std::fs::read(&path).map_err(io)?);
    // Overwritten before it is removed: the file held a session key.
    let _ = std::fs::write(&path, vec![0u8; bytes.len()]);
    drop(dir);
    Ok(UserTickets { ccache: bytes, end })
}

/// Blocking: whether `password` is right although the KDC says it has
/// expired (or must be changed): the KDC still issues a ticket for the
/// password change service with it.
pub(crate) fn expired_password_is_right(user: &str, password: &[u8]) -> Result<bool, KrbError> {
    let ctx = Context::new()?;
    let client = ctx.principal(user)?;
    let got = ctx
        .init_creds_password(
            &client,
            password,
            Some("kadmin/changepw"),
            &format!("password change ticket of {user}"),
        )
        .map(drop);
    match got {
        Ok(()) => Ok(true),
        Err(e) if e.failure() == super::KrbFailure::WrongKey => Ok(false),
        Err(e) => Err(e),
    }
}
