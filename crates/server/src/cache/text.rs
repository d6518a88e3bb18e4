//! The classic text protocol's server half (memcached's `proto_text.c`; the syntax is
//! `protocol::text`): answers the request at the head of the input, for a stream and a
//! datagram alike. A meta line is handed to [`super::meta`] first.
//!
//! Retrievals (`get`, `gets`, `gat`, `gats`) take any number of keys and are answered
//! until the output reaches its high watermark, then paused ([`State::Lookups`]: the
//! line stays at the head of the input) and resumed where they stopped, so that one
//! request line cannot queue unbounded output. A client that leaves meanwhile still has
//! every remaining key looked up and counted: memcached composes a whole multi-get
//! before writing any of it.

use super::command_kind::CommandKind;
use super::detail::Event;
use super::dump;
use super::log::streams;
use super::log_writer::{self, Attempt};
use super::meta;
use super::report::Group;
use super::slabs;
use super::state::{Cx, Finish, State};
use super::stats::VERSION;
use super::tier::Expect;
use super::value::{queue_value, refuse, Pinned};
use super::waiting::{Then, Waiting};
use super::watch;
use crate::runtime::{bump, Reply, Verdict, BUFFER_SIZE};
use protocol::text::{self, GetKind, Request, StoreCommand};
use store::{DeltaOutcome, ItemRef, StoreMode, StoreOutcome};

/// Replies a multi-get keeps waiting for disk reads, at most: a bound on the pins and
/// read buffers one request holds.
const WAITING_MAX: usize = 64;

/// Answers the text or meta request at the head of `input`.
#[inline]
pub(crate) fn step(
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    if let Some((line, consumed)) = meta::meta_line(input) {
        let kind = CommandKind::of_meta(line);
        return answered(
            kind,
            meta::step(line, consumed, input, reply, state, cx),
            cx,
        );
    }
    match text::parse(input) {
        text::Parse::Request { request, consumed } => {
            let kind = CommandKind::of_text(&request);
            answered(
                kind,
                execute(request, consumed, input, reply, state, cx),
                cx,
            )
        }
        text::Parse::Incomplete { close: false } => Verdict::NeedBytes(1),
        // An over-long line or an HTTP request: memcached closes.
        text::Parse::Incomplete { close: true } => Verdict::Broken,
        text::Parse::Error {
            error,
            consumed,
            attempted,
        } => {
            side_effects(attempted, cx);
            reply.line(refusal(error, attempted, cx));
            cx.served(CommandKind::Other.index());
            Verdict::Consumed(consumed)
        }
    }
}

/// Counts a request of `kind` for the latency histograms once it is answered (or its
/// answer begun): not while it waits for the rest of its value, which is counted when
/// the value is in (`CacheHandler::value_arrived`).
#[inline]
pub(crate) fn answered(kind: CommandKind, verdict: Verdict, cx: &mut Cx<'_>) -> Verdict {
    if !matches!(verdict, Verdict::NeedBytes(_) | Verdict::ReadInto { .. }) {
        cx.served(kind.index());
    }
    verdict
}

/// memcached's answer to a line it rejects, with its precedence: `-A` is checked before
/// the shutdown mode, and `-F` before the flush delay.
fn refusal(error: text::ProtocolError, attempted: text::Attempt<'_>, cx: &Cx<'_>) -> &'static [u8] {
    let config = cx.config();
    if error == text::ProtocolError::InvalidShutdownMode && !config.allow_shutdown {
        text::SHUTDOWN_NOT_ENABLED
    } else if attempted == text::Attempt::Flush
        && !config.flush_enabled
        && error != text::ProtocolError::Silenced
    {
        text::CLIENT_ERROR_FLUSH_NOT_ALLOWED
    } else {
        error.reply()
    }
}

