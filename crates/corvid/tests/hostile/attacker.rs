//! What an attacking client does with its socket: reproducible noise, writes that do not
//! care whether the server already closed, waiting for a close, and reading what a
//! server answers to one request.

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use crate::support::{Server, Stream};

/// A deterministic byte stream (xorshift), so a failure reproduces.
pub(crate) struct Noise(pub(crate) u64);

impl Noise {
    pub(crate) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// Reads until the server closes or `limit` passes; true if it closed.
pub(crate) fn closes_within(s: &mut Stream, limit: Duration) -> bool {
    let start = Instant::now();
    s.set_read_timeout(Some(Duration::from_millis(50)))
        .expect("set a read timeout");
    let mut buf = [0u8; 64 * 1024];
    while start.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => return true,
            Ok(_) => {}
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(_) => return true,
        }
    }
    false
}

/// Writes what the socket takes; a server that closed early is not an error here.
pub(crate) fn send_all(s: &mut Stream, bytes: &[u8]) {
    let _ = s.write_all(bytes);
}

/// Everything a server answers to `request` on a fresh connection, up to the reply to a
/// `version` sent after it (not included), or up to a close.
pub(crate) fn answer(server: &Server, request: &[u8]) -> String {
    let mut s = server.connect();
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("set a read timeout");
    send_all(&mut s, request);
    send_all(&mut s, b"version\r\n");
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        if let Some(at) = find(&got, b"VERSION ") {
            if got[at..].ends_with(b"\r\n") {
                got.truncate(at);
                return String::from_utf8_lossy(&got).into_owned();
            }
        }
        match s.read(&mut buf) {
            Ok(0) | Err(_) => {
                let mut text = String::from_utf8_lossy(&got).into_owned();
                text.push_str("<closed>");
                return text;
            }
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}
