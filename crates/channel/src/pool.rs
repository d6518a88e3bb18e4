//! A per-worker pool of equally sized byte buffers.
//!
//! Connections borrow a buffer while they have bytes pending and give it back when idle,
//! so an idle connection costs no buffer memory. The pool is owned by one worker thread:
//! no locking.

/// Buffers of one standard size, kept for reuse.
#[derive(Debug)]
pub struct BufferPool {
    size: usize,
    keep: usize,
    free: Vec<Vec<u8>>,
    /// Buffers taken and not given back: what connections hold now.
    lent: usize,
}

impl BufferPool {
    /// A pool handing out buffers of `size` bytes and keeping at most `keep` spare ones.
    pub fn new(size: usize, keep: usize) -> BufferPool {
        BufferPool {
            size: size.max(1),
            keep,
            free: Vec::new(),
            lent: 0,
        }
    }

    /// The standard buffer size.
    pub fn buffer_size(&self) -> usize {
        self.size
    }

    /// A buffer with a capacity of exactly the standard size. Its length and contents
    /// are whatever the last user left: callers set their own length.
    pub fn take(&mut self) -> Vec<u8> {
        self.lent += 1;
        self.free
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    /// Gives a buffer back. Buffers of another capacity (grown for one large request)
    /// are dropped so that they do not pin memory in the pool forever.
    pub fn give(&mut self, buf: Vec<u8>) {
        self.lent = self.lent.saturating_sub(1);
        if buf.capacity() == self.size && self.free.len() < self.keep {
            self.free.push(buf);
        }
    }

    /// Buffers taken and not yet given back. Zero once every connection that borrowed
    /// one has gone idle or closed: anything else is a leak.
    pub fn lent(&self) -> usize {
        self.lent
    }

    /// Spare buffers held now.
    pub fn spare(&self) -> usize {
        self.free.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_are_reused_up_to_the_keep_limit() {
        let mut pool = BufferPool::new(16, 1);
        let a = pool.take();
        let b = pool.take();
        assert_eq!(a.capacity(), 16);
        assert_eq!(pool.lent(), 2);
        pool.give(a);
        pool.give(b);
        assert_eq!(pool.spare(), 1);
        assert_eq!(pool.lent(), 0);
    }

    #[test]
    fn grown_buffers_are_not_kept() {
        let mut pool = BufferPool::new(16, 4);
        let mut a = pool.take();
        a.resize(100, 1);
        pool.give(a);
        assert_eq!(pool.spare(), 0);
    }
}