/// Executes one parsed request whose line is the first `consumed` bytes of `input`.
fn execute(
    request: Request<'_>,
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let cache = cx.service();
    let store = cache.store;
    let counters = cache.counters(cx.worker());
    match request {
        Request::Get { .. } | Request::Gat { .. } => {
            if let Some(lookup) = Lookup::of(request) {
                if cache.log.wants(streams::FETCHERS) {
                    for key in lookup.keys {
                        log_writer::fetch(key, cx);
                    }
                }
                return answer(lookup, input, consumed, 0, Some(reply), state, cx);
            }
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
            let block = bytes + 2;
            let after = &input[consumed..];
            if after.len() < block && consumed + block <= BUFFER_SIZE {
                // A small value not all here yet: parse the line again when it is.
                return Verdict::NeedBytes(block - after.len());
            }
            let mode = store_mode(command, cas);
            cache.stats.detail.record(key, Event::Set);
            let replaces = command == StoreCommand::Set;
            let logged = cache.log.wants(streams::FETCHERS | streams::MUTATIONS);
            let attempt = Attempt {
                key,
                mode,
                exptime,
                size: bytes,
            };
            if after.len() >= block {
                // The whole value is buffered: one copy into the store.
                bump(&counters.cmd_set, 1);
                if &after[bytes..block] != b"\r\n" {
                    reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
                } else {
                    if logged {
                        log_writer::before_store(key, cx);
                    }
                    let result = store.store(mode, key, &after[..bytes], flags, exptime);
                    if logged && !matches!(result, Ok(StoreOutcome::OnDisk(_))) {
                        let status = log_writer::status_of(&result.as_ref().map(|o| *o));
                        log_writer::after_store(&attempt, status, cx);
                    }
                    match result {
                        Ok(StoreOutcome::OnDisk(ext)) => {
                            // Append or prepend to a value on disk: read it back first,
                            // then run the command again (counted once).
                            if let Some(parked) = state.park_recache(key, ext, cx) {
                                counters
                                    .cmd_set
                                    .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                                return parked;
                            }
                            reply.unless(noreply, text::NOT_STORED);
                        }
                        Ok(outcome) => reply.unless(noreply, outcome_line(outcome)),
                        Err(e) => reply.unless(noreply, refuse(store, key, e, replaces).line()),
                    }
                }
                return Verdict::Consumed(consumed + block);
            }
            if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
                // A large value is read into a reservation, which a commit consumes: bring
                // a value on disk back before reading it.
                if let Some(ext) = store.peek(key).and_then(|item| item.external()) {
                    if let Some(parked) = state.park_recache(key, ext, cx) {
                        return parked;
                    }
                }
            }
            return match store.reserve(key, bytes, flags, exptime) {
                Ok(reservation) => {
                    *state = State::Value {
                        reservation,
                        finish: Finish::Text {
                            mode,
                            noreply,
                            exptime,
                        },
                    };
                    Verdict::ReadInto {
                        consumed,
                        len: bytes,
                    }
                }
                Err(e) => {
                    if logged {
                        // memcached refuses before it stores, then looks the key up to
                        // unlink it: the store line comes first.
                        log_writer::after_store(&attempt, log_writer::status_of(&Err(&e)), cx);
                        log_writer::before_store(key, cx);
                    }
                    reply.unless(noreply, refuse(store, key, e, replaces).line());
                    Verdict::Swallow(consumed + block)
                }
            };
        }
        Request::Delete { key, noreply } => {
            if cache.log.wants(streams::FETCHERS) {
                log_writer::fetch(key, cx);
            }
            cache.stats.detail.record(key, Event::Delete);
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
        } => match delta_logged(key, delta, incr, cx) {
            DeltaOutcome::Value { value, .. } => {
                if !noreply {
                    reply.compose(|out| text::write_number_line(out, value));
                }
            }
            DeltaOutcome::NotFound => reply.unless(noreply, text::NOT_FOUND),
            DeltaOutcome::NonNumeric => reply.unless(noreply, text::CLIENT_ERROR_NON_NUMERIC),
            // A number on disk: read it back, then run the command again.
            DeltaOutcome::OnDisk(ext) => match state.park_recache(key, ext, cx) {
                Some(parked) => return parked,
                None => reply.unless(noreply, text::CLIENT_ERROR_NON_NUMERIC),
            },
        },
        Request::Touch {
            key,
            exptime,
            noreply,
        } => {
            bump(&counters.cmd_touch, 1);
            if cache.log.wants(streams::FETCHERS) {
                log_writer::fetch(key, cx);
            }
            let line = if store.touch(key, exptime) {
                text::TOUCHED
            } else {
                text::NOT_FOUND
            };
            reply.unless(noreply, line);
        }
        Request::FlushAll { exptime, noreply } => {
            bump(&counters.cmd_flush, 1);
            if cx.config().flush_enabled {
                store.flush_all(exptime);
                reply.unless(noreply, text::OK);
            } else {
                reply.unless(noreply, text::CLIENT_ERROR_FLUSH_NOT_ALLOWED);
            }
        }
        Request::Version => reply.compose(|out| {
            out.extend_from_slice(text::VERSION_PREFIX);
            out.extend_from_slice(VERSION.as_bytes());
            out.extend_from_slice(b"\r\n");
        }),
        Request::Verbosity { noreply } => reply.unless(noreply, text::OK),
        Request::Quit => return Verdict::Close,
        Request::Shutdown { .. } => {
            if cx.config().allow_shutdown {
                cx.request_shutdown();
                return Verdict::Close;
            }
            reply.line(text::SHUTDOWN_NOT_ENABLED);
        }
        Request::Stats { mut args }
            if cx.config().dump_enabled && args.clone().next() == Some(b"cachedump") =>
        {
            args.next();
            let progress = dump::cachedump(args, consumed, reply, State::dump_limits(cx));
            return state.after_dump(progress);
        }
        Request::Stats { args } => match Group::of_text(args, cx) {
            Ok(Group::Reset) => {
                Group::Reset.write(&mut Vec::new(), cx);
                reply.line(text::RESET);
            }
            Ok(group @ (Group::DetailOn | Group::DetailOff)) => {
                group.write(&mut Vec::new(), cx);
                reply.line(text::OK);
            }
            Ok(group) => reply.compose(|out| {
                group.write(out, cx);
                out.extend_from_slice(text::END);
            }),
            Err(line) => reply.line(line),
        },
        Request::Watch { args, noreply } => start_watching(args, noreply, reply, state, cx),
        Request::RefreshCerts => match &cx.config().tls {
            None => reply.line(text::ERROR_TLS_NOT_ENABLED),
            Some(tls) => match tls.context.reload() {
                Ok(()) => reply.line(text::OK),
                // memcached answers the reason itself, as one line.
                Err(e) => reply.compose(|out| {
                    out.extend_from_slice(e.to_string().as_bytes());
                    out.extend_from_slice(b"\r\n");
                }),
            },
        },
        Request::Slabs { args, noreply } => {
            if let Some(line) = slabs::answer(args, noreply) {
                reply.line(line);
            }
        }
        Request::LruCrawler { args } => {
            let progress = dump::lru_crawler(args, consumed, reply, State::dump_limits(cx));
            return state.after_dump(progress);
        }
        Request::Extstore { mut args } => {
            let set = match (args.next(), args.next()) {
                (Some(option), Some(value)) => cache.knobs.set(cache.tier.as_ref(), option, value),
                _ => false,
            };
            reply.line(if set { text::OK } else { text::ERROR });
        }
    }
    Verdict::Consumed(consumed)
}

