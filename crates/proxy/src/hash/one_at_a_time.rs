//! Jenkins' one-at-a-time hash, reading key bytes through a signed `char` as twemproxy
//! does.

use super::signed;

pub(super) fn hash(key: &[u8]) -> u32 {
    let mut value = key.iter().fold(0u32, |mut value, &byte| {
        value = value.wrapping_add(signed(byte));
        value = value.wrapping_add(value << 10);
        value ^ (value >> 6)
    });
    value = value.wrapping_add(value << 3);
    value ^= value >> 11;
    value.wrapping_add(value << 15)
}
