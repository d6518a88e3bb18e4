//! Executes classic text-protocol requests against the store and composes the replies:
//! the server half of memcached's `proto_text.c` (the parsing half is
//! `protocol::text`).

use crate::connection::{Ctx, Pinned};
use crate::detail::Event;
use crate::stats::{self, WorkerStats};
use crate::worker::BUFFER_SIZE;
use channel::{BufferPool, SendQueue};
use protocol::text::{self, GetKind, Request, StoreCommand};
use store::{DeltaOutcome, ItemRef, Reservation, StoreError, StoreMode, StoreOutcome};

/// Values up to this size are copied into the reply scratch; larger ones are sent by
/// reference, pinned in the store until written. A copy of a few KiB costs less than
/// holding a pin and an extra iovec (measured: docs/io.md, `bench/thresholds`);
/// `CORVID_COPY_MAX` at build time overrides it for such measurements. A larger value is
/// copied too while half the store's segments hold queued replies (`ItemRef::hold`): a
/// pin holds its whole segment, and slow readers must not leave eviction no victim.
pub const COPY_MAX: usize = crate::config::build_size(option_env!("CORVID_COPY_MAX"), 4096);

/// What the connection must do after a request.
pub(crate) enum Action {
    /// Answered; also drop `data` bytes after the line (an inline value and its "\r\n").
    Done { data: usize },
    /// The request's value is not all buffered yet and fits the buffer: read more, then
    /// parse the line again.
    NeedData,
    /// Read the value into this reservation (the line is consumed).
    Value {
        reservation: Reservation<'static>,
        mode: StoreMode,
        noreply: bool,
    },
    /// Discard this many bytes that follow the line (a refused value and its "\r\n").
    Swallow { bytes: usize },
    /// Close the connection after flushing.
    Close,
    /// A multi-get stopped at the output high watermark, so that one request line cannot
    /// queue unbounded output. Its line stays buffered; answer the rest with
    /// [`resume_lookups`] from the key `resume` bytes into the line, once output drains.
    Paused { resume: usize },
}

/// Reply composition over a connection's send queue.
pub(crate) struct Reply<'a> {
    out: &'a mut SendQueue<Pinned>,
    pool: &'a mut BufferPool,
}

impl<'a> Reply<'a> {
    pub(crate) fn new(out: &'a mut SendQueue<Pinned>, pool: &'a mut BufferPool) -> Reply<'a> {
        Reply { out, pool }
    }

    /// Queues a whole reply line (or any small bytes).
    pub(crate) fn line(&mut self, bytes: &[u8]) {
        self.out.push_copy(self.pool, bytes);
    }

    /// Queues `bytes` unless the client asked for no reply.
    pub(crate) fn unless(&mut self, noreply: bool, bytes: &[u8]) {
        if !noreply {
            self.line(bytes);
        }
    }

    /// Unsent output bytes.
    fn pending(&self) -> usize {
        self.out.pending()
    }

    /// Composes into scratch with `f`, then queues what it wrote.
    fn compose(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(self.out.scratch(self.pool));
        self.out.commit_scratch();
    }

    /// `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n`.
    fn value(&mut self, mut item: ItemRef<'static>, with_cas: bool) {
        let value_len = item.value().len();
        let cas = with_cas.then(|| item.cas());
        if value_len <= COPY_MAX || !item.hold() {
            self.compose(|out| {
                text::write_value_header(out, item.key(), item.flags(), value_len, cas);
                out.extend_from_slice(item.value());
                out.extend_from_slice(b"\r\n");
            });
        } else {
            self.compose(|out| {
                text::write_value_header(out, item.key(), item.flags(), value_len, cas)
            });
            self.out.push_pinned(Pinned(item));
            self.line(b"\r\n");
        }
    }
}

fn store_mode(command: StoreCommand, cas: u64) -> StoreMode {
    match command {
        StoreCommand::Set => StoreMode::Set,
        StoreCommand::Add => StoreMode::Add,
        StoreCommand::Replace => StoreMode::Replace,
        StoreCommand::Append => StoreMode::Append,
        StoreCommand::Prepend => StoreMode::Prepend,
        StoreCommand::Cas => StoreMode::Cas(cas),
    }
}

