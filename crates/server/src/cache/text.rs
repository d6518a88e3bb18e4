//! The classic text protocol's server half (memcached's `proto_text.c`; the syntax is
//! `protocol::text`): answers the request at the head of the input, for a stream and a
//! datagram alike. A meta line is handed to [`super::meta`] first.

use super::detail::Event;
use super::lookups::{self, Lookup};
use super::meta;
use super::report::Group;
use super::state::{Cx, Finish, State};
use super::stats::VERSION;
use super::value::{refuse, Pinned};
use crate::runtime::{bump, Reply, Verdict, BUFFER_SIZE};
use protocol::text::{self, Request, StoreCommand};
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
        return meta::step(line, consumed, input, reply, state, cx);
    }
    match text::parse(input) {
        text::Parse::Request { request, consumed } => {
            execute(request, consumed, input, reply, state, cx)
        }
        text::Parse::Incomplete { close: false } => Verdict::NeedBytes(1),
        // An over-long line or an HTTP request: memcached closes.
        text::Parse::Incomplete { close: true } => Verdict::Broken,
        text::Parse::Error {
            error,
            consumed,
            attempted,
        } => {
            lookups::attempted(attempted, cx);
            reply.line(refusal(error, attempted, cx));
            Verdict::Consumed(consumed)
        }
    }
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
                return lookups::answer(lookup, input, consumed, 0, Some(reply), state, cx);
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
            if after.len() >= block {
                // The whole value is buffered: one copy into the store.
                bump(&counters.cmd_set, 1);
                if &after[bytes..block] != b"\r\n" {
                    reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
                } else {
                    match store.store(mode, key, &after[..bytes], flags, exptime) {
                        Ok(outcome) => reply.unless(noreply, outcome_line(outcome)),
                        Err(e) => reply.unless(noreply, refuse(store, key, e, replaces).line()),
                    }
                }
                return Verdict::Consumed(consumed + block);
            }
            return match store.reserve(key, bytes, flags, exptime) {
                Ok(reservation) => {
                    *state = State::Value {
                        reservation,
                        finish: Finish::Text { mode, noreply },
                    };
                    Verdict::ReadInto {
                        consumed,
                        len: bytes,
                    }
                }
                Err(e) => {
                    reply.unless(noreply, refuse(store, key, e, replaces).line());
                    Verdict::Swallow(consumed + block)
                }
            };
        }
        Request::Delete { key, noreply } => {
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
            bump(&counters.cmd_touch, 1);
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
        // Corvid has neither log streaming nor key dumps; only the refusals that
        // -W and -X produce in memcached are reproduced, the rest is an unknown command.
        Request::Watch => reply.line(if cx.config().watch_enabled {
            text::ERROR
        } else {
            text::CLIENT_ERROR_WATCH_NOT_ALLOWED
        }),
        Request::LruCrawler { mut args } => {
            let metadump = args.next() == Some(b"metadump");
            reply.line(if metadump && !cx.config().dump_enabled {
                text::ERROR_METADUMP_NOT_ALLOWED
            } else {
                text::ERROR
            })
        }
    }
    Verdict::Consumed(consumed)
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

/// Commits a value read into its reservation (the "\r\n" after it was `terminated`).
pub(crate) fn finish(
    reservation: store::Reservation<'static>,
    mode: StoreMode,
    noreply: bool,
    terminated: bool,
    reply: &mut Reply<'_, Pinned>,
) {
    if terminated {
        let outcome = reservation.commit(mode);
        reply.unless(noreply, outcome_line(outcome));
    } else {
        drop(reservation);
        reply.unless(noreply, text::CLIENT_ERROR_BAD_DATA_CHUNK);
    }
}
