//! One client connection: its socket, buffers, and the command in progress.
//!
//! A connection is `Active` (reading and answering), paused by backpressure (unsent
//! output above the high watermark: no reading until it drains below the low one), or
//! closing (flush what is queued, then close). Per-command progress, such as a value
//! being read straight into the store, lives in [`Pending`].

use crate::acceptor::Shutdown;
use crate::exec_text::{self, Action, Reply};
use crate::stats::{ServerStats, WorkerStats};
use crate::stream::Stream;
use crate::worker::{ConnInfo, ConnRegistry};
use crate::{ProtocolMode, ServerConfig};
use channel::{BufferPool, Outcome, Payload, ReadBuffer, SendQueue};
use protocol::text;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use store::{ItemRef, Reservation, Store, StoreMode};

/// The most a request line may grow to (long multi-get lines) before the connection is
/// closed. memcached streams arbitrarily long `get` lines; Corvid bounds the buffer.
pub(crate) const MAX_LINE: usize = 1 << 20;

/// A cache item pinned while its bytes wait in the send queue.
pub(crate) struct Pinned(pub(crate) ItemRef<'static>);

impl Payload for Pinned {
    fn bytes(&self) -> &[u8] {
        self.0.value()
    }
}

/// What the worker must do with the connection after `drive`.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Drive {
    /// Wait for the next readiness event.
    Wait,
    /// Work remains (fairness yield): drive again next loop turn.
    Yielded,
    /// Close it now.
    Close,
}

/// The worker's shared state a command may read.
#[derive(Clone, Copy)]
pub(crate) struct Ctx<'w> {
    pub(crate) store: &'static Store,
    pub(crate) stats: &'w ServerStats,
    pub(crate) worker: &'w WorkerStats,
    pub(crate) config: &'w ServerConfig,
    pub(crate) shutdown: &'w Shutdown,
    pub(crate) registry: &'w ConnRegistry,
}

/// Everything a connection borrows from its worker while being driven.
pub(crate) struct Env<'w> {
    pub(crate) ctx: Ctx<'w>,
    pub(crate) pool: &'w mut BufferPool,
}

/// How a value read into a reservation is committed and answered, per protocol.
pub(crate) enum Finish {
    /// A classic text storage command.
    Text { mode: StoreMode, noreply: bool },
    /// A meta `ms`; its command line is kept to compose the reply.
    Meta { line: Box<[u8]> },
    /// A binary storage command (its value has no terminator).
    Binary(crate::exec_binary::Commit),
}

impl Finish {
    /// Whether "\r\n" follows the value on the wire (text and meta; not binary).
    fn has_terminator(&self) -> bool {
        match self {
            Finish::Text { .. } => true,
            Finish::Meta { .. } => true,
            Finish::Binary(_) => false,
        }
    }
}

/// A storage command whose value is arriving.
pub(crate) enum Pending {
    /// Nothing in progress: parse the next request.
    Idle,
    /// Reading a value straight into its store reservation, then (text protocols) its
    /// "\r\n".
    Value {
        reservation: Reservation<'static>,
        filled: usize,
        finish: Finish,
    },
    /// Discarding the data block of a refused storage command.
    Swallow { remaining: usize },
    /// A text multi-get paused at the output high watermark; its line is still at the
    /// head of the input, answered up to `resume` bytes into it.
    Lookups { resume: usize },
}

/// What one step of input processing achieved.
pub(crate) enum Step {
    /// A request was answered.
    Served,
    /// Bytes moved; keep going.
    Progress,
    /// The socket has nothing more now.
    Wait,
    /// Close after flushing what is queued.
    Close,
}

/// Which protocol family a connection speaks, decided by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    Undecided,
    /// Classic text and meta commands.
    Text,
    /// memcached's binary protocol.
    Binary,
}

