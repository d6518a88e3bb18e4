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
