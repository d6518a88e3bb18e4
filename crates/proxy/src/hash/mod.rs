//! twemproxy's twelve key hashes, giving the numbers nutcracker 0.5.0 gives on x86-64.
//!
//! ```
//! use proxy::HashFunction;
//! let fnv = HashFunction::from_name("fnv1a_64").unwrap();
//! assert_eq!(fnv.hash(b"apple"), 1_488_911_807);
//! ```
//!
//! Exact means quirks included. twemproxy inherited most of these from libmemcached's
//! hashkit, and several read key bytes through a signed `char`, so a byte of 0x80 or more
//! enters the arithmetic sign-extended (0xff80..., not 0x80): `one_at_a_time`, the four
//! FNVs and the third-byte tail of `hsieh` do this. `crc16` never truncates its running
//! value to 16 bits, `crc32` is libmemcached's 15-bit slice of the real CRC-32, and the
//! "64-bit" FNV-1a runs in 32-bit arithmetic. Keys are memcached keys, which may hold such
//! bytes, so the quirks decide placement and are reproduced rather than fixed.
//!
//! Crates are used where they give the same numbers (`md-5`, `crc32fast`); the others are
//! written here because no crate has twemproxy's variants.

mod crc16;
mod fnv;
mod hsieh;
mod jenkins;
mod murmur;
mod one_at_a_time;

use md5::{Digest, Md5};

/// A key hash, by the name twemproxy's `hash:` directive gives it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashFunction {
    OneAtATime,
    Md5,
    Crc16,
    Crc32,
    Crc32a,
    Fnv1_64,
    Fnv1a64,
    Fnv1_32,
    Fnv1a32,
    Hsieh,
    Murmur,
    Jenkins,
}

impl HashFunction {
    /// Every hash, in twemproxy's order (its `hash:` directive lists them so).
    pub const ALL: [HashFunction; 12] = [
        HashFunction::OneAtATime,
        HashFunction::Md5,
        HashFunction::Crc16,
        HashFunction::Crc32,
        HashFunction::Crc32a,
        HashFunction::Fnv1_64,
        HashFunction::Fnv1a64,
        HashFunction::Fnv1_32,
        HashFunction::Fnv1a32,
        HashFunction::Hsieh,
        HashFunction::Murmur,
        HashFunction::Jenkins,
    ];

    /// twemproxy's default (`hash:` absent).
    pub const DEFAULT: HashFunction = HashFunction::Fnv1a64;

    /// The name used in configuration files.
    pub fn name(self) -> &'static str {
        match self {
            HashFunction::OneAtATime => "one_at_a_time",
            HashFunction::Md5 => "md5",
            HashFunction::Crc16 => "crc16",
            HashFunction::Crc32 => "crc32",
            HashFunction::Crc32a => "crc32a",
            HashFunction::Fnv1_64 => "fnv1_64",
            HashFunction::Fnv1a64 => "fnv1a_64",
            HashFunction::Fnv1_32 => "fnv1_32",
            HashFunction::Fnv1a32 => "fnv1a_32",
            HashFunction::Hsieh => "hsieh",
            HashFunction::Murmur => "murmur",
            HashFunction::Jenkins => "jenkins",
        }
    }

    /// The hash with this exact (case-sensitive, as in nutcracker) name.
    pub fn from_name(name: &str) -> Option<HashFunction> {
        HashFunction::ALL.into_iter().find(|h| h.name() == name)
    }

    /// The 32-bit hash of `key`.
    pub fn hash(self, key: &[u8]) -> u32 {
        match self {
            HashFunction::OneAtATime => one_at_a_time::hash(key),
            HashFunction::Md5 => md5_word(key, 0),
            HashFunction::Crc16 => crc16::hash(key),
            // libmemcached's "crc32": bits 16..30 of the standard CRC-32.
            HashFunction::Crc32 => (crc32fast::hash(key) >> 16) & 0x7fff,
            HashFunction::Crc32a => crc32fast::hash(key),
            HashFunction::Fnv1_64 => fnv::fnv1_64(key),
            HashFunction::Fnv1a64 => fnv::fnv1a_64(key),
            HashFunction::Fnv1_32 => fnv::fnv1_32(key),
            HashFunction::Fnv1a32 => fnv::fnv1a_32(key),
            HashFunction::Hsieh => hsieh::hash(key),
            HashFunction::Murmur => murmur::hash(key),
            HashFunction::Jenkins => jenkins::hash(key),
        }
    }
}