/// The reply for a storage outcome.
fn outcome_line(outcome: StoreOutcome) -> &'static [u8] {
    match outcome {
        StoreOutcome::Stored { .. } => text::STORED,
        StoreOutcome::NotStored => text::NOT_STORED,
        StoreOutcome::Exists => text::EXISTS,
        StoreOutcome::NotFound => text::NOT_FOUND,
    }
}

/// Commits a fully read value and answers.
pub(crate) fn commit(
    reservation: Reservation<'static>,
    mode: StoreMode,
    noreply: bool,
    reply: &mut Reply<'_>,
) {
    let outcome = reservation.commit(mode);
    reply.unless(noreply, outcome_line(outcome));
}

/// Executes one parsed request. `line_len` is the length of its line in the read
/// buffer and `after` the bytes buffered after it (an inline value, maybe partial).
pub(crate) fn execute(
    request: Request<'_>,
    line_len: usize,
    after: &[u8],
    reply: &mut Reply<'_>,
    ctx: &Ctx<'_>,
) -> Action {
    let store = ctx.store;
    match request {
        Request::Get { kind, keys } => {
            let line = after.as_ptr() as usize - line_len;
            return lookups(kind, None, keys, line, 0, Some(reply), ctx);
        }
        Request::Gat {
            kind,
            exptime,
            keys,
        } => {
            let line = after.as_ptr() as usize - line_len;
            return lookups(kind, Some(exptime), keys, line, 0, Some(reply), ctx);
        }
        Request::Store {
            command,
            key,
            flags,
            exptime,
            bytes,
            cas,
            noreply,
        } => {
            let mode = store_mode(command, cas);
            let block = bytes + 2;
            let waiting = after.len() < block && line_len + block <= BUFFER_SIZE;
            if waiting {
                return Action::NeedData;
            }
            ctx.stats.detail.record(key, Event::Set);
            if after.len() >= block {
                // The whole value is buffered: one copy into the store.
                WorkerStats::bump(&ctx.worker.cmd_set, 1);
                if &after[bytes..block] != b"\r\n" {
                    reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
                    return Action::Done { data: block };
                }
                match store.store(mode, key, &after[..bytes], flags, exptime) {
                    Ok(outcome) => reply.unless(noreply, outcome_line(outcome)),
                    Err(e) => refuse(e, command, key, noreply, reply, ctx),
                }
                return Action::Done { data: block };
            }
            match store.reserve(key, bytes, flags, exptime) {
                Ok(reservation) => {
                    return Action::Value {
                        reservation,
                        mode,
                        noreply,
                    }
                }
                Err(e) => {
                    refuse(e, command, key, noreply, reply, ctx);
                    return Action::Swallow { bytes: block };
                }
            }
        }
        Request::Delete { key, noreply } => {
            ctx.stats.detail.record(key, Event::Delete);
            let line = if store.delete(key) {
                text::DELETED
            } else {
                text::NOT_FOUND
            };
            reply.unless(noreply, line);
        }
        Request::Delta {
            incr,
            key,
            delta,
            noreply,
        } => match store.delta(key, delta, incr) {
            DeltaOutcome::Value { value, .. } => {
                if !noreply {
                    reply.compose(|out| text::write_number_line(out, value));
                }
            }
            DeltaOutcome::NotFound => reply.unless(noreply, text::NOT_FOUND),
            DeltaOutcome::NonNumeric => reply.unless(noreply, text::CLIENT_ERROR_NON_NUMERIC),
        },
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            WorkerStats::bump(&ctx.worker.cmd_touch, 1);
            let line = if store.touch(key, exptime) {
                text::TOUCHED
            } else {
                text::NOT_FOUND
            };
            reply.unless(noreply, line);
        }
        Request::FlushAll { exptime, noreply } => {
            WorkerStats::bump(&ctx.worker.cmd_flush, 1);
            if !ctx.config.flush_enabled {
                reply.unless(noreply, text::CLIENT_ERROR_FLUSH_NOT_ALLOWED);
                return Action::Done { data: 0 };
            }
            store.flush_all(exptime);
            reply.unless(noreply, text::OK);
        }
        Request::Version => {
            reply.compose(|out| {
                out.extend_from_slice(b"VERSION ");
                out.extend_from_slice(stats::VERSION.as_bytes());
                out.extend_from_slice(b"\r\n");
            });
        }
        Request::Verbosity { noreply } => reply.unless(noreply, text::OK),
        Request::Quit => return Action::Close,
        Request::Shutdown { .. } => {
            if ctx.config.allow_shutdown {
                ctx.shutdown.request();
                return Action::Close;
            }
            reply.line(text::SHUTDOWN_NOT_ENABLED);
        }
        Request::Stats { args } => stats_command(args, reply, ctx),
        // Corvid has neither log streaming nor key dumps; only the refusals that
        // -W and -X produce in memcached are reproduced, the rest is an unknown command.
        Request::Watch => reply.line(if ctx.config.watch_enabled {
            text::ERROR
        } else {
            text::CLIENT_ERROR_WATCH_NOT_ALLOWED
        }),
        Request::LruCrawler { mut args } => {
            let metadump = args.next() == Some(b"metadump");
            reply.line(if metadump && !ctx.config.dump_enabled {
                text::ERROR_METADUMP_NOT_ALLOWED
            } else {
                text::ERROR
            })
        }
    }
    Action::Done { data: 0 }
}

