//! `initgroups_dyn` semantics: which of the user's groups to append to the
//! array glibc is building, and how to grow that array.
//!
//! The GIDs go from the daemon's answer (or the memory cache's record, read
//! in place) straight into glibc's array in one pass: no copy of the list,
//! no list of the GIDs to add.

use crate::config::NssConfig;
use libc::{c_long, gid_t};
use std::mem::MaybeUninit;

/// A user's GIDs as the daemon or its memory cache gave them, seen through
/// the module's policy: GIDs the module does not serve (below `min_id`, 0)
/// are left out.
#[derive(Clone, Copy)]
pub struct Gids<'a> {
    list: GidList<'a>,
    config: &'a NssConfig,
}

#[derive(Clone, Copy)]
enum GidList<'a> {
    /// Native-endian `u32`s, as a memory-cache record holds them.
    Encoded(&'a [u8]),
    Slice(&'a [u32]),
}

/// One native-endian `u32` of a 4-byte chunk.
fn ne_u32(c: &[u8]) -> u32 {
    u32::from_ne_bytes([c[0], c[1], c[2], c[3]])
}

impl<'a> Gids<'a> {
    /// GIDs encoded as native-endian `u32`s (a memory-cache record; a
    /// trailing partial GID is ignored).
    pub fn encoded(bytes: &'a [u8], config: &'a NssConfig) -> Self {
        Gids {
            list: GidList::Encoded(bytes),
            config,
        }
    }

    /// GIDs of a daemon answer.
    pub fn slice(gids: &'a [u32], config: &'a NssConfig) -> Self {
        Gids {
            list: GidList::Slice(gids),
            config,
        }
    }

    /// How many GIDs the list holds, served or not (an upper bound of what
    /// is appended).
    pub fn len(&self) -> usize {
        match self.list {
            GidList::Encoded(b) => b.len() / 4,
            GidList::Slice(s) => s.len(),
        }
    }

    /// True when the list holds no GID at all.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The served GIDs, in the list's order.
    pub fn to_vec(&self) -> Vec<u32> {
        let served = |g: &u32| self.config.serves_id(*g);
        match self.list {
            GidList::Encoded(b) => b.chunks_exact(4).map(ne_u32).filter(served).collect(),
            GidList::Slice(s) => s.iter().copied().filter(served).collect(),
        }
    }
}

/// Outcome of appending to glibc's array.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// `realloc` failed: nothing was changed.
    NoMemory,
    /// glibc passed inconsistent counters: nothing was changed.
    BadArguments,
}

/// Appends the served GIDs of `gids` to the array `*groupsp` holding
/// `*start` GIDs in room for `*size`: without duplicates, without `skip`
/// (the primary group glibc adds itself), without GIDs already in the
/// array, and at most `limit - *start` of them when `limit > 0` (the
/// smallest ones). The array grows with `realloc` when the whole list might
/// not fit.
///
/// rosterd sends the primary group, then the others in increasing order:
/// those are written in one pass; any other list is sorted first.
///
/// # Safety
/// `start`, `size` and `groupsp` must be the valid pointers glibc passes to
/// `_nss_*_initgroups_dyn`: `*groupsp` is a `malloc`ed array (or NULL with
/// `*start` 0) of `*size` elements of which the first `*start` are
/// initialised.
pub unsafe fn append_gids(
    gids: &Gids<'_>,
    skip: gid_t,
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
    limit: c_long,
) -> Result<(), AppendError> {
    // SAFETY: the caller guarantees these pointers are valid.
    let (used, cap, array) = unsafe { (*start, *size, *groupsp) };
    let (Ok(used), Ok(cap)) = (usize::try_from(used), usize::try_from(cap)) else {
        return Err(AppendError::BadArguments);
    };
    if used > cap || (array.is_null() && used > 0) {
        return Err(AppendError::BadArguments);
    }
    let mut room = gids.len();
    if limit > 0 {
        room = room.min((limit as usize).saturating_sub(used));
    }
    if room == 0 {
        return Ok(());
    }
    let need = used.checked_add(room).ok_or(AppendError::BadArguments)?;
    let need_c = c_long::try_from(need).map_err(|_| AppendError::BadArguments)?;
    let mut array = array;
    if need > cap {
        let bytes = need
            .checked_mul(std::mem::size_of::<gid_t>())
            .ok_or(AppendError::NoMemory)?;
        // SAFETY: *groupsp is a malloc'ed block or NULL, which realloc
        // accepts. On failure the old block is untouched.
        let grown = unsafe { libc::realloc(array.cast(), bytes) }.cast::<gid_t>();
        if grown.is_null() {
            return Err(AppendError::NoMemory);
        }
        array = grown;
        // SAFETY: valid pointers (caller); the array is now `need` long.
        unsafe {
            *groupsp = grown;
            *size = need_c;
        }
    }
    // SAFETY: the array holds at least used + room elements, the first
    // `used` initialised; the two slices do not overlap.
    let (existing, out) = unsafe {
        (
            std::slice::from_raw_parts(array.cast_const(), used),
            std::slice::from_raw_parts_mut(array.add(used).cast::<MaybeUninit<gid_t>>(), room),
        )
    };
    let config = gids.config;
    let added = match gids.list {
        GidList::Encoded(b) => fill(Encoded(b), config, existing, skip, out),
        GidList::Slice(s) => fill(s, config, existing, skip, out),
    };
    // SAFETY: valid pointer (caller); `added` more elements are initialised.
    unsafe { *start = (used + added) as c_long };
    Ok(())
}

