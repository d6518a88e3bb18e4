//! The three memcached wire protocols, from the client's side: requests are appended to
//! a connection's output buffer, and replies are cut into elements (one value, one status
//! line, one end marker) that the connection matches against what it asked.

mod binary;
mod meta;
mod text;

use crate::content::Content;
use crate::error::BenchError;

/// Replies longer than this without a line end are not memcached talking.
const MAX_LINE: usize = 8192;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Text,
    Meta,
    Binary,
}

impl Protocol {
    pub fn parse(s: &str) -> Result<Self, BenchError> {
        match s {
            "text" | "ascii" => Ok(Protocol::Text),
            "meta" => Ok(Protocol::Meta),
            "binary" => Ok(Protocol::Binary),
            _ => Err(BenchError::Flag(format!(
                "unknown protocol {s:?}: want text, meta or binary"
            ))),
        }
    }

    /// Appends a request for `ids` (one key, or a multi-get).
    pub fn get(self, content: &Content, ids: &[u64], out: &mut Vec<u8>) {
        match self {
            Protocol::Text => text::get(content, ids, out),
            Protocol::Meta => meta::get(content, ids, out),
            Protocol::Binary => binary::get(content, ids, out),
        }
    }

    pub fn set(self, content: &Content, id: u64, len: usize, out: &mut Vec<u8>) {
        match self {
            Protocol::Text => text::set(content, id, len, out),
            Protocol::Meta => meta::set(content, id, len, out),
            Protocol::Binary => binary::set(content, id, len, out),
        }
    }

    pub fn delete(self, content: &Content, id: u64, out: &mut Vec<u8>) {
        match self {
            Protocol::Text => text::delete(content, id, out),
            Protocol::Meta => meta::delete(content, id, out),
            Protocol::Binary => binary::delete(content, id, out),
        }
    }

    /// Cuts the next element off the front of `buf`: `Ok(None)` means more bytes are
    /// needed; an error means the stream is out of step and the connection is useless.
    pub fn parse_element(self, buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, Garbage> {
        match self {
            Protocol::Text => text::parse(buf),
            Protocol::Meta => meta::parse(buf),
            Protocol::Binary => binary::parse(buf),
        }
    }

    /// How the reply to a get of `keys` keys ends. Text always closes with `END`; meta
    /// and binary answer a single key with exactly one element, and a multi-get with
    /// quiet gets (hits only) closed by a no-op.
    pub fn get_ends(self, keys: usize) -> GetEnd {
        match (self, keys) {
            (Protocol::Text, _) => GetEnd::Marker,
            (_, 1) => GetEnd::FirstElement,
            _ => GetEnd::Marker,
        }
    }

    /// Whether an error reply ends a multi-get. In text a failed get gets one error line
    /// and no `END`; meta and binary still send their closing no-op.
    pub fn failure_ends_get(self) -> bool {
        self == Protocol::Text
    }
}

impl std::fmt::Display for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Protocol::Text => "text",
            Protocol::Meta => "meta",
            Protocol::Binary => "binary",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetEnd {
    /// An explicit end marker (`END`, `MN`, a NOOP response) closes the reply.
    Marker,
    /// The first element (a value or a miss) is the whole reply.
    FirstElement,
}

/// One unit of a reply.
#[derive(Debug, PartialEq, Eq)]
pub enum Element<'a> {
    /// A hit. The key is there when the protocol echoes it (we always ask it to).
    Value {
        key: Option<&'a [u8]>,
        data: &'a [u8],
    },
    /// A get that found nothing (meta `EN`, binary status 1 on a get).
    Miss,
    /// The end of a multi-get (`END`, `MN`, NOOP).
    End,
    /// Success of a store or a delete.
    Done,
    /// A delete of an absent key.
    NotFound,
    /// Any error or unexpected status the server sent.
    Failure,
}

/// The stream cannot be parsed: a reply that no memcached would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Garbage;

/// Splits off one `\r\n`-terminated line (a bare `\n` is accepted): returns the line
/// without its terminator and the bytes consumed.
fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, Garbage> {
    match buf.iter().position(|&b| b == b'\n') {
        Some(nl) => {
            let end = if nl > 0 && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            Ok(Some((&buf[..end], nl + 1)))
        }
        None if buf.len() > MAX_LINE => Err(Garbage),
        None => Ok(None),
    }
}

/// Reads `len` data bytes at `at`, which must be followed by `\r\n`.
fn data_block(buf: &[u8], at: usize, len: usize) -> Result<Option<(&[u8], usize)>, Garbage> {
    let end = at + len;
    if buf.len() < end + 2 {
        return Ok(None);
    }
    if &buf[end..end + 2] != b"\r\n" {
        return Err(Garbage);
    }
    Ok(Some((&buf[at..end], end + 2)))
}

fn parse_decimal(token: &[u8]) -> Option<usize> {
    if token.is_empty() || token.len() > 19 {
        return None;
    }
    token.iter().try_fold(0usize, |acc, &b| {
        b.is_ascii_digit().then(|| acc * 10 + (b - b'0') as usize)
    })
}

fn push_decimal(mut n: usize, out: &mut Vec<u8>) {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimals_round_trip() {
        for n in [0usize, 7, 10, 65536, usize::MAX / 10] {
            let mut out = Vec::new();
            push_decimal(n, &mut out);
            assert_eq!(parse_decimal(&out), Some(n));
        }
        assert_eq!(parse_decimal(b""), None);
        assert_eq!(parse_decimal(b"1x"), None);
    }

    #[test]
    fn lines_need_their_end() {
        assert_eq!(line(b"END\r\nrest").unwrap(), Some((&b"END"[..], 5)));
        assert_eq!(line(b"END\nrest").unwrap(), Some((&b"END"[..], 4)));
        assert_eq!(line(b"EN").unwrap(), None);
        assert_eq!(line(&[b'x'; MAX_LINE + 1]), Err(Garbage));
    }
}
