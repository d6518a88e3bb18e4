//! Executes memcached binary-protocol requests against the store and composes the
//! responses: the server half of memcached's `proto_bin.c` (the syntax half is
//! `protocol::binary`).
//!
//! A frame is judged on its 24-byte header before anything else is read; then only its
//! extras and key (a few hundred bytes at most) are buffered. A storage command's value
//! is copied from the read buffer when it is small and already there, and otherwise read
//! straight into a store reservation by the connection ([`Finish::Binary`]). Quiet
//! commands drop exactly the replies memcached drops (successes, and misses of quiet
//! gets); errors are always sent. Replies go out in request order, so a NOOP after a
//! batch of quiet gets arrives after their hits.

use crate::connection::{Connection, Ctx, Env, Finish, Pending, Pinned, Step};
use crate::detail::Event;
use crate::exec_text::COPY_MAX;
use crate::stats::{self, WorkerStats};
use crate::worker::BUFFER_SIZE;
use channel::{BufferPool, SendQueue};
use protocol::binary::{
    self, Command, Extras, Frame, Header, Request, ResponseHeader, Status, StoreKind, REQUEST_MAGIC,
};
use store::{DeltaOutcome, ItemRef, Reservation, StoreError, StoreMode, StoreOutcome};

/// How a storage command's value, once read, is committed and answered.
pub(crate) struct Commit {
    opcode: u8,
    opaque: u32,
    kind: StoreKind,
    mode: StoreMode,
    quiet: bool,
}

/// What the connection must do after a request.
enum Action {
    /// Answered; drop this many bytes of input (head, and an inline value).
    Done { consumed: usize },
    /// A small value is not all buffered yet: read more, then decode again.
    NeedData,
    /// Drop the head, then read the value into this reservation.
    Value {
        head: usize,
        reservation: Reservation<'static>,
        commit: Commit,
    },
    /// Drop the head, then discard this many bytes (a refused value).
    Swallow { head: usize, bytes: usize },
    /// Drop the head and close after flushing.
    Close { head: usize },
}

/// What the binary request at the front of a buffer that holds all there is (a UDP
/// datagram) came to. See [`execute_buffered`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Buffered {
    /// The header, its extras and key, or a value that was not refused are not all in
    /// the buffer: nothing was answered.
    Incomplete,
    /// Not a request (wrong magic): memcached closes, dropping every reply not yet sent.
    Drop,
    /// Answered (possibly with nothing, for a quiet command).
    Answered {
        /// Bytes the request takes: header, extras, key, value, and what memcached
        /// swallows after a refusal (which may claim more than the buffer holds).
        used: usize,
        /// memcached writes out its replies at this point: after an error or a NOOP,
        /// unless a refused value is swallowed first.
        flush: bool,
        /// Nothing after this request is read (QUIT, or an error that closes a stream).
        last: bool,
    },
}

/// Response composition over a connection's send queue.
struct Out<'a> {
    queue: &'a mut SendQueue<Pinned>,
    pool: &'a mut BufferPool,
    /// memcached writes out everything queued right after an error or a NOOP, before it
    /// reads the next request; what it has not written yet is lost if the connection
    /// then turns out to be broken (see [`Frame::Drop`]).
    flush: bool,
    /// The error just queued refuses a value that memcached swallows before it writes
    /// anything out (a value too large). A stream answers it at once anyway
    /// (docs/protocol-binary.md); in a datagram it decides which replies share a write.
    swallow_first: bool,
}