/// Random access to a GID list.
trait Source: Copy {
    /// How many GIDs.
    fn len(self) -> usize;
    /// GID `i` (`i < len`).
    fn get(self, i: usize) -> u32;
    /// Writes GIDs `from..to` to the start of `out`.
    fn copy_to(self, from: usize, to: usize, out: &mut [MaybeUninit<gid_t>]);
    /// True when the GIDs after the first are strictly increasing.
    fn increasing_after_first(self) -> bool;
}

/// True when each GID of `pairs` (GID `i`, GID `i + 1`) is below the next
/// (no early exit and nothing carried but the answer: a loop the compiler
/// turns into vector compares).
fn strictly_increasing(pairs: impl Iterator<Item = (u32, u32)>) -> bool {
    pairs.fold(true, |ok, (a, b)| ok & (a < b))
}

impl Source for &[u32] {
    fn len(self) -> usize {
        <[u32]>::len(self)
    }
    fn get(self, i: usize) -> u32 {
        self[i]
    }
    fn copy_to(self, from: usize, to: usize, out: &mut [MaybeUninit<gid_t>]) {
        for (d, g) in out.iter_mut().zip(&self[from..to]) {
            d.write(*g);
        }
    }
    fn increasing_after_first(self) -> bool {
        let rest = self.get(1..).unwrap_or_default();
        strictly_increasing(
            rest.iter()
                .zip(rest.get(1..).unwrap_or_default())
                .map(|(a, b)| (*a, *b)),
        )
    }
}

/// Native-endian `u32`s (a memory-cache record).
#[derive(Clone, Copy)]
struct Encoded<'a>(&'a [u8]);

impl Source for Encoded<'_> {
    fn len(self) -> usize {
        self.0.len() / 4
    }
    fn get(self, i: usize) -> u32 {
        ne_u32(&self.0[i * 4..i * 4 + 4])
    }
    fn copy_to(self, from: usize, to: usize, out: &mut [MaybeUninit<gid_t>]) {
        for (d, c) in out.iter_mut().zip(self.0[from * 4..to * 4].chunks_exact(4)) {
            d.write(ne_u32(c));
        }
    }
    fn increasing_after_first(self) -> bool {
        let rest = self.0.get(4..).unwrap_or_default();
        let next = rest.get(4..).unwrap_or_default();
        strictly_increasing(
            rest.chunks_exact(4)
                .zip(next.chunks_exact(4))
                .map(|(a, b)| (ne_u32(a), ne_u32(b))),
        )
    }
}

