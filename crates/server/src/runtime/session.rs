//! One connection: its stream, read buffer, send queue, lifecycle and handler. The
//! session does all of the connection's IO (every system call is in `session/socket_io.rs`,
//! the seam the io_uring backend answers in `session_ring.rs`); the handler does all of
//! its protocol work.
//!
//! `drive` makes every bit of progress possible now: write what is queued, then (while
//! [`Life`] allows) hand input to the handler and act on its [`Verdict`]s, at most `-R`
//! requests per call, then write again.

use super::counters::{bump, ConnInfo, ConnState};
use super::handler::{AgendaOf, Conn, Context, Handler, Service, Verdict, WorkerShared};
use super::id::ConnId;
use super::life::{CloseReason, Life};
use super::reply::Reply;
use super::ring::{Ring, RingIo};
use channel::{BufferPool, ReadBuffer, SendQueue, Stream};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

mod socket_io;

/// The most input a session buffers for one request (a long multi-get line) before it
/// gives up on the client. memcached streams arbitrarily long `get` lines; Corvid bounds
/// the buffer.
pub(crate) const MAX_INPUT: usize = 1 << 20;

/// What a worker lends the sessions it drives.
pub(crate) struct Env<H: Handler> {
    pub(crate) service: Arc<H::Service>,
    pub(crate) shared: WorkerShared<H::Completion>,
    pub(crate) agenda: AgendaOf<H>,
    pub(crate) pool: BufferPool,
    /// The worker's io_uring (`-o io_backend=uring`); None on epoll.
    pub(crate) ring: Option<Ring>,
    /// Shutdown has begun.
    pub(crate) stopping: bool,
}

impl<H: Handler> Env<H> {
    /// A handler's context, and the pool for its reply.
    #[inline]
    pub(crate) fn split<'b>(
        &'b mut self,
        conn: Option<Conn<'b>>,
    ) -> (Context<'b, H>, &'b mut BufferPool) {
        let cx = Context {
            service: &*self.service,
            shared: &self.shared,
            agenda: &mut self.agenda,
            conn,
        };
        (cx, &mut self.pool)
    }
}

/// What woke a session.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Readiness<'e> {
    /// A readiness event on its socket.
    Event(&'e mio::event::Event),
    /// The worker's ready list, a completion, shutdown: no event.
    Turn,
}

/// What the worker must do with a session after driving it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Drive {
    /// Wait for the next readiness event (or completion).
    Wait,
    /// Work remains and no event will announce it (a fairness yield): drive again next
    /// turn.
    Yielded,
    /// Close it now.
    Close,
}

/// What a session's input is for right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Reading {
    /// Handing input to the handler once at least `need` bytes are buffered (0: even
    /// with none).
    Parse { need: usize },
    /// Filling the handler's target: `filled` of `len` bytes.
    Into { filled: usize, len: usize },
    /// Discarding `remaining` more bytes.
    Swallow { remaining: usize },
}

/// What one step of input processing achieved.
pub(crate) enum Step {
    /// A request was answered.
    Served,
    /// Something moved; keep going.
    Progress,
    /// Nothing more can happen until the next readiness event.
    Wait,
    /// The handler parked.
    Park,
    /// Close after writing what is queued.
    Close,
}

/// What woke a parked (or any) session besides readiness.
pub(crate) enum Wake<C> {
    Completion(C),
    Deadline(Instant),
}

/// A client connection (or an outbound one a handler opened).
pub struct Session<H: Handler> {
    pub(crate) stream: Stream,
    pub(crate) input: ReadBuffer,
    pub(crate) output: SendQueue<H::Payload>,
    pub(crate) life: Life,
    pub(crate) reading: Reading,
    /// A short read drained the socket and no readiness event came since: a read now
    /// would only say `Retry`. Saves a system call per request.
    pub(crate) drained: bool,
    /// The stream holds no input of its own (no TLS records), so `drained` may be used.
    pub(crate) edge_reads: bool,
    /// An event reported the peer's end of stream. It may have come with the last bytes,
    /// so a short read proves nothing any more: read on until the end is seen.
    pub(crate) read_closed: bool,
    /// Waiting in the worker's ready list for a turn with handshake budget left.
    pub(crate) deferred: bool,
    id: ConnId,
    /// `stats conns` entry and its registry key; None for outbound sessions.
    pub(crate) inbound: Option<(Arc<ConnInfo>, usize)>,
    deadline: Option<Instant>,
    /// The handler asked to hear when the output drains ([`Reply::watch_drain`]).
    pub(crate) watch_drain: bool,
    /// Its IO on the worker's io_uring; None: readiness (epoll) and system calls.
    pub(crate) ring: Option<Box<RingIo<H::Payload>>>,
    /// Woken since the worker last drove it: on the worker's list of sessions to drive.
    pub(crate) woken: bool,
    /// Why it closes, once it does (an error unless something better is known).
    pub(crate) why: CloseReason,
    pub(crate) handler: H,
}

