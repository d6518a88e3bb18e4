//! How one item is laid out in the heap, and how its last-access time is kept in its index
//! slot.
//!
//! Items are byte-packed: no field needs alignment (the one atomic field is a byte), so
//! items follow each other in a segment with no padding.
//!
//! ```text
//! 0        u8 atomic  bits: fetched | win | stale | has flags | wide CAS | value-length width - 1 (2 bits) | external
//! 1        u8         key length k
//! 2        u32 LE     deadline (seconds since the store's epoch, 0 = never)
//! 6        k B        key
//! 6+k      1..=4 B    value length, little endian, as many bytes as the width says (w)
//! 6+k+w    6 or 8 B   CAS, little endian (8 with wide CAS); absent with -C
//! ..       u32 LE     client flags, only when non-zero
//! ..       value (an *external* item: its value is in the cold tier, and these are the
//!          8 bytes of its location there, little endian; the length field still says the
//!          value's length)
//! ```
//! A 15-byte key, a 100-byte value, flags 0 and a CAS below 2^48: 13 bytes besides key and
//! value.
//!
//! The fields read on every lookup sit at fixed offsets, ahead of everything whose size
//! varies: the key (compared on every index probe whose tag matches) and the deadline
//! (checked on every lookup and on every commit's look at the item it replaces). Loads whose
//! address depends on the bits byte made commits measurably slower (docs/store.md).
//!
//! Who writes what:
//! - the bits byte: `fetched` under the item's shard lock (read or write); `win` by whoever
//!   holds a pin (`claim_win`); the rest before publication. Always accessed atomically.
//! - the deadline: before publication, then only under the item's shard *write* lock
//!   (touch); read only under that shard's lock (read or write). A plain field: the lock
//!   orders every write before every later read, and nobody reads it with only a pin.
//! - everything else: written once before the item is published, never changed.
//!
//! The CAS is 6 bytes unless the item was reserved for a CAS of 2^48 or more (an explicit
//! one from meta `E`, or the counter got there): the width is fixed when the item is
//! allocated, and a commit whose CAS turns out not to fit moves the item to a wide copy.

use std::sync::atomic::{AtomicU8, Ordering};

pub(crate) const FETCHED: u8 = 1 << 0;
pub(crate) const WIN: u8 = 1 << 1;
pub(crate) const STALE: u8 = 1 << 2;
const HAS_FLAGS: u8 = 1 << 3;
const WIDE_CAS: u8 = 1 << 4;
const VW_SHIFT: u32 = 5;
/// The value is in the cold tier (the disk); the item holds its 8-byte location instead.
const EXTERNAL: u8 = 1 << 7;
/// Bytes of an external item's location.
pub(crate) const LOCATION_LEN: usize = 8;
/// Where the deadline is: after the bits byte and the key length.
const DEADLINE_AT: usize = 2;
/// Where the key is: after the deadline.
const KEY_AT: usize = 6;
/// Longest value the layout can describe (a 4-byte length).
pub(crate) const VALUE_MAX: usize = u32::MAX as usize;
/// A CAS below this fits the 6-byte field.
pub(crate) const NARROW_CAS_END: u64 = 1 << 48;

/// Bytes of the value-length field.
pub(crate) fn vlen_width(vlen: usize) -> usize {
    match vlen {
        0..=0xff => 1,
        0x100..=0xffff => 2,
        0x1_0000..=0xff_ffff => 3,
        _ => 4,
    }
}

fn cas_len(cas: bool, wide: bool) -> usize {
    usize::from(cas) * if wide { 8 } else { 6 }
}

/// Whether a CAS fits an item of this shape.
pub(crate) fn cas_fits(wide: bool, cas: u64) -> bool {
    wide || cas < NARROW_CAS_END
}

/// Bytes the item occupies in the heap (there is no padding).
pub(crate) fn item_size(cas: bool, wide: bool, klen: usize, vlen: usize, flags: u32) -> usize {
    header_size(cas, wide, vlen, flags) + klen + vlen
}

