//! Binary clients are served through meta requests (backends are spoken to in text or
//! meta): this turns the meta reply back into the binary response memcached would have
//! sent for the binary request, with its status, extras, key and CAS.
//!
//! ```
//! use proxy::serve::{BinaryReply, BinaryKind, ChunkPool};
//! let pool = ChunkPool::new();
//! let mut r = BinaryReply::new(0x01, 7, BinaryKind::Store { add: false, replace: false, quiet: false });
//! let mut out = std::collections::VecDeque::new();
//! r.translate_line(b"HD c42\r\n", &mut out, &pool);
//! let bytes = channel::Payload::bytes(&out[0]).to_vec();
//! assert_eq!((bytes[0], bytes[1], bytes[7]), (0x81, 0x01, 0)); // response, SET, success
//! assert_eq!(&bytes[16..24], &42u64.to_be_bytes());
//! ```

use std::collections::VecDeque;

use protocol::binary::{self, ResponseHeader, Status};
use protocol::client::{ErrorReply, Parsed};
use protocol::meta::client::{parse, Status as Meta};

use super::chunk::{Chunk, ChunkPool};
use super::message::{Failure, Piece};

/// The status a binary client gets when the proxy could not reach a backend: the
/// protocol's "temporary failure", with the reason as body.
pub const TEMPORARY_FAILURE: u16 = 0x86;

/// What the binary request was, as far as its response goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryKind {
    /// GET, GETK, GAT, GATK and quiet forms: flags, maybe the key, the value.
    Get {
        with_key: bool,
        quiet: bool,
    },
    /// TOUCH: flags and CAS, no value.
    Touch,
    /// SET (and ADD, REPLACE) and quiet forms.
    Store {
        add: bool,
        replace: bool,
        quiet: bool,
    },
    /// APPEND, PREPEND and quiet forms.
    Concat {
        quiet: bool,
    },
    Delete {
        quiet: bool,
    },
    /// INCREMENT, DECREMENT: the new value as 8 bytes.
    Delta {
        quiet: bool,
    },
}

/// The binary response to one request, built from its meta reply.
pub struct BinaryReply {
    pub opcode: u8,
    pub opaque: u32,
    pub kind: BinaryKind,
    /// The key, for GETK and GATK responses (a pooled buffer).
    pub key: Vec<u8>,
}

impl BinaryReply {
    pub fn new(opcode: u8, opaque: u32, kind: BinaryKind) -> BinaryReply {
        BinaryReply {
            opcode,
            opaque,
            kind,
            key: Vec::new(),
        }
    }

    /// Turns a piece of the meta reply into response bytes.
    pub fn translate(&mut self, piece: Piece, out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        let head = piece.head as usize;
        let trailer = usize::from(piece.trailer);
        if head == 0 {
            // More of a value: everything but the "\r\n" that closes it.
            let len = piece.bytes.len() - trailer;
            let mut chunk = pool.chunk(piece.bytes, 0);
            chunk.narrow(0, len);
            if !chunk.is_empty() {
                out.push_back(chunk);
            }
            return;
        }
        let Ok(Parsed::Reply { reply, frame }) = parse(&piece.bytes[..head]) else {
            return self.error(Status::UnknownCommand, out, pool);
        };
        match (reply.status, self.kind) {
            (Meta::Value(len), BinaryKind::Get { with_key, .. }) => {
                let key_len = if with_key { self.key.len() } else { 0 };
                let mut buf = pool.take();
                binary::write_header(
                    &mut buf,
                    &ResponseHeader {
                        opcode: self.opcode,
                        status: Status::Success,
                        extras_len: 4,
                        key_len: key_len as u16,
                        body_len: (4 + key_len + len) as u32,
                        opaque: self.opaque,
                        cas: reply.flags.cas.unwrap_or(0),
                    },
                );
                buf.extend_from_slice(&reply.flags.client_flags.unwrap_or(0).to_be_bytes());
                buf.extend_from_slice(&self.key[..key_len]);
                out.push_back(pool.chunk(buf, 0));
                let end = piece.bytes.len() - trailer;
                let mut value = pool.chunk(piece.bytes, 0);
                value.narrow(frame.head, end);
                if !value.is_empty() {
                    out.push_back(value);
                }
            }
            (Meta::Value(len), BinaryKind::Delta { quiet }) => {
                let digits = piece.bytes.get(frame.head..frame.head + len).unwrap_or(&[]);
                let Some(value) = number(digits) else {
                    return self.error(Status::NonNumeric, out, pool);
                };
                if !quiet {
                    let cas = reply.flags.cas.unwrap_or(0);
                    self.success(cas, &[], &value.to_be_bytes(), out, pool);
                }
            }
            _ => self.translate_line(&piece.bytes[..head], out, pool),
        }
    }

