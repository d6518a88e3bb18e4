//! Handing a client's requests to backend connections: route, pick (or open) a
//! connection per server, append, record who waits, kick. Shared by the text, meta and
//! binary paths.

use std::time::Instant;

use channel::Stream;
use server::runtime::{ConnId, Verdict};

use super::super::backend::{BackendHandler, STREAM_AT};
use super::super::forward::{Format, Forward};
use super::super::link::{Expect, Link, LinkState, Pending};
use super::super::loaded::BackendAddr;
use super::super::message::{Failure, Message, Sink};
use super::super::slots::SlotState;
use super::super::worker::Pick;
use super::super::ProxyHandler;
use super::{ClientHandler, Cx, Streaming};
use crate::config::ProxyConfig;
use crate::pool::{ReadErrors, ServerRef};
use crate::route::{Decision, Delivery, Operation, Route, RouteId, Targets, MAX_TARGETS};

/// Requests up to this size are kept for a retry on the next server (failover); larger
/// ones are sent once.
const KEEP_FOR_RETRY: usize = 64 * 1024;

/// One request to forward whole.
pub(super) struct Outgoing<'a> {
    /// The key that routes it.
    pub key: &'a [u8],
    pub op: Operation,
    /// Its bytes as they go to the backend, in order (line, data, an appended `mn`).
    pub parts: &'a [&'a [u8]],
    /// Bytes of it still to come from the client (the rest of a large value): they are
    /// streamed after `parts`.
    pub streamed: usize,
    pub expect: Expect,
    pub format: Format,
}

/// What became of a request.
pub(super) enum Sent {
    /// In a slot, on its way.
    Slot,
    /// A connection it needs is full: park and try again on `Room`.
    Park,
}

/// Opens a connection to backend `flat`; the new link's key.
pub(crate) fn open_link(cx: &mut Cx<'_>, flat: usize) -> Result<usize, Failure> {
    let local = cx.local();
    let stream = match &local.loaded.backends[flat].addr {
        BackendAddr::Tcp(addr) => Stream::connect(*addr),
        BackendAddr::Unix(path) => Stream::connect_unix(path),
    };
    let Ok(stream) = stream else {
        let server = local.loaded.backends[flat].server;
        let w = local.backend_stats[flat].worker(local.index);
        w.add(|c| &c.errors, 1);
        local.failed(server, Instant::now());
        return Err(Failure::Connect);
    };
    let buf = local.pool.take();
    let stats = local.backend_stats[flat].clone();
    stats.worker(local.index).add(|c| &c.connections, 1);
    let key = local.links.insert(Link::new(flat, buf, stats));
    local.backends[flat].links.push(key);
    let id = cx.open(stream, ProxyHandler::Backend(BackendHandler::new(key)));
    cx.local().links[key].id = id;
    Ok(key)
}

/// After a configuration change or a health poll: retired links are kicked (idle ones
/// close), due probes are sent.
pub(super) fn after_refresh(cx: &mut Cx<'_>) {
    let local = cx.local();
    if local.retired.is_empty() && local.probes_due.is_empty() {
        return;
    }
    let retired = std::mem::take(&mut local.retired);
    for id in retired {
        cx.complete(id, Message::Kick);
    }
    let probes = std::mem::take(&mut cx.local().probes_due);
    for server in probes {
        probe(server, cx);
    }
}

/// Sends a `version` to an ejected server on a connection of its own; the reply (or
/// its absence) decides whether the server returns.
fn probe(server: ServerRef, cx: &mut Cx<'_>) {
    let flat = cx.local().loaded.flat(server);
    let Ok(key) = open_link(cx, flat) else {
        cx.local().probed(server, false, Instant::now());
        return;
    };
    let (local, mut out) = cx.local_and_outbox();
    local.links[key].state = LinkState::Retiring;
    let request = b"version\r\n";
    let pending = Pending {
        sink: Sink::Probe,
        expect: Expect::Line,
        sent: Instant::now(),
        bytes: request.len() as u32,
    };
    local.send(key, &[request], pending, &mut out);
}

