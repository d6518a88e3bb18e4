//! The flags of a meta request: single letters, some carrying a token (`T30`, `Oabc`).

use super::base64;
use super::command::Command;
use super::error::MetaError;
use super::number;
use crate::text::MAX_KEY_LENGTH;

/// The flags given, parsed. Token flags hold their value; return flags are echoed in
/// the order of [`Flags::order`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Flags<'a> {
    /// The flag tokens as sent, in order (for composing return flags).
    pub(crate) tokens: &'a [u8],
    /// `b`: the key is base64.
    pub base64: bool,
    /// `c`: return the CAS.
    pub cas: bool,
    /// `f`: return the client flags.
    pub client_flags: bool,
    /// `h`: return whether the item was fetched before.
    pub hit_before: bool,
    /// `k`: return the key.
    pub key: bool,
    /// `l`: return seconds since last access.
    pub last_access: bool,
    /// `O`: opaque token to echo (with its `O`).
    pub opaque: Option<&'a [u8]>,
    /// `q`: quiet, suppress the nominal reply.
    pub quiet: bool,
    /// `s`: return the value's size.
    pub size: bool,
    /// `t`: return the remaining TTL.
    pub ttl: bool,
    /// `u`: do not bump the item (no access time, no fetched mark).
    pub no_bump: bool,
    /// `v`: return the value.
    pub value: bool,
    /// `x` (md): keep the item but drop its value.
    pub remove_value: bool,
    /// `I`: invalidate.
    pub invalidate: bool,
    /// `N<ttl>`: vivify on miss with this exptime.
    pub vivify: Option<i64>,
    /// `R<ttl>`: win the recache token when the remaining TTL is below this.
    pub recache: Option<i64>,
    /// `T<ttl>`: new exptime.
    pub set_ttl: Option<i64>,
    /// `C<cas>`: compare CAS.
    pub compare_cas: Option<u64>,
    /// `E<cas>`: use this as the new CAS.
    pub new_cas: Option<u64>,
    /// `F<flags>`: client flags to store.
    pub set_client_flags: Option<u32>,
    /// `M<mode>`: the mode character.
    pub mode: Option<u8>,
    /// `J<n>`: ma initial value.
    pub initial: Option<u64>,
    /// `D<n>`: ma delta.
    pub delta: Option<u64>,
    pub(crate) decoded_len: u8,
}

/// An `ms` or `ma` mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// ms `E`: add.
    Add,
    /// ms `A`: append.
    Append,
    /// ms `P`: prepend.
    Prepend,
    /// ms `R`: replace.
    Replace,
    /// ms `S`: set (the default).
    Set,
    /// ma `I` or `+`: increment (the default).
    Incr,
    /// ma `D` or `-`: decrement.
    Decr,
}

impl Mode {
    /// The `ms` mode named by `c`.
    pub fn set(c: u8) -> Option<Mode> {
        Some(match c {
            b'E' => Mode::Add,
            b'A' => Mode::Append,
            b'P' => Mode::Prepend,
            b'R' => Mode::Replace,
            b'S' => Mode::Set,
            _ => return None,
        })
    }

    /// The `ma` mode named by `c`.
    pub fn arithmetic(c: u8) -> Option<Mode> {
        Some(match c {
            b'I' | b'+' => Mode::Incr,
            b'D' | b'-' => Mode::Decr,
            _ => return None,
        })
    }
}

impl<'a> Flags<'a> {
    /// The flag letters in request order, each with its token (without the letter).
    pub fn order(&self) -> impl Iterator<Item = (u8, &'a [u8])> {
        self.tokens
            .split(|&b| b == b' ')
            .filter(|t| !t.is_empty())
            .map(|t| (t[0], &t[1..]))
    }

    /// memcached's flag pre-parse: a repeated or unknown flag stops at once; a bad token
    /// is remembered (the last one wins) and parsing goes on. `b` decodes `key` into
    /// `decoded` where it stands.
    pub(crate) fn parse(
        command: Command,
        tokens: &'a [u8],
        key: &[u8],
        decoded: &mut [u8; MAX_KEY_LENGTH],
    ) -> Result<Flags<'a>, MetaError> {
        let mut f = Flags {
            tokens,
            ..Flags::default()
        };
        let mut seen = [false; 128];
        let mut soft: Option<MetaError> = None;
        let mut failed = false;
        for token in tokens.split(|&b| b == b' ').filter(|t| !t.is_empty()) {
            let o = token[0];
            // memcached treats bytes >= 127 like a repeat.
            if o >= 127 || seen[usize::from(o)] {
                return Err(MetaError::DuplicateFlag);
            }
            seen[usize::from(o)] = true;
            let arg = &token[1..];
            let mut bad = |e: Option<MetaError>| {
                failed = true;
                if e.is_some() {
                    soft = e;
                }
            };
            match o {
                b'b' => match base64::decode(key, decoded) {
                    Some(n) if n > 0 => {
                        f.base64 = true;
                        f.decoded_len = n as u8;
                    }
                    _ => {
                        f.base64 = true;
                        bad(Some(MetaError::DecodingKey))
                    }
                },
                b'N' | b'T' | b'R' => match number::i32_token(arg) {
                    Some(v) => {
                        let v = Some(i64::from(v));
                        match o {
                            b'N' => f.vivify = v,
                            b'T' => f.set_ttl = v,
                            _ => f.recache = v,
                        }
                    }
                    None => bad(Some(MetaError::BadToken)),
                },
                b'l' => f.last_access = true,
                b'O' => f.opaque = Some(token),
                // Proxy hints memcached accepts and ignores.
                b'P' | b'L' => {}
                b'k' => f.key = true,
                b's' => f.size = true,
                b't' => f.ttl = true,
                b'c' => f.cas = true,
                b'f' => f.client_flags = true,
                b'v' => f.value = true,
                b'h' => f.hit_before = true,
                b'u' => f.no_bump = true,
                b'q' => f.quiet = true,
                // memcached leaves the default error for a bad F.
                b'F' => match number::u64_token(arg) {
                    Some(v) => f.set_client_flags = Some(v as u32),
                    None => bad(None),
                },
                b'C' | b'E' => match number::u64_token(arg) {
                    Some(v) if o == b'C' => f.compare_cas = Some(v),
                    Some(v) => f.new_cas = Some(v),
                    None => bad(Some(MetaError::BadToken)),
                },
                b'M' => {
                    if token.len() != 2 {
                        bad(Some(MetaError::MTokenLength))
                    } else {
                        f.mode = Some(token[1]);
                    }
                }
                b'J' => match number::u64_token(arg) {
                    Some(v) => f.initial = Some(v),
                    None => bad(Some(MetaError::InvalidInitial)),
                },
                b'D' => match number::u64_token(arg) {
                    Some(v) => f.delta = Some(v),
                    None => bad(Some(MetaError::InvalidDelta)),
                },
                b'I' => f.invalidate = true,
                b'x' if command == Command::Delete => f.remove_value = true,
                _ => return Err(MetaError::InvalidFlag),
            }
        }
        if failed {
            return Err(soft.unwrap_or(MetaError::BadCommandLineFormat));
        }
        Ok(f)
    }
}
