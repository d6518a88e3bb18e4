//! Meta request lines: the command, the key, a data length for `ms`, then flags in the
//! order given.

use super::super::{base64, Mode};
use crate::client::push_number;

/// One flag of a meta request. Return flags ask the server to echo a fact; the others
/// carry a token that changes what the command does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flag<'a> {
    /// `b`: the key is base64 (see [`encode_key`]); keys come back encoded too.
    Base64Key,
    /// `c`: return the CAS.
    ReturnCas,
    /// `f`: return the client flags.
    ReturnClientFlags,
    /// `h`: return whether the item was fetched before (`h0`/`h1`).
    ReturnHit,
    /// `k`: return the key.
    ReturnKey,
    /// `l`: return seconds since the last access.
    ReturnLastAccess,
    /// `s`: return the value's size.
    ReturnSize,
    /// `t`: return the remaining TTL (`-1`: none).
    ReturnTtl,
    /// `v`: return the value (`mg`, `ma`).
    ReturnValue,
    /// `q`: quiet: no reply in the common case (`EN` for `mg`, `HD` for `ms`/`md`,
    /// `NF` for `md`); errors are always sent. End a quiet batch with `mn`.
    Quiet,
    /// `u`: do not bump the item in the LRU.
    NoBump,
    /// `I`: invalidate (`md`: mark stale; `ms`: store only if the CAS is older).
    Invalidate,
    /// `x` (`md`): keep the item, drop its value.
    RemoveValue,
    /// `O<token>`: echoed back, to match replies to requests (at most 32 bytes).
    Opaque(&'a [u8]),
    /// `T<ttl>`: new expiry.
    Ttl(i64),
    /// `N<ttl>`: create the item on a miss (`mg`, `ma`), or on an append to nothing (`ms`).
    Vivify(i64),
    /// `R<ttl>`: win the right to recache when the TTL left is below this.
    Recache(i64),
    /// `C<cas>`: compare this CAS.
    CompareCas(u64),
    /// `E<cas>`: use this as the item's new CAS.
    NewCas(u64),
    /// `F<flags>`: client flags to store (`ms`).
    ClientFlags(u32),
    /// `M<mode>`: `ms` (add, append, prepend, replace, set) or `ma` (incr, decr) mode.
    Mode(Mode),
    /// `J<n>`: initial value when `ma` creates the item.
    Initial(u64),
    /// `D<n>`: the amount `ma` adds or subtracts.
    Delta(u64),
}

impl Flag<'_> {
    fn write(&self, out: &mut Vec<u8>) {
        out.push(b' ');
        let letter = match *self {
            Flag::Base64Key => b'b',
            Flag::ReturnCas => b'c',
            Flag::ReturnClientFlags => b'f',
            Flag::ReturnHit => b'h',
            Flag::ReturnKey => b'k',
            Flag::ReturnLastAccess => b'l',
            Flag::ReturnSize => b's',
            Flag::ReturnTtl => b't',
            Flag::ReturnValue => b'v',
            Flag::Quiet => b'q',
            Flag::NoBump => b'u',
            Flag::Invalidate => b'I',
            Flag::RemoveValue => b'x',
            Flag::Opaque(token) => {
                out.push(b'O');
                out.extend_from_slice(token);
                return;
            }
            Flag::Ttl(n) => return number(out, b'T', n),
            Flag::Vivify(n) => return number(out, b'N', n),
            Flag::Recache(n) => return number(out, b'R', n),
            Flag::CompareCas(n) => return number(out, b'C', n),
            Flag::NewCas(n) => return number(out, b'E', n),
            Flag::ClientFlags(n) => return number(out, b'F', n),
            Flag::Initial(n) => return number(out, b'J', n),
            Flag::Delta(n) => return number(out, b'D', n),
            Flag::Mode(mode) => {
                out.push(b'M');
                match mode {
                    Mode::Add => b'E',
                    Mode::Append => b'A',
                    Mode::Prepend => b'P',
                    Mode::Replace => b'R',
                    Mode::Set => b'S',
                    Mode::Incr => b'I',
                    Mode::Decr => b'D',
                }
            }
        };
        out.push(letter);
    }
}

fn number(out: &mut Vec<u8>, letter: u8, n: impl itoa::Integer) {
    out.push(letter);
    push_number(out, n);
}

fn command(out: &mut Vec<u8>, name: &[u8], key: &[u8]) {
    out.extend_from_slice(name);
    out.push(b' ');
    out.extend_from_slice(key);
}

fn flags_and_end(out: &mut Vec<u8>, flags: &[Flag<'_>]) {
    for flag in flags {
        flag.write(out);
    }
    out.extend_from_slice(b"\r\n");
}

/// `mg <key> <flags>*`: `VA` with a value, `HD` without (no `v`), `EN` on a miss.
pub fn write_get(out: &mut Vec<u8>, key: &[u8], flags: &[Flag<'_>]) {
    command(out, b"mg", key);
    flags_and_end(out, flags);
}

/// `ms <key> <datalen> <flags>*`: the data block follows, `datalen` bytes and
/// [`DATA_END`](crate::client::DATA_END). Answered `HD`, `NS`, `EX` or `NF`.
pub fn write_set(out: &mut Vec<u8>, key: &[u8], datalen: usize, flags: &[Flag<'_>]) {
    command(out, b"ms", key);
    out.push(b' ');
    push_number(out, datalen);
    flags_and_end(out, flags);
}

/// `md <key> <flags>*`: `HD`, `NF` or `EX`.
pub fn write_delete(out: &mut Vec<u8>, key: &[u8], flags: &[Flag<'_>]) {
    command(out, b"md", key);
    flags_and_end(out, flags);
}

/// `ma <key> <flags>*`: `HD` (or `VA` with the number under `v`), `NF`, `NS`, `EX`.
pub fn write_arithmetic(out: &mut Vec<u8>, key: &[u8], flags: &[Flag<'_>]) {
    command(out, b"ma", key);
    flags_and_end(out, flags);
}

/// `mn`: answered `MN`, after every reply to the requests before it.
pub fn write_noop(out: &mut Vec<u8>) {
    out.extend_from_slice(b"mn\r\n");
}

/// `me <key> [b]`: an item's metadata (`ME ...`), or `EN`.
pub fn write_debug(out: &mut Vec<u8>, key: &[u8], base64: bool) {
    command(out, b"me", key);
    out.extend_from_slice(if base64 {
        b" b\r\n".as_slice()
    } else {
        b"\r\n"
    });
}

/// Appends `key` in base64, for a request with [`Flag::Base64Key`] (keys holding spaces,
/// control bytes or binary data).
pub fn encode_key(key: &[u8], out: &mut Vec<u8>) {
    base64::encode(key, out);
}