/// The connection to use for `server`, opening one if needed. `Err(None)`: every
/// connection is full (the client now waits for `Room`); `Err(Some(f))`: none could be
/// opened.
pub(super) fn link_for(
    server: ServerRef,
    me: ConnId,
    wait: bool,
    cx: &mut Cx<'_>,
) -> Result<usize, Option<Failure>> {
    let local = cx.local();
    let flat = local.loaded.flat(server);
    match local.pick(flat, me) {
        Pick::Link(key) => Ok(key),
        Pick::Open => open_link(cx, flat).map_err(Some),
        Pick::Wait(key) if wait => {
            let link = &mut cx.local().links[key];
            if !link.waiters.contains(&me) {
                link.waiters.push(me);
            }
            Err(None)
        }
        Pick::Wait(key) => Ok(key),
    }
}

/// A connection to `server` for a large value that will arrive in pieces: one with
/// nothing in flight, or a spare one opened for it (past `server_connections`), so that
/// a client sending its value slowly never holds up other clients' requests (memcached
/// serves them meanwhile; nutcracker holds the whole value instead).
fn stream_link(server: ServerRef, me: ConnId, cx: &mut Cx<'_>) -> Result<usize, Option<Failure>> {
    let local = cx.local();
    let flat = local.loaded.flat(server);
    let limit = local.loaded.config.pools[server.pool as usize].server_connections as usize;
    let shared = || {
        local.backends[flat]
            .links
            .iter()
            .copied()
            .filter(|&key| !local.links[key].spare && local.links[key].open_to(me))
    };
    let idle = shared().find(|&key| {
        let link = &local.links[key];
        link.inflight.is_empty() && link.outgoing.is_empty()
    });
    // An idle connection is taken only if other clients keep one (or may open one).
    if let Some(key) = idle {
        if shared().count() > 1 || local.backends[flat].links.len() < limit {
            return Ok(key);
        }
    }
    let key = open_link(cx, flat).map_err(Some)?;
    cx.local().links[key].spare = true;
    Ok(key)
}

/// Forwards one request, routed by its key.
pub(super) fn forward(client: &mut ClientHandler, req: Outgoing<'_>, cx: &mut Cx<'_>) -> Sent {
    let me = cx.id().unwrap_or(ConnId::new(0, 0));
    let route = client.route(cx);
    let now = cx.local().now;
    let decision = {
        let local = cx.local();
        let entropy = local.entropy();
        local
            .loaded
            .config
            .route(route, &local.health, req.key, req.op, entropy)
    };
    let forward = match decision {
        Decision::Forward(f) => f,
        Decision::Refuse(_) => {
            refused(client, req.format, req.expect, route, cx);
            return Sent::Slot;
        }
    };
    let now_servers: &[ServerRef] = match forward.delivery {
        Delivery::InOrder { .. } => &forward.targets[..1],
        Delivery::All => &forward.targets,
    };
    // Every connection first, so that a request that must wait leaves nothing behind.
    let mut links = [Ok(usize::MAX); MAX_TARGETS];
    for (i, &server) in now_servers.iter().enumerate() {
        let link = if req.streamed > 0 {
            stream_link(server, me, cx)
        } else {
            link_for(server, me, true, cx)
        };
        links[i] = match link {
            Ok(key) => Ok(key),
            Err(None) => return Sent::Park,
            Err(Some(f)) => Err(f),
        };
    }
    let shadow = match (forward.shadow, req.streamed) {
        (Some(server), 0) => link_for(server, me, false, cx).ok(),
        _ => None,
    };
    let total: usize = req.parts.iter().map(|p| p.len()).sum();
    let mut slot = Forward::new(req.format, forward.delivery, forward.targets, req.expect);
    if matches!(forward.delivery, Delivery::InOrder { .. })
        && forward.targets.len() > 1
        && req.streamed == 0
        && total <= KEEP_FOR_RETRY
    {
        let mut copy = cx.local().pool.take();
        for part in req.parts {
            copy.extend_from_slice(part);
        }
        slot.request = Some(copy);
    }
    let seq = client.slots.push(SlotState::Forward(slot));
    let bytes = (total + req.streamed).min(u32::MAX as usize) as u32;
    let mut streaming = Vec::new();
    let (local, mut out) = cx.local_and_outbox();
    for (sub, link) in links.iter().take(now_servers.len()).enumerate() {
        let sub = sub as u16;
        match *link {
            Ok(key) => {
                let pending = Pending {
                    sink: Sink::Client { id: me, seq, sub },
                    expect: req.expect,
                    sent: now,
                    bytes,
                };
                local.send(key, req.parts, pending, &mut out);
                if req.streamed > 0 {
                    let l = &mut local.links[key];
                    l.streaming = Some(me);
                    streaming.push((key, l.id));
                }
            }
            Err(why) => out.complete(me, Message::Failed { seq, sub, why }),
        }
    }
    if let Some(key) = shadow {
        let pending = Pending {
            sink: Sink::Drop,
            expect: req.expect,
            sent: now,
            bytes,
        };
        local.send(key, req.parts, pending, &mut out);
    }
    if req.streamed > 0 {
        client.fence = Some(seq);
        client.streaming = Some(Streaming {
            links: streaming,
            remaining: req.streamed,
            tail: b"",
        });
    }
    Sent::Slot
}

