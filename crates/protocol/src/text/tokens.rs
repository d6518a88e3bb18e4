//! memcached's tokenizer: space-separated tokens, at most 23 at a time.
//!
//! memcached splits a line on ' ' only (tabs and other control bytes belong to tokens)
//! and stops after 23 tokens, leaving the rest of the line unprocessed. Token counts
//! decide which commands are valid, so the same limit is reproduced here; only the
//! multi-key commands look past it, which [`Keys`] does.

use memchr::memchr;

/// memcached's `MAX_TOKENS`: 23 real tokens plus the terminal one.
const MAX_TOKENS: usize = 24;

/// The first tokens of one line, borrowed from it. No allocation: spans live on the stack
/// (as `u32`: a line is at most the session's 1 MiB input bound, and the array is zeroed
/// for every request, so half the size is half the work).
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    spans: [(u32, u32); MAX_TOKENS - 1],
    count: usize,
    /// Where the unprocessed rest of the line starts (`line.len()` if none).
    rest: usize,
}

/// Eight bytes of `b' '`, and the mask of the exact zero-byte test.
const SPACES: u64 = u64::from_ne_bytes([b' '; 8]);
const LOW7: u64 = u64::from_ne_bytes([0x7f; 8]);

/// The high bit of each byte of `word` that is a space, and no other bit: `x` is zero
/// exactly where a byte is a space; adding 0x7f to its low seven bits sets a byte's high
/// bit unless they are zero, and no carry crosses a byte.
#[inline]
fn space_bits(word: u64) -> u64 {
    let x = word ^ SPACES;
    !(((x & LOW7) + LOW7) | x | LOW7)
}

impl<'a> Tokens<'a> {
    /// Splits `line` eight bytes at a time (a request line is mostly non-space bytes, and
    /// a get line went through a byte loop in a twentieth of a request's instructions).
    pub(crate) fn new(line: &'a [u8]) -> Self {
        // Spans are u32: nothing past 4 GiB is a token (no session buffers that much).
        let line = &line[..line.len().min(u32::MAX as usize)];
        let mut tokens = Tokens {
            line,
            spans: [(0, 0); MAX_TOKENS - 1],
            count: 0,
            rest: line.len(),
        };
        let mut start = 0;
        let mut base = 0;
        let words = line.chunks_exact(8);
        let tail = words.remainder();
        for word in words {
            let word: [u8; 8] = word.try_into().unwrap_or([0; 8]);
            let mut bits = space_bits(u64::from_le_bytes(word));
            while bits != 0 {
                let at = base + (bits.trailing_zeros() / 8) as usize;
                bits &= bits - 1;
                if tokens.space_at(&mut start, at) {
                    return tokens;
                }
            }
            base += 8;
        }
        for (i, &b) in tail.iter().enumerate() {
            if b == b' ' && tokens.space_at(&mut start, base + i) {
                return tokens;
            }
        }
        if start < line.len() {
            tokens.push(start, line.len());
        }
        tokens
    }

    /// A space at `at`: ends the token begun at `start`, if any. True once the limit is
    /// reached (the rest of the line is left unprocessed).
    #[inline]
    fn space_at(&mut self, start: &mut usize, at: usize) -> bool {
        if *start != at {
            self.push(*start, at);
            if self.count == MAX_TOKENS - 1 {
                self.rest = at + 1;
                return true;
            }
        }
        *start = at + 1;
        false
    }

    #[inline]
    fn push(&mut self, start: usize, end: usize) {
        self.spans[self.count] = (start as u32, end as u32);
        self.count += 1;
    }

    /// memcached's `ntokens`: the real tokens plus the terminal token.
    pub(crate) fn ntokens(&self) -> usize {
        self.count + 1
    }

    /// Token `index`, or empty past the last real token (memcached's terminal token).
    pub(crate) fn get(&self, index: usize) -> &'a [u8] {
        match self.spans[..self.count].get(index) {
            Some(&(start, end)) => &self.line[start as usize..end as usize],
            None => b"",
        }
    }

    /// Every token from `index` to the end of the line, including those past the limit.
    pub(crate) fn from(&self, index: usize) -> Keys<'a> {
        let start = match self.spans[..self.count].get(index) {
            Some(&(start, _)) => start as usize,
            None => self.rest,
        };
        Keys::new(&self.line[start..])
    }
}

/// Space-separated tokens borrowed from a request line (keys of a multi-get, `stats`
/// arguments). Iterating yields each token; empty tokens never appear.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Keys<'a> {
    rest: &'a [u8],
}