impl Out<'_> {
    fn compose(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(self.queue.scratch(self.pool));
        self.queue.commit_scratch();
    }

    fn error(&mut self, opcode: u8, status: Status, opaque: u32) {
        self.compose(|out| binary::write_error(out, opcode, status, opaque));
        self.flush = true;
    }

    /// A success with `body` as value and no extras or key.
    fn success(&mut self, opcode: u8, opaque: u32, cas: u64, body: &[u8]) {
        self.compose(|out| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode,
                    status: Status::Success,
                    extras_len: 0,
                    key_len: 0,
                    body_len: body.len() as u32,
                    opaque,
                    cas,
                },
            );
            out.extend_from_slice(body);
        });
    }

    /// A hit: flags as extras, then the key (GETK, GATK) and the value (not TOUCH).
    fn item(
        &mut self,
        r: &Request<'_>,
        mut item: ItemRef<'static>,
        with_key: bool,
        with_value: bool,
    ) {
        let key_len = if with_key { r.key.len() } else { 0 };
        let value_len = if with_value { item.value().len() } else { 0 };
        let copy = value_len <= COPY_MAX || !item.hold();
        self.compose(|out| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode: r.opcode,
                    status: Status::Success,
                    extras_len: 4,
                    key_len: key_len as u16,
                    body_len: (4 + key_len + value_len) as u32,
                    opaque: r.opaque,
                    cas: item.cas(),
                },
            );
            out.extend_from_slice(&item.flags().to_be_bytes());
            out.extend_from_slice(&r.key[..key_len]);
            if with_value && copy {
                out.extend_from_slice(item.value());
            }
        });
        if with_value && !copy {
            self.queue.push_pinned(Pinned(item));
        }
    }

    /// A miss that is answered: GETK and GATK name the key (and send no message).
    fn miss(&mut self, r: &Request<'_>, with_key: bool) {
        if !with_key {
            return self.error(r.opcode, Status::KeyNotFound, r.opaque);
        }
        self.compose(|out| {
            binary::write_header(
                out,
                &ResponseHeader {
                    opcode: r.opcode,
                    status: Status::KeyNotFound,
                    extras_len: 0,
                    key_len: r.key.len() as u16,
                    body_len: r.key.len() as u32,
                    opaque: r.opaque,
                    cas: 0,
                },
            );
            out.extend_from_slice(r.key);
        });
    }

    /// The text `stats` writers' "STAT name value\r\n" lines as stat frames, so that both
    /// protocols report the same names from one source.
    fn stat_lines(&mut self, opaque: u32, text: &[u8]) {
        self.compose(|out| {
            for line in text.split(|&b| b == b'\n') {
                let Some(rest) = line.strip_prefix(b"STAT ") else {
                    continue;
                };
                let rest = rest.strip_suffix(b"\r").unwrap_or(rest);
                let split = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
                let value = rest.get(split + 1..).unwrap_or(&[]);
                binary::write_stat(out, opaque, &rest[..split], value);
            }
        });
    }

    /// The empty stat frame that ends a stats reply.
    fn stat_end(&mut self, opaque: u32) {
        self.compose(|out| binary::write_stat(out, opaque, b"", b""));
    }
}

impl Connection {
    /// One binary request: header first, judged before anything else is read.
    pub(crate) fn step_binary(&mut self, env: &mut Env<'_>) -> Step {
        let Some(header) = Header::parse(self.input.data()) else {
            return self.fill(env);
        };
        let mut out = Out {
            queue: &mut self.output,
            pool: env.pool,
            flush: false,
            swallow_first: false,
        };
        let command = match binary::check(&header) {
            Frame::Command(command) => command,
            Frame::Drop => {
                // memcached closes on a bad magic at once, dropping the replies it had
                // queued for the same batch.
                out.queue.clear(out.pool);
                return Step::Close;
            }
            Frame::Fatal(status) => {
                out.error(header.opcode, status, header.opaque);
                return Step::Close;
            }
            Frame::Unknown { swallow } => {
                out.error(header.opcode, Status::UnknownCommand, header.opaque);
                self.flush_now(env);
                let total = header.head_len() + swallow;
                let now = total.min(self.input.len());
                self.input.consume(now);
                if total > now {
                    self.pending = Pending::Swallow {
                        remaining: total - now,
                    };
                    return Step::Progress;
                }
                return Step::Served;
            }
        };
        let buffered = self.input.data();
        let Some(request) = binary::decode(&header, command, buffered) else {
            return self.fill(env);
        };
        let after = &buffered[header.head_len()..];
        let action = execute(&request, header.head_len(), after, &mut out, &env.ctx);
        if out.flush {
            self.flush_now(env);
        }
        match action {
            Action::Done { consumed } => {
                self.input.consume(consumed);
                Step::Served
            }
            Action::NeedData => self.fill(env),
            Action::Value {
                head,
                reservation,
                commit,
            } => {
                self.input.consume(head);
                self.pending = Pending::Value {
                    reservation,
                    filled: 0,
                    finish: Finish::Binary(commit),
                };
                Step::Progress
            }
            Action::Swallow { head, bytes } => {
                self.input.consume(head);
                self.pending = Pending::Swallow { remaining: bytes };
                Step::Progress
            }
            Action::Close { head } => {
                self.input.consume(head);
                Step::Close
            }
        }
    }

    /// Commits a value read into its reservation and answers (the connection counts the
    /// `cmd_set`).
    pub(crate) fn finish_binary(
        &mut self,
        reservation: Reservation<'static>,
        commit: Commit,
        env: &mut Env<'_>,
    ) {
        let mut out = Out {
            queue: &mut self.output,
            pool: env.pool,
            flush: false,
            swallow_first: false,
        };
        commit.finish(reservation, &mut out);
        if out.flush {
            self.flush_now(env);
        }
    }

