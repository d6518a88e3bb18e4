//! The UDP transport (`-U`): text, meta and binary requests in datagrams, answered the
//! way memcached 1.6 answers them.
//!
//! Every worker serves every UDP socket (a duplicate of the bound descriptor, registered
//! in the worker's own poll), as memcached's threads share theirs: the kernel gives each
//! datagram to one reader, and replies go back to its sender. Nothing outlives a
//! datagram: a request must fit in one, and one that does not (a value cut short, a line
//! without its newline, a binary header or key cut short) is dropped and counted, where
//! memcached would keep the rest and mix it up with whatever datagram came next. The
//! datagram's first byte picks the protocol of all its requests (0x80: binary), as in
//! memcached, whatever `-B` says. Requests are answered by the same [`CacheHandler`] a
//! stream has, one per datagram, told by its context that the input is a datagram (so
//! nothing parks and nothing is read into a reservation); this module keeps only the
//! framing.
//!
//! Replies are cut into memcached's "response objects", because each is framed on its own
//! (sequence numbers from 0, `total` its own datagram count): one per request, and for
//! `get`/`gets`/`gat`/`gats` one per key (a miss is an empty one, the last key's carries
//! `END`). memcached sends them at the end of the datagram, after every retrieval
//! command, after a binary error or NOOP, and after every `-R` requests (where it
//! yields); an empty one goes out as a bare header unless it directly follows one just
//! sent; a `noreply` one is not sent (a quiet binary command's is an empty one, sent).
//! [`plan`] reproduces that, so the datagrams match 1.6.18's byte for byte.

use super::state::{CacheHandler, Cx};
use super::value::Pinned;
use crate::runtime::{bump, Handler, Port, Reply, Verdict};
use channel::datagram::{self, FrameHeader, Malformed, Received};
use channel::{BufferPool, Outcome, SendQueue};
use protocol::binary;
use protocol::text::{self, Keys, Request};
use std::collections::VecDeque;
use std::net::{SocketAddr, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};

/// Reply datagrams a worker holds while the socket's send buffer is full. Beyond this the
/// rest of a reply is dropped (UDP promises no delivery) rather than buffered without
/// bound.
const MAX_UNSENT_BYTES: usize = 4 << 20;

/// Datagrams a worker dropped without answering, by reason. memcached has no counter for
/// these; `-vv` logs each one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Drops {
    /// Eight bytes or fewer: no request after the frame header.
    pub(crate) short: u64,
    /// A frame header announcing other than one datagram.
    pub(crate) fragmented: u64,
    /// A request not complete within its datagram (a line, a binary header or key, or a
    /// value cut short).
    pub(crate) incomplete: u64,
    /// A line memcached answers by closing a stream (HTTP, over-long), or a binary frame
    /// with a wrong magic: the whole datagram's replies are dropped, as memcached drops
    /// them.
    pub(crate) closed: u64,
    /// Reply datagrams that could not be sent (send error, or too many waiting).
    pub(crate) unsent: u64,
}

/// One response object: a span of the collected reply bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Response {
    start: usize,
    end: usize,
    /// A `noreply` request: nothing to send.
    skip: bool,
}

impl Response {
    fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

/// A reply datagram waiting for room in the socket's send buffer.
struct Unsent {
    to: SocketAddr,
    bytes: Vec<u8>,
}

/// One worker's duplicate of one UDP socket.
pub(crate) struct UdpPort {
    socket: UdpSocket,
    /// Receive buffer, big enough for any datagram.
    input: Vec<u8>,
    output: SendQueue<Pinned>,
    /// Reply bytes of the responses not yet sent.
    replies: Vec<u8>,
    responses: Vec<Response>,
    unsent: VecDeque<Unsent>,
    unsent_bytes: usize,
    pub(crate) drops: Drops,
}

impl UdpPort {
    pub(crate) fn new(socket: UdpSocket) -> UdpPort {
        UdpPort {
            socket,
            input: vec![0; datagram::MAX_RECEIVE],
            output: SendQueue::new(),
            replies: Vec::new(),
            responses: Vec::new(),
            unsent: VecDeque::new(),
            unsent_bytes: 0,
            drops: Drops::default(),
        }
    }
}

impl Port<CacheHandler> for UdpPort {
    /// Non-blocking since `channel::datagram::bind` (a duplicate shares the flag).
    /// Writable readiness wakes a worker holding unsent replies.
    fn fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }

