//! Response heads: the 24-byte header, then extras and key; the value follows.

use crate::binary::{Status, HEADER_LEN, RESPONSE_MAGIC};
use crate::client::{Frame, Parsed, ReplyError};

/// One response, without its value, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    /// The request's opcode, quiet or not, as sent.
    pub opcode: u8,
    pub data_type: u8,
    /// The status code as sent; [`Reply::status`] names it.
    pub code: u16,
    pub opaque: u32,
    pub cas: u64,
    /// 4 bytes of client flags on a get hit; empty otherwise.
    pub extras: &'a [u8],
    /// The key, on `GETK`, `GATK` (and quiet) responses and stat names; else empty.
    pub key: &'a [u8],
}

impl Reply<'_> {
    /// The status, if it is one memcached defines for its binary protocol.
    pub fn status(&self) -> Option<Status> {
        Some(match self.code {
            0x00 => Status::Success,
            0x01 => Status::KeyNotFound,
            0x02 => Status::KeyExists,
            0x03 => Status::TooLarge,
            0x04 => Status::InvalidArguments,
            0x05 => Status::NotStored,
            0x06 => Status::NonNumeric,
            0x20 => Status::AuthError,
            0x21 => Status::AuthContinue,
            0x81 => Status::UnknownCommand,
            0x82 => Status::OutOfMemory,
            _ => return None,
        })
    }

    /// The client flags a get hit carries in its extras.
    pub fn flags(&self) -> Option<u32> {
        let flags: [u8; 4] = self.extras.try_into().ok()?;
        Some(u32::from_be_bytes(flags))
    }
}

/// The new value carried by a successful INCREMENT or DECREMENT response: its 8-byte value.
pub fn counter(value: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(value.try_into().ok()?))
}

/// Reads the response head at the front of `buf`: `NeedMore` until the header, extras
/// and key are buffered. The value (`frame.data` bytes) need not be.
///
/// Never panics and never allocates. A value length beyond what the client wants to
/// buffer is the client's to refuse: the parser does not cap it.
pub fn parse(buf: &[u8]) -> Result<Parsed<Reply<'_>>, ReplyError> {
    match buf.first() {
        None => return Ok(Parsed::NeedMore),
        Some(&magic) if magic != RESPONSE_MAGIC => return Err(ReplyError::BadMagic(magic)),
        Some(_) => {}
    }
    let Some(h) = buf.get(..HEADER_LEN) else {
        return Ok(Parsed::NeedMore);
    };
    let key_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
    let extras_len = usize::from(h[4]);
    let body = u32::from_be_bytes([h[8], h[9], h[10], h[11]]) as usize;
    let value = body
        .checked_sub(extras_len + key_len)
        .ok_or(ReplyError::BadLength)?;
    let head = HEADER_LEN + extras_len + key_len;
    let Some(head_bytes) = buf.get(..head) else {
        return Ok(Parsed::NeedMore);
    };
    let extras_end = HEADER_LEN + extras_len;
    Ok(Parsed::Reply {
        reply: Reply {
            opcode: h[1],
            data_type: h[5],
            code: u16::from_be_bytes([h[6], h[7]]),
            opaque: u32::from_be_bytes([h[12], h[13], h[14], h[15]]),
            cas: u64::from_be_bytes([h[16], h[17], h[18], h[19], h[20], h[21], h[22], h[23]]),
            extras: &head_bytes[HEADER_LEN..extras_end],
            key: &head_bytes[extras_end..],
        },
        frame: Frame::with_data(head, value, 0)?,
    })
}
