//! Walking every live item, for key dumps (`lru_crawler metadump`, `stats cachedump`):
//! shard by shard through the index, at most [`SLOTS_PER_LOCK`] slots per hold of a
//! shard's read lock, so a dump of millions of keys never makes a writer wait longer than
//! one short scan, and readers never wait at all.
//!
//! The walk sees each item linked for its whole duration once. An item stored, deleted or
//! moved while the walk runs may be seen once, twice (a table rebuilt under it moves
//! slots) or not at all, as memcached's crawler may miss or repeat what changes under it.

use super::Store;
use crate::item::ItemRef;
use crate::layout::FETCHED;
use std::sync::atomic::Ordering;

/// Index slots scanned per hold of a shard's read lock.
pub const SLOTS_PER_LOCK: usize = 64;

/// Where a walk stopped: the next slot to look at.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cursor {
    shard: usize,
    slot: usize,
}

impl Store {
    /// Offers `f` every live item, each pinned for the call and not marked as accessed,
    /// until `f` answers false. Returns the items offered.
    pub fn walk(&self, mut f: impl FnMut(&ItemRef<'_>) -> bool) -> usize {
        let mut offered = 0;
        let mut stopped = false;
        let mut cursor = Some(Cursor::default());
        while let Some(from) = cursor.filter(|_| !stopped) {
            cursor = self.walk_some(from, SLOTS_PER_LOCK, |item| {
                if stopped {
                    return;
                }
                offered += 1;
                stopped = !f(item);
            });
        }
        offered
    }

    /// Offers `f` the live items of the next `slots` index slots from `from` (at least
    /// one lock's worth), each pinned for the call and not marked as accessed; returns
    /// where to go on, None once every shard is done. For walks spread over many calls
    /// (a dump paused while its client reads).
    pub fn walk_some(
        &self,
        from: Cursor,
        slots: usize,
        mut f: impl FnMut(&ItemRef<'_>),
    ) -> Option<Cursor> {
        let now = self.clock.now();
        let mut batch: Vec<ItemRef<'_>> = Vec::with_capacity(SLOTS_PER_LOCK);
        let mut cursor = from;
        let mut budget = slots.max(1);
        while budget > 0 {
            let shard = self.shards.get(cursor.shard)?;
            {
                let t = shard.table.read();
                let end = (cursor.slot + SLOTS_PER_LOCK.min(budget)).min(t.capacity());
                if cursor.slot >= end {
                    cursor = Cursor {
                        shard: cursor.shard + 1,
                        slot: 0,
                    };
                    continue;
                }
                for p in cursor.slot..end {
                    let Some(off) = t.occupant(p) else {
                        continue;
                    };
                    if self.dead(&t, p, off, now).is_some() {
                        continue;
                    }
                    let it = self.item(off);
                    // Pinned under the shard lock, as `lookup` pins: a reclaimer unlinks
                    // under the write lock before it looks at the pins.
                    self.seg_of(off).pins.fetch_add(1, Ordering::Relaxed);
                    shard.pinned.fetch_add(1, Ordering::Relaxed);
                    batch.push(ItemRef {
                        store: self,
                        it,
                        heap_off: off,
                        shard: cursor.shard,
                        now,
                        fetched_before: it.shape() & FETCHED != 0,
                        held: false,
                        access: t.access(p),
                        // SAFETY: a linked item, under its shard lock.
                        deadline: unsafe { it.deadline() },
                        // SAFETY: as above; every move of the location holds it.
                        location: unsafe { it.location() },
                    });
                }
                budget = budget.saturating_sub(end - cursor.slot);
                cursor.slot = end;
            }
            // Unlocked: `f` may take as long as it likes. Each item is unpinned as it
            // is dropped.
            for item in batch.drain(..) {
                f(&item);
            }
        }
        (cursor.shard < self.shards.len()).then_some(cursor)
    }
}

#[cfg(test)]
mod tests {
    use crate::{Store, StoreConfig, StoreMode, StoreOutcome};
    use std::collections::BTreeSet;

    fn set(store: &Store, key: &[u8], value: &[u8], exptime: i64) {
        let mut r = store
            .reserve(key, value.len(), 0, exptime)
            .expect("reserve");
        r.value_mut().copy_from_slice(value);
        assert!(matches!(
            r.commit(StoreMode::Set),
            StoreOutcome::Stored { .. }
        ));
    }

    #[test]
    fn every_live_item_once_and_none_dead() {
        let store = Store::new(StoreConfig::default()).expect("store");
        let mut want = BTreeSet::new();
        for i in 0..2_000 {
            let key = format!("key{i}");
            set(&store, key.as_bytes(), b"v", 0);
            want.insert(key.into_bytes());
        }
        set(&store, b"gone", b"v", 0);
        assert!(store.delete(b"gone"));
        set(&store, b"expired", b"v", -1);
        let mut seen = BTreeSet::new();
        let offered = store.walk(|item| {
            assert!(seen.insert(item.key().to_vec()), "twice");
            true
        });
        assert_eq!((offered, seen), (2_000, want));
        assert_eq!(store.pinned_items(), 0, "every pin released");
    }

    #[test]
    fn a_walk_in_pieces_sees_what_a_whole_walk_sees() {
        let store = Store::new(StoreConfig::default()).expect("store");
        for i in 0..1_000 {
            set(&store, format!("k{i}").as_bytes(), b"v", 0);
        }
        let mut whole = Vec::new();
        store.walk(|item| {
            whole.push(item.key().to_vec());
            true
        });
        let mut pieces = Vec::new();
        let mut cursor = Some(super::Cursor::default());
        let mut calls = 0;
        while let Some(from) = cursor {
            cursor = store.walk_some(from, 7, |item| pieces.push(item.key().to_vec()));
            calls += 1;
        }
        assert_eq!(pieces, whole);
        assert!(calls > 100, "{calls} calls");
        assert_eq!(store.pinned_items(), 0);
    }

    #[test]
    fn stopping_early_releases_the_rest() {
        let store = Store::new(StoreConfig::default()).expect("store");
        for i in 0..500 {
            set(&store, format!("k{i}").as_bytes(), b"v", 0);
        }
        let mut n = 0;
        assert_eq!(
            store.walk(|_| {
                n += 1;
                n < 10
            }),
            10
        );
        assert_eq!(store.pinned_items(), 0);
    }
}