/// Continues a multi-get paused by [`Action::Paused`]: `request` is its line parsed again
/// from `line` (the head of the read buffer), `resume` where it stopped. With no `reply`
/// (the client left) the remaining keys are still looked up and counted, as memcached
/// composes a whole multi-get before writing any of it.
pub(crate) fn resume_lookups(
    request: Request<'_>,
    line: &[u8],
    resume: usize,
    reply: Option<&mut Reply<'_>>,
    ctx: &Ctx<'_>,
) -> Action {
    let start = line.as_ptr() as usize;
    match request {
        Request::Get { kind, keys } => lookups(kind, None, keys, start, resume, reply, ctx),
        Request::Gat {
            kind,
            exptime,
            keys,
        } => lookups(kind, Some(exptime), keys, start, resume, reply, ctx),
        // The line was a multi-get when it paused and is still buffered unchanged.
        _ => Action::Close,
    }
}

/// get/gets (`touch` None) and gat/gats: answers the keys from `resume` bytes into the
/// line (which starts at address `line`) until the output reaches its high watermark.
fn lookups(
    kind: GetKind,
    touch: Option<i64>,
    keys: text::Keys<'_>,
    line: usize,
    resume: usize,
    mut reply: Option<&mut Reply<'_>>,
    ctx: &Ctx<'_>,
) -> Action {
    let with_cas = matches!(kind, GetKind::Gets);
    let store = ctx.store;
    let mut n = 0;
    let mut paused = None;
    for key in keys {
        let at = key.as_ptr() as usize - line;
        if at < resume {
            continue;
        }
        // At least one key per call, so a paused get always progresses.
        let full = reply
            .as_ref()
            .is_some_and(|r| r.pending() >= ctx.config.output_high_watermark);
        if n > 0 && full {
            paused = Some(at);
            break;
        }
        n += 1;
        let item = match touch {
            None => store.get(key),
            Some(exptime) => store.get_and_touch(key, exptime),
        };
        ctx.stats.detail.record(
            key,
            Event::Get {
                hit: item.is_some(),
            },
        );
        if let (Some(item), Some(reply)) = (item, reply.as_mut()) {
            reply.value(item, with_cas);
        }
    }
    // memcached counts gat keys as touches only, not as gets.
    match touch {
        None => WorkerStats::bump(&ctx.worker.cmd_get, n),
        Some(_) => WorkerStats::bump(&ctx.worker.cmd_touch, n),
    }
    if let Some(resume) = paused {
        return Action::Paused { resume };
    }
    if let Some(reply) = reply {
        reply.line(text::END);
    }
    Action::Done { data: 0 }
}

