//! New items: reserve room, let the caller fill it, publish it under the key's shard lock
//! with memcached's rules for set/add/replace/cas (and meta's compare, explicit and
//! invalidating CAS); removing a key; the win token and `mg N`'s placeholder.

use super::alloc::{Place, Placed};
use super::{CommitOptions, Store, StoreMode, StoreOutcome};
use crate::config::{memcached_item_size, StoreError, KEY_MAX};
use crate::exptime::{self, Deadline, NEVER};
use crate::index::{self, Table};
use crate::item::{ItemRef, Reservation};
use crate::layout::{self, Header, FETCHED, WIN};
use crate::stats::{bump, Counters};
use std::sync::atomic::Ordering;

/// What a commit does, beyond the reservation.
#[derive(Clone, Copy)]
struct Commit {
    compare: Option<u64>,
    mode: StoreMode,
    invalidate: bool,
    win: bool,
    now: u64,
}

impl Store {
    fn check_size(&self, key: &[u8], value_len: usize, flags: u32) -> Result<(), StoreError> {
        if key.is_empty() || key.len() > KEY_MAX {
            return Err(StoreError::KeyLength);
        }
        if memcached_item_size(key.len(), value_len, flags, self.cfg.cas_enabled)
            > self.cfg.item_size_max
            || value_len > layout::VALUE_MAX
        {
            bump(&self.counters(key).store_too_large);
            return Err(StoreError::TooLarge);
        }
        Ok(())
    }