impl<H: Handler> Session<H> {
    pub(crate) fn new(
        stream: Stream,
        id: ConnId,
        inbound: Option<(Arc<ConnInfo>, usize)>,
        handler: H,
    ) -> Session<H> {
        Session {
            edge_reads: !stream.buffers_input(),
            stream,
            input: ReadBuffer::new(),
            output: SendQueue::new(),
            life: Life::Active,
            reading: Reading::Parse { need: 1 },
            drained: false,
            read_closed: false,
            deferred: false,
            id,
            inbound,
            deadline: None,
            watch_drain: false,
            ring: None,
            woken: false,
            why: CloseReason::Error,
            handler,
        }
    }

    /// Its id.
    pub fn id(&self) -> ConnId {
        self.id
    }

    /// Where it stands.
    pub fn life(&self) -> Life {
        self.life
    }

    /// Makes all the progress possible now.
    pub(crate) fn drive(&mut self, env: &mut Env<H>, ready: Readiness<'_>) -> Drive {
        if let Readiness::Event(event) = ready {
            self.drained = false;
            self.read_closed |= event.is_read_closed();
        }
        if !self.flush(env) {
            return Drive::Close;
        }
        self.check_drained(env);
        match self.life {
            Life::Active | Life::Closing { .. } => {}
            Life::Backpressured => {
                if self.pending() > env.shared.config.output_low_watermark {
                    return Drive::Wait;
                }
                self.life = Life::Active;
            }
            Life::Parked => {
                if self.ring.is_some() {
                    self.ring_settle(env);
                }
                // Nothing to parse; a peer that reset will never read the answer.
                let hangup = matches!(ready, Readiness::Event(e) if e.is_error() || e.is_write_closed())
                    || self.ring_hung_up();
                return if hangup { Drive::Close } else { Drive::Wait };
            }
            Life::Lingering => return self.linger(env),
        }
        let config = &env.shared.config;
        let (high, per_event) = (config.output_high_watermark, config.reqs_per_event);
        let mut served = 0;
        let mut yielded = false;
        loop {
            match self.life {
                Life::Active => {}
                // A reply already begun is finished even when closing.
                Life::Closing { .. } if self.handler.busy() => {}
                _ => break,
            }
            if self.pending() >= high {
                if !self.flush(env) {
                    return Drive::Close;
                }
                // An outbound session keeps reading: its peer (a proxy's backend) stops
                // reading requests once its own replies go unread, so waiting for it to
                // drain would stall both. Its handler bounds what it queues.
                if self.pending() >= high && self.inbound.is_some() {
                    if self.life == Life::Active {
                        self.life = Life::Backpressured;
                    }
                    break;
                }
            }
            if served >= per_event {
                bump(&env.shared.counters().conn_yields, 1);
                yielded = true;
                break;
            }
            match self.advance(env) {
                Step::Served => served += 1,
                Step::Progress => {}
                Step::Wait | Step::Park => break,
                // Already closing and still busy: asking the handler again would get the
                // same answer forever (a spinning worker). It waits for the completions
                // that make it not busy.
                Step::Close if matches!(self.life, Life::Closing { .. }) => break,
                Step::Close => self.life = Life::Closing { linger: false },
            }
        }
        self.finish_turn(env, served, yielded)
    }

