//! Text replies, one line at a time. A `VALUE` line announces a data block the caller
//! takes, forwards or skips by its [`Frame`].

use crate::client::{
    error_reply, line, tokens, unsigned, ErrorReply, Frame, Parsed, ReplyError, DATA_END,
};

/// One reply line of the text protocol, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reply<'a> {
    /// `VALUE <key> <flags> <bytes>[ <cas>]`: a hit of `get`, `gets`, `gat` or `gats`;
    /// `bytes` bytes of data and `\r\n` follow the line. `cas` comes with `gets`/`gats`.
    Value {
        key: &'a [u8],
        flags: u32,
        bytes: usize,
        cas: Option<u64>,
    },
    /// `END`: the last line of a retrieval or a `stats` listing.
    End,
    /// `STORED`.
    Stored,
    /// `NOT_STORED`: `add` of a present key, `replace`/`append`/`prepend` of an absent one.
    NotStored,
    /// `EXISTS`: `cas` of an item changed since.
    Exists,
    /// `NOT_FOUND`: `cas`, `delete`, `incr`, `decr` or `touch` of an absent key.
    NotFound,
    /// `DELETED`.
    Deleted,
    /// `TOUCHED`.
    Touched,
    /// `OK`: `flush_all`, `verbosity`, `stats detail on|off`.
    Ok,
    /// `RESET`: `stats reset`.
    Reset,
    /// The new value after `incr` or `decr`.
    Number(u64),
    /// `VERSION <version>`: the version.
    Version(&'a [u8]),
    /// `STAT <name> <value>`: one statistic (`value` is the rest of the line).
    Stat { name: &'a [u8], value: &'a [u8] },
    /// `ERROR ...`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Failed(ErrorReply<'a>),
    /// Any other line: the listings some commands send before `END` (`stats detail
    /// dump`'s `PREFIX` lines, `lru_crawler metadump` entries). A client that asked for
    /// none of those is out of step.
    Other(&'a [u8]),
}

/// Reads the reply line at the front of `buf`.
///
/// Never panics, never allocates, and never looks past the first line: the data block
/// of a `VALUE` need not be buffered yet.
pub fn parse(buf: &[u8]) -> Result<Parsed<Reply<'_>>, ReplyError> {
    let Some((text, used)) = line(buf)? else {
        return Ok(Parsed::NeedMore);
    };
    let reply = match text {
        b"END" => Reply::End,
        b"STORED" => Reply::Stored,
        b"NOT_STORED" => Reply::NotStored,
        b"EXISTS" => Reply::Exists,
        b"NOT_FOUND" => Reply::NotFound,
        b"DELETED" => Reply::Deleted,
        b"TOUCHED" => Reply::Touched,
        b"OK" => Reply::Ok,
        b"RESET" => Reply::Reset,
        _ => return other(text, used),
    };
    Ok(Parsed::Reply {
        reply,
        frame: Frame::line(used),
    })
}

fn other(text: &[u8], used: usize) -> Result<Parsed<Reply<'_>>, ReplyError> {
    if text == b"VALUE" || text.starts_with(b"VALUE ") {
        return value(text, used);
    }
    let reply = if let Some(rest) = text.strip_prefix(b"STAT ") {
        let (name, value) = match rest.iter().position(|&b| b == b' ') {
            Some(space) => (&rest[..space], &rest[space + 1..]),
            None => (rest, &rest[rest.len()..]),
        };
        Reply::Stat { name, value }
    } else if let Some(version) = text.strip_prefix(b"VERSION ") {
        Reply::Version(version)
    } else if let Some(error) = error_reply(text) {
        Reply::Failed(error)
    } else if !text.is_empty() && text.iter().all(u8::is_ascii_digit) {
        Reply::Number(unsigned(text).ok_or(ReplyError::BadNumber)?)
    } else {
        Reply::Other(text)
    };
    Ok(Parsed::Reply {
        reply,
        frame: Frame::line(used),
    })
}

/// `VALUE <key> <flags> <bytes>[ <cas>]`.
fn value(text: &[u8], used: usize) -> Result<Parsed<Reply<'_>>, ReplyError> {
    let mut fields = tokens(&text[b"VALUE".len()..]);
    let (Some(key), Some(flags), Some(bytes)) = (fields.next(), fields.next(), fields.next())
    else {
        return Err(ReplyError::BadLine);
    };
    let cas = match fields.next() {
        Some(cas) => Some(unsigned(cas).ok_or(ReplyError::BadNumber)?),
        None => None,
    };
    if fields.next().is_some() {
        return Err(ReplyError::BadLine);
    }
    let flags = unsigned(flags)
        .and_then(|f| u32::try_from(f).ok())
        .ok_or(ReplyError::BadNumber)?;
    let bytes = unsigned(bytes)
        .and_then(|b| usize::try_from(b).ok())
        .ok_or(ReplyError::BadNumber)?;
    Ok(Parsed::Reply {
        reply: Reply::Value {
            key,
            flags,
            bytes,
            cas,
        },
        frame: Frame::with_data(used, bytes, DATA_END.len())?,
    })
}
