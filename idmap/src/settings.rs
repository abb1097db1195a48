//! `[domain.idmap]` settings (serde) and their per-domain validation.

use serde::Deserialize;

use crate::error::IdmapError;
use crate::sid::Sid;

/// Default lowest ID a domain may hand out (`min_id` of the domain table).
pub const DEFAULT_MIN_ID: u32 = 1000;

/// Which mapping backend a domain uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// IDs come from `uidNumber` / `gidNumber`.
    #[default]
    Rfc2307,
    /// Samba idmap_rid: `id = range_low + rid - base_rid`.
    Rid,
    /// SSSD's algorithmic mapping, bit-for-bit like libsss_idmap.
    Sss,
    /// Samba idmap_autorid style: ranges handed out on first sight, kept
    /// in the state directory.
    Autorid,
}

impl Backend {
    /// The name used in the configuration file.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Rfc2307 => "rfc2307",
            Backend::Rid => "rid",
            Backend::Sss => "sss",
            Backend::Autorid => "autorid",
        }
    }
}

/// One domain's `[domain.idmap]` table. Keys that do not apply to the
/// chosen backend are refused by [`IdmapSettings::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct IdmapSettings {
    /// The backend (default rfc2307).
    pub backend: Backend,
    /// The domain SID, when known from configuration (AD can discover it).
    pub domain_sid: Option<Sid>,
    /// rfc2307: optional lowest ID; rid: first ID of the range (required).
    pub range_low: Option<u32>,
    /// rfc2307: optional highest ID; rid: last ID of the range (required).
    pub range_high: Option<u32>,
    /// rid: the RID mapped to `range_low` (default 0).
    pub base_rid: Option<u32>,
    /// sss: `ldap_idmap_range_min` (default 200000).
    pub range_min: Option<u32>,
    /// sss: `ldap_idmap_range_max` (default 2000200000).
    pub range_max: Option<u32>,
    /// sss: `ldap_idmap_range_size` (default 200000).
    pub range_size: Option<u32>,
    /// sss: `ldap_idmap_autorid_compat` (default false).
    pub autorid_compat: Option<bool>,
    /// sss: `ldap_idmap_helper_table_size`, secondary slices computed up
    /// front (default 10, 0 disables secondary slices).
    pub helper_table_size: Option<u32>,
    /// autorid: IDs per range (default 100000).
    pub rangesize: Option<u32>,
    /// autorid: first ID of the pool ranges are handed from (required).
    pub autorid_low: Option<u32>,
    /// autorid: last ID of the pool (required).
    pub autorid_high: Option<u32>,
    /// autorid: choose a domain's range by hash of its SID instead of
    /// first-seen order (default false).
    pub deterministic: Option<bool>,
    /// autorid, deterministic: how many blocks of `rangesize` RIDs of
    /// each domain with a configured `domain_sid` are placed together
    /// when the configuration is loaded (default 1: the primary block).
    pub deterministic_blocks: Option<u32>,
    /// autorid: where allocations are kept, `"local"` (the state
    /// directory, default) or `"ldap"` (entries under `idmap_store_dn`).
    pub idmap_store: Option<StoreKind>,
    /// autorid with `idmap_store = "ldap"`: the DN allocation entries are
    /// kept under.
    pub idmap_store_dn: Option<String>,
}

/// Where autorid allocations are kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum StoreKind {
    /// The state directory only.
    #[default]
    Local,
    /// Entries in the directory, with the state directory as offline copy.
    Ldap,
}

impl Default for IdmapSettings {
    fn default() -> Self {
        IdmapSettings {
            backend: Backend::Rfc2307,
            domain_sid: None,
            range_low: None,
            range_high: None,
            base_rid: None,
            range_min: None,
            range_max: None,
            range_size: None,
            autorid_compat: None,
            helper_table_size: None,
            rangesize: None,
            autorid_low: None,
            autorid_high: None,
            deterministic: None,
            deterministic_blocks: None,
            idmap_store: None,
            idmap_store_dn: None,
        }
    }
}

/// libsss_idmap parameters of an sss domain, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SssParams {
    /// Lowest ID of the slice pool.
    pub range_min: u32,
    /// Upper bound of the slice pool (exclusive in practice).
    pub range_max: u32,
    /// IDs per slice.
    pub range_size: u32,
    /// Start probing at slice 0 instead of the hash.
    pub autorid_compat: bool,
    /// Secondary slices computed when a domain is added.
    pub helper_table_size: u32,
}