    /// Delivers a completion or a passed deadline to the handler. The session is not
    /// driven here: true means it must be, and the worker drives it once after the
    /// deliveries of its batch, so that many completions to one session (replies from
    /// several backends, requests from several clients) cost one write, not one each.
    pub(crate) fn wake(&mut self, env: &mut Env<H>, wake: Wake<H::Completion>) -> bool {
        if let Wake::Deadline(at) = wake {
            if self.deadline != Some(at) {
                // Set again or cleared since: not this deadline's turn.
                return false;
            }
            self.deadline = None;
        }
        if self.life == Life::Parked {
            self.life = match env.stopping {
                true => Life::Closing { linger: true },
                false => Life::Active,
            };
        }
        let verdict = self.call(env, |handler, input, reply, cx| match wake {
            Wake::Completion(c) => handler.resume(c, input, reply, cx),
            Wake::Deadline(_) => handler.expired(input, reply, cx),
        });
        match self.apply(verdict, env) {
            Step::Served => self.touch(env),
            Step::Close => self.life = Life::Closing { linger: false },
            _ => {}
        }
        true
    }

    /// Shutdown began: stop reading requests. An outbound session closes once drained
    /// rather than wait for its peer to hang up.
    pub(crate) fn stop(&mut self) {
        self.life = self.life.at_shutdown();
        if self.inbound.is_none() && self.life == (Life::Closing { linger: true }) {
            self.life = Life::Closing { linger: false };
        }
    }

    /// Whether output waits: queued, or accepted by the stream and not yet sent (TLS
    /// records the socket has not taken).
    #[inline]
    fn unsent(&self) -> bool {
        !self.output.is_empty() || self.flying() > 0 || self.stream.holds_output()
    }

    /// Unsent output: queued, and handed to the kernel but not yet sent (io_uring).
    #[inline]
    fn pending(&self) -> usize {
        self.output.pending() + self.flying()
    }

    /// Waiting for a command with nothing to send, or parked with nothing to send: what
    /// `-o idle_timeout` may close.
    pub(crate) fn is_idle(&self) -> bool {
        if self.unsent() || self.is_dying() {
            return false;
        }
        match self.life {
            Life::Parked => true,
            Life::Active => {
                matches!(self.reading, Reading::Parse { .. })
                    && self.handler.idle(self.input.data())
            }
            _ => false,
        }
    }

    /// Tells the handler its client is gone and gives every buffer back. The last call.
    pub(crate) fn release(&mut self, env: &mut Env<H>) {
        {
            let why = match env.stopping {
                true => CloseReason::Shutdown,
                false => self.why,
            };
            let (mut cx, _) = env.split(Some(Conn {
                id: self.id,
                deadline: &mut self.deadline,
            }));
            self.handler.closing(why, &mut cx);
            self.handler.gone(self.input.data(), &mut cx);
        }
        self.output.clear(&mut env.pool);
        self.ring_release(env);
        self.input.consume(self.input.len());
        self.input.release_if_empty(&mut env.pool);
    }

    /// One step of input processing.
    #[inline]
    fn advance(&mut self, env: &mut Env<H>) -> Step {
        match self.reading {
            Reading::Parse { need } => {
                if self.input.len() < need {
                    return self.fill(env);
                }
                self.step(env)
            }
            Reading::Into { filled, len } => self.fill_target(env, filled, len),
            Reading::Swallow { remaining } => {
                let n = remaining.min(self.input.len());
                self.input.consume(n);
                if n == remaining {
                    self.reading = Reading::Parse { need: 1 };
                    return Step::Served;
                }
                self.reading = Reading::Swallow {
                    remaining: remaining - n,
                };
                self.fill(env)
            }
        }
    }

    /// Hands the input to the handler and acts on its verdict.
    #[inline]
    fn step(&mut self, env: &mut Env<H>) -> Step {
        let verdict = self.call(env, |handler, input, reply, cx| {
            handler.step(input, reply, cx)
        });
        self.apply(verdict, env)
    }

    /// Calls the handler with the input, a reply into the send queue and a context;
    /// writes out at once if it asked for that.
    #[inline]
    fn call(
        &mut self,
        env: &mut Env<H>,
        f: impl FnOnce(&mut H, &[u8], &mut Reply<'_, H::Payload>, &mut Context<'_, H>) -> Verdict,
    ) -> Verdict {
        env.agenda.tally.begin();
        let conn = Conn {
            id: self.id,
            deadline: &mut self.deadline,
        };
        let (mut cx, pool) = env.split(Some(conn));
        let mut reply = Reply::new(&mut self.output, pool);
        let verdict = f(&mut self.handler, self.input.data(), &mut reply, &mut cx);
        self.watch_drain |= reply.drain_watched();
        if reply.flush_requested() {
            // Errors show up again at the session's own flush, which closes.
            self.flush(env);
        }
        verdict
    }

