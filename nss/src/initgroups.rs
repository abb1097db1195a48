//! `initgroups_dyn` semantics: which of the user's groups to append to the
//! array glibc is building, and how to grow that array.

use libc::{c_long, gid_t};

/// The GIDs to append: `found` without duplicates, without `skip` (the
/// primary group glibc adds itself), without GIDs already in `existing`, and
/// at most `limit - existing.len()` of them when `limit > 0`.
///
/// rosterd sends the primary group, then the others in increasing order:
/// those are taken in one pass; any other list is sorted first.
pub fn gids_to_add(existing: &[gid_t], found: &[u32], skip: gid_t, limit: c_long) -> Vec<gid_t> {
    let wanted = |g: &gid_t| *g != skip && !existing.contains(g);
    let mut add: Vec<gid_t> = Vec::with_capacity(found.len());
    let mut increasing = true;
    for g in found.iter().filter(|g| wanted(g)) {
        if add.last().is_some_and(|last| last >= g) {
            increasing = false;
            break;
        }
        add.push(*g);
    }
    if !increasing {
        add.clear();
        add.extend_from_slice(found);
        add.sort_unstable();
        add.dedup();
        add.retain(wanted);
    }
    if limit > 0 {
        let room = (limit as usize).saturating_sub(existing.len());
        add.truncate(room);
    }
    add
}

/// Outcome of appending to glibc's array.
#[derive(Debug, PartialEq, Eq)]
pub enum AppendError {
    /// `realloc` failed: nothing was changed.
    NoMemory,
    /// glibc passed inconsistent counters: nothing was changed.
    BadArguments,
}

/// Appends `add` to the array `*groupsp` holding `*start` GIDs in room for
/// `*size`, growing it with `realloc` when needed.
///
/// # Safety
/// `start`, `size` and `groupsp` must be the valid pointers glibc passes to
/// `_nss_*_initgroups_dyn`: `*groupsp` is a `malloc`ed array of `*size`
/// elements of which the first `*start` are initialised.
pub unsafe fn append(
    add: &[gid_t],
    start: *mut c_long,
    size: *mut c_long,
    groupsp: *mut *mut gid_t,
) -> Result<(), AppendError> {
    if add.is_empty() {
        return Ok(());
    }
    // SAFETY: the caller guarantees these pointers are valid.
    let (used, cap) = unsafe { (*start, *size) };
    let (Ok(used), Ok(cap)) = (usize::try_from(used), usize::try_from(cap)) else {
        return Err(AppendError::BadArguments);
    };
    if used > cap {
        return Err(AppendError::BadArguments);
    }
    let need = used
        .checked_add(add.len())
        .ok_or(AppendError::BadArguments)?;
    let new_len = c_long::try_from(need).map_err(|_| AppendError::BadArguments)?;
    // SAFETY: groupsp is valid (caller); *groupsp is a malloc'ed block or
    // NULL, which realloc accepts. On failure the old block is untouched.
    unsafe {
        if need > cap {
            let bytes = need
                .checked_mul(std::mem::size_of::<gid_t>())
                .ok_or(AppendError::NoMemory)?;
            let grown = libc::realloc((*groupsp).cast(), bytes).cast::<gid_t>();
            if grown.is_null() {
                return Err(AppendError::NoMemory);
            }
            *groupsp = grown;
            *size = new_len;
        }
        std::ptr::copy_nonoverlapping(add.as_ptr(), (*groupsp).add(used), add.len());
        *start = new_len;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn skips_primary_duplicates_and_existing() {
        let add = gids_to_add(&[10000, 27], &[10010, 10000, 27, 10010, 30000], 10000, -1);
        assert_eq!(add, vec![10010, 30000]);
    }

    #[test]
    fn an_increasing_list_is_kept_and_any_other_sorted_once() {
        // What rosterd sends: the primary group, then increasing.
        let add = gids_to_add(&[10000], &[10000, 27, 10010, 30000], 10000, -1);
        assert_eq!(add, vec![27, 10010, 30000]);
        // Out of order, or a duplicate after the first pass started.
        let add = gids_to_add(&[10000], &[10000, 30000, 27, 10010, 27], 10000, -1);
        assert_eq!(add, vec![27, 10010, 30000]);
        let add = gids_to_add(&[], &[5, 6, 6, 7], 1, -1);
        assert_eq!(add, vec![5, 6, 7]);
    }

    #[test]
    fn limit_caps_the_total() {
        let found: Vec<u32> = (30000..31000).collect();
        assert_eq!(gids_to_add(&[1], &found, 1, 0).len(), 1000, "0 = no limit");
        assert_eq!(gids_to_add(&[1], &found, 1, 65536).len(), 1000);
        assert_eq!(
            gids_to_add(&[1], &found, 1, 10),
            (30000..30009).collect::<Vec<_>>()
        );
        assert!(gids_to_add(&[1, 2], &found, 1, 2).is_empty());
        assert!(gids_to_add(&[1, 2, 3], &found, 1, 2).is_empty());
    }

    fn malloc_array(items: &[gid_t], cap: usize) -> *mut gid_t {
        // SAFETY: plain malloc of cap gids; filled below within bounds.
        unsafe {
            let p = libc::malloc(cap * std::mem::size_of::<gid_t>()).cast::<gid_t>();
            assert!(!p.is_null());
            std::ptr::copy_nonoverlapping(items.as_ptr(), p, items.len());
            p
        }
    }

    #[test]
    fn append_grows_with_realloc() {
        let mut groups = malloc_array(&[10000], 1);
        let (mut start, mut size): (c_long, c_long) = (1, 1);
        let add: Vec<gid_t> = (30000..31000).collect();
        // SAFETY: pointers to live locals and a malloc'ed array of `size`.
        unsafe { append(&add, &mut start, &mut size, &mut groups) }.unwrap();
        assert_eq!((start, size), (1001, 1001));
        // SAFETY: the array now holds `start` initialised gids.
        let got = unsafe { std::slice::from_raw_parts(groups, start as usize) }.to_vec();
        assert_eq!(got[0], 10000);
        assert_eq!(&got[1..], &add[..]);
        // SAFETY: the array was allocated with malloc/realloc.
        unsafe { libc::free(groups.cast()) };
    }

    #[test]
    fn append_in_place_when_room() {
        let mut groups = malloc_array(&[5], 8);
        let (mut start, mut size): (c_long, c_long) = (1, 8);
        // SAFETY: as above.
        unsafe { append(&[7, 9], &mut start, &mut size, &mut groups) }.unwrap();
        assert_eq!((start, size), (3, 8));
        // SAFETY: 3 initialised gids.
        assert_eq!(unsafe { std::slice::from_raw_parts(groups, 3) }, &[5, 7, 9]);
        let (mut bad_start, mut bad_size): (c_long, c_long) = (9, 8);
        // SAFETY: as above; inconsistent counters are refused before any write.
        let err = unsafe { append(&[1], &mut bad_start, &mut bad_size, &mut groups) };
        assert_eq!(err, Err(AppendError::BadArguments));
        // SAFETY: malloc'ed above.
        unsafe { libc::free(groups.cast()) };
    }
}
