//! memcached's tokenizer: space-separated tokens, at most 23 at a time.
//!
//! memcached splits a line on ' ' only (tabs and other control bytes belong to tokens)
//! and stops after 23 tokens, leaving the rest of the line unprocessed. Token counts
//! decide which commands are valid, so the same limit is reproduced here; only the
//! multi-key commands look past it, which [`Keys`] does.

use memchr::memchr;

/// memcached's `MAX_TOKENS`: 23 real tokens plus the terminal one.
const MAX_TOKENS: usize = 24;

/// The first tokens of one line, borrowed from it. No allocation: spans live on the stack.
pub(crate) struct Tokens<'a> {
    line: &'a [u8],
    spans: [(usize, usize); MAX_TOKENS - 1],
    count: usize,
    /// Where the unprocessed rest of the line starts (`line.len()` if none).
    rest: usize,
}

impl<'a> Tokens<'a> {
    pub(crate) fn new(line: &'a [u8]) -> Self {
        let mut spans = [(0, 0); MAX_TOKENS - 1];
        let mut count = 0;
        let mut start = 0;
        let mut rest = line.len();
        let mut i = 0;
        while i < line.len() {
            if line[i] == b' ' {
                if start != i {
                    spans[count] = (start, i);
                    count += 1;
                    if count == MAX_TOKENS - 1 {
                        rest = i + 1;
                        break;
                    }
                }
                start = i + 1;
            }
            i += 1;
        }
        if count < MAX_TOKENS - 1 && start < line.len() {
            spans[count] = (start, line.len());
            count += 1;
        }
        Tokens {
            line,
            spans,
            count,
            rest,
        }
    }

    /// memcached's `ntokens`: the real tokens plus the terminal token.
    pub(crate) fn ntokens(&self) -> usize {
        self.count + 1
    }

    /// Token `index`, or empty past the last real token (memcached's terminal token).
    pub(crate) fn get(&self, index: usize) -> &'a [u8] {
        match self.spans[..self.count].get(index) {
            Some(&(start, end)) => &self.line[start..end],
            None => b"",
        }
    }

    /// Every token from `index` to the end of the line, including those past the limit.
    pub(crate) fn from(&self, index: usize) -> Keys<'a> {
        let start = match self.spans[..self.count].get(index) {
            Some(&(start, _)) => start,
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
