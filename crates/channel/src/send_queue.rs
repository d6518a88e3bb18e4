//! The output of one connection: a gather list flushed with `writev`.
//!
//! Small pieces (headers, small values, `END\r\n`) are copied into a per-connection
//! scratch buffer, adjacent pieces merging into one segment; large values are queued by
//! reference as a [`Payload`] that keeps its bytes alive (the server queues store pins)
//! and is dropped the moment its last byte has been written.

use crate::{outcome, BufferPool, Outcome};
use std::collections::VecDeque;
use std::io::{IoSlice, Write};

/// Bytes owned elsewhere and kept valid while queued (a pinned cache item).
pub trait Payload {
    /// The bytes to send.
    fn bytes(&self) -> &[u8];
}

impl Payload for &'static [u8] {
    fn bytes(&self) -> &[u8] {
        self
    }
}

#[derive(Debug)]
enum Segment<P> {
    Scratch { start: usize, end: usize },
    Pinned(P),
}

/// How many iovecs one `writev` (or io_uring send) carries: well under IOV_MAX (1024 on Linux), and enough
/// that a pipelined batch rarely needs a second call.
pub const IOVECS_PER_CALL: usize = 64;
/// Gather lists up to this long are built in a small array.
const SMALL_GATHER: usize = 4;

/// Sent scratch bytes are reclaimed once they are at least this many and at least half
/// the scratch buffer: rare enough that moving the live rest down costs little per byte.
const COMPACT_MIN: usize = 64 * 1024;

/// Queued output of one connection.
#[derive(Debug)]
pub struct SendQueue<P> {
    segments: VecDeque<Segment<P>>,
    scratch: Vec<u8>,
    /// Bytes of the front segment already written.
    front_sent: usize,
    pending: usize,
    /// Where the last queued scratch segment ends (0 when none is queued): scratch bytes
    /// beyond it are composed but not yet committed. Kept here so that a commit, twice
    /// per get, need not search the segments for it.
    queued_end: usize,
}

impl<P> Default for SendQueue<P> {
    fn default() -> Self {
        SendQueue {
            segments: VecDeque::new(),
            scratch: Vec::new(),
            front_sent: 0,
            pending: 0,
            queued_end: 0,
        }
    }
}

impl<P: Payload> SendQueue<P> {
    /// An empty queue holding no storage.
    pub fn new() -> SendQueue<P> {
        SendQueue::default()
    }

    /// Unsent bytes.
    pub fn pending(&self) -> usize {
        self.pending
    }

    /// True when everything queued has been written.
    pub fn is_empty(&self) -> bool {
        self.pending == 0
    }

    /// Scratch storage held now.
    pub fn scratch_capacity(&self) -> usize {
        self.scratch.capacity()
    }

    /// The scratch buffer, for composing in place: append to it, then call
    /// [`SendQueue::commit_scratch`]. Borrows a pooled buffer when none is held.
    pub fn scratch(&mut self, pool: &mut BufferPool) -> &mut Vec<u8> {
        if self.scratch.capacity() == 0 {
            self.scratch = pool.take();
            self.scratch.clear();
        }
        &mut self.scratch
    }

    /// Queues the scratch bytes appended since the last call (merging with a preceding
    /// scratch segment when adjacent).
    pub fn commit_scratch(&mut self) {
        let queued_end = self.queued_end;
        debug_assert_eq!(
            queued_end,
            self.segments
                .iter()
                .rev()
                .find_map(|s| match s {
                    Segment::Scratch { end, .. } => Some(*end),
                    Segment::Pinned(_) => None,
                })
                .unwrap_or(0),
            "queued_end tracks the last scratch segment"
        );
        let end = self.scratch.len();
        if end <= queued_end {
            return;
        }
        self.pending += end - queued_end;
        self.queued_end = end;
        if let Some(Segment::Scratch { end: last_end, .. }) = self.segments.back_mut() {
            if *last_end == queued_end {
                *last_end = end;
                return;
            }
        }
        self.segments.push_back(Segment::Scratch {
            start: queued_end,
            end,
        });
    }

    /// Copies `bytes` into scratch and queues them.
    pub fn push_copy(&mut self, pool: &mut BufferPool, bytes: &[u8]) {
        self.scratch(pool).extend_from_slice(bytes);
        self.commit_scratch();
    }

    /// Queues bytes by reference; `payload` is dropped once they are written.
    pub fn push_pinned(&mut self, payload: P) {
        let len = payload.bytes().len();
        if len == 0 {
            return;
        }
        self.pending += len;
        self.segments.push_back(Segment::Pinned(payload));
    }

