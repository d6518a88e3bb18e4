//! How one item is laid out in the heap.
//!
//! ```text
//! 0   u32 atomic  last access, seconds since the store's epoch
//! 4   u32 atomic  life: deadline (30 bits, seconds since epoch, 0 = never) | fetched | win
//! 8   u32         value length (30 bits) | stale | has flags
//! 12  u8          key length
//! 13  u64         CAS (absent with -C), unaligned
//! ..  u32         client flags, only when non-zero, unaligned
//! ..  key, value
//! ```
//! Items start on 4-byte boundaries so the two atomic words are aligned. Everything after
//! byte 8 is written once, before the item is published in the index, and never changes.

use std::sync::atomic::{AtomicU32, Ordering};

pub(crate) const ALIGN: usize = 4;
const FIXED: usize = 13;
pub(crate) const DEADLINE_MASK: u32 = (1 << 30) - 1;
pub(crate) const FETCHED: u32 = 1 << 30;
pub(crate) const WIN: u32 = 1 << 31;
const VLEN_MASK: u32 = (1 << 30) - 1;
const STALE: u32 = 1 << 30;
const HAS_FLAGS: u32 = 1 << 31;
/// Longest value the layout can describe.
pub(crate) const VALUE_MAX: usize = VLEN_MASK as usize;

/// Bytes the item occupies in the heap, padding included.
pub(crate) fn item_size(cas: bool, klen: usize, vlen: usize, flags: u32) -> usize {
    let raw = FIXED + if cas { 8 } else { 0 } + if flags != 0 { 4 } else { 0 } + klen + vlen;
    raw.next_multiple_of(ALIGN)
}

/// Header fields of a fresh item.
pub(crate) struct Header<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) vlen: usize,
    pub(crate) flags: u32,
    pub(crate) access: u32,
    pub(crate) deadline: u32,
}

/// A pointer to an item's first byte in the heap.
///
/// Every method is `unsafe`: the caller guarantees that the pointer is the start of an item
/// whose header was written, that its segment cannot be reused meanwhile (a pin is held, or
/// the index entry is held under its shard lock), and that `cas` is the store's setting.
#[derive(Clone, Copy)]
pub(crate) struct ItemPtr {
    pub(crate) p: *mut u8,
    pub(crate) cas: bool,
}

impl ItemPtr {
    /// Writes a complete header and the key. Value bytes are left to the caller.
    ///
    /// # Safety
    /// `p` is 4-aligned, has `item_size` writable bytes, and nobody else reads them yet.
    pub(crate) unsafe fn init(self, h: &Header<'_>) {
        // SAFETY (whole block): exclusive access to item_size bytes at p, per the contract.
        unsafe {
            self.access().store(h.access, Ordering::Relaxed);
            self.life()
                .store(h.deadline & DEADLINE_MASK, Ordering::Relaxed);
            let lens = (h.vlen as u32 & VLEN_MASK) | if h.flags != 0 { HAS_FLAGS } else { 0 };
            self.p.add(8).cast::<u32>().write(lens);
            *self.p.add(12) = h.key.len() as u8;
            if self.cas {
                self.p.add(FIXED).cast::<u64>().write_unaligned(0);
            }
            if h.flags != 0 {
                self.p
                    .add(self.flags_at())
                    .cast::<u32>()
                    .write_unaligned(h.flags);
            }
            std::ptr::copy_nonoverlapping(h.key.as_ptr(), self.p.add(self.key_at()), h.key.len());
        }
    }

    /// # Safety
    /// See the type's contract; additionally the item is not yet published.
    pub(crate) unsafe fn set_cas(self, cas: u64) {
        if self.cas {
            // SAFETY: unpublished item, exclusively ours; the CAS field exists when `cas`.
            unsafe { self.p.add(FIXED).cast::<u64>().write_unaligned(cas) };
        }
    }

    /// # Safety
    /// See the type's contract; additionally the item is not yet published.
    pub(crate) unsafe fn set_stale(self) {
        // SAFETY: unpublished item, exclusively ours.
        unsafe {
            let w = self.p.add(8).cast::<u32>();
            w.write(w.read() | STALE);
        }
    }

    /// # Safety: see the type's contract.
    pub(crate) unsafe fn access<'a>(self) -> &'a AtomicU32 {
        // SAFETY: offset 0 of a 4-aligned live item is its access word.
        unsafe { AtomicU32::from_ptr(self.p.cast::<u32>()) }
    }