    /// Sends what waits, then serves datagrams: until the socket has none, or `-R` of
    /// them (then true: come back next turn, so that connections get their turn).
    fn ready(&mut self, cx: &mut Cx<'_>, pool: &mut BufferPool) -> bool {
        for _ in 0..cx.config().reqs_per_event.max(1) {
            // Backpressure: read nothing while replies wait for the send buffer.
            if !self.send_unsent(cx) {
                return false;
            }
            match datagram::recv_from(&self.socket, &mut self.input) {
                Received::Datagram { len, from } => self.serve(len, from, cx, pool),
                Received::Retry => return false,
                // One datagram lost (an ICMP error surfacing, say); the socket serves on.
                Received::Abort(_) => {}
            }
        }
        // Not a conn_yields: memcached reads one datagram per event and counts only the
        // yields within a datagram's requests (see `yields_after`).
        true
    }
}

impl UdpPort {
    /// Answers one datagram.
    fn serve(&mut self, len: usize, from: SocketAddr, cx: &mut Cx<'_>, pool: &mut BufferPool) {
        // Requests borrow from the datagram while replies are recorded in `self`.
        let input = std::mem::take(&mut self.input);
        self.answer(&input[..len], from, cx, pool);
        self.input = input;
        self.output.release_if_empty(pool);
    }

    fn answer(
        &mut self,
        datagram: &[u8],
        from: SocketAddr,
        cx: &mut Cx<'_>,
        pool: &mut BufferPool,
    ) {
        let verbose = cx.config().verbose > 1;
        let counters = &*cx.runtime().workers[cx.worker()];
        let (header, payload) = match FrameHeader::parse(datagram) {
            Ok(parsed) => parsed,
            Err(malformed) => {
                match malformed {
                    Malformed::Short(_) => self.drops.short += 1,
                    Malformed::Fragmented(_) => {
                        // memcached counts the bytes of any datagram with a payload.
                        bump(&counters.bytes_read, datagram.len() as u64);
                        self.drops.fragmented += 1;
                    }
                }
                if verbose {
                    eprintln!("udp {from}: dropped: {malformed}");
                }
                return;
            }
        };
        bump(&counters.bytes_read, datagram.len() as u64);
        let reply_to = Destination {
            to: from,
            request_id: header.request_id,
        };
        // memcached reads every request of a datagram in the protocol of its first byte,
        // whatever -B says: 0x80 is binary, anything else text (or meta).
        let binary = payload[0] == binary::REQUEST_MAGIC;
        // The same handler a stream has, for this datagram only: whatever it holds when
        // the datagram is done (a reservation for a value cut short) is dropped with it.
        let mut handler = CacheHandler::datagram(binary, i64::from(self.socket.as_raw_fd()));
        let per_turn = cx.config().reqs_per_event.max(1);
        let mut served = 0usize;
        let mut pos = 0;
        while pos < payload.len() {
            let input = &payload[pos..];
            let (used, flush) = match self.request(&mut handler, input, binary, cx, pool) {
                Next::Served { used, flush } => (used, flush),
                Next::Last => break,
                Next::Incomplete => {
                    self.drop_incomplete(from, verbose, pool);
                    break;
                }
                Next::Closed => {
                    // memcached closes a stream here, and for UDP that discards every
                    // reply of the datagram not yet sent.
                    self.drops.closed += 1;
                    self.discard(pool);
                    return;
                }
            };
            pos = pos.saturating_add(used).min(payload.len());
            served += 1;
            let yields = yields_after(served, per_turn);
            if yields {
                bump(&counters.conn_yields, 1);
            }
            if flush || yields {
                self.transmit(reply_to, cx);
            }
        }
        self.transmit(reply_to, cx);
    }

