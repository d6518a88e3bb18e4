//! Read-modify-write: an item derived from the linked one (append/prepend, incr/decr,
//! invalidate) is built in a fresh allocation and published only if the key still holds
//! the item it was derived from (optimistic; retried otherwise).

use super::{CommitOptions, DeltaOutcome, InvalidateOutcome, Store, StoreOutcome};
use crate::cold::External;
use crate::config::memcached_item_size;
use crate::exptime::Deadline;
use crate::index;
use crate::item::Reservation;
use crate::layout::{self, ItemPtr, FETCHED};
use crate::numeric;
use crate::stats::bump;
use std::sync::atomic::Ordering;

/// What a read-modify-write sees of the current item beyond its immutable bytes: the
/// fields that change while it is linked, read under its shard lock.
pub(super) struct Snap {
    pub(super) deadline: Deadline,
    /// Last access, unix seconds.
    pub(super) access: u64,
    pub(super) fetched: bool,
    /// The value is in the cold tier, not here (its location read under the lock:
    /// compaction of the tier moves it in place under the write lock). A plan that needs
    /// the value refuses; one that keeps it as it is gets an external copy there.
    pub(super) external: Option<External>,
}

/// What a read-modify-write derives from the current item.
pub(super) struct Plan {
    pub(super) vlen: usize,
    pub(super) flags: u32,
    pub(super) deadline: Deadline,
    pub(super) access: u64,
    pub(super) fetched: bool,
    pub(super) stale: bool,
    pub(super) cas: u64,
}

pub(super) enum DeriveError<R> {
    Missing,
    Abort(R),
    NoMemory,
}

impl Store {
    /// Replaces the live item under `key` by one derived from it, atomically with respect
    /// to other writers: if the key changed between reading and publishing, start over.
    pub(super) fn derive<R>(
        &self,
        key: &[u8],
        now: u64,
        mut plan: impl FnMut(ItemPtr, &Snap) -> Result<Plan, R>,
        mut fill: impl FnMut(ItemPtr, &mut [u8]),
    ) -> Result<u64, DeriveError<R>> {
        let h = index::hash(self.seed, key);
        let shard = &self.shards[index::shard_of(h)];
        loop {
            let t = shard.table.read();
            let Some((pos, old_off)) = t.find(h, |o| self.key_matches(o, key)) else {
                return Err(DeriveError::Missing);
            };
            if self.dead(&t, pos, old_off, now).is_some() {
                drop(t);
                self.unlink_dead(h, old_off, now);
                return Err(DeriveError::Missing);
            }
            let old = self.item(old_off);
            let old_seg = self.seg_of(old_off);
            old_seg.pins.fetch_add(1, Ordering::Relaxed);
            // Read under the lock: with only a pin, a touch may be writing the deadline.
            let snap = Snap {
                deadline: self.deadline_of(old),
                access: self.access_time(old_off, t.access(pos)),
                fetched: old.shape() & FETCHED != 0,
                external: old.is_external().then(|| External {
                    // SAFETY: under the shard lock.
                    location: unsafe { old.location() },
                    value_len: old.vlen(),
                }),
            };
            drop(t);
            let p = match plan(old, &snap) {
                Ok(p) => p,
                Err(r) => {
                    old_seg.unpin();
                    return Err(DeriveError::Abort(r));
                }
            };
            let wide = self.wide_cas(Some(p.cas));
            // An external item whose value the plan keeps stays external, at the same place.
            let location = snap.external.map_or(0, |e| e.location);
            let keep_external = snap.external.is_some() && p.vlen != 0;
            let written = if keep_external {
                self.write_external_item(key, &p, wide, location, now)
            } else {
                self.write_item(key, p.vlen, p.flags, p.deadline, wide, now)
            };
            let placed = match written {
                Ok(at) => at,
                Err(_) => {
                    old_seg.unpin();
                    return Err(DeriveError::NoMemory);
                }
            };
            let new_off = placed.off;
            let new = self.item(new_off);
            // SAFETY: `new` is unpublished and ours, sized for `p.cas`; `old` is pinned.
            unsafe {
                if snap.external.is_none() {
                    fill(old, new.value_mut());
                }
                let fits = new.set_cas(p.cas);
                debug_assert!(fits, "sized for its CAS");
                if p.stale {
                    new.set_stale();
                }
                if p.fetched {
                    new.bits().fetch_or(FETCHED, Ordering::Relaxed);
                }
            }
            let access = layout::access_since(p.access, placed.opened);
            let mut t = shard.table.write();
            let found = t.find(h, |o| self.key_matches(o, key));
            // The old item is still pinned, so its offset cannot have been reused: the same
            // offset means the same item. A touch since the snapshot changed its deadline,
            // which the plan may have copied: start over rather than lose the touch.
            let same = matches!(found, Some((_, off)) if off == old_off)
                && self.deadline_of(old) == snap.deadline
                // Moved by the tier's compaction meanwhile: start over from its new place.
                // SAFETY: under the shard's write lock.
                && (!keep_external || unsafe { old.location() } == location);
            if same {
                self.publish(&mut t, h, found, new_off, p.cas, access);
            }
            drop(t);
            self.seg_of(new_off).unpin();
            old_seg.unpin();
            if same {
                return Ok(p.cas);
            }
        }
    }

