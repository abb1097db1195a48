//! The few MIT krb5 and GSSAPI functions roster calls, declared by hand
//! from `<krb5/krb5.h>` and `<gssapi/gssapi_ext.h>` (Debian's libkrb5-dev,
//! MIT krb5 1.20). Only [`super`] uses them, each call in an `unsafe`
//! block with its `SAFETY:` comment; nothing else in roster touches
//! Kerberos memory.

#![allow(non_camel_case_types, missing_docs)]

use std::os::raw::{c_char, c_int, c_uint, c_void};

pub type krb5_error_code = i32;
pub type krb5_int32 = i32;
pub type krb5_timestamp = i32;
pub type krb5_deltat = i32;
pub type krb5_flags = i32;
pub type krb5_boolean = c_uint;

/// Opaque handles.
pub type krb5_context = *mut c_void;
pub type krb5_principal = *mut c_void;
pub type krb5_keytab = *mut c_void;
pub type krb5_ccache = *mut c_void;
pub type krb5_get_init_creds_opt = c_void;

#[repr(C)]
pub struct krb5_data {
    pub magic: krb5_error_code,
    pub length: c_uint,
    pub data: *mut c_char,
}

#[repr(C)]
pub struct krb5_keyblock {
    pub magic: krb5_error_code,
    pub enctype: krb5_int32,
    pub length: c_uint,
    pub contents: *mut u8,
}

#[repr(C)]
pub struct krb5_ticket_times {
    pub authtime: krb5_timestamp,
    pub starttime: krb5_timestamp,
    pub endtime: krb5_timestamp,
    pub renew_till: krb5_timestamp,
}

/// `krb5_creds`, as laid out by `<krb5/krb5.h>`.
#[repr(C)]
pub struct krb5_creds {
    pub magic: krb5_error_code,
    pub client: krb5_principal,
    pub server: krb5_principal,
    pub keyblock: krb5_keyblock,
    pub times: krb5_ticket_times,
    pub is_skey: krb5_boolean,
    pub ticket_flags: krb5_flags,
    pub addresses: *mut *mut c_void,
    pub ticket: krb5_data,
    pub second_ticket: krb5_data,
    pub authdata: *mut *mut c_void,
}

#[repr(C)]
pub struct krb5_verify_init_creds_opt {
    pub flags: krb5_flags,
    pub ap_req_nofail: c_int,
}

pub type krb5_prompter_fct = Option<
    unsafe extern "C" fn(
        krb5_context,
        *mut c_void,
        *const c_char,
        *const c_char,
        c_int,
        *mut c_void,
    ) -> krb5_error_code,
>;

// Error codes of the krb5 error table (krb5.h).
pub const KRB5KDC_ERR_C_PRINCIPAL_UNKNOWN: i32 = -1765328378;
pub const KRB5KDC_ERR_S_PRINCIPAL_UNKNOWN: i32 = -1765328377;
pub const KRB5KDC_ERR_POLICY: i32 = -1765328372;
pub const KRB5KDC_ERR_CLIENT_REVOKED: i32 = -1765328366;
pub const KRB5KDC_ERR_KEY_EXP: i32 = -1765328361;
pub const KRB5KDC_ERR_PREAUTH_FAILED: i32 = -1765328360;
pub const KRB5KRB_AP_ERR_BAD_INTEGRITY: i32 = -1765328353;
pub const KRB5KRB_AP_ERR_SKEW: i32 = -1765328347;
pub const KRB5KRB_AP_ERR_MODIFIED: i32 = -1765328343;
pub const KRB5KRB_AP_ERR_BADKEYVER: i32 = -1765328340;
pub const KRB5_REALM_UNKNOWN: i32 = -1765328230;
pub const KRB5_KDC_UNREACH: i32 = -1765328228;
pub const KRB5_KT_NOTFOUND: i32 = -1765328203;
pub const KRB5_KT_KVNONOTFOUND: i32 = -1765328154;
pub const KRB5_REALM_CANT_RESOLVE: i32 = -1765328164;

// Result codes of a password change (krb5.h, RFC 3244).
pub const KRB5_KPASSWD_SUCCESS: c_int = 0;
pub const KRB5_KPASSWD_MALFORMED: c_int = 1;
pub const KRB5_KPASSWD_HARDERROR: c_int = 2;
pub const KRB5_KPASSWD_AUTHERROR: c_int = 3;
pub const KRB5_KPASSWD_SOFTERROR: c_int = 4;
pub const KRB5_KPASSWD_ACCESSDENIED: c_int = 5;
pub const KRB5_KPASSWD_BAD_VERSION: c_int = 6;
pub const KRB5_KPASSWD_INITIAL_FLAG_NEEDED: c_int = 7;