    /// Writes as much as the sink takes. `Done(n)` means everything queued is written
    /// (`n` bytes in this call); `Retry` means bytes remain and the sink is full; `Abort`
    /// means the channel is finished.
    pub fn flush<W: Write + ?Sized>(&mut self, sink: &mut W) -> Outcome {
        let mut written = 0;
        while self.pending > 0 {
            // Most flushes carry a reply or two: a small gather list is cheaper to build
            // than a full one.
            let outcome = if self.segments.len() == 1 {
                // One contiguous reply (the common unpipelined case): `send` skips the
                // iovec import and the VFS layer that `writev` goes through.
                outcome::write(sink, self.front_bytes())
            } else if self.segments.len() <= SMALL_GATHER {
                self.write_some::<SMALL_GATHER, W>(sink)
            } else {
                self.write_some::<IOVECS_PER_CALL, W>(sink)
            };
            match outcome {
                Outcome::Done(n) => {
                    written += n;
                    self.advance(n);
                }
                Outcome::Retry => return Outcome::Retry,
                abort @ Outcome::Abort(_) => return abort,
            }
        }
        Outcome::Done(written)
    }

    /// All bytes of one queued segment (sent or not).
    fn bytes_of<'a>(&'a self, segment: &'a Segment<P>) -> &'a [u8] {
        match segment {
            Segment::Scratch { start, end } => &self.scratch[*start..*end],
            Segment::Pinned(p) => p.bytes(),
        }
    }

    /// The unsent bytes of the front segment.
    fn front_bytes(&self) -> &[u8] {
        match self.segments.front() {
            Some(front) => &self.bytes_of(front)[self.front_sent..],
            None => &[],
        }
    }

    /// One `writev` of up to `N` segments.
    fn write_some<const N: usize, W: Write + ?Sized>(&self, sink: &mut W) -> Outcome {
        let mut iov = [IoSlice::new(&[]); N];
        let mut count = 0;
        for (i, segment) in self.segments.iter().take(N).enumerate() {
            let bytes = self.bytes_of(segment);
            let skip = if i == 0 { self.front_sent } else { 0 };
            iov[i] = IoSlice::new(&bytes[skip..]);
            count += 1;
        }
        outcome::writev(sink, &iov[..count])
    }

    /// The unsent bytes when they are all in one segment (an unpipelined reply), for a
    /// write the caller makes itself, as [`SendQueue::gather`] but with no gather list to
    /// build; None when more segments are queued (or none).
    pub fn single(&self) -> Option<&[u8]> {
        (self.segments.len() == 1).then(|| self.front_bytes())
    }

    /// The unsent bytes of up to `out.len()` segments, in order, for a write the caller
    /// makes itself (an io_uring send): the queue must not change until
    /// [`SendQueue::sent`] says how much went out. Returns how many slices were filled.
    pub fn gather<'a>(&'a self, out: &mut [IoSlice<'a>]) -> usize {
        let mut count = 0;
        for (slot, (i, segment)) in out.iter_mut().zip(self.segments.iter().enumerate()) {
            let bytes = self.bytes_of(segment);
            let skip = if i == 0 { self.front_sent } else { 0 };
            *slot = IoSlice::new(&bytes[skip..]);
            count += 1;
        }
        count
    }

    /// `n` bytes of what [`SendQueue::gather`] offered were written: drops them (and the
    /// pins of values written to the end).
    pub fn sent(&mut self, n: usize) {
        debug_assert!(n <= self.pending);
        self.advance(n.min(self.pending));
    }

    fn advance(&mut self, mut n: usize) {
        self.pending -= n;
        while n > 0 {
            let Some(front) = self.segments.front() else {
                break;
            };
            let len = self.bytes_of(front).len() - self.front_sent;
            if n < len {
                self.front_sent += n;
                break;
            }
            n -= len;
            self.front_sent = 0;
            self.segments.pop_front();
        }
        self.reclaim_scratch();
    }

