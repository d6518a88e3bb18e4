//! What the store reports: `stats` (counters summed over shards, gauges), `stats reset`,
//! and the pin and reservation counts tests use to check nothing leaks.

use super::Store;
use crate::stats::StoreStats;
use std::sync::atomic::Ordering;

impl Store {
    pub fn stats(&self) -> StoreStats {
        let mut s = StoreStats::default();
        let mut footprint = 0;
        for shard in self.shards.iter() {
            shard.counters.add_into(&mut s);
            let t = shard.table.read();
            s.curr_items += t.items as u64;
            s.bytes += t.bytes as u64;
            footprint += t.footprint();
            s.pinned_items += shard.pinned.load(Ordering::Relaxed) as u64;
            s.open_reservations += shard.reserved.load(Ordering::Relaxed) as u64;
        }
        s.limit_maxbytes = self.cfg.memory_limit as u64;
        s.total_segments = self.segs.len() as u64;
        let pool = self.pool.lock();
        s.used_segments = (self.segs.len() - pool.free.len()) as u64;
        s.resident_segments = self
            .segs
            .iter()
            .filter(|seg| seg.warm.load(Ordering::Relaxed))
            .count() as u64;
        s.index_bytes = footprint as u64;
        s
    }

    /// What `stats reset` resets: event counters, not the current-state gauges.
    pub fn reset_stats(&self) {
        for shard in self.shards.iter() {
            shard.counters.reset();
        }
    }

    /// Outstanding `ItemRef`s.
    pub fn pinned_items(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.pinned.load(Ordering::Relaxed))
            .sum()
    }

    /// Outstanding `Reservation`s.
    pub fn open_reservations(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.reserved.load(Ordering::Relaxed))
            .sum()
    }
}

/// Where the heap's segments are, for diagnosing memory use (RSS against live data).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SegmentCensus {
    /// Free and resident (reusing one costs no page faults).
    pub free_warm: usize,
    /// Free and not resident (never touched, or given back).
    pub free_cold: usize,
    /// Open segments of TTL buckets.
    pub open: usize,
    /// Sealed segments, by the share of their bytes still linked: up to 1/4, 1/2, 3/4, all.
    pub sealed_by_live: [usize; 4],
    /// Reclaimed but still pinned by readers.
    pub draining: usize,
    /// The eviction/compaction spare, if set aside.
    pub spare: usize,
    /// Segments with at least one pin.
    pub pinned: usize,
    /// Bytes linked from the index, over all segments.
    pub live_bytes: usize,
    /// Segments whose pages are resident.
    pub resident: usize,
}

impl Store {
    /// A snapshot of the segments' states (not atomic across segments: for diagnostics).
    pub fn census(&self) -> SegmentCensus {
        let mut c = SegmentCensus::default();
        let pool = self.pool.lock();
        for &s in pool.free.iter() {
            if self.segs[s as usize].warm.load(Ordering::Relaxed) {
                c.free_warm += 1;
            } else {
                c.free_cold += 1;
            }
        }
        for &s in pool.sealed.iter() {
            let live = self.segs[s as usize].live_bytes();
            c.sealed_by_live[(live * 4 / (self.seg_size + 1)).min(3)] += 1;
        }
        c.draining = pool.draining.len();
        c.spare = usize::from(pool.spare.is_some());
        drop(pool);
        for seg in self.segs.iter() {
            if seg.state.load(Ordering::Relaxed) == crate::segments::OPEN {
                c.open += 1;
            }
            if !seg.unpinned() {
                c.pinned += 1;
            }
            if seg.warm.load(Ordering::Relaxed) {
                c.resident += 1;
            }
            c.live_bytes += seg.live_bytes();
        }
        c
    }
}