    /// Turns a meta reply line (no value) into response bytes.
    pub fn translate_line(&mut self, line: &[u8], out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        let Ok(Parsed::Reply { reply, .. }) = parse(line) else {
            return self.error(Status::UnknownCommand, out, pool);
        };
        let cas = reply.flags.cas.unwrap_or(0);
        let status = match (reply.status, self.kind) {
            (Meta::Stored, BinaryKind::Touch) => {
                let flags = reply.flags.client_flags.unwrap_or(0).to_be_bytes();
                return self.success(cas, &flags, &[], out, pool);
            }
            (Meta::Stored, BinaryKind::Store { quiet, .. })
            | (Meta::Stored, BinaryKind::Concat { quiet })
            | (Meta::Stored, BinaryKind::Delete { quiet }) => {
                if !quiet {
                    let cas = if matches!(self.kind, BinaryKind::Delete { .. }) {
                        0
                    } else {
                        cas
                    };
                    self.success(cas, &[], &[], out, pool);
                }
                return;
            }
            (Meta::Miss, BinaryKind::Get { with_key, quiet }) => {
                if quiet {
                    return;
                }
                if with_key {
                    return self.miss_with_key(out, pool);
                }
                Status::KeyNotFound
            }
            (Meta::Miss | Meta::NotFound, _) => Status::KeyNotFound,
            (Meta::NotStored, BinaryKind::Store { add: true, .. }) => Status::KeyExists,
            (Meta::NotStored, BinaryKind::Store { replace: true, .. }) => Status::KeyNotFound,
            (Meta::NotStored, _) => Status::NotStored,
            (Meta::Exists, _) => Status::KeyExists,
            (Meta::Failed(ErrorReply::Server(m)), _) if m.starts_with(b"object too large") => {
                Status::TooLarge
            }
            (Meta::Failed(ErrorReply::Server(m)), _) if m.starts_with(b"out of memory") => {
                Status::OutOfMemory
            }
            (Meta::Failed(ErrorReply::Client(m)), _) if m.starts_with(b"cannot increment") => {
                Status::NonNumeric
            }
            (Meta::Failed(ErrorReply::Client(_)), _) => Status::InvalidArguments,
            (Meta::Failed(ErrorReply::Server(m)), _) => {
                return self.temporary(m, out, pool);
            }
            _ => Status::UnknownCommand,
        };
        self.error(status, out, pool);
    }

    /// No reply came: a read misses (as a failed multi-get key does) unless the pool
    /// answers errors; everything else gets the temporary-failure status.
    pub fn failed(
        &mut self,
        why: Failure,
        miss: bool,
        out: &mut VecDeque<Chunk>,
        pool: &ChunkPool,
    ) {
        if let (BinaryKind::Get { with_key, quiet }, true) = (self.kind, miss) {
            if quiet {
                return;
            }
            if with_key {
                return self.miss_with_key(out, pool);
            }
            return self.error(Status::KeyNotFound, out, pool);
        }
        self.temporary(why.message(), out, pool);
    }

    fn success(
        &self,
        cas: u64,
        extras: &[u8],
        value: &[u8],
        out: &mut VecDeque<Chunk>,
        pool: &ChunkPool,
    ) {
        let mut buf = pool.take();
        binary::write_header(
            &mut buf,
            &ResponseHeader {
                opcode: self.opcode,
                status: Status::Success,
                extras_len: extras.len() as u8,
                key_len: 0,
                body_len: (extras.len() + value.len()) as u32,
                opaque: self.opaque,
                cas,
            },
        );
        buf.extend_from_slice(extras);
        buf.extend_from_slice(value);
        out.push_back(pool.chunk(buf, 0));
    }

    fn error(&self, status: Status, out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        let mut buf = pool.take();
        binary::write_error(&mut buf, self.opcode, status, self.opaque);
        out.push_back(pool.chunk(buf, 0));
    }

    /// GETK and GATK name the key in a miss, with no message.
    fn miss_with_key(&self, out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        let mut buf = pool.take();
        binary::write_miss_with_key(&mut buf, self.opcode, self.opaque, &self.key);
        out.push_back(pool.chunk(buf, 0));
    }