/// Bytes an external item (key, metadata, location) occupies in the heap.
pub(crate) fn external_size(cas: bool, wide: bool, klen: usize, vlen: usize, flags: u32) -> usize {
    header_size(cas, wide, vlen, flags) + klen + LOCATION_LEN
}

/// Bytes besides key and value.
pub(crate) fn header_size(cas: bool, wide: bool, vlen: usize, flags: u32) -> usize {
    KEY_AT + vlen_width(vlen) + cas_len(cas, wide) + if flags != 0 { 4 } else { 0 }
}

/// Header fields of a fresh item.
pub(crate) struct Header<'a> {
    pub(crate) key: &'a [u8],
    pub(crate) vlen: usize,
    pub(crate) flags: u32,
    /// Seconds since the store's epoch, 0 = never.
    pub(crate) deadline: u32,
    /// 8-byte CAS field (only meaningful when the store keeps CAS).
    pub(crate) wide_cas: bool,
}

/// A pointer to an item's first byte in the heap.
///
/// Every method relies on this contract (the `unsafe` ones state what they add): the
/// pointer is the start of an item whose header was written, its segment cannot be reused
/// meanwhile (a pin is held, or the index entry is held under its shard lock), and `cas` is
/// the store's setting. No method needs any alignment.
#[derive(Clone, Copy)]
pub(crate) struct ItemPtr {
    pub(crate) p: *mut u8,
    pub(crate) cas: bool,
}

/// Reads `N` bytes at `p`.
///
/// # Safety
/// `p..p + N` is readable and not written concurrently. Any alignment.
unsafe fn read<const N: usize>(p: *const u8) -> [u8; N] {
    // SAFETY: per the contract; [u8; N] has alignment 1.
    unsafe { p.cast::<[u8; N]>().read() }
}

/// Writes `N` bytes at `p`.
///
/// # Safety
/// `p..p + N` is writable and nobody reads it concurrently. Any alignment.
unsafe fn write<const N: usize>(p: *mut u8, b: [u8; N]) {
    // SAFETY: per the contract; [u8; N] has alignment 1.
    unsafe { p.cast::<[u8; N]>().write(b) }
}

impl ItemPtr {
    /// Writes the header (all but the CAS, which `set_cas` writes before publication) and
    /// the key. Value bytes are left to the caller.
    ///
    /// # Safety
    /// `p` has `item_size` writable bytes (any alignment), and nobody else reads them yet.
    #[inline]
    pub(crate) unsafe fn init(self, h: &Header<'_>) {
        let vw = vlen_width(h.vlen);
        let wide = self.cas && h.wide_cas;
        let bits = ((vw - 1) as u8) << VW_SHIFT
            | if h.flags != 0 { HAS_FLAGS } else { 0 }
            | if wide { WIDE_CAS } else { 0 };
        // SAFETY: (whole block) exclusive access to item_size bytes at p, per the contract;
        // every field is written as bytes, so alignment does not matter.
        unsafe {
            self.bits().store(bits, Ordering::Relaxed);
            *self.p.add(1) = h.key.len() as u8;
            write(self.p.add(DEADLINE_AT), h.deadline.to_le_bytes());
            std::ptr::copy_nonoverlapping(h.key.as_ptr(), self.p.add(KEY_AT), h.key.len());
            // Exactly `vw` bytes: an item can end right after its length field.
            let len = (h.vlen as u32).to_le_bytes();
            let at = self.p.add(len_at(h.key.len()));
            match vw {
                1 => *at = len[0],
                2 => write(at, [len[0], len[1]]),
                3 => {
                    write(at, [len[0], len[1]]);
                    *at.add(2) = len[2];
                }
                _ => write(at, len),
            }
            // The CAS field is left as it is: every path that publishes the item sets it.
            if h.flags != 0 {
                let at = value_at(self.cas, h.key.len(), bits) - 4;
                write(self.p.add(at), h.flags.to_le_bytes());
            }
        }
    }

