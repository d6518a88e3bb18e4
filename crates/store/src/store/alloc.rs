//! Room for an item: the open segment of its TTL bucket, else a free segment (warm before
//! cold), else one reclaimed from the dead, compacted, or evicted.

use super::{Store, MIN_SEGMENTS_FOR_SPARE};
use crate::config::StoreError;
use crate::exptime::{Deadline, NEVER};
use crate::layout;
use crate::segments::{Keep, Pool, FREE, OPEN, RECLAIMING, SEALED};
use crate::ttl;
use std::sync::atomic::Ordering;

/// Segments the heap may keep resident beyond the live data's share before compaction
/// starts moving half-live segments (`resident_beyond_live`).
const RESIDENT_SLACK: usize = 4;

/// Where `alloc` put an item: its heap offset, and when its segment opened (what the
/// item's slot access field counts from).
pub(super) struct Placed {
    pub(super) off: usize,
    pub(super) opened: u64,
}

/// What an allocation is for, which decides where it may go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Place {
    /// A value: its TTL bucket's open segment, or for a large one a hole in one of the
    /// bucket's segments.
    Value,
    /// A value read back from the disk tier because it is hot: the open segment only,
    /// among the newest items. A hole sits in an older segment, which the disk tier's
    /// writer and eviction reach first: with `ext_item_age`, the value went straight back
    /// to disk (disk_behaviour's recache test, 1 run in 7 under load).
    Recached,
    /// An external item (key and metadata of a value on disk): TTL buckets of their own,
    /// whose segments eviction takes only when no other is left. Otherwise values cycling
    /// through RAM would push out the small items that find values on disk, as
    /// memcached's slab classes keep them apart.
    External,
}

impl Store {
    /// Room for `size` bytes (an item's `layout::span`), pinned: in the open segment of
    /// its TTL bucket, or where `place` allows (a hole, for a large value).
    pub(super) fn alloc_for(
        &self,
        size: usize,
        deadline: Deadline,
        now: u64,
        place: Place,
    ) -> Result<Placed, StoreError> {
        if size > self.seg_size {
            return Err(StoreError::TooLarge);
        }
        let external = place == Place::External;
        let b = ttl::bucket((deadline != NEVER).then(|| deadline.saturating_sub(now)))
            + if external { ttl::BUCKETS } else { 0 };
        if size >= layout::LARGE && place == Place::Value {
            if let Some(placed) = self.take_hole(b, size, deadline, now) {
                return Ok(placed);
            }
        }
        for _ in 0..self.segs.len() * 2 + 8 {
            {
                let mut open = self.buckets[b].lock();
                if let Some(s) = *open {
                    let seg = &self.segs[s as usize];
                    let used = seg.write_off.load(Ordering::Relaxed);
                    // A segment opened too long ago for access times to be exact in index
                    // slots (9.1 hours: a slowly filled bucket) is sealed, so that the time
                    // an item is written is always exact (see `dead`).
                    let opened = seg.opened.load(Ordering::Relaxed);
                    let young = now.saturating_sub(opened) < layout::ACCESS_EXACT;
                    if used + size <= self.seg_size && young {
                        seg.write_off.store(used + size, Ordering::Relaxed);
                        // Pinned under the bucket lock, which sealing also takes.
                        seg.pins.fetch_add(1, Ordering::Relaxed);
                        seg.max_deadline.fetch_max(
                            if deadline == NEVER {
                                u64::MAX
                            } else {
                                deadline
                            },
                            Ordering::Relaxed,
                        );
                        seg.last_write.fetch_max(now, Ordering::Relaxed);
                        return Ok(Placed {
                            off: s as usize * self.seg_size + used,
                            opened,
                        });
                    }
                    *open = None;
                    self.seal(s);
                }
            }
            // None: an eviction left room in this bucket's open segment; just retry.
            let Some(s) = self.take_segment(now, b, size)? else {
                continue;
            };
            let mut open = self.buckets[b].lock();
            if open.is_none() {
                self.segs[s as usize].open(b, now);
                *open = Some(s);
            } else {
                drop(open);
                self.pool.lock().free.push(s);
            }
        }
        Err(StoreError::OutOfMemory)
    }

    /// Called with the segment's bucket lock held.
    fn seal(&self, s: u32) {
        self.segs[s as usize].state.store(SEALED, Ordering::Release);
        self.pool.lock().sealed.push_back(s);
    }

