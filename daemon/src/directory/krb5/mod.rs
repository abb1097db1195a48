//! Kerberos for the directory layer, over MIT krb5 (libkrb5 and
//! libgssapi_krb5): the host's ticket-granting ticket from the keytab for
//! SASL GSSAPI binds ([`host`]), and a user's TGT from a login password,
//! verified against the keytab ([`login`]), and a user's own password
//! change with the kpasswd protocol ([`kpasswd`]).
//!
//! Every call into the C libraries is in this file, on handles owned by
//! small types that free them when dropped ([`Context`], [`Principal`],
//! [`Keytab`], [`Ccache`], [`Creds`]); the declarations are in [`sys`].
//! All of it blocks (files, and the network to the KDC): callers run it on
//! a blocking thread, bounded by the domain's `op_timeout`.

pub(crate) mod host;
pub(crate) mod kpasswd;
pub(crate) mod login;
mod sys;

use std::ffi::{CStr, CString};
use std::os::raw::c_char;
use std::path::Path;
use std::ptr;
use thiserror::Error;
use zeroize::Zeroizing;

/// A Kerberos library error: the operation, the library's message and its
/// code (one of the krb5 error table, or a GSSAPI major/minor pair).
#[derive(Clone, Debug, Error, PartialEq, Eq)]
#[error("{context}: {message} (krb5 error {code})")]
pub struct KrbError {
    /// What was being done (naming the principal, keytab or cache).
    pub context: String,
    /// The library's message.
    pub message: String,
    /// The krb5 error code (0 for a GSSAPI failure).
    pub code: i32,
}

/// What a Kerberos error means for the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KrbFailure {
    /// No KDC answered, or none is known for the realm: offline.
    Unreachable,
    /// The password (or the keytab's key) is wrong.
    WrongKey,
    /// The account is disabled, locked out or expired (AD's KDC answers
    /// all three as "client revoked").
    Revoked,
    /// The password has expired, or must be changed.
    KeyExpired,
    /// The KDC does not know the (client) principal.
    UnknownPrincipal,
    /// The KDC does not know the service principal asked for.
    UnknownService,
    /// The tickets could not be verified with the keytab: the KDC does not
    /// hold the host's key (spoofed KDC, or a keytab out of date).
    NotVerified,
    /// Clocks too far apart.
    Skew,
    /// Anything else (configuration, files, the library).
    Other,
}

impl KrbError {
    /// The meaning of the error code.
    pub fn failure(&self) -> KrbFailure {
        use sys::*;
        match self.code {
            KRB5_KDC_UNREACH | KRB5_REALM_CANT_RESOLVE | KRB5_REALM_UNKNOWN => {
                KrbFailure::Unreachable
            }
            KRB5KDC_ERR_PREAUTH_FAILED | KRB5KRB_AP_ERR_BAD_INTEGRITY => KrbFailure::WrongKey,
            KRB5KDC_ERR_CLIENT_REVOKED | KRB5KDC_ERR_POLICY => KrbFailure::Revoked,
            KRB5KDC_ERR_KEY_EXP => KrbFailure::KeyExpired,
            KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN => KrbFailure::UnknownPrincipal,
            KRB5KRB_AP_ERR_MODIFIED
            | KRB5KRB_AP_ERR_BADKEYVER
            | KRB5_KT_NOTFOUND
            | KRB5_KT_KVNONOTFOUND => KrbFailure::NotVerified,
            KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN => KrbFailure::UnknownService,
            KRB5KRB_AP_ERR_SKEW => KrbFailure::Skew,
            _ => KrbFailure::Other,
        }
    }

    fn plain(context: impl Into<String>, message: impl Into<String>) -> KrbError {
        KrbError {
            context: context.into(),
            message: message.into(),
            code: 0,
        }
    }
}

/// A NUL-terminated copy of the secret `bytes` (named `name` in the error
/// when it holds a NUL), wiped when dropped; `what` is the operation.
fn secret_c_string(bytes: &[u8], name: &str, what: &str) -> Result<Zeroizing<Vec<u8>>, KrbError> {
    if bytes.contains(&0) {
        return Err(KrbError::plain(what, format!("{name} contains a NUL byte")));
    }
    let mut c = Zeroizing::new(Vec::with_capacity(bytes.len() + 1));
    c.extend_from_slice(bytes);
    c.push(0);
    Ok(c)
}

