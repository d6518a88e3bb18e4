//! memcached's meta commands (`mg ms md ma mn me`), as memcached 1.6's `proto_text.c`
//! reads them and `doc/protocol.txt` describes them (see `docs/protocol-meta.md`).
//!
//! [`is_meta`] tells whether a complete command line is a meta command; [`parse`] turns
//! it into a [`Request`] borrowed from the line (a base64 key is decoded into the
//! request itself, so nothing is allocated), or into the error memcached sends. The
//! writers in `reply` compose the reply lines with their return flags in request order.

mod base64;
pub mod client;
mod command;
mod error;
mod flags;
mod number;
mod reply;
#[cfg(test)]
mod tests;

pub use command::Command;
pub use error::{MetaError, Rejected};
pub use flags::{Flags, Mode};
pub use reply::{write_debug, write_status, Debug, Facts, Status};

use crate::text::MAX_KEY_LENGTH;

/// memcached answers `CLIENT_ERROR options flags ... too long` when a meta line has more
/// than this many tokens (counting the command, the key and its tokenizer's terminal one).
const MAX_TOKENS: usize = 20;

/// Longest opaque token (`O` and its value) memcached echoes.
pub const MAX_OPAQUE: usize = 32;

/// One parsed meta request, borrowed from its line.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    pub command: Command,
    /// `ms` only: the data block's length (without its "\r\n").
    pub datalen: usize,
    pub flags: Flags<'a>,
    raw_key: &'a [u8],
    decoded: [u8; MAX_KEY_LENGTH],
    decoded_len: u8,
}

impl<'a> Request<'a> {
    /// The key to look up: decoded when the `b` flag was given.
    pub fn key(&self) -> &[u8] {
        if self.flags.base64 {
            &self.decoded[..usize::from(self.decoded_len)]
        } else {
            self.raw_key
        }
    }

    /// The opaque token is longer than memcached echoes: `mg` and `ma` must do their work,
    /// then answer [`MetaError::OpaqueTooLong`] instead of their reply.
    pub fn opaque_too_long(&self) -> bool {
        self.flags.opaque.is_some_and(|o| o.len() > MAX_OPAQUE)
    }

    /// The key as the client wrote it (base64 text under `b`), for echoing with `k`.
    pub fn wire_key(&self) -> &'a [u8] {
        self.raw_key
    }
}

/// The first line of `buf`, cut as the classic parser cuts it (a "\r" before the "\n"
/// only when something precedes it, up to a NUL), and its length with the "\n", if it is
/// complete and a meta command. Servers (and the proxy) test each text request with
/// this before the classic parser sees it.
pub fn meta_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    // Cheap test first: almost every classic line fails it without a scan for "\n".
    let start = buf.iter().position(|&b| b != b' ')?;
    let head = &buf[start..];
    if head.len() < 3 || head[0] != b'm' || !matches!(head[2], b' ' | b'\r' | b'\n' | 0) {
        return None;
    }
    let newline = buf.iter().position(|&b| b == b'\n')?;
    let end = if newline > 1 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let mut line = &buf[..end];
    if let Some(nul) = line.iter().position(|&b| b == 0) {
        line = &line[..nul];
    }
    is_meta(line).then_some((line, newline + 1))
}

/// Whether `line` (a command line without its "\r\n") is a meta command: its first
/// token is two bytes starting with `m`, as memcached dispatches.
pub fn is_meta(line: &[u8]) -> bool {
    let mut tokens = tokens(line);
    matches!(tokens.next(), Some([b'm', _]))
}

/// Space-separated tokens, as memcached's tokenizer splits them.
fn tokens(line: &[u8]) -> impl Iterator<Item = &[u8]> {
    line.split(|&b| b == b' ').filter(|t| !t.is_empty())
}

