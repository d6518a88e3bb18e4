//! The client side: a session of a memcached client connected to the proxy. Its handler
//! reads requests in the client's protocol (the first byte picks text or binary, as
//! memcached does; meta lines mix with text), answers what the proxy answers itself
//! (`version`, `stats`, malformed requests with memcached's exact errors), routes the
//! rest, appends them to backend connections, and puts the replies back in request
//! order ([`Slots`]).
//!
//! Flow control: a client is not read from while it has as many requests unanswered as
//! its window allows (at most 1024, fewer when its replies are large: [`Slots::window`]),
//! while its output is above the runtime's high watermark, or while the backend
//! connection its next request needs is full. The window keeps what a client that stops
//! reading can still be owed small enough to take off the backends; only if a reply
//! breaks that estimate and its output passes [`OUTPUT_MAX`] do the backend connections
//! feeding it stop reading (and new requests of other clients avoid them).

mod binary;
mod local;
mod meta;
pub(crate) mod send;
mod text;

use std::time::Instant;

use server::runtime::{ConnId, Context, Reply, Verdict};

use super::chunk::Chunk;
use super::forward::After;
use super::message::{Failure, Message, Piece};
use super::slots::{SlotState, Slots};
use super::ProxyHandler;

type Cx<'a> = Context<'a, ProxyHandler>;

/// Past this much unsent output, the backends feeding a client stop reading until it
/// drains (the client is not reading its replies).
pub const OUTPUT_MAX: usize = 4 << 20;

/// Which protocol the client speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Dialect {
    Undecided,
    Text,
    Binary,
}

/// A value on its way from the client to backends as it arrives.
struct Streaming {
    /// The links it goes to (key and session id, checked before each append).
    links: Vec<(usize, ConnId)>,
    /// Bytes still to forward (the rest of the value and its "\r\n", or binary value).
    remaining: usize,
    /// Sent after the last byte (the `mn` after a quiet request).
    tail: &'static [u8],
}

/// The handler of a client session.
pub struct ClientHandler {
    /// The listener it came in on (its route).
    listener: usize,
    dialect: Dialect,
    slots: Slots,
    streaming: Option<Streaming>,
    /// A value streamed on a connection of its own (`send::stream_link`): requests
    /// after it wait until it is answered, or one to the same key on the shared
    /// connection could overtake it.
    fence: Option<u32>,
    /// `quit` was read: close once every earlier reply is out.
    quitting: bool,
    /// Links stopped because this client's output was full: (key, id).
    paused: Vec<(usize, ConnId)>,
    /// A reply broke off midway: the client's stream cannot be mended; close.
    broken: bool,
    /// The client's input ended the session (a frame memcached closes on) while
    /// replies were still owed: they are waited for and written, nothing more is read.
    ending: bool,
    /// Input bytes left unconsumed by the last step: more at the next step means the
    /// runtime read again.
    left: usize,
    /// The first request of the current read (see `drop_read`).
    read_first: u32,
    /// A broken frame ended the session: the slots from this one on are held until
    /// all are answered, then those after the last error are dropped (`drop_read`).
    cut: Option<u32>,
}

impl ClientHandler {
    pub fn new(listener: usize) -> ClientHandler {
        ClientHandler {
            listener,
            dialect: Dialect::Undecided,
            slots: Slots::default(),
            streaming: None,
            fence: None,
            quitting: false,
            paused: Vec::new(),
            broken: false,
            ending: false,
            left: 0,
            read_first: 0,
            cut: None,
        }
    }

    pub fn step(&mut self, input: &[u8], reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) -> Verdict {
        if input.len() > self.left {
            self.read_first = self.slots.next_seq();
        }
        let verdict = self.step_within_read(input, reply, cx);
        self.left = match verdict {
            Verdict::Consumed(n) | Verdict::Park { consumed: n } => input.len().saturating_sub(n),
            Verdict::NeedBytes(_) => input.len(),
            _ => 0,
        };
        verdict
    }

    /// memcached closes on a binary frame with a wrong magic at once, and the replies
    /// it queued for requests of the same read are lost with the connection; those of
    /// earlier reads were sent, and so were those up to an error or a NOOP (memcached
    /// writes out right after either). The replies of this read are held until all are
    /// in, then those after its last error are forgotten (`pump`).
    fn drop_read(&mut self) {
        self.cut = Some(self.read_first);
    }

    /// Moves finished replies to the client (see `drop_read` for a cut).
    fn pump(&mut self, reply: &mut Reply<'_, Chunk>) {
        if let Some(cut) = self.cut {
            if !self.slots.done_from(cut) {
                self.slots.pump_before(reply, Some(cut));
                return;
            }
            let keep = self
                .slots
                .last_binary_error_from(cut)
                .map_or(cut, |seq| seq.wrapping_add(1));
            self.slots.drop_from(keep);
            self.cut = None;
        }
        self.slots.pump(reply);
    }

