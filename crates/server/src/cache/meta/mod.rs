//! Executes meta commands (`mg ms md ma mn me`) against the store and composes their
//! replies: the server half of memcached's meta protocol (the syntax is
//! `protocol::meta`). Semantics follow memcached 1.6.18 where it and `doc/protocol.txt`
//! agree, protocol.txt where they differ (see `docs/protocol-meta.md`).
//!
//! A meta line is recognised before the classic parser sees it (the text handler
//! hands it here). Small `ms` values are taken from the input; large ones are read
//! straight into their reservation by the session ([`Finish::Meta`] keeps a copy of the
//! line to compose the reply once the value is in).
//!
//! This module parses the line and dispatches (a small `ms` value is copied into its
//! reservation here); each command's flags and reply live in a module of its own:
//! [`get`] (`mg`), [`set`] (`ms`: mode, reservation, commit, reply, a large value's
//! [`finish`]), [`delete`] (`md`), [`arithmetic`] (`ma`), [`debug`] (`me`). The command
//! modules never reach back into this one.

mod arithmetic;
mod debug;
mod delete;
mod get;
mod set;

pub(crate) use set::finish;

use super::log::streams;
use super::log_writer;
use super::state::{Cx, Finish, State};
use super::value::Pinned;
use crate::runtime::{bump, Reply, Transport, Verdict, BUFFER_SIZE};
use protocol::meta::{self, Command, Mode, Request};
use protocol::text;

/// The first line of `buf` and its length, if it is a complete meta command line
/// (`protocol::meta::meta_line`).
#[inline]
pub(crate) fn meta_line(buf: &[u8]) -> Option<(&[u8], usize)> {
    meta::meta_line(buf)
}

/// Answers the meta command `line` at the head of `input` (`consumed` bytes with its
/// "\n"). Small `ms` values are taken from the input; large ones are read straight into
/// their reservation, the line kept to compose the reply once the value is in.
pub(crate) fn step(
    line: &[u8],
    consumed: usize,
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let available = input.len() - consumed;
    let req = match meta::parse(line) {
        Ok(req) => req,
        Err(rejected) => {
            reply.line(rejected.error.reply());
            return match rejected.swallow {
                0 => Verdict::Consumed(consumed),
                n => Verdict::Swallow(consumed.saturating_add(n)),
            };
        }
    };
    let block = req.datalen + 2;
    if req.command == Command::Set && available < block {
        // A datagram holds all there is: a value cut short is never answered.
        if cx.transport() == Transport::Datagram || consumed + block <= BUFFER_SIZE {
            // A small value not all here yet: parse the line again when it is.
            return Verdict::NeedBytes(block - available);
        }
        if matches!(set::mode(&req), Mode::Append | Mode::Prepend) {
            // The reservation a large value is read into is consumed by its commit: bring a
            // value on disk back first.
            let ext = cx
                .service()
                .store
                .peek(req.key())
                .and_then(|i| i.external());
            if let Some(parked) = ext.and_then(|ext| state.park_recache(req.key(), ext, cx)) {
                return parked;
            }
        }
        let reservation = match set::reserve(&req, cx) {
            Ok(r) => r,
            Err(e) => {
                set::refused(&req, e, reply, cx);
                return Verdict::Swallow(consumed + block);
            }
        };
        *state = State::Value {
            reservation,
            finish: Finish::Meta {
                line: line.to_vec().into_boxed_slice(),
            },
        };
        return Verdict::ReadInto {
            consumed,
            len: req.datalen,
        };
    }
    match execute(&req, consumed, &input[consumed..], reply, state, cx) {
        Done::Answered { data } => Verdict::Consumed(consumed + data),
        Done::Swallow(bytes) => Verdict::Swallow(consumed + bytes),
        Done::Parked(verdict) => verdict,
    }
}

/// What follows a meta command's line once it is answered.
enum Done {
    /// This many data bytes (an `ms` value and its "\r\n") were part of it.
    Answered { data: usize },
    /// A refused `ms`: its data block is dropped.
    Swallow(usize),
    /// Waiting for the disk tier (`Verdict::Park`).
    Parked(Verdict),
}

/// Executes a parsed request whose line takes `consumed` bytes; for `ms`, `after` holds
/// its whole data block.
fn execute(
    req: &Request<'_>,
    consumed: usize,
    after: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Done {
    if req.command != Command::Set && cx.service().log.wants(streams::FETCHERS) {
        // Every meta command with a key fetches it first, as memcached's do.
        if req.command != Command::NoOp {
            log_writer::fetch(req.key(), cx);
        }
    }
    match req.command {
        Command::NoOp => reply.line(text::MN),
        Command::Debug => debug::debug(req, reply, cx),
        Command::Get => {
            if let Some(verdict) = get::get(req, consumed, reply, state, cx) {
                return Done::Parked(verdict);
            }
        }
        Command::Delete => delete::delete(req, reply, cx),
        Command::Arithmetic => {
            if let Some(verdict) = arithmetic::arithmetic(req, reply, state, cx) {
                return Done::Parked(verdict);
            }
        }
        Command::Set => {
            let block = req.datalen + 2;
            let mut reservation = match set::reserve(req, cx) {
                Ok(r) => r,
                Err(e) => {
                    set::refused(req, e, reply, cx);
                    return Done::Swallow(block);
                }
            };
            let counters = cx.service().counters(cx.worker());
            bump(&counters.cmd_set, 1);
            if &after[req.datalen..block] == b"\r\n" {
                reservation
                    .value_mut()
                    .copy_from_slice(&after[..req.datalen]);
                if let Err(ext) = set::commit(req, reservation, reply, cx) {
                    // Append or prepend to a value on disk: read it back, run again
                    // (counted once).
                    if let Some(parked) = state.park_recache(req.key(), ext, cx) {
                        counters
                            .cmd_set
                            .fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                        return Done::Parked(parked);
                    }
                    set::not_stored(req, reply);
                }
            } else {
                drop(reservation);
                // Errors are never quiet.
                reply.line(text::CLIENT_ERROR_BAD_DATA_CHUNK);
            }
            return Done::Answered { data: block };
        }
    }
    Done::Answered { data: 0 }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_lines_are_told_from_classic_ones() {
        assert_eq!(meta_line(b"mg foo v\r\nrest"), Some((&b"mg foo v"[..], 10)));
        assert_eq!(meta_line(b"  mn\n"), Some((&b"  mn"[..], 5)));
        assert_eq!(meta_line(b"mg foo"), None);
        assert_eq!(meta_line(b"get foo\r\n"), None);
        assert_eq!(meta_line(b"mget foo\r\n"), None);
        assert_eq!(meta_line(b"mg\r"), None);
    }
}