/// The four little-endian words of `bytes`' MD5 digest: ketama takes all four as points
/// of the continuum, the `md5` key hash takes the first.
pub fn md5_words(bytes: &[u8]) -> [u32; 4] {
    let digest = Md5::digest(bytes);
    let word = |i: usize| {
        u32::from_le_bytes([
            digest[4 * i],
            digest[4 * i + 1],
            digest[4 * i + 2],
            digest[4 * i + 3],
        ])
    };
    [word(0), word(1), word(2), word(3)]
}

fn md5_word(bytes: &[u8], index: usize) -> u32 {
    md5_words(bytes)[index]
}

/// A key byte as x86-64 C code reads it through `char`: signed, then widened.
#[inline]
fn signed(byte: u8) -> u32 {
    byte as i8 as i32 as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    /// twemproxy's own unit test values for "apple" (test_all.c, which says they are
    /// libmemcached's hash_results.h values).
    #[test]
    fn apple_matches_twemproxy_and_libmemcached() {
        let expected = [
            (HashFunction::OneAtATime, 2_297_466_611),
            (HashFunction::Md5, 3_195_025_439),
            (HashFunction::Crc16, 3_662_830_516),
            (HashFunction::Crc32, 10_542),
            (HashFunction::Crc32a, 2_838_417_488),
            (HashFunction::Fnv1_32, 67_176_023),
            (HashFunction::Fnv1a32, 280_767_167),
            (HashFunction::Fnv1_64, 473_199_127),
            (HashFunction::Fnv1a64, 1_488_911_807),
            (HashFunction::Hsieh, 3_738_850_110),
            (HashFunction::Jenkins, 1_442_444_624),
            (HashFunction::Murmur, 4_142_305_122),
        ];
        for (hash, value) in expected {
            assert_eq!(hash.hash(b"apple"), value, "{}", hash.name());
        }
    }

    #[test]
    fn ketama_points_match_twemproxy() {
        // test_all.c: ketama_hash("server1-8", 9, 0) and (..., 3).
        let words = md5_words(b"server1-8");
        assert_eq!(words[0], 3_853_726_576);
        assert_eq!(words[3], 2_667_054_752);
    }

    #[test]
    fn names_round_trip_and_are_case_sensitive() {
        for hash in HashFunction::ALL {
            assert_eq!(HashFunction::from_name(hash.name()), Some(hash));
        }
        assert_eq!(HashFunction::from_name("MD5"), None);
        assert_eq!(HashFunction::from_name("fnv1a_64 "), None);
        assert_eq!(HashFunction::DEFAULT.name(), "fnv1a_64");
    }

    #[test]
    fn empty_keys_hash_without_panicking() {
        for hash in HashFunction::ALL {
            let _ = hash.hash(b"");
        }
        assert_eq!(HashFunction::Hsieh.hash(b""), 0);
        assert_eq!(HashFunction::OneAtATime.hash(b""), 0);
    }

    #[test]
    fn high_bytes_are_sign_extended_where_twemproxy_does_it() {
        // With unsigned bytes FNV-1a-32 of [0x80] would be (0x811c9dc5 ^ 0x80) * prime.
        let unsigned = (0x811c_9dc5u32 ^ 0x80).wrapping_mul(16_777_619);
        let signed = (0x811c_9dc5u32 ^ 0xffff_ff80).wrapping_mul(16_777_619);
        assert_eq!(HashFunction::Fnv1a32.hash(&[0x80]), signed);
        assert_ne!(signed, unsigned);
        // crc32a reads unsigned bytes: it is the plain CRC-32.
        assert_eq!(HashFunction::Crc32a.hash(&[0x80]), crc32fast::hash(&[0x80]));
    }
}
