//! ID mapping for roster: SIDs, ranges and mapping backends.