    /// A free segment for bucket `b`, which needs `need` bytes: from the pool, else
    /// reclaimed from the dead, else evicted. `None` when an eviction instead installed its
    /// survivors as `b`'s open segment with room for `need`.
    fn take_segment(&self, now: u64, b: usize, need: usize) -> Result<Option<u32>, StoreError> {
        for _ in 0..self.segs.len() * 2 + 8 {
            {
                let mut pool = self.pool.lock();
                if let Some(&s) = pool.free.last() {
                    // Faulting in cold memory costs more than moving the survivors of a
                    // mostly dead segment, and compacting keeps RSS near the live data.
                    let warm = self.segs[s as usize].warm.load(Ordering::Relaxed);
                    if warm || !self.cfg.evict || !self.worth_compacting(&pool) {
                        pool.free.pop();
                        drop(pool);
                        self.warm_up(s);
                        return Ok(Some(s));
                    }
                }
                if let Some(i) = pool
                    .draining
                    .iter()
                    .position(|&s| self.segs[s as usize].unpinned())
                {
                    return Ok(Some(pool.draining.swap_remove(i)));
                }
            }
            if self.sweep_at(now) > 0 {
                continue;
            }
            if !self.cfg.evict {
                return Err(StoreError::OutOfMemory);
            }
            // Compaction first: the unpinned sealed segment with the fewest live bytes,
            // if they fit in half a segment, has all its live items moved and nothing is
            // lost (an overwrite-heavy load otherwise evicts live data while most of the
            // heap is garbage). Else FIFO: the oldest unpinned one, keeping only what was
            // read since it was written.
            let (victim, compact) = {
                let mut pool = self.pool.lock();
                let emptiest = pool
                    .sealed
                    .iter()
                    .enumerate()
                    .filter(|(_, &s)| self.segs[s as usize].unpinned())
                    .map(|(i, &s)| (i, self.segs[s as usize].live_bytes()))
                    .min_by_key(|&(_, bytes)| bytes);
                let victim = match emptiest {
                    Some((i, bytes)) if bytes <= self.seg_size / 2 => (pool.sealed.remove(i), true),
                    _ => {
                        // Nothing worth compacting any more (a racing writer may have
                        // taken the candidate seen above): cold free memory comes before
                        // evicting anything live, and before giving up.
                        if let Some(s) = pool.free.pop() {
                            drop(pool);
                            self.warm_up(s);
                            return Ok(Some(s));
                        }
                        // Segments of external items last: they are small, and each
                        // one finds a value on disk.
                        let evictable = |external: bool| {
                            pool.sealed.iter().position(|&s| {
                                let seg = &self.segs[s as usize];
                                seg.unpinned()
                                    && (seg.bucket.load(Ordering::Relaxed) as usize >= ttl::BUCKETS)
                                        == external
                            })
                        };
                        let i = evictable(false).or_else(|| evictable(true));
                        (i.and_then(|i| pool.sealed.remove(i)), false)
                    }
                };
                // Under the pool lock, which a writer taking a hole in a sealed segment
                // holds while it checks the state and pins.
                if let Some(v) = victim.0 {
                    self.segs[v as usize]
                        .state
                        .store(RECLAIMING, Ordering::Relaxed);
                }
                victim
            };
            match victim {
                Some(v) => {
                    let seg = &self.segs[v as usize];
                    let bucket = seg.bucket.load(Ordering::Relaxed) as usize;
                    let spare = {
                        let mut pool = self.pool.lock();
                        // Compaction needs somewhere to move the survivors to.
                        match pool.spare.take() {
                            None if compact => pool.free.pop(),
                            spare => spare,
                        }
                    };
                    if let Some(sp) = spare {
                        self.warm_up(sp);
                    }
                    let mut keep = spare.map(|sp| {
                        self.segs[sp as usize].reset_for_copy(bucket, now);
                        Keep {
                            seg: sp,
                            off: 0,
                            // Every eviction frees at least an eighth of a segment, so
                            // one allocation copies at most 7/8 of a segment; half (the
                            // limit before) evicted hot items when most of the victim
                            // had been read (docs/store.md, "The read signal").
                            limit: self.seg_size - self.seg_size / 8,
                            all: compact,
                        }
                    });
                    self.clear(v, now, false, keep.as_mut());
                    match keep {
                        Some(k) if k.off > 0 => {
                            // Not folded into the guard: a false return has sealed the spare,
                            // which must not fall through to the arm below.
                            let placed = self.place_survivors(k, v, b, need);
                            if placed {
                                return Ok(None);
                            }
                        }
                        Some(k) => {
                            self.segs[k.seg as usize]
                                .state
                                .store(FREE, Ordering::Relaxed);
                            // Another evictor may have set a spare aside meanwhile;
                            // overwriting it would lose that segment for good.
                            let mut pool = self.pool.lock();
                            match pool.spare {
                                None => pool.spare = Some(k.seg),
                                Some(_) => pool.free.push(k.seg),
                            }
                        }
                        None if self.segs.len() >= MIN_SEGMENTS_FOR_SPARE => {
                            // The spare was used up (or its victim still pinned): set the
                            // segment just freed aside, and evict again.
                            let mut pool = self.pool.lock();
                            if pool.spare.is_none() {
                                pool.spare = pool.free.pop();
                            }
                        }
                        None => {}
                    }
                }
                None => {
                    if !self.steal_open() {
                        return Err(StoreError::OutOfMemory);
                    }
                }
            }
        }
        Err(StoreError::OutOfMemory)
    }

