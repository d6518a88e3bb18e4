//! Judging a request by its header ([`check`]) and reading its extras and key
//! ([`decode`]), with memcached 1.6's rules and in its order.

use super::header::{Header, HEADER_LEN, REQUEST_MAGIC};
use super::opcode as op;
use super::status::Status;

/// Longest key memcached accepts; the binary protocol could carry 65535.
const MAX_KEY_LENGTH: usize = 250;

/// How a storage command meets the item already under its key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreKind {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
}

/// A valid request, its quiet form folded into `quiet`. The response still echoes the
/// opcode that was sent.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// GET, GETQ, GETK, GETKQ.
    Get {
        with_key: bool,
        quiet: bool,
    },
    /// GAT, GATQ, GATK, GATKQ.
    GetAndTouch {
        with_key: bool,
        quiet: bool,
    },
    Touch,
    /// SET, ADD, REPLACE, APPEND, PREPEND and their quiet forms; a value follows.
    Store {
        kind: StoreKind,
        quiet: bool,
    },
    Delete {
        quiet: bool,
    },
    /// INCREMENT / DECREMENT (and quiet).
    Delta {
        incr: bool,
        quiet: bool,
    },
    Flush {
        quiet: bool,
    },
    Quit {
        quiet: bool,
    },
    Noop,
    Version,
    Stat,
}

/// What to do with a frame, decided from its header alone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Frame {
    /// Valid: buffer [`Header::head_len`] bytes, [`decode`] and execute.
    Command(Command),
    /// Not a request (wrong magic): memcached closes at once, without answering and
    /// without sending the replies it had queued.
    Drop,
    /// Answer this error, then close (memcached's protocol errors: lengths that
    /// contradict each other or the opcode, keys over 250 bytes).
    Fatal(Status),
    /// An opcode memcached does not serve (SASL included, as a memcached built without
    /// it): answer `UnknownCommand`, drop the head (header, extras, key), then discard
    /// `swallow` more bytes, as memcached does (for unknown opcodes that is the whole
    /// body length again).
    Unknown { swallow: usize },
}

/// Judges a request by its header, in memcached's order: magic, lengths against the
/// body, key length, then the opcode's own rules.
pub fn check(h: &Header) -> Frame {
    if h.magic != REQUEST_MAGIC {
        return Frame::Drop;
    }
    let key = usize::from(h.key_len);
    let ext = usize::from(h.extras_len);
    let body = h.body_len as usize;
    if key + ext > body {
        return Frame::Fatal(Status::UnknownCommand);
    }
    if key > MAX_KEY_LENGTH {
        return Frame::Fatal(Status::InvalidArguments);
    }
    let empty = key == 0 && ext == 0 && body == 0;
    let (valid, command) = match h.opcode {
        op::VERSION => (empty, Command::Version),
        op::NOOP => (empty, Command::Noop),
        op::QUIT | op::QUITQ => (
            empty,
            Command::Quit {
                quiet: h.opcode == op::QUITQ,
            },
        ),
        op::FLUSH | op::FLUSHQ => (
            key == 0 && body == ext && (ext == 0 || ext == 4),
            Command::Flush {
                quiet: h.opcode == op::FLUSHQ,
            },
        ),
        op::SET | op::SETQ | op::ADD | op::ADDQ | op::REPLACE | op::REPLACEQ => {
            let (kind, quiet) = match h.opcode {
                op::SET => (StoreKind::Set, false),
                op::SETQ => (StoreKind::Set, true),
                op::ADD => (StoreKind::Add, false),
                op::ADDQ => (StoreKind::Add, true),
                op::REPLACE => (StoreKind::Replace, false),
                _ => (StoreKind::Replace, true),
            };
            (ext == 8 && key != 0, Command::Store { kind, quiet })
        }
        op::APPEND | op::APPENDQ | op::PREPEND | op::PREPENDQ => {
            let kind = if matches!(h.opcode, op::APPEND | op::APPENDQ) {
                StoreKind::Append
            } else {
                StoreKind::Prepend
            };
            let quiet = matches!(h.opcode, op::APPENDQ | op::PREPENDQ);
            (ext == 0 && key != 0, Command::Store { kind, quiet })
        }
        op::GET | op::GETQ | op::GETK | op::GETKQ => (
            ext == 0 && body == key && key != 0,
            Command::Get {
                with_key: matches!(h.opcode, op::GETK | op::GETKQ),
                quiet: matches!(h.opcode, op::GETQ | op::GETKQ),
            },
        ),
        op::DELETE | op::DELETEQ => (
            ext == 0 && body == key && key != 0,
            Command::Delete {
                quiet: h.opcode == op::DELETEQ,
            },
        ),
        op::INCREMENT | op::INCREMENTQ | op::DECREMENT | op::DECREMENTQ => (
            ext == 20 && body == key + ext && key != 0,
            Command::Delta {
                incr: matches!(h.opcode, op::INCREMENT | op::INCREMENTQ),
                quiet: matches!(h.opcode, op::INCREMENTQ | op::DECREMENTQ),
            },
        ),
        op::STAT => (ext == 0, Command::Stat),
        op::TOUCH => (ext == 4 && key != 0, Command::Touch),
        op::GAT | op::GATQ | op::GATK | op::GATKQ => (
            ext == 4 && key != 0,
            Command::GetAndTouch {
                with_key: matches!(h.opcode, op::GATK | op::GATKQ),
                quiet: matches!(h.opcode, op::GATQ | op::GATKQ),
            },
        ),
        op::SASL_LIST_MECHS => {
            if empty {
                return Frame::Unknown { swallow: 0 };
            }
            return Frame::Fatal(Status::InvalidArguments);
        }
        op::SASL_AUTH | op::SASL_STEP => {
            if ext == 0 && key != 0 {
                return Frame::Unknown {
                    swallow: body - key,
                };
            }
            return Frame::Fatal(Status::InvalidArguments);
        }
        _ => return Frame::Unknown { swallow: body },
    };
    if valid {
        Frame::Command(command)
    } else {
        Frame::Fatal(Status::InvalidArguments)
    }
}

