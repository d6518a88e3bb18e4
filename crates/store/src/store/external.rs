//! Items whose value went to a cold tier (the disk tier): the store keeps their key,
//! metadata and an 8-byte location, and tells the tier about every one it drops.
//!
//! ```
//! # use store::{Store, StoreConfig, StoreMode};
//! let store = Store::new(StoreConfig::default()).unwrap();
//! store.store(StoreMode::Set, b"k", &[7u8; 4000], 0, 0).unwrap();
//! // A background thread wrote the value to disk at location 42 (say); swap it out:
//! let item = store.peek(b"k").unwrap();
//! assert!(store.externalize(&item, 42).unwrap());
//! drop(item);
//! let item = store.get(b"k").unwrap();
//! let ext = item.external().unwrap(); // the reply must be read from the disk tier
//! assert_eq!((ext.location, ext.value_len), (42, 4000));
//! ```
//!
//! The store never does the tier's IO. Values move out on a background thread
//! ([`Store::cold_items`] finds candidates in the segments eviction will reach first,
//! [`Store::externalize`] swaps one for its location) and back on a worker once read
//! ([`Store::recache`]). Whenever the store unlinks an external item (overwrite, delete,
//! expiry, eviction, flush) it calls [`ColdTier::forget`] under the item's shard lock, so
//! the tier can release the space without any IO; an item rebuilt with the same location
//! (compaction copying it, a meta invalidate) is not forgotten. Compaction of the tier
//! moves a record and re-points its item in place ([`Store::relocate`]).
//!
//! What an external item costs in RAM: its header (13 to 19 bytes, as any item), its key,
//! 8 bytes of location, and its index slot.

use super::alloc::{Place, Placed};
use super::derive::Plan;
use super::Store;
use crate::cold::ColdTier;
use crate::config::StoreError;
use crate::exptime::NEVER;
use crate::index;
use crate::item::ItemRef;
use crate::layout::{self, Header, ItemPtr, FETCHED, STALE, WIN};
use crate::segments::SEALED;
use std::sync::atomic::Ordering;
use std::sync::Arc;

/// Room in the heap ([`Store::room`]), in segments.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Room {
    /// Free (or about to be).
    pub free: usize,
    /// Sealed and at most an eighth live: reusable by compacting next to nothing.
    pub cheap: usize,
    /// In the heap.
    pub total: usize,
}

/// What [`Store::relocate`] did with an item whose record compaction found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Relocated {
    /// Re-pointed at the new location.
    Moved,
    /// The key no longer holds that record (overwritten, deleted, expired, moved).
    Dead,
    /// Live but never read since it left RAM, and `drop_unread` was asked: unlinked.
    Dropped,
    /// Live, but `to` found no room: unlinked.
    Lost,
}

/// What survives of the original item in a copy: stale and win bits (a fresh external item
/// is unfetched, as memcached's header items are: `ext_drop_unread` counts reads from disk).
const KEPT_BITS: u8 = WIN | STALE;

impl Store {
    /// Connects the cold tier (once; false if one is connected already). External items
    /// a warm restart kept for a verdict that never came are dropped first
    /// (`reattach`): their locations were not checked by this tier.
    pub fn set_cold_tier(&self, tier: Arc<dyn ColdTier>) -> bool {
        if self.external_pending() {
            self.drop_external();
        }
        self.cold.set(tier).is_ok()
    }

    /// The store unlinked `it`: tells the tier if its value is there. Under `it`'s shard
    /// write lock.
    pub(crate) fn forgotten(&self, it: ItemPtr) {
        if !it.is_external() {
            return;
        }
        if let Some(tier) = self.cold.get() {
            // SAFETY: the caller holds the item's shard lock and the item was linked.
            let (location, key) = unsafe { (it.location(), it.key()) };
            tier.forget(location, key, it.vlen());
        }
    }

    /// `new` replaced `old` in the index: `old` is forgotten unless `new` carries on its
    /// value's location.
    pub(crate) fn replaced(&self, old: ItemPtr, new: ItemPtr) {
        // SAFETY: under the shard write lock; `new` is ours until published.
        if old.is_external() && !(new.is_external() && unsafe { new.location() == old.location() })
        {
            self.forgotten(old);
        }
    }