    /// Answers the request at the head of `input` with the session handler. Its
    /// response objects: one per key of a text retrieval, else one; a binary request's is
    /// never skipped as a text `noreply` is (a quiet command's is an empty one, which
    /// [`plan`] sends as a bare header unless it is right behind a sent one).
    fn request(
        &mut self,
        handler: &mut CacheHandler,
        input: &[u8],
        binary: bool,
        cx: &mut Cx<'_>,
        pool: &mut BufferPool,
    ) -> Next {
        let lookups = if binary { None } else { retrieval_keys(input) };
        let mut reply = Reply::new(&mut self.output, pool);
        let verdict = handler.step(input, &mut reply, cx);
        let flush = reply.flush_requested();
        let used = match verdict {
            Verdict::Consumed(n) | Verdict::Swallow(n) => n,
            // quit (or an allowed shutdown, or a fatal binary error): answered, and the
            // rest of the datagram ignored.
            Verdict::Close => {
                self.collect(None);
                if let Some(last) = self.responses.last_mut() {
                    last.skip = false;
                }
                return Next::Last;
            }
            Verdict::Broken => return Next::Closed,
            // The value is not all in this datagram, or a reply outgrew what one request
            // may queue: nothing of this request is sent.
            Verdict::NeedBytes(_)
            | Verdict::ReadInto { .. }
            | Verdict::Continue
            | Verdict::Park { .. } => return Next::Incomplete,
        };
        self.collect(lookups);
        if binary {
            if let Some(response) = self.responses.last_mut() {
                response.skip = false;
            }
        }
        // memcached writes its responses out after every retrieval command.
        Next::Served {
            used,
            flush: flush || lookups.is_some(),
        }
    }

    fn drop_incomplete(&mut self, from: SocketAddr, verbose: bool, pool: &mut BufferPool) {
        self.drops.incomplete += 1;
        if verbose {
            eprintln!("udp {from}: dropped a request not complete in its datagram");
        }
        // Whatever the request began to answer is not sent.
        self.output.clear(pool);
    }

    /// Forgets every reply of the datagram.
    fn discard(&mut self, pool: &mut BufferPool) {
        self.output.clear(pool);
        self.replies.clear();
        self.responses.clear();
    }

    /// Moves one request's reply out of the send queue into `replies` (dropping the pins
    /// of large values on the way) and records its response objects: one per key of a
    /// retrieval (`lookups`), else one.
    fn collect(&mut self, lookups: Option<Keys<'_>>) {
        let start = self.replies.len();
        // Writing into a Vec takes everything and cannot fail.
        let _ = self.output.flush(&mut self.replies);
        let end = self.replies.len();
        if end == start {
            self.responses.push(Response {
                start,
                end,
                skip: true,
            });
            return;
        }
        let before = self.responses.len();
        if let Some(keys) = lookups {
            for (from, to) in split_lookups(&self.replies[start..end], keys) {
                self.responses.push(Response {
                    start: start + from,
                    end: start + to,
                    skip: false,
                });
            }
        }
        if self.responses.len() == before {
            self.responses.push(Response {
                start,
                end,
                skip: false,
            });
        }
    }

    /// Sends the recorded responses, as [`plan`] says, and forgets them.
    fn transmit(&mut self, dest: Destination, cx: &Cx<'_>) {
        let counters = &*cx.runtime().workers[cx.worker()];
        for response in plan(&self.responses) {
            let bytes = &self.replies[response.start..response.end];
            let mut out = Outbox {
                socket: &self.socket,
                unsent: &mut self.unsent,
                unsent_bytes: &mut self.unsent_bytes,
                drops: &mut self.drops,
                bytes_written: &counters.bytes_written,
            };
            datagram::frame(dest.request_id, bytes, |d| out.send(d, dest.to));
        }
        self.responses.clear();
        self.replies.clear();
    }

    /// Sends replies held back by a full send buffer; true when none remain.
    fn send_unsent(&mut self, cx: &Cx<'_>) -> bool {
        let counters = &*cx.runtime().workers[cx.worker()];
        while let Some(front) = self.unsent.front() {
            match datagram::send_to(&self.socket, &front.bytes, front.to) {
                Outcome::Done(n) => bump(&counters.bytes_written, n as u64),
                Outcome::Retry => return false,
                Outcome::Abort(_) => self.drops.unsent += 1,
            }
            if let Some(sent) = self.unsent.pop_front() {
                self.unsent_bytes -= sent.bytes.len();
            }
        }
        true
    }
}

