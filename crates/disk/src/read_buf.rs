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
//! pool shared by the workers (which take one when they queue a read, and drop it once
//! the reply is sent) and the IO threads (which give back the buffers of failed reads),
//! so reads in the steady state allocate nothing.
//!
//! The pool holds at most its budget (`ext_read_mem`) in buffers, lent out and spare
//! together: a read that would go over it is refused before anything is allocated (the
//! caller answers a miss and counts `get_oom_extstore`, as memcached does when its read
//! buffer cannot be allocated), and spares are let go to make room for buffers of another
//! size. However many connections wait on the disk, reads hold at most the budget.

use crate::record::Record;
use parking_lot::Mutex;
use std::ops::Range;
use std::sync::Arc;

const SMALLEST_CLASS: u32 = 10;
const CLASSES: usize = 22; // 1 KiB .. 2 GiB
/// Spare bytes the pool keeps per size class (within the budget).
const KEEP_BYTES_PER_CLASS: usize = 8 << 20;
/// Spare buffers kept per class at least (for classes larger than the byte budget).
const KEEP_MIN: usize = 2;

/// Read buffers by size class, and what they hold against the budget.
#[derive(Debug)]
pub(crate) struct ReadPool {
    state: Mutex<PoolState>,
    budget: usize,
}

#[derive(Debug)]
struct PoolState {
    spares: Vec<Vec<Vec<u8>>>,
    /// Capacity of the buffers lent out.
    lent: usize,
    /// Capacity of the spares.
    spare: usize,
}

fn class_of(len: usize) -> usize {
    let bits = usize::BITS - len.max(1).saturating_sub(1).leading_zeros();
    (bits.saturating_sub(SMALLEST_CLASS) as usize).min(CLASSES - 1)
}

fn class_capacity(class: usize) -> usize {
    1 << (class as u32 + SMALLEST_CLASS)
}

/// The capacity a buffer for `len` bytes gets.
pub(crate) fn capacity_for(len: usize) -> usize {
    class_capacity(class_of(len)).max(len)
}

impl ReadPool {
    /// A pool that never holds more than `budget` bytes of buffers.
    pub(crate) fn new(budget: usize) -> Arc<ReadPool> {
        Arc::new(ReadPool {
            state: Mutex::new(PoolState {
                spares: vec![Vec::new(); CLASSES],
                lent: 0,
                spare: 0,
            }),
            budget,
        })
    }

    /// A buffer of exactly `len` initialized bytes (contents unspecified), or None if
    /// lending it would take the pool over its budget.
    pub(crate) fn take(&self, len: usize) -> Option<Vec<u8>> {
        let class = class_of(len);
        let cap = capacity_for(len);
        let mut freed = Vec::new();
        let mut state = self.state.lock();
        let mut buf = match state.spares[class].pop() {
            Some(buf) if buf.capacity() >= len => {
                state.spare -= buf.capacity();
                state.lent += buf.capacity();
                buf
            }
            spare => {
                if let Some(small) = spare {
                    state.spare -= small.capacity();
                    freed.push(small);
                }
                if state.lent + cap > self.budget {
                    return None;
                }
                // Room for a new buffer: let spares go, the largest first.
                for c in (0..CLASSES).rev() {
                    while state.lent + state.spare + cap > self.budget {
                        let Some(old) = state.spares[c].pop() else {
                            break;
                        };
                        state.spare -= old.capacity();
                        freed.push(old);
                    }
                }
                state.lent += cap;
                drop(state);
                drop(freed);
                let buf = Vec::with_capacity(cap);
                debug_assert_eq!(buf.capacity(), cap);
                buf
            }
        };
        // Only bytes never initialized before are zeroed; a reused buffer just changes length.
        buf.resize(len, 0);
        Some(buf)
    }

    /// Takes a lent buffer back (kept as a spare if its class and the budget have room).
    pub(crate) fn give(&self, buf: Vec<u8>) {
        let cap = buf.capacity();
        let class = class_of(cap);
        let keep = (KEEP_BYTES_PER_CLASS / cap.max(1)).max(KEEP_MIN);
        let mut state = self.state.lock();
        state.lent = state.lent.saturating_sub(cap);
        let fits = cap == class_capacity(class)
            && state.spares[class].len() < keep
            && state.lent + state.spare + cap <= self.budget;
        if fits {
            state.spare += cap;
            state.spares[class].push(buf);
            return;
        }
        drop(state);
        drop(buf);
    }

    /// Bytes of buffers lent out and kept spare.
    pub(crate) fn held(&self) -> (usize, usize) {
        let state = self.state.lock();
        (state.lent, state.spare)
    }

    #[cfg(test)]
    fn spare(&self) -> usize {
        self.state.lock().spares.iter().map(Vec::len).sum()
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
        let pool = ReadPool::new(1 << 30);
        let buf = pool.take(5000).unwrap();
        assert_eq!(buf.len(), 5000);
        let ptr = buf.as_ptr();
        let rb = ReadBuf::new(buf, [0..1, 1..1, 1..5000], pool.clone());
        drop(rb);
        assert_eq!(pool.spare(), 1);
        assert_eq!(pool.held(), (0, 8192));
        let again = pool.take(6000).unwrap();
        assert_eq!(again.as_ptr(), ptr, "same class, same buffer");
        assert_eq!(again.len(), 6000);
        assert_eq!(pool.held(), (8192, 0));
    }

    #[test]
    fn the_pool_keeps_a_bounded_number() {
        let pool = ReadPool::new(1 << 30);
        let bufs: Vec<_> = (0..10_000).map(|_| pool.take(4096).unwrap()).collect();
        for b in bufs {
            pool.give(b);
        }
        assert_eq!(pool.spare(), KEEP_BYTES_PER_CLASS / 4096);
        assert_eq!(pool.held(), (0, KEEP_BYTES_PER_CLASS));
    }

    #[test]
    fn lending_stops_at_the_budget_and_resumes_when_buffers_return() {
        let pool = ReadPool::new(64 * 1024);
        // 16 KiB plus a record header: 32 KiB buffers, two fit.
        let a = pool.take(16 * 1024 + 40).unwrap();
        let b = pool.take(16 * 1024 + 40).unwrap();
        assert!(
            pool.take(16 * 1024 + 40).is_none(),
            "a third is over budget"
        );
        assert!(pool.take(1).is_none(), "so is any buffer at all");
        pool.give(a);
        let c = pool.take(100).unwrap();
        assert_eq!(c.len(), 100);
        // The 32 KiB spare went to make room for the 1 KiB buffer.
        assert_eq!(pool.held(), (32 * 1024 + 1024, 0));
        pool.give(b);
        pool.give(c);
        let (lent, spare) = pool.held();
        assert_eq!(lent, 0);
        assert!(spare <= 64 * 1024);
    }

    #[test]
    fn lent_and_spare_never_exceed_the_budget() {
        let budget = 256 * 1024;
        let pool = ReadPool::new(budget);
        let mut held = Vec::new();
        let mut seed = 7u64;
        for _ in 0..20_000 {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let len = (seed >> 40) as usize % (100 * 1024) + 1;
            if seed & 1 == 0 || held.is_empty() {
                if let Some(buf) = pool.take(len) {
                    assert_eq!(buf.len(), len);
                    held.push(buf);
                }
            } else {
                let i = (seed >> 20) as usize % held.len();
                pool.give(held.swap_remove(i));
            }
            let (lent, spare) = pool.held();
            assert!(lent + spare <= budget, "{lent} + {spare}");
            assert_eq!(lent, held.iter().map(Vec::capacity).sum::<usize>());
        }
    }
}
