//! Samba idmap_rid: `id = low + rid - base_rid`, never wrapped.

/// An idmap_rid range: IDs `low..=high` hold RIDs from `base_rid` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RidRange {
    /// First ID.
    pub low: u32,
    /// Last ID.
    pub high: u32,
    /// RID mapped to `low`.
    pub base_rid: u32,
}

impl RidRange {
    /// The ID of `rid`, or `None` when it falls outside the range.
    #[inline]
    pub fn id_for(&self, rid: u32) -> Option<u32> {
        let off = rid.checked_sub(self.base_rid)?;
        let id = self.low.checked_add(off)?;
        (id <= self.high).then_some(id)
    }

    /// The RID of `id`, or `None` when it is outside the range (or the RID
    /// would pass 2^32).
    #[inline]
    pub fn rid_for(&self, id: u32) -> Option<u32> {
        if id < self.low || id > self.high {
            return None;
        }
        self.base_rid.checked_add(id - self.low)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn samba_formula() {
        let r = RidRange {
            low: 10_000,
            high: 19_999,
            base_rid: 500,
        };
        assert_eq!(r.id_for(500), Some(10_000));
        assert_eq!(r.id_for(1013), Some(10_513));
        assert_eq!(r.id_for(499), None);
        assert_eq!(r.id_for(10_499), Some(19_999));
        assert_eq!(r.id_for(10_500), None);
        assert_eq!(r.id_for(u32::MAX), None);
        assert_eq!(r.rid_for(10_513), Some(1013));
        assert_eq!(r.rid_for(9_999), None);
        assert_eq!(r.rid_for(20_000), None);
        let top = RidRange {
            low: 4_000_000_000,
            high: u32::MAX,
            base_rid: u32::MAX - 5,
        };
        assert_eq!(top.rid_for(4_000_000_010), None);
        assert_eq!(top.id_for(u32::MAX), Some(4_000_000_005));
    }

    proptest! {
        #[test]
        fn rid_id_round_trip(low in 1000u32.., len in 0u32.., base in any::<u32>(), rid in any::<u32>()) {
            let high = low.saturating_add(len);
            let r = RidRange { low, high, base_rid: base };
            if let Some(id) = r.id_for(rid) {
                prop_assert!(id >= low && id <= high);
                prop_assert_eq!(r.rid_for(id), Some(rid));
            } else {
                prop_assert!(rid < base || u64::from(low) + u64::from(rid - base) > u64::from(high));
            }
        }
    }
}
