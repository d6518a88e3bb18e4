//! Retrievals (`get`, `gets`, `gat`, `gats`): keys answered in order until the output
//! reaches its high watermark, then paused and [`resume`]d where they stopped; values on
//! disk wait in order behind a bounded number of reads; hits in RAM queued as
//! `VALUE` lines ([`queue_hit`]).

use crate::cache::detail::Event;
use crate::cache::state::{Cx, State};
use crate::cache::tier::Expect;
use crate::cache::value::{queue_value, Pinned};
use crate::cache::waiting::{Then, Waiting};
use crate::runtime::{bump, Reply, Verdict};
use protocol::text::{self, GetKind, Request};
use store::ItemRef;

/// Replies a multi-get keeps waiting for disk reads, at most: a bound on the pins and
/// read buffers one request holds.
const WAITING_MAX: usize = 64;

/// A retrieval's keys and how to answer them.
pub(super) struct Lookup<'a> {
    kind: GetKind,
    /// gat/gats: the new expiry.
    touch: Option<i64>,
    pub(super) keys: text::Keys<'a>,
}

impl<'a> Lookup<'a> {
    /// The retrieval `request` asks for, if it is one.
    pub(super) fn of(request: Request<'a>) -> Option<Lookup<'a>> {
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
pub(super) fn answer(
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
