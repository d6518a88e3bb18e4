//! The three memcached protocols as `corvid bench` speaks them, over the client halves
//! in `protocol`: which requests a get, a set and a delete become, and what each reply
//! element means for the request it answers.

use crate::content::Content;
use crate::error::BenchError;
use protocol::binary::{client as binary, opcode, Extras, Status};
use protocol::client::{Frame, Parsed, DATA_END};
use protocol::meta::client::{self as meta, Flag};
use protocol::text::client::{self as text, Store};
use protocol::text::{GetKind, StoreCommand};

/// The largest value the generator writes or accepts in a reply: memcached's largest
/// item (`-I 1g`). A reply announcing more is a broken stream, not a big item.
pub const MAX_VALUE: usize = 1 << 30;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Text,
    Meta,
    Binary,
}

/// A single meta get echoes the key and returns the value; in a multi-get each get is
/// quiet, so only hits answer and `mn` closes the batch.
const META_GET: &[Flag<'static>] = &[Flag::ReturnKey, Flag::ReturnValue];
const META_QUIET_GET: &[Flag<'static>] = &[Flag::ReturnKey, Flag::ReturnValue, Flag::Quiet];

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
            Protocol::Text => {
                let keys = ids.iter().map(|&id| content.key(id));
                text::write_get(out, GetKind::Get, keys);
            }
            Protocol::Meta => {
                let flags = if ids.len() > 1 {
                    META_QUIET_GET
                } else {
                    META_GET
                };
                for &id in ids {
                    meta::write_get(out, content.key(id).as_ref(), flags);
                }
                if ids.len() > 1 {
                    meta::write_noop(out);
                }
            }
            Protocol::Binary => {
                // Keys are echoed by the K opcodes, so every hit is checked against
                // the key it claims to be.
                if let [id] = ids {
                    binary_request(out, opcode::GETK, content.key(*id).as_ref(), 0);
                    return;
                }
                for &id in ids {
                    binary_request(out, opcode::GETKQ, content.key(id).as_ref(), 0);
                }
                binary_request(out, opcode::NOOP, b"", 0);
            }
        }
    }

    pub fn set(self, content: &Content, id: u64, len: usize, out: &mut Vec<u8>) {
        let key = content.key(id);
        match self {
            Protocol::Text => {
                text::write_store(out, &Store::new(StoreCommand::Set, key.as_ref(), len));
                content.push_value(id, len, out);
                out.extend_from_slice(DATA_END);
            }
            Protocol::Meta => {
                meta::write_set(out, key.as_ref(), len, &[]);
                content.push_value(id, len, out);
                out.extend_from_slice(DATA_END);
            }
            Protocol::Binary => {
                binary_request(out, opcode::SET, key.as_ref(), len);
                content.push_value(id, len, out);
            }
        }
    }

    pub fn delete(self, content: &Content, id: u64, out: &mut Vec<u8>) {
        let key = content.key(id);
        match self {
            Protocol::Text => text::write_delete(out, key.as_ref(), false),
            Protocol::Meta => meta::write_delete(out, key.as_ref(), &[]),
            Protocol::Binary => binary_request(out, opcode::DELETE, key.as_ref(), 0),
        }
    }

    /// Cuts the next element off the front of `buf`, once it is whole (values
    /// included): `Ok(None)` means more bytes are needed; an error means the stream is
    /// out of step and the connection is useless.
    pub fn parse_element(self, buf: &[u8]) -> Result<Option<(Element<'_>, usize)>, Garbage> {
        match self {
            Protocol::Text => text_element(buf),
            Protocol::Meta => meta_element(buf),
            Protocol::Binary => binary_element(buf),
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

/// A binary request with flags 0 and no expiry on SET; opaque and CAS 0.
fn binary_request(out: &mut Vec<u8>, op: u8, key: &[u8], value_len: usize) {
    let extras = if op == opcode::SET {
        Extras::Store {
            flags: 0,
            exptime: 0,
        }
    } else {
        Extras::None
    };
    let request = binary::Request {
        extras,
        value_len,
        ..binary::Request::new(op, key)
    };
    // Config::validate keeps keys within 250 bytes and values within MAX_VALUE, which
    // the header's 16- and 32-bit lengths always hold.
    binary::write_request(out, &request).expect("validated key and value sizes fit a frame");
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

impl From<protocol::client::ReplyError> for Garbage {
    fn from(_: protocol::client::ReplyError) -> Self {
        Garbage
    }
}

type Cut<'a> = Result<Option<(Element<'a>, usize)>, Garbage>;

/// The element of a reply whose head is `frame`, once its value is buffered.
fn whole<'a>(
    buf: &'a [u8],
    frame: Frame,
    element: impl FnOnce(&'a [u8]) -> Element<'a>,
) -> Cut<'a> {
    if frame.data > MAX_VALUE {
        return Err(Garbage);
    }
    Ok(frame.data(buf)?.map(|data| (element(data), frame.end())))
}

fn text_element(buf: &[u8]) -> Cut<'_> {
    let Parsed::Reply { reply, frame } = text::parse(buf)? else {
        return Ok(None);
    };
    whole(buf, frame, |data| match reply {
        text::Reply::Value { key, .. } => Element::Value {
            key: Some(key),
            data,
        },
        text::Reply::End => Element::End,
        text::Reply::Stored | text::Reply::Deleted => Element::Done,
        text::Reply::NotFound => Element::NotFound,
        _ => Element::Failure,
    })
}

fn meta_element(buf: &[u8]) -> Cut<'_> {
    let Parsed::Reply { reply, frame } = meta::parse(buf)? else {
        return Ok(None);
    };
    whole(buf, frame, |data| match reply.status {
        meta::Status::Value(_) => Element::Value {
            key: reply.flags.key,
            data,
        },
        meta::Status::Miss => Element::Miss,
        meta::Status::Stored => Element::Done,
        meta::Status::NotFound => Element::NotFound,
        meta::Status::NoOp => Element::End,
        _ => Element::Failure,
    })
}

fn binary_element(buf: &[u8]) -> Cut<'_> {
    let Parsed::Reply { reply, frame } = binary::parse(buf)? else {
        return Ok(None);
    };
    let is_get = matches!(
        reply.opcode,
        opcode::GET | opcode::GETQ | opcode::GETK | opcode::GETKQ
    );
    whole(buf, frame, |data| match reply.status() {
        Some(Status::Success) if is_get => Element::Value {
            key: (!reply.key.is_empty()).then_some(reply.key),
            data,
        },
        Some(Status::Success) if reply.opcode == opcode::NOOP => Element::End,
        Some(Status::Success) => Element::Done,
        Some(Status::KeyNotFound) if is_get => Element::Miss,
        Some(Status::KeyNotFound) => Element::NotFound,
        _ => Element::Failure,
    })
}

#[cfg(test)]
mod tests;
