//! twemproxy's `hash_tag`: two characters that mark the part of a key that is hashed, so
//! related keys land on one server.
//!
//! ```
//! use proxy::HashTag;
//! let tag = HashTag::new(b"{}").unwrap();
//! assert_eq!(tag.apply(b"user:{42}:name"), b"42");
//! assert_eq!(tag.apply(b"user:{}:name"), b"user:{}:name"); // empty tag: whole key
//! ```
//!
//! As in nutcracker: the first opening character, then the first closing character after
//! it; when both exist with at least one byte between them, those bytes are hashed,
//! otherwise the whole key is.

use std::fmt;

/// An opening and a closing character (they may be equal).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashTag {
    open: u8,
    close: u8,
}

impl HashTag {
    /// A tag from exactly two bytes, as nutcracker demands.
    pub fn new(text: &[u8]) -> Option<HashTag> {
        match *text {
            [open, close] => Some(HashTag { open, close }),
            _ => None,
        }
    }

    /// The part of `key` that is hashed.
    pub fn apply<'k>(&self, key: &'k [u8]) -> &'k [u8] {
        let Some(start) = key.iter().position(|&b| b == self.open) else {
            return key;
        };
        let inner = &key[start + 1..];
        match inner.iter().position(|&b| b == self.close) {
            Some(len) if len > 0 => &inner[..len],
            _ => key,
        }
    }
}

impl fmt::Display for HashTag {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}",
            String::from_utf8_lossy(&[self.open, self.close]).escape_debug()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply<'k>(tag: &[u8], key: &'k [u8]) -> &'k [u8] {
        HashTag::new(tag).unwrap().apply(key)
    }

    #[test]
    fn tags_select_the_first_enclosed_part() {
        assert_eq!(apply(b"{}", b"a{b}c{d}"), b"b");
        assert_eq!(apply(b"{}", b"{x"), b"{x");
        assert_eq!(apply(b"{}", b"x}y{"), b"x}y{");
        assert_eq!(apply(b"{}", b"{}{a}"), b"{}{a}");
        assert_eq!(apply(b"{}", b"{{a}"), b"{a");
        assert_eq!(apply(b"$$", b"a$bc$d"), b"bc");
        assert_eq!(apply(b"$$", b"a$$b$"), b"a$$b$");
    }

    #[test]
    fn only_two_characters_make_a_tag() {
        assert!(HashTag::new(b"{").is_none());
        assert!(HashTag::new(b"{}}").is_none());
        assert!(HashTag::new(b"").is_none());
    }
}
