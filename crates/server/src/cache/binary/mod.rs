//! Executes memcached binary-protocol requests against the store and composes the
//! responses: the server half of memcached's `proto_bin.c` (the syntax half is
//! `protocol::binary`).
//!
//! A frame is judged on its 24-byte header before anything else is read; then only its
//! extras and key (a few hundred bytes at most) are buffered. A storage command's value
//! is copied from the read buffer when it is small and already there, and otherwise read
//! straight into a store reservation by the session ([`Finish::Binary`]). Quiet
//! commands drop exactly the replies memcached drops (successes, and misses of quiet
//! gets); errors are always sent. Replies go out in request order, so a NOOP after a
//! batch of quiet gets arrives after their hits.
//!
//! This module judges the frame and dispatches (GET, DELETE, FLUSH, NOOP, VERSION and
//! QUIT are answered here, in a few lines each). The rest, in modules that never reach
//! back into this one: [`response`] (composing response frames, and when memcached
//! writes them out), [`request`] (a request's expiry and CAS as memcached reads them),
//! [`storage`] (SET ADD REPLACE APPEND PREPEND and their quiet forms, small and large
//! values), [`touch`] (TOUCH, GAT, GATK), [`delta`] (INCREMENT, DECREMENT), [`stat`].

mod delta;
mod request;
mod response;
mod stat;
mod storage;
mod touch;

pub(crate) use storage::finish;

use super::detail::Event;
use super::log::streams;
use super::log_writer;
use super::state::{Cx, State};
use super::stats::VERSION;
use super::value::Pinned;
use crate::runtime::{bump, Reply, Transport, Verdict};
use delta::delta;
use protocol::binary::{
    self, Command, Extras, Frame, Header, Request, Status, HEADER_LEN, REQUEST_MAGIC,
};
use request::{cas_conflict, exptime};
use response::Out;
use stat::stat;
use storage::store_command;
use touch::touch;

/// Answers the binary request at the head of `input`: on a stream, judged on its
/// 24-byte header before anything else is read; in a datagram, as memcached judges it,
/// once its extras and key are in (a wrong magic is dropped at once, a frame whose extras
/// and key run past the datagram is never answered).
pub(crate) fn step(
    input: &[u8],
    reply: &mut Reply<'_, Pinned>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let Some(header) = Header::parse(input) else {
        return Verdict::NeedBytes(HEADER_LEN - input.len());
    };
    let head = header.head_len();
    let datagram = cx.transport() == Transport::Datagram;
    if datagram {
        if header.magic != REQUEST_MAGIC {
            return Verdict::Broken;
        }
        if input.len() < head {
            return Verdict::NeedBytes(head - input.len());
        }
    }
    let mut out = Out {
        reply,
        flush: false,
        swallow_first: false,
    };
    let verdict = match binary::check(&header) {
        Frame::Command(command) => match binary::decode(&header, command, input) {
            Some(request) => execute(&request, head, &input[head..], &mut out, state, cx),
            None => Verdict::NeedBytes(head.saturating_sub(input.len()).max(1)),
        },
        Frame::Drop => {
            // memcached closes on a bad magic at once, dropping the replies it had
            // queued for the same batch.
            out.reply.discard();
            return Verdict::Broken;
        }
        Frame::Fatal(status) => {
            out.error(header.opcode, status, header.opaque);
            Verdict::Close
        }
        Frame::Unknown { swallow } => {
            out.error(header.opcode, Status::UnknownCommand, header.opaque);
            // In a datagram memcached writes out only once the body is swallowed.
            out.swallow_first = swallow > 0;
            Verdict::Swallow(head.saturating_add(swallow))
        }
    };
    if out.flush && !(datagram && out.swallow_first) {
        out.reply.flush_now();
    }
    verdict
}

fn execute(
    r: &Request<'_>,
    head: usize,
    after: &[u8],
    out: &mut Out<'_, '_>,
    state: &mut State,
    cx: &mut Cx<'_>,
) -> Verdict {
    let cache = cx.service();
    let store = cache.store;
    let counters = cache.counters(cx.worker());
    if cache.log.wants(streams::FETCHERS) {
        // Every command with a key but a store fetches it first, as memcached's do
        // (a store fetches when it commits).
        if let Command::Get { .. }
        | Command::GetAndTouch { .. }
        | Command::Touch
        | Command::Delete { .. }
        | Command::Delta { .. } = r.command
        {
            log_writer::fetch(r.key, cx);
        }
    }
    match r.command {
        Command::Get { with_key, quiet } => {
            bump(&counters.cmd_get, 1);
            let item = store.get(r.key);
            cache.stats.detail.record(
                r.key,
                Event::Get {
                    hit: item.is_some(),
                },
            );
            match item {
                Some(item) => match item.external() {
                    Some(ext) => {
                        return out.disk_item(r, &item, ext, with_key, quiet, head, state, cx)
                    }
                    None => out.item(r, item, with_key, true),
                },
                None if quiet => {}
                None => out.miss(r, with_key),
            }
        }
        Command::GetAndTouch { with_key, quiet } => {
            if let Some(verdict) = touch(r, with_key, true, quiet, head, out, state, cx) {
                return verdict;
            }
        }
        Command::Touch => {
            touch(r, false, false, false, head, out, state, cx);
        }
        Command::Store { kind, quiet } => {
            return store_command(r, kind, quiet, head, after, out, state, cx)
        }
        Command::Delete { quiet } => {
            cache.stats.detail.record(r.key, Event::Delete);
            if cas_conflict(cx, r) {
                out.error(r.opcode, Status::KeyExists, r.opaque);
            } else if store.delete(r.key) {
                if !quiet {
                    out.success(r.opcode, r.opaque, 0, b"");
                }
            } else {
                out.error(r.opcode, Status::KeyNotFound, r.opaque);
            }
        }
        Command::Delta { incr, quiet } => {
            if let Some(verdict) = delta(r, incr, quiet, out, state, cx) {
                return verdict;
            }
        }
        Command::Flush { quiet } => {
            // memcached refuses a disabled flush with an auth error, and does not count it.
            if !cx.config().flush_enabled {
                out.error(r.opcode, Status::AuthError, r.opaque);
            } else {
                let delay = match r.extras {
                    Extras::Flush(Some(e)) => exptime(e),
                    _ => 0,
                };
                bump(&counters.cmd_flush, 1);
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
        Command::Version => out.success(r.opcode, r.opaque, 0, VERSION.as_bytes()),
        Command::Quit { quiet } => {
            if !quiet {
                out.success(r.opcode, r.opaque, 0, b"");
            }
            return Verdict::Close;
        }
        Command::Stat => stat(r, out, cx),
    }
    Verdict::Consumed(head)
}
