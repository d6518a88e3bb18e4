//! What the client halves of the three protocols share: how a parsed reply says where it
//! lies in the buffer, and why a reply can be refused.
//!
//! A client (`corvid bench`, the proxy talking to its backends) composes requests with
//! [`text::client`](crate::text::client), [`meta::client`](crate::meta::client) or
//! [`binary::client`](crate::binary::client), and reads replies with their `parse`, which
//! looks at the front of the bytes read so far and answers [`Parsed::NeedMore`] or one
//! reply's *head* (a text or meta line, a binary header with its extras and key) with
//! its [`Frame`]: how long the head is, how many value bytes follow it and how many
//! bytes close the value. The value itself is never parsed or copied, so a caller can
//! take it whole once it is buffered ([`Frame::data`]), forward it in pieces as it
//! arrives, or skip it.
//!
//! ```
//! use protocol::client::Parsed;
//! use protocol::text::client::{parse, Reply};
//!
//! let buf = b"VALUE k 0 5\r\nhello\r\nEND\r\n";
//! let Ok(Parsed::Reply { reply, frame }) = parse(buf) else { panic!() };
//! assert!(matches!(reply, Reply::Value { key: b"k", bytes: 5, .. }));
//! assert_eq!(frame.data(buf), Ok(Some(&b"hello"[..])));
//! assert!(matches!(parse(&buf[frame.end()..]), Ok(Parsed::Reply { reply: Reply::End, .. })));
//! // Half a line is not a reply yet.
//! assert_eq!(parse(b"VALUE k 0").map(|p| p.is_reply()), Ok(false));
//! ```

use memchr::memchr;

/// A reply line longer than this with no `\n` is not memcached talking. memcached's
/// longest lines (a `VA` with a 250-byte base64 key and every return flag, an
/// `lru_crawler metadump` entry) stay well below it.
pub const MAX_REPLY_LINE: usize = 8192;

/// What closes a text or meta value: the bytes after its data.
pub const DATA_END: &[u8] = b"\r\n";

/// What `parse` found at the front of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parsed<R> {
    /// One reply's head, and where the whole reply lies.
    Reply { reply: R, frame: Frame },
    /// Not even the head is complete: read more and parse again from the same place.
    NeedMore,
}

impl<R> Parsed<R> {
    /// Whether a head was found.
    pub fn is_reply(&self) -> bool {
        matches!(self, Parsed::Reply { .. })
    }
}

/// Where one reply lies, from the start of the buffer it was parsed from: `head` bytes,
/// then `data` bytes of value, then `trailer` bytes that close the value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Frame {
    /// The reply line with its line end, or a binary header with its extras and key.
    pub head: usize,
    /// Value bytes after the head; 0 for replies without a value.
    pub data: usize,
    /// `\r\n` after a text or meta value (2); 0 otherwise, and always 0 in binary.
    pub trailer: usize,
}

impl Frame {
    /// A reply that is its head alone.
    pub(crate) fn line(head: usize) -> Frame {
        Frame {
            head,
            data: 0,
            trailer: 0,
        }
    }

    /// A head followed by `data` bytes and `trailer` bytes; refused if the sum does not
    /// fit in memory's address range.
    pub(crate) fn with_data(head: usize, data: usize, trailer: usize) -> Result<Frame, ReplyError> {
        head.checked_add(data)
            .and_then(|n| n.checked_add(trailer))
            .ok_or(ReplyError::BadLength)?;
        Ok(Frame {
            head,
            data,
            trailer,
        })
    }

    /// The offset just past the whole reply: where the next one starts.
    pub fn end(&self) -> usize {
        // Parsers check the sum; saturating keeps a hand-made frame from overflowing.
        self.head
            .saturating_add(self.data)
            .saturating_add(self.trailer)
    }

    /// The value, once the whole reply is in `buf` (the buffer `parse` was given, or
    /// any longer view of it): `None` until then, an error if the bytes after the value
    /// are not the line end they must be.
    pub fn data<'a>(&self, buf: &'a [u8]) -> Result<Option<&'a [u8]>, ReplyError> {
        if buf.len() < self.end() {
            return Ok(None);
        }
        let data_end = self.head + self.data;
        if self.trailer > 0 && &buf[data_end..self.end()] != DATA_END {
            return Err(ReplyError::BadDataEnd);
        }
        Ok(Some(&buf[self.head..data_end]))
    }
}

/// A reply no memcached would send: the stream is out of step and the connection
/// cannot be trusted any more.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line longer than {MAX_REPLY_LINE} bytes")]
    LineTooLong,
    #[error("malformed reply line")]
    BadLine,
    #[error("malformed number")]
    BadNumber,
    #[error("malformed return flag")]
    BadFlag,
    #[error("unknown meta status")]
    UnknownStatus,
    #[error("value not followed by \\r\\n")]
    BadDataEnd,
    #[error("response magic {0:#04x}, not 0x81")]
    BadMagic(u8),
    #[error("lengths that contradict each other")]
    BadLength,
}

