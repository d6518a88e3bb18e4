//! Text retrievals (`get`, `gets`, `gat`, `gats`): any number of keys, answered until
//! the output reaches its high watermark, then paused and resumed where they stopped, so
//! that one request line cannot queue unbounded output.
//!
//! While paused, the line stays at the head of the input ([`State::Lookups`]); resuming
//! parses it again and skips the keys already answered. A client that leaves meanwhile
//! still has every remaining key looked up and counted: memcached composes a whole
//! multi-get before writing any of it.

use super::detail::Event;
use super::state::{Cx, State};
use super::value::{queue_value, Pinned};
use crate::runtime::{bump, Reply, Verdict};
use protocol::text::{self, GetKind, Request};

/// A retrieval's keys and how to answer them.
pub(crate) struct Lookup<'a> {
    pub(crate) kind: GetKind,
    /// gat/gats: the new expiry.
    pub(crate) touch: Option<i64>,
    pub(crate) keys: text::Keys<'a>,
}

impl<'a> Lookup<'a> {
    /// The retrieval `request` asks for, if it is one.
    pub(crate) fn of(request: Request<'a>) -> Option<Lookup<'a>> {
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
pub(crate) fn answer(
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
    for key in lookup.keys {
        let at = key.as_ptr() as usize - line;
        if at < resume {
            continue;
        }
        // At least one key per call, so a paused get always progresses.
        if n > 0 && reply.as_ref().is_some_and(|r| r.pending() >= high) {
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
        if let (Some(item), Some(reply)) = (item, reply.as_mut()) {
            let cas = with_cas.then(|| item.cas());
            queue_value(reply, item, b"\r\n", |out, item| {
                text::write_value_header(out, item.key(), item.flags(), item.value().len(), cas)
            });
        }
    }
    // memcached counts gat keys as touches only, not as gets.
    let counters = cache.counters(cx.worker());
    match lookup.touch {
        None => bump(&counters.cmd_get, n),
        Some(_) => bump(&counters.cmd_touch, n),
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
pub(crate) fn attempted(attempt: text::Attempt<'_>, cx: &Cx<'_>) {
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