/// What memcached still does for a line it rejects (see [`text::Attempt`]): the
/// lookups' values are dropped at once, only their counters remain.
pub(crate) fn attempted(attempt: text::Attempt<'_>, ctx: &Ctx<'_>) {
    match attempt {
        text::Attempt::Nothing => {}
        text::Attempt::Flush => WorkerStats::bump(&ctx.worker.cmd_flush, 1),
        text::Attempt::Lookups { touch, keys } => {
            for key in keys {
                match touch {
                    Some(exptime) => {
                        WorkerStats::bump(&ctx.worker.cmd_touch, 1);
                        let hit = ctx.store.get_and_touch(key, exptime).is_some();
                        ctx.stats.detail.record(key, Event::Get { hit });
                    }
                    None => {
                        WorkerStats::bump(&ctx.worker.cmd_get, 1);
                        let hit = ctx.store.get(key).is_some();
                        ctx.stats.detail.record(key, Event::Get { hit });
                    }
                }
            }
        }
    }
}

/// A storage command the store refused before any data was read.
fn refuse(
    error: StoreError,
    command: StoreCommand,
    key: &[u8],
    noreply: bool,
    reply: &mut Reply<'_>,
    ctx: &Ctx<'_>,
) {
    let line = match error {
        StoreError::OutOfMemory => text::SERVER_ERROR_OUT_OF_MEMORY_STORING,
        _ => text::SERVER_ERROR_TOO_LARGE,
    };
    reply.unless(noreply, line);
    // memcached drops the old value of a `set` that failed, so that a client never
    // reads data older than what it just tried to write.
    if matches!(command, StoreCommand::Set) {
        ctx.store.unlink(key);
    }
}

fn stats_command(mut args: text::Keys<'_>, reply: &mut Reply<'_>, ctx: &Ctx<'_>) {
    let first = args.next();
    match first {
        None => reply.compose(|out| {
            stats::write_general(out, ctx.stats, ctx.config, ctx.store);
            out.extend_from_slice(text::END);
        }),
        Some(b"settings") => reply.compose(|out| {
            stats::write_settings(out, ctx.stats, ctx.config, ctx.store);
            out.extend_from_slice(text::END);
        }),
        Some(b"reset") => {
            ctx.stats.reset();
            ctx.store.reset_stats();
            reply.line(text::RESET);
        }
        Some(b"conns") => reply.compose(|out| {
            let now = ctx.store.now();
            for c in ctx.registry.snapshot() {
                let idle =
                    now.saturating_sub(c.last_cmd.load(std::sync::atomic::Ordering::Relaxed));
                stats::write_conn(out, c.fd, &c.addr, "conn_parse_cmd", idle);
            }
            out.extend_from_slice(text::END);
        }),
        Some(b"items") => reply.compose(|out| {
            stats::write_items(out, ctx.store);
            out.extend_from_slice(text::END);
        }),
        Some(b"slabs") => reply.compose(|out| {
            stats::write_slabs(out, ctx.store);
            out.extend_from_slice(text::END);
        }),
        Some(b"cachedump") if !ctx.config.dump_enabled => {
            reply.line(text::CLIENT_ERROR_CACHEDUMP_NOT_ALLOWED)
        }
        Some(b"sizes") => reply.line(b"STAT sizes_status disabled\r\nEND\r\n"),
        Some(b"detail") => match args.next() {
            Some(b"on") => {
                ctx.stats.detail.set_enabled(true);
                reply.line(text::OK);
            }
            Some(b"off") => {
                ctx.stats.detail.set_enabled(false);
                reply.line(text::OK);
            }
            Some(b"dump") => reply.compose(|out| {
                ctx.stats.detail.dump(out);
                out.extend_from_slice(text::END);
            }),
            _ => reply.line(text::CLIENT_ERROR_STATS_DETAIL_USAGE),
        },
        Some(_) => reply.line(text::ERROR),
    }
}
