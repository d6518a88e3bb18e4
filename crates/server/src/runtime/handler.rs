//! What plugs into the runtime: a [`Handler`] per session (all protocol work, no IO), a
//! [`Service`] that makes handlers, optional [`Port`]s (event sources other than
//! sessions), and the [`Context`] the runtime lends a handler on every call.
//!
//! A handler is a state machine over the session's buffered input. Each call answers a
//! [`Verdict`]; the session acts on it (drops input, reads more, reads straight into the
//! handler's target, parks, closes). A line-echo handler, complete:
//!
//! ```
//! use channel::Payload;
//! use server::runtime::{Context, Handler, Reply, Service, Verdict};
//!
//! struct Echo;
//! struct EchoService;
//!
//! impl Service for EchoService {
//!     type Handler = Echo;
//!     type Local = ();
//!     fn local(&self, _worker: usize) {}
//!     fn accept(&self, _: &mut (), _: &channel::Stream) -> Echo { Echo }
//!     fn now(&self) -> u64 { 0 }
//! }
//!
//! impl Handler for Echo {
//!     type Service = EchoService;
//!     type Completion = ();
//!     type Payload = &'static [u8];
//!     fn step(&mut self, input: &[u8], reply: &mut Reply<'_, Self::Payload>,
//!             _cx: &mut Context<'_, Self>) -> Verdict {
//!         match input.iter().position(|&b| b == b'\n') {
//!             Some(end) => { reply.line(&input[..=end]); Verdict::Consumed(end + 1) }
//!             None => Verdict::NeedBytes(1),
//!         }
//!     }
//!     fn resume(&mut self, _: (), _: &[u8], _: &mut Reply<'_, Self::Payload>,
//!               _: &mut Context<'_, Self>) -> Verdict { Verdict::Continue }
//! }
//! ```

use super::agenda::Agenda;
use super::counters::{ConnInfo, RuntimeStats, WorkerCounters};
use super::id::ConnId;
use super::life::CloseReason;
use super::queue::{Message, RunQueue, Ticket};
use super::reply::Reply;
use super::shutdown::Shutdown;
use crate::ServerConfig;
use channel::{BufferPool, Payload, Stream};
use std::cmp::Reverse;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What carries a handler's input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// A session's byte stream: more input may come, parking is possible.
    Stream,
    /// One datagram: the input is all there will be; nothing can park or be read into a
    /// reservation.
    Datagram,
}

/// What a handler answers: what the session does next with the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// A request is answered: drop `n` bytes of input (its line, its data), then call
    /// `step` again once there is input.
    Consumed(usize),
    /// Progress without a finished request (a multi-get stopped at the output
    /// watermark): call `step` again as soon as the output allows, input or not.
    Continue,
    /// Nothing can be done before `n` more bytes are buffered.
    NeedBytes(usize),
    /// Drop `consumed` bytes, then read the next `len` bytes straight into
    /// [`Handler::target`], then call `step` again. With an empty buffer the session reads
    /// the target's tail and the next request in one `readv`.
    ReadInto {
        /// Bytes of input to drop first (the request's line or header).
        consumed: usize,
        /// Bytes to read into the target.
        len: usize,
    },
    /// Drop the next `n` bytes, some of them maybe not received yet (a refused value):
    /// the request is answered once they are gone.
    Swallow(usize),
    /// Drop `consumed` bytes and wait for a completion ([`Handler::resume`]): parse
    /// nothing more until then.
    Park {
        /// Bytes of input to drop first.
        consumed: usize,
    },
    /// Close once what is queued is written (`quit`, an error memcached closes on).
    Close,
    /// The input cannot be made sense of and memcached closes here. A stream still writes
    /// what is queued (use [`Reply::discard`] first to drop it); a datagram's replies are
    /// all dropped.
    Broken,
}