    /// Replaces `item` (a live item holding its value, as found by `peek` or
    /// [`Store::cold_items`]) by an external one pointing at `location`, keeping its key,
    /// flags, CAS, expiry and last access. False if the key no longer holds `item` (the
    /// caller then releases `location`), or `item` is external already.
    pub fn externalize(&self, item: &ItemRef<'_>, location: u64) -> Result<bool, StoreError> {
        let it = item.it;
        if it.is_external() || location == 0 {
            return Ok(false);
        }
        let key = item.key();
        let (vlen, flags, cas) = (it.vlen(), it.flags(), it.cas_value());
        let now = self.clock.now();
        let deadline = self.abs_deadline(item.deadline);
        let wide = self.cfg.cas_enabled && !layout::cas_fits(false, cas);
        let size = layout::external_size(self.cfg.cas_enabled, wide, key.len(), vlen, flags);
        let placed = self.alloc_for(size, deadline, now, Place::External)?;
        let new = self.item(placed.off);
        let header = Header {
            key,
            vlen,
            flags,
            deadline: item.deadline,
            wide_cas: wide,
        };
        // SAFETY: freshly allocated, `size` bytes in one pinned segment, unreachable.
        unsafe {
            new.init_external(&header, location);
            new.set_cas(cas);
        }
        let last = self.access_time(item.heap_off, item.access);
        let access = layout::access_since(last, placed.opened);
        let done = self.swap_in(key, item.heap_off, new, placed.off, cas, access, false);
        self.seg_of(placed.off).unpin();
        Ok(done)
    }

    /// Allocates and pins an external item for a read-modify-write that keeps the value
    /// where it is (meta invalidate): `plan`'s metadata, `location`.
    pub(super) fn write_external_item(
        &self,
        key: &[u8],
        plan: &Plan,
        wide: bool,
        location: u64,
        now: u64,
    ) -> Result<Placed, StoreError> {
        let size =
            layout::external_size(self.cfg.cas_enabled, wide, key.len(), plan.vlen, plan.flags);
        let placed = self.alloc_for(size, plan.deadline, now, Place::External)?;
        let header = Header {
            key,
            vlen: plan.vlen,
            flags: plan.flags,
            deadline: self.rel_deadline(plan.deadline),
            wide_cas: wide,
        };
        // SAFETY: freshly allocated, `size` bytes in one pinned segment, unreachable.
        unsafe { self.item(placed.off).init_external(&header, location) };
        Ok(placed)
    }

    /// Brings an external item's value back into RAM: if `key` still holds the external
    /// item at `location`, it is replaced by one holding `value` (same flags, CAS, expiry),
    /// and the tier is told to forget `location`. False if the key moved on meanwhile.
    pub fn recache(&self, key: &[u8], location: u64, value: &[u8]) -> Result<bool, StoreError> {
        let Some(item) = self.peek(key) else {
            return Ok(false);
        };
        if item.external().map(|e| (e.location, e.value_len)) != Some((location, value.len())) {
            return Ok(false);
        }
        let it = item.it;
        let (flags, cas) = (it.flags(), it.cas_value());
        let now = self.clock.now();
        let wide = self.cfg.cas_enabled && !layout::cas_fits(false, cas);
        let deadline = self.abs_deadline(item.deadline);
        let placed = self.write_item_for(
            Place::Recached,
            key,
            value.len(),
            flags,
            deadline,
            wide,
            now,
        )?;
        let new = self.item(placed.off);
        // SAFETY: freshly written, pinned, unreachable: ours.
        unsafe {
            new.value_mut().copy_from_slice(value);
            new.set_cas(cas);
        }
        let last = self.access_time(item.heap_off, item.access);
        let access = layout::access_since(last.max(now), placed.opened);
        let done = self.swap_in(key, item.heap_off, new, placed.off, cas, access, true);
        self.seg_of(placed.off).unpin();
        Ok(done)
    }

    /// Publishes `new` (unpublished, at `new_off`) in place of the item at `old_off` if the
    /// key still holds it, carrying over what may have changed since the caller looked:
    /// the deadline (a touch), the stale and win bits; `fetched` marks it fetched (a value
    /// brought back because it was read).
    #[allow(clippy::too_many_arguments)]
    fn swap_in(
        &self,
        key: &[u8],
        old_off: usize,
        new: ItemPtr,
        new_off: usize,
        cas: u64,
        access: u16,
        fetched: bool,
    ) -> bool {
        let h = index::hash(self.seed, key);
        let mut t = self.shards[index::shard_of(h)].table.write();
        let Some(pos) = t.find_at(h, old_off) else {
            return false;
        };
        let old = self.item(old_off);
        // SAFETY: `old` is linked and we hold its shard's write lock; `new` is ours.
        unsafe {
            let d = old.deadline();
            new.set_deadline(d);
            let abs = self.abs_deadline(d);
            self.seg_of(new_off)
                .max_deadline
                .fetch_max(if abs == NEVER { u64::MAX } else { abs }, Ordering::Relaxed);
            let fetched = if fetched { FETCHED } else { 0 };
            new.bits()
                .fetch_or(old.shape() & KEPT_BITS | fetched, Ordering::Relaxed);
        }
        self.publish(&mut t, h, Some((pos, old_off)), new_off, cas, access);
        true
    }

