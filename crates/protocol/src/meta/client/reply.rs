//! Meta replies: a two-letter status, a length for `VA`, then return flags.

use super::super::base64;
use crate::client::{
    error_reply, line, signed, tokens, unsigned, ErrorReply, Frame, Parsed, ReplyError, DATA_END,
};
use crate::text::MAX_KEY_LENGTH;

/// One meta reply line, borrowed from the buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Reply<'a> {
    pub status: Status<'a>,
    /// Empty for `MN`, `ME` and error lines.
    pub flags: ReturnFlags<'a>,
}

/// The status a meta reply opens with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status<'a> {
    /// `VA <len>`: `len` bytes of value and `\r\n` follow the line.
    Value(usize),
    /// `HD`: success without a value.
    Stored,
    /// `EN`: `mg` (or `me`) missed.
    Miss,
    /// `NF`: not found (`md`, `ma`, `ms` in replace mode ...).
    NotFound,
    /// `NS`: not stored.
    NotStored,
    /// `EX`: the CAS did not match.
    Exists,
    /// `MN`: the answer to `mn`, the end of a quiet batch.
    NoOp,
    /// `ME <key> <field>=<value>*`: `me`'s metadata; `fields` is the rest of the line.
    Debug { key: &'a [u8], fields: &'a [u8] },
    /// `ERROR ...`, `CLIENT_ERROR ...` or `SERVER_ERROR ...`.
    Failed(ErrorReply<'a>),
}

/// The return flags of a reply, each `None`/`false` unless the server sent it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReturnFlags<'a> {
    /// `c`.
    pub cas: Option<u64>,
    /// `f`.
    pub client_flags: Option<u32>,
    /// `t`: seconds left, `-1` for none.
    pub ttl: Option<i64>,
    /// `s`.
    pub size: Option<usize>,
    /// `l`: seconds since the last access.
    pub last_access: Option<u64>,
    /// `h`: fetched before.
    pub hit_before: Option<bool>,
    /// `O`: the opaque token, without its `O`.
    pub opaque: Option<&'a [u8]>,
    /// `k`: the key as sent: base64 when `base64_key` (see [`ReturnFlags::decoded_key`]).
    pub key: Option<&'a [u8]>,
    /// `b`: the key is base64.
    pub base64_key: bool,
    /// `W`: this client won the right to recache.
    pub won: bool,
    /// `X`: the item is stale.
    pub stale: bool,
    /// `Z`: a win was already handed out.
    pub already_won: bool,
    /// The flags as sent, for any this type does not name.
    pub tokens: &'a [u8],
}

impl<'a> ReturnFlags<'a> {
    fn parse(sent: &'a [u8]) -> Result<Self, ReplyError> {
        let mut f = ReturnFlags {
            tokens: sent,
            ..ReturnFlags::default()
        };
        for token in tokens(sent) {
            let arg = &token[1..];
            let bad = ReplyError::BadFlag;
            match token[0] {
                b'b' => f.base64_key = true,
                b'c' => f.cas = Some(unsigned(arg).ok_or(bad)?),
                b'f' => {
                    let flags = unsigned(arg).and_then(|n| u32::try_from(n).ok());
                    f.client_flags = Some(flags.ok_or(bad)?);
                }
                b'h' => {
                    f.hit_before = Some(match arg {
                        b"0" => false,
                        b"1" => true,
                        _ => return Err(bad),
                    })
                }
                b'k' => f.key = Some(arg),
                b'l' => f.last_access = Some(unsigned(arg).ok_or(bad)?),
                b'O' => f.opaque = Some(arg),
                b's' => {
                    let size = unsigned(arg).and_then(|n| usize::try_from(n).ok());
                    f.size = Some(size.ok_or(bad)?);
                }
                b't' => f.ttl = Some(signed(arg).ok_or(bad)?),
                b'W' => f.won = true,
                b'X' => f.stale = true,
                b'Z' => f.already_won = true,
                // A flag a later memcached may add: kept in `tokens`, not refused.
                _ => {}
            }
        }
        Ok(f)
    }

    /// The key as stored: `key` itself, or decoded into `buf` when it is base64.
    /// `None` without a `k` flag or when the base64 does not decode.
    pub fn decoded_key<'b>(&self, buf: &'b mut [u8; MAX_KEY_LENGTH]) -> Option<&'b [u8]>
    where
        'a: 'b,
    {
        let key = self.key?;
        if !self.base64_key {
            return Some(key);
        }
        let n = base64::decode(key, buf)?;
        Some(&buf[..n])
    }
}

/// The first space-separated token of `s` and what follows it.
fn first_token(s: &[u8]) -> (&[u8], &[u8]) {
    let start = s.iter().position(|&b| b != b' ').unwrap_or(s.len());
    let s = &s[start..];
    match s.iter().position(|&b| b == b' ') {
        Some(space) => (&s[..space], &s[space + 1..]),
        None => (s, &s[s.len()..]),
    }
}

/// Reads the meta reply line at the front of `buf`.
///
/// Never panics, never allocates, and never looks past the first line: the value after
/// a `VA` need not be buffered yet.
pub fn parse(buf: &[u8]) -> Result<Parsed<Reply<'_>>, ReplyError> {
    let Some((text, used)) = line(buf)? else {
        return Ok(Parsed::NeedMore);
    };
    let (code, rest) = first_token(text);
    let mut frame = Frame::line(used);
    let (status, flags) = match code {
        b"VA" => {
            let (len, flags) = first_token(rest);
            let len = unsigned(len)
                .and_then(|n| usize::try_from(n).ok())
                .ok_or(ReplyError::BadNumber)?;
            frame = Frame::with_data(used, len, DATA_END.len())?;
            (Status::Value(len), flags)
        }
        b"HD" => (Status::Stored, rest),
        b"EN" => (Status::Miss, rest),
        b"NF" => (Status::NotFound, rest),
        b"NS" => (Status::NotStored, rest),
        b"EX" => (Status::Exists, rest),
        b"MN" => (Status::NoOp, &rest[rest.len()..]),
        b"ME" => {
            let (key, fields) = first_token(rest);
            if key.is_empty() {
                return Err(ReplyError::BadLine);
            }
            (Status::Debug { key, fields }, &rest[rest.len()..])
        }
        _ => match error_reply(text) {
            Some(error) => (Status::Failed(error), &rest[rest.len()..]),
            None => return Err(ReplyError::UnknownStatus),
        },
    };
    Ok(Parsed::Reply {
        reply: Reply {
            status,
            flags: ReturnFlags::parse(flags)?,
        },
        frame,
    })
}
