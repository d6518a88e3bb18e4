//! Reclaiming dead segments (every item expired, flushed or overwritten), once a second
//! from whichever call comes first; `flush_all`, which decides what "flushed" means; and
//! `clear`, which empties a segment for the sweep, for eviction and for compaction.

use super::lookup::Dead;
use super::Store;
use crate::exptime::{self, NEVER};
use crate::index::{self, Table};
use crate::layout::{self, FETCHED};
use crate::segments::{Keep, Segment, FREE, OPEN, RECLAIMING, SEALED};
use crate::stats::bump;
use std::sync::atomic::Ordering;

/// A sealed segment whose newest deadline passed is reclaimed this many seconds later, so a
/// touch racing with the sweep on another thread (reading a slightly older clock) is safe.
const SWEEP_MARGIN: u64 = 1;

impl Store {
    /// Triggers the once-a-second sweep of dead segments from whichever call comes first.
    pub(super) fn tick(&self, now: u64) {
        let last = self.last_sweep.load(Ordering::Relaxed);
        if now != last
            && self
                .last_sweep
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
        {
            self.sweep_at(now);
        }
    }

    /// memcached's `flush_all [delay]`: items last stored or touched before the flush moment
    /// become invisible once it arrives; 0 or negative flushes now. With CAS on, an
    /// immediate flush hides exactly the items stored before it, even within the same second.
    pub fn flush_all(&self, exptime: i64) {
        let now = self.clock.now();
        let new_oldest = if exptime > 0 {
            exptime::deadline(exptime, now)
        } else {
            now
        };
        if self.cfg.cas_enabled {
            let ol = new_oldest.saturating_sub(1);
            if ol <= now {
                self.oldest_cas
                    .store(self.next_cas.load(Ordering::Relaxed), Ordering::Relaxed);
            }
            self.oldest_live.store(ol, Ordering::Relaxed);
        } else {
            self.oldest_live.store(new_oldest, Ordering::Relaxed);
        }
        // Let the next call sweep, whatever the second.
        self.last_sweep.store(0, Ordering::Relaxed);
    }

    /// Whether every item in the segment is dead: garbage, expired or flushed (checked with
    /// the segment unpinned, so its counters are final).
    fn segment_dead(&self, seg: &Segment, now: u64) -> bool {
        // Everything in it overwritten or deleted.
        if seg.live.load(Ordering::Relaxed) == 0 && seg.write_off.load(Ordering::Relaxed) > 0 {
            return true;
        }
        let md = seg.max_deadline.load(Ordering::Relaxed);
        if md != 0 && md != u64::MAX && now >= md + SWEEP_MARGIN {
            return true;
        }
        let ol = self.oldest_live.load(Ordering::Relaxed);
        if ol != 0 && ol <= now {
            if seg.last_write.load(Ordering::Relaxed) <= ol {
                return true;
            }
            let oc = self.oldest_cas.load(Ordering::Relaxed);
            if self.cfg.cas_enabled && oc != 0 && seg.max_cas.load(Ordering::Relaxed) < oc {
                return true;
            }
        }
        false
    }

    /// Reclaims every segment whose items are all expired or flushed. Runs by itself once a
    /// second from whichever store call comes first; callable directly (tests, timers).
    /// Returns the number of segments reclaimed.
    pub fn sweep(&self) -> usize {
        self.sweep_at(self.clock.now())
    }

    pub(super) fn sweep_at(&self, now: u64) -> usize {
        let mut n = 0;
        for (s, seg) in self.segs.iter().enumerate() {
            let state = seg.state.load(Ordering::Acquire);
            if state != OPEN && state != SEALED {
                continue;
            }
            if !seg.unpinned() || !self.segment_dead(seg, now) {
                continue;
            }
            let taken = if state == OPEN {
                let b = seg.bucket.load(Ordering::Relaxed) as usize;
                let mut open = self.buckets[b].lock();
                let ours = *open == Some(s as u32) && seg.unpinned() && self.segment_dead(seg, now);
                if ours {
                    *open = None;
                }
                ours
            } else {
                let mut pool = self.pool.lock();
                match pool.sealed.iter().position(|&x| x == s as u32) {
                    Some(i) if seg.unpinned() && self.segment_dead(seg, now) => {
                        pool.sealed.remove(i);
                        // Under the pool lock, which a writer taking a hole in a sealed
                        // segment holds while it checks the state and pins.
                        seg.state.store(RECLAIMING, Ordering::Relaxed);
                        true
                    }
                    _ => false,
                }
            };
            if taken {
                seg.state.store(RECLAIMING, Ordering::Relaxed);
                self.clear(s as u32, now, true, None);
                n += 1;
            }
        }
        n
    }

