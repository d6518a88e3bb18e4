//! The contiguous input buffer of one connection.
//!
//! Bytes arrive at the tail with one `read()` and are consumed from the head by the
//! parser. The storage is borrowed from a [`BufferPool`] only while unconsumed bytes
//! remain, so idle connections hold none.

use crate::{outcome, BufferPool, Outcome};
use std::io::{IoSliceMut, Read};

/// Unconsumed input of one connection: `buf[start..end]`.
#[derive(Debug, Default)]
pub struct ReadBuffer {
    buf: Vec<u8>,
    start: usize,
    end: usize,
    short: bool,
}

impl ReadBuffer {
    /// An empty buffer that holds no storage yet.
    pub fn new() -> ReadBuffer {
        ReadBuffer::default()
    }

    /// The unconsumed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Number of unconsumed bytes.
    pub fn len(&self) -> usize {
        self.end - self.start
    }

    /// True when no unconsumed bytes remain.
    pub fn is_empty(&self) -> bool {
        self.start == self.end
    }

    /// Storage held now (0 when released to the pool).
    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    /// Drops `n` bytes from the head.
    pub fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.len());
        self.start = (self.start + n).min(self.end);
        if self.start == self.end {
            self.start = 0;
            self.end = 0;
        }
    }

    /// Borrows storage from the pool if the buffer holds none.
    fn take_storage(&mut self, pool: &mut BufferPool) {
        if self.buf.is_empty() {
            self.buf = pool.take();
            // Initialised once per buffer lifetime; pooled read buffers come back full.
            let cap = self.buf.capacity();
            self.buf.resize(cap, 0);
            self.start = 0;
            self.end = 0;
        }
    }

    /// Reads once from `source`, making room first: moves unconsumed bytes to the front
    /// when the tail is short and, when the buffer is full of them, doubles it up to
    /// `limit` bytes. With no room left at `limit`, answers `Done(0)` without reading: the
    /// caller decides (close, or consume something first).
    pub fn fill<R: Read + ?Sized>(
        &mut self,
        pool: &mut BufferPool,
        source: &mut R,
        limit: usize,
    ) -> Outcome {
        self.take_storage(pool);
        if self.start > 0 && self.buf.len() - self.end < self.buf.len() / 2 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if self.end == self.buf.len() {
            if self.start > 0 {
                self.buf.copy_within(self.start..self.end, 0);
                self.end -= self.start;
                self.start = 0;
            } else if self.buf.len() >= limit {
                return Outcome::Done(0);
            } else {
                let target = (self.buf.len() * 2).min(limit);
                self.buf.resize(target, 0);
            }
        }
        let offered = self.buf.len() - self.end;
        let result = outcome::read(source, &mut self.buf[self.end..]);
        if let Outcome::Done(n) = result {
            self.end += n;
            self.short = n < offered;
        }
        result
    }

    /// Reads once into `value` (the rest of a value being received straight into its
    /// home) and, behind it, into this buffer, which must be empty: the value's "\r\n"
    /// and whatever the client pipelined after it arrive with the same `readv` instead
    /// of costing a second read. `Done(n)` counts both parts: the first
    /// `n.min(value.len())` bytes went into `value`, the rest are buffered here.
    pub fn fill_behind<R: Read + ?Sized>(
        &mut self,
        pool: &mut BufferPool,
        source: &mut R,
        value: &mut [u8],
    ) -> Outcome {
        debug_assert!(self.is_empty() && !value.is_empty());
        self.take_storage(pool);
        self.start = 0;
        self.end = 0;
        let offered = value.len() + self.buf.len();
        let room = value.len();
        let mut parts = [IoSliceMut::new(value), IoSliceMut::new(&mut self.buf)];
        let result = outcome::read_vectored(source, &mut parts);
        if let Outcome::Done(n) = result {
            self.end = n.saturating_sub(room);
            self.short = n < offered;
        }
        result
    }

    /// Appends bytes received elsewhere (an io_uring receive into a provided buffer),
    /// making room as `fill` does: moving unconsumed bytes to the front, else growing.
    /// The caller bounds what it asks to receive; this never refuses.
    pub fn append(&mut self, pool: &mut BufferPool, bytes: &[u8]) {
        self.take_storage(pool);
        if self.buf.len() - self.end < bytes.len() && self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        let needed = self.end + bytes.len();
        if needed > self.buf.len() {
            let target = (self.buf.len() * 2).max(needed);
            self.buf.resize(target, 0);
        }
        self.buf[self.end..needed].copy_from_slice(bytes);
        self.end = needed;
    }

    /// Whether the last successful `fill` got fewer bytes than it had room for: the
    /// socket had nothing more at that moment. With edge-triggered readiness, bytes that
    /// arrive later raise a new edge, so the caller may wait for it instead of spending
    /// a `read` that would only say EAGAIN.
    pub fn last_fill_was_short(&self) -> bool {
        self.short
    }

    /// Takes up to `dst.len()` buffered bytes into `dst`, for values that are read
    /// straight into their final home. Returns how many were copied.
    pub fn take_into(&mut self, dst: &mut [u8]) -> usize {
        let n = dst.len().min(self.len());
        dst[..n].copy_from_slice(&self.data()[..n]);
        self.consume(n);
        n
    }

    /// Returns the storage to the pool if nothing is pending.
    pub fn release_if_empty(&mut self, pool: &mut BufferPool) {
        if self.is_empty() && !self.buf.is_empty() {
            pool.give(std::mem::take(&mut self.buf));
            self.start = 0;
            self.end = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_consume_release_cycle() {
        let mut pool = BufferPool::new(8, 2);
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"hello world";
        assert_eq!(rb.fill(&mut pool, &mut src, 64), Outcome::Done(8));
        assert_eq!(rb.data(), b"hello wo");
        rb.consume(6);
        assert_eq!(rb.fill(&mut pool, &mut src, 64), Outcome::Done(3));
        assert_eq!(rb.data(), b"world");
        rb.consume(5);
        rb.release_if_empty(&mut pool);
        assert_eq!(rb.capacity(), 0);
        assert_eq!(pool.spare(), 1);
    }

    #[test]
    fn grows_to_limit_then_refuses() {
        let mut pool = BufferPool::new(4, 2);
        let mut rb = ReadBuffer::new();
        let data = [7u8; 100];
        let mut src: &[u8] = &data;
        let mut total = 0;
        loop {
            match rb.fill(&mut pool, &mut src, 16) {
                Outcome::Done(0) => break,
                Outcome::Done(n) => total += n,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!(total, 16);
        assert_eq!(rb.len(), 16);
        // A grown buffer is not pooled.
        rb.consume(16);
        rb.release_if_empty(&mut pool);
        assert_eq!(pool.spare(), 0);
    }

    #[test]
    fn compaction_keeps_unconsumed_bytes_in_order() {
        let mut pool = BufferPool::new(8, 2);
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"0123456789abcdef";
        rb.fill(&mut pool, &mut src, 8);
        rb.consume(7);
        assert_eq!(rb.fill(&mut pool, &mut src, 8), Outcome::Done(7));
        assert_eq!(rb.data(), b"789abcde");
    }

    #[test]
    fn a_read_smaller_than_the_room_offered_is_short() {
        let mut pool = BufferPool::new(16, 2);
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"abc";
        rb.fill(&mut pool, &mut src, 16);
        assert!(rb.last_fill_was_short());
        let data = [1u8; 40];
        let mut src: &[u8] = &data;
        let mut rb = ReadBuffer::new();
        rb.fill(&mut pool, &mut src, 16);
        assert!(!rb.last_fill_was_short());
    }

    #[test]
    fn fill_behind_splits_one_read_between_value_and_buffer() {
        let mut pool = BufferPool::new(16, 2);
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"valu\r\nget k\r\n";
        let mut value = [0u8; 4];
        // A slice's read_vectored fills the parts in order, like readv.
        assert_eq!(
            rb.fill_behind(&mut pool, &mut src, &mut value),
            Outcome::Done(13)
        );
        assert_eq!(&value, b"valu");
        assert_eq!(rb.data(), b"\r\nget k\r\n");
        assert!(rb.last_fill_was_short());

        // Less than the value: nothing buffered, and the read was short.
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"ab";
        let mut value = [0u8; 4];
        assert_eq!(
            rb.fill_behind(&mut pool, &mut src, &mut value),
            Outcome::Done(2)
        );
        assert_eq!(&value[..2], b"ab");
        assert!(rb.is_empty());
        assert!(rb.last_fill_was_short());

        // Everything offered was filled: not short.
        let data = [9u8; 64];
        let mut src: &[u8] = &data;
        let mut rb = ReadBuffer::new();
        let mut value = [0u8; 4];
        assert_eq!(
            rb.fill_behind(&mut pool, &mut src, &mut value),
            Outcome::Done(20)
        );
        assert_eq!(rb.len(), 16);
        assert!(!rb.last_fill_was_short());
    }

    #[test]
    fn append_makes_room_and_keeps_order() {
        let mut pool = BufferPool::new(8, 2);
        let mut rb = ReadBuffer::new();
        rb.append(&mut pool, b"0123456");
        rb.consume(5);
        // Moved to the front rather than grown.
        rb.append(&mut pool, b"abcdef");
        assert_eq!(rb.data(), b"56abcdef");
        assert_eq!(rb.capacity(), 8);
        // Full: grows.
        rb.append(&mut pool, b"XYZ");
        assert_eq!(rb.data(), b"56abcdefXYZ");
        assert!(rb.capacity() >= 11);
    }

    #[test]
    fn take_into_moves_buffered_bytes() {
        let mut pool = BufferPool::new(16, 2);
        let mut rb = ReadBuffer::new();
        let mut src: &[u8] = b"abcdef";
        rb.fill(&mut pool, &mut src, 16);
        let mut dst = [0u8; 4];
        assert_eq!(rb.take_into(&mut dst), 4);
        assert_eq!(&dst, b"abcd");
        assert_eq!(rb.data(), b"ef");
    }
}