    /// Writes what is queued now, as memcached does after an error or a NOOP. What the
    /// socket does not take stays queued, for the connection's usual flush.
    fn flush_now(&mut self, env: &mut Env<'_>) {
        let before = self.output.pending();
        // A broken peer shows up again at the connection's own flush, which closes.
        let _ = self.output.flush(&mut self.stream);
        let sent = before - self.output.pending();
        WorkerStats::bump(&env.ctx.worker.bytes_written, sent as u64);
    }
}

/// Executes the binary request at the front of `buffered`, which holds all there will
/// ever be (a UDP datagram's payload from this request on), answering into `queue`.
///
/// memcached judges a frame only once its extras and key are in (a stream here judges it
/// on the header alone, docs/protocol-binary.md): a wrong magic is dropped at once, but a
/// frame whose extras and key run past the buffer is waited for, so in a datagram it is
/// never answered.
pub(crate) fn execute_buffered(
    buffered: &[u8],
    queue: &mut SendQueue<Pinned>,
    pool: &mut BufferPool,
    ctx: &Ctx<'_>,
) -> Buffered {
    let Some(header) = Header::parse(buffered) else {
        return Buffered::Incomplete;
    };
    if header.magic != REQUEST_MAGIC {
        return Buffered::Drop;
    }
    let head = header.head_len();
    if buffered.len() < head {
        return Buffered::Incomplete;
    }
    let mut out = Out {
        queue,
        pool,
        flush: false,
        swallow_first: false,
    };
    let command = match binary::check(&header) {
        Frame::Command(command) => command,
        Frame::Drop => return Buffered::Drop,
        Frame::Fatal(status) => {
            out.error(header.opcode, status, header.opaque);
            return Buffered::Answered {
                used: head,
                flush: true,
                last: true,
            };
        }
        Frame::Unknown { swallow } => {
            out.error(header.opcode, Status::UnknownCommand, header.opaque);
            return Buffered::Answered {
                used: head.saturating_add(swallow),
                flush: swallow == 0,
                last: false,
            };
        }
    };
    let Some(request) = binary::decode(&header, command, buffered) else {
        return Buffered::Incomplete;
    };
    match execute(&request, head, &buffered[head..], &mut out, ctx) {
        Action::Done { consumed } => Buffered::Answered {
            used: consumed,
            flush: out.flush,
            last: false,
        },
        Action::Swallow { head, bytes } => Buffered::Answered {
            used: head.saturating_add(bytes),
            flush: out.flush && !out.swallow_first,
            last: false,
        },
        Action::Close { head } => Buffered::Answered {
            used: head,
            flush: true,
            last: true,
        },
        // The value runs past the buffer; a reservation made for it is dropped here and
        // leaves no trace.
        Action::NeedData | Action::Value { .. } => Buffered::Incomplete,
    }
}

impl Commit {
    fn finish(self, reservation: Reservation<'static>, out: &mut Out<'_>) {
        let status = match reservation.commit(self.mode) {
            StoreOutcome::Stored { cas } => {
                if !self.quiet {
                    out.success(self.opcode, self.opaque, cas, b"");
                }
                return;
            }
            StoreOutcome::Exists => Status::KeyExists,
            StoreOutcome::NotFound => Status::KeyNotFound,
            // memcached names a refused add or replace by its cause.
            StoreOutcome::NotStored => match self.kind {
                StoreKind::Add => Status::KeyExists,
                StoreKind::Replace => Status::KeyNotFound,
                _ => Status::NotStored,
            },
        };
        out.error(self.opcode, status, self.opaque);
    }
}

/// The expiry as memcached reads it: an unsigned 32-bit number of seconds (relative up
/// to 30 days, else absolute), never negative.
fn exptime(e: u32) -> i64 {
    i64::from(e)
}

/// The CAS a request must match, if it names one, checked against the live item. The
/// store has no compare for append, prepend, delete or incr, so this compares just
/// before the operation; memcached compares under its item lock.
fn cas_conflict(ctx: &Ctx<'_>, r: &Request<'_>) -> bool {
    r.cas != 0
        && ctx
            .store
            .peek(r.key)
            .is_some_and(|item| item.cas() != r.cas)
}