    /// Unlinks every item of a segment taken out of circulation (no writer can hold a pin
    /// on it any more), then frees it, or parks it until readers drop their pins.
    ///
    /// With `keep`, live items read since they were linked here (their slot's active bit)
    /// are copied into the spare segment (up to its limit) and stay linked there: eviction
    /// keeps what is being read, at the cost of one copy, and only while that is cheap.
    /// With `keep.all` (compaction) every live item is copied.
    pub(super) fn clear(&self, s: u32, now: u64, release: bool, mut keep: Option<&mut Keep>) {
        let seg = &self.segs[s as usize];
        let base = s as usize * self.seg_size;
        let end = seg.write_off.load(Ordering::Acquire);
        let mut off = 0;
        while off < end {
            let at = base + off;
            let it = self.item(at);
            // SAFETY: every byte below write_off belongs to an item (or a filler) whose
            // header was written before its writer unpinned, and no writer is left.
            let (key, size) = unsafe { it.key_and_size() };
            let span = layout::span(size);
            let h = index::hash(self.seed, key);
            let shard = &self.shards[index::shard_of(h)];
            let mut t = shard.table.write();
            if let Some(pos) = t.find_at(h, at) {
                if let Some(k) = keep.as_deref_mut() {
                    if self.keep_item(&mut t, k, pos, h, at, size, now) {
                        if !k.all {
                            bump(&shard.counters.moves_to_warm);
                        }
                        seg.unlink(span);
                        off += span;
                        continue;
                    }
                }
                // Judged while still linked, under the lock: the slot holds its last access.
                let why = self.dead(&t, pos, at, now);
                // Read since linked here, yet evicted: the spare was full (or missing).
                let active = t.active(pos);
                let reported = match why.is_none() && self.eviction_watch().is_some() {
                    // SAFETY: under the shard lock, and the item is linked.
                    true => Some((t.access(pos), unsafe { it.deadline() })),
                    false => None,
                };
                t.remove(pos);
                t.items -= 1;
                t.bytes -= size;
                self.forgotten(it);
                seg.unlink(span);
                drop(t);
                // The bits byte is atomic: a pinned reader may still be claiming a win.
                let fetched = it.shape() & FETCHED != 0;
                let c = &shard.counters;
                match why {
                    Some(why) => {
                        bump(&c.reclaimed);
                        if why == Dead::Expired && !fetched {
                            bump(&c.expired_unfetched);
                        }
                    }
                    None => {
                        bump(&c.evictions);
                        if !fetched {
                            bump(&c.evicted_unfetched);
                        }
                        if active {
                            bump(&c.evicted_active);
                        }
                        if let (Some(watch), Some((access, deadline))) =
                            (self.eviction_watch(), reported)
                        {
                            watch.evicted(&crate::evictions::Evicted {
                                key,
                                fetched,
                                ttl: crate::exptime::remaining(self.abs_deadline(deadline), now),
                                idle: now.saturating_sub(self.access_time(at, access)),
                                value_len: it.vlen(),
                            });
                        }
                    }
                }
            }
            off += span;
        }
        let mut pool = self.pool.lock();
        seg.state.store(FREE, Ordering::Relaxed);
        if seg.unpinned() {
            // Keep a reserve of warm free segments: giving pages back only to fault them in
            // again on the next write costs a fault per 4 KiB (measured: most of the
            // server's CPU with 64 KiB values overwritten in place). Beyond the reserve,
            // pages go back to the kernel so a flush or a mass expiry shrinks RSS.
            if release && pool.free.len() >= self.warm_reserve() {
                // Nobody can reach the segment: no entries, no pins, and only this thread
                // holds it (it is in no list).
                self.heap.release(base, self.seg_size);
                self.segs[s as usize].warm.store(false, Ordering::Relaxed);
            }
            pool.free.push(s);
        } else {
            pool.draining.push(s);
        }
    }

    /// Copies a linked item of an evicted segment into the spare if it was read since it
    /// was linked there (its slot is active), or of a compacted one whatever its reads,
    /// and points its slot at the copy. Runs under the item's shard write lock, so no
    /// writer can replace the item meanwhile.
    ///
    /// The copy keeps every header byte (CAS, deadline, flags, bits). Its last access is
    /// clamped to the spare's opening when older: access times count from their segment's
    /// opening, and `dead` explains why raising one to a time no later than now is safe.
    /// An evicted item's copy starts inactive, so it must be read again to survive the
    /// next round (a second chance, not a lease); compaction is not a judgement on the
    /// item, so its copy keeps the bit.
    #[allow(clippy::too_many_arguments)]
    fn keep_item(
        &self,
        t: &mut Table,
        k: &mut Keep,
        pos: usize,
        h: u64,
        src: usize,
        size: usize,
        now: u64,
    ) -> bool {
        let span = layout::span(size);
        if k.off + span > k.limit || self.dead(t, pos, src, now).is_some() {
            return false;
        }
        let (a, active) = t.access_and_active(pos);
        if !k.all && !active {
            return false;
        }
        let it = self.item(src);
        let bits = it.shape();
        let last = self.access_time(src, a);
        let dst_seg = &self.segs[k.seg as usize];
        let at = k.seg as usize * self.seg_size + k.off;
        let dst = self.item(at);
        // SAFETY: `dst` lies in the spare, which only this thread holds and no index entry
        // points into yet; `it` is linked and its bytes past the atomic bits byte change
        // only under the shard write lock we hold (the deadline) or never. Both are `size`
        // bytes long (items need no alignment), in different segments. The bits byte is
        // read and written atomically: a pinned reader may be claiming a win on `it`.
        unsafe {
            dst.bits().store(bits, Ordering::Relaxed);
            std::ptr::copy_nonoverlapping(it.p.add(1), dst.p.add(1), size - 1);
        }
        k.off += span;
        let d = self.deadline_of(it);
        dst_seg
            .max_deadline
            .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
        dst_seg.last_write.store(now, Ordering::Relaxed);
        dst_seg
            .max_cas
            .fetch_max(dst.cas_value(), Ordering::Relaxed);
        dst_seg.link(span);
        dst_seg.write_off.store(k.off, Ordering::Relaxed);
        t.replace(pos, h, at, self.access_field(at, last));
        if k.all && active {
            t.set_active(pos);
        }
        true
    }
}
