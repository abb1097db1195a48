//! The kinds of directory a domain can be, as types: [`Rfc2307`] (OpenLDAP
//! and other RFC 2307 / rfc2307bis directories, `kind = "ldap"`) and [`Ad`]
//! (Active Directory, `kind = "ad"`). Each owns its lookup flows (by name,
//! by ID, a user's groups, member reads, enumeration), its rules for names
//! and IDs, the attributes it reads, its account state and its password
//! checks and changes. [`Directory`](super::Directory) holds the machinery
//! both share (bounded, failover-aware searches and sessions, uniqueness,
//! `limit_to_groups`) and hands every operation to its flavour with
//! [`by_flavour!`]. The configured kind is looked at here, once.

use super::ad::Ad;
use super::rfc2307::Rfc2307;
use crate::config::{DomainConfig, DomainKind, DomainSet};

/// The flavour of one domain's directory.
#[derive(Debug)]
pub(crate) enum Flavour {
    /// An RFC 2307 directory.
    Rfc2307(Rfc2307),
    /// An Active Directory domain (with what it learnt at run time).
    Ad(Ad),
}

impl Flavour {
    /// The flavour of the domain `cfg`.
    pub(crate) fn of(cfg: &DomainConfig) -> Flavour {
        match cfg.kind {
            DomainKind::Ldap => Flavour::Rfc2307(Rfc2307::new(cfg)),
            DomainKind::Ad => Flavour::Ad(Ad::default()),
        }
    }

    /// The same domain's flavour in the configuration generation whose ID
    /// mapping is `idmap` (what it learnt at run time carried over).
    pub(crate) fn for_generation(&self, idmap: &DomainSet, domain: &str) -> Flavour {
        match self {
            Flavour::Rfc2307(r) => Flavour::Rfc2307(r.clone()),
            Flavour::Ad(ad) => Flavour::Ad(ad.carried_to(idmap, domain)),
        }
    }
}

/// Runs `$call` with `$f` bound to the flavour of the directory `$dir`:
/// both flavours have methods of the same names and signatures.
macro_rules! by_flavour {
    ($dir:expr, $f:ident => $call:expr) => {
        match &$dir.flavour {
            $crate::directory::flavour::Flavour::Rfc2307($f) => $call,
            $crate::directory::flavour::Flavour::Ad($f) => $call,
        }
    };
}
pub(crate) use by_flavour;

/// How a domain judges one entry it read (for `rosterctl test`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict<T> {
    /// Served, as this record.
    Served(T),
    /// Refused, with the reason.
    Refused(String),
    /// Neither served nor refused (an rfc2307bis group without a GID that
    /// only links nested groups).
    Ignored,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;
    use crate::directory::Directory;
    use std::sync::Arc;

    fn directory(extra: &str) -> Directory {
        let text = format!(
            "[[domain]]\nname = \"ex\"\nuris = [\"ldaps://127.0.0.1:1\"]\nbase_dn = \"dc=example,dc=test\"\n{extra}"
        );
        let cfg = Config::from_str(&text, "t.toml").unwrap();
        let idmap = Arc::new(cfg.build_idmap(None).unwrap());
        Directory::new(cfg.domains[0].clone(), idmap).unwrap()
    }

    #[test]
    fn the_kind_chooses_the_flavour_and_its_rules() {
        let ldap = directory("");
        assert!(matches!(ldap.flavour, Flavour::Rfc2307(_)));
        assert!(!ldap.case_insensitive_names());
        assert!(!ldap.ids_from_sids());
        let ad = directory("kind = \"ad\"\n[domain.idmap]\nbackend = \"sss\"\n");
        assert!(matches!(ad.flavour, Flavour::Ad(_)));
        assert!(ad.case_insensitive_names());
        assert!(ad.ids_from_sids());
        // AD with uidNumber/gidNumber from the directory: two entries may
        // claim one ID, as in an RFC 2307 directory.
        let ad_posix = directory("kind = \"ad\"\n");
        assert!(ad_posix.case_insensitive_names());
        assert!(!ad_posix.ids_from_sids());
    }

    #[test]
    fn each_flavour_reads_its_own_account_attributes() {
        let ldap = directory("");
        let ad = directory("kind = \"ad\"\n");
        let ldap_attrs = by_flavour!(ldap, f => f.account_attrs());
        let ad_attrs = by_flavour!(ad, f => f.account_attrs());
        assert!(ldap_attrs.contains(&"shadowExpire") && ldap_attrs.contains(&"pwdReset"));
        assert!(ad_attrs.contains(&"userAccountControl") && ad_attrs.contains(&"pwdLastSet"));
        assert!(!ad_attrs.contains(&"shadowExpire"));
    }

    #[test]
    fn a_new_generation_keeps_the_flavour() {
        let ad = directory("kind = \"ad\"\n");
        let next = ad.for_generation(ad.idmap().clone());
        assert!(matches!(next.flavour, Flavour::Ad(_)));
        let ldap = directory("");
        let next = ldap.for_generation(ldap.idmap().clone());
        assert!(matches!(next.flavour, Flavour::Rfc2307(_)));
    }
}
