//! Finding a key and judging whether its item is alive: `get`, `peek`, `touch`, `gat`, and
//! the rules (`dead`, `judge`) every other operation uses to decide what is visible.

use super::Store;
use crate::exptime::{self, Deadline, NEVER};
use crate::index::{self, Table};
use crate::item::ItemRef;
use crate::layout::{self, FETCHED};
use crate::stats::bump;
use std::sync::atomic::Ordering;

/// Why an item is invisible.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum Dead {
    Expired,
    Flushed,
}

impl Store {
    /// Whether the linked item at `heap_off`, whose slot holds last access `a`, is
    /// invisible at `now`.
    ///
    /// The caller holds the item's shard lock.
    ///
    /// Why the coarse last access (`layout::encode_access`) cannot change what a flush
    /// hides. Every flush sets `oldest_live` (ol) to at least its own time minus one, and
    /// an item is flushed when ol has come and its last access is <= ol (or, with CAS, its
    /// CAS is below the one the flush saw). Stored access times differ from the true ones
    /// in two ways only:
    /// - *Rounded down* (a fetch more than 9.1 h after the segment opened). Writes are
    ///   always exact: `alloc` never appends to a segment opened that long ago. A fetch
    ///   only ever raises the field (`Table::bump`). So take a true access t stored as
    ///   t' <= t, and a flush with point ol. If t <= ol, both hide the item. If t > ol, the
    ///   fetch at t happened after ol had come (t <= now), so the item was alive then: its
    ///   stored access was already > ol, and the bump kept it there. (A fetch before ol
    ///   comes has t <= now < ol.) With -C the flush point is the flush's own second, so
    ///   accesses before the flush are <= ol either way; with CAS an immediate flush's
    ///   point is a second earlier, but everything stored before it fails the CAS test.
    /// - *Raised* to a segment's opening (an item copied by compaction or eviction into a
    ///   newer segment, or rebuilt by incr/append/...): raised to a time t'' <= now, and
    ///   only for an item alive at now. If ol has come, alive means its access is > ol, and
    ///   t'' is larger still. If ol is still ahead, t'' <= now < ol: hidden when ol comes,
    ///   as the true access would be. A later flush's point is >= its time - 1 >= now - 1:
    ///   with -C, >= now >= t''; with CAS, the copy keeps its old CAS, below the flush's.
    ///
    /// Either way a fetch or a flush racing on another thread whose clock is a second off
    /// can make the answer differ by that second, as it could before.
    #[inline]
    pub(super) fn dead(&self, t: &Table, pos: usize, heap_off: usize, now: u64) -> Option<Dead> {
        // SAFETY: the caller holds the item's shard lock.
        let d = unsafe { self.item(heap_off).deadline() };
        self.judge(heap_off, || t.access(pos), d, now)
    }

    /// `dead` for an item whose deadline field `d` the caller has read; `a` gives its slot's
    /// access field, needed only while a flush is pending or in effect.
    #[inline]
    fn judge(&self, heap_off: usize, a: impl FnOnce() -> u16, d: u32, now: u64) -> Option<Dead> {
        if exptime::is_expired(self.abs_deadline(d), now) {
            return Some(Dead::Expired);
        }
        let ol = self.oldest_live.load(Ordering::Relaxed);
        if ol != 0 && ol <= now {
            let oc = self.oldest_cas.load(Ordering::Relaxed);
            let cas = self.item(heap_off).cas_value();
            if self.access_time(heap_off, a()) <= ol || (oc != 0 && cas != 0 && cas < oc) {
                return Some(Dead::Flushed);
            }
        }
        None
    }

    pub(super) fn key_matches(&self, off: usize, key: &[u8]) -> bool {
        let it = self.item(off);
        // SAFETY: called from Table::find under the shard lock, on linked items only.
        it.klen() == key.len() && unsafe { it.key() } == key
    }

    pub(super) fn rehash(&self, off: usize) -> u64 {
        // SAFETY: called while rebuilding a table under its write lock; linked items only.
        index::hash(self.seed, unsafe { self.item(off).key() })
    }

    /// Removes a dead item found by a reader, if the index still points at it.
    pub(super) fn unlink_dead(&self, h: u64, off: usize, now: u64) {
        let shard = &self.shards[index::shard_of(h)];
        let mut t = shard.table.write();
        let Some(pos) = t.find_at(h, off) else {
            return;
        };
        // Between the reader's lock and this one the item may have been unlinked and its
        // offset reused by a newer item with the same tag: judge what is there now.
        let it = self.item(off);
        let Some(why) = self.dead(&t, pos, off, now) else {
            return;
        };
        t.remove(pos);
        t.items -= 1;
        let size = it.size();
        t.bytes -= size;
        // Before the room can become a hole another writer takes.
        self.forgotten(it);
        self.unlinked(off, size);
        let fetched = it.shape() & FETCHED != 0;
        drop(t);
        bump(&shard.counters.reclaimed);
        if why == Dead::Expired && !fetched {
            bump(&shard.counters.expired_unfetched);
        }
    }