/// Parses a meta command line (without its "\r\n"; what [`is_meta`] accepted).
///
/// Never panics and never allocates.
pub fn parse(line: &[u8]) -> Result<Request<'_>, Rejected> {
    let mut it = tokens(line);
    let name = it.next().unwrap_or_default();
    // memcached counts the tokenizer's terminal token too.
    let ntokens = tokens(line).count() + 1;
    let command = match name {
        b"mg" => Command::Get,
        b"ms" => Command::Set,
        b"md" => Command::Delete,
        b"ma" => Command::Arithmetic,
        b"me" => Command::Debug,
        b"mn" => Command::NoOp,
        _ => return Err(MetaError::UnknownCommand.into()),
    };
    let empty = Request {
        command,
        datalen: 0,
        flags: Flags::default(),
        raw_key: b"",
        decoded: [0; MAX_KEY_LENGTH],
        decoded_len: 0,
    };
    match command {
        Command::NoOp => return Ok(empty),
        Command::Debug => return debug(empty, line, ntokens),
        _ => {}
    }
    if ntokens < 3 {
        return Err(MetaError::UnknownCommand.into());
    }
    let key = it.next().unwrap_or_default();
    if key.len() > MAX_KEY_LENGTH {
        return Err(MetaError::BadCommandLineFormat.into());
    }
    let mut req = Request {
        raw_key: key,
        ..empty
    };
    let mut rest = after_token(line, key);
    if command == Command::Set && ntokens == 3 {
        return Err(MetaError::BadCommandLineFormat.into());
    }
    if ntokens > MAX_TOKENS {
        return Err(match command {
            Command::Get => MetaError::GetFlagsTooLong,
            _ => MetaError::FlagsTooLong,
        }
        .into());
    }
    let mut swallow = 0;
    if command == Command::Set {
        let len_token = it.next().unwrap_or_default();
        let len = number::i32_token(len_token).ok_or(MetaError::BadCommandLineFormat)?;
        if !(0..=i32::MAX - 2).contains(&len) {
            return Err(MetaError::BadCommandLineFormat.into());
        }
        req.datalen = len as usize;
        swallow = req.datalen + 2;
        rest = after_token(line, len_token);
    }
    let reject = |error| Rejected { error, swallow };
    let flags = match Flags::parse(command, rest, key, &mut req.decoded) {
        Ok(f) => f,
        // memcached 1.6.18 words every flag error of md and ma the same way.
        Err(_) if matches!(command, Command::Delete | Command::Arithmetic) => {
            return Err(reject(MetaError::InvalidOrDuplicateFlag))
        }
        Err(e) => return Err(reject(e)),
    };
    req.decoded_len = flags.decoded_len;
    req.flags = flags;
    match (command, flags.mode) {
        (_, None) => {}
        (Command::Set, Some(m)) if Mode::set(m).is_none() => {
            return Err(reject(MetaError::InvalidSetMode))
        }
        (Command::Arithmetic, Some(m)) if Mode::arithmetic(m).is_none() => {
            return Err(reject(MetaError::InvalidArithmeticMode))
        }
        _ => {}
    }
    // Checked after the flags and the mode, as memcached does. mg and ma find out only
    // when they compose the reply, after the lookup or the arithmetic: the server
    // answers the error then (see `Request::opaque_too_long`).
    if req.opaque_too_long() && matches!(command, Command::Set | Command::Delete) {
        return Err(reject(MetaError::OpaqueTooLong));
    }
    Ok(req)
}

/// `me <key> [b]`: memcached looks only at the key and an optional `b` right after it.
fn debug<'a>(
    mut req: Request<'a>,
    line: &'a [u8],
    ntokens: usize,
) -> Result<Request<'a>, Rejected> {
    let mut it = tokens(line).skip(1);
    let key = it.next().unwrap_or_default();
    if ntokens < 3 || key.len() > MAX_KEY_LENGTH {
        return Err(MetaError::BadCommandLineFormat.into());
    }
    req.raw_key = key;
    if ntokens >= 4 && it.next() == Some(b"b") {
        match base64::decode(key, &mut req.decoded) {
            Some(n) if n > 0 => {
                req.decoded_len = n as u8;
                req.flags.base64 = true;
            }
            _ => return Err(MetaError::BadCommandLineFormat.into()),
        }
    }
    Ok(req)
}

/// The part of `line` after `token` (a subslice of it).
fn after_token<'a>(line: &'a [u8], token: &'a [u8]) -> &'a [u8] {
    let start = token.as_ptr() as usize - line.as_ptr() as usize + token.len();
    &line[start.min(line.len())..]
}
