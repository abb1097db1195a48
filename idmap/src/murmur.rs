//! MurmurHash3, x86 32-bit variant: the hash libsss_idmap uses to choose a
//! domain's slice.

/// The seed libsss_idmap uses.
pub const SSS_SEED: u32 = 0xdead_beef;

/// MurmurHash3 x86_32 of `key` with `seed` (little-endian blocks, as
/// SSSD's endian-neutral copy reads them).
pub fn murmurhash3_x86_32(key: &[u8], seed: u32) -> u32 {
    const C1: u32 = 0xcc9e_2d51;
    const C2: u32 = 0x1b87_3593;
    let mut h1 = seed;
    let mut blocks = key.chunks_exact(4);
    for b in &mut blocks {
        let mut k1 = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h1 ^= k1;
        h1 = h1.rotate_left(13).wrapping_mul(5).wrapping_add(0xe654_6b64);
    }
    let tail = blocks.remainder();
    if !tail.is_empty() {
        let mut k1 = 0u32;
        for (i, b) in tail.iter().enumerate() {
            k1 ^= u32::from(*b) << (8 * i);
        }
        k1 = k1.wrapping_mul(C1).rotate_left(15).wrapping_mul(C2);
        h1 ^= k1;
    }
    h1 ^= key.len() as u32;
    h1 ^= h1 >> 16;
    h1 = h1.wrapping_mul(0x85eb_ca6b);
    h1 ^= h1 >> 13;
    h1 = h1.wrapping_mul(0xc2b2_ae35);
    h1 ^= h1 >> 16;
    h1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_vectors() {
        // Published MurmurHash3_x86_32 test vectors.
        assert_eq!(murmurhash3_x86_32(b"", 0), 0);
        assert_eq!(murmurhash3_x86_32(b"", 1), 0x514E_28B7);
        assert_eq!(murmurhash3_x86_32(b"", 0xffff_ffff), 0x81F1_6F39);
        assert_eq!(murmurhash3_x86_32(&[0, 0, 0, 0], 0), 0x2362_F9DE);
        assert_eq!(murmurhash3_x86_32(b"aaaa", 0x9747_b28c), 0x5A97_808A);
        assert_eq!(murmurhash3_x86_32(b"abc", 0), 0xB3DD_93FA);
        assert_eq!(
            murmurhash3_x86_32(b"Hello, world!", 0x9747_b28c),
            0x2488_4CBA
        );
    }
}