    /// Append/prepend. None: the key is missing and the caller asked to vivify.
    pub(super) fn concat(
        &self,
        r: &Reservation<'_>,
        append: bool,
        opts: CommitOptions,
        now: u64,
    ) -> Option<StoreOutcome> {
        // SAFETY: the reservation pins its item.
        let (key, extra) = unsafe { (r.it.key(), r.it.value()) };
        let c = &self.shards[r.shard].counters;
        let res = self.derive(
            key,
            now,
            |old, snap| {
                // memcached's simplified CAS check for append/prepend.
                if opts.compare_cas.is_some_and(|want| want != old.cas_value()) {
                    return Err(StoreOutcome::Exists);
                }
                // The value is on disk: the caller reads it back first.
                if let Some(ext) = snap.external {
                    return Err(StoreOutcome::OnDisk(ext));
                }
                let vlen = old.vlen() + extra.len();
                if memcached_item_size(key.len(), vlen, old.flags(), self.cfg.cas_enabled)
                    > self.cfg.item_size_max
                {
                    return Err(StoreOutcome::NotStored);
                }
                Ok(Plan {
                    vlen,
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: now,
                    fetched: false,
                    stale: false,
                    cas: opts.new_cas.unwrap_or_else(|| self.new_cas()),
                })
            },
            |old, out| {
                // SAFETY: `old` is pinned by derive.
                let v = unsafe { old.value() };
                if append {
                    out[..v.len()].copy_from_slice(v);
                    out[v.len()..].copy_from_slice(extra);
                } else {
                    out[..extra.len()].copy_from_slice(extra);
                    out[extra.len()..].copy_from_slice(v);
                }
            },
        );
        Some(match res {
            Ok(cas) => {
                bump(&c.total_items);
                StoreOutcome::Stored { cas }
            }
            // memcached 1.6.18 answers NOT_STORED and counts nothing when the result would
            // exceed -I; EXISTS for a CAS mismatch.
            Err(DeriveError::Abort(outcome)) => outcome,
            Err(DeriveError::NoMemory) => {
                bump(&c.store_no_memory);
                StoreOutcome::NotStored
            }
            Err(DeriveError::Missing) if opts.vivify_on_miss => return None,
            Err(DeriveError::Missing) => StoreOutcome::NotStored,
        })
    }

    /// incr (`incr` true) or decr by `delta` on a decimal value. The new value keeps the
    /// item's flags and expiry, gets a new CAS, and is padded with spaces to the old length
    /// when shorter (memcached rewrites in place).
    pub fn delta(&self, key: &[u8], delta: u64, incr: bool) -> DeltaOutcome {
        let now = self.clock.now();
        self.tick(now);
        let c = self.counters(key);
        let result = std::cell::Cell::new(0u64);
        let grew = std::cell::Cell::new(false);
        let res = self.derive(
            key,
            now,
            |old, snap| {
                // The value is on disk: the caller reads it back first.
                if let Some(ext) = snap.external {
                    return Err(Some(ext));
                }
                // SAFETY: `old` is pinned by derive.
                let v = unsafe { old.value() };
                let n = numeric::parse_value(v).ok_or(None)?;
                result.set(if incr {
                    n.wrapping_add(delta)
                } else {
                    n.saturating_sub(delta)
                });
                let vlen = numeric::Digits::new(result.get()).stored_len(v.len());
                grew.set(vlen > v.len());
                Ok(Plan {
                    vlen,
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: snap.access,
                    fetched: snap.fetched,
                    stale: false,
                    cas: self.new_cas(),
                })
            },
            |_old, out| numeric::Digits::new(result.get()).write_padded(out),
        );
        match res {
            Ok(cas) => {
                bump(if incr { &c.incr_hits } else { &c.decr_hits });
                // memcached links a new item (counted) only when the number outgrows the
                // old value; otherwise it rewrites in place.
                if grew.get() {
                    bump(&c.total_items);
                }
                DeltaOutcome::Value {
                    value: result.get(),
                    cas,
                }
            }
            Err(DeriveError::Abort(None)) => DeltaOutcome::NonNumeric,
            Err(DeriveError::Abort(Some(ext))) => DeltaOutcome::OnDisk(ext),
            // memcached answers a failed allocation here with an error line; a store that
            // cannot even fit a number is out of memory, and the old value stands.
            Err(DeriveError::NoMemory) => {
                bump(&c.store_no_memory);
                DeltaOutcome::NotFound
            }
            Err(DeriveError::Missing) => {
                bump(if incr { &c.incr_misses } else { &c.decr_misses });
                DeltaOutcome::NotFound
            }
        }
    }

    /// Meta `md I` / `mg` invalidation: marks the item stale and gives it a new CAS.
    pub fn invalidate(&self, key: &[u8], compare_cas: Option<u64>) -> InvalidateOutcome {
        let now = self.clock.now();
        self.tick(now);
        let res = self.derive(
            key,
            now,
            |old, snap| {
                if compare_cas.is_some_and(|want| want != old.cas_value()) {
                    return Err(());
                }
                Ok(Plan {
                    vlen: old.vlen(),
                    flags: old.flags(),
                    deadline: snap.deadline,
                    access: snap.access,
                    fetched: snap.fetched,
                    stale: true,
                    cas: self.new_cas(),
                })
            },
            // SAFETY: `old` is pinned by derive.
            |old, out| out.copy_from_slice(unsafe { old.value() }),
        );
        match res {
            Ok(cas) => InvalidateOutcome::Invalidated { cas },
            Err(DeriveError::Abort(())) => InvalidateOutcome::Exists,
            Err(DeriveError::Missing | DeriveError::NoMemory) => InvalidateOutcome::NotFound,
        }
    }
}