    /// Unlinks `key` if it is the external item at `location` (its record read back
    /// stale or corrupt: the value is gone). True if it was.
    pub fn unlink_external(&self, key: &[u8], location: u64) -> bool {
        let h = index::hash(self.seed, key);
        let mut t = self.shards[index::shard_of(h)].table.write();
        let Some((pos, off)) = t.find(h, |o| self.key_matches(o, key)) else {
            return false;
        };
        let it = self.item(off);
        // SAFETY: linked, under the shard's write lock.
        if !it.is_external() || unsafe { it.location() } != location {
            return false;
        }
        t.remove(pos);
        t.items -= 1;
        let size = it.size();
        t.bytes -= size;
        self.forgotten(it);
        self.unlinked(off, size);
        true
    }

    /// Compaction of the cold tier found the record of `key` at `from`: if the key's live
    /// item is the external one at `from`, `to` rewrites the record and the item is
    /// re-pointed at the new place, all under the key's shard write lock (so the key
    /// cannot change in between). With `drop_unread`, an item not read since it left RAM
    /// is unlinked instead.
    pub fn relocate(
        &self,
        key: &[u8],
        from: u64,
        drop_unread: bool,
        to: impl FnOnce() -> Option<u64>,
    ) -> Relocated {
        let now = self.clock.now();
        let h = index::hash(self.seed, key);
        let mut t = self.shards[index::shard_of(h)].table.write();
        let Some((pos, off)) = t.find(h, |o| self.key_matches(o, key)) else {
            return Relocated::Dead;
        };
        let it = self.item(off);
        // SAFETY: linked, under the shard's write lock.
        let at = unsafe { it.location() };
        if !it.is_external() || at != from || self.dead(&t, pos, off, now).is_some() {
            return Relocated::Dead;
        }
        let outcome = if drop_unread && it.shape() & FETCHED == 0 {
            Relocated::Dropped
        } else {
            match to() {
                Some(new) => {
                    // SAFETY: external, linked, under the write lock every reader of the
                    // location holds too.
                    unsafe { it.set_location(new) };
                    return Relocated::Moved;
                }
                None => Relocated::Lost,
            }
        };
        t.remove(pos);
        t.items -= 1;
        let size = it.size();
        t.bytes -= size;
        self.forgotten(it);
        self.unlinked(off, size);
        outcome
    }

    /// How much the heap can take without evicting anything: free segments, and sealed
    /// segments at most an eighth live (compacting one costs next to nothing: values that
    /// went to disk leave their segments almost empty). Cheap: the pool lock and a walk
    /// of the sealed list, no index lock.
    pub fn room(&self) -> Room {
        let pool = self.pool.lock();
        let cheap = pool
            .sealed
            .iter()
            .filter(|&&s| self.segs[s as usize].live_bytes() <= self.seg_size / 8)
            .count();
        Room {
            free: pool.free.len() + pool.draining.len(),
            cheap,
            total: self.segs.len(),
        }
    }