    /// After eviction of `v` copied survivors into the spare: the spare becomes the open
    /// segment of the bucket `b` that needed room (if it has none and `need` still fits),
    /// and `v`, now free, becomes the spare. Returns true in that case; otherwise the spare
    /// is sealed and `v` stays free for the caller.
    fn place_survivors(&self, k: Keep, v: u32, b: usize, need: usize) -> bool {
        let seg = &self.segs[k.seg as usize];
        // Survivors stay in their own TTL bucket (so with their kind: external items in
        // external buckets). Made the open segment of another bucket, they sat where that
        // bucket's writes, which may never come, had to fill the segment before it was
        // sealed: never walked by the disk tier's writer (a value stayed in RAM for good)
        // and living beside items that die at other times.
        let theirs = seg.bucket.load(Ordering::Relaxed) as usize;
        let mut open = self.buckets[b].lock();
        if open.is_some() || k.off + need > self.seg_size || theirs != b {
            self.seal(k.seg);
            return false;
        }
        seg.state.store(OPEN, Ordering::Release);
        *open = Some(k.seg);
        drop(open);
        let mut pool = self.pool.lock();
        // Only when no other evictor has set a spare aside meanwhile: replacing it would
        // lose that segment for good.
        if pool.spare.is_none() {
            if let Some(i) = pool.free.iter().rposition(|&x| x == v) {
                pool.free.swap_remove(i);
                pool.spare = Some(v);
            }
        }
        true
    }

    /// Seals some bucket's open segment so it can be evicted (every segment is open and the
    /// heap is full: many TTL buckets in use on a small heap).
    fn steal_open(&self) -> bool {
        for bucket in self.buckets.iter() {
            let mut open = bucket.lock();
            if let Some(s) = *open {
                if self.segs[s as usize].unpinned() {
                    *open = None;
                    self.seal(s);
                    return true;
                }
            }
        }
        false
    }

    /// Free segments kept with their pages resident: an eighth of the heap, at least 4.
    pub(super) fn warm_reserve(&self) -> usize {
        (self.segs.len() / 8).max(4)
    }

    /// Whether to compact a sealed segment rather than fault in a cold free one: when some
    /// unpinned one is at most a quarter live (moving its survivors costs less than the
    /// page faults), or at most half live while the resident heap is over half as large
    /// again as the live data (so RSS follows the live data, at the price of copying at
    /// most as much as is freed).
    fn worth_compacting(&self, pool: &Pool) -> bool {
        let emptiest = pool
            .sealed
            .iter()
            .map(|&s| &self.segs[s as usize])
            .filter(|seg| seg.unpinned())
            .map(|seg| seg.live_bytes())
            .min();
        match emptiest {
            Some(live) if live <= self.seg_size / 4 => true,
            Some(live) if live <= self.seg_size / 2 => self.resident_beyond_live(),
            _ => false,
        }
    }

    /// Whether the resident segments exceed the live bytes by more than a half (plus a
    /// few segments, so a small cache does not churn). O(segments): called once per
    /// segment the log fills.
    fn resident_beyond_live(&self) -> bool {
        let (mut resident, mut live) = (0usize, 0usize);
        for seg in self.segs.iter() {
            resident += usize::from(seg.warm.load(Ordering::Relaxed));
            live += seg.live_bytes();
        }
        resident.saturating_sub(RESIDENT_SLACK) * self.seg_size > live + live / 2
    }

    /// Faults a segment's pages in at once (one madvise) unless they are resident already.
    fn warm_up(&self, s: u32) {
        let seg = &self.segs[s as usize];
        if !seg.warm.swap(true, Ordering::Relaxed) {
            self.heap
                .populate(s as usize * self.seg_size, self.seg_size);
        }
    }
}