impl<'a> Keys<'a> {
    /// Tokens of `raw`, split on spaces.
    pub fn new(raw: &'a [u8]) -> Self {
        Keys { rest: raw }
    }

    /// True when no token is left.
    pub fn is_empty(&self) -> bool {
        self.rest.iter().all(|&b| b == b' ')
    }

    /// The bytes not yet iterated, spaces included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.rest
    }
}

impl<'a> Iterator for Keys<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        let Some(start) = self.rest.iter().position(|&b| b != b' ') else {
            self.rest = &[];
            return None;
        };
        let rest = &self.rest[start..];
        let end = memchr(b' ', rest).unwrap_or(rest.len());
        let (token, tail) = rest.split_at(end);
        self.rest = tail;
        Some(token)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// memcached's tokenizer as a byte loop: what the word-at-a-time one must match.
    fn reference(line: &[u8]) -> (Vec<&[u8]>, usize) {
        let (mut spans, mut start, mut rest) = (Vec::new(), 0, line.len());
        for (i, &b) in line.iter().enumerate() {
            if b == b' ' {
                if start != i {
                    spans.push(&line[start..i]);
                    if spans.len() == MAX_TOKENS - 1 {
                        rest = i + 1;
                        break;
                    }
                }
                start = i + 1;
            }
        }
        if spans.len() < MAX_TOKENS - 1 && start < line.len() {
            spans.push(&line[start..]);
        }
        (spans, rest)
    }

    #[test]
    fn word_at_a_time_matches_the_byte_loop() {
        // Lines of 0-80 bytes over an alphabet where spaces are common and bytes near
        // b' ' (0x1f, 0x21, 0xa0) test the zero-byte arithmetic for false matches.
        let alphabet = [b' ', b' ', b'a', b'\t', 0x1f, 0x21, 0xa0, 0, 0xff];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let len = (seed % 81) as usize;
            let line: Vec<u8> = (0..len)
                .map(|i| alphabet[((seed >> (i % 58)) as usize + i * 7) % alphabet.len()])
                .collect();
            let t = Tokens::new(&line);
            let (spans, rest) = reference(&line);
            assert_eq!(t.ntokens(), spans.len() + 1, "{line:?}");
            for (i, span) in spans.iter().enumerate() {
                assert_eq!(t.get(i), *span, "{line:?}");
            }
            assert_eq!(t.rest, rest, "{line:?}");
        }
        // Many spaces: the limit lands inside a word, at its end, in the tail.
        for len in 40..70 {
            let line = [b'x', b' '].repeat(len / 2);
            let t = Tokens::new(&line);
            let (spans, rest) = reference(&line);
            assert_eq!((t.ntokens(), t.rest), (spans.len() + 1, rest));
        }
    }

    #[test]
    fn splits_on_spaces_only() {
        let t = Tokens::new(b"  get a\tb  c ");
        assert_eq!(t.ntokens(), 4);
        assert_eq!(t.get(0), b"get");
        assert_eq!(t.get(1), b"a\tb");
        assert_eq!(t.get(2), b"c");
        assert_eq!(t.get(3), b"");
    }

    #[test]
    fn empty_line_has_only_the_terminal_token() {
        assert_eq!(Tokens::new(b"").ntokens(), 1);
        assert_eq!(Tokens::new(b"    ").ntokens(), 1);
    }

    #[test]
    fn stops_after_23_tokens_but_keys_see_the_rest() {
        let line: Vec<u8> = (0..30)
            .map(|i| format!("k{i}"))
            .collect::<Vec<_>>()
            .join(" ")
            .into_bytes();
        let t = Tokens::new(&line);
        assert_eq!(t.ntokens(), 24);
        assert_eq!(t.get(22), b"k22");
        assert_eq!(t.get(23), b"");
        assert_eq!(t.from(1).count(), 29);
        assert_eq!(t.from(23).next(), Some(&b"k23"[..]));
    }

    #[test]
    fn exactly_23_tokens_then_spaces() {
        let mut line = (0..23).map(|i| format!("k{i} ")).collect::<String>();
        line.push_str("   ");
        let t = Tokens::new(line.as_bytes());
        assert_eq!(t.ntokens(), 24);
        assert!(t.from(23).is_empty());
        assert_eq!(t.from(0).count(), 23);
    }

    #[test]
    fn keys_iterate_and_report_emptiness() {
        let mut keys = Keys::new(b" a  bb ");
        assert!(!keys.is_empty());
        assert_eq!(keys.next(), Some(&b"a"[..]));
        assert_eq!(keys.next(), Some(&b"bb"[..]));
        assert!(keys.is_empty());
        assert_eq!(keys.next(), None);
        assert_eq!(keys.next(), None);
    }
}