/// A command's extras, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Extras {
    None,
    /// SET, ADD, REPLACE: flags and expiry.
    Store {
        flags: u32,
        exptime: u32,
    },
    /// INCREMENT, DECREMENT: `exptime` 0xffffffff means "do not create".
    Delta {
        delta: u64,
        initial: u64,
        exptime: u32,
    },
    /// TOUCH and GAT: the new expiry.
    Expiry(u32),
    /// FLUSH: an optional delay.
    Flush(Option<u32>),
}

/// A decoded request, borrowing its key from the read buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request<'a> {
    pub command: Command,
    /// The opcode as sent, for the response.
    pub opcode: u8,
    pub key: &'a [u8],
    pub extras: Extras,
    /// Bytes of value after the key (storage commands; others ignore theirs, as
    /// memcached does).
    pub value_len: usize,
    pub opaque: u32,
    pub cas: u64,
}

/// Reads a checked command's extras and key from `buf` (which starts with the
/// header); `None` until [`Header::head_len`] bytes are buffered.
pub fn decode<'a>(h: &Header, command: Command, buf: &'a [u8]) -> Option<Request<'a>> {
    let head = buf.get(..h.head_len())?;
    let ext_end = HEADER_LEN + usize::from(h.extras_len);
    let ext = &head[HEADER_LEN..ext_end];
    let key = &head[ext_end..];
    let u32_at = |i: usize| u32::from_be_bytes([ext[i], ext[i + 1], ext[i + 2], ext[i + 3]]);
    let u64_at = |i: usize| (u64::from(u32_at(i)) << 32) | u64::from(u32_at(i + 4));
    let extras = match command {
        Command::Store { kind, .. } if ext.len() == 8 && !is_concat(kind) => Extras::Store {
            flags: u32_at(0),
            exptime: u32_at(4),
        },
        Command::Delta { .. } if ext.len() == 20 => Extras::Delta {
            delta: u64_at(0),
            initial: u64_at(8),
            exptime: u32_at(16),
        },
        Command::Touch | Command::GetAndTouch { .. } if ext.len() == 4 => Extras::Expiry(u32_at(0)),
        Command::Flush { .. } => Extras::Flush((ext.len() == 4).then(|| u32_at(0))),
        _ => Extras::None,
    };
    Some(Request {
        command,
        opcode: h.opcode,
        key,
        extras,
        value_len: h.value_len(),
        opaque: h.opaque,
        cas: h.cas,
    })
}

fn is_concat(kind: StoreKind) -> bool {
    matches!(kind, StoreKind::Append | StoreKind::Prepend)
}
