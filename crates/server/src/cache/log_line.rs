//! The lines `watch` streams, byte for byte as memcached 1.6.18 writes them
//! (`logger.c`): a stamp (`ts=<seconds>.<microseconds> gid=<n> `), then the event.
//!
//! ```text
//! ts=1796546866.609384 gid=3 type=item_get key=foo status=found clsid=1 cfd=25 size=3
//! ts=1796546889.645930 gid=46 type=item_store key=foo status=stored cmd=set ttl=0 clsid=1 cfd=25 size=3
//! ts=1796546901.74433 gid=53 type=conn_close rip=127.0.0.1 rport=46296 transport=tcp reason=error cfd=24
//! ```
//!
//! memcached prints the microseconds with `%d`, unpadded (`.74433` above is 74,433 µs),
//! and ends each line with `\n` alone. Keys are URI-encoded. Pure: no IO, no clock.

use crate::runtime::CloseReason;
use std::net::SocketAddr;

/// The class id Corvid reports for a stored item: it has one slab class, as `stats
/// cachedump` and `lru_crawler metadump` say.
pub(crate) const CLASS: u8 = 1;

/// Writes the stamp that opens every line.
pub(crate) fn stamp(out: &mut Vec<u8>, secs: u64, micros: u32, gid: u64) {
    number(out, b"ts=", secs);
    number(out, b".", micros);
    number(out, b" gid=", gid);
    out.push(b' ');
}

/// Writes `name` (e.g. ` size=`, with its leading space) and the integer after it.
fn number(out: &mut Vec<u8>, name: &[u8], value: impl itoa::Integer) {
    out.extend_from_slice(name);
    out.extend_from_slice(itoa::Buffer::new().format(value).as_bytes());
}

/// What an internal fetch found (memcached's `was_found`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fetch {
    NotFound,
    /// Found, with its value's length.
    Found(usize),
}

/// `type=item_get ...`: a fetch of `key` (every command that reads or replaces an item
/// fetches it first, as memcached's do).
pub(crate) fn item_get(out: &mut Vec<u8>, key: &[u8], fetch: Fetch, cfd: i64) {
    let (status, class, size): (&[u8], u8, usize) = match fetch {
        Fetch::NotFound => (b"not_found", 0, 0),
        Fetch::Found(size) => (b"found", CLASS, size),
    };
    out.extend_from_slice(b"type=item_get key=");
    uri_encode(out, key);
    out.extend_from_slice(b" status=");
    out.extend_from_slice(status);
    number(out, b" clsid=", class);
    number(out, b" cfd=", cfd);
    number(out, b" size=", size);
    out.push(b'\n');
}

/// How a store ended (memcached's `store_item_type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Status {
    NotStored,
    Stored,
    Exists,
    NotFound,
    TooLarge,
    NoMemory,
}

impl Status {
    fn name(self) -> &'static [u8] {
        match self {
            Status::NotStored => b"not_stored",
            Status::Stored => b"stored",
            Status::Exists => b"exists",
            Status::NotFound => b"not_found",
            Status::TooLarge => b"too_large",
            Status::NoMemory => b"no_memory",
        }
    }
}

/// What a `type=item_store` line says about one store.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Store<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) status: Status,
    /// `set`, `add`, `replace`, `append`, `prepend` or `cas`.
    pub(crate) command: &'static [u8],
    /// Seconds the item has left (0: no expiry), as memcached computes it: unsigned.
    pub(crate) ttl: u32,
    /// The value's length (0 for a value refused before it was read).
    pub(crate) size: usize,
    pub(crate) cfd: i64,
}

/// `type=item_store ...`. A refused value (`too_large`, `no_memory`) has no class.
pub(crate) fn item_store(out: &mut Vec<u8>, s: &Store<'_>) {
    let class = match s.status {
        Status::TooLarge | Status::NoMemory => 0,
        _ => CLASS,
    };
    out.extend_from_slice(b"type=item_store key=");
    uri_encode(out, s.key);
    out.extend_from_slice(b" status=");
    out.extend_from_slice(s.status.name());
    out.extend_from_slice(b" cmd=");
    out.extend_from_slice(s.command);
    number(out, b" ttl=", s.ttl);
    number(out, b" clsid=", class);
    number(out, b" cfd=", s.cfd);
    number(out, b" size=", s.size);
    out.push(b'\n');
}

/// `type=eviction ...`: an item evicted to make room. `ttl` is the seconds it had left
/// (-1: no expiry), `idle` the seconds since it was last read or written.
pub(crate) fn eviction(
    out: &mut Vec<u8>,
    key: &[u8],
    fetched: bool,
    ttl: i64,
    idle: u64,
    size: usize,
) {
    out.extend_from_slice(b"type=eviction key=");
    uri_encode(out, key);
    out.extend_from_slice(if fetched { b" fetch=yes" } else { b" fetch=no" });
    number(out, b" ttl=", ttl);
    number(out, b" la=", idle);
    number(out, b" clsid=", CLASS);
    number(out, b" size=", size);
    out.push(b'\n');
}

