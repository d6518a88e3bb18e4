//! Write buffers: where objects collect in memory until a whole buffer is written to its
//! place in a page with one `pwrite`.
//!
//! A buffer is shared (`Arc`) by the writer filling it, the page table (so reads of
//! objects not yet on disk are served from it) and, once full, the flusher. It goes back
//! to the pool after its `pwrite`, and is only handed out again once no reader still
//! holds it: a reader that found it in the page table may be copying from it.

use parking_lot::{Condvar, Mutex, RwLock};
use std::sync::Arc;
use std::time::Duration;

/// One write buffer's bytes. Appends take the write lock for the copy; readers and the
/// flusher take the read lock.
#[derive(Debug)]
pub(crate) struct WriteBuffer {
    pub(crate) data: RwLock<Box<[u8]>>,
}

/// A write buffer with its place: page id and the page offset of its first byte.
#[derive(Debug, Clone)]
pub(crate) struct Region {
    pub(crate) page: u16,
    pub(crate) start: u64,
    pub(crate) buf: Arc<WriteBuffer>,
}

/// The engine's write buffers: allocated on first use, at most `cap` of them.
#[derive(Debug)]
pub(crate) struct WriteBufferPool {
    size: usize,
    cap: usize,
    state: Mutex<PoolState>,
    returned: Condvar,
}

#[derive(Debug, Default)]
struct PoolState {
    free: Vec<Arc<WriteBuffer>>,
    allocated: usize,
}

impl WriteBufferPool {
    pub(crate) fn new(size: usize, cap: usize) -> WriteBufferPool {
        WriteBufferPool {
            size,
            cap,
            state: Mutex::new(PoolState::default()),
            returned: Condvar::new(),
        }
    }

    /// A buffer no one else holds, or `None` when all `cap` are in use.
    pub(crate) fn take(&self) -> Option<Arc<WriteBuffer>> {
        let mut state = self.state.lock();
        if let Some(i) = state.free.iter().position(|b| Arc::strong_count(b) == 1) {
            return Some(state.free.swap_remove(i));
        }
        if state.allocated < self.cap {
            state.allocated += 1;
            drop(state);
            // Zeroed memory straight from the allocator: untouched pages cost no RSS.
            return Some(Arc::new(WriteBuffer {
                data: RwLock::new(vec![0u8; self.size].into_boxed_slice()),
            }));
        }
        None
    }

    /// Gives a buffer back after its `pwrite`.
    pub(crate) fn give(&self, buf: Arc<WriteBuffer>) {
        self.state.lock().free.push(buf);
        self.returned.notify_all();
    }

    /// Waits up to `timeout` for a buffer to come back (compaction's rewrites wait; the
    /// ordinary writer does not).
    pub(crate) fn wait(&self, timeout: Duration) {
        let mut state = self.state.lock();
        let _ = self.returned.wait_for(&mut state, timeout);
    }

    /// Bytes of write buffers allocated.
    pub(crate) fn allocated_bytes(&self) -> usize {
        self.state.lock().allocated * self.size
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_cap_and_a_held_buffer_is_not_reused() {
        let pool = WriteBufferPool::new(64, 2);
        let a = pool.take().unwrap();
        let b = pool.take().unwrap();
        assert!(pool.take().is_none());
        assert_eq!(pool.allocated_bytes(), 128);
        let reader = a.clone();
        pool.give(a);
        assert!(pool.take().is_none(), "a reader still copies from it");
        drop(reader);
        assert!(pool.take().is_some());
        drop(b);
    }
}
