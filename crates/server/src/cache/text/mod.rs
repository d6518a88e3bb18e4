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
//!
//! This module parses and executes one request (`step`, `execute`: storage, arithmetic,
//! deletes, touches and the server commands, each a few lines). Out of it, in modules
//! that never reach back into this one: [`retrieval`] (multi-gets, paused and resumed),
//! [`storage`] (store modes, outcome lines, a large value's [`finish`]), [`refusal`]
//! (what a rejected line is answered, and what memcached still does for it).

mod refusal;
mod retrieval;
mod storage;

pub(crate) use retrieval::{queue_hit, resume};
pub(crate) use storage::finish;

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
use super::value::{refuse, Pinned};
use super::watch;
use crate::runtime::{bump, Reply, Verdict, BUFFER_SIZE};
use protocol::text::{self, Request, StoreCommand};
use refusal::{refusal, side_effects};
use retrieval::{answer, Lookup};
use storage::{outcome_line, store_mode};
use store::{DeltaOutcome, StoreMode, StoreOutcome};

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
