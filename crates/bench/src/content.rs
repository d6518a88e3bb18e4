//! Keys and values derived from a key id, so any reply can be checked without
//! remembering what was sent: the key names its id, and a value's bytes are a function
//! of the id, the length and the position. A value for another key, a truncated value, or corrupted
//! bytes all fail the check.

use crate::distribution::SizeDist;
use crate::error::BenchError;
use crate::rng::Rng;

/// memcached's limit on key length.
pub const MAX_KEY: usize = protocol::text::MAX_KEY_LENGTH;

/// Bytes at the head of each value that carry the key id itself, so that a value
/// swapped between keys is caught even where the pattern would line up.
const ID_BYTES: usize = 8;

/// Offsets into the shared pattern differ per key (id modulo this), so neighbouring keys
/// do not hold identical tails.
const SPREAD: u64 = 61;

#[derive(Debug, Clone)]
pub struct Content {
    key_size: SizeDist,
    value_size: SizeDist,
    pattern: Vec<u8>,
}

impl Content {
    pub fn new(keys: u64, key_size: SizeDist, value_size: SizeDist) -> Result<Self, BenchError> {
        check_key_size(keys, key_size)?;
        // A fixed seed makes the pattern the same in every thread and every run, so
        // values written by an earlier run still verify.
        let mut rng = Rng::new(0x636f_7276_6964);
        const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
        let pattern = (0..value_size.max() + SPREAD as usize + ID_BYTES)
            .map(|_| ALPHABET[rng.below(ALPHABET.len() as u64) as usize])
            .collect();
        Ok(Content {
            key_size,
            value_size,
            pattern,
        })
    }

    pub fn value_size(&self) -> SizeDist {
        self.value_size
    }

    /// The key for `id`: `k` and the id, zero-padded to the key's size.
    pub fn key(&self, id: u64) -> Key {
        let len = self.key_size.pick(mix(id));
        let mut key = Key {
            bytes: [0; MAX_KEY],
            len,
        };
        key.bytes[0] = b'k';
        let mut rest = id;
        for slot in key.bytes[1..len].iter_mut().rev() {
            *slot = b'0' + (rest % 10) as u8;
            rest /= 10;
        }
        key
    }

    pub fn key_matches(&self, id: u64, candidate: &[u8]) -> bool {
        self.key(id).as_ref() == candidate
    }

    pub fn push_value(&self, id: u64, len: usize, out: &mut Vec<u8>) {
        let (head, tail) = self.value_parts(id, len);
        out.extend_from_slice(head.as_ref());
        out.extend_from_slice(tail);
    }

    /// The value of `len` bytes for key `id`, in its two parts: the head that names the
    /// id, then the rest, a slice of the shared pattern. A server that answers this
    /// generator's gets without storing anything (the floor server,
    /// `examples/floor_server`) sends these.
    pub fn value_parts(&self, id: u64, len: usize) -> (ValueHead, &[u8]) {
        let head = ValueHead {
            bytes: stamp(id, len),
            len: len.min(ID_BYTES),
        };
        (head, self.tail(id, len))
    }

    /// True if `data` is a value this generator could have written for `id`.
    pub fn value_ok(&self, id: u64, data: &[u8]) -> bool {
        let len = data.len();
        if len < self.value_size.min() || len > self.value_size.max() {
            return false;
        }
        let head = len.min(ID_BYTES);
        data[..head] == stamp(id, len)[..head] && &data[head..] == self.tail(id, len)
    }

    fn tail(&self, id: u64, len: usize) -> &[u8] {
        let start = (id % SPREAD) as usize + ID_BYTES;
        &self.pattern[start..start + len.saturating_sub(ID_BYTES)]
    }
}

/// The head of a value (at most 8 bytes), on the stack.
#[derive(Clone, Copy)]
pub struct ValueHead {
    bytes: [u8; ID_BYTES],
    len: usize,
}

impl AsRef<[u8]> for ValueHead {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// A key, built on the stack: handing one to a request writer allocates nothing.
#[derive(Clone, Copy)]
pub struct Key {
    bytes: [u8; MAX_KEY],
    len: usize,
}

impl AsRef<[u8]> for Key {
    fn as_ref(&self) -> &[u8] {
        &self.bytes[..self.len]
    }
}

/// Keys are `k` and the zero-padded id, so the shortest key must hold every id.
pub fn check_key_size(keys: u64, key_size: SizeDist) -> Result<(), BenchError> {
    let digits = keys.saturating_sub(1).max(1).ilog10() as usize + 1;
    if key_size.min() < digits + 1 || key_size.max() > MAX_KEY {
        return Err(BenchError::Flag(format!(
            "key size {key_size} cannot name {keys} keys: sizes must be {}..={MAX_KEY}",
            digits + 1
        )));
    }
    Ok(())
}

/// The head of a value: the id with the length folded in, so a value cut short (which
/// would otherwise still match the pattern) fails the check.
fn stamp(id: u64, len: usize) -> [u8; ID_BYTES] {
    (id ^ (len as u64).rotate_left(40)).to_le_bytes()
}

/// splitmix64's finaliser: a stable hash for choosing per-key sizes.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content() -> Content {
        Content::new(
            1000,
            SizeDist::Fixed(10),
            SizeDist::Uniform { min: 4, max: 200 },
        )
        .unwrap()
    }

    #[test]
    fn keys_are_padded_ids() {
        assert_eq!(content().key(42).as_ref(), b"k000000042");
        assert!(content().key_matches(42, b"k000000042"));
        assert!(!content().key_matches(43, b"k000000042"));
    }

    #[test]
    fn variable_key_sizes_are_stable_per_id() {
        let c = Content::new(
            100,
            SizeDist::Uniform { min: 3, max: 40 },
            SizeDist::Fixed(5),
        )
        .unwrap();
        let (a, b) = (c.key(7), c.key(7));
        assert_eq!(a.as_ref(), b.as_ref());
        assert!((3..=40).contains(&a.as_ref().len()));
    }

    #[test]
    fn key_size_must_fit_the_key_count() {
        assert!(Content::new(1000, SizeDist::Fixed(3), SizeDist::Fixed(5)).is_err());
        assert!(Content::new(1000, SizeDist::Fixed(4), SizeDist::Fixed(5)).is_ok());
        assert!(Content::new(10, SizeDist::Fixed(251), SizeDist::Fixed(5)).is_err());
    }

    #[test]
    fn values_verify_and_wrong_ones_do_not() {
        let c = content();
        for len in [4, 8, 9, 100, 200] {
            let mut v = Vec::new();
            c.push_value(5, len, &mut v);
            assert_eq!(v.len(), len);
            assert!(c.value_ok(5, &v));
            assert!(!c.value_ok(6, &v), "value of key 5 accepted for key 6");
            let mut corrupt = v.clone();
            corrupt[len - 1] ^= 1;
            assert!(!c.value_ok(5, &corrupt));
        }
        let mut short = Vec::new();
        c.push_value(5, 200, &mut short);
        assert!(!c.value_ok(5, &short[..3]), "shorter than the minimum size");
        assert!(!c.value_ok(5, &short[..100]), "truncated value accepted");
    }
}
