//! The buffer a read hands back, and the pool it returns to when dropped.
//!
//! ```
//! use channel::Payload;
//! # use disk::{record_len, Record};
//! # let mut rec = vec![0u8; record_len(1, 0, 5) as usize];
//! # Record::encode(&mut rec, b"k", b"", b"hello");
//! # let buf = disk::ReadBuf::for_test(&rec);
//! // A completed read: the reply queues it by reference; its bytes are the value.
//! assert_eq!(buf.bytes(), b"hello");
//! assert_eq!(buf.key(), b"k");
//! ```
//!
//! The record is read straight into the buffer (`pread` or one copy from a write buffer
//! still in memory) and the reply sends the value from there: the value is copied once,
//! from the kernel. Buffers come in power-of-two capacities from 1 KiB and go back to a
//! pool shared by the IO threads (which take) and the workers (which drop), so reads in
//! the steady state allocate nothing.

use crate::record::Record;
use parking_lot::Mutex;
use std::ops::Range;
use std::sync::Arc;

const SMALLEST_CLASS: u32 = 10;
const CLASSES: usize = 22; // 1 KiB .. 2 GiB
/// Spare bytes the pool keeps per size class.
const KEEP_BYTES_PER_CLASS: usize = 8 << 20;
/// Spare buffers kept per class at least (for classes larger than the byte budget).
const KEEP_MIN: usize = 2;

/// Spare read buffers by size class.
#[derive(Debug, Default)]
pub(crate) struct ReadPool {
    classes: Mutex<Vec<Vec<Vec<u8>>>>,
}

fn class_of(len: usize) -> usize {
    let bits = usize::BITS - len.max(1).saturating_sub(1).leading_zeros();
    (bits.saturating_sub(SMALLEST_CLASS) as usize).min(CLASSES - 1)
}

fn class_capacity(class: usize) -> usize {
    1 << (class as u32 + SMALLEST_CLASS)
}

impl ReadPool {
    pub(crate) fn new() -> Arc<ReadPool> {
        Arc::new(ReadPool {
            classes: Mutex::new(vec![Vec::new(); CLASSES]),
        })
    }

    /// A buffer of exactly `len` initialized bytes (contents unspecified).
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let class = class_of(len);
        let spare = self.classes.lock()[class].pop();
        let mut buf = spare.unwrap_or_else(|| Vec::with_capacity(class_capacity(class).max(len)));
        // Only bytes never initialized before are zeroed; a reused buffer just changes length.
        buf.resize(len, 0);
        buf
    }

    /// Takes a buffer back (kept if its class has room).
    pub(crate) fn give(&self, buf: Vec<u8>) {
        let class = class_of(buf.capacity());
        if buf.capacity() != class_capacity(class) {
            return; // an odd size (beyond the largest class): let it go
        }
        let keep = (KEEP_BYTES_PER_CLASS / buf.capacity()).max(KEEP_MIN);
        let mut classes = self.classes.lock();
        if classes[class].len() < keep {
            classes[class].push(buf);
        }
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.classes.lock().iter().map(Vec::len).sum()
    }
}

/// A record read from disk, verified. Dropping it returns the buffer to the pool.
#[derive(Debug)]
pub struct ReadBuf {
    buf: Vec<u8>,
    key: Range<usize>,
    meta: Range<usize>,
    value: Range<usize>,
    pool: Option<Arc<ReadPool>>,
}

impl ReadBuf {
    /// Wraps `buf` (holding exactly one record) once `rec`, borrowed from it, verified.
    pub(crate) fn new(buf: Vec<u8>, ranges: [Range<usize>; 3], pool: Arc<ReadPool>) -> ReadBuf {
        let [key, meta, value] = ranges;
        ReadBuf {
            buf,
            key,
            meta,
            value,
            pool: Some(pool),
        }
    }

    /// A buffer holding a copy of an encoded record, outside any pool (for examples and
    /// tests of code that consumes reads). Panics if `record` does not verify.
    pub fn for_test(record: &[u8]) -> ReadBuf {
        let ranges = match Record::verify(record) {
            Ok(rec) => rec.ranges(),
            Err(e) => panic!("not a record: {e:?}"),
        };
        let [key, meta, value] = ranges;
        ReadBuf {
            buf: record.to_vec(),
            key,
            meta,
            value,
            pool: None,
        }
    }

    /// The key stored with the value (the caller checks it is the key it asked for).
    pub fn key(&self) -> &[u8] {
        &self.buf[self.key.clone()]
    }

    /// The owner's metadata stored with the value.
    pub fn meta(&self) -> &[u8] {
        &self.buf[self.meta.clone()]
    }

    /// The value.
    pub fn value(&self) -> &[u8] {
        &self.buf[self.value.clone()]
    }
}

impl channel::Payload for ReadBuf {
    fn bytes(&self) -> &[u8] {
        self.value()
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.give(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_are_powers_of_two_from_one_kib() {
        assert_eq!(class_of(0), 0);
        assert_eq!(class_of(1024), 0);
        assert_eq!(class_of(1025), 1);
        assert_eq!(class_of(16 * 1024 + 40), 5);
        assert_eq!(class_capacity(5), 32 * 1024);
        assert_eq!(class_of(usize::MAX), CLASSES - 1);
    }

    #[test]
    fn buffers_come_back_and_are_reused() {
        let pool = ReadPool::new();
        let buf = pool.take(5000);
        assert_eq!(buf.len(), 5000);
        let ptr = buf.as_ptr();
        let rb = ReadBuf::new(buf, [0..1, 1..1, 1..5000], pool.clone());
        drop(rb);
        assert_eq!(pool.spare(), 1);
        let again = pool.take(6000);
        assert_eq!(again.as_ptr(), ptr, "same class, same buffer");
        assert_eq!(again.len(), 6000);
    }

    #[test]
    fn the_pool_keeps_a_bounded_number() {
        let pool = ReadPool::new();
        let bufs: Vec<_> = (0..10_000).map(|_| pool.take(4096)).collect();
        for b in bufs {
            pool.give(b);
        }
        assert_eq!(pool.spare(), KEEP_BYTES_PER_CLASS / 4096);
    }
}
