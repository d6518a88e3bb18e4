//! The reply builder a handler writes into: a thin front of the session's send queue.
//!
//! ```
//! use channel::{BufferPool, SendQueue};
//! use server::runtime::Reply;
//! let mut pool = BufferPool::new(1024, 4);
//! let mut queue: SendQueue<&'static [u8]> = SendQueue::new();
//! let mut reply = Reply::new(&mut queue, &mut pool);
//! reply.line(b"STORED\r\n");
//! reply.compose(|out| out.extend_from_slice(b"END\r\n"));
//! assert_eq!(reply.pending(), 13);
//! ```
//!
//! Small pieces are copied into the queue's scratch (adjacent ones merge into one
//! segment); large ones are queued by reference ([`Reply::pin`]). Nothing here does IO:
//! the session writes the queue out after the handler returns, at once if the handler
//! asked for it ([`Reply::flush_now`]).

use channel::{BufferPool, Payload, SendQueue};

/// Where a handler's replies go.
pub struct Reply<'a, P> {
    queue: &'a mut SendQueue<P>,
    pool: &'a mut BufferPool,
    flush: bool,
    watch: bool,
}

impl<'a, P: Payload> Reply<'a, P> {
    /// A builder over `queue`, borrowing scratch storage from `pool`.
    pub fn new(queue: &'a mut SendQueue<P>, pool: &'a mut BufferPool) -> Reply<'a, P> {
        Reply {
            queue,
            pool,
            flush: false,
            watch: false,
        }
    }

    /// Queues a copy of `bytes` (a whole reply line, or any small piece).
    #[inline]
    pub fn line(&mut self, bytes: &[u8]) {
        self.queue.push_copy(self.pool, bytes);
    }

    /// Queues `bytes` unless the client asked for no reply.
    #[inline]
    pub fn unless(&mut self, quiet: bool, bytes: &[u8]) {
        if !quiet {
            self.line(bytes);
        }
    }

    /// Composes in place with `f` (append to the vector), then queues what it wrote.
    #[inline]
    pub fn compose(&mut self, f: impl FnOnce(&mut Vec<u8>)) {
        f(self.queue.scratch(self.pool));
        self.queue.commit_scratch();
    }

    /// Queues `payload`'s bytes by reference; it is dropped once they are written.
    #[inline]
    pub fn pin(&mut self, payload: P) {
        self.queue.push_pinned(payload);
    }

    /// Bytes queued and not yet written (for watermarks).
    #[inline]
    pub fn pending(&self) -> usize {
        self.queue.pending()
    }

    /// Asks the session to write out what is queued before the next request is read,
    /// as memcached does after some replies (a binary error or NOOP).
    pub fn flush_now(&mut self) {
        self.flush = true;
    }

    /// Whether [`Reply::flush_now`] was asked for.
    pub fn flush_requested(&self) -> bool {
        self.flush
    }

    /// Asks the session to call [`Handler::drained`](super::Handler::drained) once its
    /// unsent output has fallen to the low watermark (at once if it already has): a
    /// proxy holding back work until a slow peer reads learns when to resume.
    pub fn watch_drain(&mut self) {
        self.watch = true;
    }

    /// Whether [`Reply::watch_drain`] was asked for.
    pub fn drain_watched(&self) -> bool {
        self.watch
    }

    /// Drops everything queued and not yet written (memcached drops the replies of a
    /// batch when it closes on a broken frame).
    pub fn discard(&mut self) {
        self.queue.clear(self.pool);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_queue_in_order_and_discard_drops_them() {
        let mut pool = BufferPool::new(64, 2);
        let mut queue: SendQueue<&'static [u8]> = SendQueue::new();
        let mut reply = Reply::new(&mut queue, &mut pool);
        reply.line(b"a");
        reply.unless(true, b"skipped");
        reply.pin(b"bc");
        reply.compose(|o| o.push(b'd'));
        assert_eq!(reply.pending(), 4);
        assert!(!reply.flush_requested());
        reply.flush_now();
        assert!(reply.flush_requested());
        assert!(!reply.drain_watched());
        reply.watch_drain();
        assert!(reply.drain_watched());
        let mut sink = Vec::new();
        queue.flush(&mut sink);
        assert_eq!(sink, b"abcd");
        let mut reply = Reply::new(&mut queue, &mut pool);
        reply.line(b"gone");
        reply.discard();
        assert_eq!(reply.pending(), 0);
    }
}
