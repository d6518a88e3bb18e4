//! Bytes on their way through the proxy: a request on its way to a backend, a piece of
//! a reply on its way to a client. Each is copied once, from the read buffer it arrived
//! in into a [`Chunk`], and from there written by reference (the chunk is the send
//! queue's pinned payload). Chunks come from a per-worker [`ChunkPool`] and go back to it
//! when their last byte is written, so the steady state allocates nothing.
//!
//! ```
//! use proxy::serve::ChunkPool;
//! let pool = ChunkPool::new();
//! let mut buf = pool.take();
//! buf.extend_from_slice(b"STORED\r\n");
//! let chunk = pool.chunk(buf, 0);
//! assert_eq!(channel::Payload::bytes(&chunk), b"STORED\r\n");
//! drop(chunk); // back in the pool
//! assert_eq!(pool.spare(), 1);
//! ```

use std::cell::RefCell;
use std::rc::Rc;

/// Buffers no larger than this go back to the pool; larger ones (a value streamed in big
/// reads) are freed, so that one large value does not pin memory for good.
const KEEP_CAPACITY: usize = 64 * 1024;
/// Spare buffers a worker keeps.
const KEEP: usize = 1024;
/// The capacity a fresh buffer starts with: a request or a reply of a small value fits.
const FRESH: usize = 512;

/// A worker's spare buffers. Cloning shares the pool (chunks hold a handle to give
/// their buffer back).
#[derive(Clone, Default)]
pub struct ChunkPool {
    free: Rc<RefCell<Vec<Vec<u8>>>>,
}

impl ChunkPool {
    /// An empty pool.
    pub fn new() -> ChunkPool {
        ChunkPool::default()
    }

    /// An empty buffer (length 0), reused when one is spare.
    pub fn take(&self) -> Vec<u8> {
        match self.free.borrow_mut().pop() {
            Some(mut buf) => {
                buf.clear();
                buf
            }
            None => Vec::with_capacity(FRESH),
        }
    }

    /// Gives a buffer back.
    pub fn give(&self, buf: Vec<u8>) {
        if buf.capacity() == 0 || buf.capacity() > KEEP_CAPACITY {
            return;
        }
        let mut free = self.free.borrow_mut();
        if free.len() < KEEP {
            free.push(buf);
        }
    }

    /// `buf[start..]` as a payload that goes back to this pool once written.
    pub fn chunk(&self, buf: Vec<u8>, start: usize) -> Chunk {
        Chunk {
            start: start.min(buf.len()),
            end: buf.len(),
            buf,
            pool: self.clone(),
        }
    }

    /// Spare buffers held now.
    pub fn spare(&self) -> usize {
        self.free.borrow().len()
    }
}

/// Bytes queued for a socket by reference (the send queue's payload): a part of a pooled
/// buffer, given back to the pool when dropped.
pub struct Chunk {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    pool: ChunkPool,
}

impl Chunk {
    /// Narrows the chunk to `self[from..to]` (offsets into the current bytes).
    pub fn narrow(&mut self, from: usize, to: usize) {
        let to = to.min(self.end - self.start);
        let from = from.min(to);
        self.end = self.start + to;
        self.start += from;
    }

    /// The bytes' length.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// Whether no byte is left.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }
}

impl channel::Payload for Chunk {
    fn bytes(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }
}

impl Drop for Chunk {
    fn drop(&mut self) {
        self.pool.give(std::mem::take(&mut self.buf));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use channel::Payload;

    #[test]
    fn chunks_narrow_and_return_their_buffer() {
        let pool = ChunkPool::new();
        let mut buf = pool.take();
        buf.extend_from_slice(b"VA 2\r\nhi\r\n");
        let mut chunk = pool.chunk(buf, 6);
        assert_eq!(chunk.bytes(), b"hi\r\n");
        chunk.narrow(0, 2);
        assert_eq!(chunk.bytes(), b"hi");
        assert_eq!(chunk.len(), 2);
        chunk.narrow(5, 9);
        assert!(chunk.is_empty());
        drop(chunk);
        assert_eq!(pool.spare(), 1);
        assert!(pool.take().is_empty());
    }

    #[test]
    fn huge_buffers_are_not_kept() {
        let pool = ChunkPool::new();
        pool.give(Vec::with_capacity(KEEP_CAPACITY + 1));
        pool.give(Vec::new());
        assert_eq!(pool.spare(), 0);
    }
}