    fn temporary(&self, message: &[u8], out: &mut VecDeque<Chunk>, pool: &ChunkPool) {
        let mut buf = pool.take();
        let mut header = [0u8; binary::HEADER_LEN];
        header[0] = binary::RESPONSE_MAGIC;
        header[1] = self.opcode;
        header[6..8].copy_from_slice(&TEMPORARY_FAILURE.to_be_bytes());
        header[8..12].copy_from_slice(&(message.len() as u32).to_be_bytes());
        header[12..16].copy_from_slice(&self.opaque.to_be_bytes());
        buf.extend_from_slice(&header);
        buf.extend_from_slice(message);
        out.push_back(pool.chunk(buf, 0));
    }
}

fn number(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() {
        return None;
    }
    digits.iter().try_fold(0u64, |n, &b| {
        b.is_ascii_digit()
            .then(|| n.checked_mul(10)?.checked_add(u64::from(b - b'0')))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::Payload;
    use server::runtime::ConnId;

    fn piece(bytes: &[u8], head: u32, trailer: u8) -> Piece {
        Piece {
            seq: 0,
            sub: 0,
            from: ConnId::new(0, 0),
            link: 0,
            bytes: bytes.to_vec(),
            head,
            trailer,
            unit: super::super::message::Unit::Value,
            unit_end: true,
            last: true,
        }
    }

    fn all(out: &VecDeque<Chunk>) -> Vec<u8> {
        out.iter().flat_map(|c| c.bytes().to_vec()).collect()
    }

    #[test]
    fn a_hit_becomes_header_extras_key_value() {
        let pool = ChunkPool::new();
        let mut r = BinaryReply::new(
            0x0c,
            9,
            BinaryKind::Get {
                with_key: true,
                quiet: false,
            },
        );
        r.key = b"k".to_vec();
        let mut out = VecDeque::new();
        r.translate(piece(b"VA 2 f5 c77\r\nhi\r\n", 13, 2), &mut out, &pool);
        let b = all(&out);
        assert_eq!(b.len(), 24 + 4 + 1 + 2);
        assert_eq!(&b[8..12], &7u32.to_be_bytes());
        assert_eq!(&b[12..16], &9u32.to_be_bytes());
        assert_eq!(&b[16..24], &77u64.to_be_bytes());
        assert_eq!(&b[24..28], &5u32.to_be_bytes());
        assert_eq!(&b[28..], b"khi");
    }

    #[test]
    fn statuses_follow_memcached() {
        let pool = ChunkPool::new();
        let status = |kind, line: &[u8]| {
            let mut r = BinaryReply::new(0x02, 0, kind);
            let mut out = VecDeque::new();
            r.translate_line(line, &mut out, &pool);
            let b = all(&out);
            if b.is_empty() {
                return None;
            }
            Some(u16::from_be_bytes([b[6], b[7]]))
        };
        let add = BinaryKind::Store {
            add: true,
            replace: false,
            quiet: false,
        };
        let replace = BinaryKind::Store {
            add: false,
            replace: true,
            quiet: false,
        };
        assert_eq!(status(add, b"NS\r\n"), Some(2));
        assert_eq!(status(replace, b"NS\r\n"), Some(1));
        assert_eq!(
            status(BinaryKind::Concat { quiet: false }, b"NS\r\n"),
            Some(5)
        );
        assert_eq!(
            status(add, b"SERVER_ERROR object too large for cache\r\n"),
            Some(3)
        );
        assert_eq!(
            status(
                BinaryKind::Delta { quiet: false },
                b"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n"
            ),
            Some(6)
        );
        assert_eq!(
            status(
                BinaryKind::Store {
                    add: false,
                    replace: false,
                    quiet: true
                },
                b"HD c1\r\n"
            ),
            None
        );
        assert_eq!(
            status(BinaryKind::Delete { quiet: true }, b"NF\r\n"),
            Some(1)
        );
        assert_eq!(
            status(
                BinaryKind::Get {
                    with_key: false,
                    quiet: true
                },
                b"EN\r\n"
            ),
            None
        );
        assert_eq!(
            status(add, b"SERVER_ERROR busy\r\n"),
            Some(TEMPORARY_FAILURE)
        );
    }

    #[test]
    fn counters_come_back_as_eight_bytes() {
        let pool = ChunkPool::new();
        let mut r = BinaryReply::new(0x05, 1, BinaryKind::Delta { quiet: false });
        let mut out = VecDeque::new();
        r.translate(piece(b"VA 2 c3\r\n42\r\n", 9, 2), &mut out, &pool);
        let b = all(&out);
        assert_eq!(&b[24..], &42u64.to_be_bytes());
        assert_eq!(&b[16..24], &3u64.to_be_bytes());
    }
}
