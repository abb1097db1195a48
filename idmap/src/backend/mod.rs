//! The mapping backends: rfc2307 checks, idmap_rid, libsss_idmap and
//! autorid.

pub mod autorid;
pub mod rfc2307;
pub mod rid;
pub mod sss;