/// A C string of `s`, or an error naming `what` when it holds a NUL.
fn c_string(s: &str, what: &str) -> Result<CString, KrbError> {
    CString::new(s).map_err(|_| KrbError::plain(what, "contains a NUL byte"))
}

/// A krb5 library context (one per operation: a context is not shared
/// between threads). Reads the krb5.conf in force (`KRB5_CONFIG`, else
/// `/etc/krb5.conf`).
pub(crate) struct Context {
    ctx: sys::krb5_context,
}

impl Drop for Context {
    fn drop(&mut self) {
        // SAFETY: `ctx` came from krb5_init_context and every handle made
        // with it borrows this Context, so none outlives it.
        unsafe { sys::krb5_free_context(self.ctx) }
    }
}

impl Context {
    /// A new context.
    pub(crate) fn new() -> Result<Context, KrbError> {
        let mut ctx = ptr::null_mut();
        // SAFETY: krb5_init_context writes a context pointer to `ctx`, a
        // valid out location.
        let code = unsafe { sys::krb5_init_context(&mut ctx) };
        if code != 0 {
            return Err(KrbError {
                context: "initializing Kerberos (krb5.conf)".into(),
                message: "krb5_init_context failed".into(),
                code,
            });
        }
        Ok(Context { ctx })
    }

    /// The error `code` of an operation described by `context`.
    fn error(&self, code: i32, context: impl Into<String>) -> KrbError {
        // SAFETY: the message is a NUL-terminated string owned by the
        // library until krb5_free_error_message, called after the copy.
        let message = unsafe {
            let m = sys::krb5_get_error_message(self.ctx, code);
            if m.is_null() {
                String::from("unknown error")
            } else {
                let s = CStr::from_ptr(m).to_string_lossy().into_owned();
                sys::krb5_free_error_message(self.ctx, m);
                s
            }
        };
        KrbError {
            context: context.into(),
            message,
            code,
        }
    }

    fn check(&self, code: i32, context: impl FnOnce() -> String) -> Result<(), KrbError> {
        if code == 0 {
            Ok(())
        } else {
            Err(self.error(code, context()))
        }
    }