    /// Whether the rest of this read holds a binary frame memcached closes on. Waiting
    /// for replies before reading on (the window) would send replies memcached drops
    /// with such a read; instead the read's replies are held from now on (`drop_read`)
    /// and the frames up to it go out without waiting: the session is ending, so at
    /// most one read's requests (and `MAX_SLOTS`) are owed.
    fn read_is_doomed(&mut self, input: &[u8]) -> bool {
        if self.dialect != Dialect::Binary {
            return false;
        }
        if self.cut.is_some() {
            return true;
        }
        let mut rest = input;
        while let Some(header) = protocol::binary::Header::parse(rest) {
            if matches!(
                protocol::binary::check(&header),
                protocol::binary::Frame::Drop
            ) {
                self.drop_read();
                return true;
            }
            let Some(next) = rest.get(protocol::binary::HEADER_LEN + header.body_len as usize..)
            else {
                break;
            };
            rest = next;
        }
        false
    }

    /// Replies so far are flushed (a binary NOOP, as memcached writes at once).
    fn flushed(&mut self) {
        self.read_first = self.slots.next_seq();
    }

    fn step_within_read(
        &mut self,
        input: &[u8],
        reply: &mut Reply<'_, Chunk>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        if self.broken {
            return Verdict::Broken;
        }
        if self.streaming.is_some() {
            return send::stream_more(self, input, cx);
        }
        if self.ending {
            return if self.slots.is_empty() {
                Verdict::Close
            } else {
                Verdict::Swallow(usize::MAX)
            };
        }
        if self.quitting {
            return if self.slots.is_empty() {
                Verdict::Close
            } else {
                Verdict::Park { consumed: 0 }
            };
        }
        if let Some(seq) = self.fence {
            if self.slots.get_mut(seq).is_some_and(|slot| !slot.done) {
                return Verdict::Park { consumed: 0 };
            }
            self.fence = None;
        }
        if self.slots.len() >= self.slots.window() && !self.read_is_doomed(input) {
            return Verdict::Park { consumed: 0 };
        }
        if cx.stopping() && !self.slots.is_empty() {
            return Verdict::Park { consumed: 0 };
        }
        if cx.stopping() {
            // Nothing in flight and the server is stopping: read nothing new.
            return Verdict::Park { consumed: 0 };
        }
        let Some(&first) = input.first() else {
            return Verdict::NeedBytes(1);
        };
        {
            let service = cx.service();
            let current = service.current.clone();
            let local = cx.local();
            local.refresh(&current);
            local.now = Instant::now();
            local.tick(local.now);
        }
        send::after_refresh(cx);
        let verdict = match self.dialect {
            Dialect::Text => text::step(self, input, reply, cx),
            Dialect::Binary => binary::step(self, input, reply, cx),
            Dialect::Undecided => {
                self.dialect = if first == protocol::binary::REQUEST_MAGIC {
                    Dialect::Binary
                } else {
                    Dialect::Text
                };
                return self.step(input, reply, cx);
            }
        };
        if matches!(verdict, Verdict::Close | Verdict::Broken) && !self.slots.is_empty() {
            // The runtime steps a closing session while it is busy: from now on the
            // input is dropped until the replies owed are out.
            self.ending = true;
        }
        verdict
    }

    pub fn resume(
        &mut self,
        message: Message,
        reply: &mut Reply<'_, Chunk>,
        cx: &mut Cx<'_>,
    ) -> Verdict {
        match message {
            Message::Piece(piece) => self.piece(piece, reply, cx),
            Message::Failed { seq, sub, why } => self.failed(seq, sub, why, cx),
            // A link has room again: the step that parked tries again.
            Message::Room | Message::Kick | Message::Unpause | Message::Abort => {}
        }
        self.pump(reply);
        if reply.pending() > OUTPUT_MAX {
            reply.watch_drain();
        }
        if self.broken {
            reply.flush_now();
            return Verdict::Broken;
        }
        Verdict::Continue
    }

    fn piece(&mut self, piece: Piece, reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) {
        let (seq, link, from) = (piece.seq, piece.link, piece.from);
        let pool = cx.local().pool.clone();
        let Some(slot) = self.slots.get_mut(seq) else {
            return;
        };
        let after = match &mut slot.state {
            SlotState::Forward(f) => f.on_piece(piece, &mut slot.out, &mut slot.done, &pool),
            SlotState::MultiGet(m) => {
                m.on_piece(piece, &pool);
                if m.emit(&mut slot.out, &pool) {
                    slot.done = true;
                }
                After::Nothing
            }
            SlotState::Broadcast(b) => {
                if piece.head > 0 && !piece.bytes.starts_with(b"OK\r\n") && b.failure.is_none() {
                    b.failure = Some(piece.bytes.clone());
                }
                if piece.last {
                    local::broadcast_part_done(b, &mut slot.out, &mut slot.done, &pool);
                }
                After::Nothing
            }
            SlotState::Local => After::Nothing,
        };
        self.after(seq, after, cx);
        // The client does not read its replies: stop the backend feeding it.
        if reply.pending() > OUTPUT_MAX {
            let me = cx.id().unwrap_or(from);
            let local = cx.local();
            if let Some(l) = local.links.get_mut(link) {
                if l.id == from && l.paused_by.is_none() {
                    l.paused_by = Some(me);
                    l.stats.worker(local.index).add(|c| &c.pauses, 1);
                    self.paused.push((link, from));
                }
            }
        }
    }

    fn failed(&mut self, seq: u32, sub: u16, why: Failure, cx: &mut Cx<'_>) {
        let pool = cx.local().pool.clone();
        let worker = cx.worker();
        let stats = &cx.service().stats;
        let Some(slot) = self.slots.get_mut(seq) else {
            return;
        };
        let after = match &mut slot.state {
            SlotState::Forward(f) => {
                if f.broken(sub) {
                    self.broken = true;
                }
                let after = f.on_failed(sub, why, &mut slot.out, &mut slot.done, &pool);
                if after == After::Nothing {
                    stats.worker(worker).add(|c| &c.backend_errors, 1);
                }
                after
            }
            SlotState::MultiGet(m) => {
                let before = m.failed_keys;
                m.on_failed(sub, why);
                if m.broken {
                    self.broken = true;
                }
                stats
                    .worker(worker)
                    .add(|c| &c.failed_keys, m.failed_keys - before);
                if m.emit(&mut slot.out, &pool) {
                    slot.done = true;
                }
                After::Nothing
            }
            SlotState::Broadcast(b) => {
                if b.failure.is_none() {
                    b.failure = Some(why.line().to_vec());
                }
                local::broadcast_part_done(b, &mut slot.out, &mut slot.done, &pool);
                After::Nothing
            }
            SlotState::Local => After::Nothing,
        };
        self.after(seq, after, cx);
    }

    /// Does what a slot asked for after a reply (send the request to the next server).
    fn after(&mut self, seq: u32, after: After, cx: &mut Cx<'_>) {
        if let After::Resend { server, sub } = after {
            send::resend(self, seq, server, sub, cx);
        }
    }

    /// Output drained: the links this client stopped read again.
    pub fn drained(&mut self, cx: &mut Cx<'_>) {
        let (local, mut out) = cx.local_and_outbox();
        for (key, id) in self.paused.drain(..) {
            if let Some(link) = local.links.get_mut(key) {
                if link.id == id {
                    link.paused_by = None;
                    out.complete(id, Message::Unpause);
                }
            }
        }
    }

    /// The client left: links it stopped read again; replies still coming are dropped
    /// (their completions find no session).
    pub fn gone(&mut self, cx: &mut Cx<'_>) {
        self.drained(cx);
        if let Some(streaming) = self.streaming.take() {
            send::abandon_stream(&streaming, cx);
        }
        let pool_stats = {
            let local = cx.local();
            let route_pool = local
                .loaded
                .config
                .listeners
                .get(self.listener)
                .map(|l| l.route);
            route_pool.and_then(|r| send::route_pool(&local.loaded.config, r))
        };
        if let Some(pool) = pool_stats {
            let local = cx.local();
            if let Some(stats) = local.pool_stats.get(pool) {
                let w = stats.worker(local.index);
                w.sub(|c| &c.client_connections, 1);
                w.add(|c| &c.client_eof, 1);
            }
        }
        self.slots.clear();
    }

    /// Between requests (for `-o idle_timeout`): nothing in flight.
    pub fn idle(&self, input: &[u8]) -> bool {
        self.slots.is_empty() && self.streaming.is_none() && !input.contains(&b'\n')
    }

    /// Replies are owed: they are waited for even at shutdown.
    pub fn busy(&self) -> bool {
        // A broken client closes now: its replies can no longer be put right. One that
        // hangs up in the middle of a value it streams will never finish it: it closes
        // too (`gone` makes the backends drop the half-sent value).
        !self.broken && self.streaming.is_none() && !self.slots.is_empty()
    }

    /// The route of the listener the client came in on.
    fn route(&self, cx: &mut Cx<'_>) -> crate::route::RouteId {
        cx.local().loaded.config.listeners[self.listener].route
    }

    /// Answers the next request with `bytes` from the proxy itself.
    fn local_reply(&mut self, bytes: &[u8], reply: &mut Reply<'_, Chunk>, cx: &mut Cx<'_>) {
        let pool = cx.local().pool.clone();
        self.slots.local(bytes, reply, &pool);
        let worker = cx.worker();
        cx.service().stats.worker(worker).add(|c| &c.cmd_local, 1);
    }
}