impl Default for SssParams {
    fn default() -> Self {
        SssParams {
            range_min: 200_000,
            range_max: 2_000_200_000,
            range_size: 200_000,
            autorid_compat: false,
            helper_table_size: 10,
        }
    }
}

impl SssParams {
    /// Number of slices: `(range_max - range_min) / range_size`.
    pub fn slices(&self) -> u32 {
        (self.range_max - self.range_min) / self.range_size
    }

    /// The IDs slices can cover: `[range_min, range_min + slices*size - 1]`.
    pub fn span(&self) -> (u32, u32) {
        (
            self.range_min,
            self.range_min + self.slices() * self.range_size - 1,
        )
    }
}

/// autorid pool parameters, defaults applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AutoridParams {
    /// First ID of the pool.
    pub low: u32,
    /// Last ID of the pool.
    pub high: u32,
    /// IDs per range.
    pub rangesize: u32,
    /// Hash-chosen slots instead of first-free.
    pub deterministic: bool,
    /// Deterministic: blocks of each configured domain placed at load.
    pub blocks: u32,
}

impl AutoridParams {
    /// Number of whole ranges the pool holds.
    pub fn slots(&self) -> u32 {
        ((u64::from(self.high) - u64::from(self.low) + 1) / u64::from(self.rangesize)) as u32
    }

    /// The IDs slots can cover.
    pub fn span(&self) -> (u32, u32) {
        (
            self.low,
            (u64::from(self.low) + u64::from(self.slots()) * u64::from(self.rangesize) - 1) as u32,
        )
    }
}

/// A validated backend configuration with defaults applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvedBackend {
    /// rfc2307 with optional bounds.
    Rfc2307 {
        /// Optional lowest ID.
        low: Option<u32>,
        /// Optional highest ID.
        high: Option<u32>,
    },
    /// idmap_rid.
    Rid {
        /// First ID.
        low: u32,
        /// Last ID.
        high: u32,
        /// RID mapped to `low`.
        base_rid: u32,
    },
    /// libsss_idmap.
    Sss(SssParams),
    /// autorid.
    Autorid(AutoridParams),
}

impl ResolvedBackend {
    /// The span of IDs the domain claims, if it claims one.
    pub fn span(&self) -> Option<(u32, u32)> {
        match *self {
            ResolvedBackend::Rfc2307 {
                low: Some(l),
                high: Some(h),
            } => Some((l, h)),
            ResolvedBackend::Rfc2307 { .. } => None,
            ResolvedBackend::Rid { low, high, .. } => Some((low, high)),
            ResolvedBackend::Sss(p) => Some(p.span()),
            ResolvedBackend::Autorid(p) => Some(p.span()),
        }
    }
}