    /// The principal `name` (the default realm is added when it has none).
    pub(crate) fn principal(&self, name: &str) -> Result<Principal<'_>, KrbError> {
        let c = c_string(name, "principal name")?;
        let mut p = ptr::null_mut();
        // SAFETY: `c` is NUL-terminated and outlives the call; `p` is a
        // valid out location.
        let code = unsafe { sys::krb5_parse_name(self.ctx, c.as_ptr(), &mut p) };
        self.check(code, || format!("principal {name}"))?;
        Ok(Principal { ctx: self, p })
    }

    /// The keytab file `path`.
    pub(crate) fn keytab(&self, path: &Path) -> Result<Keytab<'_>, KrbError> {
        let name = format!("FILE:{}", path.display());
        let c = c_string(&name, "keytab path")?;
        let mut kt = ptr::null_mut();
        // SAFETY: `c` is NUL-terminated and outlives the call; `kt` is a
        // valid out location.
        let code = unsafe { sys::krb5_kt_resolve(self.ctx, c.as_ptr(), &mut kt) };
        self.check(code, || format!("keytab {}", path.display()))?;
        Ok(Keytab { ctx: self, kt })
    }

    /// The credential cache called `name` (`MEMORY:x`, `FILE:/path`).
    pub(crate) fn ccache(&self, name: &str) -> Result<Ccache<'_>, KrbError> {
        let c = c_string(name, "credential cache name")?;
        let mut cc = ptr::null_mut();
        // SAFETY: `c` is NUL-terminated and outlives the call; `cc` is a
        // valid out location.
        let code = unsafe { sys::krb5_cc_resolve(self.ctx, c.as_ptr(), &mut cc) };
        self.check(code, || format!("credential cache {name}"))?;
        Ok(Ccache { ctx: self, cc })
    }

    /// Initial tickets (a TGT) for `client` with its key from `keytab`.
    pub(crate) fn init_creds_keytab(
        &self,
        client: &Principal<'_>,
        keytab: &Keytab<'_>,
        what: &str,
    ) -> Result<Creds<'_>, KrbError> {
        let opts = self.init_creds_opts()?;
        let mut creds = Creds::empty(self);
        // SAFETY: every handle was made with this context and is alive;
        // `creds.c` is a zeroed krb5_creds the library fills (freed by
        // Creds' drop); a null in_tkt_service asks for the TGT.
        let code = unsafe {
            sys::krb5_get_init_creds_keytab(
                self.ctx,
                &mut *creds.c,
                client.p,
                keytab.kt,
                0,
                ptr::null(),
                opts.opt,
            )
        };
        self.check(code, || what.to_string())?;
        Ok(creds)
    }

    /// Initial tickets for `client` with `password`: a TGT, or a ticket
    /// for `service` (e.g. `kadmin/changepw`). No prompter: an expired
    /// password fails with [`KrbFailure::KeyExpired`].
    pub(crate) fn init_creds_password(
        &self,
        client: &Principal<'_>,
        password: &[u8],
        service: Option<&str>,
        what: &str,
    ) -> Result<Creds<'_>, KrbError> {
        let service = service.map(|s| c_string(s, "service name")).transpose()?;
        let pw = secret_c_string(password, "the password", what)?;
        let opts = self.init_creds_opts()?;
        let mut creds = Creds::empty(self);
        // SAFETY: `pw` is NUL-terminated, without interior NUL, and
        // outlives the call (wiped when dropped); so does `service` when
        // set (null: the TGT); handles as in init_creds_keytab; no
        // prompter and no prompter data.
        let code = unsafe {
            sys::krb5_get_init_creds_password(
                self.ctx,
                &mut *creds.c,
                client.p,
                pw.as_ptr() as *const c_char,
                None,
                ptr::null_mut(),
                0,
                service.as_ref().map_or(ptr::null(), |s| s.as_ptr()),
                opts.opt,
            )
        };
        self.check(code, || what.to_string())?;
        Ok(creds)
    }

    fn init_creds_opts(&self) -> Result<InitOpts<'_>, KrbError> {
        let mut opt = ptr::null_mut();
        // SAFETY: `opt` is a valid out location; freed by InitOpts' drop.
        let code = unsafe { sys::krb5_get_init_creds_opt_alloc(self.ctx, &mut opt) };
        self.check(code, || "allocating init_creds options".to_string())?;
        Ok(InitOpts { ctx: self, opt })
    }

    /// Verifies `creds` (a TGT just obtained) with a service ticket for
    /// `server`, whose key must be in `keytab`: a KDC that does not hold
    /// the host's key cannot make tickets that pass (krb5_verify_init_creds
    /// with ap_req_nofail set).
    pub(crate) fn verify(
        &self,
        creds: &mut Creds<'_>,
        server: &Principal<'_>,
        keytab: &Keytab<'_>,
        what: &str,
    ) -> Result<(), KrbError> {
        let mut opts = sys::krb5_verify_init_creds_opt {
            flags: 0,
            ap_req_nofail: 0,
        };
        // SAFETY: `opts` is a valid, initialised options struct; the
        // handles are alive and of this context; no ccache is asked for.
        let code = unsafe {
            sys::krb5_verify_init_creds_opt_init(&mut opts);
            sys::krb5_verify_init_creds_opt_set_ap_req_nofail(&mut opts, 1);
            sys::krb5_verify_init_creds(
                self.ctx,
                &mut *creds.c,
                server.p,
                keytab.kt,
                ptr::null_mut(),
                &mut opts,
            )
        };
        self.check(code, || what.to_string())
    }

    /// Gets a service ticket for `server` with the TGT in `cc` (whose
    /// principal is `client`) and stores it there.
    pub(crate) fn service_ticket(
        &self,
        cc: &Ccache<'_>,
        client: &Principal<'_>,
        server: &Principal<'_>,
        what: &str,
    ) -> Result<(), KrbError> {
        // SAFETY: an all-zero krb5_creds is the documented empty value;
        // only its client and server are set (borrowed, not freed here).
        let mut input: sys::krb5_creds = unsafe { std::mem::zeroed() };
        input.client = client.p;
        input.server = server.p;
        let mut out: *mut sys::krb5_creds = ptr::null_mut();
        // SAFETY: handles alive and of this context; `out` is freed with
        // krb5_free_creds below when set.
        let code = unsafe { sys::krb5_get_credentials(self.ctx, 0, cc.cc, &mut input, &mut out) };
        if !out.is_null() {
            // SAFETY: `out` was allocated by krb5_get_credentials.
            unsafe { sys::krb5_free_creds(self.ctx, out) };
        }
        self.check(code, || what.to_string())
    }
}