    /// `init` for an external item: the header says the value's length, and the item holds
    /// `location` where the value would be.
    ///
    /// # Safety
    /// `p` has `external_size` writable bytes (any alignment), and nobody else reads them.
    pub(crate) unsafe fn init_external(self, h: &Header<'_>, location: u64) {
        // SAFETY: per the caller: `init` writes only header and key, within these bytes.
        unsafe {
            self.init(h);
            self.bits().fetch_or(EXTERNAL, Ordering::Relaxed);
            let at = value_at(self.cas, h.key.len(), self.shape());
            write(self.p.add(at), location.to_le_bytes());
        }
    }

    /// Whether the value is in the cold tier.
    pub(crate) fn is_external(self) -> bool {
        self.shape() & EXTERNAL != 0
    }

    /// An external item's location (0 for an item holding its value).
    ///
    /// # Safety
    /// See the type's contract; additionally the caller holds the item's shard lock, or
    /// the item is unpublished and its own: compaction of the cold tier rewrites the
    /// location in place under the shard's write lock.
    pub(crate) unsafe fn location(self) -> u64 {
        let bits = self.shape();
        if bits & EXTERNAL == 0 {
            return 0;
        }
        let at = value_at(self.cas, self.klen(), bits);
        // SAFETY: an external item's 8 location bytes follow its header.
        u64::from_le_bytes(unsafe { read(self.p.add(at)) })
    }

    /// Points an external item at a new location (its record was moved by compaction).
    ///
    /// # Safety
    /// See the type's contract; additionally the caller holds the item's shard write lock
    /// (every reader of the location holds that shard's lock), and the item is external.
    pub(crate) unsafe fn set_location(self, location: u64) {
        let bits = self.shape();
        debug_assert!(bits & EXTERNAL != 0);
        let at = value_at(self.cas, self.klen(), bits);
        // SAFETY: per the caller; 8 bytes after the header.
        unsafe { write(self.p.add(at), location.to_le_bytes()) };
    }

    /// The bits byte, the item's only atomic field.
    ///
    /// # Safety: see the type's contract; the reference must not outlive it.
    pub(crate) unsafe fn bits<'a>(self) -> &'a AtomicU8 {
        // SAFETY: byte 0 of a live item is its bits byte; AtomicU8 needs no alignment.
        unsafe { AtomicU8::from_ptr(self.p) }
    }

    /// A snapshot of the bits byte.
    pub(crate) fn shape(self) -> u8 {
        // SAFETY: per the type's contract.
        unsafe { self.bits().load(Ordering::Relaxed) }
    }

    /// Seconds since the store's epoch, 0 = never.
    ///
    /// # Safety
    /// See the type's contract; additionally the caller holds the item's shard lock (read
    /// or write), or the item is unpublished and its own.
    pub(crate) unsafe fn deadline(self) -> u32 {
        // SAFETY: the deadline field follows the value length; written only under the
        // shard write lock, which the caller's lock excludes.
        u32::from_le_bytes(unsafe { read(self.p.add(DEADLINE_AT)) })
    }

    /// # Safety
    /// See the type's contract; additionally the caller holds the item's shard write lock,
    /// or the item is unpublished and its own.
    pub(crate) unsafe fn set_deadline(self, d: u32) {
        // SAFETY: as `deadline`; the write lock excludes every reader of the field.
        unsafe { write(self.p.add(DEADLINE_AT), d.to_le_bytes()) };
    }

    /// Whether the item's CAS field is 8 bytes.
    #[cfg(test)]
    pub(crate) fn is_wide(self) -> bool {
        self.shape() & WIDE_CAS != 0
    }

    /// Whether `cas` can be stored in this item (always, when the store keeps no CAS).
    #[cfg(test)]
    pub(crate) fn cas_fits(self, cas: u64) -> bool {
        !self.cas || cas_fits(self.is_wide(), cas)
    }

    /// Stores `cas` if it fits the item's CAS field (`cas_fits`); false, and nothing
    /// written, when it does not. Without CAS kept, nothing to store: true.
    ///
    /// # Safety
    /// See the type's contract; additionally the item is not yet published.
    pub(crate) unsafe fn set_cas(self, cas: u64) -> bool {
        let bits = self.shape();
        if !cas_fits(bits & WIDE_CAS != 0, cas) {
            return !self.cas;
        }
        // SAFETY: unpublished item, exclusively ours.
        unsafe { self.write_cas(bits, cas) };
        true
    }