impl IdmapSettings {
    /// Checks the settings of domain `domain` (whose table sets `min_id`
    /// and `max_id`, 0 = no maximum) and returns them with defaults
    /// applied. Errors name the domain and the key at fault.
    pub fn validate(
        &self,
        domain: &str,
        min_id: u32,
        max_id: u32,
    ) -> Result<ResolvedBackend, IdmapError> {
        let err = |reason: String| IdmapError::Settings {
            domain: domain.to_string(),
            reason,
        };
        let backend = self.backend.name();
        let refuse_keys = |keys: &[(&str, bool)]| -> Result<(), IdmapError> {
            for (k, set) in keys {
                if *set {
                    return Err(err(format!(
                        "key {k} does not apply to backend {backend:?}"
                    )));
                }
            }
            Ok(())
        };
        let rid_keys = [
            ("range_low", self.range_low.is_some()),
            ("range_high", self.range_high.is_some()),
            ("base_rid", self.base_rid.is_some()),
        ];
        let sss_keys = [
            ("range_min", self.range_min.is_some()),
            ("range_max", self.range_max.is_some()),
            ("range_size", self.range_size.is_some()),
            ("autorid_compat", self.autorid_compat.is_some()),
            ("helper_table_size", self.helper_table_size.is_some()),
        ];
        let autorid_keys = [
            ("rangesize", self.rangesize.is_some()),
            ("autorid_low", self.autorid_low.is_some()),
            ("autorid_high", self.autorid_high.is_some()),
            ("deterministic", self.deterministic.is_some()),
            ("deterministic_blocks", self.deterministic_blocks.is_some()),
            ("idmap_store", self.idmap_store.is_some()),
            ("idmap_store_dn", self.idmap_store_dn.is_some()),
        ];
        if max_id != 0 && max_id < min_id {
            return Err(err(format!("max_id {max_id} is below min_id {min_id}")));
        }
        let resolved = match self.backend {
            Backend::Rfc2307 => {
                refuse_keys(&[("base_rid", self.base_rid.is_some())])?;
                refuse_keys(&sss_keys)?;
                refuse_keys(&autorid_keys)?;
                if self.domain_sid.is_some() {
                    return Err(err(
                        "key domain_sid does not apply to backend \"rfc2307\"".into()
                    ));
                }
                ResolvedBackend::Rfc2307 {
                    low: self.range_low,
                    high: self.range_high,
                }
            }
            Backend::Rid => {
                refuse_keys(&sss_keys)?;
                refuse_keys(&autorid_keys)?;
                let (Some(low), Some(high)) = (self.range_low, self.range_high) else {
                    return Err(err(
                        "backend \"rid\" needs both range_low and range_high".into()
                    ));
                };
                ResolvedBackend::Rid {
                    low,
                    high,
                    base_rid: self.base_rid.unwrap_or(0),
                }
            }
            Backend::Sss => {
                refuse_keys(&rid_keys)?;
                refuse_keys(&autorid_keys)?;
                let d = SssParams::default();
                let p = SssParams {
                    range_min: self.range_min.unwrap_or(d.range_min),
                    range_max: self.range_max.unwrap_or(d.range_max),
                    range_size: self.range_size.unwrap_or(d.range_size),
                    autorid_compat: self.autorid_compat.unwrap_or(d.autorid_compat),
                    helper_table_size: self.helper_table_size.unwrap_or(d.helper_table_size),
                };
                if p.range_size == 0 {
                    return Err(err("range_size must not be 0".into()));
                }
                if p.range_max <= p.range_min {
                    return Err(err(format!(
                        "range_max {} must be above range_min {}",
                        p.range_max, p.range_min
                    )));
                }
                if p.slices() == 0 {
                    return Err(err(format!(
                        "range_min {} to range_max {} does not hold one slice of range_size {}",
                        p.range_min, p.range_max, p.range_size
                    )));
                }
                if p.helper_table_size > 1_000_000 {
                    return Err(err(format!(
                        "helper_table_size {} is unreasonably large",
                        p.helper_table_size
                    )));
                }
                if let Some(s) = &self.domain_sid {
                    if !s.is_nt_domain_sid() {
                        return Err(err(format!(
                            "domain_sid {s} is not of the form S-1-5-21-X-Y-Z that sss mapping needs"
                        )));
                    }
                }
                ResolvedBackend::Sss(p)
            }
            Backend::Autorid => {
                refuse_keys(&rid_keys)?;
                refuse_keys(&sss_keys)?;
                let (Some(low), Some(high)) = (self.autorid_low, self.autorid_high) else {
                    return Err(err(
                        "backend \"autorid\" needs both autorid_low and autorid_high".into(),
                    ));
                };
                let p = AutoridParams {
                    low,
                    high,
                    rangesize: self.rangesize.unwrap_or(100_000),
                    deterministic: self.deterministic.unwrap_or(false),
                    blocks: self.deterministic_blocks.unwrap_or(1),
                };
                if self.deterministic_blocks.is_some() && !p.deterministic {
                    return Err(err("deterministic_blocks needs deterministic = true".into()));
                }
                if p.blocks == 0 {
                    return Err(err("deterministic_blocks must be at least 1".into()));
                }
                match (self.idmap_store.unwrap_or_default(), &self.idmap_store_dn) {
                    (StoreKind::Ldap, None) => {
                        return Err(err("idmap_store = \"ldap\" needs idmap_store_dn".into()))
                    }
                    (StoreKind::Ldap, Some(dn)) if dn.trim().is_empty() => {
                        return Err(err("idmap_store_dn is empty".into()))
                    }
                    (StoreKind::Local, Some(_)) => {
                        return Err(err("idmap_store_dn needs idmap_store = \"ldap\"".into()))
                    }
                    _ => {}
                }
                if p.rangesize == 0 {
                    return Err(err("rangesize must not be 0".into()));
                }
                if high < low || p.slots() == 0 {
                    return Err(err(format!(
                        "autorid_low {low} to autorid_high {high} does not hold one range of rangesize {}",
                        p.rangesize
                    )));
                }
                ResolvedBackend::Autorid(p)
            }
        };
        let (low_key, high_key) = match self.backend {
            Backend::Rfc2307 | Backend::Rid => ("range_low", "range_high"),
            Backend::Sss => ("range_min", "range_max"),
            Backend::Autorid => ("autorid_low", "autorid_high"),
        };
        let (low, high) = match resolved {
            ResolvedBackend::Rfc2307 { low, high } => (low, high),
            _ => {
                let (l, h) = resolved.span().expect("non-rfc2307 backends have a span");
                (Some(l), Some(h))
            }
        };
        if let (Some(l), Some(h)) = (low, high) {
            if l > h {
                return Err(err(format!("{low_key} {l} is above {high_key} {h}")));
            }
        }
        if let Some(l) = low {
            if l < min_id || l == 0 {
                return Err(err(format!(
                    "{low_key} {l} reaches below min_id {min_id}: IDs there belong to local accounts"
                )));
            }
        }
        if let Some(h) = high {
            if max_id != 0 && h > max_id {
                return Err(err(format!(
                    "{high_key} reaches ID {h}, above max_id {max_id}"
                )));
            }
        }
        Ok(resolved)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rid(low: u32, high: u32) -> IdmapSettings {
        IdmapSettings {
            backend: Backend::Rid,
            range_low: Some(low),
            range_high: Some(high),
            ..Default::default()
        }
    }

    #[test]
    fn rid_range_checks() {
        assert!(rid(10_000, 20_000).validate("d", 1000, 0).is_ok());
        let e = rid(20_000, 10_000).validate("d", 1000, 0).unwrap_err();
        assert!(
            e.to_string()
                .contains("range_low 20000 is above range_high 10000"),
            "{e}"
        );
        assert!(e.to_string().contains("\"d\""));
        let e = rid(500, 10_000).validate("d", 1000, 0).unwrap_err();
        assert!(e.to_string().contains("below min_id 1000"), "{e}");
        let e = rid(5000, 100_000).validate("d", 1000, 50_000).unwrap_err();
        assert!(e.to_string().contains("above max_id 50000"), "{e}");
        let e = IdmapSettings {
            backend: Backend::Rid,
            range_low: Some(5000),
            ..Default::default()
        }
        .validate("d", 1000, 0)
        .unwrap_err();
        assert!(e.to_string().contains("needs both"), "{e}");
    }

    #[test]
    fn keys_of_other_backends_are_refused() {
        let mut s = rid(10_000, 20_000);
        s.range_size = Some(5);
        let e = s.validate("d", 1000, 0).unwrap_err();
        assert!(e.to_string().contains("range_size does not apply"), "{e}");
    }

    #[test]
    fn sss_defaults_and_checks() {
        let s = IdmapSettings {
            backend: Backend::Sss,
            ..Default::default()
        };
        match s.validate("d", 1000, 0).unwrap() {
            ResolvedBackend::Sss(p) => {
                assert_eq!(p, SssParams::default());
                assert_eq!(p.slices(), 10_000);
                assert_eq!(p.span(), (200_000, 2_000_199_999));
            }
            other => panic!("{other:?}"),
        }
        let s = IdmapSettings {
            backend: Backend::Sss,
            range_min: Some(100),
            ..Default::default()
        };
        assert!(s.validate("d", 1000, 0).is_err());
        let s = IdmapSettings {
            backend: Backend::Sss,
            domain_sid: Some("S-1-5-32".parse().unwrap()),
            ..Default::default()
        };
        assert!(s.validate("d", 1000, 0).is_err());
    }

    #[test]
    fn toml_shape_deserializes() {
        #[derive(Deserialize)]
        struct W {
            idmap: IdmapSettings,
        }
        let w: W = toml::from_str(
            "[idmap]\nbackend = \"autorid\"\nautorid_low = 1000000\nautorid_high = 2999999\ndeterministic = true\n",
        )
        .unwrap();
        let r = w.idmap.validate("d", 1000, 0).unwrap();
        assert_eq!(
            r,
            ResolvedBackend::Autorid(AutoridParams {
                low: 1_000_000,
                high: 2_999_999,
                rangesize: 100_000,
                deterministic: true,
                blocks: 1,
            })
        );
    }

    #[test]
    fn unknown_keys_and_bad_sids_are_refused() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct W {
            idmap: IdmapSettings,
        }
        let e = toml::from_str::<W>("[idmap]\nbackend = \"rid\"\nrange_lo = 5\n").unwrap_err();
        assert!(e.to_string().contains("range_lo"), "{e}");
        let e = toml::from_str::<W>("[idmap]\ndomain_sid = \"S-1-5-21-x\"\n").unwrap_err();
        assert!(e.to_string().contains("not a number"), "{e}");
        let e = toml::from_str::<W>("[idmap]\nbackend = \"winbind\"\n").unwrap_err();
        assert!(e.to_string().contains("winbind"), "{e}");
    }
}