/// A client's end of a connection as memcached logs it: its address (None: a Unix
/// socket, logged `rip=unix rport=0`) and the transport.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Peer {
    pub(crate) addr: Option<SocketAddr>,
    /// `tcp`, `udp` or `local` (a Unix socket).
    pub(crate) transport: &'static [u8],
    pub(crate) cfd: i64,
}

/// `type=conn_new ...` (no reason) or `type=conn_close ... reason=...`.
pub(crate) fn conn_event(out: &mut Vec<u8>, peer: &Peer, closed: Option<CloseReason>) {
    out.extend_from_slice(match closed {
        None => b"type=conn_new rip=",
        Some(_) => b"type=conn_close rip=",
    });
    match peer.addr {
        Some(addr) => {
            use std::io::Write;
            let _ = write!(out, "{}", addr.ip());
        }
        None => out.extend_from_slice(b"unix"),
    }
    number(out, b" rport=", peer.addr.map_or(0, |a| a.port()));
    out.extend_from_slice(b" transport=");
    out.extend_from_slice(peer.transport);
    if let Some(reason) = closed {
        out.extend_from_slice(match reason {
            CloseReason::Error => b" reason=error",
            CloseReason::Normal => b" reason=normal",
            CloseReason::IdleTimeout => b" reason=idle_timeout",
            CloseReason::Shutdown => b" reason=shutdown",
        });
    }
    number(out, b" cfd=", peer.cfd);
    out.push(b'\n');
}

/// The notice a watcher gets before its next line when it missed some: `skipped=<n>`.
pub(crate) fn skipped(out: &mut Vec<u8>, n: u64) {
    number(out, b"skipped=", n);
    out.push(b'\n');
}

/// memcached's `uriencode`: letters, digits and `-._~` as they are, every other byte as
/// `%XX` (upper-case hex).
pub(crate) fn uri_encode(out: &mut Vec<u8>, key: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in key {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(f: impl FnOnce(&mut Vec<u8>)) -> String {
        let mut out = Vec::new();
        stamp(&mut out, 1796546901, 74433, 53);
        f(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn lines_are_memcached_lines() {
        assert_eq!(
            line(|o| item_get(o, b"k%20x", Fetch::Found(3), 25)),
            "ts=1796546901.74433 gid=53 type=item_get key=k%2520x status=found clsid=1 cfd=25 size=3\n"
        );
        assert_eq!(
            line(|o| item_get(o, b"nope", Fetch::NotFound, 25)),
            "ts=1796546901.74433 gid=53 type=item_get key=nope status=not_found clsid=0 cfd=25 size=0\n"
        );
        let store = Store {
            key: b"a",
            status: Status::Exists,
            command: b"cas",
            ttl: 50,
            size: 2,
            cfd: 7,
        };
        assert_eq!(
            line(|o| item_store(o, &store)),
            "ts=1796546901.74433 gid=53 type=item_store key=a status=exists cmd=cas ttl=50 clsid=1 cfd=7 size=2\n"
        );
        let peer = Peer {
            addr: Some("127.0.0.1:46296".parse().unwrap()),
            transport: b"tcp",
            cfd: 24,
        };
        assert_eq!(
            line(|o| conn_event(o, &peer, Some(CloseReason::Error))),
            "ts=1796546901.74433 gid=53 type=conn_close rip=127.0.0.1 rport=46296 transport=tcp reason=error cfd=24\n"
        );
        let unix = Peer {
            addr: None,
            transport: b"local",
            cfd: 9,
        };
        assert_eq!(
            line(|o| conn_event(o, &unix, None)),
            "ts=1796546901.74433 gid=53 type=conn_new rip=unix rport=0 transport=local cfd=9\n"
        );
        assert_eq!(
            line(|o| eviction(o, b"k", false, -1, 4, 10)),
            "ts=1796546901.74433 gid=53 type=eviction key=k fetch=no ttl=-1 la=4 clsid=1 size=10\n"
        );
        let mut out = Vec::new();
        skipped(&mut out, 12);
        assert_eq!(out, b"skipped=12\n");
    }

    #[test]
    fn keys_are_uri_encoded_as_memcached_encodes_them() {
        let mut out = Vec::new();
        uri_encode(&mut out, "b%20c sp\u{e9}-._~Z9".as_bytes());
        assert_eq!(out, b"b%2520c%20sp%C3%A9-._~Z9");
    }
}