/// No server can take the request: answer as its failure.
fn refused(
    client: &mut ClientHandler,
    format: Format,
    expect: Expect,
    route: RouteId,
    cx: &mut Cx<'_>,
) {
    let pool = cx.local().pool.clone();
    let mut failed = Forward::new(
        format,
        Delivery::InOrder { on_miss: false },
        Targets::default(),
        expect,
    );
    let seq = client.slots.push(SlotState::Local);
    if let Some(slot) = client.slots.get_mut(seq) {
        let mut done = false;
        failed.on_failed(0, Failure::Down, &mut slot.out, &mut done, &pool);
        slot.done = true;
    }
    let local = cx.local();
    if let Some(p) = route_pool(&local.loaded.config, route) {
        local.pool_stats[p]
            .worker(local.index)
            .add(|c| &c.forward_error, 1);
    }
}

/// Sends slot `seq`'s kept request to `server` (failover's next attempt).
pub(super) fn resend(
    client: &mut ClientHandler,
    seq: u32,
    server: ServerRef,
    sub: u16,
    cx: &mut Cx<'_>,
) {
    let me = cx.id().unwrap_or(ConnId::new(0, 0));
    let Some(slot) = client.slots.get_mut(seq) else {
        return;
    };
    let SlotState::Forward(f) = &mut slot.state else {
        return;
    };
    let Some(request) = f.request.take() else {
        return;
    };
    let expect = f.expect;
    let key = link_for(server, me, false, cx);
    let (local, mut out) = cx.local_and_outbox();
    match key {
        Ok(key) => {
            let pending = Pending {
                sink: Sink::Client { id: me, seq, sub },
                expect,
                sent: Instant::now(),
                bytes: request.len() as u32,
            };
            local.send(key, &[&request], pending, &mut out);
        }
        Err(why) => out.complete(
            me,
            Message::Failed {
                seq,
                sub,
                why: why.unwrap_or(Failure::Connect),
            },
        ),
    }
    // Kept for the attempt after this one.
    if let Some(slot) = client.slots.get_mut(seq) {
        if let SlotState::Forward(f) = &mut slot.state {
            f.request = Some(request);
        }
    }
}

/// Forwards more of a value being streamed.
pub(super) fn stream_more(client: &mut ClientHandler, input: &[u8], cx: &mut Cx<'_>) -> Verdict {
    let Some(streaming) = &mut client.streaming else {
        return Verdict::Continue;
    };
    if input.is_empty() {
        return Verdict::NeedBytes(1);
    }
    let n = input.len().min(streaming.remaining);
    let me = cx.id().unwrap_or(ConnId::new(0, 0));
    let (local, mut out) = cx.local_and_outbox();
    for &(key, id) in &streaming.links {
        if let Some(link) = local.links.get(key) {
            if link.id == id && link.unsent + link.outgoing.len() >= super::super::link::SEND_HIGH {
                // The backend reads slowly: wait until it drains (its `drained` sends
                // `Room` to the streaming client).
                return Verdict::Park { consumed: 0 };
            }
        }
    }
    for &(key, id) in &streaming.links {
        if local.links.get(key).is_some_and(|l| l.id == id) {
            local.send_more(key, &input[..n], &mut out);
        }
    }
    streaming.remaining -= n;
    if streaming.remaining == 0 {
        for &(key, id) in &streaming.links {
            if local.links.get(key).is_some_and(|l| l.id == id) && !streaming.tail.is_empty() {
                local.send_more(key, streaming.tail, &mut out);
            }
        }
        for &(key, id) in &streaming.links {
            if let Some(link) = local.links.get_mut(key) {
                if link.id == id && link.streaming == Some(me) {
                    link.streaming = None;
                    if link.spare {
                        // Closes once the value's reply is back.
                        link.state = LinkState::Retiring;
                    }
                    for waiter in link.waiters.drain(..) {
                        out.complete(waiter, Message::Room);
                    }
                }
            }
        }
        client.streaming = None;
    }
    Verdict::Consumed(n)
}