    /// # Safety: exclusive access to the item's bytes.
    unsafe fn write_cas(self, bits: u8, cas: u64) {
        if !self.cas {
            return;
        }
        let b = cas.to_le_bytes();
        // SAFETY: the CAS field is 6 or 8 bytes at cas_at; the caller owns them.
        unsafe {
            let at = self.p.add(cas_at(self.klen(), bits));
            if bits & WIDE_CAS != 0 {
                write(at, b);
            } else {
                write(at, [b[0], b[1], b[2], b[3]]);
                write(at.add(4), [b[4], b[5]]);
            }
        }
    }

    /// # Safety
    /// See the type's contract; additionally the item is not yet published.
    pub(crate) unsafe fn set_stale(self) {
        // SAFETY: per the contract.
        unsafe { self.bits().fetch_or(STALE, Ordering::Relaxed) };
    }

    pub(crate) fn is_stale(self) -> bool {
        self.shape() & STALE != 0
    }

    fn vlen_of(self, bits: u8) -> usize {
        // SAFETY: per the type's contract: `vw` bytes of length after the key, immutable.
        unsafe {
            let at = self.p.add(len_at(self.klen()));
            match vw(bits) {
                1 => usize::from(*at),
                2 => usize::from(u16::from_le_bytes(read(at))),
                3 => usize::from(u16::from_le_bytes(read(at))) | usize::from(*at.add(2)) << 16,
                _ => u32::from_le_bytes(read(at)) as usize,
            }
        }
    }

    pub(crate) fn vlen(self) -> usize {
        self.vlen_of(self.shape())
    }

    pub(crate) fn klen(self) -> usize {
        // SAFETY: per the type's contract.
        unsafe { *self.p.add(1) as usize }
    }

    pub(crate) fn cas_value(self) -> u64 {
        if !self.cas {
            return 0;
        }
        let bits = self.shape();
        // SAFETY: per the type's contract; the CAS field is immutable once published.
        unsafe {
            let at = self.p.add(cas_at(self.klen(), bits));
            if bits & WIDE_CAS != 0 {
                u64::from_le_bytes(read(at))
            } else {
                u64::from(u32::from_le_bytes(read(at)))
                    | u64::from(u16::from_le_bytes(read(at.add(4)))) << 32
            }
        }
    }

    pub(crate) fn flags(self) -> u32 {
        let bits = self.shape();
        if bits & HAS_FLAGS == 0 {
            return 0;
        }
        let at = value_at(self.cas, self.klen(), bits) - 4;
        // SAFETY: per the type's contract; the flags sit just before the value.
        u32::from_le_bytes(unsafe { read(self.p.add(at)) })
    }

    /// # Safety: see the type's contract; the slice must not outlive the pin.
    pub(crate) unsafe fn key<'a>(self) -> &'a [u8] {
        // SAFETY: the key was written by `init` and never changes.
        unsafe { std::slice::from_raw_parts(self.p.add(KEY_AT), self.klen()) }
    }

