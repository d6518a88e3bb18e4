//! Request lines, appended to an output buffer. Numbers are formatted on the stack, so
//! once the buffer has grown nothing allocates.

use crate::client::push_number;
use crate::text::{GetKind, StoreCommand};

const LINE_END: &[u8] = b"\r\n";

fn end(out: &mut Vec<u8>, noreply: bool) {
    if noreply {
        out.extend_from_slice(b" noreply");
    }
    out.extend_from_slice(LINE_END);
}

fn push_keys<K: AsRef<[u8]>>(out: &mut Vec<u8>, keys: impl IntoIterator<Item = K>) {
    for key in keys {
        out.push(b' ');
        out.extend_from_slice(key.as_ref());
    }
}

/// `get|gets <key>*`: memcached answers a `VALUE` per hit, then `END`.
pub fn write_get<K: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    kind: GetKind,
    keys: impl IntoIterator<Item = K>,
) {
    out.extend_from_slice(match kind {
        GetKind::Get => b"get".as_slice(),
        GetKind::Gets => b"gets",
    });
    push_keys(out, keys);
    out.extend_from_slice(LINE_END);
}

/// `gat|gats <exptime> <key>*`: a get that also sets each hit's expiry.
pub fn write_gat<K: AsRef<[u8]>>(
    out: &mut Vec<u8>,
    kind: GetKind,
    exptime: i64,
    keys: impl IntoIterator<Item = K>,
) {
    out.extend_from_slice(match kind {
        GetKind::Get => b"gat ".as_slice(),
        GetKind::Gets => b"gats ",
    });
    push_number(out, exptime);
    push_keys(out, keys);
    out.extend_from_slice(LINE_END);
}

/// A storage command's line. The data block follows it: `bytes` bytes of value, then
/// [`DATA_END`](crate::client::DATA_END).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Store<'a> {
    pub command: StoreCommand,
    pub key: &'a [u8],
    pub flags: u32,
    pub exptime: i64,
    pub bytes: usize,
    /// The CAS unique to compare; written for [`StoreCommand::Cas`] only.
    pub cas: u64,
    pub noreply: bool,
}

impl<'a> Store<'a> {
    /// `command key 0 0 bytes`: flags 0, no expiry, CAS 0, a reply wanted.
    pub fn new(command: StoreCommand, key: &'a [u8], bytes: usize) -> Self {
        Store {
            command,
            key,
            flags: 0,
            exptime: 0,
            bytes,
            cas: 0,
            noreply: false,
        }
    }
}

/// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]`, or
/// `cas <key> <flags> <exptime> <bytes> <cas> [noreply]`.
pub fn write_store(out: &mut Vec<u8>, store: &Store<'_>) {
    out.extend_from_slice(match store.command {
        StoreCommand::Set => b"set ".as_slice(),
        StoreCommand::Add => b"add ",
        StoreCommand::Replace => b"replace ",
        StoreCommand::Append => b"append ",
        StoreCommand::Prepend => b"prepend ",
        StoreCommand::Cas => b"cas ",
    });
    out.extend_from_slice(store.key);
    out.push(b' ');
    push_number(out, store.flags);
    out.push(b' ');
    push_number(out, store.exptime);
    out.push(b' ');
    push_number(out, store.bytes);
    if store.command == StoreCommand::Cas {
        out.push(b' ');
        push_number(out, store.cas);
    }
    end(out, store.noreply);
}

/// `delete <key> [noreply]`.
pub fn write_delete(out: &mut Vec<u8>, key: &[u8], noreply: bool) {
    out.extend_from_slice(b"delete ");
    out.extend_from_slice(key);
    end(out, noreply);
}

/// `incr|decr <key> <delta> [noreply]`.
pub fn write_delta(out: &mut Vec<u8>, incr: bool, key: &[u8], delta: u64, noreply: bool) {
    out.extend_from_slice(if incr { b"incr " } else { b"decr " });
    out.extend_from_slice(key);
    out.push(b' ');
    push_number(out, delta);
    end(out, noreply);
}

/// `touch <key> <exptime> [noreply]`.
pub fn write_touch(out: &mut Vec<u8>, key: &[u8], exptime: i64, noreply: bool) {
    out.extend_from_slice(b"touch ");
    out.extend_from_slice(key);
    out.push(b' ');
    push_number(out, exptime);
    end(out, noreply);
}

/// `flush_all [delay] [noreply]`.
pub fn write_flush_all(out: &mut Vec<u8>, delay: Option<i64>, noreply: bool) {
    out.extend_from_slice(b"flush_all");
    if let Some(delay) = delay {
        out.push(b' ');
        push_number(out, delay);
    }
    end(out, noreply);
}

/// `version`: answered `VERSION <x.y.z>`.
pub fn write_version(out: &mut Vec<u8>) {
    out.extend_from_slice(b"version\r\n");
}

/// `verbosity <level> [noreply]`: answered `OK`.
pub fn write_verbosity(out: &mut Vec<u8>, level: u32, noreply: bool) {
    out.extend_from_slice(b"verbosity ");
    push_number(out, level);
    end(out, noreply);
}

/// `stats [args]` (`args` empty for plain `stats`, else e.g. `settings`, `detail on`):
/// answered with `STAT` lines and `END`, or `OK`/`RESET` for the switches.
pub fn write_stats(out: &mut Vec<u8>, args: &[u8]) {
    out.extend_from_slice(b"stats");
    if !args.is_empty() {
        out.push(b' ');
        out.extend_from_slice(args);
    }
    out.extend_from_slice(LINE_END);
}

/// `quit`: the server closes the connection without a reply.
pub fn write_quit(out: &mut Vec<u8>) {
    out.extend_from_slice(b"quit\r\n");
}

/// `shutdown [graceful]`: honoured only by a server started with `-A`.
pub fn write_shutdown(out: &mut Vec<u8>, graceful: bool) {
    out.extend_from_slice(if graceful {
        b"shutdown graceful\r\n".as_slice()
    } else {
        b"shutdown\r\n"
    });
}
