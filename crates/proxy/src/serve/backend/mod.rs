//! The backend side of a link: a session the proxy opened to a memcached (or Corvid)
//! server. Its handler reads replies in order, hands each to whoever waits for it (the
//! front of the link's in-flight queue) as [`Piece`]s copied out of the read buffer, and
//! takes requests from the link's outgoing buffer when a client kicks it.
//!
//! A value larger than [`STREAM_AT`] is not waited for whole: it is handed on in pieces
//! as it arrives, so the proxy never holds a large value. The "\r\n" after a value is
//! never split from the last piece, so that a client translating replies (binary) can
//! drop it.
//!
//! Failures: bytes that are no reply, or a reply nobody asked for, break the link; no
//! reply within the pool's `timeout` breaks it too (its replies can no longer be told
//! apart). Every request still in flight then gets [`Message::Failed`], and the failure
//! counts toward the server's ejection.
//!
//! This module is the handler (its turns: replies read, kicked, expired, gone). How a
//! reply unit is framed by what was asked is in [`framing`]; handing pieces on and
//! counting a finished reply in [`delivery`]. Neither reaches back into this module.

mod delivery;
mod framing;

pub use framing::server_error;

use delivery::{finish, pass_on, Shape};
use framing::read_head;

use std::time::{Duration, Instant};

use server::runtime::{Context, Reply, Verdict};

use super::chunk::Chunk;
use super::link::{Expect, LinkState, SEND_HIGH};
use super::message::{Failure, Message, Sink, Unit};
use super::ProxyHandler;

/// Values whose whole reply is longer than this are handed on in pieces as they come.
pub const STREAM_AT: usize = 16 * 1024;

type Cx<'a> = Context<'a, ProxyHandler>;

/// The handler of a backend session.
pub struct BackendHandler {
    /// Its link's key in the worker's state.
    pub link: usize,
    /// A value being handed on in pieces: data bytes and trailer bytes still to come.
    value: Option<(usize, usize)>,
    /// Requests in flight as of its last turn (for `busy`: replies are waited for even
    /// at shutdown).
    in_flight: usize,
}

impl BackendHandler {
    pub fn new(link: usize) -> BackendHandler {
        BackendHandler {
            link,
            value: None,
            in_flight: 0,
        }
    }

    pub fn step(&mut self, input: &[u8], reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        let verdict = self.read_replies(input, reply, cx);
        if matches!(verdict, Verdict::Close | Verdict::Broken) {
            // Not busy any more: the runtime keeps stepping a closing session while its
            // handler says it is.
            self.in_flight = 0;
        }
        verdict
    }

