//! MurmurHash2 as twemproxy has it: the seed is `0xdeadbeef * length`, and 4-byte blocks
//! are read little-endian (Debian's nutcracker reads them portably; on x86-64 that is the
//! same number as upstream's unaligned load).

const M: u32 = 0x5bd1_e995;
const R: u32 = 24;

pub(super) fn hash(key: &[u8]) -> u32 {
    let length = key.len() as u32;
    let seed = 0xdead_beefu32.wrapping_mul(length);
    let mut h = seed ^ length;
    let mut blocks = key.chunks_exact(4);
    for block in &mut blocks {
        let mut k = u32::from_le_bytes([block[0], block[1], block[2], block[3]]);
        k = k.wrapping_mul(M);
        k ^= k >> R;
        k = k.wrapping_mul(M);
        h = h.wrapping_mul(M);
        h ^= k;
    }
    let tail = blocks.remainder();
    if tail.len() >= 3 {
        h ^= u32::from(tail[2]) << 16;
    }
    if tail.len() >= 2 {
        h ^= u32::from(tail[1]) << 8;
    }
    if !tail.is_empty() {
        h ^= u32::from(tail[0]);
        h = h.wrapping_mul(M);
    }
    h ^= h >> 13;
    h = h.wrapping_mul(M);
    h ^ (h >> 15)
}