fn execute(r: &Request<'_>, head: usize, after: &[u8], out: &mut Out<'_>, ctx: &Ctx<'_>) -> Action {
    let store = ctx.store;
    match r.command {
        Command::Get { with_key, quiet } => {
            WorkerStats::bump(&ctx.worker.cmd_get, 1);
            let item = store.get(r.key);
            ctx.stats.detail.record(
                r.key,
                Event::Get {
                    hit: item.is_some(),
                },
            );
            match item {
                Some(item) => out.item(r, item, with_key, true),
                None if quiet => {}
                None => out.miss(r, with_key),
            }
        }
        Command::GetAndTouch { with_key, quiet } => {
            touch(r, with_key, true, quiet, out, ctx);
        }
        Command::Touch => touch(r, false, false, false, out, ctx),
        Command::Store { kind, quiet } => {
            return store_command(r, kind, quiet, head, after, out, ctx)
        }
        Command::Delete { quiet } => {
            ctx.stats.detail.record(r.key, Event::Delete);
            if cas_conflict(ctx, r) {
                out.error(r.opcode, Status::KeyExists, r.opaque);
            } else if store.delete(r.key) {
                if !quiet {
                    out.success(r.opcode, r.opaque, 0, b"");
                }
            } else {
                out.error(r.opcode, Status::KeyNotFound, r.opaque);
            }
        }
        Command::Delta { incr, quiet } => delta(r, incr, quiet, out, ctx),
        Command::Flush { quiet } => {
            // memcached refuses a disabled flush with an auth error, and does not count it.
            if !ctx.config.flush_enabled {
                out.error(r.opcode, Status::AuthError, r.opaque);
            } else {
                let delay = match r.extras {
                    Extras::Flush(Some(e)) => exptime(e),
                    _ => 0,
                };
                WorkerStats::bump(&ctx.worker.cmd_flush, 1);
                store.flush_all(delay);
                if !quiet {
                    out.success(r.opcode, r.opaque, 0, b"");
                }
            }
        }
        Command::Noop => {
            out.success(r.opcode, r.opaque, 0, b"");
            out.flush = true;
        }
        Command::Version => {
            let version = stats::VERSION.as_bytes();
            out.success(r.opcode, r.opaque, 0, version);
        }
        Command::Quit { quiet } => {
            if !quiet {
                out.success(r.opcode, r.opaque, 0, b"");
            }
            return Action::Close { head };
        }
        Command::Stat => stat(r, out, ctx),
    }
    Action::Done { consumed: head }
}

/// TOUCH, GAT, GATK (and quiet): memcached counts all of them as touches.
fn touch(
    r: &Request<'_>,
    with_key: bool,
    with_value: bool,
    quiet: bool,
    out: &mut Out<'_>,
    ctx: &Ctx<'_>,
) {
    let e = match r.extras {
        Extras::Expiry(e) => exptime(e),
        _ => 0,
    };
    WorkerStats::bump(&ctx.worker.cmd_touch, 1);
    let item = ctx.store.get_and_touch(r.key, e);
    ctx.stats.detail.record(
        r.key,
        Event::Get {
            hit: item.is_some(),
        },
    );
    match item {
        Some(item) => out.item(r, item, with_key, with_value),
        None if quiet => {}
        None => out.miss(r, with_key),
    }
}

fn store_command(
    r: &Request<'_>,
    kind: StoreKind,
    quiet: bool,
    head: usize,
    after: &[u8],
    out: &mut Out<'_>,
    ctx: &Ctx<'_>,
) -> Action {
    let value_len = r.value_len;
    let inline = after.len() >= value_len;
    if !inline && head + value_len <= BUFFER_SIZE {
        return Action::NeedData;
    }
    ctx.stats.detail.record(r.key, Event::Set);
    let (flags, e) = match r.extras {
        Extras::Store { flags, exptime: e } => (flags, exptime(e)),
        _ => (0, 0),
    };
    // A CAS turns set, add and replace into a compare-and-swap; append and prepend
    // compare it against the item they extend. Under -C memcached's items have no room
    // for the request's CAS, so storage commands ignore it.
    let cas = if ctx.store.config().cas_enabled {
        r.cas
    } else {
        0
    };
    let mode = match kind {
        StoreKind::Append => StoreMode::Append,
        StoreKind::Prepend => StoreMode::Prepend,
        _ if cas != 0 => StoreMode::Cas(cas),
        StoreKind::Set => StoreMode::Set,
        StoreKind::Add => StoreMode::Add,
        StoreKind::Replace => StoreMode::Replace,
    };
    let mut reservation = match ctx.store.reserve(r.key, value_len, flags, e) {
        Ok(reservation) => reservation,
        Err(error) => {
            let status = match error {
                StoreError::OutOfMemory => Status::OutOfMemory,
                _ => Status::TooLarge,
            };
            out.error(r.opcode, status, r.opaque);
            // memcached answers a value too large only once it has swallowed it; out of
            // memory, it writes the error out first.
            out.swallow_first = error != StoreError::OutOfMemory;
            // As in text: no value older than a write the client attempted survives it.
            if kind == StoreKind::Set {
                ctx.store.unlink(r.key);
            }
            return Action::Swallow {
                head,
                bytes: value_len,
            };
        }
    };
    let commit = Commit {
        opcode: r.opcode,
        opaque: r.opaque,
        kind,
        mode,
        quiet,
    };
    let concat = matches!(kind, StoreKind::Append | StoreKind::Prepend);
    if concat && cas != 0 && cas_conflict(ctx, r) {
        drop(reservation);
        WorkerStats::bump(&ctx.worker.cmd_set, 1);
        out.error(r.opcode, Status::KeyExists, r.opaque);
        return Action::Swallow {
            head,
            bytes: value_len,
        };
    }
    if !inline {
        return Action::Value {
            head,
            reservation,
            commit,
        };
    }
    reservation.value_mut().copy_from_slice(&after[..value_len]);
    WorkerStats::bump(&ctx.worker.cmd_set, 1);
    commit.finish(reservation, out);
    Action::Done {
        consumed: head + value_len,
    }
}

