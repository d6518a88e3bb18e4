//! The requests a classic text line can carry, borrowed from the read buffer.

use super::tokens::Keys;

/// One parsed command line. Keys and arguments borrow from the buffer given to
/// [`parse`](super::parse); nothing is copied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request<'a> {
    /// `get`/`gets` (and memcached's undocumented alias `bget`). Every key is 1..=250
    /// bytes; there may be any number of them.
    Get { kind: GetKind, keys: Keys<'a> },
    /// `gat`/`gats <exptime> <key>*`. `keys` may be empty (memcached answers `END`).
    Gat {
        kind: GetKind,
        exptime: i64,
        keys: Keys<'a>,
    },
    /// `set|add|replace|append|prepend <key> <flags> <exptime> <bytes> [noreply]` and
    /// `cas <key> <flags> <exptime> <bytes> <cas> [noreply]`. `bytes` + 2 bytes of data
    /// follow the line; `cas` is 0 unless `command` is `Cas`.
    Store {
        command: StoreCommand,
        key: &'a [u8],
        flags: u32,
        exptime: i64,
        bytes: usize,
        cas: u64,
        noreply: bool,
    },
    /// `delete <key> [0] [noreply]`.
    Delete { key: &'a [u8], noreply: bool },
    /// `incr`/`decr <key> <delta> [noreply]`.
    Delta {
        incr: bool,
        key: &'a [u8],
        delta: u64,
        noreply: bool,
    },
    /// `touch <key> <exptime> [noreply]`.
    Touch {
        key: &'a [u8],
        exptime: i64,
        noreply: bool,
    },
    /// `flush_all [delay] [noreply]`; no delay is 0.
    FlushAll { exptime: i64, noreply: bool },
    /// `version` (any arguments are ignored, as memcached does).
    Version,
    /// `verbosity <level> [noreply]`.
    Verbosity { noreply: bool },
    /// `quit` (any arguments are ignored).
    Quit,
    /// `shutdown` or `shutdown graceful`. Only valid with `-A`: without it the server
    /// answers [`SHUTDOWN_NOT_ENABLED`](super::SHUTDOWN_NOT_ENABLED).
    Shutdown { graceful: bool },
    /// `stats [args]`: the tokens after `stats` (empty for plain `stats`).
    Stats { args: Keys<'a> },
    /// `watch [streams]`: turns the connection into a log watcher (memcached's log
    /// streams: `fetchers`, `mutations`, ...); the tokens after `watch`, and whether the
    /// last is `noreply`.
    Watch { args: Keys<'a>, noreply: bool },
    /// `refresh_certs`: reload the TLS certificate and key (arguments ignored).
    RefreshCerts,
    /// `lru_crawler <args>`: likewise only the `metadump` refusal under `-X`.
    LruCrawler { args: Keys<'a> },
    /// `extstore <option> <value>`: changes a disk-tier tunable (`OK`, or `ERROR`).
    Extstore { args: Keys<'a> },
    /// `slabs <args>` (`automove`, `reassign`): the tokens after `slabs`, and whether
    /// the last is `noreply`.
    Slabs { args: Keys<'a>, noreply: bool },
}

/// Whether a retrieval returns CAS uniques.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GetKind {
    Get,
    Gets,
}

/// Which storage command a [`Request::Store`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreCommand {
    Set,
    Add,
    Replace,
    Append,
    Prepend,
    Cas,
}