    #[inline]
    fn apply(&mut self, verdict: Verdict, env: &mut Env<H>) -> Step {
        match verdict {
            Verdict::Consumed(n) => {
                self.input.consume(n);
                self.reading = Reading::Parse { need: 1 };
                Step::Served
            }
            Verdict::Continue => {
                if let Reading::Parse { need } = &mut self.reading {
                    *need = 0;
                }
                Step::Progress
            }
            Verdict::NeedBytes(n) => {
                self.reading = Reading::Parse {
                    need: self.input.len().saturating_add(n.max(1)),
                };
                self.fill(env)
            }
            Verdict::ReadInto { consumed, len } => {
                self.input.consume(consumed);
                self.reading = Reading::Into { filled: 0, len };
                Step::Progress
            }
            Verdict::Swallow(n) => {
                self.reading = Reading::Swallow { remaining: n };
                Step::Progress
            }
            Verdict::Park { consumed } => {
                self.input.consume(consumed);
                self.reading = Reading::Parse { need: 1 };
                self.life = Life::Parked;
                Step::Park
            }
            Verdict::Close => {
                self.why = CloseReason::Normal;
                Step::Close
            }
            Verdict::Broken => Step::Close,
        }
    }

    /// After the loop: record activity, write, and settle what the turn leaves.
    fn finish_turn(&mut self, env: &mut Env<H>, served: usize, yielded: bool) -> Drive {
        if served > 0 {
            self.touch(env);
        }
        if !self.flush(env) {
            return Drive::Close;
        }
        self.check_drained(env);
        self.publish_state(served);
        if self.ring.is_some() {
            self.ring_settle(env);
        }
        if let Life::Closing { linger } = self.life {
            if !self.unsent() && !self.handler.busy() {
                if !linger {
                    return Drive::Close;
                }
                self.life = Life::Lingering;
                if self.shutdown_write() {
                    return Drive::Close;
                }
                return self.linger(env);
            }
        }
        if self.output.is_empty() {
            self.output.release_if_empty(&mut env.pool);
        }
        if matches!(self.reading, Reading::Parse { .. }) {
            self.input.release_if_empty(&mut env.pool);
        }
        if yielded {
            Drive::Yielded
        } else {
            Drive::Wait
        }
    }

    /// Publishes where the session stands for `stats conns`: one load per turn, and a
    /// store only when it changed.
    #[inline]
    pub(super) fn publish_state(&self, served: usize) {
        let Some((info, _)) = &self.inbound else {
            return;
        };
        let state = match (self.life, self.reading) {
            (Life::Parked, _) => ConnState::Parked,
            (Life::Closing { .. } | Life::Lingering, _) => ConnState::Closing,
            _ if !self.output.is_empty() || self.flying() > 0 => ConnState::Writing,
            (_, Reading::Into { .. }) => ConnState::ReadingValue,
            (_, Reading::Swallow { .. }) => ConnState::Swallowing,
            // Input held that is not the start of a request: the rest of one (a value)
            // is awaited, which memcached shows as reading a value too.
            (_, Reading::Parse { .. })
                if !self.input.is_empty() && !self.handler.idle(self.input.data()) =>
            {
                ConnState::ReadingValue
            }
            (_, Reading::Parse { .. }) => ConnState::Reading,
        };
        let old = info.state.load(Relaxed);
        // A connection that has sent nothing yet stays new, as memcached shows it.
        let untouched = old == ConnState::New as u8 && served == 0 && self.input.is_empty();
        if old != state as u8 && !untouched {
            info.state.store(state as u8, Relaxed);
        }
    }

    /// Records the time of the last answered request (`stats conns`, idle timeout).
    fn touch(&self, env: &Env<H>) {
        if let Some((info, _)) = &self.inbound {
            info.last_cmd.store(env.service.now(), Relaxed);
        }
    }

    /// Tells a handler that asked ([`Reply::watch_drain`]) that the output has fallen
    /// to the low watermark.
    #[inline]
    fn check_drained(&mut self, env: &mut Env<H>) {
        if !self.watch_drain || self.pending() > env.shared.config.output_low_watermark {
            return;
        }
        self.watch_drain = false;
        let (mut cx, _) = env.split(Some(Conn {
            id: self.id,
            deadline: &mut self.deadline,
        }));
        self.handler.drained(&mut cx);
    }
}
