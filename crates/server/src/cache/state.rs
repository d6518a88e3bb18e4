//! What a cache session's handler remembers between calls: which protocol the
//! connection speaks, and the command in progress (a value being read into its
//! reservation, a multi-get paused at the output watermark).
//!
//! Everything else about a request lives in the input buffer until it is answered.

use super::dump::{Dump, Limits, Progress};
use super::log_line::Peer;
use super::tier::Expect;
use super::waiting::{Then, Waiting};
use super::watch::Watching;
use crate::runtime::{Context, Verdict};
use crate::ProtocolMode;
use protocol::binary::StoreKind;
use store::{External, Reservation, StoreMode};

/// The context cache handlers get.
pub(crate) type Cx<'a> = Context<'a, CacheHandler>;

/// The handler of a cache session (or of one datagram): text, meta and binary.
pub struct CacheHandler {
    pub(crate) dialect: Dialect,
    pub(crate) state: State,
    /// Logged in (`-Y`, `-S`), or no login asked for.
    pub(crate) login: Login,
    /// The client, as `watch` logs it (`cfd=`, `rip=`).
    pub(crate) peer: Peer,
}

/// A connection's login (`-Y`, `-S`).
#[derive(Default)]
pub(crate) struct Login {
    /// Logged in, or no login asked for: requests are served.
    pub(crate) authenticated: bool,
    /// SASL CRAM-MD5: the challenge sent, awaiting its step.
    pub(crate) challenge: Option<Box<[u8]>>,
}

impl Login {
    fn new(authenticated: bool) -> Login {
        Login {
            authenticated,
            challenge: None,
        }
    }
}

impl CacheHandler {
    /// A handler for a new connection: `mode` says how its first byte picks a protocol;
    /// `login` that it must log in first (`-Y`, `-S`).
    pub(crate) fn new(mode: ProtocolMode, login: bool, peer: Peer) -> CacheHandler {
        let dialect = match mode {
            ProtocolMode::Auto => Dialect::Undecided,
            ProtocolMode::Ascii => Dialect::Text,
            ProtocolMode::Binary => Dialect::Binary,
        };
        CacheHandler {
            dialect,
            state: State::Idle,
            login: Login::new(!login),
            peer,
        }
    }

    /// A handler for one datagram, whose first byte picked its protocol, from socket
    /// `fd`.
    pub(crate) fn datagram(binary: bool, fd: i64) -> CacheHandler {
        CacheHandler {
            dialect: if binary {
                Dialect::Binary
            } else {
                Dialect::Text
            },
            state: State::Idle,
            // UDP is refused at start with -Y and -S.
            login: Login::new(true),
            peer: Peer {
                addr: None,
                transport: b"udp",
                cfd: fd,
            },
        }
    }
}

/// Which protocol family a connection speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// Decided by the first byte: 0x80 is a binary request magic (memcached's `-B auto`).
    Undecided,
    /// Classic text and meta commands.
    Text,
    /// memcached's binary protocol.
    Binary,
}

/// The command in progress.
pub(crate) enum State {
    /// Between requests.
    Idle,
    /// A storage command whose value the session is reading into `reservation`.
    Value {
        reservation: Reservation<'static>,
        finish: Finish,
    },
    /// A text multi-get stopped at the output high watermark; its line is still at the
    /// head of the input, answered up to the key `resume` bytes into it.
    Lookups { resume: usize },
    /// Parked on disk reads (`tier.rs`): replies waiting for their values.
    Disk(Box<Waiting>),
    /// A key dump paused at the output high watermark (`dump.rs`); its line is still at
    /// the head of the input.
    Dump(Dump),
    /// The connection watches the log (`watch.rs`).
    Watching(Box<Watching>),
}

/// How a value read into its reservation is committed and answered, per protocol.
pub(crate) enum Finish {
    /// A classic storage command (`exptime` as given, for `watch mutations`).
    Text {
        mode: StoreMode,
        noreply: bool,
        exptime: i64,
    },
    /// A meta `ms`; its line is kept to compose the reply.
    Meta { line: Box<[u8]> },
    /// A binary storage command (its value has no terminator).
    Binary(BinaryCommit),
}

impl Finish {
    /// Bytes after the value on the wire: "\r\n" for text and meta, none for binary.
    pub(crate) fn terminator_len(&self) -> usize {
        match self {
            Finish::Text { .. } | Finish::Meta { .. } => 2,
            Finish::Binary(_) => 0,
        }
    }
}

/// What a binary storage command needs to commit and answer once its value is in.
pub(crate) struct BinaryCommit {
    pub(crate) opcode: u8,
    pub(crate) opaque: u32,
    pub(crate) kind: StoreKind,
    pub(crate) mode: StoreMode,
    pub(crate) quiet: bool,
    /// The expiry as given, for `watch mutations`.
    pub(crate) exptime: i64,
}

impl State {
    /// Where a dump step leaves the command: paused (kept here, `Continue`) or answered.
    pub(crate) fn after_dump(&mut self, progress: Progress) -> Verdict {
        match progress {
            Progress::Answered(verdict) => {
                *self = State::Idle;
                verdict
            }
            Progress::Paused(dump) => {
                *self = State::Dump(dump);
                Verdict::Continue
            }
        }
    }

    /// What a dump needs of the server, from a handler's context.
    pub(crate) fn dump_limits<'a>(cx: &Cx<'a>) -> Limits<'a> {
        Limits {
            store: cx.service().store,
            enabled: cx.config().dump_enabled,
            crawler: cx.config().subsystems.lru_crawler,
            high: cx.config().output_high_watermark,
        }
    }

    /// Parks the request at the head of the input (line and data kept) until the value
    /// of `key`, on disk at `ext`, is read back into RAM; then the request runs again,
    /// now against a value in RAM. None when that cannot be (a datagram, no disk tier,
    /// the key changed meanwhile, or no read buffer free within `ext_read_mem`): the
    /// caller answers as memcached does for a value on disk. Looping is bounded in practice: the value comes back into an open segment,
    /// which the background writer never takes from, and the request runs again at once.
    pub(crate) fn park_recache(
        &mut self,
        key: &[u8],
        ext: External,
        cx: &Cx<'_>,
    ) -> Option<Verdict> {
        let cache = cx.service();
        let tier = cache.tier.as_ref()?;
        let ticket = cx.ticket()?;
        let item = cache.store.peek(key)?;
        if item.external() != Some(ext) {
            return None;
        }
        let mut waiting = Waiting::new(Then::Again);
        if !waiting.push_recache(tier, ticket, key, ext, Expect::of(&item, ext)) {
            return None; // no read buffer free (get_oom_extstore)
        }
        *self = State::Disk(Box::new(waiting));
        Some(Verdict::Park { consumed: 0 })
    }
}