    fn read_replies(
        &mut self,
        input: &[u8],
        _reply: &mut Reply<'_, Chunk>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        let (local, mut out) = cx.local_and_outbox();
        let worker = local.index;
        let Some(link) = local.links.get_mut(self.link) else {
            return Verdict::Broken;
        };
        if link.paused_by.is_some() {
            return Verdict::Park { consumed: 0 };
        }
        let mut used = 0;
        let mut now = None;
        let mut probed = None;
        let mut close = false;
        loop {
            let rest = &input[used..];
            if rest.is_empty() {
                break;
            }
            let Some(front) = link.inflight.front().copied() else {
                // Bytes nobody asked for: the stream cannot be trusted.
                link.failure = Failure::Protocol;
                return Verdict::Broken;
            };
            // The rest of a value handed on in pieces.
            if let Some((data, trailer)) = self.value {
                let take_data = data.min(rest.len());
                let whole = take_data == data && rest.len() >= data + trailer;
                if take_data == 0 && !whole {
                    break;
                }
                let n = if whole { data + trailer } else { take_data };
                if whole && rest[data..data + trailer] != b"\r\n"[..trailer] {
                    link.failure = Failure::Protocol;
                    return Verdict::Broken;
                }
                let last = whole
                    && front.expect != Expect::Retrieval
                    && !matches!(front.expect, Expect::UntilNoop { .. });
                let shape = Shape {
                    head: 0,
                    trailer: if whole { trailer as u8 } else { 0 },
                    unit: Unit::Value,
                    unit_end: whole,
                    last,
                };
                pass_on(
                    &mut out,
                    &local.pool,
                    front.sink,
                    (link.id, self.link),
                    &rest[..n],
                    shape,
                );
                link.stats
                    .worker(worker)
                    .add(|c| &c.response_bytes, n as u64);
                used += n;
                self.value = if whole {
                    None
                } else {
                    Some((data - n, trailer))
                };
                if last {
                    let now = *now.get_or_insert_with(Instant::now);
                    finish(link.inflight.pop_front(), &link.stats, worker, now);
                    if let Some(server) = local.loaded.backends.get(link.backend).map(|b| b.server)
                    {
                        local.health.record_success(server);
                    }
                }
                continue;
            }
            let head = match read_head(rest, front.expect) {
                Ok(Some(head)) => head,
                Ok(None) => break,
                Err(()) => {
                    link.failure = Failure::Protocol;
                    return Verdict::Broken;
                }
            };
            let end = head.frame.end();
            let whole = end <= rest.len();
            if !whole && end <= STREAM_AT {
                // A small value not all here: wait for the rest.
                if used == 0 {
                    return Verdict::NeedBytes(end - rest.len());
                }
                break;
            }
            // Whole, or the head and what data there is of a large value (its trailer
            // held back until all of it can go together).
            let data_here = (rest.len() - head.frame.head).min(head.frame.data);
            let n = if whole {
                end
            } else {
                head.frame.head + data_here
            };
            if whole && head.frame.data(rest).is_err() {
                link.failure = Failure::Protocol;
                return Verdict::Broken;
            }
            let last = head.last && whole;
            let shape = Shape {
                head: if head.noop { 0 } else { head.frame.head as u32 },
                trailer: if whole { head.frame.trailer as u8 } else { 0 },
                unit: head.unit,
                unit_end: whole,
                last,
            };
            // The proxy's own `mn` ends a quiet request's reply: it is not passed on.
            let bytes = if head.noop { &[][..] } else { &rest[..n] };
            pass_on(
                &mut out,
                &local.pool,
                front.sink,
                (link.id, self.link),
                bytes,
                shape,
            );
            link.state = match link.state {
                LinkState::Connecting => LinkState::Up,
                s => s,
            };
            link.stats
                .worker(worker)
                .add(|c| &c.response_bytes, n as u64);
            used += n;
            if !whole {
                self.value = Some((head.frame.data - data_here, head.frame.trailer));
            }
            if last {
                let now = *now.get_or_insert_with(Instant::now);
                let probe = front.sink == Sink::Probe;
                finish(link.inflight.pop_front(), &link.stats, worker, now);
                if let Some(server) = local.loaded.backends.get(link.backend).map(|b| b.server) {
                    if probe {
                        probed = Some((server, head.unit == Unit::Line, now));
                    } else {
                        local.health.record_success(server);
                    }
                }
            }
            if link.state == LinkState::Retiring && link.inflight.is_empty() {
                close = true;
                break;
            }
        }
        if let Some((server, ok, now)) = probed {
            local.probed(server, ok, now);
        }
        if close {
            return Verdict::Close;
        }
        let link = &mut local.links[self.link];
        self.in_flight = link.inflight.len();
        // Replies free room: clients that waited for it try again.
        if !link.waiters.is_empty()
            && link.unsent + link.outgoing.len() < SEND_HIGH
            && link.streaming.is_none()
        {
            for waiter in link.waiters.drain(..) {
                out.complete(waiter, Message::Room);
            }
        }
        if used > 0 {
            Verdict::Consumed(used)
        } else {
            Verdict::NeedBytes(1)
        }
    }