/// The protocol side of a session: parses input, does the work, composes replies. It
/// never does IO and never sees mio; the session around it does all of that.
///
/// It may: read the input it is given, write into the reply, use the context (its
/// service, worker-local state, tickets, worker-local completions, opening sessions,
/// deadlines). It must not block, and must answer every call with a verdict that makes
/// progress or waits for something that will come (input, a completion, output room).
pub trait Handler: Sized + 'static {
    /// What makes handlers of this type and is shared by all of them.
    type Service: Service<Handler = Self>;
    /// What resumes a parked handler; chosen by the handler (a disk read, a backend's
    /// reply...). Sent from other threads, hence `Send`.
    type Completion: Send + 'static;
    /// What replies queue by reference (a pinned cache item).
    type Payload: Payload + 'static;

    /// Answers from the buffered input (the whole unconsumed input, from its head).
    fn step(
        &mut self,
        input: &[u8],
        reply: &mut Reply<'_, Self::Payload>,
        cx: &mut Context<'_, Self>,
    ) -> Verdict;

    /// Continues where the handler parked: the session is active again and the verdict
    /// is acted on as `step`'s (`Continue` when it only queued replies). May park again (a
    /// multi-get waiting for several reads resumes once per read).
    ///
    /// Also takes messages sessions of the same worker send with [`Context::complete`],
    /// parked or not: a session that was not parked may be in the middle of anything
    /// (reading a value into its target), so answer `Continue`, which leaves the
    /// session's reading as it was.
    fn resume(
        &mut self,
        completion: Self::Completion,
        input: &[u8],
        reply: &mut Reply<'_, Self::Payload>,
        cx: &mut Context<'_, Self>,
    ) -> Verdict;

    /// Where [`Verdict::ReadInto`] bytes go: exactly `len` bytes (a store reservation).
    /// The bytes must stay where they are, and be left alone, until the value is complete
    /// (the next `step`) or [`Handler::gone`]: on the io_uring backend the kernel receives
    /// into them while the session waits.
    fn target(&mut self) -> &mut [u8] {
        &mut []
    }

    /// The deadline set with [`Context::set_deadline`] passed. Default: close.
    fn expired(
        &mut self,
        _input: &[u8],
        _reply: &mut Reply<'_, Self::Payload>,
        _cx: &mut Context<'_, Self>,
    ) -> Verdict {
        Verdict::Close
    }

    /// The session is closing, for `why`; called once, just before [`Handler::gone`].
    fn closing(&mut self, _why: CloseReason, _cx: &mut Context<'_, Self>) {}

    /// The session is closing and its client will read nothing more: release whatever
    /// is held (pins, reservations, work in flight). Called exactly once, last.
    fn gone(&mut self, _input: &[u8], _cx: &mut Context<'_, Self>) {}

    /// The session's unsent output has fallen to the low watermark, as asked with
    /// [`Reply::watch_drain`] (once per asking). A proxy resumes what it held back for a
    /// slow reader here: a backend it stopped reading, a client waiting for room.
    fn drained(&mut self, _cx: &mut Context<'_, Self>) {}

    /// Whether the handler is between requests as far as `-o idle_timeout` is concerned
    /// (true also while a request line is only partly here, as memcached counts it).
    fn idle(&self, _input: &[u8]) -> bool {
        true
    }

    /// Whether a reply is half composed (a multi-get paused at the watermark): such a
    /// reply is finished even at shutdown, before the session lingers.
    fn busy(&self) -> bool {
        false
    }
}

/// What a server built on the runtime provides besides its handler.
pub trait Service: Send + Sync + Sized + 'static {
    /// The handler of the sessions this service serves.
    type Handler: Handler<Service = Self>;
    /// Each worker's own state for its handlers (the proxy: its backend sessions).
    type Local: 'static;

    /// The state of worker number `worker`, made on the worker's thread.
    fn local(&self, worker: usize) -> Self::Local;

    /// A handler for a connection the acceptor took.
    fn accept(&self, local: &mut Self::Local, stream: &Stream) -> Self::Handler;

    /// A handler for a connection taken on listener number `listener` (its index among
    /// the listeners given to [`Runtime::with_listeners`](super::Runtime::with_listeners);
    /// with [`Runtime::bind`](super::Runtime::bind), the Unix socket first, then the TCP
    /// addresses in order). A proxy routes by the listener; the default ignores it.
    fn accept_on(
        &self,
        local: &mut Self::Local,
        stream: &Stream,
        listener: usize,
    ) -> Self::Handler {
        let _ = listener;
        self.accept(local, stream)
    }

    /// A coarse clock in seconds, read once per answered batch of requests (for `stats
    /// conns` and `-o idle_timeout`): it must be cheap (the cache reads the store's clock,
    /// which its maintenance thread advances).
    fn now(&self) -> u64;

    /// Called once on each worker before it serves anything: may open sessions.
    fn start(&self, _cx: &mut Context<'_, Self::Handler>) {}

    /// Worker `worker` has done a turn's work and is about to wait for events: hand on
    /// what its handlers deferred (the cache wakes its disk IO threads here, once for
    /// all the reads queued in the turn instead of once per read). Must be cheap: it is
    /// called every turn.
    fn turn_end(&self, _worker: usize) {}

    /// Worker `worker`'s event sources other than sessions (the cache's UDP sockets).
    /// Each counts as one open connection, as memcached counts a thread's UDP socket.
    fn ports(&self, _worker: usize) -> std::io::Result<Vec<Box<dyn Port<Self::Handler>>>> {
        Ok(Vec::new())
    }

    /// Sent to a client over the connection limit before it is closed.
    fn over_limit(&self) -> &'static [u8] {
        b""
    }

    /// SIGHUP arrived: reload whatever the service reads from files (the cache: its
    /// authentication files). Called on the acceptor thread; a failure keeps what was
    /// loaded and is reported by the service.
    fn reload(&self) {}

    /// Names of the kinds of request handlers count with [`Context::served`], by index
    /// (at most [`super::latency::KINDS`]): what the latency histograms are labelled.
    fn commands(&self) -> &'static [&'static str] {
        &[]
    }
}