/// The client left mid-stream: the backends got part of a value and would wait for the
/// rest; their connections close.
pub(super) fn abandon_stream(streaming: &Streaming, cx: &mut Cx<'_>) {
    let (local, mut out) = cx.local_and_outbox();
    for &(key, id) in &streaming.links {
        if local.links.get(key).is_some_and(|l| l.id == id) {
            out.complete(id, Message::Abort);
        }
    }
}

/// The pool a route leads to first (for per-pool client counters).
pub(crate) fn route_pool(config: &ProxyConfig, route: RouteId) -> Option<usize> {
    let mut id = route;
    for _ in 0..=config.routes.len() {
        match &config.routes.get(id.0 as usize)?.route {
            Route::Pool { pool } | Route::Failover { pool, .. } | Route::Replicate { pool, .. } => {
                return Some(*pool as usize)
            }
            Route::Shadow { primary, .. } => id = *primary,
            Route::Prefix { default, prefixes } => {
                id = default.or_else(|| prefixes.first().map(|p| p.1))?;
            }
        }
    }
    None
}

/// What the proxy sends after a request the client asked no reply for: the backend
/// answers `MN` after whatever it still sends for the request (errors), so the proxy
/// knows where that ends.
pub(super) const NOOP: &[u8] = b"mn\r\n";

/// A request whose line is followed by a data block of `block` bytes (the value and its
/// "\r\n"): forwarded whole when small, streamed as it comes when large.
#[allow(clippy::too_many_arguments)]
pub(super) fn with_data(
    client: &mut ClientHandler,
    key: &[u8],
    op: Operation,
    consumed: usize,
    block: usize,
    quiet: bool,
    meta: bool,
    input: &[u8],
    cx: &mut Cx<'_>,
) -> Verdict {
    let total = consumed.saturating_add(block);
    let expect = match (quiet, meta) {
        (true, m) => Expect::UntilNoop { meta: m },
        (false, true) => Expect::Meta,
        (false, false) => Expect::Line,
    };
    if input.len() >= total {
        let parts: &[&[u8]] = if quiet {
            &[&input[..total], NOOP]
        } else {
            &[&input[..total]]
        };
        let out = Outgoing {
            key,
            op,
            parts,
            streamed: 0,
            expect,
            format: Format::Verbatim { miss: None },
        };
        return sent(forward(client, out, cx), total);
    }
    if total <= STREAM_AT {
        return Verdict::NeedBytes(total - input.len());
    }
    // Large: what is here now, the rest as it comes (then the `mn` of a quiet request).
    let out = Outgoing {
        key,
        op,
        parts: &[input],
        streamed: total - input.len(),
        expect,
        format: Format::Verbatim { miss: None },
    };
    match forward(client, out, cx) {
        Sent::Slot => {
            if let Some(streaming) = &mut client.streaming {
                streaming.tail = if quiet { NOOP } else { b"" };
            }
            Verdict::Consumed(input.len())
        }
        Sent::Park => Verdict::Park { consumed: 0 },
    }
}

/// What reads answer when their server fails, by the listener's first pool.
pub(super) fn read_errors(client: &ClientHandler, cx: &mut Cx<'_>) -> ReadErrors {
    let route = client.route(cx);
    let local = cx.local();
    route_pool(&local.loaded.config, route).map_or(ReadErrors::Miss, |p| {
        local.loaded.config.pools[p].read_errors
    })
}

/// Parks or moves on, after a request was handed to `send`.
pub(super) fn sent(result: Sent, consumed: usize) -> Verdict {
    match result {
        Sent::Slot => Verdict::Consumed(consumed),
        Sent::Park => Verdict::Park { consumed: 0 },
    }
}