/// `incr`/`decr`, after logging the fetch memcached makes first.
fn delta_logged(key: &[u8], delta: u64, incr: bool, cx: &mut Cx<'_>) -> DeltaOutcome {
    if cx.service().log.wants(streams::FETCHERS) {
        log_writer::fetch(key, cx);
    }
    cx.service().store.delta(key, delta, incr)
}

/// Answers `watch` (`watch.rs`): the connection becomes a watcher (`OK`), or memcached's
/// refusal.
fn start_watching(
    args: text::Keys<'_>,
    noreply: bool,
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) {
    if !cx.config().watch_enabled {
        return reply.unless(noreply, text::CLIENT_ERROR_WATCH_NOT_ALLOWED);
    }
    // A datagram cannot be watched over; memcached has no answer worth copying there.
    let (Some(wanted), Some(_)) = (watch::parse(args), cx.id()) else {
        return reply.unless(noreply, text::ERROR);
    };
    match cx.service().log.add(wanted) {
        Err(_) => reply.unless(noreply, watch::TOO_MANY),
        Ok(watcher) => {
            reply.line(text::OK);
            *state = State::Watching(Box::new(watch::Watching::new(watcher)));
            cx.set_deadline(watch::FIRST_WAKE);
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
        // Append or prepend to a value that went to disk while its data was being read:
        // what memcached answers for a value on disk.
        StoreOutcome::OnDisk(_) => text::NOT_STORED,
    }
}

/// Commits a value read into its reservation (the "\r\n" after it was `terminated`).
pub(crate) fn finish(
    reservation: store::Reservation<'static>,
    mode: StoreMode,
    noreply: bool,
    terminated: bool,
    reply: &mut Reply<'_, Pinned>,
) -> Option<StoreOutcome> {
    if terminated {
        let outcome = reservation.commit(mode);
        reply.unless(noreply, outcome_line(outcome));
        Some(outcome)
    } else {
        drop(reservation);
        reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
        None
    }
}

/// A retrieval's keys and how to answer them.
struct Lookup<'a> {
    kind: GetKind,
    /// gat/gats: the new expiry.
    touch: Option<i64>,
    keys: text::Keys<'a>,
}

