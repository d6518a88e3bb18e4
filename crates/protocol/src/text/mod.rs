//! memcached's classic text protocol: one request per line, reproduced byte for byte
//! from memcached 1.6's `proto_text.c` behaviour (see `docs/protocol-text.md`).
//!
//! [`parse`] looks at the front of a connection's unread bytes and answers with a
//! request borrowed from them, a need for more bytes, or the error memcached would
//! send. The reply constants and writers build the answers.

pub mod client;
mod error;
mod number;
mod reply;
mod request;
mod tokens;

pub use error::ProtocolError;
pub use reply::*;
pub use request::{GetKind, Request, StoreCommand};
pub use tokens::Keys;

use memchr::memchr;
use number::{i32_field, u32_field, u64_field};
use tokens::Tokens;

/// Longest key memcached accepts (`KEY_MAX_LENGTH`).
pub const MAX_KEY_LENGTH: usize = 250;

/// Once more than this many bytes are buffered without a `\n`, memcached closes the
/// connection unless the line is a `get`/`gets` (a multi-get may be arbitrarily long).
pub const MAX_UNTERMINATED_LINE: usize = 2048;

/// memcached skips at most this many leading spaces when deciding whether an
/// unterminated long line is a multi-get.
const MAX_LEADING_SPACES: usize = 100;

/// What [`parse`] found at the front of the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Parse<'a> {
    /// A whole command line was parsed. `consumed` covers the line and its `\n` only;
    /// for storage commands the data block (`bytes` + 2) follows and is the server's
    /// to read.
    Request {
        request: Request<'a>,
        consumed: usize,
    },
    /// No complete line yet. `close` is true when memcached would close the connection
    /// now: a line of more than [`MAX_UNTERMINATED_LINE`] bytes with no newline that is
    /// not a `get`/`gets`, or a complete line that looks like an HTTP request (memcached
    /// drops those silently).
    Incomplete { close: bool },
    /// A bad line: reply with `error.reply()`, drop `consumed` bytes, carry on. First
    /// perform what memcached still does for such a line: see [`Attempt`].
    Error {
        error: ProtocolError,
        consumed: usize,
        attempted: Attempt<'a>,
    },
}

/// Side effects memcached performs for a line it then rejects. They show only in
/// `stats` (and, for `gat`, in the touched items' lifetimes), but they are observable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Attempt<'a> {
    /// None.
    Nothing,
    /// `flush_all` counts in `cmd_flush` before its arguments are checked.
    Flush,
    /// A multi-get with a too-long key: the keys before it are looked up (and touched,
    /// with `touch`'s exptime, for `gat`), counting as usual, but no value is sent.
    Lookups { touch: Option<i64>, keys: Keys<'a> },
}

/// Parses one request from the front of `buf` (the connection's unread bytes).
///
/// Never panics and never allocates, whatever `buf` holds.
pub fn parse(buf: &[u8]) -> Parse<'_> {
    let Some(newline) = memchr(b'\n', buf) else {
        return Parse::Incomplete {
            close: must_close_unterminated(buf),
        };
    };
    let consumed = newline + 1;
    // memcached strips the '\r' of "\r\n" only when something precedes it: a line that
    // is just "\r\n" keeps its '\r' as a one-byte command (and gets ERROR).
    let end = if newline > 1 && buf[newline - 1] == b'\r' {
        newline - 1
    } else {
        newline
    };
    let line = &buf[..end];
    // memcached hands the line to C string functions, so a NUL byte ends it early.
    let line = match memchr(0, line) {
        Some(nul) => &line[..nul],
        None => line,
    };
    match command(line) {
        Ok(request) => Parse::Request { request, consumed },
        Err(Reject::Error(error, attempted)) => Parse::Error {
            error,
            consumed,
            attempted,
        },
        Err(Reject::Close) => Parse::Incomplete { close: true },
    }
}

/// The rule memcached applies when a buffered line has no newline yet.
fn must_close_unterminated(buf: &[u8]) -> bool {
    if buf.len() <= MAX_UNTERMINATED_LINE {
        return false;
    }
    let spaces = buf.iter().take_while(|&&b| b == b' ').count();
    if spaces > MAX_LEADING_SPACES {
        return true;
    }
    let rest = &buf[spaces..];
    !(rest.starts_with(b"get ") || rest.starts_with(b"gets "))
}

enum Reject<'a> {
    Error(ProtocolError, Attempt<'a>),
    Close,
}

impl From<ProtocolError> for Reject<'_> {
    fn from(error: ProtocolError) -> Self {
        Reject::Error(error, Attempt::Nothing)
    }
}

type Outcome<'a> = Result<Request<'a>, Reject<'a>>;