impl Context {
    /// Changes the password of the client of `creds` (a ticket for
    /// `kadmin/changepw`) to `new` with the kpasswd protocol. `Err` when
    /// no kpasswd server answered (or the exchange failed); the server's
    /// refusals are in the answer (its message made readable: an AD
    /// policy blob becomes text).
    pub(crate) fn change_password(
        &self,
        creds: &mut Creds<'_>,
        new: &[u8],
        what: &str,
    ) -> Result<kpasswd::Kpasswd, KrbError> {
        let pw = secret_c_string(new, "the new password", what)?;
        let mut result_code: std::os::raw::c_int = 0;
        let mut code_string = Data::empty(self);
        let mut result_string = Data::empty(self);
        // SAFETY: `creds` was filled by the library with this context and
        // is alive; `pw` is NUL-terminated, without interior NUL, and
        // outlives the call (wiped when dropped); the out locations are
        // valid, the two krb5_data zeroed, and freed by Data's drop.
        let code = unsafe {
            sys::krb5_change_password(
                self.ctx,
                &mut *creds.c,
                pw.as_ptr() as *const c_char,
                &mut result_code,
                &mut code_string.d,
                &mut result_string.d,
            )
        };
        self.check(code, || what.to_string())?;
        let mut message = self.chpw_message(&result_string);
        if message.is_empty() {
            message = code_string.text();
        }
        Ok(kpasswd::outcome(result_code, message.trim().to_string()))
    }

    /// The readable text of a kpasswd server's result string
    /// (krb5_chpw_message turns AD's policy blob into sentences); empty
    /// when there is none.
    fn chpw_message(&self, server: &Data<'_>) -> String {
        if server.d.length == 0 {
            return String::new();
        }
        let mut out: *mut c_char = ptr::null_mut();
        // SAFETY: `server.d` is a krb5_data the library filled (or zero);
        // `out` is a valid out location, freed with krb5_free_string after
        // the copy.
        unsafe {
            let code = sys::krb5_chpw_message(self.ctx, &server.d, &mut out);
            if code != 0 || out.is_null() {
                return server.text();
            }
            let s = CStr::from_ptr(out).to_string_lossy().into_owned();
            sys::krb5_free_string(self.ctx, out);
            s
        }
    }
}

/// A `krb5_data` the library fills, freed when dropped.
struct Data<'c> {
    ctx: &'c Context,
    d: sys::krb5_data,
}

impl<'c> Data<'c> {
    fn empty(ctx: &'c Context) -> Data<'c> {
        Data {
            ctx,
            d: sys::krb5_data {
                magic: 0,
                length: 0,
                data: ptr::null_mut(),
            },
        }
    }

    /// The bytes as text (lossy), empty when there are none.
    fn text(&self) -> String {
        if self.d.data.is_null() || self.d.length == 0 {
            return String::new();
        }
        // SAFETY: `data` points at `length` bytes owned by the library
        // until Data's drop.
        let bytes =
            unsafe { std::slice::from_raw_parts(self.d.data as *const u8, self.d.length as usize) };
        String::from_utf8_lossy(bytes)
            .trim_end_matches('\0')
            .to_string()
    }
}

impl Drop for Data<'_> {
    fn drop(&mut self) {
        // SAFETY: zero or filled by the library with this context;
        // krb5_free_data_contents accepts both.
        unsafe { sys::krb5_free_data_contents(self.ctx.ctx, &mut self.d) }
    }
}

struct InitOpts<'c> {
    ctx: &'c Context,
    opt: *mut sys::krb5_get_init_creds_opt,
}

impl Drop for InitOpts<'_> {
    fn drop(&mut self) {
        // SAFETY: allocated by krb5_get_init_creds_opt_alloc with this context.
        unsafe { sys::krb5_get_init_creds_opt_free(self.ctx.ctx, self.opt) }
    }
}

/// A principal name.
pub(crate) struct Principal<'c> {
    ctx: &'c Context,
    p: sys::krb5_principal,
}

impl Drop for Principal<'_> {
    fn drop(&mut self) {
        // SAFETY: made by krb5_parse_name with this context.
        unsafe { sys::krb5_free_principal(self.ctx.ctx, self.p) }
    }
}

/// An open keytab.
pub(crate) struct Keytab<'c> {
    ctx: &'c Context,
    kt: sys::krb5_keytab,
}

impl Drop for Keytab<'_> {
    fn drop(&mut self) {
        // SAFETY: made by krb5_kt_resolve with this context.
        unsafe {
            sys::krb5_kt_close(self.ctx.ctx, self.kt);
        }
    }
}