    /// Offers `f` the live items holding their value in the oldest sealed segments
    /// (those eviction reaches first), oldest first, each pinned for the call and not
    /// marked as accessed, until `segments` segments were walked. Stops when `f` answers
    /// false. With `mark`, a segment walked to its end is skipped by later marking walks
    /// until it is reused (a walk that takes everything it can need not look again), and
    /// skipped segments do not count. Returns the items offered.
    pub fn cold_items(
        &self,
        segments: usize,
        mark: bool,
        mut f: impl FnMut(&ItemRef<'_>) -> bool,
    ) -> usize {
        let now = self.clock.now();
        let oldest: Vec<u32> = {
            let pool = self.pool.lock();
            let unmarked =
                |s: &&u32| !mark || !self.segs[**s as usize].cold_scanned.load(Ordering::Relaxed);
            pool.sealed
                .iter()
                .filter(unmarked)
                .take(segments)
                .copied()
                .collect()
        };
        let mut offered = 0;
        for s in oldest {
            let seg = &self.segs[s as usize];
            {
                // Pinned under the pool lock while still sealed: eviction and the sweep
                // take only unpinned segments, under the same lock. Only an unpinned one:
                // a writer filling a hole (`reuse.rs`) holds a pin while its header is
                // half written, and takes a hole only in an unpinned segment, so the walk
                // and the writer exclude each other. A segment being read is not cold.
                let pool = self.pool.lock();
                if seg.state.load(Ordering::Acquire) != SEALED
                    || !pool.sealed.contains(&s)
                    || (mark && seg.cold_scanned.load(Ordering::Relaxed))
                    || !seg.unpinned()
                {
                    continue;
                }
                seg.pins.fetch_add(1, Ordering::Relaxed);
            }
            let (walked, n) = self.offer_segment(s, now, &mut f);
            offered += n;
            if walked && mark {
                // While pinned the segment cannot be reset, so this marks this use of it.
                seg.cold_scanned.store(true, Ordering::Relaxed);
            }
            seg.unpin();
            if !walked {
                break;
            }
        }
        offered
    }

    /// Walks one pinned sealed segment; (whether it got to the end, items offered).
    fn offer_segment(
        &self,
        s: u32,
        now: u64,
        f: &mut impl FnMut(&ItemRef<'_>) -> bool,
    ) -> (bool, usize) {
        let seg = &self.segs[s as usize];
        let base = s as usize * self.seg_size;
        let end = seg.write_off.load(Ordering::Acquire);
        let mut off = 0;
        let mut offered = 0;
        while off < end {
            let at = base + off;
            let it = self.item(at);
            // SAFETY: every byte below write_off of a sealed segment belongs to an item
            // whose header was written; the segment is pinned.
            let (key, size) = unsafe { it.key_and_size() };
            // Large items occupy their span; fillers (empty keys, never indexed) are
            // found in no shard below.
            off += layout::span(size);
            if it.is_external() || key.is_empty() {
                continue;
            }
            let h = index::hash(self.seed, key);
            let si = index::shard_of(h);
            let t = self.shards[si].table.read();
            let Some(pos) = t.find_at(h, at) else {
                continue;
            };
            if self.dead(&t, pos, at, now).is_some() {
                continue;
            }
            seg.pins.fetch_add(1, Ordering::Relaxed);
            self.shards[si].pinned.fetch_add(1, Ordering::Relaxed);
            let item = ItemRef {
                store: self,
                it,
                heap_off: at,
                shard: si,
                now,
                fetched_before: it.shape() & FETCHED != 0,
                held: false,
                access: t.access(pos),
                // SAFETY: under the shard lock.
                deadline: unsafe { it.deadline() },
                location: 0,
            };
            drop(t);
            offered += 1;
            if !f(&item) {
                return (false, offered);
            }
        }
        (true, offered)
    }
}

#[cfg(test)]
mod tests {
    use crate::layout::{self, Header, ItemPtr};

    #[test]
    fn an_external_item_is_its_header_key_and_location() {
        for (cas, wide, vlen, flags) in [
            (true, false, 600, 0),
            (false, false, 70_000, 3),
            (true, true, 1 << 20, 9),
        ] {
            let size = layout::external_size(cas, wide, 5, vlen, flags);
            assert_eq!(size, layout::header_size(cas, wide, vlen, flags) + 5 + 8);
            let mut buf = vec![0xAAu8; size];
            let it = ItemPtr {
                p: buf.as_mut_ptr(),
                cas,
            };
            let h = Header {
                key: b"hello",
                vlen,
                flags,
                deadline: 7,
                wide_cas: wide,
            };
            // SAFETY: `buf` is `size` bytes, ours, and outlives `it`'s uses below.
            unsafe {
                it.init_external(&h, 0xDEAD_BEEF_0000_0040);
                assert!(it.is_external());
                assert_eq!(it.location(), 0xDEAD_BEEF_0000_0040);
                assert_eq!((it.vlen(), it.klen(), it.flags()), (vlen, 5, flags));
                assert_eq!(it.size(), size, "walks step over exactly the item");
                assert_eq!(
                    layout::checked_size(&buf, cas),
                    Some(size),
                    "a restart's heap check steps over it too"
                );
                assert!(layout::external_bits(buf[0]));
                it.set_location(0x40);
                assert_eq!(it.location(), 0x40);
                assert_eq!(it.key(), b"hello");
            }
        }
    }
}