/// What became of one request of a datagram.
enum Next {
    /// Answered; the next request starts `used` bytes on, and memcached writes out its
    /// replies here if `flush`.
    Served { used: usize, flush: bool },
    /// Answered, and the rest of the datagram is not read (quit, a fatal binary error).
    Last,
    /// Not complete within the datagram: dropped, with whatever it began to answer.
    Incomplete,
    /// What closes a stream (an HTTP line, a wrong binary magic): every reply of the
    /// datagram not yet sent is dropped.
    Closed,
}

/// Where the replies of one datagram go.
#[derive(Clone, Copy)]
struct Destination {
    to: SocketAddr,
    request_id: u16,
}

/// Sends reply datagrams in order, holding them back while the send buffer is full.
struct Outbox<'a> {
    socket: &'a UdpSocket,
    unsent: &'a mut VecDeque<Unsent>,
    unsent_bytes: &'a mut usize,
    drops: &'a mut Drops,
    bytes_written: &'a std::sync::atomic::AtomicU64,
}

impl Outbox<'_> {
    /// False when the rest of this reply is not worth sending.
    fn send(&mut self, datagram: &[u8], to: SocketAddr) -> bool {
        if self.unsent.is_empty() {
            match datagram::send_to(self.socket, datagram, to) {
                Outcome::Done(n) => {
                    bump(self.bytes_written, n as u64);
                    return true;
                }
                Outcome::Retry => {}
                Outcome::Abort(_) => {
                    self.drops.unsent += 1;
                    return false;
                }
            }
        }
        if *self.unsent_bytes + datagram.len() > MAX_UNSENT_BYTES {
            self.drops.unsent += 1;
            return false;
        }
        *self.unsent_bytes += datagram.len();
        self.unsent.push_back(Unsent {
            to,
            bytes: datagram.to_vec(),
        });
        true
    }
}

/// Whether memcached yields to other connections after the `served`th request of a
/// datagram, under `-R per_turn`: after request `per_turn + 1` (the first is read
/// without being counted) and every `per_turn` requests after that (the 21st, 41st...
/// by default). It counts a yield and writes its responses out there, which decides
/// whether an empty response right behind is sent.
fn yields_after(served: usize, per_turn: usize) -> bool {
    served > per_turn && (served - 1).is_multiple_of(per_turn)
}

/// Which recorded responses memcached 1.6 puts on the wire, in order. It sends one
/// response at a time and, once one is out, retires every empty response directly
/// behind it unsent (its write bookkeeping sees nothing left to write there); a
/// `noreply` response at the head is retired without sending anything.
fn plan(responses: &[Response]) -> impl Iterator<Item = &Response> {
    let mut i = 0;
    std::iter::from_fn(move || {
        while let Some(r) = responses.get(i) {
            i += 1;
            if r.skip {
                continue;
            }
            while responses.get(i).is_some_and(Response::is_empty) {
                i += 1;
            }
            return Some(r);
        }
        None
    })
}

/// Splits a retrieval reply (`VALUE` blocks, then `END`) into one span per key, in key
/// order: a hit's span is its block, a miss's is empty, and the last key's span runs to
/// the end (taking `END`). Empty when the reply does not have that shape.
fn split_lookups(reply: &[u8], keys: Keys<'_>) -> Vec<(usize, usize)> {
    let mut spans = Vec::new();
    let mut at = 0;
    let mut keys = keys.peekable();
    while let Some(key) = keys.next() {
        let start = at;
        if let Some(len) = value_block_len(&reply[at..], key) {
            at += len;
        }
        if keys.peek().is_none() {
            at = reply.len();
        }
        spans.push((start, at));
    }
    spans
}

/// The length of the `VALUE <key> <flags> <bytes>[ <cas>]\r\n<data>\r\n` block at the
/// front of `reply`, if there is one for `key`.
fn value_block_len(reply: &[u8], key: &[u8]) -> Option<usize> {
    let rest = reply.strip_prefix(b"VALUE ")?;
    // Keys hold no spaces and no "\r\n", so the first "\r\n" ends the header line.
    let line_end = rest.windows(2).position(|w| w == b"\r\n")?;
    let mut fields = rest[..line_end].split(|&b| b == b' ');
    if fields.next()? != key {
        return None;
    }
    let _flags = fields.next()?;
    let bytes: usize = std::str::from_utf8(fields.next()?).ok()?.parse().ok()?;
    let total = b"VALUE ".len() + line_end + 2 + bytes + 2;
    (total <= reply.len()).then_some(total)
}