/// Fields are crate-visible so that each protocol's connection logic can live in its
/// own file (`impl Connection` blocks in `exec_*.rs`).
pub(crate) struct Connection {
    pub(crate) stream: Stream,
    pub(crate) input: ReadBuffer,
    pub(crate) output: SendQueue<Pinned>,
    pub(crate) pending: Pending,
    pub(crate) info: Arc<ConnInfo>,
    pub(crate) dialect: Dialect,
    pub(crate) mode: ProtocolMode,
    /// Reading paused until output drains (backpressure).
    pub(crate) paused: bool,
    /// Shutdown: no new requests, only flushing.
    pub(crate) reading_stopped: bool,
    /// The socket was drained by a short read and no readiness event came since: a read
    /// now would only say EAGAIN. Saves one syscall per request.
    pub(crate) drained: bool,
    /// A readiness event reported the peer's end-of-stream. It may have come on the same
    /// edge as the last bytes, so a short read proves nothing any more: read on until the
    /// end is seen, or the connection would wait forever for an edge that never comes.
    pub(crate) read_closed: bool,
    pub(crate) closing: bool,
}

impl Connection {
    pub(crate) fn new(stream: Stream, info: Arc<ConnInfo>, mode: ProtocolMode) -> Connection {
        Connection {
            stream,
            input: ReadBuffer::new(),
            output: SendQueue::new(),
            pending: Pending::Idle,
            info,
            dialect: Dialect::Undecided,
            mode,
            paused: false,
            reading_stopped: false,
            drained: false,
            read_closed: false,
            closing: false,
        }
    }

    pub(crate) fn info(&self) -> &ConnInfo {
        &self.info
    }

    pub(crate) fn stream_mut(&mut self) -> &mut Stream {
        &mut self.stream
    }

    /// Waiting for a command, with nothing queued: what `idle_timeout` may close. Like
    /// memcached, this includes a command line, or a binary header, extras and key, begun
    /// but not finished (a slowloris client), but not a value being waited for.
    pub(crate) fn is_idle(&self) -> bool {
        let input = self.input.data();
        let mid_command = match self.dialect {
            Dialect::Binary => {
                protocol::binary::Header::parse(input).is_some_and(|h| input.len() >= h.head_len())
            }
            Dialect::Text | Dialect::Undecided => input.contains(&b'\n'),
        };
        matches!(self.pending, Pending::Idle) && self.output.is_empty() && !mid_command
    }

    /// Nothing left to send, and no reply half composed.
    pub(crate) fn is_drained(&self) -> bool {
        self.output.is_empty() && !matches!(self.pending, Pending::Lookups { .. })
    }

    /// Shutdown: answer nothing new; only flush what is queued.
    pub(crate) fn stop_reading(&mut self) {
        self.reading_stopped = true;
    }

    /// Gives buffers back (on close). Dropping `pending` drops any reservation, which
    /// leaves no trace in the store.
    pub(crate) fn release(&mut self, pool: &mut BufferPool) {
        self.pending = Pending::Idle;
        self.output.clear(pool);
        self.input.consume(self.input.len());
        self.input.release_if_empty(pool);
    }

    /// Makes all the progress possible now: flush, read and answer requests (at most
    /// `-R` of them), flush again.
    pub(crate) fn drive(&mut self, env: &mut Env<'_>, event: bool) -> Drive {
        if event {
            self.drained = false;
        }
        if !self.flush(env) {
            return Drive::Close;
        }
        if self.paused {
            if self.output.pending() > env.ctx.config.output_low_watermark {
                return Drive::Wait;
            }
            self.paused = false;
        }
        let mut served = 0;
        let mut yielded = false;
        // A paused multi-get is a reply already begun: it is finished even at shutdown.
        while !self.closing
            && (!self.reading_stopped || matches!(self.pending, Pending::Lookups { .. }))
        {
            if self.output.pending() >= env.ctx.config.output_high_watermark {
                if !self.flush(env) {
                    return Drive::Close;
                }
                if self.output.pending() >= env.ctx.config.output_high_watermark {
                    self.paused = true;
                    break;
                }
            }
            if served >= env.ctx.config.reqs_per_event {
                WorkerStats::bump(&env.ctx.worker.conn_yields, 1);
                yielded = true;
                break;
            }
            match self.step(env) {
                Step::Served => served += 1,
                Step::Progress => {}
                Step::Wait => break,
                Step::Close => self.closing = true,
            }
        }
        if served > 0 {
            self.info.last_cmd.store(env.ctx.store.now(), Relaxed);
        }
        if !self.flush(env) {
            return Drive::Close;
        }
        if self.closing && self.output.is_empty() {
            return Drive::Close;
        }
        if self.output.is_empty() {
            self.output.release_if_empty(env.pool);
        }
        if matches!(self.pending, Pending::Idle) {
            self.input.release_if_empty(env.pool);
        }
        if yielded {
            Drive::Yielded
        } else {
            Drive::Wait
        }
    }