/// Dispatches on the command token in memcached's own order: the first byte picks a
/// family, and the token count is checked per command before any argument is read.
/// The order matters because it decides which error a malformed line gets.
fn command(line: &[u8]) -> Outcome<'_> {
    let tokens = Tokens::new(line);
    let ntokens = tokens.ntokens();
    let name = tokens.get(0);
    if ntokens < 2 || name.len() < 2 {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let unknown = Err(ProtocolError::UnknownCommand.into());
    match name[0] {
        // Two-byte 'm' commands are meta commands, not handled here yet.
        b'm' if name.len() == 2 => unknown,
        b'g' => {
            if ntokens < 3 {
                return unknown;
            }
            match name {
                b"get" => retrieval(&tokens, GetKind::Get, false),
                b"gets" => retrieval(&tokens, GetKind::Gets, false),
                b"gat" => retrieval(&tokens, GetKind::Get, true),
                b"gats" => retrieval(&tokens, GetKind::Gets, true),
                _ => unknown,
            }
        }
        b's' => match name {
            b"set" => storage(&tokens, StoreCommand::Set),
            b"stats" => Ok(Request::Stats {
                args: tokens.from(1),
            }),
            b"shutdown" => shutdown(&tokens),
            b"slabs" => Ok(Request::Slabs {
                args: tokens.from(1),
                noreply: noreply(&tokens),
            }),
            _ => unknown,
        },
        b'a' => match name {
            b"add" => storage(&tokens, StoreCommand::Add),
            b"append" => storage(&tokens, StoreCommand::Append),
            _ => unknown,
        },
        b'c' => match name {
            b"cas" => storage(&tokens, StoreCommand::Cas),
            _ => unknown,
        },
        b'i' => match name {
            b"incr" => delta(&tokens, true),
            _ => unknown,
        },
        b'd' => match name {
            b"delete" => delete(&tokens),
            b"decr" => delta(&tokens, false),
            _ => unknown,
        },
        b't' => match name {
            b"touch" => touch(&tokens),
            _ => unknown,
        },
        _ => match name {
            b"replace" => storage(&tokens, StoreCommand::Replace),
            b"prepend" => storage(&tokens, StoreCommand::Prepend),
            b"bget" if ntokens >= 3 => retrieval(&tokens, GetKind::Get, false),
            b"flush_all" => flush_all(&tokens),
            b"version" => Ok(Request::Version),
            b"quit" => Ok(Request::Quit),
            b"verbosity" => verbosity(&tokens),
            b"watch" => Ok(Request::Watch {
                args: tokens.from(1),
                noreply: noreply(&tokens),
            }),
            b"refresh_certs" => Ok(Request::RefreshCerts),
            b"lru_crawler" => Ok(Request::LruCrawler {
                args: tokens.from(1),
            }),
            b"extstore" => Ok(Request::Extstore {
                args: tokens.from(1),
            }),
            // memcached drops connections that speak HTTP to it, without a word.
            _ if tokens.get(ntokens - 2).starts_with(b"HTTP/") => Err(Reject::Close),
            _ => unknown,
        },
    }
}

/// memcached's `noreply` rule: only the last token counts, and once seen it silences
/// every later reply of the command, errors included.
fn noreply(tokens: &Tokens<'_>) -> bool {
    tokens.get(tokens.ntokens() - 2) == b"noreply"
}

fn fail(error: ProtocolError, noreply: bool) -> Reject<'static> {
    if noreply {
        ProtocolError::Silenced.into()
    } else {
        error.into()
    }
}

fn key<'a>(tokens: &Tokens<'a>, noreply: bool) -> Result<&'a [u8], Reject<'a>> {
    let key = tokens.get(1);
    if key.len() > MAX_KEY_LENGTH {
        return Err(fail(ProtocolError::BadFormat, noreply));
    }
    Ok(key)
}

fn retrieval<'a>(tokens: &Tokens<'a>, kind: GetKind, touch: bool) -> Outcome<'a> {
    let (exptime, keys) = if touch {
        let exptime = i32_field(tokens.get(1)).ok_or(ProtocolError::InvalidExptime)?;
        (Some(exptime), tokens.from(2))
    } else {
        (None, tokens.from(1))
    };
    // memcached answers a multi-get with one too-long key with the error alone, even
    // for keys before it (it looks those up, then discards their values).
    let raw = keys.as_bytes();
    let mut scan = keys;
    loop {
        let before = scan.as_bytes();
        match scan.next() {
            None => break,
            Some(key) if key.len() > MAX_KEY_LENGTH => {
                let prefix = Keys::new(&raw[..raw.len() - before.len()]);
                return Err(Reject::Error(
                    ProtocolError::BadFormat,
                    Attempt::Lookups {
                        touch: exptime.map(i64::from),
                        keys: prefix,
                    },
                ));
            }
            Some(_) => {}
        }
    }
    Ok(match exptime {
        Some(exptime) => Request::Gat {
            kind,
            exptime: i64::from(exptime),
            keys,
        },
        None => Request::Get { kind, keys },
    })
}

