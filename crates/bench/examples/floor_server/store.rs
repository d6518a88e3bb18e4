//! `--store BYTES`: the storing floor. Values live in one region of BYTES, faulted in at
//! start, cut into slots of the value size, with no index: a key's slot is its
//! generator id (or a hash of any other key) modulo the slot count. A set receives its
//! data block into the slot, a get sends the slot by reference. So the server touches
//! as much memory as a cache holding that many values, and does nothing else.
//!
//! The region is never freed (sends in flight point into it) and is only ever reached
//! through raw pointers: a set may overwrite a slot whose bytes a queued reply still
//! points at (there are no pins). `corvid bench` writes the same bytes for a key every
//! time, and its keys never share a slot while there are no more keys than slots, so
//! that race cannot change what it reads back.

use std::alloc::Layout;
use std::io;

pub struct Store {
    base: *mut u8,
    slots: usize,
    slot_size: usize,
}

impl Store {
    pub fn new(bytes: usize, slot_size: usize) -> io::Result<Store> {
        let slot_size = slot_size.max(1);
        let slots = bytes / slot_size;
        if slots == 0 {
            return Err(io::Error::other("--store is smaller than one value"));
        }
        let layout = Layout::from_size_align(slots * slot_size, 4096).map_err(io::Error::other)?;
        // SAFETY: the layout has a non-zero size. Never freed: see the module doc.
        let base = unsafe { std::alloc::alloc_zeroed(layout) };
        if base.is_null() {
            return Err(io::ErrorKind::OutOfMemory.into());
        }
        // SAFETY: the range is this allocation, page aligned. Advice only: where the
        // kernel lacks MADV_POPULATE_WRITE, the pages fault in as first written.
        unsafe {
            libc::madvise(
                base as *mut libc::c_void,
                layout.size(),
                libc::MADV_POPULATE_WRITE,
            );
        }
        Ok(Store {
            base,
            slots,
            slot_size,
        })
    }

    pub fn slot_size(&self) -> usize {
        self.slot_size
    }

    /// The start of `key`'s slot, `slot_size` bytes inside the region.
    pub fn slot(&self, key: &[u8], id: Option<u64>) -> *mut u8 {
        let n = id.unwrap_or_else(|| fnv1a(key)) % self.slots as u64;
        // SAFETY: `n < slots`, so the slot lies inside the allocation.
        unsafe { self.base.add(n as usize * self.slot_size) }
    }
}

fn fnv1a(key: &[u8]) -> u64 {
    key.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// The data block a connection is in the middle of: bytes still to skip, and of them
/// the ones that go into a store slot (the rest of a value; its `\r\n` is skipped).
pub struct Block {
    pub skip: usize,
    /// `STORED` is owed when the block is complete.
    pub reply: bool,
    dest: *mut u8,
    store: usize,
}

impl Default for Block {
    fn default() -> Block {
        Block {
            skip: 0,
            reply: false,
            dest: std::ptr::null_mut(),
            store: 0,
        }
    }
}

impl Block {
    /// A data block of `bytes` (and its `\r\n`), the first `store` bytes of which go to
    /// `dest` (a slot of `store` bytes at least, or nothing when `store` is 0).
    pub fn start(&mut self, bytes: usize, dest: *mut u8, store: usize) {
        self.skip = bytes.saturating_add(2);
        self.dest = dest;
        self.store = store.min(bytes);
    }

    /// Where the rest of the value goes, received straight into its slot.
    pub fn target(&self) -> Option<(*mut u8, usize)> {
        (self.store > 0).then_some((self.dest, self.store))
    }

    /// Uses up to `input.len()` bytes of the block from `input`; returns how many.
    pub fn take(&mut self, input: &[u8]) -> usize {
        let n = self.skip.min(input.len());
        let keep = n.min(self.store);
        if keep > 0 {
            // SAFETY: `dest..dest + store` is the unfilled rest of a slot of the store,
            // which is never freed; `input` is a receive buffer, not inside the store.
            unsafe { std::ptr::copy_nonoverlapping(input.as_ptr(), self.dest, keep) };
        }
        self.advance(keep);
        self.skip -= n - keep;
        n
    }

    /// `n` bytes of the value were received straight into the target.
    pub fn advance(&mut self, n: usize) {
        let n = n.min(self.store);
        self.dest = self.dest.wrapping_add(n);
        self.store -= n;
        self.skip -= n;
    }
}
