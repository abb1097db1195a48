//! ID mapping for roster: SIDs, ID ranges and the mapping backends.
//!
//! - [`Sid`]: string form `S-1-5-21-X-Y-Z-RID`, binary `objectSid`,
//!   domain/RID split, RFC 4515 filter form.
//! - [`IdmapSettings`]: the `[domain.idmap]` table of `roster.toml`,
//!   validated per domain; [`DomainSet`] validates all domains together
//!   (no overlapping ranges, none below `min_id`) and maps SID → ID and
//!   ID → SID.
//! - Backends: `rfc2307` (IDs from `uidNumber`/`gidNumber`, checked by
//!   [`DomainSet::check_posix_id`]: never 0, never below `min_id`),
//!   `rid` (Samba idmap_rid), `sss` (libsss_idmap's algorithm, checked
//!   against the real library by this crate's tests; see
//!   [`backend::sss`]) and `autorid` (see [`backend::autorid`]).
//! - [`map_lines`]: the offline answer behind `rosterctl idmap map`.
//!
//! # autorid storage: why a small file and not a database
//!
//! autorid allocations are kept in one text file per pool,
//! `<state_dir>/autorid-<autorid_low>.map`, one `SLOT DOMAIN-SID INDEX`
//! line per range. Each allocation rewrites it whole: write a temporary
//! file next to it, fsync it, rename it over the old file, fsync the
//! directory (`roster_proto::atomic_file`); only then is the new ID handed out. A kill (or power
//! loss) at any point leaves either the old or the new file, never a
//! mixture, so no allocation that was answered is lost. Allocations are
//! serialized across processes by an exclusive `flock` on
//! `autorid-<low>.lock`, and the file is re-read under that lock before
//! choosing a slot, so rosterd and rosterctl can never give one range to
//! two domains. The file is tiny (one line per domain range; rewritten
//! only on the first sight of a domain), so this needs no dependency, is
//! readable and repairable with a text editor, and has a crash story that
//! fits in this paragraph; an embedded database such as redb would buy
//! nothing for a few hundred lines. Loading refuses a file whose
//! `rangesize` differs from the configuration, or with a range beyond
//! `autorid_high`, or with a slot or domain block recorded twice.
//! [`StoreMode::ReadOnly`] (used by `rosterctl idmap map`) reads the file
//! but never writes or creates anything: allocations it would make stay in
//! memory, so the offline answer shows what rosterd would do.
//!
//! # autorid: first-seen versus deterministic
//!
//! By default (as Samba's idmap_autorid) a domain gets the lowest free
//! range the first time it is seen: two hosts that meet domains in a
//! different order give them different IDs, unless they share the
//! allocations through the directory (`idmap_store = "ldap"`, see
//! [`store::SharedStore`]). With `deterministic = true` the slot of every
//! block is a function of the domain SID, the block index and the
//! configuration only: the first `deterministic_blocks` blocks of every
//! domain with a configured `domain_sid` are placed together at load, in
//! (SID, block) order, each at the MurmurHash3 slot of its key (SSSD's
//! key) or, when a lower key holds it, the next free one; a block met at
//! run time only ever takes its hash slot and is refused when that slot is
//! held (see [`backend::autorid`]). Allocations are recorded either way,
//! so a host's IDs never move once handed out; a recorded allocation that
//! disagrees with the deterministic placement is refused at load
//! ([`IdmapError::Recorded`], reset with `rosterctl idmap reset DOMAIN`).
//!
//! # sss: recorded slices
//!
//! The primary and precomputed secondary slices each sss domain gets are
//! recorded in `<state_dir>/sss.map` (same atomic-replace and `flock`
//! machinery, [`store::StateFile`]) at first assignment and put back at
//! load, so a restart or reload gives the same slices whatever order the
//! domains answer in, and a domain whose server is down keeps mapping.

pub mod backend;
mod blockcache;
mod domainset;
mod error;
pub mod export;
mod maplines;
pub mod murmur;
mod settings;
mod sid;
pub mod store;

pub use backend::autorid::StoreMode;
pub use domainset::{DomainSet, SharedFactory, SharedSpec};
pub use error::IdmapError;
pub use maplines::{map_lines, MapSummary};
pub use settings::{
    AutoridParams, Backend, IdmapSettings, ResolvedBackend, SssParams, StoreKind, DEFAULT_MIN_ID,
};
pub use sid::{Sid, SidError, MAX_SUB_AUTHORITIES};
