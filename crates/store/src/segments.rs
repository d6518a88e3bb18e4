//! Segments: the heap cut into equal pieces that items are appended to, and the bookkeeping
//! that decides which segment is written, sealed, reclaimed or evicted.
//!
//! Life of a segment: Free -> Open (the current segment of one TTL bucket; writers append
//! under the bucket's lock) -> Sealed (full, queued in seal order; large items may still be
//! written into the holes dead large items left, see `holes`) -> Reclaiming (its index
//! entries are being removed) -> Free again once no pin is left on it.
//!
//! Pins: every `ItemRef` and every unfinished write (a `Reservation`, or an item being
//! built) holds a pin on its segment. Writers pin only under the bucket lock of an Open
//! segment, or under the pool lock while a Sealed one is still Sealed (a hole's writer);
//! whoever takes a Sealed segment out of circulation marks it Reclaiming under that same
//! lock after seeing zero pins, so from then on no write into it can happen. Readers pin
//! only under their index shard's lock while the entry still points into the segment, so
//! once reclamation has removed the entries, pins can only go down. A segment is reused
//! only when both hold: no entries, no pins.

use crate::holes::SegmentHoles;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, AtomicUsize, Ordering};

pub(crate) const FREE: u8 = 0;
pub(crate) const OPEN: u8 = 1;
pub(crate) const SEALED: u8 = 2;
pub(crate) const RECLAIMING: u8 = 3;

/// Bookkeeping of one segment, kept outside the heap.
#[derive(Default)]
pub(crate) struct Segment {
    pub(crate) state: AtomicU8,
    pub(crate) pins: AtomicU32,
    /// When it was last opened (unix seconds): item access times in index slots count from
    /// here. Changes only while no index entry points into the segment and nobody pins it.
    pub(crate) opened: AtomicU64,
    /// Bytes appended so far. Written under the owning bucket's lock while Open.
    pub(crate) write_off: AtomicUsize,
    /// Latest deadline of any item in it (unix seconds; u64::MAX if one never expires;
    /// 0 while empty).
    pub(crate) max_deadline: AtomicU64,
    /// Latest time an item was written into it (unix seconds).
    pub(crate) last_write: AtomicU64,
    /// Largest CAS published from it.
    pub(crate) max_cas: AtomicU64,
    /// TTL bucket it was opened for.
    pub(crate) bucket: AtomicU32,
    /// Items in it that the index links to; at zero the segment is all garbage.
    pub(crate) live: AtomicU32,
    /// Bytes of the items in it that the index links to: what compacting it would move.
    pub(crate) live_bytes: AtomicUsize,
    /// Pins among `pins` that a reader declared long-lived (`ItemRef::hold`: a reply
    /// queued for a client). Never reset: a segment with held pins is pinned, so never
    /// reused.
    pub(crate) held: AtomicU32,
    /// Its pages are resident (written before and not given back): reusing it costs no
    /// page faults.
    pub(crate) warm: AtomicBool,
    /// Walked to its end by `Store::cold_items` since it was last opened: its items that
    /// could leave RAM have been offered (`store/external.rs`).
    pub(crate) cold_scanned: AtomicBool,
    /// Counts the times the segment was (re)opened: a hole recorded in it (`holes`) is
    /// good only while this is what it was then.
    pub(crate) generation: AtomicU32,
    /// Room that dead large items left in it (`holes`).
    pub(crate) holes: Mutex<SegmentHoles>,
}

impl Segment {
    /// Empties the segment's bookkeeping for `bucket` and publishes it in `state`.
    fn reset(&self, bucket: usize, state: u8, now: u64) {
        self.generation.fetch_add(1, Ordering::Relaxed);
        self.opened.store(now, Ordering::Relaxed);
        self.write_off.store(0, Ordering::Relaxed);
        self.max_deadline.store(0, Ordering::Relaxed);
        self.last_write.store(0, Ordering::Relaxed);
        self.max_cas.store(0, Ordering::Relaxed);
        self.bucket.store(bucket as u32, Ordering::Relaxed);
        self.live.store(0, Ordering::Relaxed);
        self.live_bytes.store(0, Ordering::Relaxed);
        self.cold_scanned.store(false, Ordering::Relaxed);
        self.state.store(state, Ordering::Release);
    }

    /// Makes the segment the open (appended-to) segment of `bucket`.
    pub(crate) fn open(&self, bucket: usize, now: u64) {
        self.reset(bucket, OPEN, now);
    }

    /// Prepares the spare segment to receive the survivors of an eviction or compaction.
    pub(crate) fn reset_for_copy(&self, bucket: usize, now: u64) {
        self.reset(bucket, RECLAIMING, now);
    }

    pub(crate) fn unpin(&self) {
        // Release: the pin holder's reads (and writes, for a writer) happen before whoever
        // sees zero and reuses the memory.
        self.pins.fetch_sub(1, Ordering::Release);
    }

    pub(crate) fn unpinned(&self) -> bool {
        self.pins.load(Ordering::Acquire) == 0
    }

    /// An item occupying `size` bytes in it (its `layout::span`) became linked.
    pub(crate) fn link(&self, size: usize) {
        self.live.fetch_add(1, Ordering::Relaxed);
        self.live_bytes.fetch_add(size, Ordering::Relaxed);
    }

    /// An item occupying `size` bytes in it (its `layout::span`) stopped being linked.
    pub(crate) fn unlink(&self, size: usize) {
        self.live.fetch_sub(1, Ordering::Relaxed);
        self.live_bytes.fetch_sub(size, Ordering::Relaxed);
    }

    /// Bytes of it still linked.
    pub(crate) fn live_bytes(&self) -> usize {
        self.live_bytes.load(Ordering::Relaxed)
    }
}

/// Free and sealed segments, under one lock (short critical sections only).
#[derive(Default)]
pub(crate) struct Pool {
    /// Never used or reclaimed; a stack, so recently used (already touched) memory is
    /// reused first and untouched pages stay untouched.
    pub(crate) free: Vec<u32>,
    /// Sealed segments, oldest first: the eviction order.
    pub(crate) sealed: std::collections::VecDeque<u32>,
    /// Reclaimed segments still pinned by readers.
    pub(crate) draining: Vec<u32>,
    /// Once eviction has begun, one empty segment kept aside: recently read items of an
    /// evicted segment are copied into it instead of being dropped.
    pub(crate) spare: Option<u32>,
}

/// Where an eviction copies the items worth keeping.
pub(crate) struct Keep {
    pub(crate) seg: u32,
    /// Bytes written so far.
    pub(crate) off: usize,
    /// At most this many bytes are kept, so every eviction frees at least the rest.
    pub(crate) limit: usize,
    /// Keep every live item that fits (compaction), not only those read since written.
    pub(crate) all: bool,
}