    /// Writes queued output; false when the peer is gone.
    fn flush(&mut self, env: &mut Env<'_>) -> bool {
        if self.output.is_empty() {
            return true;
        }
        let before = self.output.pending();
        let outcome = self.output.flush(&mut self.stream);
        let sent = before - self.output.pending();
        WorkerStats::bump(&env.ctx.worker.bytes_written, sent as u64);
        if matches!(outcome, Outcome::Abort(_)) {
            self.abandon_lookups(env);
            return false;
        }
        true
    }

    /// The client left during a paused multi-get: memcached would have looked up (and
    /// counted) every key before writing, so the rest are looked up now, unanswered.
    fn abandon_lookups(&mut self, env: &mut Env<'_>) {
        let Pending::Lookups { resume } = self.pending else {
            return;
        };
        self.pending = Pending::Idle;
        let line = self.input.data();
        if let text::Parse::Request { request, .. } = text::parse(line) {
            exec_text::resume_lookups(request, line, resume, None, &env.ctx);
        }
    }

    /// Reads more input into the buffer.
    pub(crate) fn fill(&mut self, env: &mut Env<'_>) -> Step {
        if self.drained {
            return Step::Wait;
        }
        match self.input.fill(env.pool, &mut self.stream, MAX_LINE) {
            Outcome::Done(0) => Step::Close,
            Outcome::Done(n) => {
                WorkerStats::bump(&env.ctx.worker.bytes_read, n as u64);
                self.drained = !self.read_closed && self.input.last_fill_was_short();
                Step::Progress
            }
            Outcome::Retry => Step::Wait,
            Outcome::Abort(_) => Step::Close,
        }
    }

    fn step(&mut self, env: &mut Env<'_>) -> Step {
        match &mut self.pending {
            Pending::Idle => {}
            Pending::Swallow { remaining } => {
                let n = (*remaining).min(self.input.len());
                self.input.consume(n);
                *remaining -= n;
                if *remaining == 0 {
                    self.pending = Pending::Idle;
                    return Step::Served;
                }
                return self.fill(env);
            }
            Pending::Value { .. } => return self.continue_value(env),
            Pending::Lookups { .. } => return self.step_text(env),
        }
        if self.input.is_empty() {
            return self.fill(env);
        }
        if self.dialect == Dialect::Undecided {
            // memcached's -B: auto decides by the first byte (0x80 is a binary request
            // magic); ascii and binary force one.
            self.dialect = match self.mode {
                ProtocolMode::Ascii => Dialect::Text,
                ProtocolMode::Binary => Dialect::Binary,
                ProtocolMode::Auto if self.input.data()[0] == 0x80 => Dialect::Binary,
                ProtocolMode::Auto => Dialect::Text,
            };
        }
        match self.dialect {
            Dialect::Binary => self.step_binary(env),
            Dialect::Text | Dialect::Undecided => self.step_text(env),
        }
    }

