//! Sending a request and reading until a given number of whole replies are in, parsing
//! after every read so each reply is seen cut wherever the socket cut it; and the
//! shared ways of printing what was parsed.

use protocol::binary::client as bin;
use protocol::client::{ErrorReply, Parsed};
use protocol::meta::client as meta;
use protocol::text::client as text;
use std::io::{Read, Write};
use std::net::TcpStream;

/// Where the whole reply at the front of `buf` ends, once it is all there.
pub(crate) type WholeReply = fn(&[u8]) -> Option<usize>;

pub(crate) fn text_end(buf: &[u8]) -> Option<usize> {
    whole(text::parse(buf).expect("a text reply"), buf)
}

pub(crate) fn meta_end(buf: &[u8]) -> Option<usize> {
    whole(meta::parse(buf).expect("a meta reply"), buf)
}

pub(crate) fn binary_end(buf: &[u8]) -> Option<usize> {
    whole(bin::parse(buf).expect("a binary response"), buf)
}

pub(crate) fn whole<R>(parsed: Parsed<R>, buf: &[u8]) -> Option<usize> {
    match parsed {
        Parsed::NeedMore => None,
        Parsed::Reply { frame, .. } => frame.data(buf).expect("value end").map(|_| frame.end()),
    }
}

/// Sends `request` and reads until `count` whole replies are in, parsing what has
/// arrived after every read (so each reply is seen cut wherever the socket cut it).
pub(crate) fn exchange(
    conn: &mut TcpStream,
    request: &[u8],
    count: usize,
    end: WholeReply,
) -> Vec<u8> {
    conn.write_all(request).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let (mut at, mut seen) = (0, 0);
    while seen < count {
        let n = conn.read(&mut chunk).expect("a reply before the timeout");
        assert!(n > 0, "memcached closed the connection");
        buf.extend_from_slice(&chunk[..n]);
        while seen < count {
            match end(&buf[at..]) {
                Some(len) => {
                    at += len;
                    seen += 1;
                }
                None => break,
            }
        }
    }
    assert_eq!(at, buf.len(), "more bytes than {count} replies");
    buf
}

pub(crate) fn bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

pub(crate) fn describe_error(error: ErrorReply<'_>) -> String {
    match error {
        ErrorReply::Error(m) => format!("error {}", bytes(m)),
        ErrorReply::Client(m) => format!("client error {}", bytes(m)),
        ErrorReply::Server(m) => format!("server error {}", bytes(m)),
    }
}
