//! A client's replies in request order. Each request the client sent takes a [`Slot`]
//! (numbered by `seq`); replies come back from backends in any order, each slot turns
//! what it gets into the bytes the client must see (its `out`), and only the front
//! slot's bytes go to the client: a reply waits until every earlier one is written.
//!
//! ```text
//!   seq 7 (front)      seq 8             seq 9
//!   out: VALUE..END    out: STORED       (waiting for two backends)
//!   -> to the client   held until 7 is done
//! ```
//!
//! How many slots a client may have open is its *window* ([`Slots::window`]): the reply
//! bytes it may have coming, [`REPLY_BUDGET`], over what its replies have weighed so far
//! (a running estimate that starts at memcached's largest item, so a new client's first
//! burst of requests is paced until its replies show they are small). A client that stops
//! reading therefore has at most about that many bytes on their way to it, which the
//! proxy can take off shared backend connections without pausing them (docs/proxy.md,
//! "Memory bounds").

use std::collections::VecDeque;

use server::runtime::Reply;

use super::chunk::{Chunk, ChunkPool};
use super::forward::Forward;
use super::multiget::MultiGet;

/// What a slot waits for, and how it turns replies into the client's bytes.
pub enum SlotState {
    /// Answered by the proxy itself: `out` is all of it.
    Local,
    /// One request forwarded to one server (or several, in turn or at once).
    Forward(Forward),
    /// A text multi-get split over several servers.
    MultiGet(Box<MultiGet>),
    /// `flush_all` sent to every server of the reachable pools.
    Broadcast(Broadcast),
}

/// `flush_all` sent everywhere: `OK` once all answered it, else the first error.
pub struct Broadcast {
    pub waiting: u16,
    pub noreply: bool,
    /// The first reply that was not `OK`.
    pub failure: Option<Vec<u8>>,
    /// The binary request it answers, if binary: (opcode, opaque, quiet).
    pub binary: Option<(u8, u32, bool)>,
}

/// One request's reply.
pub struct Slot {
    pub seq: u32,
    pub state: SlotState,
    /// Bytes ready for the client, in order.
    pub out: VecDeque<Chunk>,
    /// Nothing more will be added to `out`.
    pub done: bool,
    /// Bytes of it moved to the client so far (what its reply weighed, once done).
    pub sent: usize,
}

impl Slot {
    /// Queues a copy of `bytes`.
    pub fn push_bytes(&mut self, pool: &ChunkPool, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut buf = pool.take();
        buf.extend_from_slice(bytes);
        self.out.push_back(pool.chunk(buf, 0));
    }
}

/// The most requests a client may have unanswered; past this it is not read from until
/// replies go out (a bound on the memory one pipelining client can take).
pub const MAX_SLOTS: usize = 1024;

/// The reply bytes a client may have on their way (by the estimate) before it is read no
/// further. With the runtime's high watermark (1 MiB: a client whose output holds that
/// much is not read) it stays under `OUTPUT_MAX` (4 MiB), the point where a client that
/// does not read would stop the backend connections feeding it, and with them every other
/// client whose requests are queued on them.
pub const REPLY_BUDGET: usize = 2 << 20;

/// Emptied reply queues a client keeps for its next slots (a queue that grew once
/// allocates no more): enough for a client pipelining 16 deep, a few KiB at most.
const SPARE_QUEUES: usize = 16;

/// What a reply is assumed to weigh before a client's first one is seen: memcached's
/// default largest item (`-I 1m`).
pub const FIRST_ESTIMATE: usize = 1 << 20;

/// How many requests a client whose replies weigh `estimate` may have unanswered.
fn window_for(estimate: usize) -> usize {
    (REPLY_BUDGET / estimate.max(1)).clamp(1, MAX_SLOTS)
}

/// A client's slots, oldest first.
pub struct Slots {
    queue: VecDeque<Slot>,
    next: u32,
    /// What a reply to this client weighs, as far as the proxy can tell: up at once to a
    /// larger reply, half way down to each smaller one.
    estimate: usize,
    /// The window the estimate gives (kept: it is read before every request).
    window: usize,
    /// Emptied `out` queues of closed slots, for the next slots.
    spare: Vec<VecDeque<Chunk>>,
}

