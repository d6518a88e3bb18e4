//! Writing large items into the holes dead large items left (see `holes`), before
//! appending to the log: a 64 KiB overwrite then reuses the room of the value it replaced,
//! as memcached reuses a slab chunk, and the heap stays near the live data without moving
//! anything.
//!
//! When a hole may be written: its segment is sealed (eviction, compaction and the sweep
//! take segments out of the sealed list, and mark them, under the pool lock, which the
//! taker holds while it checks and pins), still in the generation the hole was recorded
//! in, and has no pin at all. The last rule is what keeps readers safe: a reader pins the
//! segment before it lets go of the index shard lock under which it found the item, and
//! the hole is recorded after the item left the index, so a segment seen with no pins
//! after that has no reader of the dead item left, and nobody can find it any more. The
//! disk tier's walk of cold segments (`external.rs: cold_items`) also pins only an
//! unpinned segment, under the same lock, so it never reads a header being written.

use super::alloc::Placed;
use super::Store;
use crate::exptime::{Deadline, NEVER};
use crate::layout::{self, ACCESS_EXACT, FILLER_MIN, LARGE};
use crate::segments::{OPEN, SEALED};
use std::sync::atomic::Ordering;

/// How many segments with holes a taker looks at, newest first, before it appends to the
/// log instead: enough to pass a few pinned or ill-fitting ones, few enough that a large
/// write never walks a long list.
const SCAN: usize = 8;

impl Store {
    /// The `span` bytes at heap offset `off`, a large item that stopped being linked (or a
    /// reservation never committed), are a hole. Called under the item's shard write lock,
    /// or while a reservation pins it, so its segment cannot be reclaimed meanwhile.
    pub(super) fn record_hole(&self, off: usize, span: usize) {
        let s = off / self.seg_size;
        let seg = &self.segs[s];
        let generation = seg.generation.load(Ordering::Relaxed);
        let b = seg.bucket.load(Ordering::Relaxed) as usize;
        let mut roomy = self.roomy[b].lock();
        let first = seg
            .holes
            .lock()
            .add(generation, (off % self.seg_size) as u32, span as u32);
        if first {
            roomy.push(s as u32, generation, |s, g| self.segment_gone(s, g));
        }
    }

    /// Whether segment `s` was reclaimed since generation `g`: its holes are gone.
    fn segment_gone(&self, s: u32, g: u32) -> bool {
        let seg = &self.segs[s as usize];
        seg.generation.load(Ordering::Relaxed) != g
            || !matches!(seg.state.load(Ordering::Relaxed), OPEN | SEALED)
    }

    /// Room for `span` bytes (a large item's) in a hole of bucket `b`, pinned; `None` when
    /// none of the segments looked at can take it now.
    ///
    /// A hole is used only by an item that dies no later than its segment's newest item
    /// (so the sweep still reclaims the segment when its TTL bucket says), and only while
    /// its segment is young enough for an exact write time (`layout::ACCESS_EXACT`, as
    /// for appending). What is left of a hole after the item gets a filler, so the segment
    /// can still be walked item by item, and stays a hole if it is large.
    pub(super) fn take_hole(
        &self,
        b: usize,
        span: usize,
        deadline: Deadline,
        now: u64,
    ) -> Option<Placed> {
        debug_assert!(span >= LARGE && span == layout::span(span));
        let dies = if deadline == NEVER {
            u64::MAX
        } else {
            deadline
        };
        let mut roomy = self.roomy[b].lock();
        let mut i = 0;
        while i < SCAN.min(roomy.len()) {
            let (s, generation) = roomy.newest(i);
            let seg = &self.segs[s as usize];
            if self.segment_gone(s, generation) {
                roomy.remove_newest(i);
                continue;
            }
            if dies > seg.max_deadline.load(Ordering::Relaxed) {
                i += 1;
                continue;
            }
            let mut holes = seg.holes.lock();
            let Some(h) = holes.best_fit(generation, span as u32, FILLER_MIN as u32) else {
                let empty = holes.is_empty();
                drop(holes);
                if empty {
                    roomy.remove_newest(i);
                } else {
                    roomy.demote_newest(i);
                    i += 1;
                }
                continue;
            };
            {
                let _pool = self.pool.lock();
                if seg.state.load(Ordering::Relaxed) != SEALED
                    || seg.generation.load(Ordering::Relaxed) != generation
                    || !seg.unpinned()
                {
                    i += 1;
                    continue;
                }
                seg.pins.fetch_add(1, Ordering::Relaxed);
                // The disk tier's marking walk skips a segment it walked to the end until
                // the segment is reused: a new item in a hole must be offered too.
                seg.cold_scanned.store(false, Ordering::Relaxed);
            }
            // Stable now: the segment is pinned and in the hole's generation.
            let opened = seg.opened.load(Ordering::Relaxed);
            if now.saturating_sub(opened) >= ACCESS_EXACT {
                drop(holes);
                seg.unpin();
                roomy.remove_newest(i);
                continue;
            }
            let (off, rest) = holes.take(h, span as u32, LARGE as u32);
            let at = s as usize * self.seg_size + off as usize;
            if rest > 0 {
                // SAFETY: the rest of the hole lies inside the segment, below its write
                // offset; nobody can reach those bytes (no index entry, no reader left) and
                // no other writer takes them while we hold the segment's hole list.
                unsafe {
                    layout::write_filler(
                        self.heap.at(at + span),
                        rest as usize,
                        self.cfg.cas_enabled,
                    );
                }
            }
            if holes.is_empty() {
                drop(holes);
                roomy.remove_newest(i);
            }
            seg.last_write.fetch_max(now, Ordering::Relaxed);
            return Some(Placed { off: at, opened });
        }
        None
    }
}