    pub(crate) fn step_text(&mut self, env: &mut Env<'_>) -> Step {
        if matches!(self.pending, Pending::Idle)
            && crate::exec_meta::meta_line(self.input.data()).is_some()
        {
            return self.step_meta(env);
        }
        let resume = match self.pending {
            Pending::Lookups { resume } => {
                self.pending = Pending::Idle;
                resume
            }
            _ => 0,
        };
        let buffered = self.input.data();
        let (request, consumed) = match text::parse(buffered) {
            text::Parse::Request { request, consumed } => (request, consumed),
            text::Parse::Incomplete { close } => {
                if close {
                    return Step::Close;
                }
                return self.fill(env);
            }
            text::Parse::Error {
                error,
                consumed,
                attempted,
            } => {
                exec_text::attempted(attempted, &env.ctx);
                let mut reply = Reply::new(&mut self.output, env.pool);
                // memcached checks -A before the shutdown mode, and -F before the
                // flush delay.
                if error == text::ProtocolError::InvalidShutdownMode
                    && !env.ctx.config.allow_shutdown
                {
                    reply.line(text::SHUTDOWN_NOT_ENABLED);
                } else if attempted == text::Attempt::Flush
                    && !env.ctx.config.flush_enabled
                    && error != text::ProtocolError::Silenced
                {
                    reply.line(text::CLIENT_ERROR_FLUSH_NOT_ALLOWED);
                } else {
                    reply.line(error.reply());
                }
                self.input.consume(consumed);
                return Step::Served;
            }
        };
        let after = &buffered[consumed..];
        let mut reply = Reply::new(&mut self.output, env.pool);
        let action = if resume > 0 {
            exec_text::resume_lookups(request, buffered, resume, Some(&mut reply), &env.ctx)
        } else {
            exec_text::execute(request, consumed, after, &mut reply, &env.ctx)
        };
        match action {
            Action::Done { data } => {
                self.input.consume(consumed + data);
                Step::Served
            }
            Action::NeedData => {
                // Small value not fully here: wait for it in the read buffer.
                self.fill(env)
            }
            Action::Value {
                reservation,
                mode,
                noreply,
            } => {
                self.input.consume(consumed);
                self.pending = Pending::Value {
                    reservation,
                    filled: 0,
                    finish: Finish::Text { mode, noreply },
                };
                Step::Progress
            }
            Action::Swallow { bytes } => {
                self.input.consume(consumed);
                self.pending = Pending::Swallow { remaining: bytes };
                Step::Progress
            }
            Action::Close => {
                self.input.consume(consumed);
                Step::Close
            }
            Action::Paused { resume } => {
                self.pending = Pending::Lookups { resume };
                Step::Progress
            }
        }
    }

    /// A large value: copy what is buffered, read the rest straight into the
    /// reservation, then (text protocols) check the "\r\n" and commit.
    pub(crate) fn continue_value(&mut self, env: &mut Env<'_>) -> Step {
        let Pending::Value {
            reservation,
            filled,
            finish,
        } = &mut self.pending
        else {
            return Step::Progress;
        };
        let dst = reservation.value_mut();
        if *filled < dst.len() {
            if !self.input.is_empty() {
                *filled += self.input.take_into(&mut dst[*filled..]);
                return Step::Progress;
            }
            if self.drained {
                return Step::Wait;
            }
            let room = dst.len() - *filled;
            // One readv for the rest of the value and, behind it, its "\r\n" and the
            // next request: a large set costs two reads, as in memcached, not three.
            return match self
                .input
                .fill_behind(env.pool, &mut self.stream, &mut dst[*filled..])
            {
                Outcome::Done(n) => {
                    *filled += n.min(room);
                    self.drained = !self.read_closed && self.input.last_fill_was_short();
                    WorkerStats::bump(&env.ctx.worker.bytes_read, n as u64);
                    Step::Progress
                }
                Outcome::Retry => Step::Wait,
                Outcome::Abort(_) => Step::Close,
            };
        }
        let terminated = if finish.has_terminator() {
            if self.input.len() < 2 {
                return self.fill(env);
            }
            let ok = &self.input.data()[..2] == b"\r\n";
            self.input.consume(2);
            ok
        } else {
            true
        };
        let Pending::Value {
            reservation,
            finish,
            ..
        } = std::mem::replace(&mut self.pending, Pending::Idle)
        else {
            return Step::Progress;
        };
        let mut reply = Reply::new(&mut self.output, env.pool);
        WorkerStats::bump(&env.ctx.worker.cmd_set, 1);
        match finish {
            Finish::Text { mode, noreply } => {
                if terminated {
                    exec_text::commit(reservation, mode, noreply, &mut reply);
                } else {
                    drop(reservation);
                    reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
                }
            }
            Finish::Meta { line } => {
                crate::exec_meta::finish_set(&line, reservation, terminated, &mut reply, &env.ctx)
            }
            Finish::Binary(commit) => self.finish_binary(reservation, commit, env),
        }
        Step::Served
    }
}
