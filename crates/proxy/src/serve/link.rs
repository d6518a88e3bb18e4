//! One connection to a backend, as the worker's clients see it: the requests waiting to
//! be handed to its session (`outgoing`), the requests sent and not yet answered, in
//! order (`inflight`: a backend answers in order, so the front one owns the next reply),
//! and the flow-control state that bounds both.
//!
//! The backend session itself (`backend.rs`) does the IO; this record lives in the
//! worker's state so that any client session of the worker can append a request to it
//! without a message per request.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use server::runtime::ConnId;

use super::message::{Failure, Sink};
use super::stats::BackendStats;

/// The most bytes a link queues for its backend before clients wait: past this, the
/// backend is slow to read and more requests would only grow memory.
pub const SEND_HIGH: usize = 1 << 20;

/// How many connections a backend may have per worker beyond `server_connections` while
/// some are paused by clients that do not read (each paused one makes room for one more,
/// up to this many).
pub const PAUSED_SPARE: usize = 4;

/// How the reply to a request is framed on the backend connection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// One text line (`STORED`, `DELETED`, a number, `OK`, an error...).
    Line,
    /// A text retrieval: `VALUE` blocks until `END` (or one error line).
    Retrieval,
    /// One meta reply (`VA` with its value, or one line).
    Meta,
    /// Everything up to the `MN` the proxy sent after a quiet request (text `noreply`,
    /// meta `q`): the replies memcached still sends for it, if any. The `MN` is dropped.
    /// `meta` says which parser reads those replies.
    UntilNoop { meta: bool },
}

/// A request sent (or queued) on a link, waiting for its reply.
#[derive(Clone, Copy, Debug)]
pub struct Pending {
    pub sink: Sink,
    pub expect: Expect,
    /// When it was queued: its latency and its timeout count from here.
    pub sent: Instant,
    /// Its size, for the stats' in-flight bytes.
    pub bytes: u32,
}

/// Where a link stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkState {
    /// Opened; the connection completes in the background.
    Connecting,
    /// A reply has come back: the connection works.
    Up,
    /// No longer used for new requests (a reload removed or changed its backend, or it
    /// is a probe): closes once its last reply has come.
    Retiring,
}

/// One backend connection's shared state.
pub struct Link {
    /// Its session.
    pub id: ConnId,
    /// Its backend's flat index in the worker's configuration.
    pub backend: usize,
    pub state: LinkState,
    /// Requests not yet handed to the session.
    pub outgoing: Vec<u8>,
    /// A `Kick` is on its way: appending more needs no other.
    pub kicked: bool,
    /// Requests sent or queued, oldest first.
    pub inflight: VecDeque<Pending>,
    /// Bytes the session has queued and not yet written, as of its last turn.
    pub unsent: usize,
    /// A client is streaming a large value through this link: nothing else may be
    /// appended until it is done.
    pub streaming: Option<ConnId>,
    /// Opened past `server_connections` for one large value, so that a client sending
    /// it slowly holds up nobody else: it retires once the value is through.
    pub spare: bool,
    /// Clients waiting for room (or for the stream to end), to wake with `Room`.
    pub waiters: Vec<ConnId>,
    /// A client whose output is full made the link stop reading; it sends `Unpause`.
    pub paused_by: Option<ConnId>,
    /// Why the link is closing, for the requests still in flight.
    pub failure: Failure,
    /// The deadline the session has armed, if any.
    pub deadline: Option<Instant>,
    /// Its backend's counters (kept by the link: a reload may take the backend away
    /// while requests are still in flight).
    pub stats: Arc<BackendStats>,
}

impl Link {
    pub fn new(backend: usize, outgoing: Vec<u8>, stats: Arc<BackendStats>) -> Link {
        Link {
            id: ConnId::new(u32::MAX, u32::MAX),
            backend,
            state: LinkState::Connecting,
            outgoing,
            kicked: false,
            inflight: VecDeque::new(),
            unsent: 0,
            streaming: None,
            spare: false,
            waiters: Vec::new(),
            paused_by: None,
            failure: Failure::Closed,
            deadline: None,
            stats,
        }
    }

    /// Whether `client` may append a request now. A paused link takes none: a request
    /// queued behind the slow client's replies would wait for that client to read.
    #[inline]
    pub fn open_to(&self, client: ConnId) -> bool {
        self.state != LinkState::Retiring
            && self.paused_by.is_none()
            && self.streaming.is_none_or(|s| s == client)
            && self.unsent + self.outgoing.len() < SEND_HIGH
    }

    /// How busy it is, to pick the least busy link of a backend.
    #[inline]
    pub fn load(&self) -> usize {
        self.inflight.len()
    }
}
