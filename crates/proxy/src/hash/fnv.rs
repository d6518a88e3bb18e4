//! twemproxy's four FNV variants. Every key byte is read as a signed `char` and
//! sign-extended before it is mixed in. `fnv1a_64` is really FNV-1a over 32-bit integers
//! seeded and multiplied with the low halves of the 64-bit constants, which gives the low
//! 32 bits of the genuine 64-bit FNV-1a; `fnv1_64` runs in 64 bits and keeps the low 32.

use super::signed;

const OFFSET_64: u64 = 0xcbf2_9ce4_8422_2325;
const PRIME_64: u64 = 0x0000_0100_0000_01b3;
const OFFSET_32: u32 = 2_166_136_261;
const PRIME_32: u32 = 16_777_619;

pub(super) fn fnv1_64(key: &[u8]) -> u32 {
    let hash = key.iter().fold(OFFSET_64, |hash, &byte| {
        hash.wrapping_mul(PRIME_64) ^ (byte as i8 as i64 as u64)
    });
    hash as u32
}

pub(super) fn fnv1a_64(key: &[u8]) -> u32 {
    key.iter().fold(OFFSET_64 as u32, |hash, &byte| {
        (hash ^ signed(byte)).wrapping_mul(PRIME_64 as u32)
    })
}

pub(super) fn fnv1_32(key: &[u8]) -> u32 {
    key.iter().fold(OFFSET_32, |hash, &byte| {
        hash.wrapping_mul(PRIME_32) ^ signed(byte)
    })
}

pub(super) fn fnv1a_32(key: &[u8]) -> u32 {
    key.iter().fold(OFFSET_32, |hash, &byte| {
        (hash ^ signed(byte)).wrapping_mul(PRIME_32)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv1a_64_is_the_low_half_of_the_real_thing_for_ascii() {
        let real = b"hello"
            .iter()
            .fold(OFFSET_64, |h, &b| (h ^ u64::from(b)).wrapping_mul(PRIME_64));
        assert_eq!(fnv1a_64(b"hello"), real as u32);
    }
}