impl<'a> Lookup<'a> {
    /// The retrieval `request` asks for, if it is one.
    fn of(request: Request<'a>) -> Option<Lookup<'a>> {
        match request {
            Request::Get { kind, keys } => Some(Lookup {
                kind,
                touch: None,
                keys,
            }),
            Request::Gat {
                kind,
                exptime,
                keys,
            } => Some(Lookup {
                kind,
                touch: Some(exptime),
                keys,
            }),
            _ => None,
        }
    }
}

/// Answers `lookup`, whose line starts at `input[0]` and takes `consumed` bytes, from the
/// key `resume` bytes into the line. With no `reply` (the client left) the keys are
/// looked up and counted only.
fn answer(
    lookup: Lookup<'_>,
    input: &[u8],
    consumed: usize,
    resume: usize,
    mut reply: Option<&mut Reply<'_, Pinned>>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Verdict {
    let with_cas = matches!(lookup.kind, GetKind::Gets);
    let cache = cx.service();
    let high = cx.config().output_high_watermark;
    let line = input.as_ptr() as usize;
    let mut n = 0;
    let mut paused = None;
    let mut waiting: Option<Box<Waiting>> = None;
    let mut waiting_bytes = 0;
    for key in lookup.keys {
        let at = key.as_ptr() as usize - line;
        if at < resume {
            continue;
        }
        // At least one key per call, so a paused get always progresses. Replies waiting
        // for disk reads count toward the watermark too, and so does their number.
        let waiting_full = waiting
            .as_ref()
            .is_some_and(|w| w.len() >= WAITING_MAX || waiting_bytes >= high);
        if n > 0 && (waiting_full || reply.as_ref().is_some_and(|r| r.pending() >= high)) {
            paused = Some(at);
            break;
        }
        n += 1;
        let item = match lookup.touch {
            None => cache.store.get(key),
            Some(exptime) => cache.store.get_and_touch(key, exptime),
        };
        cache.stats.detail.record(
            key,
            Event::Get {
                hit: item.is_some(),
            },
        );
        let (Some(item), Some(reply)) = (item, reply.as_mut()) else {
            continue;
        };
        if let Some(ext) = item.external() {
            // Over UDP (no ticket) or without a tier a value on disk is not served: a
            // miss, as memcached answers it.
            if let (Some(tier), Some(ticket)) = (cache.tier.as_ref(), cx.ticket()) {
                let cas = with_cas.then(|| item.cas());
                let mut head = Vec::new();
                text::write_value_header(&mut head, key, item.flags(), ext.value_len, cas);
                let w = waiting.get_or_insert_with(|| {
                    Box::new(Waiting::new(Then::TextGet {
                        consumed,
                        resume: None,
                    }))
                });
                let expect = Expect::of(&item, ext);
                if w.push_disk(tier, ticket, key, ext, expect, head, Vec::new(), b"\r\n")
                    .is_ok()
                {
                    waiting_bytes += ext.value_len;
                } else if w.len() == 0 {
                    // No read buffer free (`get_oom_extstore`): this key is a miss (no
                    // line in a text get), and nothing waits yet.
                    waiting = None;
                }
            }
            continue;
        }
        match waiting.as_mut() {
            // Behind a value on disk: answered in key order, once that one is read.
            Some(w) => {
                waiting_bytes += item.value().len();
                w.push_ram(item, with_cas);
            }
            None => queue_hit(reply, item, with_cas),
        }
    }
    // memcached counts gat keys as touches only, not as gets.
    let counters = cache.counters(cx.worker());
    match lookup.touch {
        None => bump(&counters.cmd_get, n),
        Some(_) => bump(&counters.cmd_touch, n),
    }
    if let Some(mut w) = waiting {
        // The line stays at the head of the input until every reply is out.
        w.then = Then::TextGet {
            consumed,
            resume: paused,
        };
        *state = State::Disk(w);
        return Verdict::Park { consumed: 0 };
    }
    if let Some(resume) = paused {
        *state = State::Lookups { resume };
        return Verdict::Continue;
    }
    if let Some(reply) = reply {
        reply.line(text::END);
    }
    Verdict::Consumed(consumed)
}

/// A retrieval hit in RAM: `VALUE <key> <flags> <bytes> [<cas>]`, the value, `\r\n`.
pub(crate) fn queue_hit(reply: &mut Reply<'_, Pinned>, item: ItemRef<'static>, with_cas: bool) {
    let cas = with_cas.then(|| item.cas());
    queue_value(reply, item, b"\r\n", |out, item| {
        text::write_value_header(out, item.key(), item.flags(), item.value().len(), cas)
    });
}

/// Continues a multi-get paused at the watermark (its line is at the head of `input`);
/// with no `reply`, the client left: the rest is looked up and counted, unanswered.
pub(crate) fn resume(
    input: &[u8],
    resume: usize,
    reply: Option<&mut Reply<'_, Pinned>>,
    state: &mut State,
    cx: &Cx<'_>,
) -> Verdict {
    *state = State::Idle;
    if let text::Parse::Request { request, consumed } = text::parse(input) {
        if let Some(lookup) = Lookup::of(request) {
            return answer(lookup, input, consumed, resume, reply, state, cx);
        }
    }
    // The line was a multi-get when it paused and is still buffered unchanged.
    Verdict::Close
}

/// What memcached still does for a line it rejects (see [`text::Attempt`]): the
/// lookups' values are dropped at once, only their counters remain.
fn side_effects(attempt: text::Attempt<'_>, cx: &Cx<'_>) {
    let cache = cx.service();
    let counters = cache.counters(cx.worker());
    match attempt {
        text::Attempt::Nothing => {}
        text::Attempt::Flush => bump(&counters.cmd_flush, 1),
        text::Attempt::Lookups { touch, keys } => {
            for key in keys {
                let hit = match touch {
                    Some(exptime) => {
                        bump(&counters.cmd_touch, 1);
                        cache.store.get_and_touch(key, exptime).is_some()
                    }
                    None => {
                        bump(&counters.cmd_get, 1);
                        cache.store.get(key).is_some()
                    }
                };
                cache.stats.detail.record(key, Event::Get { hit });
            }
        }
    }
}