impl Default for Slots {
    fn default() -> Slots {
        Slots {
            queue: VecDeque::new(),
            next: 0,
            estimate: FIRST_ESTIMATE,
            window: window_for(FIRST_ESTIMATE),
            spare: Vec::new(),
        }
    }
}

impl Slots {
    /// How many slots the client may have open now (see the module's doc).
    #[inline]
    pub fn window(&self) -> usize {
        self.window
    }

    /// A reply of `bytes` went out whole.
    #[inline]
    fn learn(&mut self, bytes: usize) {
        self.estimate = if bytes >= self.estimate {
            bytes
        } else {
            self.estimate - (self.estimate - bytes) / 2
        };
        self.window = window_for(self.estimate);
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    /// Opens a slot for the next request; its number.
    pub fn push(&mut self, state: SlotState) -> u32 {
        let seq = self.next;
        self.next = self.next.wrapping_add(1);
        self.queue.push_back(Slot {
            seq,
            state,
            out: self.spare.pop().unwrap_or_default(),
            done: false,
            sent: 0,
        });
        seq
    }

    /// Answers the next request with `bytes`: at once if nothing is pending before it,
    /// else in a slot of its own.
    pub fn local(&mut self, bytes: &[u8], reply: &mut Reply<'_, Chunk>, pool: &ChunkPool) {
        if self.queue.is_empty() {
            reply.line(bytes);
            return;
        }
        let seq = self.push(SlotState::Local);
        if let Some(slot) = self.get_mut(seq) {
            slot.push_bytes(pool, bytes);
            slot.done = true;
        }
    }

    /// Slot `seq`, if it is still open.
    #[inline]
    pub fn get_mut(&mut self, seq: u32) -> Option<&mut Slot> {
        let front = self.queue.front()?.seq;
        let index = seq.wrapping_sub(front) as usize;
        let slot = self.queue.get_mut(index)?;
        (slot.seq == seq).then_some(slot)
    }

    /// Moves the front slots' bytes into the reply, closing the slots that are done.
    /// True if any slot closed.
    pub fn pump(&mut self, reply: &mut Reply<'_, Chunk>) -> bool {
        self.pump_before(reply, None)
    }

    /// [`Slots::pump`], stopping at slot `stop` (held back, with those after it).
    pub fn pump_before(&mut self, reply: &mut Reply<'_, Chunk>, stop: Option<u32>) -> bool {
        let mut closed = false;
        while let Some(front) = self.queue.front_mut() {
            if Some(front.seq) == stop {
                break;
            }
            // By reference: the chunk is the one copy the bytes make.
            while let Some(chunk) = front.out.pop_front() {
                front.sent += chunk.len();
                reply.pin(chunk);
            }
            if !front.done {
                break;
            }
            let sent = front.sent;
            if let Some(slot) = self.queue.pop_front() {
                if slot.out.capacity() > 0 && self.spare.len() < SPARE_QUEUES {
                    self.spare.push(slot.out);
                }
            }
            self.learn(sent);
            closed = true;
        }
        closed
    }

    /// Bytes held by slots behind the front one (counting against the budget).
    #[cfg(test)]
    pub fn held(&self) -> usize {
        self.queue
            .iter()
            .skip(1)
            .map(|s| s.out.iter().map(Chunk::len).sum::<usize>())
            .sum()
    }

    /// The number the next request's slot will get.
    pub fn next_seq(&self) -> u32 {
        self.next
    }

    /// The slots from `seq` on (none if `seq` is not open).
    fn from(&self, seq: u32) -> impl Iterator<Item = &Slot> {
        let index = self
            .queue
            .front()
            .map_or(usize::MAX, |f| seq.wrapping_sub(f.seq) as usize);
        self.queue.iter().skip(index)
    }

    /// Whether every slot from `seq` on has its whole reply.
    pub fn done_from(&self, seq: u32) -> bool {
        self.from(seq).all(|s| s.done)
    }

    /// The last slot from `seq` on whose reply is a binary error (memcached writes out
    /// everything queued right after an error).
    pub fn last_binary_error_from(&self, seq: u32) -> Option<u32> {
        self.from(seq)
            .filter(|s| {
                s.out.front().is_some_and(|c| {
                    let b = channel::Payload::bytes(c);
                    b.len() >= 8 && b[0] == protocol::binary::RESPONSE_MAGIC && b[6..8] != [0, 0]
                })
            })
            .last()
            .map(|s| s.seq)
    }

    /// Forgets the slots from `seq` on: their replies are never sent (memcached drops
    /// the replies of the read that holds a frame it closes on).
    pub fn drop_from(&mut self, seq: u32) {
        let Some(front) = self.queue.front().map(|s| s.seq) else {
            return;
        };
        let index = seq.wrapping_sub(front) as usize;
        if index < self.queue.len() {
            self.queue.truncate(index);
        }
    }

    /// Drops every slot (the client is gone).
    pub fn clear(&mut self) {
        self.queue.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::{BufferPool, SendQueue};

    #[test]
    fn replies_leave_in_request_order() {
        let pool = ChunkPool::new();
        let mut bufs = BufferPool::new(1024, 4);
        let mut queue: SendQueue<Chunk> = SendQueue::new();
        let mut slots = Slots::default();
        let a = slots.push(SlotState::Local);
        {
            let mut reply = Reply::new(&mut queue, &mut bufs);
            slots.local(b"second\r\n", &mut reply, &pool);
            assert_eq!(reply.pending(), 0, "held behind the first");
        }
        slots.get_mut(a).unwrap().push_bytes(&pool, b"first\r\n");
        {
            let mut reply = Reply::new(&mut queue, &mut bufs);
            assert!(!slots.pump(&mut reply));
            assert_eq!(reply.pending(), 7);
        }
        assert_eq!(slots.held(), 8);
        slots.get_mut(a).unwrap().done = true;
        let mut reply = Reply::new(&mut queue, &mut bufs);
        assert!(slots.pump(&mut reply));
        assert!(slots.is_empty());
        let mut sink = Vec::new();
        queue.flush(&mut sink);
        assert_eq!(sink, b"first\r\nsecond\r\n");
    }

    #[test]
    fn slots_dropped_from_a_seq_on_are_gone_and_earlier_ones_stay() {
        let mut slots = Slots::default();
        let a = slots.push(SlotState::Local);
        let b = slots.push(SlotState::Local);
        let c = slots.push(SlotState::Local);
        assert_eq!(slots.next_seq(), c.wrapping_add(1));
        slots.drop_from(b);
        assert!(slots.get_mut(a).is_some());
        assert!(slots.get_mut(b).is_none() && slots.get_mut(c).is_none());
        slots.drop_from(c.wrapping_add(10));
        assert_eq!(slots.len(), 1);
    }

    #[test]
    fn the_window_follows_what_replies_weigh() {
        let pool = ChunkPool::new();
        let mut bufs = BufferPool::new(64, 1);
        let mut queue: SendQueue<Chunk> = SendQueue::new();
        let mut slots = Slots::default();
        // A new client: replies may be as large as an item can be.
        assert_eq!(slots.window(), REPLY_BUDGET / FIRST_ESTIMATE);
        let mut answer = |slots: &mut Slots, bytes: &[u8]| {
            let seq = slots.push(SlotState::Local);
            let slot = slots.get_mut(seq).unwrap();
            slot.push_bytes(&pool, bytes);
            slot.done = true;
            slots.pump(&mut Reply::new(&mut queue, &mut bufs));
        };
        for _ in 0..40 {
            answer(&mut slots, b"STORED\r\n");
        }
        assert_eq!(slots.window(), MAX_SLOTS, "small replies: the full window");
        answer(&mut slots, &vec![b'v'; 3 << 20]);
        assert_eq!(
            slots.window(),
            1,
            "one reply over the budget: one at a time"
        );
        answer(&mut slots, &vec![b'v'; 100 << 10]);
        assert!(slots.window() == 1, "a smaller reply brings it down slowly");
        for _ in 0..40 {
            answer(&mut slots, b"END\r\n");
        }
        assert_eq!(slots.window(), MAX_SLOTS);
    }

    #[test]
    fn a_closed_slot_is_not_found_again() {
        let mut slots = Slots::default();
        let a = slots.push(SlotState::Local);
        let b = slots.push(SlotState::Local);
        slots.get_mut(a).unwrap().done = true;
        let mut bufs = BufferPool::new(64, 1);
        let mut queue: SendQueue<Chunk> = SendQueue::new();
        slots.pump(&mut Reply::new(&mut queue, &mut bufs));
        assert!(slots.get_mut(a).is_none());
        assert!(slots.get_mut(b).is_some());
        assert!(slots.get_mut(b.wrapping_add(5)).is_none());
    }
}