/// An event source a worker polls besides its sessions (the cache's UDP sockets). Driven
/// once per readiness event (a virtual call per event, not per request).
pub trait Port<H: Handler>: Send {
    /// The non-blocking descriptor to poll; the worker registers it edge-triggered for
    /// reading and writing.
    fn fd(&self) -> std::os::fd::RawFd;

    /// Serves what is ready. True when work is left that no readiness event will
    /// announce (a yield after `-R` requests): the worker calls again next turn.
    fn ready(&mut self, cx: &mut Context<'_, H>, pool: &mut BufferPool) -> bool;
}

/// What a worker shares with everything it drives.
pub(crate) struct WorkerShared<C> {
    pub(crate) index: usize,
    /// This worker's counters (also in `stats.workers`), a pointer away.
    pub(crate) counters: Arc<WorkerCounters>,
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) stats: Arc<RuntimeStats>,
    pub(crate) queue: Arc<RunQueue<Message<C>>>,
    pub(crate) shutdown: Arc<Shutdown>,
}

impl<C> WorkerShared<C> {
    #[inline]
    pub(crate) fn counters(&self) -> &WorkerCounters {
        &self.counters
    }
}

/// The session a context belongs to.
pub(crate) struct Conn<'a> {
    pub(crate) id: ConnId,
    pub(crate) deadline: &'a mut Option<Instant>,
}

/// The agenda of a worker serving `H`.
pub(crate) type AgendaOf<H> =
    Agenda<H, <H as Handler>::Completion, <<H as Handler>::Service as Service>::Local>;

/// Completions for sessions of this worker, as [`Context::complete`] queues them.
pub struct Outbox<'a, C> {
    completions: &'a mut std::collections::VecDeque<(ConnId, C)>,
}

impl<C> Outbox<'_, C> {
    /// Completes session `id` of this worker (see [`Context::complete`]).
    #[inline]
    pub fn complete(&mut self, id: ConnId, completion: C) {
        self.completions.push_back((id, completion));
    }
}

/// What the runtime lends a handler on each call.
pub struct Context<'a, H: Handler> {
    pub(crate) service: &'a H::Service,
    pub(crate) shared: &'a WorkerShared<H::Completion>,
    pub(crate) agenda: &'a mut AgendaOf<H>,
    /// None for a datagram.
    pub(crate) conn: Option<Conn<'a>>,
}

