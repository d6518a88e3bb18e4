//! Meta reply lines: a two-letter status, then the return flags the request asked for,
//! in the order it asked for them, then the server's `Z X W` flags.

use super::base64;
use super::flags::Flags;

/// The status code opening a reply line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// `VA <len>`: a value of this length follows the line.
    Value(usize),
    /// `HD`: success, no value.
    Stored,
    /// `EN`: miss (mg).
    Miss,
    /// `NF`: not found.
    NotFound,
    /// `NS`: not stored.
    NotStored,
    /// `EX`: CAS mismatch.
    Exists,
}

/// What the server knows about the item, for the return flags. A flag whose fact is
/// `None` is not echoed (that command does not return it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Facts<'k> {
    pub size: Option<usize>,
    pub ttl: Option<i64>,
    pub cas: Option<u64>,
    pub client_flags: Option<u32>,
    pub last_access: Option<u64>,
    pub hit_before: Option<bool>,
    /// The key to echo for `k` (decoded); re-encoded with a ` b` when `binary_key`.
    pub key: Option<&'k [u8]>,
    pub binary_key: bool,
    /// `Z`: a win token had already been handed out.
    pub already_won: bool,
    /// `X`: the item is stale.
    pub stale: bool,
    /// `W`: this client won the right to recache.
    pub won: bool,
}

fn number(out: &mut Vec<u8>, flag: u8, n: impl itoa::Integer) {
    out.push(b' ');
    out.push(flag);
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends one reply line (with "\r\n"); a `VA` value is the caller's to append.
pub fn write_status(out: &mut Vec<u8>, status: Status, flags: &Flags<'_>, facts: &Facts<'_>) {
    match status {
        Status::Value(len) => {
            out.extend_from_slice(b"VA ");
            out.extend_from_slice(itoa::Buffer::new().format(len).as_bytes());
        }
        Status::Stored => out.extend_from_slice(b"HD"),
        Status::Miss => out.extend_from_slice(b"EN"),
        Status::NotFound => out.extend_from_slice(b"NF"),
        Status::NotStored => out.extend_from_slice(b"NS"),
        Status::Exists => out.extend_from_slice(b"EX"),
    }
    for (flag, _) in flags.order() {
        match flag {
            b's' => facts.size.map(|v| number(out, b's', v)),
            b't' => facts.ttl.map(|v| number(out, b't', v)),
            b'c' => facts.cas.map(|v| number(out, b'c', v)),
            b'f' => facts.client_flags.map(|v| number(out, b'f', v)),
            b'l' => facts.last_access.map(|v| number(out, b'l', v)),
            b'h' => facts.hit_before.map(|v| number(out, b'h', u8::from(v))),
            b'O' => flags.opaque.map(|o| {
                out.push(b' ');
                out.extend_from_slice(o);
            }),
            b'k' => facts.key.map(|k| {
                out.extend_from_slice(b" k");
                if facts.binary_key {
                    base64::encode(k, out);
                    out.extend_from_slice(b" b");
                } else {
                    out.extend_from_slice(k);
                }
            }),
            _ => None,
        };
    }
    // memcached's order: Z before X, W last.
    if facts.already_won {
        out.extend_from_slice(b" Z");
    }
    if facts.stale {
        out.extend_from_slice(b" X");
    }
    if facts.won {
        out.extend_from_slice(b" W");
    }
    out.extend_from_slice(b"\r\n");
}

/// What `me` reports about an item.
#[derive(Clone, Copy, Debug)]
pub struct Debug<'k> {
    pub key: &'k [u8],
    pub binary_key: bool,
    /// memcached prints `now - exptime`: minus the remaining TTL, or -1 for none.
    pub exp: i64,
    pub last_access: u64,
    pub cas: u64,
    pub fetched: bool,
    pub class: u32,
    pub size: usize,
}

/// Appends the `me` line: `ME <key> exp=.. la=.. cas=.. fetch=yes|no cls=.. size=..`.
pub fn write_debug(out: &mut Vec<u8>, d: &Debug<'_>) {
    out.extend_from_slice(b"ME ");
    if d.binary_key {
        base64::encode(d.key, out);
    } else {
        out.extend_from_slice(d.key);
    }
    let mut b = itoa::Buffer::new();
    out.extend_from_slice(b" exp=");
    out.extend_from_slice(b.format(d.exp).as_bytes());
    out.extend_from_slice(b" la=");
    out.extend_from_slice(b.format(d.last_access).as_bytes());
    out.extend_from_slice(b" cas=");
    out.extend_from_slice(b.format(d.cas).as_bytes());
    out.extend_from_slice(if d.fetched {
        b" fetch=yes".as_slice()
    } else {
        b" fetch=no".as_slice()
    });
    out.extend_from_slice(b" cls=");
    out.extend_from_slice(b.format(d.class).as_bytes());
    out.extend_from_slice(b" size=");
    out.extend_from_slice(b.format(d.size).as_bytes());
    out.extend_from_slice(b"\r\n");
}