/// An open credential cache.
pub(crate) struct Ccache<'c> {
    ctx: &'c Context,
    cc: sys::krb5_ccache,
}

impl Ccache<'_> {
    /// Empties the cache and makes `client` its principal, then stores
    /// `creds` in it.
    pub(crate) fn store(
        &self,
        client: &Principal<'_>,
        creds: &mut Creds<'_>,
    ) -> Result<(), KrbError> {
        // SAFETY: handles alive and of this context; the library copies
        // `creds` into the cache.
        let code = unsafe { sys::krb5_cc_initialize(self.ctx.ctx, self.cc, client.p) };
        self.ctx
            .check(code, || "initializing a credential cache".into())?;
        // SAFETY: as above.
        let code = unsafe { sys::krb5_cc_store_cred(self.ctx.ctx, self.cc, &mut *creds.c) };
        self.ctx.check(code, || "storing tickets".into())
    }

    /// Removes the cache (its tickets and, for a file, the file).
    pub(crate) fn destroy(self) {
        let me = std::mem::ManuallyDrop::new(self);
        // SAFETY: krb5_cc_destroy closes the handle too: Drop is skipped.
        unsafe {
            sys::krb5_cc_destroy(me.ctx.ctx, me.cc);
        }
    }
}

impl Drop for Ccache<'_> {
    fn drop(&mut self) {
        // SAFETY: made by krb5_cc_resolve with this context.
        unsafe {
            sys::krb5_cc_close(self.ctx.ctx, self.cc);
        }
    }
}

/// Tickets obtained from the KDC.
pub(crate) struct Creds<'c> {
    ctx: &'c Context,
    c: Box<sys::krb5_creds>,
}

impl<'c> Creds<'c> {
    fn empty(ctx: &'c Context) -> Creds<'c> {
        // SAFETY: an all-zero krb5_creds is the empty value the library
        // fills; krb5_free_cred_contents accepts it.
        let c = Box::new(unsafe { std::mem::zeroed::<sys::krb5_creds>() });
        Creds { ctx, c }
    }

    /// When the tickets were issued and when they end (Unix seconds).
    pub(crate) fn times(&self) -> (i64, i64) {
        let t = &self.c.times;
        let start = if t.starttime != 0 {
            t.starttime
        } else {
            t.authtime
        };
        // krb5_timestamp is an unsigned 32-bit time in a signed type.
        (i64::from(start as u32), i64::from(t.endtime as u32))
    }
}

impl Drop for Creds<'_> {
    fn drop(&mut self) {
        // SAFETY: filled by the library with this context (or still zero);
        // the session key is wiped by krb5_free_cred_contents.
        unsafe { sys::krb5_free_cred_contents(self.ctx.ctx, &mut *self.c) }
    }
}

/// A GSSAPI initiator credential for the tickets in the cache `ccache`
/// (gss_acquire_cred_from with a `ccache` credential store), for ldap3's
/// SASL GSSAPI bind.
pub(crate) fn gss_cred(ccache: &str) -> Result<cross_krb5::Cred, KrbError> {
    use libgssapi_sys as gss;
    let what = || format!("GSSAPI credential from {ccache}");
    let key = CString::new("ccache").expect("no NUL");
    let value = c_string(ccache, "credential cache name")?;
    let mut element = gss::gss_key_value_element_desc {
        key: key.as_ptr(),
        value: value.as_ptr(),
    };
    let store = gss::gss_key_value_set_desc {
        count: 1,
        elements: &mut element,
    };
    let mut minor: gss::OM_uint32 = 0;
    let mut cred: gss::gss_cred_id_t = ptr::null_mut();
    // SAFETY: `store` points at `element`, whose strings outlive the call;
    // null name, mechs and out-parameters ask for the defaults; `cred` is
    // a valid out location, owned by libgssapi's Cred from here on.
    let major = unsafe {
        gss::gss_acquire_cred_from(
            &mut minor,
            ptr::null_mut(),
            gss::_GSS_C_INDEFINITE,
            ptr::null_mut(),
            gss::GSS_C_INITIATE as gss::gss_cred_usage_t,
            &store,
            &mut cred,
            ptr::null_mut(),
            ptr::null_mut(),
        )
    };
    if major != gss::GSS_S_COMPLETE {
        return Err(KrbError::plain(
            what(),
            format!("gss_acquire_cred_from failed (major {major:#x}, minor {minor})"),
        ));
    }
    Ok(cross_krb5::Cred::from(libgssapi::credential::Cred::from(
        cred,
    )))
}