    pub fn resume(
        &mut self,
        message: Message,
        reply: &mut Reply<'_, Chunk>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        match message {
            Message::Kick => self.kicked(reply, cx),
            Message::Unpause => {
                let local = cx.local();
                let Some(link) = local.links.get_mut(self.link) else {
                    return Verdict::Continue;
                };
                link.paused_by = None;
                let backend = link.backend;
                // Others' requests went around it to a connection opened meanwhile: one
                // too many now; this one finishes what it has and closes.
                if local.surplus(backend) {
                    let link = &mut local.links[self.link];
                    link.state = LinkState::Retiring;
                    if link.inflight.is_empty() {
                        self.in_flight = 0;
                        return Verdict::Close;
                    }
                }
                Verdict::Continue
            }
            Message::Abort => {
                if let Some(link) = cx.local().links.get_mut(self.link) {
                    link.failure = Failure::Closed;
                }
                reply.discard();
                self.in_flight = 0;
                Verdict::Broken
            }
            // Backends get nothing else.
            _ => Verdict::Continue,
        }
    }

    /// Takes the requests clients appended and arms the timeout.
    fn kicked(&mut self, reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        let local = cx.local();
        let Some(link) = local.links.get_mut(self.link) else {
            return Verdict::Continue;
        };
        link.kicked = false;
        self.in_flight = link.inflight.len();
        if link.state == LinkState::Retiring && link.inflight.is_empty() {
            return Verdict::Close;
        }
        if !link.outgoing.is_empty() {
            let next = local.pool.take();
            let bytes = std::mem::replace(&mut link.outgoing, next);
            reply.pin(local.pool.chunk(bytes, 0));
        }
        link.unsent = reply.pending();
        if link.unsent > 0 {
            // `unsent` is only brought down by `drained`: without it, a client that
            // found the link full would wait for a `Room` nobody sends.
            reply.watch_drain();
        }
        let timeout = local
            .loaded
            .backends
            .get(link.backend)
            .and_then(|b| local.loaded.config.pools[b.server.pool as usize].timeout);
        let arm = match (timeout, link.deadline, link.inflight.front()) {
            (Some(t), None, Some(front)) => Some(front.sent + t),
            _ => None,
        };
        if let Some(at) = arm {
            link.deadline = Some(at);
            cx.set_deadline(at.saturating_duration_since(Instant::now()));
        }
        Verdict::Continue
    }

    /// The deadline armed for the oldest request passed: if it is still waiting, every
    /// request on the link fails (their replies can no longer be matched) and the link
    /// closes; else the deadline moves to the oldest request now waiting.
    pub fn expired(&mut self, reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        let local = cx.local();
        let Some(link) = local.links.get_mut(self.link) else {
            self.in_flight = 0;
            return Verdict::Broken;
        };
        link.deadline = None;
        let timeout = local
            .loaded
            .backends
            .get(link.backend)
            .and_then(|b| local.loaded.config.pools[b.server.pool as usize].timeout)
            .unwrap_or(Duration::MAX);
        let Some(front) = link.inflight.front() else {
            return Verdict::Continue;
        };
        let now = Instant::now();
        let due = front
            .sent
            .checked_add(timeout)
            .unwrap_or(now + Duration::from_secs(3600));
        if due > now {
            link.deadline = Some(due);
            cx.set_deadline(due - now);
            return Verdict::Continue;
        }
        link.failure = Failure::Timeout;
        reply.discard();
        self.in_flight = 0;
        Verdict::Broken
    }

    /// The link closed: every request in flight fails, waiting clients look elsewhere,
    /// the failure counts toward the server's ejection.
    pub fn gone(&mut self, cx: &mut Cx<'_>) {
        let (local, mut out) = cx.local_and_outbox();
        let worker = local.index;
        let Some(mut link) = local.links.try_remove(self.link) else {
            return;
        };
        if let Some(backend) = local.backends.get_mut(link.backend) {
            backend.links.retain(|&k| k != self.link);
        }
        let failure = match (link.state, link.failure) {
            (LinkState::Connecting, Failure::Closed) => Failure::Connect,
            (_, f) => f,
        };
        let stats = &link.stats;
        let server = local.loaded.backends.get(link.backend).map(|b| b.server);
        let clean = link.state == LinkState::Retiring && link.inflight.is_empty();
        let now = Instant::now();
        let mut probe = false;
        for pending in link.inflight.drain(..) {
            match pending.sink {
                Sink::Client { id, seq, sub } => out.complete(
                    id,
                    Message::Failed {
                        seq,
                        sub,
                        why: failure,
                    },
                ),
                Sink::Probe => probe = true,
                Sink::Drop => {}
            }
            let w = stats.worker(worker);
            w.sub(|c| &c.in_flight, 1);
            w.sub(|c| &c.in_flight_bytes, u64::from(pending.bytes));
            if failure == Failure::Timeout {
                w.add(|c| &c.timeouts, 1);
            }
        }
        for waiter in link.waiters.drain(..) {
            out.complete(waiter, Message::Room);
        }
        let w = stats.worker(worker);
        w.sub(|c| &c.connections, 1);
        match failure {
            Failure::Closed if !clean => w.add(|c| &c.eof, 1),
            Failure::Connect | Failure::Protocol => w.add(|c| &c.errors, 1),
            _ => {}
        }
        local.pool.give(std::mem::take(&mut link.outgoing));
        if let Some(server) = server {
            if probe {
                local.probed(server, false, now);
            } else if !clean {
                local.failed(server, now);
            }
        }
    }

    /// Output fell to the low watermark: clients waiting for room try again.
    pub fn drained(&mut self, cx: &mut Cx<'_>) {
        let (local, mut out) = cx.local_and_outbox();
        if let Some(link) = local.links.get_mut(self.link) {
            link.unsent = 0;
            if link.streaming.is_none() {
                for waiter in link.waiters.drain(..) {
                    out.complete(waiter, Message::Room);
                }
            } else if let Some(streamer) = link.streaming {
                out.complete(streamer, Message::Room);
            }
        }
    }

    /// Requests are in flight: their replies are read even at shutdown.
    pub fn busy(&self) -> bool {
        self.in_flight > 0
    }
}