/// The keys of the text retrieval at the head of `input`, if that is what it is: each
/// key's answer is a response object of its own.
fn retrieval_keys(input: &[u8]) -> Option<Keys<'_>> {
    match text::parse(input) {
        text::Parse::Request {
            request: Request::Get { keys, .. } | Request::Gat { keys, .. },
            ..
        } => Some(keys),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: usize, end: usize, skip: bool) -> Response {
        Response { start, end, skip }
    }

    fn sent(responses: &[Response]) -> Vec<Response> {
        plan(responses).copied().collect()
    }

    #[test]
    fn empty_responses_behind_a_sent_one_are_retired_unsent() {
        // `version` then `get miss hit` in one datagram: VERSION, (miss), VALUE..END.
        let list = [r(0, 16, false), r(16, 16, false), r(16, 30, false)];
        assert_eq!(sent(&list), [list[0], list[2]]);
        // `get miss miss` alone: the first miss goes out as a bare header.
        let list = [r(0, 0, false), r(0, 0, false), r(0, 5, false)];
        assert_eq!(sent(&list), [list[0], list[2]]);
        // `version` then `quit`: quit's empty response is retired.
        let list = [r(0, 16, false), r(16, 16, false)];
        assert_eq!(sent(&list), [list[0]]);
    }

    #[test]
    fn noreply_responses_are_skipped_without_retiring_what_follows() {
        // `set ... noreply` then `quit`: quit's bare header is sent.
        let list = [r(0, 0, true), r(0, 0, false)];
        assert_eq!(sent(&list), [list[1]]);
        // But a noreply behind a sent response is retired with it.
        let list = [r(0, 8, false), r(8, 8, true), r(8, 8, false)];
        assert_eq!(sent(&list), [list[0]]);
    }

    #[test]
    fn memcached_yields_after_the_first_r_plus_one_requests_then_every_r() {
        let at = |per_turn: usize| -> Vec<usize> {
            (1..=70).filter(|&n| yields_after(n, per_turn)).collect()
        };
        assert_eq!(at(20), [21, 41, 61]);
        assert_eq!(at(3)[..4], [4, 7, 10, 13]);
        assert_eq!(at(1)[..3], [2, 3, 4]);
    }

    fn keys(line: &'static [u8]) -> Keys<'static> {
        match text::parse(line) {
            text::Parse::Request {
                request: Request::Get { keys, .. },
                ..
            } => keys,
            _ => panic!("not a get"),
        }
    }

    #[test]
    fn retrieval_replies_split_per_key_with_end_on_the_last() {
        let reply = b"VALUE a 0 1\r\nx\r\nVALUE c 5 3 77\r\nabc\r\nEND\r\n";
        let spans = split_lookups(reply, keys(b"get a b c\r\n"));
        assert_eq!(spans, [(0, 16), (16, 16), (16, reply.len())]);
        // Trailing misses: the last (empty) key takes END.
        let spans = split_lookups(b"VALUE a 0 1\r\nx\r\nEND\r\n", keys(b"get a m m\r\n"));
        assert_eq!(spans, [(0, 16), (16, 16), (16, 21)]);
        // Repeated keys, and a value that looks like a VALUE line.
        let reply =
            b"VALUE k 0 13\r\nVALUE k 0 1\r\n\r\nVALUE k 0 13\r\nVALUE k 0 1\r\n\r\nEND\r\n";
        let spans = split_lookups(reply, keys(b"get k k\r\n"));
        assert_eq!(spans, [(0, 29), (29, reply.len())]);
    }

    #[test]
    fn a_reply_of_another_shape_is_not_split() {
        assert_eq!(
            split_lookups(b"SERVER_ERROR x\r\n", keys(b"get a b\r\n")),
            [(0, 0), (0, 16)]
        );
        assert_eq!(value_block_len(b"VALUE a 0 99\r\nshort\r\n", b"a"), None);
        assert_eq!(value_block_len(b"VALUE a 0 x\r\n", b"a"), None);
        assert_eq!(value_block_len(b"VALUE b 0 1\r\nx\r\n", b"a"), None);
    }
}
