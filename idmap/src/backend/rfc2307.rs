//! rfc2307: checks on the `uidNumber` / `gidNumber` a directory entry
//! carries, so that a stray `uidNumber: 0` never becomes root.

/// The bounds an rfc2307 ID must respect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PosixBounds {
    /// Lowest ID (the domain's `min_id`).
    pub min_id: u32,
    /// Highest ID, 0 for none (the domain's `max_id`).
    pub max_id: u32,
    /// Optional range of the domain.
    pub range: Option<(Option<u32>, Option<u32>)>,
}

impl PosixBounds {
    /// `Ok(id)` when acceptable, else the reason it is refused.
    pub fn check(&self, id: u32) -> Result<u32, String> {
        if id == 0 {
            return Err("ID 0 is root's and is never taken from a directory".into());
        }
        if id < self.min_id {
            return Err(format!("below min_id {}", self.min_id));
        }
        if self.max_id != 0 && id > self.max_id {
            return Err(format!("above max_id {}", self.max_id));
        }
        if let Some((low, high)) = self.range {
            if let Some(l) = low.filter(|l| id < *l) {
                return Err(format!("below the domain's range_low {l}"));
            }
            if let Some(h) = high.filter(|h| id > *h) {
                return Err(format!("above the domain's range_high {h}"));
            }
        }
        Ok(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_root_and_out_of_bounds() {
        let b = PosixBounds {
            min_id: 1000,
            max_id: 60_000,
            range: Some((Some(5000), Some(50_000))),
        };
        assert!(b.check(0).unwrap_err().contains("root"));
        assert!(b.check(999).unwrap_err().contains("min_id"));
        assert!(b.check(60_001).unwrap_err().contains("max_id"));
        assert!(b.check(4999).unwrap_err().contains("range_low"));
        assert!(b.check(50_001).unwrap_err().contains("range_high"));
        assert_eq!(b.check(5000), Ok(5000));
        assert_eq!(b.check(50_000), Ok(50_000));
        let open = PosixBounds {
            min_id: 1000,
            max_id: 0,
            range: None,
        };
        assert_eq!(open.check(u32::MAX), Ok(u32::MAX));
        assert!(open.check(0).is_err());
    }
}