/// INCREMENT / DECREMENT: on a miss, creates the item with `initial` unless the expiry
/// is 0xffffffff.
fn delta(r: &Request<'_>, incr: bool, quiet: bool, out: &mut Out<'_>, ctx: &Ctx<'_>) {
    let Extras::Delta {
        delta,
        initial,
        exptime: e,
    } = r.extras
    else {
        return out.error(r.opcode, Status::InvalidArguments, r.opaque);
    };
    if cas_conflict(ctx, r) {
        return out.error(r.opcode, Status::KeyExists, r.opaque);
    }
    // A miss that creates the item is not an incr miss in memcached's counters; looking
    // first keeps the store from counting one.
    let create = e != u32::MAX && ctx.store.peek(r.key).is_none();
    let outcome = if create {
        DeltaOutcome::NotFound
    } else {
        ctx.store.delta(r.key, delta, incr)
    };
    let (value, cas) = match outcome {
        DeltaOutcome::Value { value, cas } => (value, cas),
        DeltaOutcome::NonNumeric => return out.error(r.opcode, Status::NonNumeric, r.opaque),
        DeltaOutcome::NotFound if e == u32::MAX => {
            return out.error(r.opcode, Status::KeyNotFound, r.opaque)
        }
        DeltaOutcome::NotFound => {
            let mut digits = itoa::Buffer::new();
            let text = digits.format(initial).as_bytes();
            match ctx.store.store(StoreMode::Add, r.key, text, 0, exptime(e)) {
                Ok(StoreOutcome::Stored { cas }) => (initial, cas),
                Ok(_) => return out.error(r.opcode, Status::NotStored, r.opaque),
                Err(_) => return out.error(r.opcode, Status::OutOfMemory, r.opaque),
            }
        }
    };
    if !quiet {
        out.success(r.opcode, r.opaque, cas, &value.to_be_bytes());
    }
}

/// STAT: all, or one group named by the key, as memcached matches them (prefixes for
/// reset, settings and detail).
fn stat(r: &Request<'_>, out: &mut Out<'_>, ctx: &Ctx<'_>) {
    let key = r.key;
    let mut text = Vec::new();
    if key.is_empty() {
        stats::write_general(&mut text, ctx.stats, ctx.config, ctx.store);
    } else if key.starts_with(b"reset") {
        ctx.stats.reset();
        ctx.store.reset_stats();
    } else if key.starts_with(b"settings") {
        stats::write_settings(&mut text, ctx.stats, ctx.config, ctx.store);
    } else if let Some(sub) = key.strip_prefix(b"detail") {
        if sub.starts_with(b" dump") {
            let mut dump = Vec::new();
            ctx.stats.detail.dump(&mut dump);
            dump.extend_from_slice(b"END\r\n");
            out.compose(|o| binary::write_stat(o, r.opaque, b"detailed", &dump));
        } else if sub.starts_with(b" on") {
            ctx.stats.detail.set_enabled(true);
        } else if sub.starts_with(b" off") {
            ctx.stats.detail.set_enabled(false);
        } else {
            return out.error(r.opcode, Status::KeyNotFound, r.opaque);
        }
    } else {
        match key {
            b"items" => stats::write_items(&mut text, ctx.store),
            b"slabs" => stats::write_slabs(&mut text, ctx.store),
            b"sizes" => text.extend_from_slice(b"STAT sizes_status disabled\r\n"),
            _ => return out.error(r.opcode, Status::KeyNotFound, r.opaque),
        }
    }
    out.stat_lines(r.opaque, &text);
    out.stat_end(r.opaque);
}