    /// Space for a value of `value_len` bytes, invisible until commit, no trace if dropped.
    #[inline]
    pub fn reserve(
        &self,
        key: &[u8],
        value_len: usize,
        flags: u32,
        exptime: i64,
    ) -> Result<Reservation<'_>, StoreError> {
        self.reserve_with(key, value_len, flags, exptime, None)
    }

    /// `reserve` for a commit that will give the item the explicit CAS `new_cas` (meta
    /// `E`): the item's CAS field is sized for it (8 bytes for a CAS of 2^48 or more, 6
    /// otherwise). Committing with another CAS still works; an item whose field turns out
    /// too narrow is moved to a wider copy at commit.
    pub fn reserve_with(
        &self,
        key: &[u8],
        value_len: usize,
        flags: u32,
        exptime: i64,
        new_cas: Option<u64>,
    ) -> Result<Reservation<'_>, StoreError> {
        self.check_size(key, value_len, flags)?;
        let now = self.clock.now();
        self.tick(now);
        let deadline = exptime::deadline(exptime, now);
        let h = index::hash(self.seed, key);
        let si = index::shard_of(h);
        let wide = self.wide_cas(new_cas);
        let at = self
            .write_item(key, value_len, flags, deadline, wide, now)
            .inspect_err(|_| bump(&self.shards[si].counters.store_no_memory))?;
        self.shards[si].reserved.fetch_add(1, Ordering::Relaxed);
        Ok(Reservation {
            store: self,
            it: self.item(at.off),
            heap_off: at.off,
            hash: h,
            shard: si,
            access: layout::access_since(now, at.opened),
            linked: std::cell::Cell::new(false),
        })
    }

    /// Allocates and pins room for an item and writes its header and key.
    pub(super) fn write_item(
        &self,
        key: &[u8],
        vlen: usize,
        flags: u32,
        deadline: Deadline,
        wide_cas: bool,
        now: u64,
    ) -> Result<Placed, StoreError> {
        self.write_item_for(Place::Value, key, vlen, flags, deadline, wide_cas, now)
    }

    /// `write_item`, for an item `place` says more of.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn write_item_for(
        &self,
        place: Place,
        key: &[u8],
        vlen: usize,
        flags: u32,
        deadline: Deadline,
        wide_cas: bool,
        now: u64,
    ) -> Result<Placed, StoreError> {
        let size = layout::item_size(self.cfg.cas_enabled, wide_cas, key.len(), vlen, flags);
        let at = self.alloc_for(layout::span(size), deadline, now, place)?;
        let it = self.item(at.off);
        // SAFETY: freshly allocated: `size` bytes inside one segment (items need no
        // alignment), pinned, and unreachable from the index.
        unsafe {
            it.init(&Header {
                key,
                vlen,
                flags,
                deadline: self.rel_deadline(deadline),
                wide_cas,
            });
        }
        Ok(at)
    }

    /// reserve + copy + commit.
    pub fn store(
        &self,
        mode: StoreMode,
        key: &[u8],
        value: &[u8],
        flags: u32,
        exptime: i64,
    ) -> Result<StoreOutcome, StoreError> {
        let mut r = self.reserve(key, value.len(), flags, exptime)?;
        r.value_mut().copy_from_slice(value);
        Ok(r.commit(mode))
    }

    /// Publishes a filled reservation (which still holds its pin; the caller releases it).
    pub(crate) fn commit_reserved(
        &self,
        r: &Reservation<'_>,
        mode: StoreMode,
        opts: CommitOptions,
        win: bool,
    ) -> StoreOutcome {
        let now = self.clock.now();
        if matches!(mode, StoreMode::Append | StoreMode::Prepend) {
            return match self.concat(r, mode == StoreMode::Append, opts, now) {
                None => self.commit_reserved(
                    r,
                    StoreMode::Add,
                    CommitOptions {
                        compare_cas: None,
                        vivify_on_miss: false,
                        ..opts
                    },
                    win,
                ),
                Some(outcome) => outcome,
            };
        }
        let commit = Commit {
            compare: match mode {
                StoreMode::Cas(v) => Some(v),
                _ => opts.compare_cas,
            },
            mode,
            invalidate: opts.invalidate,
            win,
            now,
        };
        match self.try_commit(r, r.heap_off, r.access, opts.new_cas, commit) {
            Ok(outcome) => outcome,
            Err(misfit) => self.commit_widened(r, misfit, commit),
        }
    }

    /// `commit_reserved` for a reservation whose item turned out too narrow for the CAS it
    /// gets (only when the reservation did not know it): the value moves to a copy with a
    /// wide CAS field, which is published instead.
    #[cold]
    #[inline(never)]
    fn commit_widened(&self, r: &Reservation<'_>, mut cas: u64, k: Commit) -> StoreOutcome {
        let mut moved: Option<usize> = None;
        let outcome = loop {
            let wide = match self.widen(r, k.now) {
                Ok(wide) => wide,
                Err(_) => {
                    bump(&self.shards[r.shard].counters.store_no_memory);
                    break StoreOutcome::NotStored;
                }
            };
            if let Some(m) = moved.replace(wide.off) {
                self.unpin_at(m);
            }
            // Exact: the reservation's segment was young when it was reserved.
            let reserved_at = self.access_time(r.heap_off, r.access);
            let access = layout::access_since(reserved_at, wide.opened);
            match self.try_commit(r, wide.off, access, Some(cas), k) {
                Ok(outcome) => break outcome,
                // Cannot happen (a wide field takes any CAS); retrying is still correct.
                Err(misfit) => cas = misfit,
            }
        };
        if let Some(m) = moved {
            self.unpin_at(m);
        }
        outcome
    }

    /// One attempt at publishing the reservation `r` with its item at `off` (its own or a
    /// widened copy) and slot access field `access`. `Err(cas)` when the CAS it was to get
    /// does not fit the item: nothing was changed or counted, and the caller retries with
    /// a wide copy and that CAS.
    #[inline(always)]
    fn try_commit(
        &self,
        r: &Reservation<'_>,
        off: usize,
        access: u16,
        cas: Option<u64>,
        k: Commit,
    ) -> Result<StoreOutcome, u64> {
        let shard = &self.shards[r.shard];
        let c = &shard.counters;
        let it = self.item(off);
        // SAFETY: the reservation pins its item; the key is immutable.
        let key = unsafe { r.it.key() };
        let mut t = shard.table.write();
        let found = t.find(r.hash, |o| self.key_matches(o, key));
        let old = found.filter(|&(pos, o)| self.dead(&t, pos, o, k.now).is_none());
        let mut stale = false;
        let mut inherit_win = false;
        let mut inherit_deadline = None;
        // Counted once the outcome is final (a misfit retries).
        let mut hit = None;
        if let Some(want) = k.compare {
            match old {
                None => {
                    bump(&c.cas_misses);
                    return Ok(StoreOutcome::NotFound);
                }
                Some((_, o)) => {
                    let old_it = self.item(o);
                    let cur = old_it.cas_value();
                    // memcached never matches a CAS of 0 (nor any CAS under -C, where
                    // items carry none): such a cas is always EXISTS, counted as badval.
                    let comparable = want != 0 && self.cfg.cas_enabled;
                    if cur != want || !comparable {
                        if k.invalidate && want < cur {
                            stale = true;
                            // memcached keeps the token: whoever won the recache still
                            // holds it, so readers of the stale value see Z, not W.
                            inherit_win = old_it.shape() & WIN != 0;
                            // ...and the TTL: a late write must not outlive the data it
                            // was computed from.
                            // SAFETY: linked item, shard write lock held.
                            inherit_deadline = Some(unsafe { old_it.deadline() });
                            // memcached counts the stale store as a CAS hit.
                            hit = Some(&c.cas_hits);
                        } else {
                            bump(&c.cas_badval);
                            return Ok(StoreOutcome::Exists);
                        }
                    } else {
                        hit = Some(&c.cas_hits);
                    }
                }
            }
        }
        match (k.mode, old) {
            (StoreMode::Add, Some((pos, o))) => {
                // memcached bumps the existing item on a failed add.
                t.bump(pos, self.access_field(o, k.now));
                return Ok(StoreOutcome::NotStored);
            }
            (StoreMode::Replace, None) => return Ok(StoreOutcome::NotStored),
            _ => {}
        }
        let cas = cas.unwrap_or_else(|| self.new_cas());
        // SAFETY: the item is unpublished and exclusively ours (the reservation's, or the
        // widened copy this commit holds).
        unsafe {
            if !it.set_cas(cas) {
                return Err(cas);
            }
            if stale {
                it.set_stale();
            }
            if k.win || inherit_win {
                it.bits().fetch_or(WIN, Ordering::Relaxed);
            }
            if let Some(d) = inherit_deadline {
                it.set_deadline(d);
                let d = self.abs_deadline(d);
                // The sweep judges a segment by its newest deadline; keep that an upper bound.
                self.seg_of(off)
                    .max_deadline
                    .fetch_max(if d == NEVER { u64::MAX } else { d }, Ordering::Relaxed);
            }
        }
        // A store over an item that was read where it is linked keeps its standing with
        // eviction: the key is in use, and a large value written into a hole of an old
        // segment (`reuse.rs`) would otherwise have only what is left of that segment's
        // round to be read in (docs/store.md, "The read signal"). Only a read item passes
        // it on, so a key written over and over and never read again loses it at once.
        let in_use = old.filter(|&(pos, o)| t.active(pos) && self.item(o).shape() & FETCHED != 0);
        self.publish(&mut t, r.hash, found, off, cas, access);
        if let Some((pos, _)) = in_use {
            t.set_active(pos);
        }
        drop(t);
        if off == r.heap_off {
            r.linked.set(true);
        }
        if let Some(hit) = hit {
            bump(hit);
        }
        bump(&c.total_items);
        Ok(StoreOutcome::Stored { cas })
    }

    /// A pinned copy of the reservation's item with an 8-byte CAS field; its offset.
    ///
    /// Its last access, the reservation's time, is raised to the copy's segment opening if
    /// that is later (see `dead`): if a flush came between reserve and this copy, the item
    /// is judged by the copy's time, as memcached judges an item by when it was linked.
    fn widen(&self, r: &Reservation<'_>, now: u64) -> Result<Placed, StoreError> {
        let it = r.it;
        // SAFETY: the reservation's item is unpublished, filled and ours.
        let (key, value, deadline) = unsafe { (it.key(), it.value(), it.deadline()) };
        let d = self.abs_deadline(deadline);
        let at = self.write_item(key, value.len(), it.flags(), d, true, now)?;
        // SAFETY: the copy is unpublished and ours; the two items are distinct allocations.
        unsafe { self.item(at.off).value_mut().copy_from_slice(value) };
        Ok(at)
    }

    /// Links the item at `off`, with slot access field `access` (`access_field`, computed
    /// by the caller before it took the lock), in place of `found` (dead or alive) or as a
    /// new entry.
    pub(super) fn publish(
        &self,
        t: &mut Table,
        h: u64,
        found: Option<(usize, usize)>,
        off: usize,
        cas: u64,
        access: u16,
    ) {
        let seg = self.seg_of(off);
        seg.max_cas.fetch_max(cas, Ordering::Relaxed);
        let size = self.item(off).size();
        seg.link(layout::span(size));
        match found {
            Some((pos, old)) => {
                let old_size = self.item(old).size();
                t.bytes -= old_size;
                // Before the old room can become a hole another writer takes.
                self.replaced(self.item(old), self.item(off));
                self.unlinked(old, old_size);
                t.replace(pos, h, off, access);
            }
            None => {
                t.insert(h, off, access, |o| self.rehash(o));
                t.items += 1;
            }
        }
        t.bytes += size;
    }

    /// Removes `key`; true if a live item was there. Counts `delete_hits`/`delete_misses`.
    pub fn delete(&self, key: &[u8]) -> bool {
        let (live, counters) = self.remove(key);
        bump(if live {
            &counters.delete_hits
        } else {
            &counters.delete_misses
        });
        live
    }

    /// Removes `key` without counting a delete: what memcached does to the old value of
    /// a `set` it refused (too large, out of memory), so no stale value outlives a write
    /// the client believes it attempted.
    pub fn unlink(&self, key: &[u8]) -> bool {
        self.remove(key).0
    }

    fn remove(&self, key: &[u8]) -> (bool, &Counters) {
        let now = self.clock.now();
        self.tick(now);
        let h = index::hash(self.seed, key);
        let shard = &self.shards[index::shard_of(h)];
        let mut t = shard.table.write();
        let found = t.find(h, |o| self.key_matches(o, key));
        let live = match found {
            Some((pos, off)) => {
                let it = self.item(off);
                let why = self.dead(&t, pos, off, now);
                t.remove(pos);
                t.items -= 1;
                let size = it.size();
                t.bytes -= size;
                // Before the room can become a hole another writer takes.
                self.forgotten(it);
                self.unlinked(off, size);
                if why.is_some() {
                    bump(&shard.counters.reclaimed);
                }
                why.is_none()
            }
            None => false,
        };
        drop(t);
        (live, &shard.counters)
    }

    /// Hands out the item's win (recache) token: true for exactly one caller per item
    /// version (a replaced item starts with a fresh token).
    pub fn claim_win(&self, item: &ItemRef<'_>) -> bool {
        // SAFETY: `item` pins the item; the bits byte is atomic.
        unsafe { item.it.bits().fetch_or(WIN, Ordering::AcqRel) & WIN == 0 }
    }

    /// Meta `mg N`: on a miss, creates an empty placeholder with `exptime` whose win token is
    /// already taken by the caller. Returns true if this call created it (the caller won);
    /// false if a live item already exists (look it up and `claim_win` as usual).
    pub fn vivify(&self, key: &[u8], exptime: i64) -> Result<bool, StoreError> {
        let r = self.reserve(key, 0, 0, exptime)?;
        let out = self.commit_reserved(&r, StoreMode::Add, CommitOptions::default(), true);
        Ok(matches!(out, StoreOutcome::Stored { .. }))
    }
}