    /// The key and the item's size, from one read of the bits byte.
    ///
    /// # Safety: see the type's contract; the slice must not outlive the pin.
    pub(crate) unsafe fn key_and_size<'a>(self) -> (&'a [u8], usize) {
        // SAFETY: as `key`.
        let key = unsafe { self.key() };
        (key, self.size())
    }

    /// Where the value starts, and the bytes it occupies here (an external item's
    /// location, not its value).
    fn value_span(self) -> (usize, usize) {
        let bits = self.shape();
        let len = if bits & EXTERNAL != 0 {
            LOCATION_LEN
        } else {
            self.vlen_of(bits)
        };
        (value_at(self.cas, self.klen(), bits), len)
    }

    /// The value's bytes; an external item's are elsewhere (this is then its location's 8
    /// bytes: callers check `is_external` first).
    ///
    /// # Safety: see the type's contract; the slice must not outlive the pin.
    pub(crate) unsafe fn value<'a>(self) -> &'a [u8] {
        let (at, len) = self.value_span();
        // SAFETY: the value follows the key; written before publication.
        unsafe { std::slice::from_raw_parts(self.p.add(at), len) }
    }

    /// # Safety: the item is unpublished and exclusively the caller's.
    pub(crate) unsafe fn value_mut<'a>(self) -> &'a mut [u8] {
        let (at, len) = self.value_span();
        // SAFETY: as `value`, plus exclusivity from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.p.add(at), len) }
    }

    /// Bytes of the item, read back from its header (what `stats` counts as `bytes`).
    pub(crate) fn size(self) -> usize {
        let (at, len) = self.value_span();
        at + len
    }

    /// Bytes the item occupies in its segment: its size, rounded up for a large item (see
    /// [`span`]). Walking a segment steps by this.
    pub(crate) fn span(self) -> usize {
        span(self.size())
    }
}

/// Items of at least this many bytes leave reusable holes when they die (see
/// `holes`); smaller ones are reclaimed only with their whole segment.
pub(crate) const LARGE: usize = 4096;
/// A large item occupies a multiple of this many bytes, so that the holes large items
/// leave, and what remains of a hole after a smaller item took its start, are multiples
/// of it too: never too small to hold a filler (`write_filler`).
pub(crate) const LARGE_GRANULE: usize = 64;

/// Bytes an item of `size` bytes occupies in its segment: its size, rounded up to
/// `LARGE_GRANULE` for a large item (at most 1.5% more). Small items are packed exactly.
#[inline]
pub(crate) fn span(size: usize) -> usize {
    if size >= LARGE {
        size.next_multiple_of(LARGE_GRANULE)
    } else {
        size
    }
}

/// Fewest bytes a filler can occupy (with CAS kept: header, empty key, 1-byte length, CAS).
pub(crate) const FILLER_MIN: usize = KEY_AT + 1 + 6;

/// Writes a filler: an item of exactly `len` bytes that no index entry will ever point at
/// (an empty key, which no client can send), so that walking a segment item by item steps
/// over the unused end of a hole. Its deadline is long past.
///
/// # Safety
/// `p` has `len` writable bytes (any alignment) that nobody reads concurrently, and
/// `len >= FILLER_MIN`.
pub(crate) unsafe fn write_filler(p: *mut u8, len: usize, cas: bool) {
    debug_assert!(len >= FILLER_MIN);
    let fixed = KEY_AT + cas_len(cas, false);
    // The narrowest length field that describes the rest: a wider one than the value
    // needs is fine, the width is read from the bits byte.
    let vw = (1..4)
        .find(|&w| len - fixed - w < 1 << (8 * w))
        .unwrap_or(4);
    let vlen = len - fixed - vw;
    let it = ItemPtr { p, cas };
    // SAFETY: (whole block) exclusive access to `len` bytes at p, per the contract; the
    // header written is `fixed + vw` bytes, the rest is the filler's "value".
    unsafe {
        it.bits()
            .store(((vw - 1) as u8) << VW_SHIFT, Ordering::Relaxed);
        *p.add(1) = 0;
        write(p.add(DEADLINE_AT), 1u32.to_le_bytes());
        let l = (vlen as u32).to_le_bytes();
        std::ptr::copy_nonoverlapping(l.as_ptr(), p.add(len_at(0)), vw);
    }
    debug_assert_eq!(it.size(), len);
}