impl<'a, H: Handler> Context<'a, H> {
    /// The service (for the cache: store, settings, counters).
    #[inline]
    pub fn service(&self) -> &'a H::Service {
        self.service
    }

    /// This worker's state for its handlers.
    pub fn local(&mut self) -> &mut <H::Service as Service>::Local {
        &mut self.agenda.local
    }

    /// This worker's state and its worker-local completions at once, for a handler that
    /// completes other sessions while it updates state they share (a proxy's backend
    /// connection handing replies to the clients it keeps track of).
    pub fn local_and_outbox(
        &mut self,
    ) -> (
        &mut <H::Service as Service>::Local,
        Outbox<'_, H::Completion>,
    ) {
        let agenda = &mut *self.agenda;
        (
            &mut agenda.local,
            Outbox {
                completions: &mut agenda.completions,
            },
        )
    }

    /// This worker's number (0-based), e.g. to index per-worker counters.
    #[inline]
    pub fn worker(&self) -> usize {
        self.shared.index
    }

    /// The server's settings.
    #[inline]
    pub fn config(&self) -> &'a ServerConfig {
        // The Arc outlives 'a: the worker holds it for as long as it lends contexts.
        let shared: &'a WorkerShared<H::Completion> = self.shared;
        &shared.config
    }

    /// The runtime's counters (connections, bytes).
    pub fn runtime(&self) -> &'a RuntimeStats {
        let shared: &'a WorkerShared<H::Completion> = self.shared;
        &shared.stats
    }

    /// The open client connections (for `stats conns`).
    pub fn connections(&self) -> Vec<Arc<ConnInfo>> {
        self.shared.stats.connections()
    }

    /// What carries the input.
    #[inline]
    pub fn transport(&self) -> Transport {
        match self.conn {
            Some(_) => Transport::Stream,
            None => Transport::Datagram,
        }
    }

    /// This session's id; None for a datagram.
    pub fn id(&self) -> Option<ConnId> {
        self.conn.as_ref().map(|c| c.id)
    }

    /// A ticket that resumes this session from any thread; None for a datagram, which
    /// cannot park.
    pub fn ticket(&self) -> Option<Ticket<H::Completion>> {
        let id = self.id()?;
        Some(Ticket::new(id, self.shared.queue.clone()))
    }

    /// Completes session `id` of this worker: delivered to its `resume` once the current
    /// call returns, without a lock or a system call. Dropped (counted stale) if `id` has
    /// closed by then.
    pub fn complete(&mut self, id: ConnId, completion: H::Completion) {
        self.agenda.completions.push_back((id, completion));
    }

    /// Opens a session of this worker over `stream` (an outbound connection the handler
    /// made, say) with `handler`. It is registered once the current call returns; until
    /// then, completions posted to it wait in order. Its id is valid at once.
    pub fn open(&mut self, stream: Stream, handler: H) -> ConnId {
        let id = self.agenda.ids.allocate();
        self.agenda.opens.push((id, stream, handler));
        id
    }

    /// Calls [`Handler::expired`] once `after` has passed, unless set again or cleared
    /// first. Coarse: checked once per worker loop turn; one deadline per session.
    pub fn set_deadline(&mut self, after: Duration) {
        let Some(conn) = &mut self.conn else {
            return;
        };
        let at = Instant::now() + after;
        *conn.deadline = Some(at);
        self.agenda.deadlines.push(Reverse((at, conn.id)));
    }

    /// Forgets this session's deadline.
    pub fn clear_deadline(&mut self) {
        if let Some(conn) = &mut self.conn {
            *conn.deadline = None;
        }
    }

    /// Stops the server (the `shutdown` command).
    pub fn request_shutdown(&self) {
        self.shared.shutdown.request();
    }

    /// Whether the server is stopping: a handler with work in flight finishes it but
    /// starts nothing new.
    pub fn stopping(&self) -> bool {
        self.shared.shutdown.requested()
    }

    /// Counts a request of `kind` (an index into [`Service::commands`]) in this turn: it
    /// is charged the time from when the turn first handed input to a handler until its
    /// replies were written. A worker-local add; see [`super::latency`].
    #[inline]
    pub fn served(&mut self, kind: usize) {
        self.agenda.tally.add(kind);
    }
}