#[link(name = "krb5")]
extern "C" {
    pub fn krb5_init_context(context: *mut krb5_context) -> krb5_error_code;
    pub fn krb5_free_context(context: krb5_context);
    pub fn krb5_get_error_message(context: krb5_context, code: krb5_error_code) -> *const c_char;
    pub fn krb5_free_error_message(context: krb5_context, msg: *const c_char);

    pub fn krb5_parse_name(
        context: krb5_context,
        name: *const c_char,
        principal: *mut krb5_principal,
    ) -> krb5_error_code;
    pub fn krb5_free_principal(context: krb5_context, principal: krb5_principal);

    pub fn krb5_kt_resolve(
        context: krb5_context,
        name: *const c_char,
        keytab: *mut krb5_keytab,
    ) -> krb5_error_code;
    pub fn krb5_kt_close(context: krb5_context, keytab: krb5_keytab) -> krb5_error_code;

    pub fn krb5_cc_resolve(
        context: krb5_context,
        name: *const c_char,
        ccache: *mut krb5_ccache,
    ) -> krb5_error_code;
    pub fn krb5_cc_initialize(
        context: krb5_context,
        ccache: krb5_ccache,
        principal: krb5_principal,
    ) -> krb5_error_code;
    pub fn krb5_cc_store_cred(
        context: krb5_context,
        ccache: krb5_ccache,
        creds: *mut krb5_creds,
    ) -> krb5_error_code;
    pub fn krb5_cc_close(context: krb5_context, ccache: krb5_ccache) -> krb5_error_code;
    pub fn krb5_cc_destroy(context: krb5_context, ccache: krb5_ccache) -> krb5_error_code;

    pub fn krb5_get_init_creds_opt_alloc(
        context: krb5_context,
        opt: *mut *mut krb5_get_init_creds_opt,
    ) -> krb5_error_code;
    pub fn krb5_get_init_creds_opt_free(context: krb5_context, opt: *mut krb5_get_init_creds_opt);
    pub fn krb5_get_init_creds_keytab(
        context: krb5_context,
        creds: *mut krb5_creds,
        client: krb5_principal,
        keytab: krb5_keytab,
        start_time: krb5_deltat,
        in_tkt_service: *const c_char,
        options: *mut krb5_get_init_creds_opt,
    ) -> krb5_error_code;
    pub fn krb5_get_init_creds_password(
        context: krb5_context,
        creds: *mut krb5_creds,
        client: krb5_principal,
        password: *const c_char,
        prompter: krb5_prompter_fct,
        data: *mut c_void,
        start_time: krb5_deltat,
        in_tkt_service: *const c_char,
        options: *mut krb5_get_init_creds_opt,
    ) -> krb5_error_code;
    pub fn krb5_verify_init_creds_opt_init(options: *mut krb5_verify_init_creds_opt);
    pub fn krb5_verify_init_creds_opt_set_ap_req_nofail(
        options: *mut krb5_verify_init_creds_opt,
        ap_req_nofail: c_int,
    );
    pub fn krb5_verify_init_creds(
        context: krb5_context,
        creds: *mut krb5_creds,
        server: krb5_principal,
        keytab: krb5_keytab,
        ccache: *mut krb5_ccache,
        options: *mut krb5_verify_init_creds_opt,
    ) -> krb5_error_code;
    pub fn krb5_get_credentials(
        context: krb5_context,
        options: krb5_flags,
        ccache: krb5_ccache,
        in_creds: *mut krb5_creds,
        out_creds: *mut *mut krb5_creds,
    ) -> krb5_error_code;
    pub fn krb5_free_creds(context: krb5_context, creds: *mut krb5_creds);
    pub fn krb5_free_cred_contents(context: krb5_context, creds: *mut krb5_creds);

    pub fn krb5_change_password(
        context: krb5_context,
        creds: *mut krb5_creds,
        newpw: *const c_char,
        result_code: *mut c_int,
        result_code_string: *mut krb5_data,
        result_string: *mut krb5_data,
    ) -> krb5_error_code;
    pub fn krb5_chpw_message(
        context: krb5_context,
        server_string: *const krb5_data,
        message_out: *mut *mut c_char,
    ) -> krb5_error_code;
    pub fn krb5_free_string(context: krb5_context, val: *mut c_char);
    pub fn krb5_free_data_contents(context: krb5_context, val: *mut krb5_data);
}