/// The first index in `from..to` (an increasing stretch of `src`) whose
/// GID is at least `g`; `to` when none.
fn first_at_least(src: impl Source, from: usize, to: usize, g: u32) -> usize {
    let (mut lo, mut hi) = (from, to);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if src.get(mid) < g {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// Writes the wanted GIDs of `src` (served, not `skip`, not in
/// `existing`) into `out` (as many as fit, smallest first) and returns how
/// many.
fn fill(
    src: impl Source,
    config: &NssConfig,
    existing: &[gid_t],
    skip: gid_t,
    out: &mut [MaybeUninit<gid_t>],
) -> usize {
    let lo = existing.iter().copied().min().unwrap_or(gid_t::MAX);
    let hi = existing.iter().copied().max().unwrap_or(0);
    if let Some(n) = fill_increasing(src, config, existing, (lo, hi), skip, out) {
        return n;
    }
    // Most GIDs are above or below everything in the array (glibc's
    // primary group and the local groups): two comparisons tell.
    let wanted = |g: gid_t| {
        config.serves_id(g) && g != skip && !(lo <= g && g <= hi && existing.contains(&g))
    };
    let found = (0..src.len()).map(|i| src.get(i));
    let mut n = 0;
    let mut last: Option<gid_t> = None;
    for g in found.clone() {
        if !wanted(g) {
            continue;
        }
        if last.is_some_and(|l| l >= g) {
            // Not increasing: sort a copy and start again.
            let mut all: Vec<gid_t> = found.filter(|&g| wanted(g)).collect();
            all.sort_unstable();
            all.dedup();
            for (slot, g) in out.iter_mut().zip(&all) {
                slot.write(*g);
            }
            return all.len().min(out.len());
        }
        let Some(slot) = out.get_mut(n) else {
            // Full (limit): the smallest ones are in.
            break;
        };
        slot.write(g);
        n += 1;
        last = Some(g);
    }
    n
}

/// [`fill`] for what rosterd sends (the primary group, then the others in
/// increasing order) when all of it fits: the GIDs after the first are
/// copied in whole runs, between the few places binary searches find (the
/// GIDs below `min_id`, `skip`, the range `lo..=hi` of `existing`, within
/// which each is looked for). None for any other list: [`fill`] takes one
/// GID at a time.
fn fill_increasing(
    src: impl Source,
    config: &NssConfig,
    existing: &[gid_t],
    (lo, hi): (gid_t, gid_t),
    skip: gid_t,
    out: &mut [MaybeUninit<gid_t>],
) -> Option<usize> {
    let count = src.len();
    if count > out.len() || !src.increasing_after_first() {
        return None;
    }
    if count == 0 {
        return Some(0);
    }
    let in_existing = |g: gid_t| lo <= g && g <= hi && existing.contains(&g);
    // From here on: served (0 never is).
    let served = first_at_least(src, 1, count, config.min_id.max(1));
    let mut n = 0;
    let first = src.get(0);
    if config.serves_id(first) && first != skip && !in_existing(first) {
        if served < count && src.get(served) <= first {
            return None;
        }
        out[0].write(first);
        n = 1;
    }
    // Below `lo`, within `lo..=hi`, above `hi`.
    let within = first_at_least(src, served, count, lo);
    let above = match hi.checked_add(1) {
        Some(h) => first_at_least(src, within, count, h),
        None => count,
    };
    // Copies `from..to` but `skip` (at most once in an increasing stretch)
    // to the start of `out`; how many.
    let run = |from: usize, to: usize, out: &mut [MaybeUninit<gid_t>]| {
        let k = first_at_least(src, from, to, skip);
        if k < to && src.get(k) == skip {
            src.copy_to(from, k, out);
            src.copy_to(k + 1, to, &mut out[k - from..]);
            to - from - 1
        } else {
            src.copy_to(from, to, out);
            to - from
        }
    };
    n += run(served, within, &mut out[n..]);
    for i in within..above {
        let g = src.get(i);
        if g != skip && !in_existing(g) {
            out[n].write(g);
            n += 1;
        }
    }
    n += run(above, count, &mut out[n..]);
    Some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn malloc_array(items: &[gid_t], cap: usize) -> *mut gid_t {
        // SAFETY: plain malloc of cap gids; filled below within bounds.
        unsafe {
            let p = libc::malloc(cap.max(1) * std::mem::size_of::<gid_t>()).cast::<gid_t>();
            assert!(!p.is_null());
            std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len());
            p
        }
    }

    /// What glibc's array holds after appending `found` to `existing`
    /// (room for `cap`), and its new size.
    fn appended(
        existing: &[gid_t],
        cap: usize,
        found: &[u32],
        skip: gid_t,
        limit: c_long,
    ) -> (Vec<gid_t>, c_long) {
        let config = NssConfig {
            min_id: 1,
            ..NssConfig::default()
        };
        let bytes: Vec<u8> = found.iter().flat_map(|g| g.to_ne_bytes()).collect();
        let mut results = Vec::new();
        for gids in [Gids::slice(found, &config), Gids::encoded(&bytes, &config)] {
            let mut groups = malloc_array(existing, cap);
            let (mut start, mut size) = (existing.len() as c_long, cap as c_long);
            // SAFETY: pointers to live locals and a malloc'ed array of `size`.
            unsafe { append_gids(&gids, skip, &mut start, &mut size, &mut groups, limit) }.unwrap();
            // SAFETY: the array holds `start` initialised gids.
            let all = unsafe { std::slice::from_raw_parts(groups, start as usize) }.to_vec();
            results.push((all, size));
            // SAFETY: malloc'ed (or realloc'ed) above.
            unsafe { libc::free(groups.cast()) };
        }
        assert_eq!(results[0], results[1], "slice and encoded agree");
        results.swap_remove(0)
    }

    #[test]
    fn skips_primary_duplicates_and_existing() {
        let (all, _) = appended(
            &[10000, 27],
            8,
            &[10010, 10000, 27, 10010, 30000],
            10000,
            -1,
        );
        assert_eq!(all, vec![10000, 27, 10010, 30000]);
    }

    #[test]
    fn an_increasing_list_is_kept_and_any_other_sorted_once() {
        // What rosterd sends: the primary group, then increasing.
        let (all, _) = appended(&[10000], 8, &[10000, 27, 10010, 30000], 10000, -1);
        assert_eq!(all, vec![10000, 27, 10010, 30000]);
        // Out of order, or a duplicate after the first pass started.
        let (all, _) = appended(&[10000], 8, &[10000, 30000, 27, 10010, 27], 10000, -1);
        assert_eq!(all, vec![10000, 27, 10010, 30000]);
        let (all, _) = appended(&[], 8, &[5, 6, 6, 7], 1, -1);
        assert_eq!(all, vec![5, 6, 7]);
        // `skip` within an increasing list; a first GID above the rest.
        let (all, _) = appended(&[1], 8, &[2, 3, 4, 5, 6], 4, -1);
        assert_eq!(all, vec![1, 2, 3, 5, 6]);
        let (all, _) = appended(&[1], 8, &[9, 3, 7, 9, 11], 4, -1);
        assert_eq!(all, vec![1, 3, 7, 9, 11]);
        let (all, _) = appended(&[1], 8, &[2, 3, 7, 9, 11], 11, -1);
        assert_eq!(all, vec![1, 2, 3, 7, 9]);
        // A GID between existing ones is looked for among them.
        let (all, _) = appended(&[10, 20, 15], 8, &[12, 15, 18, 20, 25], 1, -1);
        assert_eq!(all, vec![10, 20, 15, 12, 18, 25]);
    }

    #[test]
    fn unserved_gids_are_left_out() {
        let config = NssConfig::default();
        let found = [10010, 4, 0, 10000];
        assert_eq!(Gids::slice(&found, &config).to_vec(), vec![10010, 10000]);
        let bytes: Vec<u8> = found.iter().flat_map(|g| g.to_ne_bytes()).collect();
        assert_eq!(Gids::encoded(&bytes, &config).to_vec(), vec![10010, 10000]);
        let (all, _) = appended(&[1], 8, &[0, 2, 3], 1, -1);
        assert_eq!(all, vec![1, 2, 3], "0 never");
    }

    #[test]
    fn limit_caps_the_total() {
        let found: Vec<u32> = (30000..31000).collect();
        assert_eq!(
            appended(&[1], 1, &found, 1, 0).0.len(),
            1001,
            "0 = no limit"
        );
        assert_eq!(appended(&[1], 1, &found, 1, 65536).0.len(), 1001);
        assert_eq!(
            appended(&[1], 1, &found, 1, 10).0,
            [1].into_iter().chain(30000..30009).collect::<Vec<_>>()
        );
        assert_eq!(appended(&[1, 2], 2, &found, 1, 2).0, vec![1, 2]);
        assert_eq!(appended(&[1, 2, 3], 3, &found, 1, 2).0, vec![1, 2, 3]);
        // Not increasing, with a limit: the smallest.
        let (all, _) = appended(&[1], 1, &[9, 3, 7, 5], 1, 3);
        assert_eq!(all, vec![1, 3, 5]);
    }

    #[test]
    fn append_grows_with_realloc() {
        let found: Vec<u32> = (30000..31000).collect();
        let (all, size) = appended(&[10000], 1, &found, 10000, -1);
        assert_eq!(size, 1001);
        assert_eq!(all[0], 10000);
        assert_eq!(&all[1..], &found[..]);
    }

    #[test]
    fn append_in_place_when_room() {
        let (all, size) = appended(&[5], 8, &[7, 9], 1, -1);
        assert_eq!((all, size), (vec![5, 7, 9], 8));
        let (all, size) = appended(&[5], 8, &[], 1, -1);
        assert_eq!((all, size), (vec![5], 8), "nothing to add");
    }

    #[test]
    fn inconsistent_counters_are_refused() {
        let config = NssConfig::default();
        let mut groups = malloc_array(&[5], 8);
        let (mut start, mut size): (c_long, c_long) = (9, 8);
        // SAFETY: as above; inconsistent counters are refused before any write.
        let err = unsafe {
            append_gids(
                &Gids::slice(&[2000], &config),
                1,
                &mut start,
                &mut size,
                &mut groups,
                -1,
            )
        };
        assert_eq!(err, Err(AppendError::BadArguments));
        assert_eq!((start, size), (9, 8));
        // SAFETY: malloc'ed above.
        unsafe { libc::free(groups.cast()) };
    }
}