    /// # Safety: see the type's contract.
    pub(crate) unsafe fn life<'a>(self) -> &'a AtomicU32 {
        // SAFETY: offset 4 of a 4-aligned live item is its life word.
        unsafe { AtomicU32::from_ptr(self.p.add(4).cast::<u32>()) }
    }

    fn lens(self) -> u32 {
        // SAFETY: per the type's contract the header is written and immutable past byte 8.
        unsafe { self.p.add(8).cast::<u32>().read() }
    }

    fn has_flags(self) -> bool {
        self.lens() & HAS_FLAGS != 0
    }

    pub(crate) fn is_stale(self) -> bool {
        self.lens() & STALE != 0
    }

    pub(crate) fn vlen(self) -> usize {
        (self.lens() & VLEN_MASK) as usize
    }

    pub(crate) fn klen(self) -> usize {
        // SAFETY: per the type's contract.
        unsafe { *self.p.add(12) as usize }
    }

    fn flags_at(self) -> usize {
        FIXED + if self.cas { 8 } else { 0 }
    }

    fn key_at(self) -> usize {
        self.flags_at() + if self.has_flags() { 4 } else { 0 }
    }

    pub(crate) fn cas_value(self) -> u64 {
        if !self.cas {
            return 0;
        }
        // SAFETY: per the type's contract; unaligned read of an immutable field.
        unsafe { self.p.add(FIXED).cast::<u64>().read_unaligned() }
    }

    pub(crate) fn flags(self) -> u32 {
        if !self.has_flags() {
            return 0;
        }
        // SAFETY: per the type's contract.
        unsafe { self.p.add(self.flags_at()).cast::<u32>().read_unaligned() }
    }

    /// # Safety: see the type's contract; the slice must not outlive the pin.
    pub(crate) unsafe fn key<'a>(self) -> &'a [u8] {
        // SAFETY: the key was written by `init` and never changes.
        unsafe { std::slice::from_raw_parts(self.p.add(self.key_at()), self.klen()) }
    }

    /// # Safety: see the type's contract; the slice must not outlive the pin.
    pub(crate) unsafe fn value<'a>(self) -> &'a [u8] {
        // SAFETY: the value follows the key; written before publication.
        unsafe { std::slice::from_raw_parts(self.p.add(self.key_at() + self.klen()), self.vlen()) }
    }

    /// # Safety: the item is unpublished and exclusively the caller's.
    pub(crate) unsafe fn value_mut<'a>(self) -> &'a mut [u8] {
        // SAFETY: as `value`, plus exclusivity from the caller.
        unsafe {
            std::slice::from_raw_parts_mut(self.p.add(self.key_at() + self.klen()), self.vlen())
        }
    }

    /// Bytes the item occupies, read back from its header.
    pub(crate) fn size(self) -> usize {
        item_size(self.cas, self.klen(), self.vlen(), self.flags())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        // memtier-style key (15 bytes) and a 100-byte value: 136 bytes with CAS.
        assert_eq!(item_size(true, 15, 100, 0), 136);
        assert_eq!(item_size(false, 15, 100, 0), 128);
        assert_eq!(item_size(true, 15, 100, 1), 140);
    }

    #[test]
    fn round_trip() {
        let mut buf = vec![0u32; 64];
        for cas in [true, false] {
            for flags in [0u32, 0xdead_beef] {
                let it = ItemPtr {
                    p: buf.as_mut_ptr().cast(),
                    cas,
                };
                // SAFETY: buf is 4-aligned, 256 bytes, larger than the item, and ours.
                unsafe {
                    it.init(&Header {
                        key: b"key",
                        vlen: 5,
                        flags,
                        access: 11,
                        deadline: 22,
                    });
                    it.value_mut().copy_from_slice(b"hello");
                    it.set_cas(99);
                    it.set_stale();
                    assert_eq!(it.key(), b"key");
                    assert_eq!(it.value(), b"hello");
                    assert_eq!(it.access().load(Ordering::Relaxed), 11);
                    assert_eq!(it.life().load(Ordering::Relaxed), 22);
                }
                assert_eq!(it.flags(), flags);
                assert_eq!(it.cas_value(), if cas { 99 } else { 0 });
                assert!(it.is_stale());
                assert_eq!(it.size(), item_size(cas, 3, 5, flags));
            }
        }
    }
}