/// An error line, worded the same way in text and meta.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReply<'a> {
    /// `ERROR` (an unknown command), or `ERROR` with more after it: what follows, after
    /// one space if there is one (`Too many open connections`, `: shutdown not enabled`).
    Error(&'a [u8]),
    /// `CLIENT_ERROR <message>`: the request was wrong.
    Client(&'a [u8]),
    /// `SERVER_ERROR <message>`: the server could not serve it.
    Server(&'a [u8]),
}

/// Recognises an error line (without its line end).
pub(crate) fn error_reply(line: &[u8]) -> Option<ErrorReply<'_>> {
    if let Some(message) = line.strip_prefix(b"CLIENT_ERROR") {
        return Some(ErrorReply::Client(after_space(message)));
    }
    if let Some(message) = line.strip_prefix(b"SERVER_ERROR") {
        return Some(ErrorReply::Server(after_space(message)));
    }
    let rest = line.strip_prefix(b"ERROR")?;
    // "ERRORS" is not an error line; "ERROR", "ERROR msg" and "ERROR: msg" are.
    match rest.first() {
        None | Some(b' ' | b':') => Some(ErrorReply::Error(after_space(rest))),
        Some(_) => None,
    }
}

fn after_space(s: &[u8]) -> &[u8] {
    s.strip_prefix(b" ").unwrap_or(s)
}

/// Splits one line off the front of `buf`: the line without its `\r\n` (a bare `\n` is
/// accepted) and the bytes it used; `None` while no `\n` has arrived.
pub(crate) fn line(buf: &[u8]) -> Result<Option<(&[u8], usize)>, ReplyError> {
    let window = &buf[..buf.len().min(MAX_REPLY_LINE + 1)];
    match memchr(b'\n', window) {
        Some(nl) => {
            let end = if nl > 0 && buf[nl - 1] == b'\r' {
                nl - 1
            } else {
                nl
            };
            Ok(Some((&buf[..end], nl + 1)))
        }
        None if buf.len() > MAX_REPLY_LINE => Err(ReplyError::LineTooLong),
        None => Ok(None),
    }
}

/// Space-separated tokens of a reply line.
pub(crate) fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// A decimal number as memcached prints one: digits only, no sign, within 64 bits.
pub(crate) fn unsigned(token: &[u8]) -> Option<u64> {
    if token.is_empty() {
        return None;
    }
    token.iter().try_fold(0u64, |n, &b| {
        if !b.is_ascii_digit() {
            return None;
        }
        n.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

/// [`unsigned`] with an optional leading `-` (a TTL of `-1`).
pub(crate) fn signed(token: &[u8]) -> Option<i64> {
    match token.strip_prefix(b"-") {
        Some(digits) => {
            let n = unsigned(digits)?;
            if n > i64::MAX as u64 + 1 {
                return None;
            }
            Some((n as i64).wrapping_neg())
        }
        None => i64::try_from(unsigned(token)?).ok(),
    }
}

/// Appends `n` in decimal.
pub(crate) fn push_number(out: &mut Vec<u8>, n: impl itoa::Integer) {
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_end_with_crlf_or_lf() {
        assert_eq!(line(b"END\r\nrest"), Ok(Some((&b"END"[..], 5))));
        assert_eq!(line(b"END\nrest"), Ok(Some((&b"END"[..], 4))));
        assert_eq!(line(b"\r\n"), Ok(Some((&b""[..], 2))));
        assert_eq!(line(b"EN"), Ok(None));
        assert_eq!(line(&[b'x'; MAX_REPLY_LINE]), Ok(None));
        assert_eq!(
            line(&[b'x'; MAX_REPLY_LINE + 1]),
            Err(ReplyError::LineTooLong)
        );
        let mut long = vec![b'x'; MAX_REPLY_LINE - 1];
        long.extend_from_slice(b"\r\n");
        assert_eq!(line(&long).map(|l| l.map(|(_, n)| n)), Ok(Some(long.len())));
    }

    #[test]
    fn numbers_are_strict() {
        assert_eq!(unsigned(b"0"), Some(0));
        assert_eq!(unsigned(b"18446744073709551615"), Some(u64::MAX));
        assert_eq!(unsigned(b"18446744073709551616"), None);
        for bad in [&b""[..], b"+1", b"-1", b"1x", b" 1"] {
            assert_eq!(unsigned(bad), None, "{bad:?}");
        }
        assert_eq!(signed(b"-1"), Some(-1));
        assert_eq!(signed(b"-9223372036854775808"), Some(i64::MIN));
        assert_eq!(signed(b"9223372036854775808"), None);
        assert_eq!(signed(b"-"), None);
    }

    #[test]
    fn error_lines() {
        assert_eq!(error_reply(b"ERROR"), Some(ErrorReply::Error(b"")));
        assert_eq!(
            error_reply(b"ERROR Too many open connections"),
            Some(ErrorReply::Error(b"Too many open connections"))
        );
        assert_eq!(
            error_reply(b"ERROR: shutdown not enabled"),
            Some(ErrorReply::Error(b": shutdown not enabled"))
        );
        assert_eq!(
            error_reply(b"CLIENT_ERROR bad data chunk"),
            Some(ErrorReply::Client(b"bad data chunk"))
        );
        assert_eq!(
            error_reply(b"SERVER_ERROR out of memory"),
            Some(ErrorReply::Server(b"out of memory"))
        );
        assert_eq!(error_reply(b"ERRORS"), None);
        assert_eq!(error_reply(b"END"), None);
    }

    #[test]
    fn frames_check_the_value_end() {
        let frame = Frame::with_data(4, 3, 2).unwrap();
        assert_eq!(frame.end(), 9);
        assert_eq!(frame.data(b"HEADabc\r"), Ok(None));
        assert_eq!(frame.data(b"HEADabc\r\nmore"), Ok(Some(&b"abc"[..])));
        assert_eq!(frame.data(b"HEADabcd\n"), Err(ReplyError::BadDataEnd));
        assert_eq!(
            Frame::with_data(usize::MAX, 1, 0),
            Err(ReplyError::BadLength)
        );
        assert_eq!(Frame::line(5).data(b"12345"), Ok(Some(&b""[..])));
        let huge = Frame {
            head: 1,
            data: usize::MAX,
            trailer: 2,
        };
        assert_eq!((huge.end(), huge.data(b"x")), (usize::MAX, Ok(None)));
    }
}
