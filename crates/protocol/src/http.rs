//! Just enough HTTP/1.x for the admin listener (`--admin`): the head of a request (its
//! method and path, and a header by name) and a whole response with `Connection: close`.
//!
//! ```
//! use protocol::http::{parse_request, write_response, Head};
//! let buf = b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";
//! match parse_request(buf) {
//!     Head::Request { method, path, .. } => assert_eq!((method, path), (&b"GET"[..], &b"/metrics"[..])),
//!     other => panic!("{other:?}"),
//! }
//! let mut out = Vec::new();
//! write_response(&mut out, 200, "text/plain", b"OK\n");
//! assert!(out.starts_with(b"HTTP/1.1 200 OK\r\n"));
//! ```
//!
//! Hand-written rather than a crate: the listener answers three GET paths to scrapers
//! and health checkers, one request per connection; an HTTP library would bring a
//! server, an async runtime or both for 60 lines of parsing.

use memchr::memmem;

/// Requests whose head is larger than this are refused (`431`): scrapers send a few
/// hundred bytes.
pub const MAX_HEAD: usize = 8 * 1024;

/// What the start of a connection's input holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Head<'a> {
    /// A whole request head: its method and path (the query string cut off), and how
    /// many bytes the head took. A body, if any, is not read.
    Request {
        method: &'a [u8],
        path: &'a [u8],
        consumed: usize,
    },
    /// Not all of it yet.
    Incomplete,
    /// Not an HTTP request line, or a head over [`MAX_HEAD`]: answer the status and
    /// close.
    Invalid { status: u16 },
}

/// Parses the request head at the start of `buf`.
pub fn parse_request(buf: &[u8]) -> Head<'_> {
    let Some(end) = memmem::find(buf, b"\r\n\r\n")
        .map(|at| at + 4)
        .or_else(|| memmem::find(buf, b"\n\n").map(|at| at + 2))
    else {
        return if buf.len() > MAX_HEAD {
            Head::Invalid { status: 431 }
        } else {
            Head::Incomplete
        };
    };
    if end > MAX_HEAD {
        return Head::Invalid { status: 431 };
    }
    let line_end = memchr::memchr(b'\n', buf).unwrap_or(end);
    let line = buf[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&buf[..line_end]);
    let mut parts = line.split(|&b| b == b' ').filter(|p| !p.is_empty());
    let (Some(method), Some(target), Some(version)) = (parts.next(), parts.next(), parts.next())
    else {
        return Head::Invalid { status: 400 };
    };
    if parts.next().is_some() || !version.starts_with(b"HTTP/1.") || !target.starts_with(b"/") {
        return Head::Invalid { status: 400 };
    }
    let path = match memchr::memchr(b'?', target) {
        Some(q) => &target[..q],
        None => target,
    };
    Head::Request {
        method,
        path,
        consumed: end,
    }
}

/// The value of header `name` (matched without regard to case) in a request head
/// (`&buf[..consumed]`), its surrounding blanks trimmed; the first if given twice.
pub fn header<'a>(head: &'a [u8], name: &str) -> Option<&'a [u8]> {
    head.split(|&b| b == b'\n').skip(1).find_map(|line| {
        let colon = memchr::memchr(b':', line)?;
        if !line[..colon].eq_ignore_ascii_case(name.as_bytes()) {
            return None;
        }
        Some(line[colon + 1..].trim_ascii())
    })
}

/// The reason phrase of the statuses the admin listener answers.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Appends a whole response: status line, `Content-Type`, `Content-Length`,
/// `Connection: close`, then `body`.
pub fn write_response(out: &mut Vec<u8>, status: u16, content_type: &str, body: &[u8]) {
    let mut n = itoa::Buffer::new();
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(n.format(status).as_bytes());
    out.push(b' ');
    out.extend_from_slice(reason(status).as_bytes());
    out.extend_from_slice(b"\r\nContent-Type: ");
    out.extend_from_slice(content_type.as_bytes());
    out.extend_from_slice(b"\r\nContent-Length: ");
    out.extend_from_slice(n.format(body.len()).as_bytes());
    out.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_heads() {
        let h = parse_request(b"GET /stats?x=1 HTTP/1.0\r\n\r\nrest");
        assert_eq!(
            h,
            Head::Request {
                method: b"GET",
                path: b"/stats",
                consumed: 27
            }
        );
        assert_eq!(
            parse_request(b"GET / HTTP/1.1\r\nHost: a\r\n"),
            Head::Incomplete
        );
        assert!(parse_request(b"GET / HTTP/1.1\n\n").is_request());
        assert_eq!(
            parse_request(b"hello\r\n\r\n"),
            Head::Invalid { status: 400 }
        );
        assert_eq!(
            parse_request(b"GET nopath HTTP/1.1\r\n\r\n"),
            Head::Invalid { status: 400 }
        );
        assert_eq!(
            parse_request(b"GET / SPDY/3\r\n\r\n"),
            Head::Invalid { status: 400 }
        );
        let big = vec![b'a'; MAX_HEAD + 1];
        assert_eq!(parse_request(&big), Head::Invalid { status: 431 });
    }

    #[test]
    fn headers_by_name_in_any_case() {
        let head = b"GET / HTTP/1.1\r\nHost: a\r\naccept:  text/plain \r\nX: 1\r\n\r\n";
        assert_eq!(header(head, "Accept"), Some(&b"text/plain"[..]));
        assert_eq!(header(head, "host"), Some(&b"a"[..]));
        assert_eq!(header(head, "Cookie"), None);
        assert_eq!(header(b"GET /x: HTTP/1.1\r\n\r\n", "GET /x"), None);
    }

    #[test]
    fn responses_say_their_length_and_close() {
        let mut out = Vec::new();
        write_response(&mut out, 503, "text/plain", b"stopping\n");
        assert_eq!(
            out,
            b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain\r\n\
              Content-Length: 9\r\nConnection: close\r\n\r\nstopping\n"
        );
    }

    impl Head<'_> {
        fn is_request(&self) -> bool {
            matches!(self, Head::Request { .. })
        }
    }
}