/// The size of the item at the start of `b`, read from the header without trusting it:
/// None unless the key length is a real one (1..=250, or 0 for a filler) and the whole
/// item fits in `b`. Walks a restored segment (`b`: from the item to the segment's write
/// offset) before the store believes its bytes; the walk steps by [`span`] of it.
pub(crate) fn checked_size(b: &[u8], cas: bool) -> Option<usize> {
    let bits = *b.first()?;
    let klen = usize::from(*b.get(1)?);
    if klen > crate::config::KEY_MAX {
        return None;
    }
    let at = len_at(klen);
    let w = vw(bits);
    let mut len = [0u8; 4];
    len[..w].copy_from_slice(b.get(at..at + w)?);
    // An external item holds its value's location, not its value.
    let here = if bits & EXTERNAL != 0 {
        LOCATION_LEN
    } else {
        u32::from_le_bytes(len) as usize
    };
    let size = value_at(cas, klen, bits).checked_add(here)?;
    (size <= b.len()).then_some(size)
}

/// Whether the item whose bits byte is `bits` is external (its value in the cold tier).
pub(crate) fn external_bits(bits: u8) -> bool {
    bits & EXTERNAL != 0
}

/// Whether the item at the start of `b` is a filler (`write_filler`: an empty key).
pub(crate) fn is_filler(b: &[u8]) -> bool {
    b.get(1) == Some(&0)
}

fn vw(bits: u8) -> usize {
    usize::from((bits >> VW_SHIFT) & 3) + 1
}

fn len_at(klen: usize) -> usize {
    KEY_AT + klen
}

fn cas_at(klen: usize, bits: u8) -> usize {
    len_at(klen) + vw(bits)
}

/// Bytes between the key and the value (length, CAS, flags) for every (CAS kept,
/// bits >> 3): one load instead of a chain of branches on every value access.
const MIDDLE: [u8; 32] = {
    let mut t = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        // i: CAS kept (bit 4) | value-length width - 1 (bits 2-3) | wide CAS | has flags
        let vw = ((i >> 2) & 3) + 1;
        let cas = if i & 16 == 0 {
            0
        } else if i & 2 != 0 {
            8
        } else {
            6
        };
        let flags = if i & 1 != 0 { 4 } else { 0 };
        t[i] = (vw + cas + flags) as u8;
        i += 1;
    }
    t
};

// MIDDLE's index relies on where these bits are.
const _: () = assert!(HAS_FLAGS == 1 << 3 && WIDE_CAS == 1 << 4 && VW_SHIFT == 5);

fn value_at(cas: bool, klen: usize, bits: u8) -> usize {
    len_at(klen) + usize::from(MIDDLE[usize::from(cas) << 4 | usize::from((bits >> 3) & 0xf)])
}

// ----- last access, kept in the index slot

/// Access times up to this many seconds after the segment opened are kept exactly; a
/// writer never appends to a segment opened this long ago (it seals it and opens another),
/// so the time an item is written is always exact.
pub(crate) const ACCESS_EXACT: u64 = 1 << 15;
/// Beyond `ACCESS_EXACT`, access times are kept in steps of this many seconds.
const ACCESS_COARSE_STEP: u64 = 128;

/// A last-access time, as seconds since its item's segment opened, in the slot's 16 bits:
/// exact below 32768 s (9.1 hours), then in 128-second steps, rounded down, saturating at
/// 32768 + 32767 * 128 s (49 days). Monotonic: a later time never encodes lower.
pub(crate) fn encode_access(since_open: u64) -> u16 {
    if since_open < ACCESS_EXACT {
        since_open as u16
    } else {
        let coarse = ACCESS_EXACT + (since_open - ACCESS_EXACT) / ACCESS_COARSE_STEP;
        coarse.min(u64::from(u16::MAX)) as u16
    }
}

/// Seconds since the segment opened, rounded down to what `encode_access` kept.
pub(crate) fn decode_access(a: u16) -> u64 {
    let a = u64::from(a);
    if a < ACCESS_EXACT {
        a
    } else {
        ACCESS_EXACT + (a - ACCESS_EXACT) * ACCESS_COARSE_STEP
    }
}

/// The access time `at` (unix seconds) of an item in a segment opened at `opened`. A time
/// before the opening (an item copied into a newer segment, or a racing thread's clock a
/// second behind) is clamped to the opening.
pub(crate) fn access_since(at: u64, opened: u64) -> u16 {
    encode_access(at.saturating_sub(opened))
}

#[cfg(test)]
mod tests;