fn storage<'a>(tokens: &Tokens<'a>, command: StoreCommand) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    let expected = if command == StoreCommand::Cas { 7 } else { 6 };
    if ntokens != expected && ntokens != expected + 1 {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let noreply = noreply(tokens);
    let key = key(tokens, noreply)?;
    let bad = || fail(ProtocolError::BadFormat, noreply);
    let (Some(flags), Some(exptime), Some(bytes)) = (
        u32_field(tokens.get(2)),
        i32_field(tokens.get(3)),
        i32_field(tokens.get(4)),
    ) else {
        return Err(bad());
    };
    let cas = if command == StoreCommand::Cas {
        u64_field(tokens.get(5)).ok_or_else(bad)?
    } else {
        0
    };
    // memcached adds 2 for the trailing "\r\n" in an int, hence the odd upper bound.
    let bytes = match usize::try_from(bytes) {
        Ok(bytes) if bytes <= (i32::MAX - 2) as usize => bytes,
        _ => return Err(bad()),
    };
    Ok(Request::Store {
        command,
        key,
        flags,
        exptime: i64::from(exptime),
        bytes,
        cas,
        noreply,
    })
}

fn delete<'a>(tokens: &Tokens<'a>) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    if !(3..=5).contains(&ntokens) {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let mut noreply_seen = false;
    if ntokens > 3 {
        // Old clients send `delete <key> 0`: a hold time of zero is still accepted.
        let hold_is_zero = tokens.get(2) == b"0";
        noreply_seen = noreply(tokens);
        let valid = (ntokens == 4 && (hold_is_zero || noreply_seen))
            || (ntokens == 5 && hold_is_zero && noreply_seen);
        if !valid {
            return Err(fail(ProtocolError::BadDeleteFormat, noreply_seen));
        }
    }
    let key = key(tokens, noreply_seen)?;
    Ok(Request::Delete {
        key,
        noreply: noreply_seen,
    })
}

fn delta<'a>(tokens: &Tokens<'a>, incr: bool) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    if ntokens != 4 && ntokens != 5 {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let noreply = noreply(tokens);
    let key = key(tokens, noreply)?;
    let delta =
        u64_field(tokens.get(2)).ok_or_else(|| fail(ProtocolError::InvalidDelta, noreply))?;
    Ok(Request::Delta {
        incr,
        key,
        delta,
        noreply,
    })
}

fn touch<'a>(tokens: &Tokens<'a>) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    if ntokens != 4 && ntokens != 5 {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let noreply = noreply(tokens);
    let key = key(tokens, noreply)?;
    let exptime =
        i32_field(tokens.get(2)).ok_or_else(|| fail(ProtocolError::InvalidExptime, noreply))?;
    Ok(Request::Touch {
        key,
        exptime: i64::from(exptime),
        noreply,
    })
}

fn flush_all<'a>(tokens: &Tokens<'a>) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    if !(2..=4).contains(&ntokens) {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let noreply = noreply(tokens);
    // The delay is read only when the token count says there is one; an extra token
    // after it is ignored.
    let has_delay = ntokens != if noreply { 3 } else { 2 };
    let exptime = if has_delay {
        i32_field(tokens.get(1)).ok_or_else(|| {
            match fail(ProtocolError::InvalidExptime, noreply) {
                Reject::Error(error, _) => Reject::Error(error, Attempt::Flush),
                close => close,
            }
        })?
    } else {
        0
    };
    Ok(Request::FlushAll {
        exptime: i64::from(exptime),
        noreply,
    })
}

fn verbosity<'a>(tokens: &Tokens<'a>) -> Outcome<'a> {
    let ntokens = tokens.ntokens();
    if ntokens != 3 && ntokens != 4 {
        return Err(ProtocolError::UnknownCommand.into());
    }
    let noreply = noreply(tokens);
    u32_field(tokens.get(1)).ok_or_else(|| fail(ProtocolError::BadFormat, noreply))?;
    Ok(Request::Verbosity { noreply })
}

fn shutdown<'a>(tokens: &Tokens<'a>) -> Outcome<'a> {
    match (tokens.ntokens(), tokens.get(1)) {
        (2, _) => Ok(Request::Shutdown { graceful: false }),
        (3, b"graceful") => Ok(Request::Shutdown { graceful: true }),
        _ => Err(ProtocolError::InvalidShutdownMode.into()),
    }
}

#[cfg(test)]
mod tests;