    /// Drops scratch bytes already sent. Without this, a queue that never quite drains (a
    /// slow reader kept just under the backpressure watermark) grows its scratch forever,
    /// and a queue left holding only pinned segments would queue its sent scratch bytes
    /// again with the next copy (`commit_scratch` counts from the last scratch segment).
    fn reclaim_scratch(&mut self) {
        // The first unsent scratch byte (a partly sent front segment counts from where
        // its sending stopped).
        let first = self.segments.iter().enumerate().find_map(|(i, s)| match s {
            Segment::Scratch { start, .. } if i == 0 => Some(start + self.front_sent),
            Segment::Scratch { start, .. } => Some(*start),
            Segment::Pinned(_) => None,
        });
        let Some(dead) = first else {
            self.scratch.clear();
            self.queued_end = 0;
            return;
        };
        if dead < COMPACT_MIN || dead < self.scratch.len() / 2 {
            return;
        }
        self.scratch.copy_within(dead.., 0);
        self.scratch.truncate(self.scratch.len() - dead);
        self.queued_end -= dead;
        if let Some(Segment::Scratch { start, .. }) = self.segments.front_mut() {
            *start += self.front_sent;
            self.front_sent = 0;
        }
        for s in self.segments.iter_mut() {
            if let Segment::Scratch { start, end } = s {
                *start -= dead;
                *end -= dead;
            }
        }
    }

    /// Drops everything queued (the connection is closing) and releases storage.
    pub fn clear(&mut self, pool: &mut BufferPool) {
        self.segments.clear();
        self.front_sent = 0;
        self.pending = 0;
        self.queued_end = 0;
        self.scratch.clear();
        self.release_if_empty(pool);
    }

    /// Returns the scratch storage to the pool if nothing is pending.
    pub fn release_if_empty(&mut self, pool: &mut BufferPool) {
        if self.pending == 0 && self.scratch.capacity() > 0 {
            pool.give(std::mem::take(&mut self.scratch));
            if self.segments.capacity() > 64 {
                self.segments = VecDeque::new();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io;

    /// A sink that accepts at most `budget` bytes per call, then reports WouldBlock.
    struct Trickle {
        out: Vec<u8>,
        per_call: usize,
        calls_left: usize,
    }
    impl Write for Trickle {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.write_vectored(&[IoSlice::new(buf)])
        }
        fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
            if self.calls_left == 0 {
                return Err(io::ErrorKind::WouldBlock.into());
            }
            self.calls_left -= 1;
            let mut n = 0;
            for b in bufs {
                let take = b.len().min(self.per_call - n);
                self.out.extend_from_slice(&b[..take]);
                n += take;
                if n == self.per_call {
                    break;
                }
            }
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn gather_offers_the_unsent_bytes_and_sent_drops_them() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        q.push_copy(&mut pool, b"VALUE k 0 5\r\n");
        q.push_pinned(b"hello");
        q.push_copy(&mut pool, b"\r\nEND\r\n");
        let mut out = [IoSlice::new(&[]); 2];
        assert_eq!(q.gather(&mut out), 2);
        assert_eq!(&*out[0], b"VALUE k 0 5\r\n");
        assert_eq!(&*out[1], b"hello");
        q.sent(15);
        let mut out = [IoSlice::new(&[]); 8];
        assert_eq!(q.gather(&mut out), 2);
        assert_eq!(&*out[0], b"llo");
        assert_eq!(&*out[1], b"\r\nEND\r\n");
        q.sent(3 + 7);
        assert!(q.is_empty());
        let mut out = [IoSlice::new(&[]); 8];
        assert_eq!(q.gather(&mut out), 0);
    }

    #[test]
    fn adjacent_copies_merge_and_pins_interleave_in_order() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        q.push_copy(&mut pool, b"VALUE k 0 5\r\n");
        q.push_pinned(b"hello");
        q.push_copy(&mut pool, b"\r\n");
        q.push_copy(&mut pool, b"END\r\n");
        assert_eq!(q.segments.len(), 3);
        let mut sink = Trickle {
            out: vec![],
            per_call: 1000,
            calls_left: 10,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Done(25));
        assert_eq!(sink.out, b"VALUE k 0 5\r\nhello\r\nEND\r\n");
        assert!(q.is_empty());
    }

    #[test]
    fn a_single_segment_goes_out_with_plain_writes_resumed_in_place() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        q.push_copy(&mut pool, b"VALUE k 0 1\r\nx\r\nEND\r\n");
        assert_eq!(q.segments.len(), 1);
        let mut sink = Trickle {
            out: vec![],
            per_call: 4,
            calls_left: 2,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Retry);
        assert_eq!(sink.out, b"VALUE k ");
        sink.calls_left = 100;
        assert_eq!(q.flush(&mut sink), Outcome::Done(13));
        assert_eq!(sink.out, b"VALUE k 0 1\r\nx\r\nEND\r\n");
        assert!(q.is_empty());
    }

