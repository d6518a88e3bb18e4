//! Request frames: the 24-byte header, the extras the opcode takes, the key.

use crate::binary::opcode as op;
use crate::binary::{Extras, Header, Status, REQUEST_MAGIC};

/// One request, without its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub opcode: u8,
    pub key: &'a [u8],
    /// What the opcode takes: `Store` for SET/ADD/REPLACE (none for APPEND/PREPEND),
    /// `Delta` for INCREMENT/DECREMENT, `Expiry` for TOUCH/GAT, `Flush` for FLUSH.
    pub extras: Extras,
    /// Bytes of value the caller appends after the frame (storage commands).
    pub value_len: usize,
    /// Echoed in the response.
    pub opaque: u32,
    /// Compare-and-swap on storage commands; 0 for none.
    pub cas: u64,
}

impl<'a> Request<'a> {
    /// `opcode` on `key` with no extras, no value, opaque and CAS 0.
    pub fn new(opcode: u8, key: &'a [u8]) -> Self {
        Request {
            opcode,
            key,
            extras: Extras::None,
            value_len: 0,
            opaque: 0,
            cas: 0,
        }
    }
}

/// The key or the body is longer than the header's fields can say (65,535 and
/// 4,294,967,295 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("key or value too large for a binary frame")]
pub struct FrameTooLarge;

/// Appends the frame of `request`: header, extras, key. The caller appends
/// `value_len` bytes of value. Nothing is written if the frame cannot be encoded.
pub fn write_request(out: &mut Vec<u8>, request: &Request<'_>) -> Result<(), FrameTooLarge> {
    let mut extras = [0u8; 20];
    let extras_len = match request.extras {
        Extras::None | Extras::Flush(None) => 0,
        Extras::Store { flags, exptime } => {
            extras[..4].copy_from_slice(&flags.to_be_bytes());
            extras[4..8].copy_from_slice(&exptime.to_be_bytes());
            8
        }
        Extras::Delta {
            delta,
            initial,
            exptime,
        } => {
            extras[..8].copy_from_slice(&delta.to_be_bytes());
            extras[8..16].copy_from_slice(&initial.to_be_bytes());
            extras[16..20].copy_from_slice(&exptime.to_be_bytes());
            20
        }
        Extras::Expiry(exptime) | Extras::Flush(Some(exptime)) => {
            extras[..4].copy_from_slice(&exptime.to_be_bytes());
            4
        }
    };
    let key_len = u16::try_from(request.key.len()).map_err(|_| FrameTooLarge)?;
    let body = (extras_len + request.key.len())
        .checked_add(request.value_len)
        .and_then(|body| u32::try_from(body).ok())
        .ok_or(FrameTooLarge)?;
    let header = Header {
        magic: REQUEST_MAGIC,
        opcode: request.opcode,
        key_len,
        extras_len: extras_len as u8,
        data_type: 0,
        vbucket: 0,
        body_len: body,
        opaque: request.opaque,
        cas: request.cas,
    };
    out.extend_from_slice(&header.to_bytes());
    out.extend_from_slice(&extras[..extras_len]);
    out.extend_from_slice(request.key);
    Ok(())
}

/// The quiet form of `opcode`, if it has one (`GET` -> `GETQ`, `SET` -> `SETQ`, ...).
pub fn quiet(opcode: u8) -> Option<u8> {
    Some(match opcode {
        op::GET => op::GETQ,
        op::GETK => op::GETKQ,
        op::GAT => op::GATQ,
        op::GATK => op::GATKQ,
        op::SET => op::SETQ,
        op::ADD => op::ADDQ,
        op::REPLACE => op::REPLACEQ,
        op::APPEND => op::APPENDQ,
        op::PREPEND => op::PREPENDQ,
        op::DELETE => op::DELETEQ,
        op::INCREMENT => op::INCREMENTQ,
        op::DECREMENT => op::DECREMENTQ,
        op::FLUSH => op::FLUSHQ,
        op::QUIT => op::QUITQ,
        _ => return None,
    })
}

/// For a quiet opcode, the status memcached answers with silence: a miss for the quiet
/// gets, success for everything else. Every other status is answered. `None` for an
/// opcode that is not quiet (always answered).
pub fn silent_status(opcode: u8) -> Option<Status> {
    match opcode {
        op::GETQ | op::GETKQ | op::GATQ | op::GATKQ => Some(Status::KeyNotFound),
        op::SETQ
        | op::ADDQ
        | op::REPLACEQ
        | op::APPENDQ
        | op::PREPENDQ
        | op::DELETEQ
        | op::INCREMENTQ
        | op::DECREMENTQ
        | op::FLUSHQ
        | op::QUITQ => Some(Status::Success),
        _ => None,
    }
}