    /// Finds and pins the live item for `key`. `mark` records the access (fetched, time);
    /// `touch` gives the item that deadline first (under the shard's write lock, the only
    /// lock under which a linked item's deadline may change).
    pub(super) fn lookup(
        &self,
        key: &[u8],
        h: u64,
        now: u64,
        mark: bool,
        touch: Option<Deadline>,
    ) -> Result<ItemRef<'_>, Option<Dead>> {
        let si = index::shard_of(h);
        let shard = &self.shards[si];
        let found = match touch {
            None => self.lookup_locked(&shard.table.read(), key, h, si, now, mark, None),
            Some(d) => self.lookup_locked(&shard.table.write(), key, h, si, now, mark, Some(d)),
        };
        match found {
            Ok(item) => {
                shard.pinned.fetch_add(1, Ordering::Relaxed);
                Ok(item)
            }
            Err(None) => Err(None),
            Err(Some((why, off))) => {
                self.unlink_dead(h, off, now);
                Err(Some(why))
            }
        }
    }

    /// `lookup` under the shard's lock `t`: a write lock when `touch` is given. A dead item
    /// is reported with its offset, for the caller to unlink once `t` is released.
    #[allow(clippy::too_many_arguments)]
    #[inline(always)]
    fn lookup_locked(
        &self,
        t: &Table,
        key: &[u8],
        h: u64,
        si: usize,
        now: u64,
        mark: bool,
        touch: Option<Deadline>,
    ) -> Result<ItemRef<'_>, Option<(Dead, usize)>> {
        let Some((pos, off)) = t.find(h, |o| self.key_matches(o, key)) else {
            return Err(None);
        };
        let (access, active) = t.access_and_active(pos);
        let it = self.item(off);
        // SAFETY: under the shard lock.
        let mut deadline = unsafe { it.deadline() };
        if let Some(why) = self.judge(off, || access, deadline, now) {
            return Err(Some((why, off)));
        }
        let seg = self.seg_of(off);
        // Pinned under the shard lock: a reclaimer removes the entry under the write lock
        // before it looks at the pin count, so it either sees this pin or we never got here.
        seg.pins.fetch_add(1, Ordering::Relaxed);
        let bits = it.shape();
        if let Some(d) = touch {
            deadline = self.rel_deadline(d);
            // SAFETY: the caller holds the shard's write lock when it passes `touch`, and
            // the item is linked.
            unsafe { it.set_deadline(deadline) };
            // The sweep judges a segment by its newest deadline; keep that an upper bound.
            seg.max_deadline
                .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
        }
        if mark {
            // Written only when they change (the access field once a second at most, the
            // active bit once per item and eviction round), so a hot item's cache lines are
            // not bounced between readers on every hit.
            if bits & FETCHED == 0 {
                // SAFETY: linked item under its shard lock.
                unsafe { it.bits().fetch_or(FETCHED, Ordering::Relaxed) };
            }
            let a = layout::access_since(now, seg.opened.load(Ordering::Relaxed));
            if a > access || !active {
                t.mark_read(pos, a);
            }
        }
        Ok(ItemRef {
            store: self,
            it,
            heap_off: off,
            shard: si,
            now,
            fetched_before: bits & FETCHED != 0,
            held: false,
            access,
            deadline,
            // SAFETY: under the shard lock, which every move of the location holds.
            location: unsafe { it.location() },
        })
    }

    /// Looks up `key`, counting a hit or miss, marking the item fetched and accessed.
    pub fn get(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let c = &self.shards[index::shard_of(h)].counters;
        match self.lookup(key, h, now, true, None) {
            Ok(item) => {
                bump(&c.get_hits);
                Some(item)
            }
            Err(why) => {
                bump(&c.get_misses);
                match why {
                    Some(Dead::Expired) => bump(&c.get_expired),
                    Some(Dead::Flushed) => bump(&c.get_flushed),
                    None => {}
                }
                None
            }
        }
    }

    /// Looks up `key` without counting or recording the access.
    pub fn peek(&self, key: &[u8]) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        self.lookup(key, index::hash(self.seed, key), now, false, None)
            .ok()
    }

    /// Sets a new expiry on `key`; true if the item was there.
    pub fn touch(&self, key: &[u8], exptime: i64) -> bool {
        self.touch_item(key, exptime).is_some()
    }

    /// gat: fetch and set a new expiry. Counted as memcached 1.6.18 counts gat: touch_hits
    /// or touch_misses, not get_*. Commands (`cmd_get`, `cmd_touch`...) are the server's
    /// to count: it knows what a client asked for, the store only what it did.
    pub fn get_and_touch(&self, key: &[u8], exptime: i64) -> Option<ItemRef<'_>> {
        self.touch_item(key, exptime)
    }

    fn touch_item(&self, key: &[u8], exptime: i64) -> Option<ItemRef<'_>> {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let c = &self.shards[index::shard_of(h)].counters;
        let touch = Some(exptime::deadline(exptime, now));
        let Ok(item) = self.lookup(key, h, now, true, touch) else {
            bump(&c.touch_misses);
            return None;
        };
        bump(&c.touch_hits);
        Some(item)
    }
}