    #[test]
    fn partial_writes_resume_exactly_where_they_stopped() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        q.push_copy(&mut pool, b"abc");
        q.push_pinned(b"defgh");
        q.push_copy(&mut pool, b"ij");
        let mut sink = Trickle {
            out: vec![],
            per_call: 2,
            calls_left: 3,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Retry);
        assert_eq!(q.pending(), 4);
        sink.calls_left = 100;
        assert_eq!(q.flush(&mut sink), Outcome::Done(4));
        assert_eq!(sink.out, b"abcdefghij");
    }

    #[test]
    fn more_segments_than_one_writev_takes() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        let mut want = Vec::new();
        for i in 0..300 {
            q.push_pinned(b"xy");
            q.push_copy(&mut pool, &[b'0' + (i % 10) as u8]);
            want.extend_from_slice(b"xy");
            want.push(b'0' + (i % 10) as u8);
        }
        let mut sink = Trickle {
            out: vec![],
            per_call: usize::MAX,
            calls_left: 100,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Done(900));
        assert_eq!(sink.out, want);
    }

    #[test]
    fn idle_queue_gives_scratch_back() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        q.push_copy(&mut pool, b"abc");
        let mut sink = Trickle {
            out: vec![],
            per_call: 100,
            calls_left: 1,
        };
        q.flush(&mut sink);
        q.release_if_empty(&mut pool);
        assert_eq!(q.scratch_capacity(), 0);
        assert_eq!(pool.spare(), 1);
    }

    #[test]
    fn sent_scratch_is_never_sent_again_after_a_pinned_tail() {
        let mut pool = BufferPool::new(64, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        // A binary-style reply: header copied, value pinned, nothing after it.
        q.push_copy(&mut pool, b"head1 ");
        q.push_pinned(b"PPPPPPPP");
        let mut sink = Trickle {
            out: vec![],
            per_call: 8,
            calls_left: 1,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Retry);
        q.push_copy(&mut pool, b" head2");
        sink.calls_left = 10;
        sink.per_call = 100;
        assert_eq!(q.flush(&mut sink), Outcome::Done(12));
        assert_eq!(sink.out, b"head1 PPPPPPPP head2");
    }

    #[test]
    fn scratch_stays_bounded_when_output_never_drains() {
        let mut pool = BufferPool::new(16 * 1024, 2);
        let mut q: SendQueue<&'static [u8]> = SendQueue::new();
        let chunk: Vec<u8> = (0..4000).map(|i| (i % 251) as u8).collect();
        let mut want = Vec::new();
        let mut sink = Trickle {
            out: vec![],
            per_call: 800 * 1024,
            calls_left: 0,
        };
        // Replies are added up to 1 MiB, the reader takes 800 KiB: never empty.
        for _ in 0..200 {
            while q.pending() < 1 << 20 {
                q.push_copy(&mut pool, &chunk);
                want.extend_from_slice(&chunk);
                if want.len() % 40_000 == 0 {
                    q.push_pinned(b"pinned");
                    want.extend_from_slice(b"pinned");
                }
            }
            sink.calls_left = 1;
            assert!(matches!(
                q.flush(&mut sink),
                Outcome::Retry | Outcome::Done(_)
            ));
            assert!(q.pending() > 0);
            assert!(
                q.scratch_capacity() <= 4 << 20,
                "scratch grew to {} with {} pending",
                q.scratch_capacity(),
                q.pending()
            );
        }
        sink.calls_left = usize::MAX;
        sink.per_call = usize::MAX;
        q.flush(&mut sink);
        assert!(sink.out == want, "the bytes sent differ from those queued");
    }

    #[test]
    fn pinned_payload_is_dropped_once_written() {
        use std::rc::Rc;
        struct Pin(#[allow(dead_code)] Rc<()>);
        impl Payload for Pin {
            fn bytes(&self) -> &[u8] {
                b"pinned"
            }
        }
        let token = Rc::new(());
        let mut q: SendQueue<Pin> = SendQueue::new();
        q.push_pinned(Pin(token.clone()));
        assert_eq!(Rc::strong_count(&token), 2);
        let mut sink = Trickle {
            out: vec![],
            per_call: 3,
            calls_left: 1,
        };
        assert_eq!(q.flush(&mut sink), Outcome::Retry);
        assert_eq!(
            Rc::strong_count(&token),
            2,
            "half-sent payload stays pinned"
        );
        sink.calls_left = 1;
        assert_eq!(q.flush(&mut sink), Outcome::Done(3));
        assert_eq!(Rc::strong_count(&token), 1);
    }
}
