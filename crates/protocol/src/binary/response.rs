//! Response composition: headers, error frames and stat frames, appended to a buffer.

use super::header::{HEADER_LEN, RESPONSE_MAGIC};
use super::status::Status;

/// The fields of a response header that vary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ResponseHeader {
    /// The request's opcode, quiet or not, as memcached echoes it.
    pub opcode: u8,
    pub status: Status,
    pub extras_len: u8,
    pub key_len: u16,
    /// Extras + key + value.
    pub body_len: u32,
    pub opaque: u32,
    pub cas: u64,
}

/// Appends a 24-byte response header.
pub fn write_header(out: &mut Vec<u8>, h: &ResponseHeader) {
    let mut b = [0u8; HEADER_LEN];
    b[0] = RESPONSE_MAGIC;
    b[1] = h.opcode;
    b[2..4].copy_from_slice(&h.key_len.to_be_bytes());
    b[4] = h.extras_len;
    // b[5]: data type, always raw bytes (0).
    b[6..8].copy_from_slice(&h.status.code().to_be_bytes());
    b[8..12].copy_from_slice(&h.body_len.to_be_bytes());
    b[12..16].copy_from_slice(&h.opaque.to_be_bytes());
    b[16..24].copy_from_slice(&h.cas.to_be_bytes());
    out.extend_from_slice(&b);
}

/// Appends an error response: no extras, no key, CAS 0, memcached's message as body.
pub fn write_error(out: &mut Vec<u8>, opcode: u8, status: Status, opaque: u32) {
    let message = status.message();
    write_header(
        out,
        &ResponseHeader {
            opcode,
            status,
            extras_len: 0,
            key_len: 0,
            body_len: message.len() as u32,
            opaque,
            cas: 0,
        },
    );
    out.extend_from_slice(message);
}

/// Appends the miss of a GETK or GATK: KeyNotFound naming the key (memcached sends the
/// key instead of its "Not found" message for the key-returning gets).
pub fn write_miss_with_key(out: &mut Vec<u8>, opcode: u8, opaque: u32, key: &[u8]) {
    // A request's key is at most 250 bytes (checked on its header).
    let key_len = u16::try_from(key.len()).unwrap_or(u16::MAX);
    let key = &key[..usize::from(key_len)];
    write_header(
        out,
        &ResponseHeader {
            opcode,
            status: Status::KeyNotFound,
            extras_len: 0,
            key_len,
            body_len: u32::from(key_len),
            opaque,
            cas: 0,
        },
    );
    out.extend_from_slice(key);
}

/// Appends one STAT response frame: the stat's name as key, its value as value. An
/// empty name and value make the frame that ends a stats reply.
pub fn write_stat(out: &mut Vec<u8>, opaque: u32, name: &[u8], value: &[u8]) {
    // Stat names are short; values (a `detail dump`) stay far below 4 GiB.
    let key_len = u16::try_from(name.len()).unwrap_or(u16::MAX);
    let name = &name[..usize::from(key_len)];
    write_header(
        out,
        &ResponseHeader {
            opcode: super::opcode::STAT,
            status: Status::Success,
            extras_len: 0,
            key_len,
            body_len: (name.len() + value.len()) as u32,
            opaque,
            cas: 0,
        },
    );
    out.extend_from_slice(name);
    out.extend_from_slice(value);
}
