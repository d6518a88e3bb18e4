//! The provided receive buffers of a worker's ring: memory the kernel picks a buffer from
//! when a receive completes (`IORING_REGISTER_PBUF_RING`), and the ring of entries that
//! offers them.

use io_uring::types;
use std::alloc::Layout;
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU16, Ordering};

/// The provided receive buffers: `count` buffers of `size` bytes and the ring of entries
/// that offers them to the kernel.
pub(super) struct Buffers {
    pub(super) entries: NonNull<types::BufRingEntry>,
    layout: Layout,
    memory: NonNull<u8>,
    memory_layout: Layout,
    count: u16,
    size: usize,
    /// Entries published so far (the kernel's view of the tail).
    tail: u16,
    /// An operation never completed: leave the memory to the process.
    pub(super) leak: bool,
}

impl Buffers {
    pub(super) fn new(count: u16, size: usize) -> std::io::Result<Buffers> {
        debug_assert!(count.is_power_of_two());
        let bytes = usize::from(count) * std::mem::size_of::<types::BufRingEntry>();
        // The kernel wants the entries page aligned.
        let layout = Layout::from_size_align(bytes.max(4096), 4096)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size.
        let entries = unsafe { std::alloc::alloc_zeroed(layout) } as *mut types::BufRingEntry;
        let entries = NonNull::new(entries)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        // Page aligned, and faulted in at once: the kernel writes into every buffer
        // sooner or later (it takes them in turn), so they cost their memory from the
        // start instead of showing up as growth under the first burst of traffic.
        let memory_layout = Layout::from_size_align(usize::from(count) * size, 4096)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: the layout has a non-zero size (count and size are).
        let memory = unsafe { std::alloc::alloc_zeroed(memory_layout) };
        let Some(memory) = NonNull::new(memory) else {
            // SAFETY: allocated just above with this layout.
            unsafe { std::alloc::dealloc(entries.as_ptr() as *mut u8, layout) };
            return Err(std::io::Error::from(std::io::ErrorKind::OutOfMemory));
        };
        // SAFETY: the range is this allocation, page aligned. Advice only: where the
        // kernel lacks MADV_POPULATE_WRITE the pages fault in as they are first written.
        unsafe {
            libc::madvise(
                memory.as_ptr() as *mut libc::c_void,
                memory_layout.size(),
                libc::MADV_POPULATE_WRITE,
            );
        }
        Ok(Buffers {
            entries,
            layout,
            memory,
            memory_layout,
            count,
            size,
            tail: 0,
            leak: false,
        })
    }

    /// Offers buffer `bid` to the kernel.
    pub(super) fn give(&mut self, bid: u16) {
        let index = usize::from(self.tail & (self.count - 1));
        // SAFETY: `index < count`; the kernel reads an entry only once the tail below
        // covers it, and this one is past the tail it knows (it consumed the buffer that
        // was here, or none was). `bid < count`, so the address is inside `memory`.
        unsafe {
            let entry = &mut *self.entries.as_ptr().add(index);
            entry.set_addr(self.memory.as_ptr().add(usize::from(bid) * self.size) as u64);
            entry.set_len(self.size as u32);
            entry.set_bid(bid);
        }
        self.tail = self.tail.wrapping_add(1);
        // SAFETY: the tail is the first entry's last field, a u16 the kernel reads
        // concurrently: it is only ever accessed atomically here.
        let tail = unsafe {
            AtomicU16::from_ptr(types::BufRingEntry::tail(self.entries.as_ptr()) as *mut u16)
        };
        tail.store(self.tail, Ordering::Release);
    }

    /// The first `len` bytes of buffer `bid`, which a completion handed back.
    pub(super) fn received(&self, bid: u16, len: usize) -> Option<&[u8]> {
        if bid >= self.count || len > self.size {
            return None;
        }
        // SAFETY: the completion that named `bid` gave the buffer back to us: the kernel
        // does not touch it until `give` offers it again, and `len` is within it.
        Some(unsafe {
            std::slice::from_raw_parts(self.memory.as_ptr().add(usize::from(bid) * self.size), len)
        })
    }
}

impl Drop for Buffers {
    fn drop(&mut self) {
        if self.leak {
            return;
        }
        // SAFETY: allocated in `new` with this layout and length; the ring that used them
        // is closed (dropped first) and every operation completed (`leak` is false).
        unsafe {
            std::alloc::dealloc(self.entries.as_ptr() as *mut u8, self.layout);
            std::alloc::dealloc(self.memory.as_ptr(), self.memory_layout);
        }
    }
}
