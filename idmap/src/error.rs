//! The error type of the idmap crate.

use std::path::PathBuf;

use crate::backend::sss::SssError;
use crate::sid::{Sid, SidError};

/// Why a mapping, a validation or the autorid store failed.
#[derive(Debug, thiserror::Error)]
pub enum IdmapError {
    /// A SID could not be parsed.
    #[error(transparent)]
    Sid(#[from] SidError),
    /// One domain's idmap settings are wrong.
    #[error("domain {domain:?}: idmap settings: {reason}")]
    Settings {
        /// The domain at fault.
        domain: String,
        /// What is wrong.
        reason: String,
    },
    /// Two domains have the same name (compared case-insensitively).
    #[error("domain name {0:?} is configured twice")]
    DuplicateDomain(String),
    /// Two domains' ID ranges overlap.
    #[error(
        "ID ranges overlap: domain {first:?} ({first_low}-{first_high}) and domain {second:?} \
         ({second_low}-{second_high}) share IDs {low}-{high}"
    )]
    RangeOverlap {
        /// First domain.
        first: String,
        /// First domain's range, low end.
        first_low: u32,
        /// First domain's range, high end.
        first_high: u32,
        /// Second domain.
        second: String,
        /// Second domain's range, low end.
        second_low: u32,
        /// Second domain's range, high end.
        second_high: u32,
        /// Start of the shared span.
        low: u32,
        /// End of the shared span.
        high: u32,
    },
    /// No configured domain has this name.
    #[error("no configured domain is named {0:?}")]
    UnknownDomain(String),
    /// A domain already has a different SID.
    #[error("domain {domain:?} already has SID {current}; refusing to change it to {new}")]
    DomainSidConflict {
        /// The domain.
        domain: String,
        /// Its SID.
        current: String,
        /// The SID offered.
        new: String,
    },
    /// Another domain already has this SID.
    #[error("SID {sid} cannot be given to domain {domain:?}: it is the SID of domain {other:?}")]
    SidInUse {
        /// The SID.
        sid: String,
        /// The domain it was offered to.
        domain: String,
        /// The domain that has it.
        other: String,
    },
    /// The SID's domain part is not the SID of any configured domain.
    #[error("SID {0} belongs to no configured domain")]
    NoDomainForSid(Sid),
    /// The SID has no RID.
    #[error("SID {0} has no RID")]
    NoRid(Sid),
    /// The domain maps from uidNumber/gidNumber, not from SIDs.
    #[error("domain {domain:?} uses the rfc2307 backend: its IDs come from uidNumber/gidNumber, not from SIDs")]
    NotAlgorithmic {
        /// The domain.
        domain: String,
    },
    /// A RID has no place in the domain's range.
    #[error(
        "domain {domain:?}: RID {rid} does not fit the range {low}-{high} (base_rid {base_rid})"
    )]
    RidOutOfRange {
        /// The domain.
        domain: String,
        /// The RID.
        rid: u32,
        /// Range low end.
        low: u32,
        /// Range high end.
        high: u32,
        /// First RID of the range.
        base_rid: u32,
    },
    /// A POSIX ID from the directory is refused.
    #[error("domain {domain:?}: ID {id} refused: {reason}")]
    IdRefused {
        /// The domain.
        domain: String,
        /// The ID.
        id: u32,
        /// Why.
        reason: String,
    },
    /// The number is in no domain's range.
    #[error("ID {0} is in no domain's range")]
    IdNotInAnyRange(u32),
    /// The number is in a domain's range but that domain's SID is unknown.
    #[error("ID {id} is in the range of domain {domain:?}, whose SID is not known yet")]
    DomainSidUnknown {
        /// The ID.
        id: u32,
        /// The domain.
        domain: String,
    },
    /// No autorid range holds this number yet.
    #[error("ID {id} lies in autorid slot {slot}, which no domain has been given yet")]
    SlotUnallocated {
        /// The ID.
        id: u32,
        /// The slot.
        slot: u32,
    },
    /// The block of this SID has no autorid slot yet, and it was asked
    /// without allocating one ([`crate::DomainSet::mapped_id_for_sid`]):
    /// the allocation is left to a caller that may wait for it, or it
    /// failed.
    #[error("{sid}: its autorid block has no slot yet")]
    BlockUnallocated {
        /// The object SID.
        sid: Sid,
    },
    /// libsss_idmap-compatible mapping refused.
    #[error("domain {domain:?} (sss): {source}")]
    Sss {
        /// The domain (or pool) concerned.
        domain: String,
        /// The libsss_idmap-equivalent error.
        source: SssError,
    },
    /// Every autorid range is taken.
    #[error("autorid pool {low}-{high} is exhausted: all {slots} ranges of {rangesize} IDs are allocated")]
    PoolExhausted {
        /// Pool low end.
        low: u32,
        /// Pool high end.
        high: u32,
        /// Number of slots.
        slots: u32,
        /// IDs per slot.
        rangesize: u32,
    },
    /// The autorid store could not be read or written.
    #[error("autorid store {path}: {source}")]
    StoreIo {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The autorid store holds something it must not.
    #[error("autorid store {path}, line {line}: {reason}")]
    StoreCorrupt {
        /// The file.
        path: PathBuf,
        /// 1-based line number (0 for the file as a whole).
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// What the state directory recorded for a domain disagrees with the
    /// configuration.
    #[error(
        "domain {domain:?}: {reason} (recorded in {path}); if the change is intended, run \
         `rosterctl idmap reset {domain}` with rosterd stopped to forget the recorded mapping \
         (that domain's IDs will change)"
    )]
    Recorded {
        /// The domain (configured name, or its SID when no name is known).
        domain: String,
        /// The state file.
        path: PathBuf,
        /// What disagrees.
        reason: String,
    },
    /// The host's copy of the autorid allocations and the shared store
    /// disagree about a domain: it is not mapped until an administrator
    /// settles it.
    #[error("domain {domain}: not mapped: the local autorid allocations disagree with {store}: {reason}")]
    Disputed {
        /// The domain (name, or SID).
        domain: String,
        /// The shared store.
        store: String,
        /// The disagreement.
        reason: String,
    },
    /// A block met at run time cannot have its deterministic slot.
    #[error(
        "block {index} of domain {domain} refused: its deterministic slot {slot} is held by block \
         {holder_index} of {holder}; it is not moved elsewhere, which would make its IDs depend \
         on the order domains are met (configure its domain_sid, or raise deterministic_blocks)"
    )]
    BlockRefused {
        /// The domain SID.
        domain: String,
        /// The block.
        index: u32,
        /// Its hash slot.
        slot: u32,
        /// The SID of the domain holding the slot.
        holder: String,
        /// The block holding the slot.
        holder_index: u32,
    },
    /// The shared allocation store failed.
    #[error("autorid store {store}: {source}")]
    Shared {
        /// The store.
        store: String,
        /// What failed.
        source: crate::store::SharedStoreError,
    },
}
