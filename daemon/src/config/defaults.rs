//! The defaults of keys a `[[domain]]` leaves unset that depend on its
//! kind: a plain LDAP directory's (RFC 2307 object classes and attributes)
//! or Active Directory's ([`super::ad`]). They are used only for keys the
//! file does not set: a value the administrator wrote is kept, even when it
//! equals the other kind's default.

use super::ad;
use super::domain::{default_group_filter, DomainKind, Schema};

/// The defaults of one kind of directory.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct KindDefaults {
    /// `user_filter`.
    pub user_filter: &'static str,
    /// `group_filter`; `None`: the schema's ([`default_group_filter`]).
    pub group_filter: Option<&'static str>,
    /// `page_size`.
    pub page_size: u32,
    /// `attributes.username`.
    pub username: &'static str,
    /// `attributes.group_name`.
    pub group_name: &'static str,
    /// `attributes.home_directory`.
    pub home_directory: &'static str,
    /// `referrals`.
    pub referrals: bool,
    /// `start_tls` when a URI is `ldap://` (AD refuses simple binds on
    /// plain LDAP when it requires strong authentication, and passwords
    /// must not travel in clear text).
    pub start_tls_on_plain_ldap: bool,
}

impl KindDefaults {
    /// The defaults of `kind`.
    pub(crate) fn of(kind: DomainKind) -> KindDefaults {
        match kind {
            DomainKind::Ldap => KindDefaults {
                user_filter: "(objectClass=posixAccount)",
                group_filter: None,
                page_size: 500,
                username: "uid",
                group_name: "cn",
                home_directory: "homeDirectory",
                referrals: true,
                start_tls_on_plain_ldap: false,
            },
            DomainKind::Ad => KindDefaults {
                user_filter: ad::AD_USER_FILTER,
                group_filter: Some(ad::AD_GROUP_FILTER),
                page_size: ad::AD_PAGE_SIZE,
                username: "sAMAccountName",
                group_name: "sAMAccountName",
                home_directory: "unixHomeDirectory",
                referrals: false,
                start_tls_on_plain_ldap: true,
            },
        }
    }

    /// The group filter of a domain of this kind and `schema` that sets none.
    pub(crate) fn group_filter(&self, schema: Schema) -> &'static str {
        self.group_filter
            .unwrap_or_else(|| default_group_filter(schema))
    }
}
